/*
 * actions.c: the transitions that failover/execute sequences (DESIGN.md,
 * "health/"): bootstrap, clone, promote, demote, rewind, upstream change,
 * replication slots and synchronous_standby_names. Each checks its
 * precondition first and treats "already done" as success.
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

void
actions_pgpass_env(PgControl *c, char *buf, size_t len, const char **env)
{
	snprintf(buf, len, "PGPASSFILE=%s", c->pgpass);
	env[0] = buf;
	env[1] = NULL;
}

/* one row, one column, not NULL; copies the value into buf */
int
actions_query_value(PGconn *conn, const char *sql, int nparams,
                    const char *const *params, int timeout_ms, char *buf,
                    size_t len, PgwError *err)
{
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	int rc =
	    pgc_exec(conn, sql, nparams, params, timeout_ms, res, &nres, NULL, err);

	if (rc != 0)
		return rc;
	if (nres != 1 || PQresultStatus(res[0]) != PGRES_TUPLES_OK ||
	    PQntuples(res[0]) != 1 || PQnfields(res[0]) < 1 ||
	    PQgetisnull(res[0], 0, 0))
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected result shape for a one-value query");
	else
		pgw_strlcpy(buf, PQgetvalue(res[0], 0, 0), len);
	pgc_clear(res, nres);
	return rc;
}

int
actions_command(PGconn *conn, const char *sql, int nparams,
                const char *const *params, char *sqlstate, PgwError *err)
{
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	int rc = pgc_exec(conn, sql, nparams, params, QUERY_MS, res, &nres,
	                  sqlstate, err);

	pgc_clear(res, nres);
	return rc;
}

static int
create_replication_role(PgControl *c, PgwError *err)
{
	PGconn *conn = control_connect_local(c, CONNECT_MS, err);
	const char *params[1] = {c->repl_user};
	char exists[8];
	char *ident = NULL;
	char *lit = NULL;
	StrBuf sql;
	int rc;

	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	/* bootstrap, before any lease: the lease witness (lease_ssn.c) and
	 * the commit check (pgwarden_lease, a superuser's setting) would hold
	 * this commit, and no client can see this server yet */
	if ((rc = actions_command(conn, "SET synchronous_commit = local", 0, NULL,
	                          NULL, err)) != 0 ||
	    (rc = actions_command(conn, "SET pgwarden_lease.enforce = off", 0, NULL,
	                          NULL, err)) != 0)
		goto out;
	rc = actions_query_value(
	    conn, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", 1,
	    params, QUERY_MS, exists, sizeof(exists), err);
	if (rc != 0)
		goto out;
	ident = PQescapeIdentifier(conn, c->repl_user, strlen(c->repl_user));
	if (c->repl_password != NULL)
		lit = PQescapeLiteral(conn, c->repl_password, strlen(c->repl_password));
	if (ident == NULL || (c->repl_password != NULL && lit == NULL))
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "could not quote the replication role");
		goto out;
	}
	sbuf_init(&sql);
	sbuf_printf(&sql, "%s ROLE %s WITH LOGIN REPLICATION%s%s",
	            exists[0] == 't' ? "ALTER" : "CREATE", ident,
	            lit ? " PASSWORD " : "", lit ? lit : "");
	rc = actions_command(conn, sql.data, 0, NULL, NULL, err);
	explicit_bzero(sql.data, sql.cap);
	free(sql.data);
	if (rc != 0)
		pgw_error_prefix(err, "could not create replication role \"%s\"",
		                 c->repl_user);
out:
	if (lit != NULL)
	{
		explicit_bzero(lit, strlen(lit));
		PQfreemem(lit);
	}
	if (ident != NULL)
		PQfreemem(ident);
	PQfinish(conn);
	return rc;
}

/* ---- incomplete clone / rewind markers (see health.h) ------------------ */

