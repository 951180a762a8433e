/*
 * bk_restore.c: restore to a point in time into a new cluster, and the
 * restore drill (pgwardenctl's side of backup.h; blocking).
 *
 * A restore never touches the running cluster: it writes only into an
 * empty directory, and the restored server runs its recovery on a scratch
 * port with archiving off (so nothing it does reaches the source's archive
 * history), no streaming and no synchronous standbys. Once promoted, the
 * recovery settings pgBackRest wrote into postgresql.auto.conf (which
 * would override pgwarden's own restore_command) are reset with ALTER
 * SYSTEM, and it is stopped cleanly: a pgwarden node of the new scope
 * adopts the directory, archives into its own stanza (the new scope) and
 * creates that stanza, whose system identifier is the source's but whose
 * history is its own.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECOVERY_WAIT_MS   (3600 * 1000)
#define RESTORE_TIMEOUT_MS (6 * 3600 * 1000)

/* prepare_dir: missing (created for run_as) or empty and run_as's */
static int
prepare_dir(const BkExec *ex, const char *dir, PgwError *err)
{
	struct stat st;
	int fd;
	DIR *d;
	struct dirent *de;
	bool empty = true;

	if (!config_backup_path_ok(dir))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "data directory \"%s\": expected an absolute path of letters, digits and /._-+@",
		    dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pgw_error_set(err, PGW_EIO, "could not create \"%s\": %s", dir,
		                     strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return pgw_error_set(err, PGW_ESTATE,
		                     "could not open \"%s\" as a directory: %s", dir,
		                     strerror(errno));
	if (fstat(fd, &st) != 0)
	{
		close(fd);
		return pgw_error_set(err, PGW_EIO, "could not stat \"%s\"", dir);
	}
	d = fdopendir(dup(fd));
	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	if (d != NULL)
		closedir(d);
	if (!empty)
	{
		close(fd);
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "data directory \"%s\" is not empty: a restore never overwrites anything (give a new or empty directory)",
		    dir);
	}
	if (ex->drop && st.st_uid != ex->uid &&
	    (st.st_uid != 0 || fchown(fd, ex->uid, ex->gid) != 0))
	{
		close(fd);
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "data directory \"%s\" belongs to uid %d, not to %s", dir,
		    (int) st.st_uid, ex->user);
	}
	(void) fchmod(fd, 0700);
	close(fd);
	return 0;
}

/* remove_dir: rm -rf as run_as (never follows a symlink, never as root) */
static void
remove_dir(const BkExec *ex, const char *dir)
{
	const char *argv[] = {"/bin/rm", "-rf", "--one-file-system", dir, NULL};
	BkJob j;
	PgwError err = {0};

	/* run_as empties it; the directory itself sits in our directory, which
	 * run_as may not write: rmdir only removes an empty directory and
	 * never follows a symlink */
	if (bk_job_run(&j, ex, argv, 600000, "rm", &err) != 0 && rmdir(dir) != 0)
		log_warn("backup.scratch-remove-failed", "dir=%s detail=\"%s\"", dir,
		         err.msg);
	else
		(void) rmdir(dir);
	bk_job_clear(&j);
}

static const char *
pgbackrest_type(const BackupTarget *t)
{
	switch (t->kind)
	{
		case BACKUP_TARGET_TIME:
			return "time";
		case BACKUP_TARGET_LSN:
			return "lsn";
		case BACKUP_TARGET_IMMEDIATE:
			return "immediate";
		case BACKUP_TARGET_LATEST:
			break;
	}
	return "default";
}

static void
stop_postgres(BkJob *pm)
{
	int64_t until = pgw_now_mono_ms() + 60000;

	if (!bk_job_running(pm))
		return;
	kill(pm->pid, SIGINT); /* fast shutdown: a clean checkpoint */
	while (pgw_now_mono_ms() < until && !bk_job_poll(pm))
		usleep(50000);
	if (bk_job_running(pm))
	{
		kill(pm->pid, SIGQUIT);
		bk_job_stop(pm, 5000);
	}
}

/*
 * restore_run: pgbackrest restore, then postgres on the scratch port until
 * it is promoted; *pm keeps running (the caller stops it). *conn is an open
 * superuser connection to it.
 */
