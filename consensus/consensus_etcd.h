/*
 * consensus_etcd.h: part 1 of consensus.h, the etcd v3 client (EtcdClient:
 * KV, Txn, leases, watches over the gRPC C core). Not a header of its own:
 * consensus.h is the module's one public header and includes this part;
 * include consensus.h (split only to keep each file under ~800 lines).
 */
#ifndef PGW_CONSENSUS_ETCD_H
#define PGW_CONSENSUS_ETCD_H

#ifndef PGW_CONSENSUS_H_PARTS
#error "include consensus/consensus.h, not its part consensus_etcd.h"
#endif

#include "common/compiler.h"
#include "common/error.h"
#include "common/promtext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Part 1: the etcd v3 client
 * ------------------------------------------------------------------------ */

typedef struct EtcdClient EtcdClient; /* opaque: channel(s), CQ thread */

typedef struct EtcdClientConfig
{
	const char *endpoints; /* "http://h:p,https://h:p" or "h:p,h:p" */
	const char *ca_file;   /* PEM CA; TLS when set (or https://) */
	const char *cert_file; /* PEM client cert (mTLS), optional */
	const char *key_file;  /* PEM client key (mTLS), optional */
	const char *username;  /* etcd auth user, optional */
	const char *password;  /* etcd auth password, optional */
	int call_timeout_ms;   /* deadline of one unary call (<= 0: 3000) */
	int dial_timeout_ms;   /* connect budget per endpoint (<= 0: 1000) */
} EtcdClientConfig;

/*
 * Every unary call has a deadline (call_timeout_ms). It starts on the
 * endpoint in use; on UNAVAILABLE or DEADLINE_EXCEEDED it moves to the next
 * endpoint (each attempt gets call_timeout_ms / n_endpoints, at least
 * 500 ms) until the deadline is spent, and later calls stay on the endpoint
 * that worked. A mutation retried this way may have been applied by the
 * attempt that timed out: txns whose compares guard them (the leader key
 * protocol) are safe to retry; a plain put may be applied twice. Error
 * messages name the operation and the endpoint: "could not range /service/x
 * on 127.0.0.1:2379: deadline exceeded".
 */

/*
 * etcd_client_open: parse endpoints, create channel(s) and the CQ thread.
 * Does not block on connecting. Returns 0, PGW_EINVAL (bad endpoint string,
 * unreadable TLS file: the message names which), PGW_EIO.
 * *out is owned by the caller: etcd_client_close().
 */
int etcd_client_open(const EtcdClientConfig *cfg, EtcdClient **out,
                     PgwError *err) PGW_MUSTCHECK;

/* etcd_client_close: cancel streams, join the thread, free. Accepts NULL. */
void etcd_client_close(EtcdClient *c);

/* etcd_client_set_call_timeout: a new deadline for each unary call (and
 * keepalive round); ms <= 0 keeps the current one. Any thread. */
void etcd_client_set_call_timeout(EtcdClient *c, int ms);

/* etcd_client_endpoint: the endpoint currently in use (borrowed). */
const char *etcd_client_endpoint(const EtcdClient *c);

/* What one client saw of etcd, for metrics (etcd_stats.c). */
typedef struct EtcdClientStats
{
	PgwHistogramValue request_seconds; /* each unary attempt, ok or not */
	uint64_t requests_failed;          /* attempts without an OK answer */
	int64_t last_contact_mono_ms;      /* etcd last answered (a unary call
										 * or a keepalive); 0: never */
	int64_t last_contact_wall_ms;      /* the same, wall clock */
} EtcdClientStats;

/* etcd_client_stats: a copy of c's counters. Any thread, never blocks
 * (atomics); c must stay open while it runs. */
void etcd_client_stats(EtcdClient *c, EtcdClientStats *out);

typedef struct EtcdKeyValue
{
	char *key; /* NUL-terminated copy, owned by the holder */
	size_t key_len;
	char *value; /* NUL-terminated copy (may hold NULs) */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
} EtcdKeyValue;

typedef struct EtcdRangeResult
{
	int64_t revision;  /* header revision of the read */
	size_t count;      /* number of kvs */
	EtcdKeyValue *kvs; /* owned; free with etcd_range_result_free */
	bool more;
} EtcdRangeResult;

void etcd_kv_clear(EtcdKeyValue *kv);
void etcd_range_result_free(EtcdRangeResult *r);

