/*
 * test_daemon_rest_access.c: who may call the write endpoints (allowlist
 * CIDR matching, basic auth, member hosts from URLs) and whether a
 * switchover may name a candidate (rest_switchover_check), as tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strutil.h"
#include "daemon/daemon_int.h"
#include "daemon/rest_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct sockaddr_storage
addr_of(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':') == NULL)
	{
		struct sockaddr_in *a = (struct sockaddr_in *) &ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
	}
	else
	{
		struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
	}
	return ss;
}

typedef struct CidrCase
{
	const char *cidr;
	const char *addr;
	bool match;
} CidrCase;

static const CidrCase cidr_cases[] = {
    {"10.0.0.0/8", "10.1.2.3", true},
    {"10.0.0.0/8", "11.0.0.1", false},
    {"10.0.0.0/8", "127.0.0.1", false},
    {"10.1.2.3/8", "10.200.0.1", true}, /* host bits cleared */
    {"192.168.1.0/25", "192.168.1.127", true},
    {"192.168.1.0/25", "192.168.1.128", false},
    {"127.0.0.1", "127.0.0.1", true},
    {"127.0.0.1", "127.0.0.2", false},
    {"0.0.0.0/0", "8.8.8.8", true},
    {"0.0.0.0/0", "::1", false},
    {"127.0.0.0/8", "::ffff:127.0.0.1", true}, /* IPv4-mapped */
    {"::1", "::1", true},
    {"::1/128", "::2", false},
    {"fd00::/8", "fd12:3456::1", true},
    {"fd00::/8", "fe80::1", false},
    {"2001:db8::/33", "2001:db8:7fff::1", true},
    {"2001:db8::/33", "2001:db8:8000::1", false},
    {"::/0", "10.0.0.1", false},
};

static void
test_cidr_match(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++)
	{
		RestCidr c;
		struct sockaddr_storage ss = addr_of(cidr_cases[i].addr);

		if (rest_cidr_parse(cidr_cases[i].cidr, &c) != 0)
			fail_msg("case %zu: %s did not parse", i, cidr_cases[i].cidr);
		if (rest_cidr_match(&c, (struct sockaddr *) &ss) != cidr_cases[i].match)
			fail_msg("case %zu: %s vs %s", i, cidr_cases[i].cidr,
			         cidr_cases[i].addr);
	}
}

static void
test_cidr_bad(void **state)
{
	static const char *const bad[] = {"",
	                                  "/8",
	                                  "10.0.0.0/",
	                                  "10.0.0.0/33",
	                                  "10.0.0.0/-1",
	                                  "10.0.0/8",
	                                  "::1/129",
	                                  "host.example",
	                                  "10.0.0.0/8x",
	                                  "300.0.0.1",
	                                  "10.0.0.0/8/8",
	                                  NULL};
	RestCidr c;

	(void) state;
	for (int i = 0; bad[i]; i++)
		if (rest_cidr_parse(bad[i], &c) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
	assert_false(rest_cidr_match(&c, NULL));
}

static void
test_url_host(void **state)
{
	static const char *const cases[][2] = {
	    {"http://10.0.0.5:8008/patroni", "10.0.0.5"},
	    {"https://node1.example:8008", "node1.example"},
	    {"postgres://user:pw@10.0.0.6:5432/postgres", "10.0.0.6"},
	    {"postgres://[fd00::1]:5432/postgres", "fd00::1"},
	    {"127.0.0.1:8008", "127.0.0.1"},
	    {"http://h/x", "h"},
	};
	char host[128];

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		assert_true(rest_url_host(cases[i][0], host, sizeof(host)));
		assert_string_equal(host, cases[i][1]);
	}
	assert_false(rest_url_host("", host, sizeof(host)));
	assert_false(rest_url_host("http://:8008/", host, sizeof(host)));
	assert_false(rest_url_host("http://[fd00::1:8008/", host, sizeof(host)));
	/* the userinfo ends at its last '@' (a password may hold one) */
	assert_true(
	    rest_url_host("postgres://rep:p@ss@db1:5432/x", host, sizeof(host)));
	assert_string_equal(host, "db1");
	/* a URL that does not split names no host to trust */
	assert_false(rest_url_host("http://h:99999/patroni", host, sizeof(host)));
	assert_false(rest_url_host("fd00::1:8008", host, sizeof(host)));
	assert_false(rest_url_host("http://averyveryverylonghostname/", host, 8));
}

static void
test_host_match(void **state)
{
	struct sockaddr_storage lo = addr_of("127.0.0.1");
	struct sockaddr_storage other = addr_of("10.9.9.9");

	(void) state;
	assert_true(rest_host_match("127.0.0.1", (struct sockaddr *) &lo));
	assert_true(rest_host_match("localhost", (struct sockaddr *) &lo));
	assert_false(rest_host_match("localhost", (struct sockaddr *) &other));
	assert_false(rest_host_match("", (struct sockaddr *) &lo));
	assert_false(
	    rest_host_match("no-such-host.invalid", (struct sockaddr *) &lo));
}

