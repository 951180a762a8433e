/*
 * etcd_kv.c: the KV service (Range, Put, DeleteRange, Txn) on top of
 * etcd_unary(), and the conversion of etcd's messages into our owned
 * structs (nothing from a protobuf message outlives the function that
 * unpacked it: STYLE.md, "Borrowing and returning").
 */
#include "consensus/consensus_int.h"

#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
etcd_prefix_range_end(const char *key, size_t key_len, char *buf)
{
	/* etcd's rule: increment the last byte below 0xff, drop what follows */
	for (size_t i = key_len; i > 0; i--)
	{
		unsigned char b = (unsigned char) key[i - 1];

		if (b < 0xff)
		{
			memcpy(buf, key, i - 1);
			buf[i - 1] = (char) (b + 1);
			buf[i] = '\0';
			return i;
		}
	}
	/* all 0xff (or empty): "\0" means "to the end of the keyspace" */
	buf[0] = '\0';
	return 1;
}

static char *
copy_bytes(const uint8_t *data, size_t len)
{
	char *p = pgw_xmalloc(len + 1);

	if (len > 0)
		memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

void
etcd_kv_copy(EtcdKeyValue *dst, const Etcdserverpb__KeyValue *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src == NULL)
		return;
	dst->key = copy_bytes(src->key.data, src->key.len);
	dst->key_len = src->key.len;
	dst->value = copy_bytes(src->value.data, src->value.len);
	dst->value_len = src->value.len;
	dst->create_revision = src->create_revision;
	dst->mod_revision = src->mod_revision;
	dst->version = src->version;
	dst->lease = src->lease;
}

void
etcd_kv_clear(EtcdKeyValue *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
etcd_range_result_free(EtcdRangeResult *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->count; i++)
		etcd_kv_clear(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

void
etcd_txn_result_free(EtcdTxnResult *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_responses; i++)
		etcd_range_result_free(&r->responses[i].range);
	free(r->responses);
	memset(r, 0, sizeof(*r));
}

static int64_t
header_revision(const Etcdserverpb__ResponseHeader *h)
{
	return h ? h->revision : 0;
}

static void
range_from_pb(EtcdRangeResult *out, const Etcdserverpb__RangeResponse *rr)
{
	memset(out, 0, sizeof(*out));
	out->revision = header_revision(rr->header);
	out->more = rr->more;
	out->count = rr->n_kvs;
	if (rr->n_kvs > 0)
	{
		out->kvs = pgw_xcalloc(rr->n_kvs, sizeof(EtcdKeyValue));
		for (size_t i = 0; i < rr->n_kvs; i++)
			etcd_kv_copy(&out->kvs[i], rr->kvs[i]);
	}
}

/* txn_from_pb: 0, or PGW_EBADRESPONSE if a response op is not one we sent. */
static int
txn_from_pb(EtcdTxnResult *out, const Etcdserverpb__TxnResponse *tr,
            PgwError *err)
{
	memset(out, 0, sizeof(*out));
	out->succeeded = tr->succeeded;
	out->revision = header_revision(tr->header);
	out->n_responses = tr->n_responses;
	if (tr->n_responses == 0)
		return 0;
	out->responses = pgw_xcalloc(tr->n_responses, sizeof(EtcdOpResult));
	for (size_t i = 0; i < tr->n_responses; i++)
	{
		const Etcdserverpb__ResponseOp *op = tr->responses[i];
		EtcdOpResult *r = &out->responses[i];

		switch (op->response_case)
		{
			case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
				r->kind = ETCD_OP_RANGE;
				range_from_pb(&r->range, op->response_range);
				break;
			case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
				r->kind = ETCD_OP_PUT;
				break;
			case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
				r->kind = ETCD_OP_DELETE;
				r->deleted = op->response_delete_range->deleted;
				break;
			default:
				etcd_txn_result_free(out);
				return pgw_error_set(
				    err, PGW_EBADRESPONSE,
				    "unexpected response op %d in txn response",
				    (int) op->response_case);
		}
	}
	return 0;
}

int
etcd_range_result_decode(const void *buf, size_t len, EtcdRangeResult *out,
                         PgwError *err)
{
	Etcdserverpb__RangeResponse *rr;

	memset(out, 0, sizeof(*out));
	rr = etcdserverpb__range_response__unpack(NULL, len, buf);
	if (rr == NULL)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "could not decode a range response of %zu bytes",
		                     len);
	range_from_pb(out, rr);
	etcdserverpb__range_response__free_unpacked(rr, NULL);
	return 0;
}

