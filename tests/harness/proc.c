/*
 * proc.c: shared test harness, see proc.h.
 */
#include "tests/harness/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS    128
#define MAX_CLEANUPS 64
#define MAX_DIRS     64

static pid_t procs[MAX_PROCS];
static int n_procs;
static char *cleanups[MAX_CLEANUPS];
static int n_cleanups;
static char *dirs[MAX_DIRS];
static int n_dirs;
static int ports_given[256];
static int n_ports_given;
static char test_name[64] = "test";

int64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
harness_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
harness_timeout_mult(void)
{
	const char *s = getenv("PGW_TEST_TIMEOUT_MULT");
	long v = s ? strtol(s, NULL, 10) : 1;

	return v >= 1 && v <= 20 ? (int) v : 1;
}

static void
cleanup_all(void)
{
	for (int i = n_procs - 1; i >= 0; i--)
	{
		if (procs[i] > 0)
		{
			kill(-procs[i], SIGKILL);
			kill(procs[i], SIGKILL);
			waitpid(procs[i], NULL, 0);
			procs[i] = 0;
		}
	}
	n_procs = 0;
	for (int i = n_cleanups - 1; i >= 0; i--)
	{
		if (system(cleanups[i]) != 0)
			fprintf(stderr, "harness: cleanup failed: %s\n", cleanups[i]);
		free(cleanups[i]);
	}
	n_cleanups = 0;
	if (getenv("PGW_TEST_KEEP") == NULL)
	{
		for (int i = n_dirs - 1; i >= 0; i--)
		{
			char cmd[1200];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dirs[i]);
			if (system(cmd) != 0)
				fprintf(stderr, "harness: could not remove %s\n", dirs[i]);
			free(dirs[i]);
		}
		n_dirs = 0;
	}
}

static void
fatal_signal(int sig)
{
	cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void
harness_init(const char *name)
{
	snprintf(test_name, sizeof(test_name), "%s", name);
	atexit(cleanup_all);
	signal(SIGINT, fatal_signal);
	signal(SIGTERM, fatal_signal);
	signal(SIGABRT, fatal_signal);
	signal(SIGSEGV, fatal_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static bool
port_in_use(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	int rc;

	if (fd < 0)
		return true;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
	close(fd);
	return rc != 0;
}

int
harness_free_port(void)
{
	static unsigned seed;

	if (seed == 0)
		seed = (unsigned) getpid() ^ (unsigned) harness_now_ms();
	for (int attempt = 0; attempt < 2000; attempt++)
	{
		int port = 20000 + (int) (rand_r(&seed) % 12000);
		bool given = false;

		for (int i = 0; i < n_ports_given; i++)
			if (ports_given[i] == port)
				given = true;
		if (given || port_in_use(port) || port_in_use(port + 1))
			continue;
		if (n_ports_given < 256)
			ports_given[n_ports_given++] = port;
		return port;
	}
	fprintf(stderr, "harness: no free port found\n");
	exit(1);
}

char *
harness_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char tmpl[512];
	char *d;

	snprintf(tmpl, sizeof(tmpl), "%s/pgw-%s-%s-XXXXXX", base, test_name, tag);
	d = mkdtemp(tmpl);
	if (d == NULL)
	{
		perror("mkdtemp");
		exit(1);
	}
	chmod(d, 0755);
	if (n_dirs < MAX_DIRS)
		dirs[n_dirs++] = strdup(d);
	return strdup(d);
}

const char *
harness_run_user(void)
{
	const char *u = getenv("PGW_TEST_PG_USER");

	if (geteuid() != 0)
		return NULL;
	return u ? u : "pgwarden";
}

static void
drop_to_user(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL)
	{
		fprintf(stderr, "harness: no such user %s\n", user);
		_exit(127);
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
	{
		perror("harness: drop privileges");
		_exit(127);
	}
	setenv("HOME", pw->pw_dir, 1);
	setenv("USER", user, 1);
	setenv("LOGNAME", user, 1);
}

static pid_t
spawn(char *const argv[], const char *log_path, const char *user, bool pdeath)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		int fd;

		setpgid(0, 0);
		if (pdeath)
			prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log_path ? log_path : "/dev/null",
		          O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
		{
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
		{
			dup2(fd, 0);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		if (user != NULL)
			drop_to_user(user);
		execvp(argv[0], argv);
		fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

pid_t
harness_spawn(char *const argv[], const char *log_path, const char *user)
{
	pid_t pid;

	if (log_path && user)
	{
		/* the child writes its log as user: create it as ourselves first */
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0666);

		if (fd >= 0)
		{
			struct passwd *pw = getpwnam(user);

			if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
				perror("harness: chown log");
			close(fd);
		}
	}
	pid = spawn(argv, log_path, user, true);
	if (pid > 0 && n_procs < MAX_PROCS)
		procs[n_procs++] = pid;
	return pid;
}

bool
harness_alive(pid_t pid)
{
	int st;

	if (pid <= 0)
		return false;
	if (waitpid(pid, &st, WNOHANG) == pid)
		return false;
	return kill(pid, 0) == 0;
}

void
harness_kill(pid_t pid, int sig, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	bool gone = false;

	if (pid <= 0)
		return;
	kill(-pid, sig);
	kill(pid, sig);
	while (harness_now_ms() < deadline)
	{
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0))
		{
			gone = true;
			break;
		}
		harness_sleep_ms(10);
	}
	if (!gone)
	{
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < n_procs; i++)
		if (procs[i] == pid)
			procs[i] = 0;
}

void
harness_register_cleanup(const char *shell_cmd)
{
	if (n_cleanups < MAX_CLEANUPS)
		cleanups[n_cleanups++] = strdup(shell_cmd);
}

int
harness_run(char *const argv[], const char *log_path, const char *user,
            int timeout_ms)
{
	pid_t pid = spawn(argv, log_path, user, true);
	int64_t deadline = harness_now_ms() + timeout_ms;

	if (pid < 0)
		return -1;
	while (harness_now_ms() < deadline)
	{
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		harness_sleep_ms(5);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

bool
harness_wait_port(int port, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	do
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {0};
		int rc;

		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t) port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
		close(fd);
		if (rc == 0)
			return true;
		harness_sleep_ms(20);
	} while (harness_now_ms() < deadline);
	return false;
}
