/*
 * test_common_strutil.c: strict parsers and timestamps of common/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <string.h>

static void
test_parse_int64(void **state)
{
	int64_t v;

	(void) state;
	assert_int_equal(pgw_parse_int64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(pgw_parse_int64("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(pgw_parse_int64("101", 0, 100, &v), PGW_EINVAL);
	assert_int_equal(pgw_parse_int64("12x", 0, 100, &v), PGW_EINVAL);
	assert_int_equal(pgw_parse_int64("", 0, 100, &v), PGW_EINVAL);
	assert_int_equal(pgw_parse_int64(" 1", 0, 100, &v), PGW_EINVAL);
	assert_int_equal(pgw_parse_int64("99999999999999999999", 0, INT64_MAX, &v),
	                 PGW_EINVAL);
}

static void
test_parse_bytes_and_durations(void **state)
{
	uint64_t b;
	int64_t ms;

	(void) state;
	assert_int_equal(pgw_parse_bytes("1048576", &b), 0);
	assert_int_equal(b, 1048576);
	assert_int_equal(pgw_parse_bytes("16kB", &b), 0);
	assert_int_equal(b, 16384);
	assert_int_equal(pgw_parse_bytes("10MB", &b), 0);
	assert_int_equal(b, 10485760);
	assert_int_equal(pgw_parse_bytes("10 parsecs", &b), PGW_EINVAL);
	assert_int_equal(pgw_parse_bytes("-1", &b), PGW_EINVAL);
	assert_int_equal(pgw_parse_duration_ms("0.5", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(pgw_parse_duration_ms("1500ms", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(pgw_parse_duration_ms("3s", &ms), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(pgw_parse_duration_ms("3 fortnights", &ms), PGW_EINVAL);
	assert_int_equal(pgw_parse_duration_ms("-3", &ms), PGW_EINVAL);
}

static void
test_iso_time(void **state)
{
	int64_t ms;
	char buf[40];

	(void) state;
	assert_int_equal(pgw_parse_wall_iso("2026-11-23T10:01:02.123Z", &ms), 0);
	pgw_format_wall_iso(ms, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T10:01:02.123Z");
	assert_int_equal(pgw_parse_wall_iso("2026-11-23T12:01:02.123+02:00", &ms),
	                 0);
	pgw_format_wall_iso(ms, 1, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T10:01:02.123+00:00");
	/* a time without a zone is refused, never guessed */
	assert_int_equal(pgw_parse_wall_iso("2026-11-23T10:01:02", &ms),
	                 PGW_EINVAL);
	assert_int_equal(pgw_parse_wall_iso("2026-13-23T10:01:02Z", &ms),
	                 PGW_EINVAL);
	assert_int_equal(pgw_parse_wall_iso("garbage", &ms), PGW_EINVAL);
	/* before 1970 and before year 1000 it reads back what it wrote (the
	 * fuzzer's "0060-11-23T10:01:02.122Z" came back as "60-...:03.-878Z") */
	assert_int_equal(pgw_parse_wall_iso("0060-11-23T10:01:02.122Z", &ms), 0);
	pgw_format_wall_iso(ms, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0060-11-23T10:01:02.122Z");
	assert_int_equal(pgw_parse_wall_iso("1969-12-31T23:59:59.999Z", &ms), 0);
	assert_int_equal(ms, -1);
	pgw_format_wall_iso(ms, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

static void
test_log_quote(void **state)
{
	char buf[64];

	(void) state;
	assert_string_equal(log_quote("plain", buf, sizeof(buf)), "plain");
	assert_string_equal(log_quote("has space", buf, sizeof(buf)),
	                    "\"has space\"");
	assert_string_equal(log_quote("a\"b", buf, sizeof(buf)), "\"a\\\"b\"");
	assert_string_equal(log_quote("", buf, sizeof(buf)), "\"\"");
}

static void
test_error_set(void **state)
{
	PgwError err = {0};

	(void) state;
	assert_int_equal(pgw_error_set(&err, PGW_ETIMEDOUT, "could not x: %s", "y"),
	                 PGW_ETIMEDOUT);
	assert_string_equal(err.msg, "could not x: y");
	pgw_error_prefix(&err, "ctx %d", 1);
	assert_string_equal(err.msg, "ctx 1: could not x: y");
	assert_string_equal(pgw_strerror(PGW_ECONFLICT), "conflict");
	assert_int_equal(pgw_error_set(NULL, PGW_EIO, "x"), PGW_EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_int64),
	    cmocka_unit_test(test_parse_bytes_and_durations),
	    cmocka_unit_test(test_iso_time),
	    cmocka_unit_test(test_log_quote),
	    cmocka_unit_test(test_error_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
