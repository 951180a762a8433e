/*
 * test_daemon_metrics.c: GET /metrics (rest_metrics.c, metrics.c): the text
 * is well formed with # HELP and # TYPE on every family (checked by
 * tests/harness/promcheck, itself shown to fail on bad text), Patroni's names
 * carry Patroni's values, per-replica lag and streaming as the leader sees
 * them (a 0, not a gap, for a member that does not stream), promotions
 * counted from the history key by the decision table's own templates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strutil.h"
#include "daemon/metrics_int.h"
#include "failover/failover.h"
#include "tests/harness/promcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB (1024 * 1024)

/* n1 leads with PostgreSQL read-write; n2 streams 1 MB behind; n3 has a
 * member key but no walsender */
static RestSnapshot *
leader_snapshot(void)
{
	RestSnapshot *s = calloc(1, sizeof(RestSnapshot));

	pgw_strlcpy(s->name, "n1", sizeof(s->name));
	pgw_strlcpy(s->scope, "demo", sizeof(s->scope));
	dcs_config_defaults(&s->view.config);
	s->view.is_valid = true;
	s->view.has_leader = true;
	pgw_strlcpy(s->view.leader, "n1", sizeof(s->view.leader));
	s->view.n_members = 3;
	for (int i = 0; i < 3; i++)
	{
		snprintf(s->view.members[i].name, PGW_NAME_MAX, "n%d", i + 1);
		s->view.members[i].is_valid = true;
	}
	s->view.sync.present = true;
	s->view.sync.n_sync = 1;
	pgw_strlcpy(s->view.sync.sync_standby[0], "n2", PGW_NAME_MAX);
	s->pg_running = true;
	s->pg_read_write = true;
	s->holds_leader = true;
	s->lease_deadline_mono_ms = 5000;
	s->last_loop_mono_ms = 900;
	s->server_version = 150018;
	s->postmaster_start_wall_ms = 1700000000500;
	s->self.role = MEMBER_ROLE_PRIMARY;
	s->self.timeline = 3;
	s->self.xlog_location = 100 * MB;
	s->n_standbys = 1;
	pgw_strlcpy(s->standbys[0].application_name, "n2", PGW_NAME_MAX);
	pgw_strlcpy(s->standbys[0].state, "streaming", 32);
	pgw_strlcpy(s->standbys[0].sync_state, "sync", 16);
	s->standbys[0].replay_lsn = 99 * MB;
	s->standbys[0].replay_lag_ms = 1500;
	s->dcs_last_seen_wall_ms = 1700000001999;
	s->loops_total = 42;
	pgw_strlcpy(s->decision, "renew", sizeof(s->decision));
	pgw_strlcpy(s->rule, "leader-running-renew", sizeof(s->rule));
	return s;
}

static double
value(const char *text, const char *head)
{
	double v = -12345;

	if (!promcheck_value(text, head, &v))
		fail_msg("no sample %s", head);
	return v;
}

