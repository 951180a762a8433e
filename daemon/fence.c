/*
 * fence.c: fencing (DESIGN.md promise 1), in two independent places.
 *
 * The fencing thread: the loop may be stuck in a slow PostgreSQL or etcd
 * call, or the whole process may have been frozen; this thread sleeps on the
 * monotonic clock until the leader's fencing deadline and, if the deadline
 * was not moved forward by a confirmed keepalive in time and we are still
 * armed (we run a writable primary), calls the fence function at once, which
 * stops PostgreSQL accepting writes. After a SIGSTOP/SIGCONT the timed wait
 * has already expired, so the fence runs within milliseconds of the process
 * resuming.
 *
 * The watchdog process: a thread cannot fence while its own process is
 * stopped (SIGSTOP, a debugger, a stuck page fault) and PostgreSQL, a
 * separate process, keeps committing meanwhile. So a small process, forked
 * before any thread exists, reads the same deadline, the armed flag and the
 * postmaster's pid from an anonymous shared mapping and fences PostgreSQL
 * itself when the deadline passes. It also fences at once if the daemon dies
 * while armed (a postmaster adopted from an earlier daemon has no
 * parent-death signal tied to us), and then, with this node proven unable
 * to write, gives the leader key up in etcd (fence_release.c) so that a
 * replica need not wait out the lease; then it exits. The deadline it reads
 * is raised by the etcd client's own thread on every confirmed keepalive,
 * so a slow loop never makes it fence a leader whose lease is alive. The
 * lease the key is on and the release's time budget reach it through the
 * same mapping (a lease changes when it is granted again).
 */
#include "daemon/daemon_loop.h"
#include "daemon/fast_release.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "health/health.h"
#include "witness/witness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the daemon shares with the watchdog (lock-free atomics are
 * address-free, so they work across the two processes). */
typedef struct FenceShared
{
	_Atomic int64_t deadline_mono_ms; /* 0: none */
	atomic_int armed;
	atomic_int pm_pid;
	_Atomic int64_t leader_lease; /* the key is ours on it (0: not ours) */
	atomic_int release_budget_ms; /* one etcd call of the release */
} FenceShared;

/* it also wakes exactly at the deadline, and at once on its parent's death
 * (SIGUSR2); the tick only bounds how late it sees a new arming: one wake
 * a second, not ten (issue 18: an idle daemon's CPU) */
#define WATCHDOG_ARMED_TICK_MS 1000
#define WATCHDOG_IDLE_TICK_MS  1000

static FenceShared *fence_shm;
static FenceReleaseConfig watchdog_release; /* the child's copy */
static pid_t watchdog_pid;
static bool watchdog_gone_logged;

static pthread_mutex_t fence_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fence_cond;
static pthread_t fence_thread;
static bool fence_running;
static bool fence_armed;
static int64_t fence_deadline_mono_ms;
static void (*fence_fn)(void *);
static void *fence_arg;
static int64_t (*fence_refresh_fn)(void *);
static void *fence_refresh_arg;

static void *
fence_main(void *unused)
{
	(void) unused;
	pthread_mutex_lock(&fence_lock);
	while (fence_running)
	{
		int64_t now = pgw_now_mono_ms();

		if (fence_armed && fence_deadline_mono_ms > 0 &&
		    now >= fence_deadline_mono_ms && fence_refresh_fn != NULL)
		{
			/*
			 * The loop may simply be slow to hand us newer confirmations
			 * (a long step, a loaded machine): ask the etcd client for the
			 * latest confirmed keepalive before fencing a healthy leader.
			 */
			int64_t fresh;

			pthread_mutex_unlock(&fence_lock);
			fresh = fence_refresh_fn(fence_refresh_arg);
			pthread_mutex_lock(&fence_lock);
			if (fresh > fence_deadline_mono_ms)
				fence_deadline_mono_ms = fresh;
			now = pgw_now_mono_ms();
		}
		if (fence_armed && fence_deadline_mono_ms > 0 &&
		    now >= fence_deadline_mono_ms)
		{
			int64_t late = now - fence_deadline_mono_ms;

			fence_armed = false;
			pthread_mutex_unlock(&fence_lock);
			fence_fn(fence_arg);
			log_error("fence.fired", "late_ms=%lld action=postgres-stopped",
			          (long long) late);
			pthread_mutex_lock(&fence_lock);
			continue;
		}
		if (fence_armed && fence_deadline_mono_ms > 0)
		{
			struct timespec ts;

			ts.tv_sec = fence_deadline_mono_ms / 1000;
			ts.tv_nsec = (fence_deadline_mono_ms % 1000) * 1000000;
			pthread_cond_timedwait(&fence_cond, &fence_lock, &ts);
		}
		else
			pthread_cond_wait(&fence_cond, &fence_lock);
	}
	pthread_mutex_unlock(&fence_lock);
	return NULL;
}

