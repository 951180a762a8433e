/*
 * pgwtime.h: the two clocks. Monotonic time (`*_mono_ms`) measures intervals
 * and deadlines (fencing); wall time (`*_wall_ms`) only ever labels events for
 * humans and for Patroni-compatible timestamps. They never mix.
 */
#ifndef PGW_COMMON_PGWTIME_H
#define PGW_COMMON_PGWTIME_H

#include <stddef.h>
#include <stdint.h>

int64_t pgw_now_mono_ms(void);
int64_t pgw_now_mono_us(void);
int64_t pgw_now_wall_ms(void);

/* pgw_sleep_ms: sleep, resuming after signals until ms have passed. */
void pgw_sleep_ms(int64_t ms);

/*
 * pgw_format_wall_iso: ISO 8601 UTC with milliseconds and a zone,
 * "2026-11-23T10:01:02.123Z" (or "+00:00" when patroni_style is set, as
 * Patroni writes). buf should hold 40 bytes.
 */
void pgw_format_wall_iso(int64_t wall_ms, int patroni_style, char *buf,
                         size_t len);

/*
 * pgw_parse_wall_iso: parse an ISO 8601 timestamp that carries a zone
 * ("Z" or "+HH:MM" / "-HH:MM"); a timestamp without a zone is refused.
 * Returns 0 and sets *wall_ms, or PGW_EINVAL.
 */
int pgw_parse_wall_iso(const char *s, int64_t *wall_ms);

#endif
