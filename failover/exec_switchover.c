/*
 * exec_switchover.c: the leader's side of a planned switchover (DESIGN.md
 * "Timing model") as sub-states, one per loop turn, each stamped with its
 * start and bounded by a deadline (Sentinel's failover_state):
 *   CHECKPOINT     name the target in the request, connect to it, CHECKPOINT
 *                  while still serving (so the shutdown checkpoint is short);
 *   STOPPING       fast stop until pg_control says "shut down";
 *   WAIT_RECEIVED  until the target has received our shutdown checkpoint
 *                  (so it has every commit we acknowledged), then the
 *                  handover txn frees the key and tells the target so;
 *   HANDED_OVER    wait (bounded) until the target runs read-write;
 *   FOLLOW         start as its replica.
 * Before HANDED_OVER a failure or a passed deadline aborts: we restart as
 * the primary we still are and drop the request. From HANDED_OVER on there
 * is no way back, and a passed deadline moves on towards following. While
 * one sub-state waits, a turn waits at most SWO_SLICE_MS, so the loop keeps
 * answering signals and REST and refreshing its snapshot.
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdlib.h>
#include <string.h>

static const int64_t step_budget_ms[] = {
    [SWO_NONE] = 0,
    [SWO_CHECKPOINT] = SWO_CHECKPOINT_MS,
    [SWO_STOPPING] = SWO_STOP_MS,
    [SWO_WAIT_RECEIVED] = SWO_RECEIVE_MS,
    [SWO_HANDED_OVER] = SWO_PROMOTED_MS,
    [SWO_FOLLOW] = SWO_FOLLOW_MS,
};

SwitchoverStep
failover_exec_switchover(const FailoverExec *e, char *target, size_t len)
{
	if (target != NULL && len > 0)
		pgw_strlcpy(target, e->swo.target, len);
	return e->swo.step;
}

static void
enter(FailoverExec *e, SwitchoverStep step)
{
	int64_t now = pgw_now_mono_ms();

	e->swo.step = step;
	e->swo.step_since_mono_ms = now;
	e->swo.step_deadline_mono_ms = now + step_budget_ms[step];
	log_debug("switchover.step", "target=%s step=%s deadline_ms=%lld",
	          e->swo.target, failover_switchover_step_name(step),
	          (long long) step_budget_ms[step]);
}

/* slice: how long this turn may wait in the current sub-state */
static int
slice(const FailoverExec *e)
{
	int64_t left = e->swo.step_deadline_mono_ms - pgw_now_mono_ms();

	return left < 1 ? 1 : left > SWO_SLICE_MS ? SWO_SLICE_MS : (int) left;
}

static bool
deadline_passed(const FailoverExec *e)
{
	return pgw_now_mono_ms() >= e->swo.step_deadline_mono_ms;
}

/*
 * abort_switchover: before the handover only: we still hold the key, so
 * serve again as primary and drop the request (by the revision we last
 * wrote or saw). The failure in out is logged once by the loop, with the
 * action taken here.
 */
static void
abort_switchover(FailoverExec *e, const ExecContext *ctx, ExecOutcome *out)
{
	PgwError e2 = {0};

	if (e->swo.step >= SWO_HANDED_OVER || e->swo.step == SWO_NONE)
	{
		/* the point of no return is a checked fact, not a comment */
		out->rc = pgw_error_set(
		    &out->err, PGW_EINTERNAL,
		    "switchover to %s: abort refused in sub-state %s", e->swo.target,
		    failover_switchover_step_name(e->swo.step));
		return;
	}
	if (out->rc == 0)
		out->rc = out->err.code ? out->err.code : PGW_ESTATE;
	pgw_error_prefix(&out->err, "switchover to %s aborted in sub-state %s",
	                 e->swo.target, failover_switchover_step_name(e->swo.step));
	/*
	 * Not while the daemon stops: with every node stopped at once the
	 * target stops too, and the leader came back as primary for the moment
	 * before its own stop (the shutdown path then stops it and releases
	 * the key).
	 */
	out->action = ctx->stopping ? "stop" : "restart-as-primary";
	out->role_changed = true;
	e->ops->standby_forget(e->pg);
	exec_stop_pg(e, HEALTH_STOP_FAST); /* it may still be exiting */
	if (!ctx->stopping && exec_start_pg(e, true, &e2) == HEALTH_WAIT_FAILED)
		log_warn("pg.start-failed", "detail=\"%s\" reason=switchover-abort",
		         e2.msg);
	if (e->ops->cas_delete(ctx->etcd, ctx->prefix, "failover",
	                       e->swo.request_rev, &e2) != 0)
		log_warn("failover.clear-failed", "detail=\"%s\"", e2.msg);
	memset(&e->swo, 0, sizeof(e->swo));
}