static void
test_basic_auth(void **state)
{
	(void) state;
	/* "admin:s3cret" */
	assert_null(
	    rest_basic_auth_check("Basic YWRtaW46czNjcmV0", "admin", "s3cret"));
	assert_null(
	    rest_basic_auth_check("basic  YWRtaW46czNjcmV0 ", "admin", "s3cret"));
	assert_string_equal(rest_basic_auth_check(NULL, "admin", "s3cret"),
	                    "no auth header received");
	assert_string_equal(rest_basic_auth_check("", "admin", "s3cret"),
	                    "no auth header received");
	/* "admin:wrong" */
	assert_string_equal(
	    rest_basic_auth_check("Basic YWRtaW46d3Jvbmc=", "admin", "s3cret"),
	    "not authenticated");
	/* "admin:s3cret2": a longer secret with the right prefix */
	assert_string_equal(
	    rest_basic_auth_check("Basic YWRtaW46czNjcmV0Mg==", "admin", "s3cret"),
	    "not authenticated");
	/* "admin:s3cre" */
	assert_string_equal(
	    rest_basic_auth_check("Basic YWRtaW46czNjcmU=", "admin", "s3cret"),
	    "not authenticated");
	assert_string_equal(rest_basic_auth_check("Bearer abc", "admin", "s3cret"),
	                    "not authenticated");
	assert_string_equal(rest_basic_auth_check("Basic !!!!", "admin", "s3cret"),
	                    "not authenticated");
	assert_string_equal(
	    rest_basic_auth_check("Basic YWRtaW46czNjcmV0=", "admin", "s3cret"),
	    "not authenticated"); /* bad padding */
	assert_string_equal(rest_basic_auth_check("Basic ", "admin", "s3cret"),
	                    "not authenticated");
	/* no authentication configured: everyone passes */
	assert_null(rest_basic_auth_check(NULL, NULL, NULL));
	assert_null(rest_basic_auth_check("Basic xx", "", NULL));
}

static void
test_secret_equal(void **state)
{
	(void) state;
	assert_true(rest_secret_equal("abc", 3, "abc", 3));
	assert_false(rest_secret_equal("abc", 3, "abd", 3));
	assert_false(rest_secret_equal("abc", 3, "abc\0", 4));
	assert_false(rest_secret_equal("", 0, "a", 1));
	assert_true(rest_secret_equal("", 0, "", 0));
}

/* ---- rest_switchover_check ---------------------------------------------- */

static void
member(ClusterView *v, const char *name, MemberRole role, uint64_t lsn)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	m->role = role;
	m->state = MEMBER_STATE_RUNNING;
	m->xlog_location = lsn;
	m->received_location = role == MEMBER_ROLE_REPLICA ? lsn : 0;
	m->replayed_location = role == MEMBER_ROLE_REPLICA ? lsn : 0;
	m->failover_priority = 1;
	m->timeline = 1;
	m->is_valid = true;
	snprintf(m->api_url, sizeof(m->api_url), "http://127.0.0.1:8008/patroni");
}

static ClusterView *
base_view(void)
{
	ClusterView *v = calloc(1, sizeof(ClusterView));

	v->is_valid = true;
	dcs_config_defaults(&v->config);
	v->has_leader = true;
	pgw_strlcpy(v->leader, "n1", sizeof(v->leader));
	member(v, "n1", MEMBER_ROLE_PRIMARY, 100 << 20);
	member(v, "n2", MEMBER_ROLE_REPLICA, 100 << 20);
	member(v, "n3", MEMBER_ROLE_REPLICA, 100 << 20);
	return v;
}

typedef enum Twist
{
	NONE,
	N2_NOFAILOVER,
	N2_LAGGING,
	N2_STOPPED,
	N2_INVALID,
	N2_PRIORITY0,
	SYNC_N3,
	PAUSED,
	NO_LEADER,
	ALL_REPLICAS_NOFAILOVER,
} Twist;

typedef struct CheckCase
{
	Twist twist;
	const char *leader;
	const char *candidate;
	bool is_failover;
	bool scheduled;
	int status;
	const char *part;
} CheckCase;

static const CheckCase check_cases[] = {
    {NONE, "n1", "n2", false, false, 0, ""},
    {NONE, "n1", "", false, false, 0, ""},
    {NONE, "n1", "n3", false, true, 0, ""},
    {NONE, "n2", "n3", false, false, 412, "leader name does not match"},
    {NONE, "n1", "n9", false, false, 412, "candidate does not exists"},
    {NONE, "n1", "n1", false, false, 412, "already the leader"},
    {N2_NOFAILOVER, "n1", "n2", false, false, 412, "nofailover"},
    {N2_NOFAILOVER, "n1", "n3", false, false, 0, ""},
    {N2_LAGGING, "n1", "n2", false, false, 412, "lags"},
    {N2_STOPPED, "n1", "n2", false, false, 412, "PostgreSQL is stopped"},
    {N2_INVALID, "n1", "n2", false, false, 412, "does not decode"},
    {N2_PRIORITY0, "n1", "n2", false, false, 412, "failover_priority is 0"},
    {SYNC_N3, "n1", "n2", false, false, 412,
     "does not match with sync_standby"},
    {SYNC_N3, "n1", "n3", false, false, 0, ""},
    {SYNC_N3, "n1", "", false, false, 0, ""},
    {PAUSED, "n1", "", false, false, 400, "only to a specific candidate"},
    {PAUSED, "n1", "n2", false, true, 400, "paused state"},
    {PAUSED, "n1", "n2", false, false, 0, ""},
    {NO_LEADER, "n1", "n2", false, false, 412, "leader name does not match"},
    {NO_LEADER, "", "n2", true, false, 0, ""},
    {ALL_REPLICAS_NOFAILOVER, "n1", "", false, false, 412,
     "no good candidates"},
    {NONE, "", "n2", true, false, 0, ""}, /* failover with a live leader */
};

