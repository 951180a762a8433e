/*
 * test_k8s_api.c: the Kubernetes API client (k8s/) against the stand-in of
 * the API server (tests/tools/k8s_standin.py over HTTPS with the test's own
 * CA), which refuses what the real one refuses. Refusals first: no API
 * server, unreadable token or CA, a CA that did not sign the server, a
 * token the server does not accept (expired), 403, garbage, a 5xx storm, a
 * slow server (bounded time); then the happy paths: pod labels set and
 * removed against the resourceVersion read, 409 conflicts answered by a
 * re-read, the EndpointSlice created, left alone when it holds what we want
 * (no write), replaced on a change. The stand-in's own checks are seen to
 * fail once (wrong content type, stale resourceVersion) so that its green
 * means something.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "k8s/k8s.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];
static int port;
static int standin_pid;
static char url[128];
static char ca[300];
static char other_ca[300];
static char token[300];

static size_t
sink(char *p, size_t s, size_t n, void *ud)
{
	char **buf = ud;
	size_t old = *buf ? strlen(*buf) : 0;

	*buf = realloc(*buf, old + s * n + 1);
	memcpy(*buf + old, p, s * n);
	(*buf)[old + s * n] = '\0';
	return s * n;
}

/* ctl: a control request to the stand-in; returns its body (caller frees) */
static char *
ctl(const char *pathq)
{
	CURL *h = curl_easy_init();
	char u[512];
	char *body = NULL;

	snprintf(u, sizeof(u), "%s%s", url, pathq);
	curl_easy_setopt(h, CURLOPT_URL, u);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	return body;
}

static void
ctl0(const char *pathq)
{
	free(ctl(pathq));
}

/* count: how many requests the stand-in saw with method on a path holding sub */
static int
count(const char *method, const char *sub)
{
	char *b = ctl("/_control/requests");
	int n = 0;
	char pat[200];

	snprintf(pat, sizeof(pat), "[\"%s\", \"", method);
	for (char *p = b; (p = strstr(p, pat)) != NULL; p++)
	{
		char *end = strchr(p + strlen(pat), '"');

		if (end && memmem(p, (size_t) (end - p), sub, strlen(sub)) != NULL)
			n++;
	}
	free(b);
	return n;
}

static K8sClient *
open_client(const char *ca_file, int timeout_ms)
{
	K8sClientConfig cfg = {0};
	K8sClient *c = NULL;
	PgwError err = {0};

	cfg.api_url = url;
	cfg.ca_file = ca_file;
	cfg.token_file = token;
	cfg.namespace_ = "default";
	cfg.timeout_ms = timeout_ms;
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), 0);
	return c;
}

static int
setup(void **state)
{
	const char *src = getenv("PGW_SOURCE_DIR");
	char cmd[700];
	FILE *p;

	(void) state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(dir, sizeof(dir), "/tmp/pgw-k8s-api.%d", (int) getpid());
	snprintf(cmd, sizeof(cmd), "bash %s/tests/lib/k8s_standin.sh start %s",
	         src ? src : "..", dir);
	p = popen(cmd, "r");
	if (p == NULL || fscanf(p, "%d %d", &port, &standin_pid) != 2)
	{
		fprintf(stderr, "could not start the stand-in: %s\n", cmd);
		return -1;
	}
	pclose(p);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/other-ca.crt", dir);
	snprintf(token, sizeof(token), "%s/token", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[400];

	(void) state;
	if (standin_pid > 0)
		kill(standin_pid, SIGTERM);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("PGW_TEST_KEEP") == NULL && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return 0;
}

/* ---- refusals ---------------------------------------------------------- */

static void
test_open_refusals(void **state)
{
	K8sClientConfig cfg = {0};
	K8sClient *c = NULL;
	PgwError err = {0};
	char *env_none[] = {NULL};
	char *env_pod[] = {"KUBERNETES_SERVICE_HOST=10.96.0.1",
	                   "KUBERNETES_SERVICE_PORT=443", NULL};

	(void) state;
	/* not in a pod and no api_url: named */
	cfg.token_file = token;
	cfg.ca_file = ca;
	cfg.namespace_ = "default";
	assert_int_equal(k8s_client_open(&cfg, env_none, &c, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	/* in a pod: the URL comes from the environment */
	assert_int_equal(k8s_client_open(&cfg, env_pod, &c, &err), 0);
	assert_string_equal(k8s_client_api_url(c), "https://10.96.0.1:443");
	k8s_client_close(c);
	/* plain http is refused */
	cfg.api_url = "http://127.0.0.1:1";
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "https://"));
	cfg.api_url = url;
	/* a missing token file is named */
	cfg.token_file = "/nonexistent/token";
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), PGW_EAUTH);
	assert_non_null(strstr(err.msg, "/nonexistent/token"));
	cfg.token_file = token;
	/* a missing CA file is named */
	cfg.ca_file = "/nonexistent/ca.crt";
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), PGW_EAUTH);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.crt"));
	cfg.ca_file = ca;
	/* no namespace given and none mounted */
	cfg.namespace_ = NULL;
	cfg.namespace_file = "/nonexistent/namespace";
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "namespace"));
	cfg.namespace_ = "Not_Valid";
	assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), PGW_EINVAL);
}