static int
restore_run(const NodeConfig *cfg, const BkExec *ex,
            const BackupRestoreOptions *opt, BackupRestoreResult *res,
            BkJob *pm, PGconn **conn, PgwError *err)
{
	BkArgv a;
	BkJob j;
	int64_t t0 = pgw_now_mono_ms();
	int64_t deadline;
	char pg[CONFIG_BACKUP_PATH_MAX + 32];
	int rc;

	*conn = NULL;
	memset(pm, 0, sizeof(*pm));
	pm->fd = -1;
	bk_argv_pgbackrest(&a, ex, NULL, "restore");
	bk_argv_add(&a, "--pg1-path=%s", opt->data_dir);
	bk_argv_add(&a, "--set=%s", opt->label);
	bk_argv_add(&a, "--type=%s", pgbackrest_type(&opt->target));
	if (opt->target.kind == BACKUP_TARGET_TIME ||
	    opt->target.kind == BACKUP_TARGET_LSN)
		bk_argv_add(&a, "--target=%s", opt->target.text);
	if (opt->target.kind != BACKUP_TARGET_LATEST)
		bk_argv_add(&a, "--target-action=promote");
	bk_argv_add(&a, "--log-level-console=info");
	rc = bk_job_run(&j, ex, a.v, RESTORE_TIMEOUT_MS, "pgbackrest restore", err);
	bk_job_clear(&j);
	if (rc != 0)
		return rc;
	res->restore_ms = pgw_now_mono_ms() - t0;
	pgw_strlcpy(res->label, opt->label, sizeof(res->label));

	/* recovery on a scratch port: no archiving, no stream, no sync wait */
	snprintf(pg, sizeof(pg), "%s/postgres", ex->bin_dir);
	memset(&a, 0, sizeof(a));
	bk_argv_add(&a, "%s", pg);
	bk_argv_add(&a, "-D");
	bk_argv_add(&a, "%s", opt->data_dir);
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "port=%d", opt->port);
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "listen_addresses=");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "unix_socket_directories=%s", opt->data_dir);
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "archive_mode=off");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "primary_conninfo=");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "synchronous_standby_names=");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "hot_standby=on");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "logging_collector=off");
	bk_argv_add(&a, "-c");
	bk_argv_add(&a, "cluster_name=pgwarden-restore");
	t0 = pgw_now_mono_ms();
	if ((rc = bk_job_start(pm, ex, a.v, 0, "postgres (restore)", err)) != 0)
		return rc;
	deadline = t0 + RECOVERY_WAIT_MS;
	for (;;)
	{
		PgwError e2 = {0};
		char *v;

		if (bk_job_poll(pm))
		{
			char tail[300];

			bk_job_tail(pm, tail, sizeof(tail));
			return pgw_error_set(
			    err, PGW_EIO,
			    "the restored server exited during recovery (exit code %d): %s",
			    pm->exit_code, tail);
		}
		if (pgw_now_mono_ms() > deadline)
		{
			stop_postgres(pm);
			return pgw_error_set(err, PGW_ETIMEDOUT,
			                     "recovery did not finish within %d s",
			                     RECOVERY_WAIT_MS / 1000);
		}
		if (*conn == NULL)
			*conn =
			    bk_sql_connect(cfg, opt->data_dir, opt->port, 1000, 30000, &e2);
		if (*conn == NULL)
		{
			usleep(100000);
			continue;
		}
		v = bk_sql_value(*conn, "SELECT pg_is_in_recovery()::text", 0, NULL,
		                 &e2);
		if (v == NULL)
		{
			PQfinish(*conn);
			*conn = NULL;
			usleep(100000);
			continue;
		}
		if (strcmp(v, "false") == 0)
		{
			free(v);
			break;
		}
		free(v);
		usleep(100000);
	}
	res->recovery_ms = pgw_now_mono_ms() - t0;
	res->promoted_wall_ms = pgw_now_wall_ms();
	{
		PgwError e2 = {0};
		char *v;

		(void) bk_sql_exec(*conn, "CHECKPOINT", 0, NULL, &e2);
		v = bk_sql_value(
		    *conn, "SELECT timeline_id::text FROM pg_control_checkpoint()", 0,
		    NULL, &e2);
		if (v != NULL)
		{
			int64_t tl;

			if (pgw_parse_int64(v, 1, UINT32_MAX, &tl) == 0)
				res->timeline = (uint32_t) tl;
			free(v);
		}
		v = bk_sql_value(*conn, "SELECT pg_current_wal_lsn()::text", 0, NULL,
		                 &e2);
		if (v != NULL)
		{
			pgw_strlcpy(res->end_lsn, v, sizeof(res->end_lsn));
			free(v);
		}
		/* pgBackRest's recovery settings would outrank pgwarden's */
		static const char *const resets[] = {
		    "ALTER SYSTEM RESET restore_command",
		    "ALTER SYSTEM RESET recovery_target_time",
		    "ALTER SYSTEM RESET recovery_target_lsn",
		    "ALTER SYSTEM RESET recovery_target",
		    "ALTER SYSTEM RESET recovery_target_action",
		    "ALTER SYSTEM RESET recovery_target_timeline"};

		for (size_t i = 0; i < PGW_LENGTHOF(resets); i++)
			if (bk_sql_exec(*conn, resets[i], 0, NULL, &e2) != 0)
			{
				stop_postgres(pm);
				return pgw_error_set(
				    err, PGW_EIO, "could not clear the recovery settings: %s",
				    e2.msg);
			}
	}
	return 0;
}

