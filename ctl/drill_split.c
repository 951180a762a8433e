/*
 * drill_split.c: the drill's split-brain watch: the probes that try a write
 * acknowledgement on every member (drill_int.h) and the pure detector
 * (drill.h) that finds, in their logs, the instants when two members
 * acknowledged writes at once. The detector is kept identical to
 * tests/tools/pgw_logcheck.py split, so the drill and the harness's own
 * drills count the same thing: an attempt is its whole [start, end]
 * because the commit happened somewhere inside it, and only a failed
 * attempt ends a run (a member that went on acknowledging stayed writable
 * in between).
 */
#include "ctl/drill_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct Run
{
	int member;
	int64_t start_ms;
	int64_t end_ms;
} Run;

/* check: a log the detector can trust (it would rather fail than say 0) */
static bool
log_ok(const CtlDrillAttempt *a, int n)
{
	if (n < 0 || (n > 0 && a == NULL))
		return false;
	for (int i = 0; i < n; i++)
	{
		if (a[i].end_ms < a[i].start_ms)
			return false;
		if (i > 0 && a[i].start_ms < a[i - 1].start_ms)
			return false;
	}
	return true;
}

/* runs_add: member m's runs that touch [from_ms, to_ms], appended */
static void
runs_add(const CtlDrillAttempt *a, int n, int m, int64_t from_ms, int64_t to_ms,
         Run *runs, int *n_runs)
{
	Run cur = {.member = -1};

	for (int i = 0; i <= n; i++)
	{
		if (i < n && a[i].is_acked)
		{
			if (cur.member < 0)
				cur = (Run){m, a[i].start_ms, a[i].end_ms};
			else if (a[i].end_ms > cur.end_ms)
				cur.end_ms = a[i].end_ms;
			continue;
		}
		if (cur.member >= 0 && cur.end_ms >= from_ms && cur.start_ms <= to_ms)
			runs[(*n_runs)++] = cur;
		cur.member = -1;
	}
}

int
ctl_drill_split(const CtlDrillAttempt *const *att, const int *n_att,
                int n_members, int64_t from_ms, int64_t to_ms,
                CtlDrillSplit *out)
{
	Run *runs;
	int n_runs = 0;
	size_t cap = 1;

	if (out == NULL || n_members < 0 || to_ms < from_ms ||
	    (n_members > 0 && (att == NULL || n_att == NULL)))
		return PGW_EINVAL;
	for (int m = 0; m < n_members; m++)
	{
		if (!log_ok(att[m], n_att[m]))
			return PGW_EINVAL;
		cap += (size_t) n_att[m];
	}
	*out = (CtlDrillSplit){.worst_a = -1, .worst_b = -1};
	runs = pgw_xcalloc(cap, sizeof(*runs));
	for (int m = 0; m < n_members; m++)
		runs_add(att[m], n_att[m], m, from_ms, to_ms, runs, &n_runs);
	for (int i = 0; i < n_runs; i++)
	{
		for (int j = i + 1; j < n_runs; j++)
		{
			const Run *a = &runs[i];
			const Run *b = &runs[j];
			int64_t lo = a->start_ms > b->start_ms ? a->start_ms : b->start_ms;
			int64_t hi = a->end_ms < b->end_ms ? a->end_ms : b->end_ms;

			if (a->member == b->member || lo > hi)
				continue;
			/* the longest wins; among equals the earliest, then the
			 * first found, as pgw_logcheck.py's stable sort then max() */
			if (out->n == 0 || hi - lo > out->worst_ms ||
			    (hi - lo == out->worst_ms && lo < out->worst_at_ms))
			{
				out->worst_ms = hi - lo;
				out->worst_at_ms = lo;
				out->worst_a = a->member;
				out->worst_b = b->member;
			}
			out->n++;
		}
	}
	free(runs);
	return 0;
}

bool
ctl_drill_probe_blind(const CtlDrillAttempt *a, int n, int64_t from_ms,
                      int64_t to_ms, int64_t max_silence_ms, char *why,
                      size_t len)
{
	int64_t last = from_ms;
	bool is_answered = false;

	if (!log_ok(a, n) || to_ms < from_ms)
	{
		snprintf(why, len, "probe log out of order");
		return true;
	}
	for (int i = 0; i < n && a[i].start_ms <= to_ms; i++)
	{
		if (a[i].end_ms < from_ms)
			continue;
		is_answered = is_answered || a[i].is_answered;
		if (a[i].start_ms < from_ms)
			continue;
		if (a[i].start_ms - last > max_silence_ms)
		{
			snprintf(why, len, "probe silent for %lld ms",
			         (long long) (a[i].start_ms - last));
			return true;
		}
		last = a[i].start_ms;
	}
	if (to_ms - last > max_silence_ms)
	{
		snprintf(why, len, "probe silent for the last %lld ms of the window",
		         (long long) (to_ms - last));
		return true;
	}
	if (!is_answered)
	{
		snprintf(why, len, "never answered a probe");
		return true;
	}
	return false;
}

