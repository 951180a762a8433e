/*
 * actions_repl.c: replication slots, synchronous_standby_names and the
 * switchover support (DESIGN.md, "health/"), moved unchanged from
 * actions.c.
 */
#include "health/actions_int.h"
#include "health/control_int.h"
#include "witness/witness.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/safefs.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
health_control_slots_sync(PgControl *c, const char *const *members,
                          int n_members, int *changed, PgwError *err)
{
	PGconn *conn;
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	char(*want)[HEALTH_NAME_MAX];
	char self[HEALTH_NAME_MAX];
	int nwant = 0;
	int rc;
	int count = 0;

	if (changed != NULL)
		*changed = 0;
	conn = control_connect_local(c, CONNECT_MS, err);
	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	want = pgw_xcalloc((size_t) n_members + 1, sizeof(*want));
	health_slot_name(c->member, self, sizeof(self));
	for (int i = 0; i < n_members; i++)
	{
		health_slot_name(members[i], want[nwant], HEALTH_NAME_MAX);
		if (want[nwant][0] != '\0' && strcmp(want[nwant], self) != 0)
			nwant++;
	}
	rc = pgc_exec(conn,
	              "SELECT slot_name::text, active FROM pg_replication_slots"
	              " WHERE slot_type = 'physical'",
	              0, NULL, QUERY_MS, res, &nres, NULL, err);
	if (rc != 0)
		goto out;
	if (nres != 1 || PQresultStatus(res[0]) != PGRES_TUPLES_OK ||
	    PQnfields(res[0]) != 2)
	{
		pgc_clear(res, nres);
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected shape of pg_replication_slots");
		goto out;
	}
	/* drop departed, inactive slots */
	for (int r = 0; r < PQntuples(res[0]) && rc == 0; r++)
	{
		const char *name = PQgetvalue(res[0], r, 0);
		bool active = strcmp(PQgetvalue(res[0], r, 1), "t") == 0;
		bool wanted = false;
		char state[6];
		const char *params[1] = {name};

		for (int i = 0; i < nwant; i++)
		{
			if (strcmp(want[i], name) == 0)
			{
				want[i][0] = '\0'; /* exists: nothing to create */
				wanted = true;
			}
		}
		if (wanted || active)
			continue;
		rc = actions_command(conn, "SELECT pg_drop_replication_slot($1)", 1,
		                     params, state, err);
		if (rc != 0 && strcmp(state, "55006") == 0)
		{
			pgw_error_clear(err); /* became active meanwhile: keep it */
			rc = 0;
			continue;
		}
		if (rc == 0)
		{
			log_info("pg.slot_dropped", "slot=%s", name);
			count++;
		}
	}
	pgc_clear(res, nres);
	for (int i = 0; i < nwant && rc == 0; i++)
	{
		char state[6];
		const char *params[1] = {want[i]};

		if (want[i][0] == '\0')
			continue;
		rc = actions_command(
		    conn, "SELECT pg_create_physical_replication_slot($1, true)", 1,
		    params, state, err);
		if (rc != 0 && strcmp(state, "42710") == 0)
		{
			pgw_error_clear(err);
			rc = 0;
			continue;
		}
		if (rc == 0)
		{
			log_info("pg.slot_created", "slot=%s", want[i]);
			count++;
		}
	}
	if (changed != NULL)
		*changed = count;
out:
	free(want);
	PQfinish(conn);
	return rc;
}

