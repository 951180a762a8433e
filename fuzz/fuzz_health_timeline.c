/*
 * fuzz_health_timeline.c: libFuzzer target for health_timeline_judge()
 * (health/diverge.c), whose history text comes from the leader's
 * walsender (TIMELINE_HISTORY): outside input. Bytes 0 and 1 are the
 * leader's and our timeline (1..8, so that the history's entries can name
 * them), bytes 2..9 our replay position (big-endian), the rest the history
 * file. Whatever is accepted must hold: the verdict matches the rules
 * (same timeline: never diverged; newer than the leader's: always; else
 * diverged exactly when past a switch point found, or none found), and a
 * rejection names an error.
 */
#include "health/health.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HealthTimelineCheck tc;
	PgwError err = {0};
	uint32_t leader_tli;
	uint32_t local_tli;
	PgLsn lsn = 0;
	char *history;
	int rc;

	if (size < 10)
		return 0;
	leader_tli = 1 + data[0] % 8;
	local_tli = 1 + data[1] % 8;
	for (int i = 2; i < 10; i++)
		lsn = (lsn << 8) | data[i];
	history = malloc(size - 10 + 1);
	if (history == NULL)
		return 0;
	memcpy(history, data + 10, size - 10);
	history[size - 10] = '\0';
	rc = health_timeline_judge(history, leader_tli, local_tli, lsn, &tc, &err);
	if (rc != 0)
	{
		if (err.code != rc || err.msg[0] == '\0' || tc.diverged)
			abort();
	}
	else if (local_tli == leader_tli  ? tc.diverged
	         : local_tli > leader_tli ? !tc.diverged
	         : tc.switchpoint != 0    ? tc.diverged != (lsn > tc.switchpoint)
	                                  : !tc.diverged)
		abort();
	free(history);
	return 0;
}
