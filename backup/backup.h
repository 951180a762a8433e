/*
 * backup.h: the only public header of backup/ (DESIGN.md "backup/", issue
 * 15): point-in-time recovery coordinated across the cluster, with
 * pgBackRest (Debian's package) as the engine, run as a program: an
 * argument vector, as PostgreSQL's OS user, never a shell, with a
 * pgbackrest.conf that pgwarden writes into a directory it owns.
 *
 * What lives where:
 *   - the archive parameters PostgreSQL gets (backup_pg_params);
 *   - the per-turn duty (backup_turn): every node publishes how its data
 *     directory is reached and runs the backups that name it as the
 *     source; the leader also creates the stanza once (system identifier
 *     checked), closes WAL gaps after a promotion, turns schedules and
 *     demands into requests, retries, mirrors the catalog and writes the
 *     canary row. Long work (pgbackrest) runs in child processes polled
 *     from the turn, so the HA loop never waits for a backup;
 *   - pushing an old primary's .ready WAL before rewind or re-clone
 *     (backup_push_ready);
 *   - the etcd keys under <prefix>backup/ and their codecs;
 *   - restore into a new scope and the restore drill (for pgwardenctl).
 *
 * Keys (values JSON): backup/lock (leased on the runner's member lease;
 * its create_revision is the fencing token recorded with the backup),
 * backup/request, backup/demand, backup/attempt, backup/stanza,
 * backup/state, backup/gap, backup/verify, backup/nodes/<name> (leased),
 * backup/done/<label>, backup/catalog.
 */
#ifndef PGW_BACKUP_BACKUP_H
#define PGW_BACKUP_BACKUP_H

#include "common/compiler.h"
#include "common/error.h"
#include "config/config.h"
#include "consensus/consensus.h"
#include "health/health.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BACKUP_ID_MAX      48
#define BACKUP_LABEL_MAX   64
#define BACKUP_WAL_MAX     25 /* 24 hex digits + NUL */
#define BACKUP_LIST_MAX    64
#define BACKUP_ARCHIVE_MAX 8
#define BACKUP_GAPS_MAX    8
#define BACKUP_REASON_MAX  256

/* ------------------------------------------------------------------------
 * The catalog (backup/catalog): a mirror of `pgbackrest info` plus what
 * pgwarden knows about each backup and about the archive.
 * ------------------------------------------------------------------------ */

typedef struct BackupEntry
{
	char label[BACKUP_LABEL_MAX]; /* pgBackRest's backup label */
	char type[8];                 /* full, diff, incr */
	char prior[BACKUP_LABEL_MAX]; /* the backup it depends on, "" */
	int64_t start_wall_ms;
	int64_t stop_wall_ms; /* consistent from here on */
	char start_lsn[24];   /* "0/2000028" */
	char stop_lsn[24];
	char wal_start[BACKUP_WAL_MAX]; /* first WAL segment needed */
	char wal_stop[BACKUP_WAL_MAX];  /* last WAL segment needed */
	uint64_t size_bytes;            /* database size */
	uint64_t repo_bytes;            /* in the repository */
	bool error;                     /* pgBackRest saw page checksum errors */
	/* pgwarden's own record (backup/done/<label>); zero when the backup
	 * was taken outside pgwarden */
	int64_t token;           /* create_revision of backup/lock */
	char node[PGW_NAME_MAX]; /* where pgbackrest ran */
	char source_role[16];    /* "replica" or "primary" */
	char attempt_id[BACKUP_ID_MAX];
} BackupEntry;

typedef struct BackupArchiveRange
{
	char id[16]; /* archive id, e.g. "15-1" */
	char min[BACKUP_WAL_MAX];
	char max[BACKUP_WAL_MAX];
} BackupArchiveRange;

