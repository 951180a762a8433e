/*
 * test_ctl_output.c: pgwardenctl's output and pure logic: the list table
 * (wide and non-ASCII names, empty cluster), its JSON, topology, history,
 * debug rules, the edit-config merge/set/diff/YAML round trip, and the
 * switchover eligibility check with its reasons.
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

static char *
capture_list(const ClusterView *v, CtlFormat fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ctl_list_print(f, v, "demo", 7, fmt);
	fclose(f);
	return buf;
}

static void
add_member(ClusterView *v, const char *name, MemberRole role, uint64_t lsn)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	snprintf(m->conn_url, sizeof(m->conn_url),
	         "postgres://10.0.0.%d:5432/postgres", v->n_members);
	snprintf(m->api_url, sizeof(m->api_url), "http://10.0.0.%d:8008/patroni",
	         v->n_members);
	m->role = role;
	m->state = MEMBER_STATE_RUNNING;
	m->xlog_location = lsn;
	m->timeline = 1;
	m->failover_priority = 1;
	m->is_valid = true;
}

static ClusterView *
three_nodes(void)
{
	ClusterView *v = calloc(1, sizeof(ClusterView));

	v->is_valid = true;
	v->has_initialize = true;
	pgw_strlcpy(v->initialize, "7311111111111111111", sizeof(v->initialize));
	v->has_leader = true;
	pgw_strlcpy(v->leader, "node1", sizeof(v->leader));
	dcs_config_defaults(&v->config);
	add_member(v, "node1", MEMBER_ROLE_PRIMARY, 100u << 20);
	add_member(v, "node2", MEMBER_ROLE_REPLICA, 100u << 20);
	add_member(v, "node3", MEMBER_ROLE_REPLICA, 98u << 20);
	return v;
}

/* every line of a table has the same display width */
static void
assert_rectangular(const char *table)
{
	size_t width = 0;
	char *copy = strdup(table);
	char *save = NULL;
	bool first = true;

	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
	{
		if (first)
		{
			first = false; /* the "+ Cluster:" header */
			continue;
		}
		if (line[0] != '+' && line[0] != '|')
			continue;
		if (width == 0)
			width = ctl_display_width(line);
		assert_int_equal(ctl_display_width(line), width);
	}
	free(copy);
}

/* the Host column: host:port of conn_url, never its userinfo */
static void
test_list_hosts(void **state)
{
	ClusterView *v = three_nodes();
	char *out;

	(void) state;
	pgw_strlcpy(v->members[0].conn_url,
	            "postgres://rep:s3:cr@t@[fd00::7]:5433/postgres",
	            sizeof(v->members[0].conn_url));
	pgw_strlcpy(v->members[1].conn_url, "postgres://db2/postgres",
	            sizeof(v->members[1].conn_url));
	pgw_strlcpy(v->members[2].conn_url, "postgres://db3:99999/postgres",
	            sizeof(v->members[2].conn_url));
	out = capture_list(v, CTL_FORMAT_PRETTY);
	assert_non_null(strstr(out, "| node1  | [fd00::7]:5433 | Leader "));
	assert_non_null(strstr(out, "| node2  | db2            | Replica"));
	assert_non_null(strstr(out, "| node3  | ?              | Replica"));
	assert_null(strstr(out, "s3"));
	assert_rectangular(out);
	free(out);
	free(v);
}

static void
test_list_table(void **state)
{
	ClusterView *v = three_nodes();
	char *out;

	(void) state;
	out = capture_list(v, CTL_FORMAT_PRETTY);
	assert_non_null(
	    strstr(out, "+ Cluster: demo (7311111111111111111), leader lease: 7s"));
	assert_non_null(
	    strstr(out, "| node1  | 10.0.0.1:5432 | Leader  | running | 1  |"));
	assert_non_null(
	    strstr(out, "| node3  | 10.0.0.3:5432 | Replica | running | 1  | 2 "));
	assert_rectangular(out);
	free(out);

	/* a wide name and a non-ASCII one: columns still line up */
	pgw_strlcpy(v->members[1].name, "a-very-long-member-name-in-rack-42",
	            sizeof(v->members[1].name));
	pgw_strlcpy(v->members[2].name, "nœud-été-ü", sizeof(v->members[2].name));
	out = capture_list(v, CTL_FORMAT_PRETTY);
	assert_non_null(strstr(out, "a-very-long-member-name-in-rack-42 |"));
	assert_non_null(strstr(out, "| nœud-été-ü "));
	assert_rectangular(out);
	free(out);
	assert_int_equal(ctl_display_width("nœud-été-ü"), 10);

	/* paused */
	v->config.pause = true;
	out = capture_list(v, CTL_FORMAT_PRETTY);
	assert_non_null(strstr(out, "[paused]"));
	free(out);
	free(v);
}

