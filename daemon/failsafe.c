/*
 * failsafe.c: Patroni's failsafe mode (DESIGN.md promise 1): with etcd out
 * of reach, a leader whose every member vouches for it over the REST API
 * keeps its deadline alive and stays primary; the `failsafe` key names the
 * members it would ask (a leader duty while etcd answers).
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * failsafe_confirm: failsafe mode with etcd out of reach. As the leader of
 * the last good view, still running read-write, ask every other member to
 * vouch for us (POST /failsafe); when all say yes, move both fences'
 * deadline to the round's send time + ttl - margin, exactly as a confirmed
 * keepalive would. A member that vouched does not promote for a ttl
 * (rules.c, no-leader-failsafe-vouched), so the deadline still passes
 * before any of them may act; one "no" or silence and the deadline runs
 * out as without failsafe.
 */
static bool
failsafe_confirm(Daemon *d, const LocalHealth *self)
{
	const ClusterView *v = d->view;
	char failed[PGW_NAME_MAX];
	long status = 0;
	int64_t sent;
	int timeout = (int) v->config.retry_timeout_ms;

	if (!v->config.failsafe_mode || !v->has_leader ||
	    strcmp(v->leader, d->cfg->name) != 0 || !self->pg_running ||
	    self->pg_in_recovery || d->lease_id == 0 ||
	    d->lease_deadline_mono_ms == 0)
		return false;
	if (timeout > 2000)
		timeout = 2000;
	if (timeout < 200)
		timeout = 200;
	sent = pgw_now_mono_ms();
	if (peers_failsafe_confirm(v, d->cfg->name, d->cfg->restapi_username,
	                           d->cfg->restapi_password, timeout, failed,
	                           sizeof(failed), &status))
	{
		int64_t dl =
		    session_deadline_ms(sent, v->config.ttl_ms, v->config.ttl_ms);

		if (dl > d->lease_deadline_mono_ms)
			d->lease_deadline_mono_ms = dl;
		fence_raise_deadline(dl);
		if (!d->failsafe_active)
			log_warn("failsafe.active", "vouched=all deadline_in_ms=%lld",
			         (long long) (dl - pgw_now_mono_ms()));
		d->failsafe_active = true;
		d->failsafe_refused = false;
		return true;
	}
	if (!d->failsafe_refused)
		log_warn(
		    "failsafe.refused",
		    "member=%s status=%ld action=fence-at-deadline deadline_in_ms=%lld",
		    failed, status,
		    (long long) (d->lease_deadline_mono_ms - pgw_now_mono_ms()));
	d->failsafe_active = false;
	d->failsafe_refused = true;
	return false;
}

/* failsafe_applies: failsafe mode is on, we led in the last good view and
 * etcd stopped confirming our keepalives */
static bool
failsafe_applies(Daemon *d)
{
	return d->view->config.failsafe_mode && d->view->has_leader &&
	       strcmp(d->view->leader, d->cfg->name) == 0 &&
	       session_keepalive_late(d);
}

/*
 * failsafe_turn: the turn while failsafe keeps us primary (failsafe mode
 * is on, we led in the last good view and etcd stopped confirming our
 * keepalives). Every etcd call would block for retry_timeout, and a turn
 * longer than the deadline we just won would fence us: so only the local
 * probe, the round of vouches, the fences and the REST API. False when it
 * does not apply or the members did not all vouch: the caller runs the
 * normal turn, which fences at the deadline.
 */
bool
failsafe_turn(Daemon *d, int64_t t0)
{
	LocalHealth self;
	Decision dec;

	if (!failsafe_applies(d))
		return false;
	failover_exec_observe(d->exec, d->view, &self);
	if (!failsafe_confirm(d, &self))
		return false;
	self.etcd_ok = false;
	self.now_wall_ms = pgw_now_wall_ms();
	self.lease_id = d->lease_id;
	self.lease_deadline_mono_ms = d->lease_deadline_mono_ms;
	self.last_loop_mono_ms = d->last_loop_mono_ms;
	self.leader_absent_since_mono_ms = d->leader_absent_since_mono_ms;
	memset(&dec, 0, sizeof(dec));
	dec.kind = DECIDE_WAIT;
	dec.rule = "failsafe-keep-primary";
	snprintf(
	    dec.reason, sizeof(dec.reason),
	    "etcd out of reach; every member vouched for us (failsafe mode); staying primary");
	if (dec.kind != d->last.kind ||
	    strcmp(dec.rule, d->last.rule ? d->last.rule : "") != 0)
	{
		log_info("decision", "kind=%s rule=%s target=- reason=\"%s\"",
		         failover_decision_kind_name(dec.kind), dec.rule, dec.reason);
		d->decisions++;
	}
	d->last = dec;
	fence_arm(failover_exec_is_writable_primary(d->exec),
	          failover_exec_postmaster_pid(d->exec), d->lease_id);
	(void) fence_watchdog_check();
	publish_snapshot(d, &self, &dec, MEMBER_PUBLISH_SKIP, t0);
	return true;
}

void
failsafe_ended(Daemon *d)
{
	if (!d->failsafe_active && !d->failsafe_refused)
		return;
	log_info("failsafe.ended", "reason=\"etcd reachable again\"");
	d->failsafe_active = false;
	d->failsafe_refused = false;
}

/*
 * failsafe_publish: as the leader with etcd at hand and failsafe mode on,
 * keep the `failsafe` key naming the members we would ask to vouch for us;
 * a member not in it does not promote (rules.c, no-leader-not-failsafe-
 * member), so none can be left out of a round and take over beside us.
 */
void
failsafe_publish(Daemon *d)
{
	PgwError err = {0};
	char *json;

	if (!d->view->config.failsafe_mode || !d->view_valid ||
	    session_keepalive_late(d) || !d->view->has_leader ||
	    strcmp(d->view->leader, d->cfg->name) != 0)
		return;
	json = dcs_failsafe_encode(d->view);
	if (d->failsafe_written != NULL && strcmp(json, d->failsafe_written) == 0)
	{
		free(json);
		return;
	}
	if (dcs_leader_guarded_put(d->etcd, d->prefix, d->cfg->name, d->lease_id,
	                           "failsafe", json, &err) != 0)
	{
		session_note_etcd_error(d, "failsafe-publish", &err);
		free(json);
		return;
	}
	log_info("failsafe.published", "members=%s", json);
	free(d->failsafe_written);
	d->failsafe_written = json;
}
