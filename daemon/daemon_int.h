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
	const char *username;		/* basic auth for write endpoints */
	const char *password;
} RestOptions;

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
