/*
 * target_pgbouncer.c: re-point PgBouncer 1.18 (notes R1 §1.4): rewrite the
 * [databases] include file atomically, apply it through the admin console
 * (libpq: RELOAD, verified with SHOW DATABASES), KILL the rw database when
 * writes must stop at once (fence, cut, unplanned failover), PAUSE it during
 * a planned switchover, and RESUME only after the RELOAD was verified
 * (PgBouncer issue #498: PAUSE + host change + RELOAD can fail the next
 * client; reloading before resuming and verifying avoids serving from a
 * half-applied pool). Before the RESUME it clears PgBouncer's "last connect
 * failed" mark on the rw pool (pgbouncer_resume_plan), which otherwise held
 * the first write for up to server_login_retry after every fence.
 */
#include "routing/routing_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pgbouncer_ro_choice(const RoutingTable *t)
{
	int best = -1;

	for (int i = 0; i < t->n_replicas; i++)
	{
		const RoutingReplica *r = &t->replicas[i];
		const RoutingReplica *b = best >= 0 ? &t->replicas[best] : NULL;

		if (r->weight <= 0)
			continue;
		if (b == NULL || r->weight > b->weight ||
		    (r->weight == b->weight && r->lag_bytes < b->lag_bytes))
			best = i;
	}
	return best;
}

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    PGW_PRINTF(4, 5);

static void
append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t) n < *cap - *len)
		{
			*len += (size_t) n;
			return;
		}
		*cap *= 2;
		*buf = realloc(*buf, *cap);
		if (*buf == NULL)
			abort();
	}
}

static void
entry(char **buf, size_t *len, size_t *cap, const TargetConfig *cfg,
      const char *db, const char *host, int port)
{
	if (port > 0)
		append(buf, len, cap, "%s = host=%s port=%d dbname=%s%s%s\n", db, host,
		       port, cfg->dbname, cfg->options[0] ? " " : "", cfg->options);
	else
		append(buf, len, cap, "%s = host=%s dbname=%s%s%s\n", db, host,
		       cfg->dbname, cfg->options[0] ? " " : "", cfg->options);
}

char *
pgbouncer_render_include(const TargetConfig *cfg, const RoutingTable *t)
{
	size_t cap = 1024;
	size_t len = 0;
	char *buf = malloc(cap);
	int ro;

	if (buf == NULL)
		abort();
	buf[0] = '\0';
	append(
	    &buf, &len, &cap,
	    "; written by pgwarden-router: routing epoch %lld (%s); do not edit\n"
	    "[databases]\n",
	    (long long) t->epoch, routing_state_name(t->state));
	if (t->state == ROUTING_STATE_SERVING ||
	    (t->state == ROUTING_STATE_SWITCHING && t->has_primary))
		entry(&buf, &len, &cap, cfg, cfg->rw_database, t->primary.host,
		      t->primary.port);
	else
		entry(&buf, &len, &cap, cfg, cfg->rw_database, cfg->fenced_host, 0);
	if (cfg->ro_database[0] != '\0')
	{
		ro = pgbouncer_ro_choice(t);
		if (ro >= 0)
			entry(&buf, &len, &cap, cfg, cfg->ro_database,
			      t->replicas[ro].ep.host, t->replicas[ro].ep.port);
		else if (t->has_primary)
			entry(&buf, &len, &cap, cfg, cfg->ro_database, t->primary.host,
			      t->primary.port);
		else
			entry(&buf, &len, &cap, cfg, cfg->ro_database, cfg->fenced_host, 0);
	}
	return buf;
}

/* ---- the admin console ---- */

typedef struct DbRow
{
	bool found;
	char host[ROUTER_PATH_MAX];
	int port;
	bool paused;
} DbRow;

