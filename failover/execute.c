/*
 * execute.c: the executor (failover.h Part 3). It observes the local node
 * for failover_decide() and carries a Decision out through consensus/ and
 * health/, in idempotent steps: each step checks its precondition first and
 * treats "already done" as success, so a crash mid-step is healed by running
 * the same decision again (the pg_auto_failover habit). The executor owns
 * the PostgreSQL handles; the daemon loop owns etcd and timing.
 */
#include "failover/failover.h"

#include "backup/backup.h"
#include "common/log.h"
#include "common/run.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "config/config.h"
#include "health/health.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 60000
/*
 * A replica may need its slot on the leader before it becomes consistent,
 * and the leader creates it only once our member key shows us: never block
 * the loop on that. PENDING (still starting) is fine, it keeps running.
 */
#define REPLICA_START_WAIT_MS 3000
#define STOP_TIMEOUT_MS 30000
#define STATUS_PUBLISH_MS 5000

struct FailoverExec
{
	const NodeConfig *cfg;		/* borrowed: lives as long as the daemon */
	PgProbe    *probe;
	PgControl  *pg;
	HealthReport *rep;			/* last probe */
	HealthPmStatus pm;
	bool		should_run;		/* we started PG and expect it to run */
	bool		expect_primary; /* it should run read-write */
	int64_t		crashed_since_mono_ms;
	int			restart_attempts;
	bool		restart_failed; /* the last restart as primary failed */
	bool		decide_now;		/* one-shot: decide again without the tick */
	bool		rewind_failed;
	bool		clone_failed;
	int64_t		postmaster_start_wall_ms;
	char		upstream[PGW_NAME_MAX];	/* member we configured to follow */
	uint64_t	last_sysid;
	int			last_timeline;
	int64_t		status_published_mono_ms;
	char		slots_for[1024];	/* member list the slots were synced for */
	char		ssn[1024];		/* synchronous_standby_names we applied */
	bool		ssn_known;		/* ssn reflects the server's value */
	atomic_int	fence_pid;		/* postmaster pid for the fence thread */
	int64_t		vetoed_mono_ms; /* pre_promote said no at this time */
	int64_t		probe_ok_mono_ms;	/* last successful probe (0: none) */
	pid_t		probe_pid;		/* the postmaster that probe saw */
	HealthParam *params;		/* cfg parameters as HealthParam */
	int			n_params;
};

/* ---- small helpers ----------------------------------------------------- */

/* parse "postgres://host:port/db" or "host:port" into host (buf) and port */
static bool
url_host_port(const char *url, char *host, size_t hlen, int *port)
{
	const char *p = strstr(url, "://");
	const char *end;
	const char *colon;
	int64_t		v;
	char		pbuf[8];

	p = p ? p + 3 : url;
	end = strchr(p, '/');
	if (end == NULL)
		end = p + strlen(p);
	colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	if (colon == NULL || colon == p || end - colon - 1 >= (long) sizeof(pbuf))
		return false;
	snprintf(host, hlen, "%.*s", (int) (colon - p), p);
	snprintf(pbuf, sizeof(pbuf), "%.*s", (int) (end - colon - 1), colon + 1);
	if (pgw_parse_int64(pbuf, 1, 65535, &v) != 0)
		return false;
	*port = (int) v;
	return true;
}

static const MemberInfo *
view_member(const ClusterView *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, name) == 0)
			return &v->members[i];
	return NULL;
}

/* upstream_of: the HealthUpstream of member name, from its conn_url. */
static bool
upstream_of(const ClusterView *v, const char *name, char *host, size_t hlen,
			HealthUpstream *up)
{
	const MemberInfo *m = view_member(v, name);

	if (m == NULL || !m->is_valid || !url_host_port(m->conn_url, host, hlen, &up->port))
		return false;
	up->host = host;
	return true;
}

/* inc: health_data_dir_incomplete(dir), read once by the caller */
static DataDirState
data_dir_state(const char *dir, HealthIncomplete inc)
{
	char		path[1024];
	struct stat st;
	DIR		   *d;
	struct dirent *de;
	bool		empty = true;

	/* an interrupted clone has PG_VERSION and is not a data directory */
	if (inc == HEALTH_INCOMPLETE_CLONE)
		return DATA_DIR_EMPTY;
	snprintf(path, sizeof(path), "%s/PG_VERSION", dir);
	if (stat(path, &st) == 0)
		return DATA_DIR_INITIALIZED;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? DATA_DIR_EMPTY : DATA_DIR_UNKNOWN;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	/* a half-written clone (no PG_VERSION) is as good as empty */
	return empty ? DATA_DIR_EMPTY : DATA_DIR_EMPTY;
}

