/*
 * rest_access.c: who may call the REST write endpoints (Patroni's
 * check_access): client networks (allowlist), HTTP basic auth. Pure
 * helpers, unit-tested; rest.c applies them in Patroni's order.
 */
#include "daemon/daemon_int.h"

#include "common/strutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

int
rest_cidr_parse(const char *s, RestCidr *out)
{
	char		addr[64];
	const char *slash = strchr(s, '/');
	size_t		alen = slash ? (size_t) (slash - s) : strlen(s);
	int			maxbits;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return PGW_EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
	{
		out->family = AF_INET;
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
	{
		out->family = AF_INET6;
		maxbits = 128;
	}
	else
		return PGW_EINVAL;
	out->prefix_len = maxbits;
	if (slash != NULL)
	{
		int64_t		bits;

		if (pgw_parse_int64(slash + 1, 0, maxbits, &bits) != 0)
			return PGW_EINVAL;
		out->prefix_len = (int) bits;
	}
	/* clear the host bits */
	for (int i = 0; i < maxbits / 8; i++)
	{
		int			keep = out->prefix_len - i * 8;

		if (keep <= 0)
			out->addr[i] = 0;
		else if (keep < 8)
			out->addr[i] &= (unsigned char) (0xff << (8 - keep));
	}
	return 0;
}

/* the address bytes of sa, IPv4-mapped IPv6 folded to IPv4 */
static int
sa_bytes(const struct sockaddr *sa, unsigned char *out)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0xff, 0xff};

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
	{
		memcpy(out, &((const struct sockaddr_in *) sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6)
	{
		const unsigned char *a =
			((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, 12) == 0)
		{
			memcpy(out, a + 12, 4);
			return AF_INET;
		}
		memcpy(out, a, 16);
		return AF_INET6;
	}
	return 0;
}

bool
rest_cidr_match(const RestCidr *c, const struct sockaddr *sa)
{
	unsigned char a[16];
	int			fam = sa_bytes(sa, a);
	int			full;
	int			rest;

	if (fam == 0 || fam != c->family)
		return false;
	full = c->prefix_len / 8;
	rest = c->prefix_len % 8;
	if (memcmp(a, c->addr, (size_t) full) != 0)
		return false;
	if (rest != 0)
	{
		unsigned char mask = (unsigned char) (0xff << (8 - rest));

		if ((a[full] & mask) != (c->addr[full] & mask))
			return false;
	}
	return true;
}

bool
rest_url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://");
	const char *end;
	const char *at;

	host[0] = '\0';
	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t) (end - p));
	if (at != NULL)
		p = at + 1;
	if (*p == '[')
	{
		const char *rb = memchr(p, ']', (size_t) (end - p));

		if (rb == NULL)
			return false;
		p++;
		end = rb;
	}
	else
	{
		const char *colon = memchr(p, ':', (size_t) (end - p));

		if (colon != NULL)
			end = colon;
	}
	if (end <= p || (size_t) (end - p) >= len)
		return false;
	memcpy(host, p, (size_t) (end - p));
	host[end - p] = '\0';
	return true;
}

bool
rest_host_match(const char *host, const struct sockaddr *sa)
{
	RestCidr	c;
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	bool		found = false;

	if (host == NULL || host[0] == '\0')
		return false;
	if (rest_cidr_parse(host, &c) == 0)
		return rest_cidr_match(&c, sa);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (struct addrinfo *ai = res; ai != NULL && !found; ai = ai->ai_next)
	{
		unsigned char a[16];
		int			fam = sa_bytes(ai->ai_addr, a);

		if (fam == 0)
			continue;
		memset(&c, 0, sizeof(c));
		c.family = fam;
		c.prefix_len = fam == AF_INET ? 32 : 128;
		memcpy(c.addr, a, fam == AF_INET ? 4 : 16);
		found = rest_cidr_match(&c, sa);
	}
	freeaddrinfo(res);
	return found;
}

bool
rest_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char diff = (unsigned char) (alen != blen);
	size_t		n = alen > blen ? alen : blen;

	/* always walk the longer length; bytes past an end compare as 0 */
	for (size_t i = 0; i < n; i++)
	{
		unsigned char x = i < alen ? (unsigned char) a[i] : 0;
		unsigned char y = i < blen ? (unsigned char) b[i] : 0;

		diff |= (unsigned char) (x ^ y);
	}
	return diff == 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* strict base64 (padding required) into out; -1 when malformed */
static int
b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
	size_t		o = 0;

	if (inlen == 0 || inlen % 4 != 0)
		return -1;
	for (size_t i = 0; i < inlen; i += 4)
	{
		int			v[4];
		int			pad = 0;

		for (int k = 0; k < 4; k++)
		{
			unsigned char c = (unsigned char) in[i + k];

			if (c == '=' && i + 4 == inlen && k >= 2)
			{
				v[k] = 0;
				pad++;
			}
			else if (pad > 0 || (v[k] = b64_value(c)) < 0)
				return -1;
		}
		if (o + 3 - (size_t) pad > outlen)
			return -1;
		out[o++] = (unsigned char) ((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char) (((v[1] & 15) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char) (((v[2] & 3) << 6) | v[3]);
	}
	return (int) o;
}

const char *
rest_basic_auth_check(const char *authorization, const char *user,
					  const char *password)
{
	unsigned char decoded[512];
	char		expect[512];
	const char *p;
	size_t		plen;
	int			n;
	int			elen;

	if (user == NULL || user[0] == '\0')
		return NULL;			/* no authentication configured */
	if (authorization == NULL || authorization[0] == '\0')
		return "no auth header received";
	if (strncasecmp(authorization, "Basic ", 6) != 0)
		return "not authenticated";
	p = authorization + 6;
	while (*p == ' ')
		p++;
	plen = strlen(p);
	while (plen > 0 && p[plen - 1] == ' ')
		plen--;
	n = b64_decode(p, plen, decoded, sizeof(decoded));
	elen = snprintf(expect, sizeof(expect), "%s:%s", user,
					password ? password : "");
	if (n < 0 || elen < 0 || (size_t) elen >= sizeof(expect))
		return "not authenticated";
	if (!rest_secret_equal((const char *) decoded, (size_t) n, expect,
						   (size_t) elen))
		return "not authenticated";
	return NULL;
}
