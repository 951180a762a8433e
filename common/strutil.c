/*
 * strutil.c: bounded copies and strict parsers, see strutil.h.
 */
#include "common/strutil.h"

#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t
pgw_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0)
	{
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
pgw_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return PGW_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return PGW_EINVAL;
	*out = (int64_t) v;
	return 0;
}

int
pgw_parse_uint64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || !isdigit((unsigned char) *s))
		return PGW_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return PGW_EINVAL;
	*out = (uint64_t) v;
	return 0;
}

int
pgw_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1", "y", "t"};
	static const char *const no[] = {"false", "no", "off", "0", "n", "f"};

	if (s == NULL)
		return PGW_EINVAL;
	for (size_t i = 0; i < PGW_LENGTHOF(yes); i++)
	{
		if (strcasecmp(s, yes[i]) == 0)
		{
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0)
		{
			*out = false;
			return 0;
		}
	}
	return PGW_EINVAL;
}

int
pgw_parse_bytes(const char *s, uint64_t *out)
{
	static const struct
	{
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"kB", 1024},
	    {"KB", 1024},
	    {"KiB", 1024},
	    {"MB", 1024 * 1024},
	    {"MiB", 1024 * 1024},
	    {"GB", 1024ULL * 1024 * 1024},
	    {"GiB", 1024ULL * 1024 * 1024},
	    {"TB", 1024ULL * 1024 * 1024 * 1024},
	};
	char *end;
	unsigned long long v;

	if (s == NULL || !isdigit((unsigned char) *s))
		return PGW_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return PGW_EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < PGW_LENGTHOF(units); i++)
	{
		if (strcmp(end, units[i].unit) == 0)
		{
			if (v > UINT64_MAX / units[i].mult)
				return PGW_EINVAL;
			*out = (uint64_t) v * units[i].mult;
			return 0;
		}
	}
	return PGW_EINVAL;
}

int
pgw_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	double v;
	double mult;

	if (s == NULL || !(isdigit((unsigned char) *s) || *s == '.'))
		return PGW_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return PGW_EINVAL;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return PGW_EINVAL;
	if (v * mult > 9.0e15)
		return PGW_EINVAL;
	*out = (int64_t) llround(v * mult);
	return 0;
}
