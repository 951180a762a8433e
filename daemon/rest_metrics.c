/*
 * rest_metrics.c: the GET /metrics body (Prometheus text format) rendered
 * from the snapshot the loop publishes (DESIGN.md "REST API"): no I/O here,
 * so a scrape never waits on etcd or PostgreSQL and never blocks the loop.
 *
 * Two sets (README "Logs and metrics"): Patroni 3.0.2's patroni_* names,
 * values and labels ({scope}) as its do_GET_metrics prints them, so that
 * existing dashboards work unchanged; and pgwarden_* ({scope, member}),
 * in base units, for what Patroni does not show. Every fact has one source
 * in the snapshot: GET /patroni, /primary and `pgwardenctl list` read the
 * same fields (pgwarden_primary and pgwarden_leader are rest_status_for()
 * itself).
 */
#include "daemon/metrics_int.h"
#include "backup/backup.h"
#include "daemon/rest_int.h"

#include "common/pgwtime.h"
#include "common/xmem.h"
#include "failover/failover.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
rest_metrics_text(const RestSnapshot *s, int64_t now_mono_ms)
{
	MetricsRuntime rt;

	char *body;
	char *bk;

	metrics_runtime_read(&rt);
	body = rest_metrics_render(s, &rt, now_mono_ms, pgw_now_wall_ms());
	/* backup/'s own gauges (its duty keeps them current; thread-safe) */
	if ((bk = backup_metrics_text()) != NULL)
	{
		size_t n = strlen(body);
		size_t m = strlen(bk);

		body = pgw_xrealloc(body, n + m + 1);
		memcpy(body + n, bk, m + 1);
		free(bk);
	}
	return body;
}

static bool
in_sync_key(const RestSnapshot *s, const char *name)
{
	for (int i = 0; i < s->view.sync.n_sync; i++)
		if (strcmp(s->view.sync.sync_standby[i], name) == 0)
			return true;
	return false;
}

/* the leader's WAL position as this node last heard it */
static uint64_t
leader_position(const RestSnapshot *s)
{
	uint64_t lsn = s->view.leader_optime;

	for (int i = 0; i < s->view.n_members; i++)
		if (s->view.has_leader &&
		    strcmp(s->view.members[i].name, s->view.leader) == 0 &&
		    s->view.members[i].xlog_location > lsn)
			lsn = s->view.members[i].xlog_location;
	return lsn;
}

/* Patroni's patroni_version: each semver part zero-padded to 2 digits */
static double
padded_version(const char *v)
{
	long parts[3] = {0, 0, 0};
	int i = 0;
	char *end;

	while (i < 3 && *v)
	{
		parts[i++] = strtol(v, &end, 10);
		if (end == v || *end != '.')
			break;
		v = end + 1;
	}
	return (double) (parts[0] * 10000 + parts[1] * 100 + parts[2]);
}

