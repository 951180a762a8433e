/*
 * test_k8s_objects.c: the pure half of k8s/ (k8s.h part 1): label and name
 * syntax, the label patch and EndpointSlice bodies, and the parsers of the
 * API server's answers: good objects, then every kind of bad one (not
 * JSON, no metadata, wrong kind, a label that is not a string, over-long
 * fields, a grace period that is not a number).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "k8s/k8s.h"

#include "common/strutil.h"

#include <stdlib.h>
#include <string.h>

static void
test_syntax(void **state)
{
	(void) state;
	assert_true(k8s_label_key_valid("role"));
	assert_true(k8s_label_key_valid("cluster-name"));
	assert_true(k8s_label_key_valid("app.kubernetes.io/instance"));
	assert_true(k8s_label_key_valid("pgwarden.io/role"));
	assert_false(k8s_label_key_valid(""));
	assert_false(k8s_label_key_valid("-role"));
	assert_false(k8s_label_key_valid("role!"));
	assert_false(k8s_label_key_valid("Upper.Case/role"));
	assert_false(k8s_label_key_valid("a/b/c"));
	assert_false(k8s_label_key_valid("/role"));
	assert_false(k8s_label_key_valid("role/"));
	assert_false(k8s_label_key_valid(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
	assert_true(k8s_label_value_valid(""));
	assert_true(k8s_label_value_valid("master"));
	assert_true(k8s_label_value_valid("Replica_1.a"));
	assert_false(k8s_label_value_valid("a b"));
	assert_false(k8s_label_value_valid("x-"));
	assert_true(k8s_name_valid("db-0"));
	assert_true(k8s_name_valid("demo-rw.x"));
	assert_false(k8s_name_valid("Db-0"));
	assert_false(k8s_name_valid("db_0"));
	assert_false(k8s_name_valid("-db"));
	assert_false(k8s_name_valid("db..0"));
	assert_false(k8s_name_valid(""));
}

static void
test_label_patch(void **state)
{
	K8sLabel l[2] = {{.key = "role", .value = "master"},
	                 {.key = "old", .remove = true}};
	PgwError err = {0};
	char *s;

	(void) state;
	s = k8s_labels_patch_json(l, 2, "42", &err);
	assert_non_null(s);
	assert_string_equal(
	    s,
	    "{\"metadata\":{\"labels\":{\"old\":null,\"role\":\"master\"},\"resourceVersion\":\"42\"}}");
	free(s);
	s = k8s_labels_patch_json(l, 1, NULL, &err);
	assert_string_equal(s, "{\"metadata\":{\"labels\":{\"role\":\"master\"}}}");
	free(s);
	pgw_strlcpy(l[0].value, "not ok", sizeof(l[0].value));
	assert_null(k8s_labels_patch_json(l, 1, NULL, &err));
	assert_int_equal(err.code, PGW_EINVAL);
	assert_non_null(strstr(err.msg, "not ok"));
	pgw_strlcpy(l[0].key, "bad key", sizeof(l[0].key));
	assert_null(k8s_labels_patch_json(l, 1, NULL, &err));
	assert_non_null(strstr(err.msg, "bad key"));
}

static void
test_endpointslice_body(void **state)
{
	K8sEndpointSlice es = {0};
	K8sEndpointSlice back;
	K8sObjectMeta meta;
	PgwError err = {0};
	char *s;

	(void) state;
	pgw_strlcpy(es.name, "demo-rw", sizeof(es.name));
	pgw_strlcpy(es.namespace_, "db", sizeof(es.namespace_));
	pgw_strlcpy(es.service_name, "demo-rw", sizeof(es.service_name));
	pgw_strlcpy(es.address, "10.1.2.3", sizeof(es.address));
	pgw_strlcpy(es.pod_name, "demo-0", sizeof(es.pod_name));
	pgw_strlcpy(es.port_name, "postgresql", sizeof(es.port_name));
	es.port = 5432;
	s = k8s_endpointslice_json(&es, "7", &err);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"addressType\":\"IPv4\""));
	assert_non_null(strstr(s, "\"kubernetes.io/service-name\":\"demo-rw\""));
	assert_non_null(strstr(s, "\"resourceVersion\":\"7\""));
	assert_non_null(strstr(s, "\"ready\":true"));
	/* the parser reads back what the builder wrote */
	assert_int_equal(k8s_parse_endpointslice(s, strlen(s), &back, &meta, &err),
	                 0);
	assert_string_equal(back.address, "10.1.2.3");
	assert_string_equal(back.pod_name, "demo-0");
	assert_string_equal(back.service_name, "demo-rw");
	assert_string_equal(back.port_name, "postgresql");
	assert_int_equal(back.port, 5432);
	assert_string_equal(meta.resource_version, "7");
	free(s);
	/* IPv6, and no endpoint at all */
	pgw_strlcpy(es.address, "fd00::5", sizeof(es.address));
	s = k8s_endpointslice_json(&es, NULL, &err);
	assert_non_null(strstr(s, "\"addressType\":\"IPv6\""));
	assert_null(strstr(s, "resourceVersion"));
	free(s);
	es.address[0] = '\0';
	s = k8s_endpointslice_json(&es, NULL, &err);
	assert_non_null(strstr(s, "\"endpoints\":[]"));
	free(s);
	/* refusals */
	es.port = 0;
	assert_null(k8s_endpointslice_json(&es, NULL, &err));
	es.port = 5432;
	pgw_strlcpy(es.name, "Demo_RW", sizeof(es.name));
	assert_null(k8s_endpointslice_json(&es, NULL, &err));
	assert_non_null(strstr(err.msg, "Demo_RW"));
}

