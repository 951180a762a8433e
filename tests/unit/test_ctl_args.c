/*
 * test_ctl_args.c: pgwardenctl's command-line parsing (ctl/args.c): every
 * command's options, unknown options, missing values, bad times (a zone is
 * required), positional arity and the command-specific combinations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

/* parse a NULL-terminated literal argv; returns the code, keeps err */
static int
parse(CtlArgs *a, PgwError *err, const char *cmd, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	const char *s;
	int rc;

	argv[argc++] = (char *) cmd;
	va_start(ap, cmd);
	while ((s = va_arg(ap, const char *)) != NULL)
		argv[argc++] = (char *) s;
	va_end(ap);
	argv[argc] = NULL;
	pgw_error_clear(err);
	rc = ctl_args_parse(cmd, argc, argv, a, err);
	return rc;
}

static void
test_every_command_takes_help(void **state)
{
	const char *cmds[] = {
	    "list",        "topology", "switchover", "failover",
	    "flush",       "pause",    "resume",     "restart",
	    "reload",      "reinit",   "history",    "show-config",
	    "edit-config", "remove",   "version",    "debug"};
	CtlArgs a;
	PgwError err;

	(void) state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
	{
		FILE *f = fopen("/dev/null", "w");

		assert_true(ctl_command_known(cmds[i]));
		assert_int_equal(parse(&a, &err, cmds[i], "--help", NULL), 0);
		assert_true(a.help);
		ctl_command_help(f, cmds[i]);
		fclose(f);
		ctl_args_free(&a);
		assert_int_equal(parse(&a, &err, cmds[i], "-h", NULL), 0);
		assert_true(a.help);
		ctl_args_free(&a);
	}
	assert_false(ctl_command_known("frobnicate"));
	assert_int_equal(parse(&a, &err, "frobnicate", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "unknown command"));
	ctl_args_free(&a);
}

static void
test_list(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	assert_int_equal(parse(&a, &err, "list", NULL), 0);
	assert_int_equal(a.watch_s, 0);
	assert_false(a.has_format);
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "list", "--watch", "2", "--format", "json", NULL), 0);
	assert_int_equal(a.watch_s, 2);
	assert_true(a.has_format);
	assert_int_equal(a.format, CTL_FORMAT_JSON);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "-W", "5", "-f", "yaml", NULL), 0);
	assert_int_equal(a.format, CTL_FORMAT_YAML);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "list", "--watch", "0", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "--watch"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "--watch", "2x", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "--format", "xml", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "xml"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "--watch", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "needs a value"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "--bogus", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "unknown option \"--bogus\""));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "-Z", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "-Z"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "list", "extra", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "unexpected argument \"extra\""));
	ctl_args_free(&a);
	/* an option of another command */
	assert_int_equal(parse(&a, &err, "list", "--force", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "not valid for list"));
	ctl_args_free(&a);
}

static void
test_switchover_and_failover(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	assert_int_equal(parse(&a, &err, "switchover", "--leader", "n1",
	                       "--candidate", "n2", "--force", "--timeout", "45s",
	                       NULL),
	                 0);
	assert_string_equal(a.leader, "n1");
	assert_string_equal(a.candidate, "n2");
	assert_true(a.force);
	assert_int_equal(a.timeout_ms, 45000);
	assert_int_equal(a.scheduled_wall_ms, 0);
	ctl_args_free(&a);

	/* scheduled times need a zone */
	assert_int_equal(parse(&a, &err, "switchover", "--scheduled",
	                       "2030-01-02T03:04:05+01:00", NULL),
	                 0);
	assert_int_equal(a.scheduled_wall_ms, INT64_C(1893549845000));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--scheduled",
	                       "2030-01-02T03:04:05Z", NULL),
	                 0);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--scheduled",
	                       "2030-01-02T03:04:05", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "with a zone"));
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "switchover", "--scheduled", "tomorrow", NULL),
	    PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--scheduled",
	                       "2030-13-40T03:04:05Z", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--timeout", "soon", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--candidate", "", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--leader", "n1",
	                       "--candidate", "n1", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "is the --leader itself"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--candidate", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "failover", "--candidate", "n3", NULL), 0);
	assert_string_equal(a.candidate, "n3");
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "failover", "--force", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "--candidate"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "failover", "--candidate", "n3",
	                       "--scheduled", "2030-01-02T03:04:05Z", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "not valid for failover"));
	ctl_args_free(&a);
}

