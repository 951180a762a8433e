/*
 * rest_access.c: who may call the REST write endpoints (Patroni's
 * check_access): client networks (allowlist), client certificates, HTTP
 * basic auth, and nobody when none is configured (security review F2).
 * The pure helpers are unit-tested; rest_check_access applies them to a
 * request in Patroni's order.
 */
#include "daemon/rest_int.h"

#include "common/strutil.h"
#include "common/url.h"
#include "common/xmem.h"

#include <gnutls/gnutls.h>
#include <stdlib.h>

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
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t) (slash - s) : strlen(s);
	int maxbits;

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
		int64_t bits;

		if (pgw_parse_int64(slash + 1, 0, maxbits, &bits) != 0)
			return PGW_EINVAL;
		out->prefix_len = (int) bits;
	}
	/* clear the host bits */
	for (int i = 0; i < maxbits / 8; i++)
	{
		int keep = out->prefix_len - i * 8;

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
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
	                                         0, 0, 0, 0, 0xff, 0xff};

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
	int fam = sa_bytes(sa, a);
	int full;
	int rest;

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
	PgwUrl u;

	host[0] = '\0';
	if (pgw_url_split(url, &u, NULL) != 0 || strlen(u.host) >= len)
		return false;
	pgw_strlcpy(host, u.host, len);
	return true;
}

bool
rest_host_match(const char *host, const struct sockaddr *sa)
{
	RestCidr c;
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	bool found = false;

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
		int fam = sa_bytes(ai->ai_addr, a);

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
	size_t n = alen > blen ? alen : blen;

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
	size_t o = 0;

	if (inlen == 0 || inlen % 4 != 0)
		return -1;
	for (size_t i = 0; i < inlen; i += 4)
	{
		int v[4];
		int pad = 0;

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
	char expect[512];
	const char *p;
	size_t plen;
	int n;
	int elen;

	if (user == NULL || user[0] == '\0')
		return NULL; /* no authentication configured */
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

/* the client presented a certificate that our CA verifies */
static bool
client_cert_ok(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t sess;
	unsigned int n = 0;
	unsigned int status = 0;

	if (ci == NULL || ci->tls_session == NULL)
		return false;
	sess = (gnutls_session_t) ci->tls_session;
	if (gnutls_certificate_get_peers(sess, &n) == NULL || n == 0)
		return false;
	if (gnutls_certificate_verify_peers2(sess, &status) != GNUTLS_E_SUCCESS)
		return false;
	return status == 0;
}

/* the client's address is a member's host (allowlist_include_members) */
static bool
is_member_host(RestServer *srv, const struct sockaddr *sa)
{
	char(*hosts)[PGW_URL_MAX];
	int n = 0;
	bool found = false;

	hosts = pgw_xmalloc(sizeof(*hosts) * 2 * PGW_MEMBERS_MAX);
	pthread_mutex_lock(&srv->lock);
	for (int i = 0;
	     srv->has_snap && i < srv->snap.view.n_members && i < PGW_MEMBERS_MAX;
	     i++)
	{
		const MemberInfo *m = &srv->snap.view.members[i];

		if (rest_url_host(m->api_url, hosts[n], PGW_URL_MAX))
			n++;
		if (rest_url_host(m->conn_url, hosts[n], PGW_URL_MAX))
			n++;
	}
	pthread_mutex_unlock(&srv->lock);
	/* names are resolved outside the lock: getaddrinfo may block */
	for (int i = 0; i < n && !found; i++)
		found = rest_host_match(hosts[i], sa);
	free(hosts);
	return found;
}

/* is_loopback: 127.0.0.0/8, ::1 or an IPv4-mapped 127.x */
static bool
is_loopback(const struct sockaddr *sa)
{
	RestCidr v4;
	RestCidr v6;

	if (rest_cidr_parse("127.0.0.0/8", &v4) != 0 ||
	    rest_cidr_parse("::1", &v6) != 0)
		return false;
	return rest_cidr_match(&v4, sa) || rest_cidr_match(&v6, sa);
}

/*
 * rest_check_access: Patroni's check_access for write endpoints, in its order:
 * allowlist (403), client certificate (403), basic auth (401). Returns 0
 * when the request may proceed. Unlike Patroni, a node with none of the
 * three configured does not let everyone write (security review F2): it
 * answers 403, unless the operator opened the loopback interface with
 * restapi.allow_unauthenticated_writes_from_loopback.
 */
int
rest_check_access(RestServer *srv, struct MHD_Connection *conn,
                  const char **reason)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	bool has_allow = srv->n_allow > 0 || srv->n_allow_names > 0 ||
	                 srv->allowlist_include_members;
	bool has_cert = srv->verify_client != 0 && srv->cert_pem != NULL;

	if (has_allow)
	{
		bool ok = false;

		for (int i = 0; i < srv->n_allow && !ok; i++)
			ok = rest_cidr_match(&srv->allow[i], sa);
		for (int i = 0; i < srv->n_allow_names && !ok; i++)
			ok = rest_host_match(srv->allow_names[i], sa);
		if (!ok && srv->allowlist_include_members)
			ok = is_member_host(srv, sa);
		if (!ok)
		{
			*reason = "Access is denied";
			return 403;
		}
	}
	if (has_cert && !client_cert_ok(conn))
	{
		*reason = "client certificate required";
		return 403;
	}
	if (srv->username == NULL && !has_cert && !has_allow)
	{
		if (srv->allow_loopback_writes && is_loopback(sa))
			return 0;
		*reason =
		    "write endpoints are closed: configure restapi.authentication (or restapi.verify_client, restapi.allowlist)";
		return 403;
	}
	*reason = rest_basic_auth_check(
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                MHD_HTTP_HEADER_AUTHORIZATION),
	    srv->username, srv->password);
	return *reason ? 401 : 0;
}