int
health_control_set_sync(PgControl *c, const char *value, int timeout_ms,
                        PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGconn *conn = NULL;
	char cur[1024] = "";
	int rc;

	char want[1024];
	WitnessGate gate;
	bool has;
	char *prev;

	if (value == NULL)
		value = "";
	prev = c->sync_names;
	c->sync_names = pgw_xstrdup(value);
	/* the lease witness named in it, and its quorum gate first when the
	 * new value adds one (lease_ssn.c) */
	if ((rc = control_sync_names_effective(c, want, sizeof(want), &gate, &has,
	                                       err)) != 0 ||
	    (rc = control_witness_gate_before(c, &gate, err)) != 0)
	{
		free(c->sync_names);
		c->sync_names = prev;
		return rc;
	}
	free(prev);
	value = want;
	if ((rc = control_write_conf(c, err)) != 0 ||
	    (rc = health_control_reload(c, err)) != 0)
		return rc;
	log_info("pg.sync_names", "value=\"%s\"", value);
	for (;;)
	{
		if (conn == NULL)
			conn = control_connect_local(c, CONNECT_MS, NULL);
		if (conn != NULL &&
		    actions_query_value(conn, "SHOW synchronous_standby_names", 0, NULL,
		                        QUERY_MS, cur, sizeof(cur), NULL) == 0 &&
		    strcmp(cur, value) == 0)
			break;
		if (conn != NULL && PQstatus(conn) != CONNECTION_OK)
		{
			PQfinish(conn);
			conn = NULL;
		}
		if (pgw_now_mono_ms() >= deadline)
		{
			PQfinish(conn);
			return pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "synchronous_standby_names is \"%s\", not \"%s\", after %d ms (set by ALTER SYSTEM?)",
			    cur, value, timeout_ms);
		}
		pgw_sleep_ms(20);
	}
	PQfinish(conn);
	return control_witness_gate_after(c, &gate, err);
}

/* ---- switchover support ------------------------------------------------- */

int
health_control_checkpoint(PgControl *c, PgwError *err)
{
	PGconn *conn = control_connect_local(c, CONNECT_MS, err);
	int rc;

	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	rc = actions_command(conn, "CHECKPOINT", 0, NULL, NULL, err);
	PQfinish(conn);
	return rc;
}

int
health_control_checkpoint_lsn(PgControl *c, PgLsn *lsn, char *state,
                              size_t state_len, PgwError *err)
{
	ControlData cd;
	int rc = actions_read_controldata(c, &cd, err);

	if (rc != 0)
		return rc;
	*lsn = cd.checkpoint;
	if (state != NULL && state_len > 0)
		snprintf(state, state_len, "%s", cd.state);
	return 0;
}

HealthWait
health_control_stop_checkpointed(PgControl *c, int timeout_ms, PgLsn *lsn,
                                 PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	ControlData cd;
	HealthWait w;

	*lsn = 0;
	/* a zero bound: send SIGINT, do not wait here */
	w = health_control_stop(c, HEALTH_STOP_FAST, 0, err);
	if (w == HEALTH_WAIT_FAILED)
		return w;
	pgw_error_clear(err);
	for (;;)
	{
		bool is_child;
		pid_t pid = control_running_pid(c, &is_child);
		int state;
		PgLsn ck;
		int rc;

		/* the fast path: no fork per poll (see actions_peek_control) */
		if (actions_peek_control(c->data_dir, &state, &ck) == 0)
		{
			if (state == PGCTL_STATE_SHUT_DOWN)
			{
				*lsn = ck;
				return HEALTH_WAIT_READY;
			}
			if (pid != 0 && pgw_now_mono_ms() < deadline)
			{
				pgw_sleep_ms(2);
				continue;
			}
		}
		rc = actions_read_controldata(c, &cd, err);

		/*
		 * pg_control says "shut down" once the shutdown checkpoint is
		 * written; after it the server writes no WAL, and what is left of
		 * its exit (walsenders draining) need not hold up the caller.
		 */
		if (rc == 0 && strcmp(cd.state, "shut down") == 0)
		{
			*lsn = cd.checkpoint;
			return HEALTH_WAIT_READY;
		}
		if (rc == 0 && pid == 0)
		{
			pgw_error_set(err, PGW_ESTATE,
			              "cluster state \"%s\" after stop, not \"shut down\"",
			              cd.state);
			return HEALTH_WAIT_FAILED;
		}
		if (pgw_now_mono_ms() >= deadline)
		{
			if (rc == 0)
				pgw_error_set(
				    err, PGW_ETIMEDOUT,
				    "no shutdown checkpoint within %d ms (state \"%s\")",
				    timeout_ms, cd.state);
			return HEALTH_WAIT_PENDING;
		}
		pgw_error_clear(err);
		pgw_sleep_ms(5);
	}
}

