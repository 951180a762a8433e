/*
 * daemon_loop.h: internal to daemon/: the loop's state and the helpers it
 * calls (peers.c, publish.c). See loop.c's header comment for the cycle.
 */
#ifndef PGW_DAEMON_LOOP_H
#define PGW_DAEMON_LOOP_H

#include "consensus/consensus.h"

#include <stdbool.h>
#include <stdint.h>

/* A peer's answer to GET /patroni, gathered before a promotion. */
typedef struct PeerProbe
{
	char		name[PGW_NAME_MAX];
	bool		reachable;		/* answered with a decodable body */
	bool		is_primary;		/* runs read-write */
	bool		holds_leader;	/* says it holds the leader key */
	bool		running;
	int			timeline;
	uint64_t	xlog_location;
	uint64_t	received_location;
	uint64_t	replayed_location;
} PeerProbe;

/*
 * peers_probe: GET every other member's api_url in parallel, bounded by
 * timeout_ms in total. Fills out[0..return) (one entry per member asked).
 */
int			peers_probe(const ClusterView *v, const char *self_name,
						int timeout_ms, PeerProbe *out, int max_out);

/*
 * peers_failsafe_confirm: failsafe mode. POST /failsafe {"name": self_name}
 * to every other member of v in parallel (basic auth when user is set),
 * bounded by timeout_ms in total. True when every one answered 200; else
 * false with the first that did not in failed_name (and its HTTP status or
 * 0 in *failed_status).
 */
bool		peers_failsafe_confirm(const ClusterView *v, const char *self_name,
								   const char *user, const char *password,
								   int timeout_ms, char *failed_name,
								   size_t failed_len, long *failed_status);

/* peers_set_tls: CA to verify peers' https API and our client certificate
 * (borrowed: must outlive the probes). */
void		peers_set_tls(const char *cafile, const char *certfile,
						  const char *keyfile);

/*
 * peers_set_policy: our scope (a peer's answer must carry it, security
 * review F11) and whether restapi.authentication may go to http api_urls
 * (allow_credentials_over_http; else only to https ones, F12). scope is
 * borrowed and must outlive the probes.
 */
void		peers_set_policy(const char *scope, bool credentials_over_http);

/*
 * peer_parse: decode a GET /patroni body into p; false when it is not one,
 * or when it is another member's or another cluster's answer: its
 * patroni.scope must be our scope (when set) and its patroni.name, when
 * present (Patroni before 3.1 omits it), p->name.
 */
bool		peer_parse(const char *body, size_t len, PeerProbe *p);

/* The leader's side of routing (routing_pub.c). */
#include "routing/routing.h"

typedef struct RoutingPub
{
	bool		serving;		/* we published ourselves as the primary */
	RoutingTable last;			/* the last table we published */
	int64_t		published_mono_ms;
	int			last_n_members;
} RoutingPub;

/* routing_pub_leader: every loop while we lead and run read-write. */
void		routing_pub_leader(RoutingPub *rp, EtcdClient *c, const char *prefix,
							   const char *name, int64_t lease,
							   const ClusterView *v);

/* routing_pub_switching: before a planned switchover hands over. */
void		routing_pub_switching(RoutingPub *rp, EtcdClient *c,
								  const char *prefix, const char *name,
								  int64_t lease, const ClusterView *v);

/* routing_pub_not_leader: we lost or gave up leadership. */
void		routing_pub_not_leader(RoutingPub *rp);

/*
 * The fencing thread (fence.c). fence_start runs fn(arg) on its own thread as
 * soon as the monotonic clock passes the deadline while armed; arm it only
 * while this node runs a writable primary. fn must be quick and only signal.
 * refresh (thread-safe) returns the deadline implied by the latest confirmed
 * keepalive (0 if none): asked before firing, so a slow loop never fences a
 * leader whose lease is in fact alive.
 */
void		fence_start(void (*fn) (void *), void *arg,
						int64_t (*refresh) (void *), void *refresh_arg);
/* fence_set_deadline: a new lease's first deadline (may move it back). */
void		fence_set_deadline(int64_t deadline_mono_ms);
/* fence_raise_deadline: a confirmed keepalive; only ever moves it later.
 * Quick and lock-light: safe on the etcd client's thread. */
void		fence_raise_deadline(int64_t deadline_mono_ms);
/* fence_arm: armed while we hold the key and run a writable primary with
 * postmaster_pid (which the watchdog process fences). */
void		fence_arm(bool armed, int postmaster_pid);
/* fence_stop: disarm, stop the thread and the watchdog process. */
void		fence_stop(void);

/*
 * fence_watchdog_spawn: fork the fence watchdog process (see fence.c). CALL
 * BEFORE ANY THREAD EXISTS (before the etcd client, the REST server and the
 * fencing thread): the child runs without exec. Returns 0 or PGW_EIO.
 */
int			fence_watchdog_spawn(PgwError *err);

/* fence_watchdog_check: false (logged once) if the watchdog has exited;
 * the fencing thread still guards, alone. */
bool		fence_watchdog_check(void);

#endif
