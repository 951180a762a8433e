/*
 * probe.c: the every-second look at one PostgreSQL server (DESIGN.md,
 * "health/"): one persistent libpq connection, re-established after a
 * failure, one round trip per probe (two statements in one simple-query
 * message), every field checked for shape before it is read.
 */
#include "health/health_int.h"
#include "witness/witness.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct PgProbe
{
	char *host;
	char *port;
	char *user;
	char *password;
	char *dbname;
	char *data_dir;
	char options[64];
	int connect_timeout_ms;
	int statement_timeout_ms;
	bool standby_cluster;
	PGconn *conn;
};

/*
 * The snapshot. Volatile functions that fail on one role sit inside CASE on
 * pg_is_in_recovery(). The timeline of a primary comes from the WAL file
 * name of the insert position, which is right at once after promotion
 * (pg_control's checkpoint timeline lags until the next checkpoint).
 */
#define SNAPSHOT_FIELDS 20
#define STANDBY_FIELDS  12
static const char *probe_sql =
    "SELECT pg_is_in_recovery(),"
    " current_setting('server_version_num'),"
    " current_setting('server_version'),"
    " (SELECT system_identifier::text FROM pg_control_system()),"
    " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    "  ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,"
    " (SELECT timeline_id FROM pg_control_checkpoint()),"
    " pg_last_wal_receive_lsn()::text,"
    " pg_last_wal_replay_lsn()::text,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,"
    " (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::bigint,"
    " (extract(epoch FROM clock_timestamp()) * 1000)::bigint,"
    " EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart),"
    " w.status, w.sender_host, w.sender_port, w.slot_name, w.received_tli,"
    " w.written_lsn::text, w.flushed_lsn::text"
    " FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS w ON true;"
    "SELECT application_name, coalesce(client_addr::text, ''), state,"
    " sync_state, sync_priority, sent_lsn::text, write_lsn::text,"
    " flush_lsn::text, replay_lsn::text,"
    " (extract(epoch FROM write_lag) * 1000)::bigint,"
    " (extract(epoch FROM flush_lag) * 1000)::bigint,"
    " (extract(epoch FROM replay_lag) * 1000)::bigint"
    /* the lease witness (issue 19) is no replica: nothing counts it */
    " FROM pg_stat_replication WHERE application_name <> '" WITNESS_APP_NAME "'"
    " ORDER BY application_name";

int
health_probe_open(const PgProbeConfig *cfg, PgProbe **out, PgwError *err)
{
	PgProbe *p;
	char port[16];

	*out = NULL;
	if (cfg == NULL || cfg->host == NULL || cfg->port <= 0 || cfg->port > 65535)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid probe configuration: host and port are required");
	p = pgw_xcalloc(1, sizeof(*p));
	snprintf(port, sizeof(port), "%d", cfg->port);
	p->host = pgw_xstrdup(cfg->host);
	p->port = pgw_xstrdup(port);
	p->user = pgw_xstrdup(cfg->user ? cfg->user : "postgres");
	p->password = cfg->password ? pgw_xstrdup(cfg->password) : NULL;
	p->dbname = pgw_xstrdup(cfg->dbname ? cfg->dbname : "postgres");
	p->data_dir = cfg->data_dir ? pgw_xstrdup(cfg->data_dir) : NULL;
	p->connect_timeout_ms =
	    cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
	p->statement_timeout_ms =
	    cfg->statement_timeout_ms > 0 ? cfg->statement_timeout_ms : 1000;
	p->standby_cluster = cfg->standby_cluster;
	snprintf(p->options, sizeof(p->options), "-c statement_timeout=%d",
	         p->statement_timeout_ms);
	*out = p;
	return 0;
}

void
health_probe_close(PgProbe *p)
{
	if (p == NULL)
		return;
	if (p->conn != NULL)
		PQfinish(p->conn);
	free(p->host);
	free(p->port);
	free(p->user);
	if (p->password != NULL)
	{
		explicit_bzero(p->password, strlen(p->password));
		free(p->password);
	}
	free(p->dbname);
	free(p->data_dir);
	free(p);
}

void
health_probe_disconnect(PgProbe *p)
{
	if (p != NULL && p->conn != NULL)
	{
		PQfinish(p->conn);
		p->conn = NULL;
	}
}

const char *
health_role_name(HealthRole role)
{
	switch (role)
	{
		case HEALTH_ROLE_PRIMARY:
			return "primary";
		case HEALTH_ROLE_REPLICA:
			return "replica";
		case HEALTH_ROLE_STANDBY_LEADER:
			return "standby_leader";
		default:
			return "unknown";
	}
}

