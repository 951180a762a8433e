/*
 * test_witness_rules.c: the lease witness's pure rules (witness/gate.c,
 * witness/wire.c; issue 19):
 *  - the lease rule: confirm only armed and strictly before the deadline
 *  - synchronous_standby_names with the witness in it, for every form
 *    synchronous mode writes (async, FIRST k, ANY k, "*"), the forms it
 *    refuses (where the witness would be optional), and back (decompose)
 *  - the quorum gate: the k-th highest position of the gate's streaming
 *    standbys, never above what the witness received, the witness itself
 *    never counted
 *  - the replication messages: decode of 'w' and 'k' with every length
 *    checked, and the 'r' reply's bytes
 */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "witness/witness.h"

#include <stdio.h>
#include <string.h>

#define W WITNESS_APP_NAME

static void
test_lease_rule(void **state)
{
	(void) state;
	assert_true(witness_may_confirm(true, 1000, 999999));
	/* at the deadline itself: no longer */
	assert_false(witness_may_confirm(true, 1000, 1000000));
	assert_false(witness_may_confirm(true, 1000, 1000001));
	/* not armed, or no deadline: never */
	assert_false(witness_may_confirm(false, 1000, 1));
	assert_false(witness_may_confirm(true, 0, 1));
}

static void
compose_ok(const char *base, const char *want, int gate_k, bool any)
{
	char ssn[256];
	WitnessGate g;
	PgwError err = {0};

	assert_int_equal(witness_ssn_compose(base, W, ssn, sizeof(ssn), &g, &err),
	                 0);
	assert_string_equal(ssn, want);
	assert_int_equal(g.k, gate_k);
	assert_int_equal(g.any_name, any);
}

static void
compose_bad(const char *base, const char *msg_part)
{
	char ssn[256];
	WitnessGate g;
	PgwError err = {0};

	assert_int_equal(witness_ssn_compose(base, W, ssn, sizeof(ssn), &g, &err),
	                 PGW_EINVAL);
	if (strstr(err.msg, msg_part) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, msg_part);
}

static void
test_compose(void **state)
{
	WitnessGate g;
	char ssn[256];

	(void) state;
	compose_ok("", "\"" W "\"", 0, false);
	/* FIRST: the witness is one more required name */
	compose_ok("node2", "FIRST 2 (\"" W "\", \"node2\")", 0, false);
	compose_ok("FIRST 2 (\"node2\", \"node3\")",
	           "FIRST 3 (\"" W "\", \"node2\", \"node3\")", 0, false);
	/* ANY and "*": the witness alone, and it waits for k of them */
	compose_ok("ANY 1 (\"node2\", \"node3\")", "\"" W "\"", 1, false);
	assert_int_equal(witness_ssn_compose("ANY 2 (node2, \"Node3\", node4)", W,
	                                     ssn, sizeof(ssn), &g, NULL),
	                 0);
	assert_int_equal(g.k, 2);
	assert_int_equal(g.n_names, 3);
	assert_string_equal(g.names[0], "node2");
	assert_string_equal(g.names[1], "Node3");
	compose_ok("*", "\"" W "\"", 1, true);
	/* where the witness would be optional, or bad syntax: refused, said */
	compose_bad("FIRST 1 (node2, node3)", "could commit without it");
	compose_bad("FIRST 1 (node2, *)", "optional");
	compose_bad("ANY 3 (node2, node3)", "asks for 3 of 2");
	compose_bad("ANY (node2)", "ANY without a number");
	compose_bad("FIRST 1 (node2", "expected \")\"");
	compose_bad("\"" W "\"", "already names the witness");
	/* too small a buffer */
	assert_int_equal(witness_ssn_compose("node2", W, ssn, 8, &g, NULL),
	                 PGW_EINVAL);
}

static void
test_decompose(void **state)
{
	char base[256];
	bool named, unknown;

	(void) state;
	assert_int_equal(witness_ssn_decompose("FIRST 2 (\"" W "\", \"node2\")", W,
	                                       base, sizeof(base), &named,
	                                       &unknown),
	                 0);
	assert_true(named);
	assert_false(unknown);
	assert_string_equal(base, "FIRST 1 (\"node2\")");
	/* the witness alone: async, quorum or "*", the leader says again */
	assert_int_equal(witness_ssn_decompose("\"" W "\"", W, base, sizeof(base),
	                                       &named, &unknown),
	                 0);
	assert_true(named);
	assert_true(unknown);
	assert_string_equal(base, "");
	/* not ours: its own base */
	assert_int_equal(witness_ssn_decompose("ANY 1 (a, b)", W, base,
	                                       sizeof(base), &named, &unknown),
	                 0);
	assert_false(named);
	assert_string_equal(base, "ANY 1 (a, b)");
}

