/*
 * daemon_int.h: shared inside daemon/ only. The loop (loop.c) owns the node's
 * state; the REST API (rest.c) runs on libmicrohttpd's thread and reads a
 * snapshot the loop publishes once per iteration under a mutex, so an HTTP
 * request never blocks the loop and never sees a half-updated state.
 */
#ifndef PGW_DAEMON_INT_H
#define PGW_DAEMON_INT_H

#include "config/config.h"
#include "consensus/consensus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define REST_STANDBYS_MAX PGW_MEMBERS_MAX

typedef struct RestStandby
{
	char application_name[PGW_NAME_MAX];
	char client_addr[64];
	char state[32];      /* streaming, catchup, ... */
	char sync_state[16]; /* async, sync, quorum, potential */
	uint64_t sent_lsn;
	uint64_t write_lsn;
	uint64_t flush_lsn;
	uint64_t replay_lsn;
	int64_t replay_lag_ms; /* pg_stat_replication.replay_lag; -1 NULL */
} RestStandby;

/* What the REST API may show: a copy made by the loop every iteration. */
typedef struct RestSnapshot
{
	char name[PGW_NAME_MAX];
	char scope[128];
	MemberInfo self;    /* as published in members/<name> */
	bool pg_running;    /* postmaster alive and accepting connections */
	bool pg_read_write; /* running and not in recovery */
	bool holds_leader;  /* leader key confirmed ours this loop */
	int server_version; /* e.g. 150018 */
	char sysid[32];
	int64_t postmaster_start_wall_ms;
	int64_t replayed_ts_wall_ms; /* last replayed xact, 0 if unknown */
	bool replay_paused;
	bool wal_streaming; /* replica: WAL receiver status "streaming" */
	int n_standbys;
	RestStandby standbys[REST_STANDBYS_MAX];
	ClusterView view; /* last good view of the cluster */
	int64_t dcs_last_seen_wall_ms;
	int64_t last_loop_mono_ms;
	int64_t loop_duration_ms;
	int64_t lease_deadline_mono_ms; /* 0: no valid lease */
	uint64_t loops_total;
	uint64_t etcd_errors_total;
	uint64_t decisions_total;
	char decision[32]; /* last decision kind */
	char rule[64];
	char reason[256];
	char *history_json; /* raw `history` value or NULL; owned */
	char *config_json;  /* raw `config` value or NULL; owned */
	bool raw_json_same; /* the two above are NULL: keep serving the
								 * previous ones (no copy every turn) */
} RestSnapshot;

typedef struct RestServer RestServer;

typedef struct RestOptions
{
	const char *listen;   /* host:port */
	const char *certfile; /* TLS when set */
	const char *keyfile;
	const char *cafile;
	int verify_client;    /* ConfigVerifyClient: none/optional/required */
	const char *username; /* basic auth for write endpoints */
	const char *password;
	const char *const *allowlist; /* CIDRs allowed to call write endpoints */
	int n_allowlist;
	bool allowlist_include_members; /* members' hosts are allowed too */
	bool allow_loopback_writes; /* no auth needed from 127/8, ::1 (opt-in) */
	/* etcd access for write endpoints that change keys (switchover,
	 * failover, config): the REST thread opens its own client */
	const char *etcd_endpoints;
	const char *etcd_cacert;
	const char *etcd_cert;
	const char *etcd_key;
	const char *etcd_username;
	const char *etcd_password;
	const char *prefix;      /* "<namespace>/<scope>/" */
	const char *member_name; /* this node */
	/* the fencing deadline of lease_id's latest confirmed keepalive (0:
	 * none, or not our current lease), read on the etcd client's state at
	 * request time: a snapshot published by a loop turn that an etcd call
	 * held up lags behind the deadline the fences enforce */
	int64_t (*lease_deadline)(int64_t lease_id);
} RestOptions;

/*
 * Actions that only the loop may carry out (they touch PostgreSQL): the REST
 * thread queues them and waits for the loop's answer, bounded in time.
 */
typedef enum RestActionKind
{
	REST_ACTION_RESTART = 1,    /* POST /restart */
	REST_ACTION_RELOAD,         /* POST /reload */
	REST_ACTION_REINIT,         /* POST /reinitialize */
	REST_ACTION_RESTART_CANCEL, /* DELETE /restart: drop a scheduled restart */
} RestActionKind;

typedef struct RestAction
{
	RestActionKind kind;
	bool restart_pending_only; /* POST /restart {"restart_pending": true} */
	char role[16];             /* {"role": "primary"|"replica"}: "" = any */
	int64_t scheduled_wall_ms; /* {"schedule": ISO 8601}: 0 = now */
	int timeout_s;             /* {"timeout": N}: 0 = default */
	int postgres_version;      /* {"postgres_version": "15.2"} as
									 * 150002: restart only when the running
									 * version is lower; 0 = any */
	bool force;                /* POST /reinitialize {"force": true} */
	uint64_t ticket;           /* set by the queue */
} RestAction;

