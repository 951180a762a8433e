/*
 * fuzz_witness_input.c: libFuzzer target for the lease witness's outside
 * input (witness/witness.h): the server's replication messages
 * (witness_wire_decode) and a synchronous_standby_names value
 * (witness_ssn_compose, witness_ssn_decompose). Whatever the bytes: no
 * crash, an error always has a message, a composed value decomposes to a
 * value that names no witness, and lengths stay inside the message.
 */
#include "witness/witness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	WitnessMsg m;
	PgwError e = {0};
	char *s;
	char ssn[1024];
	char base[1024];
	WitnessGate g;
	bool named, unknown;

	if (witness_wire_decode((const char *) data, size, &m, &e) != 0)
	{
		if (e.msg[0] == '\0')
			abort();
	}
	else if (m.kind == WITNESS_MSG_XLOGDATA && m.data_len > size)
		abort();
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&e, 0, sizeof(e));
	if (witness_ssn_compose(s, WITNESS_APP_NAME, ssn, sizeof(ssn), &g, &e) != 0)
	{
		if (e.msg[0] == '\0')
			abort();
	}
	else
	{
		if (g.k < 0 || g.k > WITNESS_GATE_NAMES_MAX ||
		    g.n_names > WITNESS_GATE_NAMES_MAX)
			abort();
		/* ours decomposes: it names the witness */
		if (witness_ssn_decompose(ssn, WITNESS_APP_NAME, base, sizeof(base),
		                          &named, &unknown) != 0 ||
		    !named)
			abort();
	}
	(void) !witness_ssn_decompose(s, WITNESS_APP_NAME, base, sizeof(base),
	                              &named, &unknown);
	free(s);
	return 0;
}
