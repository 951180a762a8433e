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
	const char *start; /* the authority, userinfo included */
	const char *auth;  /* the authority after the userinfo */
	const char *end;
	const char *host;
	const char *at;
	size_t hlen;
	bool bad_scheme = false;
	char shown[72];

	memset(out, 0, sizeof(*out));
	out->path = "";
	if (p != NULL && strcspn(url, "/?#@") >= (size_t) (p - url))
	{
		if ((size_t) (p - url) >= sizeof(out->scheme) || p == url)
			bad_scheme = true;
		else
			memcpy(out->scheme, url, (size_t) (p - url));
		start = p + 3;
	}
	else
		start = url;
	end = start + strcspn(start, "/?#");
	out->path = end;
	/* the userinfo ends at the last '@': a password may hold one */
	auth = start;
	for (at = start; (p = memchr(at, '@', (size_t) (end - at))) != NULL;
	     at = p + 1)
		auth = p + 1;
	out->has_userinfo = auth != start;
	/* an error quotes the URL, never its password */
	if (out->has_userinfo)
		snprintf(shown, sizeof(shown), "%.*s***@%s", (int) (start - url), url,
		         auth);
	else
		snprintf(shown, sizeof(shown), "%s", url);
	if (bad_scheme)
		return pgw_error_set(err, PGW_EINVAL, "URL \"%s\": bad scheme", shown);
	if (*auth == '[')
	{
		const char *rb = memchr(auth, ']', (size_t) (end - auth));

		if (rb == NULL)
			return pgw_error_set(err, PGW_EINVAL, "URL \"%s\": unclosed [",
			                     shown);
		host = auth + 1;
		hlen = (size_t) (rb - host);
		p = rb + 1;
		if (p < end && *p != ':')
			return pgw_error_set(err, PGW_EINVAL,
			                     "URL \"%s\": text after ] is not a port",
			                     shown);
	}
	else
	{
		host = auth;
		hlen = strcspn(auth, ":");
		if (host + hlen > end)
			hlen = (size_t) (end - host);
		p = host + hlen;
		if (p < end && memchr(p + 1, ':', (size_t) (end - p - 1)) != NULL)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "URL \"%s\": more than one ':' (an IPv6 address needs brackets: [::1]:5432)",
			    shown);
	}
	if (hlen == 0)
		return pgw_error_set(err, PGW_EINVAL, "URL \"%s\" names no host",
		                     shown);
	if (hlen >= sizeof(out->host))
		return pgw_error_set(err, PGW_EINVAL, "URL \"%s\": host too long",
		                     shown);
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (p < end && *p == ':')
	{
		char pbuf[8];
		size_t plen = (size_t) (end - p - 1);
		int64_t v;

		if (plen == 0 || plen >= sizeof(pbuf))
			return pgw_error_set(err, PGW_EINVAL, "URL \"%s\": bad port",
			                     shown);
		memcpy(pbuf, p + 1, plen);
		pbuf[plen] = '\0';
		if (pgw_parse_int64(pbuf, 1, 65535, &v) != 0)
			return pgw_error_set(err, PGW_EINVAL,
			                     "URL \"%s\": port \"%s\" is not 1..65535",
			                     shown, pbuf);
		out->port = (int) v;
	}
	return 0;
}

void
pgw_url_base(const char *url, char *out, size_t len)
{
	PgwUrl u;

	if (pgw_url_split(url, &u, NULL) != 0)
		u.path = url + strlen(url);
	snprintf(out, len, "%.*s", (int) (u.path - url), url);
}
