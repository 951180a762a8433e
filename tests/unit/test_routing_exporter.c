/*
 * test_routing_exporter.c: pgwarden-router's metrics (exporter_int.h): the
 * metrics_listen / pools_interval / name keys (errors name the key and
 * line), the SHOW POOLS / SHOW DATABASES parsers (by column name; bad
 * values named), the render (well formed, HELP and TYPE everywhere,
 * utilization, a target that could not be read says so with a 0 and has
 * no stale pool series), and the HTTP server answering from copies while
 * a PgBouncer that cannot answer is being read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "routing/exporter_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "tests/harness/promcheck.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *cfg_text =
    "name: r1\n"
    "scope: demo\n"
    "etcd: {hosts: \"127.0.0.1:2379\"}\n"
    "metrics_listen: 127.0.0.1:0\n"
    "pools_interval: 200ms\n"
    "targets:\n"
    "  - type: pgbouncer\n"
    "    name: bouncer-a\n"
    "    include_file: /tmp/x.ini\n"
    "    admin_conninfo: \"host=127.0.0.1 port=1 dbname=pgbouncer\"\n"
    "    timeout: 300ms\n"
    "  - type: haproxy\n"
    "    socket: /run/haproxy/admin.sock\n"
    "    rw_backend: pg_rw\n"
    "    ro_backend: pg_ro\n";

static RouterConfig *
load(const char *text, int expect_rc, const char *needle)
{
	RouterConfig *c = calloc(1, sizeof(*c));
	PgwError e = {0};
	int rc = router_config_parse(text, strlen(text), c, &e);

	assert_int_equal(rc, expect_rc);
	if (needle && strstr(e.msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	return c;
}

static void
test_config(void **state)
{
	RouterConfig *c;
	char bad[2048];
	char name[128];

	(void) state;
	c = load(cfg_text, 0, NULL);
	assert_string_equal(c->metrics_listen, "127.0.0.1:0");
	assert_int_equal(c->pools_interval_ms, 200);
	assert_string_equal(c->targets[0].name, "bouncer-a");
	exporter_target_name(&c->targets[0], name, sizeof(name));
	assert_string_equal(name, "bouncer-a");
	exporter_target_name(&c->targets[1], name, sizeof(name));
	assert_string_equal(name, "/run/haproxy/admin.sock");
	c->targets[0].name[0] = '\0';
	exporter_target_name(&c->targets[0], name, sizeof(name));
	assert_string_equal(name, "127.0.0.1:1");
	free(c);

	snprintf(bad, sizeof(bad), "%s", cfg_text);
	memcpy(strstr(bad, "127.0.0.1:0"), "127.0.0.1:x", 11);
	free(load(bad, PGW_EINVAL, "line 4: key \"metrics_listen\""));
	snprintf(bad, sizeof(bad), "%s", cfg_text);
	memcpy(strstr(bad, "200ms"), "  1ms", 5);
	free(load(bad, PGW_EINVAL, "line 5: key \"pools_interval\""));
	snprintf(bad, sizeof(bad), "%s", cfg_text);
	memcpy(strstr(bad, "127.0.0.1:0"), "example.org", 11);
	free(load(bad, PGW_EINVAL, "metrics_listen"));
	/* two targets may not share a metrics name (the scrape would hold
	 * duplicate series, which Prometheus refuses whole) */
	snprintf(bad, sizeof(bad),
	         "%s  - type: pgbouncer\n    include_file: /tmp/y.ini\n"
	         "    name: bouncer-a\n"
	         "    admin_conninfo: \"host=127.0.0.1 port=2 dbname=pgbouncer\"\n",
	         cfg_text);
	free(load(
	    bad, PGW_EINVAL,
	    "line 16: targets[2] has the metrics name \"bouncer-a\" of targets[0]"));
	/* defaults */
	c = load(
	    "name: r\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - {type: vip, address: 10.0.0.1/24, interface: eth0, node: n1}\n",
	    0, NULL);
	assert_string_equal(c->metrics_listen, "");
	assert_int_equal(c->pools_interval_ms, 2000);
	free(c);
}

