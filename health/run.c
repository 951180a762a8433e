/*
 * run.c: run PostgreSQL programs (initdb, pg_basebackup, pg_rewind,
 * pg_controldata) from argument vectors, never a shell, as the unprivileged
 * user; log the exact command first, keep the output and show its tail
 * only on failure (the pg_autoctl pgctl.c habit). Also pid helpers.
 */
#include "health/health_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/run.h"
#include "common/safefs.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_KEEP       8192
#define PROGRESS_EVERY_MS 30000
#define CANCEL_GRACE_MS   5000

/*
 * stop_requested: the daemon blocks SIGTERM and SIGINT and reads them from
 * a signalfd between cycles, so while a long program runs they wait as
 * pending signals. Seeing one lets `systemctl stop` end a rewind or a clone
 * instead of waiting out the command timeout.
 */
static bool
stop_requested(void)
{
	sigset_t pending;

	if (sigpending(&pending) != 0)
		return false;
	return sigismember(&pending, SIGTERM) == 1 ||
	       sigismember(&pending, SIGINT) == 1;
}

/*
 * log_progress: a program running for long says what it and its children
 * are doing (state and kernel wait channel), with its last output line: a
 * rewind that hung in CI left nothing to say where.
 */
static void
log_progress(const char *prog, pid_t pgid, int64_t elapsed_ms,
             const char *output)
{
	StrBuf procs;
	DIR *d;
	struct dirent *de;
	char tail[200];

	sbuf_init(&procs);
	d = opendir("/proc");
	while (d != NULL && (de = readdir(d)) != NULL)
	{
		char path[64];
		char buf[512];
		char wchan[64] = "";
		char *close_paren;
		FILE *f;
		int pid;
		char state;
		int ppid, grp;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = (int) strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		close_paren = strrchr(buf, ')');
		if (close_paren == NULL ||
		    sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &grp) != 3 ||
		    grp != (int) pgid)
			continue;
		*close_paren = '\0';
		snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
		if ((f = fopen(path, "re")) != NULL)
		{
			if (fgets(wchan, sizeof(wchan), f) == NULL)
				wchan[0] = '\0';
			fclose(f);
		}
		sbuf_printf(&procs, "%s%s:%d:%c:%s", procs.len ? "," : "",
		            strchr(buf, '(') ? strchr(buf, '(') + 1 : "?", pid, state,
		            wchan[0] ? wchan : "-");
	}
	if (d != NULL)
		closedir(d);
	text_tail(output, tail, sizeof(tail));
	log_info("pg.exec.running",
	         "cmd=%s pid=%d elapsed_ms=%lld procs=\"%s\" last=\"%s\"", prog,
	         (int) pgid, (long long) elapsed_ms, procs.data ? procs.data : "",
	         tail);
	free(procs.data);
}

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

void
child_fail(const char *msg)
{
	ssize_t rc = write(2, msg, strlen(msg));

	(void) rc;
	_exit(126);
}

char **
child_env_build(const char *home, const char *user, const char *const *extra)
{
	StrBuf b;
	const char **all;
	char **envp;
	int n_extra = 0;
	int j = 0;

	while (extra != NULL && extra[n_extra] != NULL)
		n_extra++;
	all = pgw_xcalloc((size_t) n_extra + 5, sizeof(char *));
	all[j++] = "LC_ALL=C";
	if (home != NULL)
	{
		sbuf_init(&b);
		sbuf_printf(&b, "HOME=%s", home);
		all[j++] = b.data;
	}
	if (user != NULL)
	{
		sbuf_init(&b);
		sbuf_printf(&b, "USER=%s", user);
		all[j++] = b.data;
		sbuf_init(&b);
		sbuf_printf(&b, "LOGNAME=%s", user);
		all[j++] = b.data;
	}
	for (int k = 0; k < n_extra; k++)
		all[j++] = extra[k];
	all[j] = NULL;
	/* an allowlist of ours, never all of it (security review F6) */
	envp = pgw_env_child(all);
	for (int k = 1; k < j - n_extra; k++)
		free((char *) all[k]);
	free(all);
	return envp;
}

void
free_env(char **envp)
{
	pgw_env_free(envp);
}

