/*
 * cron.h: five-field cron expressions ("minute hour day-of-month month
 * day-of-week"), evaluated in UTC. A leaf utility shared by config/ (which
 * refuses a schedule that does not parse, naming the line) and backup/
 * (which fires scheduled backups). Pure: no clock reads, no allocation.
 *
 * Each field is "*", a number, a range "a-b", a step "*" "/n" or "a-b/n",
 * or a comma-separated list of those. Day of week is 0-7 (0 and 7 are
 * Sunday). As in Vixie cron, when both day fields are restricted a day
 * matches if either does.
 */
#ifndef PGW_COMMON_CRON_H
#define PGW_COMMON_CRON_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct PgwCron
{
	uint64_t minutes;   /* bit m: minute m (0..59) */
	uint32_t hours;     /* bit h: hour h (0..23) */
	uint32_t days;      /* bit d: day of month d (1..31) */
	uint16_t months;    /* bit m: month m (1..12) */
	uint8_t weekdays;   /* bit w: weekday w (0..6, 0 = Sunday) */
	bool days_star;     /* day of month was "*" */
	bool weekdays_star; /* day of week was "*" */
} PgwCron;

/*
 * pgw_cron_parse: parse the five fields of s (blank-separated). Returns 0,
 * or PGW_EINVAL with a message naming the field and the value ("day of
 * week \"9\": expected 0..7").
 */
int pgw_cron_parse(const char *s, PgwCron *out, PgwError *err) PGW_MUSTCHECK;

/* pgw_cron_matches: the UTC minute holding wall_ms matches c. */
bool pgw_cron_matches(const PgwCron *c, int64_t wall_ms);

/*
 * pgw_cron_next: the start (wall ms, whole minute) of the first matching
 * minute strictly after after_wall_ms; -1 when none comes within about
 * five years (e.g. "0 0 31 2 *").
 */
int64_t pgw_cron_next(const PgwCron *c, int64_t after_wall_ms);

/*
 * pgw_cron_last_due: the start of the latest matching minute in
 * (since_wall_ms, now_wall_ms], or -1 when none: what a scheduler that
 * last looked at since_wall_ms must fire now (once, however many it
 * missed).
 */
int64_t pgw_cron_last_due(const PgwCron *c, int64_t since_wall_ms,
                          int64_t now_wall_ms);

#endif
