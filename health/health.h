/*
 * health.h: the only door to PostgreSQL (DESIGN.md, "health/"). Two opaque
 * handles: PgProbe (one persistent libpq connection, one round trip per
 * probe, fills a caller-allocated HealthReport) and PgControl (process
 * control: initdb, start/stop of the postmaster as our child, promote,
 * clone, rewind, standby configuration, slots, synchronous_standby_names).
 *
 * Configuration ownership: pgwarden writes every setting it manages into
 * "postgresql.pgwarden.conf" in the data directory, included at the end of
 * postgresql.conf. ALTER SYSTEM (postgresql.auto.conf) still overrides it;
 * health_control_set_sync() detects that by reading the value back (SHOW).
 *
 * Errors: 0 or a negative PGW_E* code, with an optional PgwError message.
 * Waits return HealthWait (READY / PENDING / FAILED). Nothing here logs a
 * failure; external commands are logged once, before they run (event
 * "pg.exec"), never with a password.
 */
#ifndef PGW_HEALTH_HEALTH_H
#define PGW_HEALTH_HEALTH_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HEALTH_STANDBYS_MAX 32 /* rows kept from pg_stat_replication */
#define HEALTH_NAME_MAX     64 /* NAMEDATALEN */
#define HEALTH_HOST_MAX     256
#define HEALTH_MSG_MAX      256
#define HEALTH_LSN_STRLEN   20 /* "FFFFFFFF/FFFFFFFF" + NUL, rounded */

/* A WAL position (XLogRecPtr). 0 is invalid / unknown. */
typedef uint64_t PgLsn;

#define HEALTH_LSN_INVALID ((PgLsn) 0)

/* ---------- LSN helpers (pure) ---------- */

/*
 * health_lsn_parse: parse PostgreSQL's "X/Y" text form (hex, each half at
 * most 8 digits, e.g. "0/3000060"). Returns 0 or PGW_EINVAL.
 */
int health_lsn_parse(const char *s, PgLsn *out) PGW_MUSTCHECK;

/* health_lsn_format: "X/Y" into buf (HEALTH_LSN_STRLEN bytes). Returns buf. */
const char *health_lsn_format(PgLsn lsn, char *buf, size_t len);

/*
 * health_lsn_lag_bytes: how far behind `behind` is from `ahead`, in bytes:
 * ahead - behind, or 0 when behind is at or past ahead. Either invalid
 * gives UINT64_MAX ("unknown", worst for ranking).
 */
uint64_t health_lsn_lag_bytes(PgLsn ahead, PgLsn behind);

/* ---------- probe ---------- */

/* Why a probe could not read the server (HealthReport.unreachable). */
typedef enum HealthUnreachable
{
	HEALTH_REACH_OK = 0,        /* connected and read the snapshot */
	HEALTH_REACH_REFUSED,       /* nothing listens (no socket / ECONNREFUSED) */
	HEALTH_REACH_AUTH,          /* authentication or pg_hba refused us */
	HEALTH_REACH_TIMEOUT,       /* connect or statement deadline passed */
	HEALTH_REACH_STARTING_UP,   /* "the database system is starting up" */
	HEALTH_REACH_SHUTTING_DOWN, /* "the database system is shutting down" */
	HEALTH_REACH_IN_RECOVERY,   /* crash recovery, or standby not yet
	                             * consistent / hot_standby off */
	HEALTH_REACH_TOO_MANY_CLIENTS, /* max_connections reached */
	HEALTH_REACH_BAD_RESPONSE,     /* answered something we cannot decode */
	HEALTH_REACH_OTHER,            /* anything else; see unreachable_msg */
} HealthUnreachable;

typedef enum HealthRole
{
	HEALTH_ROLE_UNKNOWN = 0,    /* not reachable */
	HEALTH_ROLE_PRIMARY,        /* read-write */
	HEALTH_ROLE_REPLICA,        /* in recovery */
	HEALTH_ROLE_STANDBY_LEADER, /* in recovery, probe configured with
	                             * standby_cluster (follows a remote
	                             * primary) */
} HealthRole;

