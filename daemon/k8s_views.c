/*
 * k8s_views.c: the Kubernetes views of this node (k8s_views.h): its pod's
 * role label (Patroni-compatible keys and values, so Services written for
 * Patroni keep selecting) and, for the leader, the EndpointSlice of a
 * selector-less `<scope>-rw` Service. etcd holds the lock; these are views,
 * written best effort by a worker thread with exponential backoff, so the
 * HA loop never waits on the API server except for one bounded wait: a
 * primary that hands over on purpose has its leader label removed before
 * it stops writing (at most LABEL_WAIT_MS). A new primary gets the label
 * only from k8s_views_cycle(), after its key is committed on its lease and
 * PostgreSQL runs read-write.
 */
#include "daemon/k8s_views.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "health/health.h"
#include "k8s/k8s.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LABEL_WAIT_MS  1000 /* planned handover: wait this long at most */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define RESYNC_MS      60000 /* re-check the views (a GET) this often */
#define ATTEMPTS       3     /* rounds of read + write on 409 */

typedef enum ViewRole
{
	VIEW_NONE = 0, /* no role label (not running, stopping) */
	VIEW_LEADER,
	VIEW_FOLLOWER,
} ViewRole;

struct K8sViews
{
	K8sClient *client;
	char pod[K8S_NAME_MAX];
	char role_label[K8S_LABEL_KEY_MAX];
	char leader_value[K8S_LABEL_VALUE_MAX];
	char follower_value[K8S_LABEL_VALUE_MAX];
	bool slice_enabled;
	K8sEndpointSlice slice; /* address filled when leading */
	int64_t grace_ms;       /* termination grace period */

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the worker: something to do or stop */
	pthread_cond_t done; /* waiters: a generation was applied */
	bool stop;
	ViewRole want;
	uint64_t want_gen;
	uint64_t applied_gen;
	ViewRole applied;
	int64_t next_try_mono_ms;
	int64_t backoff_ms;
	int64_t resync_mono_ms;
	char last_error[PGW_ERROR_MSG_MAX];
};

/* counters for /metrics (one K8sViews per process) */
static _Atomic uint64_t m_writes_ok;
static _Atomic uint64_t m_writes_failed;
static _Atomic uint64_t m_conflicts;
static _Atomic int64_t m_last_ok_wall_ms;
static _Atomic int m_pending;
static _Atomic int m_enabled;
static _Atomic int m_role;

static ProbeFacts probe_facts; /* the loop's copy; published per cycle */

static const char *
role_name(ViewRole r)
{
	return r == VIEW_LEADER     ? "leader"
	       : r == VIEW_FOLLOWER ? "follower"
	                            : "none";
}

bool
k8s_grace_allows_switchover(int64_t grace_ms, char *why, size_t len)
{
	int64_t need = K8S_SWITCHOVER_NEED_MS + K8S_STOP_MARGIN_MS;

	if (grace_ms >= need)
		return true;
	if (why != NULL)
		snprintf(
		    why, len,
		    "terminationGracePeriodSeconds %lld s is shorter than the %lld s a handover needs (%d s switchover + %d s to stop and release); on SIGTERM the leader stops and releases its key without handing over",
		    (long long) (grace_ms / 1000), (long long) (need / 1000),
		    K8S_SWITCHOVER_NEED_MS / 1000, K8S_STOP_MARGIN_MS / 1000);
	return false;
}

/* ---- the worker -------------------------------------------------------- */

static int
apply_label(K8sViews *kv, ViewRole role, PgwError *err)
{
	K8sLabel l = {0};

	pgw_strlcpy(l.key, kv->role_label, sizeof(l.key));
	if (role == VIEW_NONE)
		l.remove = true;
	else
		pgw_strlcpy(l.value,
		            role == VIEW_LEADER ? kv->leader_value : kv->follower_value,
		            sizeof(l.value));
	return k8s_pod_patch_labels(kv->client, kv->pod, &l, 1, ATTEMPTS, NULL,
	                            err);
}

