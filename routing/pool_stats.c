/*
 * pool_stats.c: reading what a router's targets are doing, for its metrics
 * (exporter_int.h): PgBouncer's SHOW POOLS and SHOW DATABASES over the
 * admin console, HAProxy's `show servers state` over the stats socket. The
 * parsers are pure (RowSet in, structs out); the reads run on the
 * exporter's collector thread only, each bounded by the target's timeout,
 * so a hung PgBouncer costs that thread a timeout and nothing else.
 *
 * The libpq connection is opened asynchronously with a millisecond
 * deadline (connect_timeout counts whole seconds, at least 2 in libpq 15)
 * and kept between rounds; any failure closes it and the next round
 * reconnects.
 */
#include "routing/exporter_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
col(const RowSet *rs, const char *name)
{
	for (int i = 0; i < rs->ncols; i++)
		if (strcmp(rs->cols[i], name) == 0)
			return i;
	return -1;
}

static const char *
cell(const RowSet *rs, int row, int c)
{
	return rs->vals[row * rs->ncols + c];
}

/* a required integer column of row; PGW_EBADRESPONSE naming it */
static int
int_cell(const RowSet *rs, const char *what, int row, const char *name,
         int64_t *out, PgwError *err)
{
	int c = col(rs, name);

	if (c < 0)
		return pgw_error_set(err, PGW_EBADRESPONSE, "%s has no column \"%s\"",
		                     what, name);
	if (pgw_parse_int64(cell(rs, row, c), INT64_MIN, INT64_MAX, out) != 0)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "%s row %d: \"%s\" is \"%s\", not a number", what,
		                     row + 1, name, cell(rs, row, c));
	return 0;
}

int
pgbouncer_pools_parse(const RowSet *rs, PoolStat *out, int max, int *n,
                      int *n_dropped, PgwError *err)
{
	int c_db = col(rs, "database");
	int c_user = col(rs, "user");
	int c_us = col(rs, "maxwait_us");

	*n = 0;
	*n_dropped = 0;
	if (c_db < 0 || c_user < 0)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "SHOW POOLS has no column \"%s\"",
		                     c_db < 0 ? "database" : "user");
	for (int r = 0; r < rs->nrows; r++)
	{
		PoolStat p;
		int64_t wait_s = 0;
		int64_t wait_us = 0;
		int rc;

		if (strcmp(cell(rs, r, c_db), "pgbouncer") == 0)
			continue;
		memset(&p, 0, sizeof(p));
		pgw_strlcpy(p.database, cell(rs, r, c_db), sizeof(p.database));
		pgw_strlcpy(p.user, cell(rs, r, c_user), sizeof(p.user));
		if ((rc = int_cell(rs, "SHOW POOLS", r, "cl_active", &p.cl_active,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "cl_waiting", &p.cl_waiting,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "sv_active", &p.sv_active,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "sv_idle", &p.sv_idle, err)) !=
		        0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "sv_used", &p.sv_used, err)) !=
		        0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "sv_tested", &p.sv_tested,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "sv_login", &p.sv_login,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW POOLS", r, "maxwait", &wait_s, err)) != 0)
			return rc;
		/* maxwait_us: the microseconds part (PgBouncer 1.8 and later) */
		if (c_us >= 0 && (rc = int_cell(rs, "SHOW POOLS", r, "maxwait_us",
		                                &wait_us, err)) != 0)
			return rc;
		p.maxwait_s = (double) wait_s + (double) wait_us / 1e6;
		if (*n >= max)
		{
			(*n_dropped)++;
			continue;
		}
		out[(*n)++] = p;
	}
	return 0;
}

int
pgbouncer_databases_parse(const RowSet *rs, DbStat *out, int max, int *n,
                          int *n_dropped, PgwError *err)
{
	int c_name = col(rs, "name");

	*n = 0;
	*n_dropped = 0;
	if (c_name < 0)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "SHOW DATABASES has no column \"name\"");
	for (int r = 0; r < rs->nrows; r++)
	{
		DbStat d;
		int64_t paused = 0;
		int64_t disabled = 0;
		int rc;

		if (strcmp(cell(rs, r, c_name), "pgbouncer") == 0)
			continue;
		memset(&d, 0, sizeof(d));
		pgw_strlcpy(d.name, cell(rs, r, c_name), sizeof(d.name));
		if ((rc = int_cell(rs, "SHOW DATABASES", r, "pool_size", &d.pool_size,
		                   err)) != 0 ||
		    (rc = int_cell(rs, "SHOW DATABASES", r, "reserve_pool",
		                   &d.reserve_pool, err)) != 0 ||
		    (rc = int_cell(rs, "SHOW DATABASES", r, "max_connections",
		                   &d.max_connections, err)) != 0 ||
		    (rc = int_cell(rs, "SHOW DATABASES", r, "current_connections",
		                   &d.current_connections, err)) != 0 ||
		    (rc = int_cell(rs, "SHOW DATABASES", r, "paused", &paused, err)) !=
		        0 ||
		    (rc = int_cell(rs, "SHOW DATABASES", r, "disabled", &disabled,
		                   err)) != 0)
			return rc;
		d.paused = paused != 0;
		d.disabled = disabled != 0;
		if (*n >= max)
		{
			(*n_dropped)++;
			continue;
		}
		out[(*n)++] = d;
	}
	return 0;
}

