/*
 * promtext.c: Prometheus text exposition (see promtext.h). Label values come
 * from outside (member names, PgBouncer database names, rule names): they
 * are escaped here, once, so no caller can emit a line Prometheus rejects.
 */
#include "common/promtext.h"

#include "common/xmem.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_EXTRA_MAX 16 /* strings: 8 extra label pairs */

const double pgw_hist_bounds[PGW_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10,
};

void
pgw_hist_observe_us(PgwHistogram *h, int64_t us)
{
	int i;

	if (us < 0)
		us = 0;
	for (i = 0; i < PGW_HIST_BUCKETS; i++)
		if ((double) us <= pgw_hist_bounds[i] * 1e6)
			break;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t) us, memory_order_relaxed);
}

void
pgw_hist_read(const PgwHistogram *h, PgwHistogramValue *out)
{
	for (int i = 0; i <= PGW_HIST_BUCKETS; i++)
		out->bucket[i] =
		    atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

uint64_t
pgw_hist_count(const PgwHistogramValue *v)
{
	uint64_t n = 0;

	for (int i = 0; i <= PGW_HIST_BUCKETS; i++)
		n += v->bucket[i];
	return n;
}

void
prom_init(PromText *t)
{
	memset(t, 0, sizeof(*t));
	t->cap = 4096;
	t->buf = pgw_xmalloc(t->cap);
	t->buf[0] = '\0';
}

char *
prom_take(PromText *t)
{
	char *s = t->buf;

	memset(t, 0, sizeof(*t));
	return s;
}

static void
put(PromText *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap)
	{
		while (t->len + n + 1 > t->cap)
			t->cap *= 2;
		t->buf = pgw_xrealloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void
puts_(PromText *t, const char *s)
{
	put(t, s, strlen(s));
}

/* a label value: backslash, double quote and newline escaped */
static void
put_escaped(PromText *t, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++)
	{
		if (*p == '\\')
			puts_(t, "\\\\");
		else if (*p == '"')
			puts_(t, "\\\"");
		else if (*p == '\n')
			puts_(t, "\\n");
		else
			put(t, p, 1);
	}
}

void
prom_set_base(PromText *t, ...)
{
	va_list ap;
	const char *s;

	t->n_base = 0;
	va_start(ap, t);
	while ((s = va_arg(ap, const char *)) != NULL &&
	       t->n_base < (int) (sizeof(t->base) / sizeof(t->base[0])))
		t->base[t->n_base++] = s;
	va_end(ap);
	t->n_base &= ~1;
}

void
prom_family(PromText *t, const char *name, const char *type, const char *help)
{
	puts_(t, "# HELP ");
	puts_(t, name);
	put(t, " ", 1);
	/* HELP escapes backslash and newline only */
	for (const char *p = help; *p; p++)
	{
		if (*p == '\\')
			puts_(t, "\\\\");
		else if (*p == '\n')
			puts_(t, "\\n");
		else
			put(t, p, 1);
	}
	puts_(t, "\n# TYPE ");
	puts_(t, name);
	put(t, " ", 1);
	puts_(t, type);
	put(t, "\n", 1);
}

/* name{base...,extra...} followed by a space */
static void
put_head(PromText *t, const char *name, const char *suffix,
         const char *const *extra, int n_extra)
{
	int n = 0;

	puts_(t, name);
	if (suffix)
		puts_(t, suffix);
	if (t->n_base + n_extra > 0)
	{
		put(t, "{", 1);
		for (int i = 0; i + 1 < t->n_base; i += 2, n++)
		{
			if (n)
				put(t, ",", 1);
			puts_(t, t->base[i]);
			puts_(t, "=\"");
			put_escaped(t, t->base[i + 1]);
			put(t, "\"", 1);
		}
		for (int i = 0; i + 1 < n_extra; i += 2, n++)
		{
			if (n)
				put(t, ",", 1);
			puts_(t, extra[i]);
			puts_(t, "=\"");
			put_escaped(t, extra[i + 1]);
			put(t, "\"", 1);
		}
		put(t, "}", 1);
	}
	put(t, " ", 1);
}

static int
collect(va_list ap, const char **extra)
{
	int n = 0;
	const char *s;

	while ((s = va_arg(ap, const char *)) != NULL && n < PROM_EXTRA_MAX)
		extra[n++] = s;
	return n & ~1;
}

static void
put_double(PromText *t, double v)
{
	char num[64];

	if (isnan(v))
		snprintf(num, sizeof(num), "NaN");
	else if (isinf(v))
		snprintf(num, sizeof(num), v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(num, sizeof(num), "%.15g", v);
	puts_(t, num);
}

void
prom_f(PromText *t, const char *name, double v, ...)
{
	const char *extra[PROM_EXTRA_MAX];
	va_list ap;
	int n;

	va_start(ap, v);
	n = collect(ap, extra);
	va_end(ap);
	put_head(t, name, NULL, extra, n);
	put_double(t, v);
	put(t, "\n", 1);
}

void
prom_u(PromText *t, const char *name, uint64_t v, ...)
{
	const char *extra[PROM_EXTRA_MAX];
	char num[32];
	va_list ap;
	int n;

	va_start(ap, v);
	n = collect(ap, extra);
	va_end(ap);
	put_head(t, name, NULL, extra, n);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", v);
	puts_(t, num);
}

void
prom_i(PromText *t, const char *name, int64_t v, ...)
{
	const char *extra[PROM_EXTRA_MAX];
	char num[32];
	va_list ap;
	int n;

	va_start(ap, v);
	n = collect(ap, extra);
	va_end(ap);
	put_head(t, name, NULL, extra, n);
	snprintf(num, sizeof(num), "%" PRId64 "\n", v);
	puts_(t, num);
}

void
prom_hist(PromText *t, const char *name, const PgwHistogramValue *v, ...)
{
	const char *extra[PROM_EXTRA_MAX + 2];
	char num[64];
	char le[32];
	uint64_t cum = 0;
	va_list ap;
	int n;

	va_start(ap, v);
	n = collect(ap, extra);
	va_end(ap);
	extra[n] = "le";
	extra[n + 1] = le;
	for (int i = 0; i <= PGW_HIST_BUCKETS; i++)
	{
		cum += v->bucket[i];
		if (i < PGW_HIST_BUCKETS)
			snprintf(le, sizeof(le), "%g", pgw_hist_bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_head(t, name, "_bucket", extra, n + 2);
		snprintf(num, sizeof(num), "%" PRIu64 "\n", cum);
		puts_(t, num);
	}
	put_head(t, name, "_sum", extra, n);
	put_double(t, (double) v->sum_us / 1e6);
	put(t, "\n", 1);
	put_head(t, name, "_count", extra, n);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", cum);
	puts_(t, num);
}
