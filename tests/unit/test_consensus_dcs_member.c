/*
 * test_consensus_dcs_member.c: the member-key fields a Patroni client reads
 * beyond the basics (issue 22): pause, scheduled_restart,
 * checkpoint_after_promote and proxy_url, as Patroni 3.0.2's touch_member()
 * writes them and as we write them back; bad values refused naming the
 * field; dcs_member_flags_differ() sees every one of them change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "consensus/consensus.h"

#include "common/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE                                                                   \
	"\"conn_url\":\"postgres://10.0.0.1:5432/postgres\","                      \
	"\"api_url\":\"http://10.0.0.1:8008/patroni\",\"state\":\"running\","      \
	"\"role\":\"replica\""

static int
dec(const char *json, MemberInfo *m, PgwError *e)
{
	memset(m, 0, sizeof(*m));
	return dcs_member_decode("node1", json, strlen(json), m, e);
}

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void
test_patroni_fields_decode(void **state)
{
	/* a paused Patroni 3.0.2 replica with a restart scheduled through
	 * patronictl restart --scheduled --pending --pg-version 15.3 */
	const char *j =
	    "{" BASE
	    ",\"pause\":true,\"proxy_url\":\"postgres://10.0.0.1:6432/postgres\","
	    "\"scheduled_restart\":{\"schedule\":\"2030-01-01T10:00:00+00:00\","
	    "\"restart_pending\":true,\"postgres_version\":\"15.3\",\"role\":\"replica\","
	    "\"timeout\":30,\"postmaster_start_time\":\"2026-05-01 10:00:00.123 UTC\"},"
	    "\"checkpoint_after_promote\":false}";
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	assert_int_equal(dec(j, &m, &e), 0);
	assert_true(m.pause);
	assert_true(m.checkpoint_pending);
	assert_string_equal(m.proxy_url, "postgres://10.0.0.1:6432/postgres");
	assert_int_equal(m.scheduled_restart.schedule_wall_ms,
	                 INT64_C(1893492000000));
	assert_true(m.scheduled_restart.restart_pending);
	assert_string_equal(m.scheduled_restart.postgres_version, "15.3");
	assert_string_equal(m.scheduled_restart.role, "replica");
	assert_int_equal(m.scheduled_restart.timeout_s, 30);

	/* absent: not paused, checkpoint done, nothing scheduled */
	j = "{" BASE ",\"checkpoint_after_promote\":true}";
	assert_int_equal(dec(j, &m, &e), 0);
	assert_false(m.pause);
	assert_false(m.checkpoint_pending);
	assert_int_equal(m.scheduled_restart.schedule_wall_ms, 0);
	assert_string_equal(m.proxy_url, "");
}

static void
test_patroni_fields_round_trip(void **state)
{
	MemberInfo m;
	MemberInfo back;
	PgwError e = {0};
	char *enc;

	(void) state;
	memset(&m, 0, sizeof(m));
	pgw_strlcpy(m.name, "node1", sizeof(m.name));
	pgw_strlcpy(m.conn_url, "postgres://127.0.0.1:5432/postgres",
	            sizeof(m.conn_url));
	pgw_strlcpy(m.api_url, "http://127.0.0.1:8008/patroni", sizeof(m.api_url));
	m.role = MEMBER_ROLE_PRIMARY;
	m.state = MEMBER_STATE_RUNNING;
	m.failover_priority = 1;
	m.pause = true;
	m.checkpoint_pending = true;
	pgw_strlcpy(m.proxy_url, "postgres://127.0.0.1:6432/postgres",
	            sizeof(m.proxy_url));
	m.scheduled_restart.schedule_wall_ms = INT64_C(1893492000000);
	m.scheduled_restart.restart_pending = true;
	pgw_strlcpy(m.scheduled_restart.postgres_version, "15.3",
	            sizeof(m.scheduled_restart.postgres_version));
	enc = dcs_member_encode(&m);
	assert_non_null(strstr(enc, "\"pause\":true"));
	assert_non_null(strstr(enc, "\"checkpoint_after_promote\":false"));
	assert_non_null(strstr(
	    enc,
	    "\"scheduled_restart\":{\"schedule\":\"2030-01-01T10:00:00+00:00\""));
	assert_non_null(strstr(enc, "\"restart_pending\":true"));
	assert_non_null(
	    strstr(enc, "\"proxy_url\":\"postgres://127.0.0.1:6432/postgres\""));
	assert_int_equal(dcs_member_decode("node1", enc, strlen(enc), &back, &e),
	                 0);
	free(enc);
	assert_true(back.pause && back.checkpoint_pending);
	assert_int_equal(back.scheduled_restart.schedule_wall_ms,
	                 m.scheduled_restart.schedule_wall_ms);
	assert_string_equal(back.scheduled_restart.postgres_version, "15.3");
	assert_false(dcs_member_flags_differ(&m, &back));

	/* quiet steady state: none of them written */
	memset(&m.scheduled_restart, 0, sizeof(m.scheduled_restart));
	m.pause = false;
	m.checkpoint_pending = false;
	m.proxy_url[0] = '\0';
	enc = dcs_member_encode(&m);
	assert_null(strstr(enc, "pause"));
	assert_null(strstr(enc, "scheduled_restart"));
	assert_null(strstr(enc, "checkpoint_after_promote"));
	assert_null(strstr(enc, "proxy_url"));
	free(enc);
}

