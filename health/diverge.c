/*
 * diverge.c: is a running standby's WAL still on the leader's history?
 * (health.h, "timeline check"; DESIGN.md promise 4). A standby that
 * replayed WAL past the point where the leader's timeline forked from its
 * own can never follow that leader: PostgreSQL says "new timeline N forked
 * off current database system timeline M before current recovery point"
 * forever, while the server answers queries as a healthy replica would.
 * The facts compared are Patroni's (_check_timeline_and_lsn): the timeline
 * our replay position is on and that position, against the leader's
 * timeline and its history file, both read over the replication protocol
 * (IDENTIFY_SYSTEM, TIMELINE_HISTORY), which needs only the privileges
 * streaming needs.
 */
#include "health/control_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one bound for the whole check: it runs inside the daemon's turn */
#define CHECK_BUDGET_MS 1500
#define CHECK_APP_NAME  "pgwarden-timeline-check"

/* ---- the pure part ------------------------------------------------------ */

/*
 * parse_history_line: one line of a timeline history file, as PostgreSQL
 * writes it ("<parent tli>\t<switchpoint X/Y>\t<reason>"). Returns 1 for
 * an entry, 0 for a blank or comment line, -1 for anything else.
 */
static int
parse_history_line(const char *line, uint32_t *tli, PgLsn *switchpoint)
{
	const char *p = line;
	char num[16];
	char lsn[HEALTH_LSN_STRLEN];
	size_t n = 0;
	int64_t t;

	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	while (*p >= '0' && *p <= '9' && n + 1 < sizeof(num))
		num[n++] = *p++;
	num[n] = '\0';
	if (n == 0 || (*p != ' ' && *p != '\t') ||
	    pgw_parse_int64(num, 1, UINT32_MAX, &t) != 0)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	n = 0;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' &&
	       n + 1 < sizeof(lsn))
		lsn[n++] = *p++;
	lsn[n] = '\0';
	/* 0/0 is no WAL position (fuzz_health_timeline found it accepted) */
	if (health_lsn_parse(lsn, switchpoint) != 0 || *switchpoint == 0)
		return -1;
	*tli = (uint32_t) t;
	return 1;
}

int
health_timeline_judge(const char *history, uint32_t leader_tli,
                      uint32_t local_tli, PgLsn local_lsn,
                      HealthTimelineCheck *out, PgwError *err)
{
	const char *p = history;
	uint32_t prev = 0;
	int lineno = 0;
	bool found = false;
	char a[HEALTH_LSN_STRLEN];
	char b[HEALTH_LSN_STRLEN];

	memset(out, 0, sizeof(*out));
	out->local_tli = local_tli;
	out->leader_tli = leader_tli;
	out->local_lsn = local_lsn;
	if (leader_tli == 0 || local_tli == 0)
		return pgw_error_set(err, PGW_EINVAL, "timeline 0 is not a timeline");
	if (local_tli == leader_tli)
	{
		snprintf(out->why, sizeof(out->why), "same timeline %u as the leader",
		         local_tli);
		return 0;
	}
	if (local_tli > leader_tli)
	{
		/* PostgreSQL never follows a server back to an older timeline */
		out->diverged = true;
		snprintf(out->why, sizeof(out->why),
		         "our timeline %u is newer than the leader's %u", local_tli,
		         leader_tli);
		return 0;
	}
	if (history == NULL)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "no history file for leader timeline %u",
		                     leader_tli);
	while (*p != '\0')
	{
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t) (eol - p) : strlen(p);
		char line[512];
		uint32_t tli = 0;
		PgLsn sp = 0;
		int r;

		lineno++;
		if (len >= sizeof(line))
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "history file of timeline %u: line %d is "
			                     "longer than %zu bytes",
			                     leader_tli, lineno, sizeof(line) - 1);
		memcpy(line, p, len);
		line[len] = '\0';
		r = parse_history_line(line, &tli, &sp);
		if (r < 0)
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "history file of timeline %u: line %d is not "
			                     "\"<timeline> <X/Y> <reason>\"",
			                     leader_tli, lineno);
		/* PostgreSQL's own rule (readTimeLineHistory): strictly ascending,
		 * every parent below the timeline the file describes */
		if (r > 0 && (tli <= prev || tli >= leader_tli))
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "history file of timeline %u: line %d names "
			                     "timeline %u out of order",
			                     leader_tli, lineno, tli);
		if (r > 0)
			prev = tli;
		if (r > 0 && tli == local_tli)
		{
			found = true;
			out->switchpoint = sp;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (prev == 0)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "history file of timeline %u has no entry",
		                     leader_tli);
	if (!found)
	{
		/* a sibling timeline: what we replayed on it the leader never had */
		out->diverged = true;
		snprintf(out->why, sizeof(out->why),
		         "our timeline %u is not in the history of the leader's %u",
		         local_tli, leader_tli);
		return 0;
	}
	/*
	 * The standby's own test (rescanLatestTimeLine): it can switch to the
	 * new timeline only when what it replayed ends at or before the fork.
	 * WAL received but not replayed does not count: the new timeline's
	 * segments replace it.
	 */
	out->diverged = local_lsn > out->switchpoint;
	snprintf(out->why, sizeof(out->why),
	         "timeline %u left for %u at %s; we replayed to %s", local_tli,
	         leader_tli, health_lsn_format(out->switchpoint, a, sizeof(a)),
	         health_lsn_format(local_lsn, b, sizeof(b)));
	return 0;
}

