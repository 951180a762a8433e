/*
 * test_ctl_drill.c: `pgwardenctl drill` without a cluster (ctl/drill.c,
 * ctl/args.c): the kinds, --rounds / --yes / --timeout / --format parsing
 * and refusals, RTO and downtime from acknowledged write times (no
 * threshold: a short gap is an RTO, not 0), which round a write belongs
 * to, the verdict (a loss, or a loss check that did not run, fails the
 * round), and the report in both formats ("lost writes" only when checked).
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
	char *argv[16];
	int argc = 0;
	va_list ap;
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
	assert_string_equal(ctl_drill_kind_name(CTL_DRILL_KILL_POSTGRES),
	                    "kill-postgres");
	assert_string_equal(ctl_drill_kind_name((CtlDrillKind) 42), "?");
}

static void
test_args_refusals(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	/* the kind is required, known, and alone */
	assert_int_equal(parse(&a, &err, NULL), PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "explode", NULL), PGW_EINVAL);
	assert_non_null(
	    strstr(err.msg, "expected switchover, kill-postgres or stop-daemon"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "kill-postgres", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	/* --rounds is 1..100, whole */
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "0", NULL),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "--rounds"));
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "101", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "3x", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	/* options of other commands are refused */
	assert_int_equal(parse(&a, &err, "switchover", "--candidate", "n1", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(
	    parse(&a, &err, "switchover", "--yes", "--format", "xml", NULL),
	    PGW_EINVAL);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--timeout", "soon", NULL),
	                 PGW_EINVAL);
	ctl_args_free(&a);
}

static void
test_args_ok(void **state)
{
	CtlArgs a;
	PgwError err;

	(void) state;
	assert_int_equal(parse(&a, &err, "kill-postgres", NULL), 0);
	assert_string_equal(a.pos[0], "kill-postgres");
	assert_int_equal(a.rounds, 0);
	assert_false(a.yes_i_am_sure);
	ctl_args_free(&a);
	assert_int_equal(parse(&a, &err, "switchover", "--rounds", "5", "--yes",
	                       "--format", "json", "--timeout", "90s", NULL),
	                 0);
	assert_int_equal(a.rounds, 5);
	assert_true(a.yes_i_am_sure);
	assert_true(a.has_format);
	assert_int_equal(a.format, CTL_FORMAT_JSON);
	assert_int_equal(a.timeout_ms, 90000);
	ctl_args_free(&a);
	/* options may precede the kind */
	assert_int_equal(
	    parse(&a, &err, "--yes", "stop-daemon", "--rounds", "100", NULL), 0);
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
	/* writes every 10 ms, fault at 995, nothing until 3400, then on */
	int64_t acks[] = {970, 980, 990, 1000, 3400, 3410, 3420};
	int64_t rto, down;

	(void) state;
	ctl_drill_gap(acks, 7, 995, &rto, &down);
	assert_int_equal(down, 2400); /* 1000 -> 3400 */
	assert_int_equal(rto, 2405);  /* 995 -> 3400 */
	/* a gap across the fault: measured from the last ack before it */
	ctl_drill_gap(acks, 7, 1005, &rto, &down);
	assert_int_equal(down, 2400);
	assert_int_equal(rto, 2395);
	ctl_drill_gap(acks, 7, 2000, &rto, &down);
	assert_int_equal(down, 2400); /* 1000 -> 3400, across 2000 */
	assert_int_equal(rto, 1400);
	/* no write before the fault: the gap starts at the fault */
	ctl_drill_gap(acks + 4, 3, 1000, &rto, &down);
	assert_int_equal(down, 2400);
	assert_int_equal(rto, 2400);
	/* one write after the fault */
	ctl_drill_gap(acks, 5, 995, &rto, &down);
	assert_int_equal(down, 2400);
	assert_int_equal(rto, 2405);
	/*
	 * writes never stopped for long: a 107 ms gap is still an RTO, never 0
	 * (the old code printed RTO 0 beside a downtime of 107 ms)
	 */
	{
		int64_t smooth[] = {0, 10, 20, 127, 137};

		ctl_drill_gap(smooth, 5, 5, &rto, &down);
		assert_int_equal(down, 107);
		assert_int_equal(rto, 122);
		assert_true(rto >= down - 10);
	}
	/* nothing after the fault: not measured */
	ctl_drill_gap(acks, 3, 995, &rto, &down);
	assert_int_equal(rto, -1);
	assert_int_equal(down, -1);
	ctl_drill_gap(NULL, 0, 0, &rto, &down);
	assert_int_equal(rto, -1);
	assert_int_equal(down, -1);
}

