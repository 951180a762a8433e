/*
 * shard_sql.c: what a shard operation runs on a group's primary (shard.h):
 * schema pgwarden (the map version and owned slots of this group), the
 * guard trigger that refuses a write for a slot the group does not own,
 * and the helpers the move workflow (move.c) uses. Like ctl's write probe
 * this talks to PostgreSQL with libpq directly: these are SQL statements an
 * operator's command runs, not the daemon's health checks (DESIGN.md keeps
 * those in health/).
 *
 * Why the guard can be trusted during a freeze: apply_map() first takes
 * ACCESS EXCLUSIVE locks on shard_state and slot_owner. A writer's guard
 * holds ACCESS SHARE on both from its first read until it commits, so the
 * lock waits for every write that already passed the old ranges, and a
 * write that starts later blocks on the lock and then plans its read after
 * it, with a snapshot taken after the commit (PostgreSQL takes a
 * statement's locks before its snapshot). So once apply_map() returns,
 * every write the old ranges let through committed below the WAL position
 * read next, and none can follow.
 */
#include "shard/shard_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The column of a guard function's name must keep it under NAMEDATALEN. */
#define GUARD_COLUMN_MAX 48

static const char install_sql[] =
    "CREATE SCHEMA IF NOT EXISTS pgwarden;\n"
    "CREATE TABLE IF NOT EXISTS pgwarden.shard_state (\n"
    "  one boolean PRIMARY KEY DEFAULT true CHECK (one),\n"
    "  grp integer NOT NULL,\n"
    "  map_version bigint NOT NULL,\n"
    "  slots integer NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS pgwarden.slot_owner (\n"
    "  slot_from integer PRIMARY KEY,\n"
    "  slot_to integer NOT NULL CHECK (slot_from <= slot_to));\n"
    "GRANT USAGE ON SCHEMA pgwarden TO PUBLIC;\n"
    "GRANT SELECT ON pgwarden.shard_state, pgwarden.slot_owner TO PUBLIC;\n"
    "CREATE OR REPLACE FUNCTION pgwarden.slot_check(p_uid bigint, p_table text)\n"
    "  RETURNS void LANGUAGE plpgsql AS $f$\n"
    "DECLARE\n"
    "  st record;\n"
    "  s integer;\n"
    "BEGIN\n"
    "  IF p_uid IS NULL THEN\n"
    "    RAISE EXCEPTION 'pgwarden: a row of % has no user id', p_table\n"
    "      USING ERRCODE = '" PGW_SHARD_SQLSTATE_NO_KEY "';\n"
    "  END IF;\n"
    "  SELECT grp, map_version, slots INTO st FROM pgwarden.shard_state;\n"
    "  IF NOT FOUND THEN\n"
    "    RAISE EXCEPTION 'pgwarden: this database holds no shard map yet'\n"
    "      USING ERRCODE = '" PGW_SHARD_SQLSTATE "';\n"
    "  END IF;\n"
    "  s := hashint8extended(p_uid, 0) & (st.slots - 1);\n"
    "  PERFORM 1 FROM pgwarden.slot_owner WHERE slot_from <= s AND slot_to >= s;\n"
    "  IF NOT FOUND THEN\n"
    "    RAISE EXCEPTION 'pgwarden: slot % of user id % is not served by group % at shard map version %',\n"
    "        s, p_uid, st.grp, st.map_version\n"
    "      USING ERRCODE = '" PGW_SHARD_SQLSTATE "',\n"
    "            DETAIL = format('shard_map_version=%s group=%s slot=%s', st.map_version, st.grp, s),\n"
    "            HINT = 'refresh the shard map and retry on the group it names';\n"
    "  END IF;\n"
    "END $f$;\n"
    "CREATE OR REPLACE FUNCTION pgwarden.apply_map(p_group integer,\n"
    "    p_version bigint, p_slots integer, p_from integer[], p_to integer[])\n"
    "  RETURNS boolean LANGUAGE plpgsql AS $f$\n"
    "DECLARE\n"
    "  cur record;\n"
    "BEGIN\n"
    "  LOCK TABLE pgwarden.shard_state, pgwarden.slot_owner IN ACCESS EXCLUSIVE MODE;\n"
    "  SELECT grp, map_version INTO cur FROM pgwarden.shard_state;\n"
    "  IF FOUND AND cur.grp <> p_group THEN\n"
    "    RAISE EXCEPTION 'pgwarden: this database belongs to shard group %, not %',\n"
    "      cur.grp, p_group USING ERRCODE = 'PW003';\n"
    "  END IF;\n"
    "  IF FOUND AND cur.map_version >= p_version THEN\n"
    "    RETURN false;\n"
    "  END IF;\n"
    "  DELETE FROM pgwarden.shard_state;\n"
    "  INSERT INTO pgwarden.shard_state VALUES (true, p_group, p_version, p_slots);\n"
    "  DELETE FROM pgwarden.slot_owner;\n"
    "  INSERT INTO pgwarden.slot_owner\n"
    "    SELECT f, t FROM unnest(p_from, p_to) AS u(f, t);\n"
    "  RETURN true;\n"
    "END $f$;\n";

