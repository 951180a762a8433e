/*
 * dcs.c: DCS operations on top of the etcd client (consensus.h Part 3): the
 * Patroni-compatible key layout under <namespace>/<scope>/, reading the whole
 * cluster view, and the leader-key protocol of DESIGN.md promise 5 (take by
 * create_revision == 0, confirm and release only by value compares).
 */
#include "consensus/consensus.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
dcs_prefix_build(const char *namespace_, const char *scope, char *out,
				 size_t len, PgwError *err)
{
	const char *ns = namespace_ ? namespace_ : "/service";
	size_t		ns_len;
	int			n;

	if (scope == NULL || scope[0] == '\0' || strchr(scope, '/') != NULL)
		return pgw_error_set(err, PGW_EINVAL,
							 "invalid scope \"%s\": must be non-empty and hold no '/'",
							 scope ? scope : "");
	while (*ns == '/')
		ns++;
	ns_len = strlen(ns);
	while (ns_len > 0 && ns[ns_len - 1] == '/')
		ns_len--;
	if (ns_len == 0)
		n = snprintf(out, len, "/%s/", scope);
	else
		n = snprintf(out, len, "/%.*s/%s/", (int) ns_len, ns, scope);
	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL, "key prefix for scope \"%s\" is too long",
							 scope);
	return 0;
}

static int
key_join(const char *prefix, const char *suffix, char *out, size_t len,
		 PgwError *err)
{
	int			n = snprintf(out, len, "%s%s", prefix, suffix);

	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL, "key \"%s%s\" is too long", prefix,
							 suffix);
	return 0;
}

static void
note_bad_value(ClusterView *v, const char *suffix)
{
	size_t		used = strlen(v->bad_value_keys);

	v->n_bad_values++;
	if (used + strlen(suffix) + 2 < sizeof(v->bad_value_keys))
		snprintf(v->bad_value_keys + used, sizeof(v->bad_value_keys) - used,
				 "%s%s", used ? "," : "", suffix);
}

/*
 * shown_name: a member key's name as the view holds it. A name with control
 * characters (refused by dcs_member_decode, so never acted on) is kept with
 * '?' in their place: it is listed, and never printed as it is (security
 * review F10: a newline in a key forged log lines).
 */
static void
shown_name(const char *name, char *out, size_t len)
{
	pgw_strlcpy(out, name, len);
	for (char *p = out; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
member_remove(ClusterView *v, const char *raw)
{
	char		name[PGW_NAME_MAX];

	shown_name(raw, name, sizeof(name));
	for (int i = 0; i < v->n_members; i++)
	{
		if (strcmp(v->members[i].name, name) == 0)
		{
			memmove(&v->members[i], &v->members[i + 1],
					sizeof(MemberInfo) * (size_t) (v->n_members - i - 1));
			v->n_members--;
			return;
		}
	}
}

static void
member_put(ClusterView *v, const char *name, const EtcdKeyValue *kv)
{
	MemberInfo	m;
	PgwError	err = {0};
	int			slot = -1;
	char		shown[PGW_NAME_MAX];

	if (strlen(name) >= PGW_NAME_MAX || name[0] == '\0')
		return;
	shown_name(name, shown, sizeof(shown));
	memset(&m, 0, sizeof(m));
	if (dcs_member_decode(name, kv->value, kv->value_len, &m, &err) != 0)
	{
		memset(&m, 0, sizeof(m));
		pgw_strlcpy(m.name, shown, sizeof(m.name));
		m.is_valid = false;
		pgw_strlcpy(m.parse_error, err.msg, sizeof(m.parse_error));
	}
	else
		m.is_valid = true;
	m.mod_revision = kv->mod_revision;
	m.lease = kv->lease;
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, shown) == 0)
			slot = i;
	if (slot < 0)
	{
		if (v->n_members >= PGW_MEMBERS_MAX)
			return;
		slot = v->n_members++;
	}
	v->members[slot] = m;
}

/* optime from the `status` key: {"optime": N, ...}; tolerant of garbage. */
static uint64_t
status_optime(const char *value, size_t len)
{
	const char *p = memmem(value, len, "\"optime\"", 8);
	uint64_t	v = 0;

	if (p == NULL)
		return 0;
	p += 8;
	while (p < value + len && (*p == ':' || *p == ' '))
		p++;
	while (p < value + len && *p >= '0' && *p <= '9')
	{
		v = v * 10 + (uint64_t) (*p - '0');
		p++;
	}
	return v;
}

