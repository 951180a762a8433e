/*
 * cmd_drill.c: `pgwardenctl drill KIND [--rounds N] [--yes]` (drill.h,
 * notes R5): rehearse a failover on a live cluster, from the operator's
 * machine and without root there, under a writer that commits every 10 ms
 * to whichever member is read-write. Per round: fault -> a primary again ->
 * every member running -> acknowledged writes checked on the primary.
 *   switchover     POST /switchover to the leader's REST API (auth from
 *                  the config); Ctrl-C sends DELETE /switchover
 *   kill-postgres  SIGKILL the leader's postmaster through SQL as the
 *                  superuser: COPY ... TO PROGRAM 'kill -KILL <pid>' (the
 *                  daemon has no kill endpoint; POST /restart is a clean
 *                  restart, not a crash)
 *   stop-daemon    needs a way onto the node: the command in
 *                  PGWARDEN_DRILL_STOP_CMD runs on the operator's machine
 *                  with PGW_DRILL_MEMBER and PGW_DRILL_HOST set (e.g.
 *                  ssh "$PGW_DRILL_HOST" sudo systemctl kill -s KILL
 *                  pgwarden); PGWARDEN_DRILL_START_CMD starts it again
 * Refuses on a paused or unhealthy cluster, saying why.
 */
#include "ctl/ctl_int.h"
#include "ctl/drill.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACKS_MAX 2000000

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
	(void) sig;
	interrupted = 1;
}

typedef struct DrillWriter
{
	pthread_t	thread;
	atomic_bool stop;
	int			n;
	char		url[PGW_MEMBERS_MAX][PGW_URL_MAX];
	const CtlGlobal *g;
	pthread_mutex_t mu;
	int64_t    *ack_ms;			/* monotonic ms of each acknowledged write */
	int64_t    *ack_seq;
	int			n_acks;
	int64_t		seq;
	int64_t		run_id;			/* wall ms at start: seqs are unique per run */
} DrillWriter;

static void
quiet_notice(void *arg, const char *msg)
{
	(void) arg;
	(void) msg;
}