/* SHOW POOLS of PgBouncer 1.18 (column order as it prints them) */
static const char *const pool_cols[] = {"database",
                                        "user",
                                        "cl_active",
                                        "cl_waiting",
                                        "cl_active_cancel_req",
                                        "cl_waiting_cancel_req",
                                        "sv_active",
                                        "sv_active_cancel",
                                        "sv_being_canceled",
                                        "sv_idle",
                                        "sv_used",
                                        "sv_tested",
                                        "sv_login",
                                        "maxwait",
                                        "maxwait_us",
                                        "pool_mode"};
static const char *const pool_vals[] = {
    "app_rw",    "app",       "9", "4", "0", "0", "9",      "0",
    "0",         "0",         "1", "0", "0", "2", "500000", "session",
    "pgbouncer", "pgbouncer", "1", "0", "0", "0", "0",      "0",
    "0",         "0",         "0", "0", "0", "0", "0",      "statement",
    "app_ro",    "app",       "1", "0", "0", "0", "1",      "0",
    "0",         "3",         "0", "0", "0", "0", "0",      "session"};
static const char *const db_cols[] = {"name",
                                      "host",
                                      "port",
                                      "database",
                                      "force_user",
                                      "pool_size",
                                      "min_pool_size",
                                      "reserve_pool",
                                      "pool_mode",
                                      "max_connections",
                                      "current_connections",
                                      "paused",
                                      "disabled"};
static const char *const db_vals[] = {
    "app_rw",    "127.0.0.1", "5432",      "postgres", "",          "10",
    "0",         "2",         "",          "0",        "10",        "0",
    "0",         "app_ro",    "127.0.0.1", "5433",     "postgres",  "",
    "20",        "0",         "0",         "",         "0",         "4",
    "0",         "0",         "pgbouncer", "",         "6432",      "pgbouncer",
    "pgbouncer", "2",         "0",         "0",        "statement", "0",
    "0",         "0",         "0"};

static void
fill_pgbouncer(TargetStats *ts)
{
	RowSet pr = {16, pool_cols, 3, pool_vals};
	RowSet dr = {13, db_cols, 3, db_vals};
	PgwError e = {0};
	int dropped;

	assert_int_equal(pgbouncer_pools_parse(&pr, ts->pools, EXPORTER_POOLS_MAX,
	                                       &ts->n_pools, &dropped, &e),
	                 0);
	assert_int_equal(pgbouncer_databases_parse(&dr, ts->dbs, EXPORTER_DBS_MAX,
	                                           &ts->n_dbs, &dropped, &e),
	                 0);
}

static void
test_parsers(void **state)
{
	TargetStats *ts = calloc(1, sizeof(*ts));
	PoolStat one[1];
	PgwError e = {0};
	int n;
	int dropped;

	(void) state;
	fill_pgbouncer(ts);
	assert_int_equal(ts->n_pools, 2); /* "pgbouncer" skipped */
	assert_string_equal(ts->pools[0].database, "app_rw");
	assert_int_equal(ts->pools[0].cl_waiting, 4);
	assert_int_equal(ts->pools[0].sv_used, 1);
	assert_true(ts->pools[0].maxwait_s == 2.5);
	assert_int_equal(ts->n_dbs, 2);
	assert_int_equal(ts->dbs[0].pool_size, 10);
	assert_int_equal(ts->dbs[0].reserve_pool, 2);
	assert_int_equal(ts->dbs[1].current_connections, 4);

	/* more rows than room: kept ones and a count of the rest */
	{
		RowSet pr = {16, pool_cols, 3, pool_vals};

		assert_int_equal(pgbouncer_pools_parse(&pr, one, 1, &n, &dropped, &e),
		                 0);
		assert_int_equal(n, 1);
		assert_int_equal(dropped, 1);
	}
	/* a column missing, a value that is no number: named */
	{
		RowSet pr = {3, pool_cols, 0, pool_vals};

		assert_int_equal(pgbouncer_pools_parse(&pr, one, 1, &n, &dropped, &e),
		                 0);
		pr.nrows = 1;
		assert_int_equal(pgbouncer_pools_parse(&pr, one, 1, &n, &dropped, &e),
		                 PGW_EBADRESPONSE);
		assert_non_null(strstr(e.msg, "cl_waiting"));
	}
	{
		const char *vals[16];
		RowSet pr = {16, pool_cols, 1, vals};

		memcpy(vals, pool_vals, sizeof(vals));
		vals[6] = "many";
		assert_int_equal(pgbouncer_pools_parse(&pr, one, 1, &n, &dropped, &e),
		                 PGW_EBADRESPONSE);
		assert_non_null(strstr(e.msg, "\"sv_active\" is \"many\""));
	}
	{
		RowSet dr = {1, db_cols + 1, 1, db_vals};

		assert_int_equal(
		    pgbouncer_databases_parse(&dr, ts->dbs, 4, &n, &dropped, &e),
		    PGW_EBADRESPONSE);
		assert_non_null(strstr(e.msg, "\"name\""));
	}
	free(ts);
}

