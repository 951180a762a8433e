/*
 * exporter.c: pgwarden-router's metrics (see exporter_int.h for the
 * threads): the render, the collector thread and the HTTP server.
 *
 * Two locks keep the router loop's cost to one small struct copy: status_mu
 * guards the loop's RouterStatus, targets_mu the collector's last reads. A
 * scrape copies the status, then renders under targets_mu; the collector
 * reads a target with no lock held and swaps the result in.
 */
#include "routing/exporter_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/promtext.h"
#include "common/strutil.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORTER_CONNECTIONS_MAX 16

struct Exporter
{
	const RouterConfig *cfg;
	EtcdClient *etcd;
	struct MHD_Daemon *mhd;
	int port;

	pthread_mutex_t status_mu;
	RouterStatus status; /* guarded by status_mu */
	bool has_status;

	pthread_mutex_t targets_mu;
	TargetStats *targets; /* [cfg->n_targets], guarded by targets_mu */

	pthread_t collector;
	bool has_collector;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cond;
	bool stopping; /* guarded by stop_mu */
};

/* ---- render (pure) ---------------------------------------------------- */

static const char *
kind_name(TargetKind k)
{
	static const char *const names[] = {"pgbouncer", "haproxy", "template",
	                                    "vip"};

	return (int) k >= 0 && (int) k < 4 ? names[k] : "?";
}

static const DbStat *
db_of(const TargetStats *ts, const char *name)
{
	for (int i = 0; i < ts->n_dbs; i++)
		if (strcmp(ts->dbs[i].name, name) == 0)
			return &ts->dbs[i];
	return NULL;
}

/* HAProxy's admin-state bits that take a server out: FMAINT, IMAINT,
 * CMAINT, RMAINT, HMAINT (src/server.h) */
static bool
server_up(const HaproxyServer *s)
{
	return s->op_state == 2 &&
	       (s->admin_state & (0x01 | 0x02 | 0x04 | 0x20 | 0x40)) == 0;
}

