/*
 * failover.h: the only public header of failover/ (DESIGN.md, "failover/
 * decide"). Part 1 is the pure decision engine: failover_decide() maps
 * (cluster view from etcd, what we observed locally, peers' REST answers,
 * now) to one Decision with a stable rule name and a filled-in reason.
 * No I/O, no clock reads, no globals, no allocation (STYLE.md "The decision
 * engine"). Part 2 (ranking) is shared with switchover. Part 3 is the
 * executor (execute.c, exec_*.c): steps that carry a Decision out and
 * return an outcome; they never call back into the daemon.
 * Two libraries: pgw_failover (Parts 1 and 2, pure, no gRPC) and
 * pgw_failover_exec (Part 3).
 */
#ifndef PGW_FAILOVER_H
#define PGW_FAILOVER_H

#include "consensus/consensus.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Part 1: the decision engine (decide.c, rules.c)
 * ------------------------------------------------------------------------ */

/* What the data directory holds, as the executor saw it this loop. */
typedef enum DataDirState
{
	DATA_DIR_UNKNOWN = 0, /* could not be inspected: decide waits */
	DATA_DIR_EMPTY,       /* missing or empty: bootstrap or clone */
	DATA_DIR_INITIALIZED, /* holds a cluster (PG_VERSION, global/) */
} DataDirState;

/*
 * The sub-states of a switchover the leader runs (exec_switchover.c), one
 * per loop turn, each with a deadline. Before SWO_HANDED_OVER the
 * switchover may still be aborted (we serve again as primary); from it on
 * the key is the target's and we only follow.
 */
typedef enum SwitchoverStep
{
	SWO_NONE = 0,
	SWO_CHECKPOINT,    /* name the target, connect to it, CHECKPOINT */
	SWO_STOPPING,      /* fast stop until pg_control says "shut down" */
	SWO_WAIT_RECEIVED, /* until the target has our shutdown checkpoint */
	SWO_HANDED_OVER,   /* key freed by the handover txn: no return */
	SWO_FOLLOW,        /* start as a replica of the target */
} SwitchoverStep;

/* failover_switchover_step_name: "checkpoint", "stopping", ... */
const char *failover_switchover_step_name(SwitchoverStep s);

/*
 * LocalHealth: what the daemon observed locally this loop. Caller-allocated
 * and zero-initialised; the executor fills it (failover_exec_observe), the
 * loop adds the etcd facts. Zero means "no / unknown" unless said otherwise.
 */
typedef struct LocalHealth
{
	char name[PGW_NAME_MAX]; /* our member name */
	bool nofailover;         /* tag: never promote us */
	int failover_priority;   /* tag: default 1 (set it!); 0 = never */

	/* etcd */
	bool etcd_ok;              /* session healthy and the view is fresh */
	bool view_is_linearizable; /* view read linearizably this loop */
	bool peers_probed;         /* peers[] holds this round's REST answers */
	int64_t lease_id;          /* our lease (0 = none) */
	int64_t lease_deadline_mono_ms;      /* last confirmed keepalive send
	                                      * time + ttl - margin; 0 = no lease */
	int64_t failsafe_vouched_mono_ms;    /* a primary last asked us to vouch
	                                      * for it (POST /failsafe); 0 never */
	int64_t leader_absent_since_mono_ms; /* when we saw the leader key
	                                      * go (0 = unknown); reasons */
	int64_t proven_prior_lease;          /* an earlier lease of ours whose
	                                      * holder process is proven gone (0 =
	                                      * none): only that key may be taken
	                                      * back (issue 16) */
	int64_t released_lease;              /* the lease whose leader key this
	                                      * node gave up itself (the fence
	                                      * after its daemon died, a release
	                                      * rule, a stop); 0 = none this boot.
	                                      * Never taken back (issue 21) */
	int64_t released_mono_ms;            /* ... when (0 = none) */

	/* data directory */
	DataDirState data_dir;
	bool bootstrap_allowed; /* this node may initdb a new cluster */

	/* PostgreSQL */
	bool pg_running;             /* postmaster alive */
	bool pg_reachable;           /* accepting connections, probe succeeded */
	bool pg_in_recovery;         /* last known; when unreachable use
	                              * standby.signal: a running server not known
	                              * to be in recovery is treated as writable */
	bool pg_was_primary;         /* pg_control: last ran as a primary ("in
	                              * production" / "shut down"), not a standby */
	bool pg_is_child;            /* the postmaster is our child process */
	int pg_timeline;             /* current timeline (0 = unknown) */
	uint64_t pg_current_lsn;     /* primary: pg_current_wal_lsn() */
	uint64_t pg_received_lsn;    /* replica: last received (flushed) */
	uint64_t pg_replayed_lsn;    /* replica: last replayed */
	uint64_t system_identifier;  /* pg_control (0 = unknown) */
	char upstream[PGW_NAME_MAX]; /* member we follow (primary_conninfo
	                              * application/host match), "" none */
	bool timeline_diverged;      /* executor saw it: the WAL receiver says
	                              * our history is not the leader's */
	bool rewind_incomplete;      /* a pg_rewind was interrupted: the data
	                              * directory is only good for a re-clone
	                              * (health_data_dir_incomplete) */

	/* crash bookkeeping (executor) */
	int64_t pg_crashed_since_mono_ms; /* first seen down while it should
	                                   * run; 0 = not crashed */
	int restart_attempts;             /* local restarts since the crash */
	bool restart_failed;              /* the last restart as primary failed:
	                                   * postgres exited before it served */

	/* flags from the executor */
	bool rewind_failed; /* last pg_rewind failed: re-clone instead */
	bool clone_failed;  /* last clone failed (retried) */
	SwitchoverStep switchover_step;       /* a switchover we lead is at
	                                        * this sub-state (SWO_NONE) */
	char switchover_target[PGW_NAME_MAX]; /* ... handing over to */

	/* wall clock, only to compare with a switchover's scheduled_at */
	int64_t now_wall_ms;

	/* loop timing */
	int64_t last_loop_mono_ms; /* end of the previous loop (0 = first);
	                            * a gap > 2 * loop_wait + retry_timeout
	                            * means the process stalled: TILT */
} LocalHealth;

