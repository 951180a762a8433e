/*
 * bk_gap.c: the archive gap check a new leader runs after its promotion
 * (issue 15, "No WAL gap across a role change"). PostgreSQL does not
 * archive WAL a promoted standby received but did not write itself, so
 * the old primary's last segments are lost to the archive when it died
 * before archiving them. The new leader reads its timeline's history
 * (the switch points), lists what the repository holds, works out the
 * segments each ancestor timeline needs (bk_gap_missing), pushes the
 * missing ones it still has in pg_wal, and records what it could not
 * close in backup/gap, loudly (log at error, metric, `backup list`).
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP_RECHECK_MS 300000

/* record: backup/gap and the log line */
static void
record(Backup *b, const BackupTurn *t, const char *status, const char *detail)
{
	BackupGap g = {0};
	char *json;
	bool ok = false;
	PgwError err = {0};

	g.checked_wall_ms = pgw_now_wall_ms();
	g.timeline = b->gap_timeline;
	pgw_strlcpy(g.status, status, sizeof(g.status));
	g.pushed = b->gap_pushed;
	pgw_strlcpy(g.detail, detail, sizeof(g.detail));
	/* what is still missing, as ranges per timeline */
	for (int i = 0; i < b->gap_missing.n && g.n_missing < BACKUP_GAPS_MAX; i++)
	{
		BkSeg first = b->gap_missing.s[i];
		BkSeg last = first;
		char a[BACKUP_WAL_MAX], z[BACKUP_WAL_MAX];

		if (first.tli == 0)
			continue; /* pushed */
		while (i + 1 < b->gap_missing.n &&
		       b->gap_missing.s[i + 1].tli == first.tli &&
		       b->gap_missing.s[i + 1].segno == last.segno + 1)
			last = b->gap_missing.s[++i];
		bk_wal_name(first, b->seg_size, a, sizeof(a));
		bk_wal_name(last, b->seg_size, z, sizeof(z));
		if (first.segno == last.segno)
			snprintf(g.missing[g.n_missing++], sizeof(g.missing[0]), "%s", a);
		else
			snprintf(g.missing[g.n_missing++], sizeof(g.missing[0]), "%s..%s",
			         a, z);
	}
	json = bk_gap_encode(&g);
	if (bk_leader_txn_put(t, "gap", json, NULL, 0, NULL, 0, &ok, &err) != 0 ||
	    !ok)
		log_warn("backup.gap-record-failed", "detail=\"%s\"",
		         err.msg[0] ? err.msg : "not leader");
	free(json);
	if (strcmp(status, "gap") == 0 || strcmp(status, "error") == 0)
	{
		log_error(
		    "backup.wal-gap",
		    "timeline=%d status=%s pushed=%d missing=\"%s%s\" detail=\"%s\" action=\"PITR across it is impossible; take a new full backup\"",
		    b->gap_timeline, status, b->gap_pushed,
		    g.n_missing ? g.missing[0] : "", g.n_missing > 1 ? ",..." : "",
		    detail);
		b->gap_next_mono_ms = pgw_now_mono_ms() + GAP_RECHECK_MS;
	}
	else
	{
		log_info("backup.gap-check", "timeline=%d status=%s pushed=%d",
		         b->gap_timeline, status, b->gap_pushed);
		b->gap_due = false;
	}
	b->st_read_mono_ms = 0;
	b->catalog_next_mono_ms = 0;
}

