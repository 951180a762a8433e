/*
 * router.c: the pgwarden-router loop (notes R1, issue 7): watch the
 * `routing` key, apply every new epoch to the targets within milliseconds,
 * acknowledge it under routing/acks/<name> on the router's own lease, keep
 * serving the last good table while etcd is unreachable, and cut write
 * routing itself once etcd has been silent for router_ttl.
 *
 * Contact with etcd is measured on the monotonic clock from the moment a
 * successful request was *sent* (keepalive sent time, read start), so the
 * router cuts no later than router_ttl after the last moment etcd could
 * have told it about a new leader. Blocking etcd calls (reads, acks) are
 * not started when they could end past the cut deadline.
 */
#include "routing/exporter_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct Router
{
	const RouterConfig *cfg;
	char prefix[PGW_PREFIX_MAX];
	char key[PGW_PREFIX_MAX + 16];
	EtcdClient *etcd;
	int64_t call_timeout_ms;
	int64_t lease;
	int64_t lease_ttl_s;
	int64_t next_lease_try;
	bool watching;
	bool need_read;
	int64_t next_read; /* periodic linearizable re-read */
	bool ttl_checked;

	bool have_table; /* latest good table from etcd */
	RoutingTable table;
	bool cut;             /* etcd silent for router_ttl: writes cut */
	int64_t last_contact; /* mono ms a successful request was sent */
	bool ever_contact;

	RoutingTable applied; /* effective table being / last applied */
	bool have_applied;
	bool all_ok; /* every target applied `applied` */
	int64_t retry_at;
	int n_targets;
	RouterTarget *targets[ROUTER_TARGETS_MAX];
	bool target_ok[ROUTER_TARGETS_MAX];
	char target_err[ROUTER_TARGETS_MAX][PGW_ERROR_MSG_MAX];
	int64_t acked_epoch;           /* 0: not acked on this lease */
	int64_t last_apply_ms;         /* duration of the last apply */
	int64_t last_apply_ok_mono_ms; /* when an apply last succeeded */
	Exporter *exp;                 /* metrics (exporter.c); NULL none */

	uint64_t apply_errors;
	uint64_t decode_errors;
	uint64_t applies;
	uint64_t cuts;
	char last_error[PGW_ERROR_MSG_MAX];
	bool status_dirty;
	int64_t next_status;
	bool no_key_logged;
	bool stream_err_logged;
} Router;

static int64_t
cut_deadline(const Router *r)
{
	return r->last_contact + r->cfg->router_ttl_ms;
}

/* may we start a blocking etcd call without risking a late cut? */
static bool
may_block(const Router *r)
{
	return r->cut || pgw_now_mono_ms() + r->call_timeout_ms + r->cfg->loop_ms <
	                     cut_deadline(r);
}

static void
contact(Router *r, int64_t sent_mono_ms)
{
	if (!r->ever_contact || sent_mono_ms > r->last_contact)
		r->last_contact = sent_mono_ms;
	r->ever_contact = true;
}

static void
set_error(Router *r, const char *event, const char *msg)
{
	if (strcmp(r->last_error, msg) != 0)
		log_error(event, "error=\"%s\"", msg);
	pgw_strlcpy(r->last_error, msg, sizeof(r->last_error));
	r->status_dirty = true;
}

/* a new table arrived (watch or read) */
static void
take_table(Router *r, const char *json, size_t len, const char *how)
{
	RoutingTable *t = calloc(1, sizeof(*t));
	PgwError err = {0};

	if (t == NULL)
		abort();
	if (routing_table_decode(json, len, t, &err) != 0)
	{
		char msg[PGW_ERROR_MSG_MAX];

		r->decode_errors++;
		snprintf(msg, sizeof(msg),
		         "bad value in %s (%s): %s; keeping epoch %lld", r->key, how,
		         err.msg, (long long) (r->have_table ? r->table.epoch : 0));
		set_error(r, "router.table.invalid", msg);
		free(t);
		return;
	}
	if (r->have_table && t->epoch <= r->table.epoch)
	{
		if (t->epoch < r->table.epoch)
			log_warn("router.table.stale",
			         "epoch=%lld current=%lld source=%s ignored=true",
			         (long long) t->epoch, (long long) r->table.epoch, how);
		free(t);
		return;
	}
	log_info("router.table.new", "epoch=%lld state=%s primary=%s source=%s",
	         (long long) t->epoch, routing_state_name(t->state),
	         t->has_primary ? t->primary.name : "-", how);
	r->table = *t;
	r->have_table = true;
	r->no_key_logged = false;
	r->status_dirty = true;
	free(t);
}

