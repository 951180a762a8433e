/*
 * rest_server.c: the REST API's HTTP server on libmicrohttpd (DESIGN.md
 * "REST API"): routing, access control of the write endpoints, the request
 * lifecycle, start/stop and the snapshot the loop publishes. HEAD and
 * OPTIONS answer with the status alone.
 *
 * Threads (security review F4): a small pool of epoll threads serves every
 * connection, so a slow or idle client costs a descriptor, not a thread; a
 * write endpoint that waits (a switchover waits for the new leader) runs
 * in a worker thread of its own while its connection is suspended, so it
 * never delays a health check. rest_guard.c bounds connections per client
 * address and closes those that do not deliver their request in time.
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
#include "daemon/dropin_int.h"
#include "daemon/k8s_views.h"
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
#include <sys/resource.h>

/* ---- libmicrohttpd glue ------------------------------------------------ */

typedef struct QueryBuf
{
	char text[512];
	size_t used;
} QueryBuf;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
	QueryBuf *q = cls;
	int n;

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
respond(struct MHD_Connection *conn, int status, const char *ctype, char *body,
        bool head_only)
{
	return respond_h(conn, status, ctype, body, head_only, NULL, NULL);
}

static char *
json_error(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* A write request being received, then run by a worker thread. */
typedef enum RestJobState
{
	REST_JOB_NONE = 0,
	REST_JOB_RUNNING, /* a worker runs it; the connection is suspended */
	REST_JOB_DONE,    /* reply holds the answer */
} RestJobState;

typedef struct RestRequest
{
	bool responded; /* a refusal was queued already */
	bool too_big;
	int job; /* RestJobState (atomic) */
	RestReply reply;
	size_t len;
	char body[REST_BODY_MAX + 1];
} RestRequest;

/* What a worker thread needs: copies, the connection stays suspended. */
typedef struct RestJob
{
	RestServer *srv;
	struct MHD_Connection *conn;
	RestRequest *rq;
	char method[16];
	char url[64];
	char *if_match;
	struct sockaddr_storage client;
	bool has_client;
} RestJob;

static int get_marker; /* *req_cls of GET/HEAD/OPTIONS requests */

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
	int status;
	int64_t n;

	if (!rest_write_is_endpoint(method, url))
		return refuse(
		    conn, rq, is_write_path(url) ? 405 : 404,
		    is_write_path(url) ? "method not allowed" : "unknown path", false);
	status = rest_check_access(srv, conn, &reason);
	if (status != 0)
	{
		log_info("rest.access-denied",
		         "method=%s path=%s status=%d reason=\"%s\"", method, url,
		         status, reason);
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

static void *
job_main(void *arg)
{
	RestJob *job = arg;
	RestServer *srv = job->srv;

	rest_write_handle(
	    srv, job->method, job->url, job->rq->body, job->rq->len, job->if_match,
	    job->has_client ? (const struct sockaddr *) &job->client : NULL,
	    &job->rq->reply);
	__atomic_store_n(&job->rq->job, REST_JOB_DONE, __ATOMIC_RELEASE);
	pthread_mutex_lock(&srv->jobs_lock);
	MHD_resume_connection(job->conn);
	srv->jobs_running--;
	pthread_cond_broadcast(&srv->jobs_cond);
	pthread_mutex_unlock(&srv->jobs_lock);
	free(job->if_match);
	free(job);
	return NULL;
}

/*
 * write_finish: the whole body is in: run the endpoint in a worker thread
 * and suspend the connection meanwhile, so that a switchover waiting for
 * the new leader holds no thread of the HTTP pool (health checks go on);
 * when it resumes us, handle() answers with the reply.
 */
static enum MHD_Result
write_finish(RestServer *srv, struct MHD_Connection *conn, const char *url,
             const char *method, RestRequest *rq)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *if_match = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
	RestJob *job;
	pthread_t t;
	pthread_attr_t attr;
	bool busy;

	if (rq->too_big)
		return refuse(conn, rq, 413, "request body is larger than 65536 bytes",
		              false);
	rq->body[rq->len] = '\0';
	pthread_mutex_lock(&srv->jobs_lock);
	busy = srv->jobs_running >= REST_WRITE_JOBS_MAX ||
	       __atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE);
	if (!busy)
		srv->jobs_running++;
	pthread_mutex_unlock(&srv->jobs_lock);
	if (busy)
		return refuse(conn, rq, 503,
		              "too many write requests in progress; try again", false);
	job = pgw_xcalloc(1, sizeof(RestJob));
	job->srv = srv;
	job->conn = conn;
	job->rq = rq;
	pgw_strlcpy(job->method, method, sizeof(job->method));
	pgw_strlcpy(job->url, url, sizeof(job->url));
	job->if_match = if_match ? pgw_xstrdup(if_match) : NULL;
	if (ci != NULL && ci->client_addr != NULL)
	{
		size_t n = ci->client_addr->sa_family == AF_INET6
		               ? sizeof(struct sockaddr_in6)
		               : sizeof(struct sockaddr_in);

		memcpy(&job->client, ci->client_addr, n);
		job->has_client = true;
	}
	rest_guard_phase(srv, conn, REST_CONN_PROCESSING);
	__atomic_store_n(&rq->job, REST_JOB_RUNNING, __ATOMIC_RELEASE);
	MHD_suspend_connection(conn);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, job_main, job) != 0)
	{
		/* no thread: answer here after all */
		pthread_attr_destroy(&attr);
		rest_reply_set(&rq->reply, 503, "error",
		               "could not start a worker thread");
		__atomic_store_n(&rq->job, REST_JOB_DONE, __ATOMIC_RELEASE);
		pthread_mutex_lock(&srv->jobs_lock);
		MHD_resume_connection(conn);
		srv->jobs_running--;
		pthread_cond_broadcast(&srv->jobs_cond);
		pthread_mutex_unlock(&srv->jobs_lock);
		free(job->if_match);
		free(job);
		return MHD_YES;
	}
	pthread_attr_destroy(&attr);
	return MHD_YES;
}

