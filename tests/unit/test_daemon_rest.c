/*
 * test_daemon_rest.c: Patroni-compatible status codes of the REST health
 * checks (rest_status_for), as a table of snapshots and paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strutil.h"
#include "daemon/daemon_int.h"

#include <stdlib.h>
#include <string.h>

typedef enum Shape
{
	LEADER_RW,       /* holds the key, PostgreSQL read-write */
	LEADER_KEY_ONLY, /* holds the key, PostgreSQL not (yet) read-write */
	REPLICA,         /* streaming replica */
	REPLICA_LAGGING, /* replica 20 MB behind */
	REPLICA_NOLB,    /* replica with noloadbalance */
	REPLICA_SYNC,    /* replica named in the sync key */
	STOPPED,         /* PostgreSQL down */
	PRIMARY_NO_KEY,  /* read-write without the key (must never be /primary) */
	LEADER_PAST_DEADLINE, /* snapshot says leader, but its deadline passed */
} Shape;

static void
build(RestSnapshot *s, Shape shape)
{
	memset(s, 0, sizeof(*s));
	pgw_strlcpy(s->name, "n2", sizeof(s->name));
	pgw_strlcpy(s->scope, "demo", sizeof(s->scope));
	dcs_config_defaults(&s->view.config);
	s->view.is_valid = true;
	s->view.has_leader = true;
	pgw_strlcpy(s->view.leader,
	            shape == LEADER_RW || shape == LEADER_KEY_ONLY ? "n2" : "n1",
	            sizeof(s->view.leader));
	s->view.n_members = 2;
	pgw_strlcpy(s->view.members[0].name, "n1", PGW_NAME_MAX);
	s->view.members[0].xlog_location = 100 * 1024 * 1024;
	pgw_strlcpy(s->view.members[1].name, "n2", PGW_NAME_MAX);
	s->last_loop_mono_ms = 1000;
	s->pg_running = shape != STOPPED;
	s->pg_read_write = shape == LEADER_RW || shape == PRIMARY_NO_KEY;
	s->holds_leader = shape == LEADER_RW || shape == LEADER_KEY_ONLY ||
	                  shape == LEADER_PAST_DEADLINE;
	s->lease_deadline_mono_ms = shape == LEADER_PAST_DEADLINE ? 1400 : 5000;
	if (shape == LEADER_PAST_DEADLINE)
		s->pg_read_write = true;
	s->self.replayed_location = 100 * 1024 * 1024;
	s->self.xlog_location = 100 * 1024 * 1024;
	if (shape == REPLICA_LAGGING)
		s->self.replayed_location = s->self.xlog_location = 80 * 1024 * 1024;
	if (shape == REPLICA_NOLB)
		s->self.noloadbalance = true;
	if (shape == REPLICA_SYNC)
	{
		s->view.sync.present = true;
		s->view.sync.n_sync = 1;
		pgw_strlcpy(s->view.sync.sync_standby[0], "n2", PGW_NAME_MAX);
	}
}

typedef struct Case
{
	Shape shape;
	const char *path;
	const char *query;
	int status;
} Case;

static const Case cases[] = {
    {LEADER_RW, "/primary", "", 200},
    {LEADER_RW, "/", "", 200},
    {LEADER_RW, "/master", "", 200},
    {LEADER_RW, "/read-write", "", 200},
    {LEADER_RW, "/leader", "", 200},
    {LEADER_RW, "/replica", "", 503},
    {LEADER_RW, "/read-only", "", 200},
    {LEADER_RW, "/health", "", 200},
    {LEADER_RW, "/readiness", "", 200},
    /* stricter than Patroni: the key alone is not enough for /primary */
    {LEADER_KEY_ONLY, "/primary", "", 503},
    {LEADER_KEY_ONLY, "/leader", "", 200},
    {PRIMARY_NO_KEY, "/primary", "", 503},
    /* a stale snapshot (frozen or stalled loop) never answers 200 */
    {LEADER_PAST_DEADLINE, "/primary", "", 503},
    {LEADER_PAST_DEADLINE, "/leader", "", 503},
    {PRIMARY_NO_KEY, "/replica", "", 503},
    {REPLICA, "/primary", "", 503},
    {REPLICA, "/replica", "", 200},
    {REPLICA, "/replica", "lag=1MB", 200},
    {REPLICA, "/read-only", "", 200},
    {REPLICA, "/async", "", 200},
    {REPLICA, "/sync", "", 503},
    {REPLICA, "/standby-leader", "", 503},
    {REPLICA_LAGGING, "/replica", "", 200},
    {REPLICA_LAGGING, "/replica", "lag=10MB", 503},
    {REPLICA_LAGGING, "/replica", "lag=30MB", 200},
    {REPLICA_LAGGING, "/replica", "lag=garbage", 503},
    {REPLICA_NOLB, "/replica", "", 503},
    {REPLICA_NOLB, "/async", "", 200},
    {REPLICA_SYNC, "/sync", "", 200},
    {REPLICA_SYNC, "/synchronous", "", 200},
    {REPLICA_SYNC, "/async", "", 503},
    {REPLICA_SYNC, "/read-only-sync", "", 200},
    {STOPPED, "/health", "", 503},
    {STOPPED, "/replica", "", 503},
    {STOPPED, "/read-only", "", 503},
    {STOPPED, "/readiness", "", 503},
    {REPLICA, "/nonexistent", "", 0},
};