static void
test_flush_pause_restart_reinit_remove_debug(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	assert_int_equal(parse(&a, &err, "flush", "switchover", NULL), 0);
	assert_int_equal(a.n_pos, 1);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "flush", "restart", "n1", "n2", NULL), 0);
	assert_int_equal(a.n_pos, 3);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "flush", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "missing argument"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "flush", "everything", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "flush", "switchover", "n1", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "pause", "--wait", NULL), 0);
	assert_true(a.wait);
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "resume", "--wait", "--timeout", "1m", NULL), 0);
	assert_int_equal(a.timeout_ms, 60000);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "pause", "now", NULL), PGW_EINVAL);
	ctl_args_free(&a);

	/* options may follow member names */
	assert_int_equal(parse(&a, &err, "restart", "n1", "--force", "n2", NULL),
	                 0);
	assert_int_equal(a.n_pos, 2);
	assert_string_equal(a.pos[0], "n1");
	assert_string_equal(a.pos[1], "n2");
	assert_true(a.force);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "restart", "--all", "--pending",
	                       "--scheduled", "2030-01-02T03:04:05-05:00", NULL),
	                 0);
	assert_true(a.all);
	assert_true(a.pending);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "restart", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "restart", "--all", "n1", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "restart", "n1", "--scheduled", "12:00", NULL),
	    PGW_EINVAL);
	ctl_args_free(&a);
	/* "--" ends the options: a member called --all */
	assert_int_equal(parse(&a, &err, "restart", "--", "--all", NULL), 0);
	assert_int_equal(a.n_pos, 1);
	assert_false(a.all);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "reload", NULL), 0);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "reinit", "n2", "--force", NULL), 0);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "reinit", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "reinit", "n1", "n2", NULL), PGW_EINVAL);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "remove", "demo", "--yes-i-am-sure", NULL),
	                 0);
	assert_true(a.yes_i_am_sure);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "remove", NULL), PGW_EINVAL);
	ctl_args_free(&a);

	assert_int_equal(parse(&a, &err, "debug", "rules", "-f", "json", NULL), 0);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "debug", "stuff", NULL), PGW_EINVAL);
	ctl_args_free(&a);
}

static void
test_edit_config(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	assert_int_equal(parse(&a, &err, "edit-config", "--set", "ttl=20", "-s",
	                       "loop_wait=2", "--pg", "work_mem=8MB", "-q",
	                       "--force", "--expect-revision", "42", NULL),
	                 0);
	assert_int_equal(a.n_sets, 3);
	assert_string_equal(a.sets[0], "ttl=20");
	assert_string_equal(a.sets[1], "loop_wait=2");
	assert_string_equal(a.sets[2], "postgresql.parameters.work_mem=8MB");
	assert_true(a.quiet);
	assert_int_equal(a.expect_revision, 42);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "edit-config", "--set", "novalue", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "KEY=VALUE"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "edit-config", "--set", "=1", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "edit-config", "--apply", "a.yml",
	                       "--replace", "b.yml", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "edit-config", "--expect-revision", "-1", NULL),
	    PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "edit-config", "--apply", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "--apply"));
	ctl_args_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_command_takes_help),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_switchover_and_failover),
	    cmocka_unit_test(test_flush_pause_restart_reinit_remove_debug),
	    cmocka_unit_test(test_edit_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
