/*
 * test_routing_router.c: the router's pure parts (routing_int.h): its YAML
 * config (defaults, every error names the key and line), template
 * rendering (unknown placeholder refused), the PgBouncer include file, the
 * HAProxy runtime commands (fence first, then point) and their
 * verification, the effective table while cut, and the bounded hook runner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "routing/routing_int.h"

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

static const char *cfg_good =
    "name: r1\n"
    "scope: demo\n"
    "etcd:\n"
    "  hosts: [\"127.0.0.1:2379\", \"127.0.0.1:2380\"]\n"
    "router_ttl: 3s\n"
    "status_file: /tmp/x.json\n"
    "targets:\n"
    "  - type: pgbouncer\n"
    "    include_file: /etc/pgbouncer/db.ini\n"
    "    admin_conninfo: \"host=/tmp port=6432 dbname=pgbouncer\"\n"
    "    rw_database: app_rw\n"
    "    ro_database: app_ro\n"
    "    options: \"user=app\"\n"
    "  - type: haproxy\n"
    "    socket: /run/haproxy/admin.sock\n"
    "    rw_backend: pg_rw\n"
    "    ro_backend: pg_ro\n"
    "  - type: template\n"
    "    template: /etc/t.tmpl\n"
    "    output: /run/t.json\n"
    "    hook: [\"/bin/true\", \"--x\"]\n"
    "    timeout: 2s\n"
    "  - type: vip\n"
    "    address: 10.0.0.10/24\n"
    "    interface: eth0\n"
    "    node: n1\n";

static void
test_config_good(void **state)
{
	RouterConfig *c = calloc(1, sizeof(*c));
	PgwError e = {0};

	(void) state;
	assert_int_equal(router_config_parse(cfg_good, strlen(cfg_good), c, &e), 0);
	assert_string_equal(c->name, "r1");
	assert_string_equal(c->namespace_, "/service");
	assert_string_equal(c->endpoints, "127.0.0.1:2379,127.0.0.1:2380");
	assert_int_equal(c->router_ttl_ms, 3000);
	assert_int_equal(c->loop_ms, 50);
	assert_int_equal(c->n_targets, 4);
	assert_int_equal(c->targets[0].kind, TARGET_PGBOUNCER);
	assert_int_equal(c->targets[0].line, 8);
	assert_string_equal(c->targets[0].rw_database, "app_rw");
	assert_string_equal(c->targets[0].dbname, "postgres");
	assert_int_equal(c->targets[1].kind, TARGET_HAPROXY);
	assert_true(c->targets[1].ro_fallback_primary);
	assert_int_equal(c->targets[2].kind, TARGET_TEMPLATE);
	assert_int_equal(c->targets[2].hook_argc, 2);
	assert_string_equal(c->targets[2].hook_argv[1], "--x");
	assert_int_equal(c->targets[2].timeout_ms, 2000);
	assert_int_equal(c->targets[3].kind, TARGET_VIP);
	free(c);
}

static void
test_config_bad(void **state)
{
	static const struct
	{
		const char *yaml;
		const char *needle;
	} cases[] = {
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntragets: []\n",
	     "line 4: key \"tragets\" is unknown"},
	    {"name: r1\nscope: s\netcd:\n  hosts: h:1\n  hots: x\n",
	     "line 5: key \"etcd.hots\" is unknown"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\nrouter_ttl: soon\ntargets: [{type: vip}]\n",
	     "line 4: key \"router_ttl\""},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: pgbouncer\n    socket: /x\n",
	     "line 6: key \"targets[0].socket\" is unknown for a pgbouncer target"},
	    /* security review F15: names pasted into PgBouncer admin commands */
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: pgbouncer\n"
	     "    include_file: /x\n    admin_conninfo: \"host=/tmp\"\n    rw_database: \"app;SHUTDOWN\"\n",
	     "must be plain names"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: pgbouncer\n"
	     "    include_file: /x\n    admin_conninfo: \"host=/tmp\"\n    rw_database: app\n    ro_database: \"ro db\"\n",
	     "must be plain names"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: nginx\n",
	     "line 5: targets[0]: key \"type\" must be"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: haproxy\n    socket: /x\n",
	     "line 5: targets[0] (haproxy): key \"rw_backend\" is required"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: template\n    template: a\n    output: b\n    hook: /bin/true\n",
	     "line 8: key \"targets[0].hook\" must be a list"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: vip\n    address: 10.0.0.1\n    interface: e\n    node: n\n",
	     "needs a prefix length"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\ntargets:\n  - type: haproxy\n    socket: /x\n    rw_backend: b\n    ro_fallback_primary: perhaps\n",
	     "line 8: key \"targets[0].ro_fallback_primary\": \"perhaps\" is not a boolean"},
	    {"scope: s\netcd: {hosts: h:1}\ntargets: [{type: vip}]\n",
	     "line 3: targets[0] (vip): key \"address\" is required"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\n",
	     "key \"targets\" is required"},
	    {"name: r/1\nscope: s\netcd: {hosts: h:1}\ntargets: [{type: template, template: a, output: b}]\n",
	     "key \"name\""},
	    {"name: r1\netcd: {hosts: h:1}\ntargets: [{type: template, template: a, output: b}]\n",
	     "key \"scope\" is required"},
	    {"name: r1\nscope: s\ntargets: [{type: template, template: a, output: b}]\n",
	     "key \"etcd.hosts\" is required"},
	    {"name: r1\nscope: s\netcd: {hosts: h:1}\nrouter_ttl: 1s\nloop_wait: 600ms\ntargets: [{type: template, template: a, output: b}]\n",
	     "loop_wait"},
	    {"name: [r1]\n", "line 1: key \"name\" must be a string"},
	    {"name: r1\n  scope: : :\n", "line 2"},
	    {"- a\n- b\n", "must be a YAML mapping"},
	};
	RouterConfig *c = calloc(1, sizeof(*c));

	(void) state;
	for (size_t i = 0; i < PGW_LENGTHOF(cases); i++)
	{
		PgwError e = {0};

		if (router_config_parse(cases[i].yaml, strlen(cases[i].yaml), c, &e) !=
		    PGW_EINVAL)
			fail_msg("case %zu accepted", i);
		assert_msg_has(&e, cases[i].needle);
	}
	free(c);
}