typedef struct BackupCatalog
{
	int64_t updated_wall_ms;
	char stanza[64];
	char system_id[24]; /* of the stanza's current database */
	int status_code;    /* pgBackRest's stanza status, 0 = ok */
	char status[128];
	int n_backups; /* oldest first */
	BackupEntry backups[BACKUP_LIST_MAX];
	int n_archive;
	BackupArchiveRange archive[BACKUP_ARCHIVE_MAX];
	/* the recovery window: from the oldest backup's consistent point to
	 * the last WAL segment the primary reported archived */
	int64_t window_earliest_wall_ms; /* 0: no backup */
	int64_t window_latest_wall_ms;   /* 0: unknown */
	char last_archived_wal[BACKUP_WAL_MAX];
	int64_t last_archived_wall_ms;
	int64_t archive_failed_count; /* pg_stat_archiver on the leader */
	char last_failed_wal[BACKUP_WAL_MAX];
	int64_t last_failed_wall_ms;
	char error[BACKUP_REASON_MAX]; /* e.g. a foreign repository */
} BackupCatalog;

/* backup_catalog_decode: backup/catalog's value; PGW_EINVAL naming what is
 * wrong (outside input: parsed whole or refused). */
int backup_catalog_decode(const char *json, size_t len, BackupCatalog *out,
                          PgwError *err) PGW_MUSTCHECK;
char *backup_catalog_encode(const BackupCatalog *c); /* caller frees */

/*
 * backup_info_parse: `pgbackrest info --output=json` for stanza into *out
 * (backups, archive ranges, system id, status); the pgwarden fields stay
 * zero. PGW_EINVAL when it is not pgBackRest's shape, PGW_ENOTFOUND when
 * the stanza is not in it.
 */
int backup_info_parse(const char *json, size_t len, const char *stanza,
                      BackupCatalog *out, PgwError *err) PGW_MUSTCHECK;

/* ------------------------------------------------------------------------
 * The coordination keys (read together by backup_state_read)
 * ------------------------------------------------------------------------ */

typedef struct BackupLock
{
	bool present;
	char id[BACKUP_ID_MAX];  /* attempt id */
	char node[PGW_NAME_MAX]; /* holder */
	char type[16];           /* full/diff/incr, or stanza-create */
	int64_t started_wall_ms;
	int64_t create_revision; /* the fencing token */
	int64_t lease;
} BackupLock;

/* backup/request: the leader names a source and a type; at most one. */
typedef struct BackupRequest
{
	bool present;
	char id[BACKUP_ID_MAX];
	char type[8];
	char source[PGW_NAME_MAX];
	char reason[128];
	int attempt; /* 1 for the first try */
	int64_t at_wall_ms;
	int64_t mod_revision;
} BackupRequest;

/* backup/demand: an operator's ask (ctl, POST /backup); at most one. */
typedef struct BackupDemand
{
	bool present;
	char id[BACKUP_ID_MAX];
	char type[8];
	char by[PGW_NAME_MAX];
	int64_t at_wall_ms;
	int64_t mod_revision;
} BackupDemand;

typedef enum BackupStatus
{
	BACKUP_STATUS_NONE = 0,
	BACKUP_STATUS_RUNNING,
	BACKUP_STATUS_OK,
	BACKUP_STATUS_FAILED,  /* pgbackrest failed: see reason */
	BACKUP_STATUS_ABORTED, /* stopped on purpose: promotion, crash,
								 * lost lock, timeout */
} BackupStatus;

/* backup/attempt: the latest attempt, written under the lock. */
typedef struct BackupAttempt
{
	bool present;
	char id[BACKUP_ID_MAX];
	char type[8];
	char node[PGW_NAME_MAX];
	char source_role[16];
	BackupStatus status;
	char reason[BACKUP_REASON_MAX];
	int64_t token;
	int64_t started_wall_ms;
	int64_t ended_wall_ms;
	char label[BACKUP_LABEL_MAX];
	int attempt; /* try number of its request */
	char request_reason[128];
	int64_t mod_revision;
} BackupAttempt;

/* backup/nodes/<name>: how a node's PostgreSQL is reached by pgBackRest. */
typedef struct BackupNode
{
	char name[PGW_NAME_MAX];
	char host[128];
	char data_dir[CONFIG_BACKUP_PATH_MAX];
	char socket_dir[CONFIG_BACKUP_PATH_MAX];
	int port;
} BackupNode;

