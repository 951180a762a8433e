/*
 * log.c: structured logging to stderr or journald, see log.h.
 */
#include "common/log.h"

#include "common/pgwtime.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

static LogLevel log_min_level = LOG_LEVEL_INFO;
static int log_to_journal = 0;
static char log_ident[64] = "pgwarden";
static char log_prefix[256] = "";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void put_escaped(char *buf, size_t len, size_t *o, const char *s,
                        bool quotes);

/* stderr is the journal when JOURNAL_STREAM names stderr's device:inode. */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long dev, ino;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
		return 0;
	if (fstat(2, &st) != 0)
		return 0;
	return (unsigned long) st.st_dev == dev && (unsigned long) st.st_ino == ino;
}

void
log_init(const char *ident, LogLevel min_level)
{
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_min_level = min_level;
	log_to_journal = stderr_is_journal();
}

void
log_set_level(LogLevel min_level)
{
	log_min_level = min_level;
}

void
log_set_prefix(const char *fields)
{
	size_t o = 0;

	pthread_mutex_lock(&log_lock);
	put_escaped(log_prefix, sizeof(log_prefix), &o, fields ? fields : "",
	            false);
	log_prefix[o] = '\0';
	pthread_mutex_unlock(&log_lock);
}

int
log_parse_level(const char *s, LogLevel *out)
{
	for (int i = 0; i < 4; i++)
	{
		if (strcmp(s, level_names[i]) == 0)
		{
			*out = (LogLevel) i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0)
	{
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

/* put: append c to buf[*o] while room is left for the terminator */
static void
put(char *buf, size_t len, size_t *o, char c)
{
	if (*o + 1 < len)
		buf[(*o)++] = c;
}

/*
 * put_escaped: s with '"' and '\\' backslash-escaped and every control
 * character (and DEL) written as \n, \r, \t or \xNN, so that no value can
 * end a line, close a quoted value early or send terminal escapes.
 */
static void
put_escaped(char *buf, size_t len, size_t *o, const char *s, bool quotes)
{
	static const char hex[] = "0123456789abcdef";

	for (const char *p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (quotes && (c == '"' || c == '\\'))
		{
			put(buf, len, o, '\\');
			put(buf, len, o, (char) c);
		}
		else if (c == '\n' || c == '\r' || c == '\t')
		{
			put(buf, len, o, '\\');
			put(buf, len, o, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		}
		else if (c < 0x20 || c == 0x7f)
		{
			put(buf, len, o, '\\');
			put(buf, len, o, 'x');
			put(buf, len, o, hex[c >> 4]);
			put(buf, len, o, hex[c & 15]);
		}
		else
			put(buf, len, o, (char) c);
	}
}

static bool
needs_quotes(const char *s)
{
	for (const char *p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == ' ' || c == '"' || c == '=' || c == '\\' || c < 0x20 ||
		    c == 0x7f)
			return true;
	}
	return false;
}

/* is_quoted_token: s is one well-formed "..." value (as log_quote makes):
 * passing it through cannot add a field */
static bool
is_quoted_token(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f || c == '"')
			return false;
		if (c == '\\')
		{
			if (i + 2 >= n)
				return false; /* the closing quote would be escaped */
			i++;
		}
	}
	return true;
}

const char *
log_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return buf;
	if (s[0] != '\0' && !needs_quotes(s))
	{
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (len < 3)
	{
		buf[0] = '\0';
		return buf;
	}
	/* keep room for the closing quote */
	put(buf, len - 1, &o, '"');
	put_escaped(buf, len - 1, &o, s, true);
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* ---- format-aware rendering of the fields -------------------------------- */

/* put_value: one string argument, escaped for where the format put it */
static void
put_value(char *buf, size_t len, size_t *o, const char *v, bool in_quotes,
          bool after_eq)
{
	if (in_quotes)
		put_escaped(buf, len, o, v, true);
	else if (after_eq && needs_quotes(v) && !is_quoted_token(v))
	{
		put(buf, len, o, '"');
		put_escaped(buf, len, o, v, true);
		put(buf, len, o, '"');
	}
	else
		put_escaped(buf, len, o, v, false);
}

/*
 * Format one conversion into tmp. spec is the whole conversion ("%-8.*s");
 * the argument is fetched with the type its conversion and length modifier
 * name, exactly as printf would.
 */
#define FMT1(val)                                                              \
	(star_w && star_p ? snprintf(tmp, tlen, spec, w, pr, val)                  \
	 : star_w         ? snprintf(tmp, tlen, spec, w, val)                      \
	 : star_p         ? snprintf(tmp, tlen, spec, pr, val)                     \
	                  : snprintf(tmp, tlen, spec, val))

static void
format_one(char *tmp, size_t tlen, const char *spec, char conv,
           const char *lenmod, bool star_w, bool star_p, va_list *ap)
{
	int w = star_w ? va_arg(*ap, int) : 0;
	int pr = star_p ? va_arg(*ap, int) : 0;

	tmp[0] = '\0';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	switch (conv)
	{
		case 'd':
		case 'i':
			if (strcmp(lenmod, "ll") == 0)
				FMT1(va_arg(*ap, long long));
			else if (strcmp(lenmod, "l") == 0)
				FMT1(va_arg(*ap, long));
			else if (strcmp(lenmod, "j") == 0)
				FMT1(va_arg(*ap, intmax_t));
			else if (strcmp(lenmod, "z") == 0)
				FMT1(va_arg(*ap, ssize_t));
			else if (strcmp(lenmod, "t") == 0)
				FMT1(va_arg(*ap, ptrdiff_t));
			else
				FMT1(va_arg(*ap, int));
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			if (strcmp(lenmod, "ll") == 0)
				FMT1(va_arg(*ap, unsigned long long));
			else if (strcmp(lenmod, "l") == 0)
				FMT1(va_arg(*ap, unsigned long));
			else if (strcmp(lenmod, "j") == 0)
				FMT1(va_arg(*ap, uintmax_t));
			else if (strcmp(lenmod, "z") == 0)
				FMT1(va_arg(*ap, size_t));
			else if (strcmp(lenmod, "t") == 0)
				FMT1(va_arg(*ap, ptrdiff_t));
			else
				FMT1(va_arg(*ap, unsigned int));
			break;
		case 'c':
			FMT1(va_arg(*ap, int));
			break;
		case 'e':
		case 'E':
		case 'f':
		case 'F':
		case 'g':
		case 'G':
		case 'a':
		case 'A':
			if (strcmp(lenmod, "L") == 0)
				FMT1(va_arg(*ap, long double));
			else
				FMT1(va_arg(*ap, double));
			break;
		case 'p':
			FMT1(va_arg(*ap, void *));
			break;
		case 's':
		{
			const char *s = va_arg(*ap, const char *);

			FMT1(s ? s : "(null)");
		}
		break;
		default:
			break;
	}
#pragma GCC diagnostic pop
}

size_t
log_vrender(char *buf, size_t len, const char *fmt, va_list ap_in)
{
	size_t o = 0;
	bool in_quotes = false;
	va_list ap;

	if (len == 0)
		return 0;
	va_copy(ap, ap_in);
	for (const char *p = fmt; *p;)
	{
		char spec[32];
		char lenmod[3] = "";
		char tmp[2048];
		const char *start = p;
		bool star_w = false;
		bool star_p = false;
		bool after_eq;
		size_t sl;
		char conv;

		if (*p != '%')
		{
			/* the format is ours: only its quotes are tracked */
			if (*p == '"' && (p == fmt || p[-1] != '\\'))
				in_quotes = !in_quotes;
			put(buf, len, &o, *p++);
			continue;
		}
		if (p[1] == '%')
		{
			put(buf, len, &o, '%');
			p += 2;
			continue;
		}
		after_eq = p > fmt && p[-1] == '=';
		p++;
		while (*p && strchr("-+ #0'", *p))
			p++;
		if (*p == '*')
		{
			star_w = true;
			p++;
		}
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '.')
		{
			p++;
			if (*p == '*')
			{
				star_p = true;
				p++;
			}
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p && strchr("hljztL", *p))
		{
			lenmod[0] = *p++;
			if ((lenmod[0] == 'h' || lenmod[0] == 'l') && *p == lenmod[0])
				lenmod[1] = *p++;
		}
		conv = *p;
		if (conv == '\0' || strchr("diuxXocsfFeEgGaAp", conv) == NULL)
			break; /* not a conversion we know: stop here */
		p++;
		sl = (size_t) (p - start);
		if (sl >= sizeof(spec))
			break;
		memcpy(spec, start, sl);
		spec[sl] = '\0';
		format_one(tmp, sizeof(tmp), spec, conv, lenmod, star_w, star_p, &ap);
		if (conv == 's' || conv == 'c')
			put_value(buf, len, &o, tmp, in_quotes, after_eq);
		else
			put_escaped(buf, len, &o, tmp, false);
	}
	va_end(ap);
	buf[o] = '\0';
	return o;
}

size_t
log_render(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vrender(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

void
log_write(LogLevel level, const char *event, const char *fmt, ...)
{
	char fields[2048];
	char ts[40];
	va_list ap;

	if (level < log_min_level)
		return;
	va_start(ap, fmt);
	log_vrender(fields, sizeof(fields), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (log_to_journal)
	{
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

		sd_journal_send("MESSAGE=level=%s event=%s%s%s%s%s", level_names[level],
		                event, log_prefix[0] ? " " : "", log_prefix,
		                fields[0] ? " " : "", fields, "PRIORITY=%d",
		                prio[level], "PGW_EVENT=%s", event,
		                "SYSLOG_IDENTIFIER=%s", log_ident, NULL);
	}
	else
	{
		pgw_format_wall_iso(pgw_now_wall_ms(), 0, ts, sizeof(ts));
		fprintf(stderr, "%s level=%s event=%s%s%s%s%s\n", ts,
		        level_names[level], event, log_prefix[0] ? " " : "", log_prefix,
		        fields[0] ? " " : "", fields);
	}
	pthread_mutex_unlock(&log_lock);
}