void
shard_pg_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}

/* one line of a libpq message, for err */
static const char *
pq_msg(PGconn *conn, char *buf, size_t len)
{
	const char *m = PQerrorMessage(conn);
	size_t j = 0;

	for (size_t i = 0; m && m[i] && j + 1 < len; i++)
		buf[j++] = (m[i] == '\n' || m[i] == '\t') ? ' ' : m[i];
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = '\0';
	return buf;
}

int
shard_pq_error(PGresult *res, PGconn *conn, const char *what, PgwError *err)
{
	char msg[400];
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int code = PGW_EIO;

	if (PQstatus(conn) != CONNECTION_OK)
		code = PGW_EUNAVAILABLE;
	else if (state && strcmp(state, "57014") == 0)
		code = PGW_ETIMEDOUT;
	else if (state && strcmp(state, "25006") == 0)
		code = PGW_ESTATE; /* read-only transaction: not a primary */
	pgw_error_set(err, code, "%s failed on %s:%s: %s%s%s", what,
	              PQhost(conn) ? PQhost(conn) : "?",
	              PQport(conn) ? PQport(conn) : "?",
	              pq_msg(conn, msg, sizeof(msg)), state ? " SQLSTATE " : "",
	              state ? state : "");
	if (res)
		PQclear(res);
	return code;
}

/* run sql (no parameters, any number of statements); 0 or an error */
int
shard_pq_exec(PGconn *conn, const char *what, const char *sql, PgwError *err)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		return shard_pq_error(res, conn, what, err);
	PQclear(res);
	return 0;
}

/* run a one-row query with text params; *out owned by the caller */
int
shard_pq_query(PGconn *conn, const char *what, const char *sql, int n,
               const char *const *params, PGresult **out, PgwError *err)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return shard_pq_error(res, conn, what, err);
	*out = res;
	return 0;
}

int
shard_pg_open(const ShardPgAuth *auth, const RoutingEndpoint *ep,
              int stmt_timeout_ms, PGconn **out, PgwError *err)
{
	const char *keys[8];
	const char *vals[8];
	char port[16];
	char timeout[16];
	char msg[400];
	int n = 0;
	PGconn *conn;
	PGresult *res = NULL;

	*out = NULL;
	snprintf(port, sizeof(port), "%d", ep->port);
	snprintf(timeout, sizeof(timeout), "%d",
	         auth->connect_timeout_s > 0 ? auth->connect_timeout_s : 5);
	keys[n] = "host";
	vals[n++] = ep->host;
	keys[n] = "port";
	vals[n++] = port;
	keys[n] = "dbname";
	vals[n++] = auth->dbname ? auth->dbname : "postgres";
	keys[n] = "user";
	vals[n++] = auth->user ? auth->user : "postgres";
	if (auth->password)
	{
		keys[n] = "password";
		vals[n++] = auth->password;
	}
	keys[n] = "connect_timeout";
	vals[n++] = timeout;
	keys[n] = "application_name";
	vals[n++] = "pgwarden-shard";
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		int code = PGW_EUNAVAILABLE;

		pq_msg(conn, msg, sizeof(msg));
		/* a wrong password is not a failover to wait out */
		if (strstr(msg, "authentication failed") ||
		    strstr(msg, "no pg_hba.conf entry") ||
		    strstr(msg, "no password supplied"))
			code = PGW_EAUTH;
		pgw_error_set(err, code, "could not connect to %s:%d: %s", ep->host,
		              ep->port, msg);
		PQfinish(conn);
		return code;
	}
	/* our idempotent DDL says "already exists" every time */
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	res = PQexec(conn, "SELECT pg_is_in_recovery()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		int rc = shard_pq_error(res, conn, "pg_is_in_recovery()", err);

		PQfinish(conn);
		return rc;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "f") != 0)
	{
		PQclear(res);
		PQfinish(conn);
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "%s:%d (%s) is in recovery, not a primary: the routing table is behind a failover",
		    ep->host, ep->port, ep->name);
	}
	PQclear(res);
	if (stmt_timeout_ms > 0)
	{
		char sql[64];
		int rc;

		snprintf(sql, sizeof(sql), "SET statement_timeout = %d",
		         stmt_timeout_ms);
		if ((rc = shard_pq_exec(conn, "SET statement_timeout", sql, err)) != 0)
		{
			PQfinish(conn);
			return rc;
		}
	}
	*out = conn;
	return 0;
}