static int
apply_slice(K8sViews *kv, PgwError *err)
{
	int writes = 0;
	int rc;

	if (kv->slice.address[0] == '\0')
	{
		/* the pod's IP, read now: it is known once the pod runs */
		K8sPod pod;

		if ((rc = k8s_pod_get(kv->client, kv->pod, &pod, err)) != 0)
			return rc;
		if (pod.pod_ip[0] == '\0')
			return pgw_error_set(err, PGW_ESTATE,
			                     "pod \"%s\" has no IP yet (status.podIP)",
			                     kv->pod);
		pgw_strlcpy(kv->slice.address, pod.pod_ip, sizeof(kv->slice.address));
	}
	rc =
	    k8s_endpointslice_apply(kv->client, &kv->slice, ATTEMPTS, &writes, err);
	if (writes > 1)
		atomic_fetch_add(&m_conflicts, (uint64_t) (writes - 1));
	if (rc == 0 && writes > 0)
		log_info("k8s.endpointslice", "name=%s address=%s port=%d writes=%d",
		         kv->slice.name, kv->slice.address, kv->slice.port, writes);
	return rc;
}

static void *
worker(void *arg)
{
	K8sViews *kv = arg;

	pthread_mutex_lock(&kv->mu);
	while (!kv->stop)
	{
		int64_t now = pgw_now_mono_ms();
		bool due = kv->want_gen != kv->applied_gen || now >= kv->resync_mono_ms;
		int64_t until = kv->resync_mono_ms;
		ViewRole role;
		uint64_t gen;
		PgwError err = {0};
		int rc;
		int64_t t0;

		if (kv->want_gen != kv->applied_gen && kv->next_try_mono_ms > until)
			until = kv->next_try_mono_ms;
		if (!due || now < kv->next_try_mono_ms)
		{
			struct timespec ts;
			int64_t wait_ms = (due ? kv->next_try_mono_ms : until) - now;

			if (wait_ms < 1)
				wait_ms = 1;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&kv->wake, &kv->mu, &ts);
			continue;
		}
		role = kv->want;
		gen = kv->want_gen;
		atomic_store(&m_pending, 1);
		pthread_mutex_unlock(&kv->mu);

		t0 = pgw_now_mono_ms();
		rc = apply_label(kv, role, &err);
		if (rc == 0 && role == VIEW_LEADER && kv->slice_enabled)
			rc = apply_slice(kv, &err);

		pthread_mutex_lock(&kv->mu);
		now = pgw_now_mono_ms();
		if (rc == 0)
		{
			atomic_fetch_add(&m_writes_ok, 1);
			atomic_store(&m_last_ok_wall_ms, pgw_now_wall_ms());
			if (kv->last_error[0] != '\0')
				log_info("k8s.recovered", "pod=%s", kv->pod);
			if (role != kv->applied)
				log_info("k8s.label", "pod=%s %s=%s role=%s duration_ms=%lld",
				         kv->pod, kv->role_label,
				         role == VIEW_NONE     ? "(removed)"
				         : role == VIEW_LEADER ? kv->leader_value
				                               : kv->follower_value,
				         role_name(role), (long long) (now - t0));
			kv->last_error[0] = '\0';
			kv->applied = role;
			kv->applied_gen = gen;
			kv->backoff_ms = 0;
			kv->next_try_mono_ms = 0;
			kv->resync_mono_ms = now + RESYNC_MS;
			atomic_store(&m_role, (int) role);
			pthread_cond_broadcast(&kv->done);
		}
		else
		{
			atomic_fetch_add(&m_writes_failed, 1);
			kv->backoff_ms = kv->backoff_ms == 0 ? BACKOFF_MIN_MS
			                 : kv->backoff_ms * 2 > BACKOFF_MAX_MS
			                     ? BACKOFF_MAX_MS
			                     : kv->backoff_ms * 2;
			/* jitter: up to a quarter, so pods do not retry in step */
			kv->next_try_mono_ms =
			    now + kv->backoff_ms +
			    (int64_t) ((uint64_t) now * 2654435761u %
			               (uint64_t) (kv->backoff_ms / 4 + 1));
			if (strcmp(kv->last_error, err.msg) != 0)
				log_warn(
				    "k8s.write-failed",
				    "pod=%s role=%s error=%s detail=\"%s\" action=retry retry_in_ms=%lld",
				    kv->pod, role_name(role), pgw_strerror(err.code), err.msg,
				    (long long) (kv->next_try_mono_ms - now));
			else
				log_debug("k8s.write-failed",
				          "pod=%s error=%s retry_in_ms=%lld", kv->pod,
				          pgw_strerror(err.code),
				          (long long) (kv->next_try_mono_ms - now));
			pgw_strlcpy(kv->last_error, err.msg, sizeof(kv->last_error));
			/* a resync failure must not stop a later due write */
			if (kv->want_gen == kv->applied_gen)
				kv->resync_mono_ms = kv->next_try_mono_ms;
		}
		atomic_store(&m_pending, kv->want_gen != kv->applied_gen);
	}
	pthread_mutex_unlock(&kv->mu);
	return NULL;
}