static int
history_last_timeline(const char *value, size_t len, bool *ok)
{
	HistoryEntry *entries = NULL;
	int			n = 0;
	int			tl = 0;

	*ok = dcs_history_decode(value, len, &entries, &n, NULL) == 0;
	if (*ok)
	{
		for (int i = 0; i < n; i++)
			if (entries[i].timeline > tl)
				tl = entries[i].timeline;
	}
	free(entries);
	return tl;
}

/* A decoder of one key's JSON value into *out (see consensus.h Part 2). */
typedef int (*ValueDecodeFn) (const char *value, size_t len, void *out,
							  PgwError *err);

static int
decode_failsafe(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_failsafe_decode(value, len, out, err);
}

static int
decode_failover(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_failover_decode(value, len, out, err);
}

static int
decode_sync(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_sync_decode(value, len, out, err);
}

/*
 * decode_or_clear: *out (size bytes) becomes the decoded value of kv, or all
 * zero when the key is deleted or holds garbage (noted once per value, so
 * the loop carries on with "no request" rather than a half-decoded one).
 * True when a value was decoded.
 */
static bool
decode_or_clear(ClusterView *v, const char *suffix, const EtcdKeyValue *kv,
				bool deleted, ValueDecodeFn decode, void *out, size_t size)
{
	PgwError	err = {0};

	memset(out, 0, size);
	if (deleted)
		return false;
	if (decode(kv->value, kv->value_len, out, &err) == 0)
		return true;
	memset(out, 0, size);
	note_bad_value(v, suffix);
	return false;
}

/*
 * apply_kv: fold one key into the view. Returns true for keys that should
 * wake the loop (leader, config, failover, sync, initialize).
 */
static bool
apply_kv(ClusterView *v, const char *suffix, const EtcdKeyValue *kv,
		 bool deleted)
{
	PgwError	err = {0};

	if (strncmp(suffix, "members/", 8) == 0)
	{
		if (deleted)
			member_remove(v, suffix + 8);
		else
			member_put(v, suffix + 8, kv);
		return false;
	}
	if (strcmp(suffix, "leader") == 0)
	{
		v->has_leader = !deleted;
		v->leader[0] = '\0';
		v->leader_lease = deleted ? 0 : kv->lease;
		v->leader_mod_revision = deleted ? 0 : kv->mod_revision;
		if (!deleted)
		{
			if (kv->value_len == 0 || kv->value_len >= PGW_NAME_MAX ||
				memchr(kv->value, '\0', kv->value_len) != NULL)
			{
				/* a leader we cannot name still blocks elections */
				pgw_strlcpy(v->leader, "?", sizeof(v->leader));
				note_bad_value(v, suffix);
			}
			else
				pgw_strlcpy(v->leader, kv->value, sizeof(v->leader));
		}
		return true;
	}
	if (strcmp(suffix, "initialize") == 0)
	{
		v->has_initialize = !deleted;
		v->initialize[0] = '\0';
		if (!deleted && kv->value_len < sizeof(v->initialize))
			pgw_strlcpy(v->initialize, kv->value, sizeof(v->initialize));
		else if (!deleted)
			note_bad_value(v, suffix);
		return true;
	}
	if (strcmp(suffix, "config") == 0)
	{
		v->has_config = !deleted;
		dcs_config_defaults(&v->config);
		v->config_is_valid = true;
		if (!deleted)
		{
			DynamicConfig cfg;

			if (dcs_config_decode(kv->value, kv->value_len, &cfg, &err) == 0 &&
				dcs_config_validate(&cfg, &err) == 0)
			{
				v->config = cfg;
				v->config.mod_revision = kv->mod_revision;
			}
			else
			{
				v->config_is_valid = false;
				v->config.mod_revision = kv->mod_revision;
				note_bad_value(v, suffix);
			}
		}
		return true;
	}
	if (strcmp(suffix, "failover") == 0)
	{
		if (decode_or_clear(v, suffix, kv, deleted, decode_failover, &v->failover,
							sizeof(v->failover)))
		{
			v->failover.present = true;
			v->failover.mod_revision = kv->mod_revision;
		}
		return true;
	}
	if (strcmp(suffix, "sync") == 0)
	{
		if (decode_or_clear(v, suffix, kv, deleted, decode_sync, &v->sync,
							sizeof(v->sync)))
		{
			v->sync.present = true;
			v->sync.mod_revision = kv->mod_revision;
		}
		return true;
	}
	if (strcmp(suffix, "failsafe") == 0)
	{
		(void) decode_or_clear(v, suffix, kv, deleted, decode_failsafe,
							   &v->failsafe, sizeof(v->failsafe));
		return true;
	}
	if (strcmp(suffix, "status") == 0)
	{
		v->leader_optime = deleted ? 0 : status_optime(kv->value, kv->value_len);
		return false;
	}
	if (strcmp(suffix, "history") == 0)
	{
		bool		ok = true;

		v->last_history_timeline =
			deleted ? 0 : history_last_timeline(kv->value, kv->value_len, &ok);
		if (!ok)
			note_bad_value(v, suffix);
		return false;
	}
	return false;
}

