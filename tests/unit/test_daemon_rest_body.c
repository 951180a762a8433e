/*
 * test_daemon_rest_body.c: the REST write side's request bodies
 * (daemon/rest_body.c) as tables: switchover/failover, restart and
 * reinitialize bodies with the status each refusal answers, the RFC 7386
 * merge patch, and PATCH/PUT /config validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/rest_body.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW INT64_C(1767261600000) /* 2026-01-01T10:00:00Z */

typedef struct SwitchCase
{
	const char *body;
	bool is_failover;
	int status;           /* 0: accepted */
	const char *msg_part; /* in the message (refusals) or candidate */
} SwitchCase;

static const SwitchCase switch_cases[] = {
    {"{\"leader\":\"n1\",\"candidate\":\"n2\"}", false, 0, "n2"},
    {"{\"leader\":\"n1\"}", false, 0, ""},
    {"{\"leader\":\"n1\",\"member\":\"n3\"}", false, 0, "n3"},
    {"{\"leader\":\"n1\",\"candidate\":null,\"scheduled_at\":null}", false, 0,
     ""},
    {"{\"leader\":\"n1\",\"scheduled_at\":\"2026-01-01T11:00:00+00:00\"}",
     false, 0, ""},
    {"{\"candidate\":\"n2\"}", true, 0, "n2"},
    {"{\"candidate\":\"n2\",\"leader\":\"n1\"}", true, 0, "n2"},
    /* refusals */
    {"", false, 400, "JSON object is required"},
    {"   \n", false, 400, "JSON object is required"},
    {"{", false, 400, "invalid JSON"},
    {"[1,2]", false, 400, "expected a JSON object, got an array"},
    {"\"n1\"", false, 400, "got a string"},
    {"{\"leader\":\"n1\",\"leader\":\"n2\"}", false, 400, "invalid JSON"},
    {"{\"candidate\":\"n2\"}", false, 400, "only from a specific leader"},
    {"{\"leader\":\"n1\"}", true, 400, "only to a specific candidate"},
    {"{\"leader\":1}", false, 400,
     "key \"leader\": expected a member name (string), got an integer"},
    {"{\"leader\":\"n1\",\"candidate\":[\"n2\"]}", false, 400, "got an array"},
    {"{\"leader\":\"n1\",\"candidate\":\"n\\u0000x\"}", false, 400,
     "u0000 is not allowed"},
    {"{\"leader\":\"n1\",\"candidate\":\"a/b\"}", false, 400, "'/'"},
    {"{\"leader\":\"n1\",\"candidate\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
     false, 400, "longer than"},
    {"{\"leader\":\"n1\",\"force\":true}", false, 400, "unknown key \"force\""},
    {"{\"leader\":\"n1\",\"scheduled_at\":\"2026-01-01T11:00:00\"}", false, 400,
     "Timezone information is mandatory for the scheduled switchover"},
    {"{\"leader\":\"n1\",\"scheduled_at\":\"tomorrow\"}", false, 422,
     "Unable to parse"},
    {"{\"leader\":\"n1\",\"scheduled_at\":\"2025-01-01T11:00:00Z\"}", false,
     422, "in the past"},
    {"{\"leader\":\"n1\",\"scheduled_at\":\"1960-01-01T11:00:00Z\"}", false,
     422, "out of range"},
    {"{\"leader\":\"n1\",\"scheduled_at\":12}", false, 400,
     "expected an ISO 8601"},
    {"{\"candidate\":\"n2\",\"scheduled_at\":\"2026-01-01T11:00:00Z\"}", true,
     400, "Failover can't be scheduled"},
    {"{\"leader\":\"n1\",\"candidate\":\"n1\"}", false, 412,
     "already the leader"},
};