/* ---- talking to the servers ------------------------------------------- */

/* left: what remains of the check's budget (at least 1 ms: a call past
 * the deadline then times out at once, with the usual message) */
static int
left(int64_t deadline_mono_ms)
{
	int64_t l = deadline_mono_ms - pgw_now_mono_ms();

	return l > 0 ? (int) l : 1;
}

static PGconn *
connect_replication(PgControl *c, const char *host, int port, int64_t deadline,
                    PgwError *err)
{
	char ports[16];
	const char *keys[] = {"host",        "port",     "user",
	                      "dbname",      "passfile", "application_name",
	                      "replication", NULL};
	const char *vals[8];
	HealthUnreachable why;

	snprintf(ports, sizeof(ports), "%d", port);
	vals[0] = host;
	vals[1] = ports;
	vals[2] = c->repl_user;
	vals[3] = "replication";
	vals[4] = c->pgpass;
	vals[5] = CHECK_APP_NAME;
	vals[6] = "true";
	vals[7] = NULL;
	return pgc_connect(keys, vals, left(deadline), &why, err);
}

/* in_hot_standby: true when the server is in recovery (PostgreSQL 14+
 * reports it at connection start; SHOW when it did not) */
static int
in_hot_standby(PGconn *conn, bool *standby, int64_t deadline, PgwError *err)
{
	const char *v = PQparameterStatus(conn, "in_hot_standby");
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	int rc = 0;

	if (v != NULL)
	{
		*standby = strcmp(v, "on") == 0;
		return 0;
	}
	rc = pgc_exec(conn, "SHOW in_hot_standby", 0, NULL, left(deadline), res,
	              &nres, NULL, err);
	if (rc != 0)
		return rc;
	if (nres != 1 || PQntuples(res[0]) != 1 || PQnfields(res[0]) != 1 ||
	    PQgetisnull(res[0], 0, 0))
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected answer to SHOW in_hot_standby");
	else
		*standby = strcmp(PQgetvalue(res[0], 0, 0), "on") == 0;
	pgc_clear(res, nres);
	return rc;
}

/* identify: IDENTIFY_SYSTEM's system identifier and timeline. On a standby
 * the timeline is the one its replay position is on (the checkpoint's and
 * the WAL receiver's can both differ from it) */
static int
identify(PGconn *conn, uint64_t *sysid, uint32_t *tli, int64_t deadline,
         PgwError *err)
{
	PGresult *res[PGC_MAX_RESULTS];
	int nres;
	int64_t t;
	int rc;

	rc = pgc_exec(conn, "IDENTIFY_SYSTEM", 0, NULL, left(deadline), res, &nres,
	              NULL, err);
	if (rc != 0)
		return rc;
	if (nres != 1 || PQntuples(res[0]) != 1 || PQnfields(res[0]) < 2 ||
	    PQgetisnull(res[0], 0, 0) || PQgetisnull(res[0], 0, 1) ||
	    pgw_parse_uint64(PQgetvalue(res[0], 0, 0), sysid) != 0 ||
	    pgw_parse_int64(PQgetvalue(res[0], 0, 1), 1, UINT32_MAX, &t) != 0)
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected answer to IDENTIFY_SYSTEM");
	else
		*tli = (uint32_t) t;
	pgc_clear(res, nres);
	return rc;
}

