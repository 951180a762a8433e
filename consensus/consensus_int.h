/*
 * consensus_int.h: shared inside consensus/ only (STYLE.md, "Headers"). The
 * EtcdClient internals: endpoints and their channels, the CQ thread, the
 * two bidirectional streams (LeaseKeepAlive, Watch), the event queue, and
 * the unary call helper used by etcd_kv.c and etcd_lease.c.
 */
#ifndef PGW_CONSENSUS_INT_H
#define PGW_CONSENSUS_INT_H

#include "consensus/consensus.h"

#include "etcd.pb-c.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdatomic.h>

#define ETCD_TOKEN_MAX        512
#define ETCD_ATTEMPT_FLOOR_MS 500   /* per-endpoint attempt, at least */
#define ETCD_STREAM_RETRY_MS  200   /* pause before reopening a stream */
#define ETCD_TICK_MAX_MS      5000  /* CQ thread: longest sleep without work */
#define ETCD_CONN_RECHECK_MS  30000 /* connectivity watch deadline */

typedef struct EtcdClient EtcdClient;
typedef struct EtcdStream EtcdStream;

typedef enum EtcdTagKind
{
	TAG_SEND,
	TAG_RECV,
	TAG_STATUS,
	TAG_CONN, /* connectivity watch of one endpoint */
} EtcdTagKind;

/* A completion-queue tag: what completed and whose it is. */
typedef struct EtcdTag
{
	EtcdTagKind kind;
	void *owner; /* EtcdStream* or EtcdChannel* */
} EtcdTag;

typedef struct EtcdChannel
{
	EtcdEndpoint ep;
	grpc_channel *ch;
	grpc_connectivity_state state; /* last seen by the CQ thread */
	bool watch_armed;              /* a connectivity watch is pending */
	EtcdTag conn_tag;
	char token[ETCD_TOKEN_MAX]; /* auth token of this member, "" */
} EtcdChannel;

typedef enum EtcdStreamKind
{
	STREAM_LEASE,
	STREAM_WATCH,
} EtcdStreamKind;

/* One message waiting for the stream's single SEND_MESSAGE slot. */
typedef struct EtcdSendItem
{
	grpc_byte_buffer *buf;
	int64_t lease_id; /* lease stream: the id kept alive */
	bool is_sync;     /* lease stream: etcd_lease_keepalive_once */
	struct EtcdSendItem *next;
} EtcdSendItem;

/* A keepalive request handed to gRPC and not yet answered (FIFO). */
typedef struct EtcdInflight
{
	int64_t lease_id;
	int64_t sent_mono_ms;
	bool is_sync;
	struct EtcdInflight *next;
} EtcdInflight;

struct EtcdStream
{
	EtcdClient *c;
	EtcdStreamKind kind;
	int endpoint; /* index into c->chans */
	grpc_call *call;
	EtcdTag tag_send;
	EtcdTag tag_recv;
	EtcdTag tag_status;
	int pending; /* batches outstanding on the CQ */
	bool send_busy;
	bool recv_busy;
	bool is_broken;   /* failed or canceled: never reused */
	bool is_attached; /* still c->lease_stream / c->watch_stream */
	bool got_first_msg;
	grpc_metadata send_md[2];
	size_t n_send_md;
	grpc_metadata_array md_initial;
	grpc_metadata_array md_trailing;
	grpc_byte_buffer *send_buf;
	grpc_byte_buffer *recv_buf;
	grpc_status_code status;
	grpc_slice status_details;
	const char *error_string;
	EtcdSendItem *sendq_head;
	EtcdSendItem *sendq_tail;
	EtcdInflight *inflight_head; /* lease stream */
	EtcdInflight *inflight_tail;
};

typedef enum EtcdWatchState
{
	WATCH_PENDING,  /* must be (re-)created */
	WATCH_CREATING, /* create sent, awaiting "created" */
	WATCH_ACTIVE,
} EtcdWatchState;

typedef struct EtcdWatch
{
	int64_t id; /* ours, stable */
	char *key;
	size_t key_len;
	bool prefix;
	int64_t start_revision; /* as asked (0 = now) */
	int64_t last_revision;  /* last delivered; -1: none yet */
	EtcdWatchState state;
	int64_t etcd_id; /* etcd's id on the current stream */
	bool cancel_requested;
	struct EtcdWatch *next;
} EtcdWatch;

typedef struct EtcdEventNode
{
	EtcdEvent ev;
	struct EtcdEventNode *next;
} EtcdEventNode;

/* The state of one etcd_lease_keepalive_once waiting on the stream. */
typedef struct EtcdKaWaiter
{
	bool is_active;
	bool is_done;
	int64_t lease_id;
	int rc;
	int64_t ttl_s;
	int64_t sent_mono_ms;
	char msg[256];
} EtcdKaWaiter;

struct EtcdClient
{
	/* configuration (immutable after open) */
	int n_chans;
	EtcdChannel chans[ETCD_ENDPOINTS_MAX];
	char *username;
	char *password;
	_Atomic int
	    call_timeout_ms; /* set at open; the daemon follows retry_timeout */
	int dial_timeout_ms;
	bool is_tls;
	uint64_t open_log_seq; /* gRPC log lines before open are not ours */

