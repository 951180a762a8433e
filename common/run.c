/*
 * run.c: run a configured command with arguments, bounded in time; see
 * run.h. The command is split into words before fork (wordexp, no command
 * substitution), the child drops to the PostgreSQL OS user and execs it
 * directly, in its own process group, so a timeout can end the whole tree
 * the script started. Between fork and exec only async-signal-safe calls:
 * the daemon runs gRPC and HTTP threads.
 */
#include "common/run.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#define ARGS_MAX   16
#define GROUPS_MAX 64

extern char **environ;

/* who commands run as: set once at start (pgw_run_set_user) */
static struct
{
	bool drop;
	uid_t uid;
	gid_t gid;
	gid_t groups[GROUPS_MAX];
	int ngroups;
	char home[1024];
	char user[256];
} run_user;

int
pgw_run_set_user(const char *user, PgwError *err)
{
	struct passwd *pw;
	int n = GROUPS_MAX;

	memset(&run_user, 0, sizeof(run_user));
	if (user == NULL || user[0] == '\0')
		return 0;
	pw = getpwnam(user);
	if (pw == NULL)
		return pgw_error_set(err, PGW_EINVAL, "OS user \"%s\" does not exist",
		                     user);
	if (pw->pw_uid == 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "refusing to run commands as root user \"%s\"",
		                     user);
	pgw_strlcpy(run_user.user, pw->pw_name, sizeof(run_user.user));
	pgw_strlcpy(run_user.home, pw->pw_dir, sizeof(run_user.home));
	run_user.uid = pw->pw_uid;
	run_user.gid = pw->pw_gid;
	run_user.drop = geteuid() != pw->pw_uid;
	if (run_user.drop && geteuid() != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "cannot run commands as OS user \"%s\" without root", user);
	if (getgrouplist(run_user.user, run_user.gid, run_user.groups, &n) < 0)
		n = 0;
	run_user.ngroups = n;
	return 0;
}

/* allowed: a variable of ours a child may see (security review F6) */
static bool
allowed(const char *entry)
{
	static const char *const names[] = {
	    "PATH=", "LANG=", "LANGUAGE=", "TZ=", "TMPDIR="};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(entry, names[i], strlen(names[i])) == 0)
			return true;
	return strncmp(entry, "LC_", 3) == 0 && strchr(entry, '=') != NULL;
}

static bool
same_name(const char *a, const char *b)
{
	const char *eq = strchr(b, '=');
	size_t n = eq ? (size_t) (eq - b) : strlen(b);

	return strncmp(a, b, n) == 0 && a[n] == '=';
}

char **
pgw_env_child(const char *const *extra)
{
	int n = 0;
	int n_extra = 0;
	int j = 0;
	char **envp;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[n_extra] != NULL)
		n_extra++;
	envp = pgw_xcalloc((size_t) (n + n_extra + 1), sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		bool skip = !allowed(environ[i]);

		for (int k = 0; k < n_extra && !skip; k++)
			skip = same_name(environ[i], extra[k]);
		if (!skip)
			envp[j++] = pgw_xstrdup(environ[i]);
	}
	for (int k = 0; k < n_extra; k++)
		envp[j++] = pgw_xstrdup(extra[k]);
	envp[j] = NULL;
	return envp;
}

void
pgw_env_free(char **envp)
{
	for (int i = 0; envp != NULL && envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
}

/*
 * pgw_child_reset: what a forked child must shed before exec. Every descriptor
 * above stderr goes: not every library marks its descriptors FD_CLOEXEC,
 * and pg_rewind, which outlives a killed daemon in its own process group,
 * was seen holding four of the daemon's. Signal dispositions and the mask
 * go back to the defaults the program expects. Async-signal-safe only.
 */
void
pgw_child_reset(void)
{
	sigset_t none;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0) != 0)
#endif
	{
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
	{
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	}
}

/* resolve: the program of word0 (a PATH search when it has no '/'),
 * before fork: execvp is not async-signal-safe */
