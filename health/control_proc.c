/*
 * control_proc.c: the postmaster's life (DESIGN.md, "health/", promise 1),
 * moved unchanged from control.c: started by fork + exec as the daemon's
 * child with a parent-death signal, stopped by signals with a bound,
 * noticed when it dies on its own; its PID file and children; the fence's
 * stop of a postmaster.
 */
#include "health/control_int.h"

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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cwd_is: readlink /proc/pid/cwd equals dir (a resolved path) */
static bool
cwd_is(pid_t pid, const char *dir)
{
	char path[64];
	char buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cwd", (int) pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, dir) == 0;
}

/*
 * control_clear_stale_pidfile: PostgreSQL refuses to start (and pg_rewind's
 * single-user run fails) while the PID in postmaster.pid is alive, whoever
 * it is now. With pid_max at 32768, a killed postmaster's PID was taken by
 * a long-lived process within seconds during a test, and the former
 * primary could not rejoin for minutes. The file is stale when its PID is
 * not a process working in this data directory and no process at all
 * works there: orphaned backends still attached to the old shared memory
 * do, and then the file must stay (it holds the shared memory key
 * PostgreSQL checks before it starts).
 */
void
control_clear_stale_pidfile(PgControl *c)
{
	char dir[4096];
	char pidfile[4200];
	pid_t pid = 0;
	char state[32];
	DIR *d;
	struct dirent *de;

	if (realpath(c->data_dir, dir) == NULL)
		return;
	snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", dir);
	if (access(pidfile, F_OK) != 0)
		return;
	if (read_postmaster_pid(c->data_dir, &pid, state, sizeof(state)) &&
	    pid > 0 && cwd_is(pid, dir))
		return;
	d = opendir("/proc");
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (cwd_is((pid_t) strtol(de->d_name, NULL, 10), dir))
		{
			closedir(d);
			return;
		}
	}
	closedir(d);
	if (pgw_unlink(pidfile, NULL) == 0 && access(pidfile, F_OK) != 0)
		log_warn(
		    "pg.stale-pidfile",
		    "data_dir=%s pid=%d action=removed reason=\"no process works in the data directory\"",
		    c->data_dir, (int) pid);
}

/* the pid of the postmaster that owns data_dir, ours or adopted; 0 if none */
pid_t
control_running_pid(PgControl *c, bool *is_child)
{
	pid_t pid = 0;
	char state[16];

	*is_child = false;
	if (c->child > 0)
	{
		int status;
		pid_t w = waitpid(c->child, &status, WNOHANG);

		if (w == 0)
		{
			*is_child = true;
			return c->child;
		}
		/* exited (reaped now) or not ours any more */
		c->child = 0;
	}
	if (read_postmaster_pid(c->data_dir, &pid, state, sizeof(state)) &&
	    control_pid_trusted(c, pid))
		return pid;
	return 0;
}

void
health_control_status(PgControl *c, HealthPmStatus *st)
{
	pid_t pid = 0;
	char state[16] = "";

	memset(st, 0, sizeof(*st));
	if (c->child > 0)
	{
		int status;
		pid_t w = waitpid(c->child, &status, WNOHANG);

		if (w == c->child || (w < 0 && errno == ECHILD))
		{
			st->exited = true;
			st->exit_status = w == c->child ? status : 0;
			c->child = 0;
		}
		else
		{
			st->running = true;
			st->is_child = true;
			st->pid = c->child;
		}
	}
	if (read_postmaster_pid(c->data_dir, &pid, state, sizeof(state)))
	{
		if (st->running && pid == st->pid)
			pgw_strlcpy(st->pm_state, state, sizeof(st->pm_state));
		else if (!st->running && control_pid_trusted(c, pid))
		{
			st->running = true;
			st->adopted = true;
			st->pid = pid;
			pgw_strlcpy(st->pm_state, state, sizeof(st->pm_state));
		}
	}
}