int
exec_switchover_abandon(FailoverExec *e, PgwError *err)
{
	if (e->swo.step == SWO_NONE)
		return 0;
	if (e->swo.step >= SWO_HANDED_OVER)
		return pgw_error_set(
		    err, PGW_EINTERNAL,
		    "switchover to %s cannot be abandoned in sub-state %s",
		    e->swo.target, failover_switchover_step_name(e->swo.step));
	log_warn("switchover.abandoned", "target=%s step=%s reason=fencing",
	         e->swo.target, failover_switchover_step_name(e->swo.step));
	e->ops->standby_forget(e->pg);
	memset(&e->swo, 0, sizeof(e->swo));
	return 0;
}

/* begin: SWO_CHECKPOINT's work; false (out says why) when it cannot begin */
static bool
begin(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
      ExecOutcome *out)
{
	Switchover *s = &e->swo;

	memset(s, 0, sizeof(*s));
	if (!exec_upstream_of(ctx->view, dec->target, s->host, sizeof(s->host),
	                      &s->up))
	{
		out->rc =
		    pgw_error_set(&out->err, PGW_ESTATE,
		                  "no address for switchover target %s", dec->target);
		return false;
	}
	pgw_strlcpy(s->target, dec->target, sizeof(s->target));
	s->request = ctx->view->failover;
	s->request_rev = ctx->view->failover.mod_revision;
	s->started_mono_ms = pgw_now_mono_ms();
	log_info("switchover.start", "target=%s", s->target);
	if (ctx->view->failover.member[0] == '\0')
	{
		FailoverRequest f = ctx->view->failover;
		char *json;

		/* name the target we chose, so the others wait for it instead of
		 * starting an election of their own (we would win it ourselves) */
		pgw_strlcpy(f.member, s->target, sizeof(f.member));
		json = dcs_failover_encode(&f);
		out->rc = e->ops->cas_put_rev(ctx->etcd, ctx->prefix, "failover", json,
		                              ctx->view->failover.mod_revision,
		                              &s->request_rev, &out->err);
		free(json);
		if (out->rc != 0)
		{
			/* changed or gone: decide again */
			memset(s, 0, sizeof(*s));
			return false;
		}
	}
	enter(e, SWO_CHECKPOINT);
	return true;
}

static void
checkpoint(FailoverExec *e, ExecOutcome *out)
{
	PgwError err = {0};

	if (e->ops->standby_prepare(e->pg, &e->swo.up, &err) != 0)
		log_warn("switchover.connect-failed",
		         "target=%s detail=\"%s\" action=retry-after-stop",
		         e->swo.target, err.msg);
	pgw_error_clear(&err);
	if (e->ops->checkpoint(e->pg, &err) != 0)
		log_warn("switchover.checkpoint-failed",
		         "detail=\"%s\" action=continue", err.msg);
	enter(e, SWO_STOPPING);
	out->run_again = true;
}

/* stopping: one slice of the fast stop; false when the switchover aborts */
static bool
stopping(FailoverExec *e, ExecOutcome *out)
{
	Switchover *s = &e->swo;
	PgLsn ckpt = 0;
	HealthWait w;

	if (s->stop_mono_ms == 0)
	{
		s->stop_mono_ms = pgw_now_mono_ms();
		e->should_run = false;
		e->crashed_since_mono_ms = 0;
	}
	w = e->ops->stop_checkpointed(e->pg, slice(e), &ckpt, &out->err);
	if (w == HEALTH_WAIT_PENDING && deadline_passed(e))
	{
		char state[64];

		/* no clean shutdown in time: escalate as any stop does */
		exec_stop_pg(e, HEALTH_STOP_FAST);
		pgw_error_clear(&out->err);
		if ((out->rc = e->ops->checkpoint_lsn(e->pg, &ckpt, state,
		                                      sizeof(state), &out->err)) != 0)
			return false;
		if (strcmp(state, "shut down") != 0)
		{
			out->rc = pgw_error_set(
			    &out->err, PGW_ESTATE,
			    "cluster state \"%s\" after stop, not \"shut down\"", state);
			return false;
		}
		w = HEALTH_WAIT_READY;
	}
	if (w == HEALTH_WAIT_FAILED)
	{
		out->rc = out->err.code ? out->err.code : PGW_ESTATE;
		return false;
	}
	pgw_error_clear(&out->err);
	out->run_again = true;
	if (w == HEALTH_WAIT_PENDING)
		return true;
	s->checkpoint = ckpt;
	s->shut_down_mono_ms = pgw_now_mono_ms();
	enter(e, SWO_WAIT_RECEIVED);
	return true;
}

/* wait_received: one slice; at READY the handover txn frees the key.
 * false when the switchover aborts */
