/*
 * loop.c: the HA loop (DESIGN.md "daemon/" and "Timing model"):
 *   observe (etcd view from the watch cache, local PostgreSQL health)
 *   -> decide (failover_decide, pure)
 *   -> act (failover_execute: consensus + health, idempotent steps)
 *   -> publish (member key when it changed, REST snapshot, systemd status)
 * every loop_wait, and at once when the watch reports a change of the leader,
 * config or failover key. The lease is kept alive on etcd's keepalive stream
 * by the client's thread; the fencing deadline is the send time of the last
 * confirmed keepalive + ttl - margin, checked every loop *and* by the fencing
 * thread (fence.c), so a stalled loop cannot keep a primary writable.
 */
#include "daemon/daemon.h"
#include "daemon/backup_duty.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "daemon/daemon_int.h"
#include "daemon/daemon_loop.h"
#include "failover/failover.h"
#include "health/health.h"

#include <errno.h>
#include <stdatomic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

/* Keys whose change must wake the loop at once (not at the next tick). */
#define MEMBER_REPUBLISH_MS 10000	/* idle: ~1 etcd write / 10 s / node */
#define WAL_REPUBLISH_MS 3000		/* WAL position at most every 3 s */

typedef struct Daemon
{
	NodeConfig *cfg;
	const char *config_path;
	char		prefix[PGW_PREFIX_MAX];
	EtcdClient *etcd;
	RestServer *rest;
	FailoverExec *exec;			/* executor: owns the PostgreSQL handles */
	ClusterView *view;			/* watch-maintained cache */
	bool		view_valid;
	int64_t		watch_id;
	bool		watching;
	int64_t		lease_id;
	int64_t		lease_ttl_ms;
	int64_t		lease_deadline_mono_ms;
	MemberInfo	published;
	int64_t		published_mono_ms;
	bool		has_published;
	int64_t		last_loop_mono_ms;
	uint64_t	loops;
	uint64_t	etcd_errors;
	uint64_t	decisions;
	Decision	last;
	bool		ready_notified;
	int			sigfd;
	bool		stopping;
	int			etcd_fail_logged;
	char	   *history_json;
	char	   *config_json;
	int64_t		leader_absent_since_mono_ms;	/* 0 while a leader exists */
	Callbacks  *cb;				/* on_start, on_stop, ... scripts */
	char		cb_role[16];	/* role the callbacks last saw */
	bool		cb_running;		/* PG running as the callbacks last saw */
	RestAction	scheduled;		/* a scheduled restart (kind 0: none) */
	RoutingPub	routing;		/* the routing table we publish as leader */
	char	   *failsafe_written;	/* the `failsafe` value we last wrote */
	bool		failsafe_active;	/* every member vouched in the last round */
	bool		failsafe_refused;	/* the last round had a "no" (logged once) */
	Backup	   *backup;			/* backup/: archiving, backups, catalog */
} Daemon;

static int64_t
margin_ms(int64_t ttl_ms)
{
	/* fencing margin: 10 % of the TTL, at least 300 ms */
	return ttl_ms / 10 > 300 ? ttl_ms / 10 : 300;
}

/* the lease the fencing thread may consult (set by the loop) */
static _Atomic int64_t fence_lease_id;
static _Atomic int64_t fence_lease_ttl_ms;
static EtcdClient *fence_etcd;

/*
 * confirmed_deadline: the fencing deadline implied by the latest keepalive
 * confirmation the etcd client holds (its state is mutex-protected, so any
 * thread may ask). 0 when there is none for our lease.
 */
static int64_t
confirmed_deadline(void *unused)
{
	int64_t		id = atomic_load(&fence_lease_id);
	int64_t		ttl_ms = atomic_load(&fence_lease_ttl_ms);
	int64_t		ttl_s;
	int64_t		sent;

	(void) unused;
	if (id == 0 || fence_etcd == NULL ||
		!etcd_lease_keepalive_last(fence_etcd, id, &ttl_s, &sent))
		return 0;
	return sent + ttl_s * 1000 - margin_ms(ttl_ms);
}

/*
 * keepalive_confirmed: on the etcd client's thread, every confirmed
 * keepalive moves both fences' deadline at once, whatever the loop does.
 */
static void
keepalive_confirmed(void *unused, int64_t lease_id, int64_t ttl_s,
					int64_t sent_mono_ms)
{
	(void) unused;
	if (lease_id == 0 || lease_id != atomic_load(&fence_lease_id) || ttl_s <= 0)
		return;
	fence_raise_deadline(sent_mono_ms + ttl_s * 1000 -
						 margin_ms(atomic_load(&fence_lease_ttl_ms)));
}

static void
note_etcd_error(Daemon *d, const char *what, const PgwError *err)
{
	d->etcd_errors++;
	if (!d->etcd_fail_logged)
		log_warn("etcd.error", "op=%s error=%s detail=\"%s\"", what,
				 pgw_strerror(err->code), err->msg);
	d->etcd_fail_logged = 1;
}

static void
note_etcd_ok(Daemon *d)
{
	if (d->etcd_fail_logged)
		log_info("etcd.recovered", "endpoint=%s", etcd_client_endpoint(d->etcd));
	d->etcd_fail_logged = 0;
}

static bool
is_own_key(const Daemon *d, const EtcdEvent *ev, const char *suffix)
{
	size_t		plen = strlen(d->prefix);

	return ev->kv.key != NULL && ev->kv.key_len > plen &&
		memcmp(ev->kv.key, d->prefix, plen) == 0 &&
		strcmp(ev->kv.key + plen, suffix) == 0;
}

static void
replace_raw(char **out, const EtcdEvent *ev)
{
	free(*out);
	*out = ev->type == ETCD_EVENT_WATCH_PUT && ev->kv.value != NULL ?
		pgw_xstrdup(ev->kv.value) : NULL;
}

