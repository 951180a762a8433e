/*
 * fence.c: the fencing thread (DESIGN.md promise 1). The loop may be stuck
 * in a slow PostgreSQL or etcd call, or the whole process may have been
 * frozen; this thread sleeps on the monotonic clock until the leader's
 * fencing deadline and, if the deadline was not moved forward by a confirmed
 * keepalive in time and we are still armed (we run a writable primary),
 * calls the fence function at once, which stops PostgreSQL accepting writes.
 * After a SIGSTOP/SIGCONT the timed wait has already expired, so the fence
 * runs within milliseconds of the process resuming.
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

static pthread_mutex_t fence_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fence_cond;
static pthread_t fence_thread;
static bool fence_running;
static bool fence_armed;
static int64_t fence_deadline_mono_ms;
static void (*fence_fn) (void *);
static void *fence_arg;
static int64_t (*fence_refresh_fn) (void *);
static void *fence_refresh_arg;

static void *
fence_main(void *unused)
{
	(void) unused;
	pthread_mutex_lock(&fence_lock);
	while (fence_running)
	{
		int64_t		now = pgw_now_mono_ms();

		if (fence_armed && fence_deadline_mono_ms > 0 &&
			now >= fence_deadline_mono_ms && fence_refresh_fn != NULL)
		{
			/*
			 * The loop may simply be slow to hand us newer confirmations
			 * (a long step, a loaded machine): ask the etcd client for the
			 * latest confirmed keepalive before fencing a healthy leader.
			 */
			int64_t		fresh;

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
			int64_t		late = now - fence_deadline_mono_ms;

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
fence_start(void (*fn) (void *), void *arg, int64_t (*refresh) (void *),
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
	pthread_cond_signal(&fence_cond);
	pthread_mutex_unlock(&fence_lock);
}

void
fence_arm(bool armed)
{
	pthread_mutex_lock(&fence_lock);
	fence_armed = armed;
	pthread_cond_signal(&fence_cond);
	pthread_mutex_unlock(&fence_lock);
}

void
fence_stop(void)
{
	if (!fence_running)
		return;
	pthread_mutex_lock(&fence_lock);
	fence_running = false;
	pthread_cond_signal(&fence_cond);
	pthread_mutex_unlock(&fence_lock);
	pthread_join(fence_thread, NULL);
}