static bool
wait_received(FailoverExec *e, const ExecContext *ctx, ExecOutcome *out)
{
	Switchover *s = &e->swo;
	PgLsn seen = 0;
	PgwError err = {0};
	FailoverRequest f = s->request;
	int rc;

	/* past the record's start: the target has the whole checkpoint */
	if (e->ops->wait_received(e->pg, &s->up, s->checkpoint + 1, slice(e), &seen,
	                          &err) != HEALTH_WAIT_READY)
	{
		if (!deadline_passed(e))
		{
			out->run_again = true;
			return true;
		}
		out->rc =
		    pgw_error_set(&out->err, PGW_ETIMEDOUT,
		                  "target %s received %X/%X, not %X/%X, within %d ms",
		                  s->target, (unsigned) (seen >> 32), (unsigned) seen,
		                  (unsigned) ((s->checkpoint + 1) >> 32),
		                  (unsigned) (s->checkpoint + 1), SWO_RECEIVE_MS);
		return false;
	}
	s->received_mono_ms = pgw_now_mono_ms();
	/* the target learns from this revision that it may promote without
	 * asking the peers (rules.c, switchover-candidate-refresh) */
	pgw_strlcpy(f.member, s->target, sizeof(f.member));
	f.handover_lsn = s->checkpoint;
	rc = e->ops->leader_handover(ctx->etcd, ctx->prefix, ctx->name, &f,
	                             &out->err);
	if (rc != 0 && rc != PGW_ECONFLICT)
	{
		out->rc = rc;
		return false;
	}
	pgw_error_clear(&out->err);
	/* the three phases of the write downtime that are ours to wait for */
	log_info(
	    "switchover.released",
	    "target=%s checkpoint=%X/%X stopped_ms=%lld shutdown_ms=%lld received_ms=%lld handover_ms=%lld",
	    s->target, (unsigned) (s->checkpoint >> 32), (unsigned) s->checkpoint,
	    (long long) (pgw_now_mono_ms() - s->stop_mono_ms),
	    (long long) (s->shut_down_mono_ms - s->stop_mono_ms),
	    (long long) (s->received_mono_ms - s->shut_down_mono_ms),
	    (long long) (pgw_now_mono_ms() - s->received_mono_ms));
	enter(e, SWO_HANDED_OVER);
	/* the peers ask our REST API, and the loop republishes from this */
	out->key_released = true;
	out->role_changed = true;
	out->run_again = true;
	return true;
}

/* handed_over: the target promotes now: follow once it did (bounded),
 * not during */
static void
handed_over(FailoverExec *e, ExecOutcome *out)
{
	out->run_again = true;
	if (e->ops->wait_promoted(e->pg, &e->swo.up, slice(e)) != HEALTH_WAIT_READY)
	{
		if (!deadline_passed(e))
			return;
		log_warn("switchover.target-not-promoted",
		         "target=%s waited_ms=%lld action=follow", e->swo.target,
		         (long long) (pgw_now_mono_ms() - e->swo.step_since_mono_ms));
	}
	enter(e, SWO_FOLLOW);
}

/* follow: from here on we are a replica of the target */
static void
follow(FailoverExec *e, ExecOutcome *out)
{
	PgwError err = {0};

	atomic_store(&e->fence_pid, 0);
	e->should_run = true;
	e->expect_primary = false;
	pgw_strlcpy(e->upstream, e->swo.target, sizeof(e->upstream));
	if (e->ops->demote(e->pg, &e->swo.up, REPLICA_START_WAIT_MS, &err) ==
	    HEALTH_WAIT_FAILED)
		log_warn("switchover.follow-failed",
		         "detail=\"%s\" action=retry-next-loop", err.msg);
	log_info("switchover.done", "target=%s duration_ms=%lld", e->swo.target,
	         (long long) (pgw_now_mono_ms() - e->swo.started_mono_ms));
	memset(&e->swo, 0, sizeof(e->swo));
	out->role_changed = true;
}

void
exec_switchover_step(FailoverExec *e, const ExecContext *ctx,
                     const Decision *dec, const LocalHealth *self,
                     ExecOutcome *out)
{
	bool ok = true;

	(void) self;
	if (e->swo.step == SWO_NONE && !begin(e, ctx, dec, out))
		return;
	/* a sub-state that did its work in one call (CHECKPOINT, FOLLOW) and
	 * still finds its deadline passed was stalled elsewhere: the same rule
	 * as for the waits applies */
	switch (e->swo.step)
	{
		case SWO_NONE:
			break;
		case SWO_CHECKPOINT:
			if (deadline_passed(e))
			{
				out->rc = pgw_error_set(&out->err, PGW_ETIMEDOUT,
				                        "no checkpoint within %d ms",
				                        SWO_CHECKPOINT_MS);
				ok = false;
			}
			else
				checkpoint(e, out);
			break;
		case SWO_STOPPING:
			ok = stopping(e, out);
			break;
		case SWO_WAIT_RECEIVED:
			ok = wait_received(e, ctx, out);
			break;
		case SWO_HANDED_OVER:
			handed_over(e, out);
			break;
		case SWO_FOLLOW:
			follow(e, out);
			break;
	}
	if (!ok)
		abort_switchover(e, ctx, out);
}
