/*
 * routing.h: the only public header of routing/ (DESIGN.md "etcd keys",
 * notes R1 "fence first, then point"). The routing table the leader
 * publishes in <prefix>routing after every role change, its codec, the
 * leader-side publish (one txn guarded by the leader key and the epoch) and
 * the acknowledgements routers leave under <prefix>routing/acks/<router>.
 * The router process itself (pgwarden-router) lives in router*.c and
 * target_*.c and is not part of this API.
 */
#ifndef PGW_ROUTING_H
#define PGW_ROUTING_H

#include "common/compiler.h"
#include "common/error.h"
#include "consensus/consensus.h"

#include <stdbool.h>
#include <stdint.h>

#define ROUTING_REPLICAS_MAX   PGW_MEMBERS_MAX
#define ROUTING_HOST_MAX       256
#define ROUTING_ROUTERS_MAX    64
#define ROUTING_WEIGHT_DEFAULT 100
#define ROUTING_WEIGHT_MAX     256 /* HAProxy's weight range 0..256 */
#define ROUTING_KEY            "routing"
#define ROUTING_ACKS_KEY       "routing/acks/"

typedef enum RoutingState
{
	ROUTING_STATE_SERVING = 0, /* primary set: route writes to it */
	ROUTING_STATE_FENCED,      /* no primary: cut every write route */
	ROUTING_STATE_SWITCHING,   /* planned switchover: pause writes */
} RoutingState;

typedef struct RoutingEndpoint
{
	char name[PGW_NAME_MAX];     /* member name */
	char host[ROUTING_HOST_MAX]; /* address or host name, no brackets */
	int port;                    /* 1..65535 */
} RoutingEndpoint;

typedef struct RoutingReplica
{
	RoutingEndpoint ep;
	uint64_t lag_bytes; /* behind the primary; INT64_MAX if unknown */
	bool is_sync;       /* named in the `sync` key */
	int weight;         /* 0..ROUTING_WEIGHT_MAX; 0: no reads */
} RoutingReplica;

/*
 * The `routing` value. JSON:
 *   {"epoch": 7, "state": "serving", "leader": "node1",
 *    "primary": {"name": "node1", "host": "10.0.0.1", "port": 5432},
 *    "replicas": [{"name": "node2", "host": "10.0.0.2", "port": 5432,
 *                  "lag": 0, "sync_state": "sync", "weight": 100}],
 *    "time": "2026-11-23T10:01:02.123Z"}
 * "primary" is null while fenced and required while serving (optional while
 * switching: the primary being switched away from).
 */
typedef struct RoutingTable
{
	int64_t epoch; /* >= 1; only grows */
	RoutingState state;
	char leader[PGW_NAME_MAX]; /* the member that published it */
	bool has_primary;
	RoutingEndpoint primary;
	int n_replicas;
	RoutingReplica replicas[ROUTING_REPLICAS_MAX];
	int64_t changed_at_wall_ms; /* "time" */
} RoutingTable;

/* routing_state_name: "serving", "fenced", "switching". */
const char *routing_state_name(RoutingState s);

/*
 * routing_table_decode: parse a `routing` value whole or reject it: every
 * known field must have its type and range (epoch >= 1, port 1..65535,
 * weight 0..256, known state, primary as the state requires, no duplicate
 * names); the message names the field ("replicas[1].port: ..."). Unknown
 * keys are ignored so that a newer leader can add fields during a rolling
 * upgrade. *out is written only on success (the caller's previous table
 * stays as it was). Returns 0 or PGW_EINVAL.
 */
int routing_table_decode(const char *json, size_t len, RoutingTable *out,
                         PgwError *err) PGW_MUSTCHECK;

/* routing_table_encode: compact JSON of t; caller frees. */
char *routing_table_encode(const RoutingTable *t);

/* routing_table_equal_routes: same state, primary and replica endpoints and
 * weights (epoch, time, lag ignored): whether a router has work to do. */
bool routing_table_equal_routes(const RoutingTable *a, const RoutingTable *b);

/*
 * routing_endpoint_from_url: host and port of a member's conn_url
 * ("postgres://u:p@host:5432/db?x", "postgresql://[::1]:5433/db"; port
 * defaults to 5432). Returns 0 or PGW_EINVAL.
 */
int routing_endpoint_from_url(const char *conn_url, RoutingEndpoint *out,
                              PgwError *err) PGW_MUSTCHECK;

