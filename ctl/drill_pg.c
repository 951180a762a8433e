/*
 * drill_pg.c: the PostgreSQL side of `pgwardenctl drill` (drill_int.h): the
 * writer, the postmaster kill, the streaming check behind "rejoined", and
 * the lost-write check. The only ctl code that writes to PostgreSQL
 * (DESIGN.md "ctl/": a command exists for it).
 */
#include "ctl/drill_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/url.h"
#include "common/xmem.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACKS_MAX 2000000

struct DrillWriter
{
	pthread_t thread;
	atomic_bool stop;
	int n;
	char url[PGW_MEMBERS_MAX][PGW_URL_MAX];
	const CtlGlobal *g;
	pthread_mutex_t mu;
	int64_t *ack_ms; /* monotonic ms of each acknowledged write */
	int64_t *ack_seq;
	int n_acks;
	int64_t seq;
	int64_t run_id;      /* wall ms at start: seqs are unique per run */
	bool sync_cancelled; /* the last commit's sync wait was cancelled */
};

/*
 * A commit whose wait for synchronous replication is cancelled (here by
 * statement_timeout) returns success with a WARNING: committed locally,
 * maybe never replicated. Such a "success" is not an acknowledgement.
 */
bool
drill_pg_is_sync_cancel(const char *msg)
{
	return strstr(msg, "canceling wait for synchronous replication") != NULL;
}

static void
on_notice(void *arg, const char *msg)
{
	DrillWriter *w = arg;

	if (w != NULL && drill_pg_is_sync_cancel(msg))
		w->sync_cancelled = true;
}

/*
 * The connection parameters of every drill connection, as the configured
 * superuser. A dead peer is noticed within a few seconds (TCP user
 * timeout, keepalives), so a writer on a host that vanished moves on
 * instead of waiting for the kernel.
 */
const char *const drill_pg_keys[DRILL_PG_PARAMS] = {"dbname",
                                                    "user",
                                                    "password",
                                                    "connect_timeout",
                                                    "application_name",
                                                    "options",
                                                    "tcp_user_timeout",
                                                    "keepalives_idle",
                                                    "keepalives_interval",
                                                    "keepalives_count",
                                                    NULL};

void
drill_pg_params(const CtlGlobal *g, const char *url, const char *timeout_s,
                const char *options, const char **vals)
{
	const char *v[] = {url,
	                   g->pg_user,
	                   g->pg_password,
	                   timeout_s,
	                   "pgwardenctl-drill",
	                   options,
	                   "3000",
	                   "1",
	                   "1",
	                   "2",
	                   NULL};

	memcpy(vals, v, sizeof(v));
}

/* pg_open: a connection to url as the configured superuser, or NULL */
static PGconn *
pg_open(const CtlGlobal *g, const char *url, const char *timeout_s,
        DrillWriter *w)
{
	const char *vals[DRILL_PG_PARAMS];
	PGconn *c;

	drill_pg_params(g, url, timeout_s, "-c statement_timeout=2000", vals);
	c = PQconnectdbParams(drill_pg_keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, on_notice, w);
	return c;
}

/* pg_value: the one value of sql, copied into buf; false on any error */
static bool
pg_value(PGconn *c, const char *sql, char *buf, size_t len)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	          !PQgetisnull(r, 0, 0);

	if (ok)
		pgw_strlcpy(buf, PQgetvalue(r, 0, 0), len);
	PQclear(r);
	return ok;
}

static PGconn *
writer_connect(DrillWriter *w, int i)
{
	PGconn *c = pg_open(w->g, w->url[i], "1", w);
	char v[8];

	if (c == NULL)
		return NULL;
	if (!pg_value(c, "SELECT pg_is_in_recovery()", v, sizeof(v)) ||
	    strcmp(v, "f") != 0)
	{
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(
	    c,
	    "CREATE TABLE IF NOT EXISTS pgwarden_drill (run bigint, seq bigint, at timestamptz DEFAULT now(), PRIMARY KEY (run, seq))"));
	return c;
}

static void *
writer_main(void *arg)
{
	DrillWriter *w = arg;
	PGconn *c = NULL;
	int next = 0;

	while (!atomic_load(&w->stop))
	{
		char sql[160];
		PGresult *r;
		bool ok;

		if (c == NULL)
		{
			for (int k = 0; k < w->n && c == NULL; k++)
				c = writer_connect(w, (next + k) % w->n);
			next = (next + 1) % w->n;
			if (c == NULL)
			{
				usleep(20000);
				continue;
			}
		}
		w->seq++;
		snprintf(sql, sizeof(sql),
		         "INSERT INTO pgwarden_drill (run, seq) VALUES (%lld, %lld)",
		         (long long) w->run_id, (long long) w->seq);
		w->sync_cancelled = false;
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK && !w->sync_cancelled;
		PQclear(r);
		if (ok)
		{
			pthread_mutex_lock(&w->mu);
			if (w->n_acks < ACKS_MAX)
			{
				w->ack_ms[w->n_acks] = pgw_now_mono_ms();
				w->ack_seq[w->n_acks] = w->seq;
				w->n_acks++;
			}
			pthread_mutex_unlock(&w->mu);
		}
		else
		{
			PQfinish(c);
			c = NULL;
		}
		usleep(10000);
	}
	PQfinish(c);
	return NULL;
}