static int
admin_open(const TargetConfig *cfg, PGconn **out, PgwError *err)
{
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	char ct[16];
	const char *vals[3];
	PGconn *conn;

	snprintf(ct, sizeof(ct), "%lld",
	         (long long) (cfg->timeout_ms + 999) / 1000);
	vals[0] = cfg->admin_conninfo;
	vals[1] = ct;
	vals[2] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char msg[256];

		pgw_strlcpy(msg, conn ? PQerrorMessage(conn) : "out of memory",
		            sizeof(msg));
		msg[strcspn(msg, "\n")] = '\0';
		PQfinish(conn);
		return pgw_error_set(
		    err, PGW_EUNAVAILABLE,
		    "could not connect to the PgBouncer admin console: %s", msg);
	}
	*out = conn;
	return 0;
}

/* run one admin command bounded by timeout_ms; *res (may be NULL) gets the
 * last result (caller PQclear()s) */
static int
admin_exec(PGconn *conn, const char *sql, int64_t timeout_ms, PGresult **res,
           PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGresult *r;
	PGresult *last = NULL;
	int rc = 0;

	if (res)
		*res = NULL;
	if (!PQsendQuery(conn, sql))
		return pgw_error_set(err, PGW_EUNAVAILABLE,
		                     "could not send \"%s\" to PgBouncer: %s", sql,
		                     PQerrorMessage(conn));
	while (PQisBusy(conn))
	{
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		int64_t left = deadline - pgw_now_mono_ms();

		if (left <= 0)
			return pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "PgBouncer did not answer \"%s\" within %lld ms", sql,
			    (long long) timeout_ms);
		if (poll(&pfd, 1, (int) (left > 100 ? 100 : left)) < 0 &&
		    errno != EINTR)
			return pgw_error_set(err, PGW_EIO, "poll: %s", strerror(errno));
		if (!PQconsumeInput(conn))
			return pgw_error_set(err, PGW_EUNAVAILABLE,
			                     "PgBouncer connection lost during \"%s\": %s",
			                     sql, PQerrorMessage(conn));
	}
	while ((r = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(r);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0)
		{
			char msg[256];

			pgw_strlcpy(msg, PQresultErrorMessage(r), sizeof(msg));
			msg[strcspn(msg, "\n")] = '\0';
			rc = pgw_error_set(err, PGW_ESTATE, "PgBouncer refused \"%s\": %s",
			                   sql, msg);
		}
		PQclear(last);
		last = r;
	}
	if (rc == 0 && res)
		*res = last;
	else
		PQclear(last);
	return rc;
}

static int
show_db(PGconn *conn, const TargetConfig *cfg, const char *db, DbRow *row,
        PgwError *err)
{
	PGresult *r;
	int c_name;
	int c_host;
	int c_port;
	int c_paused;
	int rc;

	memset(row, 0, sizeof(*row));
	if ((rc = admin_exec(conn, "SHOW DATABASES", cfg->timeout_ms, &r, err)) !=
	    0)
		return rc;
	c_name = PQfnumber(r, "name");
	c_host = PQfnumber(r, "host");
	c_port = PQfnumber(r, "port");
	c_paused = PQfnumber(r, "paused");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || c_name < 0 ||
	    c_host < 0 || c_port < 0 || c_paused < 0)
	{
		PQclear(r);
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "SHOW DATABASES lacks name/host/port/paused");
	}
	for (int i = 0; i < PQntuples(r); i++)
	{
		int64_t port = 0;

		if (strcmp(PQgetvalue(r, i, c_name), db) != 0)
			continue;
		row->found = true;
		pgw_strlcpy(row->host, PQgetvalue(r, i, c_host), sizeof(row->host));
		if (pgw_parse_int64(PQgetvalue(r, i, c_port), 0, 65535, &port) != 0)
			port = 0;
		row->port = (int) port;
		row->paused = strcmp(PQgetvalue(r, i, c_paused), "1") == 0;
	}
	PQclear(r);
	return 0;
}