void
fence_start(void (*fn)(void *), void *arg, int64_t (*refresh)(void *),
            void *refresh_arg)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fence_cond, &attr);
	pthread_condattr_destroy(&attr);
	fence_fn = fn;
	fence_arg = arg;
	fence_refresh_fn = refresh;
	fence_refresh_arg = refresh_arg;
	fence_running = true;
	pthread_create(&fence_thread, NULL, fence_main, NULL);
}

void
fence_set_deadline(int64_t deadline_mono_ms)
{
	pthread_mutex_lock(&fence_lock);
	fence_deadline_mono_ms = deadline_mono_ms;
	if (fence_shm != NULL)
		atomic_store(&fence_shm->deadline_mono_ms, deadline_mono_ms);
	witness_share_set_deadline(deadline_mono_ms); /* the lease witness */
	pthread_cond_signal(&fence_cond);
	pthread_mutex_unlock(&fence_lock);
}

void
fence_raise_deadline(int64_t deadline_mono_ms)
{
	pthread_mutex_lock(&fence_lock);
	/* no wake: the thread sleeps until the older, earlier deadline and
	 * reads this one then (a wake per keepalive was most of its CPU) */
	if (deadline_mono_ms > fence_deadline_mono_ms)
		fence_deadline_mono_ms = deadline_mono_ms;
	witness_share_raise_deadline(deadline_mono_ms); /* the lease witness */
	if (fence_shm != NULL)
	{
		int64_t cur = atomic_load(&fence_shm->deadline_mono_ms);

		while (deadline_mono_ms > cur &&
		       !atomic_compare_exchange_weak(&fence_shm->deadline_mono_ms, &cur,
		                                     deadline_mono_ms))
			;
	}
	pthread_mutex_unlock(&fence_lock);
}

void
fence_arm(bool armed, int postmaster_pid, int64_t leader_lease)
{
	pthread_mutex_lock(&fence_lock);
	/* the loop calls this every turn: wake the thread only for a change */
	if (fence_armed != armed)
		pthread_cond_signal(&fence_cond);
	fence_armed = armed;
	witness_share_arm(armed && postmaster_pid > 0); /* the lease witness */
	if (fence_shm != NULL)
	{
		/* the lease before the flag: an armed watchdog reads both */
		atomic_store(&fence_shm->leader_lease, armed ? leader_lease : 0);
		atomic_store(&fence_shm->pm_pid, armed ? postmaster_pid : 0);
		atomic_store(&fence_shm->armed, armed && postmaster_pid > 0);
	}
	pthread_mutex_unlock(&fence_lock);
}

void
fence_set_release_budget(int64_t budget_ms)
{
	if (fence_shm != NULL && budget_ms > 0)
		atomic_store(&fence_shm->release_budget_ms,
		             budget_ms > 60000 ? 60000 : (int) budget_ms);
}

/* ---- the watchdog process ---------------------------------------------- */

static volatile sig_atomic_t parent_died;

static void
on_parent_death(int sig)
{
	(void) sig;
	parent_died = 1;
}

static void
watchdog_fence(int pid, const char *why, int64_t late_ms)
{
	if (health_fence_postmaster((pid_t) pid) == 0)
		log_error(
		    "fence.fired",
		    "by=watchdog reason=%s late_ms=%lld pid=%d action=postgres-stopped",
		    why, (long long) late_ms, pid);
}

