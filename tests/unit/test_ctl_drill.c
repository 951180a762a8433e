/*
 * test_ctl_drill.c: `pgwardenctl drill` without a cluster (ctl/drill.c,
 * ctl/args.c): the kinds, --rounds / --yes / --timeout / --format parsing
 * and refusals, RTO and downtime from acknowledged write times, and the
 * report in both formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "ctl/drill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse(CtlArgs *a, PgwError *err, ...)
{
	char	   *argv[16];
	int			argc = 0;
	va_list		ap;
	const char *s;

	argv[argc++] = (char *) "drill";
	va_start(ap, err);
	while ((s = va_arg(ap, const char *)) != NULL)
		argv[argc++] = (char *) s;
	va_end(ap);
	argv[argc] = NULL;
	pgw_error_clear(err);
	return ctl_args_parse("drill", argc, argv, a, err);
}

static void
test_kinds(void **state)
{
	CtlDrillKind k;

	(void) state;
	assert_int_equal(ctl_drill_kind_parse("switchover", &k), 0);
	assert_int_equal(k, CTL_DRILL_SWITCHOVER);
	assert_int_equal(ctl_drill_kind_parse("kill-postgres", &k), 0);
	assert_int_equal(k, CTL_DRILL_KILL_POSTGRES);
	assert_int_equal(ctl_drill_kind_parse("stop-daemon", &k), 0);
	assert_int_equal(k, CTL_DRILL_STOP_DAEMON);
	assert_int_equal(ctl_drill_kind_parse("stop-daemon", NULL), 0);
	assert_int_equal(ctl_drill_kind_parse("Switchover", &k), PGW_EINVAL);
	assert_int_equal(ctl_drill_kind_parse("", &k), PGW_EINVAL);
	assert_int_equal(ctl_drill_kind_parse(NULL, &k), PGW_EINVAL);
	assert_string_equal(ctl_drill_kind_name(CTL_DRILL_KILL_POSTGRES), "kill-postgres");
	assert_string_equal(ctl_drill_kind_name((CtlDrillKind) 42), "?");
}

static void
test_args_refusals(void **state)
{
	CtlArgs		a;
	PgwError	err;

	(void) state;
	/* the kind is required, known, and alone */
	assert_int_equal(parse(&a, &err, NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "explode", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "expected switchover, kill-postgres or stop-daemon"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "kill-postgres", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	/* --rounds is 1..100, whole */
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "0", NULL), PGW_EINVAL);
	assert_non_null(strstr(err.msg, "--rounds"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "101", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "3x", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	/* options of other commands are refused */
	assert_int_equal(parse(&a, &err, "switchover", "--candidate", "n1", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--yes", "--format", "xml", NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--timeout", "soon", NULL), PGW_EINVAL);
	ctl_args_free(&a);
}

static void
test_args_ok(void **state)
{
	CtlArgs		a;
	PgwError	err;

	(void) state;
	assert_int_equal(parse(&a, &err, "kill-postgres", NULL), 0);
	assert_string_equal(a.pos[0], "kill-postgres");
	assert_int_equal(a.rounds, 0);
	assert_false(a.yes_i_am_sure);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "5", "--yes",
						   "--format", "json", "--timeout", "90s", NULL), 0);
	assert_int_equal(a.rounds, 5);
	assert_true(a.yes_i_am_sure);
	assert_true(a.has_format);
	assert_int_equal(a.format, CTL_FORMAT_JSON);
	assert_int_equal(a.timeout_ms, 90000);
	ctl_args_free(&a);
	/* options may precede the kind */
	assert_int_equal(parse(&a, &err, "--yes", "stop-daemon", "--rounds", "100", NULL), 0);
	assert_string_equal(a.pos[0], "stop-daemon");
	assert_int_equal(a.rounds, 100);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "--help", NULL), 0);
	assert_true(a.help);
	ctl_args_free(&a);
}

static void
test_gap(void **state)
{
	/* writes every 10 ms, fault at 1000, nothing until 3400, then on */
	int64_t		acks[] = {970, 980, 990, 1000, 3400, 3410, 3420};
	int64_t		rto,
				down;

	(void) state;
	ctl_drill_gap(acks, 7, 995, 200, &rto, &down);
	assert_int_equal(down, 2400);	/* 1000 -> 3400 */
	assert_int_equal(rto, 2405);	/* 995 -> 3400 */
	/* no write before the fault: the gap starts at the fault */
	ctl_drill_gap(acks + 4, 3, 1000, 200, &rto, &down);
	assert_int_equal(down, 2400);
	assert_int_equal(rto, 2400);
	/* writes never stopped for long: RTO 0, downtime the longest gap */
	{
		int64_t		smooth[] = {0, 10, 20, 150, 160};

		ctl_drill_gap(smooth, 5, 5, 200, &rto, &down);
		assert_int_equal(rto, 0);
		assert_int_equal(down, 130);
	}
	/* nothing after the fault: not measured */
	ctl_drill_gap(acks, 3, 995, 200, &rto, &down);
	assert_int_equal(rto, -1);
	assert_int_equal(down, -1);
	ctl_drill_gap(NULL, 0, 0, 200, &rto, &down);
	assert_int_equal(rto, -1);
}

static void
test_report(void **state)
{
	CtlDrillRound r[2];
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f;

	(void) state;
	memset(r, 0, sizeof(r));
	r[0] = (CtlDrillRound) {.round = 1, .old_primary = "node1", .new_primary = "node2",
		.rto_ms = 850, .downtime_ms = 800, .acked = 500, .lost = 0,
	.rejoin_ms = 4000, .ok = true};
	r[1] = (CtlDrillRound) {.round = 2, .old_primary = "node2", .rto_ms = -1,
		.downtime_ms = -1, .lost = -1, .rejoin_ms = -1, .ok = false,
	.note = "no \"write\" acknowledged"};
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "demo", CTL_DRILL_SWITCHOVER, r, 2, false);
	fclose(f);
	assert_non_null(strstr(buf, "drill switchover on cluster \"demo\": 2 rounds"));
	assert_non_null(strstr(buf, "node1        | node2        |      850 |"));
	assert_non_null(strstr(buf, "FAILED: no \"write\" acknowledged"));
	assert_non_null(strstr(buf, "max RTO 850 ms, max downtime 800 ms, lost writes 0, 1/2 rounds ok"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "de\"mo", CTL_DRILL_KILL_POSTGRES, r, 2, true);
	fclose(f);
	assert_non_null(strstr(buf, "{\"scope\": \"de\\\"mo\", \"kind\": \"kill-postgres\""));
	assert_non_null(strstr(buf, "\"rto_ms\": 850, \"downtime_ms\": 800, \"acked\": 500, \"lost\": 0"));
	assert_non_null(strstr(buf, "\"note\": \"no \\\"write\\\" acknowledged\"}"));
	assert_non_null(strstr(buf, "\"max_rto_ms\": 850, \"max_downtime_ms\": 800, \"lost\": 0, \"ok\": false}"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_args_refusals),
		cmocka_unit_test(test_args_ok),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