/* want: set the wanted role (the worker applies it); the generation asked */
static uint64_t
want(K8sViews *kv, ViewRole role)
{
	uint64_t gen;

	pthread_mutex_lock(&kv->mu);
	if (kv->want != role)
	{
		kv->want = role;
		kv->want_gen++;
		/* a new wish is tried now, not after the last error's backoff */
		kv->next_try_mono_ms = 0;
		kv->backoff_ms = 0;
		pthread_cond_signal(&kv->wake);
	}
	gen = kv->want_gen;
	pthread_mutex_unlock(&kv->mu);
	return gen;
}

/* wait_applied: true when generation gen was applied within timeout_ms */
static bool
wait_applied(K8sViews *kv, uint64_t gen, int64_t timeout_ms)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	bool ok;

	pthread_mutex_lock(&kv->mu);
	while (kv->applied_gen < gen && !kv->stop)
	{
		int64_t left = deadline - pgw_now_mono_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L)
		{
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&kv->done, &kv->mu, &ts);
	}
	ok = kv->applied_gen >= gen;
	pthread_mutex_unlock(&kv->mu);
	return ok;
}

/* ---- open / close ------------------------------------------------------ */

static bool
in_cluster(const NodeConfig *cfg, char *const *envp)
{
	const char *tf = cfg->k8s.token_file ? cfg->k8s.token_file : K8S_TOKEN_FILE;

	for (char *const *e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, "KUBERNETES_SERVICE_HOST=", 24) == 0 &&
		    (*e)[24] != '\0')
			return access(tf, R_OK) == 0;
	return false;
}

/* check_pod: the labels the Services select on, the grace period */
static void
check_pod(K8sViews *kv, const NodeConfig *cfg)
{
	K8sPod pod;
	PgwError err = {0};
	const char *scope_label =
	    cfg->k8s.scope_label ? cfg->k8s.scope_label : "cluster-name";
	const char *have;

	if (k8s_pod_get(kv->client, kv->pod, &pod, &err) != 0)
	{
		log_warn("k8s.pod-read-failed",
		         "pod=%s error=%s detail=\"%s\" action=continue", kv->pod,
		         pgw_strerror(err.code), err.msg);
		return;
	}
	have = k8s_meta_label(&pod.meta, scope_label);
	if (have == NULL || strcmp(have, cfg->scope) != 0)
		log_warn(
		    "k8s.pod-label-missing",
		    "pod=%s label=%s want=%s have=%s detail=\"the Services of this cluster select on %s=%s; this pod will not be selected\"",
		    kv->pod, scope_label, cfg->scope, have ? have : "(none)",
		    scope_label, cfg->scope);
	for (int i = 0; i < cfg->k8s.n_labels; i++)
	{
		char key[K8S_LABEL_KEY_MAX];
		const char *eq = strchr(cfg->k8s.labels[i], '=');
		size_t n = eq ? (size_t) (eq - cfg->k8s.labels[i]) : 0;

		if (eq == NULL || n >= sizeof(key))
			continue;
		memcpy(key, cfg->k8s.labels[i], n);
		key[n] = '\0';
		have = k8s_meta_label(&pod.meta, key);
		if (have == NULL || strcmp(have, eq + 1) != 0)
			log_warn(
			    "k8s.pod-label-missing",
			    "pod=%s label=%s want=%s have=%s detail=\"kubernetes.labels names it; Services selecting on it will not select this pod\"",
			    kv->pod, key, eq + 1, have ? have : "(none)");
	}
	if (cfg->k8s.grace_period_ms == 0 && pod.grace_period_s >= 0)
		kv->grace_ms = pod.grace_period_s * 1000;
	if (kv->slice_enabled && kv->slice.address[0] == '\0' &&
	    pod.pod_ip[0] != '\0')
		pgw_strlcpy(kv->slice.address, pod.pod_ip, sizeof(kv->slice.address));
}

/* client_config: the API client's settings from the kubernetes: section */
static void
client_config(const ConfigKubernetes *k, K8sClientConfig *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->api_url = k->api_url;
	cc->token_file = k->token_file;
	cc->ca_file = k->cacert;
	cc->namespace_ = k->namespace_;
	cc->timeout_ms = k->timeout_ms > 0 ? (int) k->timeout_ms : 2000;
}