/* empty_output: callers read out->data even when nothing ran */
static void
empty_output(StrBuf *out)
{
	if (out != NULL)
		sbuf_init(out);
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
	bool canceled = false;
	gid_t groups[64];
	int ngroups = 64;
	char **envp;
	int64_t started = pgw_now_mono_ms();
	int64_t next_progress = started + PROGRESS_EVERY_MS;
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

	if (access(argv[0], X_OK) != 0)
	{
		int e = errno;

		free(cmd.data);
		empty_output(out);
		return pgw_error_set(err, PGW_EIO, "could not execute \"%s\": %s",
		                     argv[0], strerror(e));
	}
	if (as != NULL && as->drop &&
	    getgrouplist(as->user, as->gid, groups, &ngroups) < 0)
		ngroups = 0;
	if (pipe2(pipefd, O_CLOEXEC) != 0)
	{
		free(cmd.data);
		empty_output(out);
		return pgw_error_set(err, PGW_EIO, "could not create pipe: %s",
		                     strerror(errno));
	}
	envp = child_env_build(as != NULL ? as->home : NULL,
	                       as != NULL ? as->user : NULL, env);
	pid = fork();
	if (pid < 0)
	{
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		free_env(envp);
		free(cmd.data);
		empty_output(out);
		return pgw_error_set(err, PGW_EIO, "could not fork: %s", strerror(e));
	}
	if (pid == 0)
	{
		/*
		 * Between fork and exec only async-signal-safe calls: the daemon
		 * runs gRPC and HTTP threads, and a lock one of them held at the
		 * fork stays held in the child forever. initgroups() and setenv()
		 * here once hung an AddressSanitizer build's pg_rewind child in
		 * malloc before exec, for minutes, holding the daemon's REST port.
		 */
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		pgw_child_reset();
		if (as != NULL && as->drop &&
		    (setgroups((size_t) ngroups, groups) != 0 || setgid(as->gid) != 0 ||
		     setuid(as->uid) != 0))
			child_fail(
			    "pgwarden: could not switch to the PostgreSQL OS user\n");
		if (as != NULL && as->drop && chdir("/") != 0)
			child_fail("pgwarden: could not change to /\n");
		execve(argv[0], (char *const *) argv, envp);
		child_fail("pgwarden: could not execute the program\n");
	}
	free_env(envp);
	close(pipefd[1]);
	/* the child does it too: whichever runs first, the group exists */
	(void) setpgid(pid, pid);
	sbuf_init(&output);
	for (;;)
	{
		char buf[4096];
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		int64_t now = pgw_now_mono_ms();
		int64_t left = deadline - now;
		ssize_t r;
		int prc;

		if (left <= 0)
		{
			timed_out = true;
			break;
		}
		if (stop_requested())
		{
			canceled = true;
			break;
		}
		if (now >= next_progress)
		{
			log_progress(argv[0], pid, now - started,
			             output.data ? output.data : "");
			next_progress = now + PROGRESS_EVERY_MS;
		}
		prc = poll(&pfd, 1, (int) (left > 200 ? 200 : left));
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
	if (canceled)
	{
		/* a polite stop first: pg_basebackup and pg_rewind clean up on it */
		int64_t grace = pgw_now_mono_ms() + CANCEL_GRACE_MS;

		log_warn("pg.exec.cancel",
		         "cmd=%s pid=%d reason=\"the daemon is stopping\"", argv[0],
		         (int) pid);
		kill(-pid, SIGTERM);
		while (pgw_now_mono_ms() < grace && waitpid(pid, &status, WNOHANG) == 0)
			usleep(20000);
		kill(-pid, SIGKILL);
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
	if (canceled)
		rc =
		    pgw_error_set(err, PGW_ECANCELED,
		                  "command \"%s\" canceled: the daemon is stopping: %s",
		                  argv[0], tail);
	else if (timed_out)
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
	/* the whole name: "postgres_exporter" is not a postmaster (F9) */
	return strcmp(buf, "postgres\n") == 0 || strcmp(buf, "postmaster\n") == 0;
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
	f = pgw_fopen_read(path); /* a FIFO or link planted there: refused */
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
