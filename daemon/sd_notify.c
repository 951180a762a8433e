/*
 * sd_notify.c: the systemd contract of pgwarden.service (Type=notify,
 * WatchdogSec=), dropin_int.h: READY=1 once a loop has read the cluster
 * from etcd (not merely run: a daemon that cannot reach etcd is not
 * ready), STATUS= with the role and the last decision on every loop,
 * WATCHDOG=1 from the loop and from its wait, so that it comes at least
 * every half of WATCHDOG_USEC whatever loop_wait is (Patroni's 10 s
 * loop_wait against a 10 s WatchdogSec would otherwise be killed), and
 * STOPPING=1 when SIGTERM arrives. A loop that hangs in a call stops the
 * pings: that is what the watchdog is for. Without NOTIFY_SOCKET every
 * call is a no-op (libsystemd's sd_notify).
 */
#include "daemon/dropin_int.h"

#include "common/pgwtime.h"

#include <stdint.h>
#include <systemd/sd-daemon.h>

static bool notify_ready;
static int64_t watchdog_interval_ms = -1; /* -1: not asked yet; 0: off */
static int64_t watchdog_last_mono_ms;

/* a quarter of WATCHDOG_USEC: a late wakeup still lands inside the half */
static int64_t
interval_ms(void)
{
	if (watchdog_interval_ms < 0)
	{
		uint64_t usec = 0;

		watchdog_interval_ms = sd_watchdog_enabled(0, &usec) > 0 && usec > 0
		                           ? (int64_t) (usec / 4000)
		                           : 0;
		if (watchdog_interval_ms == 0 && usec > 0)
			watchdog_interval_ms = 1;
	}
	return watchdog_interval_ms;
}

static void
ping(void)
{
	watchdog_last_mono_ms = pgw_now_mono_ms();
	(void) sd_notify(0, "WATCHDOG=1");
}

void
sd_notify_loop(bool good, const char *role, const char *decision)
{
	if (!notify_ready && !good)
	{
		(void) sd_notifyf(0, "STATUS=starting: etcd not read yet (role=%s)",
		                  role);
		return;
	}
	if (!notify_ready)
	{
		(void) sd_notifyf(0, "READY=1\nSTATUS=role=%s decision=%s", role,
		                  decision);
		notify_ready = true;
		watchdog_last_mono_ms = pgw_now_mono_ms();
		return;
	}
	(void) sd_notifyf(0, "STATUS=role=%s decision=%s", role, decision);
	if (interval_ms() > 0)
		ping();
}

int
sd_notify_wait_ms(int timeout_ms)
{
	int64_t iv = interval_ms();
	int64_t left;

	if (!notify_ready || iv <= 0)
		return timeout_ms;
	left = watchdog_last_mono_ms + iv - pgw_now_mono_ms();
	if (left < 0)
		left = 0;
	return timeout_ms < 0 || left < timeout_ms ? (int) left : timeout_ms;
}

void
sd_notify_wait_tick(void)
{
	int64_t iv = interval_ms();

	if (notify_ready && iv > 0 &&
	    pgw_now_mono_ms() - watchdog_last_mono_ms >= iv)
		ping();
}

void
sd_notify_stopping(void)
{
	(void) sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
