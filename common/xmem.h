/*
 * xmem.h: allocation that aborts on out-of-memory, like PostgreSQL's
 * pg_malloc and Redis's zmalloc. A restarted daemon re-reads etcd before it
 * acts, so dying is the safe answer to OOM.
 */
#ifndef PGW_COMMON_XMEM_H
#define PGW_COMMON_XMEM_H

#include <stddef.h>

void *pgw_xmalloc(size_t n);
void *pgw_xcalloc(size_t count, size_t n);
void *pgw_xrealloc(void *p, size_t n);
char *pgw_xstrdup(const char *s);
char *pgw_xstrndup(const char *s, size_t n);

#endif