static const char pod_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"demo-0\","
    "\"namespace\":\"db\",\"uid\":\"u-1\",\"resourceVersion\":\"123\","
    "\"labels\":{\"cluster-name\":\"demo\",\"role\":\"master\"}},"
    "\"spec\":{\"terminationGracePeriodSeconds\":45},"
    "\"status\":{\"podIP\":\"10.1.2.3\",\"phase\":\"Running\"}}";

static void
test_parse_pod(void **state)
{
	K8sPod p;
	PgwError err = {0};

	(void) state;
	assert_int_equal(k8s_parse_pod(pod_json, strlen(pod_json), &p, &err), 0);
	assert_string_equal(p.meta.name, "demo-0");
	assert_string_equal(p.meta.namespace_, "db");
	assert_string_equal(p.meta.resource_version, "123");
	assert_string_equal(p.pod_ip, "10.1.2.3");
	assert_int_equal(p.grace_period_s, 45);
	assert_false(p.deleting);
	assert_string_equal(k8s_meta_label(&p.meta, "role"), "master");
	assert_null(k8s_meta_label(&p.meta, "absent"));
}

static void
test_parse_bad(void **state)
{
	static const struct
	{
		const char *body;
		const char *why;
	} bad[] = {
	    {"", "empty"},
	    {"<html>502</html>", "not JSON"},
	    {"[1,2]", "not an object"},
	    {"{\"kind\":\"Pod\"}", "no metadata"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"}}", "resourceVersion"},
	    {"{\"kind\":\"Service\",\"metadata\":{\"resourceVersion\":\"1\"}}",
	     "not a Pod"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"a\":1}}}",
	     "not a string"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\",\"labels\":[]}}",
	     "not an object"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":7}}",
	     "resourceVersion"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"terminationGracePeriodSeconds\":\"30\"}}",
	     "terminationGracePeriodSeconds"},
	    {"{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\"},\"status\":{\"podIP\":[]}}",
	     "podIP"},
	    {"{\"kind\":\"Pod\",\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\"}}",
	     "not JSON"},
	};
	K8sPod p;
	PgwError err = {0};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		pgw_error_clear(&err);
		if (k8s_parse_pod(bad[i].body, strlen(bad[i].body), &p, &err) !=
		    PGW_EBADRESPONSE)
			fail_msg("case %zu accepted: %s", i, bad[i].body);
		if (strstr(err.msg, bad[i].why) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
			         bad[i].why);
	}
}

static void
test_parse_status(void **state)
{
	const char *forbidden =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	    "\"message\":\"pods \\\"demo-0\\\" is forbidden: User \\\"x\\\" cannot patch\\nresource\","
	    "\"reason\":\"Forbidden\",\"code\":403}";
	K8sStatus st;
	K8sResponse r = {0};
	PgwError err = {0};

	(void) state;
	assert_true(k8s_parse_status(forbidden, strlen(forbidden), &st));
	assert_int_equal(st.code, 403);
	assert_string_equal(st.reason, "Forbidden");
	/* quotes and line breaks never reach the log line */
	assert_null(strchr(st.message, '"'));
	assert_null(strchr(st.message, '\n'));
	assert_false(k8s_parse_status("{\"kind\":\"Pod\"}", 14, &st));
	assert_false(k8s_parse_status("garbage", 7, &st));
	/* status codes to errors */
	r.body = (char *) forbidden;
	r.len = strlen(forbidden);
	r.status = 403;
	assert_int_equal(k8s_status_error(&r, "pod \"demo-0\"", &err), PGW_EAUTH);
	assert_non_null(strstr(err.msg, "forbidden (403)"));
	assert_non_null(strstr(err.msg, "cannot patch"));
	r.status = 401;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_EAUTH);
	assert_non_null(strstr(err.msg, "token"));
	r.status = 409;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_ECONFLICT);
	r.status = 404;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_ENOTFOUND);
	r.status = 503;
	r.body = "oops";
	r.len = 4;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_EUNAVAILABLE);
	assert_non_null(strstr(err.msg, "no Status object"));
	r.status = 429;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_EUNAVAILABLE);
	r.status = 422;
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_EBADRESPONSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_label_patch),
	    cmocka_unit_test(test_endpointslice_body),
	    cmocka_unit_test(test_parse_pod),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
