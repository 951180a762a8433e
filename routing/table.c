/*
 * table.c: the routing table value (DESIGN.md "etcd keys", `routing`): its
 * strict JSON codec and routing_table_build(), the pure function the leader
 * uses to turn a ClusterView into the table it publishes.
 */
#include "routing/routing.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/url.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
routing_state_name(RoutingState s)
{
	switch (s)
	{
		case ROUTING_STATE_SERVING:
			return "serving";
		case ROUTING_STATE_FENCED:
			return "fenced";
		case ROUTING_STATE_SWITCHING:
			return "switching";
	}
	return "unknown";
}

static int
state_parse(const char *s, RoutingState *out)
{
	if (strcmp(s, "serving") == 0)
		*out = ROUTING_STATE_SERVING;
	else if (strcmp(s, "fenced") == 0)
		*out = ROUTING_STATE_FENCED;
	else if (strcmp(s, "switching") == 0)
		*out = ROUTING_STATE_SWITCHING;
	else
		return PGW_EINVAL;
	return 0;
}

/* a member name or host: printable, no spaces, no quotes (it ends up in
 * ini files, HAProxy commands and log lines) */
static bool
token_ok(const char *s, bool allow_empty)
{
	if (!allow_empty && *s == '\0')
		return false;
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '\'' || ch == '\\' ||
		    ch == ',' || ch == ';' || ch == '=' || ch == '#')
			return false;
	}
	return true;
}

static int
get_string(json_t *obj, const char *key, const char *field, char *out,
           size_t len, bool required, PgwError *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	if (v == NULL)
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s: missing", field);
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return pgw_error_set(err, PGW_EINVAL, "%s: not a string", field);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return pgw_error_set(err, PGW_EINVAL, "%s: holds a NUL byte", field);
	if (strlen(s) >= len)
		return pgw_error_set(err, PGW_EINVAL, "%s: longer than %zu bytes",
		                     field, len - 1);
	pgw_strlcpy(out, s, len);
	return 0;
}

static int
get_int(json_t *obj, const char *key, const char *field, int64_t min,
        int64_t max, int64_t *out, bool required, PgwError *err)
{
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (v == NULL)
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s: missing", field);
		return 1;
	}
	if (!json_is_integer(v))
		return pgw_error_set(err, PGW_EINVAL, "%s: not an integer", field);
	n = json_integer_value(v);
	if (n < min || n > max)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: %lld is out of range %" PRId64 "..%" PRId64,
		                     field, (long long) n, min, max);
	*out = n;
	return 0;
}

static int
endpoint_decode(json_t *obj, const char *field, RoutingEndpoint *ep,
                PgwError *err)
{
	char f[96];
	int64_t port;
	int rc;

	if (!json_is_object(obj))
		return pgw_error_set(err, PGW_EINVAL, "%s: not an object", field);
	snprintf(f, sizeof(f), "%s.name", field);
	if ((rc = get_string(obj, "name", f, ep->name, sizeof(ep->name), true,
	                     err)) != 0)
		return rc;
	if (!token_ok(ep->name, false))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: empty or holds a space, quote or separator",
		                     f);
	snprintf(f, sizeof(f), "%s.host", field);
	if ((rc = get_string(obj, "host", f, ep->host, sizeof(ep->host), true,
	                     err)) != 0)
		return rc;
	if (!token_ok(ep->host, false))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: empty or holds a space, quote or separator",
		                     f);
	snprintf(f, sizeof(f), "%s.port", field);
	if ((rc = get_int(obj, "port", f, 1, 65535, &port, true, err)) != 0)
		return rc;
	ep->port = (int) port;
	return 0;
}