static void
test_switchover_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(switch_cases) / sizeof(switch_cases[0]); i++)
	{
		const SwitchCase *c = &switch_cases[i];
		RestSwitchoverBody b;
		PgwError err = {0};
		int status = -1;
		int rc = rest_body_switchover(c->body, strlen(c->body), c->is_failover,
		                              NOW, &b, &status, &err);

		if (c->status == 0)
		{
			if (rc != 0)
				fail_msg("case %zu (%s): refused: %s", i, c->body, err.msg);
			assert_string_equal(b.candidate, c->msg_part);
		}
		else
		{
			if (rc == 0 || status != c->status ||
			    strstr(err.msg, c->msg_part) == NULL)
				fail_msg("case %zu (%s): rc=%d status=%d msg=\"%s\"", i,
				         c->body, rc, status, err.msg);
		}
	}
}

static void
test_switchover_schedule_value(void **state)
{
	RestSwitchoverBody b;
	int status;
	const char *body =
	    "{\"leader\":\"n1\",\"scheduled_at\":\"2026-01-01T12:00:00+01:00\"}";

	(void) state;
	assert_int_equal(
	    rest_body_switchover(body, strlen(body), false, NOW, &b, &status, NULL),
	    0);
	assert_true(b.has_schedule);
	assert_int_equal(b.scheduled_at_wall_ms, NOW + 3600 * 1000);
	assert_string_equal(b.leader, "n1");
}

typedef struct RestartCase
{
	const char *body;
	int status;
	const char *msg_part;
} RestartCase;

static const RestartCase restart_cases[] = {
    {"", 0, NULL},
    {"{}", 0, NULL},
    {"{\"restart_pending\":true,\"role\":\"master\",\"postgres_version\":\"15.4\",\"timeout\":30}",
     0, NULL},
    {"{\"role\":\"replica\",\"postgres_version\":\"9.6.24\",\"timeout\":\"2min\"}",
     0, NULL},
    {"{\"schedule\":\"2026-01-02T00:00:00Z\"}", 0, NULL},
    {"{\"role\":\"leader\"}", 400, "either primary or replica"},
    {"{\"role\":1}", 400, "either primary or replica"},
    {"{\"postgres_version\":\"15\"}", 400, "X.Y or X.Y.Z"},
    {"{\"postgres_version\":\"9.6\"}", 400, "X.Y or X.Y.Z"},
    {"{\"postgres_version\":\"15.2.1\"}", 400, "X.Y or X.Y.Z"},
    {"{\"postgres_version\":150002}", 400, "X.Y or X.Y.Z"},
    {"{\"postgres_version\":\"15.x\"}", 400, "X.Y or X.Y.Z"},
    {"{\"timeout\":0}", 400, "positive number of seconds"},
    {"{\"timeout\":-5}", 400, "positive number of seconds"},
    {"{\"timeout\":\"soon\"}", 400, "positive number of seconds"},
    {"{\"timeout\":1.5}", 400, "positive number of seconds"},
    {"{\"restart_pending\":\"yes\"}", 400, "expected a boolean"},
    {"{\"schedule\":\"2026-01-02 00:00\"}", 400,
     "Timezone information is mandatory for the scheduled restart"},
    {"{\"schedule\":\"2020-01-02T00:00:00Z\"}", 422, "in the past"},
    {"{\"when\":\"now\"}", 400,
     "Unknown filter for the scheduled restart: when"},
    {"[]", 400, "expected a JSON object"},
    {"{\"role\":", 400, "invalid JSON"},
};

static void
test_restart_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(restart_cases) / sizeof(restart_cases[0]);
	     i++)
	{
		const RestartCase *c = &restart_cases[i];
		RestRestartBody b;
		PgwError err = {0};
		int status = -1;
		int rc =
		    rest_body_restart(c->body, strlen(c->body), NOW, &b, &status, &err);

		if (c->status == 0 ? rc != 0
		                   : (rc == 0 || status != c->status ||
		                      strstr(err.msg, c->msg_part) == NULL))
			fail_msg("case %zu (%s): rc=%d status=%d msg=\"%s\"", i, c->body,
			         rc, status, err.msg);
	}
}