static void
marker_path(const char *data_dir, HealthIncomplete kind, char *buf, size_t len)
{
	int n = (int) strlen(data_dir);

	/* "data/" must give "data.rewind-incomplete", never a file inside */
	while (n > 1 && data_dir[n - 1] == '/')
		n--;
	snprintf(buf, len, "%.*s.%s-incomplete", n, data_dir,
	         kind == HEALTH_INCOMPLETE_CLONE ? "clone" : "rewind");
}

HealthIncomplete
health_data_dir_incomplete(const char *data_dir)
{
	char path[4200];

	marker_path(data_dir, HEALTH_INCOMPLETE_REWIND, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return HEALTH_INCOMPLETE_REWIND;
	marker_path(data_dir, HEALTH_INCOMPLETE_CLONE, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return HEALTH_INCOMPLETE_CLONE;
	return HEALTH_INCOMPLETE_NONE;
}

int
actions_marker_set(PgControl *c, HealthIncomplete kind, const char *source,
                   PgwError *err)
{
	char path[4200];
	char body[600];
	int n;

	marker_path(c->data_dir, kind, path, sizeof(path));
	n = snprintf(body, sizeof(body), "source=%s started_ms=%lld\n", source,
	             (long long) pgw_now_wall_ms());
	return write_file_atomic(path, body, (size_t) n, 0600, (uid_t) -1,
	                         (gid_t) -1, err);
}

void
actions_marker_clear(PgControl *c, HealthIncomplete kind)
{
	char path[4200];

	PgwError err = {0};

	marker_path(c->data_dir, kind, path, sizeof(path));
	if (pgw_unlink(path, &err) != 0)
		log_warn("pg.marker", "path=%s action=unlink-failed detail=\"%s\"",
		         path, err.msg);
}

int
health_control_bootstrap(PgControl *c, int timeout_ms, PgwError *err)
{
	char initdb[4096];
	char pwfile[4096];
	char pwopt[4200];
	char dopt[4200];
	char uopt[300];
	const char *argv[16];
	int n = 0;
	int rc;
	HealthWait w;

	if (!control_dir_empty(c->data_dir))
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "cannot bootstrap: data directory \"%s\" is not empty",
		    c->data_dir);
	actions_marker_clear(c, HEALTH_INCOMPLETE_CLONE);
	actions_marker_clear(c, HEALTH_INCOMPLETE_REWIND);
	if ((rc = control_ensure_dir(c, c->data_dir, 0700, "postgresql.data_dir",
	                             true, err)) != 0)
		return rc;
	control_bin(c, "initdb", initdb, sizeof(initdb));
	snprintf(dopt, sizeof(dopt), "--pgdata=%s", c->data_dir);
	snprintf(uopt, sizeof(uopt), "--username=%s", c->superuser);
	argv[n++] = initdb;
	argv[n++] = dopt;
	argv[n++] = uopt;
	if (c->su_password != NULL)
	{
		snprintf(pwfile, sizeof(pwfile), "%s.pw", c->pgpass);
		rc = write_file_atomic(pwfile, c->su_password, strlen(c->su_password),
		                       0600, c->as.drop ? c->as.uid : (uid_t) -1,
		                       c->as.drop ? c->as.gid : (gid_t) -1, err);
		if (rc != 0)
			return rc;
		snprintf(pwopt, sizeof(pwopt), "--pwfile=%s", pwfile);
		argv[n++] = pwopt;
	}
	argv[n++] = "--data-checksums";
	argv[n++] = "--encoding=UTF8";
	argv[n++] = "--locale=C";
	argv[n++] = "--auth=trust";
	if (c->no_sync)
		argv[n++] = "--no-sync";
	argv[n] = NULL;
	rc = run_program(argv, &c->as, NULL, c->cmd_timeout_ms, NULL, err);
	if (c->su_password != NULL)
		(void) pgw_unlink(pwfile, NULL);
	if (rc != 0)
	{
		control_empty_dir(c->data_dir);
		return rc;
	}
	free(c->primary_conninfo);
	c->primary_conninfo = NULL;
	if ((rc = control_write_hba(c, err)) != 0 ||
	    (rc = control_write_conf(c, err)) != 0 ||
	    (rc = control_ensure_include(c, err)) != 0 ||
	    (rc = control_write_signal(c, false, err)) != 0)
		return rc;
	w = health_control_start(c, timeout_ms, err);
	if (w != HEALTH_WAIT_READY)
		return err && err->code ? err->code : PGW_ETIMEDOUT;
	return create_replication_role(c, err);
}

static int
ensure_slot_on(PgControl *c, const HealthUpstream *leader, const char *slot,
               PgwError *err)
{
	PGconn *conn = control_connect_remote(c, leader, true, CONNECT_MS, err);
	char sql[256];
	char state[6];
	int rc;

	if (conn == NULL)
		return err ? err->code : PGW_EUNAVAILABLE;
	/* slot is [a-z0-9_] (health_slot_name), so quoting it is enough */
	snprintf(sql, sizeof(sql),
	         "CREATE_REPLICATION_SLOT \"%s\" PHYSICAL RESERVE_WAL", slot);
	rc = actions_command(conn, sql, 0, NULL, state, err);
	if (rc != 0 && strcmp(state, "42710") == 0)
	{
		pgw_error_clear(err);
		rc = 0; /* already exists: the leader made it for us */
	}
	PQfinish(conn);
	return rc;
}

int
health_control_clone(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	char slot[HEALTH_NAME_MAX];
	char bb[4096];
	char port[16];
	char envbuf[4200];
	const char *env[2];
	const char *argv[24];
	int n = 0;
	int rc;

	if (leader == NULL || leader->host == NULL || leader->port <= 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid upstream: host and port are required");
	if (!control_dir_empty(c->data_dir))
		return pgw_error_set(err, PGW_ESTATE,
		                     "cannot clone: data directory \"%s\" is not empty",
		                     c->data_dir);
	/* a re-clone replaces what an interrupted rewind left */
	actions_marker_clear(c, HEALTH_INCOMPLETE_REWIND);
	if ((rc = control_ensure_dir(c, c->data_dir, 0700, "postgresql.data_dir",
	                             true, err)) != 0)
		return rc;
	health_slot_name(c->member, slot, sizeof(slot));
	if ((rc = ensure_slot_on(c, leader, slot, err)) != 0)
	{
		pgw_error_prefix(err,
		                 "could not create replication slot \"%s\" on %s:%d",
		                 slot, leader->host, leader->port);
		return rc;
	}
	control_bin(c, "pg_basebackup", bb, sizeof(bb));
	snprintf(port, sizeof(port), "%d", leader->port);
	argv[n++] = bb;
	argv[n++] = "-D";
	argv[n++] = c->data_dir;
	argv[n++] = "-h";
	argv[n++] = leader->host;
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-U";
	argv[n++] = c->repl_user;
	argv[n++] = "-w";
	argv[n++] = "-X";
	argv[n++] = "stream";
	argv[n++] = "-c";
	argv[n++] = "fast";
	argv[n++] = "-S";
	argv[n++] = slot;
	if (c->no_sync)
		argv[n++] = "--no-sync";
	argv[n] = NULL;
	actions_pgpass_env(c, envbuf, sizeof(envbuf), env);
	if ((rc = actions_marker_set(c, HEALTH_INCOMPLETE_CLONE, leader->host,
	                             err)) != 0)
		return rc;
	rc = run_program(argv, &c->as, env, c->cmd_timeout_ms, NULL, err);
	if (rc != 0)
	{
		control_empty_dir(c->data_dir);
		actions_marker_clear(c, HEALTH_INCOMPLETE_CLONE);
		return rc;
	}
	if ((rc = control_set_standby(c, leader, err)) != 0 ||
	    (rc = control_write_hba(c, err)) != 0 ||
	    (rc = control_write_conf(c, err)) != 0 ||
	    (rc = control_ensure_include(c, err)) != 0 ||
	    (rc = control_write_signal(c, true, err)) != 0)
		return rc;
	actions_marker_clear(c, HEALTH_INCOMPLETE_CLONE);
	return 0;
}

int
actions_parse_hex_tli(const char *s, uint32_t *tli)
{
	uint64_t t = 0;

	if (strlen(s) != 8)
		return PGW_EINVAL;
	for (int i = 0; i < 8; i++)
	{
		char ch = s[i];
		int d = (ch >= '0' && ch <= '9')   ? ch - '0'
		        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
		        : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
		                                   : -1;

		if (d < 0)
			return PGW_EINVAL;
		t = t * 16 + (uint64_t) d;
	}
	*tli = (uint32_t) t;
	return 0;
}

/* timeline of a server: insert TLI on a primary, checkpoint TLI otherwise */
const char *const actions_tli_sql =
    "SELECT CASE WHEN pg_is_in_recovery()"
    " THEN lpad(upper(to_hex((SELECT timeline_id FROM pg_control_checkpoint()))), 8, '0')"
    " ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END";

/*
 * signal_promote: what `pg_ctl promote` does, without the cost of starting
 * pg_ctl (80-90 ms on a loaded 2-core machine, all of it write downtime in a
 * switchover): create the `promote` signal file in the data directory and
 * send SIGUSR1 to the postmaster, which passes the request on to the startup
 * process. *pm_out is the postmaster signalled.
 */
static int
signal_promote(PgControl *c, pid_t *pm_out, PgwError *err)
{
	char state[16];
	pid_t pm = 0;
	int dfd;
	int rc;

	if (!read_postmaster_pid(c->data_dir, &pm, state, sizeof(state)) ||
	    !control_pid_trusted(c, pm))
		return pgw_error_set(err, PGW_ESTATE,
		                     "cannot promote server: no postmaster runs for %s",
		                     c->data_dir);
	/* O_EXCL|O_NOFOLLOW in the data directory's descriptor: a symlink
	 * named "promote" is removed as a link, never followed (F1) */
	if ((dfd = control_data_dirfd(c, err)) < 0)
		return err && err->code ? err->code : PGW_EIO;
	rc = pgw_create_at(dfd, "promote", 0600,
	                   c->as.drop ? c->as.uid : PGW_NO_OWNER,
	                   c->as.drop ? c->as.gid : (gid_t) -1, err);
	if (rc != 0)
	{
		close(dfd);
		pgw_error_prefix(err, "cannot promote server");
		return rc;
	}
	if (kill(pm, SIGUSR1) != 0)
	{
		int e = errno;

		(void) unlinkat(dfd, "promote", 0);
		close(dfd);
		return pgw_error_set(err, PGW_EIO,
		                     "cannot promote server: signal postmaster %d: %s",
		                     (int) pm, strerror(e));
	}
	close(dfd);
	*pm_out = pm;
	return 0;
}

/* ---- pg_control, read directly ---------------------------------------- */

/*
 * actions_peek_control: the cluster state and the latest checkpoint straight from
 * global/pg_control. The switchover's waits poll every few ms, and
 * pg_controldata costs a fork and an exec each time (6 ms on a quiet
 * machine, 20-40 ms under a switchover's load), which showed as up to 40 ms
 * between the shutdown checkpoint and our noticing it. Only the first
 * fields of ControlFileData are read (system_identifier, pg_control_version,
 * catalog_version_no, state, time, checkPoint); they sit at these offsets in
 * every release whose pg_control_version is 1300 (PostgreSQL 13 to 16).
 * PostgreSQL rewrites the file in place, so two reads must agree. Any other
 * version, a short read or a disagreement returns -1 and the caller falls
 * back to pg_controldata.
 */
int
actions_peek_control(const char *data_dir, int *state, PgLsn *checkpoint)
{
	char path[4096];
	unsigned char a[40];
	unsigned char b[40];
	uint32_t version;
	int32_t st;
	uint64_t ck;
	int fd;

	snprintf(path, sizeof(path), "%s/global/pg_control", data_dir);
	fd = pgw_open_read(path);
	if (fd < 0)
		return -1;
	if (pread(fd, a, sizeof(a), 0) != (ssize_t) sizeof(a) ||
	    pread(fd, b, sizeof(b), 0) != (ssize_t) sizeof(b) ||
	    memcmp(a, b, sizeof(a)) != 0)
	{
		close(fd);
		return -1;
	}
	close(fd);
	memcpy(&version, a + 8, sizeof(version));
	memcpy(&st, a + 16, sizeof(st));
	memcpy(&ck, a + 32, sizeof(ck));
	if (version != PGCTL_VERSION_13_TO_16 || st < 0 || st > 6)
		return -1;
	*state = st;
	*checkpoint = ck;
	return 0;
}

/*
 * newest_history_tli: the highest timeline with a history file in pg_wal.
 * A promotion writes its new timeline's history file before it lets writes
 * in, and picks one above every timeline it knows, so right after the end
 * of recovery this is the new timeline. 0 when there is none.
 */
static uint32_t
newest_history_tli(const char *data_dir)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	uint32_t best = 0;

	snprintf(path, sizeof(path), "%s/pg_wal", data_dir);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
	{
		unsigned int t;
		char tail[16];

		if (strlen(de->d_name) == 16 &&
		    sscanf(de->d_name, "%8X%15s", &t, tail) == 2 &&
		    strcmp(tail, ".history") == 0 && t > best)
			best = t;
	}
	closedir(d);
	return best;
}

int
health_control_promote(PgControl *c, int wait_seconds, uint32_t *new_timeline,
                       PgwError *err)
{
	PGconn *conn = NULL;
	char v[32];
	char signal_path[4096];
	struct stat st;
	uint32_t tli;
	int64_t deadline;
	int64_t kicked = 0;
	pid_t pm = 0;
	pid_t startup = 0;
	int rc;

	if (wait_seconds <= 0)
		wait_seconds = 60;
	deadline = pgw_now_mono_ms() + (int64_t) wait_seconds * 1000;
	snprintf(signal_path, sizeof(signal_path), "%s/standby.signal",
	         c->data_dir);
	if (stat(signal_path, &st) != 0)
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "cannot promote server: server is not in standby mode");
	log_info("pg.promote", "data_dir=%s wait_seconds=%d", c->data_dir,
	         wait_seconds);
	/*
	 * The signal needs no connection, so the promotion starts at once; the
	 * end of recovery is read from pg_control every 2 ms, also without a
	 * connection (where that file cannot be read: pg_is_in_recovery() over
	 * one), well before pg_ctl's or pg_promote()'s own 100 ms polling.
	 */
	rc = signal_promote(c, &pm, err);
	if (rc != 0)
		return rc;
	for (;;)
	{
		int state;
		PgLsn ck;
		bool peeked;

		/*
		 * A promote request that arrives while the startup process is
		 * between two attempts to stream sleeps out the rest of
		 * wal_retrieve_retry_interval first (PostgreSQL 15's
		 * WaitForWALToBecomeAvailable does not re-check it before that
		 * sleep). Its SIGUSR2 handler only sets its latch, so waking it
		 * every 10 ms ends that sleep. Nothing in this loop may block for
		 * long: a connection attempt here used to delay the kicks by up
		 * to 100 ms.
		 */
		if (pgw_now_mono_ms() - kicked >= 10)
		{
			/* a walk of /proc costs 1-3 ms of CPU: once, not every kick;
			 * the parent check keeps a recycled pid from being signalled */
			if (startup > 0 && control_parent_is(startup, pm))
				kill(startup, SIGUSR2);
			else
			{
				startup = control_startup_pid(pm);
				if (startup > 0)
					kill(startup, SIGUSR2);
			}
			kicked = pgw_now_mono_ms();
		}
		/* pg_control says "in production" in the same step that lets
		 * writes in (StartupXLOG), so no connection is needed to see it */
		peeked = actions_peek_control(c->data_dir, &state, &ck) == 0;
		if (peeked && state == PGCTL_STATE_IN_PRODUCTION)
		{
			/* 0 (no history file readable): asked over a connection below */
			tli = newest_history_tli(c->data_dir);
			break;
		}
		if (!peeked)
		{
			if (conn == NULL)
				conn = control_connect_local(c, CONNECT_MS, err);
			if (conn != NULL)
			{
				rc = actions_query_value(conn, "SELECT pg_is_in_recovery()", 0,
				                         NULL, QUERY_MS, v, sizeof(v), err);
				if (rc == 0 && strcmp(v, "f") == 0)
				{
					tli = 0;
					break;
				}
				if (rc != 0)
				{
					PQfinish(conn);
					conn = NULL;
				}
			}
		}
		if (pgw_now_mono_ms() >= deadline)
		{
			if (conn != NULL)
				PQfinish(conn);
			pgw_error_clear(err);
			return pgw_error_set(err, PGW_ETIMEDOUT,
			                     "server did not promote within %d seconds",
			                     wait_seconds);
		}
		pgw_error_clear(err);
		pgw_sleep_ms(2);
	}
	if (tli == 0)
	{
		if (conn == NULL &&
		    (conn = control_connect_local(c, CONNECT_MS, err)) == NULL)
		{
			rc = err && err->code ? err->code : PGW_EUNAVAILABLE;
			goto out;
		}
		rc = actions_query_value(conn, actions_tli_sql, 0, NULL, QUERY_MS, v,
		                         sizeof(v), err);
		if (rc != 0)
			goto out;
		if (actions_parse_hex_tli(v, &tli) != 0)
		{
			rc = pgw_error_set(err, PGW_EBADRESPONSE, "invalid timeline \"%s\"",
			                   v);
			goto out;
		}
	}
	if (new_timeline != NULL)
		*new_timeline = tli;
	free(c->primary_conninfo);
	free(c->primary_slot);
	c->primary_conninfo = NULL;
	c->primary_slot = NULL;
	rc = control_write_conf(c, err);
	if (rc == 0)
		rc = control_write_signal(c, false, err);
	log_info("pg.promoted", "data_dir=%s timeline=%u", c->data_dir, tli);
out:
	PQfinish(conn);
	return rc;
}