static void
log_tail(PgControl *c, char *buf, size_t len)
{
	FILE *f = pgw_fopen_read(c->log_path);
	char data[2048];
	size_t n = 0;
	long size;

	buf[0] = '\0';
	if (f == NULL)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0)
	{
		long from =
		    size > (long) sizeof(data) - 1 ? size - (long) sizeof(data) + 1 : 0;

		if (fseek(f, from, SEEK_SET) == 0)
			n = fread(data, 1, sizeof(data) - 1, f);
	}
	fclose(f);
	data[n] = '\0';
	text_tail(data, buf, len);
}

/*
 * The child side of health_control_start, between fork and exec. The daemon
 * is multithreaded, so only async-signal-safe calls here: the environment
 * and the group list are prepared before fork. Order matters (DESIGN
 * promise 1): credentials first, because setuid/setgid clear
 * PR_SET_PDEATHSIG; then the parent-death signal; then the check that the
 * parent did not die in between (the signal would never come); then exec.
 */
static void
start_child(PgControl *c, pid_t parent, int logfd, const char *postgres,
            char *const envp[], const gid_t *groups, int ngroups)
{
	char *argv[] = {(char *) "postgres", (char *) "-D", c->data_dir, NULL};
	int devnull;

	setsid();
	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	pgw_child_reset();
	if (c->as.drop)
	{
		if (setgroups((size_t) ngroups, groups) != 0 ||
		    setgid(c->as.gid) != 0 || setuid(c->as.uid) != 0)
			child_fail(
			    "pgwarden: could not switch to the PostgreSQL OS user\n");
	}
	if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0)
		child_fail("pgwarden: could not set the parent-death signal\n");
	if (getppid() != parent)
		_exit(125); /* the daemon is already gone: do not start */
	if (c->as.drop && chdir(c->data_dir) != 0)
		child_fail("pgwarden: could not enter the data directory\n");
	execve(postgres, argv, envp);
	child_fail("pgwarden: could not execute postgres\n");
}

/* the postmaster's environment, built before fork (see start_child): an
 * allowlist of ours, never the daemon's secrets (security review F6: a
 * database superuser reads the postmaster's /proc/PID/environ) */
static char **
child_env(PgControl *c)
{
	StrBuf v[4];
	const char *extra[5];
	char **envp;
	int n = 0;

	for (int i = 0; i < 4; i++)
		sbuf_init(&v[i]);
	sbuf_printf(&v[0], "PGPASSFILE=%s", c->pgpass);
	extra[n++] = v[0].data;
	if (c->as.user != NULL)
	{
		sbuf_printf(&v[1], "HOME=%s", c->as.home);
		sbuf_printf(&v[2], "USER=%s", c->as.user);
		sbuf_printf(&v[3], "LOGNAME=%s", c->as.user);
		extra[n++] = v[1].data;
		extra[n++] = v[2].data;
		extra[n++] = v[3].data;
	}
	extra[n] = NULL;
	envp = pgw_env_child(extra);
	for (int i = 0; i < 4; i++)
		free(v[i].data);
	return envp;
}

static HealthWait
wait_ready(PgControl *c, int timeout_ms, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;

	for (;;)
	{
		int status;
		pid_t w = waitpid(c->child, &status, WNOHANG);
		pid_t pid = 0;
		char state[16];
		char tail[300];

		if (w == c->child)
		{
			c->child = 0;
			log_tail(c, tail, sizeof(tail));
			pgw_error_set(
			    err, PGW_EIO, "postmaster exited during startup (%s %d): %s",
			    WIFEXITED(status) ? "exit code" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			    tail);
			return HEALTH_WAIT_FAILED;
		}
		if (read_postmaster_pid(c->data_dir, &pid, state, sizeof(state)) &&
		    pid == c->child &&
		    (strcmp(state, "ready") == 0 || strcmp(state, "standby") == 0))
			return HEALTH_WAIT_READY;
		if (pgw_now_mono_ms() >= deadline)
		{
			pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "postmaster did not become ready within %d ms (state \"%s\")",
			    timeout_ms, state);
			return HEALTH_WAIT_PENDING;
		}
		pgw_sleep_ms(20);
	}
}

