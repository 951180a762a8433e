/*
 * etcd_lease.c: leases (DESIGN.md promise 1, "one writer"). Grant, Revoke
 * and TimeToLive are unary calls; keepalives go over ONE long-lived
 * LeaseKeepAlive stream shared by the synchronous etcd_lease_keepalive_once
 * and the background keepalive of the CQ thread. etcd answers a stream's
 * requests in order, so replies are matched to a FIFO of requests, each
 * stamped with the monotonic time it was handed to gRPC: the fencing
 * deadline is measured from that send time, never from the reply.
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
etcd_lease_grant(EtcdClient *c, int64_t ttl_s, int64_t *id_out,
                 int64_t *ttl_out, PgwError *err)
{
	Etcdserverpb__LeaseGrantRequest req =
	    ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	Etcdserverpb__LeaseGrantResponse *resp = NULL;
	char what[64];
	int rc;

	*id_out = 0;
	if (ttl_out)
		*ttl_out = 0;
	if (ttl_s <= 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "could not grant lease: TTL %" PRId64 " s is not positive", ttl_s);
	req.ttl = ttl_s;
	snprintf(what, sizeof(what), "grant lease of %" PRId64 " s", ttl_s);
	rc = etcd_unary(c, "/etcdserverpb.Lease/LeaseGrant", &req.base,
	                &etcdserverpb__lease_grant_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	if (rc != 0)
		return rc;
	if (resp->error && resp->error[0])
		rc = pgw_error_set(err, PGW_EIO, "could not %s on %s: %s", what,
		                   etcd_client_endpoint(c), resp->error);
	else if (resp->id == 0)
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "could not %s on %s: etcd answered lease id 0", what,
		                   etcd_client_endpoint(c));
	else
	{
		*id_out = resp->id;
		if (ttl_out)
			*ttl_out = resp->ttl;
	}
	etcdserverpb__lease_grant_response__free_unpacked(resp, NULL);
	return rc;
}

int
etcd_lease_revoke(EtcdClient *c, int64_t id, PgwError *err)
{
	Etcdserverpb__LeaseRevokeRequest req =
	    ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	Etcdserverpb__LeaseRevokeResponse *resp = NULL;
	char what[64];
	int rc;

	req.id = id;
	snprintf(what, sizeof(what), "revoke lease %" PRIx64, (uint64_t) id);
	rc = etcd_unary(c, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
	                &etcdserverpb__lease_revoke_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	if (rc != 0)
		return rc;
	etcdserverpb__lease_revoke_response__free_unpacked(resp, NULL);
	return 0;
}

int
etcd_lease_ttl(EtcdClient *c, int64_t id, int64_t *ttl_out,
               int64_t *granted_ttl_out, PgwError *err)
{
	Etcdserverpb__LeaseTimeToLiveRequest req =
	    ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	Etcdserverpb__LeaseTimeToLiveResponse *resp = NULL;
	char what[64];
	int rc;

	req.id = id;
	snprintf(what, sizeof(what), "read TTL of lease %" PRIx64, (uint64_t) id);
	rc = etcd_unary(c, "/etcdserverpb.Lease/LeaseTimeToLive", &req.base,
	                &etcdserverpb__lease_time_to_live_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	if (rc != 0)
		return rc;
	if (ttl_out)
		*ttl_out = resp->ttl <= 0 ? -1 : resp->ttl;
	if (granted_ttl_out)
		*granted_ttl_out = resp->grantedttl;
	etcdserverpb__lease_time_to_live_response__free_unpacked(resp, NULL);
	return 0;
}

/* ------------------------------------------------------------------------
 * The keepalive stream (CQ-thread side; c->mu held)
 * ------------------------------------------------------------------------ */

static void
queue_keepalive_locked(EtcdClient *c, int64_t id, bool is_sync)
{
	Etcdserverpb__LeaseKeepAliveRequest req =
	    ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;

	req.id = id;
	etcd_stream_send_locked(c->lease_stream, etcd_pack(&req.base), id, is_sync);
}

