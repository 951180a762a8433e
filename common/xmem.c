/*
 * xmem.c: aborting allocators, see xmem.h.
 */
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t n)
{
	fprintf(stderr, "level=error event=oom bytes=%zu\n", n);
	abort();
}

void *
pgw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
pgw_xcalloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);

	if (p == NULL)
		oom(count * n);
	return p;
}

void *
pgw_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
pgw_xstrdup(const char *s)
{
	return pgw_xstrndup(s, strlen(s));
}

char *
pgw_xstrndup(const char *s, size_t n)
{
	char *p = pgw_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