bool
router_pgb_dbname_ok(const char *name)
{
	size_t n = strlen(name);

	/* PgBouncer's admin console takes the name as a bare word: letters,
	 * digits and '_' only, so no ';' or space can add a command (F15) */
	if (n == 0 || n > 63 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int
simple(PGconn *conn, const TargetConfig *cfg, const char *verb, const char *db,
       bool missing_ok, PgwError *err)
{
	char sql[160];
	int rc;

	if (!router_pgb_dbname_ok(db) ||
	    (size_t) snprintf(sql, sizeof(sql), "%s %s", verb, db) >= sizeof(sql))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "refusing \"%s\" for PgBouncer database \"%s\": not a plain name (letters, digits, _)",
		    verb, db);
	log_info("router.pgbouncer.command", "command=\"%s\"", sql);
	rc = admin_exec(conn, sql, cfg->timeout_ms, NULL, err);
	if (rc == PGW_ESTATE && missing_ok)
		return 0;
	return rc;
}

/* SHOW POOLS for db, summed over its users */
typedef struct PoolRow
{
	bool found;
	int clients; /* cl_active + cl_waiting */
	int servers; /* sv_active + sv_idle + sv_used + sv_tested +
								 * sv_login */
} PoolRow;

static int
show_pool(PGconn *conn, const TargetConfig *cfg, const char *db, PoolRow *row,
          PgwError *err)
{
	static const char *const cl_cols[] = {"cl_active", "cl_waiting"};
	static const char *const sv_cols[] = {"sv_active", "sv_idle", "sv_used",
	                                      "sv_tested", "sv_login"};
	PGresult *r;
	int c_db;
	int rc;

	memset(row, 0, sizeof(*row));
	if ((rc = admin_exec(conn, "SHOW POOLS", cfg->timeout_ms, &r, err)) != 0)
		return rc;
	c_db = PQfnumber(r, "database");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || c_db < 0)
	{
		PQclear(r);
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "SHOW POOLS lacks database");
	}
	for (int i = 0; i < PQntuples(r); i++)
	{
		if (strcmp(PQgetvalue(r, i, c_db), db) != 0)
			continue;
		row->found = true;
		for (size_t k = 0; k < sizeof(cl_cols) / sizeof(cl_cols[0]); k++)
		{
			int c = PQfnumber(r, cl_cols[k]);
			int64_t v = 0;

			if (c >= 0 &&
			    pgw_parse_int64(PQgetvalue(r, i, c), 0, INT32_MAX, &v) == 0)
				row->clients += (int) v;
		}
		for (size_t k = 0; k < sizeof(sv_cols) / sizeof(sv_cols[0]); k++)
		{
			int c = PQfnumber(r, sv_cols[k]);
			int64_t v = 0;

			if (c >= 0 &&
			    pgw_parse_int64(PQgetvalue(r, i, c), 0, INT32_MAX, &v) == 0)
				row->servers += (int) v;
		}
	}
	PQclear(r);
	return 0;
}

/* SHOW CONFIG: the value of key into val */
static int
show_config(PGconn *conn, const TargetConfig *cfg, const char *key, char *val,
            size_t len, PgwError *err)
{
	PGresult *r;
	int c_key;
	int c_val;
	int rc;

	if ((rc = admin_exec(conn, "SHOW CONFIG", cfg->timeout_ms, &r, err)) != 0)
		return rc;
	c_key = PQfnumber(r, "key");
	c_val = PQfnumber(r, "value");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || c_key < 0 ||
	    c_val < 0)
	{
		PQclear(r);
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "SHOW CONFIG lacks key/value");
	}
	rc = pgw_error_set(err, PGW_EBADRESPONSE, "SHOW CONFIG lacks \"%s\"", key);
	for (int i = 0; i < PQntuples(r); i++)
		if (strcmp(PQgetvalue(r, i, c_key), key) == 0)
		{
			pgw_strlcpy(val, PQgetvalue(r, i, c_val), len);
			rc = 0;
			break;
		}
	PQclear(r);
	return rc;
}

PgbResume
pgbouncer_resume_plan(bool was_killed, bool pool_exists, int clients)
{
	if (!pool_exists)
		return PGB_RESUME_PLAIN;
	if (clients > 0)
		return PGB_RESUME_RETRY_ZERO;
	if (was_killed)
		return PGB_RESUME_KILL_FIRST;
	return PGB_RESUME_PLAIN;
}

