/*
 * rest.c: the per-node REST API, read side (DESIGN.md "REST API"): the
 * pure functions that turn a snapshot into answers (health-check status
 * codes, GET /patroni, /cluster, /metrics), unit-tested by tables. Paths
 * and status codes follow Patroni so that HAProxy recipes work unchanged;
 * /primary is stricter than Patroni's: 200 only when this node holds the
 * leader key *and* its PostgreSQL runs read-write (Patroni bug report
 * #2756). The HTTP server itself is rest_server.c.
 */
#include "daemon/rest_int.h"
#include "daemon/dropin_int.h"
#include "daemon/k8s_views.h"
#include "daemon/rest_body.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/url.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- pure helpers (unit-tested) ---------------------------------------- */

static const char *
query_value(const char *query, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p)
	{
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t) (amp - p) : strlen(p);

		if (plen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
		{
			size_t vlen = plen - klen - 1;

			if (vlen >= len)
				vlen = len - 1;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static bool
tags_match(const RestSnapshot *s, const char *query)
{
	const char *p = query;

	/* every tag_<k>=<v> in the query must equal our tag k */
	while (p && *p)
	{
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t) (amp - p) : strlen(p);

		if (plen > 4 && strncmp(p, "tag_", 4) == 0)
		{
			const char *eq = memchr(p, '=', plen);
			bool found = false;

			if (eq == NULL)
				return false;
			for (int i = 0; i < s->self.n_tags; i++)
			{
				const MemberTag *t = &s->self.tags[i];

				if (strlen(t->key) == (size_t) (eq - p - 4) &&
				    strncmp(t->key, p + 4, (size_t) (eq - p - 4)) == 0 &&
				    strlen(t->value) == plen - (size_t) (eq - p) - 1 &&
				    strncasecmp(t->value, eq + 1, strlen(t->value)) == 0)
					found = true;
			}
			if (!found)
				return false;
		}
		p = amp ? amp + 1 : NULL;
	}
	return true;
}

static bool
in_sync(const RestSnapshot *s)
{
	for (int i = 0; i < s->view.sync.n_sync; i++)
		if (strcmp(s->view.sync.sync_standby[i], s->name) == 0)
			return true;
	return false;
}

static bool
replica_ok(const RestSnapshot *s, const char *query, bool check_noloadbalance)
{
	char buf[64];
	uint64_t max_lag;

	if (!s->pg_running || s->pg_read_write || s->holds_leader)
		return false;
	if (check_noloadbalance && s->self.noloadbalance)
		return false;
	if (query_value(query, "lag", buf, sizeof(buf)) != NULL)
	{
		uint64_t leader_lsn = s->view.leader_optime;
		uint64_t mine = s->self.replayed_location ? s->self.replayed_location
		                                          : s->self.xlog_location;

		/* an unparsable lag is a bad check, not a healthy replica */
		if (pgw_parse_bytes(buf, &max_lag) != 0)
			return false;
		for (int i = 0; i < s->view.n_members; i++)
			if (s->view.has_leader &&
			    strcmp(s->view.members[i].name, s->view.leader) == 0 &&
			    s->view.members[i].xlog_location > leader_lsn)
				leader_lsn = s->view.members[i].xlog_location;
		if (leader_lsn > mine && leader_lsn - mine > max_lag)
			return false;
	}
	return tags_match(s, query);
}

int
rest_status_for(const RestSnapshot *s, const char *path, const char *query,
                int64_t now_mono_ms)
{
	if (query == NULL)
		query = "";
	/*
	 * "We lead" is also checked against the fencing deadline on this
	 * thread's own clock: a snapshot published before a freeze or a stall
	 * must not keep answering 200 after the lease may have expired.
	 */
	bool leads = s->holds_leader && s->lease_deadline_mono_ms > now_mono_ms;

	if (strcmp(path, "/") == 0 || strcmp(path, "/primary") == 0 ||
	    strcmp(path, "/master") == 0 || strcmp(path, "/read-write") == 0)
		return leads && s->pg_read_write && tags_match(s, query) ? 200 : 503;
	if (strcmp(path, "/leader") == 0)
		return leads ? 200 : 503;
	if (strcmp(path, "/standby-leader") == 0 ||
	    strcmp(path, "/standby_leader") == 0)
		return 503; /* standby clusters are not supported yet */
	if (strcmp(path, "/replica") == 0)
		return replica_ok(s, query, true) ? 200 : 503;
	if (strcmp(path, "/read-only") == 0)
		return (leads && s->pg_read_write) || replica_ok(s, query, true) ? 200
		                                                                 : 503;
	if (strcmp(path, "/sync") == 0 || strcmp(path, "/synchronous") == 0)
		return replica_ok(s, query, false) && in_sync(s) ? 200 : 503;
	if (strcmp(path, "/async") == 0 || strcmp(path, "/asynchronous") == 0)
		return replica_ok(s, query, false) && !in_sync(s) ? 200 : 503;
	if (strcmp(path, "/read-only-sync") == 0 ||
	    strcmp(path, "/read-only-synchronous") == 0)
		return (leads && s->pg_read_write) ||
		               (replica_ok(s, query, false) && in_sync(s))
		           ? 200
		           : 503;
	if (strcmp(path, "/health") == 0)
		return s->pg_running ? 200 : 503;
	/* /liveness, /readiness, /startup: the kubelet's (rest_probes.c) */
	if (rest_probe_path(path))
		return rest_probe_status_now(s, path, query, now_mono_ms);
	return 0;
}

static const char *
role_for_api(const RestSnapshot *s)
{
	if (s->pg_read_write)
		return "primary";
	if (s->pg_running)
		return "replica";
	return dcs_role_name(s->self.role);
}

char *
rest_patroni_json(const RestSnapshot *s, int64_t now_wall_ms)
{
	json_t *o = json_object();
	json_t *xlog = json_object();
	json_t *tags = json_object();
	json_t *pw = json_object();
	char ts[40];
	char *out;

	(void) now_wall_ms;
	json_object_set_new(o, "state", json_string(dcs_state_name(s->self.state)));
	if (s->postmaster_start_wall_ms > 0)
	{
		pgw_format_wall_iso(s->postmaster_start_wall_ms, 1, ts, sizeof(ts));
		json_object_set_new(o, "postmaster_start_time", json_string(ts));
	}
	json_object_set_new(o, "role", json_string(role_for_api(s)));
	if (s->server_version > 0)
		json_object_set_new(o, "server_version",
		                    json_integer(s->server_version));
	if (s->pg_read_write)
		json_object_set_new(xlog, "location",
		                    json_integer((json_int_t) s->self.xlog_location));
	else
	{
		json_object_set_new(
		    xlog, "received_location",
		    json_integer((json_int_t) s->self.received_location));
		json_object_set_new(
		    xlog, "replayed_location",
		    json_integer((json_int_t) s->self.replayed_location));
		if (s->replayed_ts_wall_ms > 0)
		{
			pgw_format_wall_iso(s->replayed_ts_wall_ms, 1, ts, sizeof(ts));
			json_object_set_new(xlog, "replayed_timestamp", json_string(ts));
		}
		else
			json_object_set_new(xlog, "replayed_timestamp", json_null());
		json_object_set_new(xlog, "paused", json_boolean(s->replay_paused));
	}
	json_object_set_new(o, "xlog", xlog);
	if (s->self.timeline > 0)
		json_object_set_new(o, "timeline", json_integer(s->self.timeline));
	if (s->n_standbys > 0)
	{
		json_t *rep = json_array();

		for (int i = 0; i < s->n_standbys; i++)
		{
			const RestStandby *r = &s->standbys[i];

			json_array_append_new(
			    rep,
			    json_pack("{s:s, s:s, s:s, s:s}", "application_name",
			              r->application_name, "client_addr", r->client_addr,
			              "state", r->state, "sync_state", r->sync_state));
		}
		json_object_set_new(o, "replication", rep);
	}
	json_object_set_new(o, "cluster_unlocked",
	                    json_boolean(s->view.is_valid && !s->view.has_leader));
	if (s->dcs_last_seen_wall_ms > 0)
		json_object_set_new(o, "dcs_last_seen",
		                    json_integer(s->dcs_last_seen_wall_ms / 1000));
	{
		/* tags and scheduled_restart typed as in our member key (the
		 * codec's rendering), as Patroni's GET /patroni gives them */
		char *mj = dcs_member_encode(&s->self);
		json_t *mo = mj ? json_loads(mj, 0, NULL) : NULL;
		json_t *sr = mo ? json_object_get(mo, "scheduled_restart") : NULL;

		if (mo != NULL && json_is_object(json_object_get(mo, "tags")))
			json_object_update(tags, json_object_get(mo, "tags"));
		if (sr != NULL)
		{
			json_object_del(sr, "postmaster_start_time");
			json_object_set(o, "scheduled_restart", sr);
		}
		json_decref(mo);
		free(mj);
	}
	json_object_set_new(o, "tags", tags);
	if (s->sysid[0])
		json_object_set_new(o, "database_system_identifier",
		                    json_string(s->sysid));
	if (s->self.pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	json_object_set_new(pw, "version", json_string(PGW_VERSION));
	json_object_set_new(pw, "scope", json_string(s->scope));
	json_object_set_new(pw, "name", json_string(s->name));
	json_object_set_new(o, "patroni", pw);
	if (s->view.config.pause)
		json_object_set_new(o, "pause", json_true());
	json_object_set_new(o, "pgwarden",
	                    json_pack("{s:s, s:s, s:s, s:b}", "decision",
	                              s->decision, "rule", s->rule, "reason",
	                              s->reason, "holds_leader", s->holds_leader));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* host and port of "postgres://host:port/db" as Patroni's /cluster gives
 * them (urlparse: no brackets, no userinfo, port 5432 when none is named);
 * "" and 0 for a conn_url without a scheme or that does not split */
static void
split_conn_url(const char *url, char *host, size_t hlen, int *port)
{
	PgwUrl u;

	host[0] = '\0';
	*port = 0;
	if (pgw_url_split(url, &u, NULL) != 0 || u.scheme[0] == '\0')
		return;
	pgw_strlcpy(host, u.host, hlen);
	*port = u.port != 0 ? u.port : 5432;
}

char *
rest_cluster_json(const RestSnapshot *s)
{
	json_t *o = json_object();
	json_t *members = json_array();
	uint64_t leader_lsn = 0;
	char *out;

	for (int i = 0; i < s->view.n_members; i++)
		if (s->view.has_leader &&
		    strcmp(s->view.members[i].name, s->view.leader) == 0)
			leader_lsn = s->view.members[i].xlog_location;
	for (int i = 0; i < s->view.n_members; i++)
	{
		const MemberInfo *m = &s->view.members[i];
		json_t *jm = json_object();
		char host[128];
		int port;
		bool is_leader =
		    s->view.has_leader && strcmp(m->name, s->view.leader) == 0;
		bool is_sync = false;

		for (int k = 0; k < s->view.sync.n_sync; k++)
			if (strcmp(s->view.sync.sync_standby[k], m->name) == 0)
				is_sync = true;
		split_conn_url(m->conn_url, host, sizeof(host), &port);
		json_object_set_new(jm, "name", json_string(m->name));
		json_object_set_new(jm, "role",
		                    json_string(is_leader     ? "leader"
		                                : is_sync     ? "sync_standby"
		                                : m->is_valid ? "replica"
		                                              : "unknown"));
		json_object_set_new(
		    jm, "state",
		    json_string(m->is_valid ? dcs_state_name(m->state) : "invalid"));
		json_object_set_new(jm, "api_url", json_string(m->api_url));
		json_object_set_new(jm, "host", json_string(host));
		json_object_set_new(jm, "port", json_integer(port));
		if (m->timeline > 0)
			json_object_set_new(jm, "timeline", json_integer(m->timeline));
		if (!is_leader && m->is_valid)
			json_object_set_new(
			    jm, "lag",
			    json_integer(leader_lsn > m->xlog_location
			                     ? (json_int_t) (leader_lsn - m->xlog_location)
			                     : 0));
		if (m->pending_restart)
			json_object_set_new(jm, "pending_restart", json_true());
		if (m->is_valid)
		{
			/* Patroni's cluster_as_json: tags and scheduled_restart as the
			 * member key holds them */
			char *mj = dcs_member_encode(m);
			json_t *mo = mj ? json_loads(mj, 0, NULL) : NULL;

			if (mo != NULL && json_object_get(mo, "tags") != NULL)
				json_object_set(jm, "tags", json_object_get(mo, "tags"));
			if (mo != NULL && json_object_get(mo, "scheduled_restart") != NULL)
				json_object_set(jm, "scheduled_restart",
				                json_object_get(mo, "scheduled_restart"));
			json_decref(mo);
			free(mj);
		}
		if (!m->is_valid)
			json_object_set_new(jm, "error", json_string(m->parse_error));
		json_array_append_new(members, jm);
	}
	json_object_set_new(o, "members", members);
	json_object_set_new(o, "scope", json_string(s->scope));
	if (s->view.config.pause)
		json_object_set_new(o, "pause", json_true());
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}


/* Called under srv->lock: serve snap; old_hist and old_cfg are what the
 * caller frees after unlocking. When the raw JSON did not change
 * (raw_json_same) the served strings are kept: no copy per turn (issue 18). */
void
rest_snap_take(RestServer *srv, RestSnapshot *snap, char **old_hist,
               char **old_cfg)
{
	bool keep = snap->raw_json_same && srv->has_snap;

	*old_hist = srv->has_snap ? srv->snap.history_json : NULL;
	*old_cfg = srv->has_snap ? srv->snap.config_json : NULL;
	srv->snap = *snap;
	if (keep)
	{
		srv->snap.history_json = *old_hist;
		srv->snap.config_json = *old_cfg;
		*old_hist = NULL;
		*old_cfg = NULL;
	}
}