HealthWait
actions_stop_escalating(PgControl *c, int timeout_ms, PgwError *err)
{
	HealthWait w =
	    health_control_stop(c, HEALTH_STOP_FAST, timeout_ms / 2, err);

	if (w == HEALTH_WAIT_PENDING)
	{
		pgw_error_clear(err);
		w = health_control_stop(c, HEALTH_STOP_IMMEDIATE, timeout_ms / 2, err);
	}
	return w;
}

HealthWait
health_control_demote(PgControl *c, const HealthUpstream *leader,
                      int timeout_ms, PgwError *err)
{
	HealthWait w;

	if (control_set_standby(c, leader, err) != 0)
		return HEALTH_WAIT_FAILED;
	w = actions_stop_escalating(c, timeout_ms, err);
	if (w != HEALTH_WAIT_READY)
		return w;
	if (control_write_conf(c, err) != 0 ||
	    control_write_signal(c, true, err) != 0)
		return HEALTH_WAIT_FAILED;
	log_info("pg.demote", "data_dir=%s upstream=%s:%d", c->data_dir,
	         leader->host, leader->port);
	return health_control_start(c, timeout_ms, err);
}

int
health_control_set_upstream(PgControl *c, const HealthUpstream *leader,
                            PgwError *err)
{
	bool is_child;
	int rc;

	if ((rc = control_set_standby(c, leader, err)) != 0 ||
	    (rc = control_write_conf(c, err)) != 0 ||
	    (rc = control_write_signal(c, true, err)) != 0)
		return rc;
	log_info("pg.upstream", "data_dir=%s upstream=%s:%d", c->data_dir,
	         leader->host, leader->port);
	if (control_running_pid(c, &is_child) > 0)
		return health_control_reload(c, err);
	return 0;
}
