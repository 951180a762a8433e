/*
 * client.c: libpgwshard (pgw_shard.h): where a user lives, answered from a
 * cache that one etcd watch keeps current. The cache is the shard map plus
 * the routing table of every group it names; the client's own thread
 * applies watch events to it under a write lock, and lookups read it under
 * a read lock, so a lookup never waits on etcd. Values that do not decode
 * are refused and counted; the last good one stays (a corrupt map never
 * sends a write to the wrong group).
 */
#include "shard/lib/client_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void endpoint_copy(PgwShardEndpoint *dst, const RoutingEndpoint *src);

/* the endpoints a lookup answers for gr's table */
static void
route_endpoints(GroupRoute *gr)
{
	PgwShardLookup *l = pgw_xcalloc(1, sizeof(*l));

	gr->has_rw = gr->has_table && gr->table.state == ROUTING_STATE_SERVING &&
	             gr->table.has_primary;
	memset(&gr->rw, 0, sizeof(gr->rw));
	if (gr->has_rw)
		endpoint_copy(&gr->rw, &gr->table.primary);
	gr->n_ro = 0;
	if (gr->has_table)
	{
		fill_ro(&gr->table, l);
		gr->n_ro = l->n_ro;
		memcpy(gr->ro, l->ro, sizeof(gr->ro));
	}
	free(l);
}

static void set_err(char *buf, size_t len, const char *fmt, ...)
    PGW_PRINTF(3, 4);

static void
set_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
bump(PgwShardClient *sc)
{
	pthread_mutex_lock(&sc->gen_lock);
	sc->generation++;
	pthread_cond_broadcast(&sc->gen_cond);
	pthread_mutex_unlock(&sc->gen_lock);
}

