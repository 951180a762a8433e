/*
 * test_ctl_list_lag.c: `pgwardenctl list` marks a replica whose lag passes
 * the cluster's maximum_lag_on_failover (the bound past which it is not
 * promoted), in the table ("!" and a footnote) and in JSON
 * (lag_over_maximum); a replica at or under the bound is not marked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strutil.h"
#include "ctl/ctl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB (1024ULL * 1024ULL)

static char *
capture(const ClusterView *v, CtlFormat fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ctl_list_print(f, v, "demo", 7, fmt);
	fclose(f);
	return buf;
}

static void
add(ClusterView *v, const char *name, uint64_t lsn)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	snprintf(m->conn_url, sizeof(m->conn_url),
	         "postgres://10.0.0.%d:5432/postgres", v->n_members);
	m->role = v->n_members == 1 ? MEMBER_ROLE_PRIMARY : MEMBER_ROLE_REPLICA;
	m->state = MEMBER_STATE_RUNNING;
	m->xlog_location = lsn;
	m->timeline = 1;
	m->is_valid = true;
}

static ClusterView *
cluster(void)
{
	ClusterView *v = calloc(1, sizeof(ClusterView));

	v->is_valid = v->has_leader = true;
	pgw_strlcpy(v->leader, "node1", sizeof(v->leader));
	dcs_config_defaults(&v->config);
	v->config.maximum_lag_on_failover = 16 * MB;
	add(v, "node1", 100 * MB);
	add(v, "node2", 100 * MB - 16 * MB); /* exactly at the bound */
	add(v, "node3", 100 * MB - 40 * MB); /* past it */
	return v;
}

static json_t *
member(json_t *o, int i)
{
	return json_array_get(json_object_get(o, "members"), (size_t) i);
}

static void
test_table_marks_past_the_bound(void **state)
{
	ClusterView *v = cluster();
	char *out = capture(v, CTL_FORMAT_PRETTY);

	(void) state;
	assert_non_null(strstr(
	    out,
	    "| node2  | 10.0.0.2:5432 | Replica | running | 1  | 16        |"));
	assert_non_null(strstr(
	    out,
	    "| node3  | 10.0.0.3:5432 | Replica | running | 1  | 40 !      |"));
	assert_non_null(strstr(
	    out,
	    "! lag above maximum_lag_on_failover (16777216 bytes): not promoted in a failover\n"));
	free(out);

	/* a member without a position (starting) has no known lag */
	v->members[2].xlog_location = 0;
	out = capture(v, CTL_FORMAT_PRETTY);
	assert_non_null(strstr(
	    out,
	    "| node3  | 10.0.0.3:5432 | Replica | running | 1  | unknown   |"));
	assert_null(strstr(out, "!"));
	v->members[2].xlog_location = 60 * MB;
	free(out);

	/* under the bound: no mark, no footnote */
	v->config.maximum_lag_on_failover = 64 * MB;
	out = capture(v, CTL_FORMAT_PRETTY);
	assert_null(strstr(out, "!"));
	free(out);
	free(v);
}

static void
test_json_flag(void **state)
{
	ClusterView *v = cluster();
	char *out = capture(v, CTL_FORMAT_JSON);
	json_t *o = json_loads(out, 0, NULL);

	(void) state;
	assert_non_null(o);
	assert_true(
	    json_is_false(json_object_get(member(o, 0), "lag_over_maximum")));
	assert_true(
	    json_is_false(json_object_get(member(o, 1), "lag_over_maximum")));
	assert_true(
	    json_is_true(json_object_get(member(o, 2), "lag_over_maximum")));
	assert_int_equal(
	    json_integer_value(json_object_get(member(o, 2), "lag_bytes")),
	    (json_int_t) (40 * MB));
	json_decref(o);
	free(out);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_marks_past_the_bound),
	    cmocka_unit_test(test_json_flag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
