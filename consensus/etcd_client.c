/*
 * etcd_client.c: the EtcdClient handle (DESIGN.md, "consensus/"): endpoint
 * parsing, one gRPC channel per endpoint, the completion-queue thread, the
 * event queue (the unary calls with deadlines, endpoint failover and auth
 * are in etcd_unary.c).
 *
 * Threading model
 * ---------------
 * - The owner (daemon loop or a ctl command) is one thread. It calls every
 *   public function. Unary calls (Range, Put, Txn, lease grant...) block it:
 *   each call gets its own pluck completion queue (notes pitfall 10: a pluck
 *   CQ allows only 6 pluckers) and is bounded by its deadline.
 * - One internal thread, the CQ thread, loops on
 *   grpc_completion_queue_next() over one next-CQ that carries the two
 *   bidirectional streams (LeaseKeepAlive and Watch, etcd_stream.c) and a
 *   connectivity watch that is always armed on every channel (pitfall 14:
 *   without a thread polling, a reconnect stalls on the 5 s backup poller).
 *   It sleeps until the next thing it must do (a background keepalive, a
 *   stream to reopen, a watch progress check: etcd_lease_next_tick_locked,
 *   etcd_watch_next_tick_locked), at most ETCD_TICK_MAX_MS, or until a
 *   completion arrives: an idle client wakes about once a keepalive
 *   interval, not twenty times a second (issue 18). The owner's calls that
 *   start something new (a watch, a keepalive) do its first step
 *   themselves under c->mu rather than wait for the thread.
 * - c->mu guards all shared state: streams, watches, the keepalive state,
 *   the endpoint in use, the auth tokens and the event queue. The CQ thread
 *   holds it while it handles a completion; grpc_call_start_batch is called
 *   under it (it never blocks).
 * - Events reach the owner through a mutex-protected queue plus an eventfd
 *   (etcd_client_event_fd) that is readable while the queue is non-empty, so
 *   the owner can poll() it beside its other fds.
 * - etcd_lease_keepalive_once is a synchronous round trip on the shared
 *   LeaseKeepAlive stream: the owner queues the request and waits on c->cond
 *   until the CQ thread hands it the answer.
 * - gRPC is initialised per client (grpc_init is reference counted) and shut
 *   down with grpc_shutdown_blocking on close. Never fork() after open
 *   unless exec follows (pitfall 11).
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

/* ------------------------------------------------------------------------
 * gRPC's own log (pitfalls 12, 13): captured, never printed, so that TLS
 * failures (which all look like UNAVAILABLE) can name their real cause.
 * ------------------------------------------------------------------------ */

#define GRPC_LOG_RING 8

static pthread_mutex_t grpc_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char grpc_log_ring[GRPC_LOG_RING][256];
static uint64_t grpc_log_seqs[GRPC_LOG_RING];
static int64_t grpc_log_mono_ms[GRPC_LOG_RING];
static uint64_t grpc_log_next_seq = 1;
static pthread_once_t grpc_log_once = PTHREAD_ONCE_INIT;

static void
grpc_log_capture(gpr_log_func_args *args)
{
	int slot;

	if (args == NULL || args->message == NULL)
		return;
	pthread_mutex_lock(&grpc_log_mu);
	slot = (int) (grpc_log_next_seq % GRPC_LOG_RING);
	snprintf(grpc_log_ring[slot], sizeof(grpc_log_ring[slot]), "%s",
	         args->message);
	grpc_log_seqs[slot] = grpc_log_next_seq++;
	grpc_log_mono_ms[slot] = pgw_now_mono_ms();
	pthread_mutex_unlock(&grpc_log_mu);
}

static void
grpc_log_install(void)
{
	gpr_set_log_function(grpc_log_capture);
}

uint64_t
etcd_grpc_log_seq(void)
{
	uint64_t seq;

	pthread_mutex_lock(&grpc_log_mu);
	seq = grpc_log_next_seq;
	pthread_mutex_unlock(&grpc_log_mu);
	return seq;
}

/*
 * etcd_grpc_log_since: the most recent gRPC log line about TLS logged at or
 * after seq and within the last 10 s (a handshake that fails is usually
 * attempted by the connectivity watch before the call that reports it).
 * Returns 1 if one was found.
 */
