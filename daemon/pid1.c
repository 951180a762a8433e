/*
 * pid1.c: pgwarden as the main process of the database container
 * (k8s_views.h, pid1_supervise). PID 1 of a PID namespace has two duties a
 * normal daemon does not: the kernel re-parents every orphan to it, so it
 * must reap them or they stay zombies (a postmaster's backends outlive a
 * killed postmaster for a moment; an archive_command's children; a
 * callback's background jobs), and signals without a handler do not reach
 * it, so SIGTERM from the kubelet is ignored unless handled. The daemon
 * cannot reap blindly (its waits for PostgreSQL and for programs it runs
 * would lose their exit statuses), so PID 1 is a small supervisor in the
 * same binary, as tini or dumb-init would be: it forks the daemon, forwards
 * signals to it, reaps everything, and when the daemon exits it kills what
 * is left and exits with the daemon's status, so the kubelet sees the
 * container end when the daemon does.
 */
#include "daemon/k8s_views.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT,  SIGHUP,
                                SIGQUIT, SIGUSR1, SIGUSR2};

static const char *
env_value(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* reap_all: collect every child that ended; true when the daemon did */
static bool
reap_all(pid_t daemon_pid, int *daemon_status, unsigned long *reaped)
{
	bool daemon_done = false;
	int st;
	pid_t w;

	while ((w = waitpid(-1, &st, WNOHANG)) > 0)
	{
		if (w == daemon_pid)
		{
			*daemon_status = st;
			daemon_done = true;
		}
		else
			(*reaped)++;
	}
	return daemon_done;
}

/*
 * kill_children: as a subreaper (not PID 1) we may only touch our own
 * children: signal every process whose parent is us. As PID 1, kill(-1)
 * reaches the whole namespace and nothing else.
 */
static int
kill_children(int sig, bool is_init)
{
	DIR *d;
	struct dirent *de;
	int n = 0;
	pid_t me = getpid();

	if (is_init)
		return kill(-1, sig) == 0 ? 1 : 0;
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
	{
		char path[64];
		char buf[512];
		FILE *f;
		char *rp;
		long ppid = -1;
		long pid = strtol(de->d_name, &rp, 10);

		if (*rp != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (rp = strrchr(buf, ')')) != NULL)
			(void) sscanf(rp + 2, "%*c %ld", &ppid);
		fclose(f);
		if (ppid == (long) me && kill((pid_t) pid, sig) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int
pid1_supervise(char *const *envp, int *exit_code)
{
	const char *want = env_value(envp, "PGWARDEN_INIT");
	bool is_init = getpid() == 1;
	sigset_t set;
	sigset_t old;
	pid_t child;
	int status = 0;
	unsigned long reaped = 0;

	if (want != NULL && strcmp(want, "0") == 0)
		return PID1_RUN_DAEMON;
	if (!is_init && (want == NULL || strcmp(want, "1") != 0))
		return PID1_RUN_DAEMON;
	/* a subreaper receives the orphans of its descendants, as PID 1 does */
	if (!is_init && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		return PID1_FAILED;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	child = fork();
	if (child < 0)
	{
		sigprocmask(SIG_SETMASK, &old, NULL);
		return PID1_FAILED;
	}
	if (child == 0)
	{
		sigprocmask(SIG_SETMASK, &old, NULL);
		return PID1_RUN_DAEMON;
	}
	log_info("pid1.started", "daemon_pid=%d init=%s", (int) child,
	         is_init ? "pid1" : "subreaper");
	for (;;)
	{
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		if (sig == SIGCHLD)
		{
			if (reap_all(child, &status, &reaped))
				break;
			continue;
		}
		log_info("pid1.signal", "signal=%d action=forward daemon_pid=%d", sig,
		         (int) child);
		(void) kill(child, sig);
	}
	/* the daemon is gone: nothing of the container may outlive it */
	{
		int64_t deadline = pgw_now_mono_ms() + 2000;
		int left = kill_children(SIGTERM, is_init);

		while (left > 0 && pgw_now_mono_ms() < deadline)
		{
			(void) reap_all(-1, &status, &reaped);
			pgw_sleep_ms(20);
			left = is_init ? (kill(-1, 0) == 0) : kill_children(0, false);
		}
		if (left > 0)
			(void) kill_children(SIGKILL, is_init);
		pgw_sleep_ms(10);
		(void) reap_all(-1, &status, &reaped);
	}
	log_info("pid1.exit", "daemon_status=%d reaped_orphans=%lu",
	         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	         reaped);
	*exit_code =
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return PID1_EXIT;
}
