/*
 * k8s_views.h: internal to daemon/: the Kubernetes side of the daemon
 * (DESIGN.md R4). Three parts, each in its own file:
 *   k8s_views.c   the views: pod role labels and the -rw EndpointSlice,
 *                 written by a worker thread (never the HA loop) with
 *                 retries and backoff; the hooks the loop calls;
 *   rest_probes.c /liveness, /readiness, /startup for the kubelet;
 *   pid1.c        pgwarden as PID 1 of the database container.
 * The loop calls k8s_views_before() before it executes a decision,
 * k8s_views_cycle() at the end of each cycle and k8s_views_stopping() on
 * SIGTERM. Every hook accepts a NULL K8sViews (Kubernetes off): the probe
 * facts are kept all the same, since the probes serve any deployment.
 */
#ifndef PGW_DAEMON_K8S_VIEWS_H
#define PGW_DAEMON_K8S_VIEWS_H

#include "config/config.h"
#include "daemon/daemon_int.h"
#include "failover/failover.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct K8sViews K8sViews;

/*
 * k8s_views_open: when cfg's kubernetes mode is on, or auto and this runs
 * in a pod (KUBERNETES_SERVICE_HOST set and a service-account token
 * mounted), open the API client and start the worker; *out is NULL when
 * Kubernetes is off. Reads the pod once (bounded) to check the labels the
 * Services select on and to learn terminationGracePeriodSeconds; a failed
 * read is a warning, not a failed start (the views are best effort).
 * Returns 0, or PGW_EINVAL / PGW_EAUTH when mode is on and the client
 * cannot be set up (no API server, unreadable token or CA file).
 */
int k8s_views_open(const NodeConfig *cfg, char *const *envp, K8sViews **out,
                   PgwError *err) PGW_MUSTCHECK;

/* k8s_views_close: stop the worker (bounded by one request) and free. */
void k8s_views_close(K8sViews *kv);

/*
 * k8s_views_before: called with the decision about to be executed. A
 * primary about to stop writing (switchover, release, demote) has its
 * leader label removed first: waited for (up to 1 s) on a planned
 * handover, not waited for when fencing (DEMOTE), which never waits for
 * Kubernetes. Also marks a long action (bootstrap, clone, reinit, rewind)
 * as running for the liveness probe.
 */
void k8s_views_before(K8sViews *kv, const Decision *dec, bool writable_primary);

/*
 * k8s_views_cycle: the end of a cycle: what this node now is, after the
 * decision was executed and the view re-read (so "leader" means the key is
 * committed on our lease). Queues the label (and, as leader, the
 * EndpointSlice) for the worker; never blocks.
 */
void k8s_views_cycle(K8sViews *kv, FailoverExec *exec, const ClusterView *view,
                     const LocalHealth *self, int64_t lease_deadline_mono_ms);

/*
 * k8s_views_stopping: SIGTERM. Removes the leader label (bounded wait) and
 * says whether a switchover fits in what is left of the grace period: false
 * (logged with the numbers) when the grace period is too short, so the
 * caller stops and releases the key at once instead of starting a handover
 * the kubelet would cut short with SIGKILL. With kv NULL, only the grace
 * period configured in cfg (kubernetes.termination_grace_period) counts.
 */
bool k8s_views_stopping(K8sViews *kv, const NodeConfig *cfg, bool leading);

/* k8s_views_metrics_append: body + the k8s metrics (Prometheus text);
 * takes ownership of body and returns the new one. */
char *k8s_views_metrics_append(char *body);

/* What a handover needs on SIGTERM, in ms: the switchover (checkpoint, a
 * clean stop, the target receiving the shutdown checkpoint, its
 * promotion: about a second measured here, so 10 s is a wide margin for
 * a busy primary's checkpoint) and then the stop of the new replica and
 * the release. A grace period shorter than their sum skips the handover:
 * a switchover cut short by the kubelet's SIGKILL is worse than none. */
#define K8S_SWITCHOVER_NEED_MS 10000
#define K8S_STOP_MARGIN_MS     5000