static void
test_status_table(void **state)
{
	RestSnapshot *s = calloc(1, sizeof(RestSnapshot));

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int got;

		build(s, cases[i].shape);
		got = rest_status_for(s, cases[i].path, cases[i].query, 1500);
		if (got != cases[i].status)
			fail_msg("case %zu: shape %d %s?%s: got %d, want %d", i,
			         cases[i].shape, cases[i].path, cases[i].query, got,
			         cases[i].status);
	}
	free(s);
}

static void
test_liveness(void **state)
{
	RestSnapshot *s = calloc(1, sizeof(RestSnapshot));

	(void) state;
	build(s, REPLICA);
	/* replica: loop within 2 * ttl */
	assert_int_equal(rest_status_for(s, "/liveness", "", 1000 + 20000), 200);
	assert_int_equal(rest_status_for(s, "/liveness", "", 1000 + 20001), 503);
	build(s, LEADER_RW);
	assert_int_equal(rest_status_for(s, "/liveness", "", 1000 + 10001), 503);
	s->view.config.pause = true;
	assert_int_equal(rest_status_for(s, "/liveness", "", 1000 + 99999), 200);
	free(s);
}

static void
test_json_bodies(void **state)
{
	RestSnapshot *s = calloc(1, sizeof(RestSnapshot));
	char *j;

	(void) state;
	build(s, LEADER_RW);
	j = rest_patroni_json(s, 0);
	assert_non_null(strstr(j, "\"role\":\"primary\""));
	assert_non_null(strstr(j, "\"scope\":\"demo\""));
	free(j);
	j = rest_cluster_json(s);
	assert_non_null(strstr(j, "\"members\""));
	free(j);
	j = rest_metrics_text(s, 1000);
	assert_non_null(
	    strstr(j, "pgwarden_primary{scope=\"demo\",member=\"n2\"} 1"));
	free(j);
	free(s);
}

/* /cluster's host and port come from conn_url as Patroni's urlparse
 * gives them: no brackets, no userinfo, 5432 when no port is named */
static void
test_cluster_hosts(void **state)
{
	RestSnapshot *s = calloc(1, sizeof(*s));
	char *j;

	(void) state;
	build(s, LEADER_RW);
	pgw_strlcpy(s->view.members[0].conn_url,
	            "postgres://rep:s3:cr@t@[fd00::7]:5433/postgres", PGW_URL_MAX);
	pgw_strlcpy(s->view.members[1].conn_url, "postgres://db2/postgres",
	            PGW_URL_MAX);
	j = rest_cluster_json(s);
	assert_non_null(strstr(j, "\"host\":\"fd00::7\",\"port\":5433"));
	assert_non_null(strstr(j, "\"host\":\"db2\",\"port\":5432"));
	assert_null(strstr(j, "s3"));
	free(j);
	/* a bad port, or no scheme: no host rather than a wrong one */
	pgw_strlcpy(s->view.members[0].conn_url, "postgres://db1:99999/postgres",
	            PGW_URL_MAX);
	pgw_strlcpy(s->view.members[1].conn_url, "db2:5432", PGW_URL_MAX);
	j = rest_cluster_json(s);
	assert_null(strstr(j, "db1"));
	assert_null(strstr(j, "db2"));
	free(j);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_table),
	    cmocka_unit_test(test_liveness),
	    cmocka_unit_test(test_json_bodies),
	    cmocka_unit_test(test_cluster_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
