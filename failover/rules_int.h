/*
 * rules_int.h: the predicates of the rule table (rule_preds.c), one per
 * row of rules.c's table. Internal to the failover module.
 */
#ifndef PGW_FAILOVER_RULES_INT_H
#define PGW_FAILOVER_RULES_INT_H

#include "failover/failover_int.h"

bool p_invalid_input(const DecideCtx *c);
bool p_fence_no_lease(const DecideCtx *c);
bool p_fence_deadline_passed(const DecideCtx *c);
bool p_fence_other_holds_key(const DecideCtx *c);
bool p_switchover_in_progress(const DecideCtx *c);
bool p_tilt(const DecideCtx *c);
bool p_etcd_unreachable_keep_primary(const DecideCtx *c);
bool p_etcd_unreachable(const DecideCtx *c);
bool p_sysid_mismatch(const DecideCtx *c);
bool p_data_dir_unknown(const DecideCtx *c);
bool p_bootstrap(const DecideCtx *c);
bool p_bootstrap_adopt(const DecideCtx *c);
bool p_bootstrap_wait(const DecideCtx *c);
bool p_bootstrap_in_progress(const DecideCtx *c);
bool p_clone_no_leader(const DecideCtx *c);
bool p_clone_leader_no_member(const DecideCtx *c);
bool p_clone_retry(const DecideCtx *c);
bool p_clone(const DecideCtx *c);
bool p_leader_data_empty_release(const DecideCtx *c);
bool p_leader_pg_down_release(const DecideCtx *c);
bool p_leader_renew(const DecideCtx *c);
bool p_leader_pg_restart(const DecideCtx *c);
bool p_leader_pg_starting(const DecideCtx *c);
bool p_leader_replica_release(const DecideCtx *c);
bool p_leader_replica_promote(const DecideCtx *c);
bool p_stale_own_key_takeover(const DecideCtx *c);
bool p_stale_own_key(const DecideCtx *c);
bool p_leader_no_member(const DecideCtx *c);
bool p_diverged_rewind(const DecideCtx *c);
bool p_diverged_reinit(const DecideCtx *c);
bool p_diverged_stuck(const DecideCtx *c);
bool p_replica_start(const DecideCtx *c);
bool p_replica_starting(const DecideCtx *c);
bool p_replica_wrong_upstream(const DecideCtx *c);
bool p_replica_following(const DecideCtx *c);
bool p_no_leader_released_by_us(const DecideCtx *c);
bool p_no_leader_data_unusable(const DecideCtx *c);
bool p_no_leader_start(const DecideCtx *c);
bool p_no_leader_starting(const DecideCtx *c);
bool p_failsafe_vouched(const DecideCtx *c);
bool p_not_failsafe_member(const DecideCtx *c);
bool p_primary_refresh(const DecideCtx *c);
bool p_primary_peer_primary(const DecideCtx *c);
bool p_primary_newer_timeline(const DecideCtx *c);
bool p_primary_acquire(const DecideCtx *c);
bool p_we_diverged(const DecideCtx *c);
bool p_we_nofailover(const DecideCtx *c);
bool p_we_priority_zero(const DecideCtx *c);
bool p_we_timeline_behind(const DecideCtx *c);
bool p_we_not_sync(const DecideCtx *c);
bool p_we_lag(const DecideCtx *c);
bool p_election_refresh(const DecideCtx *c);
bool p_quorum_unsafe(const DecideCtx *c);
bool p_peer_still_primary(const DecideCtx *c);
bool p_someone_ahead(const DecideCtx *c);
bool p_we_are_best(const DecideCtx *c);
bool p_fo_cancel(const DecideCtx *c);
bool p_fo_switchover(const DecideCtx *c);
bool p_fo_candidate_refresh(const DecideCtx *c);
bool p_fo_candidate_promote(const DecideCtx *c);
bool p_fo_wait_target(const DecideCtx *c);
bool p_paused_renew(const DecideCtx *c);
bool p_paused(const DecideCtx *c);

#endif