int
k8s_views_check_config(const NodeConfig *cfg, char *const *envp, FILE *out,
                       PgwError *err)
{
	K8sClientConfig cc;
	K8sClient *c;
	const char *pod = cfg->k8s.pod_name ? cfg->k8s.pod_name : cfg->name;
	char why[400];

	if (cfg->k8s.mode == CONFIG_K8S_OFF ||
	    (cfg->k8s.mode == CONFIG_K8S_AUTO && !in_cluster(cfg, envp)))
	{
		fprintf(out, "pgwarden: kubernetes: off%s\n",
		        cfg->k8s.mode == CONFIG_K8S_AUTO ? " (not in a pod)" : "");
		return 0;
	}
	client_config(&cfg->k8s, &cc);
	if (k8s_client_open(&cc, envp, &c, err) != 0)
	{
		pgw_error_prefix(err, "kubernetes");
		return err->code;
	}
	if (!k8s_name_valid(pod))
	{
		k8s_client_close(c);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "kubernetes: pod name \"%s\" is not a valid Kubernetes name", pod);
	}
	fprintf(
	    out,
	    "pgwarden: kubernetes: api %s, namespace %s, pod %s, role label %s (%s/%s)%s%s\n",
	    k8s_client_api_url(c), k8s_client_namespace(c), pod,
	    cfg->k8s.role_label ? cfg->k8s.role_label : "role",
	    cfg->k8s.leader_label_value ? cfg->k8s.leader_label_value : "master",
	    cfg->k8s.follower_label_value ? cfg->k8s.follower_label_value
	                                  : "replica",
	    cfg->k8s.endpointslice ? ", EndpointSlice " : "",
	    cfg->k8s.endpointslice
	        ? (cfg->k8s.rw_service ? cfg->k8s.rw_service : "<scope>-rw")
	        : "");
	if (cfg->k8s.grace_period_ms > 0 && cfg->switchover_on_shutdown &&
	    !k8s_grace_allows_switchover(cfg->k8s.grace_period_ms, why,
	                                 sizeof(why)))
		fprintf(out, "pgwarden: warning: %s\n", why);
	k8s_client_close(c);
	return 0;
}

int
k8s_views_open(const NodeConfig *cfg, char *const *envp, K8sViews **out,
               PgwError *err)
{
	const ConfigKubernetes *k = &cfg->k8s;
	K8sClientConfig cc;
	K8sViews *kv;
	int rc;
	char why[400];

	*out = NULL;
	if (k->mode == CONFIG_K8S_OFF ||
	    (k->mode == CONFIG_K8S_AUTO && !in_cluster(cfg, envp)))
		return 0;
	client_config(k, &cc);
	kv = pgw_xcalloc(1, sizeof(K8sViews));
	if ((rc = k8s_client_open(&cc, envp, &kv->client, err)) != 0)
	{
		free(kv);
		pgw_error_prefix(err, "kubernetes");
		return rc;
	}
	pgw_strlcpy(kv->pod, k->pod_name ? k->pod_name : cfg->name,
	            sizeof(kv->pod));
	if (!k8s_name_valid(kv->pod))
	{
		k8s_client_close(kv->client);
		free(kv);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "kubernetes: pod name \"%s\" is not a valid Kubernetes name",
		    k->pod_name ? k->pod_name : cfg->name);
	}
	pgw_strlcpy(kv->role_label, k->role_label ? k->role_label : "role",
	            sizeof(kv->role_label));
	pgw_strlcpy(kv->leader_value,
	            k->leader_label_value ? k->leader_label_value : "master",
	            sizeof(kv->leader_value));
	pgw_strlcpy(kv->follower_value,
	            k->follower_label_value ? k->follower_label_value : "replica",
	            sizeof(kv->follower_value));
	kv->grace_ms = k->grace_period_ms > 0 ? k->grace_period_ms : 30000;
	kv->slice_enabled = k->endpointslice;
	if (kv->slice_enabled)
	{
		char host[512];
		int port = 5432;

		if (k->rw_service)
			pgw_strlcpy(kv->slice.service_name, k->rw_service,
			            sizeof(kv->slice.service_name));
		else
			snprintf(kv->slice.service_name, sizeof(kv->slice.service_name),
			         "%s-rw", cfg->scope);
		pgw_strlcpy(kv->slice.name, kv->slice.service_name,
		            sizeof(kv->slice.name));
		pgw_strlcpy(kv->slice.namespace_, k8s_client_namespace(kv->client),
		            sizeof(kv->slice.namespace_));
		pgw_strlcpy(kv->slice.pod_name, kv->pod, sizeof(kv->slice.pod_name));
		pgw_strlcpy(kv->slice.port_name, "postgresql",
		            sizeof(kv->slice.port_name));
		if (config_split_host_port(cfg->pg_connect_address
		                               ? cfg->pg_connect_address
		                               : cfg->pg_listen,
		                           host, sizeof(host), &port, NULL) == 0)
			kv->slice.port = port;
		else
			kv->slice.port = cfg->pg_port > 0 ? cfg->pg_port : 5432;
		if (k->pod_ip)
			pgw_strlcpy(kv->slice.address, k->pod_ip,
			            sizeof(kv->slice.address));
	}
	pthread_mutex_init(&kv->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&kv->wake, &ca);
		pthread_cond_init(&kv->done, &ca);
		pthread_condattr_destroy(&ca);
	}
	check_pod(kv, cfg);
	/* the first wish: no role label until we know what we are */
	kv->want = VIEW_NONE;
	kv->want_gen = 1;
	if (pthread_create(&kv->thread, NULL, worker, kv) != 0)
	{
		k8s_client_close(kv->client);
		free(kv);
		return pgw_error_set(err, PGW_EIO,
		                     "kubernetes: could not start the worker thread");
	}
	kv->started = true;
	atomic_store(&m_enabled, 1);
	log_info(
	    "k8s.enabled",
	    "api=%s namespace=%s pod=%s label=%s leader=%s follower=%s endpointslice=%s grace_s=%lld",
	    k8s_client_api_url(kv->client), k8s_client_namespace(kv->client),
	    kv->pod, kv->role_label, kv->leader_value, kv->follower_value,
	    kv->slice_enabled ? kv->slice.name : "off",
	    (long long) (kv->grace_ms / 1000));
	if (cfg->switchover_on_shutdown &&
	    !k8s_grace_allows_switchover(kv->grace_ms, why, sizeof(why)))
		log_warn("k8s.grace-too-short", "grace_s=%lld detail=\"%s\"",
		         (long long) (kv->grace_ms / 1000), why);
	*out = kv;
	return 0;
}