static double
value(const char *text, const char *head)
{
	double v = -12345;

	if (!promcheck_value(text, head, &v))
		fail_msg("no sample %s", head);
	return v;
}

static void
assert_well_formed(const char *text)
{
	char why[256] = "";

	if (promcheck_text(text, why, sizeof(why)) != 0)
		fail_msg("%s\n%s", why, text);
}

static void
test_render(void **state)
{
	RouterConfig *c = load(cfg_text, 0, NULL);
	TargetStats *ts = calloc(2, sizeof(*ts));
	RouterStatus st;
	EtcdClientStats es;
	char *t;

	(void) state;
	memset(&st, 0, sizeof(st));
	memset(&es, 0, sizeof(es));
	st.seen_epoch = 8;
	st.applied_epoch = 7;
	st.has_applied = true;
	st.applied_state = ROUTING_STATE_SERVING;
	pgw_strlcpy(st.applied_primary, "node1", sizeof(st.applied_primary));
	st.last_apply_ok_mono_ms = 9000;
	es.last_contact_mono_ms = 9900;
	ts[0].kind = TARGET_PGBOUNCER;
	pgw_strlcpy(ts[0].name, "bouncer-a", sizeof(ts[0].name));
	ts[0].read_ok = ts[0].ever_read = true;
	ts[0].done_mono_ms = 9500;
	fill_pgbouncer(&ts[0]);
	ts[1].kind = TARGET_HAPROXY;
	pgw_strlcpy(ts[1].name, "/run/haproxy/admin.sock", sizeof(ts[1].name));
	ts[1].read_ok = ts[1].ever_read = true;
	ts[1].n_rw = 2;
	pgw_strlcpy(ts[1].rw[0].name, "node1", sizeof(ts[1].rw[0].name));
	ts[1].rw[0].op_state = 2;
	pgw_strlcpy(ts[1].rw[1].name, "node2", sizeof(ts[1].rw[1].name));
	ts[1].rw[1].op_state = 2;
	ts[1].rw[1].admin_state = 0x01;
	ts[1].n_ro = 1;
	pgw_strlcpy(ts[1].ro[0].name, "node2", sizeof(ts[1].ro[0].name));
	ts[1].ro[0].op_state = 2;

	t = router_metrics_render(c, &st, ts, 2, &es, 10000);
	assert_well_formed(t);
	assert_true(
	    value(t, "pgwarden_router_epoch{scope=\"demo\",router=\"r1\"}") == 8);
	assert_true(
	    value(t,
	          "pgwarden_router_applied_epoch{scope=\"demo\",router=\"r1\"}") ==
	    7);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_state{scope=\"demo\",router=\"r1\",state=\"serving\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_state{scope=\"demo\",router=\"r1\",state=\"fenced\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_primary_info{scope=\"demo\",router=\"r1\",primary=\"node1\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_last_apply_age_seconds{scope=\"demo\",router=\"r1\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_etcd_last_contact_age_seconds{scope=\"demo\",router=\"r1\"}") ==
	    0.1);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_target_up{scope=\"demo\",router=\"r1\",target=\"bouncer-a\",kind=\"pgbouncer\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_target_read_age_seconds{scope=\"demo\",router=\"r1\",target=\"bouncer-a\",kind=\"pgbouncer\"}") ==
	    0.5);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_client_connections{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_rw\",user=\"app\",state=\"waiting\"}") ==
	    4);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_server_connections{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_rw\",user=\"app\",state=\"used\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_pool_utilization_ratio{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_rw\",user=\"app\"}") ==
	    0.9);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_pool_utilization_ratio{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_ro\",user=\"app\"}") ==
	    0.05);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_max_wait_seconds{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_rw\",user=\"app\"}") ==
	    2.5);
	assert_true(
	    value(
	        t,
	        "pgwarden_pgbouncer_pool_size{scope=\"demo\",router=\"r1\",pgbouncer=\"bouncer-a\",database=\"app_rw\"}") ==
	    10);
	assert_null(strstr(t, "database=\"pgbouncer\""));
	assert_true(
	    value(
	        t,
	        "pgwarden_haproxy_servers_up{scope=\"demo\",router=\"r1\",haproxy=\"/run/haproxy/admin.sock\",backend=\"pg_rw\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_haproxy_servers_up{scope=\"demo\",router=\"r1\",haproxy=\"/run/haproxy/admin.sock\",backend=\"pg_ro\"}") ==
	    1);
	assert_true(
	    value(
	        t,
	        "pgwarden_haproxy_server_up{scope=\"demo\",router=\"r1\",haproxy=\"/run/haproxy/admin.sock\",backend=\"pg_rw\",server=\"node2\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_haproxy_routed_primary_info{scope=\"demo\",router=\"r1\",haproxy=\"/run/haproxy/admin.sock\",backend=\"pg_rw\",server=\"node1\"}") ==
	    1);
	assert_null(strstr(
	    t,
	    "pgwarden_haproxy_routed_primary_info{scope=\"demo\",router=\"r1\",haproxy=\"/run/haproxy/admin.sock\",backend=\"pg_rw\",server=\"node2\"}"));
	free(t);

	/* PgBouncer could not be read: a 0 says so, no stale pool series */
	ts[0].read_ok = false;
	t = router_metrics_render(c, &st, ts, 2, &es, 10000);
	assert_well_formed(t);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_target_up{scope=\"demo\",router=\"r1\",target=\"bouncer-a\",kind=\"pgbouncer\"}") ==
	    0);
	assert_null(strstr(t, "pgbouncer=\"bouncer-a\""));
	free(t);

	/* before the loop's first turn and any read */
	memset(ts, 0, 2 * sizeof(*ts));
	ts[1].kind = TARGET_HAPROXY;
	pgw_strlcpy(ts[0].name, "bouncer-a", sizeof(ts[0].name));
	pgw_strlcpy(ts[1].name, "/run/haproxy/admin.sock", sizeof(ts[1].name));
	t = router_metrics_render(c, NULL, ts, 2, &es, 10000);
	assert_well_formed(t);
	assert_true(
	    value(t,
	          "pgwarden_router_applied_epoch{scope=\"demo\",router=\"r1\"}") ==
	    0);
	assert_true(
	    value(
	        t,
	        "pgwarden_router_last_apply_age_seconds{scope=\"demo\",router=\"r1\"}") ==
	    -1);
	assert_null(strstr(t, "pgwarden_router_primary_info{"));
	free(t);
	free(ts);
	free(c);
}

