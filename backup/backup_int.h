/*
 * backup_int.h: shared inside backup/ only: the child-process runner, the
 * pgBackRest configuration and argument vectors, WAL file names, the SQL
 * the leader runs, and the key codecs.
 */
#ifndef PGW_BACKUP_BACKUP_INT_H
#define PGW_BACKUP_BACKUP_INT_H

#include "backup/backup.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BK_GROUPS_MAX 64
#define BK_OUTPUT_MAX (16 * 1024 * 1024)

/* How pgbackrest (and PostgreSQL programs) are run on this node. */
typedef struct BkExec
{
	bool drop; /* switch to run_as in the child */
	uid_t uid;
	gid_t gid;
	gid_t groups[BK_GROUPS_MAX];
	int n_groups;
	char user[64];
	char home[CONFIG_BACKUP_PATH_MAX];
	char pgbackrest[CONFIG_BACKUP_PATH_MAX];
	char dir[CONFIG_BACKUP_PATH_MAX];       /* our config directory */
	char conf[CONFIG_BACKUP_PATH_MAX + 32]; /* .../pgbackrest.conf */
	char stanza[64];
	char pgpass[CONFIG_BACKUP_PATH_MAX + 16];
	char bin_dir[CONFIG_BACKUP_PATH_MAX]; /* PostgreSQL programs */
} BkExec;

/*
 * bk_exec_init: resolve run_as (getpwnam, groups), the paths and the stanza
 * from cfg. PGW_EINVAL naming the problem (unknown user, root without
 * run_as, a path we cannot put into archive_command, a bad stanza).
 */
int bk_exec_init(const NodeConfig *cfg, BkExec *ex, PgwError *err);

/*
 * bk_conf_write: create the config directory (ours: refused when it is a
 * symlink or someone else's), its lock/ and spool/ directories (owned by
 * run_as), and write pgbackrest.conf atomically. PGW_EIO / PGW_ESTATE.
 */
int bk_conf_write(const NodeConfig *cfg, const BkExec *ex, PgwError *err);

/*
 * bk_pgpass_write: <dir>/<name> (run_as's, 0600) with the superuser's
 * password for our own server and for another on this host (socket_dir,
 * port): a standby backup connects to the primary's socket, a drill's
 * pg_amcheck to the scratch server's, which the node's own pgpass file
 * (health/: our socket and upstreams only) does not list. The daemon and
 * pgwardenctl use different names. On success ex->pgpass names it.
 * Nothing to do (0) without a superuser password.
 */
int bk_pgpass_write(const NodeConfig *cfg, BkExec *ex, const char *name,
                    const char *socket_dir, int port, PgwError *err);

/* ---- child processes (bk_job.c) ---------------------------------------- */

typedef struct BkJob
{
	pid_t pid; /* 0: none */
	int fd;    /* stdout+stderr pipe, -1 when closed */
	char *out; /* everything read (at most BK_OUTPUT_MAX) */
	size_t len;
	size_t cap;
	bool truncated;
	int64_t started_mono_ms;
	int64_t deadline_mono_ms;
	bool timed_out;
	bool done;
	int exit_code; /* 0..255, or 128 + signal */
	char what[32]; /* "backup", "info", ... for logs */
} BkJob;

/*
 * bk_job_start: fork, drop to ex's user, exec argv (argv[0] absolute) with
 * a clean environment (PATH, HOME, USER, LC_ALL=C, PGPASSFILE), stdout and
 * stderr into a pipe, its own process group, SIGTERM when the daemon dies.
 * Logs the command (event backup.exec). Returns 0 or PGW_EIO.
 */
int bk_job_start(BkJob *j, const BkExec *ex, const char *const *argv,
                 int64_t timeout_ms, const char *what, PgwError *err);

/* bk_job_poll: read output, reap, enforce the deadline; true when done. */
bool bk_job_poll(BkJob *j);

/* bk_job_stop: SIGTERM to its group, SIGKILL after grace_ms, reap. */
void bk_job_stop(BkJob *j, int grace_ms);

/* bk_job_clear: free the output (the job must be done or stopped). */
void bk_job_clear(BkJob *j);

/* bk_job_running: started and not reaped. */
bool bk_job_running(const BkJob *j);

