/*
 * slot.c: the slot function of the shard map (notes R3 §1):
 * slot = hashint8extended(user_id, 0) & (slots - 1), computed here exactly
 * as PostgreSQL computes it, so a client, the router and a CHECK or a
 * publication row filter inside PostgreSQL always agree on a user's slot.
 *
 * The facts, from PostgreSQL's definition of the function (written here
 * from that definition, not copied): hashint8extended folds the 64-bit
 * value into 32 bits as lo ^ hi for a value >= 0 and lo ^ ~hi for a
 * negative one (so that an int8 equal to an int4 hashes like it), then
 * hashes those 4 bytes with Bob Jenkins' lookup3 (hash_bytes_uint32_extended):
 * a = b = c = 0x9e3779b9 + 4 + 3923095; a nonzero seed adds its halves to a
 * and b and mixes once; then a += key, lookup3's final() mixing, and the
 * result is (b << 32) | c. test_shard_slot_pg checks it against a real
 * PostgreSQL 15 on a million values.
 */
#include "shard/shard.h"

static inline uint32_t
rotl32(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

/* lookup3's mix(): reversible mixing of three words */
static inline void
jenkins_mix(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*a -= *c;
	*a ^= rotl32(*c, 4);
	*c += *b;
	*b -= *a;
	*b ^= rotl32(*a, 6);
	*a += *c;
	*c -= *b;
	*c ^= rotl32(*b, 8);
	*b += *a;
	*a -= *c;
	*a ^= rotl32(*c, 16);
	*c += *b;
	*b -= *a;
	*b ^= rotl32(*a, 19);
	*a += *c;
	*c -= *b;
	*c ^= rotl32(*b, 4);
	*b += *a;
}

/* lookup3's final(): the last mixing of three words into c (and b) */
static inline void
jenkins_final(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*c ^= *b;
	*c -= rotl32(*b, 14);
	*a ^= *c;
	*a -= rotl32(*c, 11);
	*b ^= *a;
	*b -= rotl32(*a, 25);
	*c ^= *b;
	*c -= rotl32(*b, 16);
	*a ^= *c;
	*a -= rotl32(*c, 4);
	*b ^= *a;
	*b -= rotl32(*a, 14);
	*c ^= *b;
	*c -= rotl32(*b, 24);
}

uint64_t
shard_hash_seeded(int64_t value, uint64_t seed)
{
	uint64_t u = (uint64_t) value;
	uint32_t lo = (uint32_t) u;
	uint32_t hi = (uint32_t) (u >> 32);
	uint32_t a, b, c;

	lo ^= value >= 0 ? hi : ~hi;
	a = b = c = 0x9e3779b9u + (uint32_t) sizeof(uint32_t) + 3923095u;
	if (seed != 0)
	{
		a += (uint32_t) (seed >> 32);
		b += (uint32_t) seed;
		jenkins_mix(&a, &b, &c);
	}
	a += lo;
	jenkins_final(&a, &b, &c);
	return ((uint64_t) b << 32) | c;
}

uint64_t
pgw_shard_hash(int64_t user_id)
{
	return shard_hash_seeded(user_id, 0);
}

bool
shard_slots_valid(int slots)
{
	return slots >= 1 && slots <= SHARD_SLOTS_MAX && (slots & (slots - 1)) == 0;
}

int
pgw_shard_slot(int64_t user_id, int slots)
{
	if (!shard_slots_valid(slots))
		return -1;
	return (int) (pgw_shard_hash(user_id) & (uint64_t) (slots - 1));
}
