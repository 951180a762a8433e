/*
 * rest_metrics.c: the GET /metrics body (Prometheus text format) rendered
 * from the snapshot the loop publishes (DESIGN.md "REST API"): no I/O here,
 * so a scrape never waits on etcd or PostgreSQL and never blocks the loop.
 */
#include "daemon/rest_int.h"

#include "common/xmem.h"

#include <stdio.h>
#include <string.h>

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
