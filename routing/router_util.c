/*
 * router_util.c: small helpers of the router's targets: durable file
 * replacement (temp, fsync, rename, fsync dir: STYLE.md "Durable files",
 * through common/safefs.h),
 * child programs run from an argument vector with a time bound, and the
 * effective table (fenced while cut off from etcd).
 */
#include "routing/routing_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/safefs.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* router_write_atomic: common/safefs.h's pgw_write_file: a random temporary
 * name created with O_EXCL|O_NOFOLLOW (security review F14: the fixed
 * "<path>.tmp.<pid>" followed a planted symlink when the router ran as
 * root for a VIP), fsync, rename, fsync of the directory */
int
router_write_atomic(const char *path, const char *data, size_t len, int mode,
                    PgwError *err)
{
	if (strlen(path) >= ROUTER_PATH_MAX)
		return pgw_error_set(err, PGW_EINVAL, "path \"%s\" is too long", path);
	return pgw_write_file(path, data, len, (mode_t) mode, PGW_NO_OWNER,
	                      (gid_t) -1, err);
}

bool
router_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[1024];

	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path)
	{
		size_t n = strcspn(path, ":");

		if (n > 0 && n + strlen(name) + 2 < sizeof(buf))
		{
			memcpy(buf, path, n);
			buf[n] = '/';
			memcpy(buf + n + 1, name, strlen(name) + 1);
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

int
router_run_argv(char *const argv[], int64_t timeout_ms, char *out,
                size_t out_len, PgwError *err)
{
	int pfd[2];
	char buf[4096];
	size_t used = 0;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	pid_t pid;
	int status = 0;
	bool done = false;
	bool timed_out = false;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return pgw_error_set(err, PGW_EIO, "could not create a pipe: %s",
		                     strerror(errno));
	pid = fork();
	if (pid < 0)
	{
		close(pfd[0]);
		close(pfd[1]);
		return pgw_error_set(err, PGW_EIO, "could not fork: %s",
		                     strerror(errno));
	}
	if (pid == 0)
	{
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[0], argv);
		/* async-signal-safe only: the router has gRPC threads */
		{
			static const char msg[] =
			    "pgwarden-router: could not execute the command\n";
			ssize_t wr = write(2, msg, sizeof(msg) - 1);

			(void) wr;
		}
		_exit(127);
	}
	setpgid(pid, pid);
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	buf[0] = '\0';
	while (!done)
	{
		ssize_t r;
		pid_t w;

		while ((r = read(pfd[0], buf + used, sizeof(buf) - 1 - used)) > 0)
		{
			used += (size_t) r;
			if (used >= sizeof(buf) - 1)
			{
				/* keep the tail */
				memmove(buf, buf + used / 2, used - used / 2);
				used -= used / 2;
			}
		}
		buf[used] = '\0';
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			done = true;
		else if (pgw_now_mono_ms() >= deadline)
		{
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			(void) waitpid(pid, &status, 0);
			timed_out = true;
			done = true;
		}
		else
			pgw_sleep_ms(5);
	}
	while (used < sizeof(buf) - 1)
	{
		ssize_t r = read(pfd[0], buf + used, sizeof(buf) - 1 - used);

		if (r <= 0)
			break;
		used += (size_t) r;
	}
	buf[used] = '\0';
	close(pfd[0]);
	if (out != NULL && out_len > 0)
		pgw_strlcpy(out, buf, out_len);
	if (timed_out)
		return pgw_error_set(err, PGW_ETIMEDOUT,
		                     "\"%s\" did not finish within %lld ms (killed)",
		                     argv[0], (long long) timeout_ms);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		const char *tail = used > 200 ? buf + used - 200 : buf;

		return pgw_error_set(
		    err, PGW_EIO, "\"%s\" failed (%s %d): %s", argv[0],
		    WIFEXITED(status) ? "exit" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
	}
	return 0;
}

void
router_effective_table(const RoutingTable *t, bool cut, RoutingTable *out)
{
	*out = *t;
	if (cut)
	{
		out->state = ROUTING_STATE_FENCED;
		out->has_primary = false;
		memset(&out->primary, 0, sizeof(out->primary));
	}
}