/* with lock held (write): the group's entry, created when missing */
static GroupRoute *
group_get(PgwShardClient *sc, int group, bool create)
{
	int lo = 0;
	int hi = sc->n_groups - 1;
	int at;

	while (lo <= hi)
	{
		int mid = lo + (hi - lo) / 2;

		if (sc->groups[mid].group == group)
			return &sc->groups[mid];
		if (sc->groups[mid].group < group)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	if (!create)
		return NULL;
	at = lo;
	sc->groups = pgw_xrealloc(sc->groups,
	                          (size_t) (sc->n_groups + 1) * sizeof(GroupRoute));
	memmove(&sc->groups[at + 1], &sc->groups[at],
	        (size_t) (sc->n_groups - at) * sizeof(GroupRoute));
	memset(&sc->groups[at], 0, sizeof(GroupRoute));
	sc->groups[at].group = group;
	sc->n_groups++;
	return &sc->groups[at];
}

/* with lock held (write): rebuild the lookup index */
static void
reindex(PgwShardClient *sc)
{
	const ShardMap *m = sc->map;

	if (m == NULL)
		return;
	sc->slot_range =
	    pgw_xrealloc(sc->slot_range, (size_t) m->slots * sizeof(uint16_t));
	sc->range_group =
	    pgw_xrealloc(sc->range_group, (size_t) m->n_ranges * sizeof(int));
	for (int i = 0; i < m->n_ranges; i++)
	{
		GroupRoute *gr = group_get(sc, m->ranges[i].group, false);

		for (int s = m->ranges[i].from; s <= m->ranges[i].to; s++)
			sc->slot_range[s] = (uint16_t) i;
		sc->range_group[i] = gr ? (int) (gr - sc->groups) : -1;
	}
}

/* the group of a "<prefix><digits>/routing" key, -1 for any other key */
static int
routing_key_group(const PgwShardClient *sc, const char *key)
{
	size_t plen = strlen(sc->prefix);
	const char *p;
	int g = 0;

	if (strncmp(key, sc->prefix, plen) != 0)
		return -1;
	p = key + plen;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
	{
		g = g * 10 + (*p - '0');
		if (g > SHARD_GROUP_MAX)
			return -1;
	}
	return strcmp(p, "/" ROUTING_KEY) == 0 ? g : -1;
}

static void
apply_routing(PgwShardClient *sc, int group, const char *value, size_t len,
              bool deleted)
{
	RoutingTable t;
	PgwError err = {0};
	GroupRoute *gr;

	if (!deleted && routing_table_decode(value, len, &t, &err) != 0)
	{
		atomic_fetch_add(&sc->decode_errors, 1);
		return;
	}
	pthread_rwlock_wrlock(&sc->lock);
	gr = group_get(sc, group, false);
	if (gr != NULL)
	{
		/* routers ignore an epoch that is not newer; so do we */
		if (deleted)
			gr->has_table = false;
		else if (!gr->has_table || t.epoch > gr->table.epoch)
		{
			gr->table = t;
			gr->has_table = true;
		}
		route_endpoints(gr);
	}
	pthread_rwlock_unlock(&sc->lock);
	atomic_fetch_add(&sc->routing_updates, 1);
	bump(sc);
}

/* read one group's routing table and watch it from the read's revision */
static int
group_watch(PgwShardClient *sc, int group, PgwError *err)
{
	char key[PGW_PREFIX_MAX + 32];
	EtcdRangeResult r = {0};
	int64_t wid = 0;
	GroupRoute *gr;
	int rc;

	snprintf(key, sizeof(key), "%s%d/%s", sc->prefix, group, ROUTING_KEY);
	if ((rc = etcd_range(sc->etcd, key, false, 0, false, &r, err)) != 0)
		return rc;
	pthread_rwlock_wrlock(&sc->lock);
	gr = group_get(sc, group, true);
	reindex(sc); /* the groups array may have moved */
	pthread_rwlock_unlock(&sc->lock);
	if (r.count == 1)
		apply_routing(sc, group, r.kvs[0].value, r.kvs[0].value_len, false);
	if ((rc = etcd_watch_start(sc->etcd, key, false, r.revision + 1, &wid,
	                           err)) == 0)
	{
		pthread_rwlock_wrlock(&sc->lock);
		gr = group_get(sc, group, true);
		gr->watch_id = wid;
		pthread_rwlock_unlock(&sc->lock);
	}
	etcd_range_result_free(&r);
	return rc;
}

/* watch every group the map names that is not watched yet */
static int
watch_new_groups(PgwShardClient *sc, PgwError *err)
{
	int groups[SHARD_GROUPS_MAX];
	int n;
	int rc = 0;

	pthread_rwlock_rdlock(&sc->lock);
	n = shard_map_groups(sc->map, groups, SHARD_GROUPS_MAX);
	pthread_rwlock_unlock(&sc->lock);
	for (int i = 0; i < n; i++)
	{
		GroupRoute *gr;
		bool watched;

		pthread_rwlock_rdlock(&sc->lock);
		gr = group_get(sc, groups[i], false);
		watched = gr != NULL && gr->watch_id != 0;
		pthread_rwlock_unlock(&sc->lock);
		if (!watched && (rc = group_watch(sc, groups[i], err)) != 0)
			return rc;
	}
	return 0;
}

static bool
apply_map(PgwShardClient *sc, const char *value, size_t len)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	PgwError err = {0};
	bool applied = false;

	if (shard_map_decode(value, len, m, &err) != 0)
	{
		atomic_fetch_add(&sc->decode_errors, 1);
		free(m);
		return false;
	}
	pthread_rwlock_wrlock(&sc->lock);
	/* versions only grow; an older one is a replay */
	if (sc->map == NULL || m->version > sc->map->version)
	{
		ShardMap *old = sc->map;

		sc->map = m;
		atomic_store(&sc->version, m->version);
		m = old;
		applied = true;
		reindex(sc);
	}
	pthread_rwlock_unlock(&sc->lock);
	free(m);
	if (applied)
	{
		atomic_fetch_add(&sc->map_updates, 1);
		bump(sc);
	}
	return applied;
}

