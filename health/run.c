/*
 * run.c: run PostgreSQL programs (initdb, pg_basebackup, pg_rewind,
 * pg_controldata) from argument vectors, never a shell, as the unprivileged
 * user; log the exact command first, keep the output and show its tail
 * only on failure (the pg_autoctl pgctl.c habit). Also pid helpers.
 */
#include "health/health_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_KEEP 8192

void
text_tail(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s);
	size_t want = len > 1 ? len - 1 : 0;
	const char *start = s;
	size_t j = 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	if (n > want)
	{
		start = s + n - want;
		const char *nl = memchr(start, '\n', (size_t) (s + n - start));

		if (nl != NULL && nl + 1 < s + n)
			start = nl + 1;
	}
	for (const char *p = start; p < s + n && j + 3 < len; p++)
	{
		if (*p == '\n')
		{
			buf[j++] = ' ';
			buf[j++] = '|';
			buf[j++] = ' ';
		}
		else
			buf[j++] = *p;
	}
	if (len > 0)
		buf[j] = '\0';
}

static void
keep_output(StrBuf *b, const char *data, size_t n)
{
	sbuf_putn(b, data, n);
	if (b->len > 2 * OUTPUT_KEEP)
	{
		memmove(b->data, b->data + b->len - OUTPUT_KEEP, OUTPUT_KEEP);
		b->len = OUTPUT_KEEP;
		b->data[b->len] = '\0';
	}
}

int
run_program(const char *const *argv, const RunAs *as, const char *const *env,
            int timeout_ms, StrBuf *out, PgwError *err)
{
	StrBuf cmd;
	StrBuf output;
	int pipefd[2];
	pid_t pid;
	int status = 0;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	bool timed_out = false;
	int rc = 0;
	char tail[300];

	sbuf_init(&cmd);
	for (int i = 0; argv[i] != NULL; i++)
	{
		char q[1024];

		if (i > 0)
			sbuf_putc(&cmd, ' ');
		sbuf_puts(&cmd, log_quote(argv[i], q, sizeof(q)));
	}
	log_info("pg.exec", "cmd=%s", cmd.data);

	if (pipe2(pipefd, O_CLOEXEC) != 0)
	{
		free(cmd.data);
		return pgw_error_set(err, PGW_EIO, "could not create pipe: %s",
		                     strerror(errno));
	}
	pid = fork();
	if (pid < 0)
	{
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		free(cmd.data);
		return pgw_error_set(err, PGW_EIO, "could not fork: %s", strerror(e));
	}
	if (pid == 0)
	{
		int devnull = open("/dev/null", O_RDONLY);
		sigset_t none;

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (as != NULL && as->drop)
		{
			if (initgroups(as->user, as->gid) != 0 || setgid(as->gid) != 0 ||
			    setuid(as->uid) != 0)
			{
				fprintf(stderr, "could not switch to user \"%s\": %s\n",
				        as->user, strerror(errno));
				_exit(127);
			}
		}
		if (as != NULL && as->home != NULL)
			setenv("HOME", as->home, 1);
		if (as != NULL && as->user != NULL)
		{
			setenv("USER", as->user, 1);
			setenv("LOGNAME", as->user, 1);
		}
		unsetenv("PGPASSWORD");
		setenv("LC_ALL", "C", 1);
		for (int i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *) env[i]);
		if (as != NULL && as->drop && chdir("/") != 0)
			_exit(127);
		execv(argv[0], (char *const *) argv);
		fprintf(stderr, "could not execute \"%s\": %s\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	sbuf_init(&output);
	for (;;)
	{
		char buf[4096];
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		int64_t left = deadline - pgw_now_mono_ms();
		ssize_t r;
		int prc;

		if (left <= 0)
		{
			timed_out = true;
			break;
		}
		prc = poll(&pfd, 1, (int) (left > 1000 ? 1000 : left));
		if (prc < 0 && errno == EINTR)
			continue;
		if (prc == 0)
			continue;
		r = read(pipefd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		keep_output(&output, buf, (size_t) r);
	}
	close(pipefd[0]);
	if (timed_out)
	{
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	text_tail(output.data, tail, sizeof(tail));
	if (timed_out)
		rc = pgw_error_set(err, PGW_ETIMEDOUT,
		                   "command \"%s\" timed out after %d ms: %s", argv[0],
		                   timeout_ms, tail);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		if (WIFEXITED(status))
			rc = pgw_error_set(err, PGW_EIO,
			                   "command \"%s\" failed with exit code %d: %s",
			                   argv[0], WEXITSTATUS(status), tail);
		else
			rc = pgw_error_set(err, PGW_EIO,
			                   "command \"%s\" was terminated by signal %d: %s",
			                   argv[0], WTERMSIG(status), tail);
	}
	if (out != NULL)
		*out = output;
	else
		free(output.data);
	free(cmd.data);
	return rc;
}

bool
pid_alive(pid_t pid)
{
	char path[64];
	char buf[512];
	FILE *f;
	char *paren;
	bool alive = true;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return errno != ENOENT;
	if (fgets(buf, sizeof(buf), f) != NULL)
	{
		paren = strrchr(buf, ')');
		if (paren != NULL && paren[1] == ' ' &&
		    (paren[2] == 'Z' || paren[2] == 'X'))
			alive = false;
	}
	fclose(f);
	return alive;
}

bool
pid_is_postgres(pid_t pid)
{
	char path[64];
	char buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return strncmp(buf, "postgres", 8) == 0 ||
	       strncmp(buf, "postmaster", 10) == 0;
}

bool
read_postmaster_pid(const char *data_dir, pid_t *pid, char *state,
                    size_t state_len)
{
	char path[4096];
	char line[1024];
	FILE *f;
	int lineno = 0;
	int64_t v;
	bool ok = false;

	if (state_len > 0)
		state[0] = '\0';
	snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		size_t n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
			line[--n] = '\0';
		lineno++;
		if (lineno == 1)
		{
			if (pgw_parse_int64(line, 1, INT32_MAX, &v) != 0)
				break;
			*pid = (pid_t) v;
			ok = true;
		}
		else if (lineno == 8 && state_len > 0)
			pgw_strlcpy(state, line, state_len);
	}
	fclose(f);
	return ok;
}