int
etcd_txn_result_decode(const void *buf, size_t len, EtcdTxnResult *out,
                       PgwError *err)
{
	Etcdserverpb__TxnResponse *tr;
	int rc;

	memset(out, 0, sizeof(*out));
	tr = etcdserverpb__txn_response__unpack(NULL, len, buf);
	if (tr == NULL)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "could not decode a txn response of %zu bytes",
		                     len);
	rc = txn_from_pb(out, tr, err);
	etcdserverpb__txn_response__free_unpacked(tr, NULL);
	return rc;
}

/*
 * key_what: "range /service/x" (or "range prefix /service/") for error
 * messages, with the key cut to keep the message readable.
 */
static void
key_what(char *buf, size_t len, const char *verb, const char *key, bool prefix)
{
	snprintf(buf, len, "%s%s %.200s", verb, prefix ? " prefix" : "", key);
}

/* Range, Put and DeleteRange requests are built on the caller's stack. */
typedef struct KeyBuf
{
	char end[1024];
	char *end_heap;
} KeyBuf;

static ProtobufCBinaryData
set_range_end(KeyBuf *kb, const char *key, bool prefix)
{
	ProtobufCBinaryData d = {0, NULL};
	size_t klen = strlen(key);
	char *p;

	if (!prefix)
		return d;
	p = klen + 1 <= sizeof(kb->end) ? kb->end
	                                : (kb->end_heap = pgw_xmalloc(klen + 1));
	d.len = etcd_prefix_range_end(key, klen, p);
	d.data = (uint8_t *) p;
	return d;
}