static void
test_list_empty_cluster(void **state)
{
	ClusterView *v = calloc(1, sizeof(ClusterView));
	char *out;
	json_t *o;

	(void) state;
	out = capture_list(v, CTL_FORMAT_PRETTY);
	assert_non_null(strstr(out, "+ Cluster: demo (uninitialized)"));
	assert_non_null(strstr(out, "| Member | Host | Role |"));
	assert_rectangular(out);
	free(out);
	out = capture_list(v, CTL_FORMAT_JSON);
	o = json_loads(out, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "members")), 0);
	assert_true(json_is_null(json_object_get(o, "leader")));
	json_decref(o);
	free(out);
	free(v);
}

static void
test_list_json_and_yaml(void **state)
{
	ClusterView *v = three_nodes();
	char *out;
	json_t *o;
	json_t *m;

	(void) state;
	v->members[2].nofailover = true;
	v->members[2].n_tags = 1;
	pgw_strlcpy(v->members[2].tags[0].key, "nofailover",
	            sizeof(v->members[2].tags[0].key));
	pgw_strlcpy(v->members[2].tags[0].value, "true",
	            sizeof(v->members[2].tags[0].value));
	out = capture_list(v, CTL_FORMAT_JSON);
	o = json_loads(out, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "scope")), "demo");
	assert_string_equal(json_string_value(json_object_get(o, "leader")),
	                    "node1");
	assert_int_equal(
	    json_integer_value(json_object_get(o, "leader_lease_ttl_s")), 7);
	assert_true(json_is_false(json_object_get(o, "paused")));
	m = json_array_get(json_object_get(o, "members"), 2);
	assert_string_equal(json_string_value(json_object_get(m, "member")),
	                    "node3");
	assert_string_equal(json_string_value(json_object_get(m, "role")),
	                    "Replica");
	assert_int_equal(json_integer_value(json_object_get(m, "lag_bytes")),
	                 2 << 20);
	assert_true(json_is_true(
	    json_object_get(json_object_get(m, "tags"), "nofailover")));
	json_decref(o);
	free(out);

	/* the YAML output reads back as the same document */
	out = capture_list(v, CTL_FORMAT_YAML);
	{
		json_t *y = NULL;
		char *js = capture_list(v, CTL_FORMAT_JSON);
		json_t *j = json_loads(js, 0, NULL);

		assert_int_equal(ctl_yaml_to_json(out, strlen(out), &y, NULL), 0);
		assert_true(json_equal(y, j));
		json_decref(y);
		json_decref(j);
		free(js);
	}
	free(out);
	free(v);
}

static void
test_topology(void **state)
{
	ClusterView *v = three_nodes();
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void) state;
	pgw_strlcpy(v->members[2].replicatefrom, "node2",
	            sizeof(v->members[2].replicatefrom));
	f = open_memstream(&buf, &len);
	ctl_topology_print(f, v, "demo", CTL_FORMAT_PRETTY);
	fclose(f);
	assert_non_null(strstr(
	    buf,
	    "+ node1 (Leader, running)\n  + node2 (replica, running)\n    + node3 (replica, running)\n"));
	free(buf);
	f = open_memstream(&buf, &len);
	ctl_topology_print(f, v, "demo", CTL_FORMAT_JSON);
	fclose(f);
	{
		json_t *o = json_loads(buf, 0, NULL);
		json_t *root = json_array_get(json_object_get(o, "topology"), 0);
		json_t *kid = json_array_get(json_object_get(root, "replicas"), 0);
		json_t *grandkid = json_array_get(json_object_get(kid, "replicas"), 0);

		assert_string_equal(json_string_value(json_object_get(root, "member")),
		                    "node1");
		assert_string_equal(json_string_value(json_object_get(kid, "member")),
		                    "node2");
		assert_string_equal(
		    json_string_value(json_object_get(grandkid, "member")), "node3");
		json_decref(o);
	}
	free(buf);
	free(v);
}