/* read_view: fresh view (linearizable when asked), (re)start the watch. */
static int
read_view(Daemon *d, bool linearizable)
{
	PgwError	err = {0};
	ClusterView *nv = pgw_xmalloc(sizeof(ClusterView));
	char	   *raw_config = NULL;
	char	   *raw_history = NULL;

	if (dcs_view_read_raw(d->etcd, d->prefix, linearizable, nv, &raw_config,
						  &raw_history, &err) != 0)
	{
		note_etcd_error(d, "read-view", &err);
		free(nv);
		d->view->is_valid = false;
		d->view_valid = false;
		return err.code;
	}
	note_etcd_ok(d);
	/* until the first leader writes `config`, run on bootstrap.dcs, so the
	 * lease is granted with the TTL the cluster will keep */
	if (!nv->has_config)
		nv->config = d->cfg->bootstrap_dcs;
	/* retry_timeout bounds every etcd call, as in Patroni: with etcd gone a
	 * loop then never blocks past the fencing deadline (a 3 s call outlived
	 * a 3 s ttl, and a failsafe round could not run in time) */
	etcd_client_set_call_timeout(d->etcd, (int) nv->config.retry_timeout_ms);
	if (nv->n_bad_values > 0 &&
		strcmp(nv->bad_value_keys, d->view->bad_value_keys) != 0)
		log_warn("dcs.bad-value", "keys=\"%s\" action=ignored", nv->bad_value_keys);
	memcpy(d->view, nv, sizeof(ClusterView));
	free(nv);
	d->view_valid = true;
	if (!d->watching)
	{
		if (etcd_watch_start(d->etcd, d->prefix, true, d->view->revision + 1,
							 &d->watch_id, &err) == 0)
			d->watching = true;
		else
			note_etcd_error(d, "watch", &err);
	}
	free(d->history_json);
	d->history_json = raw_history;
	free(d->config_json);
	d->config_json = raw_config;
	return 0;
}

/* drain_events: fold watch and keepalive events; true when the loop should
 * run now (leader / config / failover key changed, lease lost). */
static bool
drain_events(Daemon *d)
{
	EtcdEvent	ev;
	bool		wake = false;

	while (etcd_client_next_event(d->etcd, &ev))
	{
		switch (ev.type)
		{
			case ETCD_EVENT_WATCH_PUT:
			case ETCD_EVENT_WATCH_DELETE:
				if (d->view_valid && dcs_view_apply_event(d->view, d->prefix, &ev))
					wake = true;
				/* the event carries the value: keep the raw copy the REST
				 * API serves without another read */
				if (is_own_key(d, &ev, "config"))
					replace_raw(&d->config_json, &ev);
				else if (is_own_key(d, &ev, "history"))
					replace_raw(&d->history_json, &ev);
				break;
			case ETCD_EVENT_WATCH_RESYNC:
				log_info("dcs.resync", "reason=\"%s\"", ev.msg);
				d->view_valid = false;
				wake = true;
				break;
			case ETCD_EVENT_KEEPALIVE:
				if (ev.lease_id == d->lease_id && ev.ttl_s > 0)
				{
					int64_t		dl = ev.sent_mono_ms + ev.ttl_s * 1000 -
						margin_ms(d->lease_ttl_ms);

					if (dl > d->lease_deadline_mono_ms)
						d->lease_deadline_mono_ms = dl;
					fence_raise_deadline(dl);
				}
				break;
			case ETCD_EVENT_LEASE_LOST:
				if (ev.lease_id == d->lease_id)
				{
					log_warn("lease.lost", "lease=%llx", (unsigned long long) d->lease_id);
					d->lease_id = 0;
					atomic_store(&fence_lease_id, 0);
					d->lease_deadline_mono_ms = 0;
					/* the fences keep the last confirmed deadline: a primary
					 * whose lease is gone must stop, even if the loop hangs */
					wake = true;
				}
				break;
			case ETCD_EVENT_STREAM_ERROR:
				log_debug("etcd.stream", "detail=\"%s\"", ev.msg);
				break;
			case ETCD_EVENT_CONNECTED:
				break;
		}
		etcd_event_clear(&ev);
	}
	return wake;
}

/* ensure_lease: one lease per node, kept alive by the client's thread.
 * True when it granted a new one. */
static bool
ensure_lease(Daemon *d)
{
	PgwError	err = {0};
	int64_t		id;
	int64_t		ttl;
	int64_t		ttl_ms = d->view->config.ttl_ms;

	if (d->lease_id != 0 && d->lease_ttl_ms == ttl_ms)
		return false;
	if (d->lease_id != 0 && d->view->has_leader &&
		strcmp(d->view->leader, d->cfg->name) == 0)
	{
		/* never move a held leader key to a new lease behind etcd's back:
		 * the new TTL applies from our next leadership */
		return false;
	}
	if (etcd_lease_grant(d->etcd, (ttl_ms + 999) / 1000, &id, &ttl, &err) != 0)
	{
		note_etcd_error(d, "lease-grant", &err);
		return false;
	}
	{
		int64_t		sent = pgw_now_mono_ms();
		int64_t		interval = d->view->config.loop_wait_ms;

		/* a fresh grant counts as a keepalive sent just before it */
		if (interval > ttl_ms / 4)
			interval = ttl_ms / 4;
		if (etcd_lease_keepalive_start(d->etcd, id, (int) interval, &err) != 0)
		{
			note_etcd_error(d, "lease-keepalive", &err);
			return false;
		}
		d->lease_id = id;
		d->lease_ttl_ms = ttl_ms;
		atomic_store(&fence_lease_ttl_ms, ttl_ms);
		atomic_store(&fence_lease_id, id);
		d->lease_deadline_mono_ms = sent - ttl_ms / 4 + ttl * 1000 -
			margin_ms(ttl_ms);
		fence_set_deadline(d->lease_deadline_mono_ms);
		log_info("lease.granted", "lease=%llx ttl_s=%lld",
				 (unsigned long long) id, (long long) ttl);
	}
	return true;
}

static bool
member_changed(const MemberInfo *a, const MemberInfo *b, int64_t since_ms)
{
	if (a->role != b->role || a->state != b->state || a->timeline != b->timeline ||
		a->pending_restart != b->pending_restart ||
		strcmp(a->reason, b->reason) != 0 || strcmp(a->conn_url, b->conn_url) != 0)
		return true;
	if (a->xlog_location != b->xlog_location && since_ms >= WAL_REPUBLISH_MS)
		return true;
	return since_ms >= MEMBER_REPUBLISH_MS;
}