/* One row of pg_stat_replication (primary or cascading standby). */
typedef struct HealthStandby
{
	char application_name[HEALTH_NAME_MAX]; /* usually the member */
	char client_addr[HEALTH_HOST_MAX];      /* "" for Unix socket */
	char state[32];      /* startup, catchup, streaming, backup */
	char sync_state[16]; /* async, potential, sync, quorum */
	int sync_priority;
	PgLsn sent_lsn;
	PgLsn write_lsn;
	PgLsn flush_lsn;
	PgLsn replay_lsn;
	int64_t write_lag_ms;  /* -1: NULL (idle or unknown) */
	int64_t flush_lag_ms;  /* -1: NULL */
	int64_t replay_lag_ms; /* -1: NULL */
	uint64_t lag_bytes;    /* report's leader LSN - replay_lsn */
} HealthStandby;

/*
 * HealthReport: one snapshot of one server. Caller-allocated; fixed arrays;
 * health_probe_run() zeroes and fills all of it.
 */
typedef struct HealthReport
{
	bool reachable;                /* connected and read the snapshot */
	HealthUnreachable unreachable; /* why not (HEALTH_REACH_OK if reachable) */
	char unreachable_msg[HEALTH_MSG_MAX]; /* libpq's words, one line */

	bool has_postmaster_pid; /* postmaster.pid read (needs data_dir) */
	pid_t postmaster_pid;    /* first line of postmaster.pid */
	bool postmaster_alive;   /* that pid exists and is not a zombie */

	HealthRole role;
	bool in_recovery;           /* pg_is_in_recovery() */
	uint32_t timeline;          /* current: insert TLI on a primary (right
	                             * after promotion too), received TLI or
	                             * checkpoint TLI on a replica */
	uint32_t checkpoint_tli;    /* pg_control_checkpoint(): lags the
	                             * timeline until the first checkpoint
	                             * after a promotion */
	uint64_t system_identifier; /* pg_control_system() */
	int server_version_num;     /* e.g. 150018 */
	char server_version[32];    /* e.g. "15.18" */
	bool pending_restart;       /* any pg_settings.pending_restart */
	int64_t server_now_wall_ms; /* server's now(), ms since the epoch */

	/* primary */
	PgLsn wal_lsn; /* pg_current_wal_lsn() (0 on a replica) */

	/* replica */
	PgLsn receive_lsn;            /* pg_last_wal_receive_lsn() (flushed) */
	PgLsn replay_lsn;             /* pg_last_wal_replay_lsn() */
	PgLsn written_lsn;            /* pg_stat_wal_receiver.written_lsn */
	PgLsn flushed_lsn;            /* pg_stat_wal_receiver.flushed_lsn */
	bool replay_paused;           /* pg_is_wal_replay_paused() */
	bool has_last_replay;         /* last_replay_wall_ms is set */
	int64_t last_replay_wall_ms;  /* pg_last_xact_replay_timestamp() */
	int64_t replay_delay_ms;      /* server now() - last replay; -1 unknown */
	bool has_wal_receiver;        /* a pg_stat_wal_receiver row exists */
	char wal_receiver_status[32]; /* streaming, waiting, ... */
	char upstream_host[HEALTH_HOST_MAX]; /* sender_host */
	int upstream_port;                   /* sender_port */
	char upstream_slot[HEALTH_NAME_MAX]; /* slot_name */
	uint32_t received_tli;               /* pg_stat_wal_receiver.received_tli */

	/* lag against the leader LSN given to health_probe_run() */
	PgLsn leader_lsn;   /* as given (0: none) */
	uint64_t lag_bytes; /* leader_lsn - max(receive, replay) on a
	                     * replica, 0 on a primary; UINT64_MAX
	                     * when unknown */

	int n_standbys;
	HealthStandby standbys[HEALTH_STANDBYS_MAX];
	bool standbys_truncated; /* more rows than HEALTH_STANDBYS_MAX */

	int64_t probe_duration_us; /* wall time of this probe */
} HealthReport;

typedef struct PgProbeConfig
{
	const char *host; /* Unix socket dir ("/...") or an address */
	int port;
	const char *user;         /* NULL: "postgres" */
	const char *password;     /* NULL: none / passfile */
	const char *dbname;       /* NULL: "postgres" */
	const char *data_dir;     /* NULL: no postmaster.pid check */
	int connect_timeout_ms;   /* 0: 2000 */
	int statement_timeout_ms; /* 0: 1000 */
	bool standby_cluster;     /* in recovery means standby leader */
} PgProbeConfig;

