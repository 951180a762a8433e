/*
 * rank.c: who may be promoted, and in which order (DESIGN.md promises 2 and
 * 3). Eligibility, then one comparator with a total order, the Sentinel
 * habit (sentinelSelectSlave / compareSlavesForPromotion). Pure.
 */
#include "failover/failover_int.h"

#include <string.h>

static const char *const ineligible_names[] = {
    [FAILOVER_ELIGIBLE] = "eligible",
    [FAILOVER_INELIGIBLE_INVALID] = "invalid-member-value",
    [FAILOVER_INELIGIBLE_NOT_RUNNING] = "not-running",
    [FAILOVER_INELIGIBLE_NOT_REPLICA] = "not-a-replica",
    [FAILOVER_INELIGIBLE_NOFAILOVER] = "nofailover",
    [FAILOVER_INELIGIBLE_PRIORITY_ZERO] = "failover-priority-zero",
    [FAILOVER_INELIGIBLE_TIMELINE_BEHIND] = "timeline-behind",
    [FAILOVER_INELIGIBLE_LAG] = "lag",
    [FAILOVER_INELIGIBLE_NOT_SYNC] = "not-sync",
};

const char *
failover_ineligible_name(FailoverIneligible why)
{
	if ((int) why < 0 || (size_t) why >= PGW_LENGTHOF(ineligible_names) ||
	    ineligible_names[why] == NULL)
		return "?";
	return ineligible_names[why];
}

bool
rank_in_sync(const SyncState *sync, const char *name)
{
	if (sync == NULL || !sync->present || name == NULL || name[0] == '\0')
		return false;
	if (strncmp(sync->leader, name, PGW_NAME_MAX) == 0)
		return true;
	for (int i = 0; i < sync->n_sync && i < PGW_SYNC_MAX; i++)
		if (strncmp(sync->sync_standby[i], name, PGW_NAME_MAX) == 0)
			return true;
	return false;
}