int
etcd_grpc_log_since(uint64_t seq, char *buf, size_t len)
{
	int found = 0;
	int best_score = 0;
	uint64_t best = 0;

	pthread_mutex_lock(&grpc_log_mu);
	for (int i = 0; i < GRPC_LOG_RING; i++)
	{
		const char *m = grpc_log_ring[i];
		int score = 0;

		if (grpc_log_seqs[i] < seq || grpc_log_seqs[i] == 0 ||
		    grpc_log_mono_ms[i] < pgw_now_mono_ms() - 10000)
			continue;
		/* the alert or verify failure says why; SSL_write errors do not */
		if (strcasestr(m, "alert") || strcasestr(m, "verify") ||
		    strcasestr(m, "handshake failed"))
			score = 2;
		else if (strcasestr(m, "ssl") || strcasestr(m, "handshake") ||
		         strcasestr(m, "certificate"))
			score = 1;
		if (score > 0 && (score > best_score ||
		                  (score == best_score && grpc_log_seqs[i] > best)))
		{
			best_score = score;
			best = grpc_log_seqs[i];
			pgw_strlcpy(buf, m, len);
			found = 1;
		}
	}
	pthread_mutex_unlock(&grpc_log_mu);
	return found;
}

/* ------------------------------------------------------------------------
 * Event queue
 * ------------------------------------------------------------------------ */