int
routing_table_decode(const char *json, size_t len, RoutingTable *out,
                     PgwError *err)
{
	RoutingTable *t = calloc(1, sizeof(*t));
	json_error_t jerr;
	json_t *root;
	json_t *v;
	char buf[64];
	char field[64];
	int64_t n;
	int rc = 0;

	if (t == NULL)
		return pgw_error_set(err, PGW_EIO, "out of memory");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
	{
		rc = pgw_error_set(err, PGW_EINVAL, "not JSON: %s at line %d",
		                   jerr.text, jerr.line);
		goto out;
	}
	if (!json_is_object(root))
	{
		rc = pgw_error_set(err, PGW_EINVAL, "not a JSON object");
		goto out;
	}
	if ((rc = get_int(root, "epoch", "epoch", 1, INT64_MAX, &t->epoch, true,
	                  err)) != 0)
		goto out;
	if ((rc = get_string(root, "state", "state", buf, sizeof(buf), true,
	                     err)) != 0)
		goto out;
	if (state_parse(buf, &t->state) != 0)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "state: \"%s\" is not serving, fenced or switching",
		                   buf);
		goto out;
	}
	if ((rc = get_string(root, "leader", "leader", t->leader, sizeof(t->leader),
	                     false, err)) != 0)
		goto out;
	if (!token_ok(t->leader, true))
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "leader: holds a space, quote or separator");
		goto out;
	}
	v = json_object_get(root, "primary");
	if (v != NULL && !json_is_null(v))
	{
		if ((rc = endpoint_decode(v, "primary", &t->primary, err)) != 0)
			goto out;
		t->has_primary = true;
	}
	if (t->state == ROUTING_STATE_SERVING && !t->has_primary)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "primary: required while state is serving");
		goto out;
	}
	if (t->state == ROUTING_STATE_FENCED && t->has_primary)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "primary: must be null while state is fenced");
		goto out;
	}
	v = json_object_get(root, "replicas");
	if (v != NULL && !json_is_null(v))
	{
		size_t i;
		json_t *r;

		if (!json_is_array(v))
		{
			rc = pgw_error_set(err, PGW_EINVAL, "replicas: not an array");
			goto out;
		}
		if (json_array_size(v) > ROUTING_REPLICAS_MAX)
		{
			rc =
			    pgw_error_set(err, PGW_EINVAL, "replicas: more than %d entries",
			                  ROUTING_REPLICAS_MAX);
			goto out;
		}
		json_array_foreach(v, i, r)
		{
			RoutingReplica *rep = &t->replicas[i];

			snprintf(field, sizeof(field), "replicas[%zu]", i);
			if ((rc = endpoint_decode(r, field, &rep->ep, err)) != 0)
				goto out;
			snprintf(field, sizeof(field), "replicas[%zu].lag", i);
			rc = get_int(r, "lag", field, 0, INT64_MAX, &n, false, err);
			if (rc < 0)
				goto out;
			rep->lag_bytes = rc == 0 ? (uint64_t) n : 0;
			snprintf(field, sizeof(field), "replicas[%zu].weight", i);
			rc = get_int(r, "weight", field, 0, ROUTING_WEIGHT_MAX, &n, false,
			             err);
			if (rc < 0)
				goto out;
			rep->weight = rc == 0 ? (int) n : ROUTING_WEIGHT_DEFAULT;
			snprintf(field, sizeof(field), "replicas[%zu].sync_state", i);
			if ((rc = get_string(r, "sync_state", field, buf, sizeof(buf),
			                     false, err)) != 0)
				goto out;
			if (strcmp(buf, "sync") == 0)
				rep->is_sync = true;
			else if (buf[0] != '\0' && strcmp(buf, "async") != 0)
			{
				rc = pgw_error_set(err, PGW_EINVAL,
				                   "%s: \"%s\" is not sync or async", field,
				                   buf);
				goto out;
			}
			for (size_t j = 0; j < i; j++)
				if (strcmp(t->replicas[j].ep.name, rep->ep.name) == 0)
				{
					rc = pgw_error_set(
					    err, PGW_EINVAL,
					    "replicas[%zu].name: \"%s\" appears twice", i,
					    rep->ep.name);
					goto out;
				}
			if (t->has_primary && strcmp(t->primary.name, rep->ep.name) == 0)
			{
				rc = pgw_error_set(
				    err, PGW_EINVAL,
				    "replicas[%zu].name: \"%s\" is also the primary", i,
				    rep->ep.name);
				goto out;
			}
			t->n_replicas++;
		}
	}
	rc = 0;
	v = json_object_get(root, "time");
	if (v != NULL)
	{
		if (!json_is_string(v) ||
		    pgw_parse_wall_iso(json_string_value(v), &t->changed_at_wall_ms) !=
		        0)
		{
			rc = pgw_error_set(err, PGW_EINVAL,
			                   "time: not an ISO 8601 timestamp with a zone");
			goto out;
		}
	}
	*out = *t;
