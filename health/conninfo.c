/*
 * conninfo.c: text that we hand to PostgreSQL and must quote, never paste:
 * libpq conninfo strings, postgresql.conf literals and files, pgpass lines,
 * slot names and synchronous_standby_names. Pure functions plus the atomic
 * writer of our configuration file (DESIGN.md, "health/").
 */
#include "health/health.h"
#include "health/health_int.h"

#include "common/safefs.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A growing string; aborts on OOM like pgw_xmalloc. */
void
sbuf_init(StrBuf *b)
{
	b->cap = 128;
	b->len = 0;
	b->data = pgw_xmalloc(b->cap);
	b->data[0] = '\0';
}

void
sbuf_putn(StrBuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->data = pgw_xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
sbuf_puts(StrBuf *b, const char *s)
{
	sbuf_putn(b, s, strlen(s));
}

void
sbuf_putc(StrBuf *b, char c)
{
	sbuf_putn(b, &c, 1);
}

void
sbuf_printf(StrBuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n < sizeof(small))
	{
		sbuf_putn(b, small, (size_t) n);
		return;
	}
	{
		char *big = pgw_xmalloc((size_t) n + 1);

		va_start(ap, fmt);
		vsnprintf(big, (size_t) n + 1, fmt, ap);
		va_end(ap);
		sbuf_putn(b, big, (size_t) n);
		free(big);
	}
}

const char *
health_slot_name(const char *member, char *buf, size_t len)
{
	size_t j = 0;

	if (len == 0)
		return buf;
	for (size_t i = 0; member != NULL && member[i] != '\0'; i++)
	{
		unsigned char c = (unsigned char) member[i];

		if (j + 1 >= len || j >= HEALTH_NAME_MAX - 1)
			break;
		if (isupper(c))
			c = (unsigned char) tolower(c);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			c = '_';
		buf[j++] = (char) c;
	}
	buf[j] = '\0';
	return buf;
}

int
health_sync_names_build(const char *const *names, int count, int num_sync,
                        char *buf, size_t len)
{
	StrBuf b;
	int rc = 0;

	if (len == 0 || count < 0)
		return PGW_EINVAL;
	buf[0] = '\0';
	if (count == 0)
		return 0;
	if (num_sync < 1)
		num_sync = 1;
	sbuf_init(&b);
	sbuf_printf(&b, "FIRST %d (", num_sync);
	for (int i = 0; i < count; i++)
	{
		if (i > 0)
			sbuf_puts(&b, ", ");
		sbuf_putc(&b, '"');
		for (const char *p = names[i]; *p; p++)
		{
			if (*p == '"')
				sbuf_putc(&b, '"');
			sbuf_putc(&b, *p);
		}
		sbuf_putc(&b, '"');
	}
	sbuf_putc(&b, ')');
	if (b.len + 1 > len)
		rc = PGW_EINVAL;
	else
		memcpy(buf, b.data, b.len + 1);
	free(b.data);
	return rc;
}

int
health_sync_names_build_quorum(const char *const *names, int count,
                               int num_sync, char *buf, size_t len)
{
	int rc = health_sync_names_build(names, count, num_sync, buf, len);

	/* "FIRST n (...)" -> "ANY n (...)": same list, quorum semantics */
	if (rc == 0 && strncmp(buf, "FIRST ", 6) == 0)
	{
		memmove(buf, buf + 2, strlen(buf + 2) + 1);
		memcpy(buf, "ANY", 3);
	}
	return rc;
}

static bool
valid_key(const char *k, bool allow_dot)
{
	if (k == NULL || *k == '\0')
		return false;
	for (const char *p = k; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || (allow_dot && *p == '.')))
			return false;
	}
	return !(k[0] >= '0' && k[0] <= '9');
}

char *
health_conninfo_build(const char *const *keys, const char *const *values, int n)
{
	StrBuf b;
	bool first = true;

	sbuf_init(&b);
	for (int i = 0; i < n; i++)
	{
		if (values[i] == NULL)
			continue;
		if (!valid_key(keys[i], false))
		{
			free(b.data);
			return NULL;
		}
		if (!first)
			sbuf_putc(&b, ' ');
		first = false;
		sbuf_puts(&b, keys[i]);
		sbuf_puts(&b, "='");
		for (const char *p = values[i]; *p; p++)
		{
			if (*p == '\'' || *p == '\\')
				sbuf_putc(&b, '\\');
			sbuf_putc(&b, *p);
		}
		sbuf_putc(&b, '\'');
	}
	return b.data;
}

char *
health_conf_quote(const char *value)
{
	StrBuf b;

	sbuf_init(&b);
	sbuf_putc(&b, '\'');
	for (const char *p = value; *p; p++)
	{
		switch (*p)
		{
			case '\'':
				sbuf_puts(&b, "''");
				break;
			case '\\':
				sbuf_puts(&b, "\\\\");
				break;
			case '\n':
				sbuf_puts(&b, "\\n");
				break;
			case '\r':
				sbuf_puts(&b, "\\r");
				break;
			case '\t':
				sbuf_puts(&b, "\\t");
				break;
			default:
				sbuf_putc(&b, *p);
		}
	}
	sbuf_putc(&b, '\'');
	return b.data;
}

/* pgpass_field: one field of a .pgpass line, ':' and '\\' escaped */
static int
pgpass_field(StrBuf *b, const char *v)
{
	for (const char *p = v; *p; p++)
	{
		if (*p == '\n' || *p == '\r')
			return PGW_EINVAL;
		if (*p == ':' || *p == '\\')
			sbuf_putc(b, '\\');
		sbuf_putc(b, *p);
	}
	return 0;
}