void
k8s_views_close(K8sViews *kv)
{
	if (kv == NULL)
		return;
	if (kv->started)
	{
		pthread_mutex_lock(&kv->mu);
		kv->stop = true;
		pthread_cond_broadcast(&kv->wake);
		pthread_cond_broadcast(&kv->done);
		pthread_mutex_unlock(&kv->mu);
		pthread_join(kv->thread, NULL);
	}
	pthread_mutex_destroy(&kv->mu);
	pthread_cond_destroy(&kv->wake);
	pthread_cond_destroy(&kv->done);
	k8s_client_close(kv->client);
	atomic_store(&m_enabled, 0);
	free(kv);
}

/* ---- the hooks --------------------------------------------------------- */

static bool
is_long_action(DecisionKind k)
{
	return k == DECIDE_BOOTSTRAP || k == DECIDE_CLONE || k == DECIDE_REINIT ||
	       k == DECIDE_REWIND;
}

void
k8s_views_before(K8sViews *kv, const Decision *dec, bool writable_primary)
{
	if (is_long_action(dec->kind))
	{
		probe_facts.busy_kind = (int) dec->kind;
		probe_facts.busy_since_mono_ms = pgw_now_mono_ms();
		rest_probes_set(&probe_facts);
	}
	if (kv == NULL || !writable_primary)
		return;
	if (dec->kind == DECIDE_SWITCHOVER || dec->kind == DECIDE_RELEASE)
	{
		uint64_t gen = want(kv, VIEW_NONE);
		int64_t t0 = pgw_now_mono_ms();

		/* clients of the -rw Service are moved off before we stop */
		if (!wait_applied(kv, gen, LABEL_WAIT_MS))
			log_warn(
			    "k8s.label-not-removed",
			    "pod=%s waited_ms=%lld detail=\"the API server did not confirm in time\" action=%s-anyway",
			    kv->pod, (long long) (pgw_now_mono_ms() - t0),
			    failover_decision_kind_name(dec->kind));
	}
	else if (dec->kind == DECIDE_DEMOTE)
		(void) want(kv, VIEW_NONE); /* fencing never waits for Kubernetes */
}

