/*
 * pg_harness.c: PostgreSQL nodes for tests (see pg_harness.h).
 */
#include "tests/harness/pg_harness.h"

#include "tests/harness/proc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
pgh_bin_dir(void)
{
	const char *b = getenv("PGW_PG_BIN");

	return b ? b : "/usr/lib/postgresql/15/bin";
}

bool
pgh_available(void)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/postgres", pgh_bin_dir());
	return access(path, X_OK) == 0;
}

void
pgh_node_init(PgNode *n, const char *name)
{
	static const HealthParam params[] = {
	    {"fsync", "off"},
	    {"synchronous_commit", "on"},
	    {"full_page_writes", "on"},
	    {"shared_buffers", "16MB"},
	    {"max_connections", "30"},
	    {"wal_receiver_status_interval", "1s"},
	    {"wal_retrieve_retry_interval", "500ms"},
	    {"hot_standby_feedback", "on"},
	    {"wal_keep_size", "256MB"}, /* pg_rewind needs WAL back to the fork */
	    {"log_min_messages", "warning"},
	    {"log_line_prefix", "%m [%p] "},
	};
	PgControlConfig cc = {0};
	PgProbeConfig pc = {0};
	PgwError err = {0};
	char cmd[1200];

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->port = harness_free_port();
	n->root = harness_tmpdir(name);
	snprintf(n->data_dir, sizeof(n->data_dir), "%s/data", n->root);
	snprintf(n->socket_dir, sizeof(n->socket_dir), "%s/sock", n->root);
	snprintf(n->log_path, sizeof(n->log_path), "%s/postgres.log", n->root);
	setenv("PGW_TEST_NOSYNC", "1", 1);

	cc.bin_dir = pgh_bin_dir();
	cc.data_dir = n->data_dir;
	cc.port = n->port;
	cc.listen_addresses = "127.0.0.1";
	cc.socket_dir = n->socket_dir;
	cc.run_as = harness_run_user();
	cc.member_name = name;
	cc.superuser = "postgres";
	cc.superuser_password = PGH_SU_PASSWORD;
	cc.replication_user = "replicator";
	cc.replication_password = PGH_REPL_PASSWORD;
	cc.log_path = n->log_path;
	cc.params = params;
	cc.n_params = (int) (sizeof(params) / sizeof(params[0]));
	cc.command_timeout_ms = 120000 * harness_timeout_mult();
	if (health_control_open(&cc, &n->ctl, &err) != 0)
	{
		fprintf(stderr, "pg_harness: %s\n", err.msg);
		exit(1);
	}
	pc.host = n->socket_dir;
	pc.port = n->port;
	pc.user = "postgres";
	pc.password = PGH_SU_PASSWORD;
	pc.data_dir = n->data_dir;
	pc.connect_timeout_ms = 2000;
	pc.statement_timeout_ms = 2000;
	if (health_probe_open(&pc, &n->probe, &err) != 0)
	{
		fprintf(stderr, "pg_harness: %s\n", err.msg);
		exit(1);
	}
	/* belt and braces beside the parent-death signal */
	snprintf(
	    cmd, sizeof(cmd),
	    "test -f '%s/postmaster.pid' && kill -QUIT $(head -1 '%s/postmaster.pid') 2>/dev/null; true",
	    n->data_dir, n->data_dir);
	harness_register_cleanup(cmd);
}

void
pgh_node_free(PgNode *n)
{
	PgwError err = {0};

	if (n->ctl != NULL)
		(void) health_control_stop(n->ctl, HEALTH_STOP_IMMEDIATE, 10000, &err);
	health_control_close(n->ctl);
	health_probe_close(n->probe);
	n->ctl = NULL;
	n->probe = NULL;
	free(n->root);
	n->root = NULL;
}

HealthUpstream
pgh_upstream(const PgNode *n)
{
	HealthUpstream u = {.host = "127.0.0.1", .port = n->port};

	return u;
}

int
pgh_sql(PgNode *n, const char *sql, char *out, size_t len)
{
	char port[16];
	const char *keys[] = {
	    "host", "port", "user", "password", "dbname", "connect_timeout", NULL};
	const char *vals[] = {n->socket_dir, port, "postgres", PGH_SU_PASSWORD,
	                      "postgres",    "5",  NULL};
	PGconn *conn;
	PGresult *res;
	int rc = 0;

	snprintf(port, sizeof(port), "%d", n->port);
	if (out != NULL && len > 0)
		out[0] = '\0';
	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "pg_harness: %s: connect: %s", n->name,
		        PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "pg_harness: %s: %s: %s", n->name, sql,
		        PQerrorMessage(conn));
		rc = -1;
	}
	else if (out != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	         PQntuples(res) > 0 && PQnfields(res) > 0)
		snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return rc;
}

bool
pgh_probe(PgNode *n, PgLsn leader_lsn, HealthReport *r)
{
	PgwError err = {0};

	(void) health_probe_run(n->probe, leader_lsn, r, &err);
	return r->reachable;
}
