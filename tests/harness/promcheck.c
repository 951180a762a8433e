/*
 * promcheck.c: see promcheck.h. Written for clarity, not speed: a few
 * hundred samples per check.
 */
#include "tests/harness/promcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX 4096

typedef struct Family
{
	char name[128];
	char type[16];
	bool has_help;
	bool has_type;
	bool has_samples;
} Family;

typedef struct Hist
{
	char key[512]; /* family + labels without le */
	double last;   /* last cumulative bucket */
	double inf;    /* the +Inf bucket, -1 until seen */
} Hist;

typedef struct Check
{
	Family fam[PC_MAX];
	int n_fam;
	char (*seen)[640];
	int n_seen;
	Hist hist[PC_MAX / 4];
	int n_hist;
	char *why;
	size_t why_len;
	int line;
} Check;

static int
fail(Check *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->why, c->why_len, "line %d: ", c->line);

	va_start(ap, fmt);
	if (n > 0 && (size_t) n < c->why_len)
		vsnprintf(c->why + n, c->why_len - (size_t) n, fmt, ap);
	va_end(ap);
	return -1;
}

static Family *
family(Check *c, const char *name, bool create)
{
	for (int i = 0; i < c->n_fam; i++)
		if (strcmp(c->fam[i].name, name) == 0)
			return &c->fam[i];
	if (!create || c->n_fam >= PC_MAX)
		return NULL;
	memset(&c->fam[c->n_fam], 0, sizeof(Family));
	snprintf(c->fam[c->n_fam].name, sizeof(c->fam[0].name), "%s", name);
	return &c->fam[c->n_fam++];
}

static bool
is_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       ch == ':' || (!first && ch >= '0' && ch <= '9');
}

static bool
ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s);
	size_t b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int
meta_line(Check *c, const char *p)
{
	char kind[8];
	char name[128];
	int off = 0;
	Family *f;

	if (sscanf(p, "# %7s %127s %n", kind, name, &off) < 2)
		return 0; /* a plain comment */
	if (strcmp(kind, "HELP") != 0 && strcmp(kind, "TYPE") != 0)
		return 0;
	f = family(c, name, true);
	if (f == NULL)
		return fail(c, "too many families");
	if (f->has_samples)
		return fail(c, "%s of \"%s\" after its samples", kind, name);
	if (strcmp(kind, "HELP") == 0)
	{
		if (f->has_help)
			return fail(c, "second HELP of \"%s\"", name);
		if (p[off] == '\0')
			return fail(c, "empty HELP of \"%s\"", name);
		f->has_help = true;
		return 0;
	}
	if (f->has_type)
		return fail(c, "second TYPE of \"%s\"", name);
	if (strcmp(p + off, "gauge") != 0 && strcmp(p + off, "counter") != 0 &&
	    strcmp(p + off, "histogram") != 0 && strcmp(p + off, "summary") != 0 &&
	    strcmp(p + off, "untyped") != 0)
		return fail(c, "unknown TYPE \"%s\" of \"%s\"", p + off, name);
	snprintf(f->type, sizeof(f->type), "%s", p + off);
	f->has_type = true;
	return 0;
}

static int
hist_sample(Check *c, const char *fam, const char *suffix, const char *labels,
            const char *le, double v)
{
	char key[512];
	Hist *h = NULL;

	snprintf(key, sizeof(key), "%s{%s}", fam, labels);
	for (int i = 0; i < c->n_hist && h == NULL; i++)
		if (strcmp(c->hist[i].key, key) == 0)
			h = &c->hist[i];
	if (h == NULL)
	{
		if (c->n_hist >= (int) (sizeof(c->hist) / sizeof(c->hist[0])))
			return fail(c, "too many histograms");
		h = &c->hist[c->n_hist++];
		snprintf(h->key, sizeof(h->key), "%s", key);
		h->last = 0;
		h->inf = -1;
	}
	if (strcmp(suffix, "_bucket") == 0)
	{
		if (le == NULL)
			return fail(c, "bucket of %s without le", key);
		if (v < h->last)
			return fail(c, "bucket le=\"%s\" of %s is not cumulative", le, key);
		h->last = v;
		if (strcmp(le, "+Inf") == 0)
			h->inf = v;
	}
	else if (strcmp(suffix, "_count") == 0)
	{
		if (h->inf < 0)
			return fail(c, "%s has no le=\"+Inf\" bucket before _count", key);
		if (v != h->inf)
			return fail(c, "_count of %s is not its +Inf bucket", key);
	}
	return 0;
}