static bool keepalive_late(Daemon *d);

static void
publish_member(Daemon *d, const MemberInfo *m, int64_t now)
{
	PgwError	err = {0};

	if (d->lease_id == 0)
		return;
	if (d->has_published &&
		!member_changed(m, &d->published, now - d->published_mono_ms))
		return;
	/* etcd is not confirming our keepalives: a put would only block the
	 * loop for retry_timeout, time a leader needs before its deadline */
	if (keepalive_late(d))
		return;
	if (dcs_member_publish(d->etcd, d->prefix, m, d->lease_id, &err) != 0)
	{
		note_etcd_error(d, "member-publish", &err);
		return;
	}
	d->published = *m;
	d->published_mono_ms = now;
	d->has_published = true;
}

/* fill_from_report: the PostgreSQL facts of the REST snapshot. */
static void
fill_from_report(Daemon *d, RestSnapshot *s)
{
	bool		running;
	const HealthReport *r = failover_exec_last_report(d->exec, &running,
													  &s->postmaster_start_wall_ms);

	s->pg_running = running;
	s->pg_read_write = running && !r->in_recovery;
	s->server_version = r->server_version_num;
	if (r->system_identifier)
		snprintf(s->sysid, sizeof(s->sysid), "%llu",
				 (unsigned long long) r->system_identifier);
	s->replayed_ts_wall_ms = r->has_last_replay ? r->last_replay_wall_ms : 0;
	s->replay_paused = r->replay_paused;
	s->n_standbys = r->n_standbys < REST_STANDBYS_MAX ? r->n_standbys
		: REST_STANDBYS_MAX;
	for (int i = 0; i < s->n_standbys; i++)
	{
		RestStandby *o = &s->standbys[i];
		const HealthStandby *h = &r->standbys[i];

		pgw_strlcpy(o->application_name, h->application_name,
					sizeof(o->application_name));
		pgw_strlcpy(o->client_addr, h->client_addr, sizeof(o->client_addr));
		pgw_strlcpy(o->state, h->state, sizeof(o->state));
		pgw_strlcpy(o->sync_state, h->sync_state, sizeof(o->sync_state));
		o->sent_lsn = h->sent_lsn;
		o->write_lsn = h->write_lsn;
		o->flush_lsn = h->flush_lsn;
		o->replay_lsn = h->replay_lsn;
	}
}

static void
publish_rest(Daemon *d, const LocalHealth *self, const MemberInfo *m,
			 int64_t loop_ms)
{
	RestSnapshot *s = pgw_xcalloc(1, sizeof(RestSnapshot));

	pgw_strlcpy(s->name, d->cfg->name, sizeof(s->name));
	pgw_strlcpy(s->scope, d->cfg->scope, sizeof(s->scope));
	s->self = *m;
	fill_from_report(d, s);
	s->holds_leader = failover_holds_leader(d->view, self);
	s->view = *d->view;
	s->dcs_last_seen_wall_ms = d->view_valid ? pgw_now_wall_ms() : 0;
	s->last_loop_mono_ms = d->last_loop_mono_ms;
	s->loop_duration_ms = loop_ms;
	s->lease_deadline_mono_ms = d->lease_deadline_mono_ms;
	s->loops_total = d->loops;
	s->etcd_errors_total = d->etcd_errors;
	s->decisions_total = d->decisions;
	pgw_strlcpy(s->decision, failover_decision_kind_name(d->last.kind),
				sizeof(s->decision));
	pgw_strlcpy(s->rule, d->last.rule ? d->last.rule : "", sizeof(s->rule));
	pgw_strlcpy(s->reason, d->last.reason, sizeof(s->reason));
	s->history_json = d->history_json ? pgw_xstrdup(d->history_json) : NULL;
	s->config_json = d->config_json ? pgw_xstrdup(d->config_json) : NULL;
	rest_publish(d->rest, s);
	free(s);
}

static void
notify_systemd(Daemon *d, const LocalHealth *self)
{
	const char *role = failover_holds_leader(d->view, self) ? "leader"
		: self->pg_running ? "replica" : "stopped";

	if (!d->ready_notified)
	{
		sd_notifyf(0, "READY=1\nSTATUS=role=%s decision=%s", role,
				   failover_decision_kind_name(d->last.kind));
		d->ready_notified = true;
	}
	else
		sd_notifyf(0, "WATCHDOG=1\nSTATUS=role=%s decision=%s", role,
				   failover_decision_kind_name(d->last.kind));
}

static const char *
role_of(Daemon *d, const LocalHealth *self)
{
	if (!self->pg_running)
		return "stopped";
	if (failover_holds_leader(d->view, self) && !self->pg_in_recovery)
		return "primary";
	return self->pg_in_recovery ? "replica" : "demoted";
}

/* fire_callbacks: on_start / on_stop / on_role_change from what changed
 * since the last loop (scripts run asynchronously, bounded). */
static void
fire_callbacks(Daemon *d, const LocalHealth *self)
{
	const char *role = role_of(d, self);

	if (self->pg_running && !d->cb_running)
		callbacks_fire(d->cb, "on_start", role);
	else if (!self->pg_running && d->cb_running)
		callbacks_fire(d->cb, "on_stop", d->cb_role);
	if (d->cb_role[0] && strcmp(role, d->cb_role) != 0 &&
		strcmp(role, "stopped") != 0 && strcmp(d->cb_role, "stopped") != 0)
		callbacks_fire(d->cb, "on_role_change", role);
	if (strcmp(role, "stopped") != 0 || d->cb_role[0] == '\0')
		pgw_strlcpy(d->cb_role, role, sizeof(d->cb_role));
	d->cb_running = self->pg_running;
	callbacks_reap(d->cb);
}

static ExecContext
exec_context(Daemon *d)
{
	ExecContext ctx = {0};

	ctx.etcd = d->etcd;
	ctx.prefix = d->prefix;
	ctx.name = d->cfg->name;
	ctx.lease_id = d->lease_id;
	ctx.view = d->view;
	return ctx;
}

