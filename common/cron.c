/*
 * cron.c: five-field cron expressions in UTC (cron.h). Parsed whole or
 * refused with the field and the value named; evaluated by skipping whole
 * months, days and hours that cannot match, so a search over years stays
 * a few thousand steps.
 */
#include "common/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CRON_FIELD_MAX  128
#define MINUTE_MS       INT64_C(60000)
#define SEARCH_LIMIT_MS (INT64_C(5) * 366 * 24 * 3600 * 1000)

typedef struct FieldDef
{
	const char *name;
	int lo;
	int hi;
} FieldDef;

static const FieldDef fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

/* read a decimal number of at most 4 digits at *p */
static bool
read_num(const char **p, int *out)
{
	int v = 0;
	int n = 0;

	while (isdigit((unsigned char) **p) && n < 4)
	{
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0 || isdigit((unsigned char) **p))
		return false;
	*out = v;
	return true;
}

/* parse_item: one list item ("*", "n", "a-b", "*" "/s", "a-b/s") */
static int
parse_item(const char *item, const FieldDef *f, uint64_t *bits,
           const char *whole, PgwError *err)
{
	const char *p = item;
	int a = f->lo;
	int b = f->hi;
	int step = 1;

	if (*p == '*')
		p++;
	else
	{
		if (!read_num(&p, &a))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%s \"%s\": expected a number, a range a-b, \"*\" or a step /n",
			    f->name, whole);
		b = a;
		if (*p == '-')
		{
			p++;
			if (!read_num(&p, &b))
				return pgw_error_set(err, PGW_EINVAL,
				                     "%s \"%s\": expected a number after \"-\"",
				                     f->name, whole);
		}
	}
	if (*p == '/')
	{
		p++;
		if (!read_num(&p, &step) || step < 1)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%s \"%s\": expected a step of at least 1 after \"/\"", f->name,
			    whole);
		/* "5/15" means 5-max/15, as in Vixie cron */
		if (item[0] != '*' && strchr(item, '-') == NULL)
			b = f->hi;
	}
	if (*p != '\0')
		return pgw_error_set(err, PGW_EINVAL, "%s \"%s\": unexpected \"%s\"",
		                     f->name, whole, p);
	if (a < f->lo || a > f->hi || b < f->lo || b > f->hi)
		return pgw_error_set(err, PGW_EINVAL, "%s \"%s\": expected %d..%d",
		                     f->name, whole, f->lo, f->hi);
	if (a > b)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s \"%s\": range start %d is after its end %d",
		                     f->name, whole, a, b);
	for (int v = a; v <= b; v += step)
		*bits |= UINT64_C(1) << v;
	return 0;
}

static int
parse_field(const char *text, const FieldDef *f, uint64_t *bits, bool *star,
            PgwError *err)
{
	char item[CRON_FIELD_MAX];
	const char *p = text;

	*bits = 0;
	*star = strcmp(text, "*") == 0;
	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t) (comma - p) : strlen(p);

		if (n == 0 || n >= sizeof(item))
			return pgw_error_set(err, PGW_EINVAL,
			                     "%s \"%s\": empty or overlong list item",
			                     f->name, text);
		memcpy(item, p, n);
		item[n] = '\0';
		if (parse_item(item, f, bits, text, err) != 0)
			return PGW_EINVAL;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

