/*
 * test_shard_map.c: the slot function against values PostgreSQL 15
 * computed (SELECT hashint8extended(x, 0) ...; the full million-value check
 * is test_shard_slot_pg), the shard map codec (every kind of bad map
 * refused with a message naming the field, the caller's map untouched),
 * and the edits: init, assign, a move's mark/freeze/flip/abort, overlapping
 * moves refused, tables, slot ranges, move records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shard/shard.h"

#include "common/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
assert_msg_has(const PgwError *e, const char *needle)
{
	if (strstr(e->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

/* from a real PostgreSQL 15.20: hashint8extended(x, 0), its & 4095, and
 * hashint8extended(x, 12345678901) (the seeded path) */
static const struct
{
	int64_t x;
	int64_t h0;
	int slot;
	int64_t hseed;
} pg_values[] = {
    {0, INT64_C(4154612158245552303), 175, INT64_C(-9160464770637426)},
    {1, INT64_C(-3670598878359251130), 1862, INT64_C(4167789763743768095)},
    {-1, INT64_C(-1888257769727981238), 2378, INT64_C(-3551275469021727489)},
    {42, INT64_C(8010225493015854792), 3784, INT64_C(-362215348672087287)},
    {INT64_MAX, INT64_C(1977219185673256887), 4023,
     INT64_C(-3920031281054721144)},
    {INT64_MIN, INT64_C(-9109110466470504941), 1555,
     INT64_C(4354663683942709311)},
    {INT64_C(4294967296), INT64_C(-3670598878359251130), 1862,
     INT64_C(4167789763743768095)},
    {INT64_C(-4294967297), INT64_C(495194309054116481), 641,
     INT64_C(-2059777420847374697)},
};

static void
test_slot_function(void **state)
{
	(void) state;
	for (size_t i = 0; i < PGW_LENGTHOF(pg_values); i++)
	{
		assert_int_equal((int64_t) pgw_shard_hash(pg_values[i].x),
		                 pg_values[i].h0);
		assert_int_equal(pgw_shard_slot(pg_values[i].x, 4096),
		                 pg_values[i].slot);
		assert_int_equal(
		    (int64_t) shard_hash_seeded(pg_values[i].x, UINT64_C(12345678901)),
		    pg_values[i].hseed);
	}
	assert_int_equal(pgw_shard_slot(42, 1), 0);
	assert_int_equal(pgw_shard_slot(42, 3), -1);
	assert_int_equal(pgw_shard_slot(42, 0), -1);
	assert_int_equal(pgw_shard_slot(42, 131072), -1);
	assert_true(shard_slots_valid(65536));
}

static const char *good =
    "{\"version\":3,\"slots\":16,\"database\":\"app\",\"ranges\":["
    "{\"from\":0,\"to\":7,\"group\":1,\"state\":\"serving\"},"
    "{\"from\":8,\"to\":11,\"group\":2,\"state\":\"moving\",\"move\":\"m1\"},"
    "{\"from\":12,\"to\":15,\"group\":2,\"state\":\"serving\"}],"
    "\"tables\":[{\"table\":\"public.events\",\"column\":\"user_id\"}]}";

static void
test_decode_good(void **state)
{
	ShardMap *m = calloc(1, sizeof(*m));
	ShardMap *m2 = calloc(1, sizeof(*m2));
	PgwError e = {0};
	char *s;

	(void) state;
	assert_int_equal(shard_map_decode(good, strlen(good), m, &e), 0);
	assert_int_equal(m->version, 3);
	assert_int_equal(m->slots, 16);
	assert_int_equal(m->n_ranges, 3);
	assert_int_equal(m->ranges[1].state, SHARD_STATE_MOVING);
	assert_string_equal(m->ranges[1].move_id, "m1");
	assert_int_equal(m->n_tables, 1);
	assert_string_equal(m->database, "app");
	assert_int_equal(shard_map_find(m, 0), 0);
	assert_int_equal(shard_map_find(m, 9), 1);
	assert_int_equal(shard_map_find(m, 15), 2);
	assert_int_equal(shard_map_find(m, 16), -1);
	assert_true(shard_map_owns(m, 2, 9)); /* moving: still served */
	assert_false(shard_map_owns(m, 1, 9));
	s = shard_map_encode(m);
	assert_int_equal(shard_map_decode(s, strlen(s), m2, &e), 0);
	assert_string_equal(s, good);
	free(s);
	free(m);
	free(m2);
}

