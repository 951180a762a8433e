/*
 * test_common_log.c: log lines cannot be forged by the values they carry
 * (security review F10): a member name, a REST body or a server message
 * with a newline, a quote or " key=value" stays inside its own field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"

#include <stdio.h>
#include <string.h>

static void
test_newline_cannot_start_a_line(void **state)
{
	char buf[256];

	(void) state;
	log_render(buf, sizeof(buf), "members=\"%s\"",
	           "x\nT level=error event=fence.fired");
	assert_null(strchr(buf, '\n'));
	assert_string_equal(buf, "members=\"x\\nT level=error event=fence.fired\"");
	log_render(buf, sizeof(buf), "a=%s b=%d", "one\rtwo\x1b[2J", 7);
	assert_null(strchr(buf, '\r'));
	assert_null(strchr(buf, 0x1b));
	assert_string_equal(buf, "a=\"one\\rtwo\\x1b[2J\" b=7");
	/* DEL too */
	log_render(buf, sizeof(buf), "n=%s", "a\x7f");
	assert_string_equal(buf, "n=\"a\\x7f\"");
}

static void
test_value_cannot_add_a_field(void **state)
{
	char buf[256];

	(void) state;
	/* the review's reproduction: a candidate name with fields in it */
	log_render(buf, sizeof(buf), "leader=%s candidate=%s status=%d", "node2",
	           "ghost level=error event=fence.fired by=attacker", 412);
	assert_string_equal(
	    buf,
	    "leader=node2 candidate=\"ghost level=error event=fence.fired by=attacker\" status=412");
	/* inside a quoted value, its quotes are escaped */
	log_render(buf, sizeof(buf), "detail=\"%s\" next=1",
	           "could not open \"x\"\" evil=1");
	assert_string_equal(
	    buf, "detail=\"could not open \\\"x\\\"\\\" evil=1\" next=1");
	/* a quoted value in the middle of a longer one */
	log_render(buf, sizeof(buf), "reason=\"leader %s gone\"", "a\"b");
	assert_string_equal(buf, "reason=\"leader a\\\"b gone\"");
}

static void
test_plain_values_unchanged(void **state)
{
	char buf[256];
	char q[64];

	(void) state;
	log_render(buf, sizeof(buf),
	           "member=%s lease=%llx ttl_ms=%d lag=%zu f=%.1f", "node1",
	           0x7f3aULL, 10000, (size_t) 42, 1.25);
	assert_string_equal(buf,
	                    "member=node1 lease=7f3a ttl_ms=10000 lag=42 f=1.2");
	/* a value already quoted by log_quote passes as it is */
	log_render(buf, sizeof(buf), "cmd=%s",
	           log_quote("/bin/x -D a b", q, sizeof(q)));
	assert_string_equal(buf, "cmd=\"/bin/x -D a b\"");
	/* a fragment that is not a value (no '=' before it) keeps its spaces */
	log_render(buf, sizeof(buf), "duration_ms=%d%s", 5, " killed=timeout");
	assert_string_equal(buf, "duration_ms=5 killed=timeout");
	/* precision and width from arguments */
	log_render(buf, sizeof(buf), "name=%.*s w=%*d", 3, "abcdef", 4, 7);
	assert_string_equal(buf, "name=abc w=   7");
	log_render(buf, sizeof(buf), "pct=100%% s=%s", "");
	assert_string_equal(buf, "pct=100% s=");
}

static void
test_truncation_is_safe(void **state)
{
	char buf[16];
	char q[8];

	(void) state;
	log_render(buf, sizeof(buf), "k=\"%s\"", "0123456789\n0123456789");
	assert_true(strlen(buf) < sizeof(buf));
	assert_null(strchr(buf, '\n'));
	/* log_quote closes its quote even when it truncates */
	log_quote("a b c d e f g", q, sizeof(q));
	assert_int_equal(q[0], '"');
	assert_int_equal(q[strlen(q) - 1], '"');
	assert_string_equal(log_quote("", q, sizeof(q)), "\"\"");
	assert_string_equal(log_quote("a\nb", q, sizeof(q)), "\"a\\nb\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_newline_cannot_start_a_line),
	    cmocka_unit_test(test_value_cannot_add_a_field),
	    cmocka_unit_test(test_plain_values_unchanged),
	    cmocka_unit_test(test_truncation_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