int
etcd_range(EtcdClient *c, const char *key, bool prefix, int64_t revision,
           bool serializable, EtcdRangeResult *out, PgwError *err)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	KeyBuf kb = {{0}, NULL};
	char what[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if (key == NULL)
		return pgw_error_set(err, PGW_EINVAL, "could not range: no key");
	req.key.data = (uint8_t *) key;
	req.key.len = strlen(key);
	req.range_end = set_range_end(&kb, key, prefix);
	req.revision = revision;
	req.serializable = serializable;
	key_what(what, sizeof(what), "range", key, prefix);
	rc = etcd_unary(c, "/etcdserverpb.KV/Range", &req.base,
	                &etcdserverpb__range_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	free(kb.end_heap);
	if (rc != 0)
		return rc;
	range_from_pb(out, resp);
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return 0;
}

int
etcd_put(EtcdClient *c, const char *key, const char *value, size_t value_len,
         int64_t lease, EtcdKeyValue *prev, int64_t *revision_out,
         PgwError *err)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	Etcdserverpb__PutResponse *resp = NULL;
	char what[256];
	int rc;

	if (prev)
		memset(prev, 0, sizeof(*prev));
	if (key == NULL || (value == NULL && value_len > 0))
		return pgw_error_set(err, PGW_EINVAL, "could not put: no key or value");
	req.key.data = (uint8_t *) key;
	req.key.len = strlen(key);
	req.value.data = (uint8_t *) value;
	req.value.len = value_len;
	req.lease = lease;
	req.prev_kv = prev != NULL;
	key_what(what, sizeof(what), "put", key, false);
	rc = etcd_unary(c, "/etcdserverpb.KV/Put", &req.base,
	                &etcdserverpb__put_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	if (rc != 0)
		return rc;
	if (prev && resp->prev_kv)
		etcd_kv_copy(prev, resp->prev_kv);
	if (revision_out)
		*revision_out = header_revision(resp->header);
	etcdserverpb__put_response__free_unpacked(resp, NULL);
	return 0;
}

int
etcd_delete(EtcdClient *c, const char *key, bool prefix, int64_t *deleted,
            PgwError *err)
{
	Etcdserverpb__DeleteRangeRequest req =
	    ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	Etcdserverpb__DeleteRangeResponse *resp = NULL;
	KeyBuf kb = {{0}, NULL};
	char what[256];
	int rc;

	if (deleted)
		*deleted = 0;
	if (key == NULL)
		return pgw_error_set(err, PGW_EINVAL, "could not delete: no key");
	req.key.data = (uint8_t *) key;
	req.key.len = strlen(key);
	req.range_end = set_range_end(&kb, key, prefix);
	key_what(what, sizeof(what), "delete", key, prefix);
	rc = etcd_unary(c, "/etcdserverpb.KV/DeleteRange", &req.base,
	                &etcdserverpb__delete_range_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	free(kb.end_heap);
	if (rc != 0)
		return rc;
	if (deleted)
		*deleted = resp->deleted;
	etcdserverpb__delete_range_response__free_unpacked(resp, NULL);
	return 0;
}

/* The pieces of one request op, allocated together per op. */
typedef struct OpParts
{
	Etcdserverpb__RequestOp op;
	Etcdserverpb__RangeRequest range;
	Etcdserverpb__PutRequest put;
	Etcdserverpb__DeleteRangeRequest del;
	KeyBuf kb;
} OpParts;

static int
build_ops(const EtcdOp *ops, size_t n, OpParts *parts,
          Etcdserverpb__RequestOp **ptrs, PgwError *err)
{
	for (size_t i = 0; i < n; i++)
	{
		const EtcdOp *o = &ops[i];
		OpParts *p = &parts[i];
		Etcdserverpb__RequestOp init_op = ETCDSERVERPB__REQUEST_OP__INIT;

		p->op = init_op;
		ptrs[i] = &p->op;
		if (o->key == NULL)
			return pgw_error_set(err, PGW_EINVAL,
			                     "could not run txn: op %zu has no key", i);
		switch (o->kind)
		{
			case ETCD_OP_RANGE:
			{
				Etcdserverpb__RangeRequest r =
				    ETCDSERVERPB__RANGE_REQUEST__INIT;

				p->range = r;
				p->range.key.data = (uint8_t *) o->key;
				p->range.key.len = strlen(o->key);
				p->range.range_end = set_range_end(&p->kb, o->key, o->prefix);
				p->op.request_case =
				    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
				p->op.request_range = &p->range;
			}
			break;
			case ETCD_OP_PUT:
			{
				Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;

				p->put = r;
				p->put.key.data = (uint8_t *) o->key;
				p->put.key.len = strlen(o->key);
				p->put.value.data = (uint8_t *) o->value;
				p->put.value.len = o->value ? o->value_len : 0;
				p->put.lease = o->lease;
				p->op.request_case =
				    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
				p->op.request_put = &p->put;
			}
			break;
			case ETCD_OP_DELETE:
			{
				Etcdserverpb__DeleteRangeRequest r =
				    ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;

				p->del = r;
				p->del.key.data = (uint8_t *) o->key;
				p->del.key.len = strlen(o->key);
				p->del.range_end = set_range_end(&p->kb, o->key, o->prefix);
				p->op.request_case =
				    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
				p->op.request_delete_range = &p->del;
			}
			break;
			default:
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "could not run txn: op %zu has unknown kind %d", i,
				    (int) o->kind);
		}
	}
	return 0;
}

static int
build_compares(const EtcdCompare *cmp, size_t n, Etcdserverpb__Compare *pb,
               Etcdserverpb__Compare **ptrs, PgwError *err)
{
	for (size_t i = 0; i < n; i++)
	{
		const EtcdCompare *k = &cmp[i];
		Etcdserverpb__Compare init = ETCDSERVERPB__COMPARE__INIT;

		pb[i] = init;
		ptrs[i] = &pb[i];
		if (k->key == NULL || k->result < ETCD_CMP_EQUAL ||
		    k->result > ETCD_CMP_NOT_EQUAL)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "could not run txn: compare %zu has no key or a bad result", i);
		pb[i].key.data = (uint8_t *) k->key;
		pb[i].key.len = strlen(k->key);
		pb[i].result = (Etcdserverpb__Compare__CompareResult) k->result;
		pb[i].target = (Etcdserverpb__Compare__CompareTarget) k->target;
		/* proto3 oneofs are emitted even when 0 (pitfall 9) */
		switch (k->target)
		{
			case ETCD_TARGET_VERSION:
				pb[i].target_union_case =
				    ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
				pb[i].version = k->number;
				break;
			case ETCD_TARGET_CREATE:
				pb[i].target_union_case =
				    ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
				pb[i].create_revision = k->number;
				break;
			case ETCD_TARGET_MOD:
				pb[i].target_union_case =
				    ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
				pb[i].mod_revision = k->number;
				break;
			case ETCD_TARGET_VALUE:
				pb[i].target_union_case =
				    ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
				pb[i].value.data = (uint8_t *) k->value;
				pb[i].value.len = k->value ? k->value_len : 0;
				break;
			case ETCD_TARGET_LEASE:
				pb[i].target_union_case =
				    ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
				pb[i].lease = k->number;
				break;
			default:
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "could not run txn: compare %zu has unknown target %d", i,
				    (int) k->target);
		}
	}
	return 0;
}