/* read the map and every group's routing table again (after a gap) */
static int
resync(PgwShardClient *sc, PgwError *err)
{
	EtcdRangeResult r = {0};
	int rc;

	if ((rc = etcd_range(sc->etcd, sc->map_key, false, 0, false, &r, err)) != 0)
		return rc;
	if (r.count == 1)
		(void) apply_map(sc, r.kvs[0].value, r.kvs[0].value_len);
	etcd_range_result_free(&r);
	pthread_rwlock_rdlock(&sc->lock);
	for (int i = 0; i < sc->n_groups; i++)
	{
		char key[PGW_PREFIX_MAX + 32];
		int g = sc->groups[i].group;
		EtcdRangeResult rr = {0};

		pthread_rwlock_unlock(&sc->lock);
		snprintf(key, sizeof(key), "%s%d/%s", sc->prefix, g, ROUTING_KEY);
		if (etcd_range(sc->etcd, key, false, 0, false, &rr, err) == 0)
		{
			if (rr.count == 1)
				apply_routing(sc, g, rr.kvs[0].value, rr.kvs[0].value_len,
				              false);
			etcd_range_result_free(&rr);
		}
		pthread_rwlock_rdlock(&sc->lock);
	}
	pthread_rwlock_unlock(&sc->lock);
	atomic_fetch_add(&sc->resyncs, 1);
	return watch_new_groups(sc, err);
}

static void
handle_event(PgwShardClient *sc, EtcdEvent *ev)
{
	PgwError err = {0};
	int g;

	switch (ev->type)
	{
		case ETCD_EVENT_WATCH_PUT:
		case ETCD_EVENT_WATCH_DELETE:
			if (ev->kv.key == NULL)
				return;
			if (strcmp(ev->kv.key, sc->map_key) == 0)
			{
				/* a deleted map keeps the last one: writes must not stop
				 * because someone removed the key by mistake */
				if (ev->type == ETCD_EVENT_WATCH_PUT &&
				    apply_map(sc, ev->kv.value, ev->kv.value_len))
					(void) watch_new_groups(sc, &err);
				return;
			}
			if ((g = routing_key_group(sc, ev->kv.key)) >= 0)
				apply_routing(sc, g, ev->kv.value, ev->kv.value_len,
				              ev->type == ETCD_EVENT_WATCH_DELETE);
			return;
		case ETCD_EVENT_WATCH_RESYNC:
			(void) resync(sc, &err);
			return;
		case ETCD_EVENT_CONNECTED:
			atomic_store(&sc->connected, true);
			return;
		case ETCD_EVENT_STREAM_ERROR:
			atomic_store(&sc->connected, false);
			return;
		default:
			return;
	}
}

static void *
client_thread(void *arg)
{
	PgwShardClient *sc = arg;

	for (;;)
	{
		struct pollfd pfd[2] = {
		    {.fd = etcd_client_event_fd(sc->etcd), .events = POLLIN},
		    {.fd = sc->stop_fd, .events = POLLIN},
		};
		EtcdEvent ev;

		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		while (etcd_client_next_event(sc->etcd, &ev))
		{
			handle_event(sc, &ev);
			etcd_event_clear(&ev);
		}
	}
	return NULL;
}

static int client_open(const PgwShardConfig *cfg, const char *prefix,
                       PgwShardClient **out, char *errbuf, size_t errlen);

int
pgw_shard_open(const PgwShardConfig *cfg, PgwShardClient **out, char *errbuf,
               size_t errlen)
{
	return client_open(cfg, NULL, out, errbuf, errlen);
}

int
pgw_shard_open_prefix(const PgwShardConfig *cfg, const char *prefix,
                      PgwShardClient **out, char *errbuf, size_t errlen)
{
	if (prefix == NULL || prefix[0] != '/' ||
	    strlen(prefix) >= PGW_PREFIX_MAX || prefix[strlen(prefix) - 1] != '/')
	{
		set_err(errbuf, errlen,
		        "pgw_shard_open_prefix: \"%s\" is not a key prefix",
		        prefix ? prefix : "");
		return PGW_EINVAL;
	}
	return client_open(cfg, prefix, out, errbuf, errlen);
}

