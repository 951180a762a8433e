/*
 * test_consensus_etcd_client.c: the parts of the etcd client that need no
 * server: endpoint parsing (good and bad strings), prefix range_end, the
 * mapping of gRPC status codes to PGW_E* codes, decoding of good and
 * malformed responses, and open/close of a client whose endpoint is down
 * (calls fail within their deadline with a message naming the endpoint).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "consensus/consensus.h"

#include "common/pgwtime.h"

#include <string.h>

static void
test_endpoints_good(void **state)
{
	EtcdEndpoint eps[ETCD_ENDPOINTS_MAX];
	PgwError err = {0};
	int n = 0;

	(void) state;
	assert_int_equal(etcd_endpoints_parse("127.0.0.1:2379", eps, 16, &n, &err),
	                 0);
	assert_int_equal(n, 1);
	assert_string_equal(eps[0].host, "127.0.0.1");
	assert_int_equal(eps[0].port, 2379);
	assert_false(eps[0].tls);
	assert_string_equal(eps[0].target, "127.0.0.1:2379");

	assert_int_equal(
	    etcd_endpoints_parse(
	        " http://a.example:1 , https://b-2.example:65535/ ,[::1]:2379", eps,
	        16, &n, &err),
	    0);
	assert_int_equal(n, 3);
	assert_string_equal(eps[0].target, "a.example:1");
	assert_false(eps[0].tls);
	assert_string_equal(eps[1].host, "b-2.example");
	assert_true(eps[1].tls);
	assert_int_equal(eps[1].port, 65535);
	assert_string_equal(eps[2].host, "::1");
	assert_string_equal(eps[2].target, "[::1]:2379");

	/* the scheme in any case; an IPv6 zone */
	assert_int_equal(etcd_endpoints_parse("HTTPS://h:1,[fe80::1%eth0]:2379/",
	                                      eps, 16, &n, &err),
	                 0);
	assert_true(eps[0].tls);
	assert_string_equal(eps[1].target, "[fe80::1%eth0]:2379");
}

static void
test_endpoints_bad(void **state)
{
	static const struct
	{
		const char *s;
		const char *msg;
	} bad[] = {
	    {"", "empty entry"},
	    {"127.0.0.1", "missing port"},
	    {"127.0.0.1:", "bad port"},
	    {"127.0.0.1:0", "port \"0\" is not 1..65535"},
	    {"127.0.0.1:65536", "1..65535"},
	    {"127.0.0.1:23x", "port \"23x\" is not 1..65535"},
	    {"a:1,,b:2", "empty entry"},
	    {"a:1,", "empty entry"},
	    {"grpc://a:1", "unknown scheme"},
	    {"http://a:1/v3/path", "path is not allowed"},
	    {":2379", "names no host"},
	    {"::1:2379", "brackets"},
	    {"[::1]2379", "text after ] is not a port"},
	    {"[::1]", "missing port"},
	    {"[]:1", "names no host"},
	    {"a b:1", "bad character"},
	    {"http://a:1?x=1", "path is not allowed"},
	    {"http://[::1:1", "unclosed ["},
	    {"http://root:s3cr@t@a:2379", "a user in the URL is not allowed"},
	};
	EtcdEndpoint eps[4];
	PgwError err = {0};
	int n = 7;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		int rc = etcd_endpoints_parse(bad[i].s, eps, 4, &n, &err);

		if (rc != PGW_EINVAL || strstr(err.msg, bad[i].msg) == NULL)
			fail_msg("\"%s\": rc %d msg \"%s\", wanted \"%s\"", bad[i].s, rc,
			         err.msg, bad[i].msg);
		assert_int_equal(n, 0);
		assert_null(strstr(err.msg, "s3cr"));
	}
	assert_int_equal(
	    etcd_endpoints_parse("a:1,b:1,c:1,d:1,e:1", eps, 4, &n, &err),
	    PGW_EINVAL);
	assert_non_null(strstr(err.msg, "more than 4"));
	assert_int_equal(etcd_endpoints_parse(NULL, eps, 4, &n, &err), PGW_EINVAL);
}

