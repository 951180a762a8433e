/*
 * daemon_loop.h: internal to daemon/: the loop's state (Daemon) and the
 * phases of one turn, each in its own file (DESIGN.md "daemon/"):
 *   observe.c  -> cycle.c (decide) -> act.c -> publish.c (+ leader_duties.c)
 * with the etcd session under them (etcd_session.c), failsafe mode
 * (failsafe.c), REST actions (loop_actions.c), peers (peers.c), routing
 * (routing_pub.c) and the fences (fence.c). loop.c runs the turns.
 */
#ifndef PGW_DAEMON_LOOP_H
#define PGW_DAEMON_LOOP_H

#include "config/config.h"
#include "consensus/consensus.h"
#include "daemon/daemon_int.h"
#include "daemon/k8s_views.h"
#include "daemon/publisher.h"
#include "failover/failover.h"

#include <stdbool.h>
#include <stdint.h>

/* A peer's answer to GET /patroni, gathered before a promotion. */
typedef struct PeerProbe
{
	char name[PGW_NAME_MAX];
	bool reachable;    /* answered with a decodable body */
	bool is_primary;   /* runs read-write */
	bool holds_leader; /* says it holds the leader key */
	bool running;
	int timeline;
	uint64_t xlog_location;
	uint64_t received_location;
	uint64_t replayed_location;
} PeerProbe;

/*
 * peers_probe: GET every other member's api_url in parallel, bounded by
 * timeout_ms in total. Fills out[0..return) (one entry per member asked).
 */
int peers_probe(const ClusterView *v, const char *self_name, int timeout_ms,
                PeerProbe *out, int max_out);

/*
 * peers_failsafe_confirm: failsafe mode. POST /failsafe {"name": self_name}
 * to every other member of v in parallel (basic auth when user is set),
 * bounded by timeout_ms in total. True when every one answered 200; else
 * false with the first that did not in failed_name (and its HTTP status or
 * 0 in *failed_status).
 */
bool peers_failsafe_confirm(const ClusterView *v, const char *self_name,
                            const char *user, const char *password,
                            int timeout_ms, char *failed_name,
                            size_t failed_len, long *failed_status);

/* peers_set_tls: CA to verify peers' https API and our client certificate
 * (borrowed: must outlive the probes). */
void peers_set_tls(const char *cafile, const char *certfile,
                   const char *keyfile);

/*
 * peers_set_policy: our scope (a peer's answer must carry it, security
 * review F11) and whether restapi.authentication may go to http api_urls
 * (allow_credentials_over_http; else only to https ones, F12). scope is
 * borrowed and must outlive the probes.
 */
void peers_set_policy(const char *scope, bool credentials_over_http);

/*
 * peer_parse: decode a GET /patroni body into p; false when it is not one,
 * or when it is another member's or another cluster's answer: its
 * patroni.scope must be our scope (when set) and its patroni.name, when
 * present (Patroni before 3.1 omits it), p->name.
 */
bool peer_parse(const char *body, size_t len, PeerProbe *p);

/* The leader's side of routing (routing_pub.c). */
#include "routing/routing.h"

typedef struct RoutingPub
{
	bool serving;      /* we published ourselves as the primary */
	RoutingTable last; /* the last table we published */
	int64_t published_mono_ms;
	int last_n_members;
} RoutingPub;

/* routing_pub_leader: every loop while we lead and run read-write. */
void routing_pub_leader(RoutingPub *rp, EtcdClient *c, const char *prefix,
                        const char *name, int64_t lease, const ClusterView *v);

/* routing_pub_switching: before a planned switchover hands over. */
void routing_pub_switching(RoutingPub *rp, EtcdClient *c, const char *prefix,
                           const char *name, int64_t lease,
                           const ClusterView *v);

/* routing_pub_not_leader: we lost or gave up leadership. */
void routing_pub_not_leader(RoutingPub *rp);

/*
 * The fencing thread (fence.c). fence_start runs fn(arg) on its own thread as
 * soon as the monotonic clock passes the deadline while armed; arm it only
 * while this node runs a writable primary. fn must be quick and only signal.
 * refresh (thread-safe) returns the deadline implied by the latest confirmed
 * keepalive (0 if none): asked before firing, so a slow loop never fences a
 * leader whose lease is in fact alive.
 */
void fence_start(void (*fn)(void *), void *arg, int64_t (*refresh)(void *),
                 void *refresh_arg);
/* fence_set_deadline: a new lease's first deadline (may move it back). */
void fence_set_deadline(int64_t deadline_mono_ms);
/* fence_raise_deadline: a confirmed keepalive; only ever moves it later.
 * Quick and lock-light: safe on the etcd client's thread. */
void fence_raise_deadline(int64_t deadline_mono_ms);
/* fence_arm: armed while we hold the key and run a writable primary with
 * postmaster_pid (which the watchdog process fences); leader_lease: the
 * lease our key is on, which the watchdog may release once the daemon died
 * and it fenced (0: do not release). */
void fence_arm(bool armed, int postmaster_pid, int64_t leader_lease);
/* fence_set_release_budget: the bound of the watchdog's etcd call
 * (retry_timeout). */