/*
 * bk_job_run: start and wait (blocking). Returns 0 when it exited 0,
 * PGW_ETIMEDOUT, or PGW_EIO with "<what> failed with exit code N: <tail>".
 * The output stays in j for the caller (bk_job_clear).
 */
int bk_job_run(BkJob *j, const BkExec *ex, const char *const *argv,
               int64_t timeout_ms, const char *what, PgwError *err);

/* bk_job_tail: the last len-1 bytes of the output on one line. */
void bk_job_tail(const BkJob *j, char *buf, size_t len);

/* bk_job_reason: pgBackRest's "ERROR: [nnn]: ..." with its detail lines,
 * on one line, or the tail when it printed none */
void bk_job_reason(const BkJob *j, char *buf, size_t len);

/* ---- pgbackrest argument vectors (bk_conf.c) --------------------------- */

#define BK_ARGV_MAX 32

typedef struct BkArgv
{
	const char *v[BK_ARGV_MAX + 1];
	int n;
	char buf[BK_ARGV_MAX][CONFIG_BACKUP_PATH_MAX + 48]; /* owned text */
} BkArgv;

/* bk_argv_pgbackrest: "pgbackrest --config=C --stanza=S command" */
void bk_argv_pgbackrest(BkArgv *a, const BkExec *ex, const char *stanza,
                        const char *command);
/* bk_argv_add: append one argument (copied) */
void bk_argv_add(BkArgv *a, const char *fmt, ...) PGW_PRINTF(2, 3);

/* ---- WAL names (bk_wal.c, pure) ----------------------------------------- */

typedef struct BkSeg
{
	uint32_t tli;
	uint64_t segno; /* LSN / segment size */
} BkSeg;

/* bk_wal_parse: "TTTTTTTTXXXXXXXXYYYYYYYY" (24 hex); false otherwise */
bool bk_wal_parse(const char *name, uint64_t seg_size, BkSeg *out);
/* bk_wal_name: the 24-character name of seg (buf >= BACKUP_WAL_MAX) */
void bk_wal_name(BkSeg seg, uint64_t seg_size, char *buf, size_t len);

typedef struct BkHistory
{
	int n;
	uint32_t tli[64];        /* ancestor timelines, oldest first */
	uint64_t switch_lsn[64]; /* where each one ended */
} BkHistory;

/* bk_history_parse: a timeline .history file's lines "tli\tX/Y\treason" */
int bk_history_parse(const char *text, BkHistory *out, PgwError *err);

/*
 * The archive gap check (pure): which segments a new timeline's history
 * needs in the archive. For each ancestor timeline T_i of the history,
 * the segments from where T_i began (the previous switch, or first_segno
 * for the oldest) up to the one before T_i's switch segment: recovery
 * reads the switch segment itself from the next timeline. Segments below
 * floor_segno (before the oldest backup) are not needed.
 */
typedef struct BkSegSet
{
	int n;
	int cap;
	BkSeg *s; /* sorted by (tli, segno) */
} BkSegSet;

void bk_segset_add(BkSegSet *set, BkSeg seg);
bool bk_segset_has(const BkSegSet *set, BkSeg seg);
void bk_segset_sort(BkSegSet *set);
void bk_segset_free(BkSegSet *set);

/*
 * bk_gap_missing: add to *missing every needed segment (history h, segment
 * size, the oldest backup's first segment floor_segno, and first_segno for
 * the first timeline's start when the history has no earlier switch) that
 * *present lacks.
 */
void bk_gap_missing(const BkHistory *h, uint64_t seg_size, uint64_t floor_segno,
                    const BkSegSet *present, BkSegSet *missing);

/*
 * bk_repo_ls_parse: `pgbackrest repo-ls --output=json --recurse` of an
 * archive id's directory: the WAL segments present (a "NAME-sha1.ext" or
 * "NAME.partial-sha1..." file; .partial counts only in partial_out, may
 * be NULL) and the .history files' timelines (history_out, may be NULL).
 */
int bk_repo_ls_parse(const char *json, size_t len, uint64_t seg_size,
                     BkSegSet *present, BkSegSet *partial_out,
                     uint32_t *histories, int max_histories, int *n_histories,
                     PgwError *err);

/* bk_verify_ranges: the "archiveId: X, wal start: A, wal stop: B" lines of
 * `pgbackrest verify --log-level-console=detail` and its status; *gaps is
 * the number of timelines with more than one range */
