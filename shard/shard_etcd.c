/*
 * shard_etcd.c: the shard map and move records in etcd (shard.h), and the
 * groups under <namespace>/<scope>/<group>/ (Patroni's Citus layout). The
 * map is written only by compare-and-swap on its mod_revision, so two
 * operators (or two drivers) can never both change the version they read.
 */
#include "shard/shard.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
shard_map_read(EtcdClient *c, const char *scope_prefix, ShardMap *out,
               PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdRangeResult r = {0};
	int rc;

	snprintf(key, sizeof(key), "%s%s", scope_prefix, SHARD_KEY);
	if ((rc = etcd_range(c, key, false, 0, false, &r, err)) != 0)
		return rc;
	if (r.count == 0)
	{
		etcd_range_result_free(&r);
		return pgw_error_set(err, PGW_ENOTFOUND,
		                     "no shard map at %s (run pgwardenctl shard init)",
		                     key);
	}
	rc = shard_map_decode(r.kvs[0].value, r.kvs[0].value_len, out, err);
	if (rc == 0)
		out->mod_revision = r.kvs[0].mod_revision;
	else
		pgw_error_prefix(err, "the shard map at %s does not decode", key);
	etcd_range_result_free(&r);
	return rc;
}

int
shard_map_cas(EtcdClient *c, const char *scope_prefix, const ShardMap *m,
              int64_t expect_mod_rev, const ShardExtraPut *extra,
              int64_t *new_mod_rev, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 16];
	char xkey[PGW_PREFIX_MAX + 128];
	EtcdCompare cmp[2];
	EtcdOp ops[2];
	EtcdTxnResult tr = {0};
	char *value;
	size_t n_cmp = 1;
	size_t n_ops = 1;
	int rc;

	if ((rc = shard_map_validate(m, err)) != 0)
		return rc;
	snprintf(key, sizeof(key), "%s%s", scope_prefix, SHARD_KEY);
	value = shard_map_encode(m);
	memset(cmp, 0, sizeof(cmp));
	memset(ops, 0, sizeof(ops));
	cmp[0].key = key;
	cmp[0].result = ETCD_CMP_EQUAL;
	cmp[0].target = expect_mod_rev == 0 ? ETCD_TARGET_CREATE : ETCD_TARGET_MOD;
	cmp[0].number = expect_mod_rev;
	ops[0].kind = ETCD_OP_PUT;
	ops[0].key = key;
	ops[0].value = value;
	ops[0].value_len = strlen(value);
	if (extra)
	{
		snprintf(xkey, sizeof(xkey), "%s%s", scope_prefix, extra->key_suffix);
		cmp[1].key = xkey;
		cmp[1].result = ETCD_CMP_EQUAL;
		cmp[1].target = extra->create ? ETCD_TARGET_CREATE : ETCD_TARGET_MOD;
		cmp[1].number = extra->create ? 0 : extra->mod_revision;
		ops[1].kind = ETCD_OP_PUT;
		ops[1].key = xkey;
		ops[1].value = extra->value;
		ops[1].value_len = strlen(extra->value);
		n_cmp = n_ops = 2;
	}
	rc = etcd_txn(c, cmp, n_cmp, ops, n_ops, NULL, 0, &tr, err);
	free(value);
	if (rc != 0)
		return rc;
	if (!tr.succeeded)
		rc = pgw_error_set(
		    err, PGW_ECONFLICT,
		    "the shard map (or the move record) changed since it was read: read it again and retry");
	else if (new_mod_rev)
		*new_mod_rev = tr.revision;
	etcd_txn_result_free(&tr);
	return rc;
}

int
shard_move_read(EtcdClient *c, const char *scope_prefix, const char *id,
                ShardMove *out, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 64];
	EtcdRangeResult r = {0};
	int rc;

	if (!shard_move_id_ok(id))
		return pgw_error_set(err, PGW_EINVAL, "move id \"%s\" is not valid",
		                     id);
	snprintf(key, sizeof(key), "%s%s%s", scope_prefix, SHARD_MOVES_KEY, id);
	if ((rc = etcd_range(c, key, false, 0, false, &r, err)) != 0)
		return rc;
	if (r.count == 0)
		rc = pgw_error_set(err, PGW_ENOTFOUND, "no move \"%s\" (%s)", id, key);
	else if ((rc = shard_move_decode(r.kvs[0].value, r.kvs[0].value_len, out,
	                                 err)) == 0)
		out->mod_revision = r.kvs[0].mod_revision;
	etcd_range_result_free(&r);
	return rc;
}

