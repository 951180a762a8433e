/*
 * test_shard_slot_pg.c: the C slot function (pgw_shard_hash,
 * pgw_shard_slot) equals PostgreSQL 15's hashint8extended(x, 0) and
 * hashint8extended(x, 0) & (slots - 1) on a million values: the extremes,
 * every value around 0, +-2^31 and +-2^32 (where the 64-to-32-bit fold
 * changes), and pseudo-random values over the whole int8 range, negative
 * ones included. The seeded path (hashint8extended(x, seed), a seed other
 * than 0) is checked on ten thousand of them. The values go to a real
 * PostgreSQL by COPY and PostgreSQL's answers come back by COPY.
 */
#include "shard/shard.h"
#include "tests/harness/pg_harness.h"
#include "tests/harness/proc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_VALUES 1000000

static int64_t values[N_VALUES];

static void
fail(const char *what, PGconn *conn)
{
	fprintf(stderr, "FAIL: %s: %s\n", what, conn ? PQerrorMessage(conn) : "");
	exit(1);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int
fill_values(void)
{
	static const int64_t edges[] = {
	    INT64_MIN,           INT64_MAX,           0,
	    INT64_C(1) << 31,    -(INT64_C(1) << 31), INT64_C(1) << 32,
	    -(INT64_C(1) << 32), INT64_C(1) << 62,    -(INT64_C(1) << 62)};
	uint64_t s = UINT64_C(0x9e3779b97f4a7c15);
	int n = 0;

	values[n++] = INT64_MIN;
	values[n++] = INT64_MAX;
	values[n++] = INT64_MIN + 1;
	values[n++] = INT64_MAX - 1;
	for (size_t e = 2; e < PGW_LENGTHOF(edges); e++)
		for (int64_t d = -1000; d <= 1000; d++)
			values[n++] = edges[e] + d;
	while (n < N_VALUES)
		values[n++] = (int64_t) xorshift(&s);
	return n;
}

static PGconn *
connect_node(PgNode *node)
{
	char port[16];
	const char *keys[] = {"host", "port", "user", "password", "dbname", NULL};
	const char *vals[] = {node->socket_dir, port,       "postgres",
	                      PGH_SU_PASSWORD,  "postgres", NULL};
	PGconn *conn;

	snprintf(port, sizeof(port), "%d", node->port);
	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
		fail("connect", conn);
	return conn;
}

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail(sql, conn);
	PQclear(res);
}

static void
copy_in(PGconn *conn, int n)
{
	PGresult *res = PQexec(conn, "COPY v (ord, x) FROM STDIN");
	char line[64];

	if (PQresultStatus(res) != PGRES_COPY_IN)
		fail("COPY FROM STDIN", conn);
	PQclear(res);
	for (int i = 0; i < n; i++)
	{
		int len =
		    snprintf(line, sizeof(line), "%d\t%" PRId64 "\n", i, values[i]);

		if (PQputCopyData(conn, line, len) != 1)
			fail("PQputCopyData", conn);
	}
	if (PQputCopyEnd(conn, NULL) != 1)
		fail("PQputCopyEnd", conn);
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail("COPY end", conn);
	PQclear(res);
}

/*
 * compare: stream "ord h slot4096 slot16 slot65536 hseed" back and compare
 * every value with C; returns the number of mismatches (the first few are
 * printed).
 */
static long
compare(PGconn *conn, int n_seeded, uint64_t seed, long *checked)
{
	char sql[512];
	PGresult *res;
	char *buf = NULL;
	int len;
	long bad = 0;

	snprintf(
	    sql, sizeof(sql),
	    "COPY (SELECT ord, x, hashint8extended(x, 0), hashint8extended(x, 0) & 4095,"
	    " hashint8extended(x, 0) & 15, hashint8extended(x, 0) & 65535,"
	    " CASE WHEN ord < %d THEN hashint8extended(x, %" PRIu64 ") END"
	    " FROM v) TO STDOUT",
	    n_seeded, seed);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		fail("COPY TO STDOUT", conn);
	PQclear(res);
	*checked = 0;
	while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		long long ord;
		long long x;
		long long h;
		int s4096;
		int s16;
		int s65536;
		char seeded[32];
		int i;

		if (sscanf(buf, "%lld\t%lld\t%lld\t%d\t%d\t%d\t%31s", &ord, &x, &h,
		           &s4096, &s16, &s65536, seeded) != 7 ||
		    ord < 0 || ord >= N_VALUES)
			fail("an unexpected COPY line", NULL);
		i = (int) ord;
		if (values[i] != (int64_t) x ||
		    (int64_t) pgw_shard_hash(values[i]) != (int64_t) h ||
		    pgw_shard_slot(values[i], 4096) != s4096 ||
		    pgw_shard_slot(values[i], 16) != s16 ||
		    pgw_shard_slot(values[i], 65536) != s65536 ||
		    (strcmp(seeded, "\\N") != 0 &&
		     (int64_t) shard_hash_seeded(values[i], seed) !=
		         strtoll(seeded, NULL, 10)))
		{
			if (bad < 5)
				fprintf(stderr,
				        "MISMATCH x=%lld: PostgreSQL %lld/%d, C %" PRId64
				        "/%d\n",
				        x, h, s4096, (int64_t) pgw_shard_hash(values[i]),
				        pgw_shard_slot(values[i], 4096));
			bad++;
		}
		(*checked)++;
		PQfreemem(buf);
	}
	if (len == -2)
		fail("PQgetCopyData", conn);
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail("COPY TO end", conn);
	PQclear(res);
	return bad;
}

int
main(void)
{
	PgNode node;
	PgwError err = {0};
	PGconn *conn;
	int64_t t0 = harness_now_ms();
	long checked = 0;
	long bad;
	int n;

	if (!pgh_available())
	{
		fprintf(stderr, "FAIL: PostgreSQL 15 is not installed at %s\n",
		        pgh_bin_dir());
		return 1;
	}
	n = fill_values();
	pgh_node_init(&node, "slot");
	if (health_control_bootstrap(node.ctl, 120000, &err) != 0)
	{
		fprintf(stderr, "FAIL: bootstrap: %s\n", err.msg);
		pgh_node_free(&node);
		return 1;
	}
	conn = connect_node(&node);
	exec_ok(conn, "CREATE TEMP TABLE v (ord int NOT NULL, x bigint NOT NULL)");
	copy_in(conn, n);
	bad = compare(conn, 10000, UINT64_C(0x123456789abcdef), &checked);
	printf(
	    "compared %ld values (10000 also with a seed) in %.1f s: %ld mismatches\n",
	    checked, (double) (harness_now_ms() - t0) / 1000.0, bad);
	PQfinish(conn);
	pgh_node_free(&node);
	if (checked != N_VALUES || bad != 0)
	{
		fprintf(stderr, "FAIL: %ld of %d values compared, %ld mismatches\n",
		        checked, N_VALUES, bad);
		return 1;
	}
	printf("ok - C slot function = PostgreSQL's on %d values\n", N_VALUES);
	return 0;
}