/*
 * The watch (drill_int.h): one thread per member, each with its
 * own connection, so a frozen member delays only its own probe.
 */
#define WATCH_PERIOD_MS    50
#define WATCH_TIMEOUT_MS   1000
#define WATCH_SILENCE_MS   5000
#define WATCH_ATTEMPTS_MAX 400000 /* per member: 5 h at one each 50 ms */

typedef struct WatchMember
{
	pthread_t thread;
	DrillWatch *s;
	bool is_started;
	char name[PGW_NAME_MAX];
	char url[PGW_URL_MAX];
	CtlDrillAttempt *att; /* under s->mu, as n_att, cap, full_at_ms */
	int n_att;
	int cap;
	int64_t full_at_ms;  /* attempts dropped from then on (-1: none) */
	bool sync_cancelled; /* the probe thread's own */
} WatchMember;

struct DrillWatch
{
	const CtlGlobal *g;
	atomic_bool stop;
	pthread_mutex_t mu;
	int n;
	WatchMember m[PGW_MEMBERS_MAX];
};

static void
watch_notice(void *arg, const char *msg)
{
	WatchMember *wm = arg;

	if (drill_pg_is_sync_cancel(msg))
		wm->sync_cancelled = true;
}

/* wait_fd: fd ready for events before deadline_mono_ms; false otherwise */
static bool
wait_fd(int fd, short events, int64_t deadline_mono_ms)
{
	for (;;)
	{
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline_mono_ms - pgw_now_mono_ms();
		int rc;

		if (fd < 0 || left <= 0)
			return false;
		rc = poll(&p, 1, (int) left);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

/*
 * watch_connect: libpq's connect_timeout is per address and at least 2 s,
 * and a partitioned host answers nothing: connect without blocking, under
 * our own deadline. The probe's errors are expected on every replica 20
 * times a second, so its session keeps them out of the server log.
 */
static PGconn *
watch_connect(WatchMember *wm, int64_t deadline_mono_ms)
{
	const char *vals[DRILL_PG_PARAMS];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *c;

	drill_pg_params(wm->s->g, wm->url, "2",
	                "-c statement_timeout=2000 -c log_min_messages=fatal "
	                "-c log_min_error_statement=panic",
	                vals);
	c = PQconnectStartParams(drill_pg_keys, vals, 1);
	if (c == NULL)
		return NULL;
	while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED)
	{
		if (!wait_fd(PQsocket(c),
		             st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		             deadline_mono_ms))
			break;
		st = PQconnectPoll(c);
	}
	if (st != PGRES_POLLING_OK)
	{
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, watch_notice, wm);
	return c;
}

/*
 * watch_ack: one write acknowledgement on c. A transactional logical
 * message assigns an xid and writes WAL before the commit record, so a
 * standby refuses it and its commit is flushed and waits for the
 * synchronous standbys (and the commit check) like any write. SELECT
 * txid_current() alone would not do: PostgreSQL commits a transaction that
 * wrote no WAL before its commit record asynchronously, without that wait,
 * so a promoted replica whose commits all hang would seem to acknowledge.
 * false when c must be dropped (no answer by the deadline, or the
 * connection broke).
 */
static bool
watch_ack(PGconn *c, WatchMember *wm, int64_t deadline_mono_ms, bool *is_acked,
          bool *is_answered)
{
	PGresult *r;
	bool got_rows = false;

	wm->sync_cancelled = false;
	if (!PQsendQuery(
	        c, "SELECT pg_logical_emit_message(true, 'pgwardenctl-drill', '')"))
		return false;
	for (;;)
	{
		while (PQisBusy(c))
		{
			if (!wait_fd(PQsocket(c), POLLIN, deadline_mono_ms) ||
			    !PQconsumeInput(c))
				return false;
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			got_rows = true;
		PQclear(r);
	}
	if (PQstatus(c) != CONNECTION_OK)
		return false;
	*is_answered = true;
	*is_acked = got_rows && !wm->sync_cancelled;
	return true;
}

static void
watch_record(WatchMember *wm, int64_t start_ms, int64_t end_ms, bool is_acked,
             bool is_answered)
{
	DrillWatch *s = wm->s;

	pthread_mutex_lock(&s->mu);
	if (wm->n_att == wm->cap && wm->cap < WATCH_ATTEMPTS_MAX)
	{
		wm->cap = wm->cap == 0 ? 4096 : wm->cap * 2;
		if (wm->cap > WATCH_ATTEMPTS_MAX)
			wm->cap = WATCH_ATTEMPTS_MAX;
		wm->att = pgw_xrealloc(wm->att, (size_t) wm->cap * sizeof(*wm->att));
	}
	if (wm->n_att < wm->cap)
		wm->att[wm->n_att++] =
		    (CtlDrillAttempt){start_ms, end_ms, is_acked, is_answered};
	else if (wm->full_at_ms < 0)
		wm->full_at_ms = start_ms;
	pthread_mutex_unlock(&s->mu);
}

static void *
watch_main(void *arg)
{
	WatchMember *wm = arg;
	PGconn *c = NULL;

	while (!atomic_load(&wm->s->stop))
	{
		int64_t start = pgw_now_mono_ms();
		bool is_acked = false;
		bool is_answered = false;
		int64_t left;

		if (c == NULL &&
		    (c = watch_connect(wm, start + WATCH_TIMEOUT_MS)) == NULL)
			watch_record(wm, start, pgw_now_mono_ms(), false, false);
		else
		{
			/* the attempt is the query alone: a write acknowledged
			 * happened inside it, and a connect would widen it */
			start = pgw_now_mono_ms();
			if (!watch_ack(c, wm, start + WATCH_TIMEOUT_MS, &is_acked,
			               &is_answered))
			{
				PQfinish(c);
				c = NULL;
			}
			watch_record(wm, start, pgw_now_mono_ms(), is_acked, is_answered);
		}
		left = start + WATCH_PERIOD_MS - pgw_now_mono_ms();
		if (left > 0)
			usleep((useconds_t) left * 1000);
	}
	PQfinish(c);
	return NULL;
}

DrillWatch *
drill_watch_start(const CtlGlobal *g, const ClusterView *v)
{
	DrillWatch *s = pgw_xcalloc(1, sizeof(*s));

	s->g = g;
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->stop, false);
	for (int i = 0; i < v->n_members && s->n < PGW_MEMBERS_MAX; i++)
	{
		WatchMember *wm = &s->m[s->n++];

		wm->s = s;
		wm->full_at_ms = -1;
		pgw_strlcpy(wm->name, v->members[i].name, sizeof(wm->name));
		pgw_strlcpy(wm->url, v->members[i].conn_url, sizeof(wm->url));
		wm->is_started = pthread_create(&wm->thread, NULL, watch_main, wm) == 0;
	}
	return s;
}

void
drill_watch_stop(DrillWatch *s)
{
	if (s == NULL || atomic_load(&s->stop))
		return;
	atomic_store(&s->stop, true);
	for (int i = 0; i < s->n; i++)
		if (s->m[i].is_started)
			pthread_join(s->m[i].thread, NULL);
}

void
drill_watch_free(DrillWatch *s)
{
	if (s == NULL)
		return;
	drill_watch_stop(s);
	for (int i = 0; i < s->n; i++)
		free(s->m[i].att);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static bool
any_acked(const CtlDrillAttempt *const *att, const int *n_att, int n,
          int64_t from_ms, int64_t to_ms)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < n_att[i]; k++)
			if (att[i][k].is_acked && att[i][k].end_ms >= from_ms &&
			    att[i][k].start_ms <= to_ms)
				return true;
	return false;
}

