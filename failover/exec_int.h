/*
 * exec_int.h: shared by the executor's files only (execute.c, exec_*.c) and
 * their unit tests. The executor's state, the calls it makes into health/
 * and consensus/ as an ops table (so every step runs against fakes in
 * tests/unit/test_failover_exec.c), and the step functions.
 */
#ifndef PGW_FAILOVER_EXEC_INT_H
#define PGW_FAILOVER_EXEC_INT_H

#include "config/config.h"
#include "failover/failover.h"
#include "health/health.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define START_TIMEOUT_MS 60000
/*
 * A replica may need its slot on the leader before it becomes consistent,
 * and the leader creates it only once our member key shows us: never block
 * the loop on that. PENDING (still starting) is fine, it keeps running.
 */
#define REPLICA_START_WAIT_MS 3000
#define STOP_TIMEOUT_MS       30000
/* The timeline check of a replica that cannot follow (exec_diverge.c):
 * at most this often for the same postmaster. */
#define DIVERGE_CHECK_MS 5000

/* Deadlines of the switchover's sub-states (exec_switchover.c). */
#define SWO_CHECKPOINT_MS 30000
#define SWO_STOP_MS       STOP_TIMEOUT_MS
#define SWO_RECEIVE_MS    5000
#define SWO_PROMOTED_MS   3000
#define SWO_FOLLOW_MS     30000
/* The longest one turn waits inside a sub-state: the loop answers signals,
 * REST actions and refreshes its snapshot between two slices. */
#define SWO_SLICE_MS 200

/*
 * ExecOps: every call the executor makes into health/, consensus/ and the
 * shell. exec_ops_real holds the real functions; unit tests pass fakes.
 * The signatures are those of the functions they stand for.
 */
