/*
 * etcd_watch.c: watches on the client's one Watch stream (DESIGN.md,
 * "Timing model": replicas watch the leader key). Our watch ids are stable;
 * etcd's ids belong to one stream, so each watch is (re-)created on every
 * new stream from its last delivered revision + 1 (notes: "Streams never
 * survive a reconnect"). Creates go one at a time, so etcd's "created"
 * answers map to our watches without ambiguity. A watch canceled by
 * compaction restarts after the current revision and posts
 * ETCD_EVENT_WATCH_RESYNC: events were lost, the owner must re-read.
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EtcdWatch *
find_by_etcd_id(EtcdClient *c, int64_t etcd_id)
{
	for (EtcdWatch *w = c->watches; w; w = w->next)
		if (w->state == WATCH_ACTIVE && w->etcd_id == etcd_id)
			return w;
	return NULL;
}

static EtcdWatch *
find_creating(EtcdClient *c)
{
	for (EtcdWatch *w = c->watches; w; w = w->next)
		if (w->state == WATCH_CREATING)
			return w;
	return NULL;
}

static void
watch_unlink_free(EtcdClient *c, EtcdWatch *w)
{
	for (EtcdWatch **pp = &c->watches; *pp; pp = &(*pp)->next)
	{
		if (*pp == w)
		{
			*pp = w->next;
			break;
		}
	}
	free(w->key);
	free(w);
}

void
etcd_watch_free_all(EtcdClient *c)
{
	while (c->watches)
		watch_unlink_free(c, c->watches);
}

static void
send_cancel_locked(EtcdClient *c, int64_t etcd_id)
{
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCancelRequest cr =
	    ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;

	if (c->watch_stream == NULL)
		return;
	cr.watch_id = etcd_id;
	req.request_union_case =
	    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
	req.cancel_request = &cr;
	etcd_stream_send_locked(c->watch_stream, etcd_pack(&req.base), 0, false);
}

/* create_next_locked: send the create of the next pending watch, if none is
 * in flight. */
static void
create_next_locked(EtcdClient *c)
{
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr =
	    ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	char end_buf[1024];
	char *end = end_buf;
	EtcdWatch *w;

	if (c->watch_stream == NULL || find_creating(c) != NULL)
		return;
	for (w = c->watches; w; w = w->next)
		if (w->state == WATCH_PENDING)
			break;
	if (w == NULL)
		return;
	cr.key.data = (uint8_t *) w->key;
	cr.key.len = w->key_len;
	if (w->prefix)
	{
		if (w->key_len + 1 > sizeof(end_buf))
			end = pgw_xmalloc(w->key_len + 1);
		cr.range_end.len = etcd_prefix_range_end(w->key, w->key_len, end);
		cr.range_end.data = (uint8_t *) end;
	}
	cr.start_revision =
	    w->last_revision >= 0 ? w->last_revision + 1 : w->start_revision;
	req.request_union_case =
	    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	w->state = WATCH_CREATING;
	etcd_stream_send_locked(c->watch_stream, etcd_pack(&req.base), 0, false);
	if (end != end_buf)
		free(end);
}

static void
post_watch_event(EtcdClient *c, EtcdWatch *w, const Etcdserverpb__Event *e)
{
	EtcdEvent ev = {0};

	ev.type = e->type == ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE
	              ? ETCD_EVENT_WATCH_DELETE
	              : ETCD_EVENT_WATCH_PUT;
	ev.watch_id = w->id;
	etcd_kv_copy(&ev.kv, e->kv);
	ev.revision = ev.kv.mod_revision;
	if (ev.revision > w->last_revision)
		w->last_revision = ev.revision;
	etcd_post_event_locked(c, &ev);
}

