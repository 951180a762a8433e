/*
 * promtext.h: the Prometheus text exposition format (version 0.0.4) as a
 * growing buffer, and a duration histogram safe to update from one thread
 * while another reads it. Used by the daemon's GET /metrics and by
 * pgwarden-router's exporter, so both escape label values and lay out
 * families the same way.
 */
#ifndef PGW_COMMON_PROMTEXT_H
#define PGW_COMMON_PROMTEXT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds (seconds) of the duration buckets, +Inf implied. From
 * 0.5 ms (an etcd round trip on loopback) to 10 s (a loop stuck in a
 * retry_timeout). */
#define PGW_HIST_BUCKETS 14
extern const double pgw_hist_bounds[PGW_HIST_BUCKETS];

/* Updated with pgw_hist_observe_us() from any thread (relaxed atomics);
 * zero-initialised is empty. */
typedef struct PgwHistogram
{
	_Atomic uint64_t bucket[PGW_HIST_BUCKETS + 1]; /* per bucket, not
													 * cumulative; last
													 * is +Inf */
	_Atomic uint64_t sum_us; /* sum of observations, microseconds */
} PgwHistogram;

/* A plain copy of a histogram, for rendering and tests. */
typedef struct PgwHistogramValue
{
	uint64_t bucket[PGW_HIST_BUCKETS + 1]; /* not cumulative */
	uint64_t sum_us;
} PgwHistogramValue;

/* pgw_hist_observe_us: count one duration (negative counts as 0). */
void pgw_hist_observe_us(PgwHistogram *h, int64_t us);

/* pgw_hist_read: copy h (each counter read atomically; the copy's count
 * is the sum of its buckets, so it is always consistent with them). */
void pgw_hist_read(const PgwHistogram *h, PgwHistogramValue *out);

/* pgw_hist_count: observations in a copy. */
uint64_t pgw_hist_count(const PgwHistogramValue *v);

typedef struct PromText
{
	char *buf;
	size_t len;
	size_t cap;
	const char *base[8]; /* label pairs put first on every sample */
	int n_base;          /* number of strings in base (pairs * 2) */
} PromText;

/* prom_init: an empty text; prom_take hands over the NUL-terminated text
 * (caller frees) and leaves t empty. */
void prom_init(PromText *t);
char *prom_take(PromText *t);

/* prom_set_base: label pairs (key, value, key, value, ..., NULL) put first
 * on every following sample; at most 4 pairs; the strings are borrowed
 * until the next call. */
void prom_set_base(PromText *t, ...) __attribute__((sentinel));

/* prom_family: the "# HELP" and "# TYPE" lines of a metric family; type is
 * "gauge", "counter" or "histogram". help is one line of plain text. */
void prom_family(PromText *t, const char *name, const char *type,
                 const char *help);

/*
 * prom_f / prom_u / prom_i: one sample of name with the base labels, then
 * the extra label pairs given (key, value, ..., NULL). Values are escaped
 * (backslash, double quote, newline). prom_f prints NaN and +Inf as
 * Prometheus spells them.
 */
void prom_f(PromText *t, const char *name, double v, ...)
    __attribute__((sentinel));
void prom_u(PromText *t, const char *name, uint64_t v, ...)
    __attribute__((sentinel));
void prom_i(PromText *t, const char *name, int64_t v, ...)
    __attribute__((sentinel));

/* prom_hist: name_bucket{...,le="..."} (cumulative), name_sum (seconds),
 * name_count, with the base labels and the extra pairs given. */
void prom_hist(PromText *t, const char *name, const PgwHistogramValue *v, ...)
    __attribute__((sentinel));

#endif