static void
render_pgbouncer(PromText *t, const TargetStats *ts, int n)
{
	static const char *const sv_states[] = {"active", "idle", "used", "tested",
	                                        "login"};

	prom_family(
	    t, "pgwarden_pgbouncer_client_connections", "gauge",
	    "Client connections of a PgBouncer pool (database, user): active (linked to a server or idle) or waiting for a server.");
	for (int i = 0; i < n; i++)
		for (int k = 0; ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok &&
		                k < ts[i].n_pools;
		     k++)
		{
			const PoolStat *p = &ts[i].pools[k];

			prom_i(t, "pgwarden_pgbouncer_client_connections", p->cl_active,
			       "pgbouncer", ts[i].name, "database", p->database, "user",
			       p->user, "state", "active", NULL);
			prom_i(t, "pgwarden_pgbouncer_client_connections", p->cl_waiting,
			       "pgbouncer", ts[i].name, "database", p->database, "user",
			       p->user, "state", "waiting", NULL);
		}
	prom_family(
	    t, "pgwarden_pgbouncer_server_connections", "gauge",
	    "Server connections of a PgBouncer pool by state (SHOW POOLS sv_*).");
	for (int i = 0; i < n; i++)
		for (int k = 0; ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok &&
		                k < ts[i].n_pools;
		     k++)
		{
			const PoolStat *p = &ts[i].pools[k];
			const int64_t v[] = {p->sv_active, p->sv_idle, p->sv_used,
			                     p->sv_tested, p->sv_login};

			for (int s = 0; s < 5; s++)
				prom_i(t, "pgwarden_pgbouncer_server_connections", v[s],
				       "pgbouncer", ts[i].name, "database", p->database, "user",
				       p->user, "state", sv_states[s], NULL);
		}
	prom_family(
	    t, "pgwarden_pgbouncer_max_wait_seconds", "gauge",
	    "How long the oldest waiting client of a PgBouncer pool has waited (SHOW POOLS maxwait); 0 when none waits.");
	for (int i = 0; i < n; i++)
		for (int k = 0; ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok &&
		                k < ts[i].n_pools;
		     k++)
			prom_f(t, "pgwarden_pgbouncer_max_wait_seconds",
			       ts[i].pools[k].maxwait_s, "pgbouncer", ts[i].name,
			       "database", ts[i].pools[k].database, "user",
			       ts[i].pools[k].user, NULL);
	prom_family(
	    t, "pgwarden_pgbouncer_pool_utilization_ratio", "gauge",
	    "Server connections serving a client (sv_active) over the database's pool_size, per pool; above 1 when the reserve pool is in use.");
	for (int i = 0; i < n; i++)
		for (int k = 0; ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok &&
		                k < ts[i].n_pools;
		     k++)
		{
			const PoolStat *p = &ts[i].pools[k];
			const DbStat *d = db_of(&ts[i], p->database);

			if (d != NULL)
				prom_f(t, "pgwarden_pgbouncer_pool_utilization_ratio",
				       d->pool_size > 0
				           ? (double) p->sv_active / (double) d->pool_size
				           : NAN,
				       "pgbouncer", ts[i].name, "database", p->database, "user",
				       p->user, NULL);
		}
	prom_family(
	    t, "pgwarden_pgbouncer_pool_size", "gauge",
	    "Server connections a pool of the database may open (SHOW DATABASES pool_size).");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_pool_size", ts[i].dbs[k].pool_size,
			       "pgbouncer", ts[i].name, "database", ts[i].dbs[k].name,
			       NULL);
	prom_family(
	    t, "pgwarden_pgbouncer_reserve_pool_size", "gauge",
	    "Extra server connections a pool may open when clients wait (reserve_pool).");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_reserve_pool_size",
			       ts[i].dbs[k].reserve_pool, "pgbouncer", ts[i].name,
			       "database", ts[i].dbs[k].name, NULL);
	prom_family(t, "pgwarden_pgbouncer_database_max_connections", "gauge",
	            "max_db_connections of the database; 0 unlimited.");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_database_max_connections",
			       ts[i].dbs[k].max_connections, "pgbouncer", ts[i].name,
			       "database", ts[i].dbs[k].name, NULL);
	prom_family(
	    t, "pgwarden_pgbouncer_database_connections", "gauge",
	    "Server connections of the database now, all pools (SHOW DATABASES current_connections).");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_database_connections",
			       ts[i].dbs[k].current_connections, "pgbouncer", ts[i].name,
			       "database", ts[i].dbs[k].name, NULL);
	prom_family(
	    t, "pgwarden_pgbouncer_database_paused", "gauge",
	    "1 while the database is PAUSEd (a switchover holds new queries).");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_database_paused", ts[i].dbs[k].paused,
			       "pgbouncer", ts[i].name, "database", ts[i].dbs[k].name,
			       NULL);
	prom_family(t, "pgwarden_pgbouncer_database_disabled", "gauge",
	            "1 while the database is DISABLEd (new clients refused).");
	for (int i = 0; i < n; i++)
		for (int k = 0;
		     ts[i].kind == TARGET_PGBOUNCER && ts[i].read_ok && k < ts[i].n_dbs;
		     k++)
			prom_i(t, "pgwarden_pgbouncer_database_disabled",
			       ts[i].dbs[k].disabled, "pgbouncer", ts[i].name, "database",
			       ts[i].dbs[k].name, NULL);
}

static void
render_haproxy_backend(PromText *t, const TargetConfig *cfg,
                       const TargetStats *ts, bool rw, int pass)
{
	const HaproxyServer *srv = rw ? ts->rw : ts->ro;
	int ns = rw ? ts->n_rw : ts->n_ro;
	const char *backend = rw ? cfg->rw_backend : cfg->ro_backend;
	int64_t up = 0;

	if (!rw && cfg->ro_backend[0] == '\0')
		return;
	for (int k = 0; k < ns; k++)
	{
		up += server_up(&srv[k]);
		if (pass == 1)
			prom_i(t, "pgwarden_haproxy_server_up", server_up(&srv[k]),
			       "haproxy", ts->name, "backend", backend, "server",
			       srv[k].name, NULL);
		else if (pass == 2 && rw && server_up(&srv[k]))
			prom_i(t, "pgwarden_haproxy_routed_primary_info", 1, "haproxy",
			       ts->name, "backend", backend, "server", srv[k].name, NULL);
	}
	if (pass == 0)
		prom_i(t, "pgwarden_haproxy_servers_up", up, "haproxy", ts->name,
		       "backend", backend, NULL);
}