static void
test_round_of(void **state)
{
	int64_t faults[] = {1000, 5000, 9000};

	(void) state;
	assert_int_equal(ctl_drill_round_of(faults, 3, 10), 0); /* before any */
	assert_int_equal(ctl_drill_round_of(faults, 3, 1000), 0);
	assert_int_equal(ctl_drill_round_of(faults, 3, 4999), 0);
	assert_int_equal(ctl_drill_round_of(faults, 3, 5000), 1);
	assert_int_equal(ctl_drill_round_of(faults, 3, 8000), 1);
	assert_int_equal(ctl_drill_round_of(faults, 3, 99999), 2);
	assert_int_equal(ctl_drill_round_of(faults, 1, 99999), 0);
}

static void
test_judge(void **state)
{
	CtlDrillRound r;

	(void) state;
	r = (CtlDrillRound){
	    .rto_ms = 800, .downtime_ms = 700, .lost = 0, .rejoin_ms = 4000};
	ctl_drill_judge(&r);
	assert_true(r.ok);
	assert_string_equal(r.note, "");
	/* a round that lost acknowledged writes fails */
	r = (CtlDrillRound){
	    .rto_ms = 800, .downtime_ms = 700, .lost = 3, .rejoin_ms = 4000};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_non_null(strstr(r.note, "LOST 3 acknowledged writes"));
	/* so does one whose loss check did not run */
	r = (CtlDrillRound){
	    .rto_ms = 800, .downtime_ms = 700, .lost = -1, .rejoin_ms = 4000};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_non_null(strstr(r.note, "lost writes not checked"));
	/* not rejoined, no write after the fault, broken */
	r = (CtlDrillRound){
	    .rto_ms = 800, .lost = 0, .rejoin_ms = -1, .note = "not rejoined"};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_string_equal(r.note, "not rejoined");
	r = (CtlDrillRound){
	    .rto_ms = -1, .downtime_ms = -1, .lost = 0, .rejoin_ms = 100};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_non_null(strstr(r.note, "no write acknowledged after the fault"));
	r = (CtlDrillRound){.rto_ms = 5,
	                    .lost = 0,
	                    .rejoin_ms = 5,
	                    .broken = true,
	                    .note = "POST /switchover: 503"};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_string_equal(r.note, "POST /switchover: 503");
}

static void
test_report(void **state)
{
	CtlDrillRound r[2];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void) state;
	memset(r, 0, sizeof(r));
	r[0] = (CtlDrillRound){.round = 1,
	                       .old_primary = "node1",
	                       .new_primary = "node2",
	                       .fault_wall_ms = 1700000000000,
	                       .rto_ms = 850,
	                       .downtime_ms = 800,
	                       .acked = 500,
	                       .lost = 0,
	                       .rejoin_ms = 4000,
	                       .ok = true};
	r[1] = (CtlDrillRound){.round = 2,
	                       .old_primary = "node2",
	                       .rto_ms = -1,
	                       .downtime_ms = -1,
	                       .lost = -1,
	                       .rejoin_ms = -1,
	                       .ok = false,
	                       .note = "no \"write\" acknowledged"};
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "demo", CTL_DRILL_SWITCHOVER, r, 2, false);
	fclose(f);
	assert_non_null(
	    strstr(buf, "drill switchover on cluster \"demo\": 2 rounds"));
	assert_non_null(strstr(buf, "node1        | node2        |      850 |"));
	assert_non_null(strstr(buf, "FAILED: no \"write\" acknowledged"));
	/* a round whose check did not run: no "lost writes 0" */
	assert_non_null(strstr(
	    buf,
	    "max RTO 850 ms, max downtime 800 ms, lost writes unknown (the check did not run), 1/2 rounds ok"));
	assert_null(strstr(buf, "lost writes 0"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "de\"mo", CTL_DRILL_KILL_POSTGRES, r, 2, true);
	fclose(f);
	assert_non_null(
	    strstr(buf, "{\"scope\": \"de\\\"mo\", \"kind\": \"kill-postgres\""));
	assert_non_null(strstr(
	    buf,
	    "\"fault_wall_ms\": 1700000000000, \"rto_ms\": 850, \"downtime_ms\": 800, \"acked\": 500, \"lost\": 0"));
	assert_non_null(strstr(buf, "\"lost\": null, \"rejoin_ms\": -1"));
	assert_non_null(
	    strstr(buf, "\"note\": \"no \\\"write\\\" acknowledged\"}"));
	assert_non_null(strstr(
	    buf,
	    "\"max_rto_ms\": 850, \"max_downtime_ms\": 800, \"lost\": null, \"ok\": false}"));
	free(buf);
	/* every check ran: the total */
	r[1].lost = 2;
	buf = NULL;
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "demo", CTL_DRILL_SWITCHOVER, r, 2, false);
	fclose(f);
	assert_non_null(strstr(buf, "lost writes 2, 1/2 rounds ok"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds),    cmocka_unit_test(test_args_refusals),
	    cmocka_unit_test(test_args_ok),  cmocka_unit_test(test_gap),
	    cmocka_unit_test(test_round_of), cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
