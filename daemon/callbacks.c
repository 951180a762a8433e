/*
 * callbacks.c: the user's on_start / on_stop / on_restart / on_reload /
 * on_role_change scripts (Patroni's postgresql.callbacks), run as
 *   <cmd words...> <action> <role> <scope>
 * without a shell, as the PostgreSQL OS user (common/run.h), and
 * asynchronously: callbacks_fire() only queues and starts, callbacks_reap()
 * (called by the loop every iteration) reaps and enforces the timeout, so a
 * slow script never stalls the HA loop (DESIGN.md "daemon/").
 *
 * Ordering: one script runs at a time, in the order of the events (a stop
 * script never overlaps the next start script). At most one event per kind
 * waits: a newer event of a kind replaces the waiting one of that kind (the
 * script sees the latest role; a burst of role changes runs the script
 * twice at most, never a stale backlog). A script running past the timeout
 * gets SIGTERM on its process group, then SIGKILL after
 * PGW_RUN_KILL_GRACE_MS.
 */
#include "daemon/daemon_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/run.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "config/config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define CB_KINDS 5

static const char *const cb_actions[CB_KINDS] = {
    "on_start", "on_stop", "on_restart", "on_reload", "on_role_change"};

typedef struct CbEvent
{
	int kind; /* index into cb_actions */
	char role[32];
} CbEvent;

struct Callbacks
{
	char *cmd[CB_KINDS]; /* NULL: not configured */
	char *pre_promote;
	char scope[128];
	int timeout_ms;
	/* waiting events, oldest first; at most one per kind */
	CbEvent queue[CB_KINDS];
	int n_queued;
	/* the running script */
	pid_t pid; /* 0: none */
	int running_kind;
	char running_role[32];
	int64_t started_mono_ms;
	bool term_sent;
	int64_t term_mono_ms;
	uint64_t started_total;
};

static int
kind_of(const char *action)
{
	for (int i = 0; i < CB_KINDS; i++)
		if (strcmp(cb_actions[i], action) == 0)
			return i;
	return -1;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? pgw_xstrdup(s) : NULL;
}

int
callbacks_open(const struct NodeConfig *cfg, Callbacks **out, PgwError *err)
{
	Callbacks *cb;

	/* callbacks and pre_promote run as the PostgreSQL OS user, as
	 * Patroni's do (it runs as that user): never as root (F7) */
	if (pgw_run_set_user(cfg->pg_run_as, err) != 0)
	{
		pgw_error_prefix(err, "postgresql.run_as");
		return err ? err->code : PGW_EINVAL;
	}
	cb = pgw_xcalloc(1, sizeof(Callbacks));
	cb->cmd[0] = dup_or_null(cfg->cb_on_start);
	cb->cmd[1] = dup_or_null(cfg->cb_on_stop);
	cb->cmd[2] = dup_or_null(cfg->cb_on_restart);
	cb->cmd[3] = dup_or_null(cfg->cb_on_reload);
	cb->cmd[4] = dup_or_null(cfg->cb_on_role_change);
	cb->pre_promote = dup_or_null(cfg->pg_pre_promote);
	pgw_strlcpy(cb->scope, cfg->scope ? cfg->scope : "", sizeof(cb->scope));
	cb->timeout_ms = CALLBACKS_TIMEOUT_MS;
	*out = cb;
	return 0;
}

void
callbacks_set_timeout(Callbacks *cb, int timeout_ms)
{
	cb->timeout_ms = timeout_ms > 0 ? timeout_ms : CALLBACKS_TIMEOUT_MS;
}

/* start the oldest waiting event, if nothing runs */
static void
start_next(Callbacks *cb)
{
	while (cb->pid == 0 && cb->n_queued > 0)
	{
		CbEvent ev = cb->queue[0];
		const char *args[4];
		PgwError err = {0};
		pid_t pid;

		memmove(&cb->queue[0], &cb->queue[1],
		        sizeof(CbEvent) * (size_t) (cb->n_queued - 1));
		cb->n_queued--;
		args[0] = cb_actions[ev.kind];
		args[1] = ev.role;
		args[2] = cb->scope;
		args[3] = NULL;
		if (pgw_run_spawn(cb->cmd[ev.kind], args, &pid, &err) != 0)
		{
			log_warn("callback.failed", "action=%s role=%s detail=\"%s\"",
			         cb_actions[ev.kind], ev.role, err.msg);
			continue;
		}
		cb->pid = pid;
		cb->running_kind = ev.kind;
		pgw_strlcpy(cb->running_role, ev.role, sizeof(cb->running_role));
		cb->started_mono_ms = pgw_now_mono_ms();
		cb->term_sent = false;
		cb->started_total++;
		log_info("callback.started", "action=%s role=%s pid=%d",
		         cb_actions[ev.kind], ev.role, (int) pid);
	}
}

