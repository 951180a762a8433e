/*
 * failover_int.h: shared inside failover/ only. The decision context that
 * decide.c computes once per call and the rule predicates of rules.c read,
 * the rule row type, and rank.c's helpers for building candidates.
 */
#ifndef PGW_FAILOVER_INT_H
#define PGW_FAILOVER_INT_H

#include "failover/failover.h"

#include <stdbool.h>
#include <stdint.h>

/* The inputs of eligibility that come from the cluster, not the member. */
typedef struct RankContext
{
	int cluster_timeline;  /* 0 = unknown: not checked */
	uint64_t last_lsn;     /* leader's last known optime (max seen) */
	uint64_t maximum_lag;  /* maximum_lag_on_failover, bytes */
	bool check_timeline;   /* config check_timeline (Patroni: off) */
	bool sync_mode;        /* synchronous_mode */
	const SyncState *sync; /* the `sync` key */
} RankContext;

/* One member's facts, from its member key and/or REST answer. */
typedef struct CandidateFacts
{
	const char *name;
	bool is_valid; /* member value decoded */
	bool is_running;
	bool is_replica;
	bool nofailover;
	int failover_priority;
	int timeline;
	uint64_t wal_position;
} CandidateFacts;

/* rank_context_build: cluster timeline, last optime, sync facts. */
void rank_context_build(const ClusterView *view, const PeerStatus *peers,
                        int n_peers, RankContext *rc);

/* rank_candidate_assess: facts -> ranked candidate (eligibility filled). */
void rank_candidate_assess(const RankContext *rc, const CandidateFacts *f,
                           FailoverCandidate *out);

/* rank_in_sync: name is named in `sync` (standby, or its leader). */
bool rank_in_sync(const SyncState *sync, const char *name);

/* rank_peer_find: by name, NULL when absent (members: dcs_view_member). */
const PeerStatus *rank_peer_find(const PeerStatus *peers, int n_peers,
                                 const char *name);

/* rank_facts_from_member / _peer: the facts of one member. */
void rank_facts_from_member(const MemberInfo *m, CandidateFacts *f);
void rank_facts_merge_peer(const PeerStatus *p, CandidateFacts *f);

/* Everything the rule predicates read, computed once by decide.c. */
typedef struct DecideCtx
{
	const ClusterView *view;
	const LocalHealth *self;
	const PeerStatus *peers;
	int n_peers;
	int64_t now_mono_ms;

	bool bad_input; /* NULL view/self or no name */
	bool view_ok;   /* etcd session healthy and view valid */

	/* effective timing (defaults where the view holds nonsense) */
	int64_t ttl_ms;
	int64_t loop_wait_ms;
	int64_t retry_timeout_ms;
	int64_t primary_start_timeout_ms;

	/* PostgreSQL */
	bool pg_may_write;     /* running and not known to be in recovery */
	bool pg_serving;       /* running and reachable */
	uint64_t our_position; /* current (primary) or max(rcv, rpl) */

	/* fencing and stall */
	bool has_lease; /* lease_deadline_mono_ms != 0 */
	bool deadline_passed;
	int64_t deadline_left_ms; /* deadline - now */
	bool stalled;
	int64_t stall_ms;       /* now - last loop */
	int64_t stall_limit_ms; /* 2 * loop_wait + retry_timeout */

	/* leader key */
	bool has_leader;
	bool holds_leader;
	bool stale_own_key;              /* key holds our name on another lease */
	const MemberInfo *leader_member; /* valid member key of the leader */
	int leader_timeline;
	bool diverged; /* our history is not the leader's */

	/* initialization */
	bool has_initialize;
	bool initialize_pending; /* claimed, system id not yet set */
	bool sysid_mismatch;

	/* leader's PostgreSQL down (crash bookkeeping) */
	int64_t down_ms; /* now - pg_crashed_since (0 if not) */
	bool start_timeout_passed;

	/* election */
	RankContext rank;
	FailoverCandidate me;      /* us, as ranked */
	const char *blocking_peer; /* a reachable peer still primary/leader */
	const char *ahead_name;    /* a reachable peer that ranks before us */
	uint64_t ahead_position;
	int newer_timeline; /* a member's timeline above ours (0 none) */
	const char *newer_timeline_member;

	int64_t leader_gone_ms; /* -1 unknown */

	/* a leader key this node gave up itself (LocalHealth.released_lease) */
	bool released_recently; /* less than a ttl ago */
	int64_t released_ago_ms;
	const char *released_candidate; /* another member that may take it */

	/* the `failover` key: a switchover or manual failover request */
	bool fo_present;
	bool fo_due;                /* no scheduled_at, or it has passed */
	bool fo_leader_ok;          /* names no leader, or names us */
	bool fo_leader_other;       /* names a leader that is not the key holder */
	const char *fo_target;      /* named member, or the best eligible one */
	bool fo_target_ok;          /* target eligible (leader side) */
	const char *fo_refusal;     /* why not (leader side) */
	bool fo_we_are_target;      /* the request names us */
	bool fo_handed_over;        /* ... and its handover_lsn is within our WAL */
	bool fo_expired;            /* leader gone longer than ttl: ignore it */
	uint64_t max_peer_position; /* highest WAL position of reachable peers */
	bool paused;                /* config pause */
	int quorum_seen;   /* sync members we know the WAL of (us + peers) */
	int quorum_needed; /* n_sync - quorum + 1 (0: not quorum mode) */
} DecideCtx;

/* Where a rule's Decision.target comes from. */
typedef enum RuleTarget
{
	TARGET_NONE = 0,
	TARGET_LEADER,       /* the leader key's holder */
	TARGET_AHEAD,        /* the peer that ranks before us */
	TARGET_PEER_PRIMARY, /* the peer still primary */
	TARGET_FAILOVER,     /* the switchover / failover target */
	TARGET_SWITCHOVER,   /* the target of the switchover we run */
} RuleTarget;

/* One row of the first-match table. */
typedef struct Rule
{
	FailoverRuleInfo info; /* name, group, when, kind, reason */
	bool (*pred)(const DecideCtx *c);
	RuleTarget target;
} Rule;

/* rules_table: the rows, in evaluation order; *n receives the count. */
const Rule *rules_table(int *n);

#endif
