/*
 * client_int.h: libpgwshard's cache (client.c) as client_json.c reads it.
 */
#ifndef PGW_SHARD_LIB_CLIENT_INT_H
#define PGW_SHARD_LIB_CLIENT_INT_H

#include "shard/shard.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct GroupRoute
{
	int group;
	bool has_table;
	RoutingTable table;
	int64_t watch_id; /* 0: not watched yet */
	/* the answer's endpoints, made once per routing table, copied whole
	 * by each lookup */
	bool has_rw;
	PgwShardEndpoint rw;
	int n_ro;
	PgwShardEndpoint ro[PGW_SHARD_RO_MAX];
} GroupRoute;

struct PgwShardClient
{
	EtcdClient *etcd;
	char prefix[PGW_PREFIX_MAX];
	char map_key[PGW_PREFIX_MAX + 16];
	pthread_t thread;
	bool thread_started;
	int stop_fd; /* eventfd: the thread stops when readable */

	pthread_rwlock_t lock; /* guards map, groups, n_groups, the index */
	ShardMap *map;
	GroupRoute *groups; /* sorted by group */
	int n_groups;
	/* lookups in O(1): slot -> range, range -> index in groups (-1 none);
	 * rebuilt under the write lock whenever the map or groups change */
	uint16_t *slot_range;
	int *range_group;
	int64_t map_watch_id;

	pthread_mutex_t gen_lock; /* generation and its condition */
	pthread_cond_t gen_cond;
	uint64_t generation;     /* grows on every applied change */
	_Atomic int64_t version; /* the cached map's version */

	_Atomic uint64_t map_updates;
	_Atomic uint64_t routing_updates;
	_Atomic uint64_t decode_errors;
	_Atomic uint64_t resyncs;
	_Atomic bool connected;
};

void fill_ro(const RoutingTable *t, PgwShardLookup *out);

#endif