out:
	json_decref(root);
	free(t);
	return rc;
}

static json_t *
endpoint_json(const RoutingEndpoint *ep)
{
	return json_pack("{s:s, s:s, s:i}", "name", ep->name, "host", ep->host,
	                 "port", ep->port);
}

char *
routing_table_encode(const RoutingTable *t)
{
	json_t *root = json_object();
	json_t *reps = json_array();
	char ts[48];
	char *s;

	json_object_set_new(root, "epoch", json_integer(t->epoch));
	json_object_set_new(root, "state",
	                    json_string(routing_state_name(t->state)));
	json_object_set_new(root, "leader", json_string(t->leader));
	json_object_set_new(root, "primary",
	                    t->has_primary ? endpoint_json(&t->primary)
	                                   : json_null());
	for (int i = 0; i < t->n_replicas; i++)
	{
		const RoutingReplica *r = &t->replicas[i];
		json_t *o = endpoint_json(&r->ep);
		uint64_t lag = r->lag_bytes > (uint64_t) INT64_MAX
		                   ? (uint64_t) INT64_MAX
		                   : r->lag_bytes;

		json_object_set_new(o, "lag", json_integer((json_int_t) lag));
		json_object_set_new(o, "sync_state",
		                    json_string(r->is_sync ? "sync" : "async"));
		json_object_set_new(o, "weight", json_integer(r->weight));
		json_array_append_new(reps, o);
	}
	json_object_set_new(root, "replicas", reps);
	pgw_format_wall_iso(t->changed_at_wall_ms, 0, ts, sizeof(ts));
	json_object_set_new(root, "time", json_string(ts));
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		abort(); /* jansson only fails on OOM */
	return s;
}

static bool
endpoint_equal(const RoutingEndpoint *a, const RoutingEndpoint *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->host, b->host) == 0 &&
	       a->port == b->port;
}

bool
routing_table_equal_routes(const RoutingTable *a, const RoutingTable *b)
{
	if (a->state != b->state || a->has_primary != b->has_primary ||
	    (a->has_primary && !endpoint_equal(&a->primary, &b->primary)) ||
	    a->n_replicas != b->n_replicas)
		return false;
	for (int i = 0; i < a->n_replicas; i++)
		if (!endpoint_equal(&a->replicas[i].ep, &b->replicas[i].ep) ||
		    a->replicas[i].weight != b->replicas[i].weight)
			return false;
	return true;
}

int
routing_endpoint_from_url(const char *conn_url, RoutingEndpoint *out,
                          PgwError *err)
{
	PgwUrl u;
	PgwError e2 = {0};

	/* the errors quote the host, never the conn_url: it may hold a
	 * password */
	if (pgw_url_split(conn_url, &u, &e2) != 0)
		return pgw_error_set(err, PGW_EINVAL, "conn_url: %s", e2.msg);
	if (strcmp(u.scheme, "postgres") != 0 &&
	    strcmp(u.scheme, "postgresql") != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "conn_url of host \"%s\" does not start with postgres://", u.host);
	if (strlen(u.host) >= sizeof(out->host))
		return pgw_error_set(err, PGW_EINVAL,
		                     "conn_url: host \"%.40s...\" too long", u.host);
	pgw_strlcpy(out->host, u.host, sizeof(out->host));
	if (!token_ok(out->host, false))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "conn_url: the host holds a space, quote or separator");
	out->port = u.port != 0 ? u.port : 5432;
	return 0;
}

static bool
in_sync(const ClusterView *view, const char *name)
{
	for (int i = 0; i < view->sync.n_sync; i++)
		if (strcmp(view->sync.sync_standby[i], name) == 0)
			return true;
	return false;
}