int
callbacks_fire(Callbacks *cb, const char *action, const char *role)
{
	int kind;
	CbEvent ev;

	if (cb == NULL || action == NULL)
		return PGW_EINVAL;
	kind = kind_of(action);
	if (kind < 0)
		return PGW_EINVAL;
	if (cb->cmd[kind] == NULL)
		return 0; /* not configured */
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	pgw_strlcpy(ev.role, role ? role : "", sizeof(ev.role));
	/* a newer event of a kind replaces the one waiting */
	for (int i = 0; i < cb->n_queued; i++)
		if (cb->queue[i].kind == kind)
		{
			memmove(&cb->queue[i], &cb->queue[i + 1],
			        sizeof(CbEvent) * (size_t) (cb->n_queued - i - 1));
			cb->n_queued--;
			break;
		}
	cb->queue[cb->n_queued++] = ev;
	callbacks_reap(cb);
	return 0;
}

void
callbacks_reap(Callbacks *cb)
{
	int64_t now;
	int st;

	if (cb == NULL)
		return;
	if (cb->pid != 0)
	{
		int r = pgw_run_poll(cb->pid, &st);

		now = pgw_now_mono_ms();
		if (r != 0)
		{
			int code = r == 1 ? pgw_run_exit_code(st) : -1;

			if (code == 0)
				log_info("callback.finished",
				         "action=%s role=%s duration_ms=%lld",
				         cb_actions[cb->running_kind], cb->running_role,
				         (long long) (now - cb->started_mono_ms));
			else
				log_warn("callback.failed",
				         "action=%s role=%s exit_code=%d duration_ms=%lld%s",
				         cb_actions[cb->running_kind], cb->running_role, code,
				         (long long) (now - cb->started_mono_ms),
				         cb->term_sent ? " killed=timeout" : "");
			cb->pid = 0;
		}
		else if (!cb->term_sent && now - cb->started_mono_ms >= cb->timeout_ms)
		{
			log_warn(
			    "callback.timeout",
			    "action=%s role=%s pid=%d timeout_ms=%d action_taken=sigterm",
			    cb_actions[cb->running_kind], cb->running_role, (int) cb->pid,
			    cb->timeout_ms);
			pgw_run_signal(cb->pid, SIGTERM);
			cb->term_sent = true;
			cb->term_mono_ms = now;
		}
		else if (cb->term_sent &&
		         now - cb->term_mono_ms >= PGW_RUN_KILL_GRACE_MS)
			pgw_run_signal(cb->pid, SIGKILL);
	}
	start_next(cb);
}

bool
callbacks_busy(const Callbacks *cb)
{
	return cb != NULL && (cb->pid != 0 || cb->n_queued > 0);
}

void
callbacks_close(Callbacks *cb, int wait_ms)
{
	int64_t deadline;

	if (cb == NULL)
		return;
	deadline = pgw_now_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	while (callbacks_busy(cb) && pgw_now_mono_ms() < deadline)
	{
		callbacks_reap(cb);
		if (callbacks_busy(cb))
			pgw_sleep_ms(10);
	}
	if (cb->pid != 0)
	{
		int st;

		log_warn("callback.abandoned",
		         "action=%s role=%s pid=%d action_taken=sigkill",
		         cb_actions[cb->running_kind], cb->running_role, (int) cb->pid);
		pgw_run_signal(cb->pid, SIGKILL);
		while (pgw_run_poll(cb->pid, &st) == 0)
			pgw_sleep_ms(1);
	}
	for (int i = 0; i < CB_KINDS; i++)
		free(cb->cmd[i]);
	free(cb->pre_promote);
	free(cb);
}

int
callbacks_run_pre_promote(Callbacks *cb, int timeout_ms, int *exit_status,
                          PgwError *err)
{
	int rc;

	if (exit_status)
		*exit_status = 0;
	if (cb == NULL || cb->pre_promote == NULL)
		return 0; /* not configured: no veto */
	log_info("callback.pre-promote", "command=\"%s\" timeout_ms=%d",
	         cb->pre_promote, timeout_ms);
	rc = pgw_run_command(cb->pre_promote, NULL, timeout_ms, exit_status, err);
	if (rc != 0)
		pgw_error_prefix(err, "pre_promote");
	return rc;
}
