/*
 * test_health_pg.c: health/ against real PostgreSQL 15 on loopback.
 * Scenario: refusals first (nothing listening -> refused; promote a primary
 * -> refused), then bootstrap a primary, clone two replicas, see lag in
 * bytes rise and fall, make one synchronous, promote a replica (new
 * timeline at once), diverge and rewind the old primary to follow, move
 * the other replica's upstream by reload, kill -9 a postmaster and see the
 * probe notice within a second, and check that a postmaster dies with the
 * process that started it (PR_SET_PDEATHSIG, DESIGN promise 1).
 * Every wait is a bounded poll; all nodes are stopped at exit.
 */
#include "health/health.h"
#include "tests/harness/pg_harness.h"
#include "tests/harness/proc.h"

#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                       \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			failures++;                                                        \
			exit(1);                                                           \
		}                                                                      \
	} while (0)

#define STEP(name)                                                             \
	printf("--- %s (t=%.1fs)\n", name, (harness_now_ms() - t0) / 1000.0)

static int64_t t0;

static int
standby_index(const HealthReport *r, const char *app)
{
	for (int i = 0; i < r->n_standbys; i++)
		if (strcmp(r->standbys[i].application_name, app) == 0)
			return i;
	return -1;
}

static bool
streaming_from(PgNode *n, int port, uint32_t tli)
{
	HealthReport r;

	return pgh_probe(n, 0, &r) && r.in_recovery && r.has_wal_receiver &&
	       strcmp(r.wal_receiver_status, "streaming") == 0 &&
	       r.upstream_port == port && r.timeline == tli;
}

static bool
standby_caught_up(PgNode *primary, const char *app)
{
	HealthReport r;
	int i;

	if (!pgh_probe(primary, 0, &r))
		return false;
	i = standby_index(&r, app);
	return i >= 0 && strcmp(r.standbys[i].state, "streaming") == 0 &&
	       r.standbys[i].lag_bytes == 0;
}

static bool
standby_behind(PgNode *primary, const char *app, uint64_t *lag)
{
	HealthReport r;
	int i;

	if (!pgh_probe(primary, 0, &r))
		return false;
	i = standby_index(&r, app);
	if (i < 0)
		return false;
	*lag = r.standbys[i].lag_bytes;
	return *lag > 0 && *lag != UINT64_MAX;
}

static bool
sync_state_is(PgNode *primary, const char *app, const char *st)
{
	HealthReport r;
	int i;

	if (!pgh_probe(primary, 0, &r))
		return false;
	i = standby_index(&r, app);
	return i >= 0 && strcmp(r.standbys[i].sync_state, st) == 0;
}

static bool
query_is(PgNode *n, const char *sql, const char *want)
{
	char v[256];

	return pgh_sql(n, sql, v, sizeof(v)) == 0 && strcmp(v, want) == 0;
}

static void
test_refusals(void)
{
	PgProbeConfig pc = {0};
	PgProbe *p;
	HealthReport r;
	PgwError err = {0};
	int rc;

	STEP("probe a port with nothing -> refused");
	pc.host = "127.0.0.1";
	pc.port = harness_free_port();
	pc.password = "x";
	CHECK(health_probe_open(&pc, &p, &err) == 0, "%s", err.msg);
	rc = health_probe_run(p, 0, &r, &err);
	CHECK(rc == PGW_EUNAVAILABLE, "rc=%d %s", rc, err.msg);
	CHECK(!r.reachable && r.unreachable == HEALTH_REACH_REFUSED,
	      "reason=%s msg=%s", health_unreachable_name(r.unreachable),
	      r.unreachable_msg);
	CHECK(r.role == HEALTH_ROLE_UNKNOWN, "role");
	health_probe_close(p);
}

/* fork a process that starts the node and stays; SIGKILL it; postmaster must go
 */