/*
 * restore_into: prepare_dir, restore_run, a clean stop. With wipe, a
 * failure after prepare_dir found the directory empty empties it again, so
 * a later attempt starts from nothing and nobody adopts half a restore.
 */
static int
restore_into(const NodeConfig *cfg, const BkExec *ex,
             const BackupRestoreOptions *opt, BackupRestoreResult *res,
             bool wipe, PgwError *err)
{
	BkJob pm;
	PGconn *conn = NULL;
	int rc;

	if ((rc = prepare_dir(ex, opt->data_dir, err)) != 0)
		return rc;
	rc = restore_run(cfg, ex, opt, res, &pm, &conn, err);
	if (conn != NULL)
		PQfinish(conn);
	stop_postgres(&pm);
	if (rc == 0 && pm.exit_code != 0)
		rc = pgw_error_set(
		    err, PGW_EIO,
		    "the restored server did not stop cleanly (exit code %d)",
		    pm.exit_code);
	bk_job_clear(&pm);
	if (rc != 0 && wipe)
		remove_dir(ex, opt->data_dir);
	return rc;
}

int
backup_restore(const NodeConfig *cfg, const BackupRestoreOptions *opt,
               BackupRestoreResult *res, PgwError *err)
{
	BkExec ex;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!cfg->backup.enabled)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "this node's configuration has no backup: section");
	if (opt->into_scope == NULL || opt->into_scope[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL, "restore needs --into NEW_SCOPE");
	if (strcmp(opt->into_scope, cfg->scope) == 0 ||
	    (cfg->backup.stanza[0] &&
	     strcmp(opt->into_scope, cfg->backup.stanza) == 0))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "--into \"%s\" is the source cluster itself: a restore goes into a new scope, never over the running cluster",
		    opt->into_scope);
	if (!config_backup_stanza_ok(opt->into_scope))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "--into \"%s\": a scope that is also a valid stanza name is needed (letters, digits, _ - .)",
		    opt->into_scope);
	if (opt->label == NULL || opt->label[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL,
		                     "no backup chosen for the target");
	if (opt->port <= 0 || opt->port > 65535)
		return pgw_error_set(err, PGW_EINVAL, "invalid scratch port %d",
		                     opt->port);
	if ((rc = bk_exec_init(cfg, &ex, err)) != 0)
		return rc;
	return restore_into(cfg, &ex, opt, res, false, err);
}