static void
render_patroni(PromText *t, const RestSnapshot *s, bool running)
{
	bool rw = s->pg_read_write;
	bool replica = running && !rw;

	prom_set_base(t, "scope", s->scope, NULL);
	prom_family(
	    t, "patroni_version", "gauge",
	    "Patroni semver without periods (pgwarden's version, for Patroni dashboards).");
	prom_f(t, "patroni_version", padded_version(PGW_VERSION), NULL);
	prom_family(t, "patroni_postgres_running", "gauge",
	            "Value is 1 if Postgres is running, 0 otherwise.");
	prom_i(t, "patroni_postgres_running", running, NULL);
	prom_family(t, "patroni_postmaster_start_time", "gauge",
	            "Epoch seconds since Postgres started.");
	prom_f(t, "patroni_postmaster_start_time",
	       running && s->postmaster_start_wall_ms > 0
	           ? s->postmaster_start_wall_ms / 1000.0
	           : 0,
	       NULL);
	prom_family(t, "patroni_master", "gauge",
	            "Value is 1 if this node is the leader, 0 otherwise.");
	prom_i(t, "patroni_master", rw, NULL);
	prom_family(t, "patroni_primary", "gauge",
	            "Value is 1 if this node is the leader, 0 otherwise.");
	prom_i(t, "patroni_primary", rw, NULL);
	/* Patroni types the positions "counter"; a position can go back after
	 * a rewind or a re-clone, so they are gauges here */
	prom_family(
	    t, "patroni_xlog_location", "gauge",
	    "Current location of the Postgres transaction log, 0 if this node is not the leader.");
	prom_u(t, "patroni_xlog_location", rw ? s->self.xlog_location : 0, NULL);
	prom_family(t, "patroni_standby_leader", "gauge",
	            "Value is 1 if this node is the standby_leader, 0 otherwise.");
	prom_i(t, "patroni_standby_leader",
	       s->self.role == MEMBER_ROLE_STANDBY_LEADER, NULL);
	prom_family(t, "patroni_replica", "gauge",
	            "Value is 1 if this node is a replica, 0 otherwise.");
	prom_i(t, "patroni_replica", replica, NULL);
	prom_family(
	    t, "patroni_sync_standby", "gauge",
	    "Value is 1 if this node is a sync standby replica, 0 otherwise.");
	prom_i(t, "patroni_sync_standby", replica && in_sync_key(s, s->name), NULL);
	prom_family(
	    t, "patroni_xlog_received_location", "gauge",
	    "Current location of the received Postgres transaction log, 0 if this node is not a replica.");
	prom_u(t, "patroni_xlog_received_location",
	       replica ? s->self.received_location : 0, NULL);
	prom_family(
	    t, "patroni_xlog_replayed_location", "gauge",
	    "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.");
	prom_u(t, "patroni_xlog_replayed_location",
	       replica ? s->self.replayed_location : 0, NULL);
	prom_family(
	    t, "patroni_xlog_replayed_timestamp", "gauge",
	    "Current timestamp of the replayed Postgres transaction log, 0 if null.");
	prom_f(t, "patroni_xlog_replayed_timestamp",
	       replica && s->replayed_ts_wall_ms > 0
	           ? s->replayed_ts_wall_ms / 1000.0
	           : 0,
	       NULL);
	prom_family(t, "patroni_xlog_paused", "gauge",
	            "Value is 1 if the Postgres xlog is paused, 0 otherwise.");
	prom_i(t, "patroni_xlog_paused", replica && s->replay_paused, NULL);
	prom_family(t, "patroni_postgres_server_version", "gauge",
	            "Version of Postgres (if running), 0 otherwise.");
	prom_i(t, "patroni_postgres_server_version",
	       running ? s->server_version : 0, NULL);
	prom_family(t, "patroni_cluster_unlocked", "gauge",
	            "Value is 1 if the cluster is unlocked, 0 if locked.");
	prom_i(t, "patroni_cluster_unlocked",
	       s->view.is_valid && !s->view.has_leader, NULL);
	prom_family(t, "patroni_failsafe_mode_is_active", "gauge",
	            "Value is 1 if failsafe mode is active, 0 otherwise.");
	prom_i(t, "patroni_failsafe_mode_is_active",
	       strcmp(s->rule, "failsafe-keep-primary") == 0, NULL);
	prom_family(t, "patroni_postgres_timeline", "gauge",
	            "Postgres timeline of this node (if running), 0 otherwise.");
	prom_i(t, "patroni_postgres_timeline", running ? s->self.timeline : 0,
	       NULL);
	prom_family(
	    t, "patroni_dcs_last_seen", "gauge",
	    "Epoch timestamp when DCS was last contacted successfully by Patroni.");
	prom_i(t, "patroni_dcs_last_seen", s->dcs_last_seen_wall_ms / 1000, NULL);
	prom_family(t, "patroni_pending_restart", "gauge",
	            "Value is 1 if the node needs a restart, 0 otherwise.");
	prom_i(t, "patroni_pending_restart", s->self.pending_restart, NULL);
	prom_family(t, "patroni_is_paused", "gauge",
	            "Value is 1 if auto failover is disabled, 0 otherwise.");
	prom_i(t, "patroni_is_paused", s->view.config.pause, NULL);
}

