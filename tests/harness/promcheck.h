/*
 * promcheck.h: a strict reader of the Prometheus text format for tests: every
 * sample belongs to a family declared before it with "# HELP" and "# TYPE",
 * no family is declared twice, label sets are well formed, values parse,
 * and a histogram has cumulative buckets ending in le="+Inf" that equal its
 * _count. Used on what the daemon and the router render (issue 20: "every
 * metric on /metrics has # HELP and # TYPE").
 */
#ifndef PGW_TESTS_HARNESS_PROMCHECK_H
#define PGW_TESTS_HARNESS_PROMCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* promcheck_text: 0 when text is well formed; -1 with the first problem
 * (and its line number) in why. */
int promcheck_text(const char *text, char *why, size_t why_len);

/* promcheck_value: the value of the first sample whose "name{labels}" head
 * starts with head (e.g. "pgwarden_primary{scope=\"demo\""); false if
 * there is none. */
bool promcheck_value(const char *text, const char *head, double *out);

#endif