/* run_action: carry out one REST action; returns the HTTP status. */
static int
run_action(Daemon *d, const RestAction *a, char *msg, size_t len)
{
	ExecContext ctx = exec_context(d);
	PgwError	err = {0};
	bool		leading = d->view->has_leader &&
		strcmp(d->view->leader, d->cfg->name) == 0;
	int			timeout_ms = a->timeout_s > 0 ? a->timeout_s * 1000 : 60000;
	int			rc;

	switch (a->kind)
	{
		case REST_ACTION_RELOAD:
			rc = failover_exec_reload(d->exec, &err);
			if (rc == 0)
				callbacks_fire(d->cb, "on_reload", d->cb_role);
			snprintf(msg, len, rc == 0 ? "reload scheduled" : "%s", err.msg);
			return rc == 0 ? 202 : 503;
		case REST_ACTION_RESTART_CANCEL:
			if (d->scheduled.kind == 0)
			{
				snprintf(msg, len, "no restart is scheduled");
				return 404;
			}
			d->scheduled.kind = 0;
			snprintf(msg, len, "scheduled restart deleted");
			return 200;
		case REST_ACTION_RESTART:
			if (a->role[0] &&
				!((strcmp(a->role, "primary") == 0 || strcmp(a->role, "master") == 0) ? leading
				  : !leading))
			{
				snprintf(msg, len, "restart conditions are not satisfied: role is not %s", a->role);
				return 503;
			}
			if (a->scheduled_wall_ms > pgw_now_wall_ms())
			{
				if (d->scheduled.kind != 0)
				{
					snprintf(msg, len, "another restart is already scheduled");
					return 409;
				}
				d->scheduled = *a;
				snprintf(msg, len, "restart scheduled");
				return 202;
			}
			if (a->restart_pending_only && !failover_exec_pending_restart(d->exec))
			{
				snprintf(msg, len, "restart conditions are not satisfied: no restart pending");
				return 503;
			}
			rc = failover_exec_restart(d->exec, &ctx, timeout_ms, &err);
			if (rc == 0)
				callbacks_fire(d->cb, "on_restart", d->cb_role);
			snprintf(msg, len, rc == 0 ? "restarted successfully" : "restart failed: %s",
					 err.msg);
			return rc == 0 ? 200 : 503;
		case REST_ACTION_REINIT:
			rc = failover_exec_reinit(d->exec, &ctx, &err);
			snprintf(msg, len, rc == 0 ? "reinitialize done" : "%s", err.msg);
			return rc == 0 ? 200 : 503;
	}
	snprintf(msg, len, "unknown action");
	return 400;
}

static void
handle_actions(Daemon *d)
{
	RestAction	a;
	char		msg[512];

	while (rest_action_next(d->rest, &a))
	{
		int			status = run_action(d, &a, msg, sizeof(msg));

		log_info("rest.action", "kind=%d status=%d msg=\"%s\"", (int) a.kind, status, msg);
		rest_action_done(d->rest, a.ticket, status, msg);
	}
	if (d->scheduled.kind == REST_ACTION_RESTART &&
		d->scheduled.scheduled_wall_ms <= pgw_now_wall_ms())
	{
		RestAction	due = d->scheduled;

		d->scheduled.kind = 0;
		due.scheduled_wall_ms = 0;
		log_info("rest.action", "kind=scheduled-restart status=%d",
				 run_action(d, &due, msg, sizeof(msg)));
	}
}

/* republish_now: the executor changed our role mid-step: observe PostgreSQL
 * again and publish the REST snapshot (and member key) right away. */
static void
republish_now(void *arg)
{
	Daemon	   *d = arg;
	LocalHealth self;
	MemberInfo	m;

	/* the executor may just have released the key: read it back rather
	 * than wait for the watch, so peers never see a stale claim */
	(void) read_view(d, true);
	failover_exec_observe(d->exec, d->view, &self);
	self.lease_id = d->lease_id;
	failover_exec_member_info(d->exec, d->view, &d->last, &m);
	publish_rest(d, &self, &m, 0);
	d->has_published = false;	/* force the member key out */
	publish_member(d, &m, pgw_now_mono_ms());
}

/* promoted_now: PostgreSQL just left recovery under our leader key: point
 * the routers here before the leader's housekeeping runs (it can take
 * 0.3-0.8 s). The view is the decision's own: re-reading it mid-step would
 * change which failover request the executor clears afterwards. */
static void
promoted_now(void *arg)
{
	Daemon	   *d = arg;

	routing_pub_leader(&d->routing, d->etcd, d->prefix, d->cfg->name,
					   d->lease_id, d->view);
}

/*
 * keepalive_late: etcd has not confirmed a keepalive of our lease for two
 * keepalive intervals (one is sent every min(loop_wait, ttl/4)). The
 * watch-fed view stays "valid" while etcd is gone, so this, not the view,
 * says etcd is out of reach; failsafe's own deadline raises do not hide
 * it. Two intervals, not more: a failsafe round must still fit before the
 * deadline.
 */
static bool
keepalive_late(Daemon *d)
{
	int64_t		kd = confirmed_deadline(NULL);
	int64_t		ttl = d->view->config.ttl_ms;
	int64_t		interval = d->view->config.loop_wait_ms;

	if (d->lease_id == 0 || kd == 0)
		return false;
	if (interval > ttl / 4)
		interval = ttl / 4;
	return kd - pgw_now_mono_ms() < ttl - margin_ms(ttl) - 2 * interval - 200;
}

/*
 * failsafe_confirm: failsafe mode with etcd out of reach. As the leader of
 * the last good view, still running read-write, ask every other member to
 * vouch for us (POST /failsafe); when all say yes, move both fences'
 * deadline to the round's send time + ttl - margin, exactly as a confirmed
 * keepalive would. A member that vouched does not promote for a ttl
 * (rules.c, no-leader-failsafe-vouched), so the deadline still passes
 * before any of them may act; one "no" or silence and the deadline runs
 * out as without failsafe.
 */
