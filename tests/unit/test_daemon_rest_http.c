/*
 * test_daemon_rest_http.c: the REST server in-process over real HTTP
 * (libcurl on loopback, no etcd): write endpoints need credentials (401
 * with WWW-Authenticate) and an allowed address (403), health checks stay
 * open; bad bodies get a 4xx JSON error; a 64 KiB body limit (413); the
 * action queue between the REST thread and the loop; a write waiting for
 * the loop never delays a health check (one thread per connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "daemon/daemon_int.h"

#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Resp
{
	long status;
	char body[8192];
	size_t len;
	char www_auth[128];
	int64_t ms;
} Resp;

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	Resp *r = ud;
	size_t k = sz * n;

	if (r->len + k < sizeof(r->body))
	{
		memcpy(r->body + r->len, p, k);
		r->len += k;
		r->body[r->len] = '\0';
	}
	return k;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
	Resp *r = ud;
	size_t k = sz * n;

	if (k > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		snprintf(r->www_auth, sizeof(r->www_auth), "%.*s", (int) (k - 17),
		         p + 17);
	return k;
}

/* request: method, path, body (may be NULL), user:pass (may be NULL) */
static Resp
req(int port, const char *method, const char *path, const char *body,
    const char *userpwd, bool chunked)
{
	Resp r;
	CURL *c = curl_easy_init();
	char url[256];
	struct curl_slist *h = NULL;
	int64_t t0 = pgw_now_mono_ms();

	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	if (body != NULL)
	{
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		h = curl_slist_append(h, "Content-Type: application/json");
		if (chunked)
			h = curl_slist_append(h, "Transfer-Encoding: chunked");
		else
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	if (userpwd != NULL)
	{
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	r.ms = pgw_now_mono_ms() - t0;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

static void
publish(RestServer *s, bool holds_leader)
{
	RestSnapshot *snap = calloc(1, sizeof(RestSnapshot));

	pgw_strlcpy(snap->name, "n1", sizeof(snap->name));
	pgw_strlcpy(snap->scope, "demo", sizeof(snap->scope));
	dcs_config_defaults(&snap->view.config);
	snap->view.config.loop_wait_ms = 100;
	snap->view.is_valid = true;
	snap->view.has_leader = true;
	pgw_strlcpy(snap->view.leader, holds_leader ? "n1" : "n2", PGW_NAME_MAX);
	snap->view.n_members = 2;
	pgw_strlcpy(snap->view.members[0].name, "n1", PGW_NAME_MAX);
	pgw_strlcpy(snap->view.members[0].api_url, "http://127.0.0.1:8008/patroni",
	            PGW_URL_MAX);
	pgw_strlcpy(snap->view.members[1].name, "n2", PGW_NAME_MAX);
	pgw_strlcpy(snap->view.members[1].api_url, "http://10.1.1.1:8008/patroni",
	            PGW_URL_MAX);
	snap->pg_running = true;
	snap->pg_read_write = holds_leader;
	snap->holds_leader = holds_leader;
	snap->last_loop_mono_ms = pgw_now_mono_ms();
	rest_publish(s, snap);
	free(snap);
}

static RestServer *
start(const char *const *allow, int n_allow, bool include_members)
{
	RestOptions o = {0};
	RestServer *s = NULL;
	PgwError err = {0};

	o.listen = "127.0.0.1:0";
	o.username = "admin";
	o.password = "s3cret";
	o.allowlist = allow;
	o.n_allowlist = n_allow;
	o.allowlist_include_members = include_members;
	if (rest_start(&o, &s, &err) != 0)
		fail_msg("rest_start: %s", err.msg);
	publish(s, false);
	return s;
}

/* a stand-in for the loop: answers every action */
typedef struct FakeLoop
{
	RestServer *srv;
	volatile bool stop;
	RestAction last;
	int answered;
} FakeLoop;

static void *
fake_loop(void *arg)
{
	FakeLoop *l = arg;

	while (!l->stop)
	{
		struct pollfd pfd = {.fd = rest_action_fd(l->srv), .events = POLLIN};
		RestAction a;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		while (rest_action_next(l->srv, &a))
		{
			l->last = a;
			l->answered++;
			if (a.kind == REST_ACTION_RELOAD)
				rest_action_done(l->srv, a.ticket, 202, "reload scheduled");
			else if (a.kind == REST_ACTION_RESTART_CANCEL)
				rest_action_done(l->srv, a.ticket, 404,
				                 "no restarts are scheduled");
			else if (a.kind == REST_ACTION_RESTART && a.scheduled_wall_ms)
				rest_action_done(l->srv, a.ticket, 202, "Restart scheduled");
			else
				rest_action_done(l->srv, a.ticket, 200,
				                 "restarted successfully");
		}
	}
	return NULL;
}

static void
test_auth(void **state)
{
	RestServer *s = start(NULL, 0, false);
	int port = rest_port(s);
	Resp r;

	(void) state;
	assert_true(port > 0);
	/* health checks stay open */
	r = req(port, "GET", "/health", NULL, NULL, false);
	assert_int_equal(r.status, 200);
	r = req(port, "GET", "/replica", NULL, NULL, false);
	assert_int_equal(r.status, 200);
	/* writes need credentials */
	r = req(port, "POST", "/reload", NULL, NULL, false);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.www_auth, "Basic realm="));
	assert_non_null(strstr(r.body, "\"error\":\"no auth header received\""));
	r = req(port, "POST", "/switchover", "{\"leader\":\"n2\"}", "admin:wrong",
	        false);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "not authenticated"));
	r = req(port, "PATCH", "/config", "{}", "root:s3cret", false);
	assert_int_equal(r.status, 401);
	/* right credentials reach the endpoint (412: no member n9) */
	r = req(port, "POST", "/switchover",
	        "{\"leader\":\"n2\",\"candidate\":\"n9\"}", "admin:s3cret", false);
	assert_int_equal(r.status, 412);
	assert_non_null(strstr(r.body, "candidate does not exists"));
	rest_stop(s);
}