void
etcd_watch_on_message_locked(EtcdClient *c, EtcdStream *s,
                             grpc_byte_buffer *buf)
{
	Etcdserverpb__WatchResponse *r;
	int64_t hdr_rev;
	EtcdWatch *w;
	char msg[256];

	r = (Etcdserverpb__WatchResponse *) etcd_unpack(
	    buf, &etcdserverpb__watch_response__descriptor);
	if (r == NULL)
	{
		etcd_stream_break_locked(s, PGW_EBADRESPONSE,
		                         "undecodable WatchResponse");
		return;
	}
	hdr_rev = r->header ? r->header->revision : 0;
	/* any message proves the stream alive, a progress answer included
	 * (etcd 3.4 sends it with watch_id -1 and only a header) */
	c->watch_heard_mono_ms = pgw_now_mono_ms();
	if (hdr_rev > c->watch_heard_rev)
		c->watch_heard_rev = hdr_rev;
	c->watch_progress_sent_mono_ms = 0;
	if (r->created)
	{
		w = find_creating(c);
		if (w == NULL)
		{
			snprintf(msg, sizeof(msg),
			         "unexpected \"created\" for etcd watch %" PRId64,
			         r->watch_id);
			etcdserverpb__watch_response__free_unpacked(r, NULL);
			etcd_stream_break_locked(s, PGW_EBADRESPONSE, msg);
			return;
		}
		if (r->canceled)
		{
			EtcdEvent ev = {0};

			/* etcd refused the watch (permission, bad range): give up on it */
			ev.type = ETCD_EVENT_STREAM_ERROR;
			ev.watch_id = w->id;
			snprintf(ev.msg, sizeof(ev.msg), "etcd refused watch on %.100s: %s",
			         w->key, r->cancel_reason ? r->cancel_reason : "");
			etcd_post_event_locked(c, &ev);
			watch_unlink_free(c, w);
		}
		else
		{
			w->state = WATCH_ACTIVE;
			w->etcd_id = r->watch_id;
			if (w->last_revision < 0 && w->start_revision == 0)
				w->last_revision = hdr_rev;
			if (w->cancel_requested)
			{
				send_cancel_locked(c, w->etcd_id);
				watch_unlink_free(c, w);
			}
		}
		create_next_locked(c);
	}
	w = find_by_etcd_id(c, r->watch_id);
	if (w != NULL && r->n_events > 0)
	{
		for (size_t i = 0; i < r->n_events; i++)
			post_watch_event(c, w, r->events[i]);
	}
	if (w != NULL && r->canceled && !r->created)
	{
		if (r->compact_revision > 0)
		{
			EtcdEvent ev = {0};

			/*
			 * etcd 3.4 sends this without a header revision; the oldest
			 * revision it still has is compact_revision, so the watch
			 * restarts there (events from then on are replayed; older ones
			 * are gone, hence the resync).
			 */
			int64_t restart = hdr_rev > r->compact_revision
			                      ? hdr_rev + 1
			                      : r->compact_revision;

			ev.type = ETCD_EVENT_WATCH_RESYNC;
			ev.watch_id = w->id;
			ev.revision = restart;
			snprintf(ev.msg, sizeof(ev.msg),
			         "watch on %.100s lost events: revision %" PRId64
			         " is compacted (oldest kept %" PRId64
			         "); restarted at %" PRId64,
			         w->key, w->last_revision + 1, r->compact_revision,
			         restart);
			etcd_post_event_locked(c, &ev);
			w->last_revision = restart - 1;
		}
		/* canceled by etcd: create again (from last revision + 1) */
		w->state = WATCH_PENDING;
		create_next_locked(c);
	}
	etcdserverpb__watch_response__free_unpacked(r, NULL);
}

void
etcd_watch_on_broken_locked(EtcdClient *c, int code, const char *msg)
{
	(void) code;
	(void) msg;
	for (EtcdWatch *w = c->watches; w; w = w->next)
		w->state = WATCH_PENDING;
	/* cancels asked for while creating are done: the stream is gone */
	for (EtcdWatch *w = c->watches, *next; w; w = next)
	{
		next = w->next;
		if (w->cancel_requested)
			watch_unlink_free(c, w);
	}
	c->watch_retry_mono_ms = pgw_now_mono_ms() + ETCD_STREAM_RETRY_MS;
}

