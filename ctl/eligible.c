/*
 * eligible.c: may this member be promoted by a switchover or a failover?
 * (ctl.h). Verdict and reason are the decision engine's own
 * (failover_candidate_assess), so pgwardenctl never accepts what the daemons
 * would refuse, and the rules are written once, in failover/rank.c.
 */
#include "ctl/ctl.h"

#include "failover/failover.h"

#include <string.h>

/* explain: the refusal for a member the engine found ineligible */
static int
explain(const ClusterView *v, const MemberInfo *m, const FailoverCandidate *fc,
        PgwError *err)
{
	switch (fc->why)
	{
		case FAILOVER_INELIGIBLE_INVALID:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: its member key does not decode (%s)",
			    m->name, m->parse_error);
		case FAILOVER_INELIGIBLE_NOT_RUNNING:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: it is not running (state %s)",
			    m->name, dcs_state_name(m->state));
		case FAILOVER_INELIGIBLE_NOT_REPLICA:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: it is not a replica (role %s)",
			    m->name, dcs_role_name(m->role));
		case FAILOVER_INELIGIBLE_NOFAILOVER:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: it has the nofailover tag",
			    m->name);
		case FAILOVER_INELIGIBLE_PRIORITY_ZERO:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: its failover_priority tag is %d",
			    m->name, m->failover_priority);
		case FAILOVER_INELIGIBLE_NOT_SYNC:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: synchronous_mode is on and it is not a synchronous standby (see list)",
			    m->name);
		case FAILOVER_INELIGIBLE_LAG:
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "member \"%s\" cannot be promoted: it lags %llu bytes behind, more than maximum_lag_on_failover (%llu)",
			    m->name, (unsigned long long) fc->lag_bytes,
			    (unsigned long long) v->config.maximum_lag_on_failover);
		case FAILOVER_INELIGIBLE_TIMELINE_BEHIND:
		case FAILOVER_ELIGIBLE:
			break;
	}
	return pgw_error_set(
	    err, PGW_ESTATE,
	    "member \"%s\" cannot be promoted: the decision engine ranks it ineligible (%s)",
	    m->name, failover_ineligible_name(fc->why));
}

int
ctl_candidate_check(const ClusterView *v, const char *leader,
                    const char *candidate, CtlTargetKind kind, PgwError *err)
{
	const MemberInfo *m = NULL;
	int rc = 0;

	if (candidate != NULL)
	{
		m = dcs_view_member(v, candidate);
		if (m == NULL)
		{
			char names[512] = "";
			size_t used = 0;

			for (int i = 0; i < v->n_members && used < sizeof(names); i++)
				used += (size_t) snprintf(names + used, sizeof(names) - used,
				                          "%s%s", i ? ", " : "",
				                          v->members[i].name);
			return pgw_error_set(err, PGW_ENOTFOUND,
			                     "member \"%s\" does not exist (members: %s)",
			                     candidate, names[0] ? names : "none");
		}
		if (kind == CTL_TARGET_SWITCHOVER && leader != NULL &&
		    strcmp(candidate, leader) == 0)
			return pgw_error_set(err, PGW_ESTATE,
			                     "member \"%s\" is already the leader",
			                     candidate);
	}

	/* the engine's own verdict (failover/rank.c): the rules exist once */
	if (candidate != NULL)
	{
		FailoverCandidate fc;

		(void) failover_candidate_assess(v, NULL, 0, candidate, &fc);
		if (fc.why != FAILOVER_ELIGIBLE)
			rc = explain(v, m, &fc, err);
	}
	else if (failover_best_candidate(
	             v, NULL, 0, kind == CTL_TARGET_SWITCHOVER ? leader : NULL) ==
	         NULL)
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "no member can be promoted (run list: replicas must be running, not tagged nofailover, within maximum_lag_on_failover and, in synchronous_mode, synchronous)");
	return rc;
}