HealthWait
health_control_start(PgControl *c, int timeout_ms, PgwError *err)
{
	bool is_child;
	pid_t running = control_running_pid(c, &is_child);
	char postgres[4096];
	char q[4096];
	char q2[4096];
	char **envp;
	gid_t groups[64];
	int ngroups = 64;
	int logfd;
	pid_t parent = getpid();
	pid_t pid;
	HealthIncomplete incomplete;

	if (running > 0 && is_child)
		return wait_ready(c, timeout_ms, err);
	if ((incomplete = health_data_dir_incomplete(c->data_dir)) !=
	    HEALTH_INCOMPLETE_NONE)
	{
		const char *what =
		    incomplete == HEALTH_INCOMPLETE_CLONE ? "clone" : "rewind";

		pgw_error_set(
		    err, PGW_ESTATE,
		    "cannot start server: \"%s\" holds an interrupted %s (its %s-incomplete marker is beside it); re-clone needed",
		    c->data_dir, what, what);
		return HEALTH_WAIT_FAILED;
	}
	if (running > 0 && !is_child)
	{
		/* an "adopted" postmaster whose PID another process reused */
		control_clear_stale_pidfile(c);
		running = control_running_pid(c, &is_child);
	}
	else if (running == 0)
		control_clear_stale_pidfile(c);
	if (running > 0)
	{
		pgw_error_set(
		    err, PGW_ESTATE,
		    "cannot start server: a postmaster not started by pgwarden (PID %d) is running in \"%s\"",
		    (int) running, c->data_dir);
		return HEALTH_WAIT_FAILED;
	}
	if (control_ensure_dir(c, c->socket_dir, 0755, "postgresql.socket_dir",
	                       false, err) != 0 ||
	    control_write_conf(c, err) != 0 || control_ensure_include(c, err) != 0)
		return HEALTH_WAIT_FAILED;
	control_bin(c, "postgres", postgres, sizeof(postgres));
	logfd = control_open_log(c, err);
	if (logfd < 0)
		return HEALTH_WAIT_FAILED;
	envp = child_env(c);
	if (c->as.drop && getgrouplist(c->as.user, c->as.gid, groups, &ngroups) < 0)
		ngroups = 0;
	log_info("pg.exec", "cmd=%s -D %s", log_quote(postgres, q, sizeof(q)),
	         log_quote(c->data_dir, q2, sizeof(q2)));
	pid = fork();
	if (pid < 0)
	{
		free_env(envp);
		close(logfd);
		pgw_error_set(err, PGW_EIO, "could not fork: %s", strerror(errno));
		return HEALTH_WAIT_FAILED;
	}
	if (pid == 0)
		start_child(c, parent, logfd, postgres, envp, groups, ngroups);
	free_env(envp);
	close(logfd);
	c->child = pid;
	log_info("pg.started", "pid=%d data_dir=%s", (int) pid, c->data_dir);
	return wait_ready(c, timeout_ms, err);
}