int
etcd_txn(EtcdClient *c, const EtcdCompare *cmp, size_t n_cmp,
         const EtcdOp *success, size_t n_success, const EtcdOp *failure,
         size_t n_failure, EtcdTxnResult *out, PgwError *err)
{
	Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__TxnResponse *resp = NULL;
	Etcdserverpb__Compare *pb_cmp = NULL;
	Etcdserverpb__Compare **cmp_ptrs = NULL;
	OpParts *s_parts = NULL;
	OpParts *f_parts = NULL;
	Etcdserverpb__RequestOp **s_ptrs = NULL;
	Etcdserverpb__RequestOp **f_ptrs = NULL;
	char what[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if (n_cmp > 0)
	{
		pb_cmp = pgw_xcalloc(n_cmp, sizeof(*pb_cmp));
		cmp_ptrs = pgw_xcalloc(n_cmp, sizeof(*cmp_ptrs));
	}
	if (n_success > 0)
	{
		s_parts = pgw_xcalloc(n_success, sizeof(*s_parts));
		s_ptrs = pgw_xcalloc(n_success, sizeof(*s_ptrs));
	}
	if (n_failure > 0)
	{
		f_parts = pgw_xcalloc(n_failure, sizeof(*f_parts));
		f_ptrs = pgw_xcalloc(n_failure, sizeof(*f_ptrs));
	}
	if ((rc = build_compares(cmp, n_cmp, pb_cmp, cmp_ptrs, err)) != 0 ||
	    (rc = build_ops(success, n_success, s_parts, s_ptrs, err)) != 0 ||
	    (rc = build_ops(failure, n_failure, f_parts, f_ptrs, err)) != 0)
		goto out;
	req.n_compare = n_cmp;
	req.compare = cmp_ptrs;
	req.n_success = n_success;
	req.success = s_ptrs;
	req.n_failure = n_failure;
	req.failure = f_ptrs;
	snprintf(what, sizeof(what), "run txn on %.200s",
	         n_cmp > 0       ? cmp[0].key
	         : n_success > 0 ? success[0].key
	         : n_failure > 0 ? failure[0].key
	                         : "(empty)");
	rc = etcd_unary(c, "/etcdserverpb.KV/Txn", &req.base,
	                &etcdserverpb__txn_response__descriptor,
	                (ProtobufCMessage **) &resp, what, err);
	if (rc != 0)
		goto out;
	rc = txn_from_pb(out, resp, err);
	etcdserverpb__txn_response__free_unpacked(resp, NULL);
out:
	for (size_t i = 0; i < n_success; i++)
		free(s_parts[i].kb.end_heap);
	for (size_t i = 0; i < n_failure; i++)
		free(f_parts[i].kb.end_heap);
	free(f_ptrs);
	free(f_parts);
	free(s_ptrs);
	free(s_parts);
	free(cmp_ptrs);
	free(pb_cmp);
	return rc;
}
