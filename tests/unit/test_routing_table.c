/*
 * test_routing_table.c: the routing table (routing.h): codec round trips,
 * every kind of bad value rejected with a message naming the field (and the
 * caller's previous table untouched), conn_url parsing, and
 * routing_table_build() from cluster views: weights from tags, the lag
 * bound, noloadbalance, fenced and switching tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "routing/routing.h"

#include "common/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static const char *good =
    "{\"epoch\":7,\"state\":\"serving\",\"leader\":\"node1\","
    "\"primary\":{\"name\":\"node1\",\"host\":\"10.0.0.1\",\"port\":5432},"
    "\"replicas\":[{\"name\":\"node2\",\"host\":\"10.0.0.2\",\"port\":5433,"
    "\"lag\":16,\"sync_state\":\"sync\",\"weight\":50}],"
    "\"time\":\"2026-11-23T10:01:02.123Z\"}";

static void
test_decode_good(void **state)
{
	RoutingTable t;
	PgwError e = {0};
	char *s;
	RoutingTable t2;

	(void) state;
	assert_int_equal(routing_table_decode(good, strlen(good), &t, &e), 0);
	assert_int_equal(t.epoch, 7);
	assert_int_equal(t.state, ROUTING_STATE_SERVING);
	assert_true(t.has_primary);
	assert_string_equal(t.primary.host, "10.0.0.1");
	assert_int_equal(t.primary.port, 5432);
	assert_int_equal(t.n_replicas, 1);
	assert_string_equal(t.replicas[0].ep.name, "node2");
	assert_int_equal(t.replicas[0].lag_bytes, 16);
	assert_true(t.replicas[0].is_sync);
	assert_int_equal(t.replicas[0].weight, 50);
	assert_true(t.changed_at_wall_ms > 0);

	/* round trip */
	s = routing_table_encode(&t);
	assert_int_equal(routing_table_decode(s, strlen(s), &t2, &e), 0);
	assert_true(routing_table_equal_routes(&t, &t2));
	assert_int_equal(t2.epoch, 7);
	assert_int_equal(t2.changed_at_wall_ms, t.changed_at_wall_ms);
	assert_int_equal(t2.replicas[0].lag_bytes, 16);
	free(s);

	/* fenced: primary null; unknown keys ignored (rolling upgrades) */
	{
		const char *f = "{\"epoch\":8,\"state\":\"fenced\",\"primary\":null,"
		                "\"replicas\":[],\"future_field\":{\"x\":1}}";

		assert_int_equal(routing_table_decode(f, strlen(f), &t, &e), 0);
		assert_int_equal(t.state, ROUTING_STATE_FENCED);
		assert_false(t.has_primary);
	}
}

