/*
 * rest_int.h: shared by the REST API's files only (rest.c: the HTTP glue and
 * read side; rest_write.c: write endpoints; rest_actions.c: the queue of
 * actions only the loop may carry out).
 */
#ifndef PGW_DAEMON_REST_INT_H
#define PGW_DAEMON_REST_INT_H

#include "daemon/daemon_int.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct RestActionItem
{
	RestAction action;
	bool queued; /* still in the queue (not taken by the loop) */
	bool answered;
	bool abandoned; /* the submitter timed out and left */
	int http_status;
	char msg[256];
	struct RestActionItem *next;
} RestActionItem;

/* where a connection is in its current request (rest_guard.c) */
typedef enum RestConnPhase
{
	REST_CONN_WAIT_HEADERS, /* accepted, or between two requests */
	REST_CONN_RECEIVING,    /* headers read, a write's body coming */
	REST_CONN_PROCESSING,   /* ours: answering (bounded by us) */
} RestConnPhase;

typedef struct RestConn RestConn;

struct RestServer
{
	struct MHD_Daemon *mhd;
	int port;
	bool stopping; /* rest_stop began: waits end (atomic) */
	pthread_mutex_t lock;
	RestSnapshot snap; /* guarded by lock */
	bool has_snap;
	char *cert_pem;
	char *key_pem;
	char *ca_pem;

	/* access control (read-only after rest_start) */
	int verify_client; /* ConfigVerifyClient */
	char *username;
	char *password;
	int n_allow;
	RestCidr *allow; /* parsed CIDR entries */
	int n_allow_names;
	char **allow_names; /* entries that are host names */
	bool allowlist_include_members;
	bool
	    allow_loopback_writes; /* restapi.allow_unauthenticated_writes_from_loopback */

	/* etcd, for the endpoints that write keys; opened on first use */
	pthread_mutex_t etcd_lock;
	EtcdClient *etcd;
	char *etcd_endpoints;
	char *etcd_cacert;
	char *etcd_cert;
	char *etcd_key;
	char *etcd_username;
	char *etcd_password;
	char *prefix;
	char *member_name;
	int64_t (*lease_deadline)(int64_t lease_id); /* RestOptions' */

	/* failsafe mode: when a primary last asked us to vouch for it */
	_Atomic int64_t failsafe_vouched_mono_ms;
	char failsafe_primary[PGW_NAME_MAX]; /* guarded by lock */
	/* the member the last valid view named as leader (kept after its key
	 * expired: the one a failsafe vouch may be for), guarded by lock */
	char last_leader[PGW_NAME_MAX];
	char last_leader_api_url[PGW_URL_MAX];
	char last_leader_conn_url[PGW_URL_MAX];

	/* connections and their deadlines (rest_guard.c) */
	pthread_mutex_t guard_lock;
	RestConn *conns; /* guarded by guard_lock */
	int n_conns;
	pthread_t guard_thread;
	bool guard_started;
	bool guard_stop;             /* atomic */
	uint64_t guard_closed_total; /* atomic */

	/* write requests running in their own threads (rest_server.c) */
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_cond;
	int jobs_running;        /* guarded by jobs_lock */
	int64_t log_mhd_mono_ms; /* last libmicrohttpd message logged */
	uint64_t log_mhd_dropped;

	/* the action queue (rest_actions.c) */
	pthread_mutex_t aq_lock;
	pthread_cond_t aq_cond;
	int aq_fd;               /* eventfd: readable while queued */
	RestActionItem *aq_head; /* FIFO of every live item */
	uint64_t aq_next_ticket;
};

/* A write endpoint's answer. */
typedef struct RestReply
{
	int status;
	char *body;          /* JSON, owned */
	bool auth_challenge; /* add WWW-Authenticate */
} RestReply;

/* rest_check_access: may this request use a write endpoint? 0, or the
 * HTTP status (401/403) with the reason in *reason (rest_access.c) */
int rest_check_access(RestServer *srv, struct MHD_Connection *conn,
                      const char **reason);

/* rest_write_handle: run a write endpoint (access already checked);
 * client is the caller's address (may be NULL), has_cert whether it
 * presented a certificate our CA verified. */
