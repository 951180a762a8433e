/*
 * fuzz_dcs_values.c: libFuzzer target for every DCS value decoder. The first
 * byte picks the decoder (member, config, failover, sync, history); the rest
 * is the value as read from etcd. A decoded value is re-encoded and decoded
 * again, which must succeed (our own output is always valid).
 */
#include "consensus/consensus.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_again(char *json, int (*fn)(const char *, size_t, void *), void *scratch)
{
	if (json == NULL)
		abort();
	if (fn(json, strlen(json), scratch) != 0)
		abort();
	free(json);
}

static int
redo_config(const char *j, size_t n, void *s)
{
	return dcs_config_decode(j, n, s, NULL);
}

static int
redo_failover(const char *j, size_t n, void *s)
{
	return dcs_failover_decode(j, n, s, NULL);
}

static int
redo_sync(const char *j, size_t n, void *s)
{
	return dcs_sync_decode(j, n, s, NULL);
}

static int
redo_member(const char *j, size_t n, void *s)
{
	return dcs_member_decode("fuzz", j, n, s, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static MemberInfo m;
	static DynamicConfig cfg;
	static FailoverRequest f;
	static SyncState s;
	static union
	{
		MemberInfo m;
		DynamicConfig c;
		FailoverRequest f;
		SyncState s;
	} scratch;
	const char *json;
	size_t len;
	PgwError e = {0};
	HistoryEntry *h = NULL;
	int n = 0;

	if (size < 1)
		return 0;
	json = (const char *) data + 1;
	len = size - 1;
	switch (data[0] % 5)
	{
		case 0:
			if (dcs_member_decode("fuzz", json, len, &m, &e) == 0)
				check_again(dcs_member_encode(&m), redo_member, &scratch.m);
			break;
		case 1:
			if (dcs_config_decode(json, len, &cfg, &e) == 0)
			{
				if (dcs_config_validate(&cfg, &e) != 0)
					abort();
				check_again(dcs_config_encode(&cfg), redo_config, &scratch.c);
			}
			break;
		case 2:
			if (dcs_failover_decode(json, len, &f, &e) == 0)
				check_again(dcs_failover_encode(&f), redo_failover, &scratch.f);
			break;
		case 3:
			if (dcs_sync_decode(json, len, &s, &e) == 0)
				check_again(dcs_sync_encode(&s), redo_sync, &scratch.s);
			break;
		case 4:
			if (dcs_history_decode(json, len, &h, &n, &e) == 0)
			{
				char *enc = dcs_history_encode(h, n);
				HistoryEntry *h2 = NULL;
				int n2 = 0;

				if (enc == NULL ||
				    dcs_history_decode(enc, strlen(enc), &h2, &n2, NULL) != 0 ||
				    n2 != n)
					abort();
				free(enc);
				free(h2);
			}
			free(h);
			{
				/* the same bytes as a `failsafe` value */
				FailsafeSet *fs = calloc(1, sizeof(*fs));

				if (fs != NULL && dcs_failsafe_decode(json, len, fs, NULL) == 0)
				{
					if (fs->n < 0 || fs->n > PGW_MEMBERS_MAX)
						abort();
					for (int i = 0; i < fs->n; i++)
						if (fs->name[i][0] == '\0' ||
						    !dcs_failsafe_has(fs, fs->name[i]))
							abort();
				}
				free(fs);
			}
			break;
	}
	return 0;
}