int
shard_sql_install(PGconn *conn, PgwError *err)
{
	return shard_pq_exec(conn, "installing schema pgwarden", install_sql, err);
}

/* "{a,b,c}" of the from (or to) ends of the ranges group owns under m */
static char *
owned_array(const ShardMap *m, int group, bool ends)
{
	size_t cap = 16 + (size_t) m->n_ranges * 12;
	char *s = pgw_xmalloc(cap);
	size_t len = 0;
	bool first = true;

	s[len++] = '{';
	for (int i = 0; i < m->n_ranges; i++)
	{
		const ShardRange *r = &m->ranges[i];

		if (r->group != group || r->state == SHARD_STATE_FROZEN)
			continue;
		len += (size_t) snprintf(s + len, cap - len, "%s%d", first ? "" : ",",
		                         ends ? r->to : r->from);
		first = false;
	}
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

int
shard_pq_lsn(PGconn *conn, uint64_t *lsn, PgwError *err)
{
	PGresult *res = NULL;
	unsigned int hi;
	unsigned int lo;
	int rc;

	if ((rc = shard_pq_query(conn, "pg_current_wal_lsn()",
	                         "SELECT pg_current_wal_lsn()", 0, NULL, &res,
	                         err)) != 0)
		return rc;
	if (PQntuples(res) != 1 ||
	    sscanf(PQgetvalue(res, 0, 0), "%X/%X", &hi, &lo) != 2)
	{
		PQclear(res);
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "pg_current_wal_lsn(): unexpected answer");
	}
	*lsn = ((uint64_t) hi << 32) | lo;
	PQclear(res);
	return 0;
}

int
shard_sql_apply_map(PGconn *conn, const ShardMap *m, int group,
                    uint64_t *lsn_after, PgwError *err)
{
	char g[16];
	char v[24];
	char s[16];
	char *from = owned_array(m, group, false);
	char *to = owned_array(m, group, true);
	const char *params[5] = {g, v, s, from, to};
	PGresult *res = NULL;
	int rc;

	snprintf(g, sizeof(g), "%d", group);
	snprintf(v, sizeof(v), "%lld", (long long) m->version);
	snprintf(s, sizeof(s), "%d", m->slots);
	rc = shard_pq_query(
	    conn, "pgwarden.apply_map()",
	    "SELECT pgwarden.apply_map($1::integer, $2::bigint, $3::integer, $4::integer[], $5::integer[])",
	    5, params, &res, err);
	free(from);
	free(to);
	if (rc != 0)
		return rc;
	PQclear(res);
	if (lsn_after)
		return shard_pq_lsn(conn, lsn_after, err);
	return 0;
}

void
shard_sql_slot_expr(const char *column, int slots, char *buf, size_t len)
{
	snprintf(buf, len, "(hashint8extended(%s, 0) & %d)", column, slots - 1);
}

