/*
 * publish.c: the leader side of routing (notes R1, "fence first, then
 * point"): read and publish the `routing` key by a txn guarded by the leader
 * key and the epoch, and read the routers' acknowledgements under
 * routing/acks/ (DESIGN.md "etcd keys").
 */
#include "routing/routing.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
key_join(const char *prefix, const char *suffix, char *out, size_t len,
		 PgwError *err)
{
	int			n = snprintf(out, len, "%s%s", prefix, suffix);

	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL, "key %s%s is too long", prefix,
							 suffix);
	return 0;
}

int
routing_table_read(EtcdClient *c, const char *prefix, RoutingTable *out,
				   int64_t *mod_revision, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdRangeResult r = {0};
	int			rc;

	if (mod_revision)
		*mod_revision = 0;
	if ((rc = key_join(prefix, ROUTING_KEY, key, sizeof(key), err)) != 0)
		return rc;
	if ((rc = etcd_range(c, key, false, 0, false, &r, err)) != 0)
		return rc;
	if (r.count == 0)
	{
		etcd_range_result_free(&r);
		return pgw_error_set(err, PGW_ENOTFOUND, "%s does not exist", key);
	}
	if (mod_revision)
		*mod_revision = r.kvs[0].mod_revision;
	rc = routing_table_decode(r.kvs[0].value, r.kvs[0].value_len, out, err);
	if (rc != 0)
		pgw_error_prefix(err, "bad value in %s", key);
	etcd_range_result_free(&r);
	return rc;
}

/*
 * routing_publish: see routing.h. The txn's failure branch reads the leader
 * key back, so a refusal names its cause without another round trip.
 *
 * Why the mod_revision compare: etcd cannot compare a number inside a JSON
 * value. We read the key, check stored epoch < ours, and make the write
 * conditional on the key being unchanged since that read; any concurrent
 * writer (a new leader's higher epoch) moves mod_revision and fails us.
 */
int
routing_publish(EtcdClient *c, const char *prefix, const char *leader_name,
				int64_t lease, const RoutingTable *t, int64_t *published_epoch,
				PgwError *err)
{
	char		lkey[PGW_PREFIX_MAX + 16];
	char		rkey[PGW_PREFIX_MAX + 16];
	RoutingTable *mine = NULL;
	int			rc;

	if (published_epoch)
		*published_epoch = 0;
	if (t->epoch < 0)
		return pgw_error_set(err, PGW_EINVAL, "negative routing epoch");
	if (t->leader[0] != '\0' && strcmp(t->leader, leader_name) != 0)
		return pgw_error_set(err, PGW_EINVAL,
							 "table names leader \"%s\", publisher is \"%s\"",
							 t->leader, leader_name);
	if (t->state == ROUTING_STATE_SERVING && !t->has_primary)
		return pgw_error_set(err, PGW_EINVAL,
							 "a serving table needs a primary");
	if (t->state == ROUTING_STATE_FENCED && t->has_primary)
		return pgw_error_set(err, PGW_EINVAL,
							 "a fenced table cannot name a primary");
	if ((rc = key_join(prefix, "leader", lkey, sizeof(lkey), err)) != 0 ||
		(rc = key_join(prefix, ROUTING_KEY, rkey, sizeof(rkey), err)) != 0)
		return rc;
	mine = calloc(1, sizeof(*mine));
	if (mine == NULL)
		return pgw_error_set(err, PGW_EIO, "out of memory");
	for (int attempt = 0; attempt < 3; attempt++)
	{
		RoutingTable *stored = calloc(1, sizeof(*stored));
		int64_t		mod = 0;
		int64_t		stored_epoch = 0;
		EtcdCompare cmp[3];
		EtcdOp		put = {0};
		EtcdOp		rd = {0};
		EtcdTxnResult tr = {0};
		char	   *json;

		if (stored == NULL)
		{
			rc = pgw_error_set(err, PGW_EIO, "out of memory");
			break;
		}
		rc = routing_table_read(c, prefix, stored, &mod, err);
		if (rc == 0)
			stored_epoch = stored->epoch;
		free(stored);
		if (rc != 0 && rc != PGW_ENOTFOUND && rc != PGW_EINVAL)
			break;
		/* absent or corrupt: the leader may (over)write it */
		*mine = *t;
		pgw_strlcpy(mine->leader, leader_name, sizeof(mine->leader));
		if (mine->epoch == 0)
			mine->epoch = stored_epoch + 1;
		if (mine->epoch <= stored_epoch)
		{
			rc = pgw_error_set(err, PGW_ECONFLICT,
							   "refused to publish routing epoch %" PRId64 ": %s already holds epoch %" PRId64,
							   mine->epoch, rkey, stored_epoch);
			break;
		}
		json = routing_table_encode(mine);
		memset(cmp, 0, sizeof(cmp));
		dcs_leader_compares(cmp, lkey, leader_name, lease);
		cmp[2].key = rkey;
		cmp[2].result = ETCD_CMP_EQUAL;
		cmp[2].target = ETCD_TARGET_MOD;
		cmp[2].number = mod;
		put.kind = ETCD_OP_PUT;
		put.key = rkey;
		put.value = json;
		put.value_len = strlen(json);
		rd.kind = ETCD_OP_RANGE;
		rd.key = lkey;
		rc = etcd_txn(c, cmp, 3, &put, 1, &rd, 1, &tr, err);
		free(json);
		if (rc != 0)
			break;
		if (tr.succeeded)
		{
			etcd_txn_result_free(&tr);
			if (published_epoch)
				*published_epoch = mine->epoch;
			rc = 0;
			break;
		}
		/* refused: was it the leader key? */
		if (tr.n_responses == 1 && tr.responses[0].kind == ETCD_OP_RANGE)
		{
			const EtcdRangeResult *lr = &tr.responses[0].range;
			bool		ours = lr->count == 1 &&
				strcmp(lr->kvs[0].value, leader_name) == 0 &&
				lr->kvs[0].lease == lease;

			if (!ours)
			{
				rc = pgw_error_set(err, PGW_ECONFLICT,
								   "refused to publish routing epoch %" PRId64 ": \"%s\" does not hold the leader key on lease %" PRIx64 " (holder: \"%s\")",
								   mine->epoch, leader_name, (uint64_t) lease,
								   lr->count == 1 ? lr->kvs[0].value : "");
				etcd_txn_result_free(&tr);
				break;
			}
		}
		etcd_txn_result_free(&tr);
		/* the routing key moved under us: re-read and re-check the epoch */
		rc = pgw_error_set(err, PGW_ECONFLICT,
						   "refused to publish routing epoch %" PRId64 ": %s kept changing",
						   mine->epoch, rkey);
	}
	free(mine);
	return rc;
}