DrillWriter *
drill_writer_start(const CtlGlobal *g, const ClusterView *v)
{
	DrillWriter *w = pgw_xcalloc(1, sizeof(*w));

	w->g = g;
	w->ack_ms = pgw_xcalloc(ACKS_MAX, sizeof(int64_t));
	w->ack_seq = pgw_xcalloc(ACKS_MAX, sizeof(int64_t));
	w->run_id = pgw_now_wall_ms();
	pthread_mutex_init(&w->mu, NULL);
	for (int i = 0; i < v->n_members && w->n < PGW_MEMBERS_MAX; i++)
		pgw_strlcpy(w->url[w->n++], v->members[i].conn_url, PGW_URL_MAX);
	atomic_init(&w->stop, false);
	pthread_create(&w->thread, NULL, writer_main, w);
	return w;
}

void
drill_writer_stop(DrillWriter *w)
{
	if (w == NULL || atomic_load(&w->stop))
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
}

void
drill_writer_free(DrillWriter *w)
{
	if (w == NULL)
		return;
	drill_writer_stop(w);
	pthread_mutex_destroy(&w->mu);
	free(w->ack_ms);
	free(w->ack_seq);
	free(w);
}

int
drill_writer_acks_since(DrillWriter *w, int64_t from_ms)
{
	int n = 0;

	pthread_mutex_lock(&w->mu);
	for (int i = w->n_acks - 1; i >= 0 && w->ack_ms[i] >= from_ms; i--)
		n++;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int
drill_writer_count(DrillWriter *w)
{
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->n_acks;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int
drill_writer_window(DrillWriter *w, int64_t from_ms, int64_t **out)
{
	int first;
	int n;

	pthread_mutex_lock(&w->mu);
	first = w->n_acks;
	while (first > 0 && w->ack_ms[first - 1] >= from_ms)
		first--;
	if (first > 0)
		first--; /* the last ack before from_ms */
	n = w->n_acks - first;
	*out = pgw_xcalloc((size_t) (n > 0 ? n : 1), sizeof(int64_t));
	memcpy(*out, w->ack_ms + first, (size_t) n * sizeof(int64_t));
	pthread_mutex_unlock(&w->mu);
	return n;
}

bool
drill_pg_start_time(const CtlGlobal *g, const MemberInfo *m, char *buf,
                    size_t len)
{
	PGconn *c = pg_open(g, m->conn_url, "2", NULL);
	bool ok;

	if (c == NULL)
		return false;
	ok = pg_value(c, "SELECT pg_postmaster_start_time()::text", buf, len);
	PQfinish(c);
	return ok;
}

int
drill_pg_kill(const CtlGlobal *g, const MemberInfo *m, char *note, size_t len)
{
	PGconn *c = pg_open(g, m->conn_url, "3", NULL);
	char sql[128];
	char pidbuf[32];
	long pid;
	char *end;

	if (c == NULL)
	{
		snprintf(note, len, "could not connect to %s as the superuser",
		         m->name);
		return CTL_EXIT_FAILED;
	}
	if (!pg_value(
	        c,
	        "SELECT split_part(pg_read_file('postmaster.pid', 0, 32), E'\\n', 1)",
	        pidbuf, sizeof(pidbuf)))
	{
		snprintf(note, len, "could not read postmaster.pid on %s: %.120s",
		         m->name, PQerrorMessage(c));
		PQfinish(c);
		return CTL_EXIT_FAILED;
	}
	pid = strtol(pidbuf, &end, 10);
	if (pid <= 1 || *end != '\0')
	{
		snprintf(note, len, "unexpected postmaster pid \"%s\" on %s", pidbuf,
		         m->name);
		PQfinish(c);
		return CTL_EXIT_FAILED;
	}
	/*
	 * kill reads no input, so COPY usually answers "could not close pipe
	 * to external command: Broken pipe" after the kill ran, or the
	 * connection dies with the postmaster first: the answer proves
	 * nothing either way. The round checks the effect instead (a new
	 * postmaster, or another leader).
	 */
	snprintf(sql, sizeof(sql), "COPY (SELECT 1) TO PROGRAM 'kill -KILL %ld'",
	         pid);
	PQclear(PQexec(c, sql));
	PQfinish(c);
	return CTL_EXIT_OK;
}

/* url_host_port: host and port of "postgres://host:port/db" as
 * pg_stat_wal_receiver names them (no brackets; 5432 when none is named);
 * "" as the host when the URL does not split */
static void
url_host_port(const char *url, char *host, size_t len, char *port, size_t plen)
{
	PgwUrl u;

	if (pgw_url_split(url, &u, NULL) != 0)
		u.host[0] = '\0';
	pgw_strlcpy(host, u.host, len);
	snprintf(port, plen, "%d", u.port != 0 ? u.port : 5432);
}

bool
drill_pg_streaming(const CtlGlobal *g, const ClusterView *v, char *why,
                   size_t len)
{
	const MemberInfo *lm = dcs_view_member(v, v->leader);
	PGconn *c;
	char tli[16];
	char names[1024];
	char host[PGW_URL_MAX];
	char port[16];
	char want[PGW_URL_MAX + 64];

	if (lm == NULL)
	{
		snprintf(why, len, "no leader");
		return false;
	}
	if ((c = pg_open(g, lm->conn_url, "2", NULL)) == NULL)
	{
		snprintf(why, len, "cannot connect to the leader %s", lm->name);
		return false;
	}
	if (!pg_value(
	        c,
	        "SELECT CASE WHEN pg_is_in_recovery() THEN '' ELSE (('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int)::text END",
	        tli, sizeof(tli)) ||
	    tli[0] == '\0')
	{
		snprintf(why, len, "the leader %s does not run read-write", lm->name);
		PQfinish(c);
		return false;
	}
	if (!pg_value(
	        c,
	        "SELECT ',' || coalesce(string_agg(application_name, ','), '') || ',' FROM pg_stat_replication WHERE state = 'streaming'",
	        names, sizeof(names)))
		names[0] = '\0';
	PQfinish(c);
	url_host_port(lm->conn_url, host, sizeof(host), port, sizeof(port));
	snprintf(want, sizeof(want), "streaming %s:%s %s", host, port, tli);
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = &v->members[i];
		char needle[PGW_NAME_MAX + 2];
		char got[PGW_URL_MAX + 64];
		PGconn *rc;
		bool ok;

		if (strcmp(m->name, lm->name) == 0)
			continue;
		snprintf(needle, sizeof(needle), ",%s,", m->name);
		if (strstr(names, needle) == NULL)
		{
			snprintf(why, len,
			         "%s is not streaming in the leader's pg_stat_replication",
			         m->name);
			return false;
		}
		if ((rc = pg_open(g, m->conn_url, "2", NULL)) == NULL)
		{
			snprintf(why, len, "cannot connect to %s", m->name);
			return false;
		}
		ok =
		    pg_value(
		        rc,
		        "SELECT status || ' ' || sender_host || ':' || sender_port || ' ' || received_tli FROM pg_stat_wal_receiver",
		        got, sizeof(got)) &&
		    strcmp(got, want) == 0;
		PQfinish(rc);
		if (!ok)
		{
			snprintf(why, len, "%s's WAL receiver is not \"%s\"", m->name,
			         want);
			return false;
		}
	}
	return true;
}

int
drill_pg_lost(const CtlGlobal *g, EtcdClient *c, DrillWriter *w,
              const int64_t *fault_mono_ms, int n_rounds, int64_t *lost,
              char *why, size_t len)
{
	int64_t deadline = pgw_now_mono_ms() + 30000;

	snprintf(why, len, "no leader to check on");
	while (pgw_now_mono_ms() < deadline)
	{
		ClusterView *v = NULL;
		const MemberInfo *lm;
		PGconn *pc;
		PGresult *r;
		char sql[128];

		if (ctl_view((CtlGlobal *) g, c, &v) != CTL_EXIT_OK || !v->has_leader ||
		    (lm = dcs_view_member(v, v->leader)) == NULL ||
		    (pc = pg_open(g, lm->conn_url, "3", NULL)) == NULL)
		{
			free(v);
			usleep(500000);
			continue;
		}
		free(v);
		/* the seqs of this run on the primary, against the acks: both in
		 * seq order, walked together */
		snprintf(sql, sizeof(sql),
		         "SELECT seq FROM pgwarden_drill WHERE run = %lld ORDER BY seq",
		         (long long) w->run_id);
		r = PQexec(pc, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
		{
			int nrow = PQntuples(r);
			int k = 0;

			for (int i = 0; i < n_rounds; i++)
				lost[i] = 0;
			pthread_mutex_lock(&w->mu);
			for (int ai = 0; ai < w->n_acks; ai++)
			{
				int64_t s = w->ack_seq[ai];

				while (k < nrow && strtoll(PQgetvalue(r, k, 0), NULL, 10) < s)
					k++;
				if (k >= nrow || strtoll(PQgetvalue(r, k, 0), NULL, 10) != s)
					lost[ctl_drill_round_of(fault_mono_ms, n_rounds,
					                        w->ack_ms[ai])]++;
			}
			pthread_mutex_unlock(&w->mu);
			PQclear(r);
			PQfinish(pc);
			return 0;
		}
		snprintf(why, len, "could not read pgwarden_drill: %.120s",
		         PQerrorMessage(pc));
		PQclear(r);
		PQfinish(pc);
		usleep(500000);
	}
	return -1;
}
