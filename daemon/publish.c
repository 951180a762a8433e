/*
 * publish.c: the publish phase of a turn, from the step's outcome and the
 * turn's observation, in this order: the view learns what our own txn did
 * to the leader key; the fences; routing (a new primary is pointed at
 * before anything else, DESIGN.md R1); a fresh probe when PostgreSQL
 * changed role; the leader's duties (leader_duties.c); then the member key,
 * the REST snapshot, systemd and the callbacks.
 */
#include "daemon/daemon_loop.h"
#include "daemon/backup_duty.h"
#include "daemon/dropin_int.h"
#include "daemon/fast_release.h"
#include "daemon/metrics_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "health/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

/*
 * publish_member: write members/<name> when publisher.c says etcd lacks
 * what it should hold (never on a timer: issue 18), on our lease.
 */
static void
publish_member(Daemon *d, const MemberInfo *m, uint32_t reason_shape,
               int64_t now)
{
	PgwError err = {0};
	PublishLimits lim;
	MemberWrite why;

	if (d->lease_id == 0)
		return;
	lim.loop_wait_ms = d->view->config.loop_wait_ms;
	lim.ttl_ms = d->view->config.ttl_ms;
	lim.max_lag_bytes = d->view->config.maximum_lag_on_failover;
	why = publisher_member_due(&d->member_pub, m, reason_shape, d->lease_id,
	                           dcs_view_member(d->view, m->name), d->view_valid,
	                           &lim, now);
	if (why == MEMBER_WRITE_NONE)
		return;
	/* etcd is not confirming our keepalives: a put would only block the
	 * loop for retry_timeout, time a leader needs before its deadline */
	if (session_keepalive_late(d))
		return;
	if (dcs_member_publish(d->etcd, d->prefix, m, d->lease_id, &err) != 0)
	{
		session_note_etcd_error(d, "member-publish", &err);
		return;
	}
	if (why == MEMBER_WRITE_MISSING)
		log_warn("member.rewritten",
		         "reason=\"our member key was gone from etcd\"");
	else
		log_debug("member.written", "why=%s", publisher_write_name(why));
	publisher_member_written(&d->member_pub, m, reason_shape, d->lease_id, now);
}

/* fill_from_report: the PostgreSQL facts of the REST snapshot. */
static void
fill_from_report(Daemon *d, RestSnapshot *s)
{
	bool running;
	const HealthReport *r = failover_exec_last_report(
	    d->exec, &running, &s->postmaster_start_wall_ms);

	s->pg_running = running;
	s->pg_read_write = running && !r->in_recovery;
	s->server_version = r->server_version_num;
	s->sysid[0] = '\0'; /* the buffer is reused */
	if (r->system_identifier)
		snprintf(s->sysid, sizeof(s->sysid), "%llu",
		         (unsigned long long) r->system_identifier);
	s->replayed_ts_wall_ms = r->has_last_replay ? r->last_replay_wall_ms : 0;
	s->replay_paused = r->replay_paused;
	s->wal_streaming =
	    r->has_wal_receiver && strcmp(r->wal_receiver_status, "streaming") == 0;
	s->n_standbys =
	    r->n_standbys < REST_STANDBYS_MAX ? r->n_standbys : REST_STANDBYS_MAX;
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
		o->replay_lag_ms = h->replay_lag_ms;
	}
}

static void
publish_rest(Daemon *d, const LocalHealth *self, const MemberInfo *m,
             int64_t loop_ms)
{
	RestSnapshot *s;

	/* one buffer for the daemon's life: the snapshot is ~100 KB */
	if (d->rest_snap == NULL)
		d->rest_snap = pgw_xcalloc(1, sizeof(RestSnapshot));
	s = d->rest_snap;
	pgw_strlcpy(s->name, d->cfg->name, sizeof(s->name));
	pgw_strlcpy(s->scope, d->cfg->scope, sizeof(s->scope));
	s->self = *m;
	fill_from_report(d, s);
	s->holds_leader = failover_holds_leader(d->view, self);
	s->view = *d->view;
	s->dcs_last_seen_wall_ms = metrics_etcd_last_seen_wall_ms(d->etcd);
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
	/* the raw values are copied only when they changed */
	s->raw_json_same = d->raw_json_served_gen == d->raw_json_gen &&
	                   d->raw_json_served_gen != 0;
	s->history_json = NULL;
	s->config_json = NULL;
	if (!s->raw_json_same)
	{
		s->history_json = d->history_json ? pgw_xstrdup(d->history_json) : NULL;
		s->config_json = d->config_json ? pgw_xstrdup(d->config_json) : NULL;
		d->raw_json_served_gen = d->raw_json_gen;
	}
	rest_publish(d->rest, s);
}

