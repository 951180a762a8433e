/*
 * exec_requests.c: what the REST API asks the executor for (the loop runs
 * it between two turns): restart keeping the role, reload, re-clone, and
 * the SIGTERM path (stop, then release the key).
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/strutil.h"

#include <stdio.h>
#include <string.h>

/* busy: a switchover is between its sub-states: PostgreSQL is its own */
static int
busy(const FailoverExec *e, PgwError *err)
{
	if (e->swo.step == SWO_NONE)
		return 0;
	return pgw_error_set(
	    err, PGW_ESTATE, "a switchover to %s is in progress (%s)",
	    e->swo.target, failover_switchover_step_name(e->swo.step));
}

int
failover_exec_restart(FailoverExec *e, const ExecContext *ctx, int timeout_ms,
                      PgwError *err)
{
	bool as_primary = failover_exec_is_writable_primary(e);
	HealthWait w;
	int rc;

	(void) ctx;
	if ((rc = busy(e, err)) != 0)
		return rc;
	if (!e->pm.running)
		return pgw_error_set(err, PGW_ESTATE, "postgres is not running");
	log_info("pg.restart", "reason=requested primary=%d", as_primary);
	e->should_run = true;
	e->expect_primary = as_primary;
	w = e->ops->restart(e->pg, timeout_ms, err);
	exec_pm_refresh(e);
	return w == HEALTH_WAIT_READY     ? 0
	       : w == HEALTH_WAIT_PENDING ? PGW_ETIMEDOUT
	                                  : PGW_EIO;
}

int
failover_exec_reload(FailoverExec *e, PgwError *err)
{
	return e->ops->reload(e->pg, err);
}

int
failover_exec_reinit(FailoverExec *e, const ExecContext *ctx, PgwError *err)
{
	LocalHealth self = {0};
	Decision dec = {0};
	ExecOutcome out;
	int rc;

	if ((rc = busy(e, err)) != 0)
		return rc;
	if (!ctx->view->has_leader || strcmp(ctx->view->leader, ctx->name) == 0)
		return pgw_error_set(err, PGW_ESTATE,
		                     ctx->view->has_leader
		                         ? "cannot reinitialize the leader"
		                         : "no leader to clone from");
	dec.kind = DECIDE_REINIT;
	dec.rule = "requested-reinit";
	pgw_strlcpy(dec.target, ctx->view->leader, sizeof(dec.target));
	snprintf(dec.reason, sizeof(dec.reason),
	         "reinitialize requested; re-cloning from %s", ctx->view->leader);
	self.data_dir = DATA_DIR_INITIALIZED;
	out = failover_execute(e, ctx, &dec, &self);
	if (out.rc != 0 && err != NULL)
		*err = out.err;
	return out.rc;
}

bool
failover_exec_pending_restart(const FailoverExec *e)
{
	return e->rep->reachable && e->rep->pending_restart;
}

bool
failover_exec_shutdown(FailoverExec *e, const ExecContext *ctx)
{
	PgwError err = {0};
	bool leading =
	    ctx->view->has_leader && strcmp(ctx->view->leader, ctx->name) == 0;

	if (e->pm.running)
	{
		log_info("pg.stop", "mode=fast reason=shutdown");
		exec_stop_pg(e, HEALTH_STOP_FAST);
	}
	/* release only after PostgreSQL stopped: no writes after the key goes */
	if (!leading)
		return false;
	if (e->ops->leader_release(ctx->etcd, ctx->prefix, ctx->name, &err) != 0)
	{
		log_warn("leader.release-failed",
		         "reason=shutdown detail=\"%s\" action=lease-expires", err.msg);
		return false;
	}
	log_info("leader.released", "reason=shutdown");
	return true;
}
