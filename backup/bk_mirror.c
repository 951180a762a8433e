/*
 * bk_mirror.c: the leader's mirrors (backup.h): the catalog in etcd, built
 * from `pgbackrest info` (after every attempt and every minute) merged with
 * pgwarden's own record of each backup (backup/done/<label>: node, fencing
 * token), and the canary row with the archiver's counters (every
 * canary_interval), which also move the recovery window's end between
 * info refreshes.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_EVERY_MS 60000
#define SQL_TIMEOUT_MS   1000

/* ---- the catalog --------------------------------------------------------- */

static void
merge_done(Backup *b, const BackupTurn *t, BackupCatalog *c)
{
	char key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	PgwError err = {0};

	if (etcd_range(t->etcd, bk_key(key, sizeof(key), t->prefix, "done/"), true,
	               0, false, &r, &err) != 0)
		return;
	for (size_t i = 0; i < r.count; i++)
	{
		const char *label = strrchr(r.kvs[i].key, '/');
		bool listed = false;

		if (label == NULL)
			continue;
		label++;
		for (int k = 0; k < c->n_backups; k++)
			if (strcmp(c->backups[k].label, label) == 0)
			{
				(void) bk_done_decode(r.kvs[i].value, r.kvs[i].value_len,
				                      &c->backups[k]);
				listed = true;
			}
		if (!listed)
		{
			/* expired by retention: its record goes too */
			int64_t deleted = 0;

			if (etcd_delete(t->etcd, r.kvs[i].key, false, &deleted, &err) != 0)
				log_debug("backup.done-delete-failed", "detail=\"%s\"",
				          err.msg);
		}
	}
	etcd_range_result_free(&r);
	(void) b;
}

void
bk_catalog_turn(Backup *b, const BackupTurn *t, int64_t now)
{
	PgwError err = {0};

	if (b->aux_phase == AUX_CATALOG_INFO)
	{
		BackupCatalog *c;
		char *json;
		bool ok = false;

		if (!bk_job_poll(&b->aux))
			return;
		c = pgw_xcalloc(1, sizeof(BackupCatalog));
		if (b->aux.exit_code != 0 ||
		    backup_info_parse(b->aux.out ? b->aux.out : "", b->aux.len,
		                      b->ex.stanza, c, &err) != 0)
		{
			char tail[200];

			bk_job_reason(&b->aux, tail, sizeof(tail));
			bk_note(b, "backup.catalog-failed",
			        "pgbackrest info: exit code %d: %s %s", b->aux.exit_code,
			        tail, err.msg);
			free(c);
			bk_job_clear(&b->aux);
			b->aux_phase = AUX_IDLE;
			b->catalog_next_mono_ms = now + CATALOG_EVERY_MS;
			return;
		}
		bk_job_clear(&b->aux);
		b->aux_phase = AUX_IDLE;
		merge_done(b, t, c);
		pgw_strlcpy(c->error, b->cat->error, sizeof(c->error));
		/* the archiver's view carries over between refreshes */
		c->last_archived_wall_ms = b->cat->last_archived_wall_ms;
		pgw_strlcpy(c->last_archived_wal, b->cat->last_archived_wal,
		            sizeof(c->last_archived_wal));
		c->archive_failed_count = b->cat->archive_failed_count;
		pgw_strlcpy(c->last_failed_wal, b->cat->last_failed_wal,
		            sizeof(c->last_failed_wal));
		c->last_failed_wall_ms = b->cat->last_failed_wall_ms;
		if (b->arch_valid && b->arch.last_archived_wall_ms > 0)
		{
			c->last_archived_wall_ms = b->arch.last_archived_wall_ms;
			pgw_strlcpy(c->last_archived_wal, b->arch.last_archived_wal,
			            sizeof(c->last_archived_wal));
			c->archive_failed_count = b->arch.failed_count;
			pgw_strlcpy(c->last_failed_wal, b->arch.last_failed_wal,
			            sizeof(c->last_failed_wal));
			c->last_failed_wall_ms = b->arch.last_failed_wall_ms;
		}
		c->window_latest_wall_ms =
		    c->n_backups > 0 &&
		            c->last_archived_wall_ms > c->window_earliest_wall_ms
		        ? c->last_archived_wall_ms
		        : c->window_earliest_wall_ms;
		c->updated_wall_ms = pgw_now_wall_ms();
		json = backup_catalog_encode(c);
		if (bk_leader_txn_put(t, "catalog", json, NULL, 0, NULL, 0, &ok,
		                      &err) != 0 ||
		    !ok)
			log_warn("backup.catalog-write-failed", "detail=\"%s\"",
			         err.msg[0] ? err.msg : "not leader");
		else
		{
			memcpy(b->cat, c, sizeof(*c));
			b->cat_valid = true;
			log_debug("backup.catalog", "backups=%d", c->n_backups);
		}
		free(json);
		free(c);
		b->catalog_next_mono_ms = now + CATALOG_EVERY_MS;
		b->catalog_attempt_rev = b->st->attempt.mod_revision;
		return;
	}
	if (b->aux_phase != AUX_IDLE)
		return;
	if (now < b->catalog_next_mono_ms &&
	    b->catalog_attempt_rev == b->st->attempt.mod_revision)
		return;
	{
		BkArgv a;

		bk_argv_pgbackrest(&a, &b->ex, NULL, "info");
		bk_argv_add(&a, "--output=json");
		if (bk_job_start(&b->aux, &b->ex, a.v, 120000, "info", &err) != 0)
		{
			bk_note(b, "backup.catalog-failed", "%s", err.msg);
			b->catalog_next_mono_ms = now + CATALOG_EVERY_MS;
			return;
		}
		b->aux_phase = AUX_CATALOG_INFO;
	}
}