void
health_control_standby_forget(PgControl *c)
{
	if (c->standby_conn != NULL)
		PQfinish(c->standby_conn);
	c->standby_conn = NULL;
}

int
health_control_standby_prepare(PgControl *c, const HealthUpstream *standby,
                               PgwError *err)
{
	if (c->standby_conn != NULL)
		PQfinish(c->standby_conn);
	c->standby_conn =
	    control_connect_remote(c, standby, false, CONNECT_MS, err);
	if (c->standby_conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	pgw_strlcpy(c->standby_host, standby->host, sizeof(c->standby_host));
	c->standby_port = standby->port;
	return 0;
}

/* take_standby_conn: the prepared connection to standby if it is one to
 * that host and port (ours from now on), else NULL; a prepared one to
 * another standby is closed */
static PGconn *
take_standby_conn(PgControl *c, const HealthUpstream *standby)
{
	PGconn *conn = NULL;

	if (c->standby_conn != NULL && c->standby_port == standby->port &&
	    strcmp(c->standby_host, standby->host) == 0)
		conn = c->standby_conn;
	else if (c->standby_conn != NULL)
		PQfinish(c->standby_conn);
	c->standby_conn = NULL;
	return conn;
}

HealthWait
health_control_wait_received(PgControl *c, const HealthUpstream *standby,
                             PgLsn lsn, int timeout_ms, PgLsn *seen,
                             PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGconn *conn = take_standby_conn(c, standby);
	HealthWait w = HEALTH_WAIT_PENDING;


	*seen = 0;
	while (pgw_now_mono_ms() < deadline)
	{
		char v[HEALTH_LSN_STRLEN + 8];
		PgLsn got;

		if (conn == NULL)
			conn = control_connect_remote(c, standby, false, CONNECT_MS, err);
		if (conn != NULL &&
		    actions_query_value(
		        conn, "SELECT coalesce(pg_last_wal_receive_lsn(), '0/0')", 0,
		        NULL, QUERY_MS, v, sizeof(v), err) == 0 &&
		    health_lsn_parse(v, &got) == 0)
		{
			*seen = got;
			if (got >= lsn)
			{
				w = HEALTH_WAIT_READY;
				break;
			}
		}
		else if (conn != NULL)
		{
			PQfinish(conn);
			conn = NULL;
		}
		pgw_sleep_ms(2);
	}
	if (conn != NULL && w == HEALTH_WAIT_READY)
	{
		/* kept for health_control_wait_promoted() */
		c->standby_conn = conn;
		pgw_strlcpy(c->standby_host, standby->host, sizeof(c->standby_host));
		c->standby_port = standby->port;
	}
	else if (conn != NULL)
		PQfinish(conn);
	if (w != HEALTH_WAIT_READY && err != NULL && err->code == 0)
	{
		char a[HEALTH_LSN_STRLEN];
		char b[HEALTH_LSN_STRLEN];

		pgw_error_set(err, PGW_ETIMEDOUT,
		              "standby %s:%d received %s, not %s, within %d ms",
		              standby->host, standby->port,
		              health_lsn_format(*seen, a, sizeof(a)),
		              health_lsn_format(lsn, b, sizeof(b)), timeout_ms);
	}
	return w;
}

HealthWait
health_control_wait_promoted(PgControl *c, const HealthUpstream *standby,
                             int timeout_ms)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	PGconn *conn = take_standby_conn(c, standby);
	HealthWait w = HEALTH_WAIT_PENDING;

	while (pgw_now_mono_ms() < deadline)
	{
		char v[8];

		if (conn == NULL)
			conn = control_connect_remote(c, standby, false, CONNECT_MS, NULL);
		if (conn != NULL &&
		    actions_query_value(conn, "SELECT pg_is_in_recovery()", 0, NULL,
		                        QUERY_MS, v, sizeof(v), NULL) == 0)
		{
			if (strcmp(v, "f") == 0)
			{
				w = HEALTH_WAIT_READY;
				break;
			}
		}
		else if (conn != NULL)
		{
			PQfinish(conn);
			conn = NULL;
		}
		pgw_sleep_ms(20);
	}
	if (conn != NULL)
		PQfinish(conn);
	return w;
}