static void
read_table(Router *r)
{
	EtcdRangeResult res = {0};
	PgwError err = {0};
	int64_t sent = pgw_now_mono_ms();

	if (etcd_range(r->etcd, r->key, false, 0, false, &res, &err) != 0)
	{
		log_debug("router.etcd.read_failed", "error=\"%s\"", err.msg);
		return;
	}
	contact(r, sent);
	r->need_read = false;
	r->next_read = pgw_now_mono_ms() + 5000;
	if (res.count == 0)
	{
		if (!r->no_key_logged)
			log_warn(
			    "router.table.absent",
			    "key=%s action=\"keep the current routing until a leader publishes\"",
			    r->key);
		r->no_key_logged = true;
	}
	else
		take_table(r, res.kvs[0].value, res.kvs[0].value_len, "read");
	etcd_range_result_free(&res);
}

/* router_ttl + one loop must be shorter than the leader ttl (issue 7) */
static int
check_leader_ttl(Router *r)
{
	char key[PGW_PREFIX_MAX + 16];
	EtcdRangeResult res = {0};
	DynamicConfig dc;
	PgwError err = {0};

	snprintf(key, sizeof(key), "%sconfig", r->prefix);
	if (etcd_range(r->etcd, key, false, 0, false, &res, &err) != 0)
		return 0; /* try again later */
	r->ttl_checked = true;
	dcs_config_defaults(&dc);
	if (res.count == 1 &&
	    dcs_config_decode(res.kvs[0].value, res.kvs[0].value_len, &dc, &err) !=
	        0)
		dcs_config_defaults(&dc);
	etcd_range_result_free(&res);
	if (r->cfg->router_ttl_ms + r->cfg->loop_ms >= dc.ttl_ms)
	{
		log_error(
		    "router.config.invalid",
		    "router_ttl_ms=%lld loop_wait_ms=%lld leader_ttl_ms=%lld error=\"router_ttl plus one loop must be shorter than the leader ttl, or an old primary could still get writes once another node holds the lease\"",
		    (long long) r->cfg->router_ttl_ms, (long long) r->cfg->loop_ms,
		    (long long) dc.ttl_ms);
		return -1;
	}
	return 0;
}

static void
ensure_lease(Router *r)
{
	PgwError err = {0};
	int64_t id = 0;
	int64_t ttl = 0;
	int64_t now = pgw_now_mono_ms();

	if (r->lease != 0 || now < r->next_lease_try || !may_block(r))
		return;
	r->next_lease_try = now + 1000;
	if (etcd_lease_grant(r->etcd, r->lease_ttl_s, &id, &ttl, &err) != 0)
	{
		log_debug("router.lease.grant_failed", "error=\"%s\"", err.msg);
		return;
	}
	contact(r, now);
	if (etcd_lease_keepalive_start(
	        r->etcd, id, (int) (r->cfg->router_ttl_ms / 4), &err) != 0)
	{
		log_warn("router.lease.keepalive_failed", "error=\"%s\"", err.msg);
		if (etcd_lease_revoke(r->etcd, id, NULL) != 0)
			log_debug("router.lease.revoke_failed", "lease=%" PRIx64,
			          (uint64_t) id);
		return;
	}
	r->lease = id;
	r->acked_epoch = 0;
	/* register as a live router at once (epoch 0 until something is
	 * applied), so a leader waiting for acks counts us */
	if (routing_ack_put(r->etcd, r->prefix, r->cfg->name, 0, id, &err) != 0)
		log_debug("router.ack.failed", "error=\"%s\"", err.msg);
	log_info("router.lease.granted", "lease=%" PRIx64 " ttl_s=%lld",
	         (uint64_t) id, (long long) ttl);
}

static void
handle_events(Router *r)
{
	EtcdEvent ev;

	while (etcd_client_next_event(r->etcd, &ev))
	{
		switch (ev.type)
		{
			case ETCD_EVENT_WATCH_PUT:
				contact(r, pgw_now_mono_ms());
				if (ev.kv.key != NULL && strcmp(ev.kv.key, r->key) == 0)
					take_table(r, ev.kv.value, ev.kv.value_len, "watch");
				break;
			case ETCD_EVENT_WATCH_DELETE:
				contact(r, pgw_now_mono_ms());
				log_warn("router.table.deleted",
				         "key=%s action=\"keep routing epoch %lld\"", r->key,
				         (long long) (r->have_table ? r->table.epoch : 0));
				break;
			case ETCD_EVENT_WATCH_RESYNC:
			case ETCD_EVENT_CONNECTED:
				r->need_read = true;
				break;
			case ETCD_EVENT_KEEPALIVE:
				if (ev.lease_id == r->lease && ev.ttl_s > 0)
					contact(r, ev.sent_mono_ms);
				r->stream_err_logged = false;
				break;
			case ETCD_EVENT_LEASE_LOST:
				if (ev.lease_id == r->lease || r->lease == 0)
				{
					log_warn("router.lease.lost", "lease=%" PRIx64,
					         (uint64_t) ev.lease_id);
					etcd_lease_keepalive_stop(r->etcd);
					r->lease = 0;
					r->acked_epoch = 0;
				}
				break;
			case ETCD_EVENT_STREAM_ERROR:
				if (!r->stream_err_logged)
					log_warn("router.etcd.stream_error", "error=\"%s\"",
					         ev.msg);
				r->stream_err_logged = true;
				r->need_read = true;
				break;
		}
		etcd_event_clear(&ev);
	}
}