static RoutingTable *
table(void)
{
	static const char *j =
	    "{\"epoch\":3,\"state\":\"serving\",\"leader\":\"n1\","
	    "\"primary\":{\"name\":\"n1\",\"host\":\"127.0.0.1\",\"port\":5001},"
	    "\"replicas\":[{\"name\":\"n2\",\"host\":\"127.0.0.1\",\"port\":5002,\"lag\":5,\"weight\":100},"
	    "{\"name\":\"n3\",\"host\":\"127.0.0.2\",\"port\":5003,\"lag\":0,\"weight\":100},"
	    "{\"name\":\"n4\",\"host\":\"127.0.0.3\",\"port\":5004,\"lag\":0,\"weight\":0}],"
	    "\"time\":\"2026-11-23T10:01:02.123Z\"}";
	static RoutingTable t;
	PgwError e = {0};

	assert_int_equal(routing_table_decode(j, strlen(j), &t, &e), 0);
	return &t;
}

static void
test_template(void **state)
{
	RoutingTable *t = table();
	PgwError e = {0};
	char *out = NULL;

	(void) state;
	assert_int_equal(
	    router_template_render("primary={{primary_host}}:{{ primary_port }} "
	                           "e={{epoch}} s={{state}} n={{primary_name}}\n"
	                           "r={{replicas_json}}\n",
	                           t, &out, &e),
	    0);
	assert_non_null(strstr(out, "primary=127.0.0.1:5001 e=3 s=serving n=n1\n"));
	assert_non_null(strstr(
	    out,
	    "r=[{\"name\":\"n2\",\"host\":\"127.0.0.1\",\"port\":5002,\"lag\":5,\"weight\":100,\"sync_state\":\"async\"}"));
	free(out);

	/* fenced: empty primary fields */
	{
		RoutingTable f;

		router_effective_table(t, true, &f);
		assert_int_equal(
		    router_template_render(
		        "[{{primary_host}}][{{primary_port}}] {{state}}", &f, &out, &e),
		    0);
		assert_string_equal(out, "[][] fenced");
		free(out);
	}

	/* an unknown placeholder is refused, naming it and its line */
	out = (char *) 0x1;
	assert_int_equal(
	    router_template_render("a\nb\nhost={{primary_hots}}\n", t, &out, &e),
	    PGW_EINVAL);
	assert_null(out);
	assert_msg_has(&e, "line 3");
	assert_msg_has(&e, "{{primary_hots}}");
	assert_int_equal(router_template_render("x {{epoch", t, &out, &e),
	                 PGW_EINVAL);
	assert_msg_has(&e, "without \"}}\"");
	/* no placeholders: copied as is */
	assert_int_equal(router_template_render("plain } { text", t, &out, &e), 0);
	assert_string_equal(out, "plain } { text");
	free(out);
}