/*
 * k8s_grace_allows_switchover: pure: whether a switchover fits in a grace period of
 * grace_ms (measured from SIGTERM): it needs K8S_SWITCHOVER_NEED_MS +
 * K8S_STOP_MARGIN_MS. why (may be NULL) gets the sentence to log.
 */
bool k8s_grace_allows_switchover(int64_t grace_ms, char *why, size_t len);

/* ------------------------------------------------------------------------
 * Probes (rest_probes.c)
 * ------------------------------------------------------------------------ */

/* What the probes need beyond the REST snapshot, kept by the hooks above. */
typedef struct ProbeFacts
{
	bool started;   /* served once since the daemon started: as
								 * the leader read-write or as a replica */
	bool streaming; /* the WAL receiver is streaming */
	int busy_kind;  /* DecisionKind of a long action running
								 * (bootstrap, clone, reinit, rewind), 0 none */
	int64_t busy_since_mono_ms;
} ProbeFacts;

/* rest_probe_path: path is /liveness, /readiness or /startup. */
bool rest_probe_path(const char *path);

/*
 * rest_probe_status: pure: the status of a probe path for a snapshot and
 * the facts (Patroni's codes: 200 or 503, no body):
 *   /liveness  the loop ran within ttl (leader) / 2 x ttl, or the cluster
 *              is paused, or a long bounded action (clone...) is running;
 *   /readiness the leader running read-write under a live lease, or a
 *              replica that is running, streaming, within the lag bound
 *              (?lag=, default maximum_lag_on_failover) and not tagged
 *              noloadbalance;
 *   /startup   200 once the node served (leader or replica) since start.
 */
int rest_probe_status(const RestSnapshot *s, const ProbeFacts *f,
                      const char *path, const char *query, int64_t now_mono_ms);

/* rest_probe_status_now: rest_probe_status with the current facts. */
int rest_probe_status_now(const RestSnapshot *s, const char *path,
                          const char *query, int64_t now_mono_ms);

/* rest_probes_set / rest_probes_get: the facts (thread-safe copies). */
void rest_probes_set(const ProbeFacts *f);
void rest_probes_get(ProbeFacts *f);

/* ------------------------------------------------------------------------
 * PID 1 (pid1.c)
 * ------------------------------------------------------------------------ */

/*
 * pid1_supervise: when this process is PID 1 (the container's main
 * process) or PGWARDEN_INIT=1 asks for it (PGWARDEN_INIT=0 never), fork.
 * The child gets PID1_RUN_DAEMON at once and runs the daemon. The parent
 * stays a supervisor: it forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1
 * and SIGUSR2 to the daemon, reaps every process that ends up its child
 * (orphans are re-parented to PID 1, or to us as a subreaper), and once the
 * daemon exited kills what is left (the whole namespace as PID 1, only its
 * own children as a subreaper) and returns PID1_EXIT with the daemon's
 * status in *exit_code (128 + signal when it was killed). Returns
 * PID1_RUN_DAEMON without forking when not asked to supervise, PID1_FAILED
 * when fork or prctl failed (errno set). Call before any thread exists.
 */
enum
{
	PID1_FAILED = -1,
	PID1_RUN_DAEMON = 0,
	PID1_EXIT = 1,
};
int pid1_supervise(char *const *envp, int *exit_code);

/*
 * k8s_views_check_config: --check-config with Kubernetes on: the offline
 * part of k8s_views_open (API URL, token and CA files readable, namespace
 * known, pod name valid), printed on out. 0, or the error.
 */
int k8s_views_check_config(const NodeConfig *cfg, char *const *envp, FILE *out,
                           PgwError *err);

/* ------------------------------------------------------------------------
 * The leader key's earlier lease (lease_holder.c)
 * ------------------------------------------------------------------------ */

/* lease_holder_record: a lease was granted: record it and this process's
 * identity beside data_dir (best effort, logged on failure). */
void lease_holder_record(const char *data_dir, int64_t lease_id);

/*
 * lease_holder_proven: the lease recorded beside data_dir by an earlier
 * run, when that run's process is proven gone (same boot, same PID
 * namespace, its PID no longer runs it); else 0. Decided at the first call
 * (before this run records its own), then cached.
 */
int64_t lease_holder_proven(const char *data_dir);

#endif
