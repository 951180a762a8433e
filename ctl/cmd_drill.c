/*
 * cmd_drill.c: `pgwardenctl drill KIND [--rounds N] [--yes]` (drill.h,
 * notes R5): rehearse a failover on a live cluster, from the operator's
 * machine and without root there, under a writer that commits every 10 ms
 * to whichever member is read-write (drill_pg.c). Per round: fault -> every
 * member running, every replica streaming from the primary on its timeline
 * and writes acknowledged again (rejoin) -> RTO and downtime from the
 * writer's acknowledged writes; at the end the acknowledged writes are
 * checked on the primary, per round. A round that lost acknowledged writes,
 * or whose check could not run, fails, and so does the exit status. A
 * split-brain watch (drill_pg.c, drill_split.c) tries a write
 * acknowledgement on every member every 50 ms: a round in which two members
 * acknowledged writes at once fails, and so does one it could not watch.
 *   switchover     POST /switchover to the leader's REST API (auth from
 *                  the config); Ctrl-C sends DELETE /switchover
 *   kill-postgres  SIGKILL the leader's postmaster through SQL as the
 *                  superuser: COPY ... TO PROGRAM 'kill -KILL <pid>' (the
 *                  daemon has no kill endpoint; POST /restart is a clean
 *                  restart, not a crash); the round checks that the
 *                  postmaster really is a new one, or the leader another
 *   stop-daemon    needs a way onto the node: the command in
 *                  PGWARDEN_DRILL_STOP_CMD runs on the operator's machine
 *                  with PGW_DRILL_MEMBER and PGW_DRILL_HOST set (e.g.
 *                  ssh "$PGW_DRILL_HOST" sudo systemctl kill -s KILL
 *                  pgwarden); PGWARDEN_DRILL_START_CMD starts it again once
 *                  another member leads
 * Refuses on a paused or unhealthy cluster, saying why.
 */
#include "ctl/drill_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/url.h"
#include "common/xmem.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
	(void) sig;
	interrupted = 1;
}

/* cluster_problem: why the cluster is not fit for a drill, or NULL */
static const char *
cluster_problem(const ClusterView *v, char *buf, size_t len)
{
	PgwError err = {0};
	int running = 0;

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
	if (ctl_candidate_check(v, v->leader, NULL, CTL_TARGET_SWITCHOVER, &err) !=
	    0)
	{
		snprintf(buf, len, "no member can take over: %s", err.msg);
		return buf;
	}
	return NULL;
}

/* host_of: the host of url, without brackets or userinfo ("" when the
 * URL does not split) */
static void
host_of(const char *url, char *out, size_t len)
{
	PgwUrl u;

	if (pgw_url_split(url, &u, NULL) != 0)
		u.host[0] = '\0';
	pgw_strlcpy(out, u.host, len);
}

static void
switchover_url(const MemberInfo *m, char *out, size_t len)
{
	char base[PGW_URL_MAX];

	ctl_api_base(m->api_url, base, sizeof(base));
	snprintf(out, len, "%s/switchover", base);
}

static int
run_hook(const char *env, const MemberInfo *m)
{
	const char *cmd = getenv(env);
	char host[256];
	int rc;

	if (cmd == NULL || cmd[0] == '\0')
		return -1;
	host_of(m->conn_url, host, sizeof(host));
	setenv("PGW_DRILL_MEMBER", m->name, 1);
	setenv("PGW_DRILL_HOST", host, 1);
	rc = system(cmd);
	return rc == 0 ? 0 : 1;
}


/* wait_steady: a healthy cluster and writes flowing (more than 10 acks in
 * the last second) within budget_ms; *v holds the last view */
static bool
wait_steady(CtlGlobal *g, EtcdClient *c, ClusterView **v, DrillWriter *w,
            int64_t budget_ms, char *why, size_t len)
{
	int64_t deadline = pgw_now_mono_ms() + budget_ms;

	snprintf(why, len, "no view of the cluster");
	while (!interrupted && pgw_now_mono_ms() < deadline)
	{
		const char *problem;

		free(*v);
		*v = NULL;
		if (ctl_view(g, c, v) == CTL_EXIT_OK)
		{
			if ((problem = cluster_problem(*v, why, len)) != why &&
			    problem != NULL)
				snprintf(why, len, "%s", problem);
			else if (problem == NULL &&
			         drill_writer_acks_since(w, pgw_now_mono_ms() - 1000) <= 10)
				snprintf(why, len, "writes are not flowing");
			else if (problem == NULL)
				return true;
		}
		usleep(200000);
	}
	return false;
}