static void
render_haproxy(PromText *t, const RouterConfig *cfg, const TargetStats *ts,
               int n)
{
	static const char *const fams[][2] = {
	    {"pgwarden_haproxy_servers_up",
	     "Servers of a backend that are running and not in maintenance (HAProxy show servers state)."},
	    {"pgwarden_haproxy_server_up",
	     "1 if the server runs and is not in maintenance."},
	    {"pgwarden_haproxy_routed_primary_info",
	     "The server(s) the rw backend routes writes to (value always 1; more than one is a fault)."},
	};

	for (int pass = 0; pass < 3; pass++)
	{
		prom_family(t, fams[pass][0], "gauge", fams[pass][1]);
		for (int i = 0; i < n; i++)
		{
			if (ts[i].kind != TARGET_HAPROXY || !ts[i].read_ok)
				continue;
			render_haproxy_backend(t, &cfg->targets[i], &ts[i], true, pass);
			render_haproxy_backend(t, &cfg->targets[i], &ts[i], false, pass);
		}
	}
}

static double
age_s(int64_t since_mono_ms, int64_t now_mono_ms)
{
	return since_mono_ms > 0 ? (now_mono_ms - since_mono_ms) / 1000.0 : -1;
}

char *
router_metrics_render(const RouterConfig *cfg, const RouterStatus *status,
                      const TargetStats *targets, int n_targets,
                      const EtcdClientStats *etcd, int64_t now_mono_ms)
{
	static const RoutingState states[] = {
	    ROUTING_STATE_SERVING, ROUTING_STATE_FENCED, ROUTING_STATE_SWITCHING};
	RouterStatus none;
	PromText t;

	if (status == NULL)
	{
		memset(&none, 0, sizeof(none));
		status = &none;
	}
	prom_init(&t);
	prom_set_base(&t, "scope", cfg->scope, "router", cfg->name, NULL);
	prom_family(&t, "pgwarden_router_build_info", "gauge",
	            "pgwarden-router's version (the value is always 1).");
	prom_i(&t, "pgwarden_router_build_info", 1, "version", PGW_VERSION, NULL);
	prom_family(
	    &t, "pgwarden_router_epoch", "gauge",
	    "Epoch of the newest routing table this router read from etcd.");
	prom_i(&t, "pgwarden_router_epoch", status->seen_epoch, NULL);
	prom_family(
	    &t, "pgwarden_router_applied_epoch", "gauge",
	    "Epoch of the routing table this router last applied to its targets.");
	prom_i(&t, "pgwarden_router_applied_epoch", status->applied_epoch, NULL);
	prom_family(
	    &t, "pgwarden_router_acked_epoch", "gauge",
	    "Epoch this router acknowledged in etcd (routing/acks/<router>).");
	prom_i(&t, "pgwarden_router_acked_epoch", status->acked_epoch, NULL);
	prom_family(
	    &t, "pgwarden_router_state", "gauge",
	    "State of the applied routing table (1 for the current one; all 0 before the first apply).");
	for (size_t i = 0; i < PGW_LENGTHOF(states); i++)
		prom_i(&t, "pgwarden_router_state",
		       status->has_applied && status->applied_state == states[i],
		       "state", routing_state_name(states[i]), NULL);
	prom_family(
	    &t, "pgwarden_router_primary_info", "gauge",
	    "The primary writes are routed to (value always 1; absent while writes are fenced or cut).");
	if (status->has_applied && status->applied_primary[0])
		prom_i(&t, "pgwarden_router_primary_info", 1, "primary",
		       status->applied_primary, NULL);
	prom_family(&t, "pgwarden_router_applied_ok", "gauge",
	            "1 if every target applied the current table.");
	prom_i(&t, "pgwarden_router_applied_ok", status->applied_ok, NULL);
	prom_family(
	    &t, "pgwarden_router_etcd_reachable", "gauge",
	    "1 if etcd answered this router recently (within half of router_ttl, plus 1 s).");
	prom_i(&t, "pgwarden_router_etcd_reachable", status->etcd_reachable, NULL);
	prom_family(
	    &t, "pgwarden_router_writes_cut", "gauge",
	    "1 while this router cuts write routing because etcd was silent for router_ttl.");
	prom_i(&t, "pgwarden_router_writes_cut", status->writes_cut, NULL);
	prom_family(&t, "pgwarden_router_applies_total", "counter",
	            "Routing changes applied (or retried) on the targets.");
	prom_u(&t, "pgwarden_router_applies_total", status->applies, NULL);
	prom_family(&t, "pgwarden_router_apply_errors_total", "counter",
	            "Target applies that failed (retried every retry_interval).");
	prom_u(&t, "pgwarden_router_apply_errors_total", status->apply_errors,
	       NULL);
	prom_family(
	    &t, "pgwarden_router_decode_errors_total", "counter",
	    "Routing values in etcd this router could not decode (ignored).");
	prom_u(&t, "pgwarden_router_decode_errors_total", status->decode_errors,
	       NULL);
	prom_family(&t, "pgwarden_router_cuts_total", "counter",
	            "Times this router cut write routing after losing etcd.");
	prom_u(&t, "pgwarden_router_cuts_total", status->cuts, NULL);
	prom_family(&t, "pgwarden_router_last_apply_duration_seconds", "gauge",
	            "Duration of the last apply to the targets.");
	prom_f(&t, "pgwarden_router_last_apply_duration_seconds",
	       status->last_apply_ms / 1000.0, NULL);
	prom_family(
	    &t, "pgwarden_router_last_apply_age_seconds", "gauge",
	    "Seconds since an apply last succeeded on every target; -1 never.");
	prom_f(&t, "pgwarden_router_last_apply_age_seconds",
	       age_s(status->last_apply_ok_mono_ms, now_mono_ms), NULL);
	prom_family(&t, "pgwarden_router_etcd_request_duration_seconds",
	            "histogram",
	            "Round-trip time of each etcd request attempt of the router.");
	prom_hist(&t, "pgwarden_router_etcd_request_duration_seconds",
	          &etcd->request_seconds, NULL);
	prom_family(&t, "pgwarden_router_etcd_request_failures_total", "counter",
	            "etcd request attempts of the router without an OK answer.");
	prom_u(&t, "pgwarden_router_etcd_request_failures_total",
	       etcd->requests_failed, NULL);
	prom_family(
	    &t, "pgwarden_router_etcd_last_contact_age_seconds", "gauge",
	    "Seconds since etcd last answered the router (a request or a lease keepalive); -1 never.");
	prom_f(&t, "pgwarden_router_etcd_last_contact_age_seconds",
	       age_s(etcd->last_contact_mono_ms, now_mono_ms), NULL);

	prom_family(
	    &t, "pgwarden_router_target_up", "gauge",
	    "1 if the last read of the target's stats (PgBouncer admin console, HAProxy stats socket) answered in time; 0 names a target whose pool series are missing for that reason.");
	for (int i = 0; i < n_targets; i++)
		if (targets[i].kind == TARGET_PGBOUNCER ||
		    targets[i].kind == TARGET_HAPROXY)
			prom_i(&t, "pgwarden_router_target_up", targets[i].read_ok,
			       "target", targets[i].name, "kind",
			       kind_name(targets[i].kind), NULL);
	prom_family(
	    &t, "pgwarden_router_target_read_age_seconds", "gauge",
	    "Seconds since the target's stats were last read successfully; -1 never.");
	for (int i = 0; i < n_targets; i++)
		if (targets[i].kind == TARGET_PGBOUNCER ||
		    targets[i].kind == TARGET_HAPROXY)
			prom_f(&t, "pgwarden_router_target_read_age_seconds",
			       age_s(targets[i].done_mono_ms, now_mono_ms), "target",
			       targets[i].name, "kind", kind_name(targets[i].kind), NULL);
	prom_family(
	    &t, "pgwarden_router_target_read_duration_seconds", "gauge",
	    "Duration of the last read of the target's stats (failed reads included).");
	for (int i = 0; i < n_targets; i++)
		if (targets[i].ever_read)
			prom_f(&t, "pgwarden_router_target_read_duration_seconds",
			       targets[i].read_us / 1e6, "target", targets[i].name, "kind",
			       kind_name(targets[i].kind), NULL);
	render_pgbouncer(&t, targets, n_targets);
	render_haproxy(&t, cfg, targets, n_targets);
	return prom_take(&t);
}