/* all_active: every watch is created on the current stream */
static bool
all_active(EtcdClient *c)
{
	for (EtcdWatch *w = c->watches; w; w = w->next)
		if (w->state != WATCH_ACTIVE)
			return false;
	return c->watches != NULL;
}

/*
 * watch_liveness_locked: a watch that silently stops delivering (a member
 * that lost its raft peers without closing our connection, a path that
 * stopped forwarding one way) would leave the owner's view stale without a
 * sign, since the owner no longer polls (issue 18). When the stream has
 * been silent for watch_progress_ms we ask for progress (WatchProgressRequest:
 * etcd answers with its current revision at once, no read, no raft); no
 * answer within watch_progress_ms more and the stream is stalled: the
 * owner is told to re-read (ETCD_EVENT_WATCH_RESYNC), the connection is
 * replaced, and the watch is re-created from its last revision + 1.
 */
static void
watch_liveness_locked(EtcdClient *c, int64_t now_ms)
{
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchProgressRequest pr =
	    ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;

	if (c->watch_progress_ms <= 0 || c->watch_stream == NULL || !all_active(c))
		return;
	if (c->watch_progress_sent_mono_ms != 0)
	{
		EtcdEvent ev = {0};
		int idx = c->watch_stream->endpoint;

		if (now_ms - c->watch_progress_sent_mono_ms < c->watch_progress_ms)
			return;
		c->watch_stalls++;
		ev.type = ETCD_EVENT_WATCH_RESYNC;
		snprintf(
		    ev.msg, sizeof(ev.msg),
		    "watch stream on %s stalled: silent for %" PRId64
		    " ms and no answer to a progress request within %d ms; reconnecting and re-reading",
		    c->chans[idx].ep.target, now_ms - c->watch_heard_mono_ms,
		    c->watch_progress_ms);
		c->watch_progress_sent_mono_ms = 0;
		etcd_post_event_locked(c, &ev);
		etcd_channel_reset_locked(c, idx, "the watch stream stalled");
		return;
	}
	/* due, or half due while a keepalive goes out in this same wake: the
	 * two round trips then share the thread's wakes */
	if (now_ms - c->watch_heard_mono_ms < c->watch_progress_ms &&
	    !(c->ka_sent_this_tick &&
	      now_ms - c->watch_heard_mono_ms >= c->watch_progress_ms / 2))
		return;
	req.request_union_case =
	    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	req.progress_request = &pr;
	c->watch_progress_sent_mono_ms = now_ms;
	etcd_stream_send_locked(c->watch_stream, etcd_pack(&req.base), 0, false);
}

void
etcd_watch_tick_locked(EtcdClient *c, int64_t now_ms)
{
	if (c->watch_stream != NULL)
		watch_liveness_locked(c, now_ms);
	if (c->watches == NULL || c->watch_stream != NULL)
		return;
	if (now_ms < c->watch_retry_mono_ms)
		return;
	if (c->username && c->chans[etcd_pick_endpoint_locked(c)].token[0] == '\0')
	{
		int idx = c->cur;
		int rc;

		pthread_mutex_unlock(&c->mu);
		rc = etcd_auth_ensure(c, idx, c->call_timeout_ms, NULL);
		pthread_mutex_lock(&c->mu);
		if (rc != 0)
		{
			c->watch_retry_mono_ms = pgw_now_mono_ms() + ETCD_STREAM_RETRY_MS;
			if (c->cur == idx)
				c->cur = (idx + 1) % c->n_chans;
			return;
		}
		if (c->is_closing || c->watch_stream || c->watches == NULL)
			return;
	}
	c->watch_stream = etcd_stream_open_locked(c, STREAM_WATCH, NULL);
	if (c->watch_stream == NULL)
	{
		c->watch_retry_mono_ms = now_ms + ETCD_STREAM_RETRY_MS;
		return;
	}
	c->watch_heard_mono_ms = now_ms;
	c->watch_progress_sent_mono_ms = 0;
	create_next_locked(c);
}