static void
test_restart_values(void **state)
{
	RestRestartBody b;
	int status;
	const char *body =
	    "{\"restart_pending\":true,\"role\":\"master\",\"postgres_version\":\"15.4\",\"timeout\":\"90s\",\"schedule\":\"2026-01-01T10:30:00Z\"}";

	(void) state;
	assert_int_equal(
	    rest_body_restart(body, strlen(body), NOW, &b, &status, NULL), 0);
	assert_true(b.restart_pending);
	assert_string_equal(b.role, "primary");
	assert_int_equal(b.postgres_version, 150004);
	assert_int_equal(b.timeout_s, 90);
	assert_true(b.has_schedule);
	assert_int_equal(b.scheduled_wall_ms, NOW + 30 * 60 * 1000);
	body = "{\"postgres_version\":\"9.6.24\"}";
	assert_int_equal(
	    rest_body_restart(body, strlen(body), NOW, &b, &status, NULL), 0);
	assert_int_equal(b.postgres_version, 90624);
}

static void
test_reinit(void **state)
{
	bool force = true;
	int status;
	PgwError err = {0};

	(void) state;
	assert_int_equal(rest_body_reinit("", 0, &force, &status, NULL), 0);
	assert_false(force);
	assert_int_equal(
	    rest_body_reinit("{\"force\":true}", 14, &force, &status, NULL), 0);
	assert_true(force);
	assert_int_equal(
	    rest_body_reinit("{\"force\":\"false\"}", 17, &force, &status, NULL),
	    0);
	assert_false(force);
	assert_int_equal(
	    rest_body_reinit("{\"force\":3}", 11, &force, &status, &err),
	    PGW_EINVAL);
	assert_int_equal(status, 400);
	assert_int_equal(rest_body_reinit("{\"x\":1}", 7, &force, &status, &err),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "unknown key \"x\""));
}