/* ---- the collector thread --------------------------------------------- */

static bool
wait_stop(Exporter *e, int64_t ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->stop_mu);
	if (!e->stopping)
		pthread_cond_timedwait(&e->stop_cond, &e->stop_mu, &ts);
	stop = e->stopping;
	pthread_mutex_unlock(&e->stop_mu);
	return stop;
}

static void *
collector_main(void *arg)
{
	Exporter *e = arg;
	const RouterConfig *cfg = e->cfg;
	void *conns[ROUTER_TARGETS_MAX] = {0};
	TargetStats *ts = calloc(1, sizeof(TargetStats));

	if (ts == NULL)
		abort();
	do
	{
		for (int i = 0; i < cfg->n_targets; i++)
		{
			const TargetConfig *tc = &cfg->targets[i];
			PgwError err = {0};
			int64_t t0 = pgw_now_mono_us();
			int64_t timeout = tc->timeout_ms < cfg->pools_interval_ms
			                      ? tc->timeout_ms
			                      : cfg->pools_interval_ms;
			int rc;

			if (tc->kind != TARGET_PGBOUNCER && tc->kind != TARGET_HAPROXY)
				continue;
			pthread_mutex_lock(&e->targets_mu);
			*ts = e->targets[i];
			pthread_mutex_unlock(&e->targets_mu);
			ts->n_pools = ts->n_dbs = ts->n_rw = ts->n_ro = 0;
			rc = tc->kind == TARGET_PGBOUNCER
			         ? pool_stats_read_pgbouncer(tc, &conns[i], timeout, ts,
			                                     &err)
			         : pool_stats_read_haproxy(tc, timeout, ts, &err);
			ts->read_us = pgw_now_mono_us() - t0;
			ts->ever_read = true;
			if (rc == 0)
				ts->done_mono_ms = pgw_now_mono_ms();
			/* log a failure once, when it starts or changes */
			if (rc != 0 && (ts->read_ok || strcmp(ts->error, err.msg) != 0))
				log_warn(
				    "router.metrics.read_failed",
				    "target=\"%s\" error=\"%s\" action=\"pgwarden_router_target_up 0\"",
				    ts->name, err.msg);
			else if (rc == 0 && !ts->read_ok && ts->error[0])
				log_info("router.metrics.read_ok", "target=\"%s\"", ts->name);
			ts->read_ok = rc == 0;
			pgw_strlcpy(ts->error, rc == 0 ? "" : err.msg, sizeof(ts->error));
			pthread_mutex_lock(&e->targets_mu);
			e->targets[i] = *ts;
			pthread_mutex_unlock(&e->targets_mu);
		}
	} while (!wait_stop(e, cfg->pools_interval_ms));
	for (int i = 0; i < cfg->n_targets; i++)
		if (cfg->targets[i].kind == TARGET_PGBOUNCER)
			pool_stats_close_pgbouncer(conns[i]);
	free(ts);
	return NULL;
}

