/*
 * test_ctl_shard_args.c: `pgwardenctl shard ...` arguments (shard_args.h):
 * every subcommand's happy path, then the refusals, each with a message
 * that names the problem: unknown words and options, options a subcommand
 * does not take, missing and extra arguments, user ids that are not 64-bit
 * integers, groups out of range, bad durations, slot counts and phases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl/shard_args.h"
#include "shard/shard.h"

#include <stdio.h>
#include <string.h>

static int
parse(ShardArgs *a, PgwError *e, const char *words)
{
	static char buf[1024];
	char *argv[32];
	int argc = 0;
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	memset(e, 0, sizeof(*e));
	return shard_args_parse(argc, argv, a, e);
}

static void
test_good(void **state)
{
	ShardArgs a;
	PgwError e;

	(void) state;
	assert_int_equal(parse(&a, &e, "init --groups 1,2,3"), 0);
	assert_int_equal(a.cmd, SHARD_CMD_INIT);
	assert_int_equal(a.n_groups, 3);
	assert_int_equal(a.groups[2], 3);
	assert_int_equal(a.slots, 4096);
	assert_int_equal(
	    parse(&a, &e, "init --groups=0,9999 --slots 65536 --dbname app-1"), 0);
	assert_string_equal(a.dbname, "app-1");
	assert_int_equal(a.slots, 65536);
	assert_int_equal(parse(&a, &e, "lookup -9223372036854775808"), 0);
	assert_int_equal(a.user_id, INT64_MIN);
	assert_int_equal(parse(&a, &e, "lookup 9223372036854775807 --format json"),
	                 0);
	assert_int_equal(a.user_id, INT64_MAX);
	assert_true(a.has_format);
	assert_int_equal(parse(&a, &e, "assign 0-99 2"), 0);
	assert_string_equal(a.range, "0-99");
	assert_int_equal(a.group, 2);
	assert_int_equal(parse(&a, &e, "table add public.events user_id"), 0);
	assert_string_equal(a.table, "public.events");
	assert_string_equal(a.column, "user_id");
	assert_int_equal(
	    parse(
	        &a, &e,
	        "move 0-99 --to 3 --id m-1 --grace 2s --stop-after frozen --timeout 1m --catchup-bytes 16MB"),
	    0);
	assert_int_equal(a.cmd, SHARD_CMD_MOVE);
	assert_int_equal(a.group, 3);
	assert_string_equal(a.move_id, "m-1");
	assert_int_equal(a.grace_ms, 2000);
	assert_int_equal(a.stop_after, SHARD_MOVE_FROZEN);
	assert_int_equal(a.timeout_ms, 60000);
	assert_int_equal(a.catchup_bytes, 16 * 1024 * 1024);
	assert_int_equal(a.hold_phase, -1);
	assert_int_equal(parse(&a, &e, "move 0-99 --to 3 --hold frozen=8s"), 0);
	assert_int_equal(a.hold_phase, SHARD_MOVE_FROZEN);
	assert_int_equal(a.hold_ms, 8000);
	assert_int_equal(parse(&a, &e, "move --resume m-1"), 0);
	assert_true(a.resume);
	assert_int_equal(parse(&a, &e, "move --abort m-1"), 0);
	assert_true(a.abort_move);
	assert_int_equal(parse(&a, &e, "split 100-199 --to 4 --grace 0"), 0);
	assert_int_equal(a.cmd, SHARD_CMD_SPLIT);
	assert_int_equal(a.grace_ms, 0);
	assert_int_equal(parse(&a, &e, "show"), 0);
	assert_int_equal(parse(&a, &e, "install"), 0);
	assert_int_equal(parse(&a, &e, "--help"), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, &e, "move --help"), 0);
	assert_true(a.help);
}

static void
test_refusals(void **state)
{
	static const struct
	{
		const char *words;
		const char *msg;
	} bad[] = {
	    {"", "missing subcommand"},
	    {"destroy", "unknown subcommand \"destroy\""},
	    {"init", "--groups G[,G...] is required"},
	    {"init --groups 1,,2", "invalid --groups"},
	    {"init --groups 1,2,", "invalid --groups"},
	    {"init --groups 1,x", "invalid --groups entry \"x\""},
	    {"init --groups 10000", "expected a group number 0..9999"},
	    {"init --groups 1 --slots 1000", "power of two"},
	    {"init --groups 1 --slots 131072", "power of two"},
	    {"init --groups 1 --to 2", "option --to is not valid here"},
	    {"init --groups 1 --dbname a;b", "invalid --dbname"},
	    {"move 0-99 --to 2 --dbname app", "option --dbname is not valid here"},
	    {"lookup", "missing argument"},
	    {"lookup abc", "user id \"abc\" is not an integer"},
	    {"lookup 12abc", "is not an integer"},
	    {"lookup 9223372036854775808", "is not an integer"},
	    {"lookup 1.5", "is not an integer"},
	    {"lookup 1 2", "unexpected argument \"2\""},
	    {"lookup 1 --format yaml", "expected pretty or json"},
	    {"assign 0-99", "missing argument"},
	    {"assign 0-99 -1", "expected a group number"},
	    {"table drop events user_id", "expected \"table add TABLE COLUMN\""},
	    {"table add events", "expected TABLE COLUMN"},
	    {"move 0-99", "--to GROUP is required"},
	    {"move --to 3", "missing FROM-TO"},
	    {"move 0-99 --to", "needs a value"},
	    {"move 0-99 --to 3 --grace 5 parsecs", "unexpected argument"},
	    {"move 0-99 --to 3 --grace forever", "invalid --grace"},
	    {"move 0-99 --to 3 --timeout 0", "invalid --timeout"},
	    {"move 0-99 --to 3 --stop-after done", "invalid --stop-after"},
	    {"move 0-99 --to 3 --id Bad_Id", "invalid --id"},
	    {"move 0-99 --to 3 --hold frozen", "invalid --hold"},
	    {"move 0-99 --to 3 --hold melted=1s", "invalid --hold"},
	    {"move 0-99 --to 3 --hold frozen=forever", "invalid --hold"},
	    {"move --resume m1 --abort m1", "--resume or --abort, not both"},
	    {"move --resume m1 --abort m2", "two move ids"},
	    {"move --resume m1 0-99", "take a move id, not a range"},
	    {"move --resume m1 --to 2", "--to belongs to a new move"},
	    {"move 0-99 --to 3 --bogus 1", "unknown option \"--bogus\""},
	    {"split 0-99 --to 3 --resume m1", "option --resume is not valid here"},
	};

	(void) state;
	for (size_t i = 0; i < PGW_LENGTHOF(bad); i++)
	{
		ShardArgs a;
		PgwError e;

		if (parse(&a, &e, bad[i].words) != PGW_EINVAL)
			fail_msg("accepted: \"%s\"", bad[i].words);
		if (strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].words, e.msg,
			         bad[i].msg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
