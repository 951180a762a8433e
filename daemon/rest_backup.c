/*
 * rest_backup.c: POST /backup (issue 15): an on-demand base backup. The
 * body is optional: {"type": "full" | "diff" | "incr"}. It writes the
 * `backup/demand` key (only if none is pending) and answers 202 with the
 * id that `backup/attempt` will carry; the leader's scheduler turns the
 * demand into a request naming a source, as for a scheduled backup.
 * Access is checked before this runs, as for every write endpoint.
 */
#include "daemon/rest_int.h"

#include "backup/backup.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Demand
{
	const char *type;
	const char *by;
	char id[BACKUP_ID_MAX];
} Demand;

static int
put_demand(EtcdClient *c, const char *prefix, void *arg, PgwError *err)
{
	Demand *d = arg;

	return backup_demand_put(c, prefix, d->type, d->by, d->id, err);
}

void
rest_backup_post(RestServer *srv, const char *body, size_t len, RestReply *out)
{
	json_t *o = NULL;
	Demand d = {0};
	char by[PGW_NAME_MAX + 8];
	PgwError err = {0};
	int rc;

	if (len > 0)
	{
		const char *k;
		json_t *v;
		json_error_t jerr;

		o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (o == NULL || !json_is_object(o))
		{
			rest_reply_set(
			    out, 400, "error",
			    "expected a JSON object such as {\"type\": \"full\"}");
			json_decref(o);
			return;
		}
		json_object_foreach(o, k, v)
		{
			if (strcmp(k, "type") != 0 || !json_is_string(v))
			{
				char msg[160];

				snprintf(
				    msg, sizeof(msg),
				    "unexpected key \"%.60s\": the body takes only \"type\" (full, diff or incr)",
				    k);
				rest_reply_set(out, 400, "error", msg);
				json_decref(o);
				return;
			}
			d.type = json_string_value(v);
		}
	}
	snprintf(by, sizeof(by), "rest:%s",
	         srv->member_name ? srv->member_name : "?");
	d.by = by;
	rc = rest_with_etcd(srv, put_demand, &d, &err);
	if (rc == 0)
	{
		json_t *r =
		    json_pack("{s:s,s:s,s:s}", "message",
		              "backup requested: the leader picks a source and runs it",
		              "id", d.id, "type", d.type ? d.type : "incr");

		free(out->body);
		out->status = 202;
		out->body = json_dumps(r, JSON_COMPACT);
		json_decref(r);
	}
	else
		rest_reply_set(out,
		               rc == PGW_EINVAL      ? 400
		               : rc == PGW_ECONFLICT ? 409
		                                     : 503,
		               "error", err.msg);
	json_decref(o);
}
