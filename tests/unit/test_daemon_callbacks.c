/*
 * test_daemon_callbacks.c: callbacks (daemon/callbacks.c): the script gets
 * (action, role, scope); callbacks_fire() never waits for it; a slow script
 * is killed at the timeout; one runs at a time, and a newer event of a kind
 * replaces the waiting one; pre_promote's exit code and timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pgwtime.h"
#include "config/config.h"
#include "daemon/daemon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char logpath[128];
static char script[128];

static int
setup(void **state)
{
	FILE *f;

	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/pgw-cb-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	snprintf(script, sizeof(script), "%s/cb.sh", dir);
	f = fopen(script, "w");
	if (f == NULL)
		return -1;
	/* records its arguments, one line per call; the sleep file makes it
	 * slow (not the environment: a callback gets an allowlist of it) */
	fprintf(f,
	        "#!/bin/sh\nsleep \"$(cat %s/sleep 2>/dev/null || echo 0)\"\n"
	        "echo \"$1 $2 $3 $#\" >> %s\n",
	        dir, logpath);
	fclose(f);
	return chmod(script, 0755);
}

static int
teardown(void **state)
{
	char cmd[128];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* set_sleep: how long the script sleeps from now on */
static void
set_sleep(const char *seconds)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sleep", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", seconds);
	fclose(f);
}

static int
reset(void **state)
{
	char path[128];

	(void) state;
	unlink(logpath);
	snprintf(path, sizeof(path), "%s/sleep", dir);
	unlink(path);
	return 0;
}

static const char *
slurp(void)
{
	static char buf[4096];
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f == NULL)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static Callbacks *
open_all(const char *cmd, const char *pre_promote)
{
	NodeConfig cfg;
	Callbacks *cb = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.scope = "demo scope";
	cfg.cb_on_start = (char *) cmd;
	cfg.cb_on_stop = (char *) cmd;
	cfg.cb_on_restart = (char *) cmd;
	cfg.cb_on_reload = (char *) cmd;
	cfg.cb_on_role_change = (char *) cmd;
	cfg.pg_pre_promote = (char *) pre_promote;
	assert_int_equal(callbacks_open(&cfg, &cb, NULL), 0);
	return cb;
}

static void
wait_idle(Callbacks *cb, int max_ms)
{
	int64_t deadline = pgw_now_mono_ms() + max_ms;

	while (callbacks_busy(cb) && pgw_now_mono_ms() < deadline)
	{
		callbacks_reap(cb);
		pgw_sleep_ms(5);
	}
	assert_false(callbacks_busy(cb));
}

static void
test_arguments(void **state)
{
	Callbacks *cb = open_all(script, NULL);

	(void) state;
	assert_int_equal(callbacks_fire(cb, "on_role_change", "primary"), 0);
	wait_idle(cb, 5000);
	assert_string_equal(slurp(), "on_role_change primary demo scope 3\n");
	assert_int_equal(callbacks_fire(cb, "on_nothing", "primary"), PGW_EINVAL);
	callbacks_close(cb, 0);
}

static void
test_fire_does_not_block(void **state)
{
	Callbacks *cb = open_all(script, NULL);
	int64_t t0;

	(void) state;
	/*
	 * The callback sleeps 3 s: returning within 1.5 s proves fire and reap
	 * did not wait for it, with room for a fork on a loaded machine (a 10
	 * ms bound failed in CI while other tests ran, and its leftover
	 * callback then wrote into the next test's file).
	 */
	set_sleep("3");
	t0 = pgw_now_mono_us();
	assert_int_equal(callbacks_fire(cb, "on_start", "replica"), 0);
	assert_true(pgw_now_mono_us() - t0 < 1500000);
	assert_true(callbacks_busy(cb));
	t0 = pgw_now_mono_us();
	callbacks_reap(cb);
	assert_true(pgw_now_mono_us() - t0 < 1500000);
	wait_idle(cb, 10000);
	assert_string_equal(slurp(), "on_start replica demo scope 3\n");
	callbacks_close(cb, 0);
}

