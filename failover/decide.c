/*
 * decide.c: failover_decide(), the pure heart of the HA loop (DESIGN.md
 * "failover/ decide"). It computes the DecideCtx once from the inputs,
 * walks the first-match table of rules.c, and fills the Decision with the
 * row's action, target and a reason rendered from the row's template.
 * No I/O, no clock reads, no globals, no allocation.
 */
#include "failover/failover_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Fallbacks when the view's timing values are nonsense (DESIGN.md). */
#define DEFAULT_TTL_MS           10000
#define DEFAULT_LOOP_WAIT_MS     1000
#define DEFAULT_RETRY_TIMEOUT_MS 3000

static const char *const kind_names[DECIDE_KIND_COUNT] = {
    [DECIDE_WAIT] = "wait",
    [DECIDE_BOOTSTRAP] = "bootstrap",
    [DECIDE_CLONE] = "clone",
    [DECIDE_START_REPLICA] = "start-replica",
    [DECIDE_FOLLOW] = "follow",
    [DECIDE_RENEW] = "renew",
    [DECIDE_ACQUIRE] = "acquire",
    [DECIDE_REFRESH] = "refresh",
    [DECIDE_PROMOTE] = "promote",
    [DECIDE_DEMOTE] = "demote",
    [DECIDE_RESTART_PRIMARY] = "restart-primary",
    [DECIDE_RELEASE] = "release",
    [DECIDE_REWIND] = "rewind",
    [DECIDE_REINIT] = "reinit",
    [DECIDE_TILT] = "tilt",
    [DECIDE_SWITCHOVER] = "switchover",
    [DECIDE_CANCEL_SWITCHOVER] = "cancel-switchover",
};

const char *
failover_decision_kind_name(DecisionKind kind)
{
	if ((int) kind < 0 || kind >= DECIDE_KIND_COUNT || kind_names[kind] == NULL)
		return "?";
	return kind_names[kind];
}

const char *
failover_switchover_step_name(SwitchoverStep s)
{
	switch (s)
	{
		case SWO_NONE:
			return "none";
		case SWO_CHECKPOINT:
			return "checkpoint";
		case SWO_STOPPING:
			return "stopping";
		case SWO_WAIT_RECEIVED:
			return "wait-received";
		case SWO_HANDED_OVER:
			return "handed-over";
		case SWO_FOLLOW:
			return "follow";
	}
	return "?";
}

static bool
name_eq(const char *a, const char *b)
{
	return a[0] != '\0' && strncmp(a, b, PGW_NAME_MAX) == 0;
}

bool
failover_holds_leader(const ClusterView *view, const LocalHealth *self)
{
	if (view == NULL || self == NULL || !view->is_valid || !view->has_leader)
		return false;
	return self->lease_id != 0 && name_eq(view->leader, self->name) &&
	       view->leader_lease == self->lease_id;
}