/* PeerStatus: a peer's REST answer (GET /patroni) gathered before a promotion.
 */
typedef struct PeerStatus
{
	char name[PGW_NAME_MAX];
	bool reachable;  /* answered with a decodable body */
	bool is_primary; /* runs read-write */
	bool is_leader;  /* says it holds the leader key */
	bool running;    /* its PostgreSQL runs */
	int timeline;
	uint64_t xlog_location; /* primary: current LSN */
	uint64_t received_location;
	uint64_t replayed_location;
} PeerStatus;

typedef enum DecisionKind
{
	DECIDE_WAIT = 0,        /* nothing to do this loop */
	DECIDE_BOOTSTRAP,       /* claim `initialize`, initdb (or adopt), start
	                         * primary, acquire the key, set initialize */
	DECIDE_CLONE,           /* pg_basebackup from target, then start replica */
	DECIDE_START_REPLICA,   /* start PG in recovery following target ("" =
	                         * no upstream yet) */
	DECIDE_FOLLOW,          /* re-point the running replica to target */
	DECIDE_RENEW,           /* we lead: check the key (txn), publish status */
	DECIDE_ACQUIRE,         /* take the key without promoting: the free key
	                         * by txn (we run the primary), or, when
	                         * takeover_from_lease != 0, move our own key
	                         * from our previous lease (dcs_leader_takeover) */
	DECIDE_REFRESH,         /* re-read linearizably, probe peers, decide
	                         * again */
	DECIDE_PROMOTE,         /* take the key by txn (if not held), promote */
	DECIDE_DEMOTE,          /* stop accepting writes now (demote_mode) */
	DECIDE_RESTART_PRIMARY, /* we hold the key, PG is down: start it as
	                         * primary */
	DECIDE_RELEASE,         /* release the key (txn on value) and stop PG */
	DECIDE_REWIND,          /* stop PG, pg_rewind from target, start replica */
	DECIDE_REINIT,          /* wipe the data dir, clone from target */
	DECIDE_TILT,            /* stall detected: re-observe, start nothing */
	DECIDE_SWITCHOVER,      /* we lead and a switchover to target is due:
	                         * checkpoint, stop, wait until target has the
	                         * shutdown checkpoint, release, follow target */
	DECIDE_CANCEL_SWITCHOVER, /* the `failover` request cannot be carried
	                           * out (reason says why): delete it by CAS */
	DECIDE_KIND_COUNT
} DecisionKind;

/* How to stop accepting writes (DECIDE_DEMOTE). */
typedef enum DemoteMode
{
	DEMOTE_IMMEDIATE = 0, /* fencing: pg_ctl stop -m immediate, no wait */
	DEMOTE_FAST,          /* checkpoint allowed (planned; unused today) */
} DemoteMode;

#define FAILOVER_REASON_MAX 256