/* RFC 7386 appendix A, plus nested cases */
static const char *const merge_cases[][3] = {
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
     "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
    {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
    {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
    {"{\"a\":\"foo\"}", "null", "null"},
    {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
    {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
};

static void
test_merge_patch_rfc7386(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++)
	{
		json_t *t = json_loads(merge_cases[i][0], JSON_DECODE_ANY, NULL);
		json_t *p = json_loads(merge_cases[i][1], JSON_DECODE_ANY, NULL);
		json_t *want = json_loads(merge_cases[i][2], JSON_DECODE_ANY, NULL);
		json_t *got;

		assert_non_null(t);
		assert_non_null(p);
		assert_non_null(want);
		got = rest_json_merge_patch(t, p);
		if (!json_equal(got, want))
		{
			char *s = json_dumps(got, JSON_ENCODE_ANY);

			fail_msg("case %zu: got %s want %s", i, s, merge_cases[i][2]);
		}
		json_decref(got);
		json_decref(p);
		json_decref(want);
	}
}

#define CURRENT                                                                \
	"{\"ttl\":10,\"loop_wait\":1,\"retry_timeout\":3,\"maximum_lag_on_failover\":1048576,\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{\"max_connections\":100},\"pg_hba\":[\"host all all 0.0.0.0/0 md5\"]},\"slots\":{\"s\":{\"type\":\"physical\"}},\"someone_elses\":{\"x\":1}}"

typedef struct ConfigCase
{
	const char *patch;
	bool replace;
	int status;       /* 0: accepted */
	const char *part; /* in the result or the message */
} ConfigCase;

static const ConfigCase config_cases[] = {
    {"{\"ttl\":20}", false, 0, "\"ttl\":20"},
    {"{\"pause\":true}", false, 0, "\"someone_elses\":{\"x\":1}"}, /* kept */
    {"{\"postgresql\":{\"parameters\":{\"max_connections\":null,\"work_mem\":\"8MB\"}}}",
     false, 0, "\"parameters\":{\"work_mem\":\"8MB\"}"},
    {"{\"slots\":null}", false, 0, "\"retry_timeout\":3"},
    {"{\"someone_elses\":{\"y\":2}}", false, 0,
     "\"someone_elses\":{\"x\":1,\"y\":2}"},
    {"{\"ttl\":10,\"loop_wait\":1,\"retry_timeout\":3}", true, 0, "\"ttl\":10"},
    /* refusals */
    {"{\"ttl\":\"ten\"}", false, 422, "key \"ttl\""},
    {"{\"ttl\":2}", false, 422,
     "ttl"}, /* loop_wait + 2 * retry_timeout < ttl */
    {"{\"pause\":\"yes\"}", false, 422, "key \"pause\": expected a boolean"},
    {"{\"tll\":20}", false, 422, "key \"tll\": unknown key"},
    {"{\"postgresql\":{\"use_pg_rewnd\":true}}", false, 422,
     "postgresql.use_pg_rewnd"},
    {"{\"someone_elses\":{\"y\":2}}", true, 422, "unknown key"},
    {"{\"postgresql\":[]}", false, 422, "postgresql"},
    {"[]", false, 400, "expected a JSON object"},
    {"null", false, 400, "expected a JSON object"},
    {"{", false, 400, "invalid JSON"},
    {"", false, 400, "JSON object is required"},
};

static void
test_config_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++)
	{
		const ConfigCase *c = &config_cases[i];
		char *out = NULL;
		DynamicConfig cfg;
		PgwError err = {0};
		int status = -1;
		int rc = rest_body_config(CURRENT, strlen(CURRENT), c->patch,
		                          strlen(c->patch), c->replace, &out, &cfg,
		                          &status, &err);

		if (c->status == 0)
		{
			if (rc != 0)
				fail_msg("case %zu (%s): refused: %s", i, c->patch, err.msg);
			if (strstr(out, c->part) == NULL)
				fail_msg("case %zu (%s): %s lacks %s", i, c->patch, out,
				         c->part);
		}
		else if (rc == 0 || status != c->status ||
		         strstr(err.msg, c->part) == NULL)
			fail_msg("case %zu (%s): rc=%d status=%d msg=\"%s\"", i, c->patch,
			         rc, status, err.msg);
		free(out);
	}
}

static void
test_config_decoded(void **state)
{
	char *out = NULL;
	DynamicConfig cfg;
	int status;
	const char *patch = "{\"ttl\":30,\"synchronous_mode\":true}";

	(void) state;
	assert_int_equal(rest_body_config(CURRENT, strlen(CURRENT), patch,
	                                  strlen(patch), false, &out, &cfg, &status,
	                                  NULL),
	                 0);
	assert_int_equal(cfg.ttl_ms, 30000);
	assert_true(cfg.synchronous_mode);
	assert_int_equal(cfg.loop_wait_ms, 1000);
	free(out);
}

static void
test_huge_body(void **state)
{
	size_t n = REST_BODY_MAX + 10;
	char *big = malloc(n + 1);
	RestSwitchoverBody b;
	RestRestartBody rb;
	int status = 0;
	PgwError err = {0};

	(void) state;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	assert_int_equal(
	    rest_body_switchover(big, n, false, NOW, &b, &status, &err),
	    PGW_EINVAL);
	assert_int_equal(status, 413);
	assert_int_equal(rest_body_restart(big, n, NOW, &rb, &status, &err),
	                 PGW_EINVAL);
	assert_int_equal(status, 413);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_switchover_table),
	    cmocka_unit_test(test_switchover_schedule_value),
	    cmocka_unit_test(test_restart_table),
	    cmocka_unit_test(test_restart_values),
	    cmocka_unit_test(test_reinit),
	    cmocka_unit_test(test_merge_patch_rfc7386),
	    cmocka_unit_test(test_config_table),
	    cmocka_unit_test(test_config_decoded),
	    cmocka_unit_test(test_huge_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