int bk_verify_parse(const char *text, int *n_ranges, int *gaps,
                    bool *status_error, char *first_error,
                    size_t first_error_len);

/* ---- SQL on the local server (bk_sql.c) ------------------------------- */

/*
 * bk_sql_connect: a superuser connection to the local PostgreSQL (socket
 * dir or listen address), bounded by timeout_ms (connect) and statements
 * by statement_ms. NULL with err.
 */
PGconn *bk_sql_connect(const NodeConfig *cfg, const char *host, int port,
                       int timeout_ms, int statement_ms, PgwError *err);

/* bk_local_conn: bk_sql_connect to this node's PostgreSQL (socket dir,
 * else its listen address) */
PGconn *bk_local_conn(const NodeConfig *cfg, int connect_ms, int statement_ms,
                      PgwError *err);

/* bk_sql_value: first column of the first row as text (caller frees) or
 * NULL with err; params may be NULL */
char *bk_sql_value(PGconn *conn, const char *sql, int nparams,
                   const char *const *params, PgwError *err);

/* bk_sql_exec: a statement that returns no rows (or whose rows we drop) */
int bk_sql_exec(PGconn *conn, const char *sql, int nparams,
                const char *const *params, PgwError *err);

typedef struct BkArchiver
{
	char last_archived_wal[BACKUP_WAL_MAX + 16];
	int64_t last_archived_wall_ms;
	int64_t failed_count;
	char last_failed_wal[BACKUP_WAL_MAX + 16];
	int64_t last_failed_wall_ms;
} BkArchiver;

int bk_sql_archiver(PGconn *conn, BkArchiver *out, PgwError *err);

/* bk_sql_canary: create public.pgwarden_canary if needed and set its row to
 * now() and our name */
int bk_sql_canary(PGconn *conn, const char *leader, PgwError *err);

/* ---- key codecs (bk_keys.c) -------------------------------------------- */

void bk_id_new(const char *prefix_word, char *out, size_t len);
const char *bk_key(char *buf, size_t len, const char *prefix,
                   const char *suffix);

int bk_lock_decode(const char *json, size_t len, BackupLock *out);
char *bk_lock_encode(const BackupLock *l);
int bk_request_decode(const char *json, size_t len, BackupRequest *out);
char *bk_request_encode(const BackupRequest *r);
int bk_demand_decode(const char *json, size_t len, BackupDemand *out);
char *bk_demand_encode(const BackupDemand *d);
int bk_attempt_decode(const char *json, size_t len, BackupAttempt *out);
char *bk_attempt_encode(const BackupAttempt *a);
int bk_node_decode(const char *name, const char *json, size_t len,
                   BackupNode *out);
char *bk_node_encode(const BackupNode *n);
int bk_gap_decode(const char *json, size_t len, BackupGap *out);
char *bk_gap_encode(const BackupGap *g);
int bk_verify_decode(const char *json, size_t len, BackupVerify *out);
char *bk_verify_encode(const BackupVerify *v);
int bk_sched_decode(const char *json, size_t len, BackupState *out);
char *bk_sched_encode(const BackupState *st);

/* the `done` record of one backup: pgwarden's facts merged into the
 * catalog entry of the same label */
int bk_done_decode(const char *json, size_t len, BackupEntry *e);
char *bk_done_encode(const BackupEntry *e);

BackupStatus bk_status_parse(const char *s);

/* bk_state_read: backup_state_read, and the raw `config` value when
 * config_json is not NULL (caller frees; NULL when absent) */
int bk_state_read(EtcdClient *c, const char *prefix, BackupState *out,
                  char **config_json, PgwError *err);

/* wall ms as ISO text ("2026-11-23T10:01:02.123Z"), "-" for 0 */
const char *bk_iso(int64_t wall_ms, char *buf, size_t len);

/* ---- the dynamic schedule (bk_sched.c) --------------------------------- */

typedef struct BkSchedule
{
	int n;
	char entry[CONFIG_BACKUP_SCHEDULE_MAX][CONFIG_BACKUP_ENTRY_MAX];
	char type[CONFIG_BACKUP_SCHEDULE_MAX][8];
	PgwCron cron[CONFIG_BACKUP_SCHEDULE_MAX];
	bool from_config_key;          /* else the file's seed */
	char error[BACKUP_REASON_MAX]; /* a bad dynamic schedule */
} BkSchedule;