static void
assert_well_formed(const char *text)
{
	char why[256] = "";

	if (promcheck_text(text, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

/* the checker must catch what it is there to catch */
static void
test_promcheck_fails_on_bad_text(void **state)
{
	char why[256];

	(void) state;
	assert_int_equal(promcheck_text("m 1\n", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no family"));
	assert_int_equal(promcheck_text("# TYPE m gauge\nm 1\n", why, sizeof(why)),
	                 -1);
	assert_int_equal(promcheck_text("# HELP m x\n# TYPE m gauge\nm 1\nm 2\n",
	                                why, sizeof(why)),
	                 -1);
	assert_non_null(strstr(why, "duplicate"));
	assert_int_equal(promcheck_text("# HELP m x\n# TYPE m gauge\nm{a=\"b} 1\n",
	                                why, sizeof(why)),
	                 -1);
	assert_int_equal(
	    promcheck_text("# HELP h x\n# TYPE h histogram\n"
	                   "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
	                   "h_sum 1\nh_count 1\n",
	                   why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "cumulative"));
	assert_int_equal(
	    promcheck_text("# HELP h x\n# TYPE h histogram\n"
	                   "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
	                   why, sizeof(why)),
	    -1);
	assert_int_equal(
	    promcheck_text("# HELP m x\n# TYPE m gauge\nm one\n", why, sizeof(why)),
	    -1);
	assert_int_equal(promcheck_text("# HELP m x\n# TYPE m gauge\nm 1\n"
	                                "# HELP m again\n",
	                                why, sizeof(why)),
	                 -1);
	assert_int_equal(
	    promcheck_text("# HELP m x\n# TYPE m gauge\nm 1\n"
	                   "# HELP h x\n# TYPE h histogram\n"
	                   "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
	                   why, sizeof(why)),
	    0);
}

static void
test_leader_text(void **state)
{
	RestSnapshot *s = leader_snapshot();
	MetricsRuntime rt;
	char *t;

	(void) state;
	memset(&rt, 0, sizeof(rt));
	rt.has_etcd = true;
	rt.etcd.last_contact_mono_ms = 990;
	rt.etcd.requests_failed = 7;
	rt.etcd.request_seconds.bucket[0] = 3;
	rt.loop_seconds.bucket[4] = 2;
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	/* Patroni's names, Patroni's label set and semantics */
	assert_true(value(t, "patroni_primary{scope=\"demo\"}") == 1);
	assert_true(value(t, "patroni_master{scope=\"demo\"}") == 1);
	assert_true(value(t, "patroni_xlog_location{scope=\"demo\"}") == 100 * MB);
	assert_true(value(t, "patroni_postgres_timeline{scope=\"demo\"}") == 3);
	assert_true(value(t, "patroni_postmaster_start_time{scope=\"demo\"}") ==
	            1700000000.5);
	assert_true(value(t, "patroni_dcs_last_seen{scope=\"demo\"}") ==
	            1700000001);
	assert_true(value(t, "patroni_postgres_server_version{scope=\"demo\"}") ==
	            150018);
	assert_true(value(t, "patroni_replica{scope=\"demo\"}") == 0);
	/* ours */
	assert_true(value(t, "pgwarden_primary{scope=\"demo\",member=\"n1\"}") ==
	            1);
	assert_true(value(t, "pgwarden_leader{scope=\"demo\",member=\"n1\"}") == 1);
	assert_true(
	    value(
	        t,
	        "pgwarden_replica_streaming{scope=\"demo\",member=\"n1\",replica=\"n2\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_replica_streaming{scope=\"demo\",member=\"n1\",replica=\"n3\"}") ==
	    0);
	assert_null(strstr(t, "replica=\"n1\""));
	assert_true(
	    value(
	        t,
	        "pgwarden_replica_lag_bytes{scope=\"demo\",member=\"n1\",replica=\"n2\"}") ==
	    MB);
	assert_true(
	    value(
	        t,
	        "pgwarden_replica_lag_seconds{scope=\"demo\",member=\"n1\",replica=\"n2\"}") ==
	    1.5);
	assert_true(
	    value(
	        t,
	        "pgwarden_replica_sync{scope=\"demo\",member=\"n1\",replica=\"n2\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_leader_lease_remaining_seconds{scope=\"demo\",member=\"n1\"}") ==
	    4);
	assert_true(
	    value(t,
	          "pgwarden_last_loop_age_seconds{scope=\"demo\",member=\"n1\"}") ==
	    0.1);
	assert_true(
	    value(t, "pgwarden_etcd_reachable{scope=\"demo\",member=\"n1\"}") == 1);
	assert_true(
	    value(
	        t,
	        "pgwarden_etcd_last_contact_age_seconds{scope=\"demo\",member=\"n1\"}") ==
	    0.01);
	assert_true(
	    value(
	        t,
	        "pgwarden_etcd_request_failures_total{scope=\"demo\",member=\"n1\"}") ==
	    7);
	assert_true(
	    value(
	        t,
	        "pgwarden_etcd_request_duration_seconds_count{scope=\"demo\",member=\"n1\"}") ==
	    3);
	assert_true(
	    value(
	        t,
	        "pgwarden_loop_duration_seconds_bucket{scope=\"demo\",member=\"n1\",le=\"0.01\"}") ==
	    2);
	assert_true(
	    value(
	        t,
	        "pgwarden_loop_duration_seconds_bucket{scope=\"demo\",member=\"n1\",le=\"0.005\"}") ==
	    0);
	assert_true(
	    value(t, "pgwarden_cluster_members{scope=\"demo\",member=\"n1\"}") ==
	    3);
	assert_true(
	    value(
	        t,
	        "pgwarden_decision_info{scope=\"demo\",member=\"n1\",kind=\"renew\",rule=\"leader-running-renew\"}") ==
	    1);
	assert_true(
	    value(t, "pgwarden_config_ttl_seconds{scope=\"demo\",member=\"n1\"}") ==
	    10);
	/* no history key: every promotion series exists, at 0 */
	assert_true(
	    value(
	        t,
	        "pgwarden_switchovers_total{scope=\"demo\",member=\"n1\",reason=\"switchover-candidate-promote\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_failovers_total{scope=\"demo\",member=\"n1\",reason=\"leader-key-gone-we-are-best\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_failovers_total{scope=\"demo\",member=\"n1\",reason=\"unknown\"}") ==
	    0);
	free(t);

	/* past the fencing deadline the snapshot's "leader" is not believed,
	 * exactly as GET /primary does not; a replica's view shows nobody */
	t = rest_metrics_render(s, &rt, 6000, 1700000002000);
	assert_well_formed(t);
	assert_true(value(t, "pgwarden_primary{scope=\"demo\",member=\"n1\"}") ==
	            0);
	assert_true(value(t, "pgwarden_leader{scope=\"demo\",member=\"n1\"}") == 0);
	assert_true(
	    value(t, "pgwarden_etcd_reachable{scope=\"demo\",member=\"n1\"}") == 0);
	assert_null(strstr(t, "replica=\"n3\""));
	free(t);
	free(s);
}

static void
test_replica_and_stopped(void **state)
{
	RestSnapshot *s = leader_snapshot();
	MetricsRuntime rt;
	char *t;

	(void) state;
	memset(&rt, 0, sizeof(rt));
	pgw_strlcpy(s->name, "n2", sizeof(s->name));
	s->pg_read_write = false;
	s->holds_leader = false;
	s->wal_streaming = true;
	s->n_standbys = 0;
	s->self.role = MEMBER_ROLE_REPLICA;
	s->self.xlog_location = 98 * MB;
	s->self.received_location = 98 * MB;
	s->self.replayed_location = 97 * MB;
	s->view.members[0].xlog_location = 100 * MB;
	s->replayed_ts_wall_ms = 1700000000250;
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	assert_true(value(t, "patroni_replica{scope=\"demo\"}") == 1);
	assert_true(value(t, "patroni_sync_standby{scope=\"demo\"}") == 1);
	assert_true(value(t, "patroni_xlog_location{scope=\"demo\"}") == 0);
	assert_true(value(t, "patroni_xlog_received_location{scope=\"demo\"}") ==
	            98 * MB);
	assert_true(value(t, "patroni_xlog_replayed_location{scope=\"demo\"}") ==
	            97 * MB);
	assert_true(value(t, "patroni_xlog_replayed_timestamp{scope=\"demo\"}") ==
	            1700000000.25);
	assert_true(
	    value(t,
	          "pgwarden_replication_lag_bytes{scope=\"demo\",member=\"n2\"}") ==
	    2 * MB);
	assert_true(
	    value(
	        t,
	        "pgwarden_wal_receiver_streaming{scope=\"demo\",member=\"n2\"}") ==
	    1);
	assert_true(
	    value(t, "pgwarden_sync_standby{scope=\"demo\",member=\"n2\"}") == 1);
	assert_null(strstr(t, "pgwarden_replica_streaming{"));
	assert_true(
	    value(t, "pgwarden_etcd_reachable{scope=\"demo\",member=\"n2\"}") == 0);
	assert_true(
	    value(
	        t,
	        "pgwarden_etcd_last_contact_age_seconds{scope=\"demo\",member=\"n2\"}") ==
	    -1);
	free(t);

	s->pg_running = false;
	s->wal_streaming = false;
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	assert_true(value(t, "patroni_postgres_running{scope=\"demo\"}") == 0);
	assert_true(value(t, "patroni_postgres_timeline{scope=\"demo\"}") == 0);
	assert_true(value(t, "patroni_postmaster_start_time{scope=\"demo\"}") == 0);
	assert_true(
	    value(
	        t,
	        "pgwarden_wal_receiver_streaming{scope=\"demo\",member=\"n2\"}") ==
	    0);
	free(t);
	free(s);
}

/* a reason produced by a rule's template, placeholders filled with x */
static void
fill_template(const char *tmpl, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = tmpl; *p && o + 8 < len; p++)
	{
		if (*p == '{')
		{
			const char *e = strchr(p, '}');

			if (e == NULL)
				break;
			o += (size_t) snprintf(out + o, len - o, "x 0/3000060");
			p = e;
		}
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

static void
test_promotion_rules(void **state)
{
	bool sw;
	int n_promote = 0;

	(void) state;
	for (int i = 0; i < failover_rule_count(); i++)
	{
		const FailoverRuleInfo *r = failover_rule_describe(i);
		char text[300];

		if (r->kind != DECIDE_PROMOTE)
			continue;
		n_promote++;
		/* a template without a literal start could match anything */
		assert_true(r->reason[0] != '{');
		fill_template(r->reason, text, sizeof(text));
		assert_string_equal(metrics_promotion_rule(text, &sw), r->name);
		assert_int_equal(sw, strcmp(r->group, "switchover") == 0);
	}
	assert_true(n_promote >= 2);
	assert_null(metrics_promotion_rule("no recovery target specified", &sw));
	assert_null(metrics_promotion_rule("", &sw));
	assert_null(metrics_promotion_rule("leader key gone but not from us", &sw));
	/* what the daemon writes today (rules.c templates, filled) */
	assert_string_equal(metrics_promotion_rule(
	                        "requested promotion of node2 at 0/5000148", &sw),
	                    "switchover-candidate-promote");
	assert_true(sw);
	assert_string_equal(
	    metrics_promotion_rule(
	        "leader key gone 1200 ms; we are best at 0/3000060", &sw),
	    "leader-key-gone-we-are-best");
	assert_false(sw);
}

static void
test_history_counts(void **state)
{
	RestSnapshot *s = leader_snapshot();
	MetricsRuntime rt;
	char *t;

	(void) state;
	memset(&rt, 0, sizeof(rt));
	s->history_json = strdup(
	    "[[1,50331808,\"no recovery target specified\",\"2026-01-01T00:00:00+00:00\",\"n1\"],"
	    "[2,83886408,\"requested promotion of n2 at 0/5000148\",\"2026-01-01T00:01:00+00:00\",\"n2\"],"
	    "[3,92274840,\"leader key gone 900 ms; we are best at 0/5800098\",\"2026-01-01T00:02:00+00:00\",\"n1\"],"
	    "[4,100663448,\"requested promotion of n3 at 0/6000098\",\"2026-01-01T00:03:00+00:00\",\"n3\"]]");
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	assert_true(
	    value(
	        t,
	        "pgwarden_switchovers_total{scope=\"demo\",member=\"n1\",reason=\"switchover-candidate-promote\"}") ==
	    2);
	assert_true(
	    value(
	        t,
	        "pgwarden_failovers_total{scope=\"demo\",member=\"n1\",reason=\"leader-key-gone-we-are-best\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_failovers_total{scope=\"demo\",member=\"n1\",reason=\"unknown\"}") ==
	    1);
	assert_true(
	    value(t, "pgwarden_history_readable{scope=\"demo\",member=\"n1\"}") ==
	    1);
	free(t);
	free(s->history_json);
	/* garbage in etcd: said so by a gauge, counters at 0, never a crash */
	s->history_json = strdup("[[1, \"x\"");
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	assert_true(
	    value(t, "pgwarden_history_readable{scope=\"demo\",member=\"n1\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_switchovers_total{scope=\"demo\",member=\"n1\",reason=\"switchover-candidate-promote\"}") ==
	    0);
	free(t);
	free(s->history_json);
	free(s);
}

/* member and scope names are outside input: escaped, never a broken line */
static void
test_hostile_names(void **state)
{
	RestSnapshot *s = leader_snapshot();
	MetricsRuntime rt;
	char *t;

	(void) state;
	memset(&rt, 0, sizeof(rt));
	pgw_strlcpy(s->scope, "de\"mo\\", sizeof(s->scope));
	pgw_strlcpy(s->view.members[2].name, "n3\"}\nx 1", PGW_NAME_MAX);
	t = rest_metrics_render(s, &rt, 1000, 1700000002000);
	assert_well_formed(t);
	assert_non_null(strstr(t, "replica=\"n3\\\"}\\nx 1\"} 0\n"));
	free(t);
	free(s);
}

/* print_families: "<family> <type>" of each # TYPE line of text */
static void
print_families(const char *text)
{
	for (const char *p = text; p && *p;)
	{
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "# TYPE ", 7) == 0)
			printf("%.*s\n", (int) ((nl ? nl : p + strlen(p)) - p - 7), p + 7);
		p = nl ? nl + 1 : NULL;
	}
}

/*
 * inventory: with --families (or --text), print every family (or the text)
 * of a leader with a replica and a promotion in its history: the list
 * tests/prometheus/test_*.sh check the rules and the dashboard against, and
 * test_monitoring_cluster.sh checks against live /metrics.
 */
static int
inventory(bool text)
{
	RestSnapshot *s = leader_snapshot();
	MetricsRuntime rt;
	char *t;

	memset(&rt, 0, sizeof(rt));
	s->history_json =
	    strdup("[[1,1,\"requested promotion of n1 at 0/1\",\"t\",\"n1\"]]");
	t = rest_metrics_render(s, &rt, 1000, 0);
	if (text)
		fputs(t, stdout);
	else
		print_families(t);
	free(t);
	free(s->history_json);
	free(s);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_promcheck_fails_on_bad_text),
	    cmocka_unit_test(test_leader_text),
	    cmocka_unit_test(test_replica_and_stopped),
	    cmocka_unit_test(test_promotion_rules),
	    cmocka_unit_test(test_history_counts),
	    cmocka_unit_test(test_hostile_names),
	};

	if (argc > 1 &&
	    (strcmp(argv[1], "--families") == 0 || strcmp(argv[1], "--text") == 0))
		return inventory(strcmp(argv[1], "--text") == 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