static void
request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
	RestServer *srv = cls;

	(void) toe;
	if (*req_cls != NULL && *req_cls != &get_marker)
	{
		RestRequest *rq = *req_cls;

		free(rq->reply.body);
		free(rq);
	}
	*req_cls = NULL;
	/* the next request's headers have their own deadline */
	if (srv != NULL)
		rest_guard_phase(srv, conn, REST_CONN_WAIT_HEADERS);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_data_size, void **req_cls)
{
	RestServer *srv = cls;
	bool head = strcmp(method, "HEAD") == 0;
	bool options = strcmp(method, "OPTIONS") == 0;
	bool get = strcmp(method, "GET") == 0;
	QueryBuf q = {{0}, 0};
	RestSnapshot *s;
	int64_t now = pgw_now_mono_ms();
	int status;
	char *body = NULL;
	const char *ctype = "application/json";
	char etag[32] = "";

	(void) version;
	if (*req_cls == NULL)
	{
		RestRequest *rq;

		/* first call for this request: headers only */
		if (get || head || options)
		{
			rest_guard_phase(srv, conn, REST_CONN_PROCESSING);
			*req_cls = &get_marker;
			return MHD_YES;
		}
		rest_guard_phase(srv, conn, REST_CONN_RECEIVING);
		rq = pgw_xcalloc(1, sizeof(RestRequest));
		*req_cls = rq;
		return write_begin(srv, conn, url, method, rq);
	}
	if (*req_cls != &get_marker)
	{
		RestRequest *rq = *req_cls;

		if (*upload_data_size != 0)
		{
			size_t n = *upload_data_size;

			*upload_data_size = 0;
			if (rq->responded)
				return MHD_YES;
			if (rq->too_big || rq->len + n > REST_BODY_MAX)
			{
				/* a chunked body past the limit: answer now if MHD lets
				 * us, else close the connection */
				rq->too_big = true;
				if (refuse(conn, rq, 413,
				           "request body is larger than 65536 bytes",
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
		switch (__atomic_load_n(&rq->job, __ATOMIC_ACQUIRE))
		{
			case REST_JOB_RUNNING:
				return MHD_YES; /* a spurious call while suspended */
			case REST_JOB_DONE:
				rq->responded = true;
				{
					/* Patroni answers its own client (patronictl) in plain
					 * text, and patronictl prints that text */
					bool plain = rest_reply_for_patronictl(
					    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					                                MHD_HTTP_HEADER_USER_AGENT),
					    &rq->reply);
					char *b = rq->reply.body;

					rq->reply.body = NULL;
					return respond(
					    conn, rq->reply.status ? rq->reply.status : 500,
					    plain ? "text/html" : "application/json", b, false);
				}
			default:
				return write_finish(srv, conn, url, method, rq);
		}
	}
	if (*upload_data_size != 0)
	{
		/* a body on a read request: ignored */
		*upload_data_size = 0;
		return MHD_YES;
	}
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
	if (strcmp(url, "/shards") == 0) /* rest_shards.c, not the snapshot */
	{
		body = rest_shards_get(srv, q.text, &status);
		return respond(conn, status, "application/json", body, head || options);
	}

	pthread_mutex_lock(&srv->lock);
	if (srv->has_snap && srv->snap.holds_leader && srv->lease_deadline != NULL)
	{
		/* a keepalive confirmed since the snapshot moves the deadline as
		 * it moved the fences': else a turn held up by an etcd call past
		 * the snapshot's deadline answers 503, then 200 again once it
		 * publishes (seen with etcd stopped) */
		int64_t dl = srv->lease_deadline(srv->snap.view.leader_lease);

		if (dl > srv->snap.lease_deadline_mono_ms)
			srv->snap.lease_deadline_mono_ms = dl;
	}
	if (!srv->has_snap)
	{
		pthread_mutex_unlock(&srv->lock);
		return respond(conn, 503, "application/json",
		               json_error("starting: no observation yet"),
		               head || options);
	}
	s = &srv->snap;
	status = rest_status_for(s, url, q.text, now);
	if (status != 0)
	{
		/* Patroni answers /liveness and /readiness with no body */
		if (!rest_probe_path(url))
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
			body = json_error(!s->view.config.failsafe_mode
			                      ? "failsafe_mode is not enabled"
			                      : "no failsafe key in etcd");
		}
		else
		{
			json_t *o = json_object();

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
		body = k8s_views_metrics_append(rest_metrics_text(s, now));
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

/* connection_limit: REST_CONNECTIONS_MAX, or a quarter of the descriptor
 * limit when that is lower (etcd, PostgreSQL and curl need theirs) */
static unsigned int
connection_limit(void)
{
	struct rlimit rl;
	unsigned int n = REST_CONNECTIONS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < n)
		n = (unsigned int) (rl.rlim_cur / 4);
	return n < 64 ? 64 : n;
}

/*
 * mhd_log: libmicrohttpd's messages (a refused connection over a limit, a
 * TLS handshake that failed) through our log, at most one line a second
 * with the count of those left out: a flood must not become a log flood.
 */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	RestServer *srv = cls;
	char msg[512];
	int64_t now = pgw_now_mono_ms();
	size_t n;
	bool say;
	uint64_t dropped;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	pthread_mutex_lock(&srv->guard_lock);
	say = now - srv->log_mhd_mono_ms >= 1000;
	dropped = srv->log_mhd_dropped;
	if (say)
	{
		srv->log_mhd_mono_ms = now;
		srv->log_mhd_dropped = 0;
	}
	else
		srv->log_mhd_dropped++;
	pthread_mutex_unlock(&srv->guard_lock);
	if (say)
		log_warn("rest.http", "detail=\"%s\" similar_left_out=%llu", msg,
		         (unsigned long long) dropped);
}

int
rest_start(const RestOptions *opt, RestServer **out, PgwError *err)
{
	RestServer *srv = pgw_xcalloc(1, sizeof(RestServer));
	char host[128];
	const char *colon = strrchr(opt->listen, ':');
	int64_t port;
	struct sockaddr_in sa;
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                     MHD_ALLOW_SUSPEND_RESUME;
	const union MHD_DaemonInfo *di;
	int rc;

	*out = NULL;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->etcd_lock, NULL);
	pthread_mutex_init(&srv->guard_lock, NULL);
	pthread_mutex_init(&srv->jobs_lock, NULL);
	pthread_cond_init(&srv->jobs_cond, NULL);
	if (rest_actions_init(srv) != 0)
	{
		rest_server_free(srv);
		return pgw_error_set(err, PGW_EIO,
		                     "could not create the REST action queue");
	}
	if (colon == NULL || pgw_parse_int64(colon + 1, 0, 65535, &port) != 0)
	{
		rest_server_free(srv);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid REST listen address \"%s\": expected host:port",
		    opt->listen);
	}
	snprintf(host, sizeof(host), "%.*s", (int) (colon - opt->listen),
	         opt->listen);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	if (host[0] == '\0' || strcmp(host, "*") == 0 ||
	    strcmp(host, "0.0.0.0") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
	{
		rest_server_free(srv);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid REST listen host \"%s\": expected an IPv4 address", host);
	}
	rc = rest_server_configure(srv, opt, err);
	if (rc != 0)
	{
		rest_server_free(srv);
		return rc;
	}
	{
		struct MHD_OptionItem ops[16];
		int k = 0;

#define OPT(o, v, p) (ops[k++] = (struct MHD_OptionItem){o, (intptr_t) (v), p})
		OPT(MHD_OPTION_SOCK_ADDR, 0, &sa);
		OPT(MHD_OPTION_THREAD_POOL_SIZE, REST_THREADS, NULL);
		OPT(MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL);
		OPT(MHD_OPTION_CONNECTION_LIMIT, connection_limit(), NULL);
		OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, REST_PER_IP_MAX, NULL);
		OPT(MHD_OPTION_LISTEN_BACKLOG_SIZE, 256, NULL);
		OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) request_done, srv);
		OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) rest_guard_notify, srv);
		if (srv->cert_pem != NULL)
		{
			flags |= MHD_USE_TLS;
			OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem);
			OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem);
			if (srv->ca_pem != NULL)
				OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem);
		}
		OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
		if (rest_guard_start(srv) != 0)
		{
			rest_server_free(srv);
			return pgw_error_set(err, PGW_EIO,
			                     "could not start the REST connection guard");
		}
		/* the logger first, so that every message goes through it */
		srv->mhd = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, handle,
		                            srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		                            srv, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	}
	if (srv->mhd == NULL)
	{
		rest_server_free(srv);
		return pgw_error_set(
		    err, PGW_EIO,
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
	char *old_hist;
	char *old_cfg;

	pthread_mutex_lock(&srv->lock);
	rest_snap_take(srv, snap, &old_hist, &old_cfg);
	srv->has_snap = true;
	if (snap->view.is_valid && snap->view.has_leader)
	{
		const MemberInfo *m = dcs_view_member(&snap->view, snap->view.leader);

		pgw_strlcpy(srv->last_leader, snap->view.leader,
		            sizeof(srv->last_leader));
		pgw_strlcpy(srv->last_leader_api_url, m ? m->api_url : "",
		            sizeof(srv->last_leader_api_url));
		pgw_strlcpy(srv->last_leader_conn_url, m ? m->conn_url : "",
		            sizeof(srv->last_leader_conn_url));
	}
	pthread_mutex_unlock(&srv->lock);
	free(old_hist);
	free(old_cfg);
}

void
rest_stop(RestServer *srv)
{
	if (srv == NULL)
		return;
	/* write workers first: their waits for the loop or a new leader end
	 * early on stopping, and each resumes its connection, which
	 * libmicrohttpd wants before it stops */
	__atomic_store_n(&srv->stopping, true, __ATOMIC_RELEASE);
	rest_actions_wake(srv);
	pthread_mutex_lock(&srv->jobs_lock);
	while (srv->jobs_running > 0)
		pthread_cond_wait(&srv->jobs_cond, &srv->jobs_lock);
	pthread_mutex_unlock(&srv->jobs_lock);
	MHD_stop_daemon(srv->mhd);
	rest_server_free(srv);
}
