/*
 * test_common_promtext.c: the Prometheus text builder and the duration
 * histogram of common/promtext.h: exact output, escaping of label values,
 * cumulative buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/promtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_family_and_samples(void **state)
{
	PromText t;
	char *s;

	(void) state;
	prom_init(&t);
	prom_set_base(&t, "scope", "demo", "member", "node1", NULL);
	prom_family(&t, "pgwarden_x", "gauge", "An x.");
	prom_u(&t, "pgwarden_x", 18446744073709551615ULL, NULL);
	prom_i(&t, "pgwarden_x", -3, "k", "v", NULL);
	prom_f(&t, "pgwarden_x", 0.25, NULL);
	prom_f(&t, "pgwarden_x", NAN, NULL);
	prom_set_base(&t, NULL);
	prom_f(&t, "pgwarden_y", INFINITY, NULL);
	prom_u(&t, "pgwarden_z", 1, "a", "b", NULL);
	s = prom_take(&t);
	assert_string_equal(
	    s, "# HELP pgwarden_x An x.\n"
	       "# TYPE pgwarden_x gauge\n"
	       "pgwarden_x{scope=\"demo\",member=\"node1\"} 18446744073709551615\n"
	       "pgwarden_x{scope=\"demo\",member=\"node1\",k=\"v\"} -3\n"
	       "pgwarden_x{scope=\"demo\",member=\"node1\"} 0.25\n"
	       "pgwarden_x{scope=\"demo\",member=\"node1\"} NaN\n"
	       "pgwarden_y +Inf\n"
	       "pgwarden_z{a=\"b\"} 1\n");
	free(s);
}

static void
test_escaping(void **state)
{
	PromText t;
	char *s;

	(void) state;
	prom_init(&t);
	prom_family(&t, "m", "gauge", "back\\slash and\nnewline \"kept\"");
	prom_u(&t, "m", 1, "db", "a\"b\\c\nd", NULL);
	s = prom_take(&t);
	assert_string_equal(s, "# HELP m back\\\\slash and\\nnewline \"kept\"\n"
	                       "# TYPE m gauge\n"
	                       "m{db=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(s);
}

static void
test_histogram(void **state)
{
	PgwHistogram h;
	PgwHistogramValue v;
	PromText t;
	char *s;

	(void) state;
	memset(&h, 0, sizeof(h));
	pgw_hist_observe_us(&h, 300);      /* <= 0.5 ms */
	pgw_hist_observe_us(&h, 1000);     /* == 1 ms: le is inclusive */
	pgw_hist_observe_us(&h, 20000);    /* <= 25 ms */
	pgw_hist_observe_us(&h, 60000000); /* +Inf */
	pgw_hist_observe_us(&h, -5);       /* counted as 0 */
	pgw_hist_read(&h, &v);
	assert_int_equal(pgw_hist_count(&v), 5);
	assert_int_equal(v.bucket[0], 2);
	assert_int_equal(v.bucket[1], 1);
	assert_int_equal(v.bucket[5], 1);
	assert_int_equal(v.bucket[PGW_HIST_BUCKETS], 1);
	prom_init(&t);
	prom_set_base(&t, "scope", "s", NULL);
	prom_hist(&t, "d_seconds", &v, "op", "x", NULL);
	s = prom_take(&t);
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"0.0005\"} 2\n"));
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"0.001\"} 3\n"));
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"0.01\"} 3\n"));
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"0.025\"} 4\n"));
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"10\"} 4\n"));
	assert_non_null(
	    strstr(s, "d_seconds_bucket{scope=\"s\",op=\"x\",le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(s, "d_seconds_sum{scope=\"s\",op=\"x\"} 60.0213\n"));
	assert_non_null(strstr(s, "d_seconds_count{scope=\"s\",op=\"x\"} 5\n"));
	free(s);
}

static void
test_grows(void **state)
{
	PromText t;
	char *s;
	char name[32];

	(void) state;
	prom_init(&t);
	for (int i = 0; i < 2000; i++)
	{
		snprintf(name, sizeof(name), "m%d", i);
		prom_u(&t, name, (uint64_t) i, "label", "some longer value", NULL);
	}
	s = prom_take(&t);
	assert_non_null(strstr(s, "m1999{label=\"some longer value\"} 1999\n"));
	assert_true(strncmp(s, "m0{", 3) == 0);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_family_and_samples),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
