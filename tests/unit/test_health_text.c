/*
 * test_health_text.c: the pure parts of health/: LSN parsing and lag
 * arithmetic, conninfo quoting (libpq rules), postgresql.conf literals and
 * the round trip of our configuration file, slot and sync names, and
 * hostile input that must be quoted, never pasted.
 */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health/health.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_lsn_parse(void **state)
{
	PgLsn l;
	char buf[HEALTH_LSN_STRLEN];

	(void) state;
	assert_int_equal(health_lsn_parse("0/3000060", &l), 0);
	assert_true(l == 0x3000060);
	assert_string_equal(health_lsn_format(l, buf, sizeof(buf)), "0/3000060");
	assert_int_equal(health_lsn_parse("16/B374D848", &l), 0);
	assert_true(l == ((uint64_t) 0x16 << 32 | 0xB374D848));
	assert_string_equal(health_lsn_format(l, buf, sizeof(buf)), "16/B374D848");
	assert_int_equal(health_lsn_parse("ffffffff/ffffffff", &l), 0);
	assert_true(l == UINT64_MAX);
	assert_int_equal(health_lsn_parse("0/0", &l), 0);
	assert_true(l == 0);
	/* garbage */
	assert_int_equal(health_lsn_parse("", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("/1", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("1/", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("3000060", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("0/30000G0", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("1FFFFFFFF/0", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("0/3000060 ", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse(" 0/1", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("-1/1", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse("0/1/2", &l), PGW_EINVAL);
	assert_int_equal(health_lsn_parse(NULL, &l), PGW_EINVAL);
}

static void
test_lsn_lag(void **state)
{
	PgLsn a;
	PgLsn b;

	(void) state;
	assert_int_equal(health_lsn_parse("0/3000060", &a), 0);
	assert_int_equal(health_lsn_parse("0/3000000", &b), 0);
	assert_true(health_lsn_lag_bytes(a, b) == 0x60);
	assert_true(health_lsn_lag_bytes(b, a) == 0);
	assert_true(health_lsn_lag_bytes(a, a) == 0);
	/* across the 4 GB boundary of the high word */
	assert_int_equal(health_lsn_parse("1/0", &a), 0);
	assert_int_equal(health_lsn_parse("0/FFFFFF00", &b), 0);
	assert_true(health_lsn_lag_bytes(a, b) == 0x100);
	/* unknown is the worst */
	assert_true(health_lsn_lag_bytes(0, b) == UINT64_MAX);
	assert_true(health_lsn_lag_bytes(a, 0) == UINT64_MAX);
}

/* parse s with libpq itself and return the value of key (caller frees) */
static char *
libpq_value(const char *conninfo, const char *key)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
	char *v = NULL;

	if (opts == NULL)
	{
		PQfreemem(errmsg);
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0 && o->val != NULL)
			v = strdup(o->val);
	PQconninfoFree(opts);
	return v;
}

static void
test_conninfo_quoting(void **state)
{
	const char *keys[] = {
	    "host", "port", "user", "password", "application_name", "passfile"};
	const char *vals[] = {"/var/run/my sock", "5432",   "o'brien",
	                      "p\\a ss'\nword",   "node 1", NULL};
	char *ci;
	char *v;

	(void) state;
	ci = health_conninfo_build(keys, vals, 6);
	assert_non_null(ci);
	assert_string_equal(
	    ci, "host='/var/run/my sock' port='5432' user='o\\'brien' "
	        "password='p\\\\a ss\\'\nword' application_name='node 1'");
	/* libpq reads back exactly what we meant */
	v = libpq_value(ci, "host");
	assert_string_equal(v, "/var/run/my sock");
	free(v);
	v = libpq_value(ci, "user");
	assert_string_equal(v, "o'brien");
	free(v);
	v = libpq_value(ci, "password");
	assert_string_equal(v, "p\\a ss'\nword");
	free(v);
	v = libpq_value(ci, "application_name");
	assert_string_equal(v, "node 1");
	free(v);
	free(ci);
}

static void
test_conninfo_hostile(void **state)
{
	/* an injection attempt stays one value */
	const char *keys[] = {"application_name", "host"};
	const char *vals[] = {"x' host='evil.example' sslmode='disable", "good"};
	const char *badkeys[] = {"host' x"};
	const char *badvals[] = {"h"};
	char *ci;
	char *v;

	(void) state;
	ci = health_conninfo_build(keys, vals, 2);
	assert_non_null(ci);
	v = libpq_value(ci, "host");
	assert_string_equal(v, "good");
	free(v);
	v = libpq_value(ci, "sslmode");
	assert_null(v);
	v = libpq_value(ci, "application_name");
	assert_string_equal(v, "x' host='evil.example' sslmode='disable");
	free(v);
	free(ci);
	assert_null(health_conninfo_build(badkeys, badvals, 1));
}

static void
test_conf_quote(void **state)
{
	char *q;

	(void) state;
	q = health_conf_quote("plain");
	assert_string_equal(q, "'plain'");
	free(q);
	q = health_conf_quote("it's a \\ back\nslash");
	assert_string_equal(q, "'it''s a \\\\ back\\nslash'");
	assert_null(strchr(q, '\n'));
	free(q);
}

static void
test_conf_round_trip(void **state)
{
	char dir[] = "/tmp/pgw-test-health-conf-XXXXXX";
	char path[256];
	HealthParam in[] = {
	    {"port", "5433"},
	    {"primary_conninfo", "host='a b' user='o\\'x' password='p\\\\w'"},
	    {"synchronous_standby_names", "FIRST 1 (\"n 1\", \"we\"\"ird\")"},
	    {"weird", "line1\nline2\r\ttab 'q' \\ end"},
	    {"empty", ""},
	    {"custom.setting", "#not a comment"},
	};
	HealthParam *out = NULL;
	int n = 0;
	PgwError err = {0};
	FILE *f;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/postgresql.pgwarden.conf", dir);
	assert_int_equal(health_conf_write(path, "header\ntwo lines", in, 6, &err),
	                 0);
	assert_int_equal(health_conf_read(path, &out, &n, &err), 0);
	assert_int_equal(n, 6);
	for (int i = 0; i < n; i++)
	{
		assert_string_equal(out[i].name, in[i].name);
		assert_string_equal(out[i].value, in[i].value);
	}
	health_conf_free(out, n);

	/* no raw newline ever reaches the file outside a comment */
	f = fopen(path, "r");
	assert_non_null(f);
	{
		char line[1024];
		int lines = 0;

		while (fgets(line, sizeof(line), f) != NULL)
			lines++;
		assert_int_equal(lines, 2 + 6);
	}
	fclose(f);

	/* bad names are refused, not written */
	{
		HealthParam bad[] = {{"port = 1\nlisten_addresses", "x"}};

		assert_int_equal(health_conf_write(path, NULL, bad, 1, &err),
		                 PGW_EINVAL);
	}
	/* syntax errors name the line */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# c\nport = 5432\nbroken = 'unterminated\n", f);
	fclose(f);
	assert_int_equal(health_conf_read(path, &out, &n, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "line 3"));
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(health_conf_read(path, &out, &n, &err), PGW_ENOTFOUND);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

static void
test_slot_and_sync_names(void **state)
{
	char buf[128];
	const char *names[] = {"node-2", "we\"ird"};

	(void) state;
	assert_string_equal(health_slot_name("Node-2.dc1", buf, sizeof(buf)),
	                    "node_2_dc1");
	assert_string_equal(health_slot_name("a'b c\n", buf, sizeof(buf)),
	                    "a_b_c_");
	assert_int_equal(
	    strlen(health_slot_name(
	        "0123456789012345678901234567890123456789012345678901234567890123456789",
	        buf, sizeof(buf))),
	    63);
	assert_int_equal(health_sync_names_build(names, 2, 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "FIRST 1 (\"node-2\", \"we\"\"ird\")");
	assert_int_equal(health_sync_names_build(names, 0, 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(health_sync_names_build(names, 2, 1, buf, 8), PGW_EINVAL);
}

static void
test_open_refusals(void **state)
{
	PgProbeConfig pc = {0};
	PgProbe *p = NULL;
	PgControlConfig cc = {0};
	PgControl *c = NULL;
	PgwError err = {0};

	(void) state;
	assert_int_equal(health_probe_open(&pc, &p, &err), PGW_EINVAL);
	assert_null(p);
	cc.bin_dir = "/nonexistent";
	cc.data_dir = "relative/data";
	cc.socket_dir = "/tmp";
	cc.member_name = "n1";
	cc.port = 5432;
	cc.run_as = "nobody";
	assert_int_equal(health_control_open(&cc, &c, &err), PGW_EINVAL);
	cc.data_dir = "/tmp/pgw-x/data";
	cc.superuser_password = "line\nbreak";
	assert_int_equal(health_control_open(&cc, &c, &err), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "newline"));
	assert_null(c);
	health_control_close(NULL);
	health_probe_close(NULL);
}

/* the markers of an interrupted clone or rewind sit beside the data
 * directory, also when it is configured with a trailing slash */
static void
test_incomplete_markers(void **state)
{
	char dir[] = "/tmp/pgw-marker-XXXXXX";
	char data[256];
	char slash[256];
	char marker[300];
	FILE *f;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(slash, sizeof(slash), "%s/data//", dir);
	assert_int_equal(health_data_dir_incomplete(data), HEALTH_INCOMPLETE_NONE);

	snprintf(marker, sizeof(marker), "%s.clone-incomplete", data);
	assert_non_null(f = fopen(marker, "w"));
	fclose(f);
	assert_int_equal(health_data_dir_incomplete(data), HEALTH_INCOMPLETE_CLONE);
	assert_int_equal(health_data_dir_incomplete(slash),
	                 HEALTH_INCOMPLETE_CLONE);

	/* a rewind marker wins: that directory is worse than empty */
	snprintf(marker, sizeof(marker), "%s.rewind-incomplete", data);
	assert_non_null(f = fopen(marker, "w"));
	fclose(f);
	assert_int_equal(health_data_dir_incomplete(slash),
	                 HEALTH_INCOMPLETE_REWIND);

	unlink(marker);
	snprintf(marker, sizeof(marker), "%s.clone-incomplete", data);
	unlink(marker);
	assert_int_equal(health_data_dir_incomplete(slash), HEALTH_INCOMPLETE_NONE);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsn_parse),
	    cmocka_unit_test(test_lsn_lag),
	    cmocka_unit_test(test_conninfo_quoting),
	    cmocka_unit_test(test_conninfo_hostile),
	    cmocka_unit_test(test_conf_quote),
	    cmocka_unit_test(test_conf_round_trip),
	    cmocka_unit_test(test_slot_and_sync_names),
	    cmocka_unit_test(test_open_refusals),
	    cmocka_unit_test(test_incomplete_markers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