/* ---- HTTP ------------------------------------------------------------- */

char *
exporter_render(Exporter *e)
{
	RouterStatus st;
	bool has;
	EtcdClientStats es;
	char *text;

	pthread_mutex_lock(&e->status_mu);
	st = e->status;
	has = e->has_status;
	pthread_mutex_unlock(&e->status_mu);
	memset(&es, 0, sizeof(es));
	if (e->etcd != NULL)
		etcd_client_stats(e->etcd, &es);
	pthread_mutex_lock(&e->targets_mu);
	text = router_metrics_render(e->cfg, has ? &st : NULL, e->targets,
	                             e->cfg->n_targets, &es, pgw_now_mono_ms());
	pthread_mutex_unlock(&e->targets_mu);
	return text;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned int status, const char *ctype,
        char *body, bool head)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(head ? 0 : strlen(body), body,
	                                    MHD_RESPMEM_MUST_COPY);
	free(body);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_size, void **req_cls)
{
	Exporter *e = cls;
	bool head = strcmp(method, "HEAD") == 0;
	char *body;

	(void) version;
	(void) upload_data;
	(void) req_cls;
	if (*upload_size != 0)
	{
		*upload_size = 0; /* a body is ignored; answered below */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && !head)
	{
		body = strdup("only GET and HEAD\n");
		return body ? respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
		                      body, false)
		            : MHD_NO;
	}
	if (strcmp(url, "/metrics") != 0)
	{
		body = strdup("pgwarden-router: metrics at /metrics\n");
		return body
		           ? respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", body, head)
		           : MHD_NO;
	}
	body = exporter_render(e);
	return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", body, head);
}

