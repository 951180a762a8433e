/*
 * run.c: the witness process's loop (witness.h). While the daemon says we
 * hold the key and run a writable primary (armed), it keeps one physical
 * replication connection to the local PostgreSQL (libpq, no slot: it needs
 * no WAL history, and a slot left by a dead witness would hold WAL back
 * forever), reads and discards the WAL, and answers with the position it
 * received, checking the fencing deadline on its own monotonic clock just
 * before each answer. Past the deadline (or disarmed) it answers only with
 * what it confirmed before, so no commit waiting for it is released. With a
 * quorum gate it also reads pg_stat_replication and confirms only what k of
 * the gate's standbys have confirmed (gate.c).
 */
#include "witness/witness_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATUS_INTERVAL_US 1000000 /* a reply at least every second */
#define ARMED_TICK_US      100000  /* connected: look at the page this often */
#define IDLE_WAIT_MS       1000    /* disarmed: the futex wakes us sooner */
#define RETRY_MIN_MS       100
#define RETRY_MAX_MS       2000
#define ERROR_RELOG_MS     10000
#define GATE_POLL_MIN_US   500
#define GATE_POLL_MAX_US   20000

typedef struct Witness
{
	const WitnessRunConfig *cfg;
	PGconn *repl;  /* the stream */
	PGconn *query; /* pg_stat_replication (gate only) */
	WitnessGate gate;
	unsigned gate_seen;
	uint64_t received;      /* end of the WAL we hold */
	WitnessPositions sent;  /* what we last reported */
	WitnessPositions gated; /* what the gate allows, last read */
	int64_t last_reply_us;
	int64_t gate_polled_us;
	int64_t gate_poll_us; /* the current interval */
	bool reply_due;
	bool refusing; /* logged once per episode */
	WitnessState state;
	int64_t retry_at_ms;
	int64_t retry_ms;
	char last_error[256];
	int64_t last_error_ms;
} Witness;

static volatile sig_atomic_t stop_requested;

