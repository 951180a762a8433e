/*
 * rule_preds.c: the predicates of the rule table in rules.c, one per row,
 * over the DecideCtx that decide.c computed (moved from rules.c unchanged;
 * declared in rules_int.h). Each answers only "does this row match?"; the
 * order of the rows, which makes the first match win, is the table's.
 */
#include "failover/rules_int.h"

#include <string.h>

/* ---- shared sub-predicates ---------------------------------------------- */

static bool
data_empty(const DecideCtx *c)
{
	return c->self->data_dir == DATA_DIR_EMPTY;
}

/* another member leads (a key with our name on an old lease is not that) */
static bool
other_leader(const DecideCtx *c)
{
	return c->has_leader && !c->holds_leader && !c->stale_own_key;
}

/* the electable path: initialized, data present, leader key free */
static bool
no_leader(const DecideCtx *c)
{
	return !c->has_leader;
}

static bool
running_replica_no_leader(const DecideCtx *c)
{
	return no_leader(c) && c->pg_serving && !c->pg_may_write;
}

static bool
we_are(const DecideCtx *c, FailoverIneligible why)
{
	return running_replica_no_leader(c) && c->me.why == why;
}

/* ---- group "input" ------------------------------------------------------ */

bool
p_invalid_input(const DecideCtx *c)
{
	return c->bad_input;
}

/* ---- group "fence": who may write, checked before anything else --------- */

bool
p_fence_no_lease(const DecideCtx *c)
{
	return c->pg_may_write && !c->has_lease;
}

bool
p_fence_deadline_passed(const DecideCtx *c)
{
	/*
	 * Split brain guard (promise 1): our deadline is measured from the send
	 * time of the last confirmed keepalive minus a margin, so it passes
	 * before etcd lets the key expire and another member promotes.
	 * In failsafe mode the daemon raises that deadline while every member
	 * vouches for us over the REST API (daemon/failsafe.c, failsafe_confirm).
	 */
	return c->pg_may_write && c->deadline_passed;
}

bool
p_fence_other_holds_key(const DecideCtx *c)
{
	/* any key that is not ours, including our name on an old lease */
	return c->view_ok && c->pg_may_write && c->has_leader && !c->holds_leader;
}

/* ---- group "switchover": one we lead, between its sub-states ------------ */

bool
p_switchover_in_progress(const DecideCtx *c)
{
	/*
	 * A switchover runs one sub-state per turn (exec_switchover.c) and is
	 * bounded by its own deadlines: it is carried on before anything else
	 * is considered (a stall, etcd, an election we would win with our key
	 * just handed over), and only fencing above may end it.
	 */
	return c->self->switchover_step != SWO_NONE;
}

/* ---- group "tilt" ------------------------------------------------------- */

bool
p_tilt(const DecideCtx *c)
{
	return c->stalled;
}

/* ---- group "etcd" ------------------------------------------------------- */

bool
p_etcd_unreachable_keep_primary(const DecideCtx *c)
{
	return !c->view_ok && c->pg_may_write;
}

bool
p_etcd_unreachable(const DecideCtx *c)
{
	return !c->view_ok;
}

/* ---- group "init": initialize key, data directory ---------------------- */

bool
p_sysid_mismatch(const DecideCtx *c)
{
	return c->sysid_mismatch;
}

bool
p_data_dir_unknown(const DecideCtx *c)
{
	return c->self->data_dir == DATA_DIR_UNKNOWN;
}

bool
p_bootstrap(const DecideCtx *c)
{
	return !c->has_initialize && no_leader(c) && data_empty(c) &&
	       c->self->bootstrap_allowed;
}

bool
p_bootstrap_adopt(const DecideCtx *c)
{
	return !c->has_initialize && no_leader(c) &&
	       c->self->data_dir == DATA_DIR_INITIALIZED &&
	       c->self->bootstrap_allowed;
}