static void
test_gate(void **state)
{
	WitnessGate g;
	WitnessStandby s[] = {
	    {"node2", true, 300, 200, 100},  {"node3", true, 500, 400, 300},
	    {"node4", false, 900, 900, 900}, /* not streaming */
	    {W, true, 999, 999, 999},        /* the witness itself */
	    {"other", true, 800, 800, 800},  /* not in the gate */
	};
	WitnessPositions p;

	(void) state;
	memset(&g, 0, sizeof(g));
	/* no gate: what it received */
	p = witness_gate_position(&g, W, s, 5, 700);
	assert_int_equal(p.flush, 700);
	g.k = 1;
	g.n_names = 3;
	snprintf(g.names[0], sizeof(g.names[0]), "%s", "node2");
	snprintf(g.names[1], sizeof(g.names[1]), "%s",
	         "NODE3"); /* names compare case-insensitively */
	snprintf(g.names[2], sizeof(g.names[2]), "%s", "node4");
	p = witness_gate_position(&g, W, s, 5, 700);
	assert_int_equal(p.write, 500);
	assert_int_equal(p.flush, 400);
	assert_int_equal(p.apply, 300);
	/* never above what the witness received */
	p = witness_gate_position(&g, W, s, 5, 350);
	assert_int_equal(p.flush, 350);
	assert_int_equal(p.apply, 300);
	g.k = 2;
	p = witness_gate_position(&g, W, s, 5, 700);
	assert_int_equal(p.flush, 200);
	/* fewer than k streaming: nothing */
	g.k = 3;
	p = witness_gate_position(&g, W, s, 5, 700);
	assert_int_equal(p.flush, 0);
	assert_int_equal(p.write, 0);
	/* "*": any standby but the witness */
	memset(&g, 0, sizeof(g));
	g.k = 1;
	g.any_name = true;
	p = witness_gate_position(&g, W, s, 5, 2000);
	assert_int_equal(p.flush, 800);
	/* the unknown gate confirms nothing */
	g.k = WITNESS_GATE_UNKNOWN_K;
	p = witness_gate_position(&g, W, s, 5, 2000);
	assert_int_equal(p.flush, 0);
}

static void
test_wire(void **state)
{
	char b[40];
	WitnessMsg m;
	PgwError err = {0};
	WitnessPositions p = {0x0102030405060708ULL, 0x1112131415161718ULL, 0x21};
	char r[WITNESS_REPLY_LEN];

	(void) state;
	memset(b, 0, sizeof(b));
	b[0] = 'w';
	b[8] = 0x10;  /* start 0x10 */
	b[16] = 0x40; /* wal end 0x40 */
	assert_int_equal(witness_wire_decode(b, 30, &m, &err), 0);
	assert_int_equal(m.kind, WITNESS_MSG_XLOGDATA);
	assert_int_equal(m.start_lsn, 0x10);
	assert_int_equal(m.wal_end, 0x40);
	assert_int_equal(m.data_len, 5);
	assert_int_equal(witness_wire_decode(b, 24, &m, &err), PGW_EBADRESPONSE);
	assert_non_null(strstr(err.msg, "XLogData"));
	memset(b, 0, sizeof(b));
	b[0] = 'k';
	b[17] = 1;
	assert_int_equal(witness_wire_decode(b, 18, &m, &err), 0);
	assert_int_equal(m.kind, WITNESS_MSG_KEEPALIVE);
	assert_true(m.reply_requested);
	assert_int_equal(witness_wire_decode(b, 17, &m, &err), PGW_EBADRESPONSE);
	b[0] = 'x';
	assert_int_equal(witness_wire_decode(b, 18, &m, &err), PGW_EBADRESPONSE);
	assert_int_equal(witness_wire_decode(b, 0, &m, &err), PGW_EBADRESPONSE);
	/* the reply: 'r', write, flush, apply big-endian, our clock, no reply
	 * requested */
	witness_wire_reply(&p, 946684800LL * 1000000 + 7, r);
	assert_int_equal(r[0], 'r');
	assert_int_equal((unsigned char) r[1], 0x01);
	assert_int_equal((unsigned char) r[8], 0x08);
	assert_int_equal((unsigned char) r[9], 0x11);
	assert_int_equal((unsigned char) r[24], 0x21);
	assert_int_equal((unsigned char) r[32], 7); /* 7 µs after 2000-01-01 */
	assert_int_equal(r[33], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lease_rule), cmocka_unit_test(test_compose),
	    cmocka_unit_test(test_decompose),  cmocka_unit_test(test_gate),
	    cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