static void
test_history_and_rules(void **state)
{
	HistoryEntry h[2];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	json_t *o;

	(void) state;
	memset(h, 0, sizeof(h));
	h[0].timeline = 1;
	h[0].lsn = 0x4000188;
	pgw_strlcpy(h[0].reason, "requested promotion of n2", sizeof(h[0].reason));
	pgw_strlcpy(h[0].time, "2026-11-23T09:25:19.229+00:00", sizeof(h[0].time));
	pgw_strlcpy(h[0].new_leader, "n2", sizeof(h[0].new_leader));
	h[1].timeline = 2;
	h[1].lsn = 0x104000580;
	f = open_memstream(&buf, &len);
	ctl_history_print(f, h, 2, CTL_FORMAT_PRETTY);
	fclose(f);
	assert_non_null(strstr(buf, "1    0/4000188"));
	assert_non_null(strstr(buf, "2    1/4000580"));
	free(buf);
	f = open_memstream(&buf, &len);
	ctl_history_print(f, h, 2, CTL_FORMAT_JSON);
	fclose(f);
	o = json_loads(buf, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "history")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(o, "history"), 1), "lsn_text")),
	    "1/4000580");
	json_decref(o);
	free(buf);
	f = open_memstream(&buf, &len);
	ctl_history_print(f, NULL, 0, CTL_FORMAT_PRETTY);
	fclose(f);
	assert_non_null(strstr(buf, "no timeline changes"));
	free(buf);

	f = open_memstream(&buf, &len);
	ctl_rules_print(f, CTL_FORMAT_JSON);
	fclose(f);
	o = json_loads(buf, 0, NULL);
	assert_non_null(o);
	assert_true(json_array_size(json_object_get(o, "rules")) > 10);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_array_get(json_object_get(o, "rules"), 0), "number")),
	    1);
	json_decref(o);
	free(buf);
}

static void
test_edit_config_merge(void **state)
{
	const char *raw =
	    "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,"
	    "\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{\"max_connections\":100}},"
	    "\"patroni_only_key\":{\"x\":[1,2]},\"standby_cluster\":null}";
	json_t *root = json_loads(raw, 0, NULL);
	json_t *patch = NULL;
	PgwError err;
	char *before;
	char *after;
	char *diff;

	(void) state;
	before = ctl_json_to_yaml(root);
	assert_int_equal(ctl_config_set(root, "loop_wait=5", &err), 0);
	assert_int_equal(
	    ctl_config_set(root, "postgresql.parameters.work_mem=8MB", &err), 0);
	assert_int_equal(
	    ctl_config_set(root, "postgresql.parameters.max_connections=null",
	                   &err),
	    0);
	assert_int_equal(ctl_config_set(root, "synchronous_mode=true", &err), 0);
	assert_int_equal(ctl_config_set(root, "new.deep.key='quoted'", &err), 0);
	assert_int_equal(json_integer_value(json_object_get(root, "loop_wait")), 5);
	assert_true(json_is_true(json_object_get(root, "synchronous_mode")));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(root, "postgresql"), "parameters"),
	        "work_mem")),
	    "8MB");
	assert_null(json_object_get(
	    json_object_get(json_object_get(root, "postgresql"), "parameters"),
	    "max_connections"));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(root, "new"), "deep"), "key")),
	    "quoted");
	/* unknown (Patroni) keys survive */
	assert_non_null(json_object_get(root, "patroni_only_key"));
	assert_int_equal(ctl_config_check(root, &err), 0);

	/* errors */
	assert_int_equal(ctl_config_set(root, "ttl", &err), PGW_EINVAL);
	assert_int_equal(ctl_config_set(root, "ttl.sub=1", &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "not a mapping"));
	assert_int_equal(ctl_config_set(root, "a..b=1", &err), PGW_EINVAL);
	assert_int_equal(ctl_config_set(root, "x=[unclosed", &err), PGW_EINVAL);

	/* merge patch: null deletes, objects merge */
	{
		const char *p = "postgresql:\n  parameters:\n    work_mem: null\n"
		                "    shared_buffers: 1GB\nnew: null\n";

		assert_int_equal(ctl_yaml_to_json(p, strlen(p), &patch, &err), 0);
	}
	assert_int_equal(ctl_config_merge_patch(root, patch, &err), 0);
	json_decref(patch);
	assert_null(json_object_get(root, "new"));
	assert_null(json_object_get(
	    json_object_get(json_object_get(root, "postgresql"), "parameters"),
	    "work_mem"));
	assert_non_null(json_object_get(
	    json_object_get(json_object_get(root, "postgresql"), "parameters"),
	    "shared_buffers"));
	assert_true(json_is_true(
	    json_object_get(json_object_get(root, "postgresql"), "use_pg_rewind")));

	/* the diff shows exactly the changed lines */
	after = ctl_json_to_yaml(root);
	diff = ctl_diff(before, after);
	assert_non_null(diff);
	assert_non_null(strstr(diff, "-loop_wait: 10\n+loop_wait: 5\n"));
	assert_non_null(strstr(diff, "+    shared_buffers: 1GB\n"));
	assert_non_null(strstr(diff, "-    max_connections: 100\n"));
	assert_non_null(strstr(diff, " ttl: 30\n"));
	assert_null(ctl_diff(after, after));
	free(diff);
	free(before);
	free(after);

	/* the timing invariant is enforced */
	assert_int_equal(ctl_config_set(root, "ttl=5", &err), 0);
	assert_int_equal(ctl_config_check(root, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "ttl"));
	json_decref(root);
}