static void
copy_name(char *dst, const char *src)
{
	size_t n = src != NULL ? strnlen(src, PGW_NAME_MAX - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void
failover_peer_from_probe(PeerStatus *p, const char *name, bool reachable,
                         bool is_primary, bool is_leader, bool running,
                         int timeline, uint64_t xlog_location,
                         uint64_t received_location, uint64_t replayed_location)
{
	memset(p, 0, sizeof(*p));
	copy_name(p->name, name);
	p->reachable = reachable;
	p->is_primary = is_primary;
	p->is_leader = is_leader;
	p->running = running;
	p->timeline = timeline;
	p->xlog_location = xlog_location;
	p->received_location = received_location;
	p->replayed_location = replayed_location;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* parse_sysid: decimal system identifier; false when it is not one. */
static bool
parse_sysid(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s[0] == '\0')
		return false;
	for (const char *p = s; *p; p++)
	{
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t) (*p - '0');
	}
	*out = v;
	return true;
}

/* ---- the context -------------------------------------------------------- */

static void
prepare_timing(DecideCtx *c)
{
	const DynamicConfig *cfg = &c->view->config;
	const LocalHealth *s = c->self;

	c->ttl_ms = cfg->ttl_ms > 0 ? cfg->ttl_ms : DEFAULT_TTL_MS;
	c->loop_wait_ms =
	    cfg->loop_wait_ms > 0 ? cfg->loop_wait_ms : DEFAULT_LOOP_WAIT_MS;
	c->retry_timeout_ms = cfg->retry_timeout_ms > 0 ? cfg->retry_timeout_ms
	                                                : DEFAULT_RETRY_TIMEOUT_MS;
	c->primary_start_timeout_ms =
	    cfg->primary_start_timeout_ms > 0 ? cfg->primary_start_timeout_ms : 0;

	c->has_lease = s->lease_deadline_mono_ms != 0;
	c->deadline_left_ms =
	    c->has_lease ? s->lease_deadline_mono_ms - c->now_mono_ms : 0;
	c->deadline_passed =
	    c->has_lease && c->now_mono_ms >= s->lease_deadline_mono_ms;

	c->stall_limit_ms = 2 * c->loop_wait_ms + c->retry_timeout_ms;
	c->stall_ms =
	    s->last_loop_mono_ms != 0 ? c->now_mono_ms - s->last_loop_mono_ms : 0;
	c->stalled = s->last_loop_mono_ms != 0 && c->stall_ms > c->stall_limit_ms;

	c->down_ms = s->pg_crashed_since_mono_ms != 0
	                 ? c->now_mono_ms - s->pg_crashed_since_mono_ms
	                 : 0;
	c->start_timeout_passed = s->pg_crashed_since_mono_ms != 0 &&
	                          c->down_ms >= c->primary_start_timeout_ms;
	c->leader_gone_ms = s->leader_absent_since_mono_ms != 0
	                        ? c->now_mono_ms - s->leader_absent_since_mono_ms
	                        : -1;
}

static void
prepare_leader(DecideCtx *c)
{
	const ClusterView *v = c->view;
	const LocalHealth *s = c->self;
	uint64_t init_sysid;

	c->has_leader = v->has_leader && v->leader[0] != '\0';
	c->holds_leader = failover_holds_leader(v, s);
	c->stale_own_key =
	    c->has_leader && !c->holds_leader && name_eq(v->leader, s->name);
	if (c->has_leader)
	{
		const MemberInfo *m = dcs_view_member(v, v->leader);

		c->leader_member = m != NULL && m->is_valid ? m : NULL;
		c->leader_timeline = c->leader_member ? c->leader_member->timeline : 0;
	}

	/*
	 * Divergence: the executor saw it (the WAL receiver refused our
	 * history, or a rewind was interrupted half way), or we last ran as a
	 * primary on another timeline than the leader's (an old primary
	 * returning: promise 4).
	 */
	c->diverged =
	    c->has_leader && !c->holds_leader && c->leader_member != NULL &&
	    s->data_dir == DATA_DIR_INITIALIZED &&
	    (s->timeline_diverged || s->rewind_incomplete ||
	     (s->pg_was_primary && s->pg_timeline > 0 && c->leader_timeline > 0 &&
	      s->pg_timeline != c->leader_timeline));

	c->has_initialize = v->has_initialize;
	c->initialize_pending = v->has_initialize && v->initialize[0] == '\0';
	/* an unparseable `initialize` cannot be compared: not a mismatch */
	c->sysid_mismatch =
	    v->has_initialize && s->data_dir == DATA_DIR_INITIALIZED &&
	    s->system_identifier != 0 && parse_sysid(v->initialize, &init_sysid) &&
	    init_sysid != s->system_identifier;
}

static void
prepare_election(DecideCtx *c)
{
	const LocalHealth *s = c->self;
	CandidateFacts me = {0};

	rank_context_build(c->view, c->peers, c->n_peers, &c->rank);
	me.name = s->name;
	me.is_valid = true;
	me.is_running = c->pg_serving;
	me.is_replica = c->pg_serving && s->pg_in_recovery;
	/* a replica whose WAL left the cluster's history is nobody's
	 * candidate, a requested failover's neither (no-leader-we-diverged) */
	me.nofailover = s->nofailover || s->timeline_diverged;
	me.failover_priority = s->failover_priority;
	me.timeline = s->pg_timeline;
	me.wal_position = c->our_position;
	rank_candidate_assess(&c->rank, &me, &c->me);

	/* reachable peers: still primary? ranked before us? */
	for (int i = 0; c->peers != NULL && i < c->n_peers; i++)
	{
		const PeerStatus *p = &c->peers[i];
		const MemberInfo *m;
		CandidateFacts f = {0};
		FailoverCandidate pc;

		if (!p->reachable || p->name[0] == '\0' || name_eq(p->name, s->name))
			continue;
		if ((p->is_primary || p->is_leader) && c->blocking_peer == NULL)
			c->blocking_peer = p->name;
		if (s->pg_timeline > 0 && p->timeline > s->pg_timeline &&
		    p->timeline > c->newer_timeline)
		{
			c->newer_timeline = p->timeline;
			c->newer_timeline_member = p->name;
		}
		m = dcs_view_member(c->view, p->name);
		if (m == NULL || !m->is_valid)
			continue; /* no trusted tags: cannot be a candidate */
		rank_facts_from_member(m, &f);
		rank_facts_merge_peer(p, &f);
		rank_candidate_assess(&c->rank, &f, &pc);
		if (pc.why == FAILOVER_ELIGIBLE &&
		    failover_candidate_compare(&pc, &c->me) < 0 &&
		    (c->ahead_name == NULL || pc.wal_position > c->ahead_position))
		{
			c->ahead_name = p->name;
			c->ahead_position = pc.wal_position;
		}
	}

	/* has the cluster moved past our timeline? (members' keys, history) */
	for (int i = 0;
	     s->pg_timeline > 0 && i < c->view->n_members && i < PGW_MEMBERS_MAX;
	     i++)
	{
		const MemberInfo *m = &c->view->members[i];

		if (!m->is_valid || name_eq(m->name, s->name))
			continue;
		if (m->timeline > s->pg_timeline && m->timeline > c->newer_timeline)
		{
			c->newer_timeline = m->timeline;
			c->newer_timeline_member = m->name;
		}
	}
	if (s->pg_timeline > 0 &&
	    c->view->last_history_timeline >= s->pg_timeline &&
	    c->view->last_history_timeline + 1 > c->newer_timeline)
	{
		c->newer_timeline = c->view->last_history_timeline + 1;
		c->newer_timeline_member = "history";
	}
}

/*
 * prepare_released: we gave a leader key up less than a ttl ago (the fence
 * after our daemon died, a release rule, a stop), and another member's key
 * says it could take over: a running replica that may be promoted (sync
 * members only in synchronous mode). Its lag is not judged here: the
 * others' own election does that.
 */
static void
prepare_released(DecideCtx *c)
{
	const LocalHealth *s = c->self;

	if (s->released_lease == 0 || s->released_mono_ms == 0)
		return;
	c->released_ago_ms = c->now_mono_ms - s->released_mono_ms;
	c->released_recently =
	    c->released_ago_ms >= 0 && c->released_ago_ms < c->ttl_ms;
	for (int i = 0; i < c->view->n_members && i < PGW_MEMBERS_MAX; i++)
	{
		const MemberInfo *m = &c->view->members[i];
		CandidateFacts f;

		if (!m->is_valid || name_eq(m->name, s->name))
			continue;
		rank_facts_from_member(m, &f);
		if (f.is_running && f.is_replica && !f.nofailover &&
		    f.failover_priority > 0 &&
		    (!c->rank.sync_mode || rank_in_sync(c->rank.sync, m->name)))
		{
			c->released_candidate = m->name;
			return;
		}
	}
}

/* prepare_failover: the `failover` request and pause facts. */
static void
prepare_failover(DecideCtx *c)
{
	const FailoverRequest *f = &c->view->failover;
	const LocalHealth *s = c->self;

	c->paused = c->view->config.pause;
	for (int i = 0; c->peers != NULL && i < c->n_peers; i++)
	{
		const PeerStatus *p = &c->peers[i];
		uint64_t pos;

		if (!p->reachable || name_eq(p->name, s->name))
			continue;
		pos = max_u64(p->xlog_location,
		              max_u64(p->received_location, p->replayed_location));
		if (pos > c->max_peer_position)
			c->max_peer_position = pos;
	}
	/*
	 * Quorum commit (ANY k of n): a commit may live on only k of the n sync
	 * members, so a candidate must see the WAL of n - k + 1 of them (itself
	 * included) to know that nobody has more than it has.
	 */
	if (c->view->config.synchronous_mode && c->view->sync.present &&
	    c->view->sync.quorum > 0)
	{
		const SyncState *st = &c->view->sync;

		c->quorum_needed = st->n_sync - st->quorum + 1;
		if (rank_in_sync(st, s->name))
			c->quorum_seen++;
		for (int i = 0; c->peers != NULL && i < c->n_peers; i++)
			if (c->peers[i].reachable && !name_eq(c->peers[i].name, s->name) &&
			    rank_in_sync(st, c->peers[i].name))
				c->quorum_seen++;
	}
	if (!f->present)
		return;
	c->fo_present = true;
	c->fo_due =
	    f->scheduled_at_wall_ms == 0 ||
	    (s->now_wall_ms > 0 && s->now_wall_ms >= f->scheduled_at_wall_ms);
	c->fo_leader_ok = f->leader[0] == '\0' || name_eq(f->leader, s->name);
	c->fo_leader_other = f->leader[0] != '\0' && !name_eq(f->leader, s->name);
	c->fo_we_are_target = name_eq(f->member, s->name);
	/* past the record's start: the whole shutdown checkpoint is ours */
	c->fo_handed_over = c->fo_we_are_target && f->handover_lsn != 0 &&
	                    c->our_position > f->handover_lsn;
	/*
	 * A switchover request outlives its leader by one ttl at most (then a
	 * normal election runs); a failover request (no leader named) is meant
	 * for a cluster without a leader and stands until it is served.
	 */
	c->fo_expired =
	    f->leader[0] != '\0' && !c->has_leader && c->leader_gone_ms > c->ttl_ms;
	if (!c->fo_leader_ok)
		c->fo_refusal = "the request names another leader";
	if (f->member[0] != '\0')
	{
		const MemberInfo *m = dcs_view_member(c->view, f->member);
		FailoverCandidate fc;

		c->fo_target = f->member;
		if (name_eq(f->member, s->name))
			c->fo_refusal = "the target already leads";
		else if (m == NULL || !m->is_valid)
			c->fo_refusal = "the target is not a valid member";
		else
		{
			(void) failover_candidate_assess(c->view, c->peers, c->n_peers,
			                                 f->member, &fc);
			if (fc.why == FAILOVER_ELIGIBLE)
				c->fo_target_ok = c->fo_leader_ok;
			else
				c->fo_refusal = failover_ineligible_name(fc.why);
		}
	}
	else
	{
		c->fo_target =
		    failover_best_candidate(c->view, c->peers, c->n_peers, s->name);
		if (c->fo_target != NULL)
			c->fo_target_ok = c->fo_leader_ok;
		else
			c->fo_refusal = "no eligible member";
	}
}

static void
prepare(DecideCtx *c)
{
	const LocalHealth *s = c->self;

	if (c->view == NULL || s == NULL || s->name[0] == '\0')
	{
		c->bad_input = true;
		return;
	}
	if (c->n_peers < 0 || c->peers == NULL)
		c->n_peers = 0;
	c->view_ok = s->etcd_ok && c->view->is_valid;
	c->pg_may_write = s->pg_running && !s->pg_in_recovery;
	c->pg_serving = s->pg_running && s->pg_reachable;
	c->our_position =
	    c->pg_may_write ? max_u64(s->pg_current_lsn, s->pg_received_lsn)
	    : s->pg_running
	        ? max_u64(s->pg_received_lsn, s->pg_replayed_lsn)
	        : max_u64(s->pg_current_lsn,
	                  max_u64(s->pg_received_lsn, s->pg_replayed_lsn));
	prepare_timing(c);
	prepare_leader(c);
	prepare_election(c);
	prepare_released(c);
	prepare_failover(c);
}

/* ---- reason templates --------------------------------------------------- */

static void
fmt_lsn(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (unsigned) (lsn >> 32),
	         (unsigned) (lsn & 0xFFFFFFFFu));
}