/* a setting value we may write back inside single quotes */
static bool
plain_value(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v; v++)
		if (!((*v >= '0' && *v <= '9') || *v == '.' || *v == 's' || *v == 'm' ||
		      *v == 'u'))
			return false;
	return true;
}

/*
 * resume_rw: RESUME the rw database as pgbouncer_resume_plan says. With
 * clients waiting: SET server_login_retry = 0, RESUME (PgBouncer connects
 * for the waiting clients in the same pass of its loop, and the first login
 * clears the mark), then set it back to the value SHOW CONFIG gave. The
 * value is restored even when the RESUME failed; a RELOAD also restores it
 * from pgbouncer.ini.
 */
static int
resume_rw(PGconn *conn, const TargetConfig *cfg, bool was_killed, PgwError *err)
{
	PoolRow pool;
	PgbResume plan;
	char retry[32] = "";
	char sql[96];
	int rc;

	if ((rc = show_pool(conn, cfg, cfg->rw_database, &pool, err)) != 0)
		return rc;
	plan = pgbouncer_resume_plan(was_killed, pool.found, pool.clients);
	if (plan == PGB_RESUME_RETRY_ZERO)
	{
		if ((rc = show_config(conn, cfg, "server_login_retry", retry,
		                      sizeof(retry), err)) != 0)
			return rc;
		if (!plain_value(retry))
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "SHOW CONFIG gave server_login_retry \"%s\"",
			                     retry);
		if (strcmp(retry, "0") == 0)
			plan = PGB_RESUME_PLAIN;
	}
	log_info("router.pgbouncer.resume",
	         "database=%s pool=%s clients=%d servers=%d plan=%s%s%s",
	         cfg->rw_database, pool.found ? "yes" : "no", pool.clients,
	         pool.servers,
	         plan == PGB_RESUME_PLAIN        ? "plain"
	         : plan == PGB_RESUME_KILL_FIRST ? "kill-first"
	                                         : "retry-zero",
	         retry[0] ? " server_login_retry=" : "", retry);
	if (plan == PGB_RESUME_KILL_FIRST &&
	    (rc = simple(conn, cfg, "KILL", cfg->rw_database, true, err)) != 0)
		return rc;
	if (plan == PGB_RESUME_RETRY_ZERO)
	{
		log_info("router.pgbouncer.command",
		         "command=\"SET server_login_retry = 0\"");
		if ((rc = admin_exec(conn, "SET server_login_retry = 0",
		                     cfg->timeout_ms, NULL, err)) != 0)
			return rc;
	}
	rc = simple(conn, cfg, "RESUME", cfg->rw_database, false, err);
	if (plan == PGB_RESUME_RETRY_ZERO)
	{
		PgwError e2 = {0};
		int rc2;

		snprintf(sql, sizeof(sql), "SET server_login_retry = '%s'", retry);
		log_info("router.pgbouncer.command", "command=\"%s\"", sql);
		rc2 = admin_exec(conn, sql, cfg->timeout_ms, NULL, &e2);
		if (rc == 0 && rc2 != 0)
		{
			rc = rc2;
			if (err)
				*err = e2;
		}
	}
	return rc;
}

/* does row point where t's rw entry should? (PgBouncer shows the port of
 * the listener for a socket-dir host it cannot use; only host is compared
 * then) */
static bool
rw_matches(const DbRow *row, const TargetConfig *cfg, const RoutingTable *t,
           bool serving)
{
	if (!row->found)
		return false;
	if (serving)
		return strcmp(row->host, t->primary.host) == 0 &&
		       row->port == t->primary.port;
	return strcmp(row->host, cfg->fenced_host) == 0;
}

/*
 * pgbouncer_apply: the sequence for each transition (prev may be NULL):
 *   writes must stop (fenced / cut): KILL rw first (drops client and
 *     server connections at once; new clients wait for RESUME), then
 *     rewrite, RELOAD, verify rw points at the fenced host.
 *   switching: PAUSE rw (waits for running transactions, bounded by the
 *     target timeout), rewrite, RELOAD, verify; stays paused.
 *   serving: if PgBouncer's rw points at another live node (unplanned
 *     change with no fence seen), KILL rw first; rewrite, RELOAD, verify
 *     host and port, then RESUME if paused and verify again.
 * The ro database follows with RECONNECT when its target changed.
 */
