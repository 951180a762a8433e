/*
 * test_daemon_probes.c: the kubelet's probes (daemon/rest_probes.c) as a
 * table of node shapes: /readiness is role- and lag-aware (a replica only
 * while streaming and within the bound), /liveness never fails a loop that
 * is busy with a bounded long action, /startup opens once the node served.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strutil.h"
#include "daemon/k8s_views.h"

#include <string.h>

typedef enum Shape
{
	LEADER,          /* holds the key, read-write, lease alive */
	LEADER_EXPIRED,  /* same, but the lease deadline passed */
	REPLICA,         /* running, 0 bytes behind */
	REPLICA_LAGGING, /* 20 MiB behind the leader */
	REPLICA_NOLB,    /* tagged noloadbalance */
	STOPPED,
} Shape;

static void
build(RestSnapshot *s, Shape shape)
{
	memset(s, 0, sizeof(*s));
	pgw_strlcpy(s->name, "n2", sizeof(s->name));
	dcs_config_defaults(&s->view.config); /* ttl 10 s, max lag 1 MiB */
	s->view.is_valid = true;
	s->view.has_leader = true;
	pgw_strlcpy(s->view.leader, shape <= LEADER_EXPIRED ? "n2" : "n1",
	            PGW_NAME_MAX);
	s->view.n_members = 2;
	pgw_strlcpy(s->view.members[0].name, "n1", PGW_NAME_MAX);
	s->view.members[0].xlog_location = 100 << 20;
	pgw_strlcpy(s->view.members[1].name, "n2", PGW_NAME_MAX);
	s->last_loop_mono_ms = 1000;
	s->pg_running = shape != STOPPED;
	s->pg_read_write = shape <= LEADER_EXPIRED;
	s->holds_leader = shape <= LEADER_EXPIRED;
	s->lease_deadline_mono_ms = shape == LEADER_EXPIRED ? 1200 : 9000;
	s->self.replayed_location = s->self.xlog_location =
	    shape == REPLICA_LAGGING ? 80 << 20 : 100 << 20;
	s->self.noloadbalance = shape == REPLICA_NOLB;
}

typedef struct Case
{
	Shape shape;
	bool streaming;
	bool started;
	bool busy;
	const char *path;
	const char *query;
	int64_t now;
	int want;
} Case;

static const Case cases[] = {
    /* readiness */
    {LEADER, false, true, false, "/readiness", "", 1500, 200},
    {LEADER_EXPIRED, false, true, false, "/readiness", "", 1500, 503},
    {REPLICA, true, true, false, "/readiness", "", 1500, 200},
    {REPLICA, false, true, false, "/readiness", "", 1500,
     503}, /* not streaming */
    {REPLICA_LAGGING, true, true, false, "/readiness", "", 1500, 503},
    {REPLICA_LAGGING, true, true, false, "/readiness", "lag=32MB", 1500, 200},
    {REPLICA_LAGGING, true, true, false, "/readiness", "lag=1MB", 1500, 503},
    {REPLICA, true, true, false, "/readiness", "lag=lots", 1500, 503},
    {REPLICA_NOLB, true, true, false, "/readiness", "", 1500, 503},
    {STOPPED, false, true, false, "/readiness", "", 1500, 503},
    /* startup */
    {REPLICA, true, false, false, "/startup", "", 1500, 503},
    {REPLICA, true, true, false, "/startup", "", 1500, 200},
    {LEADER, false, false, false, "/startup", "", 1500, 200},
    {STOPPED, false, false, true, "/startup", "", 1500, 503}, /* cloning */
    /* liveness: ttl (leader) / 2 x ttl (others) since the last loop */
    {LEADER, false, true, false, "/liveness", "", 1000 + 10000, 200},
    {LEADER, false, true, false, "/liveness", "", 1000 + 10001, 503},
    {REPLICA, true, true, false, "/liveness", "", 1000 + 20000, 200},
    {REPLICA, true, true, false, "/liveness", "", 1000 + 20001, 503},
    {STOPPED, false, false, true, "/liveness", "", 1000 + 3600000,
     200}, /* a long clone */
    /* not a probe path */
    {LEADER, false, true, false, "/primary", "", 1500, 0},
};

static void
test_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RestSnapshot s;
		ProbeFacts f = {0};
		int got;

		build(&s, cases[i].shape);
		f.streaming = cases[i].streaming;
		f.started = cases[i].started;
		f.busy_kind = cases[i].busy ? 3 : 0;
		got = rest_probe_status(&s, &f, cases[i].path, cases[i].query,
		                        cases[i].now);
		if (got != cases[i].want)
			fail_msg("case %zu: %s?%s gave %d, want %d", i, cases[i].path,
			         cases[i].query, got, cases[i].want);
	}
}

static void
test_paused_is_alive(void **state)
{
	RestSnapshot s;
	ProbeFacts f = {0};

	(void) state;
	build(&s, LEADER);
	s.view.config.pause = true;
	assert_int_equal(rest_probe_status(&s, &f, "/liveness", "", 999999), 200);
}

static void
test_grace(void **state)
{
	char why[400];

	(void) state;
	assert_true(k8s_grace_allows_switchover(30000, why, sizeof(why)));
	assert_true(k8s_grace_allows_switchover(
	    K8S_SWITCHOVER_NEED_MS + K8S_STOP_MARGIN_MS, NULL, 0));
	assert_false(k8s_grace_allows_switchover(10000, why, sizeof(why)));
	assert_non_null(strstr(why, "terminationGracePeriodSeconds 10 s"));
	assert_non_null(strstr(why, "without handing over"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_paused_is_alive),
	    cmocka_unit_test(test_grace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