/* per standby in pg_stat_replication; and, on the leader, every other
 * member expected to stream from it that does not (a 0, not a gap) */
static void
render_replicas(PromText *t, const RestSnapshot *s, bool leads)
{
	uint64_t here = s->self.xlog_location;

	prom_family(
	    t, "pgwarden_replica_streaming", "gauge",
	    "1 if the replica streams from this node (pg_stat_replication state streaming); on the leader, 0 for a member that should and does not.");
	for (int i = 0; i < s->n_standbys; i++)
		prom_i(t, "pgwarden_replica_streaming",
		       strcmp(s->standbys[i].state, "streaming") == 0, "replica",
		       s->standbys[i].application_name, NULL);
	for (int i = 0; leads && i < s->view.n_members; i++)
	{
		const MemberInfo *m = &s->view.members[i];
		bool listed = false;

		if (strcmp(m->name, s->name) == 0 ||
		    (m->replicatefrom[0] && strcmp(m->replicatefrom, s->name) != 0))
			continue; /* us, or cascading from another member */
		for (int k = 0; k < s->n_standbys && !listed; k++)
			listed = strcmp(s->standbys[k].application_name, m->name) == 0;
		if (!listed)
			prom_i(t, "pgwarden_replica_streaming", 0, "replica", m->name,
			       NULL);
	}
	prom_family(
	    t, "pgwarden_replica_lag_bytes", "gauge",
	    "Bytes of WAL the replica has not replayed yet, as this node (its upstream) sees it.");
	for (int i = 0; i < s->n_standbys; i++)
	{
		const RestStandby *r = &s->standbys[i];

		prom_f(t, "pgwarden_replica_lag_bytes",
		       r->replay_lsn == 0     ? NAN
		       : here > r->replay_lsn ? (double) (here - r->replay_lsn)
		                              : 0,
		       "replica", r->application_name, NULL);
	}
	prom_family(
	    t, "pgwarden_replica_lag_seconds", "gauge",
	    "pg_stat_replication.replay_lag of the replica: 0 when it has caught up and is idle, NaN when not measured yet.");
	for (int i = 0; i < s->n_standbys; i++)
	{
		const RestStandby *r = &s->standbys[i];
		bool caught_up = r->replay_lsn != 0 && r->replay_lsn >= here;

		prom_f(t, "pgwarden_replica_lag_seconds",
		       r->replay_lag_ms >= 0 ? r->replay_lag_ms / 1000.0
		       : caught_up           ? 0
		                             : NAN,
		       "replica", r->application_name, NULL);
	}
	prom_family(
	    t, "pgwarden_replica_sync", "gauge",
	    "1 if PostgreSQL counts the replica as synchronous (sync_state sync or quorum).");
	for (int i = 0; i < s->n_standbys; i++)
		prom_i(t, "pgwarden_replica_sync",
		       strcmp(s->standbys[i].sync_state, "sync") == 0 ||
		           strcmp(s->standbys[i].sync_state, "quorum") == 0,
		       "replica", s->standbys[i].application_name, NULL);
}

/* failovers and switchovers, counted from `history` (see metrics_int.h):
 * a series for every promoting rule, 0 included, so that increase() sees
 * the first one */