const char *
health_unreachable_name(HealthUnreachable u)
{
	static const char *const names[] = {
	    "ok",           "refused",       "auth",        "timeout",
	    "starting_up",  "shutting_down", "in_recovery", "too_many_clients",
	    "bad_response", "other"};

	if ((int) u < 0 || (size_t) u >= PGW_LENGTHOF(names))
		return "other";
	return names[u];
}

static int
probe_connect(PgProbe *p, HealthReport *r, PgwError *err)
{
	const char *keys[] = {"host",    "port",
	                      "user",    "password",
	                      "dbname",  "application_name",
	                      "options", "connect_timeout",
	                      NULL};
	const char *vals[] = {
	    p->host,   p->port,          p->user,    p->password ? p->password : "",
	    p->dbname, "pgwarden-probe", p->options, "10",
	    NULL};
	HealthUnreachable why;
	PgwError e = {0};

	if (p->password == NULL)
	{
		/* keep passfile lookup: an empty password key would override it */
		keys[3] = "fallback_application_name";
		vals[3] = "pgwarden";
	}
	p->conn = pgc_connect(keys, vals, p->connect_timeout_ms, &why, &e);
	if (p->conn != NULL)
		return 0;
	r->unreachable = why;
	pgw_strlcpy(r->unreachable_msg, e.msg, sizeof(r->unreachable_msg));
	if (err != NULL)
		*err = e;
	return e.code;
}

/* shape helpers: each returns false on NULL or garbage */
static bool
get_lsn(PGresult *res, int row, int col, PgLsn *out)
{
	if (PQgetisnull(res, row, col))
	{
		*out = HEALTH_LSN_INVALID;
		return true;
	}
	return health_lsn_parse(PQgetvalue(res, row, col), out) == 0;
}

static bool
get_i64(PGresult *res, int row, int col, int64_t *out, int64_t if_null)
{
	if (PQgetisnull(res, row, col))
	{
		*out = if_null;
		return true;
	}
	return pgw_parse_int64(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX,
	                       out) == 0;
}

static bool
get_bool(PGresult *res, int row, int col, bool *out)
{
	const char *v;

	if (PQgetisnull(res, row, col))
		return false;
	v = PQgetvalue(res, row, col);
	if (strcmp(v, "t") != 0 && strcmp(v, "f") != 0)
		return false;
	*out = v[0] == 't';
	return true;
}

static void
get_str(PGresult *res, int row, int col, char *buf, size_t len)
{
	if (PQgetisnull(res, row, col))
		buf[0] = '\0';
	else
		pgw_strlcpy(buf, PQgetvalue(res, row, col), len);
}

static int
bad(HealthReport *r, PgwError *err, const char *what)
{
	r->reachable = false;
	r->unreachable = HEALTH_REACH_BAD_RESPONSE;
	snprintf(r->unreachable_msg, sizeof(r->unreachable_msg),
	         "unexpected probe result: %s", what);
	return pgw_error_set(err, PGW_EBADRESPONSE, "unexpected probe result: %s",
	                     what);
}