/*
 * etcd_range: read one key (prefix=false) or every key under it
 * (prefix=true), at revision (0 = latest), linearizable unless serializable.
 * Returns 0 (count may be 0), PGW_ETIMEDOUT, PGW_EUNAVAILABLE, PGW_EAUTH,
 * PGW_ECOMPACTED, PGW_EBADRESPONSE. Blocks up to the call deadline.
 */
int etcd_range(EtcdClient *c, const char *key, bool prefix, int64_t revision,
               bool serializable, EtcdRangeResult *out,
               PgwError *err) PGW_MUSTCHECK;

/*
 * etcd_put: put key=value (value_len bytes) on lease (0 = none). prev (may be
 * NULL) receives the previous kv (zeroed if none). *revision_out (may be
 * NULL) the header revision.
 */
int etcd_put(EtcdClient *c, const char *key, const char *value,
             size_t value_len, int64_t lease, EtcdKeyValue *prev,
             int64_t *revision_out, PgwError *err) PGW_MUSTCHECK;

/* etcd_delete: delete key or prefix; *deleted (may be NULL) gets the count. */
int etcd_delete(EtcdClient *c, const char *key, bool prefix, int64_t *deleted,
                PgwError *err) PGW_MUSTCHECK;

typedef enum EtcdCmpResult
{
	ETCD_CMP_EQUAL = 0,
	ETCD_CMP_GREATER = 1,
	ETCD_CMP_LESS = 2,
	ETCD_CMP_NOT_EQUAL = 3,
} EtcdCmpResult;

typedef enum EtcdCmpTarget
{
	ETCD_TARGET_VERSION = 0,
	ETCD_TARGET_CREATE = 1,
	ETCD_TARGET_MOD = 2,
	ETCD_TARGET_VALUE = 3,
	ETCD_TARGET_LEASE = 4,
} EtcdCmpTarget;

typedef struct EtcdCompare
{
	const char *key;
	EtcdCmpResult result;
	EtcdCmpTarget target;
	int64_t number;    /* version / create / mod revision / lease */
	const char *value; /* for ETCD_TARGET_VALUE */
	size_t value_len;
} EtcdCompare;

typedef enum EtcdOpKind
{
	ETCD_OP_RANGE = 0,
	ETCD_OP_PUT = 1,
	ETCD_OP_DELETE = 2,
} EtcdOpKind;

typedef struct EtcdOp
{
	EtcdOpKind kind;
	const char *key;
	bool prefix;       /* range / delete over the prefix */
	const char *value; /* put */
	size_t value_len;
	int64_t lease; /* put */
} EtcdOp;

typedef struct EtcdOpResult
{
	EtcdOpKind kind;
	EtcdRangeResult range; /* ETCD_OP_RANGE */
	int64_t deleted;       /* ETCD_OP_DELETE */
} EtcdOpResult;

typedef struct EtcdTxnResult
{
	bool succeeded; /* compares held: success ops ran */
	int64_t revision;
	size_t n_responses;
	EtcdOpResult *responses; /* owned; etcd_txn_result_free */
} EtcdTxnResult;

void etcd_txn_result_free(EtcdTxnResult *r);

/*
 * etcd_txn: if all compares hold run success ops, else failure ops. A txn
 * whose compares fail is not an error: out->succeeded is false. An ambiguous
 * outcome (deadline passed after sending) is PGW_ETIMEDOUT: callers re-read.
 */
int etcd_txn(EtcdClient *c, const EtcdCompare *cmp, size_t n_cmp,
             const EtcdOp *success, size_t n_success, const EtcdOp *failure,
             size_t n_failure, EtcdTxnResult *out, PgwError *err) PGW_MUSTCHECK;

/* etcd_lease_grant: new lease of ttl_s seconds; *ttl_out is etcd's TTL. */
int etcd_lease_grant(EtcdClient *c, int64_t ttl_s, int64_t *id_out,
                     int64_t *ttl_out, PgwError *err) PGW_MUSTCHECK;

/* etcd_lease_revoke: PGW_ENOTFOUND when the lease is already gone. */
int etcd_lease_revoke(EtcdClient *c, int64_t id, PgwError *err) PGW_MUSTCHECK;