static void
render_promotions(PromText *t, const RestSnapshot *s)
{
	HistoryEntry *h = NULL;
	int n = 0;
	const char **rule_of;
	uint64_t unknown = 0;
	PgwError err = {0};
	bool readable = s->history_json == NULL ||
	                dcs_history_decode(s->history_json, strlen(s->history_json),
	                                   &h, &n, &err) == 0;

	if (!readable)
		n = 0;
	rule_of = pgw_xcalloc((size_t) n + 1, sizeof(*rule_of));
	for (int k = 0; k < n; k++)
	{
		bool sw;

		rule_of[k] = metrics_promotion_rule(h[k].reason, &sw);
		unknown += rule_of[k] == NULL;
	}
	for (int pass = 0; pass < 2; pass++)
	{
		const char *fam =
		    pass ? "pgwarden_switchovers_total" : "pgwarden_failovers_total";

		prom_family(
		    t, fam, "counter",
		    pass
		        ? "Requested promotions (switchover, manual failover) in the cluster's history key, by the rule that promoted."
		        : "Automatic promotions in the cluster's history key, by the rule that promoted (reason unknown: an entry no rule of ours wrote).");
		for (int i = 0; i < failover_rule_count(); i++)
		{
			const FailoverRuleInfo *r = failover_rule_describe(i);
			uint64_t count = 0;

			if (r->kind != DECIDE_PROMOTE ||
			    (strcmp(r->group, "switchover") == 0) != (pass == 1))
				continue;
			for (int k = 0; k < n; k++)
				count += rule_of[k] != NULL && strcmp(rule_of[k], r->name) == 0;
			prom_u(t, fam, count, "reason", r->name, NULL);
		}
		if (pass == 0)
			prom_u(t, fam, unknown, "reason", "unknown", NULL);
	}
	prom_family(
	    t, "pgwarden_history_readable", "gauge",
	    "0 if the history key holds a value this node cannot decode (the promotion counters then read 0).");
	prom_i(t, "pgwarden_history_readable", readable, NULL);
	free(rule_of);
	free(h);
}

static void
render_etcd(PromText *t, const RestSnapshot *s, const MetricsRuntime *rt,
            int64_t now_mono_ms)
{
	int64_t ttl_ms = s->view.config.ttl_ms > 0 ? s->view.config.ttl_ms : 10000;
	int64_t age_ms = rt->has_etcd && rt->etcd.last_contact_mono_ms > 0
	                     ? now_mono_ms - rt->etcd.last_contact_mono_ms
	                     : -1;

	prom_family(
	    t, "pgwarden_etcd_request_duration_seconds", "histogram",
	    "Round-trip time of each etcd request attempt (unary gRPC call) of the HA loop's client, answered or not.");
	prom_hist(t, "pgwarden_etcd_request_duration_seconds",
	          &rt->etcd.request_seconds, NULL);
	prom_family(
	    t, "pgwarden_etcd_request_failures_total", "counter",
	    "etcd request attempts of the HA loop's client without an OK answer (timeouts, unavailable, refused).");
	prom_u(t, "pgwarden_etcd_request_failures_total", rt->etcd.requests_failed,
	       NULL);
	prom_family(
	    t, "pgwarden_etcd_errors_total", "counter",
	    "HA loop operations on etcd that failed (each logged as etcd.error once per outage).");
	prom_u(t, "pgwarden_etcd_errors_total", s->etcd_errors_total, NULL);
	prom_family(
	    t, "pgwarden_etcd_last_contact_age_seconds", "gauge",
	    "Seconds since etcd last answered this node (a request or a lease keepalive); -1 never.");
	prom_f(t, "pgwarden_etcd_last_contact_age_seconds",
	       age_ms < 0 ? -1 : age_ms / 1000.0, NULL);
	/* keepalives go out every min(loop_wait, ttl/4): silence for half a
	 * ttl is at least two missed answers */
	prom_family(t, "pgwarden_etcd_reachable", "gauge",
	            "1 if etcd answered this node within half the leader TTL.");
	prom_i(t, "pgwarden_etcd_reachable", age_ms >= 0 && age_ms <= ttl_ms / 2,
	       NULL);
	prom_family(
	    t, "pgwarden_dcs_last_seen", "gauge",
	    "Unix time (seconds) etcd last answered this node; 0 never (Patroni's dcs_last_seen).");
	prom_i(t, "pgwarden_dcs_last_seen", s->dcs_last_seen_wall_ms / 1000, NULL);
}