static void
test_yaml_round_trip(void **state)
{
	const char *yaml =
	    "a: 1\nb: 1.5\nc: true\nd: ~\ne: \"1\"\nf: 'yes'\ng: [1, two]\n"
	    "h: {x: 1}\ni: \"with: colon\"\nj: \"\"\nk: nœud\n";
	json_t *j = NULL;
	json_t *back = NULL;
	char *out;
	PgwError err;

	(void) state;
	assert_int_equal(ctl_yaml_to_json(yaml, strlen(yaml), &j, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_true(json_is_real(json_object_get(j, "b")));
	assert_true(json_is_true(json_object_get(j, "c")));
	assert_true(json_is_null(json_object_get(j, "d")));
	assert_string_equal(json_string_value(json_object_get(j, "e")), "1");
	assert_string_equal(json_string_value(json_object_get(j, "f")), "yes");
	out = ctl_json_to_yaml(j);
	assert_int_equal(ctl_yaml_to_json(out, strlen(out), &back, &err), 0);
	assert_true(json_equal(j, back));
	free(out);
	json_decref(back);
	json_decref(j);
	assert_int_equal(ctl_yaml_to_json("a: [", 4, &j, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "line"));
	assert_int_equal(ctl_yaml_to_json("", 0, &j, &err), PGW_EINVAL);
	assert_int_equal(ctl_yaml_to_json("a: !!python/object x", 20, &j, &err),
	                 PGW_EINVAL);
}

static void
test_candidate_check(void **state)
{
	ClusterView *v = three_nodes();
	PgwError err;

	(void) state;
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node2", CTL_TARGET_SWITCHOVER, &err),
	    0);
	assert_int_equal(
	    ctl_candidate_check(v, "node1", NULL, CTL_TARGET_SWITCHOVER, &err), 0);
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node1", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "already the leader"));
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "ghost", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "does not exist"));

	/* lagging: 2 MiB behind, maximum_lag_on_failover 1 MiB */
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node3", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "lags"));
	v->members[2].xlog_location = 100u << 20;
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node3", CTL_TARGET_SWITCHOVER, &err),
	    0);

	v->members[2].nofailover = true;
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node3", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "nofailover"));
	v->members[2].nofailover = false;

	v->members[2].state = MEMBER_STATE_STOPPED;
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node3", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "not running"));
	v->members[2].state = MEMBER_STATE_RUNNING;

	v->config.synchronous_mode = true;
	v->sync.present = true;
	v->sync.n_sync = 1;
	pgw_strlcpy(v->sync.sync_standby[0], "node2",
	            sizeof(v->sync.sync_standby[0]));
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node3", CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "synchronous"));
	assert_int_equal(
	    ctl_candidate_check(v, "node1", "node2", CTL_TARGET_SWITCHOVER, &err),
	    0);

	/* nobody eligible */
	v->members[1].nofailover = true;
	assert_int_equal(
	    ctl_candidate_check(v, "node1", NULL, CTL_TARGET_SWITCHOVER, &err),
	    PGW_ESTATE);
	assert_non_null(strstr(err.msg, "no member can be promoted"));
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_table),
	    cmocka_unit_test(test_list_hosts),
	    cmocka_unit_test(test_list_empty_cluster),
	    cmocka_unit_test(test_list_json_and_yaml),
	    cmocka_unit_test(test_topology),
	    cmocka_unit_test(test_history_and_rules),
	    cmocka_unit_test(test_edit_config_merge),
	    cmocka_unit_test(test_yaml_round_trip),
	    cmocka_unit_test(test_candidate_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