void fence_set_release_budget(int64_t budget_ms);
/* fence_stop: disarm, stop the thread and the watchdog process. */
void fence_stop(void);

/*
 * fence_watchdog_spawn: fork the fence watchdog process (see fence.c). CALL
 * BEFORE ANY THREAD EXISTS (before the etcd client, the REST server and the
 * fencing thread) and before gRPC is initialised: the child runs without
 * exec. release (fast_release.h) says how it reaches etcd once the daemon
 * died; its strings must stay valid until the fork (the child keeps its
 * copy). Returns 0 or PGW_EIO.
 */
struct FenceReleaseConfig;
int fence_watchdog_spawn(const struct FenceReleaseConfig *release,
                         PgwError *err);

/* fence_watchdog_check: false (logged once) if the watchdog has exited;
 * the fencing thread still guards, alone. */
bool fence_watchdog_check(void);

/* ------------------------------------------------------------------------
 * The loop's state and the phases of a turn
 * ------------------------------------------------------------------------ */


typedef struct Daemon
{
	NodeConfig *cfg;
	const char *config_path;
	char prefix[PGW_PREFIX_MAX];
	EtcdClient *etcd;
	RestServer *rest;
	FailoverExec *exec; /* executor: owns the PostgreSQL handles */
	ClusterView *view;  /* watch-maintained cache; read in observe,
								 * never rewritten while a step runs */
	bool view_valid;
	int64_t watch_id;
	bool watching;
	int64_t lease_id;
	int64_t lease_ttl_ms;
	int64_t lease_deadline_mono_ms;
	MemberPublisher member_pub; /* our member key's last write (publisher.h) */
	int64_t last_loop_mono_ms;
	uint64_t loops;
	uint64_t etcd_errors;
	uint64_t decisions;
	Decision last;
	bool ready_notified;
	int sigfd;
	bool stopping;
	bool etcd_fail_logged;
	bool run_again; /* the last turn asked for the next at once */
	char *history_json;
	char *config_json;
	uint64_t raw_json_gen;        /* bumped when either of the two changes */
	uint64_t raw_json_served_gen; /* the one the REST API serves */
	RestSnapshot *rest_snap;      /* reused every turn (publish.c) */
	int64_t leader_absent_since_mono_ms; /* 0 while a leader exists */
	Callbacks *cb;                       /* on_start, on_stop, ... scripts */
	char cb_role[16];                    /* role the callbacks last saw */
	bool cb_running;        /* PG running as the callbacks last saw */
	RestAction scheduled;   /* a scheduled restart (kind 0: none) */
	RoutingPub routing;     /* the routing table we publish as leader */
	char *failsafe_written; /* the `failsafe` value we last wrote */
	bool failsafe_active;   /* every member vouched in the last round */
	bool failsafe_refused;  /* the last round had a "no" (logged once) */
	K8sViews *k8s;          /* pod labels, EndpointSlice (k8s_views.c) */
	struct Backup *backup;  /* archiving, backups, catalog (backup_duty.c) */
} Daemon;

/* exec_context: what a step is given: etcd, our key and the turn's view */
ExecContext exec_context(Daemon *d);

/* ---- etcd_session.c: the lease, the fencing deadline, the view ---------- */

/* session_margin_ms: the fencing margin inside the lease (10 %, >= 300 ms) */
int64_t session_margin_ms(int64_t ttl_ms);

/*
 * session_deadline_ms: the fencing deadline a keepalive sent at sent_mono_ms
 * and confirmed for granted_ttl_ms buys: sent + granted - margin(ttl_ms).
 * The one formula of promise 1 (measured from the send, never the reply).
 */
int64_t session_deadline_ms(int64_t sent_mono_ms, int64_t granted_ttl_ms,
                            int64_t ttl_ms);

/* session_keepalive_interval_ms: one keepalive every ttl / 4 */
int64_t session_keepalive_interval_ms(const DynamicConfig *cfg);

/* session_open: register the keepalive observer and the fences' deadline
 * source on d's etcd client (call once, after etcd_client_open) */
void session_open(Daemon *d);

/* session_confirmed_deadline: the deadline of the latest confirmed
 * keepalive of our lease (0: none); any thread */
int64_t session_confirmed_deadline(void *unused);
/* session_confirmed_deadline_of: the same for lease_id, 0 when lease_id is
 * not our current lease; any thread */
int64_t session_confirmed_deadline_of(int64_t lease_id);

void session_note_etcd_error(Daemon *d, const char *what, const PgwError *err);

/* session_read_view: fresh view (linearizable when asked), (re)start the
 * watch; 0 or the etcd error (then the view is marked invalid) */
int session_read_view(Daemon *d, bool linearizable);

/* session_drain_events: fold watch and keepalive events; true when the
 * loop should run now (leader / config / failover key changed, lease lost) */
bool session_drain_events(Daemon *d);

/* session_ensure_lease: one lease per node; true when it granted a new one */
bool session_ensure_lease(Daemon *d);

