/*
 * pg_harness.h: PostgreSQL 15 nodes for integration tests and benchmarks,
 * built on proc.h and health/health.h: each node has its own free port,
 * data and socket dirs under harness_tmpdir(), runs as harness_run_user()
 * when the test is root, and is always stopped at exit (the postmaster is
 * our child with a parent-death signal, plus a cleanup hook).
 */
#ifndef PGW_TESTS_HARNESS_PG_HARNESS_H
#define PGW_TESTS_HARNESS_PG_HARNESS_H

#include "health/health.h"

#include <stdbool.h>
#include <stddef.h>

/* deliberately hostile: quotes, backslash, colon, space */
#define PGH_SU_PASSWORD   "su pa:ss'w\\ord \"x\""
#define PGH_REPL_PASSWORD "repl 'pw\\:"

typedef struct PgNode
{
	char name[32];
	int port;
	char *root; /* harness tmpdir */
	char data_dir[512];
	char socket_dir[512];
	char log_path[512];
	PgControl *ctl;
	PgProbe *probe; /* superuser over the Unix socket */
} PgNode;

/* pgh_bin_dir: $PGW_PG_BIN or /usr/lib/postgresql/15/bin. */
const char *pgh_bin_dir(void);

/* pgh_available: postgres exists there (tests skip with 77 otherwise). */
bool pgh_available(void);

/*
 * pgh_node_init: dirs, port, a PgControl (small settings for tests) and a
 * PgProbe. Exits the test on failure. Does not initdb or start.
 */
void pgh_node_init(PgNode *n, const char *name);

/* pgh_node_free: stop (immediate) if running, close handles. */
void pgh_node_free(PgNode *n);

/* pgh_upstream: 127.0.0.1:port of n. */
HealthUpstream pgh_upstream(const PgNode *n);

/*
 * pgh_sql: run sql as superuser over the socket; copy the first value of
 * the last result (if any) into out. Returns 0 or -1 (message on stderr).
 */
int pgh_sql(PgNode *n, const char *sql, char *out, size_t len);

/* pgh_probe: health_probe_run; returns r->reachable. */
bool pgh_probe(PgNode *n, PgLsn leader_lsn, HealthReport *r);

#endif