static void
test_wrong_ca(void **state)
{
	K8sClient *c = open_client(other_ca, 2000);
	K8sPod pod;
	PgwError err = {0};

	(void) state;
	ctl0("/_control/pod?name=db-0&ip=10.0.0.10&labels=cluster-name=demo");
	assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), PGW_EUNAVAILABLE);
	assert_non_null(strstr(err.msg, "TLS"));
	assert_non_null(strstr(err.msg, "other-ca.crt"));
	k8s_client_close(c);
}

static void
test_token_refused(void **state)
{
	K8sClient *c = open_client(ca, 2000);
	K8sPod pod;
	PgwError err = {0};
	char saved[256] = "";
	FILE *f;

	(void) state;
	ctl0("/_control/pod?name=db-0&ip=10.0.0.10&labels=cluster-name=demo");
	assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), 0);
	assert_string_equal(pod.pod_ip, "10.0.0.10");
	assert_int_equal(pod.grace_period_s, 30);
	assert_string_equal(k8s_meta_label(&pod.meta, "cluster-name"), "demo");
	/* the token is rotated (the kubelet rewrites the projected file): the
	 * server and this client both read the new one, per request */
	f = fopen(token, "r");
	assert_non_null(fgets(saved, sizeof(saved), f));
	fclose(f);
	f = fopen(token, "w");
	fputs("rotated-by-the-kubelet", f);
	fclose(f);
	/* accepted: the client did not keep a stale copy */
	assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), 0);
	k8s_client_close(c);
	/* a client whose token the server no longer takes (expired) */
	{
		K8sClientConfig cfg = {0};
		char old[300];

		snprintf(old, sizeof(old), "%s/token.old", dir);
		f = fopen(old, "w");
		fputs(saved, f);
		fclose(f);
		cfg.api_url = url;
		cfg.ca_file = ca;
		cfg.token_file = old;
		cfg.namespace_ = "default";
		assert_int_equal(k8s_client_open(&cfg, NULL, &c, &err), 0);
		assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), PGW_EAUTH);
		assert_non_null(strstr(err.msg, "401"));
		assert_non_null(strstr(err.msg, "expired"));
		k8s_client_close(c);
	}
	f = fopen(token, "w");
	fputs(saved, f);
	fclose(f);
}

static void
test_forbidden_garbage_storm(void **state)
{
	K8sClient *c = open_client(ca, 2000);
	K8sLabel l = {.key = "role", .value = "master"};
	K8sPod pod;
	PgwError err = {0};

	(void) state;
	ctl0("/_control/pod?name=db-0&ip=10.0.0.10&labels=cluster-name=demo");
	ctl0("/_control/mode?m=forbidden&n=1");
	assert_int_equal(k8s_pod_patch_labels(c, "db-0", &l, 1, 3, &pod, &err),
	                 PGW_EAUTH);
	assert_non_null(strstr(err.msg, "403"));
	assert_non_null(strstr(err.msg, "cannot patch resource"));
	assert_non_null(strstr(err.msg, "rbac"));
	ctl0("/_control/mode?m=garbage&n=1");
	assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), PGW_EBADRESPONSE);
	assert_non_null(strstr(err.msg, "not JSON"));
	ctl0("/_control/mode?m=error&n=100");
	assert_int_equal(k8s_pod_patch_labels(c, "db-0", &l, 1, 3, &pod, &err),
	                 PGW_EUNAVAILABLE);
	assert_non_null(strstr(err.msg, "500"));
	ctl0("/_control/mode?m=ok");
	assert_int_equal(k8s_pod_patch_labels(c, "db-0", &l, 1, 3, &pod, &err), 0);
	assert_string_equal(k8s_meta_label(&pod.meta, "role"), "master");
	k8s_client_close(c);
}

