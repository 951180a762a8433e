/*
 * url.h: the one URL splitter of pgwarden. Member values, config and the
 * REST API carry "scheme://[user[:pw]@]host[:port][/path]" or a bare
 * "host:port"; every module that needs a host or a port asks here.
 */
#ifndef PGW_COMMON_URL_H
#define PGW_COMMON_URL_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

#define PGW_URL_HOST_MAX 256

typedef struct PgwUrl
{
	char scheme[16];             /* "http", "postgres", ... ("" when none) */
	char host[PGW_URL_HOST_MAX]; /* name or address, without [] */
	int port;                    /* 1..65535; 0 when the URL names none */
	const char *path;            /* borrowed: from the first '/', '?' or
								 * '#' after the authority ("" when none) */
	bool has_userinfo;           /* the URL named a user (never copied) */
} PgwUrl;

/*
 * pgw_url_split: split url into out. The userinfo (up to the last '@' of
 * the authority) is skipped, never copied: it may hold a password. An IPv6
 * host must be bracketed ("[::1]:5432"). Returns 0, or PGW_EINVAL naming
 * what is wrong (no host, unclosed '[', an IPv6 address without brackets,
 * a port that is not 1..65535, a part too long); the message quotes the URL
 * with its userinfo replaced by "***". out->path points into url.
 */
int pgw_url_split(const char *url, PgwUrl *out, PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_url_base: url up to its path ("http://h:8008/patroni" ->
 * "http://h:8008"), the base another endpoint's path is appended to, as
 * Patroni replaces an api_url's path. A URL that does not split is copied
 * whole (the request made with it then names what failed). Truncated to
 * len - 1 bytes.
 */
void pgw_url_base(const char *url, char *out, size_t len);

#endif
