/*
 * bk_job.c: pgbackrest (and PostgreSQL's programs) as child processes of
 * the daemon or of pgwardenctl: an argument vector, never a shell; the
 * PostgreSQL OS user, never root; a clean environment (the daemon's holds
 * etcd and REST passwords); its own process group, killed as a whole; a
 * parent-death signal, so a backup never outlives the lock holder that
 * started it. The daemon polls a job from its turn (bk_job_poll), so a
 * backup of hours never holds the HA loop; pgwardenctl waits (bk_job_run).
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/run.h"
#include "common/xmem.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
append(BkJob *j, const char *data, size_t n)
{
	if (j->len + n > BK_OUTPUT_MAX)
	{
		/* keep the head (info JSON is read from the start) */
		j->truncated = true;
		if (j->len >= BK_OUTPUT_MAX)
			return;
		n = BK_OUTPUT_MAX - j->len;
	}
	if (j->len + n + 1 > j->cap)
	{
		j->cap = (j->len + n + 1) * 2;
		if (j->cap > BK_OUTPUT_MAX + 1)
			j->cap = BK_OUTPUT_MAX + 1;
		j->out = pgw_xrealloc(j->out, j->cap);
	}
	memcpy(j->out + j->len, data, n);
	j->len += n;
	j->out[j->len] = '\0';
}

/* env_entry: "NAME=value" into a fixed slot */
static void
env_entry(char *slot, size_t len, const char *name, const char *value)
{
	snprintf(slot, len, "%s=%s", name, value);
}

int
bk_job_start(BkJob *j, const BkExec *ex, const char *const *argv,
             int64_t timeout_ms, const char *what, PgwError *err)
{
	char env_buf[6][CONFIG_BACKUP_PATH_MAX + 32];
	char *envp[7];
	char cmd[2048];
	size_t used = 0;
	int pipefd[2];
	pid_t parent = getpid();
	pid_t pid;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	snprintf(j->what, sizeof(j->what), "%s", what);
	for (int i = 0; argv[i] != NULL && used + 1 < sizeof(cmd); i++)
	{
		char q[1024];

		used +=
		    (size_t) snprintf(cmd + used, sizeof(cmd) - used, "%s%s",
		                      i ? " " : "", log_quote(argv[i], q, sizeof(q)));
		if (used >= sizeof(cmd))
			used = sizeof(cmd) - 1;
	}
	log_info("backup.exec", "what=%s cmd=%s", what, cmd);
	if (access(argv[0], X_OK) != 0)
		return pgw_error_set(err, PGW_EIO, "could not execute \"%s\": %s",
		                     argv[0], strerror(errno));
	/* everything the child needs is built before fork: after it, only
	 * async-signal-safe calls (other threads may hold malloc's lock) */
	env_entry(env_buf[0], sizeof(env_buf[0]), "PATH", "/usr/bin:/bin");
	env_entry(env_buf[1], sizeof(env_buf[1]), "HOME",
	          ex->home[0] ? ex->home : "/");
	env_entry(env_buf[2], sizeof(env_buf[2]), "USER",
	          ex->user[0] ? ex->user : "root");
	env_entry(env_buf[3], sizeof(env_buf[3]), "LOGNAME",
	          ex->user[0] ? ex->user : "root");
	env_entry(env_buf[4], sizeof(env_buf[4]), "LC_ALL", "C");
	env_entry(env_buf[5], sizeof(env_buf[5]), "PGPASSFILE", ex->pgpass);
	for (int i = 0; i < 6; i++)
		envp[i] = env_buf[i];
	envp[6] = NULL;
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return pgw_error_set(err, PGW_EIO, "could not create a pipe: %s",
		                     strerror(errno));
	pid = fork();
	if (pid < 0)
	{
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return pgw_error_set(err, PGW_EIO, "could not fork: %s", strerror(e));
	}
	if (pid == 0)
	{
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		pgw_child_reset();
		if (ex->drop && (setgroups((size_t) ex->n_groups, ex->groups) != 0 ||
		                 setgid(ex->gid) != 0 || setuid(ex->uid) != 0))
			_exit(126);
		/* after the credential change, which clears it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(125);
		if (chdir("/") != 0)
			_exit(126);
		execve(argv[0], (char *const *) argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	(void) setpgid(pid, pid);
	(void) fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	j->pid = pid;
	j->fd = pipefd[0];
	j->started_mono_ms = pgw_now_mono_ms();
	j->deadline_mono_ms = timeout_ms > 0 ? j->started_mono_ms + timeout_ms : 0;
	return 0;
}

bool
bk_job_running(const BkJob *j)
{
	return j->pid > 0 && !j->done;
}

static void
drain(BkJob *j)
{
	char buf[65536];

	while (j->fd >= 0)
	{
		ssize_t r = read(j->fd, buf, sizeof(buf));

		if (r > 0)
		{
			append(j, buf, (size_t) r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(j->fd); /* EOF or error */
		j->fd = -1;
	}
}

