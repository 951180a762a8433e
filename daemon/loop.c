/*
 * loop.c: the HA loop (DESIGN.md "daemon/" and "Timing model"): start the
 * parts (fences, executor, etcd session, REST API), run one turn
 * (cycle.c: observe -> decide -> act -> publish) every loop_wait, and at
 * once when the watch reports a change of the leader, config or failover
 * key, when PostgreSQL exits, or when a turn asks for the next (a
 * switchover between sub-states); between turns answer signals and REST
 * actions. SIGTERM: finish a switchover, hand over if configured, stop.
 */
#include "daemon/daemon.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "daemon/daemon_int.h"
#include "daemon/daemon_loop.h"
#include "daemon/backup_duty.h"
#include "daemon/dropin_int.h"
#include "daemon/fast_release.h"
#include "daemon/lease_witness.h"
#include "daemon/metrics_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

extern char **environ;

/* shutdown_observation: the local look the SIGTERM path acts on */
static void
shutdown_observation(Daemon *d, Observation *o)
{
	memset(o, 0, sizeof(*o));
	o->t0_mono_ms = pgw_now_mono_ms();
	failover_exec_observe(d->exec, d->view, &o->self);
	o->self.lease_id = d->lease_id;
	o->observed_mono_ms = pgw_now_mono_ms();
}

/*
 * drive_switchover: run dec's switchover sub-state after sub-state until it
 * is done or aborted (each has a deadline, so this ends), publishing after
 * each as a turn would: the replicas read our REST API and member key.
 */
static void
drive_switchover(Daemon *d, Observation *o, const Decision *dec)
{
	do
	{
		ExecContext ctx = exec_context(d);
		ExecOutcome out = failover_execute(d->exec, &ctx, dec, &o->self);

		if (out.rc != 0)
			log_warn("shutdown.switchover-failed",
			         "error=%s detail=\"%s\" action=%s", pgw_strerror(out.rc),
			         out.err.msg,
			         out.action && out.action[0] ? out.action : "stop");
		turn_publish(d, o, dec, &out);
	} while (failover_exec_switchover(d->exec, NULL, 0) != SWO_NONE);
}

/* finish_switchover: SIGTERM came between two sub-states of a switchover */
static void
finish_switchover(Daemon *d)
{
	Observation o;
	Decision dec = {0};

	shutdown_observation(d, &o);
	dec.kind = DECIDE_SWITCHOVER;
	dec.rule = "shutdown-finish-switchover";
	(void) failover_exec_switchover(d->exec, dec.target, sizeof(dec.target));
	snprintf(dec.reason, sizeof(dec.reason),
	         "stopping: finishing the switchover to %s", dec.target);
	log_info("shutdown.finish-switchover", "target=%s", dec.target);
	drive_switchover(d, &o, &dec);
}

/*
 * shutdown_switchover: on SIGTERM a leader first hands over, exactly as for
 * a requested switchover without a named target, when a replica is
 * eligible; otherwise it just stops (and releases the key).
 */
static void
shutdown_switchover(Daemon *d)
{
	Observation o;
	const char *target;
	Decision dec = {0};

	if (session_read_view(d, true) != 0)
		return;
	shutdown_observation(d, &o);
	if (!failover_holds_leader(d->view, &o.self) || !o.self.pg_running ||
	    o.self.pg_in_recovery)
		return;
	o.peers_timeout_ms = 1000;
	(void) turn_observe(d, &o, OBSERVE_PEERS);
	target = failover_best_candidate(d->view, o.peers, o.n_peers, d->cfg->name);
	if (target == NULL)
	{
		log_info("shutdown.no-switchover", "reason=\"no eligible replica\"");
		return;
	}
	dec.kind = DECIDE_SWITCHOVER;
	dec.rule = "shutdown-switchover";
	pgw_strlcpy(dec.target, target, sizeof(dec.target));
	snprintf(dec.reason, sizeof(dec.reason), "stopping: handing over to %s",
	         target);
	log_info("shutdown.switchover", "target=%s", target);
	/* name the target in a request, so the others wait for it */
	{
		FailoverRequest f = {0};
		char *json;
		PgwError err = {0};

		f.present = true;
		pgw_strlcpy(f.leader, d->cfg->name, sizeof(f.leader));
		pgw_strlcpy(f.member, target, sizeof(f.member));
		json = dcs_failover_encode(&f);
		if (dcs_cas_put(d->etcd, d->prefix, "failover", json, 0, &err) != 0)
			log_warn("shutdown.switchover-request", "detail=\"%s\"", err.msg);
		free(json);
	}
	if (session_read_view(d, true) != 0)
		return;
	/* the routers pause writes first, as for a requested switchover:
	 * without it every transaction in flight through PgBouncer failed */
	routing_pub_switching(&d->routing, d->etcd, d->prefix, d->cfg->name,
	                      d->lease_id, d->view);
	drive_switchover(d, &o, &dec);
}

