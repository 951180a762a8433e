/*
 * exec_steps.c: one function per decision kind, looked up in a table that
 * has a row for every kind (exec_steps_check, run at open: pg_autoctl's
 * "the FSM is well formed" habit). Each step checks its precondition first
 * and treats "already done" as success, so a crash mid-step is healed by
 * running the same decision again (the pg_auto_failover habit). A step
 * fills an ExecOutcome and returns; it logs its progress (start, done), never
 * its failure: the loop logs that once, from the outcome.
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <stdio.h>
#include <string.h>

/* fail: the step failed with rc (err already filled by the callee) */
static void
fail(ExecOutcome *out, int rc)
{
	out->rc = rc;
	if (out->err.code == 0)
		out->err.code = rc;
}

/* no_address: the decision's target has no usable conn_url in the view */
static void
no_address(ExecOutcome *out, const char *what, const char *target)
{
	out->rc = pgw_error_set(
	    &out->err, PGW_ESTATE,
	    "no address for %s %s: its member key has no usable conn_url", what,
	    target);
}

static void
step_nothing(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
             const LocalHealth *self, ExecOutcome *out)
{
	(void) e;
	(void) ctx;
	(void) dec;
	(void) self;
	(void) out;
}

static void
step_renew(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
           const LocalHealth *self, ExecOutcome *out)
{
	int rc;

	(void) dec;
	(void) self;
	/* issue 18: the live watch is the proof (a change comes as an event);
	 * the read is for when the watch cannot vouch */
	if (ctx->key_proven_by_watch)
	{
		out->leads = true;
		return;
	}
	rc = e->ops->leader_check(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
	                          &out->err);
	if (rc != 0)
	{
		/* PGW_ECONFLICT: we lost the key, the next decision demotes */
		fail(out, rc);
		return;
	}
	out->leads = true;
}

/* acquire: take the free key for us; *won tells whether we hold it */
static int
acquire(FailoverExec *e, const ExecContext *ctx, bool *won, char *holder,
        PgwError *err)
{
	return e->ops->leader_acquire(ctx->etcd, ctx->prefix, ctx->name,
	                              ctx->lease_id, won, holder, err);
}

static void
step_bootstrap(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
               const LocalHealth *self, ExecOutcome *out)
{
	const NodeConfig *cfg = e->cfg;
	int64_t t0 = pgw_now_mono_ms();
	char holder[PGW_NAME_MAX];
	char label[EXEC_LABEL_MAX] = "";
	bool restore = cfg->bootstrap_restore.enabled && !dec->adopt_existing_data;
	bool won = false;
	int rc;

	(void) self;
	/* bootstrap.method: pgbackrest: a target the repository cannot reach
	 * is refused before the claim, so no node holds `initialize` for it */
	if (restore &&
	    (rc = exec_restore_plan(e, ctx->etcd, label, &out->err)) != 0)
	{
		fail(out, rc);
		return;
	}
	if (!dec->adopt_existing_data || !ctx->view->has_initialize)
	{
		if ((rc = e->ops->initialize_claim(ctx->etcd, ctx->prefix, &won,
		                                   &out->err)) != 0)
		{
			fail(out, rc);
			return;
		}
		if (!won)
		{
			log_info("bootstrap.lost-race", "action=clone-later");
			return;
		}
	}
	log_info("bootstrap.start", "adopt=%d method=%s data_dir=%s",
	         dec->adopt_existing_data,
	         restore                    ? "pgbackrest"
	         : dec->adopt_existing_data ? "adopt"
	                                    : "initdb",
	         cfg->pg_data_dir);
	out->role_changed = true;
	if (restore)
	{
		/* then started as an adopted directory is */
		rc = exec_restore_data_dir(e, label, &out->err);
		if (rc == 0)
			rc = exec_start_pg(e, true, &out->err) == HEALTH_WAIT_FAILED
			         ? PGW_EIO
			         : 0;
	}
	else if (dec->adopt_existing_data)
		rc = exec_start_pg(e, true, &out->err) == HEALTH_WAIT_FAILED ? PGW_EIO
		                                                             : 0;
	else
	{
		e->should_run = true;
		e->expect_primary = true;
		rc = e->ops->bootstrap(e->pg, START_TIMEOUT_MS, &out->err);
	}
	if (rc != 0)
	{
		PgwError e2 = {0};

		/* let another node (or our next attempt) bootstrap */
		e->should_run = false;
		if (e->ops->cas_delete(ctx->etcd, ctx->prefix, "initialize", 0, &e2) !=
		    0)
			log_warn("bootstrap.cleanup-failed", "detail=\"%s\"", e2.msg);
		fail(out, rc);
		return;
	}
	if ((rc = acquire(e, ctx, &won, holder, &out->err)) != 0)
	{
		fail(out, rc);
		return;
	}
	if (!won)
		return;
	{
		PgwError e2 = {0};

		if (e->ops->probe_run(e->probe, 0, e->rep, &e2) == 0)
		{
			char sysid[32];

			e->last_sysid = e->rep->system_identifier;
			snprintf(sysid, sizeof(sysid), "%llu",
			         (unsigned long long) e->rep->system_identifier);
			if (e->ops->initialize_set(ctx->etcd, ctx->prefix, sysid, &e2) != 0)
				log_warn("initialize.set-failed", "detail=\"%s\"", e2.msg);
		}
	}
	out->key_acquired = true;
	out->leads = true;
	out->became_writable = true;
	log_info("bootstrap.done", "duration_ms=%lld",
	         (long long) (pgw_now_mono_ms() - t0));
}