/* source_exec: cfg's pgBackRest settings, on the source's stanza */
static int
source_exec(const NodeConfig *cfg, BkExec *ex, PgwError *err)
{
	const ConfigBootstrapRestore *r = &cfg->bootstrap_restore;
	int rc;

	if (!r->enabled || !cfg->backup.enabled)
		return pgw_error_set(err, PGW_EINVAL,
		                     "bootstrap.method is not pgbackrest");
	if ((rc = bk_exec_init(cfg, ex, err)) != 0)
		return rc;
	/* config_validate refused this already; a restore must never archive
	 * into the history it restores from */
	if (strcmp(ex->stanza, r->stanza) == 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "bootstrap.pgbackrest.stanza \"%s\" is this cluster's own stanza",
		    r->stanza);
	pgw_strlcpy(ex->stanza, r->stanza, sizeof(ex->stanza));
	return 0;
}

int
backup_bootstrap_plan(const NodeConfig *cfg, EtcdClient *etcd, char *label,
                      size_t label_len, PgwError *err)
{
	const ConfigBootstrapRestore *r = &cfg->bootstrap_restore;
	BkExec ex;
	BkArgv a;
	BkJob j;
	BackupCatalog *cat;
	int rc;

	if ((rc = source_exec(cfg, &ex, err)) != 0)
		return rc;
	/* the repository is the truth about the backups; it holds no times
	 * for WAL, so the window's end comes from the source's catalog in
	 * etcd when that cluster (scope = its stanza) still publishes one */
	bk_argv_pgbackrest(&a, &ex, NULL, "info");
	bk_argv_add(&a, "--output=json");
	rc = bk_job_run(&j, &ex, a.v, 120000, "pgbackrest info", err);
	cat = pgw_xcalloc(1, sizeof(BackupCatalog));
	if (rc == 0)
		rc = backup_info_parse(j.out ? j.out : "", j.len, r->stanza, cat, err);
	bk_job_clear(&j);
	if (rc != 0)
	{
		pgw_error_prefix(err, "stanza \"%s\" in repository %s", r->stanza,
		                 cfg->backup.repository);
		free(cat);
		return rc;
	}
	if (etcd != NULL)
	{
		char prefix[PGW_PREFIX_MAX];
		BackupCatalog *ec = pgw_xcalloc(1, sizeof(BackupCatalog));
		bool found = false;
		PgwError e2 = {0};

		if (dcs_prefix_build(cfg->namespace_, r->stanza, prefix, sizeof(prefix),
		                     &e2) == 0 &&
		    backup_catalog_read(etcd, prefix, ec, &found, &e2) == 0 && found &&
		    strcmp(ec->stanza, r->stanza) == 0 &&
		    ec->last_archived_wall_ms > cat->window_earliest_wall_ms)
		{
			cat->window_latest_wall_ms = ec->last_archived_wall_ms;
			pgw_strlcpy(cat->last_archived_wal, ec->last_archived_wal,
			            sizeof(cat->last_archived_wal));
		}
		free(ec);
	}
	rc = backup_target_check(cat, &r->target, label, label_len, err);
	free(cat);
	return rc;
}

int
backup_bootstrap_restore(const NodeConfig *cfg, const char *label,
                         PgwError *err)
{
	BkExec ex;
	BackupRestoreOptions opt = {0};
	BackupRestoreResult res = {0};
	int rc;

	if ((rc = source_exec(cfg, &ex, err)) != 0)
		return rc;
	opt.target = cfg->bootstrap_restore.target;
	opt.into_scope = cfg->scope;
	opt.data_dir = cfg->pg_data_dir;
	/* the recovery run listens on no address, only on a socket in the
	 * data directory: the node's own port cannot collide there */
	opt.port = cfg->pg_port;
	opt.label = label;
	log_info("bootstrap.restore-start",
	         "stanza=%s target=\"%s\" backup=%s data_dir=%s", ex.stanza,
	         opt.target.text, label, opt.data_dir);
	if ((rc = restore_into(cfg, &ex, &opt, &res, true, err)) != 0)
		return rc;
	log_info(
	    "bootstrap.restore-done",
	    "stanza=%s target=\"%s\" backup=%s restore_ms=%lld recovery_ms=%lld timeline=%u end_lsn=%s",
	    ex.stanza, opt.target.text, label, (long long) res.restore_ms,
	    (long long) res.recovery_ms, res.timeline, res.end_lsn);
	return 0;
}

