/*
 * test_ctl_drill.c: `pgwardenctl drill` without a cluster (ctl/drill.c,
 * ctl/args.c): the kinds, --rounds / --yes / --timeout / --format parsing
 * and refusals, RTO and downtime from acknowledged write times (no
 * threshold: a short gap is an RTO, not 0), which round a write belongs
 * to, the verdict (a loss, or a loss check that did not run, fails the
 * round), the split-brain detector (ctl/drill_split.c: the semantics of
 * tests/tools/pgw_logcheck.py split, cases it must catch and cases it must
 * not, bad logs refused) and the verdict on a split, and the report in
 * both formats ("lost writes" and "split" only when checked).
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
	/* a round the split-brain watch could not vouch for fails */
	r = (CtlDrillRound){
	    .rto_ms = 800,
	    .downtime_ms = 700,
	    .lost = 0,
	    .rejoin_ms = 4000,
	    .split_instants = -1,
	    .split_worst_ms = -1,
	    .note = "split-brain watch blind: node3: never answered a probe"};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_string_equal(
	    r.note,
	    "split-brain watch blind: node3: never answered a probe; split-brain not watched");
}


/* attempts: {start_ms, end_ms, is_acked, is_answered} */
#define OK(s, e)                                                               \
	{                                                                          \
		s, e, true, true                                                       \
	}
#define NO(s, e)                                                               \
	{                                                                          \
		s, e, false, true                                                      \
	}

typedef struct SplitCase
{
	const char *name;
	CtlDrillAttempt log[3][8];
	int n[3];
	int64_t from_ms, to_ms;
	int rc;
	int64_t split, worst_ms, worst_at_ms;
	int worst_a, worst_b;
} SplitCase;

static const SplitCase split_cases[] = {
    {"one write on each of two members, overlapping",
     {{OK(100, 110)}, {OK(105, 120)}},
     {1, 1},
     0,
     1000,
     0,
     1,
     5,
     105,
     0,
     1},
    {"two writes each side: one run against two",
     {{OK(100, 110), NO(130, 140), OK(160, 170)}, {OK(105, 115), OK(150, 200)}},
     {3, 2},
     0,
     1000,
     0,
     2,
     10,
     160,
     0,
     1},
    /* runs count whole when they touch the window; runs outside it do not */
    {"runs spanning the window's edges",
     {{OK(10, 20), NO(30, 40), OK(900, 950), OK(950, 1005), NO(1010, 1020),
       OK(1990, 2040), OK(2040, 2100)},
      {OK(15, 25), NO(30, 40), OK(1003, 1100), NO(1100, 1200), OK(1950, 1995),
       NO(1995, 2200)}},
     {7, 6},
     1000,
     2000,
     0,
     2,
     5,
     1990,
     0,
     1},
    {"the window alone: runs before it are not counted",
     {{OK(10, 20), NO(30, 40)}, {OK(15, 25), NO(30, 40)}},
     {2, 2},
     1000,
     2000,
     0,
     0,
     0,
     0,
     -1,
     -1},
    {"adjacent, not overlapping: a hand-over",
     {{OK(100, 110), NO(111, 400)}, {NO(100, 110), OK(111, 120)}},
     {2, 2},
     0,
     1000,
     0,
     0,
     0,
     0,
     -1,
     -1},
    /* max(starts) <= min(ends): the same millisecond is an overlap */
    {"touching at one instant counts",
     {{OK(100, 110)}, {OK(110, 120)}},
     {1, 1},
     0,
     1000,
     0,
     1,
     0,
     110,
     0,
     1},
    {"one member's own runs never split",
     {{OK(100, 200), NO(120, 130), OK(150, 160)}, {NO(100, 300)}},
     {3, 1},
     0,
     1000,
     0,
     0,
     0,
     0,
     -1,
     -1},
    {"three members: every pair, the worst named",
     {{OK(0, 50), OK(50, 100)}, {OK(60, 70)}, {NO(0, 10), OK(20, 90)}},
     {2, 1, 2},
     0,
     1000,
     0,
     3,
     70,
     20,
     0,
     2},
    {"no logs at all", {{{0}}}, {0, 0}, 0, 1000, 0, 0, 0, 0, -1, -1},
    {"starts out of order",
     {{OK(100, 110), OK(90, 95)}, {OK(100, 110)}},
     {2, 1},
     0,
     1000,
     PGW_EINVAL,
     0,
     0,
     0,
     0,
     0},
    {"an attempt ending before it starts",
     {{OK(100, 90)}, {OK(80, 120)}},
     {1, 1},
     0,
     1000,
     PGW_EINVAL,
     0,
     0,
     0,
     0,
     0},
    {"a window ending before it starts",
     {{OK(100, 110)}, {OK(100, 110)}},
     {1, 1},
     1000,
     999,
     PGW_EINVAL,
     0,
     0,
     0,
     0,
     0},
};

