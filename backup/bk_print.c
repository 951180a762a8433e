/*
 * bk_print.c: `pgwardenctl backup list`: the catalog, the recovery window,
 * the archive, and the coordination state (last attempt, a running
 * backup, the last gap check and restore drill), as a table or as JSON.
 */
#include "backup/backup_int.h"

#include "common/strutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
size_text(uint64_t b, char *buf, size_t len)
{
	if (b >= UINT64_C(1) << 30)
		snprintf(buf, len, "%.1fGB", (double) b / (1 << 30));
	else if (b >= 1 << 20)
		snprintf(buf, len, "%.1fMB", (double) b / (1 << 20));
	else
		snprintf(buf, len, "%.0fkB", (double) b / 1024);
	return buf;
}

static json_t *
attempt_json(const BackupAttempt *a)
{
	if (!a->present)
		return json_null();
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:i,s:s}", "id", a->id,
	    "type", a->type, "node", a->node, "source_role", a->source_role,
	    "status", backup_status_name(a->status), "reason", a->reason, "token",
	    (json_int_t) a->token, "started_at", (json_int_t) a->started_wall_ms,
	    "ended_at", (json_int_t) a->ended_wall_ms, "label", a->label, "attempt",
	    a->attempt, "request_reason", a->request_reason);
}

static void
print_json(FILE *out, const BackupCatalog *cat, const BackupState *st)
{
	char *c = backup_catalog_encode(cat);
	json_t *o = json_loads(c, 0, NULL);
	char *s;

	free(c);
	if (o == NULL)
		o = json_object();
	json_object_set_new(o, "last_attempt", attempt_json(&st->attempt));
	json_object_set_new(
	    o, "running",
	    st->lock.present
	        ? json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", st->lock.id, "node",
	                    st->lock.node, "type", st->lock.type, "token",
	                    (json_int_t) st->lock.create_revision, "started_at",
	                    (json_int_t) st->lock.started_wall_ms)
	        : json_null());
	json_object_set_new(
	    o, "pending",
	    st->request.present
	        ? json_pack("{s:s,s:s,s:s,s:s}", "id", st->request.id, "type",
	                    st->request.type, "source", st->request.source,
	                    "reason", st->request.reason)
	        : json_null());
	if (st->gap.present)
	{
		char *g = bk_gap_encode(&st->gap);

		json_object_set_new(o, "gap_check", json_loads(g, 0, NULL));
		free(g);
	}
	else
		json_object_set_new(o, "gap_check", json_null());
	if (st->verify.present)
	{
		char *v = bk_verify_encode(&st->verify);

		json_object_set_new(o, "verify", json_loads(v, 0, NULL));
		free(v);
	}
	else
		json_object_set_new(o, "verify", json_null());
	s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(out, "%s\n", s ? s : "{}");
	free(s);
	json_decref(o);
}