typedef struct ExecOps
{
	/* health/: the probe */
	int (*probe_open)(const PgProbeConfig *cfg, PgProbe **out, PgwError *err);
	void (*probe_close)(PgProbe *p);
	int (*probe_run)(PgProbe *p, PgLsn leader_lsn, HealthReport *r,
	                 PgwError *err);
	void (*report_relag)(HealthReport *r, PgLsn leader_lsn);

	/* health/: process control */
	int (*control_open)(const PgControlConfig *cfg, PgControl **out,
	                    PgwError *err);
	void (*control_close)(PgControl *c);
	void (*status)(PgControl *c, HealthPmStatus *st);
	HealthWait (*start)(PgControl *c, int timeout_ms, PgwError *err);
	HealthWait (*stop)(PgControl *c, HealthStopMode mode, int timeout_ms,
	                   PgwError *err);
	HealthWait (*restart)(PgControl *c, int timeout_ms, PgwError *err);
	int (*reload)(PgControl *c, PgwError *err);
	int (*bootstrap)(PgControl *c, int timeout_ms, PgwError *err);
	int (*clone)(PgControl *c, const HealthUpstream *leader, PgwError *err);
	int (*promote)(PgControl *c, int wait_seconds, uint32_t *new_timeline,
	               PgwError *err);
	HealthWait (*demote)(PgControl *c, const HealthUpstream *leader,
	                     int timeout_ms, PgwError *err);
	int (*set_upstream)(PgControl *c, const HealthUpstream *leader,
	                    PgwError *err);
	int (*ensure_standby)(PgControl *c, PgwError *err);
	int (*rewind_needed)(PgControl *c, const HealthUpstream *leader,
	                     bool *needed, PgwError *err);
	int (*rewind)(PgControl *c, const HealthUpstream *leader, PgwError *err);
	int (*timeline_check)(PgControl *c, const HealthUpstream *leader,
	                      PgLsn replay_lsn, HealthTimelineCheck *out,
	                      PgwError *err);
	int (*slots_sync)(PgControl *c, const char *const *members, int n_members,
	                  int *changed, PgwError *err);
	int (*set_sync)(PgControl *c, const char *value, int timeout_ms,
	                PgwError *err);
	int (*fence_postmaster)(pid_t pid);

	/* health/: the switchover's handover */
	int (*checkpoint)(PgControl *c, PgwError *err);
	int (*checkpoint_lsn)(PgControl *c, PgLsn *lsn, char *state,
	                      size_t state_len, PgwError *err);
	HealthWait (*stop_checkpointed)(PgControl *c, int timeout_ms, PgLsn *lsn,
	                                PgwError *err);
	int (*standby_prepare)(PgControl *c, const HealthUpstream *standby,
	                       PgwError *err);
	void (*standby_forget)(PgControl *c);
	HealthWait (*wait_received)(PgControl *c, const HealthUpstream *standby,
	                            PgLsn lsn, int timeout_ms, PgLsn *seen,
	                            PgwError *err);
	HealthWait (*wait_promoted)(PgControl *c, const HealthUpstream *standby,
	                            int timeout_ms);

	/* health/: the data directory */
	HealthIncomplete (*data_dir_incomplete)(const char *data_dir);
	HealthDataDir (*data_dir_state)(const char *dir, HealthIncomplete inc);
	bool (*data_dir_has)(const char *dir, const char *name);
	int (*wipe_data_dir)(const char *dir, PgwError *err);

	/* consensus/: the leader key and the keys a leader writes */
	int (*leader_acquire)(EtcdClient *c, const char *prefix, const char *name,
	                      int64_t lease, bool *won, char *holder,
	                      PgwError *err);
	int (*leader_check)(EtcdClient *c, const char *prefix, const char *name,
	                    int64_t lease, PgwError *err);
	int (*leader_takeover)(EtcdClient *c, const char *prefix, const char *name,
	                       int64_t old_lease, int64_t new_lease, PgwError *err);
	int (*leader_release)(EtcdClient *c, const char *prefix, const char *name,
	                      PgwError *err);
	int (*leader_handover)(EtcdClient *c, const char *prefix, const char *name,
	                       const FailoverRequest *f, PgwError *err);
	int (*initialize_claim)(EtcdClient *c, const char *prefix, bool *won,
	                        PgwError *err);
	int (*initialize_set)(EtcdClient *c, const char *prefix, const char *sysid,
	                      PgwError *err);
	int (*leader_guarded_put)(EtcdClient *c, const char *prefix,
	                          const char *name, int64_t lease,
	                          const char *key_suffix, const char *value,
	                          PgwError *err);
	int (*cas_put_rev)(EtcdClient *c, const char *prefix,
	                   const char *key_suffix, const char *value,
	                   int64_t mod_revision, int64_t *new_revision,
	                   PgwError *err);
	int (*cas_delete)(EtcdClient *c, const char *prefix, const char *key_suffix,
	                  int64_t mod_revision, PgwError *err);
	int (*key_read)(EtcdClient *c, const char *prefix, const char *key_suffix,
	                char **value, size_t *value_len, int64_t *mod_revision,
	                PgwError *err);

	/* the pre_promote script */
	int (*run_command)(const char *cmd, const char *const *args, int timeout_ms,
	                   int *exit_status, PgwError *err);

	/* backup/: the WAL an old primary never archived, replicas from the
	 * repository (NULL in a fake: skipped, pg_basebackup only) */
	int (*push_ready)(const NodeConfig *cfg, int timeout_ms, int *pushed,
	                  PgwError *err);
	int (*clone_from_repository)(const NodeConfig *cfg, PgwError *err);
	bool (*basebackup_allowed)(const NodeConfig *cfg);
	/* bootstrap.method: pgbackrest (NULL in a fake: refused) */
	int (*bootstrap_plan)(const NodeConfig *cfg, EtcdClient *etcd, char *label,
	                      size_t label_len, PgwError *err);
	int (*bootstrap_restore)(const NodeConfig *cfg, const char *label,
	                         PgwError *err);
} ExecOps;

extern const ExecOps exec_ops_real;