static void
render_config(PromText *t, const RestSnapshot *s)
{
	const DynamicConfig *c = &s->view.config;

	prom_family(t, "pgwarden_config_ttl_seconds", "gauge",
	            "Leader lease TTL of the cluster's dynamic config.");
	prom_f(t, "pgwarden_config_ttl_seconds", c->ttl_ms / 1000.0, NULL);
	prom_family(t, "pgwarden_config_loop_wait_seconds", "gauge",
	            "loop_wait of the cluster's dynamic config.");
	prom_f(t, "pgwarden_config_loop_wait_seconds", c->loop_wait_ms / 1000.0,
	       NULL);
	prom_family(
	    t, "pgwarden_config_maximum_lag_on_failover_bytes", "gauge",
	    "A replica further behind is never promoted (maximum_lag_on_failover).");
	prom_u(t, "pgwarden_config_maximum_lag_on_failover_bytes",
	       c->maximum_lag_on_failover, NULL);
	prom_family(t, "pgwarden_config_synchronous_mode", "gauge",
	            "1 if synchronous_mode is on.");
	prom_i(t, "pgwarden_config_synchronous_mode", c->synchronous_mode, NULL);
}

char *
rest_metrics_render(const RestSnapshot *s, const MetricsRuntime *rt,
                    int64_t now_mono_ms, int64_t now_wall_ms)
{
	PromText t;
	bool running = s->pg_running;
	bool leads = rest_status_for(s, "/leader", "", now_mono_ms) == 200;
	uint64_t leader_lsn = leader_position(s);
	int64_t lease_left = s->lease_deadline_mono_ms > now_mono_ms
	                         ? s->lease_deadline_mono_ms - now_mono_ms
	                         : 0;
	int n_valid = 0;

	(void) now_wall_ms;
	prom_init(&t);
	render_patroni(&t, s, running);

	prom_set_base(&t, "scope", s->scope, "member", s->name, NULL);
	prom_family(&t, "pgwarden_build_info", "gauge",
	            "pgwarden's version (the value is always 1).");
	prom_i(&t, "pgwarden_build_info", 1, "version", PGW_VERSION, NULL);
	prom_family(&t, "pgwarden_postgres_running", "gauge",
	            "1 if PostgreSQL is running and accepts connections.");
	prom_i(&t, "pgwarden_postgres_running", running, NULL);
	prom_family(
	    &t, "pgwarden_postgres_read_write", "gauge",
	    "1 if PostgreSQL runs and is not in recovery (accepts writes), whether or not this node holds the leader key.");
	prom_i(&t, "pgwarden_postgres_read_write", s->pg_read_write, NULL);
	prom_family(
	    &t, "pgwarden_primary", "gauge",
	    "1 if this node answers GET /primary with 200: it holds the leader key within its fencing deadline and PostgreSQL runs read-write.");
	prom_i(&t, "pgwarden_primary",
	       rest_status_for(s, "/primary", "", now_mono_ms) == 200, NULL);
	prom_family(&t, "pgwarden_replica", "gauge",
	            "1 if PostgreSQL runs in recovery.");
	prom_i(&t, "pgwarden_replica", running && !s->pg_read_write, NULL);
	prom_family(
	    &t, "pgwarden_leader", "gauge",
	    "1 if this node holds the leader key within its fencing deadline (GET /leader answers 200).");
	prom_i(&t, "pgwarden_leader", leads, NULL);
	prom_family(&t, "pgwarden_postgres_timeline", "gauge",
	            "PostgreSQL timeline of this node; 0 if not running.");
	prom_i(&t, "pgwarden_postgres_timeline", running ? s->self.timeline : 0,
	       NULL);
	prom_family(
	    &t, "pgwarden_xlog_location", "gauge",
	    "WAL position in bytes: the current one on a primary, the higher of received and replayed on a replica.");
	prom_u(&t, "pgwarden_xlog_location", s->self.xlog_location, NULL);
	prom_family(
	    &t, "pgwarden_replication_lag_bytes", "gauge",
	    "On a replica: bytes behind the leader's last WAL position known from etcd; 0 on the leader.");
	prom_u(&t, "pgwarden_replication_lag_bytes",
	       leader_lsn > s->self.xlog_location && !s->holds_leader
	           ? leader_lsn - s->self.xlog_location
	           : 0,
	       NULL);
	prom_family(
	    &t, "pgwarden_wal_receiver_streaming", "gauge",
	    "On a replica: 1 if its WAL receiver streams from its upstream.");
	prom_i(&t, "pgwarden_wal_receiver_streaming",
	       running && !s->pg_read_write && s->wal_streaming, NULL);
	prom_family(&t, "pgwarden_sync_standby", "gauge",
	            "1 if the sync key names this node as a synchronous standby.");
	prom_i(&t, "pgwarden_sync_standby", in_sync_key(s, s->name), NULL);
	prom_family(
	    &t, "pgwarden_pending_restart", "gauge",
	    "1 if a changed PostgreSQL setting waits for a restart (pg_settings.pending_restart), as in the member key.");
	prom_i(&t, "pgwarden_pending_restart", s->self.pending_restart, NULL);
	prom_family(&t, "pgwarden_postmaster_start_time_seconds", "gauge",
	            "Unix time the running postmaster started; 0 if not running.");
	prom_f(&t, "pgwarden_postmaster_start_time_seconds",
	       running ? s->postmaster_start_wall_ms / 1000.0 : 0, NULL);
	render_replicas(&t, s, leads && s->pg_read_write);

	for (int i = 0; i < s->view.n_members; i++)
		n_valid += s->view.members[i].is_valid;
	prom_family(&t, "pgwarden_cluster_unlocked", "gauge",
	            "1 if etcd holds no leader key (as this node last read it).");
	prom_i(&t, "pgwarden_cluster_unlocked",
	       s->view.is_valid && !s->view.has_leader, NULL);
	prom_family(
	    &t, "pgwarden_cluster_members", "gauge",
	    "Member keys in etcd with a readable value, as this node sees them.");
	prom_i(&t, "pgwarden_cluster_members", n_valid, NULL);
	prom_family(&t, "pgwarden_is_paused", "gauge",
	            "1 if the cluster is paused (no automatic failover).");
	prom_i(&t, "pgwarden_is_paused", s->view.config.pause, NULL);
	render_config(&t, s);
	render_promotions(&t, s);

	prom_family(
	    &t, "pgwarden_decision_info", "gauge",
	    "The decision rule this node applied in its last loop (value always 1).");
	prom_i(&t, "pgwarden_decision_info", 1, "kind", s->decision, "rule",
	       s->rule, NULL);
	prom_family(
	    &t, "pgwarden_decision_changes_total", "counter",
	    "Times the decision kind or rule changed (each one is logged).");
	prom_u(&t, "pgwarden_decision_changes_total", s->decisions_total, NULL);
	prom_family(
	    &t, "pgwarden_leader_lease_remaining_seconds", "gauge",
	    "Fencing deadline margin: seconds until this node's lease deadline (last confirmed keepalive + ttl - safety margin); 0 without a lease.");
	prom_f(&t, "pgwarden_leader_lease_remaining_seconds", lease_left / 1000.0,
	       NULL);
	prom_family(
	    &t, "pgwarden_loop_duration_seconds", "histogram",
	    "Duration of one HA loop turn (observe, decide, act, publish).");
	prom_hist(&t, "pgwarden_loop_duration_seconds", &rt->loop_seconds, NULL);
	prom_family(&t, "pgwarden_loops_total", "counter", "HA loop turns run.");
	prom_u(&t, "pgwarden_loops_total", s->loops_total, NULL);
	prom_family(
	    &t, "pgwarden_last_loop_age_seconds", "gauge",
	    "Seconds since the HA loop last finished a turn (grows while it is stuck).");
	prom_f(&t, "pgwarden_last_loop_age_seconds",
	       s->last_loop_mono_ms > 0
	           ? (now_mono_ms - s->last_loop_mono_ms) / 1000.0
	           : -1,
	       NULL);
	render_etcd(&t, s, rt, now_mono_ms);
	return prom_take(&t);
}
