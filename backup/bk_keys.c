/*
 * bk_keys.c: the values of the backup/ coordination keys (JSON) and the
 * read of them all in one round trip. Values in etcd are outside input:
 * each is decoded whole or refused (the reader then ignores the key and
 * says so), never half-applied.
 */
#include "backup/backup_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *
bk_key(char *buf, size_t len, const char *prefix, const char *suffix)
{
	snprintf(buf, len, "%sbackup/%s", prefix, suffix);
	return buf;
}

const char *
bk_iso(int64_t wall_ms, char *buf, size_t len)
{
	if (wall_ms <= 0)
		snprintf(buf, len, "-");
	else
		pgw_format_wall_iso(wall_ms, 0, buf, len);
	return buf;
}

void
bk_id_new(const char *word, char *out, size_t len)
{
	unsigned char r[3] = {0};
	char iso[40];
	char compact[24];
	size_t k = 0;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
	{
		int64_t t = pgw_now_mono_ms();

		memcpy(r, &t, sizeof(r));
	}
	pgw_format_wall_iso(pgw_now_wall_ms(), 0, iso, sizeof(iso));
	/* 2026-11-23T10:01:02.123Z -> 20261123T100102 */
	for (const char *p = iso; *p && *p != '.' && k + 1 < sizeof(compact); p++)
		if (*p != '-' && *p != ':')
			compact[k++] = *p;
	compact[k] = '\0';
	snprintf(out, len, "%s-%s-%02x%02x%02x", word, compact, r[0], r[1], r[2]);
}

const char *
backup_status_name(BackupStatus s)
{
	switch (s)
	{
		case BACKUP_STATUS_RUNNING:
			return "running";
		case BACKUP_STATUS_OK:
			return "ok";
		case BACKUP_STATUS_FAILED:
			return "failed";
		case BACKUP_STATUS_ABORTED:
			return "aborted";
		case BACKUP_STATUS_NONE:
			break;
	}
	return "none";
}

BackupStatus
bk_status_parse(const char *s)
{
	if (strcmp(s, "running") == 0)
		return BACKUP_STATUS_RUNNING;
	if (strcmp(s, "ok") == 0)
		return BACKUP_STATUS_OK;
	if (strcmp(s, "failed") == 0)
		return BACKUP_STATUS_FAILED;
	if (strcmp(s, "aborted") == 0)
		return BACKUP_STATUS_ABORTED;
	return BACKUP_STATUS_NONE;
}

/* ---- small JSON helpers ------------------------------------------------- */

static json_t *
load(const char *json, size_t len)
{
	json_t *o;

	if (json == NULL)
		return NULL;
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o))
	{
		json_decref(o);
		return NULL;
	}
	return o;
}

/* a string member that must be present (required) or may be absent */
static bool
s_get(json_t *o, const char *k, char *buf, size_t len, bool required)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
	{
		buf[0] = '\0';
		return !required;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
		return false;
	pgw_strlcpy(buf, json_string_value(v), len);
	return true;
}

static bool
i_get(json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
	{
		*out = 0;
		return true;
	}
	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool
int_get(json_t *o, const char *k, int lo, int hi, int *out)
{
	int64_t v;

	if (!i_get(o, k, &v) || v < lo || v > hi)
		return false;
	*out = (int) v;
	return true;
}

static bool
type_ok(const char *t)
{
	return strcmp(t, "full") == 0 || strcmp(t, "diff") == 0 ||
	       strcmp(t, "incr") == 0;
}

static char *
dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(o);
	if (s == NULL)
		abort(); /* out of memory, as pgw_xmalloc */
	return s;
}

/* ---- lock --------------------------------------------------------------- */

