/*
 * url.h: the one URL splitter of pgwarden. Member values, config and the
 * REST API carry "scheme://[user[:pw]@]host[:port][/path]" or a bare
 * "host:port"; every module that needs a host or a port asks here.
 */
#ifndef PGW_COMMON_URL_H
#define PGW_COMMON_URL_H

#include "common/compiler.h"
#include "common/error.h"

#define PGW_URL_HOST_MAX 256

typedef struct PgwUrl
{
	char		scheme[16];		/* "http", "postgres", ... ("" when none) */
	char		host[PGW_URL_HOST_MAX];	/* name or address, without [] */
	int			port;			/* 1..65535; 0 when the URL names none */
	const char *path;			/* borrowed: from the first '/', '?' or
								 * '#' after the authority ("" when none) */
} PgwUrl;

/*
 * pgw_url_split: split url into out. The userinfo (up to the last '@' of
 * the authority) is skipped, never copied: it may hold a password. An IPv6
 * host must be bracketed ("[::1]:5432"). Returns 0, or PGW_EINVAL naming
 * what is wrong (no host, unclosed '[', a port that is not 1..65535, a part
 * too long). out->path points into url.
 */
int			pgw_url_split(const char *url, PgwUrl *out,
						  PgwError *err) PGW_MUSTCHECK;

#endif