/* Decision: the result of one failover_decide() call (a plain value). */
typedef struct Decision
{
	DecisionKind kind;
	const char *rule;                 /* stable rule name (static string) */
	int rule_number;                  /* 1-based row in the table, 0 = none */
	char reason[FAILOVER_REASON_MAX]; /* filled-in human text */
	char target[PGW_NAME_MAX];        /* follow / clone / rewind source */
	DemoteMode demote_mode;           /* DECIDE_DEMOTE */
	bool checkpoint_after_promote;    /* DECIDE_PROMOTE: CHECKPOINT so
	                                   * pg_control shows the new TLI */
	bool adopt_existing_data;         /* DECIDE_BOOTSTRAP: keep PGDATA,
	                                   * claim initialize with its sysid */
	bool key_already_held;            /* DECIDE_PROMOTE: skip the key txn */
	int64_t takeover_from_lease;      /* DECIDE_ACQUIRE: the earlier lease
	                                   * our key is on (0: plain acquire) */
	uint64_t wal_position;            /* our WAL position as decide saw it */
	int64_t deadline_left_ms;         /* fencing deadline - now (0: no lease) */
	uint32_t reason_shape;            /* hash of rule and reason without its
	                                   * moving numbers (LSNs, durations): a
	                                   * new shape is news, a new LSN is not */
} Decision;

/*
 * failover_decide: the first matching rule of the table (rules.c) applied
 * to the inputs. peers may be NULL when n_peers is 0 (then any rule that
 * needs them answers DECIDE_REFRESH). Never fails: bad input (NULL view or
 * self, garbage member values) gives DECIDE_WAIT with a reason. Pure.
 */
Decision failover_decide(const ClusterView *view, const LocalHealth *self,
                         const PeerStatus *peers, int n_peers,
                         int64_t now_mono_ms);

/*
 * failover_holds_leader: true when the view is valid and its leader key
 * holds self->name on our lease (the only definition of "we lead").
 */
bool failover_holds_leader(const ClusterView *view, const LocalHealth *self);

/* failover_peer_from_probe: fill *p from the daemon's probe fields. */
void failover_peer_from_probe(PeerStatus *p, const char *name, bool reachable,
                              bool is_primary, bool is_leader, bool running,
                              int timeline, uint64_t xlog_location,
                              uint64_t received_location,
                              uint64_t replayed_location);

/* failover_decision_kind_name: "wait", "promote", ... ("?" if unknown). */
const char *failover_decision_kind_name(DecisionKind kind);

/* The rule table, for `pgwardenctl debug rules` and for tests. Row i
 * (0-based) is evaluated i-th; print it as number i + 1. */
typedef struct FailoverRuleInfo
{
	const char *name;   /* stable, e.g. "fence-deadline-passed" */
	const char *group;  /* fence, tilt, etcd, init, leader, ... */
	const char *when;   /* the predicate, in words */
	DecisionKind kind;  /* the action */
	const char *reason; /* reason template ({leader}, {our_lsn}, ...) */
} FailoverRuleInfo;

int failover_rule_count(void);

/* failover_rule_name: name of row i (0-based), NULL when out of range. */
const char *failover_rule_name(int i);

/* failover_rule_describe: row i (0-based), NULL when out of range. */
const FailoverRuleInfo *failover_rule_describe(int i);

/* ------------------------------------------------------------------------
 * Part 2: ranking (rank.c), shared by failover and switchover
 * ------------------------------------------------------------------------ */

/* Why a member may not be promoted (FAILOVER_ELIGIBLE when it may). */
typedef enum FailoverIneligible
{
	FAILOVER_ELIGIBLE = 0,
	FAILOVER_INELIGIBLE_INVALID,         /* member value did not decode */
	FAILOVER_INELIGIBLE_NOT_RUNNING,     /* PostgreSQL not running */
	FAILOVER_INELIGIBLE_NOT_REPLICA,     /* not a replica (primary, unknown) */
	FAILOVER_INELIGIBLE_NOFAILOVER,      /* nofailover tag */
	FAILOVER_INELIGIBLE_PRIORITY_ZERO,   /* failover_priority <= 0 */
	FAILOVER_INELIGIBLE_TIMELINE_BEHIND, /* timeline < the cluster's */
	FAILOVER_INELIGIBLE_LAG,             /* lag > maximum_lag_on_failover */
	FAILOVER_INELIGIBLE_NOT_SYNC,        /* sync mode and not named in `sync` */
} FailoverIneligible;

/* failover_ineligible_name: "eligible", "nofailover", "lag", ... */
const char *failover_ineligible_name(FailoverIneligible why);

/*
 * FailoverCandidate: one member as ranked. is_sync is set only when
 * synchronous_mode is on (so the comparator needs no config).
 */