static const char *
str_or(const char *s, const char *dflt)
{
	return s != NULL && s[0] != '\0' ? s : dflt;
}

/*
 * var_value: the text of one {field} of a reason template. Returns false for
 * an unknown field (the template then keeps "{field}"; a test catches it).
 */
static bool
var_value(const char *key, const DecideCtx *c, const Decision *d, char *buf,
          size_t len)
{
	const LocalHealth *s = c->self;
	const ClusterView *v = c->view;

	if (strcmp(key, "self") == 0)
		snprintf(buf, len, "%s", s->name);
	else if (strcmp(key, "leader") == 0)
		snprintf(buf, len, "%s", str_or(v->leader, "-"));
	else if (strcmp(key, "target") == 0)
		snprintf(buf, len, "%s", str_or(d->target, "-"));
	else if (strcmp(key, "upstream") == 0)
		snprintf(buf, len, "%s", str_or(s->upstream, "nothing"));
	else if (strcmp(key, "peer") == 0)
		snprintf(buf, len, "%s", str_or(c->blocking_peer, "-"));
	else if (strcmp(key, "ahead") == 0)
		snprintf(buf, len, "%s", str_or(c->ahead_name, "-"));
	else if (strcmp(key, "newer_member") == 0)
		snprintf(buf, len, "%s", str_or(c->newer_timeline_member, "-"));
	else if (strcmp(key, "our_lsn") == 0)
		fmt_lsn(c->our_position, buf, len);
	else if (strcmp(key, "ahead_lsn") == 0)
		fmt_lsn(c->ahead_position, buf, len);
	else if (strcmp(key, "last_lsn") == 0)
		fmt_lsn(c->rank.last_lsn, buf, len);
	else if (strcmp(key, "lag") == 0)
		snprintf(buf, len, "%" PRIu64, c->me.lag_bytes);
	else if (strcmp(key, "max_lag") == 0)
		snprintf(buf, len, "%" PRIu64, c->rank.maximum_lag);
	else if (strcmp(key, "our_tl") == 0)
		snprintf(buf, len, "%d", s->pg_timeline);
	else if (strcmp(key, "leader_tl") == 0)
		snprintf(buf, len, "%d", c->leader_timeline);
	else if (strcmp(key, "cluster_tl") == 0)
		snprintf(buf, len, "%d", c->rank.cluster_timeline);
	else if (strcmp(key, "newer_tl") == 0)
		snprintf(buf, len, "%d", c->newer_timeline);
	else if (strcmp(key, "left_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->deadline_left_ms);
	else if (strcmp(key, "past_ms") == 0)
		snprintf(buf, len, "%" PRId64, -c->deadline_left_ms);
	else if (strcmp(key, "stall_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->stall_ms);
	else if (strcmp(key, "stall_limit_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->stall_limit_ms);
	else if (strcmp(key, "down_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->down_ms);
	else if (strcmp(key, "start_timeout_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->primary_start_timeout_ms);
	else if (strcmp(key, "attempts") == 0)
		snprintf(buf, len, "%d", s->restart_attempts);
	else if (strcmp(key, "restart_result") == 0)
		snprintf(buf, len, "%s",
		         s->restart_failed ? "failed" : "still starting");
	else if (strcmp(key, "sysid") == 0)
		snprintf(buf, len, "%" PRIu64, s->system_identifier);
	else if (strcmp(key, "initialize") == 0)
		snprintf(buf, len, "%s", str_or(v->initialize, "-"));
	else if (strcmp(key, "old_lease") == 0)
		snprintf(buf, len, "%" PRIx64, (uint64_t) v->leader_lease);
	else if (strcmp(key, "quorum_seen") == 0)
		snprintf(buf, len, "%d", c->quorum_seen);
	else if (strcmp(key, "quorum_needed") == 0)
		snprintf(buf, len, "%d", c->quorum_needed);
	else if (strcmp(key, "fo_target") == 0)
		snprintf(buf, len, "%s", str_or(c->fo_target, "-"));
	else if (strcmp(key, "swo_target") == 0)
		snprintf(buf, len, "%s", str_or(s->switchover_target, "-"));
	else if (strcmp(key, "swo_step") == 0)
		snprintf(buf, len, "%s",
		         failover_switchover_step_name(s->switchover_step));
	else if (strcmp(key, "fo_refusal") == 0)
		snprintf(buf, len, "%s", str_or(c->fo_refusal, "-"));
	else if (strcmp(key, "released_lease") == 0)
		snprintf(buf, len, "%" PRIx64, (uint64_t) s->released_lease);
	else if (strcmp(key, "released_ago_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->released_ago_ms);
	else if (strcmp(key, "released_candidate") == 0)
		snprintf(buf, len, "%s", str_or(c->released_candidate, "-"));
	else if (strcmp(key, "ttl_ms") == 0)
		snprintf(buf, len, "%" PRId64, c->ttl_ms);
	else if (strcmp(key, "gone") == 0)
	{
		if (c->leader_gone_ms >= 0)
			snprintf(buf, len, " %" PRId64 " ms", c->leader_gone_ms);
		else
			buf[0] = '\0';
	}
	else
		return false;
	return true;
}

/*
 * is_moving_field: a {field} whose text moves on its own in a steady state
 * (a WAL position under load, a duration counting up). The reason's shape
 * leaves them out, so the member key that publishes the reason is not
 * rewritten for every LSN (issue 18); the rest of the text still counts.
 */
static bool
is_moving_field(const char *key)
{
	static const char *const moving[] = {
	    "our_lsn", "ahead_lsn", "last_lsn", "lag",  "left_ms",
	    "past_ms", "stall_ms",  "down_ms",  "gone",
	};

	for (size_t i = 0; i < sizeof(moving) / sizeof(moving[0]); i++)
		if (strcmp(key, moving[i]) == 0)
			return true;
	return false;
}

/* shape_add: FNV-1a over len bytes of s */
static uint32_t
shape_add(uint32_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}

static void
render_reason(const char *tpl, const DecideCtx *c, Decision *d, char *out,
              size_t len)
{
	size_t o = 0;
	const char *p = tpl;
	uint32_t shape = shape_add(2166136261u, d->rule, strlen(d->rule));

	while (*p != '\0' && o + 1 < len)
	{
		const char *e = *p == '{' ? strchr(p, '}') : NULL;

		if (e != NULL && e - p - 1 > 0 && e - p - 1 < 32)
		{
			char key[32];
			char val[PGW_NAME_MAX + 32];

			memcpy(key, p + 1, (size_t) (e - p - 1));
			key[e - p - 1] = '\0';
			if (var_value(key, c, d, val, sizeof(val)))
			{
				for (const char *q = val; *q != '\0' && o + 1 < len; q++)
					out[o++] = *q;
				shape = is_moving_field(key)
				            ? shape_add(shape, key, strlen(key))
				            : shape_add(shape, val, strlen(val));
				p = e + 1;
				continue;
			}
		}
		shape = shape_add(shape, p, 1);
		out[o++] = *p++;
	}
	out[o] = '\0';
	d->reason_shape = shape;
}

/* ---- decide ------------------------------------------------------------- */

static const char *
target_name(const DecideCtx *c, RuleTarget t)
{
	switch (t)
	{
		case TARGET_LEADER:
			return c->has_leader ? c->view->leader : NULL;
		case TARGET_AHEAD:
			return c->ahead_name;
		case TARGET_PEER_PRIMARY:
			return c->blocking_peer;
		case TARGET_FAILOVER:
			return c->fo_target;
		case TARGET_SWITCHOVER:
			return c->self->switchover_target;
		case TARGET_NONE:
			break;
	}
	return NULL;
}

Decision
failover_decide(const ClusterView *view, const LocalHealth *self,
                const PeerStatus *peers, int n_peers, int64_t now_mono_ms)
{
	DecideCtx c;
	Decision d;
	int n;
	const Rule *rules = rules_table(&n);

	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	c.view = view;
	c.self = self;
	c.peers = peers;
	c.n_peers = n_peers;
	c.now_mono_ms = now_mono_ms;
	prepare(&c);

	for (int i = 0; i < n; i++)
	{
		const Rule *r = &rules[i];

		if (!r->pred(&c))
			continue;
		d.kind = r->info.kind;
		d.rule = r->info.name;
		d.rule_number = i + 1;
		copy_name(d.target, target_name(&c, r->target));
		if (!c.bad_input)
		{
			d.demote_mode = DEMOTE_IMMEDIATE;
			d.checkpoint_after_promote = d.kind == DECIDE_PROMOTE;
			d.key_already_held = d.kind == DECIDE_PROMOTE && c.holds_leader;
			d.takeover_from_lease = d.kind == DECIDE_ACQUIRE && c.stale_own_key
			                            ? view->leader_lease
			                            : 0;
			d.adopt_existing_data = d.kind == DECIDE_BOOTSTRAP &&
			                        self->data_dir == DATA_DIR_INITIALIZED;
			d.wal_position = c.our_position;
			d.deadline_left_ms = c.deadline_left_ms;
			render_reason(r->info.reason, &c, &d, d.reason, sizeof(d.reason));
		}
		else
		{
			snprintf(d.reason, sizeof(d.reason), "%s", r->info.reason);
			d.reason_shape =
			    shape_add(shape_add(2166136261u, d.rule, strlen(d.rule)),
			              d.reason, strlen(d.reason));
		}
		return d;
	}

	/* unreachable by construction (the last rows cover every state) */
	d.kind = DECIDE_WAIT;
	d.rule = "no-rule-matched";
	snprintf(d.reason, sizeof(d.reason), "no rule matched; doing nothing");
	d.reason_shape = shape_add(2166136261u, d.rule, strlen(d.rule));
	return d;
}
