/*
 * bk_catalog.c: the catalog (backup/catalog): pgBackRest's own account of
 * the repository (`pgbackrest info --output=json`, parsed here) merged with
 * pgwarden's record of each backup (who ran it, under which fencing token)
 * and the archiver's state; its JSON codec (outside input when read back
 * from etcd: whole or refused) and the recovery-target checks that name
 * the window that exists.
 */
#include "backup/backup_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static bool
str_into(json_t *v, char *buf, size_t len)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
		return false;
	pgw_strlcpy(buf, json_string_value(v), len);
	return true;
}

/* an optional string: absent or null leaves "" */
static bool
opt_str(json_t *o, const char *k, char *buf, size_t len)
{
	json_t *v = json_object_get(o, k);

	buf[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	return str_into(v, buf, len);
}

static bool
opt_int(json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool
wal_ok(const char *s)
{
	if (s[0] == '\0')
		return true;
	if (strlen(s) != 24)
		return false;
	for (const char *p = s; *p; p++)
		if (!isxdigit((unsigned char) *p))
			return false;
	return true;
}

/* ---- pgbackrest info ---------------------------------------------------- */

static bool
info_backup(json_t *b, BackupEntry *e)
{
	json_t *a = json_object_get(b, "archive");
	json_t *info = json_object_get(b, "info");
	json_t *lsn = json_object_get(b, "lsn");
	json_t *ts = json_object_get(b, "timestamp");
	json_t *repo = info ? json_object_get(info, "repository") : NULL;
	json_t *v;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(b) ||
	    !str_into(json_object_get(b, "label"), e->label, sizeof(e->label)) ||
	    !str_into(json_object_get(b, "type"), e->type, sizeof(e->type)) ||
	    !json_is_object(ts))
		return false;
	if (!opt_str(b, "prior", e->prior, sizeof(e->prior)))
		return false;
	if ((v = json_object_get(ts, "start")) == NULL || !json_is_integer(v))
		return false;
	e->start_wall_ms = json_integer_value(v) * 1000;
	if ((v = json_object_get(ts, "stop")) == NULL || !json_is_integer(v))
		return false;
	e->stop_wall_ms = json_integer_value(v) * 1000;
	if (json_is_object(lsn) &&
	    (!opt_str(lsn, "start", e->start_lsn, sizeof(e->start_lsn)) ||
	     !opt_str(lsn, "stop", e->stop_lsn, sizeof(e->stop_lsn))))
		return false;
	if (json_is_object(a) &&
	    (!opt_str(a, "start", e->wal_start, sizeof(e->wal_start)) ||
	     !opt_str(a, "stop", e->wal_stop, sizeof(e->wal_stop)) ||
	     !wal_ok(e->wal_start) || !wal_ok(e->wal_stop)))
		return false;
	if (json_is_object(info) && json_is_integer(json_object_get(info, "size")))
		e->size_bytes =
		    (uint64_t) json_integer_value(json_object_get(info, "size"));
	if (json_is_object(repo) && json_is_integer(json_object_get(repo, "size")))
		e->repo_bytes =
		    (uint64_t) json_integer_value(json_object_get(repo, "size"));
	e->error = json_is_true(json_object_get(b, "error"));
	return true;
}

int
backup_info_parse(const char *json, size_t len, const char *stanza,
                  BackupCatalog *out, PgwError *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	json_t *st = NULL;
	json_t *v;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "pgbackrest info: not JSON: %s (line %d)",
		                     jerr.text, jerr.line);
	if (!json_is_array(root))
	{
		json_decref(root);
		return pgw_error_set(err, PGW_EINVAL,
		                     "pgbackrest info: expected a list of stanzas");
	}
	json_array_foreach(root, i, v)
	{
		json_t *name = json_object_get(v, "name");

		if (json_is_string(name) &&
		    strcmp(json_string_value(name), stanza) == 0)
			st = v;
	}
	if (st == NULL)
	{
		json_decref(root);
		return pgw_error_set(err, PGW_ENOTFOUND,
		                     "pgbackrest info: no stanza \"%s\"", stanza);
	}
	pgw_strlcpy(out->stanza, stanza, sizeof(out->stanza));
	{
		json_t *status = json_object_get(st, "status");
		json_t *code = status ? json_object_get(status, "code") : NULL;
		json_t *msg = status ? json_object_get(status, "message") : NULL;

		if (!json_is_integer(code))
		{
			rc = pgw_error_set(err, PGW_EINVAL,
			                   "pgbackrest info: stanza without a status code");
			goto out;
		}
		out->status_code = (int) json_integer_value(code);
		if (json_is_string(msg))
			pgw_strlcpy(out->status, json_string_value(msg),
			            sizeof(out->status));
	}
	{
		json_t *dbs = json_object_get(st, "db");
		json_t *db;
		int64_t best_id = -1;

		json_array_foreach(dbs, i, db)
		{
			json_t *id = json_object_get(db, "id");
			json_t *sys = json_object_get(db, "system-id");

			/* the newest database entry is the current one */
			if (json_is_integer(id) && json_integer_value(id) > best_id &&
			    json_is_integer(sys))
			{
				best_id = json_integer_value(id);
				snprintf(out->system_id, sizeof(out->system_id),
				         "%" JSON_INTEGER_FORMAT, json_integer_value(sys));
			}
		}
	}
	{
		json_t *arch = json_object_get(st, "archive");
		json_t *a;

		json_array_foreach(arch, i, a)
		{
			BackupArchiveRange *r;

			if (out->n_archive >= BACKUP_ARCHIVE_MAX)
				break;
			r = &out->archive[out->n_archive];
			if (!str_into(json_object_get(a, "id"), r->id, sizeof(r->id)) ||
			    !opt_str(a, "min", r->min, sizeof(r->min)) ||
			    !opt_str(a, "max", r->max, sizeof(r->max)) || !wal_ok(r->min) ||
			    !wal_ok(r->max))
			{
				rc = pgw_error_set(err, PGW_EINVAL,
				                   "pgbackrest info: bad archive entry %zu", i);
				goto out;
			}
			out->n_archive++;
		}
	}
	{
		json_t *bs = json_object_get(st, "backup");
		json_t *b;
		size_t nb = json_is_array(bs) ? json_array_size(bs) : 0;
		size_t skip = nb > BACKUP_LIST_MAX ? nb - BACKUP_LIST_MAX : 0;

		/* oldest first; keep the newest BACKUP_LIST_MAX */
		json_array_foreach(bs, i, b)
		{
			if (i < skip)
				continue;
			if (!info_backup(b, &out->backups[out->n_backups]))
			{
				rc = pgw_error_set(err, PGW_EINVAL,
				                   "pgbackrest info: bad backup entry %zu", i);
				goto out;
			}
			out->n_backups++;
		}
	}
	if (out->n_backups > 0)
		out->window_earliest_wall_ms = out->backups[0].stop_wall_ms;
out:
	json_decref(root);
	return rc;
}