static bool
failsafe_confirm(Daemon *d, const LocalHealth *self)
{
	const ClusterView *v = d->view;
	char		failed[PGW_NAME_MAX];
	long		status = 0;
	int64_t		sent;
	int			timeout = (int) v->config.retry_timeout_ms;

	if (!v->config.failsafe_mode || !v->has_leader ||
		strcmp(v->leader, d->cfg->name) != 0 || !self->pg_running ||
		self->pg_in_recovery || d->lease_id == 0 || d->lease_deadline_mono_ms == 0)
		return false;
	if (timeout > 2000)
		timeout = 2000;
	if (timeout < 200)
		timeout = 200;
	sent = pgw_now_mono_ms();
	if (peers_failsafe_confirm(v, d->cfg->name, d->cfg->restapi_username,
							   d->cfg->restapi_password, timeout, failed,
							   sizeof(failed), &status))
	{
		int64_t		dl = sent + v->config.ttl_ms - margin_ms(v->config.ttl_ms);

		if (dl > d->lease_deadline_mono_ms)
			d->lease_deadline_mono_ms = dl;
		fence_raise_deadline(dl);
		if (!d->failsafe_active)
			log_warn("failsafe.active", "vouched=all deadline_in_ms=%lld",
					 (long long) (dl - pgw_now_mono_ms()));
		d->failsafe_active = true;
		d->failsafe_refused = false;
		return true;
	}
	if (!d->failsafe_refused)
		log_warn("failsafe.refused", "member=%s status=%ld action=fence-at-deadline deadline_in_ms=%lld",
				 failed, status,
				 (long long) (d->lease_deadline_mono_ms - pgw_now_mono_ms()));
	d->failsafe_active = false;
	d->failsafe_refused = true;
	return false;
}

/* failsafe_applies: failsafe mode is on, we led in the last good view and
 * etcd stopped confirming our keepalives */
static bool
failsafe_applies(Daemon *d)
{
	return d->view->config.failsafe_mode && d->view->has_leader &&
		strcmp(d->view->leader, d->cfg->name) == 0 && keepalive_late(d);
}

/*
 * failsafe_cycle: the loop while failsafe keeps us primary. Every etcd call
 * would block for retry_timeout, and a cycle longer than the deadline we
 * just won would fence us: so only the local probe, the round of vouches,
 * the fences and the REST API. False when the members did not all vouch:
 * the caller runs the normal cycle, which fences at the deadline.
 */
static bool
failsafe_cycle(Daemon *d, int64_t t0)
{
	LocalHealth self;
	MemberInfo	m;
	Decision	dec;

	failover_exec_observe(d->exec, d->view, &self);
	if (!failsafe_confirm(d, &self))
		return false;
	self.etcd_ok = false;
	self.now_wall_ms = pgw_now_wall_ms();
	self.lease_id = d->lease_id;
	self.lease_deadline_mono_ms = d->lease_deadline_mono_ms;
	self.last_loop_mono_ms = d->last_loop_mono_ms;
	self.leader_absent_since_mono_ms = d->leader_absent_since_mono_ms;
	memset(&dec, 0, sizeof(dec));
	dec.kind = DECIDE_WAIT;
	dec.rule = "failsafe-keep-primary";
	snprintf(dec.reason, sizeof(dec.reason),
			 "etcd out of reach; every member vouched for us (failsafe mode); staying primary");
	if (dec.kind != d->last.kind || strcmp(dec.rule, d->last.rule ? d->last.rule : "") != 0)
	{
		log_info("decision", "kind=%s rule=%s target=- reason=\"%s\"",
				 failover_decision_kind_name(dec.kind), dec.rule, dec.reason);
		d->decisions++;
	}
	d->last = dec;
	fence_arm(failover_exec_is_writable_primary(d->exec),
			  failover_exec_postmaster_pid(d->exec));
	(void) fence_watchdog_check();
	failover_exec_member_info(d->exec, d->view, &dec, &m);
	d->last_loop_mono_ms = pgw_now_mono_ms();
	d->loops++;
	publish_rest(d, &self, &m, d->last_loop_mono_ms - t0);
	notify_systemd(d, &self);
	fire_callbacks(d, &self);
	return true;
}

/*
 * failsafe_publish: as the leader with etcd at hand and failsafe mode on,
 * keep the `failsafe` key naming the members we would ask to vouch for us;
 * a member not in it does not promote (rules.c, no-leader-not-failsafe-
 * member), so none can be left out of a round and take over beside us.
 */
static void
failsafe_publish(Daemon *d)
{
	PgwError	err = {0};
	char	   *json;

	if (!d->view->config.failsafe_mode || !d->view_valid || keepalive_late(d) ||
		!d->view->has_leader || strcmp(d->view->leader, d->cfg->name) != 0)
		return;
	json = dcs_failsafe_encode(d->view);
	if (d->failsafe_written != NULL && strcmp(json, d->failsafe_written) == 0)
	{
		free(json);
		return;
	}
	if (dcs_leader_guarded_put(d->etcd, d->prefix, d->cfg->name, d->lease_id,
							   "failsafe", json, &err) != 0)
	{
		note_etcd_error(d, "failsafe-publish", &err);
		free(json);
		return;
	}
	log_info("failsafe.published", "members=%s", json);
	free(d->failsafe_written);
	d->failsafe_written = json;
}

/*
 * claims_leader: the last view we had names us leader on our lease, valid
 * or not. The fences stay armed on it: a view marked invalid because etcd
 * stopped answering used to disarm them (failover_holds_leader() wants a
 * valid view), and then only the loop's own rule demoted us, up to a loop
 * plus an etcd timeout after the deadline (a part-etcd drill saw 915 ms,
 * and another node writable for 326 ms of it).
 */
static bool
claims_leader(const Daemon *d)
{
	return d->lease_id != 0 && d->view->has_leader &&
		strcmp(d->view->leader, d->cfg->name) == 0 &&
		d->view->leader_lease == d->lease_id;
}

