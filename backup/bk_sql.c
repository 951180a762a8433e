/*
 * bk_sql.c: the few statements backup/ runs on the local PostgreSQL: the
 * canary row the leader writes every minute (the restore drill measures
 * the recovery point with it), the archiver's counters (the catalog's
 * "last archived" and failures), and the gap check's reads (wal segment
 * size, pg_wal's files, a timeline history file). DESIGN.md keeps
 * PostgreSQL behind health/; these are backup's own facts, read over a
 * short-lived connection bounded in time, so the HA loop never waits long.
 */
#include "backup/backup_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *
bk_sql_connect(const NodeConfig *cfg, const char *host, int port,
               int timeout_ms, int statement_ms, PgwError *err)
{
	char port_s[16];
	char opts[64];
	const char *keys[8];
	const char *vals[8];
	int n = 0;
	PGconn *conn;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;

	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(opts, sizeof(opts),
	         "-c statement_timeout=%d -c client_min_messages=warning",
	         statement_ms);
	keys[n] = "host";
	vals[n++] = host;
	keys[n] = "port";
	vals[n++] = port_s;
	keys[n] = "user";
	vals[n++] =
	    cfg->pg_superuser_username ? cfg->pg_superuser_username : "postgres";
	keys[n] = "dbname";
	vals[n++] = "postgres";
	keys[n] = "options";
	vals[n++] = opts;
	keys[n] = "application_name";
	vals[n++] = "pgwarden-backup";
	if (cfg->pg_superuser_password != NULL)
	{
		keys[n] = "password";
		vals[n++] = cfg->pg_superuser_password;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectStartParams(keys, vals, 0);
	if (conn == NULL)
	{
		pgw_error_set(err, PGW_EIO, "could not allocate a connection");
		return NULL;
	}
	for (;;)
	{
		PostgresPollingStatusType st = PQconnectPoll(conn);
		struct pollfd pfd;
		int64_t left = deadline - pgw_now_mono_ms();

		if (st == PGRES_POLLING_OK)
			return conn;
		if (st == PGRES_POLLING_FAILED || left <= 0)
		{
			char msg[256];

			pgw_strlcpy(msg, left <= 0 ? "timeout" : PQerrorMessage(conn),
			            sizeof(msg));
			for (char *p = msg; *p; p++)
				if (*p == '\n')
					*p = ' ';
			pgw_error_set(err, left <= 0 ? PGW_ETIMEDOUT : PGW_EUNAVAILABLE,
			              "could not connect to PostgreSQL at %s:%d: %s", host,
			              port, msg);
			PQfinish(conn);
			return NULL;
		}
		pfd.fd = PQsocket(conn);
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		(void) poll(&pfd, 1, (int) (left > 100 ? 100 : left));
	}
}

static void
one_line(const char *msg, char *buf, size_t len)
{
	pgw_strlcpy(buf, msg ? msg : "", len);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

char *
bk_sql_value(PGconn *conn, const char *sql, int nparams,
             const char *const *params, PgwError *err)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	char *v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		char msg[300];

		one_line(PQresultErrorMessage(r), msg, sizeof(msg));
		pgw_error_set(err, PGW_EIO, "query failed: %s", msg);
	}
	else if (PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
		pgw_error_set(err, PGW_ENOTFOUND, "query returned no value");
	else
		v = pgw_xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

int
bk_sql_exec(PGconn *conn, const char *sql, int nparams,
            const char *const *params, PgwError *err)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		char msg[300];

		one_line(PQresultErrorMessage(r), msg, sizeof(msg));
		rc = pgw_error_set(err, PGW_EIO, "statement failed: %s", msg);
	}
	PQclear(r);
	return rc;
}

int
bk_sql_archiver(PGconn *conn, BkArchiver *out, PgwError *err)
{
	PGresult *r;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	r = PQexec(
	    conn,
	    "SELECT coalesce(last_archived_wal, ''),"
	    " coalesce((extract(epoch from last_archived_time) * 1000)::bigint, 0),"
	    " failed_count, coalesce(last_failed_wal, ''),"
	    " coalesce((extract(epoch from last_failed_time) * 1000)::bigint, 0)"
	    " FROM pg_stat_archiver");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		char msg[300];

		one_line(PQresultErrorMessage(r), msg, sizeof(msg));
		rc = pgw_error_set(err, PGW_EIO, "could not read pg_stat_archiver: %s",
		                   msg);
	}
	else
	{
		int64_t v;

		pgw_strlcpy(out->last_archived_wal, PQgetvalue(r, 0, 0),
		            sizeof(out->last_archived_wal));
		if (pgw_parse_int64(PQgetvalue(r, 0, 1), 0, INT64_MAX, &v) == 0)
			out->last_archived_wall_ms = v;
		if (pgw_parse_int64(PQgetvalue(r, 0, 2), 0, INT64_MAX, &v) == 0)
			out->failed_count = v;
		pgw_strlcpy(out->last_failed_wal, PQgetvalue(r, 0, 3),
		            sizeof(out->last_failed_wal));
		if (pgw_parse_int64(PQgetvalue(r, 0, 4), 0, INT64_MAX, &v) == 0)
			out->last_failed_wall_ms = v;
	}
	PQclear(r);
	return rc;
}

int
bk_sql_canary(PGconn *conn, const char *leader, PgwError *err)
{
	const char *params[1] = {leader};

	/* one row, overwritten: a restored copy holds the newest it got */
	if (bk_sql_exec(
	        conn,
	        "CREATE TABLE IF NOT EXISTS public.pgwarden_canary"
	        " (id int PRIMARY KEY, at timestamptz NOT NULL, leader text,"
	        " timeline int)",
	        0, NULL, err) != 0)
		return PGW_EIO;
	return bk_sql_exec(
	    conn,
	    "INSERT INTO public.pgwarden_canary VALUES (1, now(), $1,"
	    " (SELECT timeline_id FROM pg_control_checkpoint()))"
	    " ON CONFLICT (id) DO UPDATE SET at = excluded.at,"
	    " leader = excluded.leader, timeline = excluded.timeline",
	    1, params, err);
}

PGconn *
bk_local_conn(const NodeConfig *cfg, int connect_ms, int statement_ms,
              PgwError *err)
{
	const char *l = cfg->pg_listen ? cfg->pg_listen : "127.0.0.1";
	const char *colon = strrchr(l, ':');
	char host[256];

	if (cfg->pg_socket_dir != NULL)
		pgw_strlcpy(host, cfg->pg_socket_dir, sizeof(host));
	else
	{
		snprintf(host, sizeof(host), "%.*s",
		         colon ? (int) (colon - l) : (int) strlen(l), l);
		if (host[0] == '\0' || strcmp(host, "*") == 0 ||
		    strcmp(host, "0.0.0.0") == 0)
			pgw_strlcpy(host, "127.0.0.1", sizeof(host));
	}
	return bk_sql_connect(cfg, host, cfg->pg_port, connect_ms, statement_ms,
	                      err);
}
