/*
 * test_consensus_dcs_codec.c: the DCS value codecs (consensus.h Part 2):
 * round trips, values as Patroni writes them (anchors.md §2.1), and every
 * kind of bad input rejected with PGW_EINVAL naming the field.
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

#define DEC_MEMBER(json, m, e)                                                 \
	dcs_member_decode("node1", json, strlen(json), m, e)

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

/* members/<name> ------------------------------------------------------- */

static void
test_member_patroni_302(void **state)
{
	/* as Patroni 3.0.2 touch_member writes it (compact JSON) */
	const char *j =
	    "{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\","
	    "\"api_url\":\"http://10.0.0.1:8008/patroni\",\"state\":\"running\","
	    "\"role\":\"master\",\"version\":\"3.0.2\",\"xlog_location\":50331808,"
	    "\"timeline\":3,\"tags\":{\"nofailover\":false,\"clonefrom\":true,"
	    "\"zone\":\"a\"},\"pending_restart\":true}";
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(DEC_MEMBER(j, &m, &e), 0);
	assert_string_equal(m.name, "node1");
	assert_int_equal(m.role, MEMBER_ROLE_PRIMARY);
	assert_int_equal(m.state, MEMBER_STATE_RUNNING);
	assert_int_equal(m.xlog_location, 50331808);
	assert_int_equal(m.timeline, 3);
	assert_true(m.pending_restart);
	assert_false(m.nofailover);
	assert_int_equal(m.failover_priority, 1);
	assert_int_equal(m.n_tags, 3);
	assert_string_equal(m.tags[2].key, "zone");
	assert_string_equal(m.tags[2].value, "a");
	assert_string_equal(m.api_url, "http://10.0.0.1:8008/patroni");
	assert_true(m.is_valid);
}

static void
test_member_roles_states(void **state)
{
	static const struct
	{
		const char *role;
		MemberRole want;
	} roles[] = {
	    {"primary", MEMBER_ROLE_PRIMARY},
	    {"master", MEMBER_ROLE_PRIMARY},
	    {"promoted", MEMBER_ROLE_PRIMARY},
	    {"replica", MEMBER_ROLE_REPLICA},
	    {"standby_leader", MEMBER_ROLE_STANDBY_LEADER},
	    {"demoted", MEMBER_ROLE_DEMOTED},
	    {"uninitialized", MEMBER_ROLE_UNINITIALIZED},
	};
	char j[512];
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
	{
		snprintf(j, sizeof(j),
		         "{\"conn_url\":\"\",\"api_url\":\"\","
		         "\"state\":\"creating replica\",\"role\":\"%s\"}",
		         roles[i].role);
		assert_int_equal(DEC_MEMBER(j, &m, &e), 0);
		assert_int_equal(m.role, roles[i].want);
		assert_int_equal(m.state, MEMBER_STATE_CREATING_REPLICA);
	}
	assert_string_equal(dcs_role_name(MEMBER_ROLE_PRIMARY), "primary");
	assert_string_equal(dcs_state_name(MEMBER_STATE_INITIALIZING),
	                    "initializing new cluster");
	assert_string_equal(dcs_state_name(MEMBER_STATE_START_FAILED),
	                    "start failed");
}