static int
client_open(const PgwShardConfig *cfg, const char *prefix, PgwShardClient **out,
            char *errbuf, size_t errlen)
{
	PgwShardClient *sc;
	EtcdClientConfig ec = {0};
	EtcdRangeResult r = {0};
	PgwError err = {0};
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->etcd_endpoints == NULL ||
	    (cfg->scope == NULL && prefix == NULL))
	{
		set_err(errbuf, errlen,
		        "pgw_shard_open: etcd_endpoints and scope are required");
		return PGW_EINVAL;
	}
	sc = pgw_xcalloc(1, sizeof(*sc));
	sc->stop_fd = -1;
	pthread_rwlock_init(&sc->lock, NULL);
	pthread_mutex_init(&sc->gen_lock, NULL);
	pthread_cond_init(&sc->gen_cond, NULL);
	if (prefix)
		pgw_strlcpy(sc->prefix, prefix, sizeof(sc->prefix));
	else if ((rc = dcs_prefix_build(cfg->namespace_, cfg->scope, sc->prefix,
	                                sizeof(sc->prefix), &err)) != 0)
		goto fail;
	snprintf(sc->map_key, sizeof(sc->map_key), "%s%s", sc->prefix, SHARD_KEY);
	ec.endpoints = cfg->etcd_endpoints;
	ec.ca_file = cfg->ca_file;
	ec.cert_file = cfg->cert_file;
	ec.key_file = cfg->key_file;
	ec.username = cfg->username;
	ec.password = cfg->password;
	ec.call_timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 3000;
	if ((rc = etcd_client_open(&ec, &sc->etcd, &err)) != 0)
		goto fail;
	if ((rc = etcd_range(sc->etcd, sc->map_key, false, 0, false, &r, &err)) !=
	    0)
		goto fail;
	if (r.count == 0)
	{
		rc = pgw_error_set(&err, PGW_ENOTFOUND,
		                   "no shard map at %s (run pgwardenctl shard init)",
		                   sc->map_key);
		goto fail;
	}
	sc->map = pgw_xmalloc(sizeof(ShardMap));
	if ((rc = shard_map_decode(r.kvs[0].value, r.kvs[0].value_len, sc->map,
	                           &err)) != 0)
	{
		pgw_error_prefix(&err, "the shard map at %s does not decode",
		                 sc->map_key);
		goto fail;
	}
	atomic_store(&sc->version, sc->map->version);
	reindex(sc);
	if ((rc = etcd_watch_start(sc->etcd, sc->map_key, false, r.revision + 1,
	                           &sc->map_watch_id, &err)) != 0 ||
	    (rc = watch_new_groups(sc, &err)) != 0)
		goto fail;
	etcd_range_result_free(&r);
	atomic_store(&sc->connected, true);
	sc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sc->stop_fd < 0 ||
	    pthread_create(&sc->thread, NULL, client_thread, sc) != 0)
	{
		rc = pgw_error_set(&err, PGW_EIO,
		                   "could not start the shard client's thread");
		goto fail;
	}
	sc->thread_started = true;
	*out = sc;
	return 0;
fail:
	etcd_range_result_free(&r);
	set_err(errbuf, errlen, "%s", err.msg);
	pgw_shard_close(sc);
	return rc;
}

void
pgw_shard_close(PgwShardClient *sc)
{
	if (sc == NULL)
		return;
	if (sc->thread_started)
	{
		uint64_t one = 1;

		if (write(sc->stop_fd, &one, sizeof(one)) < 0)
			abort(); /* an eventfd write cannot fail here */
		pthread_join(sc->thread, NULL);
	}
	if (sc->stop_fd >= 0)
		close(sc->stop_fd);
	etcd_client_close(sc->etcd);
	free(sc->map);
	free(sc->groups);
	free(sc->slot_range);
	free(sc->range_group);
	pthread_rwlock_destroy(&sc->lock);
	pthread_mutex_destroy(&sc->gen_lock);
	pthread_cond_destroy(&sc->gen_cond);
	free(sc);
}

static void
endpoint_copy(PgwShardEndpoint *dst, const RoutingEndpoint *src)
{
	pgw_strlcpy(dst->name, src->name, sizeof(dst->name));
	pgw_strlcpy(dst->host, src->host, sizeof(dst->host));
	dst->port = src->port;
}