static void
resolve(const char *word0, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	pgw_strlcpy(buf, word0, len);
	if (strchr(word0, '/') != NULL)
		return;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path)
	{
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t) (colon - path) : strlen(path);
		char cand[4096];

		if (dl > 0 &&
		    (size_t) snprintf(cand, sizeof(cand), "%.*s/%s", (int) dl, path,
		                      word0) < sizeof(cand) &&
		    access(cand, X_OK) == 0)
		{
			pgw_strlcpy(buf, cand, len);
			return;
		}
		path += dl + (colon ? 1 : 0);
	}
}

static void
child_fail(int code)
{
	_exit(code);
}

int
pgw_run_spawn(const char *cmd, const char *const *args, pid_t *pid_out,
              PgwError *err)
{
	wordexp_t we;
	const char *argv[ARGS_MAX + 64];
	char prog[4096];
	char henv[1100];
	char uenv[300];
	char lenv[300];
	const char *extra[4] = {NULL};
	char **envp;
	int n = 0;
	int wrc;
	pid_t pid;

	*pid_out = 0;
	if (cmd == NULL || cmd[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL, "empty command");
	memset(&we, 0, sizeof(we));
	wrc = wordexp(cmd, &we, WRDE_NOCMD);
	if (wrc != 0 || we.we_wordc == 0)
	{
		if (wrc == 0)
			wordfree(&we);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "command \"%s\" does not split into words (%s): it runs without a shell, as Patroni's",
		    cmd,
		    wrc == WRDE_BADCHAR  ? "a shell operator such as | ; & < > ( ) { }"
		    : wrc == WRDE_CMDSUB ? "command substitution"
		    : wrc == WRDE_SYNTAX ? "unbalanced quotes"
		                         : "empty");
	}
	if (we.we_wordc > 64)
	{
		wordfree(&we);
		return pgw_error_set(err, PGW_EINVAL,
		                     "command \"%s\" has more than 64 words", cmd);
	}
	for (size_t i = 0; i < we.we_wordc; i++)
		argv[n++] = we.we_wordv[i];
	for (int i = 0; args != NULL && args[i] != NULL; i++)
	{
		if (i >= ARGS_MAX)
		{
			wordfree(&we);
			return pgw_error_set(err, PGW_EINVAL, "more than %d arguments",
			                     ARGS_MAX);
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	resolve(argv[0], prog, sizeof(prog));
	if (run_user.user[0] != '\0')
	{
		snprintf(henv, sizeof(henv), "HOME=%s", run_user.home);
		snprintf(uenv, sizeof(uenv), "USER=%s", run_user.user);
		snprintf(lenv, sizeof(lenv), "LOGNAME=%s", run_user.user);
		extra[0] = henv;
		extra[1] = uenv;
		extra[2] = lenv;
	}
	envp = pgw_env_child(extra);
	pid = fork();
	if (pid < 0)
	{
		int e = errno;

		pgw_env_free(envp);
		wordfree(&we);
		return pgw_error_set(err, PGW_EIO, "could not start \"%s\": %s", cmd,
		                     strerror(e));
	}
	if (pid == 0)
	{
		int devnull;

		setpgid(0, 0);
		devnull = open("/dev/null", O_RDONLY);
		if (devnull > 0)
		{
			dup2(devnull, 0);
			close(devnull);
		}
		/* no descriptor of the daemon (etcd sockets, the REST listener,
		 * eventfds) leaks into a script */
		pgw_child_reset();
		if (run_user.drop &&
		    (setgroups((size_t) run_user.ngroups, run_user.groups) != 0 ||
		     setgid(run_user.gid) != 0 || setuid(run_user.uid) != 0))
			child_fail(126);
		if (chdir("/") != 0)
			child_fail(126);
		execve(prog, (char *const *) argv, envp);
		child_fail(127);
	}
	/* the child does it too: whichever runs first, the group exists */
	(void) setpgid(pid, pid);
	pgw_env_free(envp);
	wordfree(&we);
	*pid_out = pid;
	return 0;
}

int
pgw_run_poll(pid_t pid, int *wait_status)
{
	int st = 0;
	pid_t r;

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
	int64_t nap = 1;

	for (;;)
	{
		int r = pgw_run_poll(pid, st);
		int64_t left;

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
	pid_t pid;
	int st = 0;
	int rc;

	if (exit_status)
		*exit_status = -1;
	if (timeout_ms <= 0)
		timeout_ms = 30000;
	rc = pgw_run_spawn(cmd, args, &pid, err);
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
