/*
 * move_sql.c: the SQL steps of an online move (shard_int.h), each safe to
 * run again: a publication on the source filtered on the slot function
 * (built-in and immutable, so PostgreSQL 15 accepts it as a row filter;
 * notes R3), a subscription on the target that copies and then streams the
 * range's rows, their states, and the deletes of a range that bypass the
 * guard trigger. Only INSERT, UPDATE and DELETE are published: a TRUNCATE
 * on the source must never empty the target's table.
 */
#include "shard/shard_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
move_repl_name(const char *id, char *out, size_t len)
{
	size_t n = (size_t) snprintf(out, len, "pgw_move_%s", id);

	for (size_t i = 0; i < n && i < len; i++)
		if (out[i] == '-')
			out[i] = '_';
}

/* a StrBuf-less growing string, enough for a few statements */
typedef struct Sql
{
	char *s;
	size_t len;
	size_t cap;
} Sql;

static void sql_add(Sql *q, const char *fmt, ...) PGW_PRINTF(2, 3);

static void
sql_add(Sql *q, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(q->s ? q->s + q->len : NULL, q->s ? q->cap - q->len : 0,
		              fmt, ap);
		va_end(ap);
		if (q->s && (size_t) n < q->cap - q->len)
		{
			q->len += (size_t) n;
			return;
		}
		q->cap = (q->cap + (size_t) n + 1) * 2;
		q->s = pgw_xrealloc(q->s, q->cap);
		if (q->len == 0)
			q->s[0] = '\0';
	}
}

static bool
row_exists(PGconn *conn, const char *what, const char *sql, const char *arg,
           int *rc, PgwError *err)
{
	const char *params[1] = {arg};
	PGresult *res = NULL;
	bool exists;

	if ((*rc = shard_pq_query(conn, what, sql, 1, params, &res, err)) != 0)
		return false;
	exists = PQntuples(res) > 0;
	PQclear(res);
	return exists;
}

int
move_sql_publication(PGconn *src, const ShardMap *m, const ShardMove *mv,
                     PgwError *err)
{
	char name[64];
	Sql q = {0};
	int rc = 0;

	move_repl_name(mv->id, name, sizeof(name));
	if (row_exists(src, "reading pg_publication",
	               "SELECT 1 FROM pg_publication WHERE pubname = $1", name, &rc,
	               err) ||
	    rc != 0)
		return rc;
	sql_add(&q, "CREATE PUBLICATION %s FOR ", name);
	for (int i = 0; i < m->n_tables; i++)
	{
		char expr[128];

		shard_sql_slot_expr(m->tables[i].column, m->slots, expr, sizeof(expr));
		sql_add(&q, "%sTABLE %s WHERE (%s BETWEEN %d AND %d)", i ? ", " : "",
		        m->tables[i].name, expr, mv->from, mv->to);
	}
	sql_add(&q, " WITH (publish = 'insert, update, delete')");
	rc = shard_pq_exec(src, "CREATE PUBLICATION", q.s, err);
	free(q.s);
	return rc;
}

int
move_sql_drop_publication(PGconn *src, const ShardMove *mv, PgwError *err)
{
	char name[64];
	char sql[128];

	move_repl_name(mv->id, name, sizeof(name));
	snprintf(sql, sizeof(sql), "DROP PUBLICATION IF EXISTS %s", name);
	return shard_pq_exec(src, "DROP PUBLICATION", sql, err);
}

/* a conninfo value in single quotes, ' and \ escaped (libpq's rule) */
static void
conn_value(Sql *q, const char *key, const char *v)
{
	sql_add(q, "%s%s='", q->len ? " " : "", key);
	for (; *v; v++)
	{
		if (*v == '\'' || *v == '\\')
			sql_add(q, "\\");
		sql_add(q, "%c", *v);
	}
	sql_add(q, "'");
}

int
move_sql_subscribe(PGconn *dst, const ShardPgAuth *auth,
                   const RoutingEndpoint *src_ep, const ShardMove *mv,
                   PgwError *err)
{
	char name[64];
	char port[16];
	Sql ci = {0};
	Sql q = {0};
	char *lit;
	int rc = 0;

	move_repl_name(mv->id, name, sizeof(name));
	if (row_exists(
	        dst, "reading pg_subscription",
	        "SELECT 1 FROM pg_subscription WHERE subname = $1"
	        " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
	        name, &rc, err) ||
	    rc != 0)
		return rc;
	snprintf(port, sizeof(port), "%d", src_ep->port);
	conn_value(&ci, "host", src_ep->host);
	conn_value(&ci, "port", port);
	conn_value(&ci, "dbname", auth->dbname ? auth->dbname : "postgres");
	conn_value(&ci, "user", auth->user ? auth->user : "postgres");
	if (auth->password)
		conn_value(&ci, "password", auth->password);
	conn_value(&ci, "application_name", name);
	conn_value(&ci, "connect_timeout", "5");
	lit = PQescapeLiteral(dst, ci.s, ci.len);
	free(ci.s);
	if (lit == NULL)
		return shard_pq_error(NULL, dst, "quoting the subscription's conninfo",
		                      err);
	/* synchronous_commit on: a copied row is on the target's sync standby
	 * before the source hears it was applied, so a target failover after
	 * the flip loses nothing */
	sql_add(
	    &q,
	    "CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s"
	    " WITH (copy_data = true, synchronous_commit = 'on', slot_name = '%s')",
	    name, lit, name, name);
	PQfreemem(lit);
	rc = shard_pq_exec(dst, "CREATE SUBSCRIPTION", q.s, err);
	free(q.s);
	return rc;
}

