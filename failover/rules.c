/*
 * rules.c: the ordered first-match rule table of failover_decide()
 * (STYLE.md "The decision engine", pg_auto_failover's KeeperFSM habit).
 * Each row: a stable name, a predicate over the DecideCtx that decide.c
 * computed, the action, and a reason template ({name} fields, decide.c).
 * Fencing rows come first: a writer past its deadline demotes even in TILT.
 * Names are stable: they are logged, published and grepped; never rename.
 * The predicates are in rule_preds.c.
 */
#include "failover/rules_int.h"

/* ---- the table ---------------------------------------------------------- */

#define ROW(nm, grp, wh, kd, rs, pr, tg)                                       \
	{                                                                          \
		.info = {.name = (nm),                                                 \
		         .group = (grp),                                               \
		         .when = (wh),                                                 \
		         .kind = (kd),                                                 \
		         .reason = (rs)},                                              \
		.pred = (pr), .target = (tg)                                           \
	}

static const Rule rules[] = {
    /* input we cannot reason about: do nothing, never crash */
    ROW("invalid-input", "input", "view or local health missing", DECIDE_WAIT,
        "no cluster view or local health given", p_invalid_input, TARGET_NONE),

    /* fencing: a writer without a live lease stops writing, even in TILT */
    ROW("fence-no-lease", "fence", "postgres may write and we hold no lease",
        DECIDE_DEMOTE, "postgres runs read-write but we hold no valid lease",
        p_fence_no_lease, TARGET_NONE),
    ROW("fence-deadline-passed", "fence",
        "postgres may write and the fencing deadline passed", DECIDE_DEMOTE,
        "fencing deadline passed {past_ms} ms ago without a confirmed keepalive",
        p_fence_deadline_passed, TARGET_NONE),
    ROW("fence-other-holds-key", "fence",
        "postgres may write and another lease holds the leader key",
        DECIDE_DEMOTE,
        "leader key held by {leader} while our postgres runs read-write",
        p_fence_other_holds_key, TARGET_LEADER),

    /* our switchover continues until done or aborted (its own deadlines) */
    ROW("switchover-in-progress", "switchover",
        "a switchover we lead is between its sub-states", DECIDE_SWITCHOVER,
        "switchover to {swo_target} in progress ({swo_step})",
        p_switchover_in_progress, TARGET_SWITCHOVER),

    /* stall: re-observe before acting (fencing above still ran) */
    ROW("tilt-stall-detected", "tilt",
        "gap since last loop > 2*loop_wait+retry_timeout", DECIDE_TILT,
        "loop stalled {stall_ms} ms (limit {stall_limit_ms} ms); re-observing",
        p_tilt, TARGET_NONE),

    /* etcd unreachable: a leader keeps running until its deadline */
    ROW("etcd-unreachable-keep-primary", "etcd",
        "view not fresh and postgres may write (deadline not passed)",
        DECIDE_WAIT,
        "etcd unreachable; keep running as primary, {left_ms} ms to fencing deadline",
        p_etcd_unreachable_keep_primary, TARGET_NONE),
    ROW("etcd-unreachable", "etcd", "view not fresh", DECIDE_WAIT,
        "etcd unreachable; no decision without a fresh view",
        p_etcd_unreachable, TARGET_NONE),

    /* requests in the `failover` key: manual, so they run even paused */
    ROW("switchover-refused", "switchover",
        "we lead, a request is due but its target is not eligible",
        DECIDE_CANCEL_SWITCHOVER,
        "switchover to {fo_target} refused: {fo_refusal}", p_fo_cancel,
        TARGET_FAILOVER),
    ROW("switchover-start", "switchover",
        "we lead and a request to an eligible target is due", DECIDE_SWITCHOVER,
        "switchover requested: handing over to {fo_target}", p_fo_switchover,
        TARGET_FAILOVER),
    ROW("switchover-candidate-refresh", "switchover",
        "key free, the request names us, view or peers not fresh (peers not needed after a handover)",
        DECIDE_REFRESH,
        "leader handed over to us; reading linearizably and asking peers",
        p_fo_candidate_refresh, TARGET_NONE),
    ROW("switchover-candidate-promote", "switchover",
        "key free, the request names us, nobody primary or ahead",
        DECIDE_PROMOTE, "requested promotion of {self} at {our_lsn}",
        p_fo_candidate_promote, TARGET_NONE),
    ROW("switchover-wait-target", "switchover",
        "key free and the request names another member", DECIDE_WAIT,
        "switchover / failover to {fo_target} in progress; not competing",
        p_fo_wait_target, TARGET_FAILOVER),

    /* pause: no automatic failover, start or stop */
    ROW("paused-leader-renew", "pause", "paused and we lead", DECIDE_RENEW,
        "cluster paused; keeping the leader key, no automatic action",
        p_paused_renew, TARGET_NONE),
    ROW("paused", "pause", "paused", DECIDE_WAIT,
        "cluster paused; no automatic action", p_paused, TARGET_NONE),

    /* initialization and the data directory */
    ROW("sysid-mismatch", "init",
        "data dir's system identifier differs from `initialize`", DECIDE_WAIT,
        "refusing: data directory system identifier {sysid} differs from cluster's {initialize}; reinitialize by hand",
        p_sysid_mismatch, TARGET_NONE),
    ROW("data-dir-unknown", "init", "data directory state unknown", DECIDE_WAIT,
        "data directory could not be inspected", p_data_dir_unknown,
        TARGET_NONE),
    ROW("bootstrap-new-cluster", "init",
        "no initialize key, no leader, empty data dir, bootstrap allowed",
        DECIDE_BOOTSTRAP,
        "cluster not initialized; racing for `initialize` to run initdb",
        p_bootstrap, TARGET_NONE),
    ROW("bootstrap-adopt-existing", "init",
        "no initialize key, no leader, data present, bootstrap allowed",
        DECIDE_BOOTSTRAP,
        "cluster not initialized; racing for `initialize` with existing data (system identifier {sysid})",
        p_bootstrap_adopt, TARGET_NONE),
    ROW("bootstrap-wait-for-other", "init",
        "no initialize key, no leader, bootstrap not allowed here", DECIDE_WAIT,
        "cluster not initialized; bootstrap not allowed on this node, waiting for another member",
        p_bootstrap_wait, TARGET_NONE),
    ROW("bootstrap-in-progress", "init",
        "initialize claimed without a system identifier, no leader, empty data dir",
        DECIDE_WAIT,
        "another member is bootstrapping the cluster; waiting to clone",
        p_bootstrap_in_progress, TARGET_NONE),
    ROW("clone-no-leader", "init", "empty data dir and no leader", DECIDE_WAIT,
        "empty data directory and no leader to clone from; waiting",
        p_clone_no_leader, TARGET_NONE),
    ROW("clone-leader-no-member", "init",
        "empty data dir, leader has no valid member key", DECIDE_WAIT,
        "leader {leader} has no usable member key to clone from; waiting",
        p_clone_leader_no_member, TARGET_NONE),
    ROW("clone-retry", "init", "empty data dir and the last clone failed",
        DECIDE_CLONE,
        "previous clone failed; cloning again from leader {leader}",
        p_clone_retry, TARGET_LEADER),
    ROW("clone-from-leader", "init", "empty data dir and a leader exists",
        DECIDE_CLONE, "empty data directory; cloning from leader {leader}",
        p_clone, TARGET_LEADER),

    /* we hold the leader key */
    ROW("leader-data-dir-empty-release", "leader",
        "we hold the key and our data directory is empty", DECIDE_RELEASE,
        "we hold the leader key but our data directory is empty; releasing",
        p_leader_data_empty_release, TARGET_NONE),
    ROW("leader-pg-down-release", "leader",
        "we hold the key and postgres has not served for primary_start_timeout, or its restart failed",
        DECIDE_RELEASE,
        "postgres down {down_ms} ms after {attempts} restart attempts, the last {restart_result} (primary_start_timeout {start_timeout_ms} ms); releasing the leader key",
        p_leader_pg_down_release, TARGET_NONE),
    ROW("leader-running-renew", "leader",
        "we hold the key and postgres may write", DECIDE_RENEW,
        "we hold the leader key and run read-write at {our_lsn}",
        p_leader_renew, TARGET_NONE),
    ROW("leader-pg-crashed-restart", "leader",
        "we hold the key and postgres is not running", DECIDE_RESTART_PRIMARY,
        "we hold the leader key and postgres is down ({down_ms} ms); restarting it as primary",
        p_leader_pg_restart, TARGET_NONE),
    ROW("leader-pg-starting", "leader",
        "we hold the key and postgres runs but does not accept connections",
        DECIDE_WAIT, "we hold the leader key; postgres is starting",
        p_leader_pg_starting, TARGET_NONE),
    ROW("leader-replica-ineligible-release", "leader",
        "we hold the key, run as replica, and may not be promoted",
        DECIDE_RELEASE,
        "we hold the leader key as a replica but may not be promoted (nofailover, priority 0 or not in sync); releasing",
        p_leader_replica_release, TARGET_NONE),
    ROW("leader-replica-promote", "leader",
        "we hold the key and run as replica", DECIDE_PROMOTE,
        "we hold the leader key but run as replica at {our_lsn}; finishing the promotion",
        p_leader_replica_promote, TARGET_NONE),

    /* another member holds the leader key */
    ROW("stale-own-leader-key-takeover", "replica",
        "the key holds our name on our earlier lease, whose holder is proven gone; we have a lease and data",
        DECIDE_ACQUIRE,
        "leader key holds our name on an earlier lease {old_lease}; moving it to our lease",
        p_stale_own_key_takeover, TARGET_NONE),
    ROW("stale-own-leader-key", "replica",
        "the key holds our name on another lease", DECIDE_WAIT,
        "leader key holds our name on an earlier lease we cannot prove dead; waiting for it to expire",
        p_stale_own_key, TARGET_NONE),
    ROW("leader-no-member-key", "replica", "the leader has no valid member key",
        DECIDE_WAIT,
        "leader {leader} has no valid member key; keeping our state",
        p_leader_no_member, TARGET_NONE),
    ROW("diverged-rewind", "replica",
        "our timeline diverged from the leader's, pg_rewind usable",
        DECIDE_REWIND,
        "timeline {our_tl} diverged from leader {leader} on timeline {leader_tl}; rewinding",
        p_diverged_rewind, TARGET_LEADER),
    ROW("diverged-reinit", "replica",
        "diverged and rewind failed or is off; re-clone allowed", DECIDE_REINIT,
        "timeline {our_tl} diverged from leader {leader} on timeline {leader_tl} and rewind failed or is off; re-cloning",
        p_diverged_reinit, TARGET_LEADER),
    ROW("diverged-no-reinit", "replica",
        "diverged, rewind impossible, re-clone not allowed", DECIDE_WAIT,
        "timeline {our_tl} diverged from leader {leader}; rewind impossible and remove_data_directory_on_rewind_failure is off; operator must reinitialize",
        p_diverged_stuck, TARGET_LEADER),
    ROW("replica-start", "replica", "postgres not running",
        DECIDE_START_REPLICA,
        "postgres not running; starting as replica of {leader}",
        p_replica_start, TARGET_LEADER),
    ROW("replica-starting", "replica",
        "postgres runs but does not accept connections", DECIDE_WAIT,
        "postgres is starting as replica of {leader}", p_replica_starting,
        TARGET_LEADER),
    ROW("replica-wrong-upstream", "replica",
        "replica follows another upstream than the leader", DECIDE_FOLLOW,
        "following {upstream} instead of leader {leader}; re-pointing",
        p_replica_wrong_upstream, TARGET_LEADER),
    ROW("replica-following-leader", "replica", "replica follows the leader",
        DECIDE_WAIT, "following leader {leader} at {our_lsn}",
        p_replica_following, TARGET_LEADER),

    /* the leader key is free */
    ROW("no-leader-released-by-us", "election",
        "no leader, postgres down, we gave the key up less than ttl ago and another member may take it",
        DECIDE_WAIT,
        "leader key gone{gone}; we gave it up (lease {released_lease}) {released_ago_ms} ms ago and {released_candidate} may take it: not competing for one ttl ({ttl_ms} ms)",
        p_no_leader_released_by_us, TARGET_NONE),
    ROW("no-leader-data-unusable", "election",
        "no leader and an interrupted pg_rewind left our data unusable",
        DECIDE_WAIT,
        "leader key gone{gone}; an interrupted pg_rewind left our data directory unusable; waiting for a leader to re-clone from",
        p_no_leader_data_unusable, TARGET_NONE),
    ROW("no-leader-start-replica", "election",
        "no leader and postgres not running", DECIDE_START_REPLICA,
        "leader key gone{gone}; starting postgres as replica to take part",
        p_no_leader_start, TARGET_NONE),
    ROW("no-leader-pg-starting", "election", "no leader and postgres starting",
        DECIDE_WAIT, "leader key gone{gone}; postgres is starting",
        p_no_leader_starting, TARGET_NONE),
    ROW("no-leader-primary-refresh", "election",
        "no leader, we run read-write, view not linearizable or peers not asked",
        DECIDE_REFRESH,
        "leader key free while we run read-write; re-reading etcd and asking peers before acquiring",
        p_primary_refresh, TARGET_NONE),
    ROW("no-leader-primary-peer-primary", "election",
        "no leader, we run read-write, a reachable peer is still primary",
        DECIDE_DEMOTE, "peer {peer} is also primary; demoting",
        p_primary_peer_primary, TARGET_PEER_PRIMARY),
    ROW("no-leader-primary-newer-timeline", "election",
        "no leader, we run read-write, a member is on a newer timeline",
        DECIDE_DEMOTE,
        "member {newer_member} is on timeline {newer_tl} above ours ({our_tl}); demoting",
        p_primary_newer_timeline, TARGET_NONE),
    ROW("no-leader-primary-acquire", "election",
        "no leader, we run read-write, nobody else primary", DECIDE_ACQUIRE,
        "leader key free and we run the primary at {our_lsn}; acquiring without promotion",
        p_primary_acquire, TARGET_NONE),
    ROW("no-leader-failsafe-vouched", "election",
        "no leader, and we vouched for a failsafe primary less than ttl ago",
        DECIDE_WAIT,
        "leader key gone{gone}; a primary in failsafe mode asked us to vouch for it less than ttl ago; not promoting",
        p_failsafe_vouched, TARGET_NONE),
    ROW("no-leader-not-failsafe-member", "election",
        "no leader, failsafe mode, and the `failsafe` key does not list us",
        DECIDE_WAIT,
        "leader key gone{gone}; failsafe mode and the leader did not list us in `failsafe`; not promoting",
        p_not_failsafe_member, TARGET_NONE),
    ROW("no-leader-we-diverged", "election",
        "no leader and the timeline check found our WAL off the cluster's history",
        DECIDE_WAIT,
        "leader key gone{gone}; our WAL on timeline {our_tl} left the cluster's history (timeline check); not a candidate until rewound or re-cloned",
        p_we_diverged, TARGET_NONE),
    ROW("no-leader-we-nofailover", "election",
        "no leader and we carry the nofailover tag", DECIDE_WAIT,
        "leader key gone{gone}; nofailover tag set, not a candidate",
        p_we_nofailover, TARGET_NONE),
    ROW("no-leader-we-priority-zero", "election",
        "no leader and our failover_priority is 0", DECIDE_WAIT,
        "leader key gone{gone}; failover_priority 0, not a candidate",
        p_we_priority_zero, TARGET_NONE),
    ROW("no-leader-timeline-behind", "election",
        "no leader and our timeline is behind the cluster's", DECIDE_WAIT,
        "leader key gone{gone}; our timeline {our_tl} is behind the cluster's {cluster_tl}",
        p_we_timeline_behind, TARGET_NONE),
    ROW("no-leader-not-sync-member", "election",
        "no leader, synchronous_mode, we are not in `sync`", DECIDE_WAIT,
        "leader key gone{gone}; synchronous_mode and we are not a sync standby",
        p_we_not_sync, TARGET_NONE),
    ROW("no-leader-we-lag-too-much", "election",
        "no leader and our lag exceeds maximum_lag_on_failover", DECIDE_WAIT,
        "leader key gone{gone}; we lag {lag} bytes behind {last_lsn} (maximum_lag_on_failover {max_lag})",
        p_we_lag, TARGET_NONE),
    ROW("leader-key-gone-refresh", "election",
        "no leader, we are eligible, view not linearizable or peers not asked",
        DECIDE_REFRESH,
        "leader key gone{gone}; we may promote at {our_lsn}: re-reading etcd and asking peers",
        p_election_refresh, TARGET_NONE),
    ROW("no-leader-quorum-unknown", "election",
        "quorum commit and too few sync members answered", DECIDE_WAIT,
        "leader key gone; only {quorum_seen} of the {quorum_needed} sync members needed to rule out a newer commit answered; not promoting",
        p_quorum_unsafe, TARGET_NONE),
    ROW("peer-still-primary", "election",
        "no leader, a reachable peer is still primary or leader", DECIDE_WAIT,
        "leader key gone{gone} but peer {peer} still runs as primary; not promoting",
        p_peer_still_primary, TARGET_PEER_PRIMARY),
    ROW("someone-ahead", "election", "no leader, a reachable peer ranks first",
        DECIDE_WAIT,
        "leader key gone{gone}; {ahead} ranks before us ({ahead_lsn} vs our {our_lsn})",
        p_someone_ahead, TARGET_AHEAD),
    ROW("leader-key-gone-we-are-best", "election",
        "no leader, linearizable view, peers asked, nobody ahead or primary",
        DECIDE_PROMOTE, "leader key gone{gone}; we are best at {our_lsn}",
        p_we_are_best, TARGET_NONE),
};

#undef ROW

const Rule *
rules_table(int *n)
{
	*n = (int) PGW_LENGTHOF(rules);
	return rules;
}

int
failover_rule_count(void)
{
	return (int) PGW_LENGTHOF(rules);
}

const char *
failover_rule_name(int i)
{
	if (i < 0 || (size_t) i >= PGW_LENGTHOF(rules))
		return NULL;
	return rules[i].info.name;
}

const FailoverRuleInfo *
failover_rule_describe(int i)
{
	if (i < 0 || (size_t) i >= PGW_LENGTHOF(rules))
		return NULL;
	return &rules[i].info;
}
