/*
 * rest.c: the per-node REST API, read side (DESIGN.md "REST API"), on
 * libmicrohttpd. Paths and status codes follow Patroni so that HAProxy
 * recipes work unchanged; /primary is stricter than Patroni's: 200 only when
 * this node holds the leader key *and* its PostgreSQL runs read-write
 * (Patroni bug report #2756). HEAD and OPTIONS answer with the status alone.
 * The write side (rest_write.c) is reached through handle() below after
 * check_access(); every connection has its own thread, so a slow write
 * (a switchover waits for the new leader) never delays a health check.
 *
 * TLS: libmicrohttpd does TLS with GnuTLS (Debian's build); OpenSSL stays
 * what we use as a client (etcd, peers). Client certificates are requested
 * when verify_client is optional or required (the CA from restapi.cafile)
 * and verified with gnutls_certificate_verify_peers2() on write requests:
 * with either setting a write needs a valid certificate (403 without, as
 * Patroni's check_access), and health checks stay open. Patroni's
 * "required" refuses the TLS handshake itself for every path; we cannot
 * (libmicrohttpd only requests a certificate) and would not: HAProxy and
 * our peers' GET /patroni probes present none.
 */
#include "daemon/rest_int.h"
#include "backup/backup.h"
#include "daemon/rest_body.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- pure helpers (unit-tested) ---------------------------------------- */

