/*
 * etcd_stream.c: the bidirectional streams (LeaseKeepAlive, Watch) on the
 * client's next-CQ, driven by the CQ thread (etcd_client.c, "Threading
 * model"). Each stream keeps at most one SEND_MESSAGE and one RECV_MESSAGE
 * batch outstanding (notes pitfall 5) and arms RECV_STATUS_ON_CLIENT at
 * start, so it learns however it dies. A broken stream is detached from the
 * client at once and freed when its last batch completes; the lease and
 * watch layers reopen a new one on their next tick.
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

static void
stream_free(EtcdStream *s)
{
	EtcdSendItem *it;
	EtcdInflight *in;

	while ((it = s->sendq_head) != NULL)
	{
		s->sendq_head = it->next;
		grpc_byte_buffer_destroy(it->buf);
		free(it);
	}
	while ((in = s->inflight_head) != NULL)
	{
		s->inflight_head = in->next;
		free(in);
	}
	if (s->send_buf)
		grpc_byte_buffer_destroy(s->send_buf);
	if (s->recv_buf)
		grpc_byte_buffer_destroy(s->recv_buf);
	for (size_t i = 0; i < s->n_send_md; i++)
		grpc_slice_unref(s->send_md[i].value);
	grpc_metadata_array_destroy(&s->md_initial);
	grpc_metadata_array_destroy(&s->md_trailing);
	grpc_slice_unref(s->status_details);
	if (s->error_string)
		gpr_free((void *) s->error_string);
	if (s->call)
		grpc_call_unref(s->call);
	free(s);
}

static void
arm_recv(EtcdStream *s)
{
	grpc_op ops[2];
	size_t n = 0;

	if (s->is_broken || s->recv_busy)
		return;
	memset(ops, 0, sizeof(ops));
	if (!s->got_first_msg)
	{
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n].data.recv_initial_metadata.recv_initial_metadata =
		    &s->md_initial;
		n++;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n].data.recv_message.recv_message = &s->recv_buf;
	n++;
	if (grpc_call_start_batch(s->call, ops, n, &s->tag_recv, NULL) !=
	    GRPC_CALL_OK)
	{
		etcd_stream_break_locked(s, PGW_EINTERNAL,
		                         "could not start a receive on the stream");
		return;
	}
	s->got_first_msg = true;
	s->recv_busy = true;
	s->pending++;
}

static void
try_send(EtcdStream *s)
{
	EtcdSendItem *it;
	grpc_op op;

	if (s->is_broken || s->send_busy || (it = s->sendq_head) == NULL)
		return;
	s->sendq_head = it->next;
	if (s->sendq_head == NULL)
		s->sendq_tail = NULL;
	s->send_buf = it->buf;
	if (s->kind == STREAM_LEASE)
	{
		EtcdInflight *in = pgw_xcalloc(1, sizeof(*in));

		/* the fencing clock starts now, when gRPC gets the request */
		in->lease_id = it->lease_id;
		in->is_sync = it->is_sync;
		in->sent_mono_ms = pgw_now_mono_ms();
		if (s->inflight_tail)
			s->inflight_tail->next = in;
		else
			s->inflight_head = in;
		s->inflight_tail = in;
	}
	free(it);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = s->send_buf;
	if (grpc_call_start_batch(s->call, &op, 1, &s->tag_send, NULL) !=
	    GRPC_CALL_OK)
	{
		etcd_stream_break_locked(s, PGW_EINTERNAL,
		                         "could not start a send on the stream");
		return;
	}
	s->send_busy = true;
	s->pending++;
}

