/*
 * test_config_parse.c: the per-node YAML file (config/config.h): a full
 * good file, the shipped deploy/pgwarden.yml, environment overrides,
 * validation, and each kind of error with its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static int
parse(const char *yaml, NodeConfig *c, PgwError *e)
{
	return config_parse(yaml, strlen(yaml), "/etc/pgwarden.yml", c, e);
}

static const char *good =
    "scope: demo\n"
    "name: node1\n"
    "log:\n"
    "  level: DEBUG\n"
    "etcd3:\n"
    "  hosts:\n"
    "    - 10.0.0.1:2379\n"
    "    - 10.0.0.2:2379\n"
    "  protocol: https\n"
    "  cacert: /ca.pem\n"
    "restapi:\n"
    "  listen: 0.0.0.0:8008\n"
    "  connect_address: 10.0.0.1:8008\n"
    "  authentication: {username: admin, password: 1234}\n"
    "  allowlist: [127.0.0.1/32, 10.0.0.0/8]\n"
    "  cafile: /ca.pem\n"
    "  verify_client: optional\n"
    "postgresql:\n"
    "  listen: 127.0.0.1,10.0.0.1:5433\n"
    "  data_dir: /data\n"
    "  parameters:\n"
    "    max_connections: 100\n"
    "    wal_log_hints: on\n"
    "    shared_buffers: '128MB'\n"
    "  pg_hba:\n"
    "    - host all all 0.0.0.0/0 md5\n"
    "  callbacks:\n"
    "    on_role_change: /bin/true\n"
    "  pre_promote: /bin/check\n"
    "  authentication:\n"
    "    replication: {username: rep, password: r}\n"
    "bootstrap:\n"
    "  dcs:\n"
    "    ttl: 6\n"
    "    loop_wait: 0.5\n"
    "    retry_timeout: 1\n"
    "    synchronous_mode: quorum\n"
    "    slots: {}\n"
    "    postgresql:\n"
    "      use_pg_rewind: false\n"
    "      pg_hba: []\n"
    "      parameters: {wal_level: replica}\n"
    "  initdb: [data-checksums, {encoding: UTF8}]\n"
    "tags: {nofailover: true, failover_priority: 0, zone: a}\n"
    "watchdog: {mode: automatic, safety_margin: 2}\n";

static void
test_good_file(void **state)
{
	NodeConfig c = {0};
	PgwError e = {0};

	(void) state;
	if (parse(good, &c, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(c.scope, "demo");
	assert_string_equal(c.namespace_, "/service");
	assert_string_equal(c.name, "node1");
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(c.etcd_hosts,
	                    "https://10.0.0.1:2379,https://10.0.0.2:2379");
	assert_string_equal(c.etcd_cacert, "/ca.pem");
	assert_int_equal(c.restapi_port, 8008);
	assert_string_equal(c.restapi_password, "1234");
	assert_int_equal(c.restapi_verify_client, CONFIG_VERIFY_OPTIONAL);
	assert_int_equal(c.n_restapi_allowlist, 2);
	assert_string_equal(c.restapi_allowlist[1], "10.0.0.0/8");
	assert_int_equal(c.pg_port, 5433);
	assert_int_equal(c.n_pg_parameters, 3);
	assert_string_equal(c.pg_parameters[1].value, "on");
	assert_string_equal(c.pg_parameters[2].value, "128MB");
	assert_int_equal(c.n_pg_hba, 1);
	assert_string_equal(c.cb_on_role_change, "/bin/true");
	assert_string_equal(c.pg_pre_promote, "/bin/check");
	assert_true(c.has_bootstrap_dcs);
	assert_int_equal(c.bootstrap_dcs.ttl_ms, 6000);
	assert_int_equal(c.bootstrap_dcs.loop_wait_ms, 500);
	assert_true(c.bootstrap_dcs.synchronous_quorum);
	assert_false(c.bootstrap_dcs.use_pg_rewind);
	assert_int_equal(c.bootstrap_dcs.n_params, 1);
	assert_int_equal(c.n_initdb, 2);
	assert_string_equal(c.initdb[1], "encoding=UTF8");
	assert_true(c.tag_nofailover);
	assert_int_equal(c.tag_failover_priority, 0);
	assert_int_equal(c.n_tags, 3);
	assert_int_equal(c.watchdog_mode, CONFIG_WATCHDOG_AUTOMATIC);
	assert_int_equal(c.watchdog_safety_margin_ms, 2000);
	assert_int_equal(config_validate(&c, &e), 0);
	/* connect address defaults to the first listen host */
	assert_string_equal(c.pg_connect_address, "127.0.0.1:5433");
	config_free(&c);
	assert_null(c.scope);
	config_free(&c); /* twice is fine */
}