static void
check_cut(Router *r)
{
	int64_t now = pgw_now_mono_ms();

	if (!r->cut && now >= cut_deadline(r))
	{
		r->cut = true;
		r->cuts++;
		r->status_dirty = true;
		log_error(
		    "router.etcd.lost",
		    "silent_ms=%lld router_ttl_ms=%lld action=\"cut write routing; keep read routing of epoch %lld\"",
		    (long long) (now - r->last_contact),
		    (long long) r->cfg->router_ttl_ms,
		    (long long) (r->have_table ? r->table.epoch : 0));
		r->need_read = true;
	}
	else if (r->cut && now < cut_deadline(r) && !r->need_read)
	{
		/* contact is back and a linearizable read since confirmed the
		 * table: route writes again */
		r->cut = false;
		r->status_dirty = true;
		log_info("router.etcd.back",
		         "action=\"route writes as epoch %lld says\"",
		         (long long) (r->have_table ? r->table.epoch : 0));
	}
}

static void
apply(Router *r)
{
	RoutingTable *eff = calloc(1, sizeof(*eff));
	int64_t now = pgw_now_mono_ms();
	int64_t start;
	bool changed;
	bool ok = true;

	if (eff == NULL)
		abort();
	if (r->have_table)
		router_effective_table(&r->table, r->cut, eff);
	else if (r->cut)
	{
		/* never saw a table and etcd is gone: cut writes anyway */
		eff->epoch = 0;
		eff->state = ROUTING_STATE_FENCED;
	}
	else
	{
		free(eff);
		return;
	}
	changed = !r->have_applied || eff->epoch != r->applied.epoch ||
	          eff->state != r->applied.state ||
	          !routing_table_equal_routes(eff, &r->applied);
	if (!changed && (r->all_ok || now < r->retry_at))
	{
		free(eff);
		return;
	}
	if (changed)
		for (int i = 0; i < r->n_targets; i++)
			r->target_ok[i] = false;
	start = pgw_now_mono_us();
	for (int i = 0; i < r->n_targets; i++)
	{
		PgwError err = {0};

		if (r->target_ok[i])
			continue;
		if (router_target_apply(r->targets[i],
		                        r->have_applied ? &r->applied : NULL, eff,
		                        &err) != 0)
		{
			ok = false;
			r->apply_errors++;
			pgw_strlcpy(r->target_err[i], err.msg, sizeof(r->target_err[i]));
			set_error(r, "router.apply.failed", err.msg);
		}
		else
		{
			r->target_ok[i] = true;
			r->target_err[i][0] = '\0';
		}
	}
	r->last_apply_ms = (pgw_now_mono_us() - start + 999) / 1000;
	r->applied = *eff;
	r->have_applied = true;
	r->all_ok = ok;
	r->applies++;
	r->status_dirty = true;
	if (ok)
	{
		r->last_error[0] = '\0';
		r->last_apply_ok_mono_ms = pgw_now_mono_ms();
		log_info("router.apply.done",
		         "epoch=%lld state=%s primary=%s cut=%s duration_ms=%lld",
		         (long long) eff->epoch, routing_state_name(eff->state),
		         eff->has_primary ? eff->primary.name : "-",
		         r->cut ? "true" : "false", (long long) r->last_apply_ms);
	}
	else
		r->retry_at = now + r->cfg->retry_ms;
	free(eff);
}

static void
ack(Router *r)
{
	PgwError err = {0};
	int64_t sent = pgw_now_mono_ms();

	if (!r->have_table || !r->all_ok || r->cut || r->lease == 0 ||
	    r->applied.epoch != r->table.epoch ||
	    r->acked_epoch == r->table.epoch || !may_block(r))
		return;
	if (routing_ack_put(r->etcd, r->prefix, r->cfg->name, r->table.epoch,
	                    r->lease, &err) != 0)
	{
		log_debug("router.ack.failed", "error=\"%s\"", err.msg);
		return;
	}
	contact(r, sent);
	r->acked_epoch = r->table.epoch;
	r->status_dirty = true;
	log_info("router.ack", "epoch=%lld", (long long) r->table.epoch);
}