static void
test_decode_bad(void **state)
{
	static const struct
	{
		const char *json;
		const char *msg;
	} bad[] = {
	    {"", "not JSON"},
	    {"[]", "expected a JSON object"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":7,\"group\":1,\"state\":\"serving\"}]}",
	     "gap: slots 8..15"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":7,\"group\":1,\"state\":\"serving\"},{\"from\":9,\"to\":15,\"group\":1,\"state\":\"serving\"}]}",
	     "ranges[1]: gap: slots 8..8"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":8,\"group\":1,\"state\":\"serving\"},{\"from\":7,\"to\":15,\"group\":1,\"state\":\"serving\"}]}",
	     "ranges[1]: overlap: slots 7..8"},
	    {"{\"version\":1,\"slots\":12,\"ranges\":[{\"from\":0,\"to\":11,\"group\":1,\"state\":\"serving\"}]}",
	     "not a power of two"},
	    {"{\"version\":0,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\"}]}",
	     "version: 0 is out of range"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"moving\"}]}",
	     "needs a valid move id"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\",\"move\":\"x\"}]}",
	     "a serving range has no move id"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"melting\"}]}",
	     "state: \"melting\""},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":10000,\"state\":\"serving\"}]}",
	     "ranges[0].group: 10000 is out of range"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":\"15\",\"group\":1,\"state\":\"serving\"}]}",
	     "ranges[0].to: expected an integer"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\"}],\"extra\":1}",
	     "unknown key \"extra\""},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\"}],\"tables\":[{\"table\":\"Events\",\"column\":\"user_id\"}]}",
	     "tables[0]"},
	    {"{\"version\":1,\"slots\":16,\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\"}],\"tables\":[{\"table\":\"public.e\",\"column\":\"u;drop\"}]}",
	     "column \"u;drop\""},
	    {"{\"version\":1,\"version\":2,\"slots\":16,\"ranges\":[]}",
	     "not JSON"},
	    {"{\"version\":1,\"slots\":16}", "ranges: missing"},
	    {"{\"version\":1,\"slots\":16,\"database\":\"a b\",\"ranges\":[{\"from\":0,\"to\":15,\"group\":1,\"state\":\"serving\"}]}",
	     "database: \"a b\""},
	};
	ShardMap *m = calloc(1, sizeof(*m));

	(void) state;
	m->version = 99;
	for (size_t i = 0; i < PGW_LENGTHOF(bad); i++)
	{
		PgwError e = {0};

		if (shard_map_decode(bad[i].json, strlen(bad[i].json), m, &e) !=
		    PGW_EINVAL)
			fail_msg("case %zu accepted: %s", i, bad[i].json);
		assert_msg_has(&e, bad[i].msg);
		assert_int_equal(m->version, 99); /* untouched */
	}
	free(m);
}

static ShardMap *
three_groups(void)
{
	ShardMap *m = calloc(1, sizeof(*m));
	int groups[] = {1, 2, 3};
	PgwError e = {0};

	assert_int_equal(shard_map_init(m, 4096, groups, 3, NULL, &e), 0);
	return m;
}

static void
test_init(void **state)
{
	ShardMap *m = three_groups();
	PgwError e = {0};
	int dup[] = {1, 1};
	int g[8];

	(void) state;
	assert_int_equal(m->version, 1);
	assert_string_equal(m->database, "postgres");
	assert_int_equal(m->n_ranges, 3);
	assert_int_equal(m->ranges[0].to, 1364);
	assert_int_equal(m->ranges[2].to, 4095);
	assert_int_equal(shard_map_groups(m, g, 8), 3);
	assert_int_equal(g[2], 3);
	assert_int_equal(shard_map_init(m, 4000, dup, 1, NULL, &e), PGW_EINVAL);
	assert_int_equal(shard_map_init(m, 4096, dup, 2, NULL, &e), PGW_EINVAL);
	assert_msg_has(&e, "listed twice");
	assert_int_equal(shard_map_init(m, 4096, dup, 0, NULL, &e), PGW_EINVAL);
	free(m);
}

