/*
 * pgwtime.c: clocks and ISO 8601 timestamps, see pgwtime.h.
 */
#include "common/pgwtime.h"

#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
pgw_now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
pgw_now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
pgw_now_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
pgw_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
pgw_format_wall_iso(int64_t wall_ms, int patroni_style, char *buf, size_t len)
{
	/*
	 * Floor, not truncation: before 1970 (a parsed year such as 0060) the
	 * milliseconds printed ".-878", and %Y printed "60", neither of which
	 * pgw_parse_wall_iso reads back (found by fuzz_routing).
	 */
	int64_t ms = wall_ms % 1000;
	time_t secs = (time_t) (wall_ms / 1000);
	struct tm tm;

	if (ms < 0)
	{
		ms += 1000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int) ms, patroni_style ? "+00:00" : "Z");
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int
pgw_parse_wall_iso(const char *s, int64_t *wall_ms)
{
	int year, mon, day, hour, min, sec;
	int64_t frac_ms = 0;
	int off_sign = 0, off_h = 0, off_m = 0;
	const char *p = s;
	struct tm tm;

	if (s == NULL)
		return PGW_EINVAL;
	if (digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) ||
	    *p++ != '-' || digits(&p, 2, &day) || (*p != 'T' && *p != ' '))
		return PGW_EINVAL;
	p++;
	if (digits(&p, 2, &hour) || *p++ != ':' || digits(&p, 2, &min))
		return PGW_EINVAL;
	sec = 0;
	if (*p == ':')
	{
		p++;
		if (digits(&p, 2, &sec))
			return PGW_EINVAL;
		if (*p == '.')
		{
			int scale = 100;

			p++;
			if (!isdigit((unsigned char) *p))
				return PGW_EINVAL;
			while (isdigit((unsigned char) *p))
			{
				frac_ms += (*p - '0') * scale;
				scale /= 10;
				p++;
			}
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		off_sign = (*p == '+') ? 1 : -1;
		p++;
		if (digits(&p, 2, &off_h))
			return PGW_EINVAL;
		if (*p == ':')
			p++;
		if (digits(&p, 2, &off_m))
			return PGW_EINVAL;
	}
	else
		return PGW_EINVAL; /* a time without a zone is ambiguous */
	if (*p != '\0')
		return PGW_EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
	    sec > 60 || off_h > 23 || off_m > 59)
		return PGW_EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*wall_ms = (int64_t) timegm(&tm) * 1000 + frac_ms -
	           (int64_t) off_sign * (off_h * 3600 + off_m * 60) * 1000;
	return 0;
}
