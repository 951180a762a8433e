/*
 * list.c: `pgwardenctl list` output (table, JSON, YAML), see ctl.h.
 */
#include "ctl/ctl.h"

#include "common/strutil.h"
#include "common/url.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int
ctl_format_parse(const char *s, CtlFormat *out)
{
	if (strcmp(s, "pretty") == 0)
		*out = CTL_FORMAT_PRETTY;
	else if (strcmp(s, "json") == 0)
		*out = CTL_FORMAT_JSON;
	else if (strcmp(s, "yaml") == 0)
		*out = CTL_FORMAT_YAML;
	else
		return PGW_EINVAL;
	return 0;
}

size_t
ctl_display_width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			w++;
	return w;
}

typedef struct Row
{
	char name[PGW_NAME_MAX];
	char host[PGW_URL_MAX];
	char role[32];
	char state[32];
	char tl[16];
	char lag[32];
	char pending[8];
	char tags[256];
	uint64_t lag_bytes;
	bool has_lag;
	bool lag_over; /* lag_bytes > maximum_lag_on_failover */
} Row;

/* host_port: the Host column, "host:port" of conn_url ("[v6]:port"; the
 * host alone when no port is named; never the userinfo); "?" when the
 * conn_url does not split */
static void
host_port(const char *conn_url, char *out, size_t len)
{
	PgwUrl u;
	bool v6;

	if (pgw_url_split(conn_url, &u, NULL) != 0)
	{
		snprintf(out, len, "?");
		return;
	}
	v6 = strchr(u.host, ':') != NULL;
	if (u.port == 0)
		snprintf(out, len, "%s", u.host);
	else
		snprintf(out, len, "%s%s%s:%d", v6 ? "[" : "", u.host, v6 ? "]" : "",
		         u.port);
}

static int
cmp_rows(const void *a, const void *b)
{
	return strcmp(((const Row *) a)->name, ((const Row *) b)->name);
}

static int
build_rows(const ClusterView *v, Row *rows)
{
	uint64_t leader_lsn = v->leader_optime;

	for (int i = 0; i < v->n_members; i++)
		if (v->has_leader && strcmp(v->members[i].name, v->leader) == 0 &&
		    v->members[i].xlog_location > leader_lsn)
			leader_lsn = v->members[i].xlog_location;
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = &v->members[i];
		Row *r = &rows[i];
		bool is_leader = v->has_leader && strcmp(m->name, v->leader) == 0;
		bool is_sync = false;
		size_t used = 0;

		memset(r, 0, sizeof(*r));
		for (int k = 0; k < v->sync.n_sync; k++)
			if (strcmp(v->sync.sync_standby[k], m->name) == 0)
				is_sync = true;
		pgw_strlcpy(r->name, m->name, sizeof(r->name));
		host_port(m->conn_url, r->host, sizeof(r->host));
		if (!m->is_valid)
		{
			pgw_strlcpy(r->role, "?", sizeof(r->role));
			pgw_strlcpy(r->state, "invalid value", sizeof(r->state));
		}
		else
		{
			pgw_strlcpy(r->role,
			            is_leader ? (m->role == MEMBER_ROLE_STANDBY_LEADER
			                             ? "Standby Leader"
			                             : "Leader")
			            : is_sync ? "Sync Standby"
			            : m->role == MEMBER_ROLE_PRIMARY ? "Primary (no lock)"
			                                             : "Replica",
			            sizeof(r->role));
			pgw_strlcpy(r->state, dcs_state_name(m->state), sizeof(r->state));
		}
		if (m->timeline > 0)
			snprintf(r->tl, sizeof(r->tl), "%d", m->timeline);
		/* a member that publishes no position yet (starting, stopped) has
		 * no known lag: not the leader's whole position */
		if (!is_leader && m->is_valid && leader_lsn > 0 &&
		    m->xlog_location == 0)
			pgw_strlcpy(r->lag, "unknown", sizeof(r->lag));
		else if (!is_leader && m->is_valid && leader_lsn > 0)
		{
			r->has_lag = true;
			r->lag_bytes = leader_lsn > m->xlog_location
			                   ? leader_lsn - m->xlog_location
			                   : 0;
			/* the same bound the decision engine applies to a candidate:
			 * such a replica is not promoted in a failover */
			r->lag_over = r->lag_bytes > v->config.maximum_lag_on_failover;
			snprintf(r->lag, sizeof(r->lag), "%llu%s",
			         (unsigned long long) (r->lag_bytes / (1024 * 1024)),
			         r->lag_over ? " !" : "");
		}
		if (m->pending_restart)
			pgw_strlcpy(r->pending, "*", sizeof(r->pending));
		for (int t = 0; t < m->n_tags; t++)
		{
			int n =
			    snprintf(r->tags + used, sizeof(r->tags) - used, "%s%s: %s",
			             used ? ", " : "", m->tags[t].key, m->tags[t].value);

			if (n < 0 || used + (size_t) n >= sizeof(r->tags))
				break;
			used += (size_t) n;
		}
	}
	qsort(rows, (size_t) v->n_members, sizeof(Row), cmp_rows);
	return v->n_members;
}

static json_t *
tags_json(const ClusterView *v, const char *name)
{
	const MemberInfo *m = dcs_view_member(v, name);
	json_t *o = json_object();

	for (int t = 0; m != NULL && t < m->n_tags; t++)
	{
		json_t *val = NULL;

		if (ctl_yaml_to_json(m->tags[t].value, strlen(m->tags[t].value), &val,
		                     NULL) != 0 ||
		    val == NULL)
			val = json_string(m->tags[t].value);
		json_object_set_new(o, m->tags[t].key, val);
	}
	return o;
}

