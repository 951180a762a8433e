/*
 * proc.c: the daemon starts, watches and stops its witness process
 * (witness.h). fork then exec at once: the daemon has threads (gRPC, the
 * REST server), so the child runs only async-signal-safe calls before
 * exec; everything it needs (argv, the page's descriptor) is prepared
 * before the fork. The child gets a parent-death signal, so it never
 * outlives the daemon, and an empty signal mask (the daemon blocks the
 * signals it reads from a signalfd, and a mask survives exec).
 */
#include "witness/witness_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WITNESS_BIN_NAME "pgwarden-witness"
#define WITNESS_CHILD_FD 3

static pid_t witness_pid = -1;

/* self_dir: the directory of the running binary */
static int
self_dir(char *out, size_t len, PgwError *err)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);
	char *slash;

	if (n <= 0)
		return pgw_error_set(err, PGW_EIO, "could not find our own binary: %s",
		                     strerror(errno));
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (slash == NULL)
		return pgw_error_set(err, PGW_EIO, "our binary \"%s\" has no directory",
		                     out);
	*slash = '\0';
	return 0;
}

/* default_bin: pgwarden-witness beside the running binary */
static int
default_bin(char *out, size_t len, PgwError *err)
{
	char self[PATH_MAX];

	if (self_dir(self, sizeof(self), err) != 0)
		return err ? err->code : PGW_EIO;
	if ((size_t) snprintf(out, len, "%s/%s", self, WITNESS_BIN_NAME) >= len)
		return pgw_error_set(err, PGW_EINVAL, "path of %s too long",
		                     WITNESS_BIN_NAME);
	return 0;
}

int
witness_commit_lib_find(char *out, size_t len, PgwError *err)
{
	char self[PATH_MAX];
	const char *where[] = {"", "/../lib/pgwarden"};
	struct stat st;

	if (self_dir(self, sizeof(self), err) != 0)
		return err ? err->code : PGW_EIO;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
	{
		char path[PATH_MAX];

		if ((size_t) snprintf(path, sizeof(path), "%s%s/%s", self, where[i],
		                      WITNESS_COMMIT_LIB) >= sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		/* PostgreSQL reads the list unquoted past a few characters, and
		 * the file runs inside it: ours, not writable by others */
		if (strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                 "0123456789/._-+") != strlen(path) ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
			return pgw_error_set(
			    err, PGW_EAUTH,
			    "the commit check library \"%s\" has an unusual path or is writable by others",
			    path);
		if (realpath(path, out) == NULL || strlen(out) >= len)
			return pgw_error_set(err, PGW_EIO, "could not resolve \"%s\"",
			                     path);
		return 0;
	}
	return pgw_error_set(
	    err, PGW_ENOTFOUND,
	    "the commit check library %s is neither beside %s nor in %s/../lib/pgwarden (install pgwarden, or build it: it needs postgresql-server-dev-15)",
	    WITNESS_COMMIT_LIB, self, self);
}

int
witness_proc_start(const WitnessProcConfig *cfg, PgwError *err)
{
	char bin[PATH_MAX];
	char port[16];
	char parent[16];
	char fdarg[16];
	const char *argv[24];
	int n = 0;
	int fd = witness_share_fd();
	pid_t self = getpid();
	sigset_t none;
	pid_t pid;

	if (fd < 0)
		return pgw_error_set(err, PGW_ESTATE,
		                     "no witness page (witness_share_create first)");
	if (witness_pid > 0)
		return pgw_error_set(err, PGW_ESTATE,
		                     "the lease witness runs already (pid %d)",
		                     (int) witness_pid);
	if (cfg->bin != NULL && cfg->bin[0] != '\0')
		pgw_strlcpy(bin, cfg->bin, sizeof(bin));
	else if (default_bin(bin, sizeof(bin), err) != 0)
		return err ? err->code : PGW_EIO;
	if (access(bin, X_OK) != 0)
		return pgw_error_set(err, PGW_ENOTFOUND,
		                     "lease witness program \"%s\": %s", bin,
		                     strerror(errno));
	snprintf(port, sizeof(port), "%d", cfg->port);
	snprintf(parent, sizeof(parent), "%d", (int) self);
	snprintf(fdarg, sizeof(fdarg), "%d", WITNESS_CHILD_FD);
	argv[n++] = bin;
	argv[n++] = "--share-fd";
	argv[n++] = fdarg;
	argv[n++] = "--parent";
	argv[n++] = parent;
	argv[n++] = "--host";
	argv[n++] = cfg->host;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--user";
	argv[n++] = cfg->repl_user;
	argv[n++] = "--superuser";
	argv[n++] = cfg->superuser;
	argv[n++] = "--passfile";
	argv[n++] = cfg->passfile;
	argv[n++] = "--node";
	argv[n++] = cfg->node;
	argv[n++] = "--log-level";
	argv[n++] = cfg->log_level ? cfg->log_level : "info";
	argv[n] = NULL;
	sigemptyset(&none);
	pid = fork();
	if (pid < 0)
		return pgw_error_set(err, PGW_EIO,
		                     "could not fork the lease witness: %s",
		                     strerror(errno));
	if (pid == 0)
	{
		/* async-signal-safe calls only, up to the exec */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != self)
			_exit(70);
		if (fd == WITNESS_CHILD_FD)
			(void) fcntl(fd, F_SETFD, 0);
		else if (dup2(fd, WITNESS_CHILD_FD) != WITNESS_CHILD_FD)
			_exit(71);
		(void) syscall(SYS_close_range, WITNESS_CHILD_FD + 1, ~0U, 0);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv(bin, (char *const *) argv);
		_exit(72);
	}
	witness_pid = pid;
	log_info("witness.started", "pid=%d program=%s", (int) pid, bin);
	return 0;
}

bool
witness_proc_check(int *status)
{
	int st = 0;
	pid_t w;

	if (witness_pid <= 0)
		return false;
	w = waitpid(witness_pid, &st, WNOHANG);
	if (w == 0)
		return true;
	if (w < 0 && errno == EINTR)
		return true;
	witness_pid = -1;
	if (status != NULL)
		*status = st;
	return false;
}

void
witness_proc_stop(int timeout_ms)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;

	if (witness_pid <= 0)
		return;
	kill(witness_pid, SIGTERM);
	while (pgw_now_mono_ms() < deadline)
	{
		if (waitpid(witness_pid, NULL, WNOHANG) == witness_pid)
		{
			witness_pid = -1;
			return;
		}
		pgw_sleep_ms(10);
	}
	kill(witness_pid, SIGKILL);
	(void) waitpid(witness_pid, NULL, 0);
	witness_pid = -1;
}