static void
test_timeout_kills(void **state)
{
	Callbacks *cb = open_all(script, NULL);
	int64_t t0 = pgw_now_mono_ms();

	(void) state;
	set_sleep("30");
	callbacks_set_timeout(cb, 200);
	assert_int_equal(callbacks_fire(cb, "on_stop", "primary"), 0);
	wait_idle(cb, 5000);
	assert_true(pgw_now_mono_ms() - t0 < 3000);
	assert_string_equal(slurp(), ""); /* killed before it wrote */
	callbacks_close(cb, 0);
}

static void
test_order_and_coalescing(void **state)
{
	Callbacks *cb = open_all(script, NULL);

	(void) state;
	set_sleep("0.3");
	/* on_stop runs; role changes wait, the newest replaces the older */
	assert_int_equal(callbacks_fire(cb, "on_stop", "replica"), 0);
	assert_int_equal(callbacks_fire(cb, "on_role_change", "replica"), 0);
	assert_int_equal(callbacks_fire(cb, "on_start", "replica"), 0);
	assert_int_equal(callbacks_fire(cb, "on_role_change", "primary"), 0);
	wait_idle(cb, 10000);
	assert_string_equal(slurp(), "on_stop replica demo scope 3\n"
	                             "on_start replica demo scope 3\n"
	                             "on_role_change primary demo scope 3\n");
	callbacks_close(cb, 0);
}

static void
test_not_configured(void **state)
{
	Callbacks *cb = open_all(NULL, NULL);
	int code = -1;

	(void) state;
	assert_int_equal(callbacks_fire(cb, "on_start", "replica"), 0);
	assert_false(callbacks_busy(cb));
	assert_int_equal(callbacks_run_pre_promote(cb, 1000, &code, NULL), 0);
	assert_int_equal(code, 0);
	callbacks_close(cb, 0);
}

static void
test_close_waits_then_kills(void **state)
{
	Callbacks *cb = open_all(script, NULL);
	int64_t t0;

	(void) state;
	set_sleep("0.2");
	assert_int_equal(callbacks_fire(cb, "on_stop", "primary"), 0);
	callbacks_close(cb, 5000); /* on_stop at shutdown gets to finish */
	assert_string_equal(slurp(), "on_stop primary demo scope 3\n");
	cb = open_all(script, NULL);
	set_sleep("30");
	assert_int_equal(callbacks_fire(cb, "on_stop", "primary"), 0);
	t0 = pgw_now_mono_ms();
	callbacks_close(cb, 100);
	assert_true(pgw_now_mono_ms() - t0 < 2000);
}

static void
test_pre_promote(void **state)
{
	Callbacks *cb;
	PgwError err = {0};
	int code = -1;

	(void) state;
	cb = open_all(NULL, "/bin/true");
	assert_int_equal(callbacks_run_pre_promote(cb, 1000, &code, &err), 0);
	assert_int_equal(code, 0);
	callbacks_close(cb, 0);
	cb = open_all(NULL, "/bin/false");
	assert_int_equal(callbacks_run_pre_promote(cb, 1000, &code, &err), 0);
	assert_int_equal(code, 1); /* veto */
	callbacks_close(cb, 0);
	cb = open_all(NULL, "sleep 30");
	assert_int_equal(callbacks_run_pre_promote(cb, 200, &code, &err),
	                 PGW_ETIMEDOUT);
	assert_non_null(strstr(err.msg, "pre_promote"));
	callbacks_close(cb, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_arguments, reset),
	    cmocka_unit_test_setup(test_fire_does_not_block, reset),
	    cmocka_unit_test_setup(test_timeout_kills, reset),
	    cmocka_unit_test_setup(test_order_and_coalescing, reset),
	    cmocka_unit_test_setup(test_not_configured, reset),
	    cmocka_unit_test_setup(test_close_waits_then_kills, reset),
	    cmocka_unit_test_setup(test_pre_promote, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