static bool
file_exists(const char *dir, const char *name)
{
	char		path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* wipe_data_dir: remove the contents of dir (for a re-clone). */
static int
wipe_data_dir(const char *dir, PgwError *err)
{
	char	   *argv[] = {"rm", "-rf", NULL, NULL};
	char		path[1024];
	pid_t		pid;
	int			st;

	/* rename first so a crash mid-removal leaves no half data dir */
	snprintf(path, sizeof(path), "%s.removing.%lld", dir,
			 (long long) pgw_now_wall_ms());
	if (rename(dir, path) != 0 && errno != ENOENT)
		return pgw_error_set(err, PGW_EIO, "could not move data directory \"%s\" aside: %s",
							 dir, strerror(errno));
	log_info("pg.exec", "cmd=\"rm -rf %s\"", path);
	argv[2] = path;
	pid = fork();
	if (pid == 0)
	{
		/* no PATH search after fork in a threaded process */
		execv("/bin/rm", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		WEXITSTATUS(st) != 0)
		return pgw_error_set(err, PGW_EIO, "could not remove \"%s\"", path);
	return 0;
}

/*
 * save_wal: before pg_rewind or a re-clone throws this node's WAL away, the
 * segments it never archived go to the archive (backup/; nothing to do
 * without a backup section). A failure is reported, never a reason to hold
 * the node back: the gap it leaves shows in the new leader's gap check.
 */
static void
save_wal(const NodeConfig *cfg)
{
	PgwError	err = {0};
	int			n = 0;

	if (backup_push_ready(cfg, 60000, &n, &err) != 0)
		log_error("backup.push-ready-failed", "pushed=%d detail=\"%s\" action=continue", n,
				  err.msg);
}

/* ---- open / close ------------------------------------------------------ */

int
failover_exec_open(const NodeConfig *cfg, FailoverExec **out, PgwError *err)
{
	FailoverExec *e = pgw_xcalloc(1, sizeof(FailoverExec));
	PgProbeConfig pc = {0};
	PgControlConfig cc = {0};
	char		host[256];
	int			port = cfg->pg_port;
	int			rc;
	int			n_bk = 0;
	const HealthParam *bk = backup_pg_params(cfg, &n_bk);	/* archiving */

	e->cfg = cfg;
	e->rep = pgw_xcalloc(1, sizeof(HealthReport));
	e->params = pgw_xcalloc((size_t) (cfg->n_pg_parameters + 1 + n_bk), sizeof(HealthParam));
	for (int i = 0; i < cfg->n_pg_parameters; i++)
	{
		e->params[i].name = cfg->pg_parameters[i].name;
		e->params[i].value = cfg->pg_parameters[i].value;
	}
	{
		bool		has = false;

		for (int i = 0; i < cfg->n_pg_parameters; i++)
			if (strcmp(cfg->pg_parameters[i].name, "wal_retrieve_retry_interval") == 0)
				has = true;
		/*
		 * A replica re-pointed at a new leader retries every
		 * wal_retrieve_retry_interval (5 s by default). Worse, a promote
		 * request that lands just after the stream from the old primary
		 * ended waits out the rest of the interval: 1 s showed as 1 s
		 * stalls in a third of switchovers. 200 ms bounds both, at the
		 * price of a reconnect attempt every 200 ms while the upstream is
		 * down.
		 */
		if (!has)
		{
			e->params[cfg->n_pg_parameters].name = "wal_retrieve_retry_interval";
			e->params[cfg->n_pg_parameters].value = "200ms";
		}
		e->n_params = cfg->n_pg_parameters + (has ? 0 : 1);
	}
	for (int i = 0; i < n_bk; i++)
		e->params[e->n_params++] = bk[i];
	if (!url_host_port(cfg->pg_listen, host, sizeof(host), &port))
		pgw_strlcpy(host, "127.0.0.1", sizeof(host));
	pc.host = cfg->pg_socket_dir ? cfg->pg_socket_dir : host;
	pc.port = cfg->pg_port;
	pc.user = cfg->pg_superuser_username;
	pc.password = cfg->pg_superuser_password;
	pc.data_dir = cfg->pg_data_dir;
	pc.connect_timeout_ms = 2000;
	pc.statement_timeout_ms = 1000;
	if ((rc = health_probe_open(&pc, &e->probe, err)) != 0)
		goto fail;
	cc.bin_dir = cfg->pg_bin_dir;
	cc.data_dir = cfg->pg_data_dir;
	cc.port = cfg->pg_port;
	cc.listen_addresses = host;
	cc.socket_dir = cfg->pg_socket_dir;
	cc.run_as = cfg->pg_run_as;
	cc.member_name = cfg->name;
	cc.superuser = cfg->pg_superuser_username;
	cc.superuser_password = cfg->pg_superuser_password;
	cc.replication_user = cfg->pg_replication_username;
	cc.replication_password = cfg->pg_replication_password;
	cc.pgpass_path = cfg->pg_pgpass;
	cc.params = e->params;
	cc.n_params = e->n_params;
	cc.hba_lines = (const char *const *) cfg->pg_hba;
	cc.n_hba_lines = cfg->n_pg_hba;
	if ((rc = health_control_open(&cc, &e->pg, err)) != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	health_probe_close(e->probe);
	free(e->params);
	free(e->rep);
	free(e);
	*out = NULL;
	return rc;
}

void
failover_exec_close(FailoverExec *e)
{
	if (e == NULL)
		return;
	health_probe_close(e->probe);
	health_control_close(e->pg);
	free(e->params);
	free(e->rep);
	free(e);
}

void
failover_exec_reconfigure(FailoverExec *e, const NodeConfig *cfg)
{
	/* tags and log level only; the rest needs a restart (documented) */
	(void) e;
	(void) cfg;
}

/*
 * failover_exec_fence_fn: run on the fencing thread when the leader's
 * deadline passed. Stop the postmaster (it forks no new backend), SIGKILL
 * every child it has, then the postmaster itself: no backend can
 * acknowledge another commit, even on a connection that is already open.
 * Crash recovery runs at the next start, exactly as after an immediate stop.
 */
void
failover_exec_fence_fn(void *arg)
{
	FailoverExec *e = arg;
	int			pid = atomic_load(&e->fence_pid);

	if (pid <= 0)
		return;
	(void) health_fence_postmaster(pid);
}

bool
failover_exec_reap(FailoverExec *e)
{
	HealthPmStatus st;

	health_control_status(e->pg, &st);
	if (st.exited)
	{
		e->pm = st;
		log_warn("pg.exited", "status=%d", st.exit_status);
		return true;
	}
	return false;
}

int
failover_exec_postmaster_pid(FailoverExec *e)
{
	return atomic_load(&e->fence_pid);
}

bool
failover_exec_take_decide_now(FailoverExec *e)
{
	bool		now = e->decide_now;

	e->decide_now = false;
	return now;
}

/* ---- observe ----------------------------------------------------------- */

static void observe(FailoverExec *e, const ClusterView *view,
					LocalHealth *self, int reuse_ms);

void
failover_exec_observe(FailoverExec *e, const ClusterView *view,
					  LocalHealth *self)
{
	observe(e, view, self, 0);
}

void
failover_exec_reobserve(FailoverExec *e, const ClusterView *view,
						LocalHealth *self, int max_age_ms)
{
	observe(e, view, self, max_age_ms);
}

static void
observe(FailoverExec *e, const ClusterView *view, LocalHealth *self,
		int reuse_ms)
{
	const NodeConfig *cfg = e->cfg;
	uint64_t	leader_lsn = view->leader_optime;
	PgwError	err = {0};
	HealthIncomplete incomplete;

	memset(self, 0, sizeof(*self));
	pgw_strlcpy(self->name, cfg->name, sizeof(self->name));
	/* a pre_promote veto keeps us out of elections for two TTLs, so that
	 * another member gets its chance instead of us looping on the veto */
	self->nofailover = cfg->tag_nofailover ||
		(e->vetoed_mono_ms != 0 &&
		 pgw_now_mono_ms() - e->vetoed_mono_ms < 2 * view->config.ttl_ms);
	self->failover_priority = cfg->tag_failover_priority;
	self->bootstrap_allowed = true;
	incomplete = health_data_dir_incomplete(cfg->pg_data_dir);
	self->data_dir = data_dir_state(cfg->pg_data_dir, incomplete);

	health_control_status(e->pg, &e->pm);
	atomic_store(&e->fence_pid, e->pm.running ? (int) e->pm.pid : 0);
	self->pg_running = e->pm.running;
	self->pg_is_child = e->pm.is_child;
	if (e->pm.running)
	{
		bool		probed;

		if (view->has_leader && strcmp(view->leader, cfg->name) != 0)
		{
			const MemberInfo *l = view_member(view, view->leader);

			if (l && l->xlog_location > leader_lsn)
				leader_lsn = l->xlog_location;
		}
		if (reuse_ms > 0 && e->probe_ok_mono_ms != 0 &&
			e->probe_pid == e->pm.pid &&
			pgw_now_mono_ms() - e->probe_ok_mono_ms <= reuse_ms)
		{
			health_report_relag(e->rep, leader_lsn);
			probed = true;
		}
		else
		{
			probed = health_probe_run(e->probe, leader_lsn, e->rep, &err) == 0;
			e->probe_ok_mono_ms = probed ? pgw_now_mono_ms() : 0;
			e->probe_pid = e->pm.pid;
		}
		if (probed)
		{
			self->pg_reachable = true;
			self->pg_in_recovery = e->rep->in_recovery;
			self->pg_timeline = (int) e->rep->timeline;
			self->pg_current_lsn = e->rep->wal_lsn;
			self->pg_received_lsn = e->rep->receive_lsn;
			self->pg_replayed_lsn = e->rep->replay_lsn;
			self->system_identifier = e->rep->system_identifier;
			e->last_sysid = e->rep->system_identifier;
			e->last_timeline = (int) e->rep->timeline;
			if (e->postmaster_start_wall_ms == 0)
				e->postmaster_start_wall_ms = pgw_now_wall_ms();
		}
		else
		{
			/* running but not answering: trust standby.signal, and treat a
			 * server not known to be in recovery as writable */
			self->pg_in_recovery = file_exists(cfg->pg_data_dir, "standby.signal");
			self->pg_timeline = e->last_timeline;
			self->system_identifier = e->last_sysid;
		}
	}
	else
	{
		memset(e->rep, 0, sizeof(*e->rep));
		e->postmaster_start_wall_ms = 0;
		self->pg_in_recovery = file_exists(cfg->pg_data_dir, "standby.signal");
		self->pg_timeline = e->last_timeline;
		self->system_identifier = e->last_sysid;
	}
	self->pg_was_primary = self->data_dir == DATA_DIR_INITIALIZED &&
		!file_exists(cfg->pg_data_dir, "standby.signal");
	pgw_strlcpy(self->upstream, e->upstream, sizeof(self->upstream));

	/* crash bookkeeping: down while we expect it to run */
	if (e->should_run && !e->pm.running)
	{
		if (e->crashed_since_mono_ms == 0)
		{
			e->crashed_since_mono_ms = pgw_now_mono_ms();
			log_warn("pg.crashed", "was_primary=%d", e->expect_primary);
		}
	}
	else if (e->pm.running && self->pg_reachable)
	{
		e->crashed_since_mono_ms = 0;
		e->restart_attempts = 0;
		e->restart_failed = false;
	}
	self->pg_crashed_since_mono_ms = e->crashed_since_mono_ms;
	self->restart_attempts = e->restart_attempts;
	self->restart_failed = e->restart_failed;
	self->rewind_incomplete = self->data_dir == DATA_DIR_INITIALIZED &&
		incomplete == HEALTH_INCOMPLETE_REWIND;
	self->rewind_failed = e->rewind_failed || self->rewind_incomplete;
	self->clone_failed = e->clone_failed;
}

/* ---- steps ------------------------------------------------------------- */

static HealthWait
start_pg_within(FailoverExec *e, bool as_primary, int timeout_ms, PgwError *err)
{
	HealthWait	w;

	e->should_run = true;
	e->expect_primary = as_primary;
	w = health_control_start(e->pg, timeout_ms, err);
	if (w != HEALTH_WAIT_FAILED)
	{
		health_control_status(e->pg, &e->pm);
		atomic_store(&e->fence_pid, e->pm.running ? (int) e->pm.pid : 0);
	}
	return w;
}

static HealthWait
start_pg(FailoverExec *e, bool as_primary, PgwError *err)
{
	return start_pg_within(e, as_primary,
						   as_primary ? START_TIMEOUT_MS : REPLICA_START_WAIT_MS, err);
}

static void
stop_pg(FailoverExec *e, HealthStopMode mode)
{
	PgwError	err = {0};

	e->should_run = false;
	e->crashed_since_mono_ms = 0;
	if (health_control_stop(e->pg, mode, STOP_TIMEOUT_MS, &err) != HEALTH_WAIT_READY)
	{
		log_warn("pg.stop", "mode=%d detail=\"%s\" action=immediate", (int) mode,
				 err.msg);
		(void) health_control_stop(e->pg, HEALTH_STOP_IMMEDIATE, STOP_TIMEOUT_MS, &err);
	}
	atomic_store(&e->fence_pid, 0);
}

static int
history_append(FailoverExec *e, const ExecContext *ctx, int new_tl,
			   uint64_t lsn, const char *reason)
{
	char		key[PGW_PREFIX_MAX + 16];
	EtcdRangeResult r = {0};
	HistoryEntry *h = NULL;
	int			n = 0;
	PgwError	err = {0};
	char	   *json;
	int			rc;

	(void) e;
	snprintf(key, sizeof(key), "%shistory", ctx->prefix);
	if (etcd_range(ctx->etcd, key, false, 0, false, &r, &err) == 0 && r.count == 1)
	{
		if (dcs_history_decode(r.kvs[0].value, r.kvs[0].value_len, &h, &n, &err) != 0)
		{
			log_warn("dcs.bad-value", "key=history detail=\"%s\" action=restarted", err.msg);
			n = 0;
		}
	}
	etcd_range_result_free(&r);
	h = pgw_xrealloc(h, sizeof(HistoryEntry) * (size_t) (n + 1));
	memset(&h[n], 0, sizeof(HistoryEntry));
	/* Patroni records the timeline that ended and where it ended */
	h[n].timeline = new_tl > 1 ? new_tl - 1 : 1;
	h[n].lsn = lsn;
	pgw_strlcpy(h[n].reason, reason, sizeof(h[n].reason));
	pgw_format_wall_iso(pgw_now_wall_ms(), 1, h[n].time, sizeof(h[n].time));
	pgw_strlcpy(h[n].new_leader, ctx->name, sizeof(h[n].new_leader));
	json = dcs_history_encode(h, n + 1);
	rc = dcs_leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
								"history", json, &err);
	if (rc != 0)
		log_warn("history.append-failed", "detail=\"%s\"", err.msg);
	free(json);
	free(h);
	return rc;
}

static bool
sync_has(const SyncState *st, const char *name)
{
	for (int i = 0; i < st->n_sync; i++)
		if (strcmp(st->sync_standby[i], name) == 0)
			return true;
	return false;
}

/* sync_pick: the standbys that may be synchronous, best first. */
static int
sync_pick(FailoverExec *e, const ClusterView *v, const char *self_name,
		  const char **names, int max)
{
	int			n = 0;

	/* streaming standbys that are valid members without nosync. Those the
	 * `sync` key already names come first, so a healthy sync standby keeps
	 * its place (as Patroni does) instead of flapping with every flush
	 * report; then the most caught-up (flush position), name as the
	 * tie-break */
	for (int i = 0; i < e->rep->n_standbys && n < max; i++)
	{
		const HealthStandby *h = &e->rep->standbys[i];
		const MemberInfo *m = view_member(v, h->application_name);

		if (m == NULL || !m->is_valid || m->nosync ||
			strcmp(m->name, self_name) == 0 || strcmp(h->state, "streaming") != 0)
			continue;
		names[n++] = m->name;
	}
	for (int i = 1; i < n; i++)
	{
		for (int j = i; j > 0; j--)
		{
			const HealthStandby *a = NULL;
			const HealthStandby *b = NULL;

			for (int k = 0; k < e->rep->n_standbys; k++)
			{
				if (strcmp(e->rep->standbys[k].application_name, names[j - 1]) == 0)
					a = &e->rep->standbys[k];
				if (strcmp(e->rep->standbys[k].application_name, names[j]) == 0)
					b = &e->rep->standbys[k];
			}
			bool		a_sync = sync_has(&v->sync, names[j - 1]);
			bool		b_sync = sync_has(&v->sync, names[j]);

			if (a && b && ((b_sync && !a_sync) ||
						   (b_sync == a_sync &&
							(b->flush_lsn > a->flush_lsn ||
							 (b->flush_lsn == a->flush_lsn &&
							  strcmp(names[j], names[j - 1]) < 0)))))
			{
				const char *t = names[j];

				names[j] = names[j - 1];
				names[j - 1] = t;
			}
		}
	}
	return n;
}

static int
sync_write(const ExecContext *ctx, const char *const *names, int n, int quorum,
		   PgwError *err)
{
	SyncState	st = {0};
	char	   *json;
	int			rc;

	pgw_strlcpy(st.leader, ctx->name, sizeof(st.leader));
	for (int i = 0; i < n && i < PGW_SYNC_MAX; i++)
		pgw_strlcpy(st.sync_standby[st.n_sync++], names[i], PGW_NAME_MAX);
	st.quorum = quorum;
	json = dcs_sync_encode(&st);
	rc = dcs_leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
								"sync", json, err);
	free(json);
	return rc;
}

/*
 * manage_sync: synchronous mode on the leader (DESIGN.md promise 2). The
 * `sync` key lists who may be promoted; synchronous_standby_names lists who
 * must confirm commits. A member enters ssn before it enters `sync`, and
 * leaves `sync` before it leaves ssn, so whoever `sync` names has every
 * commit we acknowledged. Strict mode with nobody to name blocks writes
 * ("*") rather than run asynchronously.
 */
static void
manage_sync(FailoverExec *e, const ExecContext *ctx)
{
	const DynamicConfig *cfg = &ctx->view->config;
	const SyncState *cur = &ctx->view->sync;
	const char *cand[PGW_MEMBERS_MAX];
	const char *keep[PGW_MEMBERS_MAX];
	int			n_cand;
	int			n_want;
	int			n_keep = 0;
	int			k = cfg->synchronous_node_count > 0 ? cfg->synchronous_node_count : 1;
	int			quorum = cfg->synchronous_quorum ? k : 0;
	char		want_ssn[1024];
	PgwError	err = {0};
	bool		shrink = false;

	if (!cfg->synchronous_mode)
	{
		if (e->ssn_known && e->ssn[0] == '\0')
			return;
		/* leaving sync mode: forget `sync` first, then stop waiting */
		if (cur->present && dcs_cas_delete(ctx->etcd, ctx->prefix, "sync", 0, &err) != 0)
			return;
		if (health_control_set_sync(e->pg, "", 5000, &err) == 0)
		{
			e->ssn[0] = '\0';
			e->ssn_known = true;
		}
		return;
	}
	n_cand = sync_pick(e, ctx->view, ctx->name, cand, PGW_MEMBERS_MAX);
	/* FIRST k: the k best; quorum ANY k: every candidate */
	n_want = quorum ? n_cand : (n_cand < k ? n_cand : k);
	if (n_want == 0)
		snprintf(want_ssn, sizeof(want_ssn), "%s",
				 cfg->synchronous_mode_strict ? "*" : "");
	else if ((quorum ? health_sync_names_build_quorum(cand, n_want, k, want_ssn,
													  sizeof(want_ssn))
			  : health_sync_names_build(cand, n_want, k, want_ssn,
										sizeof(want_ssn))) != 0)
		return;

	/* 1. members leaving: drop them from `sync` before ssn changes */
	for (int i = 0; i < cur->n_sync; i++)
	{
		bool		wanted = false;

		for (int j = 0; j < n_want; j++)
			if (strcmp(cur->sync_standby[i], cand[j]) == 0)
				wanted = true;
		if (wanted)
			keep[n_keep++] = cur->sync_standby[i];
		else
			shrink = true;
	}
	if (cur->present && shrink)
	{
		if (sync_write(ctx, keep, n_keep, quorum, &err) != 0)
		{
			log_warn("sync.write-failed", "detail=\"%s\"", err.msg);
			return;
		}
		log_info("sync.shrunk", "sync_standby_count=%d", n_keep);
	}
	/* 2. ssn to the wanted set, confirmed in effect */
	if (!e->ssn_known || strcmp(e->ssn, want_ssn) != 0)
	{
		if (health_control_set_sync(e->pg, want_ssn, 5000, &err) != 0)
		{
			log_warn("sync.ssn-failed", "value=\"%s\" detail=\"%s\"", want_ssn, err.msg);
			return;
		}
		pgw_strlcpy(e->ssn, want_ssn, sizeof(e->ssn));
		e->ssn_known = true;
		log_info("sync.ssn", "value=\"%s\"", want_ssn);
	}
	/* 3. only now may `sync` name the new members */
	{
		bool		same = cur->present && cur->n_sync == n_want &&
			cur->quorum == quorum && strcmp(cur->leader, ctx->name) == 0;

		for (int j = 0; same && j < n_want; j++)
			same = sync_has(cur, cand[j]);
		if (!same)
		{
			if (sync_write(ctx, cand, n_want, quorum, &err) != 0)
				log_warn("sync.write-failed", "detail=\"%s\"", err.msg);
			else
				log_info("sync.updated", "sync_standby_count=%d quorum=%d", n_want, quorum);
		}
	}
}

/*
 * sync_claim: before a promotion in synchronous mode. Until the new primary
 * has named its sync standbys, `sync` must name nobody but us: the old
 * `sync` still names the old leader, which may lack every commit we are
 * about to acknowledge before a standby confirms them (Patroni writes the
 * same claim). In strict mode ssn "*" also makes the first commits wait
 * for some standby instead of returning at once.
 */
static void
sync_claim(FailoverExec *e, const ExecContext *ctx)
{
	PgwError	err = {0};

	if (sync_write(ctx, NULL, 0, 0, &err) != 0)
		log_warn("sync.claim-failed", "detail=\"%s\"", err.msg);
	else
		log_info("sync.claimed", "sync_standby_count=0");
	if (ctx->view->config.synchronous_mode_strict &&
		(!e->ssn_known || strcmp(e->ssn, "*") != 0))
	{
		if (health_control_set_sync(e->pg, "*", 5000, &err) != 0)
			log_warn("sync.ssn-failed", "value=\"*\" detail=\"%s\"", err.msg);
		else
		{
			pgw_strlcpy(e->ssn, "*", sizeof(e->ssn));
			e->ssn_known = true;
			log_info("sync.ssn", "value=\"*\" reason=promotion-strict");
		}
	}
}

static void
leader_housekeeping(FailoverExec *e, const ExecContext *ctx)
{
	int64_t		now = pgw_now_mono_ms();
	PgwError	err = {0};

	/* status optime for replicas' lag, at most every few seconds */
	if (e->rep->reachable && !e->rep->in_recovery &&
		now - e->status_published_mono_ms >= STATUS_PUBLISH_MS)
	{
		char		val[64];

		snprintf(val, sizeof(val), "{\"optime\":%llu}",
				 (unsigned long long) e->rep->wal_lsn);
		if (dcs_leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
								   "status", val, &err) == 0)
			e->status_published_mono_ms = now;
	}
	/* the first leader writes the bootstrap config if nobody did */
	if (!ctx->view->has_config)
	{
		char	   *json = dcs_config_encode(&e->cfg->bootstrap_dcs);

		if (dcs_cas_put(ctx->etcd, ctx->prefix, "config", json, 0, &err) == 0)
			log_info("config.written", "source=bootstrap.dcs");
		free(json);
	}
	/* initialize must name the system identifier (a bootstrap that died
	 * between initdb and this write left it empty) */
	if (ctx->view->has_initialize && ctx->view->initialize[0] == '\0' &&
		e->last_sysid != 0)
	{
		char		sysid[32];

		snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) e->last_sysid);
		if (dcs_initialize_set(ctx->etcd, ctx->prefix, sysid, &err) != 0)
			log_warn("initialize.set-failed", "detail=\"%s\"", err.msg);
	}
	if (e->rep->reachable && !e->rep->in_recovery)
		manage_sync(e, ctx);
	/* physical slots for every other member, when use_slots */
	if (ctx->view->config.use_slots && e->rep->reachable && !e->rep->in_recovery)
	{
		const char *names[PGW_MEMBERS_MAX];
		char		list[1024] = "";
		size_t		used = 0;
		int			n = 0;
		int			changed = 0;

		for (int i = 0; i < ctx->view->n_members; i++)
		{
			if (strcmp(ctx->view->members[i].name, ctx->name) == 0)
				continue;
			names[n++] = ctx->view->members[i].name;
			used += (size_t) snprintf(list + used, used < sizeof(list) ?
									  sizeof(list) - used : 0, "%s,",
									  ctx->view->members[i].name);
		}
		if (strcmp(list, e->slots_for) != 0)
		{
			if (health_control_slots_sync(e->pg, names, n, &changed, &err) == 0)
			{
				pgw_strlcpy(e->slots_for, list, sizeof(e->slots_for));
				if (changed > 0)
					log_info("slots.synced", "members=\"%s\" changed=%d", list, changed);
			}
			else
				log_warn("slots.sync-failed", "detail=\"%s\"", err.msg);
		}
	}
}

