/*
 * dcs.c: DCS operations on top of the etcd client (consensus.h Part 3):
 * reading the whole cluster view, and the leader-key protocol of DESIGN.md
 * promise 5 (take by create_revision == 0, confirm and release only by
 * value compares), compare-and-swap writes and single-key reads. The key
 * layout and the view model are dcs_view.c's (pure, library pgw_dcs).
 */
#include "consensus/consensus.h"
#include "consensus/dcs_view_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	size_t plen = strlen(prefix);
	int rc;

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
		dcs_view_apply_kv(out, kv->key + plen, kv, false);
		if (raw_config && strcmp(kv->key + plen, "config") == 0)
			*raw_config = pgw_xstrdup(kv->value);
		else if (raw_history && strcmp(kv->key + plen, "history") == 0)
			*raw_history = pgw_xstrdup(kv->value);
	}
	etcd_range_result_free(&r);
	out->is_valid = true;
	return 0;
}

static int
txn_ok(EtcdClient *c, const EtcdCompare *cmp, size_t n_cmp, const EtcdOp *ops,
       size_t n_ops, bool *ok, PgwError *err)
{
	EtcdTxnResult tr = {0};
	int rc = etcd_txn(c, cmp, n_cmp, ops, n_ops, NULL, 0, &tr, err);

	*ok = rc == 0 && tr.succeeded;
	etcd_txn_result_free(&tr);
	return rc;
}

int
dcs_leader_acquire(EtcdClient *c, const char *prefix, const char *name,
                   int64_t lease, bool *won, char *holder, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp = {0};
	EtcdOp put = {0};
	EtcdOp get = {0};
	EtcdTxnResult tr = {0};
	int rc;

	*won = false;
	if (holder)
		holder[0] = '\0';
	if ((rc = dcs_key_join(prefix, "leader", key, sizeof(key), err)) != 0)
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
			                                             : PGW_NAME_MAX - 1),
			         kv->value);
	}
	etcd_txn_result_free(&tr);
	return 0;
}

int
dcs_leader_check(EtcdClient *c, const char *prefix, const char *name,
                 int64_t lease, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, key, name, lease);
	if ((rc = txn_ok(c, cmp, 2, NULL, 0, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(
		    err, PGW_ECONFLICT,
		    "leader key %s no longer holds \"%s\" on lease %llx", key, name,
		    (unsigned long long) lease);
	return 0;
}

int
dcs_leader_takeover(EtcdClient *c, const char *prefix, const char *name,
                    int64_t old_lease, int64_t new_lease, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp put = {0};
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, "leader", key, sizeof(key), err)) != 0)
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
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp del = {0};
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, key, name, 0); /* the value compare only */
	del.kind = ETCD_OP_DELETE;
	del.key = key;
	if ((rc = txn_ok(c, cmp, 1, &del, 1, &ok, err)) != 0)
		return rc;
	if (!ok)
		return pgw_error_set(
		    err, PGW_ECONFLICT,
		    "leader key %s does not hold \"%s\": nothing released", key, name);
	return 0;
}

/*
 * dcs_leader_release_owned: the leader key goes only while it holds name on
 * lease; otherwise the failure branch reads it, so the message says who
 * holds it (or that it is gone) and nothing was deleted.
 */
int
dcs_leader_release_owned(EtcdClient *c, const char *prefix, const char *name,
                         int64_t lease, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp del = {0};
	EtcdOp get = {0};
	EtcdTxnResult tr = {0};
	int rc;

	if ((rc = dcs_key_join(prefix, "leader", key, sizeof(key), err)) != 0)
		return rc;
	if (lease == 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "no lease given for the release of leader key %s",
		                     key);
	dcs_leader_compares(cmp, key, name, lease);
	del.kind = ETCD_OP_DELETE;
	del.key = key;
	get.kind = ETCD_OP_RANGE;
	get.key = key;
	if ((rc = etcd_txn(c, cmp, 2, &del, 1, &get, 1, &tr, err)) != 0)
		return rc;
	if (tr.succeeded)
		rc = 0;
	else if (tr.n_responses == 1 && tr.responses[0].range.count == 1)
	{
		const EtcdKeyValue *kv = &tr.responses[0].range.kvs[0];

		rc = pgw_error_set(
		    err, PGW_ECONFLICT,
		    "leader key %s holds \"%.*s\" on lease %llx, not \"%s\" on lease %llx: nothing released",
		    key,
		    (int) (kv->value_len < PGW_NAME_MAX ? kv->value_len : PGW_NAME_MAX),
		    kv->value, (unsigned long long) kv->lease, name,
		    (unsigned long long) lease);
	}
	else
		rc = pgw_error_set(err, PGW_ECONFLICT,
		                   "leader key %s does not exist: nothing released",
		                   key);
	etcd_txn_result_free(&tr);
	return rc;
}