static void
test_prefix_range_end(void **state)
{
	char buf[16];
	size_t n;

	(void) state;
	n = etcd_prefix_range_end("/service/", 9, buf);
	assert_int_equal(n, 9);
	assert_memory_equal(buf, "/service0", 9);
	n = etcd_prefix_range_end("a\xff", 2, buf);
	assert_int_equal(n, 1);
	assert_memory_equal(buf, "b", 1);
	n = etcd_prefix_range_end("\xff\xff", 2, buf);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], '\0');
	n = etcd_prefix_range_end("", 0, buf);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], '\0');
}

static void
test_error_mapping(void **state)
{
	(void) state;
	assert_int_equal(etcd_error_from_grpc(0, ""), 0);
	assert_int_equal(etcd_error_from_grpc(4, "Deadline Exceeded"),
	                 PGW_ETIMEDOUT);
	assert_int_equal(etcd_error_from_grpc(14, "etcdserver: no leader"),
	                 PGW_EUNAVAILABLE);
	assert_int_equal(etcd_error_from_grpc(16, "etcdserver: invalid auth token"),
	                 PGW_EAUTH);
	assert_int_equal(etcd_error_from_grpc(7, "etcdserver: permission denied"),
	                 PGW_EAUTH);
	assert_int_equal(
	    etcd_error_from_grpc(
	        3,
	        "etcdserver: authentication failed, invalid user ID or password"),
	    PGW_EAUTH);
	assert_int_equal(etcd_error_from_grpc(3, "etcdserver: user name is empty"),
	                 PGW_EAUTH);
	assert_int_equal(etcd_error_from_grpc(
	                     3, "etcdserver: duplicate key given in txn request"),
	                 PGW_EINVAL);
	assert_int_equal(
	    etcd_error_from_grpc(
	        11, "etcdserver: mvcc: required revision has been compacted"),
	    PGW_ECOMPACTED);
	assert_int_equal(
	    etcd_error_from_grpc(
	        11, "etcdserver: mvcc: required revision is a future revision"),
	    PGW_EINVAL);
	assert_int_equal(
	    etcd_error_from_grpc(5, "etcdserver: requested lease not found"),
	    PGW_ENOTFOUND);
	assert_int_equal(
	    etcd_error_from_grpc(9, "etcdserver: lease already exists"),
	    PGW_ECONFLICT);
	assert_int_equal(etcd_error_from_grpc(6, ""), PGW_ECONFLICT);
	assert_int_equal(etcd_error_from_grpc(1, "Cancelled"), PGW_ECANCELED);
	assert_int_equal(etcd_error_from_grpc(8, "too large"), PGW_EINVAL);
	assert_int_equal(etcd_error_from_grpc(13, "internal"), PGW_EIO);
	assert_int_equal(etcd_error_from_grpc(12, NULL), PGW_EIO);
	assert_int_equal(etcd_error_from_grpc(99, NULL), PGW_EIO);
}

