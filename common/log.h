/*
 * log.h: structured key=value logging (STYLE.md, "Logging"). One entry point
 * takes a level, a stable event name and key=value fields. On stderr:
 *   2026-11-23T10:01:02.123Z level=info event=leader.acquired member=n1
 * When stderr is the journal (JOURNAL_STREAM matches), lines go natively
 * through sd_journal_send() with PGW_EVENT= so that operators can run
 * `journalctl PGW_EVENT=failover.promote`.
 */
#ifndef PGW_COMMON_LOG_H
#define PGW_COMMON_LOG_H

#include "common/compiler.h"

#include <stdarg.h>
#include <stddef.h>

typedef enum LogLevel
{
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
} LogLevel;

/* log_init: pick the sink (journal or stderr) and the minimum level. */
void log_init(const char *ident, LogLevel min_level);

/* log_set_level / log_parse_level: "debug", "info", "warn", "error". */
void log_set_level(LogLevel min_level);
int log_parse_level(const char *s, LogLevel *out);

/* log_set_prefix: fields put before every line's own, e.g. "node=n1". */
void log_set_prefix(const char *fields);

void log_write(LogLevel level, const char *event, const char *fmt, ...)
    PGW_PRINTF(3, 4);

#define log_debug(event, ...) log_write(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  log_write(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_warn(event, ...)  log_write(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_write(LOG_LEVEL_ERROR, event, __VA_ARGS__)

/*
 * log_quote: render s as a log value, double-quoted with \" and \\ escaped
 * (control characters as \n, \r, \t, \xNN) when it is empty or contains
 * spaces, quotes, '=', '\\' or control characters; buf holds the result
 * (truncated to len, still closed by its quote). Returns buf.
 */
const char *log_quote(const char *s, char *buf, size_t len);

/*
 * log_render / log_vrender: what log_write prints for fmt and its
 * arguments, made safe against values that did not come from pgwarden
 * (member names, REST bodies, etcd values, server messages): every
 * string argument has its control characters written as \n, \r, \t,
 * \xNN; inside a quoted value of the format ("detail=\"%s\"") its quotes
 * and backslashes are escaped; right after '=' ("target=%s") it is quoted
 * when it holds a space, '=', a quote or a backslash (a value already
 * quoted by log_quote passes as it is). So no value can start a line or
 * add a field. Returns the length written (truncated to len - 1).
 */
size_t log_render(char *buf, size_t len, const char *fmt, ...) PGW_PRINTF(3, 4);
size_t log_vrender(char *buf, size_t len, const char *fmt, va_list ap);

#endif