/*
 * bk_schedule_from_config: backup.schedule of the `config` key's raw JSON
 * (NULL or without it: the file's cfg->backup.schedule). A dynamic
 * schedule that does not parse is refused whole: out->error says why and
 * the file's schedule stays in force.
 */
void bk_schedule_from_config(const char *config_json, const ConfigBackup *cfg,
                             BkSchedule *out);

/* ---- the daemon's duty (bk_duty.c, bk_runner.c, bk_leader.c, bk_gap.c) - */

typedef enum BkRunPhase
{
	RUN_IDLE = 0,
	RUN_BACKUP,   /* pgbackrest backup runs */
	RUN_EXPIRE,   /* pgbackrest expire after a success */
	RUN_ABORTING, /* SIGTERM sent, waiting for it to exit */
	RUN_FINISH,   /* outcome to record under the lock */
} BkRunPhase;

typedef enum BkAuxPhase
{
	AUX_IDLE = 0,
	AUX_STANZA_INFO, /* does the stanza exist, whose is it */
	AUX_STANZA_CREATE,
	AUX_CATALOG_INFO,
	AUX_GAP_LS,   /* what the archive holds */
	AUX_GAP_PUSH, /* pushing what it lacks */
} BkAuxPhase;

struct Backup
{
	const NodeConfig *cfg;
	bool usable; /* false: inert, problem says why */
	char problem[BACKUP_REASON_MAX];
	BkExec ex;

	BackupState *st; /* last read of the keys */
	bool st_valid;
	int64_t st_read_mono_ms;
	char *config_json;  /* raw `config` (leader only) */
	int64_t node_lease; /* lease our backup/nodes key is on */

	/* the runner: a backup that names us as its source */
	BkJob run;
	BkRunPhase run_phase;
	BackupAttempt cur; /* the attempt we run */
	bool cur_as_replica;
	char cur_leader[PGW_NAME_MAX]; /* the primary when it began */
	int64_t cur_lease;
	int64_t abort_deadline_mono_ms;
	char expire_note[160];

	/* the leader */
	bool was_leader;
	BkJob aux;
	BkAuxPhase aux_phase;
	int64_t stanza_next_mono_ms;
	int64_t stanza_lock_rev; /* our stanza-create lock (0: none) */
	bool gap_due;
	int64_t gap_next_mono_ms;
	bool failover_backup_due;
	int64_t catalog_next_mono_ms;
	int64_t catalog_attempt_rev; /* attempt revision last mirrored */
	int64_t canary_next_mono_ms;
	BackupCatalog *cat; /* what we last wrote or read */
	bool cat_valid;
	int64_t cat_read_mono_ms;
	BkArchiver arch;
	bool arch_valid;
	BkSchedule sched;

	/* the gap check in progress */
	uint64_t seg_size;
	int gap_timeline;
	BkHistory gap_hist;
	BkSegSet gap_missing;
	int gap_push_i;
	int gap_pushed;
	char gap_failed[160];
	BkSegSet gap_local; /* segments in our pg_wal */
	bool gap_history_missing;

	char logged[BACKUP_REASON_MAX]; /* the last problem logged */
};

/* bk_duty.c */
void bk_note(Backup *b, const char *event, const char *fmt, ...)
    PGW_PRINTF(3, 4);
void bk_note_clear(Backup *b);
void bk_metrics_update(Backup *b, const BackupTurn *t);
int bk_leader_txn_put(const BackupTurn *t, const char *suffix,
                      const char *value, const EtcdCompare *extra,
                      size_t n_extra, const EtcdOp *more, size_t n_more,
                      bool *succeeded, PgwError *err);

/* bk_runner.c */
void bk_runner_turn(Backup *b, const BackupTurn *t);
void bk_runner_stop(Backup *b);

/* bk_leader.c */
void bk_leader_turn(Backup *b, const BackupTurn *t);
void bk_leader_stop(Backup *b, const BackupTurn *t);

/* bk_mirror.c */
void bk_catalog_turn(Backup *b, const BackupTurn *t, int64_t now);
void bk_canary_turn(Backup *b, const BackupTurn *t, int64_t now);

/* bk_gap.c */
bool bk_gap_start(Backup *b, const BackupTurn *t);
void bk_gap_step(Backup *b, const BackupTurn *t);

#endif
