/*
 * probe.c: the switchover's write probe (ctl_int.h). DESIGN.md lets ctl
 * talk to PostgreSQL only for such measurements: every 10 ms it commits a
 * logical message (pg_logical_emit_message(true, ...): needs a writable
 * primary, creates nothing) on each target, and the longest time without
 * any acknowledged write is the write downtime the operator saw. Not
 * SELECT txid_current(): a transaction that wrote no WAL before its
 * commit record commits without waiting for the synchronous standbys, so
 * it passed on a new primary whose real commits still waited (found by
 * the drill's split-brain watch, drill_split.c).
 */
#include "ctl/ctl_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TARGETS_MAX 8

struct CtlProbe
{
	pthread_t thread;
	atomic_bool stop;
	int n;
	char url[PROBE_TARGETS_MAX][PGW_URL_MAX];
	PGconn *conn[PROBE_TARGETS_MAX];
	bool sync_cancelled[PROBE_TARGETS_MAX]; /* set by on_notice */
	char user[PGW_NAME_MAX];
	char password[256];
	_Atomic int64_t last_ok_mono_ms; /* 0: never */
	int64_t max_gap_ms;
	char msg[256];
};

/*
 * A commit whose wait for synchronous replication is cancelled (here by
 * statement_timeout) returns success with a WARNING: committed locally,
 * not acknowledged by the standbys. Such a success is no write.
 */
static void
on_notice(void *arg, const char *msg)
{
	bool *cancelled = arg;

	if (strstr(msg, "canceling wait for synchronous replication") != NULL)
		*cancelled = true;
}

static bool
try_write(CtlProbe *p, int i)
{
	PGresult *res;
	bool ok;

	if (p->conn[i] == NULL || PQstatus(p->conn[i]) != CONNECTION_OK)
	{
		const char *keys[] = {
		    "dbname",           "user",    "password", "connect_timeout",
		    "application_name", "options", NULL};
		const char *vals[] = {p->url[i],
		                      p->user[0] ? p->user : NULL,
		                      p->password[0] ? p->password : NULL,
		                      "1",
		                      "pgwardenctl-probe",
		                      "-c statement_timeout=500",
		                      NULL};

		PQfinish(p->conn[i]);
		p->conn[i] = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(p->conn[i]) != CONNECTION_OK)
		{
			snprintf(p->msg, sizeof(p->msg), "%s", PQerrorMessage(p->conn[i]));
			PQfinish(p->conn[i]);
			p->conn[i] = NULL;
			return false;
		}
		PQsetNoticeProcessor(p->conn[i], on_notice, &p->sync_cancelled[i]);
	}
	p->sync_cancelled[i] = false;
	res =
	    PQexec(p->conn[i],
	           "SELECT pg_logical_emit_message(true, 'pgwardenctl-probe', '')");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && !p->sync_cancelled[i];
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(p->msg, sizeof(p->msg), "%s", PQerrorMessage(p->conn[i]));
	else if (!ok)
		snprintf(p->msg, sizeof(p->msg),
		         "a commit's wait for the synchronous standbys was cancelled");
	PQclear(res);
	return ok;
}

static void *
probe_main(void *arg)
{
	CtlProbe *p = arg;

	while (!atomic_load(&p->stop))
	{
		int64_t tick = pgw_now_mono_ms();
		bool ok = false;

		for (int i = 0; i < p->n; i++)
			if (try_write(p, i))
				ok = true;
		if (ok)
		{
			int64_t now = pgw_now_mono_ms();

			if (p->last_ok_mono_ms > 0 &&
			    now - p->last_ok_mono_ms > p->max_gap_ms)
				p->max_gap_ms = now - p->last_ok_mono_ms;
			p->last_ok_mono_ms = now;
		}
		tick = 10 - (pgw_now_mono_ms() - tick);
		if (tick > 0)
			pgw_sleep_ms(tick);
	}
	return NULL;
}

CtlProbe *
ctl_probe_start(const CtlGlobal *g, const char *const *conn_urls, int n)
{
	CtlProbe *p = pgw_xcalloc(1, sizeof(*p));

	atomic_init(&p->stop, false);
	for (int i = 0; i < n && p->n < PROBE_TARGETS_MAX; i++)
		if (conn_urls[i] && conn_urls[i][0])
			pgw_strlcpy(p->url[p->n++], conn_urls[i], PGW_URL_MAX);
	if (g->pg_user)
		pgw_strlcpy(p->user, g->pg_user, sizeof(p->user));
	if (g->pg_password)
		pgw_strlcpy(p->password, g->pg_password, sizeof(p->password));
	if (pthread_create(&p->thread, NULL, probe_main, p) != 0)
	{
		free(p);
		return NULL;
	}
	return p;
}

int64_t
ctl_probe_last_ok(CtlProbe *p)
{
	return p ? atomic_load(&p->last_ok_mono_ms) : 0;
}

void
ctl_probe_stop(CtlProbe *p, int64_t *max_gap_ms, bool *resumed, char *msg,
               size_t msg_len)
{
	int64_t now;

	*max_gap_ms = -1;
	*resumed = false;
	if (msg_len)
		msg[0] = '\0';
	if (p == NULL)
		return;
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	now = pgw_now_mono_ms();
	if (p->last_ok_mono_ms > 0)
	{
		*max_gap_ms = p->max_gap_ms;
		*resumed = true;
		/* an outage still going on when we stopped counts too */
		if (now - p->last_ok_mono_ms > 100 &&
		    now - p->last_ok_mono_ms > p->max_gap_ms)
		{
			*max_gap_ms = now - p->last_ok_mono_ms;
			*resumed = false;
		}
	}
	if (msg_len)
		pgw_strlcpy(msg, p->msg, msg_len);
	for (int i = 0; i < p->n; i++)
		PQfinish(p->conn[i]);
	free(p);
}
