/*
 * daemon_int.h: shared inside daemon/ only. The loop (loop.c) owns the node's
 * state; the REST API (rest.c) runs on libmicrohttpd's thread and reads a
 * snapshot the loop publishes once per iteration under a mutex, so an HTTP
 * request never blocks the loop and never sees a half-updated state.
 */
#ifndef PGW_DAEMON_INT_H
#define PGW_DAEMON_INT_H

#include "consensus/consensus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define REST_STANDBYS_MAX PGW_MEMBERS_MAX

typedef struct RestStandby
{
	char		application_name[PGW_NAME_MAX];
	char		client_addr[64];
	char		state[32];		/* streaming, catchup, ... */
	char		sync_state[16]; /* async, sync, quorum, potential */
	uint64_t	sent_lsn;
	uint64_t	write_lsn;
	uint64_t	flush_lsn;
	uint64_t	replay_lsn;
} RestStandby;

/* What the REST API may show: a copy made by the loop every iteration. */
typedef struct RestSnapshot
{
	char		name[PGW_NAME_MAX];
	char		scope[128];
	MemberInfo	self;			/* as published in members/<name> */
	bool		pg_running;		/* postmaster alive and accepting connections */
	bool		pg_read_write;	/* running and not in recovery */
	bool		holds_leader;	/* leader key confirmed ours this loop */
	int			server_version; /* e.g. 150018 */
	char		sysid[32];
	int64_t		postmaster_start_wall_ms;
	int64_t		replayed_ts_wall_ms;	/* last replayed xact, 0 if unknown */
	bool		replay_paused;
	int			n_standbys;
	RestStandby standbys[REST_STANDBYS_MAX];
	ClusterView view;			/* last good view of the cluster */
	int64_t		dcs_last_seen_wall_ms;
	int64_t		last_loop_mono_ms;
	int64_t		loop_duration_ms;
	int64_t		lease_deadline_mono_ms; /* 0: no valid lease */
	uint64_t	loops_total;
	uint64_t	etcd_errors_total;
	uint64_t	decisions_total;
	char		decision[32];	/* last decision kind */
	char		rule[64];
	char		reason[256];
	char	   *history_json;	/* raw `history` value or NULL; owned */
	char	   *config_json;	/* raw `config` value or NULL; owned */
} RestSnapshot;

typedef struct RestServer RestServer;

typedef struct RestOptions
{
	const char *listen;			/* host:port */
	const char *certfile;		/* TLS when set */
	const char *keyfile;
	const char *cafile;
	int			verify_client;	/* ConfigVerifyClient: none/optional/required */
	const char *username;		/* basic auth for write endpoints */
	const char *password;
	const char *const *allowlist;	/* CIDRs allowed to call write endpoints */
	int			n_allowlist;
	bool		allowlist_include_members;	/* members' hosts are allowed too */
	/* etcd access for write endpoints that change keys (switchover,
	 * failover, config): the REST thread opens its own client */
	const char *etcd_endpoints;
	const char *etcd_cacert;
	const char *etcd_cert;
	const char *etcd_key;
	const char *etcd_username;
	const char *etcd_password;
	const char *prefix;			/* "<namespace>/<scope>/" */
	const char *member_name;	/* this node */
} RestOptions;

/*
 * Actions that only the loop may carry out (they touch PostgreSQL): the REST
 * thread queues them and waits for the loop's answer, bounded in time.
 */
typedef enum RestActionKind
{
	REST_ACTION_RESTART = 1,	/* POST /restart */
	REST_ACTION_RELOAD,			/* POST /reload */
	REST_ACTION_REINIT,			/* POST /reinitialize */
	REST_ACTION_RESTART_CANCEL, /* DELETE /restart: drop a scheduled restart */
} RestActionKind;

typedef struct RestAction
{
	RestActionKind kind;
	bool		restart_pending_only;	/* POST /restart {"restart_pending": true} */
	char		role[16];		/* {"role": "primary"|"replica"}: "" = any */
	int64_t		scheduled_wall_ms;	/* {"schedule": ISO 8601}: 0 = now */
	int			timeout_s;		/* {"timeout": N}: 0 = default */
	bool		force;			/* POST /reinitialize {"force": true} */
	uint64_t	ticket;			/* set by the queue */
} RestAction;

/*
 * rest_action_submit: REST thread side: queue a, wake the loop, and wait up
 * to wait_ms for rest_action_done(). Returns the HTTP status the loop gave
 * (200, 202, 409, 503 ...) with its message in msg, or 503 "timed out" when
 * the loop did not answer in time.
 */
int			rest_action_submit(RestServer *s, RestAction *a, int wait_ms,
							   char *msg, size_t msg_len);

/* rest_action_fd: readable (eventfd) while actions are queued (loop side). */
int			rest_action_fd(RestServer *s);

/* rest_action_next: loop side: pop one queued action; false when none. */
bool		rest_action_next(RestServer *s, RestAction *out);

/* rest_action_done: loop side: answer the action with ticket. */
void		rest_action_done(RestServer *s, uint64_t ticket, int http_status,
							 const char *msg);

/* rest_start: listen and serve from libmicrohttpd's own thread. */
int			rest_start(const RestOptions *opt, RestServer **out, PgwError *err);

/* rest_publish: replace the served snapshot (copies it; takes ownership of
 * history_json / config_json, which the caller must not free). */
void		rest_publish(RestServer *s, RestSnapshot *snap);

void		rest_stop(RestServer *s);

/*
 * rest_status_for: the Patroni-compatible status code of a health-check path
 * (e.g. "/primary", "/replica?lag=1MB") for a snapshot; 0 if the path is not
 * a health check. Pure, so it is unit-tested by tables.
 */
int			rest_status_for(const RestSnapshot *s, const char *path,
							const char *query, int64_t now_mono_ms);

/* rest_patroni_json: the GET /patroni body for a snapshot (caller frees). */
char	   *rest_patroni_json(const RestSnapshot *s, int64_t now_wall_ms);
char	   *rest_cluster_json(const RestSnapshot *s);
char	   *rest_metrics_text(const RestSnapshot *s, int64_t now_mono_ms);

#endif
