/*
 * bench_etcd.c: latency of the etcd client on loopback (never a test:
 * STYLE.md, benchmarks print figures). Starts its own one-member etcd 3.4
 * through tests/harness/etcd_harness.h, then measures sequential calls on
 * one client: Range (linearizable and serializable) and the leader-style Txn
 * (compare create_revision, put / get) p50 and p99 over N calls each, and
 * the rate of a Put loop.
 *
 *   cmake --build build --target bench_etcd && ./build/bench/bench_etcd [N]
 */
#include "consensus/consensus.h"
#include "tests/harness/etcd_harness.h"
#include "tests/harness/proc.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, int64_t *us, int n)
{
	qsort(us, (size_t) n, sizeof(int64_t), cmp_i64);
	printf("%-28s n=%d  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, n,
	       us[n / 2] / 1000.0, us[(int) ((int64_t) n * 99 / 100)] / 1000.0,
	       us[n - 1] / 1000.0);
}

static void
die(const char *what, const PgwError *err)
{
	fprintf(stderr, "bench_etcd: %s: %s\n", what, err->msg);
	exit(1);
}

int
main(int argc, char **argv)
{
	int n = 10000;
	int64_t parsed;
	EtcdCluster *ec;
	EtcdClientConfig cfg = {0};
	EtcdClient *c = NULL;
	PgwError err = {0};
	int64_t *us;
	EtcdRangeResult r;
	EtcdTxnResult t;
	int64_t t0;
	double secs;
	const char *key = "/service/bench/leader";
	EtcdCompare cmp = {key, ETCD_CMP_EQUAL, ETCD_TARGET_CREATE, 0, NULL, 0};
	EtcdOp put = {ETCD_OP_PUT, key, false, "node-a", 6, 0};
	EtcdOp get = {ETCD_OP_RANGE, key, false, NULL, 0, 0};

	if (argc > 1)
	{
		if (pgw_parse_int64(argv[1], 100, 10000000, &parsed) != 0 ||
		    parsed < 100)
		{
			fprintf(stderr, "usage: bench_etcd [N >= 100]\n");
			return 2;
		}
		n = (int) parsed;
	}
	harness_init("bench_etcd");
	ec = etcd_harness_start(1, false);
	if (ec == NULL)
		return 1;
	cfg.endpoints = etcd_harness_endpoints(ec);
	cfg.call_timeout_ms = 5000;
	if (etcd_client_open(&cfg, &c, &err) != 0)
		die("open", &err);
	us = calloc((size_t) n, sizeof(int64_t));
	if (us == NULL)
		return 1;
	if (etcd_put(c, key, "node-a", 6, 0, NULL, NULL, &err) != 0)
		die("put", &err);
	for (int i = 0; i < 200; i++)
	{
		if (etcd_range(c, key, false, 0, false, &r, &err) != 0)
			die("warm-up range", &err);
		etcd_range_result_free(&r);
	}

	for (int i = 0; i < n; i++)
	{
		int64_t s = pgw_now_mono_us();

		if (etcd_range(c, key, false, 0, false, &r, &err) != 0)
			die("range", &err);
		us[i] = pgw_now_mono_us() - s;
		etcd_range_result_free(&r);
	}
	report("Range (linearizable)", us, n);

	for (int i = 0; i < n; i++)
	{
		int64_t s = pgw_now_mono_us();

		if (etcd_range(c, key, false, 0, true, &r, &err) != 0)
			die("range", &err);
		us[i] = pgw_now_mono_us() - s;
		etcd_range_result_free(&r);
	}
	report("Range (serializable)", us, n);

	for (int i = 0; i < n; i++)
	{
		int64_t s = pgw_now_mono_us();

		if (etcd_txn(c, &cmp, 1, &put, 1, &get, 1, &t, &err) != 0)
			die("txn", &err);
		us[i] = pgw_now_mono_us() - s;
		etcd_txn_result_free(&t);
	}
	report("Txn (cmp create, put/get)", us, n);

	t0 = pgw_now_mono_us();
	for (int i = 0; i < n; i++)
	{
		char k[64];

		snprintf(k, sizeof(k), "/service/bench/put/%d", i % 1000);
		if (etcd_put(c, k, "value", 5, 0, NULL, NULL, &err) != 0)
			die("put", &err);
	}
	secs = (pgw_now_mono_us() - t0) / 1e6;
	printf("%-28s n=%d  %.0f keys/s (%.3f ms each)\n", "Put loop", n, n / secs,
	       secs * 1000.0 / n);
	printf(
	    "reproduce: cmake --build build --target bench_etcd && ./build/bench/bench_etcd %d\n",
	    n);
	free(us);
	etcd_client_close(c);
	etcd_harness_stop(ec);
	return 0;
}