int
shard_sql_table_guard(PGconn *conn, const ShardTable *t, PgwError *err)
{
	const char *params[2] = {t->name, t->column};
	PGresult *res = NULL;
	char *sql;
	size_t cap;
	int rc;

	if (strlen(t->column) > GUARD_COLUMN_MAX)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "column \"%s\": at most %d characters (the guard function is named after it)",
		    t->column, GUARD_COLUMN_MAX);
	if ((rc = shard_pq_query(
	         conn, "checking the sharded table",
	         "SELECT to_regclass($1) IS NOT NULL,"
	         " (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
	         "   WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped),"
	         " EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a"
	         "   ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
	         "   WHERE i.indrelid = to_regclass($1) AND i.indisprimary AND a.attname = $2)",
	         2, params, &res, err)) != 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = pgw_error_set(
		    err, PGW_EINVAL,
		    "table %s does not exist on %s:%s: create it on every group first",
		    t->name, PQhost(conn), PQport(conn));
	else if (PQgetisnull(res, 0, 1))
		rc = pgw_error_set(err, PGW_EINVAL, "table %s has no column \"%s\"",
		                   t->name, t->column);
	else if (strcmp(PQgetvalue(res, 0, 1), "bigint") != 0)
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "column %s.%s is %s: the slot function needs bigint",
		                   t->name, t->column, PQgetvalue(res, 0, 1));
	else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		rc = pgw_error_set(
		    err, PGW_EINVAL,
		    "table %s: its primary key must hold \"%s\" (a move's row filter needs it in the replica identity)",
		    t->name, t->column);
	PQclear(res);
	if (rc != 0)
		return rc;
	cap = 2048;
	sql = pgw_xmalloc(cap);
	snprintf(
	    sql, cap,
	    "BEGIN;\n"
	    "CREATE OR REPLACE FUNCTION pgwarden.slot_guard_%1$s() RETURNS trigger\n"
	    "LANGUAGE plpgsql AS $f$\n"
	    "BEGIN\n"
	    "  IF TG_OP <> 'INSERT' THEN\n"
	    "    PERFORM pgwarden.slot_check(OLD.%1$s, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);\n"
	    "  END IF;\n"
	    "  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.%1$s IS DISTINCT FROM OLD.%1$s) THEN\n"
	    "    PERFORM pgwarden.slot_check(NEW.%1$s, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);\n"
	    "  END IF;\n"
	    "  IF TG_OP = 'DELETE' THEN\n"
	    "    RETURN OLD;\n"
	    "  END IF;\n"
	    "  RETURN NEW;\n"
	    "END $f$;\n"
	    "DROP TRIGGER IF EXISTS pgwarden_slot_guard ON %2$s;\n"
	    "CREATE TRIGGER pgwarden_slot_guard BEFORE INSERT OR UPDATE OR DELETE ON %2$s\n"
	    "  FOR EACH ROW EXECUTE FUNCTION pgwarden.slot_guard_%1$s();\n"
	    "COMMIT;\n",
	    t->column, t->name);
	rc = shard_pq_exec(conn, "installing the guard trigger", sql, err);
	free(sql);
	if (rc != 0)
		(void) shard_pq_exec(conn, "rollback", "ROLLBACK", NULL);
	return rc;
}

int
shard_sql_table_check(PGconn *conn, const ShardTable *t, PgwError *err)
{
	const char *params[1] = {t->name};
	PGresult *res = NULL;
	int rc;

	if ((rc = shard_pq_query(
	         conn, "checking the guard trigger",
	         "SELECT to_regclass($1) IS NOT NULL,"
	         " (SELECT tgenabled FROM pg_trigger WHERE tgrelid = to_regclass($1)"
	         "   AND tgname = 'pgwarden_slot_guard' AND NOT tgisinternal)",
	         1, params, &res, err)) != 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = pgw_error_set(err, PGW_ESTATE, "table %s does not exist on %s:%s",
		                   t->name, PQhost(conn), PQport(conn));
	else if (PQgetisnull(res, 0, 1))
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "table %s on %s:%s has no slot constraint (trigger pgwarden_slot_guard): run pgwardenctl shard table add %s %s",
		    t->name, PQhost(conn), PQport(conn), t->name, t->column);
	else if (strcmp(PQgetvalue(res, 0, 1), "O") != 0)
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "table %s on %s:%s: trigger pgwarden_slot_guard is not enabled as an ordinary trigger (tgenabled %s)",
		    t->name, PQhost(conn), PQport(conn), PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

int
shard_sql_count_range(PGconn *conn, const ShardMap *m, int from, int to,
                      uint64_t *rows, PgwError *err)
{
	*rows = 0;
	for (int i = 0; i < m->n_tables; i++)
	{
		char expr[128];
		char sql[512];
		PGresult *res = NULL;
		int rc;

		shard_sql_slot_expr(m->tables[i].column, m->slots, expr, sizeof(expr));
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM %s WHERE %s BETWEEN %d AND %d",
		         m->tables[i].name, expr, from, to);
		if ((rc = shard_pq_query(conn, "counting the range's rows", sql, 0,
		                         NULL, &res, err)) != 0)
			return rc;
		*rows += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return 0;
}