/* security review F2/F15: no authentication configured means closed */
static void
test_closed_by_default(void **state)
{
	RestOptions o = {0};
	RestServer *s = NULL;
	PgwError err = {0};
	Resp r;

	(void) state;
	o.listen = "127.0.0.1:0";
	assert_int_equal(rest_start(&o, &s, &err), 0);
	publish(s, false);
	r = req(rest_port(s), "POST", "/reload", NULL, NULL, false);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "write endpoints are closed"));
	r = req(rest_port(s), "PATCH", "/config", "{\"pause\":true}", "any:thing",
	        false);
	assert_int_equal(r.status, 403);
	r = req(rest_port(s), "GET", "/health", NULL, NULL, false);
	assert_int_equal(r.status, 200);
	rest_stop(s);
	/* the operator's opt-in: unauthenticated writes from loopback */
	o.allow_loopback_writes = true;
	assert_int_equal(rest_start(&o, &s, &err), 0);
	publish(s, false);
	r = req(rest_port(s), "POST", "/switchover",
	        "{\"leader\":\"n2\",\"candidate\":\"n9\"}", NULL, false);
	assert_int_equal(r.status, 412);
	rest_stop(s);
	/* an empty password is no authentication */
	o.allow_loopback_writes = false;
	o.username = "admin";
	o.password = "";
	assert_int_equal(rest_start(&o, &s, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "must not be empty"));
}

static void
test_allowlist(void **state)
{
	static const char *const far[] = {"10.0.0.0/8"};
	static const char *const near[] = {"10.0.0.0/8", "127.0.0.0/8"};
	static const char *const named[] = {"localhost"};
	RestServer *s;
	Resp r;

	(void) state;
	s = start(far, 1, false);
	r = req(rest_port(s), "POST", "/reload", NULL, "admin:s3cret", false);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "Access is denied"));
	/* allowlist before auth (Patroni's order): no credentials, still 403 */
	r = req(rest_port(s), "POST", "/reload", NULL, NULL, false);
	assert_int_equal(r.status, 403);
	r = req(rest_port(s), "GET", "/health", NULL, NULL, false);
	assert_int_equal(r.status, 200);
	rest_stop(s);

	s = start(near, 2, false);
	r = req(rest_port(s), "POST", "/switchover",
	        "{\"leader\":\"n2\",\"candidate\":\"n9\"}", "admin:s3cret", false);
	assert_int_equal(r.status, 412);
	rest_stop(s);

	s = start(named, 1, false);
	r = req(rest_port(s), "POST", "/switchover",
	        "{\"leader\":\"n2\",\"candidate\":\"n9\"}", "admin:s3cret", false);
	assert_int_equal(r.status, 412);
	rest_stop(s);

	/* allowlist_include_members: n1's api_url is on 127.0.0.1 */
	s = start(far, 1, true);
	r = req(rest_port(s), "POST", "/switchover",
	        "{\"leader\":\"n2\",\"candidate\":\"n9\"}", "admin:s3cret", false);
	assert_int_equal(r.status, 412);
	rest_stop(s);
}

