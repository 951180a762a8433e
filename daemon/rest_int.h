/*
 * rest_int.h: shared by the REST API's files only (rest.c: the HTTP glue and
 * read side; rest_write.c: write endpoints; rest_actions.c: the queue of
 * actions only the loop may carry out).
 */
#ifndef PGW_DAEMON_REST_INT_H
#define PGW_DAEMON_REST_INT_H

#include "daemon/daemon_int.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct RestActionItem
{
	RestAction	action;
	bool		queued;			/* still in the queue (not taken by the loop) */
	bool		answered;
	bool		abandoned;		/* the submitter timed out and left */
	int			http_status;
	char		msg[256];
	struct RestActionItem *next;
} RestActionItem;

struct RestServer
{
	struct MHD_Daemon *mhd;
	int			port;
	bool		stopping;		/* rest_stop began: waits end (atomic) */
	pthread_mutex_t lock;
	RestSnapshot snap;			/* guarded by lock */
	bool		has_snap;
	char	   *cert_pem;
	char	   *key_pem;
	char	   *ca_pem;

	/* access control (read-only after rest_start) */
	int			verify_client;	/* ConfigVerifyClient */
	char	   *username;
	char	   *password;
	int			n_allow;
	RestCidr   *allow;			/* parsed CIDR entries */
	int			n_allow_names;
	char	  **allow_names;	/* entries that are host names */
	bool		allowlist_include_members;

	/* etcd, for the endpoints that write keys; opened on first use */
	pthread_mutex_t etcd_lock;
	EtcdClient *etcd;
	char	   *etcd_endpoints;
	char	   *etcd_cacert;
	char	   *etcd_cert;
	char	   *etcd_key;
	char	   *etcd_username;
	char	   *etcd_password;
	char	   *prefix;
	char	   *member_name;

	/* failsafe mode: when a primary last asked us to vouch for it */
	_Atomic int64_t failsafe_vouched_mono_ms;
	char		failsafe_primary[PGW_NAME_MAX];	/* guarded by lock */

	/* the action queue (rest_actions.c) */
	pthread_mutex_t aq_lock;
	pthread_cond_t aq_cond;
	int			aq_fd;			/* eventfd: readable while queued */
	RestActionItem *aq_head;	/* FIFO of every live item */
	uint64_t	aq_next_ticket;
};

/* A write endpoint's answer. */
typedef struct RestReply
{
	int			status;
	char	   *body;			/* JSON, owned */
	bool		auth_challenge; /* add WWW-Authenticate */
} RestReply;

/* rest_write_handle: run a write endpoint (access already checked). */
void		rest_write_handle(RestServer *srv, const char *method,
							  const char *url, const char *body, size_t len,
							  const char *if_match, RestReply *out);

/* rest_write_is_endpoint: method + url name a write endpoint. */
bool		rest_write_is_endpoint(const char *method, const char *url);

/* rest_reply_json: {"<key>": msg} as the reply. */
void		rest_reply_set(RestReply *r, int status, const char *key,
						   const char *msg);

/* rest_snapshot_copy: a heap copy of the served snapshot without its
 * JSON strings; NULL before the first publish. Caller frees. */
RestSnapshot *rest_snapshot_copy(RestServer *srv);

int			rest_actions_init(RestServer *srv);
void		rest_actions_destroy(RestServer *srv);
void		rest_actions_wake(RestServer *srv);	/* waiters see stopping */

void		rest_write_close(RestServer *srv);

/* rest_with_etcd: fn(client, prefix, arg, err) on the write side's etcd
 * client, under its lock; PGW_EUNAVAILABLE without etcd access */
int			rest_with_etcd(RestServer *srv,
						   int (*fn) (EtcdClient *c, const char *prefix, void *arg,
									  PgwError *err),
						   void *arg, PgwError *err);

/* rest_backup_post: POST /backup {"type": "full"|"diff"|"incr"} (rest_backup.c) */
void		rest_backup_post(RestServer *srv, const char *body, size_t len,
							 RestReply *out);

#endif