/* etcd_watch_next_tick_locked: when etcd_watch_tick_locked has work next
 * (INT64_MAX: none) */
int64_t
etcd_watch_next_tick_locked(EtcdClient *c)
{
	if (c->watches == NULL)
		return INT64_MAX;
	if (c->watch_stream == NULL)
		return c->watch_retry_mono_ms;
	if (c->watch_progress_ms <= 0 || !all_active(c))
		return INT64_MAX;
	if (c->watch_progress_sent_mono_ms != 0)
		return c->watch_progress_sent_mono_ms + c->watch_progress_ms;
	return c->watch_heard_mono_ms + c->watch_progress_ms;
}

void
etcd_watch_set_progress(EtcdClient *c, int interval_ms)
{
	pthread_mutex_lock(&c->mu);
	c->watch_progress_ms = interval_ms > 0 ? interval_ms : 0;
	pthread_mutex_unlock(&c->mu);
}

bool
etcd_watch_live(EtcdClient *c, int64_t max_silence_ms, int64_t *revision_out)
{
	bool live;
	int64_t now = pgw_now_mono_ms();

	pthread_mutex_lock(&c->mu);
	live = c->watch_stream != NULL && all_active(c) &&
	       now - c->watch_heard_mono_ms <= max_silence_ms;
	if (revision_out)
		*revision_out = c->watch_heard_rev;
	pthread_mutex_unlock(&c->mu);
	return live;
}

uint64_t
etcd_watch_stalls(EtcdClient *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->mu);
	n = c->watch_stalls;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int
etcd_watch_start(EtcdClient *c, const char *key, bool prefix,
                 int64_t start_revision, int64_t *watch_id_out, PgwError *err)
{
	EtcdWatch *w;

	if (watch_id_out)
		*watch_id_out = 0;
	if (key == NULL || start_revision < 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "could not watch: no key or a negative start revision");
	w = pgw_xcalloc(1, sizeof(*w));
	w->key = pgw_xstrdup(key);
	w->key_len = strlen(key);
	w->prefix = prefix;
	w->start_revision = start_revision;
	w->last_revision = start_revision > 0 ? start_revision - 1 : -1;
	w->state = WATCH_PENDING;
	pthread_mutex_lock(&c->mu);
	w->id = c->next_watch_id++;
	/* append: creates go in the order asked */
	{
		EtcdWatch **pp = &c->watches;

		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
	}
	if (watch_id_out)
		*watch_id_out = w->id;
	if (c->watch_stream)
		create_next_locked(c);
	else
	{
		/* open the stream now, not at the CQ thread's next wake */
		c->watch_retry_mono_ms = 0;
		etcd_watch_tick_locked(c, pgw_now_mono_ms());
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int
etcd_watch_cancel(EtcdClient *c, int64_t watch_id, PgwError *err)
{
	EtcdWatch *w;

	pthread_mutex_lock(&c->mu);
	for (w = c->watches; w; w = w->next)
		if (w->id == watch_id && !w->cancel_requested)
			break;
	if (w == NULL)
	{
		pthread_mutex_unlock(&c->mu);
		return pgw_error_set(
		    err, PGW_ENOTFOUND,
		    "could not cancel watch %" PRId64 ": no such watch", watch_id);
	}
	switch (w->state)
	{
		case WATCH_ACTIVE:
			send_cancel_locked(c, w->etcd_id);
			watch_unlink_free(c, w);
			break;
		case WATCH_CREATING:
			w->cancel_requested = true; /* canceled when "created" comes */
			break;
		case WATCH_PENDING:
			watch_unlink_free(c, w);
			break;
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}