static void
test_pdeathsig(PgNode *n)
{
	int pipefd[2];
	pid_t starter;
	char ok = 0;
	pid_t pm = 0;
	HealthReport r;
	FILE *f;
	char path[600];
	int status;

	STEP("postmaster dies with the process that started it (PDEATHSIG)");
	CHECK(pipe(pipefd) == 0, "pipe");
	starter = fork();
	CHECK(starter >= 0, "fork");
	if (starter == 0)
	{
		PgwError err = {0};
		HealthWait w;

		close(pipefd[0]);
		w = health_control_start(n->ctl, 60000, &err);
		ok = w != HEALTH_WAIT_FAILED ? 'y' : 'n';
		if (ok == 'n')
			fprintf(stderr, "starter: %s\n", err.msg);
		if (write(pipefd[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	CHECK(read(pipefd[0], &ok, 1) == 1 && ok == 'y', "starter could not start");
	close(pipefd[0]);
	snprintf(path, sizeof(path), "%s/postmaster.pid", n->data_dir);
	f = fopen(path, "r");
	CHECK(f != NULL && fscanf(f, "%d", &pm) == 1, "postmaster.pid");
	fclose(f);
	CHECK(harness_alive(pm), "postmaster %d alive", (int) pm);
	CHECK(HARNESS_POLL(pgh_probe(n, 0, &r), 30000, 100), "probe after start");
	kill(starter, SIGKILL);
	waitpid(starter, &status, 0);
	CHECK(HARNESS_POLL(!harness_alive(pm), 10000, 20),
	      "postmaster %d outlived its starter", (int) pm);
	printf("postmaster %d exited after its starter was killed\n", (int) pm);
}

int
main(void)
{
	PgNode n1;
	PgNode n2;
	PgNode n3;
	HealthReport r;
	HealthReport r2;
	PgwError err = {0};
	HealthUpstream up;
	HealthWait w;
	uint32_t tli = 0;
	bool needed = false;
	int changed = 0;
	uint64_t lag = 0;
	int rc;
	const char *members[] = {"n1", "n2", "n3"};
	int mult;

	harness_init("test_health_pg");
	if (!pgh_available())
	{
		printf("PostgreSQL not found in %s: skipped\n", pgh_bin_dir());
		return 77;
	}
	mult = harness_timeout_mult();
	t0 = harness_now_ms();
	test_refusals();

	pgh_node_init(&n1, "n1");
	pgh_node_init(&n2, "n2");
	pgh_node_init(&n3, "n3");

	STEP("bootstrap n1");
	rc = health_control_bootstrap(n1.ctl, 60000 * mult, &err);
	CHECK(rc == 0, "bootstrap: %s", err.msg);
	CHECK(pgh_probe(&n1, 0, &r), "probe n1: %s", r.unreachable_msg);
	CHECK(r.role == HEALTH_ROLE_PRIMARY && !r.in_recovery, "role %s",
	      health_role_name(r.role));
	CHECK(r.timeline == 1, "timeline %u", r.timeline);
	CHECK(r.system_identifier != 0 && r.server_version_num >= 150000,
	      "sysid/version");
	CHECK(r.wal_lsn != 0 && r.lag_bytes == 0 && r.has_postmaster_pid &&
	          r.postmaster_alive,
	      "wal_lsn/postmaster");
	CHECK(query_is(&n1, "SHOW data_checksums", "on"), "checksums");
	CHECK(query_is(&n1, "SHOW wal_log_hints", "on"), "wal_log_hints");
	CHECK(!r.pending_restart, "pending_restart");

	STEP("refusal: promote a primary");
	rc = health_control_promote(n1.ctl, 10, &tli, &err);
	CHECK(rc == PGW_ESTATE && strstr(err.msg, "not in standby mode"),
	      "rc=%d %s", rc, err.msg);
	STEP("refusal: bootstrap over a non-empty data dir");
	rc = health_control_bootstrap(n1.ctl, 1000, &err);
	CHECK(rc == PGW_ESTATE, "rc=%d %s", rc, err.msg);

	STEP("slots for members on n1");
	rc = health_control_slots_sync(n1.ctl, members, 3, &changed, &err);
	CHECK(rc == 0 && changed == 2, "rc=%d changed=%d %s", rc, changed, err.msg);
	rc = health_control_slots_sync(n1.ctl, members, 3, &changed, &err);
	CHECK(rc == 0 && changed == 0, "idempotent: rc=%d changed=%d", rc, changed);
	{
		const char *more[] = {"n1", "n2", "n3", "gone"};
		const char *less[] = {"n1", "n2", "n3"};

		CHECK(health_control_slots_sync(n1.ctl, more, 4, &changed, &err) == 0 &&
		          changed == 1,
		      "create gone");
		CHECK(health_control_slots_sync(n1.ctl, less, 3, &changed, &err) == 0 &&
		          changed == 1,
		      "drop gone");
		CHECK(
		    query_is(
		        &n1,
		        "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots",
		        "n2,n3"),
		    "slots n2,n3");
	}

	STEP("clone n2 and n3");
	up = pgh_upstream(&n1);
	rc = health_control_clone(n2.ctl, &up, &err);
	CHECK(rc == 0, "clone n2: %s", err.msg);
	rc = health_control_clone(n3.ctl, &up, &err);
	CHECK(rc == 0, "clone n3: %s", err.msg);
	w = health_control_start(n2.ctl, 60000 * mult, &err);
	CHECK(w == HEALTH_WAIT_READY, "start n2: %s", err.msg);
	w = health_control_start(n3.ctl, 60000 * mult, &err);
	CHECK(w == HEALTH_WAIT_READY, "start n3: %s", err.msg);
	CHECK(HARNESS_POLL(streaming_from(&n2, n1.port, 1), 30000 * mult, 100),
	      "n2 streaming");
	CHECK(HARNESS_POLL(streaming_from(&n3, n1.port, 1), 30000 * mult, 100),
	      "n3 streaming");
	CHECK(pgh_probe(&n2, 0, &r2) && r2.role == HEALTH_ROLE_REPLICA &&
	          r2.upstream_slot[0] != '\0',
	      "n2 replica with slot \"%s\"", r2.upstream_slot);
	CHECK(pgh_probe(&n1, 0, &r) && r.system_identifier == r2.system_identifier,
	      "same sysid");
	CHECK(HARNESS_POLL(standby_caught_up(&n1, "n2") &&
	                       standby_caught_up(&n1, "n3"),
	                   30000 * mult, 100),
	      "both standbys caught up");

	STEP("lag goes up then back to zero (bytes)");
	CHECK(pgh_sql(&n2, "SELECT pg_wal_replay_pause()", NULL, 0) == 0, "pause");
	CHECK(
	    pgh_sql(
	        &n1,
	        "CREATE TABLE t AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g",
	        NULL, 0) == 0,
	    "write");
	CHECK(HARNESS_POLL(standby_behind(&n1, "n2", &lag), 10000 * mult, 50),
	      "n2 behind");
	printf("n2 replay lag seen on the primary: %" PRIu64 " bytes\n", lag);
	CHECK(pgh_probe(&n1, 0, &r) && pgh_probe(&n2, r.wal_lsn, &r2), "probe");
	CHECK(r2.replay_paused && r2.replay_lsn < r.wal_lsn,
	      "n2 replay behind its receive");
	CHECK(pgh_sql(&n2, "SELECT pg_wal_replay_resume()", NULL, 0) == 0,
	      "resume");
	CHECK(HARNESS_POLL(standby_caught_up(&n1, "n2") &&
	                       standby_caught_up(&n1, "n3"),
	                   30000 * mult, 50),
	      "lag back to 0");
	CHECK(pgh_probe(&n1, 0, &r) && pgh_probe(&n3, r.wal_lsn, &r2) &&
	          r2.lag_bytes == 0,
	      "n3 lag against leader LSN: %" PRIu64, r2.lag_bytes);
	CHECK(query_is(&n3, "SELECT count(*) FROM t", "20000"), "data on n3");

	STEP("synchronous standby");
	{
		const char *names[] = {"n2"};
		char value[128];

		CHECK(health_sync_names_build(names, 1, 1, value, sizeof(value)) == 0,
		      "build");
		rc = health_control_set_sync(n1.ctl, value, 10000 * mult, &err);
		CHECK(rc == 0, "set_sync: %s", err.msg);
		CHECK(HARNESS_POLL(sync_state_is(&n1, "n2", "sync"), 10000 * mult, 50),
		      "n2 sync");
		CHECK(sync_state_is(&n1, "n3", "async"), "n3 async");
		CHECK(pgh_sql(&n1, "INSERT INTO t VALUES (0, 'sync')", NULL, 0) == 0,
		      "sync commit");
		rc = health_control_set_sync(n1.ctl, "", 10000 * mult, &err);
		CHECK(rc == 0, "unset sync: %s", err.msg);
	}

	STEP(
	    "move n3 under n2 by reload (cascading, then it follows the promotion)");
	CHECK(health_control_slots_sync(n2.ctl, members, 3, &changed, &err) == 0,
	      "slots on n2: %s", err.msg);
	up = pgh_upstream(&n2);
	rc = health_control_set_upstream(n3.ctl, &up, &err);
	CHECK(rc == 0, "set_upstream: %s", err.msg);
	CHECK(HARNESS_POLL(streaming_from(&n3, n2.port, 1), 30000 * mult, 100),
	      "n3 streaming from n2");
	CHECK(pgh_probe(&n2, 0, &r) && standby_index(&r, "n3") >= 0,
	      "n2 lists n3 (cascading)");

	STEP("promote n2");
	rc = health_control_promote(n2.ctl, 30, &tli, &err);
	CHECK(rc == 0 && tli == 2, "promote: rc=%d tli=%u %s", rc, tli, err.msg);
	CHECK(pgh_probe(&n2, 0, &r) && r.role == HEALTH_ROLE_PRIMARY &&
	          r.timeline == 2,
	      "n2 primary on timeline 2 at once (got %s tli %u)",
	      health_role_name(r.role), r.timeline);
	CHECK(pgh_sql(&n2, "CREATE TABLE after_failover AS SELECT 42 AS answer",
	              NULL, 0) == 0,
	      "write on new primary");
	/* the old primary still runs and diverges: it needs a rewind */
	CHECK(
	    pgh_sql(
	        &n1,
	        "CREATE TABLE diverged AS SELECT g FROM generate_series(1, 1000) g",
	        NULL, 0) == 0,
	    "diverging write on n1");

	CHECK(HARNESS_POLL(streaming_from(&n3, n2.port, 2), 30000 * mult, 100),
	      "n3 streaming from n2 on timeline 2");
	CHECK(HARNESS_POLL(query_is(&n3, "SELECT answer FROM after_failover", "42"),
	                   10000 * mult, 100),
	      "n3 sees the new primary's write");

	STEP("rewind n1 and follow n2");
	w = health_control_stop(n1.ctl, HEALTH_STOP_FAST, 30000 * mult, &err);
	CHECK(w == HEALTH_WAIT_READY, "stop n1: %s", err.msg);
	rc = health_control_rewind_needed(n1.ctl, &up, &needed, &err);
	CHECK(rc == 0 && needed, "rewind needed: rc=%d needed=%d %s", rc, needed,
	      err.msg);
	rc = health_control_rewind(n1.ctl, &up, &err);
	CHECK(rc == 0, "rewind: %s", err.msg);
	w = health_control_start(n1.ctl, 60000 * mult, &err);
	CHECK(w == HEALTH_WAIT_READY, "start n1 as standby: %s", err.msg);
	CHECK(HARNESS_POLL(streaming_from(&n1, n2.port, 2), 30000 * mult, 100),
	      "n1 streaming from n2 on timeline 2");
	CHECK(HARNESS_POLL(query_is(&n1, "SELECT answer FROM after_failover", "42"),
	                   10000 * mult, 100),
	      "n1 has the new primary's data");
	CHECK(query_is(&n1, "SELECT to_regclass('diverged') IS NULL", "t"),
	      "diverged write gone");

	STEP("kill -9 a postmaster; probe notices within 1 s");
	{
		HealthPmStatus st;
		int64_t killed;
		int64_t noticed;

		health_control_status(n3.ctl, &st);
		CHECK(st.running && st.is_child && st.pid > 0, "n3 our child");
		CHECK(pgh_probe(&n3, 0, &r), "n3 reachable before");
		killed = harness_now_ms();
		kill(st.pid, SIGKILL);
		CHECK(HARNESS_POLL(!pgh_probe(&n3, 0, &r) && !r.postmaster_alive, 1000,
		                   10),
		      "probe did not notice within 1 s");
		noticed = harness_now_ms();
		printf("probe reported the dead postmaster after %" PRId64
		       " ms (reason %s)\n",
		       noticed - killed, health_unreachable_name(r.unreachable));
		health_control_status(n3.ctl, &st);
		CHECK(st.exited && !st.running, "status reports exited");
	}

	test_pdeathsig(&n3);

	STEP("a stale postmaster.pid whose PID another process now holds");
	{
		/* pid_max is 32768 here: a killed postmaster's PID gets reused,
		 * and PostgreSQL refuses to start while that PID lives */
		pid_t squatter = fork();
		char path[600];
		FILE *f;

		CHECK(squatter >= 0, "fork");
		if (squatter == 0)
		{
			/* PostgreSQL ignores a PID it may not signal (EPERM): only one
			 * of its own user blocks it, another node's backend, say */
			const char *user = harness_run_user();
			struct passwd *pw = user ? getpwnam(user) : NULL;

			if (pw != NULL && geteuid() == 0 &&
			    (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0))
				_exit(1);
			sleep(60);
			_exit(0);
		}
		snprintf(path, sizeof(path), "%s/postmaster.pid", n3.data_dir);
		f = fopen(path, "w");
		CHECK(f != NULL, "write %s", path);
		fprintf(f, "%d\n%s\n", (int) squatter, n3.data_dir);
		fclose(f);
		w = health_control_start(n3.ctl, 60000 * mult, &err);
		CHECK(w != HEALTH_WAIT_FAILED, "start over a stale postmaster.pid: %s",
		      err.msg);
		CHECK(HARNESS_POLL(pgh_probe(&n3, 0, &r), 30000, 100),
		      "n3 serves again");
		kill(squatter, SIGKILL);
		waitpid(squatter, NULL, 0);
		CHECK(health_control_stop(n3.ctl, HEALTH_STOP_FAST, 30000, &err) ==
		          HEALTH_WAIT_READY,
		      "stop n3");
	}

	STEP("stop all");
	CHECK(health_control_stop(n1.ctl, HEALTH_STOP_FAST, 30000, &err) ==
	          HEALTH_WAIT_READY,
	      "stop n1");
	health_probe_disconnect(n2.probe);
	CHECK(health_control_stop(n2.ctl, HEALTH_STOP_SMART, 30000, &err) ==
	          HEALTH_WAIT_READY,
	      "stop n2");
	CHECK(!pgh_probe(&n2, 0, &r) && r.unreachable == HEALTH_REACH_REFUSED,
	      "n2 refused after stop: %s", health_unreachable_name(r.unreachable));
	pgh_node_free(&n3);
	pgh_node_free(&n2);
	pgh_node_free(&n1);
	printf("ok (%.1fs)\n", (harness_now_ms() - t0) / 1000.0);
	return failures ? 1 : 0;
}
