/*
 * config_util.c: helpers of config/ shared by the file and the environment
 * (config_int.h): strings, log levels, host:port and etcd endpoint lists.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------
 * helpers shared with config_env.c
 * ------------------------------------------------------------------------ */

void
config_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? pgw_xstrdup(s) : NULL;
}

int
config_parse_level(const char *s, LogLevel *out)
{
	static const struct
	{
		const char *name;
		LogLevel level;
	} levels[] = {
	    {"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
	    {"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
	    {"error", LOG_LEVEL_ERROR}, {"critical", LOG_LEVEL_ERROR},
	};

	for (size_t i = 0; i < PGW_LENGTHOF(levels); i++)
	{
		if (strcasecmp(s, levels[i].name) == 0)
		{
			*out = levels[i].level;
			return 0;
		}
	}
	return PGW_EINVAL;
}

static bool
host_chars_ok(const char *b, const char *e, bool allow_list)
{
	for (const char *p = b; p < e; p++)
	{
		unsigned char ch = (unsigned char) *p;

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == '@' || ch == '[' ||
		    ch == ']' || (ch == ',' && !allow_list))
			return false;
	}
	return true;
}

int
config_split_host_port(const char *s, char *host, size_t host_len, int *port,
                       PgwError *err)
{
	const char *colon;
	const char *hb = s;
	const char *he;
	int64_t p;

	if (s == NULL || (colon = strrchr(s, ':')) == NULL)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port");
	he = colon;
	if (*s == '[')
	{
		if (colon == s || colon[-1] != ']')
			return pgw_error_set(err, PGW_EINVAL, "expected host:port");
		hb = s + 1;
		he = colon - 1;
	}
	else if (memchr(s, ':', (size_t) (colon - s)) != NULL &&
	         memchr(s, ',', (size_t) (colon - s)) == NULL)
	{
		/* an unbracketed IPv6 address: fine as a host, the last ':' is the port */
	}
	if (pgw_parse_int64(colon + 1, 1, 65535, &p) != 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "expected host:port (port 1..65535)");
	if ((size_t) (he - hb) >= host_len)
		return pgw_error_set(err, PGW_EINVAL,
		                     "expected host:port (host too long)");
	if (!host_chars_ok(hb, he, true))
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (bad host)");
	memcpy(host, hb, (size_t) (he - hb));
	host[he - hb] = '\0';
	*port = (int) p;
	return 0;
}

int
config_check_hostport(const char *s, bool allow_list, int *port, PgwError *err)
{
	char host[512];
	int p;

	if (config_split_host_port(s, host, sizeof(host), &p, err) != 0)
		return PGW_EINVAL;
	if (!allow_list && strchr(host, ',') != NULL)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (one host)");
	if (allow_list)
	{
		/* "h1,h2:port": no empty item */
		const char *q = host;

		if (host[0] != '\0')
		{
			for (;;)
			{
				const char *c = strchr(q, ',');
				size_t n = c ? (size_t) (c - q) : strlen(q);

				if (n == 0)
					return pgw_error_set(
					    err, PGW_EINVAL,
					    "expected host[,host]:port (empty host)");
				if (c == NULL)
					break;
				q = c + 1;
			}
		}
	}
	if (port)
		*port = p;
	return 0;
}

char *
config_etcd_hosts_normalise(const char *hosts, const char *protocol,
                            PgwError *err)
{
	size_t cap = strlen(hosts) * 2 + 16;
	char *out = pgw_xmalloc(cap);
	size_t used = 0;
	const char *p = hosts;
	bool https = protocol && strcmp(protocol, "https") == 0;
	int n = 0;

	out[0] = '\0';
	for (;;)
	{
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t) (c - p) : strlen(p);
		char entry[512];
		const char *hp;
		const char *scheme = https ? "https://" : "";
		PgwError e2 = {0};

		while (len > 0 && (*p == ' ' || *p == '\t'))
		{
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(entry))
		{
			free(out);
			pgw_error_set(
			    err, PGW_EINVAL,
			    "expected host:port[,host:port...] (empty or over-long entry)");
			return NULL;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		hp = entry;
		if (strncmp(entry, "http://", 7) == 0)
		{
			hp = entry + 7;
			scheme = "http://";
		}
		else if (strncmp(entry, "https://", 8) == 0)
		{
			hp = entry + 8;
			scheme = "https://";
		}
		if (strchr(hp, '/') != NULL ||
		    config_check_hostport(hp, false, NULL, &e2) != 0)
		{
			free(out);
			pgw_error_set(err, PGW_EINVAL, "expected host:port, got \"%s\"",
			              entry);
			return NULL;
		}
		if (++n > ETCD_ENDPOINTS_MAX)
		{
			free(out);
			pgw_error_set(err, PGW_EINVAL, "more than %d hosts",
			              ETCD_ENDPOINTS_MAX);
			return NULL;
		}
		used += (size_t) snprintf(out + used, cap - used, "%s%s%s",
		                          used ? "," : "", scheme, hp);
		if (c == NULL)
			break;
		p = c + 1;
	}
	return out;
}