int
shard_move_write(EtcdClient *c, const char *scope_prefix, ShardMove *m,
                 PgwError *err)
{
	char suffix[64];
	char *value;
	int64_t rev = 0;
	int rc;

	snprintf(suffix, sizeof(suffix), "%s%s", SHARD_MOVES_KEY, m->id);
	value = shard_move_encode(m);
	rc = dcs_cas_put_rev(c, scope_prefix, suffix, value, m->mod_revision, &rev,
	                     err);
	free(value);
	if (rc == 0)
		m->mod_revision = rev;
	return rc;
}

static int
cmp_move(const void *a, const void *b)
{
	return strcmp(((const ShardMove *) a)->id, ((const ShardMove *) b)->id);
}

int
shard_move_list(EtcdClient *c, const char *scope_prefix, ShardMove **out,
                int *n, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(key, sizeof(key), "%s%s", scope_prefix, SHARD_MOVES_KEY);
	if ((rc = etcd_range(c, key, true, 0, false, &r, err)) != 0)
		return rc;
	*out = pgw_xcalloc(r.count + 1, sizeof(ShardMove));
	for (size_t i = 0; i < r.count; i++)
	{
		PgwError e2 = {0};

		/* a record that does not decode is skipped here; move --resume
		 * names it with the reason */
		if (shard_move_decode(r.kvs[i].value, r.kvs[i].value_len, &(*out)[*n],
		                      &e2) == 0)
		{
			(*out)[*n].mod_revision = r.kvs[i].mod_revision;
			(*n)++;
		}
	}
	etcd_range_result_free(&r);
	qsort(*out, (size_t) *n, sizeof(ShardMove), cmp_move);
	return 0;
}

void
shard_group_prefix(const char *scope_prefix, int group, char *out, size_t len)
{
	snprintf(out, len, "%s%d/", scope_prefix, group);
}

int
shard_group_read(EtcdClient *c, const char *scope_prefix, int group,
                 ShardGroupInfo *out, PgwError *err)
{
	char prefix[PGW_PREFIX_MAX + 16];
	EtcdRangeResult r = {0};
	size_t plen;
	int rc;

	memset(out, 0, sizeof(*out));
	out->group = group;
	shard_group_prefix(scope_prefix, group, prefix, sizeof(prefix));
	plen = strlen(prefix);
	if ((rc = etcd_range(c, prefix, true, 0, false, &r, err)) != 0)
		return rc;
	out->exists = r.count > 0;
	for (size_t i = 0; i < r.count; i++)
	{
		const EtcdKeyValue *kv = &r.kvs[i];
		const char *suffix = kv->key + plen;

		if (kv->key_len <= plen)
			continue;
		if (strcmp(suffix, "leader") == 0 && kv->value_len > 0 &&
		    kv->value_len < sizeof(out->leader))
		{
			out->has_leader = true;
			pgw_strlcpy(out->leader, kv->value, sizeof(out->leader));
		}
		else if (strcmp(suffix, ROUTING_KEY) == 0)
		{
			PgwError e2 = {0};

			out->has_routing = routing_table_decode(kv->value, kv->value_len,
			                                        &out->routing, &e2) == 0;
		}
		else if (strncmp(suffix, "members/", 8) == 0)
			out->n_members++;
	}
	etcd_range_result_free(&r);
	return 0;
}

int
shard_groups_list(EtcdClient *c, const char *scope_prefix, int *groups, int max,
                  int *n, PgwError *err)
{
	EtcdRangeResult r = {0};
	size_t plen = strlen(scope_prefix);
	int rc;

	*n = 0;
	/* keys only would do; the values of a scope are small */
	if ((rc = etcd_range(c, scope_prefix, true, 0, false, &r, err)) != 0)
		return rc;
	for (size_t i = 0; i < r.count; i++)
	{
		const char *k = r.kvs[i].key;
		const char *p;
		int64_t g;
		char num[8];
		size_t len;
		int j;

		if (r.kvs[i].key_len <= plen)
			continue;
		k += plen;
		for (p = k; isdigit((unsigned char) *p); p++)
			;
		len = (size_t) (p - k);
		if (*p != '/' || len == 0 || len >= sizeof(num))
			continue;
		memcpy(num, k, len);
		num[len] = '\0';
		if (pgw_parse_int64(num, 0, SHARD_GROUP_MAX, &g) != 0)
			continue;
		for (j = 0; j < *n && groups[j] != g; j++)
			;
		if (j < *n || *n == max)
			continue;
		for (j = *n; j > 0 && groups[j - 1] > g; j--)
			groups[j] = groups[j - 1];
		groups[j] = (int) g;
		(*n)++;
	}
	etcd_range_result_free(&r);
	return 0;
}
