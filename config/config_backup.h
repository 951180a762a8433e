/*
 * config_backup.h: the `backup:` section of the node's YAML file (issue 15,
 * DESIGN.md "backup/"), part of config.h (which includes it): the
 * pgBackRest repository, the stanza, the schedule that seeds the dynamic
 * `config` key, retention and the rules for choosing a backup source.
 * Fixed-size fields, so a NodeConfig copy needs no deep copy.
 */
#ifndef PGW_CONFIG_BACKUP_H
#define PGW_CONFIG_BACKUP_H

#include "common/cron.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_BACKUP_PATH_MAX     512
#define CONFIG_BACKUP_SCHEDULE_MAX 16
#define CONFIG_BACKUP_ENTRY_MAX    128
#define CONFIG_BACKUP_METHODS_MAX  4

typedef struct ConfigBackup
{
	bool enabled; /* the section is present and not disabled */
	char repository[CONFIG_BACKUP_PATH_MAX]; /* repo1-path, required */
	char stanza[64]; /* pgBackRest stanza; "" = the scope */
	char pgbackrest[CONFIG_BACKUP_PATH_MAX]; /* the program;
													 * /usr/bin/pgbackrest */
	char config_dir[CONFIG_BACKUP_PATH_MAX]; /* pgwarden's directory for
													 * pgbackrest.conf; "" =
													 * "<data_dir>.backup" */
	int n_schedule;
	char schedule[CONFIG_BACKUP_SCHEDULE_MAX][CONFIG_BACKUP_ENTRY_MAX];
	/* "full|diff|incr|verify MIN HOUR DOM MON DOW" (UTC); seeds the
	 * dynamic `config` key's backup.schedule */
	int retention_full;         /* full backups kept (expire); 0 = keep all */
	int retention_diff;         /* differential backups kept; 0 = default */
	bool allow_primary;         /* back up from the primary when no replica
								 * qualifies; default false */
	uint64_t max_lag_bytes;     /* a replica source lags at most this; 16MB */
	char after_failover[8];     /* "off" (default), "full", "diff",
									 * "incr": a backup after each failover */
	int64_t retry_interval_ms;  /* after a failed attempt; 60 s */
	int max_retries;            /* attempts of one request; 3 */
	int64_t timeout_ms;         /* one backup, then aborted; 24 h */
	char remote[8];             /* how another node's data directory is
								 * reached: "local" (same host or shared
								 * paths; default) or "ssh" */
	char compress_type[8];      /* pgBackRest compress-type; "lz4" */
	int process_max;            /* pgBackRest process-max; 1 */
	bool canary;                /* the leader writes pgwarden_canary; true */
	int64_t canary_interval_ms; /* 60 s */
	int64_t archive_timeout_ms; /* PostgreSQL archive_timeout; 60 s */
	bool gap_check;             /* the new leader closes WAL gaps after a
								 * promotion; true (off only to measure
								 * what it saves: bench/bench_backup_gap.sh) */
	int n_replica_methods;
	char replica_methods[CONFIG_BACKUP_METHODS_MAX][16];
	/* create_replica_methods: "pgbackrest", "basebackup"; default
	 * basebackup only */
} ConfigBackup;

/* config_backup_defaults: the defaults above, enabled = false. */
void config_backup_defaults(ConfigBackup *b);

/*
 * config_backup_path_ok: an absolute path made only of letters, digits and
 * /._-+@ (it goes into archive_command, which PostgreSQL runs through a
 * shell, and into pgbackrest.conf), without "/../".
 */
bool config_backup_path_ok(const char *s);

/* config_backup_stanza_ok: a pgBackRest stanza name we accept. */
bool config_backup_stanza_ok(const char *s);

/*
 * config_backup_schedule_check: parse one schedule entry "TYPE MIN HOUR DOM
 * MON DOW" (TYPE full, diff, incr or verify): type (may be NULL) gets TYPE,
 * cron (may be NULL) the times. Returns 0 or PGW_EINVAL naming the entry
 * and the field. Used for the file and for the dynamic `config` key.
 */
int config_backup_schedule_check(const char *entry, char *type, size_t type_len,
                                 PgwCron *cron, PgwError *err) PGW_MUSTCHECK;

/* ---- recovery targets: pgwardenctl restore --to, bootstrap.pgbackrest.to */

typedef enum BackupTargetKind
{
	BACKUP_TARGET_LATEST = 0, /* the end of the archive */
	BACKUP_TARGET_TIME,
	BACKUP_TARGET_LSN,
	BACKUP_TARGET_IMMEDIATE, /* the backup's consistent point */
} BackupTargetKind;

typedef struct BackupTarget
{
	BackupTargetKind kind;
	int64_t wall_us; /* TIME: microseconds since the epoch */
	uint64_t lsn;    /* LSN */
	char text[64];   /* as PostgreSQL gets it */
} BackupTarget;

/*
 * config_backup_target_parse: "latest", "immediate", an LSN "X/Y", or a
 * time with a zone ("2026-11-23 10:00:00.123456+01", "...T...Z"). A time
 * without a zone is refused (it would mean whatever the server's zone is).
 * backup_target_parse (backup.h) is this function.
 */
int config_backup_target_parse(const char *s, BackupTarget *out,
                               PgwError *err) PGW_MUSTCHECK;

/*
 * ConfigBootstrapRestore: bootstrap.method: pgbackrest with its
 * bootstrap.pgbackrest: section (Patroni's shape: a method name and a
 * section of that name). The node that wins the `initialize` key of a new
 * scope restores stanza (another cluster's, in the repository of the
 * backup: section) to the target instead of running initdb.
 */
typedef struct ConfigBootstrapRestore
{
	bool enabled;     /* bootstrap.method: pgbackrest */
	bool has_section; /* bootstrap.pgbackrest: present */
	bool has_command; /* ... in Patroni's script form (command:) */
	char stanza[64];  /* the source's stanza (required) */
	char to[64];      /* as written; "latest" by default */
	BackupTarget target;
} ConfigBootstrapRestore;

#endif