const PeerStatus *
rank_peer_find(const PeerStatus *peers, int n_peers, const char *name)
{
	if (peers == NULL || name == NULL || name[0] == '\0')
		return NULL;
	for (int i = 0; i < n_peers; i++)
		if (strncmp(peers[i].name, name, PGW_NAME_MAX) == 0)
			return &peers[i];
	return NULL;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void
rank_facts_from_member(const MemberInfo *m, CandidateFacts *f)
{
	memset(f, 0, sizeof(*f));
	f->name = m->name;
	f->is_valid = m->is_valid;
	if (!m->is_valid)
		return; /* garbage: nothing else is trusted */
	f->is_running = m->state == MEMBER_STATE_RUNNING;
	f->is_replica = m->role == MEMBER_ROLE_REPLICA;
	f->nofailover = m->nofailover;
	f->failover_priority = m->failover_priority;
	f->timeline = m->timeline;
	f->wal_position = max_u64(
	    m->xlog_location, max_u64(m->received_location, m->replayed_location));
}

/* rank_facts_merge_peer: a reachable peer's REST answer is fresher than its
 * member key for what PostgreSQL is doing; its tags stay the key's. */
void
rank_facts_merge_peer(const PeerStatus *p, CandidateFacts *f)
{
	if (p == NULL || !p->reachable)
		return;
	f->is_running = p->running;
	f->is_replica = p->running && !p->is_primary && !p->is_leader;
	if (p->timeline > 0)
		f->timeline = p->timeline;
	f->wal_position = p->is_primary
	                      ? max_u64(p->xlog_location, p->received_location)
	                      : max_u64(p->received_location, p->replayed_location);
}

void
rank_context_build(const ClusterView *view, const PeerStatus *peers,
                   int n_peers, RankContext *rc)
{
	memset(rc, 0, sizeof(*rc));
	if (view == NULL)
		return;
	rc->maximum_lag = view->config.maximum_lag_on_failover;
	rc->sync_mode = view->config.synchronous_mode;
	rc->check_timeline = view->config.check_timeline;
	rc->sync = &view->sync;
	rc->last_lsn = view->leader_optime;
	if (view->last_history_timeline > 0)
		rc->cluster_timeline = view->last_history_timeline + 1;

	/*
	 * The leader's last known optime is the highest position anyone
	 * published: `status`, every decodable member key (reachable or not: a
	 * member we cannot ask still bounds our lag while its key lives), and
	 * every reachable peer's answer. Timelines of members that say they are
	 * primary raise the cluster's timeline.
	 */
	for (int i = 0; i < view->n_members && i < PGW_MEMBERS_MAX; i++)
	{
		const MemberInfo *m = &view->members[i];

		if (!m->is_valid)
			continue;
		rc->last_lsn =
		    max_u64(rc->last_lsn,
		            max_u64(m->xlog_location, max_u64(m->received_location,
		                                              m->replayed_location)));
		if (m->role == MEMBER_ROLE_PRIMARY &&
		    m->timeline > rc->cluster_timeline)
			rc->cluster_timeline = m->timeline;
	}
	for (int i = 0; peers != NULL && i < n_peers; i++)
	{
		const PeerStatus *p = &peers[i];

		if (!p->reachable)
			continue;
		rc->last_lsn =
		    max_u64(rc->last_lsn,
		            max_u64(p->xlog_location, max_u64(p->received_location,
		                                              p->replayed_location)));
	}
}

void
rank_candidate_assess(const RankContext *rc, const CandidateFacts *f,
                      FailoverCandidate *out)
{
	memset(out, 0, sizeof(*out));
	if (f->name != NULL)
	{
		size_t n = strnlen(f->name, PGW_NAME_MAX - 1);

		memcpy(out->name, f->name, n);
		out->name[n] = '\0';
	}
	out->wal_position = f->wal_position;
	out->failover_priority = f->failover_priority;
	out->timeline = f->timeline;
	out->lag_bytes =
	    rc->last_lsn > f->wal_position ? rc->last_lsn - f->wal_position : 0;
	out->is_sync = rc->sync_mode && rank_in_sync(rc->sync, out->name);

	if (!f->is_valid)
		out->why = FAILOVER_INELIGIBLE_INVALID;
	else if (!f->is_running)
		out->why = FAILOVER_INELIGIBLE_NOT_RUNNING;
	else if (!f->is_replica)
		out->why = FAILOVER_INELIGIBLE_NOT_REPLICA;
	else if (f->nofailover)
		out->why = FAILOVER_INELIGIBLE_NOFAILOVER;
	else if (f->failover_priority <= 0)
		out->why = FAILOVER_INELIGIBLE_PRIORITY_ZERO;
	else if (rc->check_timeline && rc->cluster_timeline > 0 &&
	         f->timeline < rc->cluster_timeline)
		out->why = FAILOVER_INELIGIBLE_TIMELINE_BEHIND;
	else if (rc->sync_mode && !out->is_sync)
		out->why = FAILOVER_INELIGIBLE_NOT_SYNC;
	else if (out->lag_bytes > rc->maximum_lag)
		out->why = FAILOVER_INELIGIBLE_LAG;
	else
		out->why = FAILOVER_ELIGIBLE;
}

/*
 * failover_candidate_compare: rank two members for promotion.
 *
 * A member is eligible (rank_candidate_assess) only when:
 *   1. its member value decoded (garbage is never a candidate);
 *   2. its PostgreSQL runs (state running / REST says running);
 *   3. it is a replica (in recovery), not a primary or unknown;
 *   4. it has no nofailover tag;
 *   5. its failover_priority tag is > 0;
 *   6. its timeline is not behind the cluster's (history + 1, or a
 *      primary member's timeline);
 *   7. in synchronous_mode, it is named in the `sync` key (promise 2);
 *   8. its lag against the leader's last known optime (`status` optime or
 *      the highest position any member published) is at most
 *      maximum_lag_on_failover (promise 3).
 *
 * Order (negative: a first):
 *   a. eligible before ineligible;
 *   b. sync member before non-sync (only set in synchronous_mode);
 *   c. higher WAL position (max of received, replayed);
 *   d. higher failover_priority;
 *   e. name, ascending (bytewise), so the order is total and every node
 *      computes the same winner.
 */
int
failover_candidate_compare(const FailoverCandidate *a,
                           const FailoverCandidate *b)
{
	bool ea = a->why == FAILOVER_ELIGIBLE;
	bool eb = b->why == FAILOVER_ELIGIBLE;
	int c;

	if (ea != eb)
		return ea ? -1 : 1;
	if (a->is_sync != b->is_sync)
		return a->is_sync ? -1 : 1;
	if (a->wal_position != b->wal_position)
		return a->wal_position > b->wal_position ? -1 : 1;
	if (a->failover_priority != b->failover_priority)
		return a->failover_priority > b->failover_priority ? -1 : 1;
	c = strncmp(a->name, b->name, PGW_NAME_MAX);
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}

const char *
failover_best_candidate(const ClusterView *view, const PeerStatus *peers,
                        int n_peers, const char *exclude)
{
	RankContext rc;
	FailoverCandidate best;
	const char *best_name = NULL;

	if (view == NULL || !view->is_valid)
		return NULL;
	rank_context_build(view, peers, n_peers, &rc);
	for (int i = 0; i < view->n_members && i < PGW_MEMBERS_MAX; i++)
	{
		const MemberInfo *m = &view->members[i];
		CandidateFacts f;
		FailoverCandidate c;

		if (m->name[0] == '\0' ||
		    (exclude != NULL && strncmp(m->name, exclude, PGW_NAME_MAX) == 0))
			continue;
		rank_facts_from_member(m, &f);
		if (f.is_valid)
			rank_facts_merge_peer(rank_peer_find(peers, n_peers, m->name), &f);
		rank_candidate_assess(&rc, &f, &c);
		if (c.why != FAILOVER_ELIGIBLE)
			continue;
		if (best_name == NULL || failover_candidate_compare(&c, &best) < 0)
		{
			best = c;
			best_name = m->name;
		}
	}
	return best_name;
}

bool
failover_candidate_assess(const ClusterView *view, const PeerStatus *peers,
                          int n_peers, const char *name, FailoverCandidate *out)
{
	RankContext rc;
	CandidateFacts f = {0};
	const MemberInfo *m = dcs_view_member(view, name);
	const PeerStatus *p = rank_peer_find(peers, n_peers, name);

	if (m == NULL)
		return false;
	rank_context_build(view, peers, n_peers, &rc);
	rank_facts_from_member(m, &f);
	if (p != NULL && p->reachable)
		rank_facts_merge_peer(p, &f);
	rank_candidate_assess(&rc, &f, out);
	return true;
}