static void
watchdog_main(pid_t parent)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_death;
	sigaction(SIGUSR2, &sa, NULL);
	/* a stop of the whole unit sends SIGTERM to every process in it: the
	 * watchdog guards until its daemon has stopped PostgreSQL and exits */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "pgwarden-fence", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	if (getppid() != parent)
		parent_died = 1;
	for (;;)
	{
		int64_t now = pgw_now_mono_ms();
		int64_t dl = atomic_load(&fence_shm->deadline_mono_ms);
		int armed = atomic_load(&fence_shm->armed);
		int pid = atomic_load(&fence_shm->pm_pid);
		int64_t tick;
		struct timespec ts;

		if (parent_died || getppid() != parent)
		{
			int64_t lease = atomic_load(&fence_shm->leader_lease);

			if (armed && pid > 0)
			{
				watchdog_fence(pid, "daemon-died", 0);
				/* fencing first; the release may wait on etcd */
				if (lease != 0)
					(void) fence_release_after_death(
					    &watchdog_release, pid, lease,
					    atomic_load(&fence_shm->release_budget_ms));
			}
			_exit(0);
		}
		if (armed && pid > 0 && dl > 0 && now >= dl)
		{
			watchdog_fence(pid, "deadline-passed", now - dl);
			/* the daemon re-arms only for a primary it runs with a lease */
			atomic_store(&fence_shm->armed, 0);
			continue;
		}
		tick = armed ? WATCHDOG_ARMED_TICK_MS : WATCHDOG_IDLE_TICK_MS;
		if (armed && dl > now && dl - now < tick)
			tick = dl - now;
		ts.tv_sec = tick / 1000;
		ts.tv_nsec = (tick % 1000) * 1000000;
		/* SIGUSR2 (our parent died) interrupts the sleep */
		(void) clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	}
}

int
fence_watchdog_spawn(const FenceReleaseConfig *release, PgwError *err)
{
	pid_t parent = getpid();
	pid_t pid;

	/* the strings it points to are the daemon's; the fork copies them */
	watchdog_release = *release;
	fence_shm = mmap(NULL, sizeof(FenceShared), PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fence_shm == MAP_FAILED)
	{
		fence_shm = NULL;
		return pgw_error_set(err, PGW_EIO, "fence watchdog: mmap: %s",
		                     strerror(errno));
	}
	atomic_store(&fence_shm->deadline_mono_ms, 0);
	atomic_store(&fence_shm->armed, 0);
	atomic_store(&fence_shm->pm_pid, 0);
	atomic_store(&fence_shm->leader_lease, 0);
	atomic_store(&fence_shm->release_budget_ms,
	             FENCE_RELEASE_BUDGET_MS_DEFAULT);
	pid = fork();
	if (pid < 0)
	{
		munmap(fence_shm, sizeof(FenceShared));
		fence_shm = NULL;
		return pgw_error_set(err, PGW_EIO, "fence watchdog: fork: %s",
		                     strerror(errno));
	}
	if (pid == 0)
		watchdog_main(parent); /* never returns */
	watchdog_pid = pid;
	log_info("fence.watchdog", "pid=%d", (int) pid);
	return 0;
}

bool
fence_watchdog_check(void)
{
	int status;

	if (watchdog_pid <= 0)
		return false;
	if (waitpid(watchdog_pid, &status, WNOHANG) == watchdog_pid)
	{
		watchdog_pid = -1;
		if (!watchdog_gone_logged)
			log_error("fence.watchdog-gone",
			          "status=%d action=fencing-thread-only", status);
		watchdog_gone_logged = true;
		return false;
	}
	return true;
}

void
fence_stop(void)
{
	if (fence_shm != NULL)
		atomic_store(&fence_shm->armed, 0);
	if (watchdog_pid > 0)
	{
		kill(watchdog_pid, SIGKILL);
		(void) waitpid(watchdog_pid, NULL, 0);
		watchdog_pid = -1;
	}
	if (!fence_running)
		return;
	pthread_mutex_lock(&fence_lock);
	fence_running = false;
	pthread_cond_signal(&fence_cond);
	pthread_mutex_unlock(&fence_lock);
	pthread_join(fence_thread, NULL);
}