static void
test_member_round_trip(void **state)
{
	MemberInfo m;
	MemberInfo back;
	PgwError e = {0};
	char *json;

	(void) state;
	memset(&m, 0, sizeof(m));
	pgw_strlcpy(m.name, "n2", sizeof(m.name));
	pgw_strlcpy(m.conn_url, "postgres://127.0.0.1:5433/postgres",
	            sizeof(m.conn_url));
	pgw_strlcpy(m.api_url, "http://127.0.0.1:8009/patroni", sizeof(m.api_url));
	pgw_strlcpy(m.version, "pgwarden 0.1.0", sizeof(m.version));
	pgw_strlcpy(m.reason, "rule=follow reason=\"leader n1\"", sizeof(m.reason));
	pgw_strlcpy(m.replicatefrom, "n3", sizeof(m.replicatefrom));
	m.role = MEMBER_ROLE_REPLICA;
	m.state = MEMBER_STATE_RUNNING;
	m.xlog_location = 0x3000060;
	m.received_location = 0x3000060;
	m.replayed_location = 0x3000000;
	m.timeline = 2;
	m.nosync = true;
	m.failover_priority = 5;
	m.n_tags = 1;
	pgw_strlcpy(m.tags[0].key, "zone", sizeof(m.tags[0].key));
	pgw_strlcpy(m.tags[0].value, "b", sizeof(m.tags[0].value));
	json = dcs_member_encode(&m);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"role\":\"replica\""));
	assert_int_equal(dcs_member_decode("n2", json, strlen(json), &back, &e), 0);
	free(json);
	assert_string_equal(back.conn_url, m.conn_url);
	assert_string_equal(back.reason, m.reason);
	assert_string_equal(back.replicatefrom, "n3");
	assert_int_equal(back.role, MEMBER_ROLE_REPLICA);
	assert_int_equal(back.xlog_location, m.xlog_location);
	assert_int_equal(back.received_location, m.received_location);
	assert_int_equal(back.replayed_location, m.replayed_location);
	assert_int_equal(back.timeline, 2);
	assert_true(back.nosync);
	assert_false(back.nofailover);
	assert_int_equal(back.failover_priority, 5);

	/* the primary role is encoded as "primary" */
	m.role = MEMBER_ROLE_PRIMARY;
	json = dcs_member_encode(&m);
	assert_non_null(strstr(json, "\"role\":\"primary\""));
	free(json);
}

static void
test_member_bad(void **state)
{
	static const struct
	{
		const char *json;
		const char *needle;
	} bad[] = {
	    {"", "empty"},
	    {"garbage", "invalid JSON"},
	    {"{\"conn_url\":\"x\",", "invalid JSON"},
	    {"[]", "expected a JSON object"},
	    {"{\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\"}",
	     "\"conn_url\" is missing"},
	    {"{\"conn_url\":1,\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\"}",
	     "\"conn_url\": expected a string, got integer"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"boss\"}",
	     "unknown role"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"dancing\",\"role\":\"replica\"}",
	     "unknown state"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"xlog_location\":\"0/3000060\"}",
	     "\"xlog_location\": expected an integer"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"xlog_location\":-1}",
	     "out of range"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"timeline\":1.5}",
	     "\"timeline\""},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"tags\":{\"nofailover\":\"yes\"}}",
	     "tags.nofailover"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"tags\":{\"failover_priority\":-1}}",
	     "tags.failover_priority"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"tags\":{\"x\":{}}}",
	     "tags.x"},
	    {"{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"tags\":[]}",
	     "\"tags\""},
	    {"{\"conn_url\":\"\",\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\"}",
	     "duplicate"},
	};
	MemberInfo m;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		PgwError e = {0};

		memset(&m, 0x5a, sizeof(m));
		assert_int_equal(DEC_MEMBER(bad[i].json, &m, &e), PGW_EINVAL);
		assert_int_equal(e.code, PGW_EINVAL);
		assert_msg_has(&e, bad[i].needle);
		assert_msg_has(&e, "member \"node1\"");
		/* *out untouched on failure */
		assert_int_equal(((unsigned char *) &m)[0], 0x5a);
	}
}