static void
test_bad_allowlist_entry(void **state)
{
	static const char *const bad[] = {"10.0.0.0/40"};
	RestOptions o = {0};
	RestServer *s = NULL;
	PgwError err = {0};

	(void) state;
	o.listen = "127.0.0.1:0";
	o.allowlist = bad;
	o.n_allowlist = 1;
	assert_int_equal(rest_start(&o, &s, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "10.0.0.0/40"));
	o.n_allowlist = 0;
	o.verify_client = 2;
	assert_int_equal(rest_start(&o, &s, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "verify_client needs TLS"));
}

static void
test_bad_bodies(void **state)
{
	RestServer *s = start(NULL, 0, false);
	int port = rest_port(s);
	char *big = malloc(70 * 1024);
	Resp r;

	(void) state;
	r = req(port, "POST", "/switchover", "{not json", "admin:s3cret", false);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"error\":\"invalid JSON"));
	r = req(port, "POST", "/switchover", "{\"leader\":5}", "admin:s3cret",
	        false);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "key \\\"leader\\\""));
	r = req(port, "POST", "/switchover",
	        "{\"leader\":\"n2\",\"scheduled_at\":\"2030-01-01T10:00:00\"}",
	        "admin:s3cret", false);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "Timezone information is mandatory"));
	r = req(port, "POST", "/restart", "{\"role\":\"boss\"}", "admin:s3cret",
	        false);
	assert_int_equal(r.status, 400);
	r = req(port, "POST", "/failover", "{}", "admin:s3cret", false);
	assert_int_equal(r.status, 400);
	/* bodies over 64 KiB: with a length, and chunked */
	memset(big, 'x', 70 * 1024 - 1);
	big[70 * 1024 - 1] = '\0';
	r = req(port, "PATCH", "/config", big, "admin:s3cret", false);
	assert_int_equal(r.status, 413);
	r = req(port, "PATCH", "/config", big, "admin:s3cret", true);
	assert_true(r.status == 413 || r.status == 0); /* or connection closed */
	/* paths and methods */
	r = req(port, "POST", "/nothing", "{}", "admin:s3cret", false);
	assert_int_equal(r.status, 404);
	r = req(port, "POST", "/config", "{}", "admin:s3cret", false);
	assert_int_equal(r.status, 405);
	/* the server is still there */
	r = req(port, "GET", "/health", NULL, NULL, false);
	assert_int_equal(r.status, 200);
	free(big);
	rest_stop(s);
}

typedef struct Bg
{
	int port;
	const char *method;
	const char *path;
	const char *body;
	Resp r;
} Bg;

static void *
bg_req(void *arg)
{
	Bg *b = arg;

	b->r = req(b->port, b->method, b->path, b->body, "admin:s3cret", false);
	return NULL;
}

static void
test_slow_write_does_not_block_health(void **state)
{
	RestServer *s = start(NULL, 0, false);
	Bg bg = {rest_port(s), "POST", "/reload", NULL, {0}};
	pthread_t t;
	Resp r;

	(void) state;
	/* no loop answers: the reload waits 2 * loop_wait + 5 s, then 503 */
	pthread_create(&t, NULL, bg_req, &bg);
	pgw_sleep_ms(200);
	for (int i = 0; i < 5; i++)
	{
		r = req(bg.port, "GET", "/health", NULL, NULL, false);
		assert_int_equal(r.status, 200);
		assert_true(r.ms < 500);
	}
	pthread_join(t, NULL);
	assert_int_equal(bg.r.status, 503);
	assert_non_null(strstr(bg.r.body, "timed out waiting for the HA loop"));
	/* the withdrawn action is not left for the loop */
	{
		RestAction a;

		assert_false(rest_action_next(s, &a));
	}
	rest_stop(s);
}