EtcdStream *
etcd_stream_open_locked(EtcdClient *c, EtcdStreamKind kind, PgwError *err)
{
	int idx = etcd_pick_endpoint_locked(c);
	EtcdChannel *ch = &c->chans[idx];
	const char *method = kind == STREAM_LEASE
	                         ? "/etcdserverpb.Lease/LeaseKeepAlive"
	                         : "/etcdserverpb.Watch/Watch";
	EtcdStream *s;
	grpc_op ops[2];

	s = pgw_xcalloc(1, sizeof(*s));
	s->c = c;
	s->kind = kind;
	s->endpoint = idx;
	s->tag_send.kind = TAG_SEND;
	s->tag_send.owner = s;
	s->tag_recv.kind = TAG_RECV;
	s->tag_recv.owner = s;
	s->tag_status.kind = TAG_STATUS;
	s->tag_status.owner = s;
	s->status_details = grpc_empty_slice();
	grpc_metadata_array_init(&s->md_initial);
	grpc_metadata_array_init(&s->md_trailing);
	/* a stream lives until it breaks: infinite deadline (pitfall 4) */
	s->call =
	    grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
	                             grpc_slice_from_static_string(method), NULL,
	                             gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (s->call == NULL)
	{
		stream_free(s);
		pgw_error_set(err, PGW_EINTERNAL, "could not create a %s stream on %s",
		              kind == STREAM_LEASE ? "keepalive" : "watch",
		              ch->ep.target);
		return NULL;
	}
	if (ch->token[0])
	{
		s->send_md[s->n_send_md].key = grpc_slice_from_static_string("token");
		s->send_md[s->n_send_md].value =
		    grpc_slice_from_copied_string(ch->token);
		s->n_send_md++;
	}
	if (kind == STREAM_WATCH)
	{
		/* clientv3's WithRequireLeader: fail the stream if etcd has no leader */
		s->send_md[s->n_send_md].key =
		    grpc_slice_from_static_string("hasleader");
		s->send_md[s->n_send_md].value = grpc_slice_from_static_string("true");
		s->n_send_md++;
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = s->n_send_md;
	ops[0].data.send_initial_metadata.metadata = s->send_md;
	ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[1].data.recv_status_on_client.trailing_metadata = &s->md_trailing;
	ops[1].data.recv_status_on_client.status = &s->status;
	ops[1].data.recv_status_on_client.status_details = &s->status_details;
	ops[1].data.recv_status_on_client.error_string = &s->error_string;
	if (grpc_call_start_batch(s->call, ops, 2, &s->tag_status, NULL) !=
	    GRPC_CALL_OK)
	{
		stream_free(s);
		pgw_error_set(err, PGW_EINTERNAL, "could not start a %s stream on %s",
		              kind == STREAM_LEASE ? "keepalive" : "watch",
		              ch->ep.target);
		return NULL;
	}
	s->pending++;
	s->is_attached = true;
	arm_recv(s);
	return s;
}

void
etcd_stream_send_locked(EtcdStream *s, grpc_byte_buffer *buf, int64_t lease_id,
                        bool is_sync)
{
	EtcdSendItem *it;

	if (s->is_broken)
	{
		grpc_byte_buffer_destroy(buf);
		return;
	}
	it = pgw_xcalloc(1, sizeof(*it));
	it->buf = buf;
	it->lease_id = lease_id;
	it->is_sync = is_sync;
	if (s->sendq_tail)
		s->sendq_tail->next = it;
	else
		s->sendq_head = it;
	s->sendq_tail = it;
	try_send(s);
}

void
etcd_stream_status_text(EtcdStream *s, char *buf, size_t len)
{
	size_t dl = GRPC_SLICE_LENGTH(s->status_details);

	if (s->status == GRPC_STATUS_DEADLINE_EXCEEDED)
		snprintf(buf, len, "deadline exceeded");
	else if (dl > 0)
		snprintf(buf, len, "%s: %.*s", etcd_grpc_code_name(s->status), (int) dl,
		         (const char *) GRPC_SLICE_START_PTR(s->status_details));
	else
		snprintf(buf, len, "%s", etcd_grpc_code_name(s->status));
}

/*
 * etcd_stream_break_locked: the stream is done (failed, ended, canceled, or
 * answered something we cannot use). Cancel the call so every batch
 * completes, detach it from the client, tell the lease or watch layer, and
 * move away from the endpoint if it looks dead. code is a PGW_E* code.
 */
void
etcd_stream_break_locked(EtcdStream *s, int code, const char *msg)
{
	EtcdClient *c = s->c;
	EtcdEvent ev = {0};
	const char *what = s->kind == STREAM_LEASE ? "keepalive" : "watch";

	if (s->is_broken)
		return;
	s->is_broken = true;
	grpc_call_cancel(s->call, NULL);
	if (!s->is_attached)
		return;
	s->is_attached = false;
	if (s->kind == STREAM_LEASE && c->lease_stream == s)
		c->lease_stream = NULL;
	if (s->kind == STREAM_WATCH && c->watch_stream == s)
		c->watch_stream = NULL;
	/* a stale token: authenticate again before the stream is reopened */
	if (code == PGW_EAUTH && strstr(msg, "invalid auth token") != NULL)
		c->chans[s->endpoint].token[0] = '\0';
	if ((code == PGW_EUNAVAILABLE || code == PGW_ETIMEDOUT ||
	     code == PGW_EBADRESPONSE) &&
	    c->cur == s->endpoint)
		c->cur = (s->endpoint + 1) % c->n_chans;
	snprintf(ev.msg, sizeof(ev.msg), "%s stream on %s failed: %s", what,
	         c->chans[s->endpoint].ep.target, msg);
	if (s->kind == STREAM_LEASE)
		etcd_lease_on_broken_locked(c, code, ev.msg);
	else
		etcd_watch_on_broken_locked(c, code, ev.msg);
	if (!c->is_closing)
	{
		ev.type = ETCD_EVENT_STREAM_ERROR;
		etcd_post_event_locked(c, &ev);
	}
}

void
etcd_stream_handle_locked(EtcdClient *c, EtcdTag *tag, bool ok)
{
	EtcdStream *s = tag->owner;
	char msg[300];

	s->pending--;
	switch (tag->kind)
	{
		case TAG_STATUS:
			etcd_stream_status_text(s, msg, sizeof(msg));
			etcd_stream_break_locked(
			    s,
			    s->status == GRPC_STATUS_OK
			        ? PGW_EUNAVAILABLE
			        : etcd_error_from_grpc(s->status, msg),
			    s->status == GRPC_STATUS_OK ? "etcd ended the stream" : msg);
			break;
		case TAG_SEND:
			s->send_busy = false;
			if (s->send_buf)
				grpc_byte_buffer_destroy(s->send_buf);
			s->send_buf = NULL;
			/* a failed send means the call is over: the status tells why */
			if (ok)
				try_send(s);
			break;
		case TAG_RECV:
		{
			grpc_byte_buffer *buf = s->recv_buf;

			s->recv_busy = false;
			s->recv_buf = NULL;
			if (!ok || buf == NULL)
			{
				/* end of stream (pitfall 6): the status follows */
				if (buf)
					grpc_byte_buffer_destroy(buf);
				break;
			}
			if (!s->is_broken)
			{
				if (s->kind == STREAM_LEASE)
					etcd_lease_on_message_locked(c, s, buf);
				else
					etcd_watch_on_message_locked(c, s, buf);
			}
			grpc_byte_buffer_destroy(buf);
			arm_recv(s);
		}
		break;
		case TAG_CONN:
			break;
	}
	if (s->pending == 0 && !s->is_attached)
		stream_free(s);
}
