/*
 * test_common_run.c: the command runner (common/run.c): the command is
 * split into words and run without a shell, arguments reach the script as
 * separate words, the child runs as the configured user with an
 * allowlisted environment (security review F6, F7), exit codes, the
 * timeout kills the whole process group, no descriptor leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pgwtime.h"
#include "common/run.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int
setup(void **state)
{
	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/pgw-run-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* script NAME BODY: an executable /bin/sh script in dir; returns its path */
static const char *
script(const char *name, const char *body)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static void
test_args_are_words(void **state)
{
	char body[256];
	char out[128];
	char cmd[512];
	const char *args[] = {"on_role_change", "a b; touch /tmp/pgw-run-pwned",
	                      "$(id)", NULL};
	int code = -1;

	(void) state;
	snprintf(out, sizeof(out), "%s/args", dir);
	snprintf(body, sizeof(body), "printf '[%%s]' \"$@\" > %s", out);
	/* quoted words in the command itself stay words as well */
	snprintf(cmd, sizeof(cmd), "%s 'first word' second",
	         script("args.sh", body));
	assert_int_equal(pgw_run_command(cmd, args, 5000, &code, NULL), 0);
	assert_int_equal(code, 0);
	assert_string_equal(
	    slurp(out),
	    "[first word][second][on_role_change][a b; touch /tmp/pgw-run-pwned][$(id)]");
	assert_int_equal(access("/tmp/pgw-run-pwned", F_OK), -1);
}

/* no shell: operators and command substitution in the command are refused */
static void
test_no_shell(void **state)
{
	PgwError err = {0};
	char out[128];
	char cmd[256];

	(void) state;
	snprintf(out, sizeof(out), "%s/pwned", dir);
	snprintf(cmd, sizeof(cmd), "/bin/true; touch %s", out);
	assert_int_equal(pgw_run_command(cmd, NULL, 5000, NULL, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "shell operator"));
	snprintf(cmd, sizeof(cmd), "/bin/echo $(touch %s)", out);
	assert_int_equal(pgw_run_command(cmd, NULL, 5000, NULL, &err), PGW_EINVAL);
	assert_int_equal(
	    pgw_run_command("/bin/echo 'unbalanced", NULL, 5000, NULL, &err),
	    PGW_EINVAL);
	assert_int_equal(access(out, F_OK), -1);
}

static void
test_exit_code(void **state)
{
	int code = -1;

	(void) state;
	assert_int_equal(
	    pgw_run_command(script("e3.sh", "exit 3"), NULL, 5000, &code, NULL), 0);
	assert_int_equal(code, 3);
	assert_int_equal(
	    pgw_run_command("/nonexistent/script", NULL, 5000, &code, NULL), 0);
	assert_int_equal(code, 127);
	/* found on PATH */
	assert_int_equal(pgw_run_command("true", NULL, 5000, &code, NULL), 0);
	assert_int_equal(code, 0);
	assert_int_equal(
	    pgw_run_command(script("k9.sh", "kill -9 $$"), NULL, 5000, &code, NULL),
	    0);
	assert_int_equal(code, 128 + 9);
}

static void
test_empty_command(void **state)
{
	PgwError err = {0};

	(void) state;
	assert_int_equal(pgw_run_command("", NULL, 100, NULL, &err), PGW_EINVAL);
	assert_int_equal(pgw_run_command("   ", NULL, 100, NULL, &err), PGW_EINVAL);
	assert_int_equal(pgw_run_command(NULL, NULL, 100, NULL, &err), PGW_EINVAL);
}

/* the child's environment is an allowlist: no secret of ours reaches it */
static void
test_env_allowlist(void **state)
{
	char out[128];
	char body[256];
	int code = -1;
	char *env;

	(void) state;
	setenv("PGWARDEN_ETCD3_PASSWORD", "etcd-secret", 1);
	setenv("PGPASSWORD", "pg-secret", 1);
	setenv("LC_TIME", "C", 1);
	snprintf(out, sizeof(out), "%s/env", dir);
	snprintf(body, sizeof(body), "env > %s", out);
	assert_int_equal(
	    pgw_run_command(script("env.sh", body), NULL, 5000, &code, NULL), 0);
	assert_int_equal(code, 0);
	env = slurp(out);
	assert_null(strstr(env, "etcd-secret"));
	assert_null(strstr(env, "pg-secret"));
	assert_non_null(strstr(env, "PATH="));
	assert_non_null(strstr(env, "LC_TIME=C"));
	unsetenv("PGWARDEN_ETCD3_PASSWORD");
	unsetenv("PGPASSWORD");
}