/* one_cycle: observe -> decide -> act -> publish. */
static void
one_cycle(Daemon *d)
{
	int64_t		t0 = pgw_now_mono_ms();
	int64_t		t_observed;
	LocalHealth self;
	MemberInfo	m;
	Decision	dec;

	if (failsafe_applies(d) && failsafe_cycle(d, t0))
		return;
	if (!d->view_valid)
		read_view(d, false);
	/*
	 * A new lease (the first, or after ours expired) is a moment to read
	 * afresh: keys on the old lease vanish in etcd without our watch
	 * telling us while we were cut off. A failsafe leader back from a
	 * partition still saw its own leader key on the dead lease, read that
	 * as "another lease holds the key" and demoted instead of taking the
	 * free key.
	 */
	if (d->view_valid && ensure_lease(d))
		(void) read_view(d, true);
	if (d->view_valid && !d->view->has_leader)
	{
		if (d->leader_absent_since_mono_ms == 0)
			d->leader_absent_since_mono_ms = t0;
	}
	else if (d->view_valid)
		d->leader_absent_since_mono_ms = 0;

	{
		int64_t		dl = confirmed_deadline(NULL);

		if (dl > d->lease_deadline_mono_ms)
		{
			d->lease_deadline_mono_ms = dl;
			fence_raise_deadline(dl);
		}
	}
	failover_exec_observe(d->exec, d->view, &self);
	if (!keepalive_late(d) && (d->failsafe_active || d->failsafe_refused))
	{
		log_info("failsafe.ended", "reason=\"etcd reachable again\"");
		d->failsafe_active = false;
		d->failsafe_refused = false;
	}
	t_observed = pgw_now_mono_ms();
	self.failsafe_vouched_mono_ms = rest_failsafe_vouched_ms(d->rest);
	self.view_is_linearizable = false;
	self.now_wall_ms = pgw_now_wall_ms();
	self.leader_absent_since_mono_ms = d->leader_absent_since_mono_ms;
	self.lease_id = d->lease_id;
	self.lease_deadline_mono_ms = d->lease_deadline_mono_ms;
	self.last_loop_mono_ms = d->last_loop_mono_ms;
	/* a watch-fed view stays "valid" while etcd is gone: without confirmed
	 * keepalives we act as with etcd unreachable (no restart as primary on
	 * a lease that may have run out, say) */
	self.etcd_ok = d->view_valid && !keepalive_late(d);

	dec = failover_decide(d->view, &self, NULL, 0, t0);
	if (dec.kind == DECIDE_REFRESH)
	{
		PeerProbe	probes[PGW_MEMBERS_MAX];
		PeerStatus	peers[PGW_MEMBERS_MAX];
		int			n;
		int			timeout = (int) d->view->config.retry_timeout_ms;

		/*
		 * promise 5: linearizable read and every reachable peer asked. The
		 * read comes first: some rules (a switchover handed over to us)
		 * need no peers, and asking them costs a round trip to each.
		 */
		if (read_view(d, true) == 0)
		{
			failover_exec_reobserve(d->exec, d->view, &self, 100);
			self.failsafe_vouched_mono_ms = rest_failsafe_vouched_ms(d->rest);
			self.view_is_linearizable = true;
			self.now_wall_ms = pgw_now_wall_ms();
			self.leader_absent_since_mono_ms = d->leader_absent_since_mono_ms;
			self.lease_id = d->lease_id;
			self.lease_deadline_mono_ms = d->lease_deadline_mono_ms;
			self.last_loop_mono_ms = d->last_loop_mono_ms;
			self.etcd_ok = true;
			dec = failover_decide(d->view, &self, NULL, 0, pgw_now_mono_ms());
		}
		if (self.view_is_linearizable && dec.kind == DECIDE_REFRESH)
		{
			n = peers_probe(d->view, d->cfg->name, timeout > 2000 ? 2000 : timeout,
							probes, PGW_MEMBERS_MAX);
			for (int i = 0; i < n; i++)
				failover_peer_from_probe(&peers[i], probes[i].name, probes[i].reachable,
										 probes[i].is_primary, probes[i].holds_leader,
										 probes[i].running, probes[i].timeline,
										 probes[i].xlog_location,
										 probes[i].received_location,
										 probes[i].replayed_location);
			self.peers_probed = true;
			self.now_wall_ms = pgw_now_wall_ms();
			dec = failover_decide(d->view, &self, peers, n, pgw_now_mono_ms());
		}
	}
	if (dec.kind != d->last.kind || strcmp(dec.rule ? dec.rule : "",
										  d->last.rule ? d->last.rule : "") != 0)
	{
		/* observe_ms / decide_ms: where a slow reaction went (the local
		 * probe, or the linearizable read and peer probes) */
		log_info("decision", "kind=%s rule=%s target=%s observe_ms=%lld decide_ms=%lld reason=\"%s\"",
				 failover_decision_kind_name(dec.kind), dec.rule ? dec.rule : "",
				 dec.target[0] ? dec.target : "-",
				 (long long) (t_observed - t0),
				 (long long) (pgw_now_mono_ms() - t_observed), dec.reason);
		d->decisions++;
	}
	d->last = dec;
	{
		ExecContext ctx = {0};

		ctx.etcd = d->etcd;
		ctx.prefix = d->prefix;
		ctx.name = d->cfg->name;
		ctx.lease_id = d->lease_id;
		ctx.view = d->view;
		ctx.republish = republish_now;
		ctx.republish_arg = d;
		ctx.promoted = promoted_now;
		if (dec.kind == DECIDE_SWITCHOVER)
			routing_pub_switching(&d->routing, d->etcd, d->prefix, d->cfg->name,
								  d->lease_id, d->view);
		if (failover_execute(d->exec, &ctx, &dec, &self) != 0)
			d->view_valid = false;	/* re-read before the next decision */
		/* the fencing thread guards a writable primary that holds the key */
		/* a leadership change: see our own key now, not next loop */
		if (dec.kind == DECIDE_PROMOTE || dec.kind == DECIDE_ACQUIRE ||
			dec.kind == DECIDE_BOOTSTRAP)
			(void) read_view(d, true);
		fence_arm(claims_leader(d) && failover_exec_is_writable_primary(d->exec),
				  failover_exec_postmaster_pid(d->exec));
		(void) fence_watchdog_check();
		if ((dec.kind == DECIDE_RENEW || dec.kind == DECIDE_PROMOTE ||
			 dec.kind == DECIDE_ACQUIRE || dec.kind == DECIDE_BOOTSTRAP) &&
			failover_exec_is_writable_primary(d->exec) &&
			failover_holds_leader(d->view, &self))
			routing_pub_leader(&d->routing, d->etcd, d->prefix, d->cfg->name,
							   d->lease_id, d->view);
		else if (!failover_holds_leader(d->view, &self))
			routing_pub_not_leader(&d->routing);
	}

	failover_exec_member_info(d->exec, d->view, &dec, &m);
	publish_member(d, &m, pgw_now_mono_ms());
	if (dec.kind == DECIDE_RENEW)
		failsafe_publish(d);
	daemon_backup_turn(d->backup, d->etcd, d->prefix, d->cfg->name, d->lease_id, d->view,
					   d->view_valid && !keepalive_late(d), &self,
					   dec.kind == DECIDE_PROMOTE && failover_exec_is_writable_primary(d->exec));
	d->last_loop_mono_ms = pgw_now_mono_ms();
	d->loops++;
	publish_rest(d, &self, &m, d->last_loop_mono_ms - t0);
	notify_systemd(d, &self);
	fire_callbacks(d, &self);
}