/* timeline_history: TIMELINE_HISTORY tli's file content, into *text
 * (caller frees) */
static int
timeline_history(PGconn *conn, uint32_t tli, char **text, int64_t deadline,
                 PgwError *err)
{
	PGresult *res[PGC_MAX_RESULTS];
	char cmd[64];
	int nres;
	int rc;

	*text = NULL;
	snprintf(cmd, sizeof(cmd), "TIMELINE_HISTORY %u", tli);
	rc = pgc_exec(conn, cmd, 0, NULL, left(deadline), res, &nres, NULL, err);
	if (rc != 0)
		return rc;
	/* the walsender sends the file's bytes as they are (no bytea escape) */
	if (nres != 1 || PQntuples(res[0]) != 1 || PQnfields(res[0]) != 2 ||
	    PQgetisnull(res[0], 0, 1) ||
	    strlen(PQgetvalue(res[0], 0, 1)) != (size_t) PQgetlength(res[0], 0, 1))
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "unexpected answer to TIMELINE_HISTORY %u", tli);
	else
		*text = pgw_xstrdup(PQgetvalue(res[0], 0, 1));
	pgc_clear(res, nres);
	return rc;
}

int
health_control_timeline_check(PgControl *c, const HealthUpstream *leader,
                              PgLsn replay_lsn, HealthTimelineCheck *out,
                              PgwError *err)
{
	PGconn *conn;
	uint64_t local_sysid = 0;
	uint64_t leader_sysid = 0;
	uint32_t local_tli = 0;
	uint32_t leader_tli = 0;
	bool standby = false;
	char *history = NULL;
	int64_t deadline = pgw_now_mono_ms() + CHECK_BUDGET_MS;
	int rc;

	memset(out, 0, sizeof(*out));
	if (leader == NULL || leader->host == NULL || leader->port <= 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid leader: host and port are required");
	if (replay_lsn == HEALTH_LSN_INVALID)
		return pgw_error_set(err, PGW_ESTATE, "no replay position to compare");

	/*
	 * Ourselves first: the timeline is read after the replay position the
	 * caller probed. Timelines only grow, so when it still names an older
	 * timeline than the leader's, that position lies on it; when it moved
	 * on, we compare less than we could, never more.
	 */
	conn = connect_replication(c, c->socket_dir, c->port, deadline, err);
	if (conn == NULL)
	{
		pgw_error_prefix(err, "could not check our timeline");
		return err ? err->code : PGW_EUNAVAILABLE;
	}
	rc = in_hot_standby(conn, &standby, deadline, err);
	if (rc == 0 && !standby)
		rc = pgw_error_set(err, PGW_ESTATE, "we are not in recovery");
	if (rc == 0)
		rc = identify(conn, &local_sysid, &local_tli, deadline, err);
	PQfinish(conn);
	if (rc != 0)
		return rc;

	conn = connect_replication(c, leader->host, leader->port, deadline, err);
	if (conn == NULL)
	{
		pgw_error_prefix(err, "could not check the leader's timeline at %s:%d",
		                 leader->host, leader->port);
		return err ? err->code : PGW_EUNAVAILABLE;
	}
	rc = in_hot_standby(conn, &standby, deadline, err);
	/* a leader still promoting has no final timeline yet: ask again */
	if (rc == 0 && standby)
		rc =
		    pgw_error_set(err, PGW_ESTATE, "the leader at %s:%d is in recovery",
		                  leader->host, leader->port);
	if (rc == 0)
		rc = identify(conn, &leader_sysid, &leader_tli, deadline, err);
	if (rc == 0 && leader_sysid != local_sysid)
		rc = pgw_error_set(err, PGW_ESTATE,
		                   "the leader at %s:%d has system identifier %" PRIu64
		                   ", ours is %" PRIu64,
		                   leader->host, leader->port, leader_sysid,
		                   local_sysid);
	if (rc == 0 && leader_tli > local_tli)
		rc = timeline_history(conn, leader_tli, &history, deadline, err);
	PQfinish(conn);
	if (rc == 0)
		rc = health_timeline_judge(history, leader_tli, local_tli, replay_lsn,
		                           out, err);
	free(history);
	return rc;
}