static const char *
query_value(const char *query, const char *key, char *buf, size_t len)
{
	size_t		klen = strlen(key);
	const char *p = query;

	while (p && *p)
	{
		const char *amp = strchr(p, '&');
		size_t		plen = amp ? (size_t) (amp - p) : strlen(p);

		if (plen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
		{
			size_t		vlen = plen - klen - 1;

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
		size_t		plen = amp ? (size_t) (amp - p) : strlen(p);

		if (plen > 4 && strncmp(p, "tag_", 4) == 0)
		{
			const char *eq = memchr(p, '=', plen);
			bool		found = false;

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
	char		buf[64];
	uint64_t	max_lag;

	if (!s->pg_running || s->pg_read_write || s->holds_leader)
		return false;
	if (check_noloadbalance && s->self.noloadbalance)
		return false;
	if (query_value(query, "lag", buf, sizeof(buf)) != NULL)
	{
		uint64_t	leader_lsn = s->view.leader_optime;
		uint64_t	mine = s->self.replayed_location ? s->self.replayed_location
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
	int64_t		ttl_ms = s->view.config.ttl_ms > 0 ? s->view.config.ttl_ms : 10000;

	if (query == NULL)
		query = "";
	/*
	 * "We lead" is also checked against the fencing deadline on this
	 * thread's own clock: a snapshot published before a freeze or a stall
	 * must not keep answering 200 after the lease may have expired.
	 */
	bool		leads = s->holds_leader && s->lease_deadline_mono_ms > now_mono_ms;

	if (strcmp(path, "/") == 0 || strcmp(path, "/primary") == 0 ||
		strcmp(path, "/master") == 0 || strcmp(path, "/read-write") == 0)
		return leads && s->pg_read_write && tags_match(s, query) ? 200 : 503;
	if (strcmp(path, "/leader") == 0)
		return leads ? 200 : 503;
	if (strcmp(path, "/standby-leader") == 0 ||
		strcmp(path, "/standby_leader") == 0)
		return 503;				/* standby clusters are not supported yet */
	if (strcmp(path, "/replica") == 0)
		return replica_ok(s, query, true) ? 200 : 503;
	if (strcmp(path, "/read-only") == 0)
		return (leads && s->pg_read_write) ||
			replica_ok(s, query, true) ? 200 : 503;
	if (strcmp(path, "/sync") == 0 || strcmp(path, "/synchronous") == 0)
		return replica_ok(s, query, false) && in_sync(s) ? 200 : 503;
	if (strcmp(path, "/async") == 0 || strcmp(path, "/asynchronous") == 0)
		return replica_ok(s, query, false) && !in_sync(s) ? 200 : 503;
	if (strcmp(path, "/read-only-sync") == 0 ||
		strcmp(path, "/read-only-synchronous") == 0)
		return (leads && s->pg_read_write) ||
			(replica_ok(s, query, false) && in_sync(s)) ? 200 : 503;
	if (strcmp(path, "/health") == 0)
		return s->pg_running ? 200 : 503;
	if (strcmp(path, "/liveness") == 0)
	{
		int64_t		bound = s->holds_leader ? ttl_ms : 2 * ttl_ms;

		if (s->view.config.pause)
			return 200;
		return s->last_loop_mono_ms > 0 &&
			now_mono_ms - s->last_loop_mono_ms <= bound ? 200 : 503;
	}
	if (strcmp(path, "/readiness") == 0)
		return leads || (s->pg_running && s->view.is_valid) ? 200 : 503;
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
	json_t	   *o = json_object();
	json_t	   *xlog = json_object();
	json_t	   *tags = json_object();
	json_t	   *pw = json_object();
	char		ts[40];
	char	   *out;

	(void) now_wall_ms;
	json_object_set_new(o, "state", json_string(dcs_state_name(s->self.state)));
	if (s->postmaster_start_wall_ms > 0)
	{
		pgw_format_wall_iso(s->postmaster_start_wall_ms, 1, ts, sizeof(ts));
		json_object_set_new(o, "postmaster_start_time", json_string(ts));
	}
	json_object_set_new(o, "role", json_string(role_for_api(s)));
	if (s->server_version > 0)
		json_object_set_new(o, "server_version", json_integer(s->server_version));
	if (s->pg_read_write)
		json_object_set_new(xlog, "location",
							json_integer((json_int_t) s->self.xlog_location));
	else
	{
		json_object_set_new(xlog, "received_location",
							json_integer((json_int_t) s->self.received_location));
		json_object_set_new(xlog, "replayed_location",
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
		json_t	   *rep = json_array();

		for (int i = 0; i < s->n_standbys; i++)
		{
			const RestStandby *r = &s->standbys[i];

			json_array_append_new(rep,
								  json_pack("{s:s, s:s, s:s, s:s}",
											"application_name", r->application_name,
											"client_addr", r->client_addr,
											"state", r->state,
											"sync_state", r->sync_state));
		}
		json_object_set_new(o, "replication", rep);
	}
	json_object_set_new(o, "cluster_unlocked",
						json_boolean(s->view.is_valid && !s->view.has_leader));
	if (s->dcs_last_seen_wall_ms > 0)
		json_object_set_new(o, "dcs_last_seen",
							json_integer(s->dcs_last_seen_wall_ms / 1000));
	for (int i = 0; i < s->self.n_tags; i++)
		json_object_set_new(tags, s->self.tags[i].key,
							json_string(s->self.tags[i].value));
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
						json_pack("{s:s, s:s, s:s, s:b}",
								  "decision", s->decision, "rule", s->rule,
								  "reason", s->reason,
								  "holds_leader", s->holds_leader));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* host and port out of "postgres://host:port/db" */
static void
split_conn_url(const char *url, char *host, size_t hlen, int *port)
{
	const char *p = strstr(url, "://");
	const char *colon;
	const char *slash;
	int64_t		v;
	char		pbuf[8];

	host[0] = '\0';
	*port = 0;
	if (p == NULL)
		return;
	p += 3;
	slash = strchr(p, '/');
	colon = strrchr(p, ':');
	if (colon == NULL || (slash && colon > slash))
	{
		snprintf(host, hlen, "%.*s", (int) (slash ? slash - p : (long) strlen(p)),
				 p);
		return;
	}
	snprintf(host, hlen, "%.*s", (int) (colon - p), p);
	snprintf(pbuf, sizeof(pbuf), "%.*s",
			 (int) (slash ? slash - colon - 1 : (long) strlen(colon + 1)),
			 colon + 1);
	if (pgw_parse_int64(pbuf, 1, 65535, &v) == 0)
		*port = (int) v;
}

char *
rest_cluster_json(const RestSnapshot *s)
{
	json_t	   *o = json_object();
	json_t	   *members = json_array();
	uint64_t	leader_lsn = 0;
	char	   *out;

	for (int i = 0; i < s->view.n_members; i++)
		if (s->view.has_leader &&
			strcmp(s->view.members[i].name, s->view.leader) == 0)
			leader_lsn = s->view.members[i].xlog_location;
	for (int i = 0; i < s->view.n_members; i++)
	{
		const MemberInfo *m = &s->view.members[i];
		json_t	   *jm = json_object();
		char		host[128];
		int			port;
		bool		is_leader = s->view.has_leader &&
			strcmp(m->name, s->view.leader) == 0;
		bool		is_sync = false;

		for (int k = 0; k < s->view.sync.n_sync; k++)
			if (strcmp(s->view.sync.sync_standby[k], m->name) == 0)
				is_sync = true;
		split_conn_url(m->conn_url, host, sizeof(host), &port);
		json_object_set_new(jm, "name", json_string(m->name));
		json_object_set_new(jm, "role",
							json_string(is_leader ? "leader"
										: is_sync ? "sync_standby"
										: m->is_valid ? "replica" : "unknown"));
		json_object_set_new(jm, "state",
							json_string(m->is_valid ? dcs_state_name(m->state)
										: "invalid"));
		json_object_set_new(jm, "api_url", json_string(m->api_url));
		json_object_set_new(jm, "host", json_string(host));
		json_object_set_new(jm, "port", json_integer(port));
		if (m->timeline > 0)
			json_object_set_new(jm, "timeline", json_integer(m->timeline));
		if (!is_leader && m->is_valid)
			json_object_set_new(jm, "lag",
								json_integer(leader_lsn > m->xlog_location ?
											 (json_int_t) (leader_lsn - m->xlog_location) : 0));
		if (m->pending_restart)
			json_object_set_new(jm, "pending_restart", json_true());
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

char *
rest_metrics_text(const RestSnapshot *s, int64_t now_mono_ms)
{
	char	   *buf = pgw_xmalloc(8192);
	size_t		len = 8192;
	int			n;
	const char *sc = s->scope;
	int64_t		lease_left = s->lease_deadline_mono_ms > now_mono_ms ?
		s->lease_deadline_mono_ms - now_mono_ms : 0;
	uint64_t	leader_lsn = s->view.leader_optime;

	for (int i = 0; i < s->view.n_members; i++)
		if (s->view.has_leader &&
			strcmp(s->view.members[i].name, s->view.leader) == 0 &&
			s->view.members[i].xlog_location > leader_lsn)
			leader_lsn = s->view.members[i].xlog_location;
	n = snprintf(buf, len,
				 "# HELP pgwarden_postgres_running PostgreSQL is running and accepts connections.\n"
				 "# TYPE pgwarden_postgres_running gauge\n"
				 "pgwarden_postgres_running{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_primary gauge\n"
				 "pgwarden_primary{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_replica gauge\n"
				 "pgwarden_replica{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_leader gauge\n"
				 "pgwarden_leader{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_postgres_timeline gauge\n"
				 "pgwarden_postgres_timeline{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_xlog_location gauge\n"
				 "pgwarden_xlog_location{scope=\"%s\"} %llu\n"
				 "# HELP pgwarden_replication_lag_bytes Bytes behind the leader's last known WAL position.\n"
				 "# TYPE pgwarden_replication_lag_bytes gauge\n"
				 "pgwarden_replication_lag_bytes{scope=\"%s\"} %llu\n"
				 "# HELP pgwarden_leader_lease_remaining_seconds Time until this node's fencing deadline.\n"
				 "# TYPE pgwarden_leader_lease_remaining_seconds gauge\n"
				 "pgwarden_leader_lease_remaining_seconds{scope=\"%s\"} %.3f\n"
				 "# TYPE pgwarden_loop_duration_seconds gauge\n"
				 "pgwarden_loop_duration_seconds{scope=\"%s\"} %.3f\n"
				 "# TYPE pgwarden_loops_total counter\n"
				 "pgwarden_loops_total{scope=\"%s\"} %llu\n"
				 "# TYPE pgwarden_etcd_errors_total counter\n"
				 "pgwarden_etcd_errors_total{scope=\"%s\"} %llu\n"
				 "# TYPE pgwarden_cluster_unlocked gauge\n"
				 "pgwarden_cluster_unlocked{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_is_paused gauge\n"
				 "pgwarden_is_paused{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_pending_restart gauge\n"
				 "pgwarden_pending_restart{scope=\"%s\"} %d\n"
				 "# TYPE pgwarden_dcs_last_seen gauge\n"
				 "pgwarden_dcs_last_seen{scope=\"%s\"} %lld\n",
				 sc, s->pg_running, sc, s->pg_read_write && s->holds_leader, sc,
				 s->pg_running && !s->pg_read_write, sc, s->holds_leader, sc,
				 s->self.timeline, sc, (unsigned long long) s->self.xlog_location,
				 sc,
				 (unsigned long long) (leader_lsn > s->self.xlog_location &&
									   !s->holds_leader ?
									   leader_lsn - s->self.xlog_location : 0),
				 sc, lease_left / 1000.0, sc, s->loop_duration_ms / 1000.0, sc,
				 (unsigned long long) s->loops_total, sc,
				 (unsigned long long) s->etcd_errors_total, sc,
				 s->view.is_valid && !s->view.has_leader, sc, s->view.config.pause,
				 sc, s->self.pending_restart, sc,
				 (long long) (s->dcs_last_seen_wall_ms / 1000));
	if (n < 0 || (size_t) n >= len)
		buf[len - 1] = '\0';
	return buf;
}

/* ---- libmicrohttpd glue ------------------------------------------------ */

typedef struct QueryBuf
{
	char		text[512];
	size_t		used;
} QueryBuf;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
			  const char *value)
{
	QueryBuf   *q = cls;
	int			n;

	(void) kind;
	n = snprintf(q->text + q->used, sizeof(q->text) - q->used, "%s%s=%s",
				 q->used ? "&" : "", key, value ? value : "");
	if (n > 0 && q->used + (size_t) n < sizeof(q->text))
		q->used += (size_t) n;
	return MHD_YES;
}

static enum MHD_Result
respond_h(struct MHD_Connection *conn, int status, const char *ctype,
		  char *body, bool head_only, const char *hname, const char *hvalue)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (head_only || body == NULL)
	{
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		free(body);
	}
	else
		r = MHD_create_response_from_buffer(strlen(body), body,
											MHD_RESPMEM_MUST_FREE);
	if (ctype)
		MHD_add_response_header(r, "Content-Type", ctype);
	if (hname)
		MHD_add_response_header(r, hname, hvalue);
	ret = MHD_queue_response(conn, (unsigned int) status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, int status, const char *ctype,
		char *body, bool head_only)
{
	return respond_h(conn, status, ctype, body, head_only, NULL, NULL);
}

static char *
json_error(const char *msg)
{
	json_t	   *o = json_pack("{s:s}", "error", msg);
	char	   *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* A write request being received. */
typedef struct RestRequest
{
	bool		responded;		/* a refusal was queued already */
	bool		too_big;
	size_t		len;
	char		body[REST_BODY_MAX + 1];
} RestRequest;

static int	get_marker;			/* *req_cls of GET/HEAD/OPTIONS requests */

/* the client presented a certificate that our CA verifies */
static bool
client_cert_ok(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t sess;
	unsigned int n = 0;
	unsigned int status = 0;

	if (ci == NULL || ci->tls_session == NULL)
		return false;
	sess = (gnutls_session_t) ci->tls_session;
	if (gnutls_certificate_get_peers(sess, &n) == NULL || n == 0)
		return false;
	if (gnutls_certificate_verify_peers2(sess, &status) != GNUTLS_E_SUCCESS)
		return false;
	return status == 0;
}

/* the client's address is a member's host (allowlist_include_members) */
static bool
is_member_host(RestServer *srv, const struct sockaddr *sa)
{
	char		(*hosts)[PGW_URL_MAX];
	int			n = 0;
	bool		found = false;

	hosts = pgw_xmalloc(sizeof(*hosts) * 2 * PGW_MEMBERS_MAX);
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; srv->has_snap && i < srv->snap.view.n_members &&
		 i < PGW_MEMBERS_MAX; i++)
	{
		const MemberInfo *m = &srv->snap.view.members[i];

		if (rest_url_host(m->api_url, hosts[n], PGW_URL_MAX))
			n++;
		if (rest_url_host(m->conn_url, hosts[n], PGW_URL_MAX))
			n++;
	}
	pthread_mutex_unlock(&srv->lock);
	/* names are resolved outside the lock: getaddrinfo may block */
	for (int i = 0; i < n && !found; i++)
		found = rest_host_match(hosts[i], sa);
	free(hosts);
	return found;
}

/*
 * check_access: Patroni's check_access for write endpoints, in its order:
 * allowlist (403), client certificate (403), basic auth (401). Returns 0
 * when the request may proceed.
 */
static int
check_access(RestServer *srv, struct MHD_Connection *conn, const char **reason)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (srv->n_allow > 0 || srv->n_allow_names > 0 ||
		srv->allowlist_include_members)
	{
		bool		ok = false;

		for (int i = 0; i < srv->n_allow && !ok; i++)
			ok = rest_cidr_match(&srv->allow[i], sa);
		for (int i = 0; i < srv->n_allow_names && !ok; i++)
			ok = rest_host_match(srv->allow_names[i], sa);
		if (!ok && srv->allowlist_include_members)
			ok = is_member_host(srv, sa);
		if (!ok)
		{
			*reason = "Access is denied";
			return 403;
		}
	}
	if (srv->verify_client != 0 && srv->cert_pem != NULL &&
		!client_cert_ok(conn))
	{
		*reason = "client certificate required";
		return 403;
	}
	*reason = rest_basic_auth_check(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
																MHD_HTTP_HEADER_AUTHORIZATION),
									srv->username, srv->password);
	return *reason ? 401 : 0;
}

static bool
is_write_path(const char *url)
{
	return strcmp(url, "/switchover") == 0 || strcmp(url, "/failover") == 0 ||
		strcmp(url, "/restart") == 0 || strcmp(url, "/reinitialize") == 0 ||
		strcmp(url, "/reload") == 0 || strcmp(url, "/config") == 0;
}

static enum MHD_Result
refuse(struct MHD_Connection *conn, RestRequest *rq, int status,
	   const char *msg, bool challenge)
{
	rq->responded = true;
	if (challenge)
		return respond_h(conn, status, "application/json", json_error(msg),
						 false, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						 "Basic realm=\"pgwarden\"");
	return respond(conn, status, "application/json", json_error(msg), false);
}

/* first call of a write request: route, access, declared size */
static enum MHD_Result
write_begin(RestServer *srv, struct MHD_Connection *conn, const char *url,
			const char *method, RestRequest *rq)
{
	const char *reason = NULL;
	const char *clen;
	int			status;
	int64_t		n;

	if (!rest_write_is_endpoint(method, url))
		return refuse(conn, rq, is_write_path(url) ? 405 : 404,
					  is_write_path(url) ? "method not allowed" : "unknown path",
					  false);
	status = check_access(srv, conn, &reason);
	if (status != 0)
	{
		log_info("rest.access-denied", "method=%s path=%s status=%d reason=\"%s\"",
				 method, url, status, reason);
		return refuse(conn, rq, status, reason, status == 401);
	}
	clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									   MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen != NULL &&
		(pgw_parse_int64(clen, 0, INT64_MAX, &n) != 0 || n > REST_BODY_MAX))
		return refuse(conn, rq, 413, "request body is larger than 65536 bytes",
					  false);
	return MHD_YES;
}

static enum MHD_Result
write_finish(RestServer *srv, struct MHD_Connection *conn, const char *url,
			 const char *method, RestRequest *rq)
{
	RestReply	reply = {0};

	if (rq->too_big)
		return refuse(conn, rq, 413, "request body is larger than 65536 bytes",
					  false);
	rq->body[rq->len] = '\0';
	rest_write_handle(srv, method, url, rq->body, rq->len,
					  MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												  MHD_HTTP_HEADER_IF_MATCH),
					  &reply);
	rq->responded = true;
	return respond(conn, reply.status, "application/json", reply.body, false);
}

static void
request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void) cls;
	(void) conn;
	(void) toe;
	if (*req_cls != NULL && *req_cls != &get_marker)
		free(*req_cls);
	*req_cls = NULL;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	RestServer *srv = cls;
	bool		head = strcmp(method, "HEAD") == 0;
	bool		options = strcmp(method, "OPTIONS") == 0;
	bool		get = strcmp(method, "GET") == 0;
	QueryBuf	q = {{0}, 0};
	RestSnapshot *s;
	int64_t		now = pgw_now_mono_ms();
	int			status;
	char	   *body = NULL;
	const char *ctype = "application/json";
	char		etag[32] = "";

	(void) version;
	if (*req_cls == NULL)
	{
		RestRequest *rq;

		/* first call for this request: headers only */
		if (get || head || options)
		{
			*req_cls = &get_marker;
			return MHD_YES;
		}
		rq = pgw_xmalloc(sizeof(RestRequest));
		rq->responded = false;
		rq->too_big = false;
		rq->len = 0;
		*req_cls = rq;
		return write_begin(srv, conn, url, method, rq);
	}
	if (*req_cls != &get_marker)
	{
		RestRequest *rq = *req_cls;

		if (*upload_data_size != 0)
		{
			size_t		n = *upload_data_size;

			*upload_data_size = 0;
			if (rq->responded)
				return MHD_YES;
			if (rq->too_big || rq->len + n > REST_BODY_MAX)
			{
				/* a chunked body past the limit: answer now if MHD lets
				 * us, else close the connection */
				rq->too_big = true;
				if (refuse(conn, rq, 413, "request body is larger than 65536 bytes",
						   false) != MHD_YES)
					return MHD_NO;
				return MHD_YES;
			}
			memcpy(rq->body + rq->len, upload_data, n);
			rq->len += n;
			return MHD_YES;
		}
		if (rq->responded)
			return MHD_YES;
		return write_finish(srv, conn, url, method, rq);
	}
	if (*upload_data_size != 0)
	{
		/* a body on a read request: ignored */
		*upload_data_size = 0;
		return MHD_YES;
	}
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);

	pthread_mutex_lock(&srv->lock);
	if (!srv->has_snap)
	{
		pthread_mutex_unlock(&srv->lock);
		return respond(conn, 503, "application/json",
					   json_error("starting: no observation yet"), head || options);
	}
	s = &srv->snap;
	status = rest_status_for(s, url, q.text, now);
	if (status != 0)
	{
		/* Patroni answers /liveness and /readiness with no body */
		if (strcmp(url, "/liveness") != 0 && strcmp(url, "/readiness") != 0)
			body = rest_patroni_json(s, pgw_now_wall_ms());
	}
	else if (strcmp(url, "/patroni") == 0)
	{
		status = 200;
		body = rest_patroni_json(s, pgw_now_wall_ms());
	}
	else if (strcmp(url, "/cluster") == 0)
	{
		status = 200;
		body = rest_cluster_json(s);
	}
	else if (strcmp(url, "/history") == 0)
	{
		status = 200;
		body = pgw_xstrdup(s->history_json ? s->history_json : "[]");
	}
	else if (strcmp(url, "/failsafe") == 0)
	{
		/* Patroni's: the members the leader listed, 502 when off */
		if (!s->view.config.failsafe_mode || !s->view.failsafe.present)
		{
			status = 502;
			body = json_error(!s->view.config.failsafe_mode ?
							  "failsafe_mode is not enabled" : "no failsafe key in etcd");
		}
		else
		{
			json_t	   *o = json_object();

			for (int i = 0; i < s->view.failsafe.n; i++)
				json_object_set_new(o, s->view.failsafe.name[i],
									json_string(s->view.failsafe.api_url[i]));
			body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(o);
			status = body ? 200 : 500;
			if (body == NULL)
				body = json_error("out of memory");
		}
	}
	else if (strcmp(url, "/config") == 0)
	{
		status = s->config_json ? 200 : 502;
		body = s->config_json ? pgw_xstrdup(s->config_json)
			: json_error("no config in etcd");
		/* the revision PATCH /config may name in If-Match */
		if (s->config_json && s->view.config.mod_revision > 0)
			snprintf(etag, sizeof(etag), "\"%lld\"",
					 (long long) s->view.config.mod_revision);
	}
	else if (strcmp(url, "/metrics") == 0)
	{
		status = 200;
		ctype = "text/plain; version=0.0.4";
		body = rest_metrics_text(s, now);
		{
			/* backup/'s own gauges (its duty keeps them current) */
			char	   *bk = backup_metrics_text();

			if (bk != NULL)
			{
				size_t		n = strlen(body);

				body = pgw_xrealloc(body, n + strlen(bk) + 1);
				memcpy(body + n, bk, strlen(bk) + 1);
				free(bk);
			}
		}
	}
	else
	{
		status = 404;
		body = json_error("unknown path");
	}
	pthread_mutex_unlock(&srv->lock);
	return respond_h(conn, status, ctype, body, head || options,
					 etag[0] ? MHD_HTTP_HEADER_ETAG : NULL, etag);
}