static void
test_member_too_long(void **state)
{
	char big[1024];
	char j[2048];
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	memset(big, 'a', 300);
	big[300] = '\0';
	snprintf(j, sizeof(j),
	         "{\"conn_url\":\"%s\",\"api_url\":\"\","
	         "\"state\":\"running\",\"role\":\"replica\"}",
	         big);
	assert_int_equal(DEC_MEMBER(j, &m, &e), PGW_EINVAL);
	assert_msg_has(&e, "\"conn_url\": value is longer than 255 bytes");
	/* exactly 255 fits */
	big[255] = '\0';
	snprintf(j, sizeof(j),
	         "{\"conn_url\":\"%s\",\"api_url\":\"\","
	         "\"state\":\"running\",\"role\":\"replica\"}",
	         big);
	assert_int_equal(DEC_MEMBER(j, &m, &e), 0);
	assert_int_equal(strlen(m.conn_url), 255);
	/* 17 tags */
	pgw_strlcpy(
	    j,
	    "{\"conn_url\":\"\",\"api_url\":\"\",\"state\":\"running\",\"role\":\"replica\",\"tags\":{",
	    sizeof(j));
	for (int i = 0; i < 17; i++)
		snprintf(j + strlen(j), sizeof(j) - strlen(j), "%s\"t%d\":%d",
		         i ? "," : "", i, i);
	snprintf(j + strlen(j), sizeof(j) - strlen(j), "}}");
	assert_int_equal(DEC_MEMBER(j, &m, &e), PGW_EINVAL);
	assert_msg_has(&e, "more than 16 tags");
	/* a bad name */
	assert_int_equal(dcs_member_decode("", "{}", 2, &m, &e), PGW_EINVAL);
}

/* a member key with a newline in its name (security review F10: it forged
 * log lines) is refused at decode, and the view shows it with '?' */
static void
test_member_name_control_chars(void **state)
{
	const char *j =
	    "{\"conn_url\":\"postgres://127.0.0.1:1/postgres\","
	    "\"api_url\":\"http://127.0.0.1:1/patroni\",\"state\":\"running\","
	    "\"role\":\"replica\"}";
	const char *key =
	    "/service/demo/members/x\nT level=error event=fence.fired";
	ClusterView *v = calloc(1, sizeof(*v));
	EtcdEvent ev;
	MemberInfo m;
	PgwError e = {0};

	(void) state;
	assert_int_equal(dcs_member_decode("x\ny", j, strlen(j), &m, &e),
	                 PGW_EINVAL);
	assert_msg_has(&e, "control character");
	assert_int_equal(dcs_member_decode("x\x7fy", j, strlen(j), &m, &e),
	                 PGW_EINVAL);
	assert_int_equal(dcs_member_decode("x y", j, strlen(j), &m, &e), 0);
	memset(&ev, 0, sizeof(ev));
	ev.type = ETCD_EVENT_WATCH_PUT;
	ev.kv.key = (char *) key;
	ev.kv.key_len = strlen(key);
	ev.kv.value = (char *) j;
	ev.kv.value_len = strlen(j);
	ev.kv.mod_revision = 5;
	(void) dcs_view_apply_event(v, "/service/demo/", &ev);
	assert_int_equal(v->n_members, 1);
	assert_false(v->members[0].is_valid);
	assert_null(strchr(v->members[0].name, '\n'));
	assert_string_equal(v->members[0].name,
	                    "x?T level=error event=fence.fired");
	/* the same key again replaces it; its delete removes it */
	(void) dcs_view_apply_event(v, "/service/demo/", &ev);
	assert_int_equal(v->n_members, 1);
	ev.type = ETCD_EVENT_WATCH_DELETE;
	(void) dcs_view_apply_event(v, "/service/demo/", &ev);
	assert_int_equal(v->n_members, 0);
	free(v);
}

/* the leader and failover keys' names are never kept raw either: ctl
 * prints them on the operator's terminal (a forged escape sequence or
 * line) and the daemon compares them with member names */
