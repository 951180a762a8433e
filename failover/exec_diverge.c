/*
 * exec_diverge.c: the executor's timeline check (DESIGN.md promise 4), part
 * of a turn's observation (exec_observe.c). It sets what the decision
 * engine reads as LocalHealth.timeline_diverged, which the rules
 * diverged-rewind / diverged-reinit act on.
 *
 * A replica whose WAL went past the point where the leader's timeline
 * forked from its own never streams again, and nothing else shows it: the
 * server runs in recovery and answers queries. Any server started as a
 * replica can be one: an old primary restarted in recovery before a leader
 * existed (its standby.signal then hides that it was a primary), a replica
 * that received WAL from the old primary the new one never had. So the
 * check does not try to know who was a primary. It runs:
 *   - once for every postmaster we see running in recovery (each start as
 *     a replica, whatever the path, and the first turn after a daemon
 *     restart), as soon as a leader other than us is known, and
 *   - again, at most every DIVERGE_CHECK_MS, while the replica looks
 *     unable to follow: the leader's timeline is newer than ours and our
 *     WAL receiver does not stream it.
 * The comparison itself is exact (health_control_timeline_check: the
 * timeline our replay position is on, from IDENTIFY_SYSTEM, against the
 * leader's history file), so a replica behind on an older timeline, one
 * catching up from an archive or one between two upstreams after a leader
 * change is checked and found on the leader's history: never rewound.
 * A verdict "diverged" is sticky until a rewind, a re-clone or a promotion
 * (exec_diverge_forget): the node cannot heal by itself. Found diverged
 * from the same leader again right after a rewind from it, the rewind did
 * not help (pg_rewind judges the end of WAL by pg_control, which can lag
 * what a standby replayed): that counts as a failed rewind, so the engine
 * re-clones (diverged-reinit) instead of rewinding in a loop.
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <string.h>

/* cannot_follow: the leader's timeline is newer than any we know, and our
 * WAL receiver does not stream that timeline */
static bool
cannot_follow(const HealthReport *r, const LocalHealth *self,
              const MemberInfo *leader)
{
	bool streaming_it = r->has_wal_receiver &&
	                    strcmp(r->wal_receiver_status, "streaming") == 0 &&
	                    (int64_t) r->received_tli >= (int64_t) leader->timeline;

	return leader->timeline > 0 && leader->timeline > self->pg_timeline &&
	       !streaming_it;
}

void
exec_diverge_observe(FailoverExec *e, const ClusterView *view,
                     LocalHealth *self)
{
	const HealthReport *r = e->rep;
	const MemberInfo *m;
	HealthUpstream up = {0};
	HealthTimelineCheck tc;
	PgwError err = {0};
	char host[256];
	char a[HEALTH_LSN_STRLEN];
	char b[HEALTH_LSN_STRLEN];
	bool stuck;
	bool first;
	bool again;
	int64_t now;

	self->timeline_diverged = e->diverged;
	if (e->diverged || !self->pg_reachable || !self->pg_in_recovery ||
	    !r->in_recovery || e->swo.step != SWO_NONE || e->pm.pid <= 0)
		return;
	if (!view->is_valid || !view->has_leader ||
	    strcmp(view->leader, e->cfg->name) == 0)
		return;
	m = dcs_view_member(view, view->leader);
	if (m == NULL || !m->is_valid ||
	    !exec_upstream_of(view, view->leader, host, sizeof(host), &up))
		return;
	stuck = cannot_follow(r, self, m);
	first = e->tl_checked_pid != e->pm.pid;
	if (!stuck && !first)
		return;
	now = pgw_now_mono_ms();
	if (e->tl_attempt_pid == e->pm.pid &&
	    now - e->tl_attempt_mono_ms < DIVERGE_CHECK_MS)
		return;
	e->tl_attempt_pid = e->pm.pid;
	e->tl_attempt_mono_ms = now;

	if (e->ops->timeline_check(e->pg, &up, r->replay_lsn, &tc, &err) != 0)
	{
		/* retried at the next turn after DIVERGE_CHECK_MS; said once */
		if (strncmp(err.msg, e->tl_last_error, sizeof(e->tl_last_error) - 1) !=
		    0)
			log_info("pg.timeline-check-failed",
			         "leader=%s reason=%s detail=\"%s\" action=retry",
			         view->leader, first ? "new-postmaster" : "cannot-follow",
			         err.msg);
		pgw_strlcpy(e->tl_last_error, err.msg, sizeof(e->tl_last_error));
		return;
	}
	e->tl_last_error[0] = '\0';
	e->tl_checked_pid = e->pm.pid;
	again = tc.diverged && e->tl_rewound_from[0] != '\0' &&
	        strcmp(e->tl_rewound_from, view->leader) == 0;
	e->tl_rewound_from[0] = '\0';
	health_lsn_format(tc.switchpoint, a, sizeof(a));
	health_lsn_format(tc.local_lsn, b, sizeof(b));
	if (!tc.diverged)
	{
		/* a replica catching up on an older timeline is checked every
		 * DIVERGE_CHECK_MS until it streams: say so once per postmaster */
		if (first)
			log_info(
			    "pg.timeline-checked",
			    "leader=%s local_tli=%u leader_tli=%u switchpoint=%s replay=%s diverged=no why=\"%s\"",
			    view->leader, tc.local_tli, tc.leader_tli, a, b, tc.why);
		else
			log_debug(
			    "pg.timeline-checked",
			    "leader=%s local_tli=%u leader_tli=%u switchpoint=%s replay=%s diverged=no why=\"%s\"",
			    view->leader, tc.local_tli, tc.leader_tli, a, b, tc.why);
		return;
	}
	e->diverged = true;
	self->timeline_diverged = true;
	if (again)
	{
		e->rewind_failed = true;
		self->rewind_failed = true;
	}
	log_warn(
	    "pg.diverged",
	    "leader=%s local_tli=%u leader_tli=%u switchpoint=%s replay=%s why=\"%s\" after_rewind=%d action=%s",
	    view->leader, tc.local_tli, tc.leader_tli, a, b, tc.why, again,
	    again ? "reinit" : "rewind-or-reinit");
}

void
exec_diverge_forget(FailoverExec *e, const char *why, const char *source)
{
	if (e->diverged)
		log_info("pg.diverged-cleared", "by=%s", why);
	e->diverged = false;
	e->rewound_start_failures = 0;
	e->tl_checked_pid = 0;
	e->tl_attempt_pid = 0; /* the next look asks at once */
	pgw_strlcpy(e->tl_rewound_from, source ? source : "",
	            sizeof(e->tl_rewound_from));
}

void
exec_diverge_start_failed(FailoverExec *e, const ExecContext *ctx,
                          const char *detail)
{
	bool reinit = ctx->view->config.remove_data_directory_on_rewind_failure;
	char q[PGW_ERROR_MSG_MAX + 16];

	/* one failed start may be passing (a port still held, say): the
	 * replica-start rule tries again at the next turn */
	if (e->tl_rewound_from[0] == '\0' || ++e->rewound_start_failures < 2)
		return;
	e->diverged = true;
	e->rewind_failed = true;
	log_warn("pg.unstartable-after-rewind",
	         "source=%s failures=%d action=%s why=\"%s\" detail=%s",
	         e->tl_rewound_from, e->rewound_start_failures,
	         reinit ? "reinit" : "wait-for-operator",
	         reinit ? "remove_data_directory_on_rewind_failure is on"
	                : "remove_data_directory_on_rewind_failure is off",
	         log_quote(detail, q, sizeof(q)));
	e->tl_rewound_from[0] = '\0';
	e->rewound_start_failures = 0;
}