static void
test_decode_bad(void **state)
{
	static const struct
	{
		const char *json;
		const char *needle;
	} cases[] = {
	    {"", "not JSON"},
	    {"[1]", "not a JSON object"},
	    {"{\"state\":\"serving\"}", "epoch: missing"},
	    {"{\"epoch\":0,\"state\":\"fenced\"}", "epoch: 0 is out of range"},
	    {"{\"epoch\":\"1\",\"state\":\"fenced\"}", "epoch: not an integer"},
	    {"{\"epoch\":1,\"state\":\"up\"}", "state: \"up\""},
	    {"{\"epoch\":1}", "state: missing"},
	    {"{\"epoch\":1,\"state\":\"serving\"}", "primary: required"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"primary\":{\"name\":\"a\",\"host\":\"h\",\"port\":1}}",
	     "primary: must be null"},
	    {"{\"epoch\":1,\"state\":\"serving\",\"primary\":{\"name\":\"a\",\"host\":\"h\",\"port\":70000}}",
	     "primary.port: 70000 is out of range"},
	    {"{\"epoch\":1,\"state\":\"serving\",\"primary\":{\"name\":\"a\",\"host\":\"h x\",\"port\":1}}",
	     "primary.host"},
	    {"{\"epoch\":1,\"state\":\"serving\",\"primary\":{\"name\":\"a\",\"port\":1}}",
	     "primary.host: missing"},
	    {"{\"epoch\":1,\"state\":\"serving\",\"primary\":\"a\"}",
	     "primary: not an object"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"replicas\":{}}",
	     "replicas: not an array"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"replicas\":[{\"name\":\"b\",\"host\":\"h\",\"port\":1,\"weight\":300}]}",
	     "replicas[0].weight: 300 is out of range"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"replicas\":[{\"name\":\"b\",\"host\":\"h\",\"port\":1,\"lag\":-1}]}",
	     "replicas[0].lag"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"replicas\":[{\"name\":\"b\",\"host\":\"h\",\"port\":1,\"sync_state\":\"maybe\"}]}",
	     "replicas[0].sync_state"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"replicas\":[{\"name\":\"b\",\"host\":\"h\",\"port\":1},{\"name\":\"b\",\"host\":\"h\",\"port\":2}]}",
	     "replicas[1].name: \"b\" appears twice"},
	    {"{\"epoch\":1,\"state\":\"serving\",\"primary\":{\"name\":\"a\",\"host\":\"h\",\"port\":1},\"replicas\":[{\"name\":\"a\",\"host\":\"h\",\"port\":1}]}",
	     "is also the primary"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"time\":\"yesterday\"}", "time:"},
	    {"{\"epoch\":1,\"epoch\":2,\"state\":\"fenced\"}", "not JSON"},
	    {"{\"epoch\":1,\"state\":\"fenced\",\"leader\":\"a\\\"b\"}", "leader:"},
	};
	RoutingTable t;

	(void) state;
	for (size_t i = 0; i < PGW_LENGTHOF(cases); i++)
	{
		PgwError e = {0};

		/* the previous table stays as it was */
		memset(&t, 0x5a, sizeof(t));
		t.epoch = 42;
		if (routing_table_decode(cases[i].json, strlen(cases[i].json), &t,
		                         &e) != PGW_EINVAL)
			fail_msg("case %zu accepted: %s", i, cases[i].json);
		assert_int_equal(e.code, PGW_EINVAL);
		assert_msg_has(&e, cases[i].needle);
		assert_int_equal(t.epoch, 42);
	}
}

static void
test_conn_url(void **state)
{
	RoutingEndpoint ep;
	PgwError e = {0};

	(void) state;
	assert_int_equal(
	    routing_endpoint_from_url("postgres://10.0.0.1:5433/postgres", &ep, &e),
	    0);
	assert_string_equal(ep.host, "10.0.0.1");
	assert_int_equal(ep.port, 5433);
	assert_int_equal(
	    routing_endpoint_from_url(
	        "postgresql://u:p@w@db.example:6000/x?sslmode=require", &ep, &e),
	    0);
	assert_string_equal(ep.host, "db.example");
	assert_int_equal(ep.port, 6000);
	assert_int_equal(
	    routing_endpoint_from_url("postgres://[::1]:5434/postgres", &ep, &e),
	    0);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 5434);
	assert_int_equal(routing_endpoint_from_url("postgres://h/db", &ep, &e), 0);
	assert_int_equal(ep.port, 5432);
	assert_int_equal(routing_endpoint_from_url("http://h:1/", &ep, &e),
	                 PGW_EINVAL);
	assert_int_equal(routing_endpoint_from_url("postgres://h:0/", &ep, &e),
	                 PGW_EINVAL);
	assert_int_equal(routing_endpoint_from_url("postgres://h:x/", &ep, &e),
	                 PGW_EINVAL);
	assert_int_equal(routing_endpoint_from_url("postgres://:5432/", &ep, &e),
	                 PGW_EINVAL);
	assert_int_equal(routing_endpoint_from_url("postgres://[::1/", &ep, &e),
	                 PGW_EINVAL);
	assert_non_null(strstr(e.msg, "unclosed ["));
	/* an unbracketed IPv6 host, text after ], a forbidden character */
	assert_int_equal(
	    routing_endpoint_from_url("postgres://fd00::1:5432/", &ep, &e),
	    PGW_EINVAL);
	assert_non_null(strstr(e.msg, "needs brackets"));
	assert_int_equal(routing_endpoint_from_url("postgres://[::1]x/", &ep, &e),
	                 PGW_EINVAL);
	assert_int_equal(routing_endpoint_from_url("postgres://h,x:5432/", &ep, &e),
	                 PGW_EINVAL);
	assert_non_null(strstr(e.msg, "quote or separator"));
	/* an error never quotes the password */
	assert_int_equal(
	    routing_endpoint_from_url("postgres://u:s3cr@t@h:99999/", &ep, &e),
	    PGW_EINVAL);
	assert_null(strstr(e.msg, "s3cr"));
	assert_int_equal(routing_endpoint_from_url("http://u:s3cr@t@h:1/", &ep, &e),
	                 PGW_EINVAL);
	assert_non_null(strstr(e.msg, "does not start with postgres://"));
	assert_null(strstr(e.msg, "s3cr"));
}