static void
test_slow_server_bounded(void **state)
{
	K8sClient *c = open_client(ca, 500);
	K8sPod pod;
	PgwError err = {0};
	int64_t t0;
	int64_t took;

	(void) state;
	ctl0("/_control/pod?name=db-0&ip=10.0.0.10");
	ctl0("/_control/mode?m=slow&delay=5&n=1");
	t0 = pgw_now_mono_ms();
	assert_int_equal(k8s_pod_get(c, "db-0", &pod, &err), PGW_ETIMEDOUT);
	took = pgw_now_mono_ms() - t0;
	/* bounded by the 500 ms timeout (generous slack for a loaded host) */
	assert_true(took < 2500);
	assert_non_null(strstr(err.msg, "500 ms"));
	ctl0("/_control/mode?m=ok");
	k8s_client_close(c);
}

/* ---- happy paths ------------------------------------------------------- */

static void
test_labels_and_conflicts(void **state)
{
	K8sClient *c = open_client(ca, 2000);
	K8sLabel set = {.key = "role", .value = "master"};
	K8sLabel del = {.key = "role", .remove = true};
	K8sPod pod;
	PgwError err = {0};
	int patches;

	(void) state;
	ctl0("/_control/pod?name=db-1&ip=10.0.0.11&labels=cluster-name=demo");
	assert_int_equal(k8s_pod_patch_labels(c, "db-1", &set, 1, 3, &pod, &err),
	                 0);
	assert_string_equal(k8s_meta_label(&pod.meta, "role"), "master");
	assert_string_equal(k8s_meta_label(&pod.meta, "cluster-name"), "demo");
	/* already so: read, no patch */
	patches = count("PATCH", "/pods/db-1");
	assert_int_equal(k8s_pod_patch_labels(c, "db-1", &set, 1, 3, &pod, &err),
	                 0);
	assert_int_equal(count("PATCH", "/pods/db-1"), patches);
	/* two conflicting writes by "someone else": read again, third wins */
	ctl0("/_control/conflict?n=2");
	assert_int_equal(k8s_pod_patch_labels(c, "db-1", &del, 1, 3, &pod, &err),
	                 0);
	assert_null(k8s_meta_label(&pod.meta, "role"));
	assert_int_equal(count("PATCH", "/pods/db-1"), patches + 3);
	/* more conflicts than attempts: the conflict is the error */
	ctl0("/_control/conflict?n=5");
	assert_int_equal(k8s_pod_patch_labels(c, "db-1", &set, 1, 2, &pod, &err),
	                 PGW_ECONFLICT);
	assert_non_null(strstr(err.msg, "409"));
	ctl0("/_control/conflict?n=0");
	/* a pod that does not exist */
	assert_int_equal(k8s_pod_patch_labels(c, "db-9", &set, 1, 3, &pod, &err),
	                 PGW_ENOTFOUND);
	/* bad label input never reaches the server */
	{
		K8sLabel bad = {.key = "role", .value = "not valid!"};

		assert_int_equal(
		    k8s_pod_patch_labels(c, "db-1", &bad, 1, 3, &pod, &err),
		    PGW_EINVAL);
	}
	k8s_client_close(c);
}