static int
parse_snapshot(PGresult *res, HealthReport *r, PgwError *err)
{
	int64_t v;
	uint64_t sysid;

	if (PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQnfields(res) != SNAPSHOT_FIELDS || PQntuples(res) != 1)
		return bad(r, err, "snapshot has the wrong shape");
	if (!get_bool(res, 0, 0, &r->in_recovery))
		return bad(r, err, "pg_is_in_recovery() is not a boolean");
	if (PQgetisnull(res, 0, 1) ||
	    pgw_parse_int64(PQgetvalue(res, 0, 1), 0, INT32_MAX, &v) != 0)
		return bad(r, err, "server_version_num is not a number");
	r->server_version_num = (int) v;
	get_str(res, 0, 2, r->server_version, sizeof(r->server_version));
	if (r->server_version_num < 150000)
		return bad(r, err, "server version is older than PostgreSQL 15");
	if (PQgetisnull(res, 0, 3) ||
	    pgw_parse_uint64(PQgetvalue(res, 0, 3), &sysid) != 0)
		return bad(r, err, "system identifier is not a number");
	r->system_identifier = sysid;
	if (!get_lsn(res, 0, 4, &r->wal_lsn))
		return bad(r, err, "pg_current_wal_lsn() is not an LSN");
	if (!r->in_recovery)
	{
		char tli[9];
		uint64_t t = 0;

		if (r->wal_lsn == HEALTH_LSN_INVALID || PQgetisnull(res, 0, 5) ||
		    strlen(PQgetvalue(res, 0, 5)) != 8)
			return bad(r, err, "primary without a WAL position");
		pgw_strlcpy(tli, PQgetvalue(res, 0, 5), sizeof(tli));
		for (int i = 0; i < 8; i++)
		{
			char ch = tli[i];
			int d = (ch >= '0' && ch <= '9')   ? ch - '0'
			        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
			                                   : -1;

			if (d < 0)
				return bad(r, err, "WAL file name is not hexadecimal");
			t = t * 16 + (uint64_t) d;
		}
		r->timeline = (uint32_t) t;
	}
	if (!get_i64(res, 0, 6, &v, -1) || v < 0)
		return bad(r, err, "checkpoint timeline is not a number");
	r->checkpoint_tli = (uint32_t) v;
	if (r->in_recovery)
		r->timeline = (uint32_t) v;
	if (!get_lsn(res, 0, 7, &r->receive_lsn) ||
	    !get_lsn(res, 0, 8, &r->replay_lsn))
		return bad(r, err, "receive or replay position is not an LSN");
	if (!get_bool(res, 0, 9, &r->replay_paused))
		return bad(r, err, "replay paused is not a boolean");
	if (!get_i64(res, 0, 10, &r->last_replay_wall_ms, -1))
		return bad(r, err, "last replay timestamp is not a number");
	r->has_last_replay = !PQgetisnull(res, 0, 10);
	if (!get_i64(res, 0, 11, &r->server_now_wall_ms, 0) ||
	    PQgetisnull(res, 0, 11))
		return bad(r, err, "server clock is not a number");
	r->replay_delay_ms = r->has_last_replay
	                         ? r->server_now_wall_ms - r->last_replay_wall_ms
	                         : -1;
	if (!get_bool(res, 0, 12, &r->pending_restart))
		return bad(r, err, "pending_restart is not a boolean");
	r->has_wal_receiver = !PQgetisnull(res, 0, 13);
	get_str(res, 0, 13, r->wal_receiver_status, sizeof(r->wal_receiver_status));
	get_str(res, 0, 14, r->upstream_host, sizeof(r->upstream_host));
	if (!get_i64(res, 0, 15, &v, 0) || v < 0 || v > 65535)
		return bad(r, err, "sender_port is not a port");
	r->upstream_port = (int) v;
	get_str(res, 0, 16, r->upstream_slot, sizeof(r->upstream_slot));
	if (!get_i64(res, 0, 17, &v, 0) || v < 0 || v > UINT32_MAX)
		return bad(r, err, "received_tli is not a timeline");
	r->received_tli = (uint32_t) v;
	if (r->in_recovery && r->received_tli > r->timeline)
		r->timeline = r->received_tli;
	if (!get_lsn(res, 0, 18, &r->written_lsn) ||
	    !get_lsn(res, 0, 19, &r->flushed_lsn))
		return bad(r, err, "wal receiver position is not an LSN");
	return 0;
}

static int
parse_standbys(PGresult *res, HealthReport *r, PgwError *err)
{
	int n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQnfields(res) != STANDBY_FIELDS)
		return bad(r, err, "pg_stat_replication has the wrong shape");
	n = PQntuples(res);
	if (n > HEALTH_STANDBYS_MAX)
	{
		r->standbys_truncated = true;
		n = HEALTH_STANDBYS_MAX;
	}
	for (int i = 0; i < n; i++)
	{
		HealthStandby *s = &r->standbys[i];
		int64_t v;

		get_str(res, i, 0, s->application_name, sizeof(s->application_name));
		get_str(res, i, 1, s->client_addr, sizeof(s->client_addr));
		get_str(res, i, 2, s->state, sizeof(s->state));
		get_str(res, i, 3, s->sync_state, sizeof(s->sync_state));
		if (!get_i64(res, i, 4, &v, 0) || v < INT32_MIN || v > INT32_MAX)
			return bad(r, err, "sync_priority is not a number");
		s->sync_priority = (int) v;
		if (!get_lsn(res, i, 5, &s->sent_lsn) ||
		    !get_lsn(res, i, 6, &s->write_lsn) ||
		    !get_lsn(res, i, 7, &s->flush_lsn) ||
		    !get_lsn(res, i, 8, &s->replay_lsn))
			return bad(r, err, "pg_stat_replication position is not an LSN");
		if (!get_i64(res, i, 9, &s->write_lag_ms, -1) ||
		    !get_i64(res, i, 10, &s->flush_lag_ms, -1) ||
		    !get_i64(res, i, 11, &s->replay_lag_ms, -1))
			return bad(r, err, "pg_stat_replication lag is not a number");
	}
	r->n_standbys = n;
	return 0;
}

