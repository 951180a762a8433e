/*
 * url.c: pgw_url_split (url.h), the one URL splitter.
 */
#include "common/url.h"

#include "common/strutil.h"

#include <stdio.h>
#include <string.h>

int
pgw_url_split(const char *url, PgwUrl *out, PgwError *err)
{
	const char *p = strstr(url, "://");
	const char *auth;
	const char *end;
	const char *host;
	const char *at;
	size_t		hlen;

	memset(out, 0, sizeof(*out));
	out->path = "";
	if (p != NULL && strcspn(url, "/?#@") >= (size_t) (p - url))
	{
		if ((size_t) (p - url) >= sizeof(out->scheme) || p == url)
			return pgw_error_set(err, PGW_EINVAL, "URL \"%.64s\": bad scheme", url);
		memcpy(out->scheme, url, (size_t) (p - url));
		auth = p + 3;
	}
	else
		auth = url;
	end = auth + strcspn(auth, "/?#");
	out->path = end;
	/* the userinfo ends at the last '@': a password may hold one */
	for (at = auth; (p = memchr(at, '@', (size_t) (end - at))) != NULL; at = p + 1)
		auth = p + 1;
	if (*auth == '[')
	{
		const char *rb = memchr(auth, ']', (size_t) (end - auth));

		if (rb == NULL)
			return pgw_error_set(err, PGW_EINVAL, "URL \"%.64s\": unclosed [", url);
		host = auth + 1;
		hlen = (size_t) (rb - host);
		p = rb + 1;
		if (p < end && *p != ':')
			return pgw_error_set(err, PGW_EINVAL,
								 "URL \"%.64s\": text after ] is not a port", url);
	}
	else
	{
		host = auth;
		hlen = strcspn(auth, ":");
		if (host + hlen > end)
			hlen = (size_t) (end - host);
		p = host + hlen;
	}
	if (hlen == 0)
		return pgw_error_set(err, PGW_EINVAL, "URL \"%.64s\" names no host", url);
	if (hlen >= sizeof(out->host))
		return pgw_error_set(err, PGW_EINVAL, "URL \"%.64s\": host too long", url);
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (p < end && *p == ':')
	{
		char		pbuf[8];
		size_t		plen = (size_t) (end - p - 1);
		int64_t		v;

		if (plen == 0 || plen >= sizeof(pbuf))
			return pgw_error_set(err, PGW_EINVAL, "URL \"%.64s\": bad port", url);
		memcpy(pbuf, p + 1, plen);
		pbuf[plen] = '\0';
		if (pgw_parse_int64(pbuf, 1, 65535, &v) != 0)
			return pgw_error_set(err, PGW_EINVAL,
								 "URL \"%.64s\": port \"%s\" is not 1..65535", url, pbuf);
		out->port = (int) v;
	}
	return 0;
}