/* etcd_lease_ttl: remaining TTL (-1 when expired/unknown) and granted TTL. */
int etcd_lease_ttl(EtcdClient *c, int64_t id, int64_t *ttl_out,
                   int64_t *granted_ttl_out, PgwError *err) PGW_MUSTCHECK;

/*
 * etcd_lease_keepalive_once: one keepalive round trip on the client's
 * long-lived LeaseKeepAlive stream (opened on first use, reopened after
 * errors), blocking up to timeout_ms. On success *ttl_out is the TTL etcd
 * confirmed (<= 0: the lease is gone, returned as PGW_ENOTFOUND) and
 * *sent_mono_ms the monotonic time the request was handed to gRPC: the
 * fencing deadline is sent_mono_ms + ttl - margin, never measured from the
 * reply.
 */
int etcd_lease_keepalive_once(EtcdClient *c, int64_t id, int timeout_ms,
                              int64_t *ttl_out, int64_t *sent_mono_ms,
                              PgwError *err) PGW_MUSTCHECK;

/*
 * etcd_lease_keepalive_start: keep lease id alive from the CQ thread, one
 * request every interval_ms on the same stream; each confirmation is posted
 * as ETCD_EVENT_KEEPALIVE (or given to the observer, see below), a TTL <= 0
 * as ETCD_EVENT_LEASE_LOST. Replaces any
 * lease kept before. etcd_lease_keepalive_stop stops it (no revoke).
 */
int etcd_lease_keepalive_start(EtcdClient *c, int64_t id, int interval_ms,
                               PgwError *err) PGW_MUSTCHECK;
void etcd_lease_keepalive_stop(EtcdClient *c);

/*
 * etcd_lease_keepalive_last: the latest confirmation of the background
 * keepalive: *ttl_out (0 if none yet) and *sent_mono_ms of the request it
 * answered. Returns false if no confirmation has arrived for lease id.
 */
bool etcd_lease_keepalive_last(EtcdClient *c, int64_t id, int64_t *ttl_out,
                               int64_t *sent_mono_ms);

/*
 * etcd_lease_keepalive_observe: fn(arg, lease_id, ttl_s, sent_mono_ms) runs
 * on the client's own thread for every confirmation of the kept lease, the
 * moment it arrives, instead of an ETCD_EVENT_KEEPALIVE being queued (the
 * owner's loop is not woken once a keepalive interval; ETCD_EVENT_LEASE_LOST
 * still is): a fence fed this way does not depend on the caller's loop. fn
 * runs under the client's lock: it must be quick, must not block and must
 * not call the client. NULL removes it.
 */
typedef void (*EtcdKeepaliveObserver)(void *arg, int64_t lease_id,
                                      int64_t ttl_s, int64_t sent_mono_ms);
void etcd_lease_keepalive_observe(EtcdClient *c, EtcdKeepaliveObserver fn,
                                  void *arg);

/*
 * etcd_watch_start: watch key (or prefix) from start_revision (0 = now) on
 * the client's Watch stream. Events arrive through the event queue. After a
 * reconnect the watch is re-created from last seen revision + 1; after
 * compaction it restarts at the current revision and posts
 * ETCD_EVENT_WATCH_RESYNC so the owner re-reads. *watch_id_out is our id
 * (stable across re-creation).
 */
int etcd_watch_start(EtcdClient *c, const char *key, bool prefix,
                     int64_t start_revision, int64_t *watch_id_out,
                     PgwError *err) PGW_MUSTCHECK;