typedef struct PgProbe PgProbe;

/*
 * health_probe_open: make a probe handle (copies cfg). Does not connect:
 * the first health_probe_run() does. Returns 0 or PGW_EINVAL.
 */
int health_probe_open(const PgProbeConfig *cfg, PgProbe **out,
                      PgwError *err) PGW_MUSTCHECK;

/* health_probe_close: close the connection and free; NULL is fine. */
void health_probe_close(PgProbe *p);

/*
 * health_probe_run: fill *r with a snapshot. Blocks at most connect_timeout
 * + statement_timeout. Reuses the handle's connection; reconnects after any
 * failure. One round trip (two result sets in one simple-query message).
 * leader_lsn (0: none) is what lag_bytes of the report and of each standby
 * row are computed against; on a primary pass 0 to use its own wal_lsn.
 * The report is always filled; returns 0 when reachable, else
 * PGW_EUNAVAILABLE (refused, starting, shutting down, recovery...),
 * PGW_ETIMEDOUT, PGW_EAUTH or PGW_EBADRESPONSE (wrong shape, NULLs where
 * none may be, unsupported version), with r->unreachable saying why.
 */
int health_probe_run(PgProbe *p, PgLsn leader_lsn, HealthReport *r,
                     PgwError *err);

/* health_report_relag: recompute the lag fields of a report against another
 * leader LSN, for a caller that re-reads etcd but not PostgreSQL */
void health_report_relag(HealthReport *r, PgLsn leader_lsn);

/*
 * health_probe_disconnect: close the probe's connection now (the next run
 * reconnects). Call before a smart stop, which waits for every session,
 * ours included.
 */
void health_probe_disconnect(PgProbe *p);

/* health_role_name / health_unreachable_name: stable lower-case names. */
const char *health_role_name(HealthRole role);
const char *health_unreachable_name(HealthUnreachable u);

/* ---------- control ---------- */

typedef enum HealthWait
{
	HEALTH_WAIT_READY = 0, /* reached the wanted state */
	HEALTH_WAIT_PENDING,   /* still on its way when the bound passed */
	HEALTH_WAIT_FAILED,    /* cannot get there; err says why */
} HealthWait;

typedef enum HealthStopMode
{
	HEALTH_STOP_SMART = 0, /* SIGTERM: wait for clients */
	HEALTH_STOP_FAST,      /* SIGINT: disconnect clients, checkpoint */
	HEALTH_STOP_IMMEDIATE, /* SIGQUIT: no checkpoint, crash recovery
	                        * at next start */
} HealthStopMode;

/* A "name = value" server setting. */
typedef struct HealthParam
{
	const char *name;  /* [a-z0-9_.], validated */
	const char *value; /* any text; quoted when written */
} HealthParam;

/* The server to clone from, follow or rewind against. */
typedef struct HealthUpstream
{
	const char *host; /* address or socket dir */
	int port;
} HealthUpstream;

typedef struct PgControlConfig
{
	const char *bin_dir;  /* e.g. /usr/lib/postgresql/15/bin */
	const char *data_dir; /* created (0700, run_as) if missing */
	int port;
	const char *listen_addresses;   /* NULL: "127.0.0.1" */
	const char *socket_dir;         /* created (run_as) if missing */
	const char *run_as;             /* OS user for every PostgreSQL program;
	                                 * NULL: ourselves (must not be root) */
	const char *member_name;        /* application_name and slot name */
	const char *superuser;          /* NULL: "postgres" */
	const char *superuser_password; /* NULL: local trust in default hba */
	const char *replication_user;   /* NULL: "replicator" */
	const char *replication_password;
	const char *pgpass_path;   /* NULL: "<data_dir>.pgpass" (0600) */
	const char *log_path;      /* postmaster stderr; NULL:
	                            * "<data_dir>.log" */
	const HealthParam *params; /* extra settings, written to our file */
	int n_params;
	const char *const *hba_lines; /* NULL: defaults (scram on loopback) */
	int n_hba_lines;
	const char *const *hba_append_lines; /* after the defaults, when
	                                      * hba_lines is NULL (Patroni's
	                                      * bootstrap.pg_hba) */
	int n_hba_append_lines;
	int command_timeout_ms; /* initdb, basebackup, rewind; 0: 600000 */
} PgControlConfig;