typedef struct FailoverCandidate
{
	char name[PGW_NAME_MAX];
	FailoverIneligible why; /* FAILOVER_ELIGIBLE or the first failed rule */
	bool is_sync;           /* sync mode on and named in `sync` */
	uint64_t wal_position;  /* max(received, replayed) */
	uint64_t lag_bytes;     /* against the cluster's last known optime */
	int failover_priority;
	int timeline;
} FailoverCandidate;

/*
 * failover_candidate_compare: the one ranking comparator (total order):
 * negative when a should be promoted before b. See rank.c for the rules.
 */
int failover_candidate_compare(const FailoverCandidate *a,
                               const FailoverCandidate *b);

/*
 * failover_candidate_assess: the engine's verdict on one member (by name),
 * from its member key and, when reachable, its REST answer: *out holds the
 * first eligibility rule it fails (or FAILOVER_ELIGIBLE), its WAL position
 * and its lag. Returns false when the view has no such member. Every
 * caller that must explain a refusal (ctl, the REST API) uses this, so the
 * rules exist once, in rank.c.
 */
bool failover_candidate_assess(const ClusterView *view, const PeerStatus *peers,
                               int n_peers, const char *name,
                               FailoverCandidate *out);

/*
 * failover_best_candidate: the eligible member that ranks first, from the
 * view's member keys with fresher positions from reachable peers, skipping
 * exclude (may be NULL). Returns a name borrowed from view (valid while view
 * is), or NULL when nobody is eligible.
 */
const char *failover_best_candidate(const ClusterView *view,
                                    const PeerStatus *peers, int n_peers,
                                    const char *exclude);

/* ------------------------------------------------------------------------
 * Part 3: the executor (execute.c, exec_*.c; library pgw_failover_exec)
 * ------------------------------------------------------------------------ */

/*
 * The executor observes the local node for failover_decide() and carries a
 * Decision out through consensus/ and health/, in idempotent steps, one
 * function per decision kind (a table checked at open to have a row for
 * every kind). A step returns an ExecOutcome and never calls back into the
 * daemon: the loop publishes routing, the member key, the REST snapshot and
 * the callbacks from the outcome, and runs the leader's duties
 * (failover_leader_duties) in its publish phase. The executor owns the
 * PostgreSQL handles; the daemon owns etcd, the lease and timing, and
 * passes them in an ExecContext per call. Every call blocks the caller (the
 * daemon's main thread, which must be the thread that lives as long as the
 * process: PostgreSQL is forked from it).
 */
struct NodeConfig;
struct HealthReport;
typedef struct FailoverExec FailoverExec; /* opaque */

typedef struct ExecContext
{
	EtcdClient *etcd;
	const char *prefix;       /* "<namespace>/<scope>/" */
	const char *name;         /* our member name */
	int64_t lease_id;         /* our lease (0: none) */
	const ClusterView *view;  /* the view the decision was made on; nothing
	                          * rewrites it while a step runs */
	bool key_proven_by_watch; /* a live watch shows the leader key holding
	                           * us on lease_id: a renew needs no read */
	/* the daemon is stopping (SIGTERM): a switchover that fails stops here,
	 * it never brings PostgreSQL back as primary */
	bool stopping;
} ExecContext;

/*
 * ExecOutcome: what one step did. A step does not log its own failure: rc
 * and err come back here and the loop logs them once (execute.failed),
 * with action, what the executor already did about it.
 */
typedef struct ExecOutcome
{
	int rc;               /* 0 or PGW_E*; PGW_ECONFLICT from RENEW: we lost
	                       * the key (the next decision demotes) */
	PgwError err;         /* the detail when rc != 0 */
	const char *action;   /* static text: what was done about a failure
	                       * ("restart-as-primary"), "" = decide again */
	bool key_acquired;    /* we now hold the leader key on ctx->lease_id */
	bool key_released;    /* we gave it up (release, switchover handover) */
	bool leads;           /* the step confirmed we lead: leader duties run */
	bool role_changed;    /* PostgreSQL stopped, started, promoted, ... */
	bool became_writable; /* PostgreSQL now runs read-write under our key */
	bool run_again;       /* decide again at once, not at the next tick */
} ExecOutcome;

/* failover_exec_open: make the probe and control handles (no I/O yet).
 * cfg is borrowed and must outlive the executor. PGW_EINTERNAL when the
 * step table lacks a decision kind (a bug, caught at the first start). */
int failover_exec_open(const struct NodeConfig *cfg, FailoverExec **out,
                       PgwError *err) PGW_MUSTCHECK;
