/*
 * error.h: typed errors (STYLE.md, "Errors"). Fallible functions return 0 or a
 * negative PGW_E* code and fill an optional PgwError with the same code and a
 * PostgreSQL-style message that carries the detail; the caller that decides
 * logs it once.
 */
#ifndef PGW_COMMON_ERROR_H
#define PGW_COMMON_ERROR_H

#include "common/compiler.h"

typedef enum PgwErrorCode
{
	PGW_OK = 0,
	PGW_EINVAL = -1,       /* bad input: caller's argument or outside data */
	PGW_ETIMEDOUT = -2,    /* deadline passed; the outcome may be unknown */
	PGW_EUNAVAILABLE = -3, /* peer unreachable or refused the connection */
	PGW_ECONFLICT = -4,    /* compare failed / someone else holds it */
	PGW_EAUTH = -5,        /* authentication or permission refused */
	PGW_ECOMPACTED = -6,   /* etcd revision compacted */
	PGW_EBADRESPONSE = -7, /* peer answered something we cannot decode */
	PGW_ENOTFOUND = -8,    /* key, lease, member or file does not exist */
	PGW_EIO = -9,          /* local I/O or child process failure */
	PGW_ESTATE = -10,      /* not possible in the current state */
	PGW_ECANCELED = -11,   /* operation canceled */
	PGW_EINTERNAL = -12,   /* a bug: an invariant did not hold */
} PgwErrorCode;

#define PGW_ERROR_MSG_MAX 512

typedef struct PgwError
{
	int code;                    /* one of PgwErrorCode */
	char msg[PGW_ERROR_MSG_MAX]; /* "could not ...: detail" */
} PgwError;

/*
 * pgw_error_set: fill err (which may be NULL) and return code, so that
 * leaves can write `return pgw_error_set(err, PGW_EINVAL, "...")`.
 */
int pgw_error_set(PgwError *err, int code, const char *fmt, ...)
    PGW_PRINTF(3, 4);

/* pgw_error_prefix: prepend "prefix: " to err->msg (context from a caller). */
void pgw_error_prefix(PgwError *err, const char *fmt, ...) PGW_PRINTF(2, 3);

/* pgw_error_clear: reset err to PGW_OK with an empty message; NULL is fine. */
void pgw_error_clear(PgwError *err);

/* pgw_strerror: stable lower-case name of a code, e.g. "timeout". */
const char *pgw_strerror(int code);

#endif