typedef struct PgControl PgControl;

/* Postmaster status as control sees it (health_control_status). */
typedef struct HealthPmStatus
{
	bool running;      /* a live postmaster owns data_dir */
	pid_t pid;         /* its pid (0 if none) */
	bool is_child;     /* we started it (fork + exec) */
	bool adopted;      /* running but not our child */
	char pm_state[16]; /* postmaster.pid status: "ready",
	                    * "standby", "starting", "stopping" */
	bool exited;       /* our child exited on its own since the
	                    * last call (reaped now) */
	int exit_status;   /* its waitpid status when exited */
} HealthPmStatus;

/*
 * health_control_open: validate and copy cfg, write the pgpass file
 * (0600, owned by run_as) with both credentials. Does not touch data_dir.
 * Returns 0, PGW_EINVAL (bad names, newline in a password, root without
 * run_as, unknown user) or PGW_EIO.
 */
int health_control_open(const PgControlConfig *cfg, PgControl **out,
                        PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_close: free the handle. Does NOT stop the postmaster (the
 * parent-death signal and the daemon's stop path do). NULL is fine.
 */
void health_control_close(PgControl *c);

/*
 * health_control_bootstrap: initdb (--data-checksums, superuser and
 * password, C locale, UTF8) into an empty or missing data_dir, write our
 * pg_hba.conf and postgresql.pgwarden.conf (wal_log_hints on), start, create
 * the replication role. Blocks up to command_timeout + timeout_ms. Returns
 * 0, PGW_ESTATE (data_dir not empty), PGW_EIO (initdb failed; err carries
 * the tail of its output), PGW_ETIMEDOUT.
 */
int health_control_bootstrap(PgControl *c, int timeout_ms,
                             PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_clone: make data_dir a replica of leader: make sure the
 * leader has a physical slot named after this member (replication
 * connection, CREATE_REPLICATION_SLOT; an existing one is reused), run
 * pg_basebackup -X stream with that slot, write standby configuration
 * (standby.signal, primary_conninfo with application_name=<member>,
 * primary_slot_name, recovery_target_timeline='latest'). Does not start.
 * data_dir must be empty or missing (PGW_ESTATE). Returns 0,
 * PGW_EUNAVAILABLE (leader unreachable), PGW_EIO (pg_basebackup failed).
 */
int health_control_clone(PgControl *c, const HealthUpstream *leader,
                         PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_start: fork + exec `postgres -D data_dir` as OUR CHILD
 * (never pg_ctl, which daemonizes): in the child, setgid/setuid to run_as,
 * then PR_SET_PDEATHSIG(SIGQUIT) (credential changes clear it, so after),
 * then exit if the parent already died, then exec. SIGQUIT is immediate
 * shutdown, so a primary never outlives its daemon (DESIGN promise 1).
 * CALL FROM A THREAD THAT LIVES AS LONG AS THE PROCESS (the main thread):
 * the parent-death signal fires when the forking *thread* exits.
 * Refuses (FAILED, PGW_ESTATE) when a postmaster not started by us owns
 * data_dir, and when the data directory holds an interrupted clone or
 * rewind (see health_data_dir_incomplete). Waits up to timeout_ms for
 * postmaster.pid to say "ready" or
 * "standby": READY; still starting: PENDING (it keeps running); exited or
 * could not be started: FAILED with the log tail in err.
 */
HealthWait health_control_start(PgControl *c, int timeout_ms, PgwError *err);

/*
 * An interrupted pg_basebackup or pg_rewind leaves a data directory that
 * looks whole and is not: a rewind stopped half way has the leader's
 * blocks in some files and its own in others, and its WAL after the fork
 * point may already be the leader's, so a second rewind would miss blocks.
 * Clone and rewind write a marker beside the data directory
 * (DATA_DIR.clone-incomplete, DATA_DIR.rewind-incomplete, fsynced) before
 * they change anything and remove it when they succeed (or failed before
 * touching a file); a daemon killed in between finds it at its next start.
 * The data directory is then only good for a re-clone.
 */
typedef enum HealthIncomplete
{
	HEALTH_INCOMPLETE_NONE = 0,
	HEALTH_INCOMPLETE_CLONE,
	HEALTH_INCOMPLETE_REWIND,
} HealthIncomplete;

HealthIncomplete health_data_dir_incomplete(const char *data_dir);

/* What the data directory holds (datadir.c). */
typedef enum HealthDataDir
{
	HEALTH_DATA_DIR_UNKNOWN = 0, /* could not be inspected */
	HEALTH_DATA_DIR_EMPTY,       /* missing, empty or a half-written clone */
	HEALTH_DATA_DIR_INITIALIZED, /* holds a cluster (PG_VERSION) */
} HealthDataDir;

/* health_data_dir_state: inc is health_data_dir_incomplete(dir), read once
 * by the caller (an interrupted clone counts as empty). Never blocks long. */
HealthDataDir health_data_dir_state(const char *dir, HealthIncomplete inc);

/* health_data_dir_has: dir/name exists (standby.signal, say). */
bool health_data_dir_has(const char *dir, const char *name);

/*
 * wipe_data_dir: remove dir and everything in it, for a re-clone: it is
 * renamed aside first (so a crash mid-removal leaves no half data directory)
 * and removed by a child. Returns 0 (also when dir does not exist) or
 * PGW_EIO. Blocks until the removal ends.
 */
int wipe_data_dir(const char *dir, PgwError *err);

/*
 * health_fence_postmaster: stop postmaster pid from acknowledging any
 * further commit, at once: SIGSTOP it (no new backend), SIGKILL every child
 * (backends call setsid(), so a process-group kill misses them), then
 * SIGKILL it. Crash recovery runs at the next start. Only signals and reads
 * /proc, so it is safe on a fencing thread and in a forked process. Returns
 * 0, or -1 when pid is not a running postgres process (nothing signalled).
 */
int health_fence_postmaster(pid_t pid);

/*
 * health_control_stop: signal the postmaster (ours or an adopted one from
 * postmaster.pid): SIGTERM smart, SIGINT fast, SIGQUIT immediate; wait up
 * to timeout_ms (waitpid for our child, pid polling otherwise). Not running
 * counts as READY. PENDING when it still runs at the bound (escalate with
 * a stronger mode). FAILED only when it cannot be signalled. Smart mode
 * waits for every session, so disconnect probes first.
 */
HealthWait health_control_stop(PgControl *c, HealthStopMode mode,
                               int timeout_ms, PgwError *err);

/*
 * health_control_restart: stop (fast) then start, each bounded by
 * timeout_ms. Same outcomes as health_control_start.
 */
HealthWait health_control_restart(PgControl *c, int timeout_ms, PgwError *err);

/*
 * health_control_status: non-blocking; reaps our child if it exited on its
 * own (st->exited), so call it every loop to notice a dead postmaster within
 * one period. Reads postmaster.pid for adopted postmasters.
 */
void health_control_status(PgControl *c, HealthPmStatus *st);

/*
 * health_control_set_params: replace the extra settings written to our
 * configuration file (PgControlConfig.params; copied). When they differ
 * and the data directory exists, the file is rewritten and checked as the
 * postmaster's next start will read it (`postgres -C`, as run_as): each
 * parameter PostgreSQL refuses is left out and named in rejected
 * (comma-separated, may be truncated). *changed tells whether the settings
 * changed and, with a data directory, were written (the caller reloads a
 * running server); a file that could not be written leaves *changed false
 * and the next call writes it. Blocks up to ~15 s per check. Returns 0,
 * PGW_EINVAL (refused for a reason not among params), PGW_EIO.
 */
int health_control_set_params(PgControl *c, const HealthParam *params, int n,
                              bool *changed, char *rejected,
                              size_t rejected_len, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_reload: SIGHUP the postmaster. PGW_ESTATE if not running.
 */
int health_control_reload(PgControl *c, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_promote: refuse (PGW_ESTATE, "cannot promote server:
 * server is not in standby mode") without standby.signal, as pg_ctl
 * checks first; then `pg_ctl promote -W`, poll pg_is_in_recovery() every
 * 5 ms up to wait_seconds, and remove our standby settings from our file. *new_timeline (may be NULL) gets the
 * timeline after promotion. Blocks up to wait_seconds + 5 s. PGW_ETIMEDOUT
 * when promotion did not finish in time (it may still finish).
 */
int health_control_promote(PgControl *c, int wait_seconds,
                           uint32_t *new_timeline, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_demote: stop (fast, then immediate at the bound), write
 * the standby configuration following leader, start as a standby. No
 * re-clone. Check health_control_rewind_needed() first after a failover.
 */
HealthWait health_control_demote(PgControl *c, const HealthUpstream *leader,
                                 int timeout_ms, PgwError *err);

/*
 * health_control_set_upstream: point a running replica at leader: rewrite
 * primary_conninfo in our file and reload (PostgreSQL 15 applies it without
 * a restart). Also used to write the configuration of a stopped one.
 */
int health_control_set_upstream(PgControl *c, const HealthUpstream *leader,
                                PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_ensure_standby: write standby.signal (keeping any
 * primary_conninfo already configured), so that the next start comes up in
 * recovery even when no upstream is known yet: a node that is not sure it
 * leads must never start read-write. Idempotent.
 */
int health_control_ensure_standby(PgControl *c, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_rewind_needed: compare our pg_control (pg_controldata:
 * timeline, checkpoint location, cluster state) with the leader's timeline
 * and history (superuser connection). *needed is true when our timeline is
 * not an ancestor of the leader's at a point at or past our end of WAL,
 * or when we were not shut down cleanly on another timeline. Data dir must
 * not be in use. Returns 0, PGW_EUNAVAILABLE, PGW_EIO, PGW_EBADRESPONSE.
 */
int health_control_rewind_needed(PgControl *c, const HealthUpstream *leader,
                                 bool *needed, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_rewind: stop if running (fast), run pg_rewind
 * --source-server against leader (pg_rewind itself runs single-user crash
 * recovery when the target was not shut down cleanly), restore our
 * pg_hba.conf and postgresql.pgwarden.conf (pg_rewind copies the leader's),
 * write standby configuration following leader. Does not start. Returns 0,
 * PGW_EUNAVAILABLE (leader unreachable), PGW_ESTATE (rewind impossible:
 * re-clone), PGW_EIO.
 */
int health_control_rewind(PgControl *c, const HealthUpstream *leader,
                          PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_slots_sync: on the primary, make the physical slots match
 * members (slot names via health_slot_name; our own member skipped):
 * create missing ones (reserving WAL), drop inactive physical slots of
 * departed members; an active slot is never dropped. *changed (may be
 * NULL) counts creations and drops.
 */
int health_control_slots_sync(PgControl *c, const char *const *members,
                              int n_members, int *changed,
                              PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_set_sync: write synchronous_standby_names (value as
 * PostgreSQL takes it, e.g. from health_sync_names_build; "" = async) into
 * our file, reload, and poll SHOW until it is in effect, up to timeout_ms.
 * PGW_ETIMEDOUT when not in effect (e.g. shadowed by ALTER SYSTEM).
 */
int health_control_set_sync(PgControl *c, const char *value, int timeout_ms,
                            PgwError *err) PGW_MUSTCHECK;

/*
 * The lease witness (issue 19, lease_ssn.c). health_control_set_witness:
 * name the witness in synchronous_standby_names from now on (on) or stop
 * (off): value is what health_control_set_sync was given, composed with the
 * witness (witness_ssn_compose); the file is rewritten at once (*changed),
 * the caller reloads a running server and then calls
 * health_control_witness_gate_settle (which lifts a quorum gate the new
 * value no longer has). With a quorum gate, the witness process must run:
 * the gate is handed to it first (PGW_ETIMEDOUT when it does not take it).
 * health_control_set_sync composes the same way while it is on.
 */
int health_control_set_witness(PgControl *c, bool on, bool *changed,
                               PgwError *err) PGW_MUSTCHECK;
int health_control_witness_gate_settle(PgControl *c,
                                       PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_set_commit_check: while the witness is named, also load
 * the commit check into every session (session_preload_libraries gets
 * lib, after any the operator configured; pgwarden_lease.page = page): a
 * write commit is acknowledged only while the lease holds
 * (witness/pg_lease/pgwarden_lease.c). lib NULL: the witness alone. Takes
 * effect at the next write of the file (the caller names the witness after
 * it). Copies both.
 */
void health_control_set_commit_check(PgControl *c, const char *lib,
                                     const char *page);

/* Where the witness connects: the local socket, as the daemon does
 * (borrowed from c). */
typedef struct HealthWitnessConn
{
	const char *host; /* socket directory */
	int port;
	const char *repl_user;
	const char *superuser;
	const char *passfile;
} HealthWitnessConn;

void health_control_witness_conn(PgControl *c, HealthWitnessConn *out);

/* ---------- timeline check (diverge.c) ---------- */

/*
 * HealthTimelineCheck: whether the WAL a running standby replayed is still
 * on the leader's history (DESIGN.md promise 4). A standby that replayed
 * past the point where the leader's timeline left its own can never follow
 * that leader: PostgreSQL retries forever ("new timeline N forked off
 * current database system timeline M before current recovery point")
 * while answering queries as a healthy replica does.
 */
typedef struct HealthTimelineCheck
{
	uint32_t local_tli;       /* the timeline our replay position is on */
	uint32_t leader_tli;      /* the leader's current timeline */
	PgLsn local_lsn;          /* our replay position, as given */
	PgLsn switchpoint;        /* where the leader's history left local_tli
	                          * (0: same timeline, newer, or not in it) */
	bool diverged;            /* we hold WAL the leader's history does not:
	                          * only a rewind or a re-clone helps */
	char why[HEALTH_MSG_MAX]; /* the comparison in words, for the log */
} HealthTimelineCheck;

/*
 * health_timeline_judge: the comparison alone (pure; history is the
 * leader's timeline history file, outside input). Diverged when our
 * timeline is newer than the leader's, absent from its history, or left
 * by it at a switch point before local_lsn (PostgreSQL's own test). Same
 * timeline: not diverged (history not read, may be NULL). Returns 0 with
 * *out filled, PGW_EINVAL (a timeline 0), PGW_EBADRESPONSE (a history that
 * is missing, empty, or not PostgreSQL's format; the message names the
 * line).
 */
int health_timeline_judge(const char *history, uint32_t leader_tli,
                          uint32_t local_tli, PgLsn local_lsn,
                          HealthTimelineCheck *out,
                          PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_timeline_check: Patroni's _check_timeline_and_lsn for a
 * running standby: over replication connections (replication user, as
 * streaming uses), IDENTIFY_SYSTEM on ourselves (the timeline replay_lsn
 * lies on: read after the caller's probe of replay_lsn), then on the leader
 * (its timeline) and TIMELINE_HISTORY of that timeline, compared by
 * health_timeline_judge. Needs "local replication" in pg_hba for the
 * replication user. Blocks up to 1.5 s in all. Returns 0 with
 * *out filled; PGW_ESTATE when no answer is possible now (we are not in
 * recovery, the leader is, the system identifiers differ, no replay_lsn);
 * PGW_EUNAVAILABLE / PGW_ETIMEDOUT / PGW_EAUTH (a server not reachable);
 * PGW_EBADRESPONSE.
 */
int health_control_timeline_check(PgControl *c, const HealthUpstream *leader,
                                  PgLsn replay_lsn, HealthTimelineCheck *out,
                                  PgwError *err) PGW_MUSTCHECK;

/* ---------- switchover support ---------- */

/* health_control_checkpoint: CHECKPOINT on the local server (so that the
 * shutdown checkpoint of a planned switchover is short). */
int health_control_checkpoint(PgControl *c, PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_checkpoint_lsn: "Latest checkpoint location" and
 * "Database cluster state" from pg_control (pg_controldata); after a clean
 * stop that is the shutdown checkpoint every standby must have received
 * before a switchover candidate may promote. state may be NULL.
 */
int health_control_checkpoint_lsn(PgControl *c, PgLsn *lsn, char *state,
                                  size_t state_len,
                                  PgwError *err) PGW_MUSTCHECK;

/*
 * health_control_stop_checkpointed: fast stop (SIGINT), returning as soon
 * as pg_control says "shut down", with *lsn the shutdown checkpoint's
 * location; the postmaster may still be exiting (health_control_stop()
 * waits for that). PENDING at the bound, FAILED when the server exited
 * without a clean shutdown or could not be signalled.
 */
HealthWait health_control_stop_checkpointed(PgControl *c, int timeout_ms,
                                            PgLsn *lsn, PgwError *err);

/*
 * health_control_standby_prepare: open the superuser connection to standby
 * that the next health_control_wait_received() on it will use, so a
 * switchover connects while the primary still serves, not after it stopped.
 */
int health_control_standby_prepare(PgControl *c, const HealthUpstream *standby,
                                   PgwError *err) PGW_MUSTCHECK;

/* health_control_standby_forget: close a prepared connection that
 * wait_received() will not use (a switchover that aborted before it). */
void health_control_standby_forget(PgControl *c);

/*
 * health_control_wait_received: poll standby (superuser connection, the
 * prepared one if any) every 2 ms until pg_last_wal_receive_lsn() >= lsn,
 * up to timeout_ms. *seen gets the last position read. READY, or PENDING at
 * the bound (err says where the standby was).
 */
HealthWait health_control_wait_received(PgControl *c,
                                        const HealthUpstream *standby,
                                        PgLsn lsn, int timeout_ms, PgLsn *seen,
                                        PgwError *err);

/*
 * health_control_wait_promoted: after a handover, poll the new primary (the
 * connection wait_received() used, kept open for this) every 20 ms until
 * pg_is_in_recovery() is false, up to timeout_ms, then close it. The old
 * primary follows only then: starting its PostgreSQL at once competed for
 * CPU and disk with the promotion itself on a shared machine, and a replica
 * of a standby would switch timelines right after anyway. READY or PENDING.
 */
HealthWait health_control_wait_promoted(PgControl *c,
                                        const HealthUpstream *standby,
                                        int timeout_ms);

/* ---------- pure helpers (unit-tested) ---------- */

/*
 * health_slot_name: member name as a replication slot name: lower case,
 * anything outside [a-z0-9_] becomes '_', at most 63 bytes. Returns buf.
 */
const char *health_slot_name(const char *member, char *buf, size_t len);

/*
 * health_sync_names_build: "FIRST n (\"a\", \"b\")" with names
 * double-quoted ("" doubled); "" when count is 0. Returns 0 or PGW_EINVAL
 * (does not fit). Caller's buffer.
 */
int health_sync_names_build(const char *const *names, int count, int num_sync,
                            char *buf, size_t len) PGW_MUSTCHECK;

/* health_sync_names_build_quorum: the same as "ANY n (...)" (quorum). */
int health_sync_names_build_quorum(const char *const *names, int count,
                                   int num_sync, char *buf,
                                   size_t len) PGW_MUSTCHECK;

/*
 * health_conninfo_build: "k1='v1' k2='v2'" from parallel arrays, every
 * value single-quoted with \ and ' backslash-escaped (libpq rules); NULL
 * values are skipped. Keys must be [a-z_]. Returns a string the caller
 * frees, or NULL on a bad key.
 */
char *health_conninfo_build(const char *const *keys, const char *const *values,
                            int n);

/*
 * health_conf_quote: a postgresql.conf string literal: '...' with ' and \
 * doubled/escaped and newline, CR, tab as \n \r \t. Caller frees.
 */
char *health_conf_quote(const char *value);

/*
 * health_conf_write: write params as "name = 'value'" lines to path
 * atomically (temp file, fsync, rename, fsync dir), mode 0600. Returns 0,
 * PGW_EINVAL (bad name), PGW_EIO.
 */
int health_conf_write(const char *path, const char *header,
                      const HealthParam *params, int n,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * health_conf_read: parse a file written by health_conf_write (and simple
 * postgresql.conf lines: comments, unquoted values) into names/values the
 * caller frees with health_conf_free. Returns 0, PGW_ENOTFOUND, PGW_EINVAL
 * (syntax; the message names the line).
 */
int health_conf_read(const char *path, HealthParam **params, int *n,
                     PgwError *err) PGW_MUSTCHECK;
void health_conf_free(HealthParam *params, int n);

#endif