/* GET path over a plain socket: status code, body in out */
static int
http_get(int port, const char *path, char *out, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	char req[256];
	size_t got = 0;
	ssize_t n;
	int status = 0;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t) strlen(req))
	{
		close(fd);
		return -1;
	}
	while (got + 1 < len && (n = read(fd, out + got, len - got - 1)) > 0)
		got += (size_t) n;
	out[got] = '\0';
	close(fd);
	if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

static void
test_http(void **state)
{
	RouterConfig *c = load(cfg_text, 0, NULL);
	Exporter *e = NULL;
	PgwError err = {0};
	RouterStatus st;
	char *buf = malloc(1 << 20);
	int64_t t0;
	int status = 0;

	(void) state;
	/* port 1 on loopback refuses; the HAProxy socket does not exist */
	assert_int_equal(exporter_start(c, NULL, &e, &err), 0);
	assert_true(exporter_port(e) > 0);
	memset(&st, 0, sizeof(st));
	st.applied_epoch = 3;
	exporter_publish(e, &st);
	/* wait for a collector round to mark both targets down */
	for (int i = 0; i < 100; i++)
	{
		status = http_get(exporter_port(e), "/metrics", buf, 1 << 20);
		if (status == 200 &&
		    strstr(buf, "target=\"bouncer-a\",kind=\"pgbouncer\"} 0\n") &&
		    strstr(
		        buf,
		        "pgwarden_router_target_read_duration_seconds{scope=\"demo\",router=\"r1\",target=\"/run"))
			break;
		pgw_sleep_ms(50);
	}
	assert_int_equal(status, 200);
	assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(
	    buf,
	    "pgwarden_router_applied_epoch{scope=\"demo\",router=\"r1\"} 3\n"));
	assert_non_null(
	    strstr(buf, "target=\"bouncer-a\",kind=\"pgbouncer\"} 0\n"));
	assert_non_null(strstr(
	    buf, "target=\"/run/haproxy/admin.sock\",kind=\"haproxy\"} 0\n"));
	assert_well_formed(strstr(buf, "\r\n\r\n") + 4);
	/* many scrapes in a row: each answered at once from the copies */
	t0 = pgw_now_mono_ms();
	for (int i = 0; i < 200; i++)
		assert_int_equal(http_get(exporter_port(e), "/metrics", buf, 1 << 20),
		                 200);
	print_message("200 scrapes in %lld ms\n",
	              (long long) (pgw_now_mono_ms() - t0));
	assert_int_equal(http_get(exporter_port(e), "/other", buf, 1 << 20), 404);
	exporter_stop(e);
	/* a port already taken: refused with the address named */
	{
		Exporter *e2 = NULL;
		Exporter *e3 = NULL;

		assert_int_equal(exporter_start(c, NULL, &e2, &err), 0);
		snprintf(c->metrics_listen, sizeof(c->metrics_listen), "127.0.0.1:%d",
		         exporter_port(e2));
		assert_int_equal(exporter_start(c, NULL, &e3, &err), PGW_EIO);
		assert_non_null(strstr(err.msg, c->metrics_listen));
		assert_null(e3);
		exporter_stop(e2);
	}
	free(buf);
	free(c);
}