/* as root, commands run as the configured user, never as root (F7) */
static void
test_runs_as_user(void **state)
{
	struct passwd *pw = getpwnam("pgwarden");
	char out[128];
	char body[256];
	char want[64];
	PgwError err = {0};
	int code = -1;

	(void) state;
	assert_int_equal(pgw_run_set_user("root", &err), PGW_EINVAL);
	assert_int_equal(pgw_run_set_user("no-such-user-pgw", &err), PGW_EINVAL);
	/* the suite runs as root with the unprivileged user "pgwarden" */
	assert_int_equal(geteuid(), 0);
	assert_non_null(pw);
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(out, sizeof(out), "%s/id", dir);
	snprintf(body, sizeof(body), "echo \"$(id -u) $HOME $USER\" > %s", out);
	assert_int_equal(pgw_run_set_user("pgwarden", &err), 0);
	assert_int_equal(
	    pgw_run_command(script("id.sh", body), NULL, 5000, &code, NULL), 0);
	assert_int_equal(pgw_run_set_user(NULL, &err), 0);
	assert_int_equal(code, 0);
	snprintf(want, sizeof(want), "%d %s pgwarden\n", (int) pw->pw_uid,
	         pw->pw_dir);
	assert_string_equal(slurp(out), want);
}

/* gone, or a zombie nobody reaped yet (init may be slow in containers) */
static bool
is_dead(long pid)
{
	char path[64];
	char buf[256];
	FILE *f;
	char *rp;
	bool dead = true;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fgets(buf, sizeof(buf), f) != NULL && (rp = strrchr(buf, ')')) != NULL)
		dead = rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
	fclose(f);
	return dead;
}

static void
test_timeout_kills_group(void **state)
{
	char cmd[256];
	char pidfile[128];
	PgwError err = {0};
	int64_t t0 = pgw_now_mono_ms();
	int code = 0;
	char *p;
	long grandchild;

	(void) state;
	/* the script starts a background sleeper: the group dies with it */
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", pidfile);
	assert_int_equal(
	    pgw_run_command(script("group.sh", cmd), NULL, 300, &code, &err),
	    PGW_ETIMEDOUT);
	assert_true(pgw_now_mono_ms() - t0 < 300 + PGW_RUN_KILL_GRACE_MS + 1000);
	assert_non_null(strstr(err.msg, "did not finish within 300 ms"));
	assert_int_equal(code, 128 + SIGTERM);
	p = slurp(pidfile);
	assert_non_null(p);
	grandchild = strtol(p, NULL, 10);
	assert_true(grandchild > 0);
	/* give the kernel a moment to deliver and let init reap it */
	for (int i = 0; i < 100 && !is_dead(grandchild); i++)
		pgw_sleep_ms(10);
	assert_true(is_dead(grandchild));
}

static void
test_term_ignored_then_kill(void **state)
{
	PgwError err = {0};
	int64_t t0 = pgw_now_mono_ms();
	int code = 0;

	(void) state;
	assert_int_equal(
	    pgw_run_command(
	        script("term.sh", "trap '' TERM; while :; do sleep 0.05; done"),
	        NULL, 200, &code, &err),
	    PGW_ETIMEDOUT);
	assert_int_equal(code, 128 + SIGKILL);
	assert_true(pgw_now_mono_ms() - t0 >= 200 + PGW_RUN_KILL_GRACE_MS - 50);
}

static void
test_no_fd_leak(void **state)
{
	char cmd[256];
	char out[128];
	int fd = open("/dev/null", O_RDONLY); /* not CLOEXEC */
	int code = -1;

	(void) state;
	assert_true(fd > 2);
	snprintf(out, sizeof(out), "%s/fds", dir);
	snprintf(cmd, sizeof(cmd), "ls /proc/self/fd > %s", out);
	assert_int_equal(
	    pgw_run_command(script("fds.sh", cmd), NULL, 5000, &code, NULL), 0);
	close(fd);
	/* ls sees 0, 1, 2, the redirect (1) and its own directory fd (3) */
	assert_int_equal(code, 0);
	{
		char want[16];

		snprintf(want, sizeof(want), "\n%d\n", fd);
		if (fd != 3)
			assert_null(strstr(slurp(out), want));
	}
}

static void
test_spawn_poll(void **state)
{
	pid_t pid;
	int st;
	int64_t t0 = pgw_now_mono_ms();

	(void) state;
	/* the child sleeps 2 s: spawn returning within 1 s did not wait for it
	 * (a 100 ms bound is a fork's time on a loaded machine) */
	assert_int_equal(
	    pgw_run_spawn(script("s2.sh", "sleep 2; exit 5"), NULL, &pid, NULL), 0);
	assert_true(pgw_now_mono_ms() - t0 < 1000);
	assert_int_equal(pgw_run_poll(pid, &st), 0);
	while (pgw_run_poll(pid, &st) == 0)
		pgw_sleep_ms(10);
	assert_int_equal(pgw_run_exit_code(st), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_args_are_words),
	    cmocka_unit_test(test_no_shell),
	    cmocka_unit_test(test_exit_code),
	    cmocka_unit_test(test_empty_command),
	    cmocka_unit_test(test_env_allowlist),
	    cmocka_unit_test(test_runs_as_user),
	    cmocka_unit_test(test_timeout_kills_group),
	    cmocka_unit_test(test_term_ignored_then_kill),
	    cmocka_unit_test(test_no_fd_leak),
	    cmocka_unit_test(test_spawn_poll),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