static PGconn *
writer_connect(DrillWriter *w, int i)
{
	const char *keys[] = {"dbname", "user", "password", "connect_timeout",
	"application_name", "options", NULL};
	const char *vals[] = {w->url[i], w->g->pg_user, w->g->pg_password, "1",
	"pgwardenctl-drill", "-c statement_timeout=2000", NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);
	PGresult   *r;
	bool		primary;

	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	r = PQexec(c, "SELECT pg_is_in_recovery()");
	primary = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		strcmp(PQgetvalue(r, 0, 0), "f") == 0;
	PQclear(r);
	if (!primary)
	{
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS pgwarden_drill (run bigint, seq bigint, at timestamptz DEFAULT now(), PRIMARY KEY (run, seq))"));
	return c;
}

static void *
writer_main(void *arg)
{
	DrillWriter *w = arg;
	PGconn	   *c = NULL;
	int			next = 0;

	while (!atomic_load(&w->stop))
	{
		char		sql[160];
		PGresult   *r;
		bool		ok;

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
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
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

/* count_acks_since: acknowledged writes at or after from_ms */
static int
acks_since(DrillWriter *w, int64_t from_ms)
{
	int			n = 0;

	pthread_mutex_lock(&w->mu);
	for (int i = w->n_acks - 1; i >= 0 && w->ack_ms[i] >= from_ms; i--)
		n++;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* cluster_problem: why the cluster is not fit for a drill, or NULL */
static const char *
cluster_problem(const ClusterView *v, char *buf, size_t len)
{
	PgwError	err = {0};
	int			running = 0;

	if (v->config.pause)
		return "the cluster is paused (maintenance mode): resume it first";
	if (!v->has_leader)
		return "the cluster has no leader";
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = &v->members[i];

		if (m->state != MEMBER_STATE_RUNNING)
		{
			snprintf(buf, len, "member \"%s\" is not running", m->name);
			return buf;
		}
		running++;
	}
	if (running < 2)
		return "the cluster has no replica to fail over to";
	if (ctl_candidate_check(v, v->leader, NULL, CTL_TARGET_SWITCHOVER, &err) != 0)
	{
		snprintf(buf, len, "no member can take over: %s", err.msg);
		return buf;
	}
	return NULL;
}

static void
host_of(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	size_t		n;

	p = p ? p + 3 : url;
	n = strcspn(p, ":/");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* fault_kill_postgres: SIGKILL the leader's postmaster through SQL */
static int
fault_kill_postgres(const CtlGlobal *g, const MemberInfo *m, char *note,
					size_t len)
{
	const char *keys[] = {"dbname", "user", "password", "connect_timeout",
	"application_name", NULL};
	const char *vals[] = {m->conn_url, g->pg_user, g->pg_password, "3",
	"pgwardenctl-drill", NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);
	PGresult   *r;
	char		sql[128];
	long		pid;
	char	   *end;

	if (PQstatus(c) != CONNECTION_OK)
	{
		snprintf(note, len, "could not connect to %s: %s", m->name,
				 PQerrorMessage(c));
		PQfinish(c);
		return CTL_EXIT_FAILED;
	}
	r = PQexec(c, "SELECT split_part(pg_read_file('postmaster.pid', 0, 32), E'\\n', 1)");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		snprintf(note, len, "could not read postmaster.pid on %s: %s", m->name,
				 PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return CTL_EXIT_FAILED;
	}
	pid = strtol(PQgetvalue(r, 0, 0), &end, 10);
	PQclear(r);
	if (pid <= 1 || *end != '\0')
	{
		snprintf(note, len, "unexpected postmaster pid on %s", m->name);
		PQfinish(c);
		return CTL_EXIT_FAILED;
	}
	snprintf(sql, sizeof(sql), "COPY (SELECT 1) TO PROGRAM 'kill -KILL %ld'", pid);
	PQclear(PQexec(c, sql));	/* the connection dies with the postmaster */
	PQfinish(c);
	return CTL_EXIT_OK;
}

static void
switchover_url(const MemberInfo *m, char *out, size_t len)
{
	char		base[PGW_URL_MAX];

	ctl_api_base(m->api_url, base, sizeof(base));
	snprintf(out, len, "%s/switchover", base);
}

static int
run_hook(const char *env, const MemberInfo *m)
{
	const char *cmd = getenv(env);
	char		host[256];
	int			rc;

	if (cmd == NULL || cmd[0] == '\0')
		return -1;
	host_of(m->conn_url, host, sizeof(host));
	setenv("PGW_DRILL_MEMBER", m->name, 1);
	setenv("PGW_DRILL_HOST", host, 1);
	rc = system(cmd);
	return rc == 0 ? 0 : 1;
}

int
cmd_drill(CtlGlobal *g, const CtlArgs *a)
{
	CtlDrillKind kind;
	int			rounds = a->rounds > 0 ? (int) a->rounds : 1;
	int64_t		budget_ms = a->timeout_ms > 0 ? a->timeout_ms : 60000;
	bool		json = (a->has_format ? a->format : g->format) == CTL_FORMAT_JSON;
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	DrillWriter *w = NULL;
	CtlDrillRound *res = NULL;
	char		why[256];
	const char *problem;
	int			done = 0;
	int			rc = CTL_EXIT_FAILED;
	struct sigaction sa,
				old_sa;

	if (ctl_drill_kind_parse(a->pos[0], &kind) != 0)
		return CTL_EXIT_USAGE;
	if (kind == CTL_DRILL_STOP_DAEMON && getenv("PGWARDEN_DRILL_STOP_CMD") == NULL)
	{
		ctl_fail("%s", "drill stop-daemon needs a way onto the node: set PGWARDEN_DRILL_STOP_CMD (run with PGW_DRILL_MEMBER and PGW_DRILL_HOST set, e.g. 'ssh \"$PGW_DRILL_HOST\" sudo systemctl kill -s KILL pgwarden') and PGWARDEN_DRILL_START_CMD to start it again");
		return CTL_EXIT_FAILED;
	}
	if (kind == CTL_DRILL_KILL_POSTGRES && g->pg_user == NULL)
	{
		ctl_fail("%s", "drill kill-postgres needs the superuser's credentials: -c CONFIG (postgresql.authentication.superuser)");
		return CTL_EXIT_FAILED;
	}
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK)
		goto out;
	if ((problem = cluster_problem(v, why, sizeof(why))) != NULL)
	{
		ctl_fail("refusing to drill cluster \"%s\": %s", g->scope, problem);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (!a->yes_i_am_sure)
	{
		char		answer[256];

		if (!ctl_is_interactive())
		{
			ctl_fail("%s", "drill needs a terminal to type the scope, or --yes");
			rc = CTL_EXIT_FAILED;
			goto out;
		}
		fprintf(stderr, "This drill (%s, %d round%s) breaks the primary of cluster \"%s\".\n",
				ctl_drill_kind_name(kind), rounds, rounds == 1 ? "" : "s", g->scope);
		if (!ctl_prompt("Type the scope name to go on: ", answer, sizeof(answer)) ||
			strcmp(answer, g->scope) != 0)
		{
			ctl_fail("%s", "not confirmed");
			rc = CTL_EXIT_FAILED;
			goto out;
		}
	}

	/* the writer, on every member's PostgreSQL */
	w = pgw_xcalloc(1, sizeof(*w));
	w->g = g;
	w->ack_ms = pgw_xcalloc(ACKS_MAX, sizeof(int64_t));
	w->ack_seq = pgw_xcalloc(ACKS_MAX, sizeof(int64_t));
	w->run_id = pgw_now_wall_ms();
	pthread_mutex_init(&w->mu, NULL);
	for (int i = 0; i < v->n_members && w->n < PGW_MEMBERS_MAX; i++)
		pgw_strlcpy(w->url[w->n++], v->members[i].conn_url, PGW_URL_MAX);
	atomic_init(&w->stop, false);
	pthread_create(&w->thread, NULL, writer_main, w);
	res = pgw_xcalloc((size_t) rounds, sizeof(*res));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old_sa);

	for (int r = 0; r < rounds && !interrupted; r++)
	{
		CtlDrillRound *x = &res[r];
		const MemberInfo *lm;
		int64_t		t_fault,
					deadline,
					first_ack;
		int			ack_from;
		bool		healthy = false;

		x->round = r + 1;
		x->lost = -1;
		x->rejoin_ms = -1;
		/* steady state: writes flow, cluster healthy */
		deadline = pgw_now_mono_ms() + budget_ms;
		while (!interrupted && pgw_now_mono_ms() < deadline)
		{
			free(v);
			v = NULL;
			if (ctl_view(g, c, &v) == CTL_EXIT_OK &&
				cluster_problem(v, why, sizeof(why)) == NULL &&
				acks_since(w, pgw_now_mono_ms() - 1000) > 10)
			{
				healthy = true;
				break;
			}
			usleep(200000);
		}
		if (!healthy)
		{
			snprintf(x->note, sizeof(x->note), "not healthy before the fault%s",
					 interrupted ? " (interrupted)" : "");
			done = r + 1;
			break;
		}
		lm = dcs_view_member(v, v->leader);
		pgw_strlcpy(x->old_primary, v->leader, sizeof(x->old_primary));
		pthread_mutex_lock(&w->mu);
		ack_from = w->n_acks;
		pthread_mutex_unlock(&w->mu);
		t_fault = pgw_now_mono_ms();
		if (kind == CTL_DRILL_SWITCHOVER)
		{
			char		url[PGW_URL_MAX + 32];
			char		body[PGW_NAME_MAX + 32];
			long		status = 0;
			char	   *answer = NULL;
			PgwError	err = {0};

			switchover_url(lm, url, sizeof(url));
			snprintf(body, sizeof(body), "{\"leader\": \"%s\"}", lm->name);
			if (ctl_rest_call(g, "POST", url, body, 5000, &status, &answer, &err) != 0 ||
				status != 200)
			{
				snprintf(x->note, sizeof(x->note), "POST /switchover: %ld %.100s",
						 status, answer ? answer : err.msg);
				free(answer);
				done = r + 1;
				break;
			}
			free(answer);
		}
		else if (kind == CTL_DRILL_KILL_POSTGRES)
		{
			if (fault_kill_postgres(g, lm, x->note, sizeof(x->note)) != CTL_EXIT_OK)
			{
				done = r + 1;
				break;
			}
		}
		else if (run_hook("PGWARDEN_DRILL_STOP_CMD", lm) != 0)
		{
			snprintf(x->note, sizeof(x->note), "PGWARDEN_DRILL_STOP_CMD failed");
			done = r + 1;
			break;
		}
		/*
		 * The outage: writes stop (no acknowledgement for 300 ms) within
		 * 15 s, or the fault did not interrupt them (RTO 0). Then a primary
		 * again: writes acknowledged after the outage began, and for a
		 * switchover the leader key names another member.
		 */
		deadline = t_fault + budget_ms;
		first_ack = -1;
		{
			int64_t		outage_from = -1;

			while (!interrupted && pgw_now_mono_ms() < t_fault + 15000)
			{
				if (pgw_now_mono_ms() - t_fault > 300 &&
					acks_since(w, pgw_now_mono_ms() - 300) == 0)
				{
					outage_from = pgw_now_mono_ms();
					break;
				}
				usleep(20000);
			}
			if (outage_from < 0)
				first_ack = pgw_now_mono_ms();
			while (!interrupted && first_ack < 0 && pgw_now_mono_ms() < deadline)
			{
				if (acks_since(w, outage_from) > 5)
					first_ack = pgw_now_mono_ms();
				else
					usleep(50000);
			}
		}
		if (kind == CTL_DRILL_STOP_DAEMON)
			(void) run_hook("PGWARDEN_DRILL_START_CMD", lm);
		/* every member running again */
		while (!interrupted && pgw_now_mono_ms() < deadline)
		{
			free(v);
			v = NULL;
			if (ctl_view(g, c, &v) == CTL_EXIT_OK &&
				cluster_problem(v, why, sizeof(why)) == NULL &&
				(kind != CTL_DRILL_SWITCHOVER ||
				 strcmp(v->leader, x->old_primary) != 0) &&
				!v->failover.present)
			{
				x->rejoin_ms = pgw_now_mono_ms() - t_fault;
				pgw_strlcpy(x->new_primary, v->leader, sizeof(x->new_primary));
				break;
			}
			usleep(200000);
		}
		pthread_mutex_lock(&w->mu);
		ctl_drill_gap(w->ack_ms + ack_from, w->n_acks - ack_from, t_fault, 200,
					  &x->rto_ms, &x->downtime_ms);
		x->acked = w->n_acks - ack_from;
		pthread_mutex_unlock(&w->mu);
		x->ok = first_ack >= 0 && x->rejoin_ms >= 0;
		if (first_ack < 0)
			snprintf(x->note, sizeof(x->note), "no write acknowledged within %lld ms",
					 (long long) budget_ms);
		else if (x->rejoin_ms < 0)
			snprintf(x->note, sizeof(x->note), "not every member running within %lld ms: %s",
					 (long long) budget_ms, why);
		done = r + 1;
	}
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);

	if (interrupted)
	{
		/* heal what we broke: a pending switchover is cancelled */
		free(v);
		v = NULL;
		if (kind == CTL_DRILL_SWITCHOVER && ctl_view(g, c, &v) == CTL_EXIT_OK &&
			v->failover.present && v->has_leader)
		{
			const MemberInfo *lm = dcs_view_member(v, v->leader);
			char		url[PGW_URL_MAX + 32];
			long		status = 0;
			char	   *answer = NULL;
			PgwError	err = {0};

			if (lm)
			{
				switchover_url(lm, url, sizeof(url));
				if (ctl_rest_call(g, "DELETE", url, NULL, 5000, &status, &answer, &err) == 0)
					fprintf(stderr, "drill: interrupted; pending switchover cancelled (%ld)\n", status);
				free(answer);
			}
		}
		else if (kind == CTL_DRILL_STOP_DAEMON && done > 0 && v == NULL)
			fprintf(stderr, "drill: interrupted; run PGWARDEN_DRILL_START_CMD if a daemon is still stopped\n");
		else
			fprintf(stderr, "drill: interrupted\n");
		if (done > 0 && res[done - 1].note[0] == '\0' && !res[done - 1].ok)
			snprintf(res[done - 1].note, sizeof(res[done - 1].note), "interrupted");
	}

	/* lost writes: acknowledged but not on the primary now */
	if (done > 0 && w->n_acks > 0)
	{
		int64_t		lost_deadline = pgw_now_mono_ms() + 30000;

lost_again:
		free(v);
		v = NULL;
		if (ctl_view(g, c, &v) == CTL_EXIT_OK && v->has_leader)
		{
			const MemberInfo *lm = dcs_view_member(v, v->leader);
			const char *keys[] = {"dbname", "user", "password", "connect_timeout", NULL};
			const char *vals[] = {lm ? lm->conn_url : "", g->pg_user, g->pg_password, "3", NULL};
			PGconn	   *pc = lm ? PQconnectdbParams(keys, vals, 1) : NULL;

			if (pc && PQstatus(pc) == CONNECTION_OK)
			{
				char		sql[128];
				PGresult   *r;

				/* seqs of this run present, compared per round */
				snprintf(sql, sizeof(sql), "SELECT seq FROM pgwarden_drill WHERE run = %lld ORDER BY seq",
						 (long long) w->run_id);
				r = PQexec(pc, sql);
				if (PQresultStatus(r) == PGRES_TUPLES_OK)
				{
					int			nrow = PQntuples(r);
					int			k = 0;
					int			ai = 0;

					for (int rr = 0; rr < done; rr++)
						res[rr].lost = 0;
					/* acks are in seq order; walk both lists */
					for (ai = 0; ai < w->n_acks; ai++)
					{
						int64_t		s = w->ack_seq[ai];

						while (k < nrow && strtoll(PQgetvalue(r, k, 0), NULL, 10) < s)
							k++;
						if (k >= nrow || strtoll(PQgetvalue(r, k, 0), NULL, 10) != s)
						{
							/* attribute to the last round that started before */
							int			rr = done - 1;

							res[rr].lost++;
						}
					}
				}
				PQclear(r);
			}
			else if (pgw_now_mono_ms() < lost_deadline && !interrupted)
			{
				PQfinish(pc);
				usleep(500000);
				goto lost_again;
			}
			PQfinish(pc);
		}
		else if (pgw_now_mono_ms() < lost_deadline && !interrupted)
		{
			usleep(500000);
			goto lost_again;
		}
	}
	ctl_drill_report(stdout, g->scope, kind, res, done, json);
	rc = CTL_EXIT_OK;
	for (int r = 0; r < done; r++)
		if (!res[r].ok)
			rc = CTL_EXIT_FAILED;
	if (done == 0 || interrupted)
		rc = CTL_EXIT_FAILED;
	sigaction(SIGINT, &old_sa, NULL);
out:
	if (w)
	{
		pthread_mutex_destroy(&w->mu);
		free(w->ack_ms);
		free(w->ack_seq);
		free(w);
	}
	free(res);
	free(v);
	etcd_client_close(c);
	return rc;
}
