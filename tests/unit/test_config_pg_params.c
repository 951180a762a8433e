/*
 * test_config_pg_params.c: the parameters a node runs with
 * (config_pg_params_effective): Patroni 3.0.2's precedence (the node's
 * file over the cluster's, except the parameters a standby shares with its
 * primary, which are cluster-wide only and must pass Patroni's floor), what
 * pgwarden manages itself refused from both with the reason, and
 * wal_keep_segments converted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include "common/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
add(PgParam *p, int *n, const char *name, const char *value)
{
	pgw_strlcpy(p[*n].name, name, sizeof(p[*n].name));
	pgw_strlcpy(p[*n].value, value, sizeof(p[*n].value));
	(*n)++;
}

static const char *
value_of(const PgParamSet *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->params[i].name, name) == 0)
			return s->params[i].value;
	return NULL;
}

static const char *
ignored_why(const PgParamSet *s, const char *source, const char *name)
{
	for (int i = 0; i < s->n_ignored; i++)
		if (strcmp(s->ignored[i].name, name) == 0 &&
		    strcmp(s->ignored[i].source, source) == 0)
			return s->ignored[i].why;
	return NULL;
}

static void
test_precedence(void **state)
{
	NodeConfig *cfg = calloc(1, sizeof(NodeConfig));
	DynamicConfig *dyn = calloc(1, sizeof(DynamicConfig));
	PgParamSet *s = calloc(1, sizeof(PgParamSet));

	(void) state;
	dcs_config_defaults(dyn);
	add(dyn->params, &dyn->n_params, "work_mem", "8MB");
	add(dyn->params, &dyn->n_params, "shared_buffers", "64MB");
	add(dyn->params, &dyn->n_params, "max_connections", "200");
	add(dyn->params, &dyn->n_params, "wal_level", "hot_standby");
	add(cfg->pg_parameters, &cfg->n_pg_parameters, "work_mem", "16MB");
	add(cfg->pg_parameters, &cfg->n_pg_parameters, "max_connections", "50");
	add(cfg->pg_parameters, &cfg->n_pg_parameters, "log_line_prefix", "%m ");
	config_pg_params_effective(cfg, dyn, s);

	/* the node's file wins over the cluster's */
	assert_string_equal(value_of(s, "work_mem"), "16MB");
	assert_string_equal(value_of(s, "shared_buffers"), "64MB");
	assert_string_equal(value_of(s, "log_line_prefix"), "%m ");
	/* ... but not for what a standby shares with its primary */
	assert_string_equal(value_of(s, "max_connections"), "200");
	assert_non_null(strstr(ignored_why(s, "local", "max_connections"),
	                       "set it cluster-wide"));
	/* Patroni's rename for 9.6+ */
	assert_string_equal(value_of(s, "wal_level"), "replica");
	/* ours and Patroni's defaults, when nobody chose */
	assert_string_equal(value_of(s, "wal_retrieve_retry_interval"), "200ms");
	assert_string_equal(value_of(s, "wal_keep_size"), "128MB");
	free(cfg);
	free(dyn);
	free(s);
}

static void
test_floors_and_managed(void **state)
{
	NodeConfig *cfg = calloc(1, sizeof(NodeConfig));
	DynamicConfig *dyn = calloc(1, sizeof(DynamicConfig));
	PgParamSet *s = calloc(1, sizeof(PgParamSet));
	static const char *const managed[] = {"listen_addresses",
	                                      "port",
	                                      "hot_standby",
	                                      "wal_log_hints",
	                                      "synchronous_standby_names",
	                                      "primary_conninfo",
	                                      "recovery_target_time",
	                                      "hba_file",
	                                      "data_directory",
	                                      "unix_socket_directories",
	                                      NULL};

	(void) state;
	add(dyn->params, &dyn->n_params, "max_connections", "10");
	add(dyn->params, &dyn->n_params, "max_wal_senders", "2");
	add(dyn->params, &dyn->n_params, "wal_level", "minimal");
	add(dyn->params, &dyn->n_params, "max_locks_per_transaction", "lots");
	add(dyn->params, &dyn->n_params, "track_commit_timestamp", "on");
	add(dyn->params, &dyn->n_params, "wal_keep_size", "8MB");
	for (int i = 0; managed[i]; i++)
		add(dyn->params, &dyn->n_params, managed[i], "x");
	add(dyn->params, &dyn->n_params, "bad name", "1");
	add(dyn->params, &dyn->n_params, "TimeZone", "UTC");
	add(cfg->pg_parameters, &cfg->n_pg_parameters, "hot_standby", "off");
	add(cfg->pg_parameters, &cfg->n_pg_parameters, "RECOVERY_TARGET_LSN",
	    "0/1");
	config_pg_params_effective(cfg, dyn, s);

	assert_null(value_of(s, "max_connections"));
	assert_non_null(
	    strstr(ignored_why(s, "cluster", "max_connections"), "at least 25"));
	assert_null(value_of(s, "max_wal_senders"));
	assert_null(value_of(s, "wal_level"));
	assert_non_null(
	    strstr(ignored_why(s, "cluster", "wal_level"), "replica or logical"));
	assert_null(value_of(s, "max_locks_per_transaction"));
	assert_string_equal(value_of(s, "track_commit_timestamp"), "on");
	/* below 16MB refused: the default takes its place */
	assert_string_equal(value_of(s, "wal_keep_size"), "128MB");
	assert_non_null(ignored_why(s, "cluster", "wal_keep_size"));
	for (int i = 0; managed[i]; i++)
	{
		assert_null(value_of(s, managed[i]));
		assert_non_null(ignored_why(s, "cluster", managed[i]));
	}
	assert_non_null(
	    strstr(ignored_why(s, "cluster", "bad name"), "not a parameter name"));
	assert_string_equal(value_of(s, "timezone"), "UTC");
	assert_non_null(
	    strstr(ignored_why(s, "local", "hot_standby"), "always on"));
	assert_non_null(
	    strstr(ignored_why(s, "local", "RECOVERY_TARGET_LSN"), "replay"));
	free(cfg);
	free(dyn);
	free(s);
}

static void
test_wal_keep_segments(void **state)
{
	DynamicConfig *dyn = calloc(1, sizeof(DynamicConfig));
	PgParamSet *s = calloc(1, sizeof(PgParamSet));
	PgParamSet *t = calloc(1, sizeof(PgParamSet));

	(void) state;
	add(dyn->params, &dyn->n_params, "wal_keep_segments", "8");
	config_pg_params_effective(NULL, dyn, s);
	assert_null(value_of(s, "wal_keep_segments")); /* unknown to 13+ */
	assert_string_equal(value_of(s, "wal_keep_size"), "128MB");
	dyn->params[0].value[0] = '\0';
	pgw_strlcpy(dyn->params[0].value, "32", sizeof(dyn->params[0].value));
	config_pg_params_effective(NULL, dyn, s);
	assert_string_equal(value_of(s, "wal_keep_size"), "512MB");
	/* wal_keep_size given too: it wins */
	add(dyn->params, &dyn->n_params, "wal_keep_size", "1GB");
	config_pg_params_effective(NULL, dyn, t);
	assert_string_equal(value_of(t, "wal_keep_size"), "1GB");
	assert_false(config_pg_params_equal(s, t));
	config_pg_params_effective(NULL, dyn, s);
	assert_true(config_pg_params_equal(s, t));
	free(dyn);
	free(s);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_floors_and_managed),
	    cmocka_unit_test(test_wal_keep_segments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