/* inject: the fault on leader lm; CTL_EXIT_OK, or CTL_EXIT_FAILED with
 * the reason in note */
static int
inject(CtlGlobal *g, CtlDrillKind kind, const MemberInfo *lm, int64_t budget_ms,
       char *note, size_t len)
{
	if (kind == CTL_DRILL_SWITCHOVER)
	{
		char url[PGW_URL_MAX + 32];
		char body[PGW_NAME_MAX + 32];
		long status = 0;
		char *answer = NULL;
		PgwError err = {0};
		int rc = CTL_EXIT_OK;

		/* the server answers once the leader key names another member:
		 * up to 2 x (ttl + loop_wait); the drill's budget bounds it */
		switchover_url(lm, url, sizeof(url));
		snprintf(body, sizeof(body), "{\"leader\": \"%s\"}", lm->name);
		if (ctl_rest_call(g, "POST", url, body, (int) budget_ms, &status,
		                  &answer, &err) != 0 ||
		    status != 200)
		{
			snprintf(note, len, "POST /switchover: %ld %.100s", status,
			         answer ? answer : err.msg);
			rc = CTL_EXIT_FAILED;
		}
		free(answer);
		return rc;
	}
	if (kind == CTL_DRILL_KILL_POSTGRES)
		return drill_pg_kill(g, lm, note, len);
	if (run_hook("PGWARDEN_DRILL_STOP_CMD", lm) != 0)
	{
		snprintf(note, len, "PGWARDEN_DRILL_STOP_CMD failed");
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

/*
 * wait_rejoin: after the fault, until every member runs, every replica
 * streams from the leader on its timeline (for a switchover: a leader other
 * than the old one, the request done), and a write was acknowledged after
 * that. The time from the fault, or -1 with what was missing in why. A
 * stop-daemon drill starts the daemon again once another member leads.
 */
static int64_t
wait_rejoin(CtlGlobal *g, EtcdClient *c, ClusterView **v, DrillWriter *w,
            CtlDrillKind kind, const CtlDrillRound *x, const MemberInfo *old,
            int64_t t_fault, int64_t budget_ms, char *why, size_t len)
{
	int64_t deadline = t_fault + budget_ms;
	int64_t whole = -1; /* when the cluster was first whole */
	bool started = kind != CTL_DRILL_STOP_DAEMON;

	snprintf(why, len, "no view of the cluster");
	while (!interrupted && pgw_now_mono_ms() < deadline)
	{
		free(*v);
		*v = NULL;
		if (ctl_view(g, c, v) != CTL_EXIT_OK)
		{
			usleep(100000);
			continue;
		}
		if (!started && (*v)->has_leader &&
		    strcmp((*v)->leader, x->old_primary) != 0)
		{
			(void) run_hook("PGWARDEN_DRILL_START_CMD", old);
			started = true;
		}
		if (whole < 0)
		{
			const char *problem = cluster_problem(*v, why, len);

			if (problem != NULL && problem != why)
				snprintf(why, len, "%s", problem);
			else if (problem == NULL && kind == CTL_DRILL_SWITCHOVER &&
			         strcmp((*v)->leader, x->old_primary) == 0)
				snprintf(why, len, "%s still leads", x->old_primary);
			else if (problem == NULL && (*v)->failover.present)
				snprintf(why, len, "the failover key is still pending");
			else if (problem == NULL && drill_pg_streaming(g, *v, why, len))
				whole = pgw_now_mono_ms();
		}
		if (whole >= 0 && drill_writer_acks_since(w, whole) > 0)
			return whole - t_fault;
		if (whole >= 0)
			snprintf(why, len,
			         "no write acknowledged since the cluster was whole again");
		usleep(100000);
	}
	if (!started)
		(void) run_hook("PGWARDEN_DRILL_START_CMD", old);
	return -1;
}

/* watch_round: the split-brain watch's figures for round x over
 * [from_ms, now] (drill_watch_round); when it cannot vouch for the round,
 * the reason goes to the note and the judge fails the round */
static void
watch_round(DrillWatch *s, int64_t from_ms, CtlDrillRound *x)
{
	char why[200];
	size_t used = strlen(x->note);

	if (drill_watch_round(s, from_ms, pgw_now_mono_ms(), x, why, sizeof(why)))
		return;
	snprintf(x->note + used, sizeof(x->note) - used,
	         "%ssplit-brain watch blind: %s", used > 0 ? "; " : "", why);
}

/* cancel_pending: on Ctrl-C, a switchover request still pending is deleted */
static void
cancel_pending(CtlGlobal *g, EtcdClient *c, CtlDrillKind kind, int done)
{
	ClusterView *v = NULL;

	if (kind == CTL_DRILL_SWITCHOVER && ctl_view(g, c, &v) == CTL_EXIT_OK &&
	    v->failover.present && v->has_leader)
	{
		const MemberInfo *lm = dcs_view_member(v, v->leader);
		char url[PGW_URL_MAX + 32];
		long status = 0;
		char *answer = NULL;
		PgwError err = {0};

		if (lm)
		{
			switchover_url(lm, url, sizeof(url));
			if (ctl_rest_call(g, "DELETE", url, NULL, 5000, &status, &answer,
			                  &err) == 0)
				fprintf(
				    stderr,
				    "drill: interrupted; pending switchover cancelled (%ld)\n",
				    status);
			free(answer);
		}
	}
	else if (kind == CTL_DRILL_STOP_DAEMON && done > 0)
		fprintf(
		    stderr,
		    "drill: interrupted; run PGWARDEN_DRILL_START_CMD if a daemon is still stopped\n");
	else
		fprintf(stderr, "drill: interrupted\n");
	free(v);
}

/* one_round: round x on the current leader; fills x (not judged yet) */
static void
one_round(CtlGlobal *g, EtcdClient *c, ClusterView **v, DrillWriter *w,
          CtlDrillKind kind, int64_t budget_ms, CtlDrillRound *x,
          int64_t *t_fault_out)
{
	MemberInfo old;
	char why[256];
	char st_before[64] = "";
	char st_after[64] = "";
	int64_t t_fault;
	int64_t *acks = NULL;
	int n;

	x->lost = -1;
	x->rejoin_ms = -1;
	x->rto_ms = -1;
	x->downtime_ms = -1;
	*t_fault_out = pgw_now_mono_ms();
	if (!wait_steady(g, c, v, w, budget_ms, why, sizeof(why)))
	{
		x->broken = true;
		snprintf(x->note, sizeof(x->note), "not healthy before the fault: %s%s",
		         why, interrupted ? " (interrupted)" : "");
		return;
	}
	old = *dcs_view_member(*v, (*v)->leader);
	pgw_strlcpy(x->old_primary, old.name, sizeof(x->old_primary));
	if (kind == CTL_DRILL_KILL_POSTGRES)
		(void) drill_pg_start_time(g, &old, st_before, sizeof(st_before));
	n = drill_writer_count(w);
	t_fault = pgw_now_mono_ms();
	*t_fault_out = t_fault;
	x->fault_wall_ms = pgw_now_wall_ms();
	if (inject(g, kind, &old, budget_ms, x->note, sizeof(x->note)) !=
	    CTL_EXIT_OK)
	{
		x->broken = true;
		return;
	}
	x->rejoin_ms = wait_rejoin(g, c, v, w, kind, x, &old, t_fault, budget_ms,
	                           why, sizeof(why));
	if (x->rejoin_ms < 0)
		snprintf(x->note, sizeof(x->note), "not rejoined within %lld ms: %s",
		         (long long) budget_ms, why);
	else
		pgw_strlcpy(x->new_primary, (*v)->leader, sizeof(x->new_primary));
	/* a kill that did not take: the same leader with the same postmaster */
	if (kind == CTL_DRILL_KILL_POSTGRES && x->rejoin_ms >= 0 &&
	    strcmp(x->new_primary, x->old_primary) == 0 &&
	    (!drill_pg_start_time(g, &old, st_after, sizeof(st_after)) ||
	     st_before[0] == '\0' || strcmp(st_before, st_after) == 0))
	{
		x->broken = true;
		snprintf(x->note, sizeof(x->note),
		         "the postmaster of %s was not killed (start time %s, now %s)",
		         old.name, st_before[0] ? st_before : "?",
		         st_after[0] ? st_after : "?");
	}
	n = drill_writer_window(w, t_fault, &acks);
	ctl_drill_gap(acks, n, t_fault, &x->rto_ms, &x->downtime_ms);
	x->acked = drill_writer_acks_since(w, t_fault);
	free(acks);
}

int
cmd_drill(CtlGlobal *g, const CtlArgs *a)
{
	CtlDrillKind kind;
	int rounds = a->rounds > 0 ? (int) a->rounds : 1;
	int64_t budget_ms = a->timeout_ms > 0 ? a->timeout_ms : 60000;
	bool json = (a->has_format ? a->format : g->format) == CTL_FORMAT_JSON;
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	DrillWriter *w = NULL;
	DrillWatch *watch = NULL;
	CtlDrillRound *res = NULL;
	int64_t *t_fault = NULL;
	int64_t *lost = NULL;
	char why[256];
	const char *problem;
	int done = 0;
	int rc = CTL_EXIT_FAILED;
	struct sigaction sa, old_sa;

	if (ctl_drill_kind_parse(a->pos[0], &kind) != 0)
		return CTL_EXIT_USAGE;
	if (kind == CTL_DRILL_STOP_DAEMON &&
	    getenv("PGWARDEN_DRILL_STOP_CMD") == NULL)
	{
		ctl_fail(
		    "%s",
		    "drill stop-daemon needs a way onto the node: set PGWARDEN_DRILL_STOP_CMD (run with PGW_DRILL_MEMBER and PGW_DRILL_HOST set, e.g. 'ssh \"$PGW_DRILL_HOST\" sudo systemctl kill -s KILL pgwarden') and PGWARDEN_DRILL_START_CMD to start it again");
		return CTL_EXIT_FAILED;
	}
	if (g->pg_user == NULL)
	{
		ctl_fail(
		    "%s",
		    "drill needs the superuser's credentials for its writer, its checks and kill-postgres: -c CONFIG (postgresql.authentication.superuser)");
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
		char answer[256];

		if (!ctl_is_interactive())
		{
			ctl_fail("%s",
			         "drill needs a terminal to type the scope, or --yes");
			rc = CTL_EXIT_FAILED;
			goto out;
		}
		fprintf(
		    stderr,
		    "This drill (%s, %d round%s) breaks the primary of cluster \"%s\".\n",
		    ctl_drill_kind_name(kind), rounds, rounds == 1 ? "" : "s",
		    g->scope);
		if (!ctl_prompt("Type the scope name to go on: ", answer,
		                sizeof(answer)) ||
		    strcmp(answer, g->scope) != 0)
		{
			ctl_fail("%s", "not confirmed");
			rc = CTL_EXIT_FAILED;
			goto out;
		}
	}

	w = drill_writer_start(g, v);
	watch = drill_watch_start(g, v);
	res = pgw_xcalloc((size_t) rounds, sizeof(*res));
	t_fault = pgw_xcalloc((size_t) rounds, sizeof(*t_fault));
	lost = pgw_xcalloc((size_t) rounds, sizeof(*lost));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old_sa);

	for (int r = 0; r < rounds && !interrupted; r++)
	{
		int64_t t_start = pgw_now_mono_ms();

		res[r].round = r + 1;
		one_round(g, c, &v, w, kind, budget_ms, &res[r], &t_fault[r]);
		watch_round(watch, t_start, &res[r]);
		done = r + 1;
		if (res[r].broken)
			break;
	}
	drill_writer_stop(w);
	drill_watch_stop(watch);
	if (interrupted)
	{
		cancel_pending(g, c, kind, done);
		if (done > 0 && res[done - 1].note[0] == '\0')
			snprintf(res[done - 1].note, sizeof(res[done - 1].note),
			         "interrupted");
	}
	/* lost writes: acknowledged but not on the primary now, per round */
	if (done > 0 &&
	    drill_pg_lost(g, c, w, t_fault, done, lost, why, sizeof(why)) == 0)
	{
		for (int r = 0; r < done; r++)
			res[r].lost = lost[r];
	}
	else if (done > 0)
	{
		for (int r = 0; r < done; r++)
			res[r].lost = -1;
		fprintf(stderr, "drill: lost writes not checked: %s\n", why);
	}
	rc = done > 0 && !interrupted ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	for (int r = 0; r < done; r++)
	{
		ctl_drill_judge(&res[r]);
		if (!res[r].ok)
			rc = CTL_EXIT_FAILED;
	}
	ctl_drill_report(stdout, g->scope, kind, res, done, json);
	sigaction(SIGINT, &old_sa, NULL);
out:
	drill_watch_free(watch);
	drill_writer_free(w);
	free(res);
	free(t_fault);
	free(lost);
	free(v);
	etcd_client_close(c);
	return rc;
}
