/*
 * cycle.c: one turn of the HA loop (DESIGN.md "daemon/" and "Timing
 * model"): observe (observe.c) -> decide (failover_decide, pure, with the
 * refresh round a REFRESH decision asks for) -> act (act.c: one executor
 * step, which returns an outcome) -> publish (publish.c, from the outcome).
 * Each phase only calls down; nothing a step does reaches back up.
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <string.h>

ExecContext
exec_context(Daemon *d)
{
	ExecContext ctx = {0};

	ctx.etcd = d->etcd;
	ctx.prefix = d->prefix;
	ctx.name = d->cfg->name;
	ctx.lease_id = d->lease_id;
	ctx.view = d->view;
	ctx.key_proven_by_watch = session_key_proven(d);
	ctx.stopping = d->stopping;
	return ctx;
}

Decision
turn_decide(Daemon *d, Observation *o)
{
	Decision dec = failover_decide(d->view, &o->self, NULL, 0, o->t0_mono_ms);

	/*
	 * promise 5: linearizable read and every reachable peer asked. The
	 * read comes first: some rules (a switchover handed over to us) need
	 * no peers, and asking them costs a round trip to each.
	 */
	if (dec.kind == DECIDE_REFRESH &&
	    turn_observe(d, o, OBSERVE_LINEARIZABLE) == 0)
		dec = failover_decide(d->view, &o->self, NULL, 0, pgw_now_mono_ms());
	if (dec.kind == DECIDE_REFRESH && o->self.view_is_linearizable &&
	    turn_observe(d, o, OBSERVE_PEERS) == 0)
		dec = failover_decide(d->view, &o->self, o->peers, o->n_peers,
		                      pgw_now_mono_ms());
	return dec;
}

/* note_decision: a changed decision is logged once, with where the time
 * went (the local probe, or the linearizable read and peer probes) */
static void
note_decision(Daemon *d, const Observation *o, const Decision *dec)
{
	if (dec->kind != d->last.kind ||
	    strcmp(dec->rule ? dec->rule : "", d->last.rule ? d->last.rule : "") !=
	        0)
	{
		log_info(
		    "decision",
		    "kind=%s rule=%s target=%s observe_ms=%lld decide_ms=%lld reason=\"%s\"",
		    failover_decision_kind_name(dec->kind), dec->rule ? dec->rule : "",
		    dec->target[0] ? dec->target : "-",
		    (long long) (o->observed_mono_ms - o->t0_mono_ms),
		    (long long) (pgw_now_mono_ms() - o->observed_mono_ms), dec->reason);
		d->decisions++;
	}
	d->last = *dec;
}

void
one_cycle(Daemon *d)
{
	Observation o;
	Decision dec;
	ExecOutcome out;

	memset(&o, 0, sizeof(o));
	o.t0_mono_ms = pgw_now_mono_ms();
	d->run_again = false;
	if (failsafe_turn(d, o.t0_mono_ms))
		return;
	session_bound_calls(d);
	(void) turn_observe(d, &o, OBSERVE_LOCAL);
	/* observe's view read resets the client's timeout */
	session_bound_calls(d);
	dec = turn_decide(d, &o);
	note_decision(d, &o, &dec);
	out = turn_act(d, &o, &dec);
	turn_publish(d, &o, &dec, &out);
	d->run_again = out.run_again;
}
