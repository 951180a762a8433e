/*
 * etcd_session.c: the daemon's session with etcd (DESIGN.md promise 1 and
 * "Timing model"): one lease kept alive by the etcd client's thread, the
 * fencing deadline (the send time of the last confirmed keepalive + ttl -
 * margin, moved by every confirmation on that thread as well, so a stalled
 * loop cannot keep a primary writable), and the watch-fed view of the
 * cluster. The deadline arithmetic lives here once.
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/xmem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* the lease the fencing thread may consult (set by the loop) */
static _Atomic int64_t fence_lease_id;
static _Atomic int64_t fence_lease_ttl_ms;
static EtcdClient *fence_etcd;

int64_t
session_margin_ms(int64_t ttl_ms)
{
	/* fencing margin: 10 % of the TTL, at least 300 ms */
	return ttl_ms / 10 > 300 ? ttl_ms / 10 : 300;
}

int64_t
session_deadline_ms(int64_t sent_mono_ms, int64_t granted_ttl_ms,
                    int64_t ttl_ms)
{
	return sent_mono_ms + granted_ttl_ms - session_margin_ms(ttl_ms);
}

/*
 * session_keepalive_interval_ms: a keepalive every ttl / 4. The fencing
 * deadline is measured from each keepalive's send, so the interval costs no
 * safety: it leaves the leader 3/4 ttl - margin of headroom at worst (6.5 s
 * at ttl 10) against an etcd that stops confirming; a crashed leader's key
 * expires ttl after its last keepalive whatever the interval. Once a loop
 * (loop_wait 1 s) cost each daemon two CPU wakes a second for nothing
 * (issue 18).
 */
int64_t
session_keepalive_interval_ms(const DynamicConfig *cfg)
{
	return cfg->ttl_ms / 4 > 250 ? cfg->ttl_ms / 4 : 250;
}

/*
 * session_confirmed_deadline: the fencing deadline implied by the latest
 * keepalive confirmation the etcd client holds (its state is
 * mutex-protected, so any thread may ask). 0 when there is none for our
 * lease.
 */
int64_t
session_confirmed_deadline_of(int64_t lease_id)
{
	int64_t ttl_s;
	int64_t sent;

	if (lease_id == 0 || lease_id != atomic_load(&fence_lease_id) ||
	    fence_etcd == NULL ||
	    !etcd_lease_keepalive_last(fence_etcd, lease_id, &ttl_s, &sent))
		return 0;
	return session_deadline_ms(sent, ttl_s * 1000,
	                           atomic_load(&fence_lease_ttl_ms));
}

int64_t
session_confirmed_deadline(void *unused)
{
	(void) unused;
	return session_confirmed_deadline_of(atomic_load(&fence_lease_id));
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
	fence_raise_deadline(session_deadline_ms(sent_mono_ms, ttl_s * 1000,
	                                         atomic_load(&fence_lease_ttl_ms)));
}

void
session_open(Daemon *d)
{
	fence_etcd = d->etcd;
	etcd_lease_keepalive_observe(d->etcd, keepalive_confirmed, NULL);
}

void
session_note_etcd_error(Daemon *d, const char *what, const PgwError *err)
{
	d->etcd_errors++;
	if (!d->etcd_fail_logged)
		log_warn("etcd.error", "op=%s error=%s detail=\"%s\"", what,
		         pgw_strerror(err->code), err->msg);
	d->etcd_fail_logged = true;
}

static void
note_etcd_ok(Daemon *d)
{
	if (d->etcd_fail_logged)
		log_info("etcd.recovered", "endpoint=%s",
		         etcd_client_endpoint(d->etcd));
	d->etcd_fail_logged = false;
}

static bool
is_own_key(const Daemon *d, const EtcdEvent *ev, const char *suffix)
{
	size_t plen = strlen(d->prefix);

	return ev->kv.key != NULL && ev->kv.key_len > plen &&
	       memcmp(ev->kv.key, d->prefix, plen) == 0 &&
	       strcmp(ev->kv.key + plen, suffix) == 0;
}

static void
replace_raw(char **out, const EtcdEvent *ev)
{
	free(*out);
	*out = ev->type == ETCD_EVENT_WATCH_PUT && ev->kv.value != NULL
	           ? pgw_xstrdup(ev->kv.value)
	           : NULL;
}