void
etcd_lease_on_message_locked(EtcdClient *c, EtcdStream *s,
                             grpc_byte_buffer *buf)
{
	Etcdserverpb__LeaseKeepAliveResponse *resp;
	EtcdInflight *in = s->inflight_head;

	resp = (Etcdserverpb__LeaseKeepAliveResponse *) etcd_unpack(
	    buf, &etcdserverpb__lease_keep_alive_response__descriptor);
	if (resp == NULL)
	{
		etcd_stream_break_locked(s, PGW_EBADRESPONSE,
		                         "undecodable LeaseKeepAliveResponse");
		return;
	}
	if (in == NULL || in->lease_id != resp->id)
	{
		char msg[160];

		snprintf(msg, sizeof(msg),
		         "unexpected keepalive answer for lease %" PRIx64
		         " (expected %" PRIx64 ")",
		         (uint64_t) resp->id, in ? (uint64_t) in->lease_id : 0);
		etcdserverpb__lease_keep_alive_response__free_unpacked(resp, NULL);
		etcd_stream_break_locked(s, PGW_EBADRESPONSE, msg);
		return;
	}
	s->inflight_head = in->next;
	if (s->inflight_head == NULL)
		s->inflight_tail = NULL;
	etcd_stats_contact(c);

	if (in->is_sync)
	{
		if (c->waiter.is_active && !c->waiter.is_done &&
		    c->waiter.lease_id == in->lease_id)
		{
			c->waiter.is_done = true;
			c->waiter.ttl_s = resp->ttl;
			c->waiter.sent_mono_ms = in->sent_mono_ms;
			c->waiter.rc = resp->ttl > 0 ? 0 : PGW_ENOTFOUND;
			if (resp->ttl <= 0)
				snprintf(c->waiter.msg, sizeof(c->waiter.msg),
				         "lease %" PRIx64 " is gone (etcd answered TTL %" PRId64
				         ")",
				         (uint64_t) in->lease_id, resp->ttl);
			pthread_cond_broadcast(&c->cond);
		}
	}
	else if (c->ka_id == in->lease_id)
	{
		EtcdEvent ev = {0};

		ev.lease_id = in->lease_id;
		ev.ttl_s = resp->ttl;
		ev.sent_mono_ms = in->sent_mono_ms;
		if (resp->ttl > 0)
		{
			c->ka_last_id = in->lease_id;
			c->ka_last_ttl = resp->ttl;
			c->ka_last_sent_mono_ms = in->sent_mono_ms;
			/* an observer is told instead of the owner: a confirmation
			 * every keepalive interval need not wake the owner's loop */
			if (c->ka_observer != NULL)
				c->ka_observer(c->ka_observer_arg, in->lease_id, resp->ttl,
				               in->sent_mono_ms);
			else
			{
				ev.type = ETCD_EVENT_KEEPALIVE;
				etcd_post_event_locked(c, &ev);
			}
		}
		else if (!c->ka_lost_posted)
		{
			c->ka_lost_posted = true;
			ev.type = ETCD_EVENT_LEASE_LOST;
			snprintf(ev.msg, sizeof(ev.msg),
			         "lease %" PRIx64 " is gone (etcd answered TTL %" PRId64
			         ")",
			         (uint64_t) in->lease_id, resp->ttl);
			etcd_post_event_locked(c, &ev);
		}
	}
	free(in);
	etcdserverpb__lease_keep_alive_response__free_unpacked(resp, NULL);
}

void
etcd_lease_on_broken_locked(EtcdClient *c, int code, const char *msg)
{
	if (c->waiter.is_active && !c->waiter.is_done)
	{
		c->waiter.is_done = true;
		c->waiter.rc = code == PGW_EBADRESPONSE || code == PGW_ECANCELED ||
		                       code == PGW_EAUTH
		                   ? code
		                   : PGW_EUNAVAILABLE;
		snprintf(c->waiter.msg, sizeof(c->waiter.msg), "%s", msg);
		pthread_cond_broadcast(&c->cond);
	}
	c->lease_retry_mono_ms = pgw_now_mono_ms() + ETCD_STREAM_RETRY_MS;
	/* renew as soon as the new stream is up */
	if (c->ka_id)
		c->ka_next_mono_ms = 0;
}

/*
 * oldest_inflight_ms: age of the oldest unanswered keepalive, 0 if none.
 * A stream whose answers stall (member frozen or partitioned) is abandoned
 * before gRPC's own keepalive would notice (13 s), so that renewals move to
 * another member while the lease still runs.
 */
static int64_t
oldest_inflight_ms(EtcdClient *c, int64_t now)
{
	EtcdStream *s = c->lease_stream;

	if (s == NULL || s->inflight_head == NULL)
		return 0;
	return now - s->inflight_head->sent_mono_ms;
}