/* ---- the catalog as stored in etcd ------------------------------------- */

char *
backup_catalog_encode(const BackupCatalog *c)
{
	json_t *o = json_object();
	json_t *bs = json_array();
	json_t *as = json_array();
	char *s;

	for (int i = 0; i < c->n_backups; i++)
	{
		const BackupEntry *e = &c->backups[i];

		json_array_append_new(
		    bs,
		    json_pack(
		        "{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:I,s:s,s:s,s:s}",
		        "label", e->label, "type", e->type, "prior", e->prior, "start",
		        (json_int_t) e->start_wall_ms, "stop",
		        (json_int_t) e->stop_wall_ms, "start_lsn", e->start_lsn,
		        "stop_lsn", e->stop_lsn, "wal_start", e->wal_start, "wal_stop",
		        e->wal_stop, "size", (json_int_t) e->size_bytes, "repo_size",
		        (json_int_t) e->repo_bytes, "error", e->error, "token",
		        (json_int_t) e->token, "node", e->node, "source_role",
		        e->source_role, "attempt_id", e->attempt_id));
	}
	for (int i = 0; i < c->n_archive; i++)
		json_array_append_new(
		    as, json_pack("{s:s,s:s,s:s}", "id", c->archive[i].id, "min",
		                  c->archive[i].min, "max", c->archive[i].max));
	json_object_set_new(o, "updated_at", json_integer(c->updated_wall_ms));
	json_object_set_new(o, "stanza", json_string(c->stanza));
	json_object_set_new(o, "system_id", json_string(c->system_id));
	json_object_set_new(o, "status_code", json_integer(c->status_code));
	json_object_set_new(o, "status", json_string(c->status));
	json_object_set_new(o, "backups", bs);
	json_object_set_new(o, "archive", as);
	json_object_set_new(o, "window",
	                    json_pack("{s:I,s:I}", "earliest",
	                              (json_int_t) c->window_earliest_wall_ms,
	                              "latest",
	                              (json_int_t) c->window_latest_wall_ms));
	json_object_set_new(o, "last_archived",
	                    json_pack("{s:s,s:I}", "wal", c->last_archived_wal,
	                              "at", (json_int_t) c->last_archived_wall_ms));
	json_object_set_new(o, "archive_failed_count",
	                    json_integer(c->archive_failed_count));
	json_object_set_new(o, "last_failed",
	                    json_pack("{s:s,s:I}", "wal", c->last_failed_wal, "at",
	                              (json_int_t) c->last_failed_wall_ms));
	json_object_set_new(o, "error", json_string(c->error));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}

