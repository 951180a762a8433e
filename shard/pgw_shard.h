/*
 * pgw_shard.h: the public header of libpgwshard, the client library that
 * applications and routers link to find the HA group that holds a user
 * (DESIGN.md "Capabilities around the core", notes R3). Self-contained: it
 * includes only the C standard headers, so an application needs nothing of
 * pgwarden's source tree but this file and the library.
 *
 *   PgwShardClient *sc;
 *   PgwShardLookup  r;
 *   if (pgw_shard_open(&cfg, &sc, errbuf, sizeof(errbuf)) != 0) ...
 *   if (pgw_shard_lookup(sc, user_id, &r) == 0 && r.has_rw)
 *       connect to r.rw.host:r.rw.port and write;
 *   on SQLSTATE PGW_SHARD_SQLSTATE: pgw_shard_wait_version(sc, v + 1, ...)
 *   and look up again;
 *   pgw_shard_close(sc);
 *
 * Threading: a client keeps one etcd connection and one thread of its own
 * that applies the watch events of the shard map and of every group's
 * routing table to an in-memory cache. pgw_shard_lookup() reads that cache
 * only (no I/O), from any number of threads at once.
 */
#ifndef PGW_SHARD_PUBLIC_H
#define PGW_SHARD_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/*
 * The SQLSTATE a group's guard trigger raises for a write to a slot the
 * group does not own (any more, or not yet). Its message names the group
 * and the shard map version the group holds; the client refreshes its map
 * (it is normally already newer) and retries.
 */
#define PGW_SHARD_SQLSTATE "PW001"
/* The SQLSTATE of a sharded row without a user id (NULL shard column). */
#define PGW_SHARD_SQLSTATE_NO_KEY "PW002"

#define PGW_SHARD_HOST_MAX 256
#define PGW_SHARD_NAME_MAX 64
#define PGW_SHARD_RO_MAX   8

	/*
 * pgw_shard_hash: PostgreSQL's hashint8extended(user_id, 0) as an unsigned
 * 64-bit value (PostgreSQL returns the same bits as a signed bigint).
 * pgw_shard_slot: hashint8extended(user_id, 0) & (slots - 1), the slot of a
 * user in a map of slots slots (a power of two); -1 when slots is not a
 * power of two between 1 and 65536.
 */
	uint64_t pgw_shard_hash(int64_t user_id);
	int pgw_shard_slot(int64_t user_id, int slots);

	typedef struct PgwShardConfig
	{
		const char *etcd_endpoints; /* "h:p,h:p" or "https://h:p" */
		const char *namespace_;     /* NULL: "/service" */
		const char *scope;          /* required */
		const char *ca_file;        /* etcd TLS, optional */
		const char *cert_file;
		const char *key_file;
		const char *username; /* etcd auth, optional */
		const char *password;
		int timeout_ms; /* one etcd call; <= 0: 3000 */
	} PgwShardConfig;

	typedef struct PgwShardEndpoint
	{
		char name[PGW_SHARD_NAME_MAX]; /* the member */
		char host[PGW_SHARD_HOST_MAX];
		int port;
	} PgwShardEndpoint;

	typedef enum PgwShardState
	{
		PGW_SHARD_SERVING = 0, /* writes go to the group */
		PGW_SHARD_MOVING,      /* being copied to another group: writes
								 * still go to this one */
		PGW_SHARD_FROZEN,      /* the last moment of a move: no group takes
								 * writes; retry shortly */
	} PgwShardState;

	typedef struct PgwShardLookup
	{
		int64_t user_id;
		int slot;
		int group; /* the group that holds the slot */
		PgwShardState state;
		int64_t map_version; /* version of the map the answer came from */
		bool has_rw;         /* the group's routing table names a primary */
		PgwShardEndpoint rw; /* read-write endpoint (the group's primary) */
		int n_ro;
		PgwShardEndpoint ro[PGW_SHARD_RO_MAX]; /* replicas with weight > 0,
											 * highest weight first */
		int64_t routing_epoch; /* epoch of the group's routing table, 0 none */
	} PgwShardLookup;

	typedef struct PgwShardClient PgwShardClient;

	/*
 * pgw_shard_open: connect to etcd, read the shard map and the routing table
 * of every group it names (one linearizable read each), start watching
 * them, and start the client's thread. Blocks up to a few etcd calls.
 * Returns 0 or a negative code with a one-line message in errbuf: bad
 * configuration, etcd unreachable, no shard map (`pgwardenctl shard init`
 * first), a shard map that does not decode. *out: pgw_shard_close().
 */
	int pgw_shard_open(const PgwShardConfig *cfg, PgwShardClient **out,
	                   char *errbuf, size_t errlen);

	/* pgw_shard_close: stop the thread, close etcd, free. Accepts NULL. */
	void pgw_shard_close(PgwShardClient *sc);

	/*
 * pgw_shard_lookup: where user_id lives, from the cache (no I/O, does not
 * block on etcd). Returns 0, or a negative code when the map has no range
 * for the slot (it never happens with a map the library accepted).
 */
	int pgw_shard_lookup(PgwShardClient *sc, int64_t user_id,
	                     PgwShardLookup *out);

	/* pgw_shard_version: the version of the cached shard map. */
	int64_t pgw_shard_version(PgwShardClient *sc);

	/*
 * pgw_shard_wait_version: block until the cached map's version is at least
 * min_version, or timeout_ms passed. Returns true when it is.
 */
	bool pgw_shard_wait_version(PgwShardClient *sc, int64_t min_version,
	                            int timeout_ms);

	/*
 * pgw_shard_wait_change: block until the cache changes (a new map version or
 * a group's new routing epoch) after the state the caller saw with
 * pgw_shard_generation(), or timeout_ms passed. Returns the generation now.
 */
	uint64_t pgw_shard_generation(PgwShardClient *sc);
	uint64_t pgw_shard_wait_change(PgwShardClient *sc, uint64_t seen,
	                               int timeout_ms);

	/*
 * pgw_shard_map_json: the cached map with every group's endpoints, as the
 * REST API's GET /shards serves it: {"version", "slots", "ranges": [...],
 * "groups": {"1": {"rw": {...} | null, "ro": [...], "epoch"}}}. Caller
 * frees (free()).
 */
	char *pgw_shard_map_json(PgwShardClient *sc);

	/*
 * pgw_shard_lookup_json: r as JSON, {"user_id", "slot", "group", "state",
 * "map_version", "rw": {"name", "host", "port"} | null, "ro": [...],
 * "routing_epoch"} (what `pgwardenctl shard lookup --format json` and
 * GET /shards?user_id= print). Caller frees (free()).
 */
	char *pgw_shard_lookup_json(const PgwShardLookup *r);

	/*
 * pgw_shard_open_prefix: pgw_shard_open for a scope given as its key prefix
 * "<namespace>/<scope>/" (cfg->namespace_ and cfg->scope are ignored).
 */
	int pgw_shard_open_prefix(const PgwShardConfig *cfg, const char *prefix,
	                          PgwShardClient **out, char *errbuf,
	                          size_t errlen);

	/* Counters since open, for monitoring. */
	typedef struct PgwShardStats
	{
		uint64_t map_updates;     /* map versions applied */
		uint64_t routing_updates; /* routing tables applied */
		uint64_t decode_errors;   /* values refused (the last good one kept) */
		uint64_t resyncs;         /* full re-reads after a watch gap */
		bool etcd_connected;      /* the watch stream is up */
	} PgwShardStats;

	void pgw_shard_stats(PgwShardClient *sc, PgwShardStats *out);

#ifdef __cplusplus
}
#endif

#endif