void
etcd_lease_tick_locked(EtcdClient *c, int64_t now_ms)
{
	int limit_ms;

	if (c->ka_id == 0)
		return;
	limit_ms = c->call_timeout_ms / c->n_chans;
	if (limit_ms < ETCD_ATTEMPT_FLOOR_MS)
		limit_ms = ETCD_ATTEMPT_FLOOR_MS;
	if (c->lease_stream && oldest_inflight_ms(c, now_ms) > limit_ms)
	{
		char msg[96];

		snprintf(msg, sizeof(msg), "no keepalive answer for %d ms",
		         (int) oldest_inflight_ms(c, now_ms));
		etcd_stream_break_locked(c->lease_stream, PGW_ETIMEDOUT, msg);
	}
	if (c->lease_stream == NULL)
	{
		if (now_ms < c->lease_retry_mono_ms)
			return;
		if (c->username &&
		    c->chans[etcd_pick_endpoint_locked(c)].token[0] == '\0')
		{
			int idx = c->cur;
			int rc;

			/* authenticate without holding the lock */
			pthread_mutex_unlock(&c->mu);
			rc = etcd_auth_ensure(c, idx, c->call_timeout_ms, NULL);
			pthread_mutex_lock(&c->mu);
			if (rc != 0)
			{
				c->lease_retry_mono_ms =
				    pgw_now_mono_ms() + ETCD_STREAM_RETRY_MS;
				if (c->cur == idx)
					c->cur = (idx + 1) % c->n_chans;
				return;
			}
			if (c->is_closing || c->lease_stream || c->ka_id == 0)
				return;
		}
		c->lease_stream = etcd_stream_open_locked(c, STREAM_LEASE, NULL);
		if (c->lease_stream == NULL)
		{
			c->lease_retry_mono_ms = now_ms + ETCD_STREAM_RETRY_MS;
			return;
		}
	}
	if (now_ms >= c->ka_next_mono_ms)
	{
		/* skip a beat rather than pile requests behind a stalled one */
		if (c->lease_stream->inflight_head == NULL ||
		    oldest_inflight_ms(c, now_ms) < c->ka_interval_ms)
		{
			queue_keepalive_locked(c, c->ka_id, false);
			c->ka_sent_this_tick = true;
		}
		c->ka_next_mono_ms = now_ms + c->ka_interval_ms;
	}
}

/* etcd_lease_next_tick_locked: when etcd_lease_tick_locked has work next
 * (INT64_MAX: none) */
int64_t
etcd_lease_next_tick_locked(EtcdClient *c)
{
	int64_t next = INT64_MAX;
	int limit_ms;

	if (c->ka_id == 0)
		return next;
	if (c->lease_stream == NULL)
		return c->lease_retry_mono_ms;
	next = c->ka_next_mono_ms;
	if (c->lease_stream->inflight_head != NULL)
	{
		limit_ms = c->call_timeout_ms / c->n_chans;
		if (limit_ms < ETCD_ATTEMPT_FLOOR_MS)
			limit_ms = ETCD_ATTEMPT_FLOOR_MS;
		if (c->lease_stream->inflight_head->sent_mono_ms + limit_ms + 1 < next)
			next = c->lease_stream->inflight_head->sent_mono_ms + limit_ms + 1;
	}
	return next;
}

/* ------------------------------------------------------------------------
 * Owner side
 * ------------------------------------------------------------------------ */