static void
notify_systemd(Daemon *d, const LocalHealth *self)
{
	const char *role = failover_holds_leader(d->view, self) ? "leader"
	                   : self->pg_running                   ? "replica"
	                                                        : "stopped";

	sd_notify_loop(d->view_valid, role,
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

/*
 * member_key_waits: a switchover before its handover: every member write
 * would add to the write downtime, and we still hold the key, so no peer
 * acts on our member value meanwhile
 */
static bool
member_key_waits(const Daemon *d)
{
	SwitchoverStep s = failover_exec_switchover(d->exec, NULL, 0);

	return s != SWO_NONE && s < SWO_HANDED_OVER;
}

void
publish_snapshot(Daemon *d, const LocalHealth *self, const Decision *dec,
                 MemberPublish member, int64_t t0)
{
	MemberInfo m;

	failover_exec_member_info(d->exec, d->view, dec, &m);
	member_fields_fill(&m, d->cfg, d->view, &d->scheduled, d->exec);
	if (member == MEMBER_PUBLISH_FORCE)
		publisher_member_forget(&d->member_pub);
	if (member != MEMBER_PUBLISH_SKIP && !member_key_waits(d))
		publish_member(d, &m, dec ? dec->reason_shape : 0, pgw_now_mono_ms());
	d->last_loop_mono_ms = pgw_now_mono_ms();
	d->loops++;
	metrics_loop_done(d->last_loop_mono_ms - t0);
	publish_rest(d, self, &m, d->last_loop_mono_ms - t0);
	k8s_views_cycle(d->k8s, d->exec, d->view, self, d->lease_deadline_mono_ms);
	notify_systemd(d, self);
	fire_callbacks(d, self);
}

void
turn_publish(Daemon *d, const Observation *o, const Decision *dec,
             const ExecOutcome *out)
{
	const LocalHealth *self = &o->self;
	bool holds;

	session_note_outcome(d, out);
	if (out->key_released && dec->kind == DECIDE_RELEASE)
		release_noted(d->cfg, d->lease_id, dec->rule);
	/* the fencing thread guards a writable primary that holds the key */
	fence_arm(session_claims_leader(d) &&
	              failover_exec_is_writable_primary(d->exec),
	          failover_exec_postmaster_pid(d->exec), d->lease_id);
	(void) fence_watchdog_check();
	holds = failover_holds_leader(d->view, self);
	/* routers first: they point at a new primary before its duties run */
	if (out->leads && holds && failover_exec_is_writable_primary(d->exec))
		routing_pub_leader(&d->routing, d->etcd, d->prefix, d->cfg->name,
		                   d->lease_id, d->view);
	else if (!holds)
		routing_pub_not_leader(&d->routing);
	if (out->role_changed)
		failover_exec_refresh(d->exec, d->view);
	if (out->leads && holds)
	{
		ExecContext ctx = exec_context(d);

		leader_duties_run(d, &ctx, out);
	}
	/* shard ownership: the keeper's own thread follows, leading or not */
	shard_keeper_tick(d->cfg,
	                  holds && failover_exec_is_writable_primary(d->exec));
	/* backups: every node's turn (a replica may be the source), after the
	 * leader's duties (backup_duty.c) */
	backup_duty_turn(d, self,
	                 dec->kind == DECIDE_PROMOTE &&
	                     failover_exec_is_writable_primary(d->exec));
	/* after a release or a handover the replicas ask our REST API and read
	 * our member key before they promote: both say so at once */
	publish_snapshot(d, self, dec,
	                 out->key_released ? MEMBER_PUBLISH_FORCE
	                                   : MEMBER_PUBLISH_IF_CHANGED,
	                 o->t0_mono_ms);
}