static void
test_move_steps(void **state)
{
	ShardMap *m = three_groups();
	PgwError e = {0};
	int source = -1;
	bool changed;

	(void) state;
	/* a range spanning groups, a move to its own group, bad ids */
	assert_int_equal(shard_map_mark_moving(m, 1300, 1400, 3, "m1", &source, &e),
	                 PGW_ESTATE);
	assert_msg_has(&e, "span groups 1 and 2");
	assert_int_equal(shard_map_mark_moving(m, 0, 99, 1, "m1", &source, &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_map_mark_moving(m, 0, 99, 2, "M 1", &source, &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_map_mark_moving(m, 0, 4096, 2, "m1", &source, &e),
	                 PGW_EINVAL);
	assert_int_equal(m->n_ranges, 3); /* untouched */

	assert_int_equal(shard_map_mark_moving(m, 100, 199, 3, "m1", &source, &e),
	                 0);
	assert_int_equal(source, 1);
	assert_int_equal(m->n_ranges, 5);
	assert_int_equal(m->ranges[1].from, 100);
	assert_int_equal(m->ranges[1].state, SHARD_STATE_MOVING);
	assert_true(shard_map_owns(m, 1, 150));

	/* overlapping move refused, assign over a moving slot refused */
	assert_int_equal(shard_map_mark_moving(m, 150, 250, 2, "m2", &source, &e),
	                 PGW_ESTATE);
	assert_msg_has(&e, "slot 150 is already in move \"m1\"");
	assert_int_equal(shard_map_assign(m, 0, 4095, 2, &e), PGW_ESTATE);
	/* flip before freeze is refused */
	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_FLIP, &changed, &e),
	                 PGW_ESTATE);

	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_FREEZE, &changed, &e),
	                 0);
	assert_true(changed);
	assert_false(shard_map_owns(m, 1, 150));
	assert_false(shard_map_owns(m, 3, 150));
	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_FREEZE, &changed, &e),
	                 0);
	assert_false(changed); /* twice: no-op */
	assert_int_equal(shard_map_move_step(m, 100, 199, "m9", 1, 3,
	                                     SHARD_STEP_FLIP, &changed, &e),
	                 PGW_ESTATE);
	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_FLIP, &changed, &e),
	                 0);
	assert_true(changed);
	assert_true(shard_map_owns(m, 3, 150));
	assert_false(shard_map_owns(m, 1, 150));
	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_FLIP, &changed, &e),
	                 0);
	assert_false(changed);
	/* abort after the flip is refused */
	assert_int_equal(shard_map_move_step(m, 100, 199, "m1", 1, 3,
	                                     SHARD_STEP_ABORT, &changed, &e),
	                 PGW_ESTATE);

	/* a move back merges the ranges again */
	assert_int_equal(shard_map_mark_moving(m, 100, 199, 1, "m2", &source, &e),
	                 0);
	assert_int_equal(source, 3);
	assert_int_equal(shard_map_move_step(m, 100, 199, "m2", 3, 1,
	                                     SHARD_STEP_ABORT, &changed, &e),
	                 0);
	assert_true(changed);
	assert_int_equal(shard_map_mark_moving(m, 100, 199, 1, "m3", &source, &e),
	                 0);
	assert_int_equal(shard_map_move_step(m, 100, 199, "m3", 3, 1,
	                                     SHARD_STEP_FREEZE, &changed, &e),
	                 0);
	assert_int_equal(shard_map_move_step(m, 100, 199, "m3", 3, 1,
	                                     SHARD_STEP_FLIP, &changed, &e),
	                 0);
	assert_int_equal(m->n_ranges, 3);
	free(m);
}