int
session_read_view(Daemon *d, bool linearizable)
{
	PgwError err = {0};
	ClusterView *nv = pgw_xmalloc(sizeof(ClusterView));
	char *raw_config = NULL;
	char *raw_history = NULL;

	if (dcs_view_read_raw(d->etcd, d->prefix, linearizable, nv, &raw_config,
	                      &raw_history, &err) != 0)
	{
		session_note_etcd_error(d, "read-view", &err);
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
	fence_set_release_budget(nv->config.retry_timeout_ms);
	etcd_watch_set_progress(d->etcd,
	                        (int) session_watch_progress_ms(&nv->config));
	if (nv->n_bad_values > 0 &&
	    strcmp(nv->bad_value_keys, d->view->bad_value_keys) != 0)
		log_warn("dcs.bad-value", "keys=\"%s\" action=ignored",
		         nv->bad_value_keys);
	memcpy(d->view, nv, sizeof(ClusterView));
	free(nv);
	d->view_valid = true;
	if (!d->watching)
	{
		if (etcd_watch_start(d->etcd, d->prefix, true, d->view->revision + 1,
		                     &d->watch_id, &err) == 0)
			d->watching = true;
		else
			session_note_etcd_error(d, "watch", &err);
	}
	free(d->history_json);
	d->history_json = raw_history;
	free(d->config_json);
	d->config_json = raw_config;
	d->raw_json_gen++;
	return 0;
}

bool
session_drain_events(Daemon *d)
{
	EtcdEvent ev;
	bool wake = false;

	while (etcd_client_next_event(d->etcd, &ev))
	{
		switch (ev.type)
		{
			case ETCD_EVENT_WATCH_PUT:
			case ETCD_EVENT_WATCH_DELETE:
				if (d->view_valid &&
				    dcs_view_apply_event(d->view, d->prefix, &ev))
					wake = true;
				/* the event carries the value: keep the raw copy the REST
				 * API serves without another read */
				if (is_own_key(d, &ev, "config"))
				{
					replace_raw(&d->config_json, &ev);
					d->raw_json_gen++;
				}
				else if (is_own_key(d, &ev, "history"))
				{
					replace_raw(&d->history_json, &ev);
					d->raw_json_gen++;
				}
				break;
			case ETCD_EVENT_WATCH_RESYNC:
				log_warn("dcs.resync", "detail=\"%s\" action=re-read", ev.msg);
				d->view_valid = false;
				wake = true;
				break;
			case ETCD_EVENT_KEEPALIVE:
				if (ev.lease_id == d->lease_id && ev.ttl_s > 0)
				{
					int64_t dl = session_deadline_ms(
					    ev.sent_mono_ms, ev.ttl_s * 1000, d->lease_ttl_ms);

					if (dl > d->lease_deadline_mono_ms)
						d->lease_deadline_mono_ms = dl;
					fence_raise_deadline(dl);
				}
				break;
			case ETCD_EVENT_LEASE_LOST:
				if (ev.lease_id == d->lease_id)
				{
					log_warn("lease.lost", "lease=%llx",
					         (unsigned long long) d->lease_id);
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

bool
session_ensure_lease(Daemon *d)
{
	PgwError err = {0};
	int64_t id;
	int64_t ttl_s;
	int64_t ttl_ms = d->view->config.ttl_ms;
	int64_t sent;

	if (d->lease_id != 0 && d->lease_ttl_ms == ttl_ms)
		return false;
	if (d->lease_id != 0 && d->view->has_leader &&
	    strcmp(d->view->leader, d->cfg->name) == 0)
	{
		/* never move a held leader key to a new lease behind etcd's back:
		 * the new TTL applies from our next leadership */
		return false;
	}
	if (etcd_lease_grant(d->etcd, (ttl_ms + 999) / 1000, &id, &ttl_s, &err) !=
	    0)
	{
		session_note_etcd_error(d, "lease-grant", &err);
		return false;
	}
	sent = pgw_now_mono_ms();
	if (etcd_lease_keepalive_start(
	        d->etcd, id, (int) session_keepalive_interval_ms(&d->view->config),
	        &err) != 0)
	{
		session_note_etcd_error(d, "lease-keepalive", &err);
		return false;
	}
	(void) lease_holder_proven(d->cfg->pg_data_dir); /* before it is replaced */
	lease_holder_record(d->cfg->pg_data_dir, id);
	d->lease_id = id;
	d->lease_ttl_ms = ttl_ms;
	atomic_store(&fence_lease_ttl_ms, ttl_ms);
	atomic_store(&fence_lease_id, id);
	/* a fresh grant counts as a keepalive sent a quarter TTL before it */
	d->lease_deadline_mono_ms =
	    session_deadline_ms(sent - ttl_ms / 4, ttl_s * 1000, ttl_ms);
	fence_set_deadline(d->lease_deadline_mono_ms);
	log_info("lease.granted", "lease=%llx ttl_s=%lld", (unsigned long long) id,
	         (long long) ttl_s);
	return true;
}

/*
 * session_keepalive_late: etcd has not confirmed a keepalive of our lease
 * for two keepalive intervals. The watch-fed view stays "valid" while etcd
 * is gone, so this, not the view, says etcd is out of reach; failsafe's
 * own deadline raises do not hide it. Two intervals, not more: a failsafe
 * round must still fit before the deadline.
 */
bool
session_keepalive_late(Daemon *d)
{
	int64_t kd = session_confirmed_deadline(NULL);
	/* the lease's own TTL: a new ttl in `config` (or a bad value read as
	 * the defaults) applies from the next lease, and measured against
	 * this one it made every keepalive look late */
	int64_t ttl = d->lease_ttl_ms;

	if (d->lease_id == 0 || kd == 0)
		return false;
	return kd - pgw_now_mono_ms() <
	       ttl - session_margin_ms(ttl) -
	           2 * session_keepalive_interval_ms(&d->view->config) - 200;
}

/*
 * session_bound_calls: as the leader in failsafe mode, no etcd call of this
 * turn may outlast the instant session_keepalive_late() turns true: from
 * then on the round of vouches must fit before the deadline, and a call
 * that blocks for retry_timeout past that instant eats its time (a drill
 * at ttl 3 saw a routing write begun just before etcd went away end 1 s
 * before the deadline, one lost packet slowed the vouches by as much, and
 * the fence fired 5 ms before they arrived). Floor 200 ms: by then etcd is
 * late anyway and failsafe_turn runs instead of these calls.
 */
void
session_bound_calls(Daemon *d)
{
	int64_t t = d->view->config.retry_timeout_ms;
	int64_t kd = session_confirmed_deadline(NULL);
	int64_t ttl = d->lease_ttl_ms;

	if (d->view->config.failsafe_mode && d->lease_id != 0 && kd != 0 &&
	    d->view->has_leader && strcmp(d->view->leader, d->cfg->name) == 0)
	{
		/* the instant keepalive_late() becomes true, less 100 ms */
		int64_t left =
		    kd - pgw_now_mono_ms() -
		    (ttl - session_margin_ms(ttl) -
		     2 * session_keepalive_interval_ms(&d->view->config) - 200) -
		    100;

		if (left < t)
			t = left < 200 ? 200 : left;
	}
	etcd_client_set_call_timeout(d->etcd, (int) t);
}

/*
 * session_claims_leader: the last view we had names us leader on our
 * lease, valid or not. The fences stay armed on it: a view marked invalid
 * because etcd stopped answering used to disarm them
 * (failover_holds_leader() wants a valid view), and then only the loop's
 * own rule demoted us, up to a loop plus an etcd timeout after the deadline
 * (a part-etcd drill saw 915 ms, and another node writable for 326 ms of
 * it).
 */
bool
session_claims_leader(const Daemon *d)
{
	return d->lease_id != 0 && d->view->has_leader &&
	       strcmp(d->view->leader, d->cfg->name) == 0 &&
	       d->view->leader_lease == d->lease_id;
}

int64_t
session_watch_progress_ms(const DynamicConfig *cfg)
{
	return cfg->ttl_ms / 4 > 250 ? cfg->ttl_ms / 4 : 250;
}

bool
session_key_proven(Daemon *d)
{
	return d->view_valid && session_claims_leader(d) &&
	       !session_keepalive_late(d) &&
	       etcd_watch_live(
	           d->etcd, 2 * session_watch_progress_ms(&d->view->config), NULL);
}

void
session_note_outcome(Daemon *d, const ExecOutcome *out)
{
	if (out->key_acquired && d->lease_id != 0)
		dcs_view_note_leader(d->view, d->cfg->name, d->lease_id);
	else if (out->key_released && d->view->has_leader &&
	         strcmp(d->view->leader, d->cfg->name) == 0)
		dcs_view_note_leader(d->view, NULL, 0);
}