static void
test_deploy_example(void **state)
{
	NodeConfig c = {0};
	PgwError e = {0};
	const char *src = getenv("PGW_SOURCE_DIR");
	char path[4096];

	(void) state;
	snprintf(path, sizeof(path), "%s/deploy/pgwarden.yml", src ? src : ".");
	if (config_load_file(path, &c, &e) != 0)
		fail_msg("%s", e.msg);
	if (config_validate(&c, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(c.scope, "demo");
	assert_int_equal(c.bootstrap_dcs.ttl_ms, 10000);
	config_free(&c);
	assert_int_equal(config_load_file("/nonexistent/pgwarden.yml", &c, &e),
	                 PGW_ENOTFOUND);
}

static void
test_env(void **state)
{
	char *env[] = {"PATH=/bin",
	               "PGWARDEN_CONFIG=/x.yml",
	               "PGWARDEN_NAME=node7",
	               "PGWARDEN_ETCD3_HOSTS=e1:2379, e2:2379",
	               "PGWARDEN_RESTAPI_LISTEN=10.1.1.1:9008",
	               "PGWARDEN_POSTGRESQL_DATA_DIR=/pgdata",
	               "PGWARDEN_LOG_LEVEL=warn",
	               NULL};
	char *bad1[] = {"PGWARDEN_RESTAPI_LISTEN=nope", NULL};
	char *bad2[] = {"PGWARDEN_LOG_LEVEL=loud", NULL};
	char *bad3[] = {"PGWARDEN_SCOPE=", NULL};
	char *bad4[] = {"PGWARDEN_ETCD3_HOSTS=a:1,,b:2", NULL};
	NodeConfig c = {0};
	PgwError e = {0};

	(void) state;
	assert_int_equal(
	    parse("scope: s\npostgresql:\n  listen: 127.0.0.1:5432\n", &c, &e), 0);
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	assert_msg_has(
	    &e,
	    "missing required keys \"name\", \"etcd3.hosts\", \"restapi.listen\", \"postgresql.data_dir\"");
	assert_int_equal(config_apply_env(&c, env, &e), 0);
	assert_string_equal(c.name, "node7");
	assert_string_equal(c.etcd_hosts, "e1:2379,e2:2379");
	assert_int_equal(c.restapi_port, 9008);
	assert_int_equal(c.log_level, LOG_LEVEL_WARN);
	assert_int_equal(config_validate(&c, &e), 0);
	assert_string_equal(c.restapi_connect_address, "10.1.1.1:9008");

	assert_int_equal(config_apply_env(&c, bad1, &e), PGW_EINVAL);
	assert_msg_has(&e, "PGWARDEN_RESTAPI_LISTEN: expected host:port");
	assert_int_equal(config_apply_env(&c, bad2, &e), PGW_EINVAL);
	assert_msg_has(&e, "PGWARDEN_LOG_LEVEL");
	assert_int_equal(config_apply_env(&c, bad3, &e), PGW_EINVAL);
	assert_msg_has(&e, "PGWARDEN_SCOPE: must not be empty");
	assert_int_equal(config_apply_env(&c, bad4, &e), PGW_EINVAL);
	assert_msg_has(&e, "PGWARDEN_ETCD3_HOSTS");
	/* failed overrides left the good values */
	assert_int_equal(c.restapi_port, 9008);
	config_free(&c);
}

static void
test_validate(void **state)
{
	const char *base = "scope: s\nname: n\netcd3: {host: 'e:2379'}\n"
	                   "postgresql: {listen: '0.0.0.0:5432', data_dir: /d}\n";
	char y[1024];
	NodeConfig c = {0};
	PgwError e = {0};

	(void) state;
	snprintf(y, sizeof(y), "%srestapi: {listen: '127.0.0.1:8008'}\n", base);
	assert_int_equal(parse(y, &c, &e), 0);
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	assert_msg_has(&e, "\"postgresql.connect_address\" is required");
	snprintf(
	    y, sizeof(y),
	    "%srestapi: {listen: '127.0.0.1:8008', authentication: {username: u}}\n",
	    base);
	assert_int_equal(parse(y, &c, &e), 0);
	free(c.pg_connect_address);
	c.pg_connect_address = NULL;
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	config_free(&c);

	/* state_dir: absolute, not the data directory (issue 21) */
	snprintf(y, sizeof(y),
	         "%srestapi: {listen: '127.0.0.1:8008'}\n"
	         "state_dir: var/pgw\n",
	         base);
	assert_int_equal(parse(y, &c, &e), 0);
	c.pg_connect_address = strdup("10.0.0.1:5432");
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	assert_msg_has(&e, "key \"state_dir\": must be an absolute path");
	config_free(&c);
	snprintf(y, sizeof(y),
	         "%srestapi: {listen: '127.0.0.1:8008'}\nstate_dir: /d\n", base);
	assert_int_equal(parse(y, &c, &e), 0);
	c.pg_connect_address = strdup("10.0.0.1:5432");
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	assert_msg_has(&e, "other than postgresql.data_dir");
	config_free(&c);
	snprintf(y, sizeof(y),
	         "%srestapi: {listen: '127.0.0.1:8008'}\nstate_dir: /run/pgw-x\n",
	         base);
	assert_int_equal(parse(y, &c, &e), 0);
	c.pg_connect_address = strdup("10.0.0.1:5432");
	assert_int_equal(config_validate(&c, &e), 0);
	assert_string_equal(c.state_dir, "/run/pgw-x");
	{
		char *env[] = {"PGWARDEN_STATE_DIR=/var/lib/pgw-state", NULL};

		assert_int_equal(config_apply_env(&c, env, &e), 0);
		assert_string_equal(c.state_dir, "/var/lib/pgw-state");
	}
	config_free(&c);
}

static void
test_errors_with_lines(void **state)
{
	static const struct
	{
		const char *yaml;
		const char *needle;
	} bad[] = {
	    {"scope: s\npostgresql:\n  listn: x\n",
	     "line 3: unknown key \"postgresql.listn\""},
	    {"scope: s\nname: n\nrestapi:\n  connect_address: a:1\n  listen: nope\n",
	     "line 5: key \"restapi.listen\": expected host:port"},
	    {"scope: s\nrestapi:\n  listen: h:70000\n",
	     "line 3: key \"restapi.listen\": expected host:port"},
	    {"scope: [a]\n",
	     "line 1: key \"scope\": expected a string, got a list"},
	    {"scope: s\nbootstrap:\n  dcs:\n    loop_wait: 1\n    ttl: abc\n",
	     "line 5: key \"bootstrap.dcs.ttl\": expected a number, got string"},
	    {"bootstrap:\n  dcs:\n    ttl: 5\n    retry_timeout: 2.5\n",
	     "line 3: key \"bootstrap.dcs.ttl\": loop_wait + 2 * retry_timeout"},
	    {"bootstrap:\n  dcs:\n    ttll: 5\n",
	     "line 3: key \"bootstrap.dcs.ttll\": unknown key"},
	    {"bootstrap:\n  dcs:\n    postgresql:\n      parameters:\n        a: [1]\n",
	     "line 5: key \"bootstrap.dcs.postgresql.parameters.a\""},
	    {"etcd3:\n  hosts: 'a:1,b'\n",
	     "line 2: key \"etcd3.hosts\": expected host:port, got \"b\""},
	    {"etcd3:\n  hosts: a:1\n  host: b:2\n",
	     "line 3: key \"etcd3.host\": set either"},
	    {"etcd3:\n  protocol: ftp\n", "line 2: key \"etcd3.protocol\""},
	    {"restapi:\n  verify_client: maybe\n",
	     "line 2: key \"restapi.verify_client\""},
	    {"tags:\n  nofailover: maybe\n",
	     "line 2: key \"tags.nofailover\": expected a boolean"},
	    {"tags:\n  failover_priority: -1\n",
	     "line 2: key \"tags.failover_priority\""},
	    {"log_level: loud\n", "line 1: key \"log_level\""},
	    {"scope: a\nscope: b\n", "line 2: duplicate key \"scope\""},
	    {"scope: &x a\nname: *x\n", "aliases are not supported"},
	    {"a: &x [*x]\n", "aliases are not supported"},
	    {"scope: s\n  bad: indent\n", "line 2: invalid YAML"},
	    {"- a\n- b\n", "line 1: expected a mapping"},
	    {"", "the file is empty"},
	    {"scope: s\n---\nscope: t\n", "more than one YAML document"},
	    {"postgresql:\n  parameters:\n    x: {a: 1}\n",
	     "line 3: key \"postgresql.parameters.x\""},
	    {"bootstrap:\n  initdb: [[1]]\n",
	     "line 2: key \"bootstrap.initdb[0]\""},
	    {"restapi:\n  allowlist: [a, [b]]\n",
	     "line 2: key \"restapi.allowlist[1]\""},
	    {"scope: 99999999999999999999999\n", "line 1: integer"},
	    {"? [a]\n: b\n", "keys must be non-empty scalars"},
	    {"watchdog:\n  mode: sometimes\n", "line 2: key \"watchdog.mode\""},
	    {"watchdog:\n  mode: required\n", "\"required\" is not supported"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		NodeConfig c = {0};
		PgwError e = {0};

		if (parse(bad[i].yaml, &c, &e) != PGW_EINVAL)
			fail_msg("case %zu accepted: %s", i, bad[i].yaml);
		assert_msg_has(&e, "config file /etc/pgwarden.yml");
		assert_msg_has(&e, bad[i].needle);
		assert_null(c.scope); /* freed on error */
	}
}

static void
test_host_port(void **state)
{
	char host[64];
	int port;

	(void) state;
	assert_int_equal(
	    config_split_host_port("[::1]:8008", host, sizeof(host), &port, NULL),
	    0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8008);
	assert_int_equal(
	    config_split_host_port(":5432", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "");
	assert_int_equal(
	    config_split_host_port("h", host, sizeof(host), &port, NULL),
	    PGW_EINVAL);
	assert_int_equal(
	    config_split_host_port("h:0", host, sizeof(host), &port, NULL),
	    PGW_EINVAL);
	assert_int_equal(
	    config_split_host_port("h:12x", host, sizeof(host), &port, NULL),
	    PGW_EINVAL);
	assert_int_equal(
	    config_split_host_port("a b:1", host, sizeof(host), &port, NULL),
	    PGW_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_file),
	    cmocka_unit_test(test_deploy_example),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_errors_with_lines),
	    cmocka_unit_test(test_host_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
