/*
 * publisher.c: the rules that decide when members/<name> is written
 * (publisher.h; issue 18). An idle cluster's member keys are never
 * rewritten: every write is replicated by etcd's Raft to each etcd member
 * and fanned out to every watcher of the group, so a write must carry
 * news. Content is news at once; WAL positions are news when a lag decision
 * could tell (a step of maximum_lag_on_failover / 8), or, for the operator's
 * view, when they moved and the key is a ttl old; never more than once a
 * loop.
 */
#include "daemon/publisher.h"

#include <string.h>

uint64_t
publisher_position_step(uint64_t max_lag_bytes)
{
	uint64_t step = max_lag_bytes / 8;

	return step > 0 ? step : 1;
}

static bool
tags_same(const MemberInfo *a, const MemberInfo *b)
{
	if (a->n_tags != b->n_tags || a->nofailover != b->nofailover ||
	    a->noloadbalance != b->noloadbalance || a->nosync != b->nosync ||
	    a->failover_priority != b->failover_priority ||
	    strcmp(a->replicatefrom, b->replicatefrom) != 0)
		return false;
	for (int i = 0; i < a->n_tags && i < PGW_TAGS_MAX; i++)
		if (strcmp(a->tags[i].key, b->tags[i].key) != 0 ||
		    strcmp(a->tags[i].value, b->tags[i].value) != 0)
			return false;
	return true;
}

/* content_same: every field of the value but the WAL positions and the
 * reason's moving numbers */
static bool
content_same(const MemberInfo *a, uint32_t a_shape, const MemberInfo *b,
             uint32_t b_shape)
{
	return a->role == b->role && a->state == b->state &&
	       a->timeline == b->timeline &&
	       a->pending_restart == b->pending_restart && a_shape == b_shape &&
	       strcmp(a->name, b->name) == 0 &&
	       strcmp(a->conn_url, b->conn_url) == 0 &&
	       strcmp(a->api_url, b->api_url) == 0 &&
	       strcmp(a->version, b->version) == 0 && tags_same(a, b) &&
	       !dcs_member_flags_differ(a, b);
}

static uint64_t
distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* moved_by: the largest move of the three positions */
static uint64_t
moved_by(const MemberInfo *a, const MemberInfo *b)
{
	uint64_t d = distance(a->xlog_location, b->xlog_location);
	uint64_t r = distance(a->received_location, b->received_location);
	uint64_t p = distance(a->replayed_location, b->replayed_location);

	if (r > d)
		d = r;
	return p > d ? p : d;
}

MemberWrite
publisher_member_due(const MemberPublisher *p, const MemberInfo *m,
                     uint32_t reason_shape, int64_t lease,
                     const MemberInfo *in_view, bool view_valid,
                     const PublishLimits *lim, int64_t now_mono_ms)
{
	int64_t age;
	uint64_t moved;

	if (!p->has_written)
		return MEMBER_WRITE_FIRST;
	if (p->written_lease != lease)
		return MEMBER_WRITE_LEASE;
	age = now_mono_ms - p->written_mono_ms;
	/*
	 * etcd lost our key (an operator deleted it, a restored etcd): the
	 * view says so once our own write has had a loop to come back on the
	 * watch; until then its absence is only the event still on its way.
	 */
	if (view_valid && age >= lim->loop_wait_ms &&
	    (in_view == NULL || in_view->lease != lease))
		return MEMBER_WRITE_MISSING;
	if (!content_same(m, reason_shape, &p->written, p->written_shape))
		return MEMBER_WRITE_CONTENT;
	moved = moved_by(m, &p->written);
	if (moved == 0 || age < lim->loop_wait_ms)
		return MEMBER_WRITE_NONE;
	if (moved >= publisher_position_step(lim->max_lag_bytes))
		return MEMBER_WRITE_POSITION;
	if (age >= lim->ttl_ms)
		return MEMBER_WRITE_REFRESH;
	return MEMBER_WRITE_NONE;
}

void
publisher_member_written(MemberPublisher *p, const MemberInfo *m,
                         uint32_t reason_shape, int64_t lease,
                         int64_t now_mono_ms)
{
	p->has_written = true;
	p->written = *m;
	p->written_shape = reason_shape;
	p->written_lease = lease;
	p->written_mono_ms = now_mono_ms;
}

void
publisher_member_forget(MemberPublisher *p)
{
	p->has_written = false;
}

const char *
publisher_write_name(MemberWrite w)
{
	switch (w)
	{
		case MEMBER_WRITE_NONE:
			return "none";
		case MEMBER_WRITE_FIRST:
			return "first";
		case MEMBER_WRITE_LEASE:
			return "lease";
		case MEMBER_WRITE_MISSING:
			return "missing";
		case MEMBER_WRITE_CONTENT:
			return "content";
		case MEMBER_WRITE_POSITION:
			return "position";
		case MEMBER_WRITE_REFRESH:
			return "refresh";
	}
	return "?";
}