	pthread_mutex_t mu;  /* everything below */
	pthread_cond_t cond; /* keepalive_once waiter */
	int cur;             /* endpoint in use */
	bool is_closing;

	grpc_completion_queue *cq; /* next-CQ of the streams + watches */
	pthread_t thread;
	bool has_thread;

	/* lease keepalive */
	EtcdStream *lease_stream;
	int64_t lease_retry_mono_ms; /* reopen not before */
	int64_t ka_id;               /* background keepalive, 0 = none */
	int ka_interval_ms;
	int64_t ka_next_mono_ms;
	int64_t ka_last_ttl;
	int64_t ka_last_sent_mono_ms;
	EtcdKeepaliveObserver ka_observer; /* see etcd_lease_keepalive_observe */
	void *ka_observer_arg;
	int64_t ka_last_id;
	bool ka_lost_posted;
	EtcdKaWaiter waiter;

	/* watches */
	EtcdStream *watch_stream;
	int64_t watch_retry_mono_ms;
	EtcdWatch *watches;
	int64_t next_watch_id;

	/* watch liveness (etcd_watch_set_progress): a silent stream is asked
	 * for progress; one that does not answer is declared stalled */
	int watch_progress_ms;               /* 0: off */
	int64_t watch_heard_mono_ms;         /* last message on the watch stream */
	int64_t watch_heard_rev;             /* its header revision */
	int64_t watch_progress_sent_mono_ms; /* 0: none outstanding */
	uint64_t watch_stalls;  /* stalls detected (for tests, benches) */
	bool ka_sent_this_tick; /* a keepalive went out in this wake */

	/* channels are re-created (etcd_channel_reset_locked) with these */
	grpc_channel_credentials *creds;
	grpc_arg chan_args[10];
	grpc_channel_args chan_argset;
	grpc_channel *retired[ETCD_ENDPOINTS_MAX]; /* destroyed unlocked */
	int n_retired;
	/* metrics (etcd_stats.c): atomics, read by any thread */
	PgwHistogram req_hist; /* unary attempts */
	_Atomic uint64_t req_failed;
	_Atomic int64_t contact_mono_ms;
	_Atomic int64_t contact_wall_ms;

	/* events to the owner */
	int event_fd;
	EtcdEventNode *evq_head;
	EtcdEventNode *evq_tail;
};

/* etcd_stats.c: one unary attempt took us microseconds; answered: etcd
 * answered it (an error status from etcd is still contact) */
void etcd_stats_attempt(EtcdClient *c, int64_t us, bool ok, bool answered);
/* etcd_stats_contact: etcd answered on a stream (a keepalive) */
void etcd_stats_contact(EtcdClient *c);

/* etcd_client.c */
int etcd_unary(EtcdClient *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp, const char *what, PgwError *err);
grpc_byte_buffer *etcd_pack(const ProtobufCMessage *msg);
ProtobufCMessage *etcd_unpack(grpc_byte_buffer *buf,
                              const ProtobufCMessageDescriptor *desc);
void etcd_post_event_locked(EtcdClient *c, const EtcdEvent *ev);
void etcd_kv_copy(EtcdKeyValue *dst, const Etcdserverpb__KeyValue *src);
int etcd_grpc_log_since(uint64_t seq, char *buf, size_t len);
uint64_t etcd_grpc_log_seq(void);
const char *etcd_grpc_code_name(int code);
int etcd_auth_ensure(EtcdClient *c, int idx, int timeout_ms, PgwError *err);

/* streams (etcd_stream.c) */
EtcdStream *etcd_stream_open_locked(EtcdClient *c, EtcdStreamKind kind,
                                    PgwError *err);
void etcd_stream_send_locked(EtcdStream *s, grpc_byte_buffer *buf,
                             int64_t lease_id, bool is_sync);
void etcd_stream_break_locked(EtcdStream *s, int code, const char *msg);
void etcd_stream_handle_locked(EtcdClient *c, EtcdTag *tag, bool ok);
int etcd_pick_endpoint_locked(EtcdClient *c);
void etcd_channel_reset_locked(EtcdClient *c, int idx, const char *why);
void etcd_channel_destroy_retired(EtcdClient *c);
void etcd_stream_status_text(EtcdStream *s, char *buf, size_t len);

/* etcd_lease.c, etcd_watch.c: called by the stream layer with c->mu held */
void etcd_lease_on_message_locked(EtcdClient *c, EtcdStream *s,
                                  grpc_byte_buffer *buf);
void etcd_lease_on_broken_locked(EtcdClient *c, int code, const char *msg);
void etcd_lease_tick_locked(EtcdClient *c, int64_t now_ms);
int64_t etcd_lease_next_tick_locked(EtcdClient *c);
void etcd_watch_on_message_locked(EtcdClient *c, EtcdStream *s,
                                  grpc_byte_buffer *buf);
void etcd_watch_on_broken_locked(EtcdClient *c, int code, const char *msg);
void etcd_watch_tick_locked(EtcdClient *c, int64_t now_ms);
int64_t etcd_watch_next_tick_locked(EtcdClient *c);
void etcd_watch_free_all(EtcdClient *c);

#endif