static bool
etcd_reachable(const Router *r, int64_t now)
{
	return r->ever_contact &&
	       now - r->last_contact < r->cfg->router_ttl_ms / 2 + 1000;
}

/* publish_metrics: this turn's status to the exporter (a struct copy) */
static void
publish_metrics(Router *r)
{
	RouterStatus st;

	if (r->exp == NULL)
		return;
	memset(&st, 0, sizeof(st));
	st.seen_epoch = r->have_table ? r->table.epoch : 0;
	st.applied_epoch = r->have_applied ? r->applied.epoch : 0;
	st.acked_epoch = r->acked_epoch;
	st.has_applied = r->have_applied;
	st.applied_state = r->applied.state;
	if (r->have_applied && r->applied.has_primary)
		pgw_strlcpy(st.applied_primary, r->applied.primary.name,
		            sizeof(st.applied_primary));
	st.applied_ok = r->all_ok;
	st.etcd_reachable = etcd_reachable(r, pgw_now_mono_ms());
	st.writes_cut = r->cut;
	st.applies = r->applies;
	st.apply_errors = r->apply_errors;
	st.decode_errors = r->decode_errors;
	st.cuts = r->cuts;
	st.last_apply_ms = r->last_apply_ms;
	st.last_apply_ok_mono_ms = r->last_apply_ok_mono_ms;
	exporter_publish(r->exp, &st);
}

static void
write_status(Router *r)
{
	char *buf;
	size_t cap = 8192;
	int n;
	int64_t now = pgw_now_mono_ms();
	bool reachable = etcd_reachable(r, now);
	char err_q[PGW_ERROR_MSG_MAX * 2];

	if (!r->status_dirty && now < r->next_status)
		return;
	r->status_dirty = false;
	r->next_status = now + 1000;
	buf = malloc(cap);
	if (buf == NULL)
		abort();
	/* the error message as a JSON string: escape quotes and backslashes */
	{
		size_t o = 0;

		for (const char *p = r->last_error; *p && o + 3 < sizeof(err_q); p++)
		{
			if (*p == '"' || *p == '\\')
				err_q[o++] = '\\';
			err_q[o++] = (unsigned char) *p < ' ' ? ' ' : *p;
		}
		err_q[o] = '\0';
	}
	if (r->cfg->status_file[0])
	{
		n = snprintf(
		    buf, cap,
		    "{\"router\":\"%s\",\"epoch\":%lld,\"state\":\"%s\",\"primary\":\"%s\","
		    "\"applied_epoch\":%lld,\"applied_ok\":%s,\"acked_epoch\":%lld,"
		    "\"etcd_reachable\":%s,\"etcd_silent_ms\":%lld,\"writes_cut\":%s,"
		    "\"applies\":%llu,\"apply_errors\":%llu,\"decode_errors\":%llu,"
		    "\"last_apply_ms\":%lld,\"last_error\":\"%s\"}\n",
		    r->cfg->name, (long long) (r->have_table ? r->table.epoch : 0),
		    r->have_applied ? routing_state_name(r->applied.state) : "none",
		    r->have_applied && r->applied.has_primary ? r->applied.primary.name
		                                              : "",
		    (long long) (r->have_applied ? r->applied.epoch : 0),
		    r->all_ok ? "true" : "false", (long long) r->acked_epoch,
		    reachable ? "true" : "false",
		    (long long) (r->ever_contact ? now - r->last_contact : -1),
		    r->cut ? "true" : "false", (unsigned long long) r->applies,
		    (unsigned long long) r->apply_errors,
		    (unsigned long long) r->decode_errors, (long long) r->last_apply_ms,
		    err_q);
		if (n > 0 && (size_t) n < cap)
		{
			PgwError e = {0};

			if (router_write_atomic(r->cfg->status_file, buf, (size_t) n, 0644,
			                        &e) != 0)
				log_debug("router.status.write_failed", "error=\"%s\"", e.msg);
		}
	}
	if (r->cfg->metrics_file[0] && r->exp != NULL)
	{
		/* the same text a scrape of metrics_listen gets */
		char *text = exporter_render(r->exp);
		PgwError e = {0};

		if (router_write_atomic(r->cfg->metrics_file, text, strlen(text), 0644,
		                        &e) != 0)
			log_debug("router.metrics.write_failed", "error=\"%s\"", e.msg);
		free(text);
	}
	free(buf);
}