int
pgbouncer_apply(const TargetConfig *cfg, const RoutingTable *prev,
                const RoutingTable *next, PgwError *err)
{
	PGconn *conn = NULL;
	char *ini = NULL;
	bool serving = next->state == ROUTING_STATE_SERVING;
	bool was_killed;
	DbRow row;
	DbRow ro_before = {0};
	int rc;

	if ((rc = admin_open(cfg, &conn, err)) != 0)
		return rc;
	if ((rc = show_db(conn, cfg, cfg->rw_database, &row, err)) != 0)
		goto out;
	/* pointing at the fenced host means a fence or a cut KILLed it */
	was_killed = row.found && strcmp(row.host, cfg->fenced_host) == 0;
	if (cfg->ro_database[0] &&
	    (rc = show_db(conn, cfg, cfg->ro_database, &ro_before, err)) != 0)
		goto out;

	if (next->state == ROUTING_STATE_FENCED)
	{
		if (!row.found || !row.paused || !rw_matches(&row, cfg, next, false))
			if ((rc = simple(conn, cfg, "KILL", cfg->rw_database, true, err)) !=
			    0)
				goto out;
	}
	else if (next->state == ROUTING_STATE_SWITCHING)
	{
		if (!row.paused &&
		    (rc = simple(conn, cfg, "PAUSE", cfg->rw_database, true, err)) != 0)
			goto out;
	}
	else if (row.found && !rw_matches(&row, cfg, next, true) &&
	         strcmp(row.host, cfg->fenced_host) != 0 && !row.paused)
	{
		/* unplanned: connections still go to a node that is no longer
		 * primary */
		if ((rc = simple(conn, cfg, "KILL", cfg->rw_database, true, err)) != 0)
			goto out;
		was_killed = true;
	}

	ini = pgbouncer_render_include(cfg, next);
	if ((rc = router_write_atomic(cfg->include_file, ini, strlen(ini), 0640,
	                              err)) != 0)
		goto out;
	log_info("router.pgbouncer.command", "command=RELOAD epoch=%lld",
	         (long long) next->epoch);
	if ((rc = admin_exec(conn, "RELOAD", cfg->timeout_ms, NULL, err)) != 0)
		goto out;
	if ((rc = show_db(conn, cfg, cfg->rw_database, &row, err)) != 0)
		goto out;
	if (next->state != ROUTING_STATE_SWITCHING &&
	    !rw_matches(&row, cfg, next, serving))
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "after RELOAD PgBouncer database \"%s\" points at %s:%d, not %s:%d",
		    cfg->rw_database, row.host, row.port,
		    serving ? next->primary.host : cfg->fenced_host,
		    serving ? next->primary.port : 0);
		goto out;
	}
	if (serving && row.paused)
	{
		if ((rc = resume_rw(conn, cfg, was_killed, err)) != 0)
			goto out;
		if ((rc = show_db(conn, cfg, cfg->rw_database, &row, err)) != 0)
			goto out;
		if (row.paused || !rw_matches(&row, cfg, next, true))
		{
			rc = pgw_error_set(
			    err, PGW_ESTATE,
			    "after RESUME PgBouncer database \"%s\" is still paused or moved",
			    cfg->rw_database);
			goto out;
		}
	}
	if (cfg->ro_database[0])
	{
		DbRow ro_after;

		if ((rc = show_db(conn, cfg, cfg->ro_database, &ro_after, err)) != 0)
			goto out;
		if (ro_before.found && ro_after.found &&
		    (strcmp(ro_before.host, ro_after.host) != 0 ||
		     ro_before.port != ro_after.port))
			(void) simple(conn, cfg, "RECONNECT", cfg->ro_database, true, NULL);
	}
	(void) prev;
	rc = 0;
out:
	free(ini);
	PQfinish(conn);
	if (rc != 0)
		pgw_error_prefix(err, "pgbouncer target");
	return rc;
}
