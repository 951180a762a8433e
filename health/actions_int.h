/*
 * actions_int.h: internal to health/: what actions.c, actions_rewind.c and
 * actions_repl.c share (one file until it passed 800 lines).
 */
#ifndef PGW_HEALTH_ACTIONS_INT_H
#define PGW_HEALTH_ACTIONS_INT_H

#include "health/control_int.h"

#define CONNECT_MS 5000
#define QUERY_MS   10000

/* DBState values of pg_control.h that the waits look for */
#define PGCTL_STATE_SHUT_DOWN     1
#define PGCTL_STATE_IN_PRODUCTION 6
#define PGCTL_VERSION_13_TO_16    1300

typedef struct ControlData
{
	char state[64];
	PgLsn checkpoint;
	uint32_t tli;
	uint32_t min_recovery_tli;
} ControlData;

/* PGPASSFILE=<our pgpass> for a child's environment (env[0], env[1] NULL) */
void actions_pgpass_env(PgControl *c, char *buf, size_t len, const char **env);
/* one row, one column, not NULL; copies the value into buf */
int actions_query_value(PGconn *conn, const char *sql, int nparams,
                        const char *const *params, int timeout_ms, char *buf,
                        size_t len, PgwError *err);
/* a statement without rows; sqlstate (6 bytes) gets the error's code */
int actions_command(PGconn *conn, const char *sql, int nparams,
                    const char *const *params, char *sqlstate, PgwError *err);
int actions_marker_set(PgControl *c, HealthIncomplete kind, const char *source,
                       PgwError *err);
void actions_marker_clear(PgControl *c, HealthIncomplete kind);
int actions_parse_hex_tli(const char *s, uint32_t *tli);
extern const char *const actions_tli_sql;
int actions_peek_control(const char *data_dir, int *state, PgLsn *checkpoint);
HealthWait actions_stop_escalating(PgControl *c, int timeout_ms, PgwError *err);
int actions_read_controldata(PgControl *c, ControlData *cd, PgwError *err);

#endif