/* The switchover in progress (exec_switchover.c): one sub-state per turn. */
typedef struct Switchover
{
	SwitchoverStep step; /* SWO_NONE: none */
	char target[PGW_NAME_MAX];
	HealthUpstream up; /* the target's address (host below) */
	char host[256];
	FailoverRequest request;    /* the request as the switchover began */
	int64_t request_rev;        /* its revision as we last wrote or saw
	                               * it: the abort deletes by it */
	PgLsn checkpoint;           /* our shutdown checkpoint */
	int64_t started_mono_ms;    /* SWO_CHECKPOINT entered */
	int64_t step_since_mono_ms; /* the current sub-state entered */
	int64_t step_deadline_mono_ms;
	int64_t stop_mono_ms;      /* fast stop sent (write downtime starts) */
	int64_t shut_down_mono_ms; /* pg_control said "shut down" */
	int64_t received_mono_ms;  /* the target had our checkpoint */
} Switchover;

/* What a promotion leaves for the leader's duties (exec_leader.c). */
typedef struct LeaderPending
{
	bool history; /* append a history entry */
	int new_timeline;
	uint64_t lsn; /* where the old timeline ended */
	char reason[FAILOVER_REASON_MAX];
	int64_t clear_failover_rev; /* delete `failover` at this revision (0: no) */
} LeaderPending;

struct FailoverExec
{
	const NodeConfig *cfg; /* borrowed: lives as long as the daemon */
	const ExecOps *ops;
	PgProbe *probe;
	PgControl *pg;
	HealthReport *rep; /* last probe */
	HealthPmStatus pm;
	bool should_run;     /* we started PG and expect it to run */
	bool expect_primary; /* it should run read-write */
	int64_t crashed_since_mono_ms;
	int restart_attempts;
	bool restart_failed; /* the last restart as primary failed */
	bool rewind_failed;
	bool clone_failed;
	int64_t postmaster_start_wall_ms;
	char upstream[PGW_NAME_MAX]; /* member we configured to follow */
	uint64_t last_sysid;
	int last_timeline;
	int64_t status_published_mono_ms;
	uint64_t slots_for;            /* hash of the whole member list the
	                                 * slots were synced for; 0: never */
	char sync_names_applied[1024]; /* synchronous_standby_names we set */
	bool sync_names_known;         /* ... reflects the server's value */
	atomic_int fence_pid;          /* postmaster pid for the fence thread */
	int64_t vetoed_mono_ms;        /* pre_promote said no at this time */
	int64_t probe_ok_mono_ms;      /* last successful probe (0: none) */
	pid_t probe_pid;               /* the postmaster that probe saw */
	HealthParam *params;           /* cfg parameters as HealthParam */
	int n_params;
	bool cloning; /* a clone runs: "creating replica" */
	Switchover swo;
	LeaderPending pending;

	/* the timeline check (exec_diverge.c) */
	bool diverged;                      /* sticky: a check found WAL past the
	                               * leader's fork; cleared by a rewind, a
	                               * clone or a promotion */
	pid_t tl_checked_pid;               /* the postmaster a check cleared (0:
	                               * none yet: every new one is checked) */
	pid_t tl_attempt_pid;               /* ... the last attempt was for */
	int64_t tl_attempt_mono_ms;         /* when (rate limit) */
	char tl_last_error[128];            /* the last failure, logged once */
	char tl_rewound_from[PGW_NAME_MAX]; /* a rewind from this leader ran
	                               * and no check has cleared us since */
	int rewound_start_failures;         /* failed starts since that rewind */
};

/* failover_exec_open_ops: failover_exec_open with ops (tests pass fakes). */
int failover_exec_open_ops(const NodeConfig *cfg, const ExecOps *ops,
                           FailoverExec **out, PgwError *err);

/* ---- exec_pg.c: PostgreSQL start / stop, addresses ---------------------- */

/* exec_upstream_of: the HealthUpstream of member name, from its conn_url
 * (host copied into host[hlen]); false when it has none. */
bool exec_upstream_of(const ClusterView *v, const char *name, char *host,
                      size_t hlen, HealthUpstream *up);
/* exec_url_host_port: host and port of a URL that names a port. */
bool exec_url_host_port(const char *url, char *host, size_t hlen, int *port);
DataDirState exec_data_dir_state(FailoverExec *e);
HealthWait exec_start_pg_within(FailoverExec *e, bool as_primary,
                                int timeout_ms, PgwError *err);