static void
test_actions(void **state)
{
	RestServer *s = start(NULL, 0, false);
	int port = rest_port(s);
	FakeLoop l = {s, false, {0}, 0};
	pthread_t t;
	Resp r;

	(void) state;
	pthread_create(&t, NULL, fake_loop, &l);
	r = req(port, "POST", "/reload", NULL, "admin:s3cret", false);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.body, "{\"message\":\"reload scheduled\"}");
	assert_int_equal(l.last.kind, REST_ACTION_RELOAD);

	r = req(
	    port, "POST", "/restart",
	    "{\"role\":\"replica\",\"timeout\":10,\"postgres_version\":\"15.4\"}",
	    "admin:s3cret", false);
	assert_int_equal(r.status, 200);
	assert_int_equal(l.last.kind, REST_ACTION_RESTART);
	assert_string_equal(l.last.role, "replica");
	assert_int_equal(l.last.timeout_s, 10);
	assert_int_equal(l.last.postgres_version, 150004);

	/* filters of an immediate restart that do not match this node */
	r = req(port, "POST", "/restart", "{\"role\":\"primary\"}", "admin:s3cret",
	        false);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "restart conditions are not satisfied"));
	r = req(port, "POST", "/restart", "{\"restart_pending\":true}",
	        "admin:s3cret", false);
	assert_int_equal(r.status, 503);

	r = req(port, "POST", "/restart", "{\"schedule\":\"2099-01-01T00:00:00Z\"}",
	        "admin:s3cret", false);
	assert_int_equal(r.status, 202);
	assert_true(l.last.scheduled_wall_ms > 0);

	r = req(port, "DELETE", "/restart", NULL, "admin:s3cret", false);
	assert_int_equal(r.status, 404);
	assert_int_equal(l.last.kind, REST_ACTION_RESTART_CANCEL);

	r = req(port, "POST", "/reinitialize", "{\"force\":true}", "admin:s3cret",
	        false);
	assert_int_equal(r.status, 200);
	assert_int_equal(l.last.kind, REST_ACTION_REINIT);
	assert_true(l.last.force);

	/* never on the leader */
	publish(s, true);
	r = req(port, "POST", "/reinitialize", NULL, "admin:s3cret", false);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "I am the leader"));
	l.stop = true;
	pthread_join(t, NULL);
	rest_stop(s);
}

static void
test_switchover_without_etcd(void **state)
{
	RestServer *s = start(NULL, 0, false);
	RestSnapshot *snap = calloc(1, sizeof(RestSnapshot));
	Resp r;

	(void) state;
	/* a valid request; this server has no etcd access: 503, not a crash */
	dcs_config_defaults(&snap->view.config);
	snap->view.is_valid = true;
	snap->view.has_leader = true;
	pgw_strlcpy(snap->view.leader, "n1", PGW_NAME_MAX);
	snap->view.n_members = 2;
	pgw_strlcpy(snap->view.members[0].name, "n1", PGW_NAME_MAX);
	snap->view.members[0].role = MEMBER_ROLE_PRIMARY;
	snap->view.members[0].state = MEMBER_STATE_RUNNING;
	snap->view.members[0].is_valid = true;
	pgw_strlcpy(snap->view.members[1].name, "n2", PGW_NAME_MAX);
	snap->view.members[1].role = MEMBER_ROLE_REPLICA;
	snap->view.members[1].state = MEMBER_STATE_RUNNING;
	snap->view.members[1].failover_priority = 1;
	snap->view.members[1].is_valid = true;
	rest_publish(s, snap);
	free(snap);
	r = req(rest_port(s), "POST", "/switchover",
	        "{\"leader\":\"n1\",\"candidate\":\"n2\"}", "admin:s3cret", false);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "no etcd access"));
	r = req(rest_port(s), "DELETE", "/switchover", NULL, "admin:s3cret", false);
	assert_int_equal(r.status, 503);
	r = req(rest_port(s), "PATCH", "/config", "{\"ttl\":20}", "admin:s3cret",
	        false);
	assert_int_equal(r.status, 503);
	rest_stop(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_closed_by_default),
	    cmocka_unit_test(test_allowlist),
	    cmocka_unit_test(test_bad_allowlist_entry),
	    cmocka_unit_test(test_bad_bodies),
	    cmocka_unit_test(test_slow_write_does_not_block_health),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_switchover_without_etcd),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
