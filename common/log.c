/*
 * log.c: structured logging to stderr or journald, see log.h.
 */
#include "common/log.h"

#include "common/pgwtime.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

static LogLevel log_min_level = LOG_LEVEL_INFO;
static int	log_to_journal = 0;
static char log_ident[64] = "pgwarden";
static char log_prefix[256] = "";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

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
	pthread_mutex_lock(&log_lock);
	snprintf(log_prefix, sizeof(log_prefix), "%s", fields ? fields : "");
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

const char *
log_quote(const char *s, char *buf, size_t len)
{
	int			needs = (s[0] == '\0');
	size_t		o = 0;

	for (const char *p = s; *p && !needs; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' ||
			(unsigned char) *p < 0x20)
			needs = 1;
	if (!needs)
	{
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (len < 3)
	{
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const char *p = s; *p && o + 3 < len; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"' || c == '\\')
		{
			buf[o++] = '\\';
			buf[o++] = (char) c;
		}
		else if (c == '\n')
		{
			buf[o++] = '\\';
			buf[o++] = 'n';
		}
		else if (c < 0x20)
			buf[o++] = ' ';
		else
			buf[o++] = (char) c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void
log_write(LogLevel level, const char *event, const char *fmt, ...)
{
	char		fields[2048];
	char		ts[40];
	va_list		ap;

	if (level < log_min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (log_to_journal)
	{
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

		sd_journal_send("MESSAGE=level=%s event=%s%s%s%s%s", level_names[level],
						event, log_prefix[0] ? " " : "", log_prefix,
						fields[0] ? " " : "", fields, "PRIORITY=%d", prio[level],
						"PGW_EVENT=%s", event, "SYSLOG_IDENTIFIER=%s", log_ident,
						NULL);
	}
	else
	{
		pgw_format_wall_iso(pgw_now_wall_ms(), 0, ts, sizeof(ts));
		fprintf(stderr, "%s level=%s event=%s%s%s%s%s\n", ts, level_names[level],
				event, log_prefix[0] ? " " : "", log_prefix, fields[0] ? " " : "",
				fields);
	}
	pthread_mutex_unlock(&log_lock);
}