static MemberInfo *
add_member(ClusterView *v, const char *name, MemberRole role, int port,
           uint64_t xlog)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	snprintf(m->conn_url, sizeof(m->conn_url),
	         "postgres://127.0.0.1:%d/postgres", port);
	m->role = role;
	m->state = MEMBER_STATE_RUNNING;
	m->xlog_location = xlog;
	m->is_valid = true;
	return m;
}

static void
tag(MemberInfo *m, const char *k, const char *val)
{
	pgw_strlcpy(m->tags[m->n_tags].key, k, sizeof(m->tags[0].key));
	pgw_strlcpy(m->tags[m->n_tags].value, val, sizeof(m->tags[0].value));
	m->n_tags++;
}

static void
test_build(void **state)
{
	ClusterView *v = calloc(1, sizeof(*v));
	RoutingTable t;
	PgwError e = {0};
	MemberInfo *m;

	(void) state;
	add_member(v, "n1", MEMBER_ROLE_PRIMARY, 5001, 1000000);
	m = add_member(v, "n3", MEMBER_ROLE_REPLICA, 5003, 999000);
	tag(m, "weight", "30");
	add_member(v, "n2", MEMBER_ROLE_REPLICA, 5002, 1000000);
	m = add_member(v, "n4", MEMBER_ROLE_REPLICA, 5004, 10); /* far behind */
	m = add_member(v, "n5", MEMBER_ROLE_REPLICA, 5005, 1000000);
	m->noloadbalance = true;
	m = add_member(v, "n6", MEMBER_ROLE_REPLICA, 5006, 1000000);
	m->state = MEMBER_STATE_STOPPED;                       /* not listed */
	m = add_member(v, "n7", MEMBER_ROLE_REPLICA, 5007, 0); /* no position */
	m = add_member(v, "n8", MEMBER_ROLE_REPLICA, 5008, 1000000);
	tag(m, "weight", "lots"); /* not an integer: default */
	m = add_member(v, "n9", MEMBER_ROLE_REPLICA, 5009, 1000000);
	m->is_valid = false; /* undecodable member value: not listed */
	v->sync.n_sync = 1;
	pgw_strlcpy(v->sync.sync_standby[0], "n2", PGW_NAME_MAX);

	assert_int_equal(routing_table_build(v, "n1", ROUTING_STATE_SERVING, 5,
	                                     100000, 1700000000000, &t, &e),
	                 0);
	assert_int_equal(t.epoch, 5);
	assert_string_equal(t.leader, "n1");
	assert_true(t.has_primary);
	assert_string_equal(t.primary.name, "n1");
	assert_int_equal(t.primary.port, 5001);
	assert_int_equal(t.changed_at_wall_ms, 1700000000000);
	assert_int_equal(t.n_replicas, 6);
	/* sorted by name: n2 n3 n4 n5 n7 n8 */
	assert_string_equal(t.replicas[0].ep.name, "n2");
	assert_true(t.replicas[0].is_sync);
	assert_int_equal(t.replicas[0].weight, 100);
	assert_int_equal(t.replicas[0].lag_bytes, 0);
	assert_string_equal(t.replicas[1].ep.name, "n3");
	assert_false(t.replicas[1].is_sync);
	assert_int_equal(t.replicas[1].weight, 30);
	assert_int_equal(t.replicas[1].lag_bytes, 1000);
	assert_string_equal(t.replicas[2].ep.name, "n4");
	assert_int_equal(t.replicas[2].weight, 0); /* over the lag bound */
	assert_int_equal(t.replicas[2].lag_bytes, 1000000 - 10);
	assert_string_equal(t.replicas[3].ep.name, "n5");
	assert_int_equal(t.replicas[3].weight, 0); /* noloadbalance */
	assert_string_equal(t.replicas[4].ep.name, "n7");
	assert_int_equal(t.replicas[4].weight, 0); /* unknown position */
	assert_string_equal(t.replicas[5].ep.name, "n8");
	assert_int_equal(t.replicas[5].weight, 100);

	/* no lag bound: the far replica keeps its weight */
	assert_int_equal(
	    routing_table_build(v, "n1", ROUTING_STATE_SERVING, 5, 0, 0, &t, &e),
	    0);
	assert_int_equal(t.replicas[2].weight, 100);

	/* the table survives its own codec */
	{
		char *s = routing_table_encode(&t);
		RoutingTable t2;

		assert_int_equal(routing_table_decode(s, strlen(s), &t2, &e), 0);
		assert_true(routing_table_equal_routes(&t, &t2));
		free(s);
	}

	/* fenced: no primary, replicas still listed for reads */
	assert_int_equal(routing_table_build(v, "n1", ROUTING_STATE_FENCED, 6,
	                                     100000, 0, &t, &e),
	                 0);
	assert_false(t.has_primary);
	assert_int_equal(t.state, ROUTING_STATE_FENCED);
	assert_int_equal(t.n_replicas, 6);

	/* switching names the leader if it has a member key */
	assert_int_equal(
	    routing_table_build(v, "n1", ROUTING_STATE_SWITCHING, 7, 0, 0, &t, &e),
	    0);
	assert_true(t.has_primary);

	/* refusals */
	assert_int_equal(
	    routing_table_build(v, "ghost", ROUTING_STATE_SERVING, 8, 0, 0, &t, &e),
	    PGW_EINVAL);
	assert_msg_has(&e, "ghost");
	assert_int_equal(
	    routing_table_build(v, "ghost", ROUTING_STATE_FENCED, 8, 0, 0, &t, &e),
	    0);
	assert_int_equal(
	    routing_table_build(v, "n1", ROUTING_STATE_SERVING, 0, 0, 0, &t, &e),
	    PGW_EINVAL);
	pgw_strlcpy(v->members[0].conn_url, "garbage", PGW_URL_MAX);
	assert_int_equal(
	    routing_table_build(v, "n1", ROUTING_STATE_SERVING, 9, 0, 0, &t, &e),
	    PGW_EINVAL);
	assert_msg_has(&e, "conn_url");
	free(v);
}

static void
test_equal_routes(void **state)
{
	RoutingTable a;
	RoutingTable b;
	PgwError e = {0};

	(void) state;
	assert_int_equal(routing_table_decode(good, strlen(good), &a, &e), 0);
	b = a;
	b.epoch = 99;
	b.replicas[0].lag_bytes = 12345;
	assert_true(routing_table_equal_routes(&a, &b));
	b.replicas[0].weight = 0;
	assert_false(routing_table_equal_routes(&a, &b));
	b = a;
	b.primary.port = 1;
	assert_false(routing_table_equal_routes(&a, &b));
	b = a;
	b.state = ROUTING_STATE_SWITCHING;
	assert_false(routing_table_equal_routes(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_good),  cmocka_unit_test(test_decode_bad),
	    cmocka_unit_test(test_conn_url),     cmocka_unit_test(test_build),
	    cmocka_unit_test(test_equal_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