HealthWait
health_control_stop(PgControl *c, HealthStopMode mode, int timeout_ms,
                    PgwError *err)
{
	bool is_child;
	pid_t pid = control_running_pid(c, &is_child);
	int sig = mode == HEALTH_STOP_SMART  ? SIGTERM
	          : mode == HEALTH_STOP_FAST ? SIGINT
	                                     : SIGQUIT;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;

	if (pid == 0)
		return HEALTH_WAIT_READY;
	log_info("pg.stop", "pid=%d signal=%d adopted=%s", (int) pid, sig,
	         is_child ? "no" : "yes");
	if (kill(pid, sig) != 0)
	{
		if (errno == ESRCH)
			return HEALTH_WAIT_READY;
		pgw_error_set(err, PGW_EIO,
		              "could not send signal to postmaster PID %d: %s",
		              (int) pid, strerror(errno));
		return HEALTH_WAIT_FAILED;
	}
	for (;;)
	{
		if (is_child)
		{
			int status;
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid || (w < 0 && errno == ECHILD))
			{
				c->child = 0;
				return HEALTH_WAIT_READY;
			}
		}
		else if (!pid_alive(pid))
			return HEALTH_WAIT_READY;
		if (pgw_now_mono_ms() >= deadline)
		{
			pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "postmaster PID %d still running %d ms after signal %d",
			    (int) pid, timeout_ms, sig);
			return HEALTH_WAIT_PENDING;
		}
		pgw_sleep_ms(
		    5); /* a switchover's downtime runs until we see the exit */
	}
}

HealthWait
health_control_restart(PgControl *c, int timeout_ms, PgwError *err)
{
	HealthWait w = health_control_stop(c, HEALTH_STOP_FAST, timeout_ms, err);

	if (w != HEALTH_WAIT_READY)
		return w;
	return health_control_start(c, timeout_ms, err);
}

int
health_control_reload(PgControl *c, PgwError *err)
{
	bool is_child;
	pid_t pid = control_running_pid(c, &is_child);

	if (pid == 0)
		return pgw_error_set(err, PGW_ESTATE,
		                     "cannot reload: server is not running");
	if (kill(pid, SIGHUP) != 0)
		return pgw_error_set(err, PGW_EIO,
		                     "could not send SIGHUP to postmaster PID %d: %s",
		                     (int) pid, strerror(errno));
	return 0;
}

/*
 * for_each_child: fn(child, arg) for every process whose parent is pid
 * (PostgreSQL backends call setsid(), so they are not in the postmaster's
 * process group and only a walk of /proc finds them all). Only reads /proc:
 * safe on a fencing thread and in the fence watchdog process.
 */
/* proc_ppid: the parent of pid from /proc/pid/stat, -1 if unknown */
static pid_t
proc_ppid(pid_t pid)
{
	char path[64];
	char buf[512];
	FILE *f;
	char *rp;
	long ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	/* "pid (comm) state ppid ...": comm may hold spaces and ')' */
	rp = strrchr(buf, ')');
	if (rp == NULL || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t) ppid;
}

static void
for_each_child(pid_t pid, void (*fn)(pid_t child, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		pid_t child;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		child = (pid_t) strtol(de->d_name, NULL, 10);
		if (proc_ppid(child) == pid)
			fn(child, arg);
	}
	closedir(d);
}

static void
kill_one(pid_t child, void *arg)
{
	(void) arg;
	kill(child, SIGKILL);
}

/* the startup process's title: "postgres: [cluster: ]startup recovering ..." */
static void
match_startup(pid_t child, void *arg)
{
	char path[64];
	char buf[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) child);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strncmp(buf, "postgres: ", 10) == 0 && strstr(buf, "startup") != NULL)
		*(pid_t *) arg = child;
}

bool
control_parent_is(pid_t pid, pid_t parent)
{
	return proc_ppid(pid) == parent;
}

pid_t
control_startup_pid(pid_t postmaster)
{
	pid_t found = 0;

	for_each_child(postmaster, match_startup, &found);
	return found;
}

int
health_fence_postmaster(pid_t pid)
{
	/* a zombie (killed, not yet reaped by the daemon) is already fenced:
	 * fencing it again only logged a second "fence.fired" */
	if (pid <= 0 || !pid_alive(pid) || !pid_is_postgres(pid))
		return -1;
	/* stopped, the postmaster forks no new backend while we kill them */
	kill(pid, SIGSTOP);
	for_each_child(pid, kill_one, NULL);
	kill(pid, SIGKILL);
	return 0;
}
