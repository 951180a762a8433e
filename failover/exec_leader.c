/*
 * exec_leader.c: the leader's duties (failover.h, failover_leader_duties):
 * what a primary under our key keeps up once per turn, run by the daemon's
 * publish phase after routing points at us: the status optime, the config
 * and initialize keys, synchronous_standby_names and `sync` (promise 2),
 * the members' slots (promise 5), and what a promotion left behind (the
 * history entry, clearing the request it served).
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* history_append: add the timeline a promotion ended to `history` */
static int
history_append(FailoverExec *e, const ExecContext *ctx, int new_tl,
               uint64_t lsn, const char *reason)
{
	HistoryEntry *h = NULL;
	int n = 0;
	PgwError err = {0};
	char *raw = NULL;
	size_t raw_len = 0;
	char *json;
	int rc;

	if (e->ops->key_read(ctx->etcd, ctx->prefix, "history", &raw, &raw_len,
	                     NULL, &err) == 0 &&
	    raw != NULL && dcs_history_decode(raw, raw_len, &h, &n, &err) != 0)
	{
		log_warn("dcs.bad-value", "key=history detail=\"%s\" action=restarted",
		         err.msg);
		n = 0;
	}
	free(raw);
	h = pgw_xrealloc(h, sizeof(HistoryEntry) * (size_t) (n + 1));
	memset(&h[n], 0, sizeof(HistoryEntry));
	/* Patroni records the timeline that ended and where it ended */
	h[n].timeline = new_tl > 1 ? new_tl - 1 : 1;
	h[n].lsn = lsn;
	pgw_strlcpy(h[n].reason, reason, sizeof(h[n].reason));
	pgw_format_wall_iso(pgw_now_wall_ms(), 1, h[n].time, sizeof(h[n].time));
	pgw_strlcpy(h[n].new_leader, ctx->name, sizeof(h[n].new_leader));
	json = dcs_history_encode(h, n + 1);
	rc = e->ops->leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name,
	                                ctx->lease_id, "history", json, &err);
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
	int n = 0;

	/* streaming standbys that are valid members without nosync. Those the
	 * `sync` key already names come first, so a healthy sync standby keeps
	 * its place (as Patroni does) instead of flapping with every flush
	 * report; then the most caught-up (flush position), name as the
	 * tie-break */
	for (int i = 0; i < e->rep->n_standbys && n < max; i++)
	{
		const HealthStandby *h = &e->rep->standbys[i];
		const MemberInfo *m = dcs_view_member(v, h->application_name);

		if (m == NULL || !m->is_valid || m->nosync ||
		    strcmp(m->name, self_name) == 0 ||
		    strcmp(h->state, "streaming") != 0)
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
				if (strcmp(e->rep->standbys[k].application_name,
				           names[j - 1]) == 0)
					a = &e->rep->standbys[k];
				if (strcmp(e->rep->standbys[k].application_name, names[j]) == 0)
					b = &e->rep->standbys[k];
			}
			bool a_sync = sync_has(&v->sync, names[j - 1]);
			bool b_sync = sync_has(&v->sync, names[j]);

			if (a && b &&
			    ((b_sync && !a_sync) ||
			     (b_sync == a_sync && (b->flush_lsn > a->flush_lsn ||
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
sync_write(FailoverExec *e, const ExecContext *ctx, const char *const *names,
           int n, int quorum, PgwError *err)
{
	SyncState st = {0};
	char *json;
	int rc;

	pgw_strlcpy(st.leader, ctx->name, sizeof(st.leader));
	for (int i = 0; i < n && i < PGW_SYNC_MAX; i++)
		pgw_strlcpy(st.sync_standby[st.n_sync++], names[i], PGW_NAME_MAX);
	st.quorum = quorum;
	json = dcs_sync_encode(&st);
	rc = e->ops->leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name,
	                                ctx->lease_id, "sync", json, err);
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
	int n_cand;
	int n_want;
	int n_keep = 0;
	int k = cfg->synchronous_node_count > 0 ? cfg->synchronous_node_count : 1;
	int quorum = cfg->synchronous_quorum ? k : 0;
	char want_ssn[1024];
	PgwError err = {0};
	bool shrink = false;

	if (!cfg->synchronous_mode)
	{
		if (e->sync_names_known && e->sync_names_applied[0] == '\0')
			return;
		/* leaving sync mode: forget `sync` first, then stop waiting */
		if (cur->present &&
		    e->ops->cas_delete(ctx->etcd, ctx->prefix, "sync", 0, &err) != 0)
			return;
		if (e->ops->set_sync(e->pg, "", 5000, &err) == 0)
		{
			e->sync_names_applied[0] = '\0';
			e->sync_names_known = true;
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
		bool wanted = false;

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
		if (sync_write(e, ctx, keep, n_keep, quorum, &err) != 0)
		{
			log_warn("sync.write-failed", "detail=\"%s\"", err.msg);
			return;
		}
		log_info("sync.shrunk", "sync_standby_count=%d", n_keep);
	}
	/* 2. ssn to the wanted set, confirmed in effect */
	if (!e->sync_names_known || strcmp(e->sync_names_applied, want_ssn) != 0)
	{
		if (e->ops->set_sync(e->pg, want_ssn, 5000, &err) != 0)
		{
			log_warn("sync.ssn-failed", "value=\"%s\" detail=\"%s\"", want_ssn,
			         err.msg);
			return;
		}
		pgw_strlcpy(e->sync_names_applied, want_ssn,
		            sizeof(e->sync_names_applied));
		e->sync_names_known = true;
		log_info("sync.ssn", "value=\"%s\"", want_ssn);
	}
	/* 3. only now may `sync` name the new members */
	{
		bool same = cur->present && cur->n_sync == n_want &&
		            cur->quorum == quorum &&
		            strcmp(cur->leader, ctx->name) == 0;

		for (int j = 0; same && j < n_want; j++)
			same = sync_has(cur, cand[j]);
		if (!same)
		{
			if (sync_write(e, ctx, cand, n_want, quorum, &err) != 0)
				log_warn("sync.write-failed", "detail=\"%s\"", err.msg);
			else
				log_info("sync.updated", "sync_standby_count=%d quorum=%d",
				         n_want, quorum);
		}
	}
}

/*
 * exec_sync_claim: before a promotion in synchronous mode. Until the new primary
 * has named its sync standbys, `sync` must name nobody but us: the old
 * `sync` still names the old leader, which may lack every commit we are
 * about to acknowledge before a standby confirms them (Patroni writes the
 * same claim). In strict mode ssn "*" also makes the first commits wait
 * for some standby instead of returning at once.
 */
void
exec_sync_claim(FailoverExec *e, const ExecContext *ctx)
{
	PgwError err = {0};

	if (sync_write(e, ctx, NULL, 0, 0, &err) != 0)
		log_warn("sync.claim-failed", "detail=\"%s\"", err.msg);
	else
		log_info("sync.claimed", "sync_standby_count=0");
	if (ctx->view->config.synchronous_mode_strict &&
	    (!e->sync_names_known || strcmp(e->sync_names_applied, "*") != 0))
	{
		if (e->ops->set_sync(e->pg, "*", 5000, &err) != 0)
			log_warn("sync.ssn-failed", "value=\"*\" detail=\"%s\"", err.msg);
		else
		{
			pgw_strlcpy(e->sync_names_applied, "*",
			            sizeof(e->sync_names_applied));
			e->sync_names_known = true;
			log_info("sync.ssn", "value=\"*\" reason=promotion-strict");
		}
	}
}

/* slots_sync: physical slots for every other member, when use_slots */
static void
slots_sync(FailoverExec *e, const ExecContext *ctx)
{
	const char *names[PGW_MEMBERS_MAX];
	char list[1024] = "";
	size_t used = 0;
	int n = 0;
	int changed = 0;
	PgwError err = {0};
	/* FNV-1a over every name: the whole list decides, while the text
	 * (for the log) is cut off at 1024 bytes (security review F15: a
	 * change past the cut went unnoticed, slots were not kept) */
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < ctx->view->n_members; i++)
	{
		if (strcmp(ctx->view->members[i].name, ctx->name) == 0)
			continue;
		names[n++] = ctx->view->members[i].name;
		for (const char *p = ctx->view->members[i].name;; p++)
		{
			h = (h ^ (unsigned char) *p) * 1099511628211ULL;
			if (*p == '\0')
				break;
		}
		if (used < sizeof(list))
			used += (size_t) snprintf(list + used, sizeof(list) - used, "%s,",
			                          ctx->view->members[i].name);
	}
	if (h == e->slots_for)
		return;
	if (e->ops->slots_sync(e->pg, names, n, &changed, &err) == 0)
	{
		e->slots_for = h;
		if (changed > 0)
			log_info("slots.synced", "members=\"%s\" changed=%d", list,
			         changed);
	}
	else
		log_warn("slots.sync-failed", "detail=\"%s\"", err.msg);
}

void
failover_leader_duties(FailoverExec *e, const ExecContext *ctx)
{
	int64_t now = pgw_now_mono_ms();
	bool primary = e->rep->reachable && !e->rep->in_recovery;
	PgwError err = {0};

	/* status optime for replicas' lag: only when it moved from what etcd
	 * holds (the watch keeps the view's copy; issue 18), at most once a
	 * loop (the write's own watch event may still be on its way) */
	if (primary && e->rep->wal_lsn != ctx->view->leader_optime &&
	    (e->status_published_mono_ms == 0 ||
	     now - e->status_published_mono_ms >= ctx->view->config.loop_wait_ms))
	{
		char val[64];

		snprintf(val, sizeof(val), "{\"optime\":%llu}",
		         (unsigned long long) e->rep->wal_lsn);
		if (e->ops->leader_guarded_put(ctx->etcd, ctx->prefix, ctx->name,
		                               ctx->lease_id, "status", val, &err) == 0)
			e->status_published_mono_ms = now;
		else
			/* retried next turn; etcd trouble is the session's to report */
			log_debug("status.publish-failed", "detail=\"%s\"", err.msg);
	}
	/* the first leader writes the bootstrap config if nobody did */
	if (!ctx->view->has_config)
	{
		char *json = dcs_config_encode(&e->cfg->bootstrap_dcs);

		if (e->ops->cas_put_rev(ctx->etcd, ctx->prefix, "config", json, 0, NULL,
		                        &err) == 0)
			log_info("config.written", "source=bootstrap.dcs");
		else if (err.code != PGW_ECONFLICT) /* conflict: someone wrote it */
			log_warn("config.write-failed", "detail=\"%s\" action=retry",
			         err.msg);
		free(json);
	}
	/* initialize must name the system identifier (a bootstrap that died
	 * between initdb and this write left it empty) */
	if (ctx->view->has_initialize && ctx->view->initialize[0] == '\0' &&
	    e->last_sysid != 0)
	{
		char sysid[32];

		snprintf(sysid, sizeof(sysid), "%llu",
		         (unsigned long long) e->last_sysid);
		if (e->ops->initialize_set(ctx->etcd, ctx->prefix, sysid, &err) != 0)
			log_warn("initialize.set-failed", "detail=\"%s\"", err.msg);
	}
	if (primary)
		manage_sync(e, ctx);
	if (primary && ctx->view->config.use_slots)
		slots_sync(e, ctx);
	/* what the promotion left: the timeline it ended, and the request it
	 * served (only that one, not one written since: a scheduled one, say) */
	if (e->pending.history)
	{
		e->pending.history = false;
		(void) history_append(e, ctx, e->pending.new_timeline, e->pending.lsn,
		                      e->pending.reason);
	}
	if (e->pending.clear_failover_rev != 0)
	{
		int64_t rev = e->pending.clear_failover_rev;

		e->pending.clear_failover_rev = 0;
		if (e->ops->cas_delete(ctx->etcd, ctx->prefix, "failover", rev, &err) !=
		    0)
			log_warn("failover.clear-failed", "detail=\"%s\"", err.msg);
	}
}