/*
 * routing_table_build: the table for view as the leader leader_name sees it.
 * Pure: no I/O, no clock (now_wall_ms is stamped as the change time).
 *   - state SERVING: primary = leader_name's member (its conn_url), required
 *     (PGW_EINVAL when it is missing or its conn_url does not parse);
 *     FENCED: no primary; SWITCHING: the leader as primary if it has a
 *     member key.
 *   - replicas: every other valid member with role replica and state
 *     running and a conn_url that parses, sorted by name; lag_bytes =
 *     leader's xlog_location (or view->leader_optime, whichever is larger)
 *     minus the member's; is_sync when named in view->sync.
 *   - weight: tag "weight" (integer 0..256; absent or not an integer: 100),
 *     0 with the tag noloadbalance, 0 when lag_bound_bytes > 0 and lag
 *     exceeds it, 0 when the member reports no WAL position.
 * Returns 0 or PGW_EINVAL (epoch < 1, bad state, no serving primary).
 */
int routing_table_build(const ClusterView *view, const char *leader_name,
                        RoutingState state, int64_t epoch,
                        uint64_t lag_bound_bytes, int64_t now_wall_ms,
                        RoutingTable *out, PgwError *err) PGW_MUSTCHECK;

/*
 * routing_table_read: read <prefix>routing linearizably. Returns 0 with the
 * table and *mod_revision (may be NULL), PGW_ENOTFOUND when absent,
 * PGW_EINVAL when the stored value does not decode (*mod_revision is still
 * set, so a leader may overwrite it), or the etcd error.
 */
int routing_table_read(EtcdClient *c, const char *prefix, RoutingTable *out,
                       int64_t *mod_revision, PgwError *err) PGW_MUSTCHECK;

/*
 * routing_publish: write t as <prefix>routing by ONE txn whose compares
 * are: leader key value == leader_name, leader key lease == lease, and
 * routing key mod_revision == the mod_revision read just before, where the
 * value read then held an epoch lower than t's. The epoch lives in the value
 * (so etcdctl and routers see it); the mod_revision compare makes the check
 * "stored epoch < ours" atomic with the write. A deposed leader (the
 * leader compare fails) or a stale epoch (stored >= ours) can never publish.
 * A concurrent change of the routing key between our read and our txn
 * makes us re-read and re-check (up to 3 times).
 *   t->epoch == 0 means "the stored epoch + 1" (1 when absent or corrupt);
 *   *published_epoch (may be NULL) receives the epoch written.
 * leader_name must equal t->leader (or t->leader may be empty: filled).
 * Returns 0, PGW_ECONFLICT (we do not hold the leader key, or the stored
 * epoch is not lower: the message says which), PGW_EINVAL, or the etcd
 * error (PGW_ETIMEDOUT: outcome unknown, call again with the same epoch:
 * a repeat of an applied write is refused as stale, read to confirm).
 * Blocks up to a few etcd call deadlines.
 */
int routing_publish(EtcdClient *c, const char *prefix, const char *leader_name,
                    int64_t lease, const RoutingTable *t,
                    int64_t *published_epoch, PgwError *err) PGW_MUSTCHECK;

/* One router's acknowledgement (a leased key, value: decimal epoch). */
typedef struct RoutingAck
{
	char router[PGW_NAME_MAX];
	int64_t epoch; /* -1 when the value did not decode */
} RoutingAck;

typedef struct RoutingAcks
{
	int n_routers; /* live routers (their leased keys exist) */
	int n_acked;   /* of them, applied epoch >= the asked one */
	RoutingAck routers[ROUTING_ROUTERS_MAX];
	char lagging[512]; /* names not acked, comma-separated */
} RoutingAcks;

/*
 * routing_acks_read: one linearizable read of <prefix>routing/acks/ into
 * *out, counting routers whose epoch >= epoch. Returns 0 or the etcd error.
 */
int routing_acks_read(EtcdClient *c, const char *prefix, int64_t epoch,
                      RoutingAcks *out, PgwError *err) PGW_MUSTCHECK;

typedef enum RoutingWait
{
	ROUTING_WAIT_READY = 0, /* every live router acknowledged */
	ROUTING_WAIT_PENDING,   /* deadline passed: out->lagging says who */
	ROUTING_WAIT_FAILED,    /* etcd could not be read until the deadline */
} RoutingWait;

/*
 * routing_acks_wait: poll routing_acks_read every 20 ms until every live
 * router has acknowledged epoch or timeout_ms has passed. Zero live
 * routers is READY. Blocks up to timeout_ms (plus one etcd call). err holds
 * the last etcd error when FAILED.
 */
RoutingWait routing_acks_wait(EtcdClient *c, const char *prefix, int64_t epoch,
                              int timeout_ms, RoutingAcks *out, PgwError *err);

/*
 * routing_ack_put: a router's acknowledgement: <prefix>routing/acks/<router>
 * = epoch on lease (the router's own). Returns 0 or the etcd error.
 */
int routing_ack_put(EtcdClient *c, const char *prefix, const char *router,
                    int64_t epoch, int64_t lease, PgwError *err) PGW_MUSTCHECK;

#endif