static bool
decode_entry(json_t *b, BackupEntry *e)
{
	int64_t v;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(b) ||
	    !str_into(json_object_get(b, "label"), e->label, sizeof(e->label)) ||
	    !opt_str(b, "type", e->type, sizeof(e->type)) ||
	    !opt_str(b, "prior", e->prior, sizeof(e->prior)) ||
	    !opt_int(b, "start", &e->start_wall_ms) ||
	    !opt_int(b, "stop", &e->stop_wall_ms) ||
	    !opt_str(b, "start_lsn", e->start_lsn, sizeof(e->start_lsn)) ||
	    !opt_str(b, "stop_lsn", e->stop_lsn, sizeof(e->stop_lsn)) ||
	    !opt_str(b, "wal_start", e->wal_start, sizeof(e->wal_start)) ||
	    !opt_str(b, "wal_stop", e->wal_stop, sizeof(e->wal_stop)) ||
	    !wal_ok(e->wal_start) || !wal_ok(e->wal_stop) ||
	    !opt_int(b, "token", &e->token) ||
	    !opt_str(b, "node", e->node, sizeof(e->node)) ||
	    !opt_str(b, "source_role", e->source_role, sizeof(e->source_role)) ||
	    !opt_str(b, "attempt_id", e->attempt_id, sizeof(e->attempt_id)))
		return false;
	if (!opt_int(b, "size", &v) || v < 0)
		return false;
	e->size_bytes = (uint64_t) v;
	if (!opt_int(b, "repo_size", &v) || v < 0)
		return false;
	e->repo_bytes = (uint64_t) v;
	e->error = json_is_true(json_object_get(b, "error"));
	return true;
}

int
backup_catalog_decode(const char *json, size_t len, BackupCatalog *out,
                      PgwError *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *v;
	size_t i;
	int64_t code = 0;
	int rc = PGW_EINVAL;

	memset(out, 0, sizeof(*out));
	if (o == NULL || !json_is_object(o))
	{
		json_decref(o);
		return pgw_error_set(err, PGW_EINVAL,
		                     "backup catalog: not a JSON object%s%s",
		                     o == NULL ? ": " : "", o == NULL ? jerr.text : "");
	}
	if (!opt_int(o, "updated_at", &out->updated_wall_ms) ||
	    !opt_str(o, "stanza", out->stanza, sizeof(out->stanza)) ||
	    !opt_str(o, "system_id", out->system_id, sizeof(out->system_id)) ||
	    !opt_int(o, "status_code", &code) ||
	    !opt_str(o, "status", out->status, sizeof(out->status)) ||
	    !opt_int(o, "archive_failed_count", &out->archive_failed_count) ||
	    !opt_str(o, "error", out->error, sizeof(out->error)))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "backup catalog: a top-level field has the wrong type");
		goto out;
	}
	out->status_code = (int) code;
	v = json_object_get(o, "backups");
	if (v != NULL &&
	    (!json_is_array(v) || json_array_size(v) > BACKUP_LIST_MAX))
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "backup catalog: \"backups\" must be a list of at most %d",
		    BACKUP_LIST_MAX);
		goto out;
	}
	for (i = 0; v != NULL && i < json_array_size(v); i++)
	{
		if (!decode_entry(json_array_get(v, i), &out->backups[out->n_backups]))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "backup catalog: backups[%zu] is malformed", i);
			goto out;
		}
		out->n_backups++;
	}
	v = json_object_get(o, "archive");
	if (v != NULL &&
	    (!json_is_array(v) || json_array_size(v) > BACKUP_ARCHIVE_MAX))
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "backup catalog: \"archive\" must be a list of at most %d",
		    BACKUP_ARCHIVE_MAX);
		goto out;
	}
	for (i = 0; v != NULL && i < json_array_size(v); i++)
	{
		json_t *a = json_array_get(v, i);
		BackupArchiveRange *r = &out->archive[out->n_archive];

		if (!json_is_object(a) || !opt_str(a, "id", r->id, sizeof(r->id)) ||
		    !opt_str(a, "min", r->min, sizeof(r->min)) ||
		    !opt_str(a, "max", r->max, sizeof(r->max)) || !wal_ok(r->min) ||
		    !wal_ok(r->max))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "backup catalog: archive[%zu] is malformed", i);
			goto out;
		}
		out->n_archive++;
	}
	v = json_object_get(o, "window");
	if (v != NULL && (!json_is_object(v) ||
	                  !opt_int(v, "earliest", &out->window_earliest_wall_ms) ||
	                  !opt_int(v, "latest", &out->window_latest_wall_ms)))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "backup catalog: \"window\" is malformed");
		goto out;
	}
	v = json_object_get(o, "last_archived");
	if (v != NULL && (!json_is_object(v) ||
	                  !opt_str(v, "wal", out->last_archived_wal,
	                           sizeof(out->last_archived_wal)) ||
	                  !opt_int(v, "at", &out->last_archived_wall_ms)))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "backup catalog: \"last_archived\" is malformed");
		goto out;
	}
	v = json_object_get(o, "last_failed");
	if (v != NULL && (!json_is_object(v) ||
	                  !opt_str(v, "wal", out->last_failed_wal,
	                           sizeof(out->last_failed_wal)) ||
	                  !opt_int(v, "at", &out->last_failed_wall_ms)))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "backup catalog: \"last_failed\" is malformed");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