/* the replicas that take reads: weight > 0, highest weight, then lag */
void
fill_ro(const RoutingTable *t, PgwShardLookup *out)
{
	int idx[ROUTING_REPLICAS_MAX];
	int n = 0;

	for (int i = 0; i < t->n_replicas; i++)
	{
		int j;

		if (t->replicas[i].weight <= 0)
			continue;
		for (j = n; j > 0; j--)
		{
			const RoutingReplica *a = &t->replicas[idx[j - 1]];
			const RoutingReplica *b = &t->replicas[i];

			if (a->weight > b->weight ||
			    (a->weight == b->weight && a->lag_bytes <= b->lag_bytes))
				break;
			idx[j] = idx[j - 1];
		}
		idx[j] = i;
		n++;
	}
	out->n_ro = 0;
	for (int i = 0; i < n && out->n_ro < PGW_SHARD_RO_MAX; i++)
		endpoint_copy(&out->ro[out->n_ro++], &t->replicas[idx[i]].ep);
}

int
pgw_shard_lookup(PgwShardClient *sc, int64_t user_id, PgwShardLookup *out)
{
	const ShardRange *r;
	GroupRoute *gr;
	int i;

	/* no memset of the whole answer: it is 3 kB of host names, and the
	 * lookup is meant to cost tens of nanoseconds */
	out->user_id = user_id;
	out->group = -1;
	out->state = PGW_SHARD_SERVING;
	out->map_version = 0;
	out->has_rw = false;
	out->n_ro = 0;
	out->routing_epoch = 0;
	out->rw.name[0] = out->rw.host[0] = '\0';
	out->rw.port = 0;
	pthread_rwlock_rdlock(&sc->lock);
	out->slot = pgw_shard_slot(user_id, sc->map->slots);
	if (out->slot < 0)
	{
		pthread_rwlock_unlock(&sc->lock);
		return PGW_ENOTFOUND;
	}
	i = sc->slot_range[out->slot];
	r = &sc->map->ranges[i];
	out->group = r->group;
	out->state = (PgwShardState) r->state;
	out->map_version = sc->map->version;
	gr = sc->range_group[i] >= 0 ? &sc->groups[sc->range_group[i]] : NULL;
	if (gr && gr->has_table)
	{
		out->routing_epoch = gr->table.epoch;
		out->has_rw = gr->has_rw;
		if (gr->has_rw)
			out->rw = gr->rw;
		out->n_ro = gr->n_ro;
		memcpy(out->ro, gr->ro, (size_t) gr->n_ro * sizeof(PgwShardEndpoint));
	}
	pthread_rwlock_unlock(&sc->lock);
	return 0;
}

int64_t
pgw_shard_version(PgwShardClient *sc)
{
	return atomic_load(&sc->version);
}

uint64_t
pgw_shard_generation(PgwShardClient *sc)
{
	uint64_t g;

	pthread_mutex_lock(&sc->gen_lock);
	g = sc->generation;
	pthread_mutex_unlock(&sc->gen_lock);
	return g;
}

/* wait on the generation's condition until pred holds or the deadline */
static uint64_t
wait_gen(PgwShardClient *sc, uint64_t seen, int64_t min_version, int timeout_ms)
{
	struct timespec ts;
	uint64_t g;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sc->gen_lock);
	for (;;)
	{
		if (min_version > 0 ? atomic_load(&sc->version) >= min_version
		                    : sc->generation != seen)
			break;
		if (pthread_cond_timedwait(&sc->gen_cond, &sc->gen_lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	g = sc->generation;
	pthread_mutex_unlock(&sc->gen_lock);
	return g;
}

bool
pgw_shard_wait_version(PgwShardClient *sc, int64_t min_version, int timeout_ms)
{
	if (min_version < 1)
		min_version = 1;
	(void) wait_gen(sc, 0, min_version, timeout_ms);
	return atomic_load(&sc->version) >= min_version;
}

uint64_t
pgw_shard_wait_change(PgwShardClient *sc, uint64_t seen, int timeout_ms)
{
	return wait_gen(sc, seen, 0, timeout_ms);
}

void
pgw_shard_stats(PgwShardClient *sc, PgwShardStats *out)
{
	out->map_updates = atomic_load(&sc->map_updates);
	out->routing_updates = atomic_load(&sc->routing_updates);
	out->decode_errors = atomic_load(&sc->decode_errors);
	out->resyncs = atomic_load(&sc->resyncs);
	out->etcd_connected = atomic_load(&sc->connected);
}