int
etcd_lease_keepalive_once(EtcdClient *c, int64_t id, int timeout_ms,
                          int64_t *ttl_out, int64_t *sent_mono_ms,
                          PgwError *err)
{
	int64_t deadline;
	int rc = 0;
	char msg[300] = "";

	if (ttl_out)
		*ttl_out = 0;
	if (sent_mono_ms)
		*sent_mono_ms = 0;
	if (timeout_ms <= 0)
		timeout_ms = c->call_timeout_ms;
	deadline = pgw_now_mono_ms() + timeout_ms;
	for (;;)
	{
		int64_t now = pgw_now_mono_ms();
		struct timespec ts;

		if (now >= deadline)
		{
			if (rc == 0)
			{
				rc = PGW_ETIMEDOUT;
				snprintf(msg, sizeof(msg), "no answer within %d ms on %s",
				         timeout_ms, etcd_client_endpoint(c));
			}
			break;
		}
		if (c->username)
		{
			int idx;

			pthread_mutex_lock(&c->mu);
			idx = etcd_pick_endpoint_locked(c);
			pthread_mutex_unlock(&c->mu);
			rc = etcd_auth_ensure(c, idx, (int) (deadline - now), err);
			if (rc == PGW_EAUTH)
				return rc;
			if (rc != 0)
			{
				snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
				pthread_mutex_lock(&c->mu);
				if (c->cur == idx)
					c->cur = (idx + 1) % c->n_chans;
				pthread_mutex_unlock(&c->mu);
				pgw_sleep_ms(50);
				continue;
			}
		}
		pthread_mutex_lock(&c->mu);
		if (c->is_closing)
		{
			pthread_mutex_unlock(&c->mu);
			return pgw_error_set(err, PGW_ECANCELED,
			                     "could not keep lease %" PRIx64
			                     " alive: client closing",
			                     (uint64_t) id);
		}
		if (c->lease_stream == NULL)
			c->lease_stream = etcd_stream_open_locked(c, STREAM_LEASE, err);
		if (c->lease_stream == NULL)
		{
			pthread_mutex_unlock(&c->mu);
			return err ? err->code : PGW_EINTERNAL;
		}
		memset(&c->waiter, 0, sizeof(c->waiter));
		c->waiter.is_active = true;
		c->waiter.lease_id = id;
		queue_keepalive_locked(c, id, true);
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
		while (!c->waiter.is_done)
		{
			int64_t left = deadline - pgw_now_mono_ms();
			struct timespec abs;

			if (left <= 0)
				break;
			clock_gettime(CLOCK_REALTIME, &abs);
			abs.tv_sec += left / 1000;
			abs.tv_nsec += (left % 1000) * 1000000L;
			if (abs.tv_nsec >= 1000000000L)
			{
				abs.tv_sec++;
				abs.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->cond, &c->mu, &abs);
		}
		(void) ts;
		c->waiter.is_active = false;
		if (!c->waiter.is_done)
		{
			/* the member does not answer: abandon this stream */
			rc = PGW_ETIMEDOUT;
			snprintf(
			    msg, sizeof(msg), "no answer within %d ms on %s", timeout_ms,
			    c->chans[c->lease_stream ? c->lease_stream->endpoint : c->cur]
			        .ep.target);
			if (c->lease_stream)
				etcd_stream_break_locked(c->lease_stream, PGW_ETIMEDOUT,
				                         "keepalive answer timed out");
			pthread_mutex_unlock(&c->mu);
			break;
		}
		rc = c->waiter.rc;
		snprintf(msg, sizeof(msg), "%s", c->waiter.msg);
		if (rc == 0)
		{
			if (ttl_out)
				*ttl_out = c->waiter.ttl_s;
			if (sent_mono_ms)
				*sent_mono_ms = c->waiter.sent_mono_ms;
		}
		else if (rc == PGW_ENOTFOUND && ttl_out)
			*ttl_out = c->waiter.ttl_s;
		pthread_mutex_unlock(&c->mu);
		if (rc != PGW_EUNAVAILABLE)
			break;
		/* the stream broke: retry on the next member while time remains */
		pgw_sleep_ms(20);
	}
	if (rc == 0)
		return 0;
	return pgw_error_set(err, rc, "could not keep lease %" PRIx64 " alive: %s",
	                     (uint64_t) id, msg);
}

int
etcd_lease_keepalive_start(EtcdClient *c, int64_t id, int interval_ms,
                           PgwError *err)
{
	if (id == 0 || interval_ms <= 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "could not start keepalive: lease %" PRIx64
		                     " / interval %d ms",
		                     (uint64_t) id, interval_ms);
	pthread_mutex_lock(&c->mu);
	c->ka_id = id;
	c->ka_interval_ms = interval_ms;
	c->ka_next_mono_ms = 0;
	c->ka_lost_posted = false;
	if (c->ka_last_id != id)
	{
		c->ka_last_id = 0;
		c->ka_last_ttl = 0;
		c->ka_last_sent_mono_ms = 0;
	}
	/* the first request now, not at the CQ thread's next wake */
	c->lease_retry_mono_ms = 0;
	etcd_lease_tick_locked(c, pgw_now_mono_ms());
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void
etcd_lease_keepalive_stop(EtcdClient *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->ka_id = 0;
	pthread_mutex_unlock(&c->mu);
}

void
etcd_lease_keepalive_observe(EtcdClient *c, EtcdKeepaliveObserver fn, void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->ka_observer = fn;
	c->ka_observer_arg = arg;
	pthread_mutex_unlock(&c->mu);
}

bool
etcd_lease_keepalive_last(EtcdClient *c, int64_t id, int64_t *ttl_out,
                          int64_t *sent_mono_ms)
{
	bool found;

	pthread_mutex_lock(&c->mu);
	found = c->ka_last_id == id && id != 0 && c->ka_last_ttl > 0;
	if (ttl_out)
		*ttl_out = found ? c->ka_last_ttl : 0;
	if (sent_mono_ms)
		*sent_mono_ms = found ? c->ka_last_sent_mono_ms : 0;
	pthread_mutex_unlock(&c->mu);
	return found;
}