struct sockaddr;
void rest_write_handle(RestServer *srv, const char *method, const char *url,
                       const char *body, size_t len, const char *if_match,
                       const struct sockaddr *client, RestReply *out);

/* rest_failsafe_post: POST /failsafe (rest_failsafe.c) */
void rest_failsafe_post(RestServer *srv, const char *body, size_t len,
                        const struct sockaddr *client, RestReply *out);

/* rest_failsafe_vouch_check: whether a POST /failsafe for name from client
 * may be vouched for: name is the member the last valid view named as
 * leader (leader, its api_url and conn_url as recorded) and the client's
 * address is that member's host. 0, or the HTTP status (403) with the
 * reason in why. Pure apart from name resolution (rest_host_match). */
int rest_failsafe_vouch_check(const char *name, const char *leader,
                              const char *api_url, const char *conn_url,
                              const struct sockaddr *client, char *why,
                              size_t why_len);

/* reply_msg: {"message": msg} for a 2xx status, else {"error": msg}
 * (rest_write.c) */
void reply_msg(RestReply *r, int status, const char *msg);

/* the endpoints that queue an action for the loop (rest_write_actions.c) */
void post_restart(RestServer *srv, const char *body, size_t len,
                  RestReply *out);
void post_reinit(RestServer *srv, const char *body, size_t len, RestReply *out);
void simple_action(RestServer *srv, RestActionKind kind, RestReply *out);

/* rest_write_is_endpoint: method + url name a write endpoint. */
bool rest_write_is_endpoint(const char *method, const char *url);

/* rest_reply_json: {"<key>": msg} as the reply. */
void rest_reply_set(RestReply *r, int status, const char *key, const char *msg);

/* rest_snapshot_copy: a heap copy of the served snapshot without its
 * JSON strings; NULL before the first publish. Caller frees. */
RestSnapshot *rest_snapshot_copy(RestServer *srv);

/* rest.c: install a new snapshot (under srv->lock); the caller frees the
 * two returned strings after unlocking */
void rest_snap_take(RestServer *srv, RestSnapshot *snap, char **old_hist,
                    char **old_cfg);
int rest_actions_init(RestServer *srv);
void rest_actions_destroy(RestServer *srv);
void rest_actions_wake(RestServer *srv); /* waiters see stopping */

void rest_write_close(RestServer *srv);

/* GET /shards[?user_id=N] (rest_shards.c): the body, *status its code */
char *rest_shards_get(RestServer *srv, const char *query, int *status);
void rest_shards_close(void);

/* rest_setup.c */
/* rest_server_configure: copy opt's access and etcd settings into srv and
 * read the TLS files; PGW_EINVAL names a bad one */
int rest_server_configure(RestServer *srv, const RestOptions *opt,
                          PgwError *err);
/* rest_server_free: stop the guard and free everything srv holds */
void rest_server_free(RestServer *srv);

/* rest_guard.c */
/* rest_guard_notify: libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback
 * (cls is the RestServer): tracks every connection */
void rest_guard_notify(void *cls, struct MHD_Connection *conn,
                       void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);
/* rest_guard_phase: conn's request moved to phase (its deadline restarts) */
void rest_guard_phase(RestServer *srv, struct MHD_Connection *conn,
                      RestConnPhase phase);
int rest_guard_start(RestServer *srv); /* the watchdog thread */
void rest_guard_stop(RestServer *srv);
uint64_t rest_guard_closed_total(RestServer *srv);

/* rest_with_etcd: fn(client, prefix, arg, err) on the write side's etcd
 * client, under its lock; PGW_EUNAVAILABLE without etcd access */
int rest_with_etcd(RestServer *srv,
                   int (*fn)(EtcdClient *c, const char *prefix, void *arg,
                             PgwError *err),
                   void *arg, PgwError *err);

/* rest_backup_post: POST /backup {"type": "full"|"diff"|"incr"} (rest_backup.c) */
void rest_backup_post(RestServer *srv, const char *body, size_t len,
                      RestReply *out);

#endif
