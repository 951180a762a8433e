/*
 * test_health_timeline.c: health_timeline_judge(), the comparison behind
 * the timeline check (health/diverge.c): a standby's replay position and
 * timeline against the leader's timeline history file. The cases that
 * must say "diverged" (the bug: an old primary's WAL past the fork; a
 * sibling timeline; a newer timeline) and those that must not (behind on
 * an older timeline, catching up from an archive, exactly at the fork as
 * after a switchover), then history files that are not PostgreSQL's.
 */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health/health.h"

#include <stdio.h>
#include <string.h>

/* a history file as PostgreSQL 15 writes it (timeline 2, promoted node) */
#define HIST_TL2 "1\t0/4033B58\tno recovery target specified\n"
/* three switches: 1 -> 2 at 0/3000000, 2 -> 3 at 0/5000000, 3 -> 4 */
#define HIST_TL4                                                               \
	"1\t0/3000000\tno recovery target specified\n"                             \
	"\n"                                                                       \
	"2\t0/5000000\tno recovery target specified\n"                             \
	"3\t0/7000060\tno recovery target specified\n"

static PgLsn
lsn(const char *s)
{
	PgLsn l = 0;

	assert_int_equal(health_lsn_parse(s, &l), 0);
	return l;
}

static HealthTimelineCheck
judge_ok(const char *history, uint32_t leader_tli, uint32_t local_tli,
         const char *local_lsn)
{
	HealthTimelineCheck tc;
	PgwError err = {0};

	assert_int_equal(health_timeline_judge(history, leader_tli, local_tli,
	                                       lsn(local_lsn), &tc, &err),
	                 0);
	assert_int_equal(tc.leader_tli, leader_tli);
	assert_int_equal(tc.local_tli, local_tli);
	assert_true(tc.why[0] != '\0');
	return tc;
}

static void
test_same_and_newer_timeline(void **state)
{
	HealthTimelineCheck tc;

	(void) state;
	/* same timeline: nothing to read, never diverged */
	tc = judge_ok(NULL, 2, 2, "0/9000000");
	assert_false(tc.diverged);
	assert_int_equal(tc.switchpoint, 0);
	/* a standby never follows a server back to an older timeline */
	tc = judge_ok(NULL, 2, 3, "0/1000000");
	assert_true(tc.diverged);
	assert_non_null(strstr(tc.why, "newer than the leader's"));
}

static void
test_old_primary_past_the_fork(void **state)
{
	HealthTimelineCheck tc;

	(void) state;
	/* the bug: an old primary restarted in recovery replayed its own WAL,
	 * past the point where the new leader's timeline 2 forked off */
	tc = judge_ok(HIST_TL2, 2, 1, "0/4034000");
	assert_true(tc.diverged);
	assert_int_equal(tc.switchpoint, lsn("0/4033B58"));
	assert_non_null(strstr(tc.why, "0/4033B58"));
	/* one byte past is past */
	tc = judge_ok(HIST_TL2, 2, 1, "0/4033B59");
	assert_true(tc.diverged);
}

static void
test_behind_or_at_the_fork(void **state)
{
	HealthTimelineCheck tc;

	(void) state;
	/* a replica behind on the old timeline (or catching up from an
	 * archive): it will switch timelines when it reaches the fork */
	tc = judge_ok(HIST_TL2, 2, 1, "0/4028D30");
	assert_false(tc.diverged);
	assert_int_equal(tc.switchpoint, lsn("0/4033B58"));
	/* exactly at the fork: a switchover's old primary replayed its
	 * shutdown checkpoint, whose end is the new timeline's start */
	tc = judge_ok(HIST_TL2, 2, 1, "0/4033B58");
	assert_false(tc.diverged);
}

static void
test_several_switches(void **state)
{
	HealthTimelineCheck tc;

	(void) state;
	tc = judge_ok(HIST_TL4, 4, 2, "0/4800000");
	assert_false(tc.diverged);
	assert_int_equal(tc.switchpoint, lsn("0/5000000"));
	tc = judge_ok(HIST_TL4, 4, 2, "0/5000001");
	assert_true(tc.diverged);
	tc = judge_ok(HIST_TL4, 4, 3, "0/7000060");
	assert_false(tc.diverged);
	tc = judge_ok(HIST_TL4, 4, 1, "0/2FFFFFF");
	assert_false(tc.diverged);
	/* comments, blank lines and CRLF are PostgreSQL's too */
	tc = judge_ok("# written by hand\r\n1\t0/3000000\tr\r\n\r\n", 2, 1,
	              "0/3000001");
	assert_true(tc.diverged);
}

static void
test_sibling_timeline(void **state)
{
	HealthTimelineCheck tc;

	(void) state;
	/* timeline 3 forked from 1; we are on 2, which it never had */
	tc = judge_ok("1\t0/3000000\tno recovery target specified\n", 3, 2,
	              "0/3000000");
	assert_true(tc.diverged);
	assert_int_equal(tc.switchpoint, 0);
	assert_non_null(strstr(tc.why, "not in the history"));
}

static void
expect_bad(const char *history, uint32_t leader_tli, uint32_t local_tli,
           int code, const char *msg_has)
{
	HealthTimelineCheck tc;
	PgwError err = {0};

	assert_int_equal(health_timeline_judge(history, leader_tli, local_tli,
	                                       0x3000000, &tc, &err),
	                 code);
	assert_int_equal(err.code, code);
	if (msg_has != NULL && strstr(err.msg, msg_has) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg_has);
	assert_false(tc.diverged);
}

static void
test_bad_history(void **state)
{
	char long_line[700];

	(void) state;
	expect_bad(HIST_TL2, 0, 1, PGW_EINVAL, "timeline 0");
	expect_bad(HIST_TL2, 2, 0, PGW_EINVAL, "timeline 0");
	expect_bad(NULL, 2, 1, PGW_EBADRESPONSE, "no history file");
	expect_bad("", 2, 1, PGW_EBADRESPONSE, "has no entry");
	expect_bad("# only a comment\n\n", 2, 1, PGW_EBADRESPONSE, "has no entry");
	expect_bad("x\t0/3000000\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("1\t0/30000G0\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("1\t\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("1\t0/0\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("1\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("1\t0/3000000\tr\n\n-2\t0/4000000\tr\n", 3, 1, PGW_EBADRESPONSE,
	           "line 3");
	expect_bad("0\t0/3000000\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	expect_bad("99999999999\t0/3000000\tr\n", 2, 1, PGW_EBADRESPONSE, "line 1");
	/* PostgreSQL's own rules: ascending, each below the file's timeline */
	expect_bad("2\t0/4000000\tr\n1\t0/3000000\tr\n", 3, 1, PGW_EBADRESPONSE,
	           "out of order");
	expect_bad("1\t0/3000000\tr\n1\t0/3000000\tr\n", 3, 1, PGW_EBADRESPONSE,
	           "out of order");
	expect_bad("1\t0/3000000\tr\n2\t0/4000000\tr\n", 2, 1, PGW_EBADRESPONSE,
	           "timeline 2 out of order");
	memset(long_line, 'r', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "1\t0/3000000\t", 12);
	expect_bad(long_line, 2, 1, PGW_EBADRESPONSE, "longer than");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_and_newer_timeline),
	    cmocka_unit_test(test_old_primary_past_the_fork),
	    cmocka_unit_test(test_behind_or_at_the_fork),
	    cmocka_unit_test(test_several_switches),
	    cmocka_unit_test(test_sibling_timeline),
	    cmocka_unit_test(test_bad_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