static void
test_pgbouncer_include(void **state)
{
	RoutingTable *t = table();
	TargetConfig c;
	RoutingTable f;
	char *s;

	(void) state;
	memset(&c, 0, sizeof(c));
	pgw_strlcpy(c.rw_database, "app_rw", sizeof(c.rw_database));
	pgw_strlcpy(c.ro_database, "app_ro", sizeof(c.ro_database));
	pgw_strlcpy(c.dbname, "app", sizeof(c.dbname));
	pgw_strlcpy(c.options, "user=app", sizeof(c.options));
	pgw_strlcpy(c.fenced_host, "/nonexistent/fenced", sizeof(c.fenced_host));
	s = pgbouncer_render_include(&c, t);
	assert_non_null(strstr(s, "[databases]\n"));
	assert_non_null(
	    strstr(s, "app_rw = host=127.0.0.1 port=5001 dbname=app user=app\n"));
	/* equal weight: the lower lag wins (n3) */
	assert_non_null(
	    strstr(s, "app_ro = host=127.0.0.2 port=5003 dbname=app user=app\n"));
	free(s);

	router_effective_table(t, true, &f);
	s = pgbouncer_render_include(&c, &f);
	assert_non_null(
	    strstr(s, "app_rw = host=/nonexistent/fenced dbname=app user=app\n"));
	assert_null(strstr(s, "port=5001"));
	free(s);

	/* no replica with weight: reads go to the primary */
	f = *t;
	for (int i = 0; i < f.n_replicas; i++)
		f.replicas[i].weight = 0;
	assert_int_equal(pgbouncer_ro_choice(&f), -1);
	s = pgbouncer_render_include(&c, &f);
	assert_non_null(strstr(s, "app_ro = host=127.0.0.1 port=5001"));
	free(s);
}

static const char *state_dump =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 pg_rw 1 n1 127.0.0.9 2 0 1 1 10 6 3 4 6 0 0 0 - 5001 - 0 0 - - 0\n"
    "3 pg_rw 2 n2 127.0.0.1 2 0 1 1 10 1 0 0 0 0 0 0 - 5002 - 0 0 - - 0\n"
    "4 pg_ro 1 n2 127.0.0.1 2 1 1 1 10 1 0 0 0 0 0 0 - 5002 - 0 0 - - 0\n";