int etcd_watch_cancel(EtcdClient *c, int64_t watch_id,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * etcd_watch_set_progress: watch liveness. Once the Watch stream has been
 * silent for interval_ms, the CQ thread asks etcd for progress (a
 * WatchProgressRequest: no read, no raft); when that is not answered within
 * interval_ms either, the stream counts as stalled: ETCD_EVENT_WATCH_RESYNC
 * is posted (re-read: the owner's view may be stale), the connection to that
 * endpoint is replaced and the watches are re-created from their last
 * revision + 1. A stall is thus noticed within 2 * interval_ms of the last
 * message. 0 turns it off (the default). Any thread.
 */
void etcd_watch_set_progress(EtcdClient *c, int interval_ms);

/*
 * etcd_watch_live: every watch is created on a stream that was heard from
 * within max_silence_ms (an event or a progress answer): what the owner
 * saw through it is current but for events still in flight. *revision_out
 * (may be NULL): the highest header revision heard. Any thread.
 */
bool etcd_watch_live(EtcdClient *c, int64_t max_silence_ms,
                     int64_t *revision_out);

/* etcd_watch_stalls: how many stalls etcd_watch_set_progress detected */
uint64_t etcd_watch_stalls(EtcdClient *c);

typedef enum EtcdEventType
{
	ETCD_EVENT_WATCH_PUT = 1,
	ETCD_EVENT_WATCH_DELETE = 2, /* includes lease expiry */
	ETCD_EVENT_WATCH_RESYNC = 3, /* events may be missing: re-read */
	ETCD_EVENT_KEEPALIVE = 4,
	ETCD_EVENT_LEASE_LOST = 5,
	ETCD_EVENT_STREAM_ERROR = 6, /* a stream broke; it is being reopened */
	ETCD_EVENT_CONNECTED = 7,    /* channel became ready again */
} EtcdEventType;

typedef struct EtcdEvent
{
	EtcdEventType type;
	int64_t watch_id;     /* watch events */
	EtcdKeyValue kv;      /* watch events; owned, etcd_event_clear */
	int64_t revision;     /* watch: kv's mod revision; resync: restart rev */
	int64_t lease_id;     /* keepalive events */
	int64_t ttl_s;        /* keepalive events */
	int64_t sent_mono_ms; /* keepalive: when the request was sent */
	char msg[256];        /* errors / resync reason */
} EtcdEvent;

/* etcd_client_event_fd: readable (eventfd) while events are queued. */
int etcd_client_event_fd(EtcdClient *c);

/* etcd_client_next_event: pop one event; false when the queue is empty. */
bool etcd_client_next_event(EtcdClient *c, EtcdEvent *ev);
void etcd_event_clear(EtcdEvent *ev);

/* etcd_prefix_range_end: range_end for a prefix (etcd's rule); buf >= len+1 */
size_t etcd_prefix_range_end(const char *key, size_t key_len, char *buf);

/*
 * Pure helpers, exposed for configuration checks and unit tests (no I/O).
 */
#define ETCD_ENDPOINTS_MAX 16
#define ETCD_HOST_MAX      256

typedef struct EtcdEndpoint
{
	char host[ETCD_HOST_MAX];        /* name or address, no brackets */
	int port;                        /* 1..65535 */
	bool tls;                        /* https:// given */
	char target[ETCD_HOST_MAX + 16]; /* gRPC target "h:p" / "[v6]:p" */
} EtcdEndpoint;

/*
 * etcd_endpoints_parse: split "h:p,https://h:p,[::1]:p" into out[max].
 * Whitespace around entries is ignored; an empty entry, missing or bad port,
 * unknown scheme, a path, or more than max entries is PGW_EINVAL with a
 * message naming the entry. *n_out receives the count.
 */
int etcd_endpoints_parse(const char *s, EtcdEndpoint *out, int max, int *n_out,
                         PgwError *err) PGW_MUSTCHECK;

/*
 * etcd_error_from_grpc: map a gRPC status code (and etcd's detail text) to a
 * PGW_E* code: DEADLINE_EXCEEDED -> PGW_ETIMEDOUT, UNAVAILABLE ->
 * PGW_EUNAVAILABLE, UNAUTHENTICATED / PERMISSION_DENIED / "authentication
 * failed" -> PGW_EAUTH, "compacted" -> PGW_ECOMPACTED, NOT_FOUND ->
 * PGW_ENOTFOUND, ALREADY_EXISTS / ABORTED -> PGW_ECONFLICT, CANCELLED ->
 * PGW_ECANCELED, INVALID_ARGUMENT / OUT_OF_RANGE / RESOURCE_EXHAUSTED ->
 * PGW_EINVAL, anything else PGW_EIO. 0 for OK.
 */
int etcd_error_from_grpc(int grpc_status, const char *details);

/*
 * etcd_range_result_decode / etcd_txn_result_decode: decode a serialized
 * RangeResponse / TxnResponse into our structs (what the client does with
 * every reply). PGW_EBADRESPONSE when buf does not decode.
 */
int etcd_range_result_decode(const void *buf, size_t len, EtcdRangeResult *out,
                             PgwError *err) PGW_MUSTCHECK;
int etcd_txn_result_decode(const void *buf, size_t len, EtcdTxnResult *out,
                           PgwError *err) PGW_MUSTCHECK;


#endif