int
dcs_leader_handover(EtcdClient *c, const char *prefix, const char *name,
                    const FailoverRequest *f, PgwError *err)
{
	char lkey[PGW_PREFIX_MAX + 16];
	char fkey[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[2];
	EtcdOp ops[2];
	char *json;
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, "leader", lkey, sizeof(lkey), err)) != 0 ||
	    (rc = dcs_key_join(prefix, "failover", fkey, sizeof(fkey), err)) != 0)
		return rc;
	dcs_leader_compares(cmp, lkey, name, 0); /* the value compare only */
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
		return pgw_error_set(
		    err, PGW_ECONFLICT,
		    "leader key %s does not hold \"%s\": nothing handed over", lkey,
		    name);
	return 0;
}

int
dcs_initialize_claim(EtcdClient *c, const char *prefix, bool *won,
                     PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp = {0};
	EtcdOp put = {0};
	int rc;

	*won = false;
	if ((rc = dcs_key_join(prefix, "initialize", key, sizeof(key), err)) != 0)
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
	char key[PGW_PREFIX_MAX + 16];
	int rc;

	if ((rc = dcs_key_join(prefix, "initialize", key, sizeof(key), err)) != 0)
		return rc;
	return etcd_put(c, key, sysid, strlen(sysid), 0, NULL, NULL, err);
}

int
dcs_member_publish(EtcdClient *c, const char *prefix, const MemberInfo *m,
                   int64_t lease, PgwError *err)
{
	char key[PGW_PREFIX_MAX + PGW_NAME_MAX + 16];
	char *json;
	int rc;

	if ((rc = dcs_key_join(prefix, "members/", key, sizeof(key), err)) != 0)
		return rc;
	if (strlen(key) + strlen(m->name) + 1 > sizeof(key))
		return pgw_error_set(err, PGW_EINVAL, "member name too long");
	memcpy(key + strlen(key), m->name, strlen(m->name) + 1);
	json = dcs_member_encode(m);
	rc = etcd_put(c, key, json, strlen(json), lease, NULL, NULL, err);
	free(json);
	return rc;
}

/*
 * guarded_txn: put key_suffix = value if the leader key holds name on lease
 * (and, when mod_revision >= 0, the key's mod_revision is mod_revision);
 * the failure branch reads the leader key back, so a refusal says whether
 * we lost the key (*lost) without another round trip.
 */