int
bk_lock_decode(const char *json, size_t len, BackupLock *out)
{
	json_t *o = load(json, len);
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	ok = s_get(o, "id", out->id, sizeof(out->id), true) &&
	     s_get(o, "node", out->node, sizeof(out->node), true) &&
	     s_get(o, "type", out->type, sizeof(out->type), true) &&
	     i_get(o, "started_at", &out->started_wall_ms);
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_lock_encode(const BackupLock *l)
{
	return dump(json_pack("{s:s,s:s,s:s,s:I}", "id", l->id, "node", l->node,
	                      "type", l->type, "started_at",
	                      (json_int_t) l->started_wall_ms));
}

/* ---- request ------------------------------------------------------------ */

int
bk_request_decode(const char *json, size_t len, BackupRequest *out)
{
	json_t *o = load(json, len);
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	ok = s_get(o, "id", out->id, sizeof(out->id), true) &&
	     s_get(o, "type", out->type, sizeof(out->type), true) &&
	     type_ok(out->type) &&
	     s_get(o, "source", out->source, sizeof(out->source), true) &&
	     s_get(o, "reason", out->reason, sizeof(out->reason), false) &&
	     int_get(o, "attempt", 0, 1000, &out->attempt) &&
	     i_get(o, "at", &out->at_wall_ms);
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_request_encode(const BackupRequest *r)
{
	return dump(json_pack("{s:s,s:s,s:s,s:s,s:i,s:I}", "id", r->id, "type",
	                      r->type, "source", r->source, "reason", r->reason,
	                      "attempt", r->attempt, "at",
	                      (json_int_t) r->at_wall_ms));
}

/* ---- demand ------------------------------------------------------------- */

int
bk_demand_decode(const char *json, size_t len, BackupDemand *out)
{
	json_t *o = load(json, len);
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	ok = s_get(o, "id", out->id, sizeof(out->id), true) &&
	     s_get(o, "type", out->type, sizeof(out->type), false) &&
	     (out->type[0] == '\0' || type_ok(out->type)) &&
	     s_get(o, "by", out->by, sizeof(out->by), false) &&
	     i_get(o, "at", &out->at_wall_ms);
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_demand_encode(const BackupDemand *d)
{
	return dump(json_pack("{s:s,s:s,s:s,s:I}", "id", d->id, "type", d->type,
	                      "by", d->by, "at", (json_int_t) d->at_wall_ms));
}

/* ---- attempt ------------------------------------------------------------ */

int
bk_attempt_decode(const char *json, size_t len, BackupAttempt *out)
{
	json_t *o = load(json, len);
	char status[16];
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	ok = s_get(o, "id", out->id, sizeof(out->id), true) &&
	     s_get(o, "type", out->type, sizeof(out->type), true) &&
	     s_get(o, "node", out->node, sizeof(out->node), false) &&
	     s_get(o, "source_role", out->source_role, sizeof(out->source_role),
	           false) &&
	     s_get(o, "status", status, sizeof(status), true) &&
	     (out->status = bk_status_parse(status)) != BACKUP_STATUS_NONE &&
	     s_get(o, "reason", out->reason, sizeof(out->reason), false) &&
	     i_get(o, "token", &out->token) &&
	     i_get(o, "started_at", &out->started_wall_ms) &&
	     i_get(o, "ended_at", &out->ended_wall_ms) &&
	     s_get(o, "label", out->label, sizeof(out->label), false) &&
	     int_get(o, "attempt", 0, 1000, &out->attempt) &&
	     s_get(o, "request_reason", out->request_reason,
	           sizeof(out->request_reason), false);
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_attempt_encode(const BackupAttempt *a)
{
	return dump(json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:i,s:s}", "id", a->id,
	    "type", a->type, "node", a->node, "source_role", a->source_role,
	    "status", backup_status_name(a->status), "reason", a->reason, "token",
	    (json_int_t) a->token, "started_at", (json_int_t) a->started_wall_ms,
	    "ended_at", (json_int_t) a->ended_wall_ms, "label", a->label, "attempt",
	    a->attempt, "request_reason", a->request_reason));
}

/* ---- nodes -------------------------------------------------------------- */

int
bk_node_decode(const char *name, const char *json, size_t len, BackupNode *out)
{
	json_t *o = load(json, len);
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL || strlen(name) >= sizeof(out->name))
	{
		json_decref(o);
		return PGW_EINVAL;
	}
	pgw_strlcpy(out->name, name, sizeof(out->name));
	ok = s_get(o, "host", out->host, sizeof(out->host), true) &&
	     s_get(o, "data_dir", out->data_dir, sizeof(out->data_dir), true) &&
	     config_backup_path_ok(out->data_dir) &&
	     s_get(o, "socket_dir", out->socket_dir, sizeof(out->socket_dir),
	           false) &&
	     (out->socket_dir[0] == '\0' ||
	      config_backup_path_ok(out->socket_dir)) &&
	     int_get(o, "port", 1, 65535, &out->port);
	json_decref(o);
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_node_encode(const BackupNode *n)
{
	return dump(json_pack("{s:s,s:s,s:s,s:i}", "host", n->host, "data_dir",
	                      n->data_dir, "socket_dir", n->socket_dir, "port",
	                      n->port));
}

/* ---- gap ---------------------------------------------------------------- */

int
bk_gap_decode(const char *json, size_t len, BackupGap *out)
{
	json_t *o = load(json, len);
	json_t *m;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	ok = i_get(o, "checked_at", &out->checked_wall_ms) &&
	     int_get(o, "timeline", 0, INT32_MAX, &out->timeline) &&
	     s_get(o, "status", out->status, sizeof(out->status), true) &&
	     int_get(o, "pushed", 0, INT32_MAX, &out->pushed) &&
	     s_get(o, "detail", out->detail, sizeof(out->detail), false);
	m = json_object_get(o, "missing");
	if (ok && m != NULL)
	{
		size_t i;
		json_t *it;

		ok = json_is_array(m) && json_array_size(m) <= BACKUP_GAPS_MAX;
		json_array_foreach(m, i, it)
		{
			if (!ok || !json_is_string(it) ||
			    strlen(json_string_value(it)) >= sizeof(out->missing[0]))
			{
				ok = false;
				break;
			}
			pgw_strlcpy(out->missing[out->n_missing++], json_string_value(it),
			            sizeof(out->missing[0]));
		}
	}
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_gap_encode(const BackupGap *g)
{
	json_t *m = json_array();

	for (int i = 0; i < g->n_missing; i++)
		json_array_append_new(m, json_string(g->missing[i]));
	return dump(json_pack("{s:I,s:i,s:s,s:i,s:o,s:s}", "checked_at",
	                      (json_int_t) g->checked_wall_ms, "timeline",
	                      g->timeline, "status", g->status, "pushed", g->pushed,
	                      "missing", m, "detail", g->detail));
}

/* ---- verify ------------------------------------------------------------- */

int
bk_verify_decode(const char *json, size_t len, BackupVerify *out)
{
	json_t *o = load(json, len);
	json_t *okv;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return PGW_EINVAL;
	okv = json_object_get(o, "ok");
	ok = json_is_boolean(okv) && i_get(o, "at", &out->at_wall_ms) &&
	     s_get(o, "label", out->label, sizeof(out->label), false) &&
	     s_get(o, "target", out->target, sizeof(out->target), false) &&
	     i_get(o, "restore_ms", &out->restore_ms) &&
	     i_get(o, "recovery_point", &out->recovery_point_wall_ms) &&
	     i_get(o, "rpo_ms", &out->rpo_ms) &&
	     s_get(o, "detail", out->detail, sizeof(out->detail), false) &&
	     s_get(o, "node", out->node, sizeof(out->node), false);
	out->ok = json_is_true(okv);
	json_decref(o);
	out->present = ok;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_verify_encode(const BackupVerify *v)
{
	return dump(json_pack(
	    "{s:b,s:I,s:s,s:s,s:I,s:I,s:I,s:s,s:s}", "ok", v->ok, "at",
	    (json_int_t) v->at_wall_ms, "label", v->label, "target", v->target,
	    "restore_ms", (json_int_t) v->restore_ms, "recovery_point",
	    (json_int_t) v->recovery_point_wall_ms, "rpo_ms",
	    (json_int_t) v->rpo_ms, "detail", v->detail, "node", v->node));
}

/* ---- the leader's schedule bookkeeping (backup/state) ------------------- */

int
bk_sched_decode(const char *json, size_t len, BackupState *out)
{
	json_t *o = load(json, len);
	json_t *fired;
	const char *k;
	json_t *v;
	bool ok;

	out->n_fired = 0;
	if (o == NULL)
		return PGW_EINVAL;
	ok = i_get(o, "checked_at", &out->sched_checked_wall_ms);
	fired = json_object_get(o, "fired");
	if (ok && fired != NULL)
	{
		ok = json_is_object(fired) &&
		     json_object_size(fired) <= BACKUP_FIRED_MAX;
		json_object_foreach(fired, k, v)
		{
			if (!ok || !json_is_integer(v) ||
			    strlen(k) >= CONFIG_BACKUP_ENTRY_MAX)
			{
				ok = false;
				break;
			}
			pgw_strlcpy(out->fired_entry[out->n_fired], k,
			            CONFIG_BACKUP_ENTRY_MAX);
			out->fired_wall_ms[out->n_fired++] = json_integer_value(v);
		}
	}
	json_decref(o);
	if (!ok)
		out->n_fired = 0;
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_sched_encode(const BackupState *st)
{
	json_t *f = json_object();

	for (int i = 0; i < st->n_fired; i++)
		json_object_set_new(f, st->fired_entry[i],
		                    json_integer(st->fired_wall_ms[i]));
	return dump(json_pack("{s:I,s:o}", "checked_at",
	                      (json_int_t) st->sched_checked_wall_ms, "fired", f));
}

/* ---- done/<label> ------------------------------------------------------- */

int
bk_done_decode(const char *json, size_t len, BackupEntry *e)
{
	json_t *o = load(json, len);
	bool ok;

	if (o == NULL)
		return PGW_EINVAL;
	ok = i_get(o, "token", &e->token) &&
	     s_get(o, "node", e->node, sizeof(e->node), false) &&
	     s_get(o, "source_role", e->source_role, sizeof(e->source_role),
	           false) &&
	     s_get(o, "attempt_id", e->attempt_id, sizeof(e->attempt_id), false);
	json_decref(o);
	return ok ? 0 : PGW_EINVAL;
}

char *
bk_done_encode(const BackupEntry *e)
{
	return dump(json_pack("{s:I,s:s,s:s,s:s}", "token", (json_int_t) e->token,
	                      "node", e->node, "source_role", e->source_role,
	                      "attempt_id", e->attempt_id));
}

/* ---- reading them all --------------------------------------------------- */

static void
bad(BackupState *st, const char *key)
{
	size_t n = strlen(st->bad_keys);

	st->n_bad++;
	if (n + strlen(key) + 2 < sizeof(st->bad_keys))
		snprintf(st->bad_keys + n, sizeof(st->bad_keys) - n, "%s%s",
		         n ? "," : "", key);
}

int
bk_state_read(EtcdClient *c, const char *prefix, BackupState *out,
              char **config_json, PgwError *err)
{
	static const char *const names[] = {"lock",    "request", "demand",
	                                    "attempt", "stanza",  "state",
	                                    "gap",     "verify",  "nodes/"};
	char keys[PGW_LENGTHOF(names) + 1][PGW_PREFIX_MAX + 32];
	EtcdOp ops[PGW_LENGTHOF(names) + 1];
	EtcdTxnResult r = {0};
	size_t n_ops = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (config_json != NULL)
		*config_json = NULL;
	for (size_t i = 0; i < PGW_LENGTHOF(names); i++)
	{
		memset(&ops[n_ops], 0, sizeof(EtcdOp));
		ops[n_ops].kind = ETCD_OP_RANGE;
		ops[n_ops].key = bk_key(keys[n_ops], sizeof(keys[0]), prefix, names[i]);
		ops[n_ops].prefix = names[i][strlen(names[i]) - 1] == '/';
		n_ops++;
	}
	if (config_json != NULL)
	{
		memset(&ops[n_ops], 0, sizeof(EtcdOp));
		ops[n_ops].kind = ETCD_OP_RANGE;
		snprintf(keys[n_ops], sizeof(keys[0]), "%sconfig", prefix);
		ops[n_ops].key = keys[n_ops];
		n_ops++;
	}
	rc = etcd_txn(c, NULL, 0, ops, n_ops, NULL, 0, &r, err);
	if (rc != 0)
		return rc;
	out->revision = r.revision;
	for (size_t i = 0; i < r.n_responses && i < n_ops; i++)
	{
		const EtcdRangeResult *rr = &r.responses[i].range;

		for (size_t k = 0; k < rr->count; k++)
		{
			const EtcdKeyValue *kv = &rr->kvs[k];
			const char *v = kv->value;
			size_t vl = kv->value_len;

			if (i == PGW_LENGTHOF(names))
			{
				*config_json = pgw_xstrndup(v, vl);
				continue;
			}
			switch (i)
			{
				case 0:
					if (bk_lock_decode(v, vl, &out->lock) != 0)
						bad(out, "lock");
					out->lock.create_revision = kv->create_revision;
					out->lock.lease = kv->lease;
					/* a lock whose value is garbage still locks */
					out->lock.present = true;
					break;
				case 1:
					if (bk_request_decode(v, vl, &out->request) != 0)
						bad(out, "request");
					out->request.mod_revision = kv->mod_revision;
					break;
				case 2:
					if (bk_demand_decode(v, vl, &out->demand) != 0)
						bad(out, "demand");
					out->demand.mod_revision = kv->mod_revision;
					/* a bad demand is still deleted by the leader */
					out->demand.present = true;
					break;
				case 3:
					if (bk_attempt_decode(v, vl, &out->attempt) != 0)
						bad(out, "attempt");
					out->attempt.mod_revision = kv->mod_revision;
					break;
				case 4:
				{
					json_t *o = load(v, vl);

					out->has_stanza = o != NULL &&
					                  s_get(o, "name", out->stanza_name,
					                        sizeof(out->stanza_name), true) &&
					                  s_get(o, "system_id", out->stanza_sysid,
					                        sizeof(out->stanza_sysid), true);
					json_decref(o);
					if (!out->has_stanza)
						bad(out, "stanza");
					break;
				}
				case 5:
					if (bk_sched_decode(v, vl, out) != 0)
						bad(out, "state");
					out->state_mod_revision = kv->mod_revision;
					break;
				case 6:
					if (bk_gap_decode(v, vl, &out->gap) != 0)
						bad(out, "gap");
					break;
				case 7:
					if (bk_verify_decode(v, vl, &out->verify) != 0)
						bad(out, "verify");
					break;
				case 8:
				{
					const char *slash = strrchr(kv->key, '/');

					if (out->n_nodes < PGW_MEMBERS_MAX && slash != NULL &&
					    bk_node_decode(slash + 1, v, vl,
					                   &out->nodes[out->n_nodes]) == 0)
						out->n_nodes++;
					else
						bad(out, "nodes");
					break;
				}
			}
		}
	}
	etcd_txn_result_free(&r);
	return 0;
}

int
backup_state_read(EtcdClient *c, const char *prefix, BackupState *out,
                  PgwError *err)
{
	return bk_state_read(c, prefix, out, NULL, err);
}

int
backup_demand_put(EtcdClient *c, const char *prefix, const char *type,
                  const char *by, char *id_out, PgwError *err)
{
	BackupDemand d = {0};
	char *json;
	int rc;

	if (type != NULL && type[0] != '\0' && !type_ok(type))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid backup type \"%s\": expected full, diff or incr", type);
	bk_id_new("demand", d.id, sizeof(d.id));
	pgw_strlcpy(d.type, type ? type : "", sizeof(d.type));
	pgw_strlcpy(d.by, by ? by : "", sizeof(d.by));
	d.at_wall_ms = pgw_now_wall_ms();
	json = bk_demand_encode(&d);
	{
		/*
		 * One backup at a time: a demand is refused while another demand,
		 * a request or a running backup exists (crons on every node that
		 * fire in the same minute start one backup, not three).
		 */
		static const char *const busy[] = {"demand", "request", "lock"};
		char keys[3][PGW_PREFIX_MAX + 32];
		EtcdCompare cmp[3];
		EtcdOp put = {0};
		EtcdTxnResult r = {0};

		memset(cmp, 0, sizeof(cmp));
		for (int i = 0; i < 3; i++)
		{
			cmp[i].key = bk_key(keys[i], sizeof(keys[i]), prefix, busy[i]);
			cmp[i].target = ETCD_TARGET_CREATE;
			cmp[i].result = ETCD_CMP_EQUAL;
		}
		put.kind = ETCD_OP_PUT;
		put.key = keys[0];
		put.value = json;
		put.value_len = strlen(json);
		rc = etcd_txn(c, cmp, 3, &put, 1, NULL, 0, &r, err);
		if (rc == 0 && !r.succeeded)
			rc = pgw_error_set(
			    err, PGW_ECONFLICT,
			    "a backup is already pending or running (see `pgwardenctl backup list`): one at a time");
		etcd_txn_result_free(&r);
	}
	free(json);
	if (rc == 0 && id_out != NULL)
		pgw_strlcpy(id_out, d.id, BACKUP_ID_MAX);
	return rc;
}
