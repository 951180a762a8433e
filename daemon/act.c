/*
 * act.c: the act phase of a turn: one executor step for the decision
 * (failover_execute), which returns an ExecOutcome and never calls back.
 * A failed step is logged here, once, with what the executor did about
 * it: the loop is the layer that decides what happens next (re-read the
 * view, decide again).
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"

ExecOutcome
turn_act(Daemon *d, const Observation *o, const Decision *dec)
{
	ExecContext ctx = exec_context(d);
	ExecOutcome out;

	/* a planned switchover begins: the routers pause writes before we
	 * stop (routing_pub.c), not at each of its later sub-states */
	if (dec->kind == DECIDE_SWITCHOVER &&
	    failover_exec_switchover(d->exec, NULL, 0) == SWO_NONE)
		routing_pub_switching(&d->routing, d->etcd, d->prefix, d->cfg->name,
		                      d->lease_id, d->view);
	/* a demoting primary drops its Kubernetes role label first */
	k8s_views_before(d->k8s, dec, failover_exec_is_writable_primary(d->exec));
	out = failover_execute(d->exec, &ctx, dec, &o->self);
	if (out.rc == 0)
		return out;
	if (dec->kind == DECIDE_RENEW && out.rc == PGW_ECONFLICT)
		log_warn("leader.lost", "detail=\"%s\" action=step-down", out.err.msg);
	else
		log_warn("execute.failed", "kind=%s error=%s detail=\"%s\" action=%s",
		         failover_decision_kind_name(dec->kind), pgw_strerror(out.rc),
		         out.err.msg,
		         out.action && out.action[0] ? out.action : "decide-again");
	d->view_valid = false; /* re-read before the next decision */
	return out;
}