static int
listen_on(Exporter *e, const char *listen, PgwError *err)
{
	const char *colon = strrchr(listen, ':');
	struct sockaddr_in sa;
	char host[64];
	int64_t port = 0;
	const union MHD_DaemonInfo *di;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (colon == NULL || pgw_parse_int64(colon + 1, 0, 65535, &port) != 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "metrics_listen \"%s\" is not host:port", listen);
	snprintf(host, sizeof(host), "%.*s", (int) (colon - listen), listen);
	sa.sin_port = htons((uint16_t) port);
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "metrics_listen host \"%s\" is not an IPv4 address", host);
	e->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t) port, NULL,
	    NULL, handle, e, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int) EXPORTER_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
	    5U, MHD_OPTION_END);
	if (e->mhd == NULL)
		return pgw_error_set(
		    err, PGW_EIO,
		    "could not listen on metrics_listen %s (port in use?)", listen);
	di = MHD_get_daemon_info(e->mhd, MHD_DAEMON_INFO_BIND_PORT);
	e->port = di ? (int) di->port : (int) port;
	return 0;
}

int
exporter_start(const RouterConfig *cfg, EtcdClient *etcd, Exporter **out,
               PgwError *err)
{
	Exporter *e = calloc(1, sizeof(*e));
	bool has_stats_target = false;
	int rc;

	*out = NULL;
	if (e == NULL)
		abort();
	e->cfg = cfg;
	e->etcd = etcd;
	e->targets = calloc((size_t) (cfg->n_targets > 0 ? cfg->n_targets : 1),
	                    sizeof(TargetStats));
	if (e->targets == NULL)
		abort();
	pthread_mutex_init(&e->status_mu, NULL);
	pthread_mutex_init(&e->targets_mu, NULL);
	pthread_mutex_init(&e->stop_mu, NULL);
	{
		pthread_condattr_t ca;

		/* a wall-clock step must not stretch or skip a round */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&e->stop_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	for (int i = 0; i < cfg->n_targets; i++)
	{
		e->targets[i].kind = cfg->targets[i].kind;
		exporter_target_name(&cfg->targets[i], e->targets[i].name,
		                     sizeof(e->targets[i].name));
		has_stats_target |= cfg->targets[i].kind == TARGET_PGBOUNCER ||
		                    cfg->targets[i].kind == TARGET_HAPROXY;
	}
	if (cfg->metrics_listen[0] &&
	    (rc = listen_on(e, cfg->metrics_listen, err)) != 0)
	{
		exporter_stop(e);
		return rc;
	}
	if (has_stats_target &&
	    pthread_create(&e->collector, NULL, collector_main, e) == 0)
		e->has_collector = true;
	if (e->mhd != NULL)
		log_info("router.metrics.listening",
		         "address=%s port=%d pools_interval_ms=%lld",
		         cfg->metrics_listen, e->port,
		         (long long) cfg->pools_interval_ms);
	*out = e;
	return 0;
}

void
exporter_publish(Exporter *e, const RouterStatus *status)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->status_mu);
	e->status = *status;
	e->has_status = true;
	pthread_mutex_unlock(&e->status_mu);
}

int
exporter_port(const Exporter *e)
{
	return e ? e->port : 0;
}

void
exporter_stop(Exporter *e)
{
	if (e == NULL)
		return;
	if (e->mhd != NULL)
		MHD_stop_daemon(e->mhd);
	pthread_mutex_lock(&e->stop_mu);
	e->stopping = true;
	pthread_cond_broadcast(&e->stop_cond);
	pthread_mutex_unlock(&e->stop_mu);
	if (e->has_collector)
		pthread_join(e->collector, NULL);
	pthread_mutex_destroy(&e->status_mu);
	pthread_mutex_destroy(&e->targets_mu);
	pthread_mutex_destroy(&e->stop_mu);
	pthread_cond_destroy(&e->stop_cond);
	free(e->targets);
	free(e);
}