bool
bk_gap_start(Backup *b, const BackupTurn *t)
{
	char hist_name[32];
	PGconn *conn;
	PgwError err = {0};
	char *v;
	PGresult *r;
	BkArgv a;
	char path[128];
	int64_t seg;

	b->gap_timeline = t->timeline;
	b->gap_pushed = 0;
	b->gap_failed[0] = '\0';
	b->gap_history_missing = false;
	bk_segset_free(&b->gap_missing);
	bk_segset_free(&b->gap_local);
	memset(&b->gap_hist, 0, sizeof(b->gap_hist));
	if (t->timeline <= 1)
	{
		b->gap_due = false; /* no history to keep whole */
		return false;
	}
	conn = bk_local_conn(b->cfg, 1000, 2000, &err);
	if (conn == NULL)
	{
		b->gap_next_mono_ms = pgw_now_mono_ms() + 5000;
		log_warn("backup.gap-check-deferred", "detail=\"%s\"", err.msg);
		return false;
	}
	v = bk_sql_value(
	    conn, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'",
	    0, NULL, &err);
	if (v == NULL ||
	    pgw_parse_int64(v, 1024 * 1024, INT64_C(1) << 30, &seg) != 0)
	{
		free(v);
		PQfinish(conn);
		record(b, t, "error", "could not read wal_segment_size");
		return false;
	}
	free(v);
	b->seg_size = (uint64_t) seg;
	snprintf(hist_name, sizeof(hist_name), "%08X.history",
	         (unsigned) t->timeline);
	snprintf(path, sizeof(path), "pg_wal/%s", hist_name);
	{
		const char *params[1] = {path};

		v = bk_sql_value(conn, "SELECT pg_read_file($1)", 1, params, &err);
	}
	if (v == NULL || bk_history_parse(v, &b->gap_hist, &err) != 0)
	{
		char d[BACKUP_REASON_MAX];

		snprintf(d, sizeof(d), "could not read %s: %s", path, err.msg);
		free(v);
		PQfinish(conn);
		record(b, t, "error", d);
		return false;
	}
	free(v);
	/* what our pg_wal still holds, to push from */
	r = PQexec(conn, "SELECT name FROM pg_ls_waldir()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		for (int i = 0; i < PQntuples(r); i++)
		{
			const char *name = PQgetvalue(r, i, 0);
			BkSeg s;

			if (strlen(name) == 24 && bk_wal_parse(name, b->seg_size, &s))
				bk_segset_add(&b->gap_local, s);
		}
	PQclear(r);
	PQfinish(conn);
	bk_segset_sort(&b->gap_local);
	bk_argv_pgbackrest(&a, &b->ex, NULL, "repo-ls");
	bk_argv_add(&a, "--output=json");
	bk_argv_add(&a, "--recurse");
	bk_argv_add(&a, "archive/%s", b->ex.stanza);
	if (bk_job_start(&b->aux, &b->ex, a.v, 300000, "repo-ls", &err) != 0)
	{
		record(b, t, "error", err.msg);
		return false;
	}
	b->aux_phase = AUX_GAP_LS;
	log_info("backup.gap-check-start", "timeline=%d ancestors=%d", t->timeline,
	         b->gap_hist.n);
	return true;
}

/* next_push: start the push of the next missing segment we hold; false
 * when none is left */
static bool
next_push(Backup *b)
{
	while (b->gap_push_i < b->gap_missing.n + (b->gap_history_missing ? 1 : 0))
	{
		int i = b->gap_push_i;
		char name[40];
		BkArgv a;
		PgwError err = {0};

		if (i == b->gap_missing.n)
			snprintf(name, sizeof(name), "%08X.history",
			         (unsigned) b->gap_timeline);
		else
		{
			if (!bk_segset_has(&b->gap_local, b->gap_missing.s[i]))
			{
				b->gap_push_i++;
				continue;
			}
			bk_wal_name(b->gap_missing.s[i], b->seg_size, name, sizeof(name));
		}
		bk_argv_pgbackrest(&a, &b->ex, NULL, "archive-push");
		bk_argv_add(&a, "%s/pg_wal/%s", b->cfg->pg_data_dir, name);
		if (bk_job_start(&b->aux, &b->ex, a.v, 120000, "archive-push", &err) ==
		    0)
			return true;
		pgw_strlcpy(b->gap_failed, err.msg, sizeof(b->gap_failed));
		b->gap_push_i++;
	}
	return false;
}

static void
conclude(Backup *b, const BackupTurn *t)
{
	int left = 0;
	char d[BACKUP_REASON_MAX];

	for (int i = 0; i < b->gap_missing.n; i++)
		if (b->gap_missing.s[i].tli != 0)
			left++;
	if (b->gap_history_missing)
		left++;
	if (left == 0)
	{
		snprintf(d, sizeof(d), "%d ancestor timeline(s) whole in the archive",
		         b->gap_hist.n);
		record(b, t, b->gap_pushed > 0 ? "closed" : "ok", d);
	}
	else
	{
		snprintf(
		    d, sizeof(d),
		    "%d segment(s)%s missing from the archive and not in our pg_wal%s%s",
		    left - (b->gap_history_missing ? 1 : 0),
		    b->gap_history_missing ? " and the timeline history file" : "",
		    b->gap_failed[0] ? "; last push error: " : "", b->gap_failed);
		record(b, t, "gap", d);
	}
}

void
bk_gap_step(Backup *b, const BackupTurn *t)
{
	PgwError err = {0};

	if (!bk_job_poll(&b->aux))
		return;
	if (b->aux_phase == AUX_GAP_LS)
	{
		BkSegSet present = {0};
		uint32_t hist[64];
		int n_hist = 0;
		uint64_t floor_segno = 0;

		if (b->aux.exit_code != 0 ||
		    bk_repo_ls_parse(b->aux.out ? b->aux.out : "", b->aux.len,
		                     b->seg_size, &present, NULL, hist, 64, &n_hist,
		                     &err) != 0)
		{
			char tail[200];
			char d[BACKUP_REASON_MAX];

			bk_job_tail(&b->aux, tail, sizeof(tail));
			snprintf(d, sizeof(d),
			         "pgbackrest repo-ls failed (exit code %d): %s %s",
			         b->aux.exit_code, tail, err.msg);
			bk_job_clear(&b->aux);
			b->aux_phase = AUX_IDLE;
			bk_segset_free(&present);
			record(b, t, "error", d);
			return;
		}
		bk_job_clear(&b->aux);
		if (b->cat_valid && b->cat->n_backups > 0)
		{
			BkSeg s;

			if (bk_wal_parse(b->cat->backups[0].wal_start, b->seg_size, &s))
				floor_segno = s.segno;
		}
		bk_gap_missing(&b->gap_hist, b->seg_size, floor_segno, &present,
		               &b->gap_missing);
		bk_segset_sort(&b->gap_missing);
		b->gap_history_missing = true;
		for (int i = 0; i < n_hist; i++)
			if (hist[i] == (uint32_t) b->gap_timeline)
				b->gap_history_missing = false;
		bk_segset_free(&present);
		b->gap_push_i = 0;
		if (b->gap_missing.n > 0 || b->gap_history_missing)
			log_warn(
			    "backup.gap-found",
			    "timeline=%d missing_segments=%d history_missing=%d action=push-from-pg_wal",
			    b->gap_timeline, b->gap_missing.n, b->gap_history_missing);
		if (next_push(b))
		{
			b->aux_phase = AUX_GAP_PUSH;
			return;
		}
		b->aux_phase = AUX_IDLE;
		conclude(b, t);
		return;
	}
	/* AUX_GAP_PUSH: one push ended */
	if (b->aux.exit_code == 0)
	{
		b->gap_pushed++;
		if (b->gap_push_i < b->gap_missing.n)
			b->gap_missing.s[b->gap_push_i].tli = 0; /* closed */
		else
			b->gap_history_missing = false;
	}
	else
	{
		char tail[160];

		bk_job_tail(&b->aux, tail, sizeof(tail));
		pgw_strlcpy(b->gap_failed, tail, sizeof(b->gap_failed));
	}
	bk_job_clear(&b->aux);
	b->gap_push_i++;
	if (next_push(b))
		return;
	b->aux_phase = AUX_IDLE;
	conclude(b, t);
}