/*
 * shutdown_switchover: on SIGTERM a leader first hands over, exactly as for
 * a requested switchover without a named target, when a replica is
 * eligible; otherwise it just stops (and releases the key).
 */
static void
shutdown_switchover(Daemon *d, ExecContext *ctx)
{
	LocalHealth self;
	PeerProbe	probes[PGW_MEMBERS_MAX];
	PeerStatus	peers[PGW_MEMBERS_MAX];
	const char *target;
	Decision	dec = {0};
	int			n;

	if (read_view(d, true) != 0)
		return;
	failover_exec_observe(d->exec, d->view, &self);
	self.lease_id = d->lease_id;
	if (!failover_holds_leader(d->view, &self) || !self.pg_running ||
		self.pg_in_recovery)
		return;
	n = peers_probe(d->view, d->cfg->name, 1000, probes, PGW_MEMBERS_MAX);
	for (int i = 0; i < n; i++)
		failover_peer_from_probe(&peers[i], probes[i].name, probes[i].reachable,
								 probes[i].is_primary, probes[i].holds_leader,
								 probes[i].running, probes[i].timeline,
								 probes[i].xlog_location,
								 probes[i].received_location,
								 probes[i].replayed_location);
	target = failover_best_candidate(d->view, peers, n, d->cfg->name);
	if (target == NULL)
	{
		log_info("shutdown.no-switchover", "reason=\"no eligible replica\"");
		return;
	}
	dec.kind = DECIDE_SWITCHOVER;
	dec.rule = "shutdown-switchover";
	pgw_strlcpy(dec.target, target, sizeof(dec.target));
	snprintf(dec.reason, sizeof(dec.reason), "stopping: handing over to %s", target);
	log_info("shutdown.switchover", "target=%s", target);
	/* name the target in a request, so the others wait for it */
	{
		FailoverRequest f = {0};
		char	   *json;
		PgwError	err = {0};

		f.present = true;
		pgw_strlcpy(f.leader, d->cfg->name, sizeof(f.leader));
		pgw_strlcpy(f.member, target, sizeof(f.member));
		json = dcs_failover_encode(&f);
		if (dcs_cas_put(d->etcd, d->prefix, "failover", json, 0, &err) != 0)
			log_warn("shutdown.switchover-request", "detail=\"%s\"", err.msg);
		free(json);
	}
	if (read_view(d, true) != 0)
		return;
	ctx->view = d->view;
	if (failover_execute(d->exec, ctx, &dec, &self) != 0)
		log_warn("shutdown.switchover-failed", "action=stop");
}

static int
open_signals(void)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void
handle_signals(Daemon *d, bool *reload)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si))
	{
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
		{
			log_info("daemon.stopping", "signal=%u", si.ssi_signo);
			d->stopping = true;
		}
		else if (si.ssi_signo == SIGHUP)
			*reload = true;
	}
}

static void
reload_config(Daemon *d)
{
	NodeConfig	nc;
	PgwError	err = {0};
	extern char **environ;

	memset(&nc, 0, sizeof(nc));
	if (config_load_file(d->config_path, &nc, &err) != 0 ||
		config_apply_env(&nc, environ, &err) != 0 ||
		config_validate(&nc, &err) != 0)
	{
		log_error("config.reload-failed", "path=%s detail=\"%s\" action=kept-last-good",
				  d->config_path, err.msg);
		config_free(&nc);
		return;
	}
	failover_exec_reconfigure(d->exec, &nc);
	log_set_level(nc.log_level);
	log_info("config.reloaded", "path=%s", d->config_path);
	config_free(&nc);
}

