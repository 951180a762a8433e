/*
 * strutil.h: bounded string copies and strict number parsing (no atoi: every
 * parse checks the end pointer and the range, STYLE.md "Build and CI").
 */
#ifndef PGW_COMMON_STRUTIL_H
#define PGW_COMMON_STRUTIL_H

#include "common/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pgw_strlcpy: copy with truncation; returns strlen(src) (BSD semantics). */
size_t pgw_strlcpy(char *dst, const char *src, size_t size);

/* pgw_parse_int64: whole string, base 10, within [min, max]; 0 or PGW_EINVAL. */
int pgw_parse_int64(const char *s, int64_t min, int64_t max,
                    int64_t *out) PGW_MUSTCHECK;
int pgw_parse_uint64(const char *s, uint64_t *out) PGW_MUSTCHECK;

/* pgw_parse_bool: true/false/yes/no/on/off/1/0 (case-insensitive). */
int pgw_parse_bool(const char *s, bool *out) PGW_MUSTCHECK;

/*
 * pgw_parse_bytes: "1048576", "16kB", "10MB", "1GB" (PostgreSQL units, also
 * accepting "KiB"/"MiB"/"GiB"). Returns 0 or PGW_EINVAL.
 */
int pgw_parse_bytes(const char *s, uint64_t *out) PGW_MUSTCHECK;

/*
 * pgw_parse_duration_ms: "1500ms", "1.5s", "3s", "2m", or a bare number of
 * seconds ("10", "0.5"). Returns 0 or PGW_EINVAL.
 */
int pgw_parse_duration_ms(const char *s, int64_t *out) PGW_MUSTCHECK;

#endif