static void
test_assign_tables_ranges(void **state)
{
	ShardMap *m = three_groups();
	PgwError e = {0};
	int from;
	int to;

	(void) state;
	assert_int_equal(shard_map_assign(m, 0, 4095, 7, &e), 0);
	assert_int_equal(m->n_ranges, 1);
	assert_int_equal(shard_map_assign(m, 10, 10, 10000, &e), PGW_EINVAL);
	assert_int_equal(shard_map_table_add(m, "events", "user_id", &e), 0);
	assert_string_equal(m->tables[0].name, "public.events");
	assert_int_equal(shard_map_table_add(m, "public.events", "user_id", &e), 0);
	assert_int_equal(m->n_tables, 1);
	assert_int_equal(shard_map_table_add(m, "public.events", "other", &e),
	                 PGW_ECONFLICT);
	assert_int_equal(shard_map_table_add(m, "Events", "user_id", &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_map_table_add(m, "a.b.c", "user_id", &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_map_table_add(m, "x", "user id", &e), PGW_EINVAL);

	assert_int_equal(shard_range_parse("100-199", 4096, &from, &to, &e), 0);
	assert_int_equal(from, 100);
	assert_int_equal(to, 199);
	assert_int_equal(shard_range_parse("7", 4096, &from, &to, &e), 0);
	assert_int_equal(to, 7);
	assert_int_equal(shard_range_parse("200-100", 4096, &from, &to, &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_range_parse("0-4096", 4096, &from, &to, &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_range_parse("-5", 4096, &from, &to, &e), PGW_EINVAL);
	assert_int_equal(shard_range_parse("5-", 4096, &from, &to, &e), PGW_EINVAL);
	assert_int_equal(shard_range_parse("a-b", 4096, &from, &to, &e),
	                 PGW_EINVAL);
	assert_int_equal(shard_range_parse("", 4096, &from, &to, &e), PGW_EINVAL);
	free(m);
}

static void
test_move_record(void **state)
{
	ShardMove m;
	ShardMove m2;
	PgwError e = {0};
	char *s;
	const char *bad =
	    "{\"id\":\"m1\",\"phase\":\"copying\",\"from\":1,\"to\":0,\"source\":1,\"target\":2}";
	const char *bad2 =
	    "{\"id\":\"m1\",\"phase\":\"warp\",\"from\":0,\"to\":1,\"source\":1,\"target\":2}";

	(void) state;
	memset(&m, 0, sizeof(m));
	pgw_strlcpy(m.id, "m-1", sizeof(m.id));
	m.from = 100;
	m.to = 199;
	m.source = 1;
	m.target = 3;
	m.phase = SHARD_MOVE_FROZEN;
	m.freeze_lsn = UINT64_C(0x1000000AB);
	pgw_strlcpy(m.source_primary, "node1", sizeof(m.source_primary));
	m.copies = 2;
	s = shard_move_encode(&m);
	assert_int_equal(shard_move_decode(s, strlen(s), &m2, &e), 0);
	assert_int_equal(m2.freeze_lsn, m.freeze_lsn);
	assert_int_equal(m2.phase, SHARD_MOVE_FROZEN);
	assert_string_equal(m2.source_primary, "node1");
	assert_int_equal(m2.copies, 2);
	free(s);
	assert_int_equal(shard_move_decode(bad, strlen(bad), &m2, &e), PGW_EINVAL);
	assert_int_equal(shard_move_decode(bad2, strlen(bad2), &m2, &e),
	                 PGW_EINVAL);
	assert_msg_has(&e, "warp");
	assert_false(shard_move_id_ok("-x"));
	assert_false(shard_move_id_ok("M1"));
	assert_true(shard_move_id_ok("m-20261123-1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slot_function),
	    cmocka_unit_test(test_decode_good),
	    cmocka_unit_test(test_decode_bad),
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_move_steps),
	    cmocka_unit_test(test_assign_tables_ranges),
	    cmocka_unit_test(test_move_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
