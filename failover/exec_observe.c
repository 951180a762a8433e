/*
 * exec_observe.c: the executor's half of a turn's observation: what the
 * local node looks like (postmaster, probe, data directory, crash and
 * switchover bookkeeping) as the LocalHealth the decision engine reads.
 * The daemon adds the etcd and timing facts (daemon/observe.c).
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <string.h>

/* leader_lsn: the LSN the leader last told us, for the probe's lag */
static uint64_t
leader_lsn(const FailoverExec *e, const ClusterView *view)
{
	uint64_t lsn = view->leader_optime;

	if (view->has_leader && strcmp(view->leader, e->cfg->name) != 0)
	{
		const MemberInfo *l = dcs_view_member(view, view->leader);

		if (l && l->xlog_location > lsn)
			lsn = l->xlog_location;
	}
	return lsn;
}

/* probe: run the probe, or reuse one of at most reuse_ms ago (relagged) */
static bool
probe(FailoverExec *e, const ClusterView *view, int reuse_ms)
{
	PgwError err = {0};
	bool probed;

	if (reuse_ms > 0 && e->probe_ok_mono_ms != 0 && e->probe_pid == e->pm.pid &&
	    pgw_now_mono_ms() - e->probe_ok_mono_ms <= reuse_ms)
	{
		e->ops->report_relag(e->rep, leader_lsn(e, view));
		return true;
	}
	probed =
	    e->ops->probe_run(e->probe, leader_lsn(e, view), e->rep, &err) == 0;
	e->probe_ok_mono_ms = probed ? pgw_now_mono_ms() : 0;
	e->probe_pid = e->pm.pid;
	if (probed)
	{
		e->last_sysid = e->rep->system_identifier;
		e->last_timeline = (int) e->rep->timeline;
		if (e->postmaster_start_wall_ms == 0)
			e->postmaster_start_wall_ms = pgw_now_wall_ms();
	}
	return probed;
}

static void
observe(FailoverExec *e, const ClusterView *view, LocalHealth *self,
        int reuse_ms)
{
	const NodeConfig *cfg = e->cfg;
	HealthIncomplete incomplete;
	bool standby_signal;
	bool probed = false;

	memset(self, 0, sizeof(*self));
	pgw_strlcpy(self->name, cfg->name, sizeof(self->name));
	/* a pre_promote veto keeps us out of elections for two TTLs, so that
	 * another member gets its chance instead of us looping on the veto */
	self->nofailover =
	    cfg->tag_nofailover ||
	    (e->vetoed_mono_ms != 0 &&
	     pgw_now_mono_ms() - e->vetoed_mono_ms < 2 * view->config.ttl_ms);
	self->failover_priority = cfg->tag_failover_priority;
	self->bootstrap_allowed = true;
	incomplete = e->ops->data_dir_incomplete(cfg->pg_data_dir);
	switch (e->ops->data_dir_state(cfg->pg_data_dir, incomplete))
	{
		case HEALTH_DATA_DIR_EMPTY:
			self->data_dir = DATA_DIR_EMPTY;
			break;
		case HEALTH_DATA_DIR_INITIALIZED:
			self->data_dir = DATA_DIR_INITIALIZED;
			break;
		case HEALTH_DATA_DIR_UNKNOWN:
			self->data_dir = DATA_DIR_UNKNOWN;
			break;
	}
	standby_signal = e->ops->data_dir_has(cfg->pg_data_dir, "standby.signal");

	exec_pm_refresh(e);
	self->pg_running = e->pm.running;
	self->pg_is_child = e->pm.is_child;
	/* from the stop of a switchover on, PostgreSQL is stopping, stopped or
	 * starting as the target's replica: a probe would only cost the write
	 * downtime a connection attempt per turn */
	if (e->pm.running && e->swo.step >= SWO_STOPPING)
		e->rep->reachable = false; /* what the REST API shows meanwhile */
	else if (e->pm.running)
		probed = probe(e, view, reuse_ms);
	if (probed)
	{
		self->pg_reachable = true;
		self->pg_in_recovery = e->rep->in_recovery;
		self->pg_timeline = (int) e->rep->timeline;
		self->pg_current_lsn = e->rep->wal_lsn;
		self->pg_received_lsn = e->rep->receive_lsn;
		self->pg_replayed_lsn = e->rep->replay_lsn;
		self->system_identifier = e->rep->system_identifier;
	}
	else
	{
		if (!e->pm.running)
		{
			memset(e->rep, 0, sizeof(*e->rep));
			e->postmaster_start_wall_ms = 0;
		}
		/* down, or running but not answering: trust standby.signal, and
		 * treat a server not known to be in recovery as writable */
		self->pg_in_recovery = standby_signal;
		self->pg_timeline = e->last_timeline;
		self->system_identifier = e->last_sysid;
	}
	self->pg_was_primary =
	    self->data_dir == DATA_DIR_INITIALIZED && !standby_signal;
	pgw_strlcpy(self->upstream, e->upstream, sizeof(self->upstream));

	/* crash bookkeeping: down while we expect it to run */
	if (e->should_run && !e->pm.running)
	{
		if (e->crashed_since_mono_ms == 0)
		{
			e->crashed_since_mono_ms = pgw_now_mono_ms();
			log_warn("pg.crashed", "was_primary=%d", e->expect_primary);
		}
	}
	else if (e->pm.running && self->pg_reachable)
	{
		e->crashed_since_mono_ms = 0;
		e->restart_attempts = 0;
		e->restart_failed = false;
	}
	self->pg_crashed_since_mono_ms = e->crashed_since_mono_ms;
	self->restart_attempts = e->restart_attempts;
	self->restart_failed = e->restart_failed;
	self->rewind_incomplete = self->data_dir == DATA_DIR_INITIALIZED &&
	                          incomplete == HEALTH_INCOMPLETE_REWIND;
	self->rewind_failed = e->rewind_failed || self->rewind_incomplete;
	self->clone_failed = e->clone_failed;
	self->switchover_step = e->swo.step;
	pgw_strlcpy(self->switchover_target, e->swo.target,
	            sizeof(self->switchover_target));
	/* the timeline check compares this turn's replay position: only after
	 * a fresh probe (a reused one keeps the last verdict) */
	self->timeline_diverged = e->diverged;
	if (reuse_ms == 0)
		exec_diverge_observe(e, view, self);
}

void
failover_exec_observe(FailoverExec *e, const ClusterView *view,
                      LocalHealth *self)
{
	observe(e, view, self, 0);
}

void
failover_exec_reobserve(FailoverExec *e, const ClusterView *view,
                        LocalHealth *self, int max_age_ms)
{
	observe(e, view, self, max_age_ms);
}

void
failover_exec_refresh(FailoverExec *e, const ClusterView *view)
{
	exec_pm_refresh(e);
	if (!e->pm.running)
	{
		memset(e->rep, 0, sizeof(*e->rep));
		e->postmaster_start_wall_ms = 0;
		return;
	}
	(void) probe(e, view, 0);
}