int
routing_ack_put(EtcdClient *c, const char *prefix, const char *router,
				int64_t epoch, int64_t lease, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + PGW_NAME_MAX + 16];
	char		val[32];
	int			n;

	n = snprintf(key, sizeof(key), "%s%s%s", prefix, ROUTING_ACKS_KEY, router);
	if (n < 0 || (size_t) n >= sizeof(key))
		return pgw_error_set(err, PGW_EINVAL, "router name too long");
	snprintf(val, sizeof(val), "%" PRId64, epoch);
	return etcd_put(c, key, val, strlen(val), lease, NULL, NULL, err);
}

int
routing_acks_read(EtcdClient *c, const char *prefix, int64_t epoch,
				  RoutingAcks *out, PgwError *err)
{
	char		key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	size_t		klen;
	int			rc;

	memset(out, 0, sizeof(*out));
	if ((rc = key_join(prefix, ROUTING_ACKS_KEY, key, sizeof(key), err)) != 0)
		return rc;
	klen = strlen(key);
	if ((rc = etcd_range(c, key, true, 0, false, &r, err)) != 0)
		return rc;
	for (size_t i = 0; i < r.count && out->n_routers < ROUTING_ROUTERS_MAX; i++)
	{
		RoutingAck *a = &out->routers[out->n_routers];
		const char *name = r.kvs[i].key + klen;
		int64_t		e;

		if (r.kvs[i].key_len <= klen)
			continue;
		pgw_strlcpy(a->router, name, sizeof(a->router));
		a->epoch = pgw_parse_int64(r.kvs[i].value, 0, INT64_MAX, &e) == 0 ?
			e : -1;
		out->n_routers++;
		if (a->epoch >= epoch)
			out->n_acked++;
		else
		{
			size_t		used = strlen(out->lagging);

			snprintf(out->lagging + used, sizeof(out->lagging) - used,
					 "%s%s", used ? "," : "", a->router);
		}
	}
	etcd_range_result_free(&r);
	return 0;
}

RoutingWait
routing_acks_wait(EtcdClient *c, const char *prefix, int64_t epoch,
				  int timeout_ms, RoutingAcks *out, PgwError *err)
{
	int64_t		deadline = pgw_now_mono_ms() + timeout_ms;
	bool		ever_read = false;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		RoutingAcks cur;

		if (routing_acks_read(c, prefix, epoch, &cur, err) == 0)
		{
			*out = cur;
			ever_read = true;
			if (cur.n_acked == cur.n_routers)
				return ROUTING_WAIT_READY;
		}
		if (pgw_now_mono_ms() >= deadline)
			return ever_read ? ROUTING_WAIT_PENDING : ROUTING_WAIT_FAILED;
		pgw_sleep_ms(20);
	}
}