static void
test_leader_failover_name_control_chars(void **state)
{
	const char *leader_key = "/service/demo/leader";
	const char *forged = "node1\nT level=error\x1b[2J";
	ClusterView *v = calloc(1, sizeof(*v));
	EtcdEvent ev;
	FailoverRequest f;
	PgwError e = {0};
	const char *bad_leader = "{\"leader\":\"a\\nb\",\"member\":\"c\"}";
	const char *bad_member = "{\"leader\":\"a\",\"member\":\"c\\u001b[2J\"}";
	const char *bad_del = "{\"member\":\"c\\u007f\"}";
	const char *fine = "{\"leader\":\"a b\",\"member\":\"c\"}";

	(void) state;
	assert_int_equal(
	    dcs_failover_decode(bad_leader, strlen(bad_leader), &f, &e),
	    PGW_EINVAL);
	assert_msg_has(&e, "\"leader\"");
	assert_msg_has(&e, "control character");
	assert_int_equal(
	    dcs_failover_decode(bad_member, strlen(bad_member), &f, &e),
	    PGW_EINVAL);
	assert_msg_has(&e, "\"member\"");
	assert_int_equal(dcs_failover_decode(bad_del, strlen(bad_del), &f, &e),
	                 PGW_EINVAL);
	assert_int_equal(dcs_failover_decode(fine, strlen(fine), &f, &e), 0);
	assert_string_equal(f.leader, "a b");

	memset(&ev, 0, sizeof(ev));
	ev.type = ETCD_EVENT_WATCH_PUT;
	ev.kv.key = (char *) leader_key;
	ev.kv.key_len = strlen(leader_key);
	ev.kv.value = (char *) forged;
	ev.kv.value_len = strlen(forged);
	ev.kv.mod_revision = 7;
	(void) dcs_view_apply_event(v, "/service/demo/", &ev);
	assert_true(v->has_leader); /* it still blocks elections */
	assert_string_equal(v->leader, "node1?T level=error?[2J");
	assert_true(v->n_bad_values >= 1);
	assert_non_null(strstr(v->bad_value_keys, "leader"));
	free(v);
}

/* config --------------------------------------------------------------- */

static void
test_config_defaults(void **state)
{
	DynamicConfig c;
	PgwError e = {0};

	(void) state;
	dcs_config_defaults(&c);
	assert_int_equal(c.ttl_ms, 10000);
	assert_int_equal(c.loop_wait_ms, 1000);
	assert_int_equal(c.retry_timeout_ms, 3000);
	assert_int_equal(c.maximum_lag_on_failover, 1048576);
	assert_int_equal(c.primary_start_timeout_ms, 3000);
	assert_int_equal(c.synchronous_node_count, 1);
	assert_true(c.use_pg_rewind && c.use_slots &&
	            c.remove_data_directory_on_rewind_failure);
	assert_int_equal(dcs_config_validate(&c, &e), 0);
}

static void
test_config_patroni(void **state)
{
	/* anchors.md §2.1 (ttl 31: see below), plus keys only Patroni uses */
	const char *j =
	    "{\"ttl\":31,\"loop_wait\":10,\"retry_timeout\":10,"
	    "\"maximum_lag_on_failover\":1048576,\"postgresql\":{\"use_pg_rewind\":true,"
	    "\"use_slots\":true,\"parameters\":{\"max_connections\":100,"
	    "\"wal_log_hints\":\"on\",\"hot_standby\":true,\"checkpoint_completion_target\":0.9},"
	    "\"pg_hba\":[\"host all all 0.0.0.0/0 md5\"]},\"synchronous_mode\":false,"
	    "\"pause\":true,\"slots\":{\"s\":{\"type\":\"physical\"}},\"ignore_slots\":[],"
	    "\"standby_cluster\":null,\"master_start_timeout\":300,\"whatever_new\":1}";
	DynamicConfig c;
	PgwError e = {0};

	(void) state;
	assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), 0);
	assert_int_equal(c.ttl_ms, 31000);
	assert_int_equal(c.loop_wait_ms, 10000);
	assert_int_equal(c.retry_timeout_ms, 10000);
	assert_int_equal(c.primary_start_timeout_ms, 300000);
	assert_true(c.pause);
	assert_false(c.synchronous_mode);
	assert_int_equal(c.n_params, 4);
	assert_string_equal(c.params[0].name, "max_connections");
	assert_string_equal(c.params[0].value, "100");
	assert_string_equal(c.params[2].value, "on");
	assert_string_equal(c.params[3].value, "0.9");

	/*
	 * Patroni's rule is loop_wait + 2 * retry_timeout <= ttl (issue 12):
	 * its defaults 30/10/10 and a fast 10/2/4 sit on the boundary and are
	 * valid; one millisecond more is refused, naming the keys.
	 */
	j = "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10}";
	assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), 0);
	assert_int_equal(c.ttl_ms, 30000);
	j = "{\"ttl\":10,\"loop_wait\":2,\"retry_timeout\":4}";
	assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), 0);
	assert_int_equal(c.retry_timeout_ms, 4000);
	j = "{\"ttl\":30,\"loop_wait\":10.001,\"retry_timeout\":10}";
	assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), PGW_EINVAL);
	assert_msg_has(
	    &e,
	    "config: key \"ttl\": loop_wait + 2 * retry_timeout (30001 ms) must not exceed ttl (30000 ms)");
}