int
dcs_view_read(EtcdClient *c, const char *prefix, bool linearizable,
			  ClusterView *out, PgwError *err)
{
	return dcs_view_read_raw(c, prefix, linearizable, out, NULL, NULL, err);
}

int
dcs_view_read_raw(EtcdClient *c, const char *prefix, bool linearizable,
				  ClusterView *out, char **raw_config, char **raw_history,
				  PgwError *err)
{
	EtcdRangeResult r = {0};
	size_t		plen = strlen(prefix);
	int			rc;

	if (raw_config)
		*raw_config = NULL;
	if (raw_history)
		*raw_history = NULL;
	memset(out, 0, sizeof(*out));
	dcs_config_defaults(&out->config);
	out->config_is_valid = true;
	rc = etcd_range(c, prefix, true, 0, !linearizable, &r, err);
	if (rc != 0)
		return rc;
	out->revision = r.revision;
	for (size_t i = 0; i < r.count; i++)
	{
		const EtcdKeyValue *kv = &r.kvs[i];

		if (kv->key_len <= plen || memcmp(kv->key, prefix, plen) != 0)
			continue;
		apply_kv(out, kv->key + plen, kv, false);
		if (raw_config && strcmp(kv->key + plen, "config") == 0)
			*raw_config = pgw_xstrdup(kv->value);
		else if (raw_history && strcmp(kv->key + plen, "history") == 0)
			*raw_history = pgw_xstrdup(kv->value);
	}
	etcd_range_result_free(&r);
	out->is_valid = true;
	return 0;
}

bool
dcs_view_apply_event(ClusterView *v, const char *prefix, const EtcdEvent *ev)
{
	size_t		plen = strlen(prefix);

	if (ev->type != ETCD_EVENT_WATCH_PUT && ev->type != ETCD_EVENT_WATCH_DELETE)
		return false;
	if (ev->kv.key == NULL || ev->kv.key_len <= plen ||
		memcmp(ev->kv.key, prefix, plen) != 0)
		return false;
	if (ev->revision > v->revision)
		v->revision = ev->revision;
	return apply_kv(v, ev->kv.key + plen, &ev->kv,
					ev->type == ETCD_EVENT_WATCH_DELETE);
}

/*
 * dcs_leader_compares: the two compares every leader-only write carries:
 * the leader key holds name, on lease (promise 5: never a blind write).
 */
void
dcs_leader_compares(EtcdCompare cmp[2], const char *leader_key,
					const char *name, int64_t lease)
{
	memset(cmp, 0, 2 * sizeof(EtcdCompare));
	cmp[0].key = leader_key;
	cmp[0].result = ETCD_CMP_EQUAL;
	cmp[0].target = ETCD_TARGET_VALUE;
	cmp[0].value = name;
	cmp[0].value_len = strlen(name);
	cmp[1].key = leader_key;
	cmp[1].result = ETCD_CMP_EQUAL;
	cmp[1].target = ETCD_TARGET_LEASE;
	cmp[1].number = lease;
}

