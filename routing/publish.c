/*
 * publish.c: the leader side of routing (notes R1, "fence first, then
 * point"): read and publish the `routing` key by a txn guarded by the leader
 * key and the epoch, and read the routers' acknowledgements under
 * routing/acks/ (DESIGN.md "etcd keys").
 */
#include "routing/routing.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
key_join(const char *prefix, const char *suffix, char *out, size_t len,
         PgwError *err)
{
	int n = snprintf(out, len, "%s%s", prefix, suffix);

	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL, "key %s%s is too long", prefix,
		                     suffix);
	return 0;
}

int
routing_table_read(EtcdClient *c, const char *prefix, RoutingTable *out,
                   int64_t *mod_revision, PgwError *err)
{
	char *value = NULL;
	size_t len = 0;
	int64_t mod = 0;
	int rc;

	if (mod_revision)
		*mod_revision = 0;
	if ((rc = dcs_key_read(c, prefix, ROUTING_KEY, &value, &len, &mod, err)) !=
	    0)
		return rc;
	if (value == NULL)
		return pgw_error_set(err, PGW_ENOTFOUND, "%s%s does not exist", prefix,
		                     ROUTING_KEY);
	if (mod_revision)
		*mod_revision = mod;
	rc = routing_table_decode(value, len, out, err);
	if (rc != 0)
		pgw_error_prefix(err, "bad value in %s%s", prefix, ROUTING_KEY);
	free(value);
	return rc;
}

/*
 * routing_publish: see routing.h. One leader-guarded compare-and-swap
 * (dcs_leader_guarded_cas): its refusal says whether we lost the leader
 * key, without another round trip.
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
	RoutingTable *mine;
	RoutingTable *stored;
	int rc = 0;

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
	mine = pgw_xcalloc(1, sizeof(*mine));
	stored = pgw_xcalloc(1, sizeof(*stored));
	for (int attempt = 0; attempt < 3; attempt++)
	{
		int64_t mod = 0;
		int64_t stored_epoch = 0;
		bool lost = false;
		char *json;

		rc = routing_table_read(c, prefix, stored, &mod, err);
		if (rc == 0)
			stored_epoch = stored->epoch;
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
			                   "refused to publish routing epoch %" PRId64
			                   ": %s%s already holds epoch %" PRId64,
			                   mine->epoch, prefix, ROUTING_KEY, stored_epoch);
			break;
		}
		json = routing_table_encode(mine);
		rc = dcs_leader_guarded_cas(c, prefix, leader_name, lease, ROUTING_KEY,
		                            json, mod, &lost, err);
		free(json);
		if (rc == 0)
		{
			if (published_epoch)
				*published_epoch = mine->epoch;
			break;
		}
		if (rc != PGW_ECONFLICT || lost)
		{
			pgw_error_prefix(err, "refused to publish routing epoch %" PRId64,
			                 mine->epoch);
			break;
		}
		/* the routing key moved under us: re-read and re-check the epoch */
		rc = pgw_error_set(err, PGW_ECONFLICT,
		                   "refused to publish routing epoch %" PRId64
		                   ": %s%s kept changing",
		                   mine->epoch, prefix, ROUTING_KEY);
	}
	free(stored);
	free(mine);
	return rc;
}

int
routing_ack_put(EtcdClient *c, const char *prefix, const char *router,
                int64_t epoch, int64_t lease, PgwError *err)
{
	char key[PGW_PREFIX_MAX + PGW_NAME_MAX + 16];
	char val[32];
	int n;

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
	char key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	size_t klen;
	int rc;

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
		int64_t e;

		if (r.kvs[i].key_len <= klen)
			continue;
		pgw_strlcpy(a->router, name, sizeof(a->router));
		a->epoch =
		    pgw_parse_int64(r.kvs[i].value, 0, INT64_MAX, &e) == 0 ? e : -1;
		out->n_routers++;
		if (a->epoch >= epoch)
			out->n_acked++;
		else
		{
			size_t used = strlen(out->lagging);

			snprintf(out->lagging + used, sizeof(out->lagging) - used, "%s%s",
			         used ? "," : "", a->router);
		}
	}
	etcd_range_result_free(&r);
	return 0;
}

RoutingWait
routing_acks_wait(EtcdClient *c, const char *prefix, int64_t epoch,
                  int timeout_ms, RoutingAcks *out, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	bool ever_read = false;

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
