/*
 * test_common_url.c: pgw_url_split, the one URL splitter (common/url.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/url.h"

#include <string.h>

static void
test_url_forms(void **state)
{
	PgwUrl u;
	PgwError err = {0};

	(void) state;
	assert_int_equal(pgw_url_split("postgres://db1:5433/postgres", &u, &err),
	                 0);
	assert_string_equal(u.scheme, "postgres");
	assert_string_equal(u.host, "db1");
	assert_int_equal(u.port, 5433);
	assert_string_equal(u.path, "/postgres");

	assert_int_equal(pgw_url_split("10.0.0.7:8008", &u, &err), 0);
	assert_string_equal(u.scheme, "");
	assert_string_equal(u.host, "10.0.0.7");
	assert_int_equal(u.port, 8008);
	assert_string_equal(u.path, "");

	/* userinfo skipped up to the last '@' (a password may hold one) */
	assert_int_equal(
	    pgw_url_split("https://u:p@ss@[::1]:8443/patroni?x=1", &u, &err), 0);
	assert_string_equal(u.scheme, "https");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/patroni?x=1");

	assert_int_equal(pgw_url_split("http://node1/patroni", &u, &err), 0);
	assert_string_equal(u.host, "node1");
	assert_int_equal(u.port, 0);
	assert_string_equal(u.path, "/patroni");
}

static void
test_url_refusals(void **state)
{
	PgwUrl u;
	PgwError err = {0};

	(void) state;
	assert_int_equal(pgw_url_split("postgres://:5432/x", &u, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "names no host"));
	assert_int_equal(pgw_url_split("http://[::1:8008/", &u, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "unclosed"));
	assert_int_equal(pgw_url_split("h:0", &u, &err), PGW_EINVAL);
	assert_int_equal(pgw_url_split("h:65536", &u, &err), PGW_EINVAL);
	assert_int_equal(pgw_url_split("h:", &u, &err), PGW_EINVAL);
	assert_int_equal(pgw_url_split("h:12ab", &u, &err), PGW_EINVAL);
	assert_int_equal(pgw_url_split("[::1]x:5", &u, &err), PGW_EINVAL);
	assert_int_equal(pgw_url_split("", &u, &err), PGW_EINVAL);
	/* an unbracketed IPv6 address is named as such */
	assert_int_equal(pgw_url_split("fd00::1:5432", &u, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "needs brackets"));
	assert_int_equal(pgw_url_split("http://::1/x", &u, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "needs brackets"));
}

/* the userinfo is noted, never copied, and never quoted by an error */
static void
test_url_userinfo(void **state)
{
	PgwUrl u;
	PgwError err = {0};

	(void) state;
	assert_int_equal(
	    pgw_url_split("postgres://rep:s3:cr@t@db1:5432/x", &u, &err), 0);
	assert_true(u.has_userinfo);
	assert_string_equal(u.host, "db1");
	assert_int_equal(u.port, 5432);
	assert_int_equal(pgw_url_split("postgres://db1:5432/x", &u, &err), 0);
	assert_false(u.has_userinfo);
	assert_int_equal(
	    pgw_url_split("postgres://rep:s3:cr@t@db1:99999/x", &u, &err),
	    PGW_EINVAL);
	assert_null(strstr(err.msg, "s3"));
	assert_non_null(strstr(err.msg, "postgres://***@db1:99999"));
	assert_int_equal(
	    pgw_url_split("averyveryverylongscheme://rep:s3cr@t@h/", &u, &err),
	    PGW_EINVAL);
	assert_non_null(strstr(err.msg, "bad scheme"));
	assert_null(strstr(err.msg, "s3cr"));
}

static void
test_url_base(void **state)
{
	char b[64];

	(void) state;
	pgw_url_base("http://h:8008/patroni", b, sizeof(b));
	assert_string_equal(b, "http://h:8008");
	pgw_url_base("https://[::1]:8443/a/b?x=/y", b, sizeof(b));
	assert_string_equal(b, "https://[::1]:8443");
	pgw_url_base("http://h:8008", b, sizeof(b));
	assert_string_equal(b, "http://h:8008");
	pgw_url_base("10.0.0.7:8008/x", b, sizeof(b));
	assert_string_equal(b, "10.0.0.7:8008");
	/* a URL that does not split stays whole */
	pgw_url_base("http://h:0/patroni", b, sizeof(b));
	assert_string_equal(b, "http://h:0/patroni");
	pgw_url_base("http://h:8008/patroni", b, 5);
	assert_string_equal(b, "http");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_forms),
	    cmocka_unit_test(test_url_refusals),
	    cmocka_unit_test(test_url_userinfo),
	    cmocka_unit_test(test_url_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
