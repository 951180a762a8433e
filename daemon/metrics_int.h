/*
 * metrics_int.h: the daemon's metrics beyond the REST snapshot (issue 20):
 * the loop-duration histogram and the etcd client's counters, recorded by
 * the loop with one call each and read by GET /metrics on the REST thread
 * (atomics, so a scrape never waits for the loop and the loop never waits
 * for a scrape). The rendering itself is rest_metrics.c.
 */
#ifndef PGW_DAEMON_METRICS_INT_H
#define PGW_DAEMON_METRICS_INT_H

#include "common/promtext.h"
#include "daemon/daemon_int.h"

/* metrics_loop_done: one turn of the loop took duration_ms (loop side). */
void metrics_loop_done(int64_t duration_ms);

/*
 * metrics_set_etcd: the loop's etcd client, whose round trips and failures
 * GET /metrics shows; NULL for none. The client must outlive the REST
 * server (daemon_run stops the REST server before it closes the client).
 */
void metrics_set_etcd(EtcdClient *c);

/* metrics_etcd_last_seen_wall_ms: when etcd last answered c (a call or a
 * keepalive), wall-clock ms; 0 never. The one source of dcs_last_seen. */
int64_t metrics_etcd_last_seen_wall_ms(EtcdClient *c);

/* What GET /metrics shows besides the snapshot: copies, for a pure render. */
typedef struct MetricsRuntime
{
	PgwHistogramValue loop_seconds;
	bool has_etcd;
	EtcdClientStats etcd;
} MetricsRuntime;

/* metrics_runtime_read: the current values (any thread, never blocks). */
void metrics_runtime_read(MetricsRuntime *rt);

/*
 * rest_metrics_render: the GET /metrics body for snapshot s and runtime
 * values rt at the given clocks. Pure (no I/O, no globals), so it is
 * unit-tested. Caller frees.
 */
char *rest_metrics_render(const RestSnapshot *s, const MetricsRuntime *rt,
                          int64_t now_mono_ms, int64_t now_wall_ms);

/*
 * Promotions counted from the `history` key, the one record every node
 * reads, so all nodes show the same counts and a restart keeps them.
 * metrics_promotion_rule: the rule of the decision table (a DECIDE_PROMOTE
 * row) whose reason template the history reason matches; NULL when none
 * does (an entry written by Patroni, say). *is_switchover: the row is in
 * the "switchover" group (a requested promotion).
 */
const char *metrics_promotion_rule(const char *reason, bool *is_switchover);

#endif