static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0 || n > 1024 * 1024)
	{
		fclose(f);
		return NULL;
	}
	buf = pgw_xmalloc((size_t) n + 1);
	if (fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *
dup_opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? pgw_xstrdup(s) : NULL;
}

static void
server_free(RestServer *srv)
{
	rest_write_close(srv);
	if (srv->has_snap)
	{
		free(srv->snap.history_json);
		free(srv->snap.config_json);
	}
	free(srv->cert_pem);
	if (srv->key_pem)
		explicit_bzero(srv->key_pem, strlen(srv->key_pem));
	free(srv->key_pem);
	free(srv->ca_pem);
	free(srv->username);
	if (srv->password)
		explicit_bzero(srv->password, strlen(srv->password));
	free(srv->password);
	free(srv->allow);
	for (int i = 0; i < srv->n_allow_names; i++)
		free(srv->allow_names[i]);
	free(srv->allow_names);
	free(srv->etcd_endpoints);
	free(srv->etcd_cacert);
	free(srv->etcd_cert);
	free(srv->etcd_key);
	free(srv->etcd_username);
	free(srv->etcd_password);
	free(srv->prefix);
	free(srv->member_name);
	rest_actions_destroy(srv);
	pthread_mutex_destroy(&srv->etcd_lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* copy opt's access and etcd settings into srv; PGW_EINVAL names a bad one */
static int
server_configure(RestServer *srv, const RestOptions *opt, PgwError *err)
{
	srv->verify_client = opt->verify_client;
	srv->username = dup_opt(opt->username);
	srv->password = dup_opt(opt->password);
	srv->allowlist_include_members = opt->allowlist_include_members;
	if (opt->n_allowlist > 0)
	{
		srv->allow = pgw_xcalloc((size_t) opt->n_allowlist, sizeof(RestCidr));
		srv->allow_names = pgw_xcalloc((size_t) opt->n_allowlist, sizeof(char *));
	}
	for (int i = 0; i < opt->n_allowlist; i++)
	{
		const char *e = opt->allowlist[i];

		if (e == NULL || e[0] == '\0')
			return pgw_error_set(err, PGW_EINVAL, "restapi.allowlist entry %d is empty", i + 1);
		if (rest_cidr_parse(e, &srv->allow[srv->n_allow]) == 0)
			srv->n_allow++;
		else if (strchr(e, '/') == NULL && strchr(e, ':') == NULL)
			srv->allow_names[srv->n_allow_names++] = pgw_xstrdup(e);	/* a host name */
		else
			return pgw_error_set(err, PGW_EINVAL,
								 "restapi.allowlist entry \"%s\" is not an address, a network (CIDR) or a host name",
								 e);
	}
	srv->etcd_endpoints = dup_opt(opt->etcd_endpoints);
	srv->etcd_cacert = dup_opt(opt->etcd_cacert);
	srv->etcd_cert = dup_opt(opt->etcd_cert);
	srv->etcd_key = dup_opt(opt->etcd_key);
	srv->etcd_username = dup_opt(opt->etcd_username);
	srv->etcd_password = dup_opt(opt->etcd_password);
	srv->prefix = dup_opt(opt->prefix);
	srv->member_name = dup_opt(opt->member_name);
	if (opt->certfile && opt->certfile[0])
	{
		srv->cert_pem = read_file(opt->certfile);
		srv->key_pem = read_file(opt->keyfile ? opt->keyfile : "");
		if (srv->cert_pem == NULL || srv->key_pem == NULL)
			return pgw_error_set(err, PGW_EINVAL,
								 "could not read REST TLS certificate \"%s\" or key \"%s\"",
								 opt->certfile, opt->keyfile ? opt->keyfile : "");
		if (opt->verify_client != 0)
		{
			if (opt->cafile == NULL || opt->cafile[0] == '\0')
				return pgw_error_set(err, PGW_EINVAL,
									 "restapi.verify_client needs restapi.cafile (the CA that signs client certificates)");
			srv->ca_pem = read_file(opt->cafile);
			if (srv->ca_pem == NULL)
				return pgw_error_set(err, PGW_EINVAL,
									 "could not read REST TLS CA file \"%s\"", opt->cafile);
		}
	}
	else if (opt->verify_client != 0)
		return pgw_error_set(err, PGW_EINVAL,
							 "restapi.verify_client needs TLS (restapi.certfile and keyfile)");
	return 0;
}

int
rest_start(const RestOptions *opt, RestServer **out, PgwError *err)
{
	RestServer *srv = pgw_xcalloc(1, sizeof(RestServer));
	char		host[128];
	const char *colon = strrchr(opt->listen, ':');
	int64_t		port;
	struct sockaddr_in sa;
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	int			rc;

	*out = NULL;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->etcd_lock, NULL);
	if (rest_actions_init(srv) != 0)
	{
		server_free(srv);
		return pgw_error_set(err, PGW_EIO, "could not create the REST action queue");
	}
	if (colon == NULL || pgw_parse_int64(colon + 1, 0, 65535, &port) != 0)
	{
		server_free(srv);
		return pgw_error_set(err, PGW_EINVAL,
							 "invalid REST listen address \"%s\": expected host:port",
							 opt->listen);
	}
	snprintf(host, sizeof(host), "%.*s", (int) (colon - opt->listen), opt->listen);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	if (host[0] == '\0' || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
	{
		server_free(srv);
		return pgw_error_set(err, PGW_EINVAL,
							 "invalid REST listen host \"%s\": expected an IPv4 address",
							 host);
	}
	rc = server_configure(srv, opt, err);
	if (rc != 0)
	{
		server_free(srv);
		return rc;
	}
	if (srv->cert_pem != NULL)
	{
		flags |= MHD_USE_TLS;
		if (srv->ca_pem != NULL)
			srv->mhd = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, handle, srv,
										MHD_OPTION_SOCK_ADDR, &sa,
										MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem,
										MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem,
										MHD_OPTION_HTTPS_MEM_TRUST, srv->ca_pem,
										MHD_OPTION_CONNECTION_TIMEOUT, 10U,
										MHD_OPTION_CONNECTION_LIMIT, (unsigned int) REST_CONNECTIONS_MAX,
										MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
										MHD_OPTION_END);
		else
			srv->mhd = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, handle, srv,
										MHD_OPTION_SOCK_ADDR, &sa,
										MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem,
										MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem,
										MHD_OPTION_CONNECTION_TIMEOUT, 10U,
										MHD_OPTION_CONNECTION_LIMIT, (unsigned int) REST_CONNECTIONS_MAX,
										MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
										MHD_OPTION_END);
	}
	else
		srv->mhd = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, handle, srv,
									MHD_OPTION_SOCK_ADDR, &sa,
									MHD_OPTION_CONNECTION_TIMEOUT, 10U,
									MHD_OPTION_CONNECTION_LIMIT, (unsigned int) REST_CONNECTIONS_MAX,
									MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
									MHD_OPTION_END);
	if (srv->mhd == NULL)
	{
		server_free(srv);
		return pgw_error_set(err, PGW_EIO,
							 "could not listen on REST address %s (port in use or TLS setup failed)",
							 opt->listen);
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? (int) di->port : (int) port;
	*out = srv;
	return 0;
}

int
rest_port(const RestServer *srv)
{
	return srv->port;
}

void
rest_publish(RestServer *srv, RestSnapshot *snap)
{
	char	   *old_hist;
	char	   *old_cfg;

	pthread_mutex_lock(&srv->lock);
	old_hist = srv->has_snap ? srv->snap.history_json : NULL;
	old_cfg = srv->has_snap ? srv->snap.config_json : NULL;
	srv->snap = *snap;
	srv->has_snap = true;
	pthread_mutex_unlock(&srv->lock);
	free(old_hist);
	free(old_cfg);
}

void
rest_stop(RestServer *srv)
{
	if (srv == NULL)
		return;
	/* joins every connection thread: a write handler waits at most its
	 * own bound; waits for the loop or a new leader end early */
	__atomic_store_n(&srv->stopping, true, __ATOMIC_RELEASE);
	rest_actions_wake(srv);
	MHD_stop_daemon(srv->mhd);
	server_free(srv);
}