int
daemon_run(NodeConfig *cfg, const char *config_path)
{
	Daemon		d;
	PgwError	err = {0};
	EtcdClientConfig ec = {0};
	RestOptions ro = {0};
	char		fields[160];
	int			rc = 0;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.config_path = config_path;
	d.view = pgw_xcalloc(1, sizeof(ClusterView));
	dcs_config_defaults(&d.view->config);
	snprintf(fields, sizeof(fields), "node=%s", cfg->name);
	log_set_prefix(fields);
	log_set_level(cfg->log_level);
	if (dcs_prefix_build(cfg->namespace_, cfg->scope, d.prefix, sizeof(d.prefix),
						 &err) != 0)
	{
		log_error("daemon.config", "detail=\"%s\"", err.msg);
		free(d.view);
		return 2;
	}
	d.sigfd = open_signals();
	/* before any thread: the watchdog is forked without exec */
	if (fence_watchdog_spawn(&err) != 0)
	{
		log_error("daemon.start", "detail=\"%s\"", err.msg);
		free(d.view);
		return 1;
	}
	/* pgbackrest.conf before PostgreSQL may archive; never fails */
	backup_open(cfg, &d.backup);
	/* the executor forks PostgreSQL from this (main) thread: its
	 * parent-death signal must outlive every other thread */
	if (failover_exec_open(cfg, &d.exec, &err) != 0)
	{
		log_error("daemon.start", "detail=\"%s\"", err.msg);
		backup_close(d.backup);
		free(d.view);
		return 1;
	}
	peers_set_tls(cfg->restapi_cafile, cfg->restapi_certfile, cfg->restapi_keyfile);
	if (callbacks_open(cfg, &d.cb, &err) != 0)
	{
		log_error("daemon.start", "detail=\"%s\"", err.msg);
		failover_exec_close(d.exec);
		backup_close(d.backup);
		free(d.view);
		return 1;
	}
	ec.endpoints = cfg->etcd_hosts;
	ec.ca_file = cfg->etcd_cacert;
	ec.cert_file = cfg->etcd_cert;
	ec.key_file = cfg->etcd_key;
	ec.username = cfg->etcd_username;
	ec.password = cfg->etcd_password;
	ec.call_timeout_ms = 3000;
	if (etcd_client_open(&ec, &d.etcd, &err) != 0)
	{
		log_error("daemon.start", "detail=\"%s\"", err.msg);
		failover_exec_close(d.exec);
		backup_close(d.backup);
		free(d.view);
		return 1;
	}
	fence_etcd = d.etcd;
	etcd_lease_keepalive_observe(d.etcd, keepalive_confirmed, NULL);
	fence_start(failover_exec_fence_fn, d.exec, confirmed_deadline, NULL);
	ro.listen = cfg->restapi_listen;
	ro.certfile = cfg->restapi_certfile;
	ro.keyfile = cfg->restapi_keyfile;
	ro.cafile = cfg->restapi_cafile;
	ro.username = cfg->restapi_username;
	ro.password = cfg->restapi_password;
	ro.verify_client = (int) cfg->restapi_verify_client;
	ro.allowlist = (const char *const *) cfg->restapi_allowlist;
	ro.n_allowlist = cfg->n_restapi_allowlist;
	ro.allowlist_include_members = cfg->restapi_allowlist_include_members;
	ro.etcd_endpoints = cfg->etcd_hosts;
	ro.etcd_cacert = cfg->etcd_cacert;
	ro.etcd_cert = cfg->etcd_cert;
	ro.etcd_key = cfg->etcd_key;
	ro.etcd_username = cfg->etcd_username;
	ro.etcd_password = cfg->etcd_password;
	ro.prefix = d.prefix;
	ro.member_name = cfg->name;
	if (rest_start(&ro, &d.rest, &err) != 0)
	{
		log_error("daemon.start", "detail=\"%s\"", err.msg);
		fence_stop();
		callbacks_close(d.cb, 0);
		etcd_client_close(d.etcd);
		failover_exec_close(d.exec);
		backup_close(d.backup);
		free(d.view);
		return 1;
	}
	if (cfg->watchdog_mode == CONFIG_WATCHDOG_AUTOMATIC)
		log_warn("watchdog.device-unused", "device=%s detail=\"pgwarden does not drive a kernel watchdog; the fence watchdog process guards instead\"",
				 cfg->watchdog_device ? cfg->watchdog_device : "/dev/watchdog");
	log_info("daemon.started", "scope=%s prefix=%s etcd=%s rest=%s version=%s",
			 cfg->scope, d.prefix, cfg->etcd_hosts, cfg->restapi_listen, PGW_VERSION);

	while (!d.stopping)
	{
		int64_t		start = pgw_now_mono_ms();
		int64_t		next;
		bool		reload = false;
		struct pollfd pfd[3];

		one_cycle(&d);
		handle_actions(&d);
		next = start + d.view->config.loop_wait_ms;
		/* a restart that failed: the release must not wait for the tick */
		if (failover_exec_take_decide_now(d.exec))
			next = pgw_now_mono_ms();
		/* wait for the tick, a watch event that matters, or a signal */
		while (!d.stopping)
		{
			int64_t		now = pgw_now_mono_ms();
			int			timeout = next > now ? (int) (next - now) : 0;

			pfd[0].fd = etcd_client_event_fd(d.etcd);
			pfd[0].events = POLLIN;
			pfd[1].fd = d.sigfd;
			pfd[1].events = POLLIN;
			pfd[2].fd = rest_action_fd(d.rest);
			pfd[2].events = POLLIN;
			if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
				break;
			if (pfd[2].revents & POLLIN)
				handle_actions(&d);
			if (pfd[1].revents & POLLIN)
				handle_signals(&d, &reload);
			if (reload)
			{
				reload_config(&d);
				reload = false;
			}
			/* a postmaster that died is decided on now: a crashed primary
			 * restarts (or releases) without waiting for the tick */
			if (failover_exec_reap(d.exec))
				break;
			if ((pfd[0].revents & POLLIN) && drain_events(&d))
				break;
			if (pgw_now_mono_ms() >= next)
				break;
		}
	}

	/* SIGTERM: a leader hands over to the best replica first (when
	 * configured and one is eligible), then PostgreSQL stops cleanly and
	 * the leader key is released so replicas need not wait out the TTL */
	{
		ExecContext ctx = exec_context(&d);

		ctx.republish = republish_now;
		ctx.republish_arg = &d;
		if (cfg->switchover_on_shutdown)
			shutdown_switchover(&d, &ctx);
		failover_exec_shutdown(d.exec, &ctx);
		if (d.cb_running)
			callbacks_fire(d.cb, "on_stop", d.cb_role);
	}
	fence_stop();
	backup_close(d.backup);
	if (d.lease_id != 0)
	{
		etcd_lease_keepalive_stop(d.etcd);
		if (etcd_lease_revoke(d.etcd, d.lease_id, &err) != 0)
			log_warn("lease.revoke-failed", "detail=\"%s\"", err.msg);
	}
	rest_stop(d.rest);
	callbacks_close(d.cb, 5000);
	etcd_client_close(d.etcd);
	failover_exec_close(d.exec);
	free(d.history_json);
	free(d.config_json);
	free(d.failsafe_written);
	free(d.view);
	log_info("daemon.stopped", "loops=%llu", (unsigned long long) d.loops);
	return rc;
}