static void
on_term(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
set_state(Witness *w, WitnessState s)
{
	w->state = s;
	witness_share_publish(s, w->sent.flush);
}

/* note_error: log a failure when it changed or every ERROR_RELOG_MS */
static void
note_error(Witness *w, const char *event, const char *detail)
{
	int64_t now = pgw_now_mono_ms();
	char q[320];

	if (strcmp(detail, w->last_error) == 0 &&
	    now - w->last_error_ms < ERROR_RELOG_MS)
		return;
	pgw_strlcpy(w->last_error, detail, sizeof(w->last_error));
	w->last_error_ms = now;
	log_error(event, "detail=%s action=commits-wait",
	          log_quote(detail, q, sizeof(q)));
}

static void
conn_error(PGconn *c, char *buf, size_t len)
{
	size_t n;

	pgw_strlcpy(buf, c ? PQerrorMessage(c) : "out of memory", len);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static void
disconnect(Witness *w)
{
	if (w->repl != NULL)
		PQfinish(w->repl);
	if (w->query != NULL)
		PQfinish(w->query);
	w->repl = NULL;
	w->query = NULL;
	w->refusing = false;
}

static void
schedule_retry(Witness *w)
{
	w->retry_ms =
	    w->retry_ms == 0
	        ? RETRY_MIN_MS
	        : (w->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : w->retry_ms * 2);
	w->retry_at_ms = pgw_now_mono_ms() + w->retry_ms;
}

/* parse_lsn: PostgreSQL's "X/Y" (hex); false on anything else */
static bool
parse_lsn(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long hi, lo;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	hi = strtoull(s, &end, 16);
	if (errno != 0 || end == s || *end != '/' || hi > UINT32_MAX)
		return false;
	s = end + 1;
	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return false;
	lo = strtoull(s, &end, 16);
	if (errno != 0 || end == s || *end != '\0' || lo > UINT32_MAX)
		return false;
	*out = ((uint64_t) hi << 32) | (uint64_t) lo;
	return true;
}

static PGconn *
open_conn(const Witness *w, bool replication, char *detail, size_t len)
{
	char port[16];
	const char *keys[] = {"host",
	                      "port",
	                      "user",
	                      "passfile",
	                      "application_name",
	                      "connect_timeout",
	                      "dbname",
	                      "replication",
	                      NULL};
	const char *vals[9];
	PGconn *c;

	snprintf(port, sizeof(port), "%d", w->cfg->port);
	vals[0] = w->cfg->host;
	vals[1] = port;
	vals[2] = replication ? w->cfg->repl_user : w->cfg->superuser;
	vals[3] = w->cfg->passfile;
	vals[4] = w->cfg->app_name;
	vals[5] = "2";
	vals[6] = "postgres";
	vals[7] = replication ? "true" : NULL;
	vals[8] = NULL;
	if (!replication)
		keys[7] = NULL;
	c = PQconnectdbParams(keys, vals, 0);
	if (c == NULL || PQstatus(c) != CONNECTION_OK)
	{
		conn_error(c, detail, len);
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* start_stream: connect, IDENTIFY_SYSTEM, START_REPLICATION at the
 * server's flush position (the witness needs no older WAL) */
static int
start_stream(Witness *w, char *detail, size_t len)
{
	PGresult *r;
	char cmd[128];
	uint64_t pos = 0;
	char *end;
	long tli;

	w->repl = open_conn(w, true, detail, len);
	if (w->repl == NULL)
		return -1;
	r = PQexec(w->repl, "IDENTIFY_SYSTEM");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQnfields(r) < 3)
	{
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			pgw_strlcpy(detail,
			            "IDENTIFY_SYSTEM returned an unexpected row set", len);
		else
			conn_error(w->repl, detail, len);
		PQclear(r);
		return -1;
	}
	errno = 0;
	tli = strtol(PQgetvalue(r, 0, 1), &end, 10);
	if (errno != 0 || *end != '\0' || tli < 1 || tli > UINT32_MAX ||
	    !parse_lsn(PQgetvalue(r, 0, 2), &pos))
	{
		snprintf(
		    detail, len,
		    "IDENTIFY_SYSTEM: bad timeline \"%.20s\" or position \"%.30s\"",
		    PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	snprintf(cmd, sizeof(cmd), "START_REPLICATION PHYSICAL %X/%X TIMELINE %ld",
	         (unsigned) (pos >> 32), (unsigned) pos, tli);
	r = PQexec(w->repl, cmd);
	if (PQresultStatus(r) != PGRES_COPY_BOTH)
	{
		conn_error(w->repl, detail, len);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	w->received = pos;
	memset(&w->sent, 0, sizeof(w->sent));
	w->gated = w->sent;
	w->reply_due = true;
	w->gate_polled_us = 0;
	w->gate_poll_us = GATE_POLL_MIN_US;
	log_info("witness.streaming", "start=%X/%X timeline=%ld user=%s",
	         (unsigned) (pos >> 32), (unsigned) pos, tli, w->cfg->repl_user);
	return 0;
}

/* poll_gate: what k of the gate's standbys confirmed (pg_stat_replication) */
static int
poll_gate(Witness *w, char *detail, size_t len)
{
	WitnessStandby s[WITNESS_GATE_NAMES_MAX];
	PGresult *r;
	int n = 0;

	if (w->query == NULL &&
	    (w->query = open_conn(w, false, detail, len)) == NULL)
		return -1;
	r = PQexec(
	    w->query,
	    "SELECT application_name, state, write_lsn::text, flush_lsn::text, replay_lsn::text FROM pg_stat_replication");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 5)
	{
		conn_error(w->query, detail, len);
		PQclear(r);
		PQfinish(w->query);
		w->query = NULL;
		return -1;
	}
	for (int i = 0; i < PQntuples(r) && n < WITNESS_GATE_NAMES_MAX; i++)
	{
		const char *st = PQgetvalue(r, i, 1);

		memset(&s[n], 0, sizeof(s[n]));
		s[n].application_name = PQgetvalue(r, i, 0);
		s[n].streaming =
		    strcmp(st, "streaming") == 0 || strcmp(st, "stopping") == 0;
		/* a position not reported yet (NULL) counts as nothing confirmed */
		if (!parse_lsn(PQgetvalue(r, i, 2), &s[n].write_lsn) ||
		    !parse_lsn(PQgetvalue(r, i, 3), &s[n].flush_lsn))
			s[n].streaming = false;
		if (!parse_lsn(PQgetvalue(r, i, 4), &s[n].replay_lsn))
			s[n].replay_lsn = 0;
		n++;
	}
	w->gated =
	    witness_gate_position(&w->gate, w->cfg->app_name, s, n, UINT64_MAX);
	PQclear(r);
	return 0;
}

static uint64_t
max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * reply: the lease rule at the moment of the answer. The target is built
 * first; the clock and the page are read last, right before the bytes go
 * out, so nothing but the send itself lies between the check and the
 * answer PostgreSQL acts on.
 */
static int
reply(Witness *w, const WitnessPositions *target, char *detail, size_t len)
{
	WitnessPositions p;
	WitnessSnap s;
	char msg[WITNESS_REPLY_LEN];
	int64_t now_us;
	bool ok;

	p.write = max64(w->sent.write, target->write);
	p.flush = max64(w->sent.flush, target->flush);
	p.apply = max64(w->sent.apply, target->apply);
	witness_wire_reply(&p, pgw_now_wall_ms() * 1000, msg);
	witness_share_read(&s);
	now_us = pgw_now_mono_us();
	ok = witness_may_confirm(s.armed, s.deadline_mono_ms, now_us);
	if (!ok)
	{
		/* nothing new: only what was confirmed inside the lease */
		p = w->sent;
		witness_wire_reply(&p, pgw_now_wall_ms() * 1000, msg);
	}
	if (PQputCopyData(w->repl, msg, WITNESS_REPLY_LEN) != 1 ||
	    PQflush(w->repl) != 0)
	{
		conn_error(w->repl, detail, len);
		return -1;
	}
	w->last_reply_us = now_us;
	w->reply_due = false;
	if (!ok && !w->refusing && target->flush > w->sent.flush)
	{
		int64_t late_ms =
		    s.deadline_mono_ms > 0 ? now_us / 1000 - s.deadline_mono_ms : 0;
		int64_t wall = pgw_now_wall_ms();
		char dl[40] = "none";

		if (s.deadline_mono_ms > 0)
			pgw_format_wall_iso(wall - (pgw_now_mono_ms() - s.deadline_mono_ms),
			                    0, dl, sizeof(dl));
		w->refusing = true;
		set_state(w, WITNESS_REFUSING);
		log_warn(
		    "witness.refusing",
		    "reason=%s deadline=%s late_ms=%lld confirmed=%X/%X pending=%X/%X action=commits-wait",
		    !s.armed                  ? "not-leader"
		    : s.deadline_mono_ms == 0 ? "no-deadline"
		                              : "deadline-passed",
		    dl, (long long) late_ms, (unsigned) (w->sent.flush >> 32),
		    (unsigned) w->sent.flush, (unsigned) (target->flush >> 32),
		    (unsigned) target->flush);
	}
	else if (ok)
	{
		if (w->refusing)
			log_info("witness.confirming", "confirmed=%X/%X",
			         (unsigned) (p.flush >> 32), (unsigned) p.flush);
		w->refusing = false;
		w->sent = p;
		if (w->state != WITNESS_STREAMING)
			set_state(w, WITNESS_STREAMING);
		else
			witness_share_publish(WITNESS_STREAMING, p.flush);
	}
	return 0;
}

/* drain: every message the server sent; the WAL itself is dropped */
static int
drain(Witness *w, char *detail, size_t len)
{
	if (PQconsumeInput(w->repl) != 1)
	{
		conn_error(w->repl, detail, len);
		return -1;
	}
	for (;;)
	{
		char *buf = NULL;
		int n = PQgetCopyData(w->repl, &buf, 1);
		WitnessMsg m;
		PgwError err = {0};

		if (n == 0)
			return 0;
		if (n == -1)
		{
			PGresult *r = PQgetResult(w->repl);

			snprintf(detail, len, "the server ended the stream (%s)",
			         r ? PQresStatus(PQresultStatus(r)) : "no result");
			PQclear(r);
			return -1;
		}
		if (n < 0)
		{
			conn_error(w->repl, detail, len);
			return -1;
		}
		if (witness_wire_decode(buf, (size_t) n, &m, &err) != 0)
		{
			PQfreemem(buf);
			pgw_strlcpy(detail, err.msg, len);
			return -1;
		}
		PQfreemem(buf);
		if (m.kind == WITNESS_MSG_XLOGDATA && m.data_len > 0)
			w->received = max64(w->received, m.start_lsn + m.data_len);
		else if (m.kind == WITNESS_MSG_KEEPALIVE && m.reply_requested)
			w->reply_due = true;
	}
}

/* target: what we would confirm now (the gate bounds it) */
static WitnessPositions
target_of(const Witness *w)
{
	WitnessPositions t = {w->received, w->received, w->received};

	if (w->gate.k > 0)
	{
		t.write = min64(t.write, w->gated.write);
		t.flush = min64(t.flush, w->gated.flush);
		t.apply = min64(t.apply, w->gated.apply);
	}
	return t;
}

/* lease_ok_now: the lease rule, read afresh (no answer is sent) */
static bool
lease_ok_now(void)
{
	WitnessSnap s;

	witness_share_read(&s);
	return witness_may_confirm(s.armed, s.deadline_mono_ms, pgw_now_mono_us());
}

/* stream_turn: one wait for the server, then the answer it calls for */
static int
stream_turn(Witness *w, char *detail, size_t len)
{
	WitnessPositions t = target_of(w);
	int64_t now = pgw_now_mono_us();
	int64_t wait_us = STATUS_INTERVAL_US - (now - w->last_reply_us);
	bool more;
	struct pollfd pfd;

	/* disarmed or the deadline moved: seen within this bound even when the
	 * server is quiet (a stopping primary waits for us to leave) */
	if (wait_us > ARMED_TICK_US)
		wait_us = ARMED_TICK_US;
	if (w->gate.k > 0 && w->received > w->gated.flush)
	{
		/* waiting on the standbys: look again soon, less often while they
		 * do not move */
		int64_t due = w->gate_polled_us + w->gate_poll_us - now;

		if (due < wait_us)
			wait_us = due;
	}
	else if (w->reply_due || (t.flush > w->sent.flush && !w->refusing))
		wait_us = 0;
	if (wait_us < 0)
		wait_us = 0;
	pfd.fd = PQsocket(w->repl);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, (int) ((wait_us + 999) / 1000)) < 0 && errno != EINTR)
	{
		snprintf(detail, len, "poll: %s", strerror(errno));
		return -1;
	}
	if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) &&
	    drain(w, detail, len) != 0)
		return -1;
	/* a newer gate applies from this answer on (never half-way through one) */
	if (witness_share_gate_take(&w->gate, &w->gate_seen))
		log_info("witness.gate", "k=%d any=%d names=%d", w->gate.k,
		         w->gate.any_name, w->gate.n_names);
	now = pgw_now_mono_us();
	if (w->gate.k > 0 && w->received > w->gated.flush &&
	    now - w->gate_polled_us >= w->gate_poll_us)
	{
		uint64_t before = w->gated.flush;

		if (poll_gate(w, detail, len) != 0)
		{
			note_error(w, "witness.gate-failed", detail);
			/* the gate cannot be read: nothing more is confirmed */
			memset(&w->gated, 0, sizeof(w->gated));
		}
		w->gate_polled_us = now;
		w->gate_poll_us = w->gated.flush > before
		                      ? GATE_POLL_MIN_US
		                      : (w->gate_poll_us * 2 > GATE_POLL_MAX_US
		                             ? GATE_POLL_MAX_US
		                             : w->gate_poll_us * 2);
	}
	t = target_of(w);
	more = t.flush > w->sent.flush || t.write > w->sent.write ||
	       t.apply > w->sent.apply;
	/* while refusing, an answer goes out only when the lease rule would let
	 * it confirm (a raised deadline), or for the status interval */
	if (w->reply_due || now - w->last_reply_us >= STATUS_INTERVAL_US ||
	    (more && (!w->refusing || lease_ok_now())))
		return reply(w, &t, detail, len);
	return 0;
}

int
witness_run(const WitnessRunConfig *cfg)
{
	Witness w;
	PgwError err = {0};
	struct sigaction sa;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (witness_share_attach(cfg->share_fd, &err) != 0)
	{
		/* no page, no deadline: nothing can ever be confirmed */
		log_error("witness.no-page", "detail=\"%s\" action=exit-commits-wait",
		          err.msg);
		return 1;
	}
	set_state(&w, WITNESS_IDLE);
	log_info("witness.ready", "pid=%d host=%s port=%d", (int) getpid(),
	         cfg->host, cfg->port);
	while (!stop_requested)
	{
		WitnessSnap s;
		char detail[256] = "";

		if (cfg->parent > 0 && getppid() != cfg->parent)
		{
			log_warn("witness.parent-gone", "action=exit");
			break;
		}
		witness_share_read(&s);
		if (!s.armed)
		{
			(void) witness_share_gate_take(&w.gate, &w.gate_seen);
			if (w.repl != NULL)
			{
				log_info(
				    "witness.disconnected", "reason=not-leader confirmed=%X/%X",
				    (unsigned) (w.sent.flush >> 32), (unsigned) w.sent.flush);
				disconnect(&w);
			}
			if (w.state != WITNESS_IDLE)
				set_state(&w, WITNESS_IDLE);
			w.retry_ms = 0;
			witness_share_wait(s.wake, IDLE_WAIT_MS);
			continue;
		}
		if (w.repl == NULL)
		{
			int64_t now = pgw_now_mono_ms();

			if (now < w.retry_at_ms)
			{
				witness_share_wait(s.wake, (int) (w.retry_at_ms - now));
				continue;
			}
			(void) witness_share_gate_take(&w.gate, &w.gate_seen);
			set_state(&w, WITNESS_CONNECTING);
			if (start_stream(&w, detail, sizeof(detail)) != 0)
			{
				note_error(&w, "witness.connect-failed", detail);
				disconnect(&w);
				set_state(&w, WITNESS_FAILING);
				schedule_retry(&w);
				continue;
			}
			w.retry_ms = 0;
			w.last_error[0] = '\0';
		}
		if (stream_turn(&w, detail, sizeof(detail)) != 0)
		{
			note_error(&w, "witness.stream-failed", detail);
			disconnect(&w);
			set_state(&w, WITNESS_FAILING);
			schedule_retry(&w);
		}
	}
	disconnect(&w);
	witness_share_publish(WITNESS_IDLE, w.sent.flush);
	log_info("witness.stopped", "confirmed=%X/%X",
	         (unsigned) (w.sent.flush >> 32), (unsigned) w.sent.flush);
	return 0;
}
