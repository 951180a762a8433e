/*
 * lsn.c: WAL positions (XLogRecPtr) in PostgreSQL's "X/Y" text form and lag
 * arithmetic, used by the probe and by failover ranking (DESIGN.md promise 3).
 */
#include "health/health.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int
parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return PGW_EINVAL;
	for (size_t i = 0; i < n; i++)
	{
		int c = (unsigned char) s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return PGW_EINVAL;
		v = (v << 4) | (uint32_t) d;
	}
	*out = v;
	return 0;
}

int
health_lsn_parse(const char *s, PgLsn *out)
{
	const char *slash;
	uint32_t hi;
	uint32_t lo;

	if (s == NULL || out == NULL)
		return PGW_EINVAL;
	slash = strchr(s, '/');
	if (slash == NULL)
		return PGW_EINVAL;
	if (parse_hex32(s, (size_t) (slash - s), &hi) != 0 ||
	    parse_hex32(slash + 1, strlen(slash + 1), &lo) != 0)
		return PGW_EINVAL;
	*out = ((uint64_t) hi << 32) | lo;
	return 0;
}

const char *
health_lsn_format(PgLsn lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (uint32_t) (lsn >> 32), (uint32_t) lsn);
	return buf;
}

uint64_t
health_lsn_lag_bytes(PgLsn ahead, PgLsn behind)
{
	if (ahead == HEALTH_LSN_INVALID || behind == HEALTH_LSN_INVALID)
		return UINT64_MAX;
	return ahead > behind ? ahead - behind : 0;
}
