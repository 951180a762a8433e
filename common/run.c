/*
 * run.c: run a configured command with arguments, bounded in time; see
 * run.h. Children are started with posix_spawn (vfork semantics: fast even
 * from a large, multi-threaded daemon) in their own process group, so a
 * timeout can end the whole tree the script started.
 */
#include <stdio.h>
#include "common/run.h"

#include "common/pgwtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGS_MAX 16

extern char **environ;

int
pgw_run_spawn(const char *cmd, const char *name, const char *const *args,
			  pid_t *pid_out, PgwError *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t	none;
	sigset_t	all;
	char		script[4096];
	const char *argv[ARGS_MAX + 5];
	int			n = 0;
	int			rc;
	pid_t		pid;

	*pid_out = 0;
	if (cmd == NULL || cmd[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL, "empty command");
	if ((size_t) snprintf(script, sizeof(script), "%s \"$@\"", cmd) >=
		sizeof(script))
		return pgw_error_set(err, PGW_EINVAL,
							 "command is longer than %zu bytes",
							 sizeof(script) - 8);
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = name ? name : "pgwarden";
	for (int i = 0; args != NULL && args[i] != NULL; i++)
	{
		if (i >= ARGS_MAX)
			return pgw_error_set(err, PGW_EINVAL, "more than %d arguments",
								 ARGS_MAX);
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
							 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* no descriptor of the daemon (etcd sockets, the REST listener,
	 * eventfds) leaks into a script */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, (char *const *) argv,
					 environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return pgw_error_set(err, PGW_EIO, "could not start \"%s\": %s", cmd,
							 strerror(rc));
	*pid_out = pid;
	return 0;
}

int
pgw_run_poll(pid_t pid, int *wait_status)
{
	int			st = 0;
	pid_t		r;

	do
		r = waitpid(pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r != pid)
		return PGW_EIO;
	if (wait_status)
		*wait_status = st;
	return 1;
}

void
pgw_run_signal(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	kill(-pid, sig);
	kill(pid, sig);
}

int
pgw_run_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return 255;
}

/* wait for pid until deadline; true when it was reaped */
static bool
wait_until(pid_t pid, int64_t deadline_mono_ms, int *st)
{
	int64_t		nap = 1;

	for (;;)
	{
		int			r = pgw_run_poll(pid, st);
		int64_t		left;

		if (r != 0)
			return r == 1;
		left = deadline_mono_ms - pgw_now_mono_ms();
		if (left <= 0)
			return false;
		pgw_sleep_ms(nap < left ? nap : left);
		if (nap < 20)
			nap *= 2;
	}
}

int
pgw_run_command(const char *cmd, const char *const *args, int timeout_ms,
				int *exit_status, PgwError *err)
{
	pid_t		pid;
	int			st = 0;
	int			rc;

	if (exit_status)
		*exit_status = -1;
	if (timeout_ms <= 0)
		timeout_ms = 30000;
	rc = pgw_run_spawn(cmd, "pgwarden", args, &pid, err);
	if (rc != 0)
		return rc;
	if (wait_until(pid, pgw_now_mono_ms() + timeout_ms, &st))
	{
		if (exit_status)
			*exit_status = pgw_run_exit_code(st);
		return 0;
	}
	pgw_run_signal(pid, SIGTERM);
	if (!wait_until(pid, pgw_now_mono_ms() + PGW_RUN_KILL_GRACE_MS, &st))
	{
		pgw_run_signal(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (exit_status)
		*exit_status = pgw_run_exit_code(st);
	return pgw_error_set(err, PGW_ETIMEDOUT,
						 "command \"%s\" did not finish within %d ms: killed",
						 cmd, timeout_ms);
}