static void
test_decode(void **state)
{
	/*
	 * RangeResponse{header{revision 7}, kvs[{key "k", create 2, mod 3,
	 * version 1, value "v"}], count 1}
	 */
	static const uint8_t good[] = {
	    0x0a, 0x02, 0x18, 0x07, 0x12, 0x0c, 0x0a, 0x01, 'k',  0x10,
	    0x02, 0x18, 0x03, 0x20, 0x01, 0x2a, 0x01, 'v',  0x20, 0x01,
	};
	/* TxnResponse{succeeded, responses[{response_put{}}, {response_delete_range{deleted 2}}]} */
	static const uint8_t txn[] = {
	    0x10, 0x01, 0x1a, 0x02, 0x12, 0x00, 0x1a, 0x04, 0x1a, 0x02, 0x10, 0x02,
	};
	/* a length that runs past the end, a bad wire type, a truncated varint */
	static const uint8_t bad1[] = {0x12, 0x40, 0x0a, 0x01};
	static const uint8_t bad2[] = {0x0f, 0x01};
	static const uint8_t bad3[] = {0x18, 0xff, 0xff};
	EtcdRangeResult r;
	EtcdTxnResult t;
	PgwError err = {0};

	(void) state;
	assert_int_equal(etcd_range_result_decode(good, sizeof(good), &r, &err), 0);
	assert_int_equal(r.revision, 7);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.kvs[0].key, "k");
	assert_string_equal(r.kvs[0].value, "v");
	assert_int_equal(r.kvs[0].create_revision, 2);
	assert_int_equal(r.kvs[0].mod_revision, 3);
	etcd_range_result_free(&r);
	assert_int_equal(etcd_range_result_decode("", 0, &r, &err), 0);
	assert_int_equal(r.count, 0);

	assert_int_equal(etcd_txn_result_decode(txn, sizeof(txn), &t, &err), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.n_responses, 2);
	assert_int_equal(t.responses[0].kind, ETCD_OP_PUT);
	assert_int_equal(t.responses[1].kind, ETCD_OP_DELETE);
	assert_int_equal(t.responses[1].deleted, 2);
	etcd_txn_result_free(&t);

	assert_int_equal(etcd_range_result_decode(bad1, sizeof(bad1), &r, &err),
	                 PGW_EBADRESPONSE);
	assert_non_null(strstr(err.msg, "could not decode a range response"));
	assert_int_equal(r.count, 0);
	assert_int_equal(etcd_range_result_decode(bad2, sizeof(bad2), &r, &err),
	                 PGW_EBADRESPONSE);
	assert_int_equal(etcd_range_result_decode(bad3, sizeof(bad3), &r, &err),
	                 PGW_EBADRESPONSE);
	assert_int_equal(etcd_txn_result_decode(bad1, sizeof(bad1), &t, &err),
	                 PGW_EBADRESPONSE);
	assert_int_equal(t.n_responses, 0);
	/* a response op we never send (an empty oneof) is refused too */
	{
		static const uint8_t empty_op[] = {0x10, 0x01, 0x1a, 0x00};

		assert_int_equal(
		    etcd_txn_result_decode(empty_op, sizeof(empty_op), &t, &err),
		    PGW_EBADRESPONSE);
		assert_non_null(strstr(err.msg, "unexpected response op"));
	}
}

/* Nothing listens on port 1: calls fail fast or within the deadline. */
static void
test_unreachable(void **state)
{
	EtcdClientConfig cfg = {0};
	EtcdClient *c = NULL;
	EtcdRangeResult r;
	PgwError err = {0};
	int64_t t0;
	int rc;

	(void) state;
	cfg.endpoints = "127.0.0.1:1";
	cfg.call_timeout_ms = 600;
	assert_int_equal(etcd_client_open(&cfg, &c, &err), 0);
	assert_string_equal(etcd_client_endpoint(c), "127.0.0.1:1");
	assert_true(etcd_client_event_fd(c) >= 0);
	t0 = pgw_now_mono_ms();
	rc = etcd_range(c, "/service/x", false, 0, false, &r, &err);
	assert_true(rc == PGW_EUNAVAILABLE || rc == PGW_ETIMEDOUT);
	assert_true(pgw_now_mono_ms() - t0 < 1500);
	assert_non_null(
	    strstr(err.msg, "could not range /service/x on 127.0.0.1:1: "));
	etcd_client_close(c);
	etcd_client_close(NULL);

	cfg.endpoints = "127.0.0.1:1";
	cfg.cert_file = "/etc/hostname";
	assert_int_equal(etcd_client_open(&cfg, &c, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "key_file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoints_good),
	    cmocka_unit_test(test_endpoints_bad),
	    cmocka_unit_test(test_prefix_range_end),
	    cmocka_unit_test(test_error_mapping),
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