bool
drill_watch_round(DrillWatch *s, int64_t from_ms, int64_t to_ms,
                  CtlDrillRound *x, char *why, size_t len)
{
	const CtlDrillAttempt *att[PGW_MEMBERS_MAX];
	int n_att[PGW_MEMBERS_MAX];
	CtlDrillSplit sp;
	bool ok = true;

	x->split_instants = -1;
	x->split_worst_ms = -1;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n && ok; i++)
	{
		WatchMember *wm = &s->m[i];
		char blind[160];

		att[i] = wm->att;
		n_att[i] = wm->n_att;
		if (!wm->is_started)
		{
			snprintf(why, len, "the probe of %s did not start", wm->name);
			ok = false;
		}
		else if (wm->full_at_ms >= 0 && wm->full_at_ms <= to_ms)
		{
			snprintf(why, len, "the probe log of %s is full", wm->name);
			ok = false;
		}
		else if (ctl_drill_probe_blind(wm->att, wm->n_att, from_ms, to_ms,
		                               WATCH_SILENCE_MS, blind, sizeof(blind)))
		{
			snprintf(why, len, "%s: %s", wm->name, blind);
			ok = false;
		}
	}
	if (ok && !any_acked(att, n_att, s->n, from_ms, to_ms))
	{
		/* a probe whose write can never succeed would see no split */
		snprintf(why, len, "no member acknowledged a probe write");
		ok = false;
	}
	if (ok && ctl_drill_split(att, n_att, s->n, from_ms, to_ms, &sp) != 0)
	{
		/* a bug, not a cluster's doing: the threads log in start order */
		snprintf(why, len, "the probe logs are out of order");
		ok = false;
	}
	if (ok)
	{
		x->split_instants = sp.n;
		x->split_worst_ms = sp.n > 0 ? sp.worst_ms : 0;
		if (sp.n > 0)
			snprintf(x->split_pair, sizeof(x->split_pair), "%s and %s",
			         s->m[sp.worst_a].name, s->m[sp.worst_b].name);
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}