backup_catalog_read(EtcdClient *c, const char *prefix, BackupCatalog *out,
                    bool *found, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	rc = etcd_range(c, bk_key(key, sizeof(key), prefix, "catalog"), false, 0,
	                false, &r, err);
	if (rc != 0)
		return rc;
	if (r.count > 0)
	{
		*found = true;
		rc =
		    backup_catalog_decode(r.kvs[0].value, r.kvs[0].value_len, out, err);
	}
	etcd_range_result_free(&r);
	return rc;
}

/* ---- recovery targets --------------------------------------------------- */

int
backup_target_parse(const char *s, BackupTarget *out, PgwError *err)
{
	/* the parser lives with the configuration (bootstrap.pgbackrest.to) */
	return config_backup_target_parse(s, out, err);
}

static bool
lsn_text(const char *s, uint64_t *out)
{
	unsigned int hi, lo;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		return false;
	*out = ((uint64_t) hi << 32) | lo;
	return true;
}

int
backup_target_check(const BackupCatalog *cat, const BackupTarget *t,
                    char *label_out, size_t label_len, PgwError *err)
{
	char e[40], l[40], tt[40];
	int best = -1;

	if (cat->n_backups == 0)
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "no backup of stanza \"%s\" in the repository: there is nothing to restore from",
		    cat->stanza);
	bk_iso(cat->window_earliest_wall_ms, e, sizeof(e));
	bk_iso(cat->window_latest_wall_ms, l, sizeof(l));
	switch (t->kind)
	{
		case BACKUP_TARGET_LATEST:
		case BACKUP_TARGET_IMMEDIATE:
			best = cat->n_backups - 1;
			break;
		case BACKUP_TARGET_TIME:
		{
			int64_t ms = t->wall_us / 1000;

			bk_iso(ms, tt, sizeof(tt));
			if (ms < cat->window_earliest_wall_ms)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "recovery target %s is before the recovery window, which runs from %s (the oldest backup, %s, is consistent from then) to %s",
				    tt, e, cat->backups[0].label, l);
			if (cat->window_latest_wall_ms > 0 &&
			    ms > cat->window_latest_wall_ms)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "recovery target %s is after the recovery window, which runs from %s to %s (WAL archived up to segment %s)",
				    tt, e, l,
				    cat->last_archived_wal[0] ? cat->last_archived_wal : "?");
			for (int i = 0; i < cat->n_backups; i++)
				if (cat->backups[i].stop_wall_ms <= ms)
					best = i;
			break;
		}
		case BACKUP_TARGET_LSN:
		{
			uint64_t stop;

			for (int i = 0; i < cat->n_backups; i++)
				if (lsn_text(cat->backups[i].stop_lsn, &stop) && stop <= t->lsn)
					best = i;
			if (best < 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "recovery target LSN %s is before the oldest backup's consistent point %s (backup %s); the recovery window runs from %s to %s",
				    t->text, cat->backups[0].stop_lsn, cat->backups[0].label, e,
				    l);
			break;
		}
	}
	if (best < 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "no backup is consistent before the target %s",
		                     t->text);
	if (label_out != NULL)
		pgw_strlcpy(label_out, cat->backups[best].label, label_len);
	return 0;
}