/*
 * inventory: with --families (or --text), print every family (or the text)
 * of a router with a PgBouncer and a HAProxy target read successfully (see
 * test_daemon_metrics.c's inventory).
 */
static int
inventory(bool text)
{
	RouterConfig *c = load(cfg_text, 0, NULL);
	TargetStats *ts = calloc(2, sizeof(*ts));
	RouterStatus st;
	EtcdClientStats es;
	char *t;

	memset(&st, 0, sizeof(st));
	memset(&es, 0, sizeof(es));
	st.has_applied = true;
	pgw_strlcpy(st.applied_primary, "n1", sizeof(st.applied_primary));
	for (int i = 0; i < 2; i++)
	{
		ts[i].kind = c->targets[i].kind;
		exporter_target_name(&c->targets[i], ts[i].name, sizeof(ts[i].name));
		ts[i].read_ok = ts[i].ever_read = true;
	}
	fill_pgbouncer(&ts[0]);
	ts[1].n_rw = ts[1].n_ro = 1;
	pgw_strlcpy(ts[1].rw[0].name, "n1", sizeof(ts[1].rw[0].name));
	ts[1].rw[0].op_state = 2;
	pgw_strlcpy(ts[1].ro[0].name, "n2", sizeof(ts[1].ro[0].name));
	t = router_metrics_render(c, &st, ts, 2, &es, 1000);
	if (text)
		fputs(t, stdout);
	else
		for (const char *p = t; p && *p;)
		{
			const char *nl = strchr(p, '\n');

			if (strncmp(p, "# TYPE ", 7) == 0)
				printf("%.*s\n", (int) ((nl ? nl : p + strlen(p)) - p - 7),
				       p + 7);
			p = nl ? nl + 1 : NULL;
		}
	free(t);
	free(ts);
	free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_http),
	};

	if (argc > 1 &&
	    (strcmp(argv[1], "--families") == 0 || strcmp(argv[1], "--text") == 0))
		return inventory(strcmp(argv[1], "--text") == 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