HealthWait exec_start_pg(FailoverExec *e, bool as_primary, PgwError *err);
/* exec_stop_pg: stop in mode, escalating to immediate at the bound (logged) */
void exec_stop_pg(FailoverExec *e, HealthStopMode mode);
/* exec_pm_refresh: re-read the postmaster's status (and the fence's pid) */
void exec_pm_refresh(FailoverExec *e);

/* ---- exec_steps.c: one function per decision kind ----------------------- */

typedef void (*ExecStepFn)(FailoverExec *e, const ExecContext *ctx,
                           const Decision *dec, const LocalHealth *self,
                           ExecOutcome *out);

typedef struct ExecStep
{
	const char *name; /* the kind's name, as failover_decision_kind_name */
	ExecStepFn fn;
} ExecStep;

/* exec_steps_table: the table, indexed by DecisionKind (n = its length). */
const ExecStep *exec_steps_table(int *n);

/* exec_steps_check: the first kind without a row, or DECIDE_KIND_COUNT
 * when every kind has one (checked at open: a missing row is a bug). */
DecisionKind exec_steps_check(const ExecStep *table, int n);

/* ---- exec_switchover.c ---------------------------------------------------- */

/* exec_switchover_step: start the switchover of dec, or advance the one in
 * progress by one sub-state. */
void exec_switchover_step(FailoverExec *e, const ExecContext *ctx,
                          const Decision *dec, const LocalHealth *self,
                          ExecOutcome *out);

/* exec_switchover_abandon: the switchover ends because we stop writing
 * anyway (fencing): forget it without restarting PostgreSQL. Only before
 * the handover (PGW_EINTERNAL after it, and nothing is done). */
int exec_switchover_abandon(FailoverExec *e, PgwError *err);

/* ---- exec_diverge.c: the timeline check --------------------------------- */

/* exec_diverge_observe: after a fresh probe, check (rate-limited) whether
 * a replica's WAL left the leader's history, and report the sticky verdict
 * as self->timeline_diverged. */
void exec_diverge_observe(FailoverExec *e, const ClusterView *view,
                          LocalHealth *self);

/* exec_save_wal: before pg_rewind or a re-clone throws our WAL away, the
 * segments never archived go to the archive (exec_backup.c). */
void exec_save_wal(FailoverExec *e);

/* exec_clone_data_dir: the clone itself, in create_replica_methods order:
 * the repository first when configured, else (or on its failure, when
 * allowed) pg_basebackup from up (exec_backup.c). */
int exec_clone_data_dir(FailoverExec *e, const HealthUpstream *up,
                        PgwError *err);

/* a pgBackRest backup label (backup.h's BACKUP_LABEL_MAX) */
#define EXEC_LABEL_MAX 64

/* exec_restore_plan / exec_restore_data_dir: bootstrap.method: pgbackrest,
 * the target checked before the `initialize` claim (label: the backup to
 * restore), the restore after winning it (exec_backup.c). */
int exec_restore_plan(FailoverExec *e, EtcdClient *etcd, char *label,
                      PgwError *err);
int exec_restore_data_dir(FailoverExec *e, const char *label, PgwError *err);

/* exec_diverge_forget: our WAL is the leader's again (rewound from source,
 * re-cloned: source NULL) or the question is moot (we were promoted). */
void exec_diverge_forget(FailoverExec *e, const char *why, const char *source);

/* exec_diverge_start_failed: PostgreSQL did not start (detail says why).
 * The second failure since a rewind no check has cleared marks the data
 * directory diverged with the rewind failed: re-cloned when
 * remove_data_directory_on_rewind_failure allows, else left stopped for
 * an operator, never restarted in a loop. */
void exec_diverge_start_failed(FailoverExec *e, const ExecContext *ctx,
                               const char *detail);

/* ---- exec_leader.c: the leader's duties ----------------------------------- */

/* exec_sync_claim: before a promotion in synchronous mode (see there). */
void exec_sync_claim(FailoverExec *e, const ExecContext *ctx);

#endif