static int
tag_weight(const MemberInfo *m)
{
	for (int i = 0; i < m->n_tags; i++)
		if (strcmp(m->tags[i].key, "weight") == 0)
		{
			int64_t w;

			if (pgw_parse_int64(m->tags[i].value, 0, ROUTING_WEIGHT_MAX, &w) ==
			    0)
				return (int) w;
			return ROUTING_WEIGHT_DEFAULT;
		}
	return ROUTING_WEIGHT_DEFAULT;
}

static int
replica_cmp(const void *a, const void *b)
{
	return strcmp(((const RoutingReplica *) a)->ep.name,
	              ((const RoutingReplica *) b)->ep.name);
}

int
routing_table_build(const ClusterView *view, const char *leader_name,
                    RoutingState state, int64_t epoch, uint64_t lag_bound_bytes,
                    int64_t now_wall_ms, RoutingTable *out, PgwError *err)
{
	const MemberInfo *leader;
	uint64_t top;
	int rc;

	memset(out, 0, sizeof(*out));
	if (epoch < 1)
		return pgw_error_set(err, PGW_EINVAL, "epoch %" PRId64 " is below 1",
		                     epoch);
	if (state != ROUTING_STATE_SERVING && state != ROUTING_STATE_FENCED &&
	    state != ROUTING_STATE_SWITCHING)
		return pgw_error_set(err, PGW_EINVAL, "unknown routing state %d",
		                     (int) state);
	if (leader_name == NULL || !token_ok(leader_name, false) ||
	    strlen(leader_name) >= sizeof(out->leader))
		return pgw_error_set(err, PGW_EINVAL, "bad leader name");
	out->epoch = epoch;
	out->state = state;
	out->changed_at_wall_ms = now_wall_ms;
	pgw_strlcpy(out->leader, leader_name, sizeof(out->leader));
	leader = dcs_view_member(view, leader_name);
	top = view->leader_optime;
	if (leader != NULL && leader->xlog_location > top)
		top = leader->xlog_location;
	if (state != ROUTING_STATE_FENCED)
	{
		PgwError e = {0};

		if (leader == NULL || !leader->is_valid)
			rc = pgw_error_set(&e, PGW_EINVAL,
			                   "leader \"%s\" has no valid member key",
			                   leader_name);
		else
			rc = routing_endpoint_from_url(leader->conn_url, &out->primary, &e);
		if (rc == 0)
		{
			pgw_strlcpy(out->primary.name, leader_name,
			            sizeof(out->primary.name));
			out->has_primary = true;
		}
		else if (state == ROUTING_STATE_SERVING)
		{
			memset(out, 0, sizeof(*out));
			return pgw_error_set(err, rc, "cannot route to the primary: %s",
			                     e.msg);
		}
	}
	for (int i = 0; i < view->n_members; i++)
	{
		const MemberInfo *m = &view->members[i];
		RoutingReplica *r;

		if (strcmp(m->name, leader_name) == 0 || !m->is_valid ||
		    m->role != MEMBER_ROLE_REPLICA ||
		    m->state != MEMBER_STATE_RUNNING || !token_ok(m->name, false) ||
		    out->n_replicas >= ROUTING_REPLICAS_MAX)
			continue;
		r = &out->replicas[out->n_replicas];
		memset(r, 0, sizeof(*r));
		if (routing_endpoint_from_url(m->conn_url, &r->ep, NULL) != 0)
			continue;
		pgw_strlcpy(r->ep.name, m->name, sizeof(r->ep.name));
		r->is_sync = in_sync(view, m->name);
		r->weight = m->noloadbalance ? 0 : tag_weight(m);
		if (m->xlog_location == 0)
		{
			r->lag_bytes = (uint64_t) INT64_MAX;
			r->weight = 0;
		}
		else
		{
			r->lag_bytes = top > m->xlog_location ? top - m->xlog_location : 0;
			if (lag_bound_bytes > 0 && r->lag_bytes > lag_bound_bytes)
				r->weight = 0;
		}
		out->n_replicas++;
	}
	qsort(out->replicas, (size_t) out->n_replicas, sizeof(out->replicas[0]),
	      replica_cmp);
	return 0;
}
