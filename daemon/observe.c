/*
 * observe.c: the observe phase of a turn (DESIGN.md "daemon/"): the one
 * function that fills what the decision reads: the view (read when the
 * watch cache is not valid, or afresh with a new lease), the lease and
 * fencing facts, the local node (the executor's look at PostgreSQL), and,
 * when a decision asks for it, promise 5's refresh before a promotion: a
 * linearizable read and every reachable peer asked.
 */
#include "daemon/daemon_loop.h"
#include "daemon/dropin_int.h"
#include "daemon/fast_release.h"
#include "daemon/lease_witness.h"

#include "common/pgwtime.h"

#include <string.h>

/* session_facts: what the daemon, not the executor, knows for the engine */
static void
session_facts(Daemon *d, LocalHealth *self, bool etcd_ok)
{
	self->failsafe_vouched_mono_ms = rest_failsafe_vouched_ms(d->rest);
	self->now_wall_ms = pgw_now_wall_ms();
	self->leader_absent_since_mono_ms = d->leader_absent_since_mono_ms;
	self->lease_id = d->lease_id;
	self->lease_deadline_mono_ms = d->lease_deadline_mono_ms;
	self->last_loop_mono_ms = d->last_loop_mono_ms;
	self->etcd_ok = etcd_ok;
	self->proven_prior_lease = lease_holder_proven(d->cfg->pg_data_dir);
	release_facts(d->cfg, &self->released_lease, &self->released_mono_ms);
	/* a key we gave up matters until another member leads */
	if (self->released_lease != 0 && etcd_ok && d->view->has_leader &&
	    strcmp(d->view->leader, d->cfg->name) != 0)
	{
		release_forget(d->cfg, d->view->leader);
		self->released_lease = 0;
		self->released_mono_ms = 0;
	}
}

/* observe_local: the start of a turn */
static void
observe_local(Daemon *d, Observation *o)
{
	int64_t t0 = o->t0_mono_ms;
	int64_t dl;

	if (!d->view_valid)
		(void) session_read_view(d, false);
	/*
	 * A new lease (the first, or after ours expired) is a moment to read
	 * afresh: keys on the old lease vanish in etcd without our watch
	 * telling us while we were cut off. A failsafe leader back from a
	 * partition still saw its own leader key on the dead lease, read that
	 * as "another lease holds the key" and demoted instead of taking the
	 * free key.
	 */
	if (d->view_valid && session_ensure_lease(d))
		(void) session_read_view(d, true);
	if (d->view_valid && !d->view->has_leader)
	{
		if (d->leader_absent_since_mono_ms == 0)
			d->leader_absent_since_mono_ms = t0;
	}
	else if (d->view_valid)
		d->leader_absent_since_mono_ms = 0;
	dl = session_confirmed_deadline(NULL);
	if (dl > d->lease_deadline_mono_ms)
	{
		d->lease_deadline_mono_ms = dl;
		fence_raise_deadline(dl);
	}
	failover_exec_observe(d->exec, d->view, &o->self);
	pg_params_sync(d->exec, d->cfg, d->view, d->view_valid);
	lease_witness_follow(d); /* issue 19 */
	if (!session_keepalive_late(d))
		failsafe_ended(d);
	o->observed_mono_ms = pgw_now_mono_ms();
	/* a watch-fed view stays "valid" while etcd is gone: without confirmed
	 * keepalives we act as with etcd unreachable (no restart as primary on
	 * a lease that may have run out, say) */
	session_facts(d, &o->self, d->view_valid && !session_keepalive_late(d));
	o->self.view_is_linearizable = false;
	o->n_peers = 0;
}

/* peer_status: a peer's REST answer as the decision engine reads it */
static void
peer_status(const PeerProbe *p, PeerStatus *s)
{
	failover_peer_from_probe(s, p->name, p->reachable, p->is_primary,
	                         p->holds_leader, p->running, p->timeline,
	                         p->xlog_location, p->received_location,
	                         p->replayed_location);
}

int
turn_observe(Daemon *d, Observation *o, ObserveDepth depth)
{
	int rc;

	switch (depth)
	{
		case OBSERVE_LOCAL:
			observe_local(d, o);
			return 0;
		case OBSERVE_LINEARIZABLE:
			if ((rc = session_read_view(d, true)) != 0)
				return rc;
			failover_exec_reobserve(d->exec, d->view, &o->self, 100);
			session_facts(d, &o->self, true);
			o->self.view_is_linearizable = true;
			return 0;
		case OBSERVE_PEERS:
		{
			PeerProbe probes[PGW_MEMBERS_MAX];
			int timeout = (int) d->view->config.retry_timeout_ms;
			int n;

			if (timeout > 2000)
				timeout = 2000;
			if (o->peers_timeout_ms > 0)
				timeout = o->peers_timeout_ms;
			n = peers_probe(d->view, d->cfg->name, timeout, probes,
			                PGW_MEMBERS_MAX);

			for (int i = 0; i < n; i++)
				peer_status(&probes[i], &o->peers[i]);
			o->n_peers = n;
			o->self.peers_probed = true;
			o->self.now_wall_ms = pgw_now_wall_ms();
			return 0;
		}
	}
	return 0;
}