static void
test_config_fast_and_quorum_round_trip(void **state)
{
	const char *j =
	    "{\"ttl\":3,\"loop_wait\":0.5,\"retry_timeout\":1,"
	    "\"synchronous_mode\":\"quorum\",\"synchronous_node_count\":2,"
	    "\"primary_start_timeout\":0.25,\"failsafe_mode\":true,\"check_timeline\":true}";
	DynamicConfig c;
	DynamicConfig back;
	PgwError e = {0};
	char *enc;

	(void) state;
	assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), 0);
	assert_int_equal(c.loop_wait_ms, 500);
	assert_int_equal(c.primary_start_timeout_ms, 250);
	assert_true(c.synchronous_mode && c.synchronous_quorum);
	c.n_params = 1;
	pgw_strlcpy(c.params[0].name, "shared_buffers", sizeof(c.params[0].name));
	pgw_strlcpy(c.params[0].value, "128MB", sizeof(c.params[0].value));
	enc = dcs_config_encode(&c);
	assert_non_null(strstr(enc, "\"loop_wait\":0.5"));
	assert_non_null(strstr(enc, "\"synchronous_mode\":\"quorum\""));
	assert_int_equal(dcs_config_decode(enc, strlen(enc), &back, &e), 0);
	free(enc);
	assert_memory_equal(&c, &back, sizeof(c));
}

static void
test_config_bad(void **state)
{
	static const struct
	{
		const char *json;
		const char *needle;
	} bad[] = {
	    {"{\"ttl\":\"abc\"}",
	     "config: key \"ttl\": expected a number, got string"},
	    {"{\"ttl\":5,\"loop_wait\":1.5,\"retry_timeout\":2}",
	     "must not exceed ttl"},
	    {"{\"ttl\":0}", "\"ttl\""},
	    {"{\"loop_wait\":-1}", "\"loop_wait\""},
	    {"{\"retry_timeout\":1e300}", "\"retry_timeout\""},
	    {"{\"maximum_lag_on_failover\":\"1MB\"}",
	     "\"maximum_lag_on_failover\""},
	    {"{\"maximum_lag_on_failover\":-5}", "\"maximum_lag_on_failover\""},
	    {"{\"synchronous_mode\":\"any\"}", "\"synchronous_mode\""},
	    {"{\"synchronous_node_count\":0}", "\"synchronous_node_count\""},
	    {"{\"pause\":1}", "\"pause\": expected a boolean"},
	    {"{\"postgresql\":[]}", "\"postgresql\""},
	    {"{\"postgresql\":{\"use_slots\":\"yes\"}}",
	     "\"postgresql.use_slots\""},
	    {"{\"postgresql\":{\"parameters\":{\"a\":[1]}}}",
	     "\"postgresql.parameters.a\""},
	    {"{\"postgresql\":{\"parameters\":{\"a\":null}}}",
	     "\"postgresql.parameters.a\""},
	    {"[1,2]", "expected a JSON object"},
	    {"{\"ttl\":10", "invalid JSON"},
	    {"\"\\u0000\"", "invalid JSON"},
	};
	DynamicConfig c;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		PgwError e = {0};

		assert_int_equal(
		    dcs_config_decode(bad[i].json, strlen(bad[i].json), &c, &e),
		    PGW_EINVAL);
		assert_msg_has(&e, bad[i].needle);
	}
	/* a parameter value longer than its buffer */
	{
		char j[1024];
		char v[400];
		PgwError e = {0};

		memset(v, 'x', 300);
		v[300] = '\0';
		snprintf(j, sizeof(j),
		         "{\"postgresql\":{\"parameters\":{\"p\":\"%s\"}}}", v);
		assert_int_equal(dcs_config_decode(j, strlen(j), &c, &e), PGW_EINVAL);
		assert_msg_has(&e, "longer than 255 bytes");
	}
}