void
k8s_views_cycle(K8sViews *kv, FailoverExec *exec, const ClusterView *view,
                const LocalHealth *self, int64_t lease_deadline_mono_ms)
{
	bool running;
	int64_t start_ms;
	const HealthReport *r =
	    failover_exec_last_report(exec, &running, &start_ms);
	/* the executor's state is the one after the decision ran (a promotion
	 * this cycle), self's the one before; the view was re-read after a
	 * promotion, so it shows the committed key */
	bool leader = failover_holds_leader(view, self) &&
	              failover_exec_is_writable_primary(exec) &&
	              lease_deadline_mono_ms > pgw_now_mono_ms();
	bool follower = !leader && self->pg_reachable && self->pg_in_recovery;

	probe_facts.streaming = r != NULL && r->has_wal_receiver &&
	                        strcmp(r->wal_receiver_status, "streaming") == 0;
	if (leader || follower)
		probe_facts.started = true;
	probe_facts.busy_kind = 0;
	probe_facts.busy_since_mono_ms = 0;
	rest_probes_set(&probe_facts);
	if (kv == NULL)
		return;
	(void) want(kv, leader     ? VIEW_LEADER
	                : follower ? VIEW_FOLLOWER
	                           : VIEW_NONE);
}

bool
k8s_views_stopping(K8sViews *kv, const NodeConfig *cfg, bool leading)
{
	char why[400];

	if (kv == NULL)
	{
		/* no Kubernetes views, but maybe a configured grace period */
		if (leading && cfg->k8s.grace_period_ms > 0 &&
		    !k8s_grace_allows_switchover(cfg->k8s.grace_period_ms, why,
		                                 sizeof(why)))
		{
			log_warn("shutdown.no-switchover",
			         "reason=grace-too-short grace_s=%lld detail=\"%s\"",
			         (long long) (cfg->k8s.grace_period_ms / 1000), why);
			return false;
		}
		return true;
	}
	if (!leading)
		(void) want(kv, VIEW_NONE);
	if (leading)
	{
		uint64_t gen = want(kv, VIEW_NONE);

		if (!wait_applied(kv, gen, LABEL_WAIT_MS))
			log_warn(
			    "k8s.label-not-removed",
			    "pod=%s detail=\"the API server did not confirm in time\" action=stop-anyway",
			    kv->pod);
	}
	if (leading && !k8s_grace_allows_switchover(kv->grace_ms, why, sizeof(why)))
	{
		log_warn("shutdown.no-switchover",
		         "reason=grace-too-short grace_s=%lld detail=\"%s\"",
		         (long long) (kv->grace_ms / 1000), why);
		return false;
	}
	return true;
}

char *
k8s_views_metrics_append(char *body)
{
	char extra[1400];
	size_t blen = body ? strlen(body) : 0;
	int n;
	char *out;

	if (!atomic_load(&m_enabled))
		return body;
	n = snprintf(
	    extra, sizeof(extra),
	    "# HELP pgwarden_k8s_writes_total Kubernetes view updates (pod label, EndpointSlice) by result.\n"
	    "# TYPE pgwarden_k8s_writes_total counter\n"
	    "pgwarden_k8s_writes_total{result=\"ok\"} %llu\n"
	    "pgwarden_k8s_writes_total{result=\"failed\"} %llu\n"
	    "# HELP pgwarden_k8s_conflicts_total resourceVersion conflicts (409) answered by a re-read.\n"
	    "# TYPE pgwarden_k8s_conflicts_total counter\n"
	    "pgwarden_k8s_conflicts_total %llu\n"
	    "# HELP pgwarden_k8s_pending 1 while the wanted view is not yet applied.\n"
	    "# TYPE pgwarden_k8s_pending gauge\n"
	    "pgwarden_k8s_pending %d\n"
	    "# HELP pgwarden_k8s_role_label The role label applied: 0 none, 1 leader, 2 follower.\n"
	    "# TYPE pgwarden_k8s_role_label gauge\n"
	    "pgwarden_k8s_role_label %d\n"
	    "# HELP pgwarden_k8s_last_success_timestamp_seconds Last successful view update.\n"
	    "# TYPE pgwarden_k8s_last_success_timestamp_seconds gauge\n"
	    "pgwarden_k8s_last_success_timestamp_seconds %.3f\n",
	    (unsigned long long) atomic_load(&m_writes_ok),
	    (unsigned long long) atomic_load(&m_writes_failed),
	    (unsigned long long) atomic_load(&m_conflicts), atomic_load(&m_pending),
	    atomic_load(&m_role),
	    (double) atomic_load(&m_last_ok_wall_ms) / 1000.0);
	if (n < 0)
		return body;
	out = pgw_xrealloc(body, blen + (size_t) n + 1);
	memcpy(out + blen, extra, (size_t) n + 1);
	return out;
}