void failover_exec_close(FailoverExec *e); /* NULL is fine */
void failover_exec_reconfigure(FailoverExec *e, const struct NodeConfig *cfg);

/* failover_exec_observe: fill *self from the local node (probe, postmaster
 * status, data directory, a switchover in progress); the caller adds the
 * etcd facts. */
void failover_exec_observe(FailoverExec *e, const ClusterView *view,
                           LocalHealth *self);

/* failover_exec_reobserve: the same against a fresher view, reusing a
 * successful PostgreSQL probe of at most max_age_ms ago (its lag recomputed
 * against the new view): a decision that needs a linearizable read then
 * waits for one round trip to etcd, not one to PostgreSQL as well. */
void failover_exec_reobserve(FailoverExec *e, const ClusterView *view,
                             LocalHealth *self, int max_age_ms);

/* failover_exec_refresh: probe PostgreSQL again after a step changed its
 * role, so what the loop publishes (member key, REST) is its new state. */
void failover_exec_refresh(FailoverExec *e, const ClusterView *view);

/*
 * failover_execute: carry out dec by its step. Blocks up to the step's
 * bound (a switchover sub-state at most SWO_SLICE_MS while it waits).
 */
ExecOutcome failover_execute(FailoverExec *e, const ExecContext *ctx,
                             const Decision *dec, const LocalHealth *self);

/*
 * failover_leader_duties: what the leader keeps up while it holds the key
 * and runs read-write: the status optime, the config and initialize keys,
 * synchronous_standby_names and `sync`, the members' slots, and what a
 * promotion left (the history entry, clearing the request it served).
 * Failures are logged here (they are retried next turn) and never stop
 * the loop. The daemon calls it once per turn from its publish phase.
 */
void failover_leader_duties(FailoverExec *e, const ExecContext *ctx);

/* failover_exec_switchover: the switchover in progress (SWO_NONE: none),
 * its target copied into target[len] when given. */
SwitchoverStep failover_exec_switchover(const FailoverExec *e, char *target,
                                        size_t len);

/* failover_exec_member_info: the members/<name> value to publish. */
void failover_exec_member_info(FailoverExec *e, const ClusterView *view,
                               const Decision *dec, MemberInfo *m);

/* failover_exec_last_report: the last probe (borrowed until the next call). */
const struct HealthReport *
failover_exec_last_report(const FailoverExec *e, bool *pg_running,
                          int64_t *postmaster_start_wall_ms);

/* failover_exec_postmaster_pid: the running postmaster's pid (0: none). */
int failover_exec_postmaster_pid(FailoverExec *e);

/* failover_exec_is_writable_primary: PG runs and we started it as primary. */
bool failover_exec_is_writable_primary(const FailoverExec *e);

/* failover_exec_reap: notice (and reap) a postmaster that exited; true if
 * one did, so that the loop decides at once instead of at the next tick. */
bool failover_exec_reap(FailoverExec *e);

/*
 * failover_exec_fence_fn: the fencing action, safe to call from the fencing
 * thread: SIGKILL to the postmaster's process group, so no backend can
 * acknowledge another commit even if the postmaster is frozen.
 */
void failover_exec_fence_fn(void *exec);

/*
 * Actions asked for over the REST API (the loop runs them): restart keeps
 * the node's role; reinit re-clones a replica from the leader (refused on
 * the leader: PGW_ESTATE); reload is a SIGHUP. Restart and reinit are
 * refused (PGW_ESTATE) while a switchover is in progress.
 */
int failover_exec_restart(FailoverExec *e, const ExecContext *ctx,
                          int timeout_ms, PgwError *err) PGW_MUSTCHECK;
int failover_exec_reload(FailoverExec *e, PgwError *err) PGW_MUSTCHECK;
int failover_exec_reinit(FailoverExec *e, const ExecContext *ctx,
                         PgwError *err) PGW_MUSTCHECK;
bool failover_exec_pending_restart(const FailoverExec *e);

/* failover_exec_control: the executor's PostgreSQL control handle, for the
 * daemon's parameter sync (daemon/pg_params.c); borrowed */
struct PgControl *failover_exec_control(FailoverExec *e);

/* failover_exec_set_cloning: the member value says "creating replica" while
 * true (the loop sets it before a REST reinit, which it publishes first) */
void failover_exec_set_cloning(FailoverExec *e, bool cloning);

/* failover_exec_shutdown: SIGTERM path: stop PG (fast), then release the
 * leader key if we held it (value compare). True when it released it. */
bool failover_exec_shutdown(FailoverExec *e, const ExecContext *ctx);

#endif
