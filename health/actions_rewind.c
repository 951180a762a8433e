/*
 * actions_rewind.c: pg_rewind (DESIGN.md, "health/"), moved unchanged from
 * actions.c: pg_controldata read, whether a rewind is needed (timeline
 * history), the checkpoint on the source, the rewind itself.
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
actions_read_controldata(PgControl *c, ControlData *cd, PgwError *err)
{
	char prog[4096];
	const char *argv[4];
	StrBuf out = {0};
	int rc;
	char *line;
	char *save = NULL;
	bool have_lsn = false;
	bool have_tli = false;

	memset(cd, 0, sizeof(*cd));
	control_bin(c, "pg_controldata", prog, sizeof(prog));
	argv[0] = prog;
	argv[1] = "-D";
	argv[2] = c->data_dir;
	argv[3] = NULL;
	rc = run_program(argv, &c->as, NULL, 60000, &out, err);
	if (rc != 0)
	{
		free(out.data);
		return rc;
	}
	for (line = strtok_r(out.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
	{
		char *colon = strchr(line, ':');
		char *val;
		int64_t v;

		if (colon == NULL)
			continue;
		*colon = '\0';
		val = colon + 1;
		while (*val == ' ')
			val++;
		if (strcmp(line, "Database cluster state") == 0)
			pgw_strlcpy(cd->state, val, sizeof(cd->state));
		else if (strcmp(line, "Latest checkpoint location") == 0)
			have_lsn = health_lsn_parse(val, &cd->checkpoint) == 0;
		else if (strcmp(line, "Latest checkpoint's TimeLineID") == 0)
		{
			have_tli = pgw_parse_int64(val, 1, UINT32_MAX, &v) == 0;
			cd->tli = (uint32_t) v;
		}
		else if (strcmp(line, "Min recovery ending loc's timeline") == 0 &&
		         pgw_parse_int64(val, 0, UINT32_MAX, &v) == 0)
			cd->min_recovery_tli = (uint32_t) v;
	}
	free(out.data);
	if (!have_lsn || !have_tli || cd->state[0] == '\0')
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "could not parse pg_controldata output for \"%s\"",
		                     c->data_dir);
	if (cd->min_recovery_tli > cd->tli)
		cd->tli = cd->min_recovery_tli;
	return 0;
}

/* switch point of timeline tli in a history file's text; false if absent */
static bool
history_switchpoint(const char *text, uint32_t tli, PgLsn *switchpoint)
{
	const char *p = text;

	while (*p)
	{
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t) (eol - p) : strlen(p);
		char line[256];
		char *tab;
		char *tab2;
		int64_t t;

		if (len < sizeof(line))
		{
			memcpy(line, p, len);
			line[len] = '\0';
			tab = strchr(line, '\t');
			if (tab != NULL && line[0] != '#')
			{
				*tab = '\0';
				tab2 = strchr(tab + 1, '\t');
				if (tab2 != NULL)
					*tab2 = '\0';
				if (pgw_parse_int64(line, 1, UINT32_MAX, &t) == 0 &&
				    (uint32_t) t == tli &&
				    health_lsn_parse(tab + 1, switchpoint) == 0)
					return true;
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return false;
}

int
health_control_rewind_needed(PgControl *c, const HealthUpstream *leader,
                             bool *needed, PgwError *err)
{
	ControlData cd;
	PGconn *conn;
	char v[32];
	uint32_t ltli;
	char path[64];
	const char *params[1] = {path};
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	PgLsn sp;
	bool clean;
	int rc;

	*needed = false;
	if ((rc = actions_read_controldata(c, &cd, err)) != 0)
		return rc;
	conn = control_connect_remote(c, leader, false, CONNECT_MS, err);
	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	rc = actions_query_value(conn, actions_tli_sql, 0, NULL, QUERY_MS, v,
	                         sizeof(v), err);
	if (rc == 0 && actions_parse_hex_tli(v, &ltli) != 0)
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "invalid leader timeline \"%s\"", v);
	if (rc != 0)
		goto out;
	clean = strncmp(cd.state, "shut down", 9) == 0;
	if (ltli == cd.tli)
		goto out;
	if (cd.tli > ltli)
	{
		*needed = true;
		goto out;
	}
	snprintf(path, sizeof(path), "pg_wal/%08X.history", ltli);
	rc = pgc_exec(conn, "SELECT pg_read_file($1)", 1, params, QUERY_MS, res,
	              &nres, NULL, err);
	if (rc != 0)
		goto out;
	if (nres != 1 || PQresultStatus(res[0]) != PGRES_TUPLES_OK ||
	    PQntuples(res[0]) != 1 || PQnfields(res[0]) != 1 ||
	    PQgetisnull(res[0], 0, 0))
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected shape of history file %s", path);
	else if (!history_switchpoint(PQgetvalue(res[0], 0, 0), cd.tli, &sp))
		*needed = true; /* our timeline is not an ancestor */
	else
		*needed = !clean || cd.checkpoint >= sp;
	pgc_clear(res, nres);
	if (rc == 0)
	{
		char a[HEALTH_LSN_STRLEN];
		char b[HEALTH_LSN_STRLEN];

		log_info(
		    "pg.rewind_check",
		    "local_tli=%u leader_tli=%u checkpoint=%s switchpoint=%s clean=%s needed=%s",
		    cd.tli, ltli, health_lsn_format(cd.checkpoint, a, sizeof(a)),
		    health_lsn_format(sp, b, sizeof(b)), clean ? "yes" : "no",
		    *needed ? "yes" : "no");
	}
out:
	PQfinish(conn);
	return rc;
}

/*
 * PostgreSQL 15's pg_rewind reads the source's timeline from its pg_control,
 * which a freshly promoted primary updates only at its next checkpoint: it
 * would then say "no rewind required" and leave us diverged, or rewind with
 * the old timeline as the minimum recovery point's ("requested timeline 19
 * does not contain minimum recovery point ... on timeline 16": the server
 * never starts again). A source still finishing its promotion (the leader
 * key can be taken before pg_promote returns) is waited for, up to
 * PROMOTE_WAIT_MS (then, as for a standby leader, which stays in recovery,
 * the rewind goes ahead without it), then made to checkpoint when its
 * pg_control lags its real timeline.
 */
#define PROMOTE_WAIT_MS 10000

static int
checkpoint_source(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	PGconn *conn = control_connect_remote(c, leader, false, CONNECT_MS, err);
	int64_t until = pgw_now_mono_ms() + PROMOTE_WAIT_MS;
	char v[8];
	int rc;

	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	for (;;)
	{
		rc = actions_query_value(conn, "SELECT pg_is_in_recovery()", 0, NULL,
		                         QUERY_MS, v, sizeof(v), err);
		if (rc != 0 || strcmp(v, "f") == 0)
			break;
		if (pgw_now_mono_ms() >= until)
		{
			/* a standby leader (a standby cluster) stays in recovery:
			 * rewind from it as before, without the checkpoint */
			log_warn("pg.rewind-source-in-recovery",
			         "upstream=%s:%d waited_ms=%d action=rewind-anyway",
			         leader->host, leader->port, PROMOTE_WAIT_MS);
			PQfinish(conn);
			return 0;
		}
		pgw_sleep_ms(100);
	}
	if (rc == 0)
		rc = actions_query_value(
		    conn,
		    "SELECT (SELECT timeline_id FROM pg_control_checkpoint()) <>"
		    " ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, "
		    "8))::bit(32)::int",
		    0, NULL, QUERY_MS, v, sizeof(v), err);
	if (rc == 0 && strcmp(v, "t") == 0)
	{
		log_info(
		    "pg.checkpoint",
		    "upstream=%s:%d reason=\"pg_control timeline lags after promotion\"",
		    leader->host, leader->port);
		rc = actions_command(conn, "CHECKPOINT", 0, NULL, NULL, err);
	}
	PQfinish(conn);
	return rc;
}

int
health_control_rewind(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	char prog[4096];
	char dopt[4200];
	char sopt[8192];
	char port[16];
	char envbuf[4200];
	const char *env[2];
	const char *keys[] = {"host",   "port",     "user",
	                      "dbname", "passfile", "connect_timeout"};
	const char *vals[6];
	const char *argv[6];
	char *ci;
	StrBuf out = {0};
	HealthWait w;
	int rc;

	if (leader == NULL || leader->host == NULL || leader->port <= 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid upstream: host and port are required");
	w = actions_stop_escalating(c, 60000, err);
	if (w != HEALTH_WAIT_READY)
		return err && err->code ? err->code : PGW_ETIMEDOUT;
	if ((rc = checkpoint_source(c, leader, err)) != 0)
	{
		pgw_error_prefix(err, "could not prepare rewind source %s:%d",
		                 leader->host, leader->port);
		return rc;
	}
	/* single-user crash recovery (run by pg_rewind) refuses standby mode */
	if ((rc = control_write_signal(c, false, err)) != 0)
		return rc;
	control_clear_stale_pidfile(c);
	snprintf(port, sizeof(port), "%d", leader->port);
	vals[0] = leader->host;
	vals[1] = port;
	vals[2] = c->superuser;
	vals[3] = "postgres";
	vals[4] = c->pgpass;
	vals[5] = "5";
	ci = health_conninfo_build(keys, vals, 6);
	control_bin(c, "pg_rewind", prog, sizeof(prog));
	snprintf(dopt, sizeof(dopt), "--target-pgdata=%s", c->data_dir);
	snprintf(sopt, sizeof(sopt), "--source-server=%s", ci);
	free(ci);
	argv[0] = prog;
	argv[1] = dopt;
	argv[2] = sopt;
	argv[3] = NULL;
	actions_pgpass_env(c, envbuf, sizeof(envbuf), env);
	if ((rc = actions_marker_set(c, HEALTH_INCOMPLETE_REWIND, leader->host,
	                             err)) != 0)
		return rc;
	rc = run_program(argv, &c->as, env, c->cmd_timeout_ms, &out, err);
	if (rc != 0)
	{
		/*
		 * pg_rewind changes the target's files only after it says where it
		 * rewinds from; before that line (a connection failure, the
		 * single-user crash recovery) the data directory is as it was.
		 */
		bool touched =
		    strstr(out.data, "rewinding from last common checkpoint") != NULL;

		if (!touched)
			actions_marker_clear(c, HEALTH_INCOMPLETE_REWIND);
		if (touched)
			rc = PGW_ESTATE;
		else if (rc == PGW_ECANCELED)
			;
		else if (strstr(out.data, "could not connect") ||
		         strstr(out.data, "connection to server"))
			rc = PGW_EUNAVAILABLE;
		else
			rc = PGW_ESTATE;
		if (err != NULL)
		{
			err->code = rc;
			pgw_error_prefix(err, "could not rewind \"%s\"%s", c->data_dir,
			                 rc == PGW_ESTATE ? " (re-clone needed)" : "");
		}
		free(out.data);
		return rc;
	}
	free(out.data);
	/* pg_rewind copied the leader's configuration files: put ours back */
	if ((rc = control_set_standby(c, leader, err)) != 0 ||
	    (rc = control_write_hba(c, err)) != 0 ||
	    (rc = control_write_conf(c, err)) != 0 ||
	    (rc = control_ensure_include(c, err)) != 0 ||
	    (rc = control_write_signal(c, true, err)) != 0)
		return rc;
	actions_marker_clear(c, HEALTH_INCOMPLETE_REWIND);
	log_info("pg.rewound", "data_dir=%s upstream=%s:%d", c->data_dir,
	         leader->host, leader->port);
	return 0;
}
