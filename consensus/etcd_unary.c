/*
 * etcd_unary.c: unary calls of the EtcdClient (etcd_client.c has the
 * handle, its channels and the CQ thread): deadlines, endpoint failover and
 * auth. Moved unchanged from etcd_client.c (file size).
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

/* ------------------------------------------------------------------------
 * Unary calls
 * ------------------------------------------------------------------------ */

typedef struct UnaryResult
{
	grpc_status_code status;
	char detail[320];
	grpc_byte_buffer *resp;
} UnaryResult;

/*
 * unary_once: one attempt of method on channel idx, bounded by timeout_ms.
 * Fills r; r->resp (caller destroys) is set when status is OK.
 */
static void
unary_once(EtcdClient *c, int idx, const char *method, grpc_byte_buffer *req,
           int timeout_ms, const char *token, UnaryResult *r)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline =
	    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                 gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_call *call;
	grpc_op ops[6];
	grpc_metadata md;
	grpc_metadata_array md_initial;
	grpc_metadata_array md_trailing;
	grpc_slice details = grpc_empty_slice();
	const char *error_string = NULL;
	grpc_call_error cerr;
	grpc_event ev;
	int tag = 0;

	memset(r, 0, sizeof(*r));
	memset(ops, 0, sizeof(ops));
	grpc_metadata_array_init(&md_initial);
	grpc_metadata_array_init(&md_trailing);
	/* under the lock: the CQ thread may replace a stalled channel */
	pthread_mutex_lock(&c->mu);
	call = grpc_channel_create_call(
	    c->chans[idx].ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	    grpc_slice_from_static_string(method), NULL, deadline, NULL);
	pthread_mutex_unlock(&c->mu);
	memset(&md, 0, sizeof(md));
	if (token && token[0])
	{
		md.key = grpc_slice_from_static_string("token");
		md.value = grpc_slice_from_copied_string(token);
	}
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = (token && token[0]) ? 1 : 0;
	ops[0].data.send_initial_metadata.metadata = &md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &r->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &md_trailing;
	ops[5].data.recv_status_on_client.status = &r->status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.error_string = &error_string;
	cerr = grpc_call_start_batch(call, ops, 6, &tag, NULL);
	if (cerr != GRPC_CALL_OK)
	{
		r->status = GRPC_STATUS_INTERNAL;
		snprintf(r->detail, sizeof(r->detail),
		         "could not start the gRPC call (error %d)", (int) cerr);
	}
	else
	{
		ev = grpc_completion_queue_pluck(
		    cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
		{
			r->status = GRPC_STATUS_INTERNAL;
			snprintf(r->detail, sizeof(r->detail), "completion queue failed");
		}
		else
		{
			size_t dl = GRPC_SLICE_LENGTH(details);

			if (dl > 0)
				snprintf(r->detail, sizeof(r->detail), "%.*s", (int) dl,
				         (const char *) GRPC_SLICE_START_PTR(details));
			else if (error_string)
				snprintf(r->detail, sizeof(r->detail), "%s", error_string);
		}
	}
	if (r->status != GRPC_STATUS_OK && r->resp)
	{
		grpc_byte_buffer_destroy(r->resp);
		r->resp = NULL;
	}
	if (token && token[0])
		grpc_slice_unref(md.value);
	grpc_slice_unref(details);
	if (error_string)
		gpr_free((void *) error_string);
	grpc_metadata_array_destroy(&md_initial);
	grpc_metadata_array_destroy(&md_trailing);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, &tag,
	                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
	           .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

/* describe: "deadline exceeded" or "unavailable: <detail>" (+ TLS cause). */
static void
describe(EtcdClient *c, const UnaryResult *r, uint64_t log_seq, char *buf,
         size_t len)
{
	char tls[256];

	if (r->status == GRPC_STATUS_DEADLINE_EXCEEDED)
		snprintf(buf, len, "deadline exceeded");
	else if (r->detail[0])
		snprintf(buf, len, "%s: %s", etcd_grpc_code_name(r->status), r->detail);
	else
		snprintf(buf, len, "%s", etcd_grpc_code_name(r->status));
	if (c->is_tls && r->status == GRPC_STATUS_UNAVAILABLE &&
	    etcd_grpc_log_since(log_seq < c->open_log_seq ? log_seq
	                                                  : c->open_log_seq,
	                        tls, sizeof(tls)))
	{
		size_t l = strlen(buf);

		snprintf(buf + l, len - l, " (TLS: %s)", tls);
	}
}

static bool
is_retryable(grpc_status_code st)
{
	return st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED;
}

static bool
is_invalid_token(const UnaryResult *r)
{
	return (r->status == GRPC_STATUS_UNAUTHENTICATED ||
	        r->status == GRPC_STATUS_INVALID_ARGUMENT) &&
	       strstr(r->detail, "invalid auth token") != NULL;
}

/*
 * authenticate: get a token from member idx (Auth.Authenticate). Simple
 * tokens are valid only on the member that issued them, so each channel
 * keeps its own. Returns 0, or fills r with the failure.
 */
static int
authenticate(EtcdClient *c, int idx, int timeout_ms, UnaryResult *r)
{
	Etcdserverpb__AuthenticateRequest req =
	    ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	Etcdserverpb__AuthenticateResponse *resp;
	grpc_byte_buffer *buf;

	req.name = c->username;
	req.password = c->password;
	buf = etcd_pack(&req.base);
	unary_once(c, idx, "/etcdserverpb.Auth/Authenticate", buf, timeout_ms, NULL,
	           r);
	grpc_byte_buffer_destroy(buf);
	if (r->status != GRPC_STATUS_OK)
		return -1;
	resp = (Etcdserverpb__AuthenticateResponse *) etcd_unpack(
	    r->resp, &etcdserverpb__authenticate_response__descriptor);
	grpc_byte_buffer_destroy(r->resp);
	r->resp = NULL;
	if (resp == NULL || resp->token == NULL || resp->token[0] == '\0' ||
	    strlen(resp->token) >= ETCD_TOKEN_MAX)
	{
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		r->status = GRPC_STATUS_INTERNAL;
		snprintf(r->detail, sizeof(r->detail),
		         "undecodable authentication response");
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	pgw_strlcpy(c->chans[idx].token, resp->token, ETCD_TOKEN_MAX);
	pthread_mutex_unlock(&c->mu);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/*
 * etcd_auth_ensure: make sure member idx has a token when auth is
 * configured. Called without c->mu.
 */
int
etcd_auth_ensure(EtcdClient *c, int idx, int timeout_ms, PgwError *err)
{
	UnaryResult r;
	bool has_token;
	char why[400];

	if (c->username == NULL)
		return 0;
	pthread_mutex_lock(&c->mu);
	has_token = c->chans[idx].token[0] != '\0';
	pthread_mutex_unlock(&c->mu);
	if (has_token)
		return 0;
	if (authenticate(c, idx, timeout_ms, &r) == 0)
		return 0;
	describe(c, &r, 0, why, sizeof(why));
	return pgw_error_set(err,
	                     etcd_error_from_grpc(r.status, r.detail) == PGW_EINVAL
	                         ? PGW_EAUTH
	                         : etcd_error_from_grpc(r.status, r.detail),
	                     "could not authenticate as user \"%s\" on %s: %s",
	                     c->username, c->chans[idx].ep.target, why);
}

/*
 * etcd_unary: call method with req on the endpoint in use; on UNAVAILABLE
 * or DEADLINE_EXCEEDED move to the next endpoint and try again, until the
 * call timeout is spent. Each attempt gets call_timeout / n_endpoints (at
 * least ETCD_ATTEMPT_FLOOR_MS), as Patroni splits retry_timeout. A mutation
 * retried after a timeout may have been applied by the first attempt; our
 * writers use compare-and-swap txns, so a retry is safe and its result
 * tells. *resp is the decoded reply (free with
 * protobuf_c_message_free_unpacked).
 */
int
etcd_unary(EtcdClient *c, const char *method, const ProtobufCMessage *req,
           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
           const char *what, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + c->call_timeout_ms;
	int attempt_ms = c->call_timeout_ms / c->n_chans;
	grpc_byte_buffer *buf = etcd_pack(req);
	bool reauthed = false;
	int tries = 0;
	int rc = 0;
	UnaryResult r;

	*resp = NULL;
	if (attempt_ms < ETCD_ATTEMPT_FLOOR_MS)
		attempt_ms = ETCD_ATTEMPT_FLOOR_MS;
	for (;;)
	{
		int64_t remaining = deadline - pgw_now_mono_ms();
		int idx;
		int this_ms;
		char token[ETCD_TOKEN_MAX];
		char why[400];
		uint64_t log_seq = etcd_grpc_log_seq();

		if (remaining <= 0)
			break;
		this_ms = remaining < attempt_ms ? (int) remaining : attempt_ms;
		pthread_mutex_lock(&c->mu);
		idx = c->cur;
		pthread_mutex_unlock(&c->mu);

		if (c->username)
		{
			rc = etcd_auth_ensure(c, idx, this_ms, err);
			if (rc == PGW_EAUTH || rc == PGW_EINVAL)
				break;
			if (rc != 0)
				goto next_endpoint;
		}
		pthread_mutex_lock(&c->mu);
		pgw_strlcpy(token, c->chans[idx].token, sizeof(token));
		pthread_mutex_unlock(&c->mu);

		{
			/* gRPC consumes a sent buffer's slices: one copy per attempt */
			grpc_byte_buffer *copy = grpc_byte_buffer_copy(buf);
			int64_t t0 = pgw_now_mono_us();

			unary_once(c, idx, method, copy, this_ms, token, &r);
			grpc_byte_buffer_destroy(copy);
			etcd_stats_attempt(c, pgw_now_mono_us() - t0,
			                   r.status == GRPC_STATUS_OK,
			                   !is_retryable(r.status));
		}
		if (r.status == GRPC_STATUS_OK)
		{
			*resp = etcd_unpack(r.resp, resp_desc);
			grpc_byte_buffer_destroy(r.resp);
			if (*resp == NULL)
				rc = pgw_error_set(err, PGW_EBADRESPONSE,
				                   "could not %s on %s: undecodable %s", what,
				                   c->chans[idx].ep.target, resp_desc->name);
			else
				rc = 0;
			break;
		}
		if (c->username && !reauthed && is_invalid_token(&r))
		{
			/* token expired or issued by another member: get a new one */
			pthread_mutex_lock(&c->mu);
			c->chans[idx].token[0] = '\0';
			pthread_mutex_unlock(&c->mu);
			reauthed = true;
			continue;
		}
		describe(c, &r, log_seq, why, sizeof(why));
		rc = pgw_error_set(err, etcd_error_from_grpc(r.status, r.detail),
		                   "could not %s on %s: %s", what,
		                   c->chans[idx].ep.target, why);
		if (!is_retryable(r.status))
			break;
	next_endpoint:
		tries++;
		pthread_mutex_lock(&c->mu);
		if (c->cur == idx)
			c->cur = (idx + 1) % c->n_chans;
		pthread_mutex_unlock(&c->mu);
		if (tries % c->n_chans == 0)
		{
			/* every member failed: pause before the next round */
			remaining = deadline - pgw_now_mono_ms();
			if (remaining > 0)
				pgw_sleep_ms(remaining < 50 ? remaining : 50);
		}
	}
	grpc_byte_buffer_destroy(buf);
	if (rc == 0 && *resp == NULL)
		rc = pgw_error_set(err, PGW_ETIMEDOUT,
		                   "could not %s on %s: deadline exceeded", what,
		                   etcd_client_endpoint(c));
	if (rc != 0 && tries >= c->n_chans && c->n_chans > 1 && err)
	{
		size_t l = strlen(err->msg);

		snprintf(err->msg + l, sizeof(err->msg) - l,
		         " (every endpoint of %d failed)", c->n_chans);
	}
	return rc;
}