void
backup_catalog_print(FILE *out, const BackupCatalog *cat, const BackupState *st,
                     int64_t now_wall_ms, bool json)
{
	char a[40], b[40], s1[24], s2[24];

	if (json)
	{
		print_json(out, cat, st);
		return;
	}
	fprintf(out, "Stanza %s (system identifier %s): %d backup(s), status %s\n",
	        cat->stanza[0] ? cat->stanza : "?",
	        cat->system_id[0] ? cat->system_id : "?", cat->n_backups,
	        cat->status[0] ? cat->status : "unknown");
	if (cat->error[0])
		fprintf(out, "PROBLEM: %s\n", cat->error);
	if (cat->n_backups > 0)
	{
		fprintf(out, "%-34s %-4s %-24s %8s %9s %9s  %-51s %-18s %s\n", "Label",
		        "Type", "Stop (consistent from)", "Duration", "Size", "Repo",
		        "WAL start..stop", "Source", "Token");
		for (int i = 0; i < cat->n_backups; i++)
		{
			const BackupEntry *e = &cat->backups[i];
			char src[PGW_NAME_MAX + 20];

			if (e->node[0])
				snprintf(src, sizeof(src), "%s (%s)", e->node, e->source_role);
			else
				snprintf(src, sizeof(src), "-");
			fprintf(out,
			        "%-34s %-4s %-24s %7llds %9s %9s  %s..%s %-18s %lld%s\n",
			        e->label, e->type, bk_iso(e->stop_wall_ms, a, sizeof(a)),
			        (long long) ((e->stop_wall_ms - e->start_wall_ms) / 1000),
			        size_text(e->size_bytes, s1, sizeof(s1)),
			        size_text(e->repo_bytes, s2, sizeof(s2)), e->wal_start,
			        e->wal_stop, src, (long long) e->token,
			        e->error ? "  (page checksum errors)" : "");
		}
	}
	fprintf(out, "Recovery window: %s .. %s\n",
	        bk_iso(cat->window_earliest_wall_ms, a, sizeof(a)),
	        bk_iso(cat->window_latest_wall_ms, b, sizeof(b)));
	if (cat->last_archived_wall_ms > 0)
		fprintf(
		    out,
		    "Last archived: %s at %s (%lld s ago); archive failures: %lld%s%s\n",
		    cat->last_archived_wal,
		    bk_iso(cat->last_archived_wall_ms, a, sizeof(a)),
		    (long long) ((now_wall_ms - cat->last_archived_wall_ms) / 1000),
		    (long long) cat->archive_failed_count,
		    cat->last_failed_wal[0] ? ", last failed " : "",
		    cat->last_failed_wal);
	for (int i = 0; i < cat->n_archive; i++)
		fprintf(out, "Archive %s: %s .. %s\n", cat->archive[i].id,
		        cat->archive[i].min, cat->archive[i].max);
	if (st->lock.present)
		fprintf(out, "Running: %s %s on %s since %s (token %lld)\n",
		        st->lock.type, st->lock.id, st->lock.node,
		        bk_iso(st->lock.started_wall_ms, a, sizeof(a)),
		        (long long) st->lock.create_revision);
	if (st->request.present)
		fprintf(out, "Pending: %s backup %s from %s (%s)\n", st->request.type,
		        st->request.id, st->request.source, st->request.reason);
	if (st->attempt.present)
		fprintf(out, "Last attempt: %s %s on %s (%s): %s%s%s%s%s\n",
		        st->attempt.type, st->attempt.id,
		        st->attempt.node[0] ? st->attempt.node : "-",
		        st->attempt.source_role[0] ? st->attempt.source_role : "-",
		        backup_status_name(st->attempt.status),
		        st->attempt.label[0] ? ", label " : "", st->attempt.label,
		        st->attempt.reason[0] ? ": " : "", st->attempt.reason);
	if (st->gap.present)
	{
		fprintf(out, "Gap check (timeline %d, %s): %s, %d pushed%s%s\n",
		        st->gap.timeline, bk_iso(st->gap.checked_wall_ms, a, sizeof(a)),
		        st->gap.status, st->gap.pushed, st->gap.detail[0] ? "; " : "",
		        st->gap.detail);
		for (int i = 0; i < st->gap.n_missing; i++)
			fprintf(out, "  missing from the archive: %s\n",
			        st->gap.missing[i]);
	}
	if (st->verify.present)
		fprintf(
		    out,
		    "Restore drill (%s on %s): %s; %s; restore+recovery %.1f s; recovery point %s (RPO %.1f s)\n",
		    bk_iso(st->verify.at_wall_ms, a, sizeof(a)), st->verify.node,
		    st->verify.ok ? "PASSED" : "FAILED", st->verify.detail,
		    (double) st->verify.restore_ms / 1000.0,
		    bk_iso(st->verify.recovery_point_wall_ms, b, sizeof(b)),
		    (double) st->verify.rpo_ms / 1000.0);
}