/*
 * rest_action_submit: REST thread side: queue a, wake the loop, and wait up
 * to wait_ms for rest_action_done(). Returns the HTTP status the loop gave
 * (200, 202, 409, 503 ...) with its message in msg, or 503 "timed out" when
 * the loop did not answer in time.
 */
int rest_action_submit(RestServer *s, RestAction *a, int wait_ms, char *msg,
                       size_t msg_len);

/* rest_action_fd: readable (eventfd) while actions are queued (loop side). */
int rest_action_fd(RestServer *s);

/* rest_action_next: loop side: pop one queued action; false when none. */
bool rest_action_next(RestServer *s, RestAction *out);

/* rest_action_done: loop side: answer the action with ticket. */
void rest_action_done(RestServer *s, uint64_t ticket, int http_status,
                      const char *msg);

/*
 * rest_start: listen and serve, one thread per connection (at most
 * REST_CONNECTIONS_MAX), so a write handler waiting for a switchover never
 * delays a health check. Port 0 picks a free port (rest_port tells which).
 * Returns 0, PGW_EINVAL (bad listen address, unreadable TLS file, bad
 * allowlist entry: the message names it), PGW_EIO (could not listen).
 */
int rest_start(const RestOptions *opt, RestServer **out, PgwError *err);

/* rest_port: the TCP port the server listens on. */
int rest_port(const RestServer *s);

/* rest_failsafe_vouched_ms: when (monotonic ms) a primary in failsafe mode
 * last asked us to vouch for it and we did (POST /failsafe); 0 never */
int64_t rest_failsafe_vouched_ms(RestServer *s);

/* rest_publish: replace the served snapshot (copies it; takes ownership of
 * history_json / config_json, which the caller must not free; with
 * raw_json_same the served ones are kept instead). */
void rest_publish(RestServer *s, RestSnapshot *snap);

void rest_stop(RestServer *s);

/*
 * rest_status_for: the Patroni-compatible status code of a health-check path
 * (e.g. "/primary", "/replica?lag=1MB") for a snapshot; 0 if the path is not
 * a health check. Pure, so it is unit-tested by tables.
 */
int rest_status_for(const RestSnapshot *s, const char *path, const char *query,
                    int64_t now_mono_ms);

/* rest_patroni_json: the GET /patroni body for a snapshot (caller frees). */
char *rest_patroni_json(const RestSnapshot *s, int64_t now_wall_ms);
char *rest_cluster_json(const RestSnapshot *s);
char *rest_metrics_text(const RestSnapshot *s, int64_t now_mono_ms);

/*
 * shard_keeper_tick (shard_keeper.c): once per loop turn, whether this node
 * leads its group and runs read-write; the keeper's own thread then keeps
 * pgwarden.slot_owner equal to the shard map. No-op without `group:`.
 */
void shard_keeper_tick(const NodeConfig *cfg, bool leading);

/* ------------------------------------------------------------------------
 * REST write side (rest_access.c, rest_write.c, rest_actions.c)
 * ------------------------------------------------------------------------ */

/*
 * Connection bounds (security review F4; rest_server.c, rest_guard.c): a
 * few epoll threads serve every connection; at most REST_PER_IP_MAX come
 * from one client address and REST_CONNECTIONS_MAX in all (less when the
 * descriptor limit is low); request headers must arrive within
 * REST_HEADER_DEADLINE_MS, a write's body within REST_BODY_DEADLINE_MS,
 * however slowly the bytes trickle; at most REST_WRITE_JOBS_MAX write
 * requests run at once, each waiting at most REST_WRITE_WAIT_MAX_MS.
 */
#define REST_CONNECTIONS_MAX    1024
#define REST_PER_IP_MAX         16
#define REST_THREADS            4
#define REST_HEADER_DEADLINE_MS 5000
#define REST_BODY_DEADLINE_MS   10000
#define REST_WRITE_JOBS_MAX     16
#define REST_WRITE_WAIT_MAX_MS  120000

/*
 * Access control of write endpoints (Patroni's check_access, in its order):
 * allowlist -> 403, client certificate when verify_client is optional or
 * required -> 403, basic auth -> 401 with WWW-Authenticate. Health checks
 * and other GETs stay open.
 */
typedef struct RestCidr
{
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address, masked */
	int prefix_len;         /* 0..32 / 0..128 */
} RestCidr;

/*
 * rest_cidr_parse: "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8". Host bits
 * beyond the prefix are cleared. Returns 0 or PGW_EINVAL (not an address).
 */
int rest_cidr_parse(const char *s, RestCidr *out) PGW_MUSTCHECK;

