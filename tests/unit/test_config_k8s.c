/*
 * test_config_k8s.c: the kubernetes: section, PGWARDEN_KUBERNETES_*, the
 * container variables and the PGWARDEN_*_FILE secrets (config_k8s.c,
 * config_secrets.c), and a container configured without any file.
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

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static const char *base =
    "scope: demo\n"
    "name: demo-0\n"
    "etcd3: {hosts: 127.0.0.1:2379}\n"
    "restapi: {listen: 127.0.0.1:8008}\n"
    "postgresql: {listen: 127.0.0.1:5432, data_dir: /data}\n";

static int
parse_with(const char *extra, NodeConfig *c, PgwError *e)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s%s", base, extra);
	return config_parse(buf, strlen(buf), "/etc/pgwarden.yml", c, e);
}

static void
test_section(void **state)
{
	NodeConfig c = {0};
	PgwError e = {0};

	(void) state;
	assert_int_equal(parse_with("kubernetes:\n"
	                            "  enabled: true\n"
	                            "  namespace: db\n"
	                            "  role_label: pgwarden.io/role\n"
	                            "  leader_label_value: primary\n"
	                            "  follower_label_value: replica\n"
	                            "  scope_label: cluster-name\n"
	                            "  labels: {application: pgwarden}\n"
	                            "  endpointslice: true\n"
	                            "  termination_grace_period: 45\n"
	                            "  timeout: 1.5\n",
	                            &c, &e),
	                 0);
	assert_int_equal(c.k8s.mode, CONFIG_K8S_ON);
	assert_string_equal(c.k8s.namespace_, "db");
	assert_string_equal(c.k8s.role_label, "pgwarden.io/role");
	assert_string_equal(c.k8s.leader_label_value, "primary");
	assert_int_equal(c.k8s.n_labels, 1);
	assert_string_equal(c.k8s.labels[0], "application=pgwarden");
	assert_true(c.k8s.endpointslice);
	assert_int_equal(c.k8s.grace_period_ms, 45000);
	assert_int_equal(c.k8s.timeout_ms, 1500);
	assert_int_equal(config_validate(&c, &e), 0);
	config_free(&c);
}

static void
test_section_errors(void **state)
{
	static const struct
	{
		const char *yaml;
		const char *msg;
	} bad[] = {
	    {"kubernetes:\n  role_label: \"bad key!\"\n",
	     "line 7: key \"kubernetes.role_label\""},
	    {"kubernetes:\n  leader_label_value: \"has space\"\n",
	     "not a valid Kubernetes label value"},
	    {"kubernetes:\n  namespace: Prod_DB\n", "not a valid Kubernetes name"},
	    {"kubernetes:\n  api_url: http://10.0.0.1\n", "https://"},
	    {"kubernetes:\n  enabled: yes-please\n", "expected a boolean"},
	    {"kubernetes:\n  labels: {app: 1}\n", "expected a string"},
	    {"kubernetes:\n  use_endpoints: true\n", "kubernetes.endpointslice"},
	    {"kubernetes:\n  rolelabel: role\n", "unknown key"},
	    {"kubernetes:\n  termination_grace_period: -1\n", "expected seconds"},
	    {"kubernetes: [1]\n", "expected a mapping"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		NodeConfig c = {0};
		PgwError e = {0};

		if (parse_with(bad[i].yaml, &c, &e) == 0)
			fail_msg("case %zu accepted", i);
		assert_msg_has(&e, bad[i].msg);
		config_free(&c);
	}
}

static void
test_pod_name_checked(void **state)
{
	NodeConfig c = {0};
	PgwError e = {0};
	const char *y =
	    "scope: demo\nname: Node_1\netcd3: {hosts: 127.0.0.1:2379}\n"
	    "restapi: {listen: 127.0.0.1:8008}\npostgresql: {listen: 127.0.0.1:5432, data_dir: /d}\n"
	    "kubernetes: {enabled: true}\n";

	(void) state;
	assert_int_equal(config_parse(y, strlen(y), "f", &c, &e), 0);
	assert_int_equal(config_validate(&c, &e), PGW_EINVAL);
	assert_msg_has(&e, "kubernetes.pod_name");
	config_free(&c);
}

static void
write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void
test_env_and_secrets(void **state)
{
	char dir[] = "/tmp/pgw-cfgk8s-XXXXXX";
	char pw[300];
	char envpw[400];
	char nofile[400];
	NodeConfig c = {0};
	PgwError e = {0};

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(pw, sizeof(pw), "%s/superuser-password", dir);
	write_file(pw, "s3cret\n");
	snprintf(envpw, sizeof(envpw),
	         "PGWARDEN_POSTGRESQL_SUPERUSER_PASSWORD_FILE=%s", pw);
	{
		char *env[] = {
		    "PGWARDEN_KUBERNETES_ENABLED=true",
		    "PGWARDEN_KUBERNETES_POD_IP=10.1.2.3",
		    "PGWARDEN_KUBERNETES_LABELS=application=pgwarden,tier=db",
		    "PGWARDEN_KUBERNETES_TERMINATION_GRACE_PERIOD=60s",
		    "PGWARDEN_POSTGRESQL_SUPERUSER_USERNAME=postgres",
		    envpw,
		    "PGWARDEN_POSTGRESQL_RUN_AS=postgres",
		    NULL,
		};

		assert_int_equal(parse_with("", &c, &e), 0);
		assert_int_equal(config_apply_env(&c, env, &e), 0);
		assert_int_equal(c.k8s.mode, CONFIG_K8S_ON);
		assert_string_equal(c.k8s.pod_ip, "10.1.2.3");
		assert_int_equal(c.k8s.n_labels, 2);
		assert_string_equal(c.k8s.labels[1], "tier=db");
		assert_int_equal(c.k8s.grace_period_ms, 60000);
		/* one trailing newline of the Secret file dropped */
		assert_string_equal(c.pg_superuser_password, "s3cret");
		assert_string_equal(c.pg_superuser_username, "postgres");
		assert_string_equal(c.pg_run_as, "postgres");
		config_free(&c);
	}
	{
		char *both[] = {envpw, "PGWARDEN_POSTGRESQL_SUPERUSER_PASSWORD=x",
		                NULL};

		assert_int_equal(parse_with("", &c, &e), 0);
		assert_int_equal(config_apply_env(&c, both, &e), PGW_EINVAL);
		assert_msg_has(&e, "are both set");
		config_free(&c);
	}
	{
		char *missing[] = {"PGWARDEN_ETCD3_PASSWORD_FILE=/nonexistent/etcd-pw",
		                   NULL};

		assert_int_equal(parse_with("", &c, &e), 0);
		assert_int_equal(config_apply_env(&c, missing, &e), PGW_EINVAL);
		assert_msg_has(&e, "PGWARDEN_ETCD3_PASSWORD_FILE");
		assert_msg_has(&e, "/nonexistent/etcd-pw");
		config_free(&c);
	}
	{
		char *badlab[] = {"PGWARDEN_KUBERNETES_LABELS=app=ok,bad", NULL};
		char *badrole[] = {"PGWARDEN_KUBERNETES_ROLE_LABEL=-x", NULL};
		char *badon[] = {"PGWARDEN_KUBERNETES_ENABLED=maybe", NULL};

		assert_int_equal(parse_with("", &c, &e), 0);
		assert_int_equal(config_apply_env(&c, badlab, &e), PGW_EINVAL);
		assert_msg_has(&e, "\"bad\": expected key=value");
		assert_int_equal(config_apply_env(&c, badrole, &e), PGW_EINVAL);
		assert_msg_has(&e, "PGWARDEN_KUBERNETES_ROLE_LABEL");
		assert_int_equal(config_apply_env(&c, badon, &e), PGW_EINVAL);
		config_free(&c);
	}
	write_file(pw, "");
	{
		char *env[] = {envpw, NULL};

		assert_int_equal(parse_with("", &c, &e), 0);
		assert_int_equal(config_apply_env(&c, env, &e), PGW_EINVAL);
		assert_msg_has(&e, "is empty");
		config_free(&c);
	}
	/* no file at all: the environment alone */
	snprintf(nofile, sizeof(nofile), "%s/absent.yml", dir);
	{
		char *env[] = {
		    "PGWARDEN_SCOPE=demo",
		    "PGWARDEN_NAME=demo-1",
		    "PGWARDEN_ETCD3_HOSTS=127.0.0.1:2379",
		    "PGWARDEN_RESTAPI_LISTEN=0.0.0.0:8008",
		    "PGWARDEN_RESTAPI_CONNECT_ADDRESS=10.1.2.3:8008",
		    "PGWARDEN_POSTGRESQL_LISTEN=0.0.0.0:5432",
		    "PGWARDEN_POSTGRESQL_CONNECT_ADDRESS=10.1.2.3:5432",
		    "PGWARDEN_POSTGRESQL_DATA_DIR=/var/lib/postgresql/data/pgdata",
		    NULL,
		};

		assert_int_equal(config_load_or_env(nofile, false, &c, &e),
		                 PGW_ENOTFOUND);
		assert_int_equal(config_load_or_env(nofile, true, &c, &e), 0);
		assert_int_equal(config_apply_env(&c, env, &e), 0);
		assert_int_equal(config_validate(&c, &e), 0);
		assert_string_equal(c.name, "demo-1");
		assert_non_null(strstr(c.source, "environment"));
		config_free(&c);
	}
	unlink(pw);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_section),
	    cmocka_unit_test(test_section_errors),
	    cmocka_unit_test(test_pod_name_checked),
	    cmocka_unit_test(test_env_and_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
