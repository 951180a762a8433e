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
	PgwUrl		u;
	PgwError	err = {0};

	(void) state;
	assert_int_equal(pgw_url_split("postgres://db1:5433/postgres", &u, &err), 0);
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
	assert_int_equal(pgw_url_split("https://u:p@ss@[::1]:8443/patroni?x=1", &u, &err), 0);
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
	PgwUrl		u;
	PgwError	err = {0};

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
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_url_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
