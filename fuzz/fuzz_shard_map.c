/*
 * fuzz_shard_map.c: libFuzzer target for the shard map and move record
 * decoders (shard.h), values read from etcd that anyone with write access
 * could have written. The first byte picks one: even, the `shards` value
 * (a decoded map must validate, find every slot in exactly the range that
 * holds it, and survive an encode/decode round trip unchanged); odd, a move
 * record (round trip).
 */
#include "shard/shard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_map(const ShardMap *m)
{
	ShardMap *m2 = calloc(1, sizeof(*m2));
	char *json;

	if (m2 == NULL || shard_map_validate(m, NULL) != 0)
		abort();
	for (int s = 0; s < m->slots; s += 1 + s / 7)
	{
		int i = shard_map_find(m, s);

		if (i < 0 || m->ranges[i].from > s || m->ranges[i].to < s)
			abort();
	}
	json = shard_map_encode(m);
	if (shard_map_decode(json, strlen(json), m2, NULL) != 0 ||
	    m2->version != m->version || m2->slots != m->slots ||
	    m2->n_ranges != m->n_ranges || m2->n_tables != m->n_tables ||
	    memcmp(m2->ranges, m->ranges,
	           sizeof(ShardRange) * (size_t) m->n_ranges) != 0)
		abort();
	free(json);
	free(m2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (s == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 2 == 0)
	{
		ShardMap *m = calloc(1, sizeof(*m));

		if (m == NULL)
			abort();
		if (shard_map_decode(s, size - 1, m, NULL) == 0)
			check_map(m);
		free(m);
	}
	else
	{
		ShardMove mv;
		ShardMove mv2;

		if (shard_move_decode(s, size - 1, &mv, NULL) == 0)
		{
			char *json = shard_move_encode(&mv);

			if (shard_move_decode(json, strlen(json), &mv2, NULL) != 0 ||
			    strcmp(mv.id, mv2.id) != 0 || mv.phase != mv2.phase ||
			    mv.freeze_lsn != mv2.freeze_lsn || mv.from != mv2.from)
				abort();
			free(json);
		}
	}
	free(s);
	return 0;
}