void
etcd_post_event_locked(EtcdClient *c, const EtcdEvent *ev)
{
	EtcdEventNode *n = pgw_xcalloc(1, sizeof(*n));
	uint64_t one = 1;

	n->ev = *ev;
	if (c->evq_tail)
		c->evq_tail->next = n;
	else
		c->evq_head = n;
	c->evq_tail = n;
	if (write(c->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
	{
		/* an eventfd write only fails on counter overflow: harmless */
	}
}

int
etcd_client_event_fd(EtcdClient *c)
{
	return c->event_fd;
}

bool
etcd_client_next_event(EtcdClient *c, EtcdEvent *ev)
{
	EtcdEventNode *n;

	pthread_mutex_lock(&c->mu);
	n = c->evq_head;
	if (n)
	{
		c->evq_head = n->next;
		if (c->evq_head == NULL)
			c->evq_tail = NULL;
	}
	if (c->evq_head == NULL)
	{
		uint64_t v;

		/* drain the counter: not readable until the next post */
		if (read(c->event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		{
			/* nothing to do: the fd is non-blocking */
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (n == NULL)
		return false;
	*ev = n->ev;
	free(n);
	return true;
}

void
etcd_event_clear(EtcdEvent *ev)
{
	if (ev == NULL)
		return;
	etcd_kv_clear(&ev->kv);
}

/* ------------------------------------------------------------------------
 * Open / close, CQ thread, connectivity
 * ------------------------------------------------------------------------ */

static void
conn_arm_locked(EtcdClient *c, EtcdChannel *ch)
{
	/* a change of state completes the watch at once; the deadline only
	 * bounds how stale ch->state can get (a timer wake each time) */
	gpr_timespec dl =
	    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                 gpr_time_from_millis(ETCD_CONN_RECHECK_MS, GPR_TIMESPAN));

	if (c->is_closing || ch->watch_armed)
		return;
	ch->state = grpc_channel_check_connectivity_state(ch->ch, 1);
	grpc_channel_watch_connectivity_state(ch->ch, ch->state, dl, c->cq,
	                                      &ch->conn_tag);
	ch->watch_armed = true;
}

static void
conn_handle_locked(EtcdClient *c, EtcdChannel *ch)
{
	grpc_connectivity_state old = ch->state;

	ch->watch_armed = false;
	if (c->is_closing)
		return;
	conn_arm_locked(c, ch); /* reads the new state, kicks IDLE */
	if (ch->state == GRPC_CHANNEL_READY && old != GRPC_CHANNEL_READY)
	{
		EtcdEvent ev = {0};

		ev.type = ETCD_EVENT_CONNECTED;
		snprintf(ev.msg, sizeof(ev.msg), "connected to %s", ch->ep.target);
		etcd_post_event_locked(c, &ev);
	}
}

static void *
cq_thread_main(void *arg)
{
	EtcdClient *c = arg;

	int64_t sleep_ms = 0;

	for (;;)
	{
		gpr_timespec dl =
		    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		                 gpr_time_from_millis(sleep_ms, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(c->cq, dl, NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		pthread_mutex_lock(&c->mu);
		if (ev.type == GRPC_OP_COMPLETE)
		{
			EtcdTag *tag = ev.tag;

			if (tag->kind == TAG_CONN)
				conn_handle_locked(c, tag->owner);
			else
				etcd_stream_handle_locked(c, tag, ev.success != 0);
		}
		if (!c->is_closing)
		{
			int64_t now = pgw_now_mono_ms();

			int64_t next;

			c->ka_sent_this_tick = false;
			etcd_lease_tick_locked(c, now);
			etcd_watch_tick_locked(c, now);
			next = etcd_lease_next_tick_locked(c);
			if (etcd_watch_next_tick_locked(c) < next)
				next = etcd_watch_next_tick_locked(c);
			now = pgw_now_mono_ms();
			sleep_ms = next - now;
			if (sleep_ms > ETCD_TICK_MAX_MS)
				sleep_ms = ETCD_TICK_MAX_MS;
			if (sleep_ms < 1)
				sleep_ms = 1;
		}
		pthread_mutex_unlock(&c->mu);
		etcd_channel_destroy_retired(c);
	}
	return NULL;
}

/*
 * etcd_channel_reset_locked: a stream on endpoint idx stalled while gRPC
 * still calls its connection ready: a peer that stopped answering without
 * closing (a frozen or half-partitioned path, a proxy that stopped
 * forwarding one way). New streams on that connection would stall too, and
 * gRPC's own keepalive notices only after 13 s; so the channel is replaced
 * by a fresh one (a new connection) at once. The streams on it break (the
 * lease and watch layers reopen them, the watch from its last revision + 1);
 * the old channel is destroyed once the lock is released. Unary calls take
 * the channel pointer under c->mu, so none can see it freed.
 */
void
etcd_channel_reset_locked(EtcdClient *c, int idx, const char *why)
{
	EtcdChannel *ch = &c->chans[idx];
	char msg[200];

	if (c->is_closing || c->n_retired >= ETCD_ENDPOINTS_MAX)
		return;
	snprintf(msg, sizeof(msg), "connection reset: %s", why);
	if (c->lease_stream && c->lease_stream->endpoint == idx)
		etcd_stream_break_locked(c->lease_stream, PGW_ETIMEDOUT, msg);
	if (c->watch_stream && c->watch_stream->endpoint == idx)
		etcd_stream_break_locked(c->watch_stream, PGW_ETIMEDOUT, msg);
	c->retired[c->n_retired++] = ch->ch;
	ch->ch = grpc_channel_create(ch->ep.target, c->creds, &c->chan_argset);
	ch->state = GRPC_CHANNEL_IDLE;
	ch->token[0] = '\0';
	/* the old channel's connectivity watch, when it completes, re-arms on
	 * the new one; without one pending, arm it now */
	conn_arm_locked(c, ch);
}

/* etcd_channel_destroy_retired: destroy channels reset above (unlocked) */
void
etcd_channel_destroy_retired(EtcdClient *c)
{
	grpc_channel *old[ETCD_ENDPOINTS_MAX];
	int n;

	pthread_mutex_lock(&c->mu);
	n = c->n_retired;
	memcpy(old, c->retired, sizeof(old[0]) * (size_t) n);
	c->n_retired = 0;
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < n; i++)
		grpc_channel_destroy(old[i]);
}

static char *
read_pem(const char *path, const char *what, PgwError *err)
{
	FILE *f;
	char *buf;
	size_t n;
	long size;

	if ((f = fopen(path, "rb")) == NULL)
	{
		pgw_error_set(err, PGW_EINVAL, "could not open etcd %s file \"%s\": %s",
		              what, path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    size > 1024 * 1024 || fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		pgw_error_set(
		    err, PGW_EINVAL,
		    "could not read etcd %s file \"%s\": not a regular file under 1 MiB",
		    what, path);
		return NULL;
	}
	buf = pgw_xmalloc((size_t) size + 1);
	n = fread(buf, 1, (size_t) size, f);
	fclose(f);
	buf[n] = '\0';
	if (n == 0 || strstr(buf, "-----BEGIN") == NULL)
	{
		free(buf);
		pgw_error_set(err, PGW_EINVAL,
		              "could not read etcd %s file \"%s\": not a PEM file",
		              what, path);
		return NULL;
	}
	return buf;
}

int
etcd_client_open(const EtcdClientConfig *cfg, EtcdClient **out, PgwError *err)
{
	EtcdEndpoint eps[ETCD_ENDPOINTS_MAX];
	int n_eps = 0;
	int rc;
	EtcdClient *c;
	char *ca = NULL;
	char *cert = NULL;
	char *key = NULL;
	bool want_tls;
	grpc_arg *args;

	*out = NULL;
	if (cfg == NULL)
		return pgw_error_set(err, PGW_EINVAL, "no etcd client configuration");
	if ((rc = etcd_endpoints_parse(cfg->endpoints, eps, ETCD_ENDPOINTS_MAX,
	                               &n_eps, err)) != 0)
		return rc;
	if ((cfg->cert_file != NULL) != (cfg->key_file != NULL))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid etcd TLS configuration: a client certificate needs both cert_file and key_file");
	want_tls = cfg->ca_file != NULL || cfg->cert_file != NULL;
	for (int i = 0; i < n_eps; i++)
		want_tls = want_tls || eps[i].tls;
	if (cfg->ca_file && (ca = read_pem(cfg->ca_file, "CA", err)) == NULL)
		return PGW_EINVAL;
	if (cfg->cert_file &&
	    (cert = read_pem(cfg->cert_file, "client certificate", err)) == NULL)
	{
		free(ca);
		return PGW_EINVAL;
	}
	if (cfg->key_file &&
	    (key = read_pem(cfg->key_file, "client key", err)) == NULL)
	{
		free(ca);
		free(cert);
		return PGW_EINVAL;
	}

	pthread_once(&grpc_log_once, grpc_log_install);
	grpc_init();

	c = pgw_xcalloc(1, sizeof(*c));
	c->open_log_seq = etcd_grpc_log_seq();
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->call_timeout_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms : 3000;
	c->dial_timeout_ms = cfg->dial_timeout_ms > 0 ? cfg->dial_timeout_ms : 1000;
	c->is_tls = want_tls;
	c->next_watch_id = 1;
	c->event_fd = -1;
	if (cfg->username && cfg->username[0])
	{
		c->username = pgw_xstrdup(cfg->username);
		c->password = pgw_xstrdup(cfg->password ? cfg->password : "");
	}

	/* channel arguments: notes, "Recommendation for the project" (kept:
	 * a stalled channel is re-created with them) */
	args = c->chan_args;
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	/* bounded: a hostile or intercepted etcd must not make us allocate
	 * without limit (security review F15); a scope's keys are far below */
	args[0].value.integer = 64 * 1024 * 1024;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_KEEPALIVE_TIME_MS;
	args[1].value.integer = 10000;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
	args[2].value.integer = 3000;
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA;
	args[3].value.integer = 0;
	args[4].type = GRPC_ARG_INTEGER;
	args[4].key = GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS;
	args[4].value.integer = 0;
	args[5].type = GRPC_ARG_INTEGER;
	args[5].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
	args[5].value.integer = 100;
	args[6].type = GRPC_ARG_INTEGER;
	args[6].key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
	args[6].value.integer = 100;
	args[7].type = GRPC_ARG_INTEGER;
	args[7].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[7].value.integer = 1000;
	/* a channel per endpoint: never let gRPC share subchannels across them */
	args[8].type = GRPC_ARG_INTEGER;
	args[8].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	args[8].value.integer = 1;
	/* no bandwidth-delay probing: our messages are small, and each probe
	 * is a ping and timers on both sides, every time data arrives */
	args[9].type = GRPC_ARG_INTEGER;
	args[9].key = GRPC_ARG_HTTP2_BDP_PROBE;
	args[9].value.integer = 0;
	c->chan_argset.num_args = PGW_LENGTHOF(c->chan_args);
	c->chan_argset.args = c->chan_args;
	if (want_tls)
	{
		grpc_ssl_pem_key_cert_pair pair = {key, cert};

		c->creds =
		    grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	}
	else
		c->creds = grpc_insecure_credentials_create();

	c->n_chans = n_eps;
	for (int i = 0; i < n_eps; i++)
	{
		EtcdChannel *ch = &c->chans[i];

		ch->ep = eps[i];
		ch->conn_tag.kind = TAG_CONN;
		ch->conn_tag.owner = ch;
		ch->ch = grpc_channel_create(ch->ep.target, c->creds, &c->chan_argset);
		ch->state = GRPC_CHANNEL_IDLE;
	}
	free(ca);
	free(cert);
	free(key);

	c->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->event_fd < 0)
	{
		rc = pgw_error_set(err, PGW_EIO, "could not create eventfd: %s",
		                   strerror(errno));
		etcd_client_close(c);
		return rc;
	}
	c->cq = grpc_completion_queue_create_for_next(NULL);
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->n_chans; i++)
		conn_arm_locked(c, &c->chans[i]);
	pthread_mutex_unlock(&c->mu);
	if (pthread_create(&c->thread, NULL, cq_thread_main, c) != 0)
	{
		rc = pgw_error_set(err, PGW_EIO,
		                   "could not start the etcd client thread");
		etcd_client_close(c);
		return rc;
	}
	c->has_thread = true;
	*out = c;
	return 0;
}

void
etcd_client_close(EtcdClient *c)
{
	EtcdEventNode *n;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->is_closing = true;
	if (c->lease_stream)
		etcd_stream_break_locked(c->lease_stream, PGW_ECANCELED,
		                         "client closed");
	if (c->watch_stream)
		etcd_stream_break_locked(c->watch_stream, PGW_ECANCELED,
		                         "client closed");
	pthread_mutex_unlock(&c->mu);

	/* pending connectivity watches complete when their channel goes */
	etcd_channel_destroy_retired(c);
	for (int i = 0; i < c->n_chans; i++)
	{
		if (c->chans[i].ch)
			grpc_channel_destroy(c->chans[i].ch);
		c->chans[i].ch = NULL;
	}
	if (c->creds)
		grpc_channel_credentials_release(c->creds);
	c->creds = NULL;
	if (c->cq)
	{
		grpc_completion_queue_shutdown(c->cq);
		if (c->has_thread)
			pthread_join(c->thread, NULL);
		else
		{
			while (grpc_completion_queue_next(
			           c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			           .type != GRPC_QUEUE_SHUTDOWN)
				;
		}
		grpc_completion_queue_destroy(c->cq);
	}
	etcd_watch_free_all(c);
	while ((n = c->evq_head) != NULL)
	{
		c->evq_head = n->next;
		etcd_event_clear(&n->ev);
		free(n);
	}
	if (c->event_fd >= 0)
		close(c->event_fd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	if (c->password)
	{
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->username);
	free(c);
	grpc_shutdown_blocking();
}

void
etcd_client_set_call_timeout(EtcdClient *c, int ms)
{
	if (c != NULL && ms > 0)
		atomic_store(&c->call_timeout_ms, ms);
}

const char *
etcd_client_endpoint(const EtcdClient *c)
{
	/* cur only changes on the owner's calls or on stream failures */
	return c->chans[c->cur].ep.target;
}

/* etcd_pick_endpoint_locked: the endpoint in use, or a READY one if not. */
int
etcd_pick_endpoint_locked(EtcdClient *c)
{
	if (c->chans[c->cur].state == GRPC_CHANNEL_READY)
		return c->cur;
	for (int i = 1; i < c->n_chans; i++)
	{
		int j = (c->cur + i) % c->n_chans;

		if (c->chans[j].state == GRPC_CHANNEL_READY)
		{
			c->cur = j;
			return j;
		}
	}
	return c->cur;
}