/* backup/gap: the last archive gap check after a promotion. */
typedef struct BackupGap
{
	bool present;
	int64_t checked_wall_ms;
	int timeline;    /* the new timeline */
	char status[12]; /* ok, closed, gap, error */
	int pushed;      /* segments pushed from our pg_wal */
	int n_missing;
	char missing[BACKUP_GAPS_MAX][64]; /* "TL..SEG" ranges */
	char detail[BACKUP_REASON_MAX];
} BackupGap;

/* backup/verify: the last restore drill. */
typedef struct BackupVerify
{
	bool present;
	int64_t at_wall_ms;
	bool ok;
	char label[BACKUP_LABEL_MAX];   /* backup restored */
	char target[64];                /* "latest" or the time restored to */
	int64_t restore_ms;             /* restore + recovery to consistent */
	int64_t recovery_point_wall_ms; /* newest canary in the copy */
	int64_t rpo_ms;                 /* end of recovery - recovery point: how far
								 * behind the archive was */
	char detail[BACKUP_REASON_MAX]; /* what failed, or amcheck ok */
	char node[PGW_NAME_MAX];
} BackupVerify;

#define BACKUP_FIRED_MAX CONFIG_BACKUP_SCHEDULE_MAX

typedef struct BackupState
{
	int64_t revision;
	BackupLock lock;
	BackupRequest request;
	BackupDemand demand;
	BackupAttempt attempt;
	bool has_stanza;
	char stanza_name[64];
	char stanza_sysid[24];
	int n_nodes;
	BackupNode nodes[PGW_MEMBERS_MAX];
	BackupGap gap;
	BackupVerify verify;
	/* backup/state: the leader's schedule bookkeeping */
	int n_fired;
	char fired_entry[BACKUP_FIRED_MAX][CONFIG_BACKUP_ENTRY_MAX];
	int64_t fired_wall_ms[BACKUP_FIRED_MAX];
	int64_t sched_checked_wall_ms;
	int64_t state_mod_revision;
	int n_bad; /* values that did not decode (ignored) */
	char bad_keys[256];
} BackupState;

/*
 * backup_state_read: the coordination keys under prefix, in one round trip
 * (a txn of ranges), decoded; the catalog and done/ records are not read.
 * Bad values are counted in out->n_bad and named, never fatal.
 */