bool
p_bootstrap_wait(const DecideCtx *c)
{
	return !c->has_initialize && no_leader(c);
}

bool
p_bootstrap_in_progress(const DecideCtx *c)
{
	return c->initialize_pending && no_leader(c) && data_empty(c);
}

bool
p_clone_no_leader(const DecideCtx *c)
{
	return data_empty(c) && no_leader(c);
}

bool
p_clone_leader_no_member(const DecideCtx *c)
{
	return data_empty(c) && other_leader(c) && c->leader_member == NULL;
}

bool
p_clone_retry(const DecideCtx *c)
{
	return data_empty(c) && other_leader(c) && c->self->clone_failed;
}

bool
p_clone(const DecideCtx *c)
{
	return data_empty(c) && other_leader(c);
}

/* ---- group "leader": the key holds our name on our lease ---------------- */

bool
p_leader_data_empty_release(const DecideCtx *c)
{
	return c->holds_leader && data_empty(c);
}

bool
p_leader_pg_down_release(const DecideCtx *c)
{
	/* a restart that failed outright (postgres exited: unreadable data,
	 * no disk, a bad setting) will not heal by waiting: release at once so
	 * that a replica is promoted within about a second of the crash, not
	 * after primary_start_timeout */
	return c->holds_leader && !c->pg_serving &&
	       c->self->pg_crashed_since_mono_ms != 0 &&
	       (c->start_timeout_passed ||
	        (c->self->restart_failed && !c->self->pg_running));
}

bool
p_leader_renew(const DecideCtx *c)
{
	return c->holds_leader && c->pg_may_write;
}

bool
p_leader_pg_restart(const DecideCtx *c)
{
	return c->holds_leader && !c->self->pg_running;
}

bool
p_leader_pg_starting(const DecideCtx *c)
{
	return c->holds_leader && !c->pg_serving;
}

bool
p_leader_replica_release(const DecideCtx *c)
{
	/* we won the key earlier but may not be promoted now (promise 2) */
	return c->holds_leader &&
	       (c->self->nofailover || c->self->failover_priority <= 0 ||
	        (c->rank.sync_mode && !rank_in_sync(c->rank.sync, c->self->name)));
}

bool
p_leader_replica_promote(const DecideCtx *c)
{
	return c->holds_leader;
}

/* ---- group "replica": another member holds the key --------------------- */

bool
p_stale_own_key_takeover(const DecideCtx *c)
{
	/*
	 * A restarted daemon finds the key on its previous lease: nobody else
	 * can have promoted while that key lives, so move it to our lease (one
	 * txn comparing name and old lease; a stale view only makes it fail)
	 * and restart as primary (promise 1). Never while PG may write, and
	 * only when the process that held that lease is proven gone: a
	 * force-deleted pod's successor has our name, while its predecessor
	 * may still hold the lease and write (lease_holder.c). Never a key we
	 * gave up ourselves (issue 21): the replicas may already be electing.
	 */
	return c->stale_own_key && !c->pg_may_write && c->self->lease_id != 0 &&
	       c->has_lease && !c->deadline_passed &&
	       c->self->data_dir == DATA_DIR_INITIALIZED &&
	       c->self->proven_prior_lease != 0 &&
	       c->self->proven_prior_lease == c->view->leader_lease &&
	       c->self->released_lease != c->view->leader_lease;
}

bool
p_stale_own_key(const DecideCtx *c)
{
	return c->stale_own_key;
}

bool
p_leader_no_member(const DecideCtx *c)
{
	return other_leader(c) && c->leader_member == NULL;
}

bool
p_diverged_rewind(const DecideCtx *c)
{
	return other_leader(c) && c->diverged && c->view->config.use_pg_rewind &&
	       !c->self->rewind_failed;
}

bool
p_diverged_reinit(const DecideCtx *c)
{
	return other_leader(c) && c->diverged &&
	       c->view->config.remove_data_directory_on_rewind_failure;
}