static void
test_split_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++)
	{
		const SplitCase *t = &split_cases[i];
		const CtlDrillAttempt *att[3] = {t->log[0], t->log[1], t->log[2]};
		int members = t->n[2] > 0 ? 3 : 2;
		CtlDrillSplit out = {.n = 12345};
		int rc;

		print_message("split: %s\n", t->name);
		rc = ctl_drill_split(att, t->n, members, t->from_ms, t->to_ms, &out);
		assert_int_equal(rc, t->rc);
		if (rc != 0)
			continue;
		assert_int_equal(out.n, t->split);
		assert_int_equal(out.worst_ms, t->worst_ms);
		assert_int_equal(out.worst_at_ms, t->worst_at_ms);
		assert_int_equal(out.worst_a, t->worst_a);
		assert_int_equal(out.worst_b, t->worst_b);
	}
}

static void
test_split_bad_calls(void **state)
{
	CtlDrillAttempt a[] = {OK(1, 2)};
	const CtlDrillAttempt *att[2] = {a, NULL};
	int n[2] = {1, 1};
	CtlDrillSplit out;

	(void) state;
	/* a NULL log that claims attempts, or no output: refused, never 0 */
	assert_int_equal(ctl_drill_split(att, n, 2, 0, 10, &out), PGW_EINVAL);
	assert_int_equal(ctl_drill_split(att, n, 1, 0, 10, NULL), PGW_EINVAL);
	assert_int_equal(ctl_drill_split(NULL, n, 1, 0, 10, &out), PGW_EINVAL);
	n[0] = -1;
	assert_int_equal(ctl_drill_split(att, n, 1, 0, 10, &out), PGW_EINVAL);
}

/*
 * The case the watch exists for: a replica promoted by hand acknowledges
 * writes while the primary still does. The detector must see it and the
 * judge must fail the round, naming the members and how long.
 */
static void
test_split_must_fail(void **state)
{
	CtlDrillAttempt primary[40], rogue[40], other[40];
	const CtlDrillAttempt *att[3] = {primary, rogue, other};
	int n[3] = {40, 40, 40};
	CtlDrillSplit sp;
	CtlDrillRound r = {
	    .rto_ms = 800, .downtime_ms = 700, .lost = 0, .rejoin_ms = 4000};

	(void) state;
	/* every 50 ms, 5 ms each; the rogue is writable from 1000 to 1300 */
	for (int i = 0; i < 40; i++)
	{
		int64_t s = 50 * i;

		primary[i] = (CtlDrillAttempt){s, s + 5, true, true};
		rogue[i] = (CtlDrillAttempt){s + 1, s + 6, s >= 1000 && s < 1300, true};
		other[i] = (CtlDrillAttempt){s + 2, s + 7, false, true};
	}
	assert_int_equal(ctl_drill_split(att, n, 3, 0, 2000, &sp), 0);
	assert_int_equal(sp.n, 1);
	assert_int_equal(sp.worst_ms, 1250 + 6 - 1001); /* [1001, 1256] */
	assert_int_equal(sp.worst_at_ms, 1001);
	assert_int_equal(sp.worst_a, 0);
	assert_int_equal(sp.worst_b, 1);
	r.split_instants = sp.n;
	r.split_worst_ms = sp.worst_ms;
	snprintf(r.split_pair, sizeof(r.split_pair), "node1 and node2");
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_non_null(strstr(
	    r.note,
	    "SPLIT-BRAIN: node1 and node2 both acknowledged writes for 255 ms (1 overlap)"));
	/* a split is noted even when something else broke the round */
	r = (CtlDrillRound){.broken = true,
	                    .split_instants = 2,
	                    .split_worst_ms = 40,
	                    .split_pair = "node1 and node3",
	                    .note = "PGWARDEN_DRILL_STOP_CMD failed"};
	ctl_drill_judge(&r);
	assert_false(r.ok);
	assert_string_equal(
	    r.note,
	    "PGWARDEN_DRILL_STOP_CMD failed; SPLIT-BRAIN: node1 and node3 both acknowledged writes for 40 ms (2 overlaps)");
	/* the same logs with the rogue never writable: no split, round ok */
	for (int i = 0; i < 40; i++)
		rogue[i].is_acked = false;
	assert_int_equal(ctl_drill_split(att, n, 3, 0, 2000, &sp), 0);
	assert_int_equal(sp.n, 0);
	r = (CtlDrillRound){
	    .rto_ms = 800, .downtime_ms = 700, .lost = 0, .rejoin_ms = 4000};
	ctl_drill_judge(&r);
	assert_true(r.ok);
}