int backup_state_read(EtcdClient *c, const char *prefix, BackupState *out,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * backup_catalog_read: backup/catalog (zeroed, *found false when absent).
 */
int backup_catalog_read(EtcdClient *c, const char *prefix, BackupCatalog *out,
                        bool *found, PgwError *err) PGW_MUSTCHECK;

/*
 * backup_demand_put: ask the leader for a backup of type ("full", "diff",
 * "incr"; NULL or "" = the leader's default, incr), by whom (for the
 * log). Creates backup/demand only if absent: PGW_ECONFLICT when one is
 * pending, PGW_EINVAL for a bad type. id_out (BACKUP_ID_MAX, may be NULL)
 * receives the id that backup/attempt will carry.
 */
int backup_demand_put(EtcdClient *c, const char *prefix, const char *type,
                      const char *by, char *id_out,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * backup_schedule_check_json: the backup.schedule of a `config` value (the
 * dynamic configuration): 0 with *n_entries its entry count (0 when it has
 * none), or PGW_EINVAL naming the entry and field that do not parse.
 */
int backup_schedule_check_json(const char *config_json, int *n_entries,
                               PgwError *err) PGW_MUSTCHECK;

/* backup_status_name: "running", "ok", "failed", "aborted", "none". */
const char *backup_status_name(BackupStatus s);

/* ------------------------------------------------------------------------
 * The daemon's side
 * ------------------------------------------------------------------------ */

typedef struct Backup Backup; /* opaque: jobs, cached state */

/*
 * backup_pg_params: the settings PostgreSQL needs for managed archiving
 * (archive_mode, archive_command, restore_command, archive_timeout), for
 * the executor's generated configuration; *n their count, 0 when the
 * backup section is off. The strings live as long as the process.
 */
const HealthParam *backup_pg_params(const NodeConfig *cfg, int *n);

/*
 * backup_open: check the backup section against the node (paths, the
 * pgbackrest program, the stanza name) and write pgbackrest.conf into its
 * directory (created, owned by us, refused when someone else owns it or
 * it is a symlink). A problem does not stop the daemon: HA must not
 * depend on backups. The handle is then inert and the problem is logged
 * and shown in metrics. Never fails; *out is always set (NULL-safe
 * callers may still pass it around). cfg is borrowed for the handle's
 * lifetime.
 */
void backup_open(const NodeConfig *cfg, Backup **out);

/* backup_close: stop (SIGTERM, then SIGKILL) any pgbackrest we run; free. */
void backup_close(Backup *b);

/* What the loop observed this turn. */
typedef struct BackupTurn
{
	EtcdClient *etcd;
	const char *prefix;
	const char *name;
	int64_t lease_id; /* our member lease (0: none) */
	const ClusterView *view;
	bool view_valid;
	bool holds_leader; /* the leader key is ours, on our lease */
	bool pg_running;   /* postmaster up and answering */
	bool pg_in_recovery;
	int timeline;
	uint64_t system_identifier;
	bool promoted; /* we promoted PostgreSQL in this turn */
} BackupTurn;

/*
 * backup_turn: one turn of the duty (see the top of this file). Never
 * blocks on pgbackrest; etcd calls are bounded by the client's deadline,
 * SQL by 1 s. Failures are logged (once per change) and published, never
 * returned: HA goes on.
 */
void backup_turn(Backup *b, const BackupTurn *t);

/*
 * backup_metrics_text: the backup metrics in Prometheus text (malloc'd;
 * NULL when backups are off). Thread-safe: the REST thread calls it.
 */
char *backup_metrics_text(void);

/*
 * backup_push_ready: before pg_rewind or a re-clone throws away this
 * node's WAL, push every segment PostgreSQL marked .ready (and .history /
 * .partial files) with pgbackrest archive-push, as run_as, bounded by
 * timeout_ms in all. Returns 0 (also when nothing was pending or backups
 * are off) with *pushed (may be NULL) the count, or the first failure
 * (the caller logs it and goes on: a gap is reported, HA is not held).
 */
int backup_push_ready(const NodeConfig *cfg, int timeout_ms, int *pushed,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * backup_clone_replica: create a replica's data directory from the
 * repository (pgbackrest restore --type=standby), when create_replica_methods
 * puts pgbackrest before basebackup: the new node loads the repository,
 * not the primary, and catches up from the archive, then by streaming.
 * data_dir must be missing or empty. Returns 0 when the directory is ready
 * (standby.signal written; the caller points it at the leader),
 * PGW_ENOTFOUND when the method is not configured (use pg_basebackup), or
 * the failure (the caller falls back to pg_basebackup when configured).
 * Blocks for the restore.
 */
int backup_clone_replica(const NodeConfig *cfg, PgwError *err) PGW_MUSTCHECK;

/* backup_basebackup_allowed: create_replica_methods lists basebackup (or
 * backups are off): a failed repository restore may fall back to it */
bool backup_basebackup_allowed(const NodeConfig *cfg);

/* ------------------------------------------------------------------------
 * pgwardenctl's side: restore into a new scope, restore drills
 * ------------------------------------------------------------------------ */

/* BackupTarget, BackupTargetKind: config/config_backup.h (the YAML's
 * bootstrap.pgbackrest.to is one) */

/*
 * backup_target_parse: "latest", "immediate", an LSN "X/Y", or a time with
 * a zone ("2026-11-23 10:00:00.123456+01", "...T...Z"). A time without a
 * zone is refused (it would mean whatever the server's zone is).
 */
int backup_target_parse(const char *s, BackupTarget *out,
                        PgwError *err) PGW_MUSTCHECK;

/*
 * backup_target_check: a TIME target must lie inside the catalog's
 * recovery window; the message names the window that exists. An LSN must
 * not precede the oldest backup's stop LSN. label_out (may be NULL)
 * receives the backup to restore: the newest that is consistent before the
 * target.
 */
int backup_target_check(const BackupCatalog *cat, const BackupTarget *t,
                        char *label_out, size_t label_len,
                        PgwError *err) PGW_MUSTCHECK;

typedef struct BackupRestoreOptions
{
	BackupTarget target;
	const char *into_scope; /* the new cluster's scope (its stanza) */
	const char *data_dir;   /* must be missing or empty */
	int port;               /* scratch port for the recovery run */
	const char *label;      /* "" / NULL: chosen by backup_target_check */
	bool keep_running;      /* verify: leave it up for checks */
} BackupRestoreOptions;

typedef struct BackupRestoreResult
{
	char label[BACKUP_LABEL_MAX];
	int64_t restore_ms;       /* pgbackrest restore */
	int64_t recovery_ms;      /* start to promoted */
	int64_t promoted_wall_ms; /* when recovery ended */
	uint32_t timeline;        /* after promotion */
	char end_lsn[24];
	char detail[BACKUP_REASON_MAX];
} BackupRestoreResult;

/*
 * backup_restore: restore the repository's copy of cfg's stanza into
 * opt->data_dir, run recovery to the target on a scratch port (archiving
 * off, no streaming, synchronous_standby_names off), promote, clear the
 * recovery settings pgBackRest left in postgresql.auto.conf, stop cleanly.
 * The directory is then a stopped primary that a pgwarden node of the new
 * scope adopts (bootstrap). Refuses a non-empty data_dir and an into_scope
 * equal to the source's. Blocks (minutes for big databases). Returns 0,
 * PGW_EINVAL, PGW_ESTATE, PGW_EIO with the step and its output tail.
 */
int backup_restore(const NodeConfig *cfg, const BackupRestoreOptions *opt,
                   BackupRestoreResult *res, PgwError *err) PGW_MUSTCHECK;

/*
 * backup_bootstrap_plan: bootstrap.method: pgbackrest (ConfigBootstrapRestore),
 * before the node claims `initialize`: the backups of the source's stanza
 * (pgbackrest info on the repository; the window's end from that cluster's
 * catalog in etcd when it publishes one, etcd may be NULL), the target
 * checked against the recovery window (the message names the window) and
 * label (BACKUP_LABEL_MAX) the backup to restore.
 */
int backup_bootstrap_plan(const NodeConfig *cfg, EtcdClient *etcd, char *label,
                          size_t label_len, PgwError *err) PGW_MUSTCHECK;

/*
 * backup_bootstrap_restore: after winning `initialize`: restore backup
 * label of the source's stanza into the (empty) postgresql.data_dir and
 * recover to the target as backup_restore does (archiving off, a socket in
 * the data directory only, promoted at the target, recovery settings
 * reset, stopped cleanly). The node then starts it as the new cluster's
 * primary, archiving into its own stanza. A failure after the directory was
 * found empty empties it again. Blocks.
 */
int backup_bootstrap_restore(const NodeConfig *cfg, const char *label,
                             PgwError *err) PGW_MUSTCHECK;

/*
 * backup_verify: the restore drill. pgbackrest verify; restore the latest
 * backup (to the end of the archive) into scratch_dir on scratch port;
 * wait until it is consistent and promoted; pg_amcheck every database;
 * read the canary; stop and remove the scratch copy. Fills *out (ok or
 * not, with the detail); returns 0 when the drill ran (out->ok says
 * whether it passed), an error when it could not run at all.
 */
int backup_verify(const NodeConfig *cfg, const char *scratch_dir, int port,
                  BackupVerify *out, PgwError *err) PGW_MUSTCHECK;

/* backup_verify_put: record a drill in backup/verify. */
int backup_verify_put(EtcdClient *c, const char *prefix, const BackupVerify *v,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * backup_catalog_print: `pgwardenctl backup list`: the backups (oldest
 * first), the recovery window, the archive, the last attempt, gap check
 * and drill; as a table or as one JSON object.
 */
void backup_catalog_print(FILE *out, const BackupCatalog *cat,
                          const BackupState *st, int64_t now_wall_ms,
                          bool json);

#endif