/* failover, sync, history ---------------------------------------------- */

static void
test_failover(void **state)
{
	const char *j = "{\"leader\":\"node1\",\"member\":\"node2\","
	                "\"scheduled_at\":\"2024-05-01T10:00:00+00:00\"}";
	FailoverRequest f;
	FailoverRequest back;
	PgwError e = {0};
	char *enc;

	(void) state;
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), 0);
	assert_true(f.present);
	assert_string_equal(f.leader, "node1");
	assert_string_equal(f.member, "node2");
	assert_int_equal(f.scheduled_at_wall_ms, 1714557600000LL);
	enc = dcs_failover_encode(&f);
	assert_int_equal(dcs_failover_decode(enc, strlen(enc), &back, &e), 0);
	free(enc);
	assert_int_equal(back.scheduled_at_wall_ms, f.scheduled_at_wall_ms);
	assert_string_equal(back.member, "node2");

	/* failover without leader; Patroni's microseconds */
	j = "{\"member\":\"node3\",\"scheduled_at\":\"2016-01-14T10:09:57.1394Z\"}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), 0);
	assert_string_equal(f.leader, "");
	/* refused: no zone, wrong types, legacy plain text */
	j = "{\"member\":\"n\",\"scheduled_at\":\"2024-05-01T10:00:00\"}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), PGW_EINVAL);
	assert_msg_has(&e, "scheduled_at");
	j = "{\"member\":3}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), PGW_EINVAL);
	assert_msg_has(&e, "\"member\": expected a string");
	j = "node1:node2";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), PGW_EINVAL);

	/* the old leader's handover record round-trips; bad ones are refused */
	j = "{\"leader\":\"node1\",\"member\":\"node2\",\"handover_lsn\":67399680}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), 0);
	assert_true(f.handover_lsn == 67399680u);
	enc = dcs_failover_encode(&f);
	assert_int_equal(dcs_failover_decode(enc, strlen(enc), &back, &e), 0);
	free(enc);
	assert_true(back.handover_lsn == 67399680u);
	j = "{\"member\":\"node2\",\"handover_lsn\":\"0/4047000\"}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), PGW_EINVAL);
	assert_msg_has(&e, "handover_lsn");
	j = "{\"member\":\"node2\",\"handover_lsn\":0}";
	assert_int_equal(dcs_failover_decode(j, strlen(j), &f, &e), PGW_EINVAL);
	assert_msg_has(&e, "out of range");
}

static void
test_sync(void **state)
{
	const char *j = "{\"leader\":\"node1\",\"sync_standby\":\"node2,node3\"}";
	SyncState s;
	SyncState back;
	PgwError e = {0};
	char *enc;

	(void) state;
	assert_int_equal(dcs_sync_decode(j, strlen(j), &s, &e), 0);
	assert_string_equal(s.leader, "node1");
	assert_int_equal(s.n_sync, 2);
	assert_string_equal(s.sync_standby[1], "node3");
	assert_int_equal(s.quorum, 0);
	s.quorum = 1;
	enc = dcs_sync_encode(&s);
	assert_string_equal(
	    enc,
	    "{\"leader\":\"node1\",\"sync_standby\":\"node2,node3\",\"quorum\":1}");
	assert_int_equal(dcs_sync_decode(enc, strlen(enc), &back, &e), 0);
	free(enc);
	assert_int_equal(back.quorum, 1);
	/* Patroni writes null when no standby is synchronous */
	j = "{\"leader\":\"node1\",\"sync_standby\":null}";
	assert_int_equal(dcs_sync_decode(j, strlen(j), &s, &e), 0);
	assert_int_equal(s.n_sync, 0);
	j = "{\"leader\":\"node1\",\"sync_standby\":[\"a\"]}";
	assert_int_equal(dcs_sync_decode(j, strlen(j), &s, &e), PGW_EINVAL);
	assert_msg_has(&e, "sync_standby");
	j = "{\"leader\":\"node1\",\"quorum\":\"2\"}";
	assert_int_equal(dcs_sync_decode(j, strlen(j), &s, &e), PGW_EINVAL);
	assert_msg_has(&e, "quorum");
	{
		char big[200];
		char jj[400];

		memset(big, 'n', 100);
		big[100] = '\0';
		snprintf(jj, sizeof(jj), "{\"leader\":\"a\",\"sync_standby\":\"b,%s\"}",
		         big);
		assert_int_equal(dcs_sync_decode(jj, strlen(jj), &s, &e), PGW_EINVAL);
		assert_msg_has(&e, "longer than 63");
	}
}