static int
sample_line(Check *c, const char *p)
{
	char name[128];
	char labels[512] = ""; /* without le */
	char le[32] = "";
	bool has_le = false;
	size_t n = 0;
	size_t lo = 0;
	const char *q = p;
	const char *fam_name = name;
	char base[128];
	const char *suffix = "";
	Family *f;
	double v;
	char *end;

	while (is_name_char(*q, n == 0) && n + 1 < sizeof(name))
		name[n++] = *q++;
	name[n] = '\0';
	if (n == 0)
		return fail(c, "sample without a metric name");
	if (*q == '{')
	{
		q++;
		while (*q != '}')
		{
			char key[64];
			char val[256];
			size_t k = 0;
			size_t vl = 0;

			while (is_name_char(*q, k == 0) && k + 1 < sizeof(key))
				key[k++] = *q++;
			key[k] = '\0';
			if (k == 0 || q[0] != '=' || q[1] != '"')
				return fail(c, "bad label in %s", name);
			q += 2;
			while (*q && *q != '"')
			{
				if (*q == '\\')
				{
					if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
						return fail(c, "bad escape in a label of %s", name);
					q++;
				}
				if (vl + 1 < sizeof(val))
					val[vl++] = *q;
				q++;
			}
			val[vl] = '\0';
			if (*q != '"')
				return fail(c, "unterminated label value in %s", name);
			q++;
			if (strcmp(key, "le") == 0)
			{
				has_le = true;
				snprintf(le, sizeof(le), "%s", val);
			}
			else
				lo += (size_t) snprintf(
				    labels + lo, lo < sizeof(labels) ? sizeof(labels) - lo : 0,
				    "%s%s=%s", lo ? "," : "", key, val);
			if (*q == ',')
				q++;
			else if (*q != '}')
				return fail(c, "bad label list in %s", name);
		}
		q++;
	}
	if (*q != ' ')
		return fail(c, "no space before the value of %s", name);
	q++;
	if (strcmp(q, "NaN") == 0)
		v = NAN;
	else if (strcmp(q, "+Inf") == 0)
		v = INFINITY;
	else if (strcmp(q, "-Inf") == 0)
		v = -INFINITY;
	else
	{
		v = strtod(q, &end);
		if (end == q || (*end != '\0' && *end != ' '))
			return fail(c, "value \"%s\" of %s is not a number", q, name);
	}
	f = family(c, name, false);
	if (f == NULL || strcmp(f->type, "histogram") == 0)
	{
		static const char *const sufs[] = {"_bucket", "_sum", "_count"};

		for (int i = 0; i < 3 && f == NULL; i++)
			if (ends_with(name, sufs[i]))
			{
				snprintf(base, sizeof(base), "%.*s",
				         (int) (strlen(name) - strlen(sufs[i])), name);
				f = family(c, base, false);
				if (f != NULL && strcmp(f->type, "histogram") != 0 &&
				    strcmp(f->type, "summary") != 0)
					f = NULL;
				if (f != NULL)
				{
					fam_name = base;
					suffix = sufs[i];
				}
			}
	}
	if (f == NULL || !f->has_help || !f->has_type)
		return fail(
		    c,
		    "sample %s has no family declared before it with # HELP and # TYPE",
		    name);
	if (strcmp(f->type, "histogram") == 0)
	{
		if (suffix[0] == '\0')
			return fail(c, "histogram sample %s without _bucket/_sum/_count",
			            name);
		if (hist_sample(c, fam_name, suffix, labels, has_le ? le : NULL, v) !=
		    0)
			return -1;
	}
	else if (has_le)
		return fail(c, "le label outside a histogram: %s", name);
	f->has_samples = true;
	{
		char whole[640];

		snprintf(whole, sizeof(whole), "%s{%s}le=%s", name, labels, le);
		for (int i = 0; i < c->n_seen; i++)
			if (strcmp(c->seen[i], whole) == 0)
				return fail(c, "duplicate series %s{%s}", name, labels);
		if (c->n_seen < PC_MAX * 4)
			snprintf(c->seen[c->n_seen++], sizeof(c->seen[0]), "%s", whole);
	}
	return 0;
}

int
promcheck_text(const char *text, char *why, size_t why_len)
{
	Check *c = calloc(1, sizeof(Check));
	const char *p = text;
	int rc = 0;

	if (c == NULL)
		return -1;
	c->seen = calloc(PC_MAX * 4, sizeof(*c->seen));
	c->why = why;
	c->why_len = why_len;
	while (rc == 0 && *p)
	{
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t) (nl - p) : strlen(p);
		char *line = malloc(len + 1);

		c->line++;
		memcpy(line, p, len);
		line[len] = '\0';
		if (nl == NULL)
			rc = fail(c, "text does not end with a newline");
		else if (line[0] == '#')
			rc = meta_line(c, line);
		else if (line[0] != '\0')
			rc = sample_line(c, line);
		free(line);
		p = nl ? nl + 1 : p + len;
	}
	for (int i = 0; rc == 0 && i < c->n_fam; i++)
		if (!c->fam[i].has_help || !c->fam[i].has_type)
		{
			c->line = 0;
			rc = fail(c, "family %s lacks # HELP or # TYPE", c->fam[i].name);
		}
	free(c->seen);
	free(c);
	return rc;
}

bool
promcheck_value(const char *text, const char *head, double *out)
{
	size_t hl = strlen(head);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
	{
		if (strncmp(p, head, hl) == 0)
		{
			const char *sp = strchr(p + hl, ' ');
			const char *nl = strchr(p, '\n');

			if (sp == NULL || (nl && sp > nl))
				return false;
			if (strncmp(sp + 1, "NaN", 3) == 0)
				*out = NAN;
			else
				*out = strtod(sp + 1, NULL);
			return true;
		}
	}
	return false;
}
