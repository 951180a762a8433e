/*
 * test_config_patroni.c: what a Patroni user's file gets from config/
 * (issue 12): ignored keys named in cfg->warnings with their line, null
 * strings and an empty "parameters:" read as unset, bootstrap.pg_hba and
 * bootstrap.dcs.postgresql.pg_hba honoured as Patroni does, the socket
 * directory taken from unix_socket_directories (relative to data_dir), a
 * relative data_dir made absolute, and "etcd:" refused with what to do.
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
#include <unistd.h>

static int
load(const char *yaml, NodeConfig *c, PgwError *e)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = config_parse(yaml, strlen(yaml), "p.yml", c, e);
	if (rc == 0)
		rc = config_validate(c, e);
	return rc;
}

static bool
warned(const NodeConfig *c, const char *needle)
{
	for (int i = 0; i < c->n_warnings; i++)
		if (strstr(c->warnings[i], needle) != NULL)
			return true;
	return false;
}

#define BASE                                                                   \
	"scope: demo\nname: node1\netcd3: {hosts: 127.0.0.1:2379}\n"               \
	"restapi: {listen: 127.0.0.1:8008}\n"

static void
test_patroni_file(void **state)
{
	NodeConfig c;
	PgwError e = {0};
	const char *y = BASE
	    "postgresql:\n" /* line 5 */
	    "  listen: 127.0.0.1:5432\n"
	    "  data_dir: /var/lib/pg/data\n"
	    "  pg_ctl_timeout: 60\n" /* line 8 */
	    "  authentication:\n"
	    "    superuser: {username: postgres, password: }\n"
	    "  parameters:\n"
	    "    unix_socket_directories: '..'\n"
	    "bootstrap:\n"
	    "  dcs:\n"
	    "    postgresql:\n"
	    "      parameters:\n"
	    "      pg_hba: [local all all trust, host all all 10.0.0.0/8 md5]\n"
	    "  pg_hba: [host all all 10.1.0.0/16 md5]\n"
	    "  users: {admin: {password: x}}\n"; /* line 19 */

	(void) state;
	assert_int_equal(load(y, &c, &e), 0);
	assert_true(
	    warned(&c, "line 8: key \"postgresql.pg_ctl_timeout\": ignored"));
	assert_true(warned(&c, "line 19: key \"bootstrap.users\": ignored"));
	assert_true(warned(
	    &c, "key \"bootstrap.pg_hba\": ignored")); /* dcs gives the file */
	assert_null(c.pg_superuser_password);
	assert_string_equal(c.pg_superuser_username, "postgres");
	/* the whole file from bootstrap.dcs, as Patroni writes it */
	assert_int_equal(c.n_pg_hba, 2);
	assert_string_equal(c.pg_hba[1], "host all all 10.0.0.0/8 md5");
	/* '..' is relative to the data directory, as PostgreSQL reads it */
	assert_string_equal(c.pg_socket_dir, "/var/lib/pg");
	assert_true(warned(&c, "taken as postgresql.socket_dir /var/lib/pg"));
	config_free(&c);
}

static void
test_bootstrap_hba_appended(void **state)
{
	NodeConfig c;
	PgwError e = {0};
	const char *y =
	    BASE "postgresql: {listen: 127.0.0.1:5432, data_dir: rel/data}\n"
	         "bootstrap:\n"
	         "  pg_hba: [host all all 10.1.0.0/16 md5]\n";
	char cwd[1024];
	char want[1100];

	(void) state;
	assert_int_equal(load(y, &c, &e), 0);
	assert_int_equal(c.n_pg_hba, 0);           /* pgwarden's defaults ... */
	assert_int_equal(c.n_bootstrap_pg_hba, 1); /* ... and these after */
	assert_int_equal(c.n_warnings, 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel/data",
	         strcmp(cwd, "/") == 0 ? "" : cwd);
	assert_string_equal(c.pg_data_dir, want);
	assert_string_equal(c.pg_socket_dir, "/var/run/postgresql");
	config_free(&c);
}

static void
test_refusals(void **state)
{
	static const struct
	{
		const char *yaml;
		const char *needle;
	} bad[] = {
	    {"scope: demo\nname: n\netcd:\n  host: 127.0.0.1:2379\n",
	     "line 3: key \"etcd\": pgwarden speaks etcd v3 only: rename the section \"etcd:\" to \"etcd3:\""},
	    {"scope: demo\nname: n\nconsul: {host: 127.0.0.1:8500}\n",
	     "key \"consul\": pgwarden keeps the cluster state in etcd v3 only"},
	    {BASE
	     "postgresql:\n  authentication:\n    replication: {username: r, sslmode: require}\n",
	     "line 7: key \"postgresql.authentication.replication.sslmode\": not supported"},
	    {BASE
	     "bootstrap:\n  dcs:\n    standby_cluster: {host: 10.0.0.1, port: 5432}\n",
	     "key \"bootstrap.dcs.standby_cluster\": standby clusters are not supported"},
	    {BASE "postgresql:\n  my_method: {keep_data: true}\n",
	     "unknown key \"postgresql.my_method\""},
	};
	NodeConfig c;
	PgwError e = {0};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		pgw_error_clear(&e);
		memset(&c, 0, sizeof(c));
		if (config_parse(bad[i].yaml, strlen(bad[i].yaml), "p.yml", &c, &e) ==
		    0)
			fail_msg("accepted: %s", bad[i].yaml);
		if (strstr(e.msg, bad[i].needle) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", e.msg, bad[i].needle);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_file),
	    cmocka_unit_test(test_bootstrap_hba_appended),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