int
backup_verify(const NodeConfig *cfg, const char *scratch_dir, int port,
              BackupVerify *out, PgwError *err)
{
	BkExec ex;
	BkJob j;
	BkJob pm;
	PGconn *conn = NULL;
	BkArgv a;
	BackupRestoreOptions opt = {0};
	BackupRestoreResult res = {0};
	int64_t start_wall = pgw_now_wall_ms();
	int rc;
	char label[BACKUP_LABEL_MAX] = "";

	memset(out, 0, sizeof(*out));
	out->at_wall_ms = start_wall;
	pgw_strlcpy(out->target, "latest", sizeof(out->target));
	if (!cfg->backup.enabled)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "this node's configuration has no backup: section");
	if ((rc = bk_exec_init(cfg, &ex, err)) != 0)
		return rc;

	/* 1. pgBackRest's own check of every file and the WAL ranges */
	bk_argv_pgbackrest(&a, &ex, NULL, "verify");
	bk_argv_add(&a, "--log-level-console=detail");
	rc = bk_job_run(&j, &ex, a.v, RESTORE_TIMEOUT_MS, "pgbackrest verify", err);
	{
		int ranges, gaps;
		bool bad;
		char first[160];

		bk_verify_parse(j.out, &ranges, &gaps, &bad, first, sizeof(first));
		if (rc != 0 || bad || gaps > 0 || ranges == 0)
		{
			snprintf(out->detail, sizeof(out->detail),
			         "pgbackrest verify: %s%s%s",
			         rc != 0    ? err->msg
			         : bad      ? "repository damaged: "
			         : gaps > 0 ? "WAL gap: "
			                    : "no WAL in the archive",
			         rc == 0 && bad ? first : "",
			         rc == 0 && !bad && gaps > 0
			             ? "a timeline's archive is not contiguous"
			             : "");
			bk_job_clear(&j);
			return 0;
		}
	}
	bk_job_clear(&j);

	/* 2. the newest backup, restored to the end of the archive */
	{
		bk_argv_pgbackrest(&a, &ex, NULL, "info");
		bk_argv_add(&a, "--output=json");
		if (bk_job_run(&j, &ex, a.v, 120000, "pgbackrest info", err) == 0)
		{
			BackupCatalog *c = pgw_xcalloc(1, sizeof(BackupCatalog));

			if (backup_info_parse(j.out ? j.out : "", j.len, ex.stanza, c,
			                      err) == 0 &&
			    c->n_backups > 0)
				pgw_strlcpy(label, c->backups[c->n_backups - 1].label,
				            sizeof(label));
			free(c);
		}
		bk_job_clear(&j);
		if (label[0] == '\0')
		{
			snprintf(out->detail, sizeof(out->detail),
			         "no backup to restore: %s", err->msg);
			return 0;
		}
	}
	pgw_strlcpy(out->label, label, sizeof(out->label));
	opt.target.kind = BACKUP_TARGET_LATEST;
	pgw_strlcpy(opt.target.text, "latest", sizeof(opt.target.text));
	opt.into_scope = "verify";
	opt.data_dir = scratch_dir;
	opt.port = port;
	opt.label = label;
	if ((rc = prepare_dir(&ex, scratch_dir, err)) != 0)
		return rc;
	rc = restore_run(cfg, &ex, &opt, &res, &pm, &conn, err);
	out->restore_ms = res.restore_ms + res.recovery_ms;
	if (rc != 0)
	{
		snprintf(out->detail, sizeof(out->detail), "restore of %s failed: %s",
		         label, err->msg);
		goto done;
	}
	/* 3. every relation and index checked */
	{
		char bin[CONFIG_BACKUP_PATH_MAX + 32];
		PgwError e2 = {0};

		snprintf(bin, sizeof(bin), "%s/pg_amcheck", ex.bin_dir);
		/* the scratch server asks the restored pg_hba's passwords */
		if (bk_pgpass_write(cfg, &ex, "pgpass-drill", scratch_dir, port, &e2) !=
		    0)
		{
			snprintf(out->detail, sizeof(out->detail), "pg_amcheck not run: %s",
			         e2.msg);
			goto done;
		}
		memset(&a, 0, sizeof(a));
		bk_argv_add(&a, "%s", bin);
		bk_argv_add(&a, "--host=%s", scratch_dir);
		bk_argv_add(&a, "--port=%d", port);
		bk_argv_add(&a, "--username=%s",
		            cfg->pg_superuser_username ? cfg->pg_superuser_username
		                                       : "postgres");
		bk_argv_add(&a, "--no-password"); /* never a prompt: fail */
		bk_argv_add(&a, "--all");
		bk_argv_add(&a, "--install-missing");
		bk_argv_add(&a, "--heapallindexed");
		if (bk_job_run(&j, &ex, a.v, RESTORE_TIMEOUT_MS, "pg_amcheck", &e2) !=
		    0)
		{
			snprintf(out->detail, sizeof(out->detail),
			         "pg_amcheck found a problem: %s", e2.msg);
			bk_job_clear(&j);
			goto done;
		}
		bk_job_clear(&j);
	}
	/* 4. the canary: how recent is the data this copy holds */
	{
		PgwError e2 = {0};
		char *v =
		    bk_sql_value(conn,
		                 "SELECT (extract(epoch from at) * 1000)::bigint::text"
		                 " FROM public.pgwarden_canary WHERE id = 1",
		                 0, NULL, &e2);
		int64_t ms;

		if (v != NULL && pgw_parse_int64(v, 1, INT64_MAX, &ms) == 0)
		{
			/* how far behind the archive was when recovery reached its end */
			out->recovery_point_wall_ms = ms;
			out->rpo_ms = res.promoted_wall_ms - ms;
		}
		free(v);
		if (out->recovery_point_wall_ms == 0 && cfg->backup.canary)
		{
			snprintf(
			    out->detail, sizeof(out->detail),
			    "restored and amcheck-clean, but no canary row (public.pgwarden_canary): %s",
			    e2.msg);
			goto done;
		}
	}
	out->ok = true;
	snprintf(out->detail, sizeof(out->detail),
	         "verify clean, restored %s to timeline %u at %s, pg_amcheck clean",
	         label, res.timeline, res.end_lsn);
