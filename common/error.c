/*
 * error.c: typed errors, see error.h.
 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
pgw_error_set(PgwError *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
pgw_error_prefix(PgwError *err, const char *fmt, ...)
{
	char prefix[PGW_ERROR_MSG_MAX];
	char old[PGW_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void
pgw_error_clear(PgwError *err)
{
	if (err == NULL)
		return;
	err->code = PGW_OK;
	err->msg[0] = '\0';
}

const char *
pgw_strerror(int code)
{
	switch ((PgwErrorCode) code)
	{
		case PGW_OK:
			return "ok";
		case PGW_EINVAL:
			return "invalid";
		case PGW_ETIMEDOUT:
			return "timeout";
		case PGW_EUNAVAILABLE:
			return "unavailable";
		case PGW_ECONFLICT:
			return "conflict";
		case PGW_EAUTH:
			return "auth";
		case PGW_ECOMPACTED:
			return "compacted";
		case PGW_EBADRESPONSE:
			return "bad-response";
		case PGW_ENOTFOUND:
			return "not-found";
		case PGW_EIO:
			return "io";
		case PGW_ESTATE:
			return "state";
		case PGW_ECANCELED:
			return "canceled";
		case PGW_EINTERNAL:
			return "internal";
	}
	return "unknown";
}
