/*
 * exporter_int.h: pgwarden-router's metrics (issue 20): what the router
 * applied, and the pools it routes (PgBouncer SHOW POOLS / SHOW DATABASES,
 * HAProxy `show servers state`), served on metrics_listen over HTTP
 * (libmicrohttpd) and written to metrics_file.
 *
 * Three threads, none waiting on another's I/O: the router loop publishes
 * its status (a struct copy under a mutex); a collector thread reads the
 * targets every pools_interval, each read bounded by the target's timeout,
 * and swaps in the result; a scrape renders from the last copies. A
 * PgBouncer that is down or hung never delays a scrape or the loop: its
 * pgwarden_pgbouncer_up says 0 and the age of the last read grows.
 */
#ifndef PGW_ROUTING_EXPORTER_INT_H
#define PGW_ROUTING_EXPORTER_INT_H

#include "routing/routing_int.h"

#define EXPORTER_POOLS_MAX 64 /* pools (database, user) per PgBouncer */
#define EXPORTER_DBS_MAX   64 /* databases per PgBouncer */

/* What the router loop last did (router.c fills it every turn). */
typedef struct RouterStatus
{
	int64_t seen_epoch;    /* newest good table from etcd, 0 none */
	int64_t applied_epoch; /* effective table last applied, 0 none */
	int64_t acked_epoch;   /* acknowledged on our lease, 0 none */
	bool has_applied;
	RoutingState applied_state;
	char applied_primary[PGW_NAME_MAX]; /* "" none */
	bool applied_ok;                    /* every target applied it */
	bool etcd_reachable;
	bool writes_cut; /* etcd silent for router_ttl */
	uint64_t applies;
	uint64_t apply_errors;
	uint64_t decode_errors;
	uint64_t cuts;
	int64_t last_apply_ms;         /* duration of the last apply */
	int64_t last_apply_ok_mono_ms; /* when an apply last succeeded */
} RouterStatus;

/* One pool of SHOW POOLS (PgBouncer 1.18 columns). */
typedef struct PoolStat
{
	char database[64];
	char user[64];
	int64_t cl_active;
	int64_t cl_waiting;
	int64_t sv_active;
	int64_t sv_idle;
	int64_t sv_used;
	int64_t sv_tested;
	int64_t sv_login;
	double maxwait_s; /* maxwait + maxwait_us: oldest waiting client */
} PoolStat;

/* One database of SHOW DATABASES. */
typedef struct DbStat
{
	char name[64];
	int64_t pool_size;
	int64_t reserve_pool;
	int64_t max_connections;     /* max_db_connections, 0 unlimited */
	int64_t current_connections; /* server connections now */
	bool paused;
	bool disabled;
} DbStat;

/* The last read of one target (PgBouncer or HAProxy). */
typedef struct TargetStats
{
	TargetKind kind;
	char name[128];                /* the target's label value */
	bool read_ok;                  /* the last read answered in time */
	bool ever_read;                /* a read finished at least once */
	char error[PGW_ERROR_MSG_MAX]; /* why the last read failed */
	int64_t read_us;               /* duration of the last read */
	int64_t done_mono_ms;          /* when the last successful read ended */
	int n_pools;
	PoolStat pools[EXPORTER_POOLS_MAX];
	int n_dbs;
	DbStat dbs[EXPORTER_DBS_MAX];
	int n_rw; /* haproxy: servers of rw_backend */
	HaproxyServer rw[HAPROXY_SERVERS_MAX];
	int n_ro; /* and of ro_backend */
	HaproxyServer ro[HAPROXY_SERVERS_MAX];
} TargetStats;

/*
 * A result set as names and text values (row-major, nrows * ncols), so
 * the parsers below are pure and take PgBouncer's answers or a test's.
 */
typedef struct RowSet
{
	int ncols;
	const char *const *cols;
	int nrows;
	const char *const *vals;
} RowSet;

/*
 * pgbouncer_pools_parse / pgbouncer_databases_parse: SHOW POOLS / SHOW
 * DATABASES by column name (other versions add or move columns). A missing
 * required column or a value that is not a number is PGW_EBADRESPONSE
 * naming it; the internal "pgbouncer" database is skipped; more than the
 * maximum rows are dropped (counted in *n_dropped). Pure.
 */
int pgbouncer_pools_parse(const RowSet *rs, PoolStat *out, int max, int *n,
                          int *n_dropped, PgwError *err) PGW_MUSTCHECK;
int pgbouncer_databases_parse(const RowSet *rs, DbStat *out, int max, int *n,
                              int *n_dropped, PgwError *err) PGW_MUSTCHECK;

/*
 * pool_stats_read_pgbouncer: SHOW DATABASES and SHOW POOLS into ts, on the
 * connection *conn (a PGconn kept between rounds: opened when NULL, closed
 * and set NULL on any failure), all within timeout_ms. Returns 0 or an
 * error naming what could not be read. Blocks up to timeout_ms.
 */
int pool_stats_read_pgbouncer(const TargetConfig *cfg, void **conn,
                              int64_t timeout_ms, TargetStats *ts,
                              PgwError *err) PGW_MUSTCHECK;
void pool_stats_close_pgbouncer(void *conn); /* accepts NULL */

/* pool_stats_read_haproxy: `show servers state` of the rw (and ro)
 * backend into ts, each command bounded by timeout_ms. */
int pool_stats_read_haproxy(const TargetConfig *cfg, int64_t timeout_ms,
                            TargetStats *ts, PgwError *err) PGW_MUSTCHECK;

/* exporter_target_name: the label value of target cfg: its `name` key, or
 * "<host>:<port>" of a PgBouncer's admin console, or a HAProxy's socket. */
void exporter_target_name(const TargetConfig *cfg, char *out, size_t len);

/*
 * router_metrics_render: the Prometheus text for a router (labels scope,
 * router) from copies only: status (NULL before the loop's first turn),
 * the targets' last reads, the router's etcd client counters. Pure.
 * Caller frees.
 */
char *router_metrics_render(const RouterConfig *cfg, const RouterStatus *status,
                            const TargetStats *targets, int n_targets,
                            const EtcdClientStats *etcd, int64_t now_mono_ms);

typedef struct Exporter Exporter;

/*
 * exporter_start: start the collector thread (when cfg has PgBouncer or
 * HAProxy targets) and, when cfg->metrics_listen is set, the HTTP server.
 * etcd is the router's client (counters only; it must outlive the
 * exporter). Returns 0 or PGW_EIO (could not listen: the message names
 * the address).
 */
int exporter_start(const RouterConfig *cfg, EtcdClient *etcd, Exporter **out,
                   PgwError *err) PGW_MUSTCHECK;

/* exporter_publish: the router loop's status of this turn (copied). */
void exporter_publish(Exporter *e, const RouterStatus *status);

/* exporter_render: the text a scrape would get now (caller frees). */
char *exporter_render(Exporter *e);

/* exporter_port: the port the HTTP server listens on, 0 none. */
int exporter_port(const Exporter *e);

/* exporter_stop: stop the server and the collector, free. Accepts NULL. */
void exporter_stop(Exporter *e);

#endif
