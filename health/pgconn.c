/*
 * pgconn.c: libpq calls bounded by client-side deadlines (a stopped server
 * must not hang the daemon loop), and the classification of connection
 * failures into HealthUnreachable reasons. Used by probe.c and control.c.
 */
#include "health/health_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

void
pgc_one_line(const char *msg, char *buf, size_t len)
{
	size_t j = 0;

	if (len == 0)
		return;
	for (size_t i = 0; msg != NULL && msg[i] != '\0' && j + 1 < len; i++)
	{
		char ch = msg[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		buf[j++] = ch;
	}
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = '\0';
}

HealthUnreachable
pgc_classify(const char *msg)
{
	if (msg == NULL)
		return HEALTH_REACH_OTHER;
	if (strstr(msg, "Connection refused") ||
	    strstr(msg, "No such file or directory"))
		return HEALTH_REACH_REFUSED;
	if (strstr(msg, "is starting up"))
		return HEALTH_REACH_STARTING_UP;
	if (strstr(msg, "is shutting down"))
		return HEALTH_REACH_SHUTTING_DOWN;
	if (strstr(msg, "in recovery mode") ||
	    strstr(msg, "not yet accepting connections") ||
	    strstr(msg, "not accepting connections"))
		return HEALTH_REACH_IN_RECOVERY;
	if (strstr(msg, "too many clients") ||
	    strstr(msg, "remaining connection slots"))
		return HEALTH_REACH_TOO_MANY_CLIENTS;
	if (strstr(msg, "authentication failed") ||
	    strstr(msg, "no pg_hba.conf entry") ||
	    strstr(msg, "no password supplied") ||
	    (strstr(msg, "role \"") && strstr(msg, "does not exist")) ||
	    strstr(msg, "permission denied"))
		return HEALTH_REACH_AUTH;
	if (strstr(msg, "timeout expired"))
		return HEALTH_REACH_TIMEOUT;
	return HEALTH_REACH_OTHER;
}

int
pgc_reason_code(HealthUnreachable why)
{
	switch (why)
	{
		case HEALTH_REACH_OK:
			return 0;
		case HEALTH_REACH_AUTH:
			return PGW_EAUTH;
		case HEALTH_REACH_TIMEOUT:
			return PGW_ETIMEDOUT;
		case HEALTH_REACH_BAD_RESPONSE:
			return PGW_EBADRESPONSE;
		default:
			return PGW_EUNAVAILABLE;
	}
}

/* wait for the socket; false on timeout or poll error */
static bool
wait_sock(int fd, bool for_write, int64_t deadline_ms)
{
	for (;;)
	{
		int64_t left = deadline_ms - pgw_now_mono_ms();
		struct pollfd pfd = {.fd = fd, .events = for_write ? POLLOUT : POLLIN};
		int rc;

		if (left <= 0)
			return false;
		rc = poll(&pfd, 1, (int) left);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

static void
ignore_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

PGconn *
pgc_connect(const char *const *keys, const char *const *values, int timeout_ms,
            HealthUnreachable *why, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGconn *conn = PQconnectStartParams(keys, values, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char line[HEALTH_MSG_MAX];

	*why = HEALTH_REACH_OTHER;
	if (conn == NULL)
	{
		pgw_error_set(err, PGW_EUNAVAILABLE,
		              "could not connect: out of memory");
		return NULL;
	}
	while (PQstatus(conn) != CONNECTION_BAD)
	{
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			break;
		if (!wait_sock(PQsocket(conn), st == PGRES_POLLING_WRITING, deadline))
		{
			PQfinish(conn);
			*why = HEALTH_REACH_TIMEOUT;
			pgw_error_set(err, PGW_ETIMEDOUT,
			              "could not connect: timeout after %d ms", timeout_ms);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) == CONNECTION_OK)
	{
		/* server notices are not ours to print on stderr */
		PQsetNoticeProcessor(conn, ignore_notice, NULL);
		*why = HEALTH_REACH_OK;
		return conn;
	}
	pgc_one_line(PQerrorMessage(conn), line, sizeof(line));
	*why = pgc_classify(line);
	pgw_error_set(err, pgc_reason_code(*why), "could not connect: %s", line);
	PQfinish(conn);
	return NULL;
}

void
pgc_clear(PGresult **res, int nres)
{
	for (int i = 0; i < nres; i++)
	{
		PQclear(res[i]);
		res[i] = NULL;
	}
}

int
pgc_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
         int timeout_ms, PGresult **res, int *nres, char *sqlstate,
         PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	int sent;
	int rc = 0;
	PGresult *r;
	char line[HEALTH_MSG_MAX];

	*nres = 0;
	if (sqlstate != NULL)
		sqlstate[0] = '\0';
	if (nparams > 0)
		sent =
		    PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		sent = PQsendQuery(conn, sql);
	if (!sent)
	{
		pgc_one_line(PQerrorMessage(conn), line, sizeof(line));
		return pgw_error_set(err, PGW_EUNAVAILABLE, "could not send query: %s",
		                     line);
	}
	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (!wait_sock(PQsocket(conn), false, deadline))
			{
				PGcancel *cancel = PQgetCancel(conn);
				char buf[256];

				if (cancel != NULL)
				{
					(void) PQcancel(cancel, buf, sizeof(buf));
					PQfreeCancel(cancel);
				}
				pgc_clear(res, *nres);
				*nres = 0;
				return pgw_error_set(err, PGW_ETIMEDOUT,
				                     "could not run query: timeout after %d ms",
				                     timeout_ms);
			}
			if (!PQconsumeInput(conn))
				break;
		}
		r = PQgetResult(conn);
		if (r == NULL)
			break;
		if (rc == 0 && PQresultStatus(r) != PGRES_TUPLES_OK &&
		    PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			const char *m = PQresultErrorMessage(r);

			pgc_one_line(m && *m ? m : PQerrorMessage(conn), line,
			             sizeof(line));
			if (sqlstate != NULL && state != NULL)
				pgw_strlcpy(sqlstate, state, 6);
			if (PQstatus(conn) == CONNECTION_BAD)
				rc = pgw_error_set(err, PGW_EUNAVAILABLE, "connection lost: %s",
				                   line);
			else if (state != NULL && strcmp(state, "57014") == 0)
				rc = pgw_error_set(err, PGW_ETIMEDOUT, "query canceled: %s",
				                   line);
			else
				rc = pgw_error_set(err, PGW_EBADRESPONSE, "query failed: %s",
				                   line);
			PQclear(r);
			continue;
		}
		if (rc != 0 || *nres >= PGC_MAX_RESULTS)
		{
			PQclear(r);
			continue;
		}
		res[(*nres)++] = r;
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
	}
	if (rc == 0 && PQstatus(conn) == CONNECTION_BAD)
	{
		pgc_one_line(PQerrorMessage(conn), line, sizeof(line));
		rc = pgw_error_set(err, PGW_EUNAVAILABLE, "connection lost: %s", line);
	}
	if (rc != 0)
	{
		pgc_clear(res, *nres);
		*nres = 0;
	}
	return rc;
}