/* canary_turn: the canary row and the archiver's counters */
void
bk_canary_turn(Backup *b, const BackupTurn *t, int64_t now)
{
	PgwError err = {0};
	PGconn *conn;

	if (now < b->canary_next_mono_ms)
		return;
	b->canary_next_mono_ms = now + b->cfg->backup.canary_interval_ms;
	conn = bk_local_conn(b->cfg, SQL_TIMEOUT_MS, SQL_TIMEOUT_MS, &err);
	if (conn == NULL)
	{
		log_debug("backup.canary-failed", "detail=\"%s\"", err.msg);
		return;
	}
	if (b->cfg->backup.canary && bk_sql_canary(conn, t->name, &err) != 0)
		log_warn("backup.canary-failed", "detail=\"%s\"", err.msg);
	if (bk_sql_archiver(conn, &b->arch, &err) == 0)
	{
		bool moved =
		    strcmp(b->arch.last_archived_wal, b->cat->last_archived_wal) != 0 ||
		    b->arch.failed_count != b->cat->archive_failed_count;

		if (b->arch_valid &&
		    b->arch.failed_count > b->cat->archive_failed_count &&
		    b->arch.last_failed_wall_ms > b->arch.last_archived_wall_ms)
			bk_note(
			    b, "backup.archive-failing",
			    "archive_command fails: last failed segment %s; WAL is kept in pg_wal until it works",
			    b->arch.last_failed_wal);
		b->arch_valid = true;
		b->cat->last_archived_wall_ms = b->arch.last_archived_wall_ms;
		pgw_strlcpy(b->cat->last_archived_wal, b->arch.last_archived_wal,
		            sizeof(b->cat->last_archived_wal));
		b->cat->archive_failed_count = b->arch.failed_count;
		pgw_strlcpy(b->cat->last_failed_wal, b->arch.last_failed_wal,
		            sizeof(b->cat->last_failed_wal));
		b->cat->last_failed_wall_ms = b->arch.last_failed_wall_ms;
		/* the window's end follows the archiver between info refreshes */
		if (moved && b->cat_valid)
		{
			char *json;
			bool ok = false;

			if (b->cat->n_backups > 0 &&
			    b->arch.last_archived_wall_ms > b->cat->window_earliest_wall_ms)
				b->cat->window_latest_wall_ms = b->arch.last_archived_wall_ms;
			b->cat->updated_wall_ms = pgw_now_wall_ms();
			json = backup_catalog_encode(b->cat);
			if (bk_leader_txn_put(t, "catalog", json, NULL, 0, NULL, 0, &ok,
			                      &err) != 0)
				log_debug("backup.catalog-write-failed", "detail=\"%s\"",
				          err.msg);
			free(json);
		}
	}
	PQfinish(conn);
}