static void
reaped(BkJob *j, int status)
{
	j->done = true;
	if (WIFEXITED(status))
		j->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		j->exit_code = 128 + WTERMSIG(status);
	else
		j->exit_code = 255;
	drain(j);
	if (j->fd >= 0)
	{
		close(j->fd);
		j->fd = -1;
	}
}

bool
bk_job_poll(BkJob *j)
{
	int status;
	pid_t w;

	if (j->pid <= 0)
		return true;
	if (j->done)
		return true;
	drain(j);
	w = waitpid(j->pid, &status, WNOHANG);
	if (w == j->pid)
	{
		reaped(j, status);
		return true;
	}
	if (w < 0 && errno == ECHILD)
	{
		j->done = true;
		j->exit_code = 255;
		return true;
	}
	if (j->deadline_mono_ms != 0 && pgw_now_mono_ms() > j->deadline_mono_ms)
	{
		j->timed_out = true;
		log_warn("backup.exec.timeout", "what=%s pid=%d action=stop", j->what,
		         (int) j->pid);
		bk_job_stop(j, 5000);
		return true;
	}
	return false;
}

void
bk_job_stop(BkJob *j, int grace_ms)
{
	int64_t until = pgw_now_mono_ms() + grace_ms;
	int status;

	if (j->pid <= 0 || j->done)
		return;
	/* pgbackrest stops cleanly on SIGTERM (the next backup resumes or
	 * cleans the partial copy) */
	kill(-j->pid, SIGTERM);
	kill(j->pid, SIGTERM);
	while (pgw_now_mono_ms() < until)
	{
		pid_t w = waitpid(j->pid, &status, WNOHANG);

		drain(j);
		if (w == j->pid)
		{
			reaped(j, status);
			return;
		}
		usleep(20000);
	}
	kill(-j->pid, SIGKILL);
	kill(j->pid, SIGKILL);
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	reaped(j, status);
}

void
bk_job_clear(BkJob *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->out);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

void
bk_job_tail(const BkJob *j, char *buf, size_t len)
{
	const char *s = j->out ? j->out : "";
	size_t n = j->len;
	size_t start;
	size_t k = 0;

	if (len == 0)
		return;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	start = n > len - 1 ? n - (len - 1) : 0;
	for (size_t i = start; i < n && k + 1 < len; i++)
		buf[k++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '"')
		               ? (s[i] == '"' ? '\'' : ' ')
		               : s[i];
	buf[k] = '\0';
}

int
bk_job_run(BkJob *j, const BkExec *ex, const char *const *argv,
           int64_t timeout_ms, const char *what, PgwError *err)
{
	char tail[300];

	if (bk_job_start(j, ex, argv, timeout_ms, what, err) != 0)
		return PGW_EIO;
	while (!bk_job_poll(j))
	{
		struct pollfd pfd = {.fd = j->fd, .events = POLLIN};

		if (j->fd >= 0)
			(void) poll(&pfd, 1, 100);
		else
			usleep(20000);
	}
	bk_job_reason(j, tail, sizeof(tail));
	if (j->timed_out)
		return pgw_error_set(err, PGW_ETIMEDOUT,
		                     "%s timed out after %lld ms: %s", what,
		                     (long long) timeout_ms, tail);
	if (j->exit_code != 0)
		return pgw_error_set(err, PGW_EIO, "%s failed with exit code %d: %s",
		                     what, j->exit_code, tail);
	return 0;
}

void
bk_job_reason(const BkJob *j, char *buf, size_t len)
{
	const char *s = j->out ? strstr(j->out, "ERROR: [") : NULL;
	size_t k = 0;

	if (s == NULL)
	{
		bk_job_tail(j, buf, len);
		return;
	}
	/* pgBackRest's own error and its detail lines, up to the next log line */
	for (; *s && k + 1 < len; s++)
	{
		if (*s == '\n' && (strncmp(s + 1, "20", 2) == 0 || s[1] == '\0'))
			break;
		if (*s == '\n' || *s == '\r')
		{
			if (k > 0 && buf[k - 1] != ' ')
				buf[k++] = ' ';
			while (s[1] == ' ')
				s++;
			continue;
		}
		buf[k++] = *s == '"' ? '\'' : *s;
	}
	buf[k] = '\0';
}
