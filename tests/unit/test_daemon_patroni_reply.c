/*
 * test_daemon_patroni_reply.c: patronictl gets Patroni's plain-text answers
 * from the write endpoints (rest_reply_for_patronictl), every other client
 * keeps our JSON; bodies that are not one message or error stay JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/dropin_int.h"
#include "daemon/rest_int.h"

#include "common/xmem.h"

#include <stdlib.h>
#include <string.h>

static bool
convert(const char *ua, const char *body, char **out)
{
	RestReply r = {0};
	bool done;

	r.status = 200;
	r.body = body ? pgw_xstrdup(body) : NULL;
	done = rest_reply_for_patronictl(ua, &r);
	*out = r.body;
	return done;
}

static void
test_patronictl_gets_text(void **state)
{
	char *b;

	(void) state;
	assert_true(convert(
	    "Patroni/3.0.2 Python/3.11.2 Linux",
	    "{\"message\":\"Successfully switched over to \\\"node2\\\"\"}", &b));
	assert_string_equal(b, "Successfully switched over to \"node2\"");
	free(b);
	assert_true(convert("Patroni/3.0.2 Python/3.11.2 Linux",
	                    "{\"error\":\"restart conditions are not satisfied\"}",
	                    &b));
	assert_string_equal(b, "restart conditions are not satisfied");
	free(b);
}

static void
test_others_keep_json(void **state)
{
	char *b;
	const char *j = "{\"message\":\"reload scheduled\"}";

	(void) state;
	assert_false(convert("curl/7.88.1", j, &b));
	assert_string_equal(b, j);
	free(b);
	assert_false(convert(NULL, j, &b));
	free(b);
	assert_false(convert("pgwardenctl", j, &b));
	free(b);
	/* PATCH /config answers the new config: JSON for patronictl too */
	j = "{\"ttl\":30,\"loop_wait\":10}";
	assert_false(convert("Patroni/3.0.2", j, &b));
	assert_string_equal(b, j);
	free(b);
	j = "{\"message\":5}";
	assert_false(convert("Patroni/3.0.2", j, &b));
	free(b);
	assert_false(convert("Patroni/3.0.2", "not json", &b));
	assert_string_equal(b, "not json");
	free(b);
	assert_false(convert("Patroni/3.0.2", NULL, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patronictl_gets_text),
	    cmocka_unit_test(test_others_keep_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