static int
open_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int
router_run(const RouterConfig *cfg)
{
	Router *r = calloc(1, sizeof(*r));
	EtcdClientConfig ec = {0};
	PgwError err = {0};
	int sigfd;
	bool stop = false;
	int rc = 0;

	if (r == NULL)
		abort();
	r->cfg = cfg;
	if (dcs_group_prefix_build(cfg->namespace_, cfg->scope, cfg->group,
	                           r->prefix, sizeof(r->prefix), &err) != 0)
	{
		log_error("router.config.invalid", "error=\"%s\"", err.msg);
		free(r);
		return 1;
	}
	snprintf(r->key, sizeof(r->key), "%s%s", r->prefix, ROUTING_KEY);
	r->call_timeout_ms = cfg->router_ttl_ms / 4;
	if (r->call_timeout_ms > 1000)
		r->call_timeout_ms = 1000;
	if (r->call_timeout_ms < 200)
		r->call_timeout_ms = 200;
	r->lease_ttl_s = (cfg->router_ttl_ms + 999) / 1000;
	if (r->lease_ttl_s < 2)
		r->lease_ttl_s = 2;
	ec.endpoints = cfg->endpoints;
	ec.ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
	ec.cert_file = cfg->cert_file[0] ? cfg->cert_file : NULL;
	ec.key_file = cfg->key_file[0] ? cfg->key_file : NULL;
	ec.username = cfg->username[0] ? cfg->username : NULL;
	ec.password = cfg->password[0] ? cfg->password : NULL;
	ec.call_timeout_ms = (int) r->call_timeout_ms;
	ec.dial_timeout_ms = (int) r->call_timeout_ms;
	if (etcd_client_open(&ec, &r->etcd, &err) != 0)
	{
		log_error("router.etcd.invalid", "error=\"%s\"", err.msg);
		free(r);
		return 1;
	}
	for (int i = 0; i < cfg->n_targets; i++)
		r->targets[r->n_targets++] = router_target_open(&cfg->targets[i]);
	if ((cfg->metrics_listen[0] || cfg->metrics_file[0]) &&
	    exporter_start(cfg, r->etcd, &r->exp, &err) != 0)
	{
		log_error("router.metrics.failed", "error=\"%s\"", err.msg);
		for (int i = 0; i < r->n_targets; i++)
			router_target_close(r->targets[i]);
		etcd_client_close(r->etcd);
		free(r);
		return 1;
	}
	sigfd = open_signals();
	/* start the clock: a router that never reaches etcd cuts after ttl */
	r->last_contact = pgw_now_mono_ms();
	r->need_read = true;
	log_info("router.start",
	         "router=%s prefix=%s targets=%d router_ttl_ms=%lld", cfg->name,
	         r->prefix, r->n_targets, (long long) cfg->router_ttl_ms);

	while (!stop)
	{
		struct pollfd pfd[2];
		int64_t now = pgw_now_mono_ms();

		if (!r->watching)
		{
			int64_t wid;

			if (etcd_watch_start(r->etcd, r->key, false, 0, &wid, &err) == 0)
				r->watching = true;
		}
		ensure_lease(r);
		handle_events(r);
		if ((r->need_read || now >= r->next_read) && may_block(r))
			read_table(r);
		if (!r->ttl_checked && r->ever_contact && !r->cut && may_block(r) &&
		    check_leader_ttl(r) != 0)
		{
			rc = 1;
			break;
		}
		handle_events(r);
		check_cut(r);
		apply(r);
		ack(r);
		publish_metrics(r);
		write_status(r);

		pfd[0].fd = etcd_client_event_fd(r->etcd);
		pfd[0].events = POLLIN;
		pfd[1].fd = sigfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int) cfg->loop_ms) > 0 && (pfd[1].revents & POLLIN))
		{
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
			{
				if (si.ssi_signo == SIGHUP)
				{
					r->need_read = true;
					continue;
				}
				log_info("router.stopping", "signal=%u", si.ssi_signo);
				stop = true;
			}
		}
	}
	if (r->lease != 0)
	{
		etcd_lease_keepalive_stop(r->etcd);
		if (etcd_lease_revoke(r->etcd, r->lease, NULL) != 0)
			log_debug("router.lease.revoke_failed", "lease=%" PRIx64,
			          (uint64_t) r->lease);
	}
	exporter_stop(r->exp);
	etcd_client_close(r->etcd);
	for (int i = 0; i < r->n_targets; i++)
		router_target_close(r->targets[i]);
	close(sigfd);
	free(r);
	return rc;
}