/*
 * switchover: the leader's side of a planned switchover (DESIGN.md "Timing
 * model"): CHECKPOINT while still serving (so the shutdown checkpoint is
 * short), stop fast, wait until the target has received our shutdown
 * checkpoint (so it has every commit we acknowledged), release the key by
 * value compare (the target is woken by its watch and promotes), then
 * follow the target. Write downtime runs from the stop to the target's
 * promotion. Before the release, an error restarts us as the primary we
 * still are; after it, we are a replica whatever happens.
 */
static int
switchover(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
		   PgwError *err)
{
	char		host[256];
	HealthUpstream up = {0};
	PgLsn		ckpt = 0;
	PgLsn		seen = 0;
	char		state[64];
	int64_t		t0 = pgw_now_mono_ms();
	int64_t		t_stop;
	int64_t		t_ckpt;
	int64_t		t_recv;
	/* the request's revision as we last wrote or saw it: the abort path
	 * deletes by it (by the decision's revision it failed once we had
	 * named the target ourselves, and the request was retried) */
	int64_t		request_rev = ctx->view->failover.mod_revision;
	HealthWait	w;
	int			rc;

	if (!upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
		return pgw_error_set(err, PGW_ESTATE, "no address for switchover target %s",
							 dec->target);
	log_info("switchover.start", "target=%s", dec->target);
	if (ctx->view->failover.member[0] == '\0')
	{
		FailoverRequest f = ctx->view->failover;
		char	   *json;

		/* name the target we chose, so the others wait for it instead of
		 * starting an election of their own (we would win it ourselves) */
		pgw_strlcpy(f.member, dec->target, sizeof(f.member));
		json = dcs_failover_encode(&f);
		rc = dcs_cas_put_rev(ctx->etcd, ctx->prefix, "failover", json,
							 ctx->view->failover.mod_revision, &request_rev, err);
		free(json);
		if (rc != 0)
			return rc;			/* changed or gone: decide again */
	}
	if (health_control_standby_prepare(e->pg, &up, err) != 0)
		log_warn("switchover.connect-failed", "target=%s detail=\"%s\" action=retry-after-stop",
				 dec->target, err->msg);
	pgw_error_clear(err);
	if (health_control_checkpoint(e->pg, err) != 0)
		log_warn("switchover.checkpoint-failed", "detail=\"%s\" action=continue",
				 err->msg);
	pgw_error_clear(err);
	t_stop = pgw_now_mono_ms();
	e->should_run = false;
	e->crashed_since_mono_ms = 0;
	w = health_control_stop_checkpointed(e->pg, STOP_TIMEOUT_MS, &ckpt, err);
	if (w == HEALTH_WAIT_PENDING)
	{
		/* no clean shutdown in time: escalate as any stop does */
		stop_pg(e, HEALTH_STOP_FAST);
		pgw_error_clear(err);
		if ((rc = health_control_checkpoint_lsn(e->pg, &ckpt, state, sizeof(state), err)) != 0)
			goto abort;
		if (strcmp(state, "shut down") != 0)
		{
			rc = pgw_error_set(err, PGW_ESTATE, "cluster state \"%s\" after stop, not \"shut down\"",
							   state);
			goto abort;
		}
	}
	else if (w == HEALTH_WAIT_FAILED)
	{
		rc = err->code ? err->code : PGW_ESTATE;
		goto abort;
	}
	/* no republish here: it costs a linearizable read, a probe and a member
	 * write (20-80 ms of write downtime), and until the handover below we
	 * still hold the key, so no peer acts on our state meanwhile */
	t_ckpt = pgw_now_mono_ms();
	/* past the record's start: the target has the whole checkpoint */
	if (health_control_wait_received(e->pg, &up, ckpt + 1, 5000, &seen, err) != HEALTH_WAIT_READY)
	{
		rc = err->code ? err->code : PGW_ETIMEDOUT;
		goto abort;
	}
	t_recv = pgw_now_mono_ms();
	{
		FailoverRequest f = ctx->view->failover;

		/* the target learns from this revision that it may promote
		 * without asking the peers (rules.c, switchover-candidate-refresh) */
		pgw_strlcpy(f.member, dec->target, sizeof(f.member));
		f.handover_lsn = ckpt;
		rc = dcs_leader_handover(ctx->etcd, ctx->prefix, ctx->name, &f, err);
	}
	if (rc != 0 && rc != PGW_ECONFLICT)
		goto abort;
	/* the three phases of the write downtime that are ours to wait for */
	log_info("switchover.released", "target=%s checkpoint=%X/%X stopped_ms=%lld shutdown_ms=%lld received_ms=%lld handover_ms=%lld",
			 dec->target, (unsigned) (ckpt >> 32), (unsigned) ckpt,
			 (long long) (pgw_now_mono_ms() - t_stop),
			 (long long) (t_ckpt - t_stop), (long long) (t_recv - t_ckpt),
			 (long long) (pgw_now_mono_ms() - t_recv));
	if (ctx->republish)
		ctx->republish(ctx->republish_arg);
	/* the target promotes now: follow once it did (bounded), not during */
	if (health_control_wait_promoted(e->pg, &up, 3000) != HEALTH_WAIT_READY)
		log_warn("switchover.target-not-promoted", "target=%s waited_ms=3000 action=follow",
				 dec->target);
	/* from here on we are a replica of the target */
	atomic_store(&e->fence_pid, 0);
	e->should_run = true;
	e->expect_primary = false;
	pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
	if (health_control_demote(e->pg, &up, REPLICA_START_WAIT_MS, err) == HEALTH_WAIT_FAILED)
		log_warn("switchover.follow-failed", "detail=\"%s\" action=retry-next-loop",
				 err->msg);
	log_info("switchover.done", "target=%s duration_ms=%lld", dec->target,
			 (long long) (pgw_now_mono_ms() - t0));
	return 0;

abort:
	/* still the key holder: serve again as primary, drop the request */
	log_warn("switchover.aborted", "target=%s detail=\"%s\" action=restart-as-primary",
			 dec->target, err->msg);
	{
		PgwError	e2 = {0};

		health_control_standby_forget(e->pg);
		stop_pg(e, HEALTH_STOP_FAST);	/* it may still be exiting */
		(void) start_pg(e, true, &e2);
		if (dcs_cas_delete(ctx->etcd, ctx->prefix, "failover", request_rev,
						   &e2) != 0)
			log_warn("failover.clear-failed", "detail=\"%s\"", e2.msg);
	}
	return rc;
}

int
failover_execute(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
				 const LocalHealth *self)
{
	const NodeConfig *cfg = e->cfg;
	PgwError	err = {0};
	char		host[256];
	HealthUpstream up = {0};
	bool		won = false;
	char		holder[PGW_NAME_MAX];
	int64_t		t0 = pgw_now_mono_ms();
	int			rc = 0;
	HealthWait	w_restart;

	/* whatever this step does to PostgreSQL, the next look probes afresh */
	e->probe_ok_mono_ms = 0;

	switch (dec->kind)
	{
		case DECIDE_WAIT:
		case DECIDE_TILT:
		case DECIDE_REFRESH:
			return 0;

		case DECIDE_RENEW:
			rc = dcs_leader_check(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id, &err);
			if (rc == PGW_ECONFLICT)
			{
				log_warn("leader.lost", "detail=\"%s\"", err.msg);
				return rc;
			}
			if (rc == 0)
				leader_housekeeping(e, ctx);
			return rc;

		case DECIDE_BOOTSTRAP:
			if (!dec->adopt_existing_data || !ctx->view->has_initialize)
			{
				rc = dcs_initialize_claim(ctx->etcd, ctx->prefix, &won, &err);
				if (rc != 0)
					break;
				if (!won)
				{
					log_info("bootstrap.lost-race", "action=clone-later");
					return 0;
				}
			}
			log_info("bootstrap.start", "adopt=%d data_dir=%s", dec->adopt_existing_data,
					 cfg->pg_data_dir);
			if (dec->adopt_existing_data)
				rc = start_pg(e, true, &err) == HEALTH_WAIT_FAILED ? PGW_EIO : 0;
			else
			{
				e->should_run = true;
				e->expect_primary = true;
				rc = health_control_bootstrap(e->pg, START_TIMEOUT_MS, &err);
			}
			if (rc != 0)
			{
				PgwError	e2 = {0};

				/* let another node (or our next attempt) bootstrap */
				e->should_run = false;
				if (dcs_cas_delete(ctx->etcd, ctx->prefix, "initialize", 0, &e2) != 0)
					log_warn("bootstrap.cleanup-failed", "detail=\"%s\"", e2.msg);
				break;
			}
			rc = dcs_leader_acquire(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
									&won, holder, &err);
			if (rc == 0 && won)
			{
				PgwError	e2 = {0};
				HealthReport *rep = e->rep;

				if (health_probe_run(e->probe, 0, rep, &e2) == 0)
				{
					char		sysid[32];

					e->last_sysid = rep->system_identifier;
					snprintf(sysid, sizeof(sysid), "%llu",
							 (unsigned long long) rep->system_identifier);
					if (dcs_initialize_set(ctx->etcd, ctx->prefix, sysid, &e2) != 0)
						log_warn("initialize.set-failed", "detail=\"%s\"", e2.msg);
				}
				leader_housekeeping(e, ctx);
				log_info("bootstrap.done", "duration_ms=%lld",
						 (long long) (pgw_now_mono_ms() - t0));
			}
			break;

		case DECIDE_CLONE:
		case DECIDE_REINIT:
			if (!upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
				return pgw_error_set(&err, PGW_ESTATE, "no address for clone source");
			if (dec->kind == DECIDE_REINIT || self->data_dir == DATA_DIR_INITIALIZED)
			{
				stop_pg(e, HEALTH_STOP_IMMEDIATE);
				save_wal(cfg);
				if ((rc = wipe_data_dir(cfg->pg_data_dir, &err)) != 0)
					break;
			}
			else if (self->data_dir == DATA_DIR_EMPTY)
				(void) wipe_data_dir(cfg->pg_data_dir, &err);
			log_info("clone.start", "source=%s host=%s port=%d", dec->target, up.host,
					 up.port);
			/* create_replica_methods: the repository first, when configured */
			rc = backup_clone_replica(cfg, &err);
			if (rc == 0)
				rc = health_control_set_upstream(e->pg, &up, &err);
			else if (rc == PGW_ENOTFOUND || backup_basebackup_allowed(cfg))
			{
				if (rc != PGW_ENOTFOUND)
				{
					log_warn("clone.from-repository-failed", "detail=\"%s\" action=pg_basebackup", err.msg);
					(void) wipe_data_dir(cfg->pg_data_dir, &err);
				}
				rc = health_control_clone(e->pg, &up, &err);
			}
			e->clone_failed = rc != 0;
			if (rc != 0)
				break;
			e->rewind_failed = false;
			pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
			if (start_pg(e, false, &err) == HEALTH_WAIT_FAILED)
				rc = PGW_EIO;
			log_info("clone.done", "source=%s duration_ms=%lld rc=%d", dec->target,
					 (long long) (pgw_now_mono_ms() - t0), rc);
			break;

		case DECIDE_START_REPLICA:
			if (dec->target[0] &&
				upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
			{
				/*
				 * A former primary may hold WAL the new leader never got:
				 * starting it as a replica would stall on a diverged timeline.
				 * Rewind first when pg_control says so.
				 */
				if (self->pg_was_primary && !self->pg_running &&
					ctx->view->config.use_pg_rewind)
				{
					bool		needed = true;
					PgwError	e2 = {0};

					if (health_control_rewind_needed(e->pg, &up, &needed, &e2) != 0)
						log_warn("rewind.check-failed", "detail=\"%s\" action=rewind", e2.msg);
					if (needed)
					{
						log_info("rewind.start", "source=%s reason=former-primary", dec->target);
						save_wal(cfg);
						rc = health_control_rewind(e->pg, &up, &err);
						if (rc != 0)
						{
							if (rc == PGW_ESTATE || rc == PGW_EIO)
								e->rewind_failed = true;
							break;
						}
						log_info("rewind.done", "source=%s duration_ms=%lld", dec->target,
								 (long long) (pgw_now_mono_ms() - t0));
					}
				}
				e->should_run = true;
				e->expect_primary = false;
				pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
				if (health_control_demote(e->pg, &up, REPLICA_START_WAIT_MS, &err) ==
					HEALTH_WAIT_FAILED)
					rc = PGW_EIO;
			}
			else
			{
				/* no upstream known: start in recovery, never read-write */
				if ((rc = health_control_ensure_standby(e->pg, &err)) != 0)
					break;
				if (start_pg(e, false, &err) == HEALTH_WAIT_FAILED)
					rc = PGW_EIO;
			}
			break;

		case DECIDE_FOLLOW:
			if (!upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
				return pgw_error_set(&err, PGW_ESTATE, "no address for new upstream");
			rc = health_control_set_upstream(e->pg, &up, &err);
			if (rc == 0)
				pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
			break;

		case DECIDE_ACQUIRE:
			if (dec->takeover_from_lease != 0)
			{
				/* our own key from an earlier lease: move it, by value+lease
				 * compare, instead of waiting out its TTL */
				rc = dcs_leader_takeover(ctx->etcd, ctx->prefix, ctx->name,
										 dec->takeover_from_lease, ctx->lease_id, &err);
				won = rc == 0;
				if (rc == PGW_ECONFLICT)
					rc = 0;
				pgw_strlcpy(holder, won ? ctx->name : "?", sizeof(holder));
			}
			else
				rc = dcs_leader_acquire(ctx->etcd, ctx->prefix, ctx->name, ctx->lease_id,
										&won, holder, &err);
			if (rc == 0 && !won)
				log_info("leader.acquire-lost", "holder=%s", holder);
			if (rc == 0 && won)
			{
				e->should_run = true;
				e->expect_primary = true;
				log_info("leader.acquired", "lease=%llx", (unsigned long long) ctx->lease_id);
			}
			break;

		case DECIDE_PROMOTE:
			{
				uint32_t	new_tl = 0;
				uint64_t	at = self->pg_received_lsn > self->pg_replayed_lsn ?
					self->pg_received_lsn : self->pg_replayed_lsn;

				if (!dec->key_already_held)
				{
					rc = dcs_leader_acquire(ctx->etcd, ctx->prefix, ctx->name,
											ctx->lease_id, &won, holder, &err);
					if (rc != 0)
						break;
					if (!won)
					{
						log_info("promote.lost-race", "holder=%s", holder);
						return 0;
					}
				}
				if (cfg->pg_pre_promote && cfg->pg_pre_promote[0])
				{
					int			status = 0;
					int			prc = pgw_run_command(cfg->pg_pre_promote, NULL,
													  (int) ctx->view->config.retry_timeout_ms * 3,
													  &status, &err);

					if (prc != 0 || status != 0)
					{
						PgwError	e2 = {0};

						/* vetoed: give the key back so another member can lead */
						e->vetoed_mono_ms = pgw_now_mono_ms();
						log_warn("promote.vetoed", "script=pre_promote exit=%d error=%s action=release",
								 status, prc ? pgw_strerror(prc) : "none");
						if (dcs_leader_release(ctx->etcd, ctx->prefix, ctx->name, &e2) != 0)
							log_warn("leader.release-failed", "detail=\"%s\"", e2.msg);
						return 0;
					}
				}
				if (ctx->view->config.synchronous_mode)
					sync_claim(e, ctx);
				log_info("promote.start", "reason=\"%s\"", dec->reason);
				rc = health_control_promote(e->pg, 30, &new_tl, &err);
				if (rc != 0 && rc != PGW_ESTATE)
					break;
				rc = 0;			/* PGW_ESTATE: already promoted */
				if (ctx->promoted)
					ctx->promoted(ctx->republish_arg);
				/* slots first: replicas re-pointed to us stream at once */
				e->slots_for[0] = '\0';
				e->status_published_mono_ms = 0;
				{
					PgwError	e2 = {0};

					if (health_probe_run(e->probe, 0, e->rep, &e2) == 0)
						leader_housekeeping(e, ctx);
				}
				e->should_run = true;
				e->expect_primary = true;
				e->upstream[0] = '\0';
				log_info("promote.done", "timeline=%u duration_ms=%lld", new_tl,
						 (long long) (pgw_now_mono_ms() - t0));
				history_append(e, ctx, (int) new_tl, at, dec->reason);
				if (ctx->view->failover.present)
				{
					PgwError	e2 = {0};

					/* the request is done: a new leader clears it, and only
					 * it, not one written since (a scheduled one, say) */
					if (dcs_cas_delete(ctx->etcd, ctx->prefix, "failover",
									   ctx->view->failover.mod_revision, &e2) != 0)
						log_warn("failover.clear-failed", "detail=\"%s\"", e2.msg);
				}
				e->status_published_mono_ms = 0;
				e->slots_for[0] = '\0';
				leader_housekeeping(e, ctx);
			}
			break;

		case DECIDE_DEMOTE:
			log_warn("demote.start", "mode=%s reason=\"%s\"",
					 dec->demote_mode == DEMOTE_IMMEDIATE ? "immediate" : "fast",
					 dec->reason);
			stop_pg(e, dec->demote_mode == DEMOTE_IMMEDIATE ? HEALTH_STOP_IMMEDIATE
					: HEALTH_STOP_FAST);
			e->expect_primary = false;
			log_info("demote.done", "duration_ms=%lld",
					 (long long) (pgw_now_mono_ms() - t0));
			break;

		case DECIDE_RESTART_PRIMARY:
			e->restart_attempts++;
			log_info("pg.restart", "attempt=%d", e->restart_attempts);
			e->restart_failed = false;
			{
				/*
				 * Wait for crash recovery no longer than primary_start_timeout
				 * allows: a start still running then comes back PENDING, and
				 * the next loop releases the key (leader-pg-down-release)
				 * instead of this one blocking for START_TIMEOUT_MS.
				 */
				int64_t		budget = ctx->view->config.primary_start_timeout_ms -
					(e->crashed_since_mono_ms != 0 ?
					 pgw_now_mono_ms() - e->crashed_since_mono_ms : 0);

				if (budget < 500)
					budget = 500;
				if (budget > START_TIMEOUT_MS)
					budget = START_TIMEOUT_MS;
				w_restart = start_pg_within(e, true, (int) budget, &err);
			}
			if (w_restart == HEALTH_WAIT_FAILED)
			{
				e->restart_failed = true;
				e->decide_now = true;
				rc = PGW_EIO;
			}
			break;

		case DECIDE_RELEASE:
			/* a crashed primary still in crash recovery may not even heed
			 * an immediate stop for seconds (PostgreSQL fsyncs the data
			 * directory before redo): kill it outright, it is not serving */
			if (self->pg_crashed_since_mono_ms != 0 && e->pm.running)
				(void) health_fence_postmaster(e->pm.pid);
			stop_pg(e, HEALTH_STOP_IMMEDIATE);
			e->expect_primary = false;
			rc = dcs_leader_release(ctx->etcd, ctx->prefix, ctx->name, &err);
			if (rc == PGW_ECONFLICT)
				rc = 0;
			log_warn("leader.released", "reason=\"%s\"", dec->reason);
			/* the replicas ask our REST API before promoting: it must stop
			 * saying leader now, not after our next (maybe long) step */
			if (ctx->republish)
				ctx->republish(ctx->republish_arg);
			break;

		case DECIDE_REWIND:
			if (!upstream_of(ctx->view, dec->target, host, sizeof(host), &up))
				return pgw_error_set(&err, PGW_ESTATE, "no address for rewind source");
			stop_pg(e, HEALTH_STOP_FAST);
			log_info("rewind.start", "source=%s", dec->target);
			save_wal(cfg);
			rc = health_control_rewind(e->pg, &up, &err);
			if (rc == PGW_ESTATE || rc == PGW_EIO)
			{
				e->rewind_failed = true;
				break;
			}
			if (rc != 0)
				break;
			pgw_strlcpy(e->upstream, dec->target, sizeof(e->upstream));
			if (start_pg(e, false, &err) == HEALTH_WAIT_FAILED)
				rc = PGW_EIO;
			log_info("rewind.done", "source=%s duration_ms=%lld rc=%d", dec->target,
					 (long long) (pgw_now_mono_ms() - t0), rc);
			break;

		case DECIDE_CANCEL_SWITCHOVER:
			log_warn("switchover.refused", "reason=\"%s\"", dec->reason);
			rc = dcs_cas_delete(ctx->etcd, ctx->prefix, "failover",
								ctx->view->failover.mod_revision, &err);
			if (rc == PGW_ECONFLICT)
				rc = 0;			/* someone changed it: decide again */
			break;

		case DECIDE_SWITCHOVER:
			rc = switchover(e, ctx, dec, &err);
			break;

		case DECIDE_KIND_COUNT:
			return 0;
	}
	if (rc != 0)
		log_warn("execute.failed", "kind=%s error=%s detail=\"%s\"",
				 failover_decision_kind_name(dec->kind), pgw_strerror(rc), err.msg);
	return rc;
}

/* ---- actions asked for over the REST API ------------------------------- */

int
failover_exec_restart(FailoverExec *e, const ExecContext *ctx, int timeout_ms,
					  PgwError *err)
{
	bool		as_primary = failover_exec_is_writable_primary(e);
	HealthWait	w;

	(void) ctx;
	if (!e->pm.running)
		return pgw_error_set(err, PGW_ESTATE, "postgres is not running");
	log_info("pg.restart", "reason=requested primary=%d", as_primary);
	e->should_run = true;
	e->expect_primary = as_primary;
	w = health_control_restart(e->pg, timeout_ms, err);
	health_control_status(e->pg, &e->pm);
	atomic_store(&e->fence_pid, e->pm.running ? (int) e->pm.pid : 0);
	return w == HEALTH_WAIT_READY ? 0 : w == HEALTH_WAIT_PENDING ? PGW_ETIMEDOUT
		: PGW_EIO;
}

int
failover_exec_reload(FailoverExec *e, PgwError *err)
{
	return health_control_reload(e->pg, err);
}

int
failover_exec_reinit(FailoverExec *e, const ExecContext *ctx, PgwError *err)
{
	LocalHealth self = {0};
	Decision	dec = {0};

	if (!ctx->view->has_leader || strcmp(ctx->view->leader, ctx->name) == 0)
		return pgw_error_set(err, PGW_ESTATE,
							 ctx->view->has_leader ? "cannot reinitialize the leader"
							 : "no leader to clone from");
	dec.kind = DECIDE_REINIT;
	dec.rule = "requested-reinit";
	pgw_strlcpy(dec.target, ctx->view->leader, sizeof(dec.target));
	snprintf(dec.reason, sizeof(dec.reason), "reinitialize requested; re-cloning from %s",
			 ctx->view->leader);
	self.data_dir = DATA_DIR_INITIALIZED;
	return failover_execute(e, ctx, &dec, &self);
}

bool
failover_exec_pending_restart(const FailoverExec *e)
{
	return e->rep->reachable && e->rep->pending_restart;
}

/* ---- publishing -------------------------------------------------------- */

void
failover_exec_member_info(FailoverExec *e, const ClusterView *view,
						  const Decision *dec, MemberInfo *m)
{
	const NodeConfig *cfg = e->cfg;
	const HealthReport *r = e->rep;

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, cfg->name, sizeof(m->name));
	snprintf(m->conn_url, sizeof(m->conn_url), "postgres://%s/postgres",
			 cfg->pg_connect_address ? cfg->pg_connect_address : cfg->pg_listen);
	snprintf(m->api_url, sizeof(m->api_url), "%s://%s/patroni",
			 cfg->restapi_certfile && cfg->restapi_certfile[0] ? "https" : "http",
			 cfg->restapi_connect_address ? cfg->restapi_connect_address
			 : cfg->restapi_listen);
	pgw_strlcpy(m->version, PGW_VERSION, sizeof(m->version));
	if (e->pm.running && r->reachable)
	{
		m->state = MEMBER_STATE_RUNNING;
		m->role = r->in_recovery ? MEMBER_ROLE_REPLICA : MEMBER_ROLE_PRIMARY;
		m->timeline = (int) r->timeline;
		if (r->in_recovery)
		{
			m->received_location = r->receive_lsn;
			m->replayed_location = r->replay_lsn;
			m->xlog_location = r->receive_lsn > r->replay_lsn ? r->receive_lsn
				: r->replay_lsn;
		}
		else
			m->xlog_location = r->wal_lsn;
		m->pending_restart = r->pending_restart;
	}
	else if (e->pm.running)
	{
		m->state = MEMBER_STATE_STARTING;
		m->role = MEMBER_ROLE_UNKNOWN;
	}
	else
	{
		m->state = e->should_run ? MEMBER_STATE_CRASHED : MEMBER_STATE_STOPPED;
		m->role = data_dir_state(cfg->pg_data_dir,
								 health_data_dir_incomplete(cfg->pg_data_dir)) == DATA_DIR_INITIALIZED ?
			MEMBER_ROLE_DEMOTED : MEMBER_ROLE_UNINITIALIZED;
	}
	m->nofailover = cfg->tag_nofailover;
	m->noloadbalance = cfg->tag_noloadbalance;
	m->nosync = cfg->tag_nosync;
	m->failover_priority = cfg->tag_failover_priority;
	pgw_strlcpy(m->replicatefrom, cfg->tag_replicatefrom, sizeof(m->replicatefrom));
	m->n_tags = cfg->n_tags;
	memcpy(m->tags, cfg->tags, sizeof(MemberTag) * (size_t) cfg->n_tags);
	if (dec != NULL)
		snprintf(m->reason, sizeof(m->reason), "%s: %s", dec->rule ? dec->rule : "",
				 dec->reason);
	m->is_valid = true;
	(void) view;
}

const HealthReport *
failover_exec_last_report(const FailoverExec *e, bool *pg_running,
						  int64_t *postmaster_start_wall_ms)
{
	*pg_running = e->pm.running && e->rep->reachable;
	*postmaster_start_wall_ms = e->postmaster_start_wall_ms;
	return e->rep;
}

bool
failover_exec_is_writable_primary(const FailoverExec *e)
{
	return e->pm.running && e->expect_primary;
}

void
failover_exec_shutdown(FailoverExec *e, const ExecContext *ctx)
{
	PgwError	err = {0};
	bool		leading = ctx->view->has_leader &&
		strcmp(ctx->view->leader, ctx->name) == 0;

	if (e->pm.running)
	{
		log_info("pg.stop", "mode=fast reason=shutdown");
		stop_pg(e, HEALTH_STOP_FAST);
	}
	/* release only after PostgreSQL stopped: no writes after the key goes */
	if (leading && dcs_leader_release(ctx->etcd, ctx->prefix, ctx->name, &err) == 0)
		log_info("leader.released", "reason=shutdown");
}