static void
pad(FILE *out, const char *s, size_t width)
{
	size_t w = ctl_display_width(s);

	fputs(s, out);
	for (; w < width; w++)
		fputc(' ', out);
}

static void
print_sep(FILE *out, const size_t *w, int ncol)
{
	fputc('+', out);
	for (int c = 0; c < ncol; c++)
	{
		for (size_t i = 0; i < w[c] + 2; i++)
			fputc('-', out);
		fputc('+', out);
	}
	fputc('\n', out);
}

void
ctl_list_print(FILE *out, const ClusterView *v, const char *scope,
               int64_t lease_ttl_s, CtlFormat fmt)
{
	Row *rows = calloc(PGW_MEMBERS_MAX, sizeof(Row));
	int n;

	if (rows == NULL)
		return;
	n = build_rows(v, rows);
	if (fmt == CTL_FORMAT_JSON || fmt == CTL_FORMAT_YAML)
	{
		json_t *o = json_object();
		json_t *arr = json_array();

		json_object_set_new(o, "scope", json_string(scope));
		json_object_set_new(o, "system_identifier",
		                    v->has_initialize ? json_string(v->initialize)
		                                      : json_null());
		json_object_set_new(o, "paused", json_boolean(v->config.pause));
		json_object_set_new(
		    o, "leader", v->has_leader ? json_string(v->leader) : json_null());
		json_object_set_new(o, "leader_lease_ttl_s",
		                    lease_ttl_s >= 0 ? json_integer(lease_ttl_s)
		                                     : json_null());
		for (int i = 0; i < n; i++)
		{
			json_t *m = json_object();

			json_object_set_new(m, "member", json_string(rows[i].name));
			json_object_set_new(m, "host", json_string(rows[i].host));
			json_object_set_new(m, "role", json_string(rows[i].role));
			json_object_set_new(m, "state", json_string(rows[i].state));
			json_object_set_new(m, "timeline",
			                    rows[i].tl[0]
			                        ? json_integer(strtol(rows[i].tl, NULL, 10))
			                        : json_null());
			json_object_set_new(
			    m, "lag_bytes",
			    rows[i].has_lag ? json_integer((json_int_t) rows[i].lag_bytes)
			                    : json_null());
			json_object_set_new(m, "lag_over_maximum",
			                    json_boolean(rows[i].lag_over));
			json_object_set_new(m, "pending_restart",
			                    json_boolean(rows[i].pending[0] != '\0'));
			json_object_set_new(m, "tags", tags_json(v, rows[i].name));
			json_array_append_new(arr, m);
		}
		json_object_set_new(o, "members", arr);
		{
			char *s = fmt == CTL_FORMAT_JSON
			              ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
			              : ctl_json_to_yaml(o);

			fprintf(out, fmt == CTL_FORMAT_JSON ? "%s\n" : "%s", s ? s : "");
			free(s);
		}
		json_decref(o);
		free(rows);
		return;
	}
	{
		const char *hdr[] = {"Member",          "Host", "Role",
		                     "State",           "TL",   "Lag in MB",
		                     "Pending restart", "Tags"};
		size_t w[8];
		char lease[32];

		for (int c = 0; c < 8; c++)
			w[c] = ctl_display_width(hdr[c]);
		for (int i = 0; i < n; i++)
		{
			const char *cells[] = {rows[i].name,    rows[i].host, rows[i].role,
			                       rows[i].state,   rows[i].tl,   rows[i].lag,
			                       rows[i].pending, rows[i].tags};

			for (int c = 0; c < 8; c++)
				if (ctl_display_width(cells[c]) > w[c])
					w[c] = ctl_display_width(cells[c]);
		}
		if (lease_ttl_s >= 0)
			snprintf(lease, sizeof(lease), "%llds", (long long) lease_ttl_s);
		else
			snprintf(lease, sizeof(lease), "-");
		fprintf(out, "+ Cluster: %s (%s)%s, leader lease: %s\n", scope,
		        v->has_initialize && v->initialize[0] ? v->initialize
		                                              : "uninitialized",
		        v->config.pause ? " [paused]" : "", lease);
		print_sep(out, w, 8);
		fputc('|', out);
		for (int c = 0; c < 8; c++)
		{
			fputc(' ', out);
			pad(out, hdr[c], w[c]);
			fputs(" |", out);
		}
		fputc('\n', out);
		print_sep(out, w, 8);
		for (int i = 0; i < n; i++)
		{
			const char *cells[] = {rows[i].name,    rows[i].host, rows[i].role,
			                       rows[i].state,   rows[i].tl,   rows[i].lag,
			                       rows[i].pending, rows[i].tags};

			fputc('|', out);
			for (int c = 0; c < 8; c++)
			{
				fputc(' ', out);
				pad(out, cells[c], w[c]);
				fputs(" |", out);
			}
			fputc('\n', out);
		}
		print_sep(out, w, 8);
		for (int i = 0; i < n; i++)
			if (rows[i].lag_over)
			{
				fprintf(
				    out,
				    "! lag above maximum_lag_on_failover (%llu bytes): not promoted in a failover\n",
				    (unsigned long long) v->config.maximum_lag_on_failover);
				break;
			}
		if (v->n_bad_values > 0)
			fprintf(out, "warning: undecodable values in etcd: %s\n",
			        v->bad_value_keys);
	}
	free(rows);
}