static void
test_probe_blind(void **state)
{
	CtlDrillAttempt a[] = {{0, 1000, false, false},
	                       {1000, 1010, false, true},
	                       {1050, 1060, true, true},
	                       {7000, 7010, true, true}};
	char why[128];

	(void) state;
	assert_false(ctl_drill_probe_blind(a, 4, 0, 1100, 5000, why, sizeof(why)));
	/* silent from 1050 to 7000 */
	assert_true(ctl_drill_probe_blind(a, 4, 0, 7100, 5000, why, sizeof(why)));
	assert_non_null(strstr(why, "silent for 5950 ms"));
	/* silent at the window's end: a dead probe */
	assert_true(ctl_drill_probe_blind(a, 3, 0, 6100, 5000, why, sizeof(why)));
	assert_non_null(strstr(why, "last 5050 ms"));
	/* attempts, but the server never answered one */
	assert_true(ctl_drill_probe_blind(a, 1, 0, 900, 5000, why, sizeof(why)));
	assert_string_equal(why, "never answered a probe");
	assert_true(ctl_drill_probe_blind(NULL, 0, 0, 100, 5000, why, sizeof(why)));
	a[3].start_ms = 10;
	assert_true(ctl_drill_probe_blind(a, 4, 0, 100, 5000, why, sizeof(why)));
	assert_string_equal(why, "probe log out of order");
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
	                       .split_instants = -1,
	                       .split_worst_ms = -1,
	                       .ok = false,
	                       .note = "no \"write\" acknowledged"};
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "demo", CTL_DRILL_SWITCHOVER, r, 2, false);
	fclose(f);
	assert_non_null(
	    strstr(buf, "drill switchover on cluster \"demo\": 2 rounds"));
	assert_non_null(strstr(buf, "node1        | node2        |      850 |"));
	assert_non_null(strstr(buf, "| Rejoin ms | Split | Result"));
	assert_non_null(strstr(buf, "|      4000 |     0 | ok"));
	assert_non_null(strstr(buf, "|         - |     - | FAILED"));
	assert_non_null(strstr(buf, "FAILED: no \"write\" acknowledged"));
	/* a round whose check did not run: no "lost writes 0" */
	assert_non_null(strstr(
	    buf,
	    "max RTO 850 ms, max downtime 800 ms, lost writes unknown (the check did not run), split-brain unknown (the watch did not run), 1/2 rounds ok"));
	assert_null(strstr(buf, "lost writes 0"));
	assert_null(strstr(buf, "split-brain instants 0"));
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
	assert_non_null(strstr(
	    buf,
	    "\"lost\": 0, \"split\": 0, \"split_worst_ms\": 0, \"rejoin_ms\": 4000"));
	assert_non_null(strstr(
	    buf,
	    "\"lost\": null, \"split\": null, \"split_worst_ms\": null, \"rejoin_ms\": -1"));
	assert_non_null(
	    strstr(buf, "\"note\": \"no \\\"write\\\" acknowledged\"}"));
	assert_non_null(strstr(
	    buf,
	    "\"max_rto_ms\": 850, \"max_downtime_ms\": 800, \"lost\": null, \"split\": null, \"ok\": false}"));
	free(buf);
	/* every check ran: the totals */
	r[1].lost = 2;
	r[1].split_instants = 3;
	r[1].split_worst_ms = 120;
	buf = NULL;
	f = open_memstream(&buf, &len);
	ctl_drill_report(f, "demo", CTL_DRILL_SWITCHOVER, r, 2, false);
	fclose(f);
	assert_non_null(
	    strstr(buf, "lost writes 2, split-brain instants 3, 1/2 rounds ok"));
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
	    cmocka_unit_test(test_round_of),
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_split_table),
	    cmocka_unit_test(test_split_bad_calls),
	    cmocka_unit_test(test_split_must_fail),
	    cmocka_unit_test(test_probe_blind),
	    cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