int
health_pgpass_line(StrBuf *b, const char *host, int port, const char *user,
                   const char *password)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	if (host == NULL || host[0] == '\0' || port <= 0)
		return PGW_EINVAL;
	if (pgpass_field(b, host) != 0)
		return PGW_EINVAL;
	sbuf_printf(b, ":%s:*:", p);
	if (pgpass_field(b, user) != 0)
		return PGW_EINVAL;
	sbuf_putc(b, ':');
	if (pgpass_field(b, password) != 0)
		return PGW_EINVAL;
	sbuf_putc(b, '\n');
	return 0;
}

/* write_file_atomic: see safefs.h's pgw_write_file (never follows a link
 * at path, random temporary name, owner set on the descriptor) */
int
write_file_atomic(const char *path, const char *data, size_t len, int mode,
                  uid_t uid, gid_t gid, PgwError *err)
{
	return pgw_write_file(path, data, len, (mode_t) mode, uid, gid, err);
}

int
conf_render(StrBuf *b, const char *header, const HealthParam *params, int n,
            PgwError *err)
{
	if (header != NULL)
	{
		/* every header line becomes a comment */
		sbuf_puts(b, "# ");
		for (const char *p = header; *p; p++)
		{
			sbuf_putc(b, *p);
			if (*p == '\n')
				sbuf_puts(b, "# ");
		}
		sbuf_putc(b, '\n');
	}
	for (int i = 0; i < n; i++)
	{
		char *q;

		if (!valid_key(params[i].name, true))
			return pgw_error_set(err, PGW_EINVAL,
			                     "invalid parameter name \"%s\"",
			                     params[i].name ? params[i].name : "");
		if (params[i].value == NULL)
			continue;
		q = health_conf_quote(params[i].value);
		sbuf_printf(b, "%s = %s\n", params[i].name, q);
		free(q);
	}
	return 0;
}

int
health_conf_write(const char *path, const char *header,
                  const HealthParam *params, int n, PgwError *err)
{
	StrBuf b;
	int rc;

	sbuf_init(&b);
	rc = conf_render(&b, header, params, n, err);
	if (rc == 0)
		rc = write_file_atomic(path, b.data, b.len, 0600, (uid_t) -1,
		                       (gid_t) -1, err);
	free(b.data);
	return rc;
}

/* parse one line; *name NULL for blank/comment. Returns 0 or PGW_EINVAL. */
static int
parse_conf_line(const char *line, char **name, char **value)
{
	const char *p = line;
	const char *start;
	StrBuf v;

	*name = NULL;
	*value = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#' || *p == '\n')
		return 0;
	start = p;
	while (*p && (isalnum((unsigned char) *p) || *p == '_' || *p == '.'))
		p++;
	if (p == start)
		return PGW_EINVAL;
	*name = pgw_xstrndup(start, (size_t) (p - start));
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '=')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	sbuf_init(&v);
	if (*p == '\'')
	{
		p++;
		for (;;)
		{
			if (*p == '\0' || *p == '\n')
				goto bad;
			if (*p == '\'')
			{
				if (p[1] == '\'')
				{
					sbuf_putc(&v, '\'');
					p += 2;
					continue;
				}
				p++;
				break;
			}
			if (*p == '\\')
			{
				p++;
				switch (*p)
				{
					case 'n':
						sbuf_putc(&v, '\n');
						break;
					case 'r':
						sbuf_putc(&v, '\r');
						break;
					case 't':
						sbuf_putc(&v, '\t');
						break;
					case 'b':
						sbuf_putc(&v, '\b');
						break;
					case 'f':
						sbuf_putc(&v, '\f');
						break;
					case '\0':
					case '\n':
						goto bad;
					default:
						sbuf_putc(&v, *p);
				}
				p++;
				continue;
			}
			sbuf_putc(&v, *p++);
		}
	}
	else
	{
		start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '#' && *p != '\n')
			p++;
		if (p == start)
			goto bad;
		sbuf_putn(&v, start, (size_t) (p - start));
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' && *p != '#' && *p != '\n')
		goto bad;
	*value = v.data;
	return 0;
bad:
	free(v.data);
	free(*name);
	*name = NULL;
	return PGW_EINVAL;
}

int
health_conf_read(const char *path, HealthParam **params, int *n, PgwError *err)
{
	FILE *f = pgw_fopen_read(path);
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;
	int count = 0;
	int alloc = 16;
	HealthParam *out;

	*params = NULL;
	*n = 0;
	if (f == NULL)
		return pgw_error_set(err, errno == ENOENT ? PGW_ENOTFOUND : PGW_EIO,
		                     "could not open file \"%s\": %s", path,
		                     strerror(errno));
	out = pgw_xcalloc((size_t) alloc, sizeof(HealthParam));
	while (getline(&line, &cap, f) >= 0)
	{
		char *name;
		char *value;

		lineno++;
		if (parse_conf_line(line, &name, &value) != 0)
		{
			free(line);
			fclose(f);
			health_conf_free(out, count);
			return pgw_error_set(err, PGW_EINVAL,
			                     "syntax error in file \"%s\" line %d", path,
			                     lineno);
		}
		if (name == NULL)
			continue;
		if (count == alloc)
		{
			alloc *= 2;
			out = pgw_xrealloc(out, (size_t) alloc * sizeof(HealthParam));
		}
		out[count].name = name;
		out[count].value = value;
		count++;
	}
	free(line);
	fclose(f);
	*params = out;
	*n = count;
	return 0;
}

void
health_conf_free(HealthParam *params, int n)
{
	if (params == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		free((char *) params[i].name);
		free((char *) params[i].value);
	}
	free(params);
}
