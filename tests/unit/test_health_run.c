/*
 * test_health_run.c: health/run.c, the runner of PostgreSQL's programs
 * (initdb, pg_basebackup, pg_rewind) inside a multithreaded daemon:
 *  - fork safety: with threads allocating and freeing all the time (as
 *    gRPC's do), hundreds of runs with a user switch and an environment
 *    all finish. The runner's child used to call initgroups() and setenv()
 *    between fork and exec; under AddressSanitizer (GCC 12's libasan does
 *    not lock its allocator around fork) it hung on an allocator lock
 *    another thread held: 2 of 1,500 runs of this test on the old code
 *    (PGW_TEST_FORK_RUNS=1500), and a pg_rewind in CI. The default 300
 *    runs catch it about a third of the time; the deterministic checks
 *    are the ones below.
 *  - the child holds no descriptor of ours above stderr
 *  - the environment: no PGPASSWORD, LC_ALL=C, the caller's additions
 *  - a pending SIGTERM (the daemon blocks it and reads it from a
 *    signalfd) cancels a running program at once: PGW_ECANCELED
 */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/pgwtime.h"
#include "health/health_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_bool churn_stop;

static void *
churn(void *arg)
{
	unsigned seed = (unsigned) (uintptr_t) arg;
	void *batch[512];

	/* batches drain and refill the allocator's shared free lists, whose
	 * locks a fork can catch held */
	while (!atomic_load(&churn_stop))
	{
		for (int k = 0; k < 512; k++)
			batch[k] = malloc(16 + rand_r(&seed) % 2000);
		for (int k = 0; k < 512; k++)
			free(batch[k]);
	}
	return NULL;
}

/* the unprivileged user when we are root (as the daemon runs) */
static void
run_as(RunAs *as)
{
	struct passwd *pw;

	memset(as, 0, sizeof(*as));
	if (geteuid() != 0)
		return;
	pw = getpwnam("nobody");
	if (pw == NULL)
		return;
	as->drop = true;
	as->uid = pw->pw_uid;
	as->gid = pw->pw_gid;
	as->user = "nobody";
	as->home = "/";
}

static void
test_fork_safe_under_threads(void **state)
{
	pthread_t th[3];
	RunAs as;
	const char *argv[] = {"/bin/true", NULL};
	const char *env[] = {"PGPASSFILE=/nonexistent", NULL};
	int failures = 0;
	int runs = getenv("PGW_TEST_FORK_RUNS")
	               ? (int) strtol(getenv("PGW_TEST_FORK_RUNS"), NULL, 10)
	               : 300;
	int64_t t0 = pgw_now_mono_ms();

	(void) state;
	run_as(&as);
	atomic_store(&churn_stop, false);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, churn, (void *) (uintptr_t) (i + 1)),
		    0);
	for (int i = 0; i < runs; i++)
	{
		PgwError err = {0};

		/* a hung child is killed at the bound and counted */
		if (run_program(argv, &as, env, 10000, NULL, &err) != 0)
		{
			print_message("run %d: %s\n", i, err.msg);
			failures++;
			if (failures > 2)
				break;
		}
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	print_message("%d runs under allocating threads: %d failed, %lld ms\n",
	              runs, failures, (long long) (pgw_now_mono_ms() - t0));
	assert_int_equal(failures, 0);
}

static void
test_child_fds_and_env(void **state)
{
	RunAs as;
	const char *ls[] = {"/bin/ls", "/proc/self/fd", NULL};
	const char *envp[] = {"/usr/bin/env", NULL};
	const char *extra[] = {"PGPASSFILE=/tmp/pgw-test.pgpass", "LC_ALL=C", NULL};
	StrBuf out = {0};
	PgwError err = {0};
	int fd = open("/dev/null", O_RDONLY); /* not CLOEXEC */
	int leak = dup2(fd, 40);
	char want[16];

	(void) state;
	assert_int_equal(leak, 40);
	run_as(&as);
	assert_int_equal(run_program(ls, &as, NULL, 10000, &out, &err), 0);
	/* ls itself opens one descriptor for the directory it lists */
	snprintf(want, sizeof(want), "\n%d\n", leak);
	assert_null(strstr(out.data, want));
	assert_non_null(strstr(out.data, "0\n1\n2\n"));
	free(out.data);
	close(leak);
	close(fd);

	setenv("PGPASSWORD", "secret", 1);
	setenv("PGPASSFILE", "/elsewhere", 1);
	memset(&out, 0, sizeof(out));
	assert_int_equal(run_program(envp, &as, extra, 10000, &out, &err), 0);
	assert_null(strstr(out.data, "PGPASSWORD"));
	assert_null(strstr(out.data, "/elsewhere"));
	assert_non_null(strstr(out.data, "PGPASSFILE=/tmp/pgw-test.pgpass\n"));
	assert_non_null(strstr(out.data, "LC_ALL=C\n"));
	if (as.drop)
		assert_non_null(strstr(out.data, "USER=nobody\n"));
	free(out.data);
	unsetenv("PGPASSWORD");
	unsetenv("PGPASSFILE");
}

static void
test_pending_sigterm_cancels(void **state)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	sigset_t set;
	sigset_t old;
	PgwError err = {0};
	int64_t t0;
	int rc;
	struct timespec zero = {0, 0};

	(void) state;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	assert_int_equal(raise(SIGTERM), 0);
	t0 = pgw_now_mono_ms();
	rc = run_program(argv, NULL, NULL, 60000, NULL, &err);
	assert_int_equal(rc, PGW_ECANCELED);
	assert_non_null(strstr(err.msg, "canceled"));
	/* canceled, not waited out: sleep 30, timeout 60 s */
	assert_true(pgw_now_mono_ms() - t0 < 20000);
	/* the signal is still pending for the daemon's signalfd to read */
	assert_int_equal(sigtimedwait(&set, NULL, &zero), SIGTERM);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static void
test_missing_program(void **state)
{
	const char *argv[] = {"/nonexistent/pg_rewind", NULL};
	PgwError err = {0};

	(void) state;
	assert_int_equal(run_program(argv, NULL, NULL, 1000, NULL, &err), PGW_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/pg_rewind"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fork_safe_under_threads),
	    cmocka_unit_test(test_child_fds_and_env),
	    cmocka_unit_test(test_pending_sigterm_cancels),
	    cmocka_unit_test(test_missing_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