/* the stand-in's checks fail when they must (so its green means something) */
static void
test_standin_refuses(void **state)
{
	K8sClient *c = open_client(ca, 2000);
	K8sResponse r;
	PgwError err = {0};

	(void) state;
	ctl0("/_control/pod?name=db-2&ip=10.0.0.12");
	assert_int_equal(k8s_client_request(
	                     c, "PATCH", "/api/v1/namespaces/default/pods/db-2",
	                     "application/json",
	                     "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}", &r, &err),
	                 0);
	assert_int_equal(r.status, 415);
	k8s_response_free(&r);
	assert_int_equal(
	    k8s_client_request(
	        c, "PATCH", "/api/v1/namespaces/default/pods/db-2",
	        "application/merge-patch+json",
	        "{\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"a\":\"b\"}}}",
	        &r, &err),
	    0);
	assert_int_equal(r.status, 409);
	assert_int_equal(k8s_status_error(&r, "pod", &err), PGW_ECONFLICT);
	k8s_response_free(&r);
	assert_int_equal(
	    k8s_client_request(
	        c, "POST",
	        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
	        "application/strategic-merge-patch+json", "{}", &r, &err),
	    0);
	assert_int_equal(r.status, 415);
	k8s_response_free(&r);
	k8s_client_close(c);
}

static void
test_endpointslice(void **state)
{
	K8sClient *c = open_client(ca, 2000);
	K8sEndpointSlice es = {0};
	PgwError err = {0};
	int writes = -1;
	int posts;
	char *st;

	(void) state;
	pgw_strlcpy(es.name, "demo-rw", sizeof(es.name));
	pgw_strlcpy(es.service_name, "demo-rw", sizeof(es.service_name));
	pgw_strlcpy(es.address, "10.0.0.10", sizeof(es.address));
	pgw_strlcpy(es.pod_name, "db-0", sizeof(es.pod_name));
	pgw_strlcpy(es.port_name, "postgresql", sizeof(es.port_name));
	es.port = 5432;
	/* absent: created (one POST) */
	posts = count("POST", "endpointslices");
	assert_int_equal(k8s_endpointslice_apply(c, &es, 3, &writes, &err), 0);
	assert_int_equal(writes, 1);
	assert_int_equal(count("POST", "endpointslices"), posts + 1);
	/* holds what we want: no write at all */
	assert_int_equal(k8s_endpointslice_apply(c, &es, 3, &writes, &err), 0);
	assert_int_equal(writes, 0);
	/* a new leader: one PUT */
	pgw_strlcpy(es.address, "10.0.0.11", sizeof(es.address));
	pgw_strlcpy(es.pod_name, "db-1", sizeof(es.pod_name));
	assert_int_equal(k8s_endpointslice_apply(c, &es, 3, &writes, &err), 0);
	assert_int_equal(writes, 1);
	/* a conflicting write in between: read again, replace */
	ctl0("/_control/conflict?n=1");
	pgw_strlcpy(es.address, "10.0.0.12", sizeof(es.address));
	assert_int_equal(k8s_endpointslice_apply(c, &es, 3, &writes, &err), 0);
	assert_int_equal(writes, 2);
	{
		K8sResponse r;
		K8sEndpointSlice got;

		assert_int_equal(
		    k8s_client_request(
		        c, "GET",
		        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/demo-rw",
		        NULL, NULL, &r, &err),
		    0);
		assert_int_equal(r.status, 200);
		assert_int_equal(
		    k8s_parse_endpointslice(r.body, r.len, &got, NULL, &err), 0);
		assert_string_equal(got.address, "10.0.0.12");
		assert_string_equal(got.pod_name, "db-1");
		assert_string_equal(got.service_name, "demo-rw");
		assert_int_equal(got.port, 5432);
		k8s_response_free(&r);
	}
	st = ctl("/_control/state");
	assert_non_null(strstr(st, "endpointslice.kubernetes.io/managed-by"));
	free(st);
	k8s_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_refusals),
	    cmocka_unit_test(test_wrong_ca),
	    cmocka_unit_test(test_token_refused),
	    cmocka_unit_test(test_forbidden_garbage_storm),
	    cmocka_unit_test(test_slow_server_bounded),
	    cmocka_unit_test(test_labels_and_conflicts),
	    cmocka_unit_test(test_standin_refuses),
	    cmocka_unit_test(test_endpointslice),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