static void
test_patroni_fields_bad(void **state)
{
	static const struct
	{
		const char *json;
		const char *needle;
	} bad[] = {
	    {"{" BASE ",\"pause\":\"yes\"}", "key \"pause\": expected a boolean"},
	    {"{" BASE ",\"checkpoint_after_promote\":0}",
	     "key \"checkpoint_after_promote\""},
	    {"{" BASE ",\"proxy_url\":5}", "key \"proxy_url\": expected a string"},
	    {"{" BASE ",\"scheduled_restart\":\"soon\"}",
	     "scheduled_restart\": expected a JSON object"},
	    {"{" BASE ",\"scheduled_restart\":{}}", "key \"schedule\" is missing"},
	    {"{" BASE ",\"scheduled_restart\":{\"schedule\":\"tomorrow\"}}",
	     "is not an ISO 8601 time"},
	    {"{" BASE
	     ",\"scheduled_restart\":{\"schedule\":\"2030-01-01T10:00:00+00:00\",\"timeout\":-1}}",
	     "key \"timeout\""},
	    {"{" BASE
	     ",\"scheduled_restart\":{\"schedule\":\"2030-01-01T10:00:00+00:00\",\"postgres_version\":[15]}}",
	     "postgres_version"},
	};
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		pgw_error_clear(&e);
		if (dec(bad[i].json, &m, &e) != PGW_EINVAL)
			fail_msg("accepted: %s", bad[i].json);
		assert_msg_has(&e, bad[i].needle);
		assert_msg_has(&e, "member \"node1\"");
	}
}

static void
test_flags_differ(void **state)
{
	MemberInfo a;
	MemberInfo b;

	(void) state;
	memset(&a, 0, sizeof(a));
	b = a;
	assert_false(dcs_member_flags_differ(&a, &b));
	b.pause = true;
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	b.pending_restart = true;
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	b.checkpoint_pending = true;
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	b.scheduled_restart.schedule_wall_ms = 1;
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	pgw_strlcpy(b.scheduled_restart.role, "replica",
	            sizeof(b.scheduled_restart.role));
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	pgw_strlcpy(b.proxy_url, "postgres://x:1/postgres", sizeof(b.proxy_url));
	assert_true(dcs_member_flags_differ(&a, &b));
	b = a;
	b.n_tags = 1;
	pgw_strlcpy(b.tags[0].key, "zone", sizeof(b.tags[0].key));
	assert_true(dcs_member_flags_differ(&a, &b));
	a = b;
	pgw_strlcpy(b.tags[0].value, "b", sizeof(b.tags[0].value));
	assert_true(dcs_member_flags_differ(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_fields_decode),
	    cmocka_unit_test(test_patroni_fields_round_trip),
	    cmocka_unit_test(test_patroni_fields_bad),
	    cmocka_unit_test(test_flags_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