static int
open_signals(void)
{
	sigset_t set;

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
			sd_notify_stopping();
			d->stopping = true;
		}
		else if (si.ssi_signo == SIGHUP)
			*reload = true;
	}
}

static void
reload_config(Daemon *d)
{
	NodeConfig nc;
	PgwError err = {0};

	memset(&nc, 0, sizeof(nc));
	if (config_load_file(d->config_path, &nc, &err) != 0 ||
	    config_apply_env(&nc, daemon_env_saved(), &err) != 0 ||
	    config_validate(&nc, &err) != 0)
	{
		log_error("config.reload-failed",
		          "path=%s detail=\"%s\" action=kept-last-good", d->config_path,
		          err.msg);
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
	Daemon d;
	PgwError err = {0};
	EtcdClientConfig ec = {0};
	FenceReleaseConfig frc;
	RestOptions ro = {0};
	char fields[160];
	int rc = 1;
	bool started = false;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.config_path = config_path;
	d.view = pgw_xcalloc(1, sizeof(ClusterView));
	dcs_config_defaults(&d.view->config);
	snprintf(fields, sizeof(fields), "node=%s", cfg->name);
	log_set_prefix(fields);
	log_set_level(cfg->log_level);
	if (dcs_group_prefix_build(cfg->namespace_, cfg->scope,
	                           cfg->has_group ? cfg->group : -1, d.prefix,
	                           sizeof(d.prefix), &err) != 0)
	{
		log_error("daemon.config", "detail=\"%s\"", err.msg);
		rc = 2;
		goto out;
	}
	d.sigfd = open_signals();
	/* before any thread: the watchdog is forked without exec */
	fence_release_config_fill(&frc, cfg, d.prefix);
	if (fence_watchdog_spawn(&frc, &err) != 0)
		goto out;
	/* pgbackrest.conf before PostgreSQL may archive; never fails */
	backup_open(cfg, &d.backup);
	if (lease_witness_open(cfg, &err) != 0) /* issue 19 */
		goto out;
	/* the executor forks PostgreSQL from this (main) thread: its
	 * parent-death signal must outlive every other thread */
	if (failover_exec_open(cfg, &d.exec, &err) != 0)
		goto out;
	peers_set_tls(cfg->restapi_cafile, cfg->restapi_certfile,
	              cfg->restapi_keyfile);
	peers_set_policy(cfg->scope, cfg->restapi_credentials_over_http);
	if (callbacks_open(cfg, &d.cb, &err) != 0)
		goto out;
	ec.endpoints = cfg->etcd_hosts;
	ec.ca_file = cfg->etcd_cacert;
	ec.cert_file = cfg->etcd_cert;
	ec.key_file = cfg->etcd_key;
	ec.username = cfg->etcd_username;
	ec.password = cfg->etcd_password;
	ec.call_timeout_ms = 3000;
	if (etcd_client_open(&ec, &d.etcd, &err) != 0)
		goto out;
	session_open(&d);
	metrics_set_etcd(d.etcd);
	fence_start(failover_exec_fence_fn, d.exec, session_confirmed_deadline,
	            NULL);
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
	ro.allow_loopback_writes = cfg->restapi_loopback_writes;
	ro.etcd_endpoints = cfg->etcd_hosts;
	ro.etcd_cacert = cfg->etcd_cacert;
	ro.etcd_cert = cfg->etcd_cert;
	ro.etcd_key = cfg->etcd_key;
	ro.etcd_username = cfg->etcd_username;
	ro.etcd_password = cfg->etcd_password;
	ro.prefix = d.prefix;
	ro.member_name = cfg->name;
	ro.lease_deadline = session_confirmed_deadline_of;
	if (rest_start(&ro, &d.rest, &err) != 0)
		goto out;
	started = true;
	rc = 0;
	if (k8s_views_open(cfg, environ, &d.k8s, &err) != 0)
		log_error("k8s.disabled",
		          "detail=\"%s\" action=run-without-kubernetes-views", err.msg);
	if (cfg->watchdog_mode == CONFIG_WATCHDOG_AUTOMATIC)
		log_warn(
		    "watchdog.device-unused",
		    "device=%s detail=\"pgwarden does not drive a kernel watchdog; the fence watchdog process guards instead\"",
		    cfg->watchdog_device ? cfg->watchdog_device : "/dev/watchdog");
	log_info("daemon.started", "scope=%s prefix=%s etcd=%s rest=%s version=%s",
	         cfg->scope, d.prefix, cfg->etcd_hosts, cfg->restapi_listen,
	         PGW_VERSION);

	while (!d.stopping)
	{
		int64_t start = pgw_now_mono_ms();
		int64_t next;
		bool reload = false;
		struct pollfd pfd[3];

		one_cycle(&d);
		handle_actions(&d);
		next = start + d.view->config.loop_wait_ms;
		/* a restart that failed (the release must not wait for the tick),
		 * or a switchover between its sub-states: the next turn now */
		if (d.run_again)
			next = pgw_now_mono_ms();
		/* wait for the tick, a watch event that matters, or a signal */
		while (!d.stopping)
		{
			int64_t now = pgw_now_mono_ms();
			int timeout =
			    sd_notify_wait_ms(next > now ? (int) (next - now) : 0);

			pfd[0].fd = etcd_client_event_fd(d.etcd);
			pfd[0].events = POLLIN;
			pfd[1].fd = d.sigfd;
			pfd[1].events = POLLIN;
			pfd[2].fd = rest_action_fd(d.rest);
			pfd[2].events = POLLIN;
			if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
				break;
			sd_notify_wait_tick();
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
			if ((pfd[0].revents & POLLIN) && session_drain_events(&d))
				break;
			if (pgw_now_mono_ms() >= next)
				break;
		}
	}

	/* SIGTERM: a switchover in progress ends first (done or aborted, each
	 * sub-state has a deadline); then a leader hands over to the best
	 * replica (when configured and one is eligible); then PostgreSQL stops
	 * cleanly and the leader key is released so replicas need not wait
	 * out the TTL */
	if (failover_exec_switchover(d.exec, NULL, 0) != SWO_NONE)
		finish_switchover(&d);
	if (k8s_views_stopping(d.k8s, cfg,
	                       d.view->has_leader &&
	                           strcmp(d.view->leader, cfg->name) == 0) &&
	    cfg->switchover_on_shutdown)
		shutdown_switchover(&d);
	{
		ExecContext ctx = exec_context(&d);

		if (failover_exec_shutdown(d.exec, &ctx))
			release_noted(cfg, d.lease_id, "shutdown");
	}
	if (d.cb_running)
		callbacks_fire(d.cb, "on_stop", d.cb_role);

out:
	if (!started && rc != 2)
		log_error("daemon.start", "detail=\"%s\"", err.msg);
	fence_stop();
	backup_close(d.backup);
	lease_witness_close();
	if (d.lease_id != 0)
	{
		etcd_lease_keepalive_stop(d.etcd);
		if (etcd_lease_revoke(d.etcd, d.lease_id, &err) != 0)
			log_warn("lease.revoke-failed", "detail=\"%s\"", err.msg);
	}
	k8s_views_close(d.k8s);
	rest_stop(d.rest);
	callbacks_close(d.cb, started ? 5000 : 0);
	etcd_client_close(d.etcd);
	failover_exec_close(d.exec);
	free(d.history_json);
	free(d.config_json);
	free(d.rest_snap);
	free(d.failsafe_written);
	free(d.view);
	if (started)
		log_info("daemon.stopped", "loops=%llu", (unsigned long long) d.loops);
	return rc;
}