/* txn_ok: run a txn whose responses we do not need; *ok = compares held */
static int
txn_ok(EtcdClient *c, const EtcdCompare *cmp, size_t n_cmp, const EtcdOp *ops,
	   size_t n_ops, bool *ok, PgwError *err)
{
	EtcdTxnResult tr = {0};
	int			rc = etcd_txn(c, cmp, n_cmp, ops, n_ops, NULL, 0, &tr, err);

	*ok = rc == 0 && tr.succeeded;
	etcd_txn_result_free(&tr);
	return rc;
}

int
dcs_leader_acquire(EtcdClient *c, const char *prefix, const char *name,
				   int64_t lease, bool *won, char *holder, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp = {0};
	EtcdOp		put = {0};
	EtcdOp		get = {0};
	EtcdTxnResult tr = {0};
	int			rc;

	*won = false;
	if (holder)
		holder[0] = '\0';
	if ((rc = key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	cmp.key = key;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.target = ETCD_TARGET_CREATE;
	cmp.number = 0;
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = name;
	put.value_len = strlen(name);
	put.lease = lease;
	get.kind = ETCD_OP_RANGE;
	get.key = key;
	rc = etcd_txn(c, &cmp, 1, &put, 1, &get, 1, &tr, err);
	if (rc != 0)
		return rc;
	if (tr.succeeded)
	{
		*won = true;
		if (holder)
			pgw_strlcpy(holder, name, PGW_NAME_MAX);
	}
	else if (tr.n_responses == 1 && tr.responses[0].range.count == 1)
	{
		const EtcdKeyValue *kv = &tr.responses[0].range.kvs[0];

		/*
		 * An earlier attempt of ours may have succeeded although its answer
		 * was lost (ambiguous timeout): it is ours if name and lease match.
		 */
		if (kv->value_len == strlen(name) &&
			memcmp(kv->value, name, kv->value_len) == 0 && kv->lease == lease)
			*won = true;
		if (holder)
			snprintf(holder, PGW_NAME_MAX, "%.*s",
					 (int) (kv->value_len < PGW_NAME_MAX ? kv->value_len
							: PGW_NAME_MAX - 1), kv->value);
	}
	etcd_txn_result_free(&tr);
	return 0;
}

int
dcs_leader_check(EtcdClient *c, const char *prefix, const char *name,
				 int64_t lease, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, key, name, lease);
	if ((rc = txn_ok(c, cmp, 2, NULL, 0, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "leader key %s no longer holds \"%s\" on lease %llx",
							 key, name, (unsigned long long) lease);
	return 0;
}

int
dcs_leader_takeover(EtcdClient *c, const char *prefix, const char *name,
					int64_t old_lease, int64_t new_lease, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp		put = {0};
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, key, name, old_lease);
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = name;
	put.value_len = strlen(name);
	put.lease = new_lease;
	if ((rc = txn_ok(c, cmp, 2, &put, 1, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "leader key %s is no longer \"%s\" on lease %llx",
							 key, name, (unsigned long long) old_lease);
	return 0;
}

int
dcs_leader_release(EtcdClient *c, const char *prefix, const char *name,
				   PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp		del = {0};
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, key, name, 0);	/* the value compare only */
	del.kind = ETCD_OP_DELETE;
	del.key = key;
	if ((rc = txn_ok(c, cmp, 1, &del, 1, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "leader key %s does not hold \"%s\": nothing released",
							 key, name);
	return 0;
}

int
dcs_leader_handover(EtcdClient *c, const char *prefix, const char *name,
					const FailoverRequest *f, PgwError *err)
{
	char		lkey[PGW_PREFIX_MAX + 16];
	char		fkey[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp		ops[2];
	char	   *json;
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, "leader", lkey, sizeof(lkey), err)) != 0 ||
		(rc = key_join(prefix, "failover", fkey, sizeof(fkey), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, lkey, name, 0);	/* the value compare only */
	json = dcs_failover_encode(f);
	memset(ops, 0, sizeof(ops));
	ops[0].kind = ETCD_OP_DELETE;
	ops[0].key = lkey;
	ops[1].kind = ETCD_OP_PUT;
	ops[1].key = fkey;
	ops[1].value = json;
	ops[1].value_len = strlen(json);
	rc = txn_ok(c, cmp, 1, ops, 2, &ok, err);
	free(json);
	if (rc != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "leader key %s does not hold \"%s\": nothing handed over",
							 lkey, name);
	return 0;
}

int
dcs_initialize_claim(EtcdClient *c, const char *prefix, bool *won,
					 PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp = {0};
	EtcdOp		put = {0};
	int			rc;

	*won = false;
	if ((rc = key_join(prefix, "initialize", key, sizeof(key), err)) != 0)
		return rc;
	cmp.key = key;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.target = ETCD_TARGET_CREATE;
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = "";
	put.value_len = 0;
	return txn_ok(c, &cmp, 1, &put, 1, won, err);
}

int
dcs_initialize_set(EtcdClient *c, const char *prefix, const char *sysid,
				   PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	int			rc;

	if ((rc = key_join(prefix, "initialize", key, sizeof(key), err)) != 0)
		return rc;
	return etcd_put(c, key, sysid, strlen(sysid), 0, NULL, NULL, err);
}

int
dcs_member_publish(EtcdClient *c, const char *prefix, const MemberInfo *m,
				   int64_t lease, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + PGW_NAME_MAX + 16];
	char	   *json;
	int			rc;

	if ((rc = key_join(prefix, "members/", key, sizeof(key), err)) != 0)
		return rc;
	if (strlen(key) + strlen(m->name) + 1 > sizeof(key))
		return pgw_error_set(err, PGW_EINVAL, "member name too long");
	memcpy(key + strlen(key), m->name, strlen(m->name) + 1);
	json = dcs_member_encode(m);
	rc = etcd_put(c, key, json, strlen(json), lease, NULL, NULL, err);
	free(json);
	return rc;
}

int
dcs_leader_guarded_put(EtcdClient *c, const char *prefix, const char *name,
					   int64_t lease, const char *key_suffix, const char *value,
					   PgwError *err)
{
	char		lkey[PGW_PREFIX_MAX + 16];
	char		key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp[2];
	EtcdOp		put = {0};
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, "leader", lkey, sizeof(lkey), err)) != 0 ||
		(rc = key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, lkey, name, lease);
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = value;
	put.value_len = strlen(value);
	if ((rc = txn_ok(c, cmp, 2, &put, 1, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "refused to write %s: \"%s\" no longer holds the leader key",
							 key, name);
	return 0;
}

int
dcs_cas_put(EtcdClient *c, const char *prefix, const char *key_suffix,
			const char *value, int64_t mod_revision, PgwError *err)
{
	return dcs_cas_put_rev(c, prefix, key_suffix, value, mod_revision, NULL, err);
}

int
dcs_cas_put_rev(EtcdClient *c, const char *prefix, const char *key_suffix,
				const char *value, int64_t mod_revision, int64_t *new_revision,
				PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp = {0};
	EtcdOp		put = {0};
	EtcdTxnResult tr = {0};
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
		return rc;
	cmp.key = key;
	cmp.result = ETCD_CMP_EQUAL;
	/* 0: only if the key does not exist yet */
	cmp.target = mod_revision == 0 ? ETCD_TARGET_CREATE : ETCD_TARGET_MOD;
	cmp.number = mod_revision;
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = value;
	put.value_len = strlen(value);
	rc = etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &tr, err);
	ok = rc == 0 && tr.succeeded;
	if (ok && new_revision)
		*new_revision = tr.revision;
	etcd_txn_result_free(&tr);
	if (rc != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "%s was changed by someone else (expected revision %lld)",
							 key, (long long) mod_revision);
	return 0;
}

int
dcs_cas_delete(EtcdClient *c, const char *prefix, const char *key_suffix,
			   int64_t mod_revision, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp = {0};
	EtcdOp		del = {0};
	bool		ok;
	int			rc;

	if ((rc = key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
		return rc;
	if (mod_revision == 0)
		return etcd_delete(c, key, false, NULL, err);
	cmp.key = key;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.target = ETCD_TARGET_MOD;
	cmp.number = mod_revision;
	del.kind = ETCD_OP_DELETE;
	del.key = key;
	if ((rc = txn_ok(c, &cmp, 1, &del, 1, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(err, PGW_ECONFLICT,
							 "%s was changed by someone else (expected revision %lld)",
							 key, (long long) mod_revision);
	return 0;
}