bool
p_diverged_stuck(const DecideCtx *c)
{
	return other_leader(c) && c->diverged;
}

bool
p_replica_start(const DecideCtx *c)
{
	return other_leader(c) && !c->self->pg_running;
}

bool
p_replica_starting(const DecideCtx *c)
{
	return other_leader(c) && !c->pg_serving;
}

bool
p_replica_wrong_upstream(const DecideCtx *c)
{
	return other_leader(c) &&
	       strncmp(c->self->upstream, c->view->leader, PGW_NAME_MAX) != 0;
}

bool
p_replica_following(const DecideCtx *c)
{
	return other_leader(c);
}

/* ---- group "election": the leader key is free -------------------------- */

bool
p_no_leader_released_by_us(const DecideCtx *c)
{
	/*
	 * We gave the key up (issue 21: the fence after our daemon died, a
	 * release rule, a stop) so that a replica takes over within a watch
	 * notification; a restarted daemon, or this one, must not start
	 * PostgreSQL and compete with its old primary's WAL, which would make
	 * the others wait for it ("someone-ahead"). For one ttl, the time they
	 * would have waited for the lease anyway, and only while another member
	 * could take over; after that a normal election runs. Only while our
	 * PostgreSQL is down: a running replica that others may see ahead of
	 * them must take part, or they would wait for it and it for them (the
	 * daemon also forgets the record once another member led).
	 */
	return no_leader(c) && !c->self->pg_running && c->released_recently &&
	       c->released_candidate != NULL;
}

bool
p_no_leader_data_unusable(const DecideCtx *c)
{
	return no_leader(c) && !c->self->pg_running && c->self->rewind_incomplete;
}

bool
p_no_leader_start(const DecideCtx *c)
{
	return no_leader(c) && !c->self->pg_running;
}

bool
p_no_leader_starting(const DecideCtx *c)
{
	return no_leader(c) && !c->pg_serving && !c->pg_may_write;
}

bool
p_failsafe_vouched(const DecideCtx *c)
{
	/*
	 * failsafe mode: a primary cut from etcd keeps writing while every
	 * member vouches for it. Having vouched less than a ttl ago, we must
	 * not promote beside it, even though the key expired.
	 */
	return no_leader(c) && !c->pg_may_write &&
	       c->self->failsafe_vouched_mono_ms != 0 &&
	       c->now_mono_ms - c->self->failsafe_vouched_mono_ms < c->ttl_ms;
}

bool
p_not_failsafe_member(const DecideCtx *c)
{
	/* Patroni's rule: in failsafe mode only a member the leader listed in
	 * `failsafe` may promote; one it did not list never vouched for it */
	return no_leader(c) && !c->pg_may_write && c->view->config.failsafe_mode &&
	       c->view->failsafe.present &&
	       !dcs_failsafe_has(&c->view->failsafe, c->self->name);
}

bool
p_primary_refresh(const DecideCtx *c)
{
	return no_leader(c) && c->pg_may_write &&
	       (!c->self->view_is_linearizable || !c->self->peers_probed);
}

bool
p_primary_peer_primary(const DecideCtx *c)
{
	return no_leader(c) && c->pg_may_write && c->blocking_peer != NULL;
}

bool
p_primary_newer_timeline(const DecideCtx *c)
{
	return no_leader(c) && c->pg_may_write && c->newer_timeline > 0;
}

bool
p_primary_acquire(const DecideCtx *c)
{
	return no_leader(c) && c->pg_may_write;
}

bool
p_we_diverged(const DecideCtx *c)
{
	/*
	 * The timeline check found our WAL off the last leader's history: our
	 * LSN compares with nobody's (it is on a timeline the cluster left),
	 * and promoting us would drop the newer timeline's commits. Our member
	 * key says nofailover meanwhile, so no peer waits for us.
	 */
	return running_replica_no_leader(c) && c->self->timeline_diverged;
}