static void
test_haproxy(void **state)
{
	RoutingTable *t = table();
	TargetConfig c;
	HaproxyServer s[8];
	HaproxyCmds *cmds = calloc(1, sizeof(*cmds));
	PgwError e = {0};
	int n;

	(void) state;
	memset(&c, 0, sizeof(c));
	pgw_strlcpy(c.rw_backend, "pg_rw", sizeof(c.rw_backend));
	pgw_strlcpy(c.ro_backend, "pg_ro", sizeof(c.ro_backend));
	c.ro_fallback_primary = true;

	n = haproxy_servers_parse(state_dump, "pg_rw", s, 8, &e);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].name, "n1");
	assert_string_equal(s[0].addr, "127.0.0.9");
	assert_int_equal(s[0].port, 5001);
	assert_int_equal(s[0].check_state, 6);
	assert_int_equal(haproxy_servers_parse("2\n", "pg_rw", s, 8, &e),
	                 PGW_EBADRESPONSE);
	assert_int_equal(
	    haproxy_servers_parse("1\n3 pg_rw 1 n1\n", "pg_rw", s, 8, &e),
	    PGW_EBADRESPONSE);

	/* serving n1: fence n2 first, then move n1's address and make it ready */
	n = haproxy_servers_parse(state_dump, "pg_rw", s, 8, &e);
	s[0].check_state = 0; /* no checks configured: no health command */
	assert_int_equal(haproxy_commands_build(&c, t, false, s, n, cmds, &e), 0);
	assert_int_equal(cmds->n, 4);
	assert_string_equal(cmds->cmd[0], "set server pg_rw/n2 state maint");
	assert_string_equal(cmds->cmd[1], "shutdown sessions server pg_rw/n2");
	assert_string_equal(cmds->cmd[2],
	                    "set server pg_rw/n1 addr 127.0.0.1 port 5001");
	assert_string_equal(cmds->cmd[3], "set server pg_rw/n1 state ready");
	/* before: n1 at the wrong address, n2 ready -> verify fails */
	assert_int_equal(haproxy_verify(&c, t, false, s, n, &e), PGW_ESTATE);
	/* with checks configured (CHK_ST_CONFIGURED 0x02, as a real dump's 6)
	 * the primary's health is forced up; 0x01 alone (a check in progress)
	 * is not "configured" */
	s[0].check_state = 1;
	assert_int_equal(haproxy_commands_build(&c, t, false, s, n, cmds, &e), 0);
	assert_int_equal(cmds->n, 4);
	s[0].check_state = 6;
	assert_int_equal(haproxy_commands_build(&c, t, false, s, n, cmds, &e), 0);
	assert_string_equal(cmds->cmd[4], "set server pg_rw/n1 health up");
	/* after: verify passes */
	pgw_strlcpy(s[0].addr, "127.0.0.1", sizeof(s[0].addr));
	s[1].admin_state = 1;
	assert_int_equal(haproxy_verify(&c, t, false, s, n, &e), 0);

	/* fenced: everything to maint with sessions shut, nothing made ready */
	{
		RoutingTable f;

		router_effective_table(t, true, &f);
		assert_int_equal(haproxy_commands_build(&c, &f, false, s, n, cmds, &e),
		                 0);
		assert_int_equal(cmds->n, 4);
		for (int i = 0; i < cmds->n; i++)
			assert_null(strstr(cmds->cmd[i], "ready"));
	}

	/* a primary HAProxy does not know: maint for the rest, then an error */
	{
		RoutingTable g = *t;

		pgw_strlcpy(g.primary.name, "n9", sizeof(g.primary.name));
		assert_int_equal(haproxy_commands_build(&c, &g, false, s, n, cmds, &e),
		                 PGW_ENOTFOUND);
		assert_msg_has(&e, "\"n9\"");
		assert_int_equal(cmds->n, 4);
	}

	/* ro backend: n2 (in maint, weight 1) gets the table's weight 100 and
	 * is made ready; n4 (weight 0) is not in the backend */
	n = haproxy_servers_parse(state_dump, "pg_ro", s, 8, &e);
	assert_int_equal(n, 1);
	assert_int_equal(haproxy_commands_build(&c, t, true, s, n, cmds, &e), 0);
	assert_int_equal(cmds->n, 2);
	assert_string_equal(cmds->cmd[0], "set server pg_ro/n2 weight 100");
	assert_string_equal(cmds->cmd[1], "set server pg_ro/n2 state ready");
	free(cmds);
}

static void
test_run_argv(void **state)
{
	char *ok[] = {"/bin/sh", "-c", "echo hello", NULL};
	char *bad[] = {"/bin/sh", "-c", "echo oops >&2; exit 3", NULL};
	char *slow[] = {"/bin/sh", "-c", "sleep 5", NULL};
	char *missing[] = {"/nonexistent/hook", NULL};
	char out[64];
	PgwError e = {0};

	(void) state;
	assert_int_equal(router_run_argv(ok, 2000, out, sizeof(out), &e), 0);
	assert_string_equal(out, "hello\n");
	assert_int_equal(router_run_argv(bad, 2000, out, sizeof(out), &e), PGW_EIO);
	assert_msg_has(&e, "exit 3");
	assert_msg_has(&e, "oops");
	assert_int_equal(router_run_argv(slow, 100, NULL, 0, &e), PGW_ETIMEDOUT);
	assert_int_equal(router_run_argv(missing, 2000, NULL, 0, &e), PGW_EIO);
	assert_msg_has(&e, "exit 127");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_good),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_template),
	    cmocka_unit_test(test_pgbouncer_include),
	    cmocka_unit_test(test_haproxy),
	    cmocka_unit_test(test_run_argv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