static void
test_history(void **state)
{
	const char *j =
	    "[[1,25165984,\"no recovery target specified\"],"
	    "[2,50331808,\"no recovery target specified\",\"2023-05-10T12:00:00.123456+02:00\"],"
	    "[3,67109024,\"no recovery target specified\",\"2023-05-11T12:00:00+00:00\",\"node2\"]]";
	HistoryEntry *h = NULL;
	HistoryEntry *back = NULL;
	int n = 0;
	int nb = 0;
	PgwError e = {0};
	char *enc;

	(void) state;
	assert_int_equal(dcs_history_decode(j, strlen(j), &h, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].timeline, 1);
	assert_int_equal(h[0].lsn, 25165984);
	assert_string_equal(h[0].time, "");
	assert_string_equal(h[1].time, "2023-05-10T12:00:00.123456+02:00");
	assert_string_equal(h[2].new_leader, "node2");
	enc = dcs_history_encode(h, n);
	assert_string_equal(enc, j);
	assert_int_equal(dcs_history_decode(enc, strlen(enc), &back, &nb, &e), 0);
	assert_int_equal(nb, 3);
	free(enc);
	free(back);
	free(h);

	assert_int_equal(dcs_history_decode("[]", 2, &h, &n, &e), 0);
	assert_int_equal(n, 0);
	free(h);

	j = "[[1,\"0/3000060\",\"x\"]]";
	assert_int_equal(dcs_history_decode(j, strlen(j), &h, &n, &e), PGW_EINVAL);
	assert_msg_has(&e, "entry 0: element 1 (lsn)");
	assert_null(h);
	j = "[[1,2]]";
	assert_int_equal(dcs_history_decode(j, strlen(j), &h, &n, &e), PGW_EINVAL);
	j = "[[1,2,\"r\",\"2023-05-11 12:00:00\"]]";
	assert_int_equal(dcs_history_decode(j, strlen(j), &h, &n, &e), PGW_EINVAL);
	assert_msg_has(&e, "(time)");
	j = "{\"a\":1}";
	assert_int_equal(dcs_history_decode(j, strlen(j), &h, &n, &e), PGW_EINVAL);
	assert_msg_has(&e, "expected a JSON list");
}

static void
test_view_member(void **state)
{
	static ClusterView v;

	(void) state;
	v.n_members = 2;
	pgw_strlcpy(v.members[0].name, "a", sizeof(v.members[0].name));
	pgw_strlcpy(v.members[1].name, "b", sizeof(v.members[1].name));
	assert_ptr_equal(dcs_view_member(&v, "b"), &v.members[1]);
	assert_null(dcs_view_member(&v, "c"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_member_patroni_302),
	    cmocka_unit_test(test_member_roles_states),
	    cmocka_unit_test(test_member_round_trip),
	    cmocka_unit_test(test_member_bad),
	    cmocka_unit_test(test_member_too_long),
	    cmocka_unit_test(test_member_name_control_chars),
	    cmocka_unit_test(test_leader_failover_name_control_chars),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_patroni),
	    cmocka_unit_test(test_config_fast_and_quorum_round_trip),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_failover),
	    cmocka_unit_test(test_sync),
	    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_view_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