done:
	if (conn != NULL)
		PQfinish(conn);
	stop_postgres(&pm);
	bk_job_clear(&pm);
	remove_dir(&ex, scratch_dir);
	return 0;
}

int
backup_verify_put(EtcdClient *c, const char *prefix, const BackupVerify *v,
                  PgwError *err)
{
	char key[PGW_PREFIX_MAX + 32];
	char *json = bk_verify_encode(v);
	int rc = etcd_put(c, bk_key(key, sizeof(key), prefix, "verify"), json,
	                  strlen(json), 0, NULL, NULL, err);

	free(json);
	return rc;
}

bool
backup_basebackup_allowed(const NodeConfig *cfg)
{
	if (!cfg->backup.enabled)
		return true;
	for (int i = 0; i < cfg->backup.n_replica_methods; i++)
		if (strcmp(cfg->backup.replica_methods[i], "basebackup") == 0)
			return true;
	return false;
}

int
backup_clone_replica(const NodeConfig *cfg, PgwError *err)
{
	BkExec ex;
	BkArgv a;
	BkJob j;
	int64_t t0 = pgw_now_mono_ms();
	int rc;

	if (!cfg->backup.enabled || cfg->backup.n_replica_methods == 0 ||
	    strcmp(cfg->backup.replica_methods[0], "pgbackrest") != 0)
		return pgw_error_set(
		    err, PGW_ENOTFOUND,
		    "create_replica_methods does not start with pgbackrest");
	if ((rc = bk_exec_init(cfg, &ex, err)) != 0 ||
	    (rc = prepare_dir(&ex, cfg->pg_data_dir, err)) != 0)
		return rc;
	bk_argv_pgbackrest(&a, &ex, NULL, "restore");
	bk_argv_add(&a, "--type=standby");
	bk_argv_add(&a, "--log-level-console=info");
	log_info("clone.from-repository", "stanza=%s repository=%s", ex.stanza,
	         cfg->backup.repository);
	rc = bk_job_run(&j, &ex, a.v, RESTORE_TIMEOUT_MS,
	                "pgbackrest restore --type=standby", err);
	bk_job_clear(&j);
	if (rc == 0)
		log_info("clone.from-repository-done", "duration_ms=%lld",
		         (long long) (pgw_now_mono_ms() - t0));
	return rc;
}