/*
 * rest_cidr_match: whether the client address sa (AF_INET or AF_INET6; an
 * IPv4-mapped IPv6 address counts as IPv4) lies in c.
 */
struct sockaddr;
bool rest_cidr_match(const RestCidr *c, const struct sockaddr *sa);

/*
 * rest_url_host: the host of "scheme://[user@]host[:port][/...]" or
 * "host:port" ("[v6]" brackets dropped), by pgw_url_split. false when
 * there is none, the URL does not split, or the host does not fit len.
 */
bool rest_url_host(const char *url, char *host, size_t len);

/*
 * rest_host_match: whether sa is the address of host: an address literal
 * is compared directly, a name is resolved (getaddrinfo: may block).
 */
bool rest_host_match(const char *host, const struct sockaddr *sa);

/*
 * rest_basic_auth_check: check an Authorization header value against the
 * configured user and password (constant-time compare). Returns NULL when
 * it matches, else the reason for the 401 ("no auth header received",
 * "not authenticated", Patroni's texts).
 */
const char *rest_basic_auth_check(const char *authorization, const char *user,
                                  const char *password);

/* rest_secret_equal: compare without leaking where they differ. */
bool rest_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/*
 * rest_switchover_check: whether the failover key may name candidate now
 * (Patroni's is_failover_possible, with our ranking rules): leader, when
 * given, must be the current leader; candidate, when given, must be a
 * valid, running replica other than the leader and eligible (not
 * nofailover / priority 0, in `sync` under synchronous_mode, within
 * maximum_lag_on_failover unless this is a failover without a leader);
 * without a candidate some member must be eligible. Returns 0, or 412 with
 * the reason in why (also 400 for requests refused in pause). Pure.
 */
int rest_switchover_check(const ClusterView *v, const char *leader,
                          const char *candidate, bool is_failover,
                          bool scheduled, char *why, size_t why_len);

/* ------------------------------------------------------------------------
 * Callbacks (callbacks.c): Patroni's postgresql.callbacks, run as
 *   <cmd words...> <action> <role> <scope>
 * without a shell, as the PostgreSQL OS user (common/run.h)
 * asynchronously and bounded in time; see callbacks.c's header comment for
 * the ordering (one at a time, at most one waiting event per kind: a newer
 * event of a kind replaces the waiting one). Used from the loop thread only.
 * ------------------------------------------------------------------------ */

#define CALLBACKS_TIMEOUT_MS 30000

typedef struct Callbacks Callbacks;
struct NodeConfig;

/*
 * callbacks_open: copy the commands of cfg (cb_on_*, pg_pre_promote; NULL or
 * empty: not configured) and the scope; commands (these and pre_promote)
 * will run as cfg->pg_run_as (pgw_run_set_user). Never blocks; returns 0
 * or PGW_EINVAL (run_as unknown or root).
 */
int callbacks_open(const struct NodeConfig *cfg, Callbacks **out,
                   PgwError *err) PGW_MUSTCHECK;

/* callbacks_set_timeout: per-script time bound (default 30 s). */
void callbacks_set_timeout(Callbacks *cb, int timeout_ms);

/*
 * callbacks_fire: queue the script of action ("on_start", "on_stop",
 * "on_restart", "on_reload", "on_role_change") with role ("primary",
 * "replica", ...) and start it when none runs. Returns at once (spawn only,
 * no wait): 0 (also when the action has no script), PGW_EINVAL for an
 * unknown action.
 */
int callbacks_fire(Callbacks *cb, const char *action, const char *role);

/*
 * callbacks_reap: reap a finished script (logged with its exit code and
 * duration), signal one past its timeout (SIGTERM, then SIGKILL), start the
 * next waiting one. Never blocks; call it every loop iteration.
 */
void callbacks_reap(Callbacks *cb);

/* callbacks_busy: a script runs or waits. */
bool callbacks_busy(const Callbacks *cb);

/*
 * callbacks_close: wait up to wait_ms for running and waiting scripts (so an
 * on_stop fired at shutdown can finish), then SIGKILL what still runs, and
 * free. Accepts NULL.
 */
void callbacks_close(Callbacks *cb, int wait_ms);

/*
 * callbacks_run_pre_promote: run postgresql.pre_promote (no arguments) and
 * wait up to timeout_ms (then it is killed). Returns 0 with *exit_status
 * its exit code (non-zero vetoes the promotion; 0 when not configured),
 * PGW_ETIMEDOUT (killed at the timeout: treat as a veto), PGW_EIO (could not
 * start). Blocks: call it from the executor, just before promoting. For
 * callers without a Callbacks handle, common/run.h's pgw_run_command() is
 * the same runner.
 */
int callbacks_run_pre_promote(Callbacks *cb, int timeout_ms, int *exit_status,
                              PgwError *err) PGW_MUSTCHECK;

#endif