void
exporter_target_name(const TargetConfig *cfg, char *out, size_t len)
{
	if (cfg->name[0])
	{
		pgw_strlcpy(out, cfg->name, len);
		return;
	}
	if (cfg->kind == TARGET_HAPROXY)
	{
		pgw_strlcpy(out, cfg->socket, len);
		return;
	}
	if (cfg->kind == TARGET_PGBOUNCER)
	{
		PQconninfoOption *opts = PQconninfoParse(cfg->admin_conninfo, NULL);
		const char *host = "";
		const char *port = "6432";

		for (PQconninfoOption *o = opts; o && o->keyword; o++)
		{
			if (strcmp(o->keyword, "host") == 0 && o->val && o->val[0])
				host = o->val;
			else if (strcmp(o->keyword, "port") == 0 && o->val && o->val[0])
				port = o->val;
		}
		snprintf(out, len, "%s:%s", host[0] ? host : "localhost", port);
		PQconninfoFree(opts);
		return;
	}
	snprintf(out, len, "target-line-%d", cfg->line);
}

/* ---- bounded libpq ---------------------------------------------------- */

static int
wait_socket(PGconn *conn, bool for_write, int64_t deadline, PgwError *err)
{
	struct pollfd pfd = {.fd = PQsocket(conn),
	                     .events = for_write ? POLLOUT : POLLIN};

	for (;;)
	{
		int64_t left = deadline - pgw_now_mono_ms();
		int rc;

		if (left <= 0)
			return pgw_error_set(err, PGW_ETIMEDOUT, "no answer in time");
		rc = poll(&pfd, 1, (int) left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return pgw_error_set(err, PGW_EIO, "poll: %s", strerror(errno));
	}
}

static int
connect_bounded(const char *conninfo, int64_t deadline, PGconn **out,
                PgwError *err)
{
	const char *keys[] = {"dbname", NULL};
	const char *vals[] = {conninfo, NULL};
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	*out = NULL;
	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
	{
		int rc = pgw_error_set(err, PGW_EUNAVAILABLE,
		                       "could not connect to the admin console: %s",
		                       conn ? PQerrorMessage(conn) : "out of memory");

		PQfinish(conn);
		return rc;
	}
	while (st != PGRES_POLLING_OK)
	{
		int rc;

		if (st == PGRES_POLLING_FAILED)
		{
			char msg[256];

			pgw_strlcpy(msg, PQerrorMessage(conn), sizeof(msg));
			msg[strcspn(msg, "\n")] = '\0';
			PQfinish(conn);
			return pgw_error_set(err, PGW_EUNAVAILABLE,
			                     "could not connect to the admin console: %s",
			                     msg);
		}
		rc = wait_socket(conn, st == PGRES_POLLING_WRITING, deadline, err);
		if (rc != 0)
		{
			PQfinish(conn);
			return pgw_error_set(
			    err, rc,
			    "could not connect to the admin console: no answer in time");
		}
		st = PQconnectPoll(conn);
	}
	*out = conn;
	return 0;
}

/* one query; *res is its last result (caller PQclear()s) */
static int
query_bounded(PGconn *conn, const char *sql, int64_t deadline, PGresult **res,
              PgwError *err)
{
	PGresult *r;
	PGresult *last = NULL;

	*res = NULL;
	if (!PQsendQuery(conn, sql))
		return pgw_error_set(err, PGW_EUNAVAILABLE, "could not send %s: %s",
		                     sql, PQerrorMessage(conn));
	while (PQisBusy(conn))
	{
		if (wait_socket(conn, false, deadline, err) != 0)
			return pgw_error_set(err, PGW_ETIMEDOUT, "%s: no answer in time",
			                     sql);
		if (!PQconsumeInput(conn))
			return pgw_error_set(err, PGW_EUNAVAILABLE, "%s: %s", sql,
			                     PQerrorMessage(conn));
	}
	while ((r = PQgetResult(conn)) != NULL)
	{
		PQclear(last);
		last = r;
	}
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
	{
		char msg[256];

		pgw_strlcpy(msg, last ? PQresultErrorMessage(last) : "no result",
		            sizeof(msg));
		msg[strcspn(msg, "\n")] = '\0';
		PQclear(last);
		return pgw_error_set(err, PGW_EBADRESPONSE, "%s refused: %s", sql, msg);
	}
	*res = last;
	return 0;
}

/* the rows of res as a RowSet pointing into it (valid until PQclear) */
static void
rowset_of(PGresult *res, RowSet *rs, const char ***cols, const char ***vals)
{
	int nc = PQnfields(res);
	int nr = PQntuples(res);

	*cols = calloc((size_t) nc + 1, sizeof(char *));
	*vals = calloc((size_t) nc * (size_t) nr + 1, sizeof(char *));
	if (*cols == NULL || *vals == NULL)
		abort();
	for (int c = 0; c < nc; c++)
		(*cols)[c] = PQfname(res, c);
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			(*vals)[r * nc + c] = PQgetvalue(res, r, c);
	rs->ncols = nc;
	rs->cols = *cols;
	rs->nrows = nr;
	rs->vals = *vals;
}

static int
read_show(PGconn *conn, const char *sql, int64_t deadline, TargetStats *ts,
          PgwError *err)
{
	PGresult *res;
	RowSet rs;
	const char **cols;
	const char **vals;
	int dropped = 0;
	int rc = query_bounded(conn, sql, deadline, &res, err);

	if (rc != 0)
		return rc;
	rowset_of(res, &rs, &cols, &vals);
	if (strcmp(sql, "SHOW POOLS") == 0)
		rc = pgbouncer_pools_parse(&rs, ts->pools, EXPORTER_POOLS_MAX,
		                           &ts->n_pools, &dropped, err);
	else
		rc = pgbouncer_databases_parse(&rs, ts->dbs, EXPORTER_DBS_MAX,
		                               &ts->n_dbs, &dropped, err);
	free(cols);
	free(vals);
	PQclear(res);
	return rc;
}

int
pool_stats_read_pgbouncer(const TargetConfig *cfg, void **conn,
                          int64_t timeout_ms, TargetStats *ts, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGconn *pc = *conn;
	int rc = 0;

	if (pc != NULL && PQstatus(pc) != CONNECTION_OK)
	{
		PQfinish(pc);
		pc = NULL;
	}
	if (pc == NULL)
		rc = connect_bounded(cfg->admin_conninfo, deadline, &pc, err);
	if (rc == 0)
		rc = read_show(pc, "SHOW DATABASES", deadline, ts, err);
	if (rc == 0)
		rc = read_show(pc, "SHOW POOLS", deadline, ts, err);
	if (rc != 0 && pc != NULL)
	{
		PQfinish(pc);
		pc = NULL;
	}
	*conn = pc;
	return rc;
}

void
pool_stats_close_pgbouncer(void *conn)
{
	PQfinish(conn);
}

int
pool_stats_read_haproxy(const TargetConfig *cfg, int64_t timeout_ms,
                        TargetStats *ts, PgwError *err)
{
	size_t cap = 128 * 1024;
	char *out = malloc(cap);
	char cmd[160];
	int rc;

	if (out == NULL)
		abort();
	snprintf(cmd, sizeof(cmd), "show servers state %s", cfg->rw_backend);
	rc = haproxy_command(cfg->socket, cmd, timeout_ms, out, cap, err);
	if (rc == 0)
	{
		rc = haproxy_servers_parse(out, cfg->rw_backend, ts->rw,
		                           HAPROXY_SERVERS_MAX, err);
		ts->n_rw = rc > 0 ? rc : 0;
		rc = rc < 0 ? rc : 0;
	}
	if (rc == 0 && cfg->ro_backend[0])
	{
		snprintf(cmd, sizeof(cmd), "show servers state %s", cfg->ro_backend);
		rc = haproxy_command(cfg->socket, cmd, timeout_ms, out, cap, err);
		if (rc == 0)
		{
			rc = haproxy_servers_parse(out, cfg->ro_backend, ts->ro,
			                           HAPROXY_SERVERS_MAX, err);
			ts->n_ro = rc > 0 ? rc : 0;
			rc = rc < 0 ? rc : 0;
		}
	}
	free(out);
	return rc;
}