static void
fill_postmaster(PgProbe *p, HealthReport *r)
{
	pid_t pid = 0;
	char state[16];

	if (p->data_dir == NULL)
		return;
	if (read_postmaster_pid(p->data_dir, &pid, state, sizeof(state)))
	{
		r->has_postmaster_pid = true;
		r->postmaster_pid = pid;
		r->postmaster_alive = pid_alive(pid);
	}
}

static void
fill_lag(HealthReport *r, PgLsn leader_lsn)
{
	PgLsn base = leader_lsn;

	r->leader_lsn = leader_lsn;
	if (!r->in_recovery)
	{
		r->lag_bytes = 0;
		if (base == HEALTH_LSN_INVALID)
			base = r->wal_lsn;
	}
	else
	{
		PgLsn mine =
		    r->receive_lsn > r->replay_lsn ? r->receive_lsn : r->replay_lsn;

		r->lag_bytes = health_lsn_lag_bytes(leader_lsn, mine);
		if (base == HEALTH_LSN_INVALID)
			base = mine;
	}
	for (int i = 0; i < r->n_standbys; i++)
		r->standbys[i].lag_bytes =
		    health_lsn_lag_bytes(base, r->standbys[i].replay_lsn);
}

void
health_report_relag(HealthReport *r, PgLsn leader_lsn)
{
	fill_lag(r, leader_lsn);
}

int
health_probe_run(PgProbe *p, PgLsn leader_lsn, HealthReport *r, PgwError *err)
{
	int64_t start = pgw_now_mono_us();
	PGresult *res[PGC_MAX_RESULTS] = {0};
	int nres = 0;
	int rc;
	bool fresh = false;

	memset(r, 0, sizeof(*r));
	r->lag_bytes = UINT64_MAX;
	r->replay_delay_ms = -1;
	r->leader_lsn = leader_lsn;
	fill_postmaster(p, r);

	for (int attempt = 0; attempt < 2; attempt++)
	{
		PgwError e = {0};

		if (p->conn != NULL && PQstatus(p->conn) != CONNECTION_OK)
		{
			PQfinish(p->conn);
			p->conn = NULL;
		}
		if (p->conn == NULL)
		{
			rc = probe_connect(p, r, err);
			if (rc != 0)
				goto out;
			fresh = true;
		}
		rc = pgc_exec(p->conn, probe_sql, 0, NULL, p->statement_timeout_ms, res,
		              &nres, NULL, &e);
		if (rc == 0)
			break;
		/* a reused connection may just be stale (server restarted): retry once
		 */
		PQfinish(p->conn);
		p->conn = NULL;
		if (fresh || attempt == 1 || rc == PGW_ETIMEDOUT)
		{
			r->unreachable = rc == PGW_ETIMEDOUT ? HEALTH_REACH_TIMEOUT
			                 : rc == PGW_EBADRESPONSE
			                     ? HEALTH_REACH_BAD_RESPONSE
			                     : pgc_classify(e.msg);
			if (r->unreachable == HEALTH_REACH_OTHER && rc == PGW_EUNAVAILABLE)
				r->unreachable = HEALTH_REACH_REFUSED;
			pgw_strlcpy(r->unreachable_msg, e.msg, sizeof(r->unreachable_msg));
			if (err != NULL)
				*err = e;
			goto out;
		}
	}
	if (nres != 2)
	{
		rc = bad(r, err, "expected two result sets");
		goto out_drop;
	}
	rc = parse_snapshot(res[0], r, err);
	if (rc == 0)
		rc = parse_standbys(res[1], r, err);
	if (rc != 0)
		goto out_drop;
	r->reachable = true;
	r->unreachable = HEALTH_REACH_OK;
	r->role = !r->in_recovery      ? HEALTH_ROLE_PRIMARY
	          : p->standby_cluster ? HEALTH_ROLE_STANDBY_LEADER
	                               : HEALTH_ROLE_REPLICA;
	fill_lag(r, leader_lsn);
	goto out;

out_drop:
	/* a server that answers garbage gets a fresh connection next time */
	memset(&r->role, 0, sizeof(*r) - offsetof(HealthReport, role));
	r->lag_bytes = UINT64_MAX;
	r->replay_delay_ms = -1;
	r->leader_lsn = leader_lsn;
	PQfinish(p->conn);
	p->conn = NULL;
out:
	pgc_clear(res, nres);
	if (rc != 0)
	{
		r->reachable = false;
		if (r->unreachable == HEALTH_REACH_OK)
			r->unreachable = HEALTH_REACH_OTHER;
	}
	r->probe_duration_us = pgw_now_mono_us() - start;
	return rc;
}