static void
test_switchover_check(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++)
	{
		const CheckCase *c = &check_cases[i];
		ClusterView *v = base_view();
		char why[512];
		int status;

		switch (c->twist)
		{
			case N2_NOFAILOVER:
				v->members[1].nofailover = true;
				break;
			case N2_LAGGING:
				v->members[1].received_location =
				    v->members[1].replayed_location =
				        v->members[1].xlog_location = 10 << 20;
				break;
			case N2_STOPPED:
				v->members[1].state = MEMBER_STATE_STOPPED;
				break;
			case N2_INVALID:
				v->members[1].is_valid = false;
				break;
			case N2_PRIORITY0:
				v->members[1].failover_priority = 0;
				break;
			case SYNC_N3:
				v->config.synchronous_mode = true;
				v->sync.present = true;
				v->sync.n_sync = 1;
				pgw_strlcpy(v->sync.sync_standby[0], "n3", PGW_NAME_MAX);
				break;
			case PAUSED:
				v->config.pause = true;
				break;
			case NO_LEADER:
				v->has_leader = false;
				v->leader[0] = '\0';
				v->members[0].state = MEMBER_STATE_STOPPED;
				v->members[1].xlog_location = v->members[1].received_location =
				    v->members[1].replayed_location =
				        10 << 20; /* lag ignored */
				break;
			case ALL_REPLICAS_NOFAILOVER:
				v->members[1].nofailover = true;
				v->members[2].nofailover = true;
				break;
			case NONE:
				break;
		}
		status =
		    rest_switchover_check(v, c->leader, c->candidate, c->is_failover,
		                          c->scheduled, why, sizeof(why));
		if (status != c->status || strstr(why, c->part) == NULL)
			fail_msg("case %zu: status=%d why=\"%s\" (want %d \"%s\")", i,
			         status, why, c->status, c->part);
		free(v);
	}
}

/* security review F3: a vouch only for the last leader, from its address */
static void
test_failsafe_vouch_check(void **state)
{
	struct sockaddr_storage lo = addr_of("127.0.0.1");
	struct sockaddr_storage other = addr_of("127.0.0.2");
	struct sockaddr_storage far = addr_of("10.1.2.3");
	char why[256];

	(void) state;
	assert_int_equal(rest_failsafe_vouch_check(
	                     "node1", "node1", "http://127.0.0.1:8008/patroni",
	                     "postgres://127.0.0.1:5432/postgres",
	                     (struct sockaddr *) &lo, why, sizeof(why)),
	                 0);
	/* any other name, even a member: refused */
	assert_int_equal(rest_failsafe_vouch_check(
	                     "evil", "node1", "http://127.0.0.1:8008/patroni", "",
	                     (struct sockaddr *) &lo, why, sizeof(why)),
	                 403);
	assert_non_null(strstr(why, "not the leader"));
	/* no leader ever seen: refused */
	assert_int_equal(rest_failsafe_vouch_check("node1", "", "", "",
	                                           (struct sockaddr *) &lo, why,
	                                           sizeof(why)),
	                 403);
	/* the leader's name from another address: refused */
	assert_int_equal(rest_failsafe_vouch_check(
	                     "node1", "node1", "http://127.0.0.1:8008/patroni",
	                     "postgres://127.0.0.1:5432/postgres",
	                     (struct sockaddr *) &other, why, sizeof(why)),
	                 403);
	assert_non_null(strstr(why, "address"));
	/* its conn_url host counts as well */
	assert_int_equal(rest_failsafe_vouch_check(
	                     "node1", "node1", "http://127.0.0.1:8008/patroni",
	                     "postgres://10.1.2.3:5432/postgres",
	                     (struct sockaddr *) &far, why, sizeof(why)),
	                 0);
	assert_int_equal(rest_failsafe_vouch_check("node1", "node1", "", "", NULL,
	                                           why, sizeof(why)),
	                 403);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_match),
	    cmocka_unit_test(test_cidr_bad),
	    cmocka_unit_test(test_url_host),
	    cmocka_unit_test(test_host_match),
	    cmocka_unit_test(test_basic_auth),
	    cmocka_unit_test(test_secret_equal),
	    cmocka_unit_test(test_switchover_check),
	    cmocka_unit_test(test_failsafe_vouch_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