bool
p_we_nofailover(const DecideCtx *c)
{
	return we_are(c, FAILOVER_INELIGIBLE_NOFAILOVER);
}

bool
p_we_priority_zero(const DecideCtx *c)
{
	return we_are(c, FAILOVER_INELIGIBLE_PRIORITY_ZERO);
}

bool
p_we_timeline_behind(const DecideCtx *c)
{
	return we_are(c, FAILOVER_INELIGIBLE_TIMELINE_BEHIND);
}

bool
p_we_not_sync(const DecideCtx *c)
{
	return we_are(c, FAILOVER_INELIGIBLE_NOT_SYNC);
}

bool
p_we_lag(const DecideCtx *c)
{
	return we_are(c, FAILOVER_INELIGIBLE_LAG);
}

bool
p_election_refresh(const DecideCtx *c)
{
	/* promise 5: linearizable read and every reachable peer asked */
	return running_replica_no_leader(c) &&
	       (!c->self->view_is_linearizable || !c->self->peers_probed);
}

bool
p_quorum_unsafe(const DecideCtx *c)
{
	return running_replica_no_leader(c) && c->me.why == FAILOVER_ELIGIBLE &&
	       c->self->peers_probed && c->quorum_needed > 0 &&
	       c->quorum_seen < c->quorum_needed;
}

bool
p_peer_still_primary(const DecideCtx *c)
{
	return running_replica_no_leader(c) && c->blocking_peer != NULL;
}

bool
p_someone_ahead(const DecideCtx *c)
{
	return running_replica_no_leader(c) && c->ahead_name != NULL;
}

bool
p_we_are_best(const DecideCtx *c)
{
	return running_replica_no_leader(c) && c->me.why == FAILOVER_ELIGIBLE;
}

/* ---- group "switchover": the `failover` key (a request, manual) -------- */

static bool
leader_side_request(const DecideCtx *c)
{
	return c->holds_leader && c->pg_may_write && c->pg_serving &&
	       c->fo_present && c->fo_due;
}

bool
p_fo_cancel(const DecideCtx *c)
{
	return leader_side_request(c) && (!c->fo_leader_ok || !c->fo_target_ok);
}

bool
p_fo_switchover(const DecideCtx *c)
{
	return leader_side_request(c) && c->fo_leader_ok && c->fo_target_ok;
}

/* we are the named target and the key is free: the old leader handed over */
static bool
fo_candidate(const DecideCtx *c)
{
	return no_leader(c) && c->fo_present && !c->fo_expired &&
	       c->fo_we_are_target && c->pg_serving && c->self->pg_in_recovery;
}

/*
 * The peers are asked unless the old leader handed over: it stopped, and
 * the txn that freed the key recorded a shutdown checkpoint we already
 * hold, so no member can be primary or have WAL we lack.
 */
bool
p_fo_candidate_refresh(const DecideCtx *c)
{
	return fo_candidate(c) && !(c->self->view_is_linearizable &&
	                            (c->self->peers_probed || c->fo_handed_over));
}

bool
p_fo_candidate_promote(const DecideCtx *c)
{
	/*
	 * Promise 5 still holds for a requested promotion: fresh view, every
	 * reachable peer asked, nobody still primary, nobody with more WAL.
	 */
	return fo_candidate(c) && c->blocking_peer == NULL &&
	       c->max_peer_position <= c->our_position &&
	       c->me.why == FAILOVER_ELIGIBLE;
}

bool
p_fo_wait_target(const DecideCtx *c)
{
	return no_leader(c) && c->fo_present && !c->fo_expired &&
	       !c->fo_we_are_target && c->view->failover.member[0] != '\0';
}

/* ---- group "pause": no automatic action (a paused leader still fences) - */

bool
p_paused_renew(const DecideCtx *c)
{
	return c->paused && c->holds_leader && c->pg_may_write;
}

bool
p_paused(const DecideCtx *c)
{
	return c->paused;
}
