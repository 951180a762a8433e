/*
 * eligible.c: may this member be promoted by a switchover or a failover?
 * (ctl.h). The verdict is the decision engine's own (failover_best_candidate
 * on a copy of the view where only the candidate can win), so pgwardenctl
 * never accepts what the daemons would refuse. The reason for a refusal is
 * explained by the engine's numbered eligibility rules (rank.c), mirrored
 * here because failover.h exposes the verdict, not the per-member reason.
 */
#include "ctl/ctl.h"

#include "common/xmem.h"
#include "failover/failover.h"

#include <stdlib.h>
#include <string.h>

static bool
in_sync(const ClusterView *v, const char *name)
{
	if (!v->sync.present)
		return false;
	for (int i = 0; i < v->sync.n_sync; i++)
		if (strcmp(v->sync.sync_standby[i], name) == 0)
			return true;
	return false;
}

/* the highest WAL position anyone published: what lag is measured against */
static uint64_t
last_lsn(const ClusterView *v)
{
	uint64_t	lsn = v->leader_optime;

	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = &v->members[i];

		if (!m->is_valid)
			continue;
		if (m->xlog_location > lsn)
			lsn = m->xlog_location;
		if (m->received_location > lsn)
			lsn = m->received_location;
		if (m->replayed_location > lsn)
			lsn = m->replayed_location;
	}
	return lsn;
}

static uint64_t
position(const MemberInfo *m)
{
	uint64_t	p = m->received_location > m->replayed_location ?
		m->received_location : m->replayed_location;

	return p > m->xlog_location ? p : m->xlog_location;
}

/* explain why m is not eligible (rank.c's rules 1..8, in order) */
static int
explain(const ClusterView *v, const MemberInfo *m, PgwError *err)
{
	uint64_t	top = last_lsn(v);
	uint64_t	pos = position(m);

	if (!m->is_valid)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: its member key does not decode (%s)",
							 m->name, m->parse_error);
	if (m->state != MEMBER_STATE_RUNNING)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: it is not running (state %s)",
							 m->name, dcs_state_name(m->state));
	if (m->role != MEMBER_ROLE_REPLICA)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: it is not a replica (role %s)",
							 m->name, dcs_role_name(m->role));
	if (m->nofailover)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: it has the nofailover tag",
							 m->name);
	if (m->failover_priority <= 0)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: its failover_priority tag is %d",
							 m->name, m->failover_priority);
	if (v->config.synchronous_mode && !in_sync(v, m->name))
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: synchronous_mode is on and it is not a synchronous standby (see list)",
							 m->name);
	if (top > pos && top - pos > v->config.maximum_lag_on_failover)
		return pgw_error_set(err, PGW_ESTATE,
							 "member \"%s\" cannot be promoted: it lags %llu bytes behind, more than maximum_lag_on_failover (%llu)",
							 m->name, (unsigned long long) (top - pos),
							 (unsigned long long) v->config.maximum_lag_on_failover);
	return pgw_error_set(err, PGW_ESTATE,
						 "member \"%s\" cannot be promoted: the decision engine ranks it ineligible (timeline behind the cluster's?)",
						 m->name);
}

int
ctl_candidate_check(const ClusterView *v, const char *leader,
					const char *candidate, CtlTargetKind kind, PgwError *err)
{
	ClusterView *copy;
	const MemberInfo *m = NULL;
	const char *best;
	int			rc = 0;

	if (candidate != NULL)
	{
		m = dcs_view_member(v, candidate);
		if (m == NULL)
		{
			char		names[512] = "";
			size_t		used = 0;

			for (int i = 0; i < v->n_members && used < sizeof(names); i++)
				used += (size_t) snprintf(names + used, sizeof(names) - used,
										  "%s%s", i ? ", " : "", v->members[i].name);
			return pgw_error_set(err, PGW_ENOTFOUND,
								 "member \"%s\" does not exist (members: %s)",
								 candidate, names[0] ? names : "none");
		}
		if (kind == CTL_TARGET_SWITCHOVER && leader != NULL &&
			strcmp(candidate, leader) == 0)
			return pgw_error_set(err, PGW_ESTATE,
								 "member \"%s\" is already the leader", candidate);
	}

	/*
	 * The engine's verdict. For a named candidate, every other member is
	 * made a non-replica in a copy: it still counts for the cluster's last
	 * position (lag), but only the candidate can come out first.
	 */
	copy = pgw_xmalloc(sizeof(ClusterView));
	*copy = *v;
	copy->is_valid = true;
	if (candidate != NULL)
		for (int i = 0; i < copy->n_members; i++)
			if (strcmp(copy->members[i].name, candidate) != 0)
				copy->members[i].role = MEMBER_ROLE_UNKNOWN;
	best = failover_best_candidate(copy, NULL, 0,
								   kind == CTL_TARGET_SWITCHOVER ? leader : NULL);
	if (candidate != NULL && (best == NULL || strcmp(best, candidate) != 0))
		rc = explain(v, m, err);
	else if (candidate == NULL && best == NULL)
		rc = pgw_error_set(err, PGW_ESTATE,
						   "no member can be promoted (run list: replicas must be running, not tagged nofailover, within maximum_lag_on_failover and, in synchronous_mode, synchronous)");
	free(copy);
	return rc;
}