static int
guarded_txn(EtcdClient *c, const char *prefix, const char *name, int64_t lease,
            const char *key_suffix, const char *value, int64_t mod_revision,
            bool *lost, PgwError *err)
{
	char lkey[PGW_PREFIX_MAX + 16];
	char key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp[3];
	EtcdOp put = {0};
	EtcdOp rd = {0};
	EtcdTxnResult tr = {0};
	size_t n_cmp = 2;
	int rc;

	*lost = false;
	if ((rc = dcs_key_join(prefix, "leader", lkey, sizeof(lkey), err)) != 0 ||
	    (rc = dcs_key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
		return rc;
	memset(cmp, 0, sizeof(cmp));
	dcs_leader_compares(cmp, lkey, name, lease);
	if (mod_revision >= 0)
	{
		/* an absent key has mod_revision 0 */
		cmp[2].key = key;
		cmp[2].result = ETCD_CMP_EQUAL;
		cmp[2].target = ETCD_TARGET_MOD;
		cmp[2].number = mod_revision;
		n_cmp = 3;
	}
	put.kind = ETCD_OP_PUT;
	put.key = key;
	put.value = value;
	put.value_len = strlen(value);
	rd.kind = ETCD_OP_RANGE;
	rd.key = lkey;
	if ((rc = etcd_txn(c, cmp, n_cmp, &put, 1, &rd, 1, &tr, err)) != 0)
		return rc;
	if (tr.succeeded)
	{
		etcd_txn_result_free(&tr);
		return 0;
	}
	if (tr.n_responses == 1 && tr.responses[0].kind == ETCD_OP_RANGE)
	{
		const EtcdRangeResult *lr = &tr.responses[0].range;

		*lost = !(lr->count == 1 && strcmp(lr->kvs[0].value, name) == 0 &&
		          lr->kvs[0].lease == lease);
		if (*lost)
			rc = pgw_error_set(
			    err, PGW_ECONFLICT,
			    "\"%s\" does not hold the leader key on lease %llx (holder: \"%s\")",
			    name, (unsigned long long) lease,
			    lr->count == 1 ? lr->kvs[0].value : "");
	}
	etcd_txn_result_free(&tr);
	if (rc == 0)
		rc = pgw_error_set(
		    err, PGW_ECONFLICT,
		    "%s was changed by someone else (expected revision %lld)", key,
		    (long long) mod_revision);
	return rc;
}

int
dcs_leader_guarded_put(EtcdClient *c, const char *prefix, const char *name,
                       int64_t lease, const char *key_suffix, const char *value,
                       PgwError *err)
{
	bool lost;
	int rc =
	    guarded_txn(c, prefix, name, lease, key_suffix, value, -1, &lost, err);

	if (rc == PGW_ECONFLICT)
		pgw_error_prefix(err, "refused to write %s%s", prefix, key_suffix);
	return rc;
}

int
dcs_leader_guarded_cas(EtcdClient *c, const char *prefix, const char *name,
                       int64_t lease, const char *key_suffix, const char *value,
                       int64_t mod_revision, bool *lost_leadership,
                       PgwError *err)
{
	return guarded_txn(c, prefix, name, lease, key_suffix, value,
	                   mod_revision < 0 ? 0 : mod_revision, lost_leadership,
	                   err);
}

int
dcs_cas_put(EtcdClient *c, const char *prefix, const char *key_suffix,
            const char *value, int64_t mod_revision, PgwError *err)
{
	return dcs_cas_put_rev(c, prefix, key_suffix, value, mod_revision, NULL,
	                       err);
}

int
dcs_cas_put_rev(EtcdClient *c, const char *prefix, const char *key_suffix,
                const char *value, int64_t mod_revision, int64_t *new_revision,
                PgwError *err)
{
	char key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp = {0};
	EtcdOp put = {0};
	EtcdTxnResult tr = {0};
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
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
		return pgw_error_set(
		    err, PGW_ECONFLICT,
		    "%s was changed by someone else (expected revision %lld)", key,
		    (long long) mod_revision);
	return 0;
}

int
dcs_cas_delete(EtcdClient *c, const char *prefix, const char *key_suffix,
               int64_t mod_revision, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp = {0};
	EtcdOp del = {0};
	bool ok;
	int rc;

	if ((rc = dcs_key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
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
		return pgw_error_set(
		    err, PGW_ECONFLICT,
		    "%s was changed by someone else (expected revision %lld)", key,
		    (long long) mod_revision);
	return 0;
}

int
dcs_key_read(EtcdClient *c, const char *prefix, const char *key_suffix,
             char **value, size_t *value_len, int64_t *mod_revision,
             PgwError *err)
{
	char key[PGW_PREFIX_MAX + 128];
	EtcdRangeResult r = {0};
	int rc;

	*value = NULL;
	if (value_len)
		*value_len = 0;
	if (mod_revision)
		*mod_revision = 0;
	if ((rc = dcs_key_join(prefix, key_suffix, key, sizeof(key), err)) != 0)
		return rc;
	if ((rc = etcd_range(c, key, false, 0, false, &r, err)) != 0)
		return rc;
	if (r.count > 0)
	{
		*value = pgw_xstrndup(r.kvs[0].value, r.kvs[0].value_len);
		if (value_len)
			*value_len = r.kvs[0].value_len;
		if (mod_revision)
			*mod_revision = r.kvs[0].mod_revision;
	}
	etcd_range_result_free(&r);
	return 0;
}