/* session_bound_calls: the etcd client's call timeout for this turn:
 * retry_timeout, or less as the failsafe leader so that no call outlasts
 * the instant the keepalive counts as late (the vouches need the rest) */
void session_bound_calls(Daemon *d);

/* session_keepalive_late: etcd has not confirmed a keepalive for two
 * intervals (the view may still look valid) */
bool session_keepalive_late(Daemon *d);

/* session_claims_leader: our last view names us leader on our lease */
bool session_claims_leader(const Daemon *d);

/* session_watch_progress_ms: how long the watch may be silent before it is
 * asked for progress (ttl / 4; twice that and it counts as stalled) */
int64_t session_watch_progress_ms(const DynamicConfig *cfg);

/* session_key_proven: the view is valid, names us leader on our lease,
 * our keepalives are confirmed and the watch that feeds the view is live:
 * what a leader-key read would tell, known without one (issue 18) */
bool session_key_proven(Daemon *d);

/* session_note_outcome: what a step did to the leader key, into the view
 * (we know the txn's result; the watch confirms it later) */
void session_note_outcome(Daemon *d, const ExecOutcome *out);

/* ---- observe.c ---------------------------------------------------------- */

typedef enum ObserveDepth
{
	OBSERVE_LOCAL = 0,    /* the turn's start: view, lease, PostgreSQL */
	OBSERVE_LINEARIZABLE, /* re-read etcd linearizably, re-observe */
	OBSERVE_PEERS,        /* ask every other member's REST API */
} ObserveDepth;

/* Everything one turn decides on. */
typedef struct Observation
{
	LocalHealth self;
	PeerStatus peers[PGW_MEMBERS_MAX];
	int n_peers;
	int64_t t0_mono_ms;       /* the turn began */
	int64_t observed_mono_ms; /* the first (local) look ended */
	int peers_timeout_ms;     /* OBSERVE_PEERS' bound (0: retry_timeout,
									 * at most 2 s) */
} Observation;

/*
 * turn_observe: the one observation function. OBSERVE_LOCAL fills o at the
 * start of a turn; the deeper levels are promise 5's refresh before a
 * promotion, asked for by a REFRESH decision. Returns 0, or the etcd error
 * of a linearizable read (o unchanged).
 */
int turn_observe(Daemon *d, Observation *o, ObserveDepth depth);

/* ---- cycle.c: one turn --------------------------------------------------- */

/* one_cycle: observe -> decide -> act -> publish */
void one_cycle(Daemon *d);

/* turn_decide: failover_decide on o, with the refresh round (promise 5) */
Decision turn_decide(Daemon *d, Observation *o);

/* ---- act.c ---------------------------------------------------------------- */

/* turn_act: carry dec out; the failure, if any, is logged here, once */
ExecOutcome turn_act(Daemon *d, const Observation *o, const Decision *dec);

/* ---- publish.c ------------------------------------------------------------ */

/*
 * turn_publish: what the turn changed, in this order: the view (our key), the
 * fences, routing (new primary first), a fresh probe after a role change,
 * the leader's duties, the member key, the REST snapshot, systemd and the
 * callbacks.
 */
void turn_publish(Daemon *d, const Observation *o, const Decision *dec,
                  const ExecOutcome *out);

typedef enum MemberPublish
{
	MEMBER_PUBLISH_SKIP = 0,   /* etcd out of reach (failsafe's turn) */
	MEMBER_PUBLISH_IF_CHANGED, /* when etcd lacks it (publisher.h) */
	MEMBER_PUBLISH_FORCE,      /* now (our role just changed under peers) */
} MemberPublish;

/* publish_snapshot: the member key, the REST snapshot, systemd and the
 * callbacks (also failsafe's own turn); t0: when the turn began */
void publish_snapshot(Daemon *d, const LocalHealth *self, const Decision *dec,
                      MemberPublish member, int64_t t0);

/* ---- leader_duties.c ----------------------------------------------------- */

/* What each leader duty is given. */
typedef struct LeaderDutyContext
{
	Daemon *d;
	const ExecContext *ctx; /* etcd, prefix, name, lease, view */
	const NodeConfig *cfg;
	const ExecOutcome *out; /* this turn's step (became_writable, ...) */
	int64_t now_mono_ms;
} LeaderDutyContext;

/* leader_duties_run: every duty, once, while we lead (publish phase) */
void leader_duties_run(Daemon *d, const ExecContext *ctx,
                       const ExecOutcome *out);

/* ---- failsafe.c ---------------------------------------------------------- */

/* failsafe_turn: the turn while failsafe keeps us primary with etcd out of
 * reach; false when it does not apply (run the normal turn) */
bool failsafe_turn(Daemon *d, int64_t t0);

/* failsafe_ended: etcd answers again: leave failsafe (logged once) */
void failsafe_ended(Daemon *d);

/* failsafe_publish: keep the `failsafe` key (a leader duty) */
void failsafe_publish(Daemon *d);

/* ---- loop_actions.c ------------------------------------------------------ */

/* handle_actions: run the queued REST actions and a scheduled restart */
void handle_actions(Daemon *d);

#endif