int
pgw_cron_parse(const char *s, PgwCron *out, PgwError *err)
{
	char field[5][CRON_FIELD_MAX];
	uint64_t bits[5];
	bool star[5];
	const char *p = s;
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return pgw_error_set(err, PGW_EINVAL, "empty schedule");
	for (;;)
	{
		size_t len = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == 5)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "schedule \"%s\": more than 5 fields (minute hour day-of-month month day-of-week)",
			    s);
		while (p[len] != '\0' && p[len] != ' ' && p[len] != '\t')
			len++;
		if (len >= CRON_FIELD_MAX)
			return pgw_error_set(err, PGW_EINVAL,
			                     "schedule \"%s\": field %d is too long", s,
			                     n + 1);
		memcpy(field[n], p, len);
		field[n][len] = '\0';
		p += len;
		n++;
	}
	if (n != 5)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "schedule \"%s\": expected 5 fields (minute hour day-of-month month day-of-week), got %d",
		    s, n);
	for (int i = 0; i < 5; i++)
		if (parse_field(field[i], &fields[i], &bits[i], &star[i], err) != 0)
			return PGW_EINVAL;
	out->minutes = bits[0];
	out->hours = (uint32_t) bits[1];
	out->days = (uint32_t) bits[2];
	out->months = (uint16_t) bits[3];
	/* 7 is Sunday too */
	out->weekdays = (uint8_t) ((bits[4] & 0x7f) | ((bits[4] >> 7) & 1));
	out->days_star = star[2];
	out->weekdays_star = star[4];
	return 0;
}

static bool
day_matches(const PgwCron *c, const struct tm *tm)
{
	bool dom = (c->days >> tm->tm_mday) & 1;
	bool dow = (c->weekdays >> tm->tm_wday) & 1;

	if (c->days_star || c->weekdays_star)
		return dom && dow;
	return dom || dow;
}

static bool
to_tm(int64_t wall_ms, struct tm *tm)
{
	time_t t = (time_t) (wall_ms / 1000);

	return gmtime_r(&t, tm) != NULL;
}

bool
pgw_cron_matches(const PgwCron *c, int64_t wall_ms)
{
	struct tm tm;

	if (wall_ms < 0 || !to_tm(wall_ms, &tm))
		return false;
	return ((c->months >> (tm.tm_mon + 1)) & 1) && day_matches(c, &tm) &&
	       ((c->hours >> tm.tm_hour) & 1) && ((c->minutes >> tm.tm_min) & 1);
}

int64_t
pgw_cron_next(const PgwCron *c, int64_t after_wall_ms)
{
	int64_t t;
	int64_t limit;
	struct tm tm;

	if (after_wall_ms < 0)
		after_wall_ms = 0;
	t = (after_wall_ms / MINUTE_MS + 1) * MINUTE_MS;
	limit = t + SEARCH_LIMIT_MS;
	while (t < limit)
	{
		if (!to_tm(t, &tm))
			return -1;
		if (!((c->months >> (tm.tm_mon + 1)) & 1))
		{
			/* the first minute of the next month */
			tm.tm_mon += 1;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = (int64_t) timegm(&tm) * 1000;
			continue;
		}
		if (!day_matches(c, &tm))
		{
			tm.tm_mday += 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = (int64_t) timegm(&tm) * 1000;
			continue;
		}
		if (!((c->hours >> tm.tm_hour) & 1))
		{
			tm.tm_hour += 1;
			tm.tm_min = tm.tm_sec = 0;
			t = (int64_t) timegm(&tm) * 1000;
			continue;
		}
		if (!((c->minutes >> tm.tm_min) & 1))
		{
			t += MINUTE_MS;
			continue;
		}
		return t;
	}
	return -1;
}

int64_t
pgw_cron_last_due(const PgwCron *c, int64_t since_wall_ms, int64_t now_wall_ms)
{
	int64_t t;
	int64_t best = -1;

	if (now_wall_ms <= since_wall_ms)
		return -1;
	/* a scheduler that missed more than a week fires once for it all */
	if (now_wall_ms - since_wall_ms > 8 * 24 * 3600 * INT64_C(1000))
		since_wall_ms = now_wall_ms - 8 * 24 * 3600 * INT64_C(1000);
	t = pgw_cron_next(c, since_wall_ms);
	/* forward from since: the last match not after now */
	while (t >= 0 && t <= now_wall_ms)
	{
		best = t;
		t = pgw_cron_next(c, t);
	}
	return best;
}