int
move_sql_drop_subscription(PGconn *dst, const ShardMove *mv, uint32_t *suboid,
                           PgwError *err)
{
	char name[64];
	char sql[512];
	const char *params[1] = {name};
	PGresult *res = NULL;
	int rc;

	*suboid = 0;
	move_repl_name(mv->id, name, sizeof(name));
	if ((rc = shard_pq_query(
	         dst, "reading pg_subscription",
	         "SELECT oid FROM pg_subscription WHERE subname = $1"
	         " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
	         1, params, &res, err)) != 0)
		return rc;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return 0;
	}
	*suboid = (uint32_t) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	snprintf(sql, sizeof(sql),
	         "ALTER SUBSCRIPTION %1$s DISABLE;"
	         " ALTER SUBSCRIPTION %1$s SET (slot_name = NONE);"
	         " DROP SUBSCRIPTION %1$s",
	         name);
	return shard_pq_exec(dst, "DROP SUBSCRIPTION", sql, err);
}

int
move_sql_drop_slots(PGconn *src, const ShardMove *mv, uint32_t suboid,
                    PgwError *err)
{
	char name[64];
	char sync[64];
	const char *params[2] = {name, sync};
	PGresult *res = NULL;
	int rc;

	move_repl_name(mv->id, name, sizeof(name));
	/* table-sync slots are pg_<suboid>_sync_<relid>_<sysid> */
	if (suboid)
		snprintf(sync, sizeof(sync), "pg\\_%u\\_sync\\_%%", suboid);
	else
		sync[0] = '\0';
	for (int attempt = 0; attempt < 50; attempt++)
	{
		if ((rc = shard_pq_query(
		         src, "ending the move's walsenders",
		         "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
		         " WHERE (slot_name = $1 OR ($2 <> '' AND slot_name LIKE $2))"
		         " AND active_pid IS NOT NULL",
		         2, params, &res, err)) != 0)
			return rc;
		PQclear(res);
		res = NULL;
		rc = shard_pq_query(
		    src, "dropping the move's slots",
		    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
		    " WHERE (slot_name = $1 OR ($2 <> '' AND slot_name LIKE $2)) AND NOT active",
		    2, params, &res, err);
		if (rc == 0)
		{
			PQclear(res);
			res = NULL;
			if (!row_exists(
			        src, "reading pg_replication_slots",
			        "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
			        name, &rc, err) &&
			    rc == 0)
				return 0;
		}
		/* a walsender that was just ended may still hold it */
		pgw_sleep_ms(100);
	}
	return rc != 0
	           ? rc
	           : pgw_error_set(err, PGW_ETIMEDOUT,
	                           "replication slot %s on the source stays active",
	                           name);
}

int
move_sql_sub_state(PGconn *dst, const ShardMove *mv, MoveSubState *out,
                   PgwError *err)
{
	char name[64];
	const char *params[1] = {name};
	PGresult *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	move_repl_name(mv->id, name, sizeof(name));
	if ((rc = shard_pq_query(
	         dst, "reading the subscription's state",
	         "SELECT s.subenabled,"
	         " (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid),"
	         " (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate <> 'r'),"
	         " (SELECT coalesce(sum(apply_error_count + sync_error_count), 0)"
	         "    FROM pg_stat_subscription_stats st WHERE st.subid = s.oid)"
	         " FROM pg_subscription s WHERE s.subname = $1"
	         " AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
	         1, params, &res, err)) != 0)
		return rc;
	if (PQntuples(res) == 1)
	{
		out->exists = true;
		out->enabled = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		out->n_tables = (int) strtol(PQgetvalue(res, 0, 1), NULL, 10);
		out->n_not_ready = (int) strtol(PQgetvalue(res, 0, 2), NULL, 10);
		out->errors = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	}
	PQclear(res);
	return 0;
}

static uint64_t
lsn_of(const char *s)
{
	unsigned int hi;
	unsigned int lo;

	if (s == NULL || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return ((uint64_t) hi << 32) | lo;
}

int
move_sql_slot_state(PGconn *src, const ShardMove *mv, MoveSlotState *out,
                    PgwError *err)
{
	char name[64];
	const char *params[1] = {name};
	PGresult *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	move_repl_name(mv->id, name, sizeof(name));
	if ((rc = shard_pq_query(
	         src, "reading the move's slot",
	         "SELECT s.active, s.confirmed_flush_lsn, pg_current_wal_lsn()"
	         " FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1",
	         1, params, &res, err)) != 0)
		return rc;
	if (PQntuples(res) == 1)
	{
		out->exists = !PQgetisnull(res, 0, 0);
		out->active = out->exists && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		out->confirmed_flush =
		    PQgetisnull(res, 0, 1) ? 0 : lsn_of(PQgetvalue(res, 0, 1));
		out->current = lsn_of(PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return 0;
}

int
move_sql_delete_range(PGconn *conn, const ShardMap *m, const ShardMove *mv,
                      uint64_t *rows, PgwError *err)
{
	int rc;

	*rows = 0;
	if ((rc = shard_pq_exec(conn, "SET session_replication_role",
	                        "SET session_replication_role = replica", err)) !=
	    0)
		return rc;
	for (int i = 0; i < m->n_tables; i++)
	{
		char expr[128];
		char sql[512];
		PGresult *res;

		shard_sql_slot_expr(m->tables[i].column, m->slots, expr, sizeof(expr));
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s BETWEEN %d AND %d",
		         m->tables[i].name, expr, mv->from, mv->to);
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			rc = shard_pq_error(res, conn, "deleting the range's rows", err);
			break;
		}
		*rows += strtoull(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	(void) shard_pq_exec(conn, "RESET session_replication_role",
	                     "RESET session_replication_role", NULL);
	return rc;
}