/* step_clone: DECIDE_CLONE and DECIDE_REINIT */
static void
step_clone(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
           const LocalHealth *self, ExecOutcome *out)
{
	const NodeConfig *cfg = e->cfg;
	int64_t t0 = pgw_now_mono_ms();
	char host[256];
	HealthUpstream up = {0};
	int rc;

	if (!exec_upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
	{
		no_address(out, "clone source", dec->target);
		return;
	}
	out->role_changed = true;
	if (dec->kind == DECIDE_REINIT || self->data_dir == DATA_DIR_INITIALIZED)
	{
		exec_stop_pg(e, HEALTH_STOP_IMMEDIATE);
		exec_save_wal(e);
		if ((rc = e->ops->wipe_data_dir(cfg->pg_data_dir, &out->err)) != 0)
		{
			fail(out, rc);
			return;
		}
	}
	else if (self->data_dir == DATA_DIR_EMPTY)
	{
		PgwError e2 = {0};

		/* leftovers of an interrupted clone; the clone says if it matters */
		if (e->ops->wipe_data_dir(cfg->pg_data_dir, &e2) != 0)
			log_warn("clone.wipe-failed", "detail=\"%s\" action=clone", e2.msg);
	}
	log_info("clone.start", "source=%s host=%s port=%d", dec->target, up.host,
	         up.port);
	e->cloning = true;
	rc = exec_clone_data_dir(e, &up, &out->err);
	e->cloning = false;
	e->clone_failed = rc != 0;
	if (rc != 0)
	{
		fail(out, rc);
		return;
	}
	e->rewind_failed = false;
	exec_diverge_forget(e, "clone", NULL);
	pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
	if (exec_start_pg(e, false, &out->err) == HEALTH_WAIT_FAILED)
		fail(out, PGW_EIO);
	log_info("clone.done", "source=%s duration_ms=%lld rc=%d", dec->target,
	         (long long) (pgw_now_mono_ms() - t0), out->rc);
}

static void
step_start_replica(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
                   const LocalHealth *self, ExecOutcome *out)
{
	int64_t t0 = pgw_now_mono_ms();
	char host[256];
	HealthUpstream up = {0};
	int rc;

	out->role_changed = true;
	if (!dec->target[0] ||
	    !exec_upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
	{
		/* no upstream known: start in recovery, never read-write */
		if ((rc = e->ops->ensure_standby(e->pg, &out->err)) != 0)
			fail(out, rc);
		else if (exec_start_pg(e, false, &out->err) == HEALTH_WAIT_FAILED)
			fail(out, PGW_EIO);
		return;
	}
	/*
	 * A former primary may hold WAL the new leader never got: starting it
	 * as a replica would stall on a diverged timeline. Rewind first when
	 * pg_control says so.
	 */
	if (self->pg_was_primary && !self->pg_running &&
	    ctx->view->config.use_pg_rewind)
	{
		bool needed = true;
		PgwError e2 = {0};

		if (e->ops->rewind_needed(e->pg, &up, &needed, &e2) != 0)
			log_warn("rewind.check-failed", "detail=\"%s\" action=rewind",
			         e2.msg);
		if (needed)
		{
			log_info("rewind.start", "source=%s reason=former-primary",
			         dec->target);
			exec_save_wal(e);
			if ((rc = e->ops->rewind(e->pg, &up, &out->err)) != 0)
			{
				if (rc == PGW_ESTATE || rc == PGW_EIO)
					e->rewind_failed = true;
				fail(out, rc);
				return;
			}
			exec_diverge_forget(e, "rewind", dec->target);
			log_info("rewind.done", "source=%s duration_ms=%lld", dec->target,
			         (long long) (pgw_now_mono_ms() - t0));
		}
	}
	e->should_run = true;
	e->expect_primary = false;
	pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
	if (e->ops->demote(e->pg, &up, REPLICA_START_WAIT_MS, &out->err) ==
	    HEALTH_WAIT_FAILED)
	{
		fail(out, PGW_EIO);
		exec_diverge_start_failed(e, ctx, out->err.msg);
	}
}

static void
step_follow(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
            const LocalHealth *self, ExecOutcome *out)
{
	char host[256];
	HealthUpstream up = {0};
	int rc;

	(void) self;
	if (!exec_upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
	{
		no_address(out, "new upstream", dec->target);
		return;
	}
	if ((rc = e->ops->set_upstream(e->pg, &up, &out->err)) != 0)
	{
		fail(out, rc);
		return;
	}
	pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
	out->role_changed = true;
}

static void
step_acquire(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
             const LocalHealth *self, ExecOutcome *out)
{
	char holder[PGW_NAME_MAX];
	bool won = false;
	int rc;

	(void) self;
	if (dec->takeover_from_lease != 0)
	{
		/* our own key from an earlier lease: move it, by value+lease
		 * compare, instead of waiting out its TTL */
		rc = e->ops->leader_takeover(ctx->etcd, ctx->prefix, ctx->name,
		                             dec->takeover_from_lease, ctx->lease_id,
		                             &out->err);
		won = rc == 0;
		if (rc == PGW_ECONFLICT)
		{
			rc = 0;
			pgw_error_clear(&out->err);
		}
		pgw_strlcpy(holder, won ? ctx->name : "?", sizeof(holder));
	}
	else
		rc = acquire(e, ctx, &won, holder, &out->err);
	if (rc != 0)
	{
		fail(out, rc);
		return;
	}
	if (!won)
	{
		log_info("leader.acquire-lost", "holder=%s", holder);
		return;
	}
	e->should_run = true;
	e->expect_primary = true;
	log_info("leader.acquired", "lease=%llx",
	         (unsigned long long) ctx->lease_id);
	out->key_acquired = true;
	out->leads = true;
}

/* vetoed: pre_promote said no (or could not run): true when it did */
static bool
vetoed(FailoverExec *e, const ExecContext *ctx)
{
	const char *cmd = e->cfg->pg_pre_promote;
	int status = 0;
	int prc;
	PgwError err = {0};

	if (cmd == NULL || cmd[0] == '\0')
		return false;
	prc = e->ops->run_command(
	    cmd, NULL, (int) ctx->view->config.retry_timeout_ms * 3, &status, &err);
	if (prc == 0 && status == 0)
		return false;
	e->vetoed_mono_ms = pgw_now_mono_ms();
	log_warn("promote.vetoed",
	         "script=pre_promote exit=%d error=%s action=release", status,
	         prc ? pgw_strerror(prc) : "none");
	return true;
}

static void
step_promote(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
             const LocalHealth *self, ExecOutcome *out)
{
	int64_t t0 = pgw_now_mono_ms();
	uint32_t new_tl = 0;
	uint64_t at = self->pg_received_lsn > self->pg_replayed_lsn
	                  ? self->pg_received_lsn
	                  : self->pg_replayed_lsn;
	int rc;

	if (!dec->key_already_held)
	{
		char holder[PGW_NAME_MAX];
		bool won = false;

		if ((rc = acquire(e, ctx, &won, holder, &out->err)) != 0)
		{
			fail(out, rc);
			return;
		}
		if (!won)
		{
			log_info("promote.lost-race", "holder=%s", holder);
			return;
		}
		out->key_acquired = true;
	}
	if (vetoed(e, ctx))
	{
		PgwError e2 = {0};

		/* give the key back so another member can lead */
		if (e->ops->leader_release(ctx->etcd, ctx->prefix, ctx->name, &e2) != 0)
			log_warn("leader.release-failed", "detail=\"%s\"", e2.msg);
		else
		{
			out->key_acquired = false;
			out->key_released = true;
		}
		return;
	}
	if (ctx->view->config.synchronous_mode)
		exec_sync_claim(e, ctx);
	log_info("promote.start", "reason=\"%s\"", dec->reason);
	rc = e->ops->promote(e->pg, 30, &new_tl, &out->err);
	if (rc != 0 && rc != PGW_ESTATE)
	{
		fail(out, rc);
		return;
	}
	pgw_error_clear(&out->err); /* PGW_ESTATE: already promoted */
	/* the duties that follow start afresh: slots first, so replicas
	 * re-pointed to us stream at once, and the status optime */
	e->slots_for = 0;
	e->status_published_mono_ms = 0;
	e->should_run = true;
	e->expect_primary = true;
	e->upstream[0] = '\0';
	exec_diverge_forget(e, "promotion", NULL);
	log_info("promote.done", "timeline=%u duration_ms=%lld", new_tl,
	         (long long) (pgw_now_mono_ms() - t0));
	e->pending.history = true;
	e->pending.new_timeline = (int) new_tl;
	e->pending.lsn = at;
	pgw_strlcpy(e->pending.reason, dec->reason, sizeof(e->pending.reason));
	/* the request is done: a new leader clears it, by the revision this
	 * decision saw */
	e->pending.clear_failover_rev =
	    ctx->view->failover.present ? ctx->view->failover.mod_revision : 0;
	out->leads = true;
	out->role_changed = true;
	out->became_writable = true;
}

static void
step_demote(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
            const LocalHealth *self, ExecOutcome *out)
{
	int64_t t0 = pgw_now_mono_ms();
	PgwError err = {0};

	(void) ctx;
	(void) self;
	/* fencing ends a switchover that has not handed over yet; one that
	 * has is ending this way (the target holds the key while our
	 * postmaster finishes exiting): nothing to abandon, and no error (1
	 * switchover in 4 logged one) */
	if (e->swo.step < SWO_HANDED_OVER && exec_switchover_abandon(e, &err) != 0)
		log_error("switchover.abandon-failed", "detail=\"%s\"", err.msg);
	log_warn("demote.start", "mode=%s reason=\"%s\"",
	         dec->demote_mode == DEMOTE_IMMEDIATE ? "immediate" : "fast",
	         dec->reason);
	exec_stop_pg(e, dec->demote_mode == DEMOTE_IMMEDIATE ? HEALTH_STOP_IMMEDIATE
	                                                     : HEALTH_STOP_FAST);
	e->expect_primary = false;
	log_info("demote.done", "duration_ms=%lld",
	         (long long) (pgw_now_mono_ms() - t0));
	out->role_changed = true;
}

static void
step_restart_primary(FailoverExec *e, const ExecContext *ctx,
                     const Decision *dec, const LocalHealth *self,
                     ExecOutcome *out)
{
	/*
	 * Wait for crash recovery no longer than primary_start_timeout allows:
	 * a start still running then comes back PENDING, and the next loop
	 * releases the key (leader-pg-down-release) instead of this one
	 * blocking for START_TIMEOUT_MS.
	 */
	int64_t budget = ctx->view->config.primary_start_timeout_ms -
	                 (e->crashed_since_mono_ms != 0
	                      ? pgw_now_mono_ms() - e->crashed_since_mono_ms
	                      : 0);

	(void) dec;
	(void) self;
	e->restart_attempts++;
	log_info("pg.restart", "attempt=%d", e->restart_attempts);
	e->restart_failed = false;
	if (budget < 500)
		budget = 500;
	if (budget > START_TIMEOUT_MS)
		budget = START_TIMEOUT_MS;
	out->role_changed = true;
	if (exec_start_pg_within(e, true, (int) budget, &out->err) ==
	    HEALTH_WAIT_FAILED)
	{
		/* the release must not wait for the tick */
		e->restart_failed = true;
		out->run_again = true;
		fail(out, PGW_EIO);
	}
}

static void
step_release(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
             const LocalHealth *self, ExecOutcome *out)
{
	int rc;

	/* a crashed primary still in crash recovery may not even heed an
	 * immediate stop for seconds (PostgreSQL fsyncs the data directory
	 * before redo): kill it outright, it is not serving */
	if (self->pg_crashed_since_mono_ms != 0 && e->pm.running)
		(void) e->ops->fence_postmaster(e->pm.pid);
	exec_stop_pg(e, HEALTH_STOP_IMMEDIATE);
	e->expect_primary = false;
	out->role_changed = true;
	rc = e->ops->leader_release(ctx->etcd, ctx->prefix, ctx->name, &out->err);
	if (rc != 0 && rc != PGW_ECONFLICT)
	{
		fail(out, rc);
		return;
	}
	pgw_error_clear(&out->err);
	log_warn("leader.released", "reason=\"%s\"", dec->reason);
	/* the replicas ask our REST API before promoting: the loop republishes
	 * from this at once, not after our next (maybe long) step */
	out->key_released = true;
}

static void
step_rewind(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
            const LocalHealth *self, ExecOutcome *out)
{
	int64_t t0 = pgw_now_mono_ms();
	char host[256];
	HealthUpstream up = {0};
	int rc;

	(void) self;
	if (!exec_upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
	{
		no_address(out, "rewind source", dec->target);
		return;
	}
	exec_stop_pg(e, HEALTH_STOP_FAST);
	out->role_changed = true;
	log_info("rewind.start", "source=%s", dec->target);
	exec_save_wal(e);
	if ((rc = e->ops->rewind(e->pg, &up, &out->err)) != 0)
	{
		if (rc == PGW_ESTATE || rc == PGW_EIO)
			e->rewind_failed = true;
		fail(out, rc);
		return;
	}
	exec_diverge_forget(e, "rewind", dec->target);
	pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
	if (exec_start_pg(e, false, &out->err) == HEALTH_WAIT_FAILED)
	{
		fail(out, PGW_EIO);
		exec_diverge_start_failed(e, ctx, out->err.msg);
	}
	log_info("rewind.done", "source=%s duration_ms=%lld rc=%d", dec->target,
	         (long long) (pgw_now_mono_ms() - t0), out->rc);
}

static void
step_cancel_switchover(FailoverExec *e, const ExecContext *ctx,
                       const Decision *dec, const LocalHealth *self,
                       ExecOutcome *out)
{
	int rc;

	(void) self;
	log_warn("switchover.refused", "reason=\"%s\"", dec->reason);
	rc = e->ops->cas_delete(ctx->etcd, ctx->prefix, "failover",
	                        ctx->view->failover.mod_revision, &out->err);
	if (rc == PGW_ECONFLICT)
		pgw_error_clear(&out->err); /* someone changed it: decide again */
	else if (rc != 0)
		fail(out, rc);
}

static const ExecStep steps[DECIDE_KIND_COUNT] = {
    [DECIDE_WAIT] = {"wait", step_nothing},
    [DECIDE_BOOTSTRAP] = {"bootstrap", step_bootstrap},
    [DECIDE_CLONE] = {"clone", step_clone},
    [DECIDE_START_REPLICA] = {"start-replica", step_start_replica},
    [DECIDE_FOLLOW] = {"follow", step_follow},
    [DECIDE_RENEW] = {"renew", step_renew},
    [DECIDE_ACQUIRE] = {"acquire", step_acquire},
    [DECIDE_REFRESH] = {"refresh", step_nothing},
    [DECIDE_PROMOTE] = {"promote", step_promote},
    [DECIDE_DEMOTE] = {"demote", step_demote},
    [DECIDE_RESTART_PRIMARY] = {"restart-primary", step_restart_primary},
    [DECIDE_RELEASE] = {"release", step_release},
    [DECIDE_REWIND] = {"rewind", step_rewind},
    [DECIDE_REINIT] = {"reinit", step_clone},
    [DECIDE_TILT] = {"tilt", step_nothing},
    [DECIDE_SWITCHOVER] = {"switchover", exec_switchover_step},
    [DECIDE_CANCEL_SWITCHOVER] = {"cancel-switchover", step_cancel_switchover},
};

const ExecStep *
exec_steps_table(int *n)
{
	*n = (int) PGW_LENGTHOF(steps);
	return steps;
}

DecisionKind
exec_steps_check(const ExecStep *table, int n)
{
	for (int k = 0; k < DECIDE_KIND_COUNT; k++)
		if (k >= n || table[k].fn == NULL || table[k].name == NULL ||
		    strcmp(table[k].name,
		           failover_decision_kind_name((DecisionKind) k)) != 0)
			return (DecisionKind) k;
	return DECIDE_KIND_COUNT;
}
