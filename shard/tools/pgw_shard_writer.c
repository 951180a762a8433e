/*
 * pgw_shard_writer.c: the sharding tests' and benchmarks' client, written
 * only against libpgwshard's public header (pgw_shard.h) and libpq, as an
 * application would be. Modes:
 *   write  : --threads T threads insert (user_id, seq) rows into --table for
 *            users 1..--users, round robin (thread t takes the users u with
 *            u % T == t; with --range, thread 0 takes the range's users and
 *            the others the rest), each through pgw_shard_lookup(); a refusal with
 *            SQLSTATE PW001 (the group does not own the slot) waits for the
 *            map to change and retries on the group the map names; a
 *            connection error retries the same row (a unique violation on
 *            the retry means the first attempt committed). Every
 *            acknowledged row is appended to --acked as
 *            "user_id seq group first_attempt_ms ack_ms attempts" (wall clock ms). At the
 *            end (SIGTERM or --duration-s) it prints one summary line with
 *            key=value figures, split by the slots of --range FROM-TO (the
 *            moved range) and the others.
 *   follow : print "version V gen G wall_ms T" each time the cached map
 *            changes (lookups following a map change), until stopped.
 *   lookup : time N lookups from the cache: "lookup_ns_per_call=X".
 */
#include "shard/pgw_shard.h"

#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS_MAX 16
#define CONNS_MAX   16

static volatile sig_atomic_t stop_flag;
static PgwShardClient *client;
static const char *table = "events";
static const char *password = "pgw-super";
static const char *user = "postgres";
static int n_users = 10000;
static int n_threads = 1;
static int range_from = -1;
static int range_to = -1;
static int slots = 4096;
static int interval_us;
static FILE *acked;
static pthread_mutex_t acked_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct Stats
{
	uint64_t acks;
	uint64_t refusals; /* PW001 */
	uint64_t conn_errors;
	uint64_t frozen_waits;
	uint64_t ambiguous; /* retried after a lost answer, was there */
	int64_t max_ms;     /* longest first attempt -> ack */
	uint64_t over_100ms;
} Stats;

typedef struct Worker
{
	int id;
	pthread_t thread;
	Stats moved; /* users whose slot is in --range */
	Stats others;
	struct
	{
		char key[300];
		PGconn *conn;
	} conns[CONNS_MAX];
} Worker;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void) sig;
	stop_flag = 1;
}

static PGconn *
conn_get(Worker *w, const PgwShardEndpoint *ep)
{
	char key[300];
	char port[16];
	int free_slot = -1;

	snprintf(key, sizeof(key), "%s:%d", ep->host, ep->port);
	for (int i = 0; i < CONNS_MAX; i++)
	{
		if (w->conns[i].conn && strcmp(w->conns[i].key, key) == 0)
			return w->conns[i].conn;
		if (w->conns[i].conn == NULL && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
	{
		PQfinish(w->conns[0].conn);
		w->conns[0].conn = NULL;
		free_slot = 0;
	}
	snprintf(port, sizeof(port), "%d", ep->port);
	{
		const char *keys[] = {"host",
		                      "port",
		                      "dbname",
		                      "user",
		                      "password",
		                      "connect_timeout",
		                      "tcp_user_timeout",
		                      "application_name",
		                      NULL};
		const char *vals[] = {ep->host, port, "postgres", user,
		                      password, "2",  "3000",     "pgw_shard_writer",
		                      NULL};
		PGconn *c = PQconnectdbParams(keys, vals, 0);

		if (PQstatus(c) != CONNECTION_OK)
		{
			PQfinish(c);
			return NULL;
		}
		snprintf(w->conns[free_slot].key, sizeof(w->conns[free_slot].key), "%s",
		         key);
		w->conns[free_slot].conn = c;
		return c;
	}
}

static void
conn_drop(Worker *w, PGconn *c)
{
	for (int i = 0; i < CONNS_MAX; i++)
		if (w->conns[i].conn == c)
		{
			PQfinish(c);
			w->conns[i].conn = NULL;
		}
}

/* one row, retried until acknowledged or stopped; true when acknowledged */
static bool
write_row(Worker *w, int64_t uid, int64_t seq)
{
	char uid_s[24];
	char seq_s[24];
	const char *params[2] = {uid_s, seq_s};
	char sql[256];
	int64_t first = wall_ms(); /* wall: benchmarks line it up with moves */
	int attempts = 0;
	bool lost_answer = false;
	int slot = pgw_shard_slot(uid, slots);
	Stats *st =
	    (slot >= range_from && slot <= range_to) ? &w->moved : &w->others;

	snprintf(uid_s, sizeof(uid_s), "%lld", (long long) uid);
	snprintf(seq_s, sizeof(seq_s), "%lld", (long long) seq);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s (user_id, seq, payload) VALUES ($1, $2, 'x')",
	         table);
	while (!stop_flag)
	{
		PgwShardLookup l;
		uint64_t gen = pgw_shard_generation(client);
		PGconn *c;
		PGresult *res;
		const char *state;

		attempts++;
		if (pgw_shard_lookup(client, uid, &l) != 0)
		{
			pgw_shard_wait_change(client, gen, 100);
			continue;
		}
		if (l.state == PGW_SHARD_FROZEN || !l.has_rw)
		{
			/* the last moment of a move, or a failover: wait for the map
			 * or the group's routing to change */
			st->frozen_waits++;
			pgw_shard_wait_change(client, gen, 100);
			continue;
		}
		if ((c = conn_get(w, &l.rw)) == NULL)
		{
			st->conn_errors++;
			pgw_shard_wait_change(client, gen, 50);
			continue;
		}
		res = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			int64_t ack = wall_ms();

			PQclear(res);
			st->acks++;
			if (ack - first > st->max_ms)
				st->max_ms = ack - first;
			if (ack - first > 100)
				st->over_100ms++;
			pthread_mutex_lock(&acked_lock);
			fprintf(acked, "%lld %lld %d %lld %lld %d\n", (long long) uid,
			        (long long) seq, l.group, (long long) first,
			        (long long) ack, attempts);
			pthread_mutex_unlock(&acked_lock);
			return true;
		}
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state && strcmp(state, PGW_SHARD_SQLSTATE) == 0)
		{
			/* the group does not own the slot (any more, or not yet):
			 * the map is about to change, or has and the group lags */
			st->refusals++;
			PQclear(res);
			pgw_shard_wait_change(client, gen, 50);
			continue;
		}
		if (state && strcmp(state, "23505") == 0 && lost_answer)
		{
			/* the attempt whose answer was lost had committed */
			int64_t ack = wall_ms();

			PQclear(res);
			st->acks++;
			st->ambiguous++;
			if (ack - first > st->max_ms)
				st->max_ms = ack - first;
			pthread_mutex_lock(&acked_lock);
			fprintf(acked, "%lld %lld %d %lld %lld %d\n", (long long) uid,
			        (long long) seq, l.group, (long long) first,
			        (long long) ack, attempts);
			pthread_mutex_unlock(&acked_lock);
			return true;
		}
		if (PQstatus(c) != CONNECTION_OK || state == NULL ||
		    strncmp(state, "57", 2) == 0 || strncmp(state, "08", 2) == 0 ||
		    strcmp(state, "25006") == 0)
		{
			/* a connection lost mid-statement: the outcome is unknown */
			lost_answer = true;
			st->conn_errors++;
			PQclear(res);
			conn_drop(w, c);
			pgw_shard_wait_change(client, gen, 50);
			continue;
		}
		fprintf(stderr, "pgw_shard_writer: user %lld seq %lld: %s",
		        (long long) uid, (long long) seq, PQresultErrorMessage(res));
		PQclear(res);
		usleep(50000);
	}
	return false;
}

static void *
worker_main(void *arg)
{
	Worker *w = arg;
	/* unique over runs: a base from the clock, then the thread */
	int64_t seq = (wall_ms() / 1000 % 100000) * 10000000000LL +
	              (int64_t) w->id * 1000000000LL;
	bool split = range_from >= 0 && n_threads > 1;
	/*
	 * With --range and several threads, thread 0 writes the range's users
	 * and the others share the rest: a write waiting out a freeze must not
	 * hold up the unaffected users, whose throughput is measured.
	 */
	int step = split ? (w->id == 0 ? 1 : n_threads - 1) : n_threads;
	int u = split ? (w->id == 0 ? 0 : w->id - 1) : w->id;

	while (!stop_flag)
	{
		int64_t uid = (u % n_users) + 1;
		int slot = pgw_shard_slot(uid, slots);
		bool in_range = slot >= range_from && slot <= range_to;

		u += step;
		if (split && in_range != (w->id == 0))
			continue;
		if (!write_row(w, uid, ++seq))
			break;
		if (interval_us)
			usleep((useconds_t) interval_us);
	}
	return NULL;
}

static void
print_stats(const char *name, const Stats *s, double secs)
{
	printf(
	    " %s_acks=%llu %s_per_s=%.0f %s_max_ms=%lld %s_over_100ms=%llu"
	    " %s_refusals=%llu %s_frozen_waits=%llu %s_conn_errors=%llu %s_ambiguous=%llu",
	    name, (unsigned long long) s->acks, name,
	    secs > 0 ? (double) s->acks / secs : 0, name, (long long) s->max_ms,
	    name, (unsigned long long) s->over_100ms, name,
	    (unsigned long long) s->refusals, name,
	    (unsigned long long) s->frozen_waits, name,
	    (unsigned long long) s->conn_errors, name,
	    (unsigned long long) s->ambiguous);
}

static void
add(Stats *a, const Stats *b)
{
	a->acks += b->acks;
	a->refusals += b->refusals;
	a->conn_errors += b->conn_errors;
	a->frozen_waits += b->frozen_waits;
	a->ambiguous += b->ambiguous;
	a->over_100ms += b->over_100ms;
	if (b->max_ms > a->max_ms)
		a->max_ms = b->max_ms;
}

static int
do_write(int duration_s, const char *acked_path)
{
	Worker *w = calloc((size_t) n_threads, sizeof(Worker));
	Stats moved = {0};
	Stats others = {0};
	int64_t start = now_ms();
	int64_t end;

	acked = fopen(acked_path, "a");
	if (acked == NULL || w == NULL)
	{
		perror("pgw_shard_writer: --acked");
		return 1;
	}
	setvbuf(acked, NULL, _IOLBF, 0);
	for (int i = 0; i < n_threads; i++)
	{
		w[i].id = i;
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	while (!stop_flag &&
	       (duration_s == 0 || now_ms() - start < duration_s * 1000LL))
		usleep(20000);
	stop_flag = 1;
	for (int i = 0; i < n_threads; i++)
	{
		pthread_join(w[i].thread, NULL);
		add(&moved, &w[i].moved);
		add(&others, &w[i].others);
		for (int j = 0; j < CONNS_MAX; j++)
			if (w[i].conns[j].conn)
				PQfinish(w[i].conns[j].conn);
	}
	end = now_ms();
	printf("writer seconds=%.1f", (double) (end - start) / 1000.0);
	print_stats("moved", &moved, (double) (end - start) / 1000.0);
	print_stats("others", &others, (double) (end - start) / 1000.0);
	printf(" map_version=%lld\n", (long long) pgw_shard_version(client));
	fclose(acked);
	free(w);
	return 0;
}

static int
do_follow(int duration_s)
{
	uint64_t gen = pgw_shard_generation(client);
	int64_t start = now_ms();
	int64_t last_version = pgw_shard_version(client);

	printf("version %lld gen %llu wall_ms %lld\n", (long long) last_version,
	       (unsigned long long) gen, (long long) wall_ms());
	fflush(stdout);
	while (!stop_flag &&
	       (duration_s == 0 || now_ms() - start < duration_s * 1000LL))
	{
		gen = pgw_shard_wait_change(client, gen, 200);
		if (pgw_shard_version(client) != last_version)
		{
			last_version = pgw_shard_version(client);
			printf("version %lld gen %llu wall_ms %lld\n",
			       (long long) last_version, (unsigned long long) gen,
			       (long long) wall_ms());
			fflush(stdout);
		}
	}
	return 0;
}

static double
ns_between(const struct timespec *a, const struct timespec *b)
{
	return (double) (b->tv_sec - a->tv_sec) * 1e9 +
	       (double) (b->tv_nsec - a->tv_nsec);
}

/*
 * do_lookup_bench: n lookups of spread-out user ids. Wall time per call and
 * this thread's CPU time per call: on a loaded machine the thread is often
 * off the CPU, and the wall figure then says more about the load than about
 * the lookup.
 */
static int
do_lookup_bench(long n)
{
	struct timespec a;
	struct timespec b;
	struct timespec ca;
	struct timespec cb;
	PgwShardLookup l;
	uint64_t sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
	for (long i = 0; i < n; i++)
	{
		if (pgw_shard_lookup(client, (int64_t) (i * 2654435761L), &l) == 0)
			sink += (uint64_t) l.group;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf(
	    "lookups=%ld lookup_ns_per_call=%.1f lookup_cpu_ns_per_call=%.1f checksum=%llu\n",
	    n, ns_between(&a, &b) / (double) n, ns_between(&ca, &cb) / (double) n,
	    (unsigned long long) sink);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"etcd", required_argument, NULL, 'e'},
	    {"scope", required_argument, NULL, 's'},
	    {"table", required_argument, NULL, 't'},
	    {"users", required_argument, NULL, 'u'},
	    {"threads", required_argument, NULL, 'T'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"acked", required_argument, NULL, 'a'},
	    {"range", required_argument, NULL, 'r'},
	    {"slots", required_argument, NULL, 'S'},
	    {"interval-us", required_argument, NULL, 'i'},
	    {"password", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0}};
	PgwShardConfig cfg = {0};
	const char *acked_path = NULL;
	int duration_s = 0;
	long count = 1000000;
	char errbuf[512];
	int o;
	int rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'e':
				cfg.etcd_endpoints = optarg;
				break;
			case 's':
				cfg.scope = optarg;
				break;
			case 't':
				table = optarg;
				break;
			case 'u':
				n_users = (int) strtol(optarg, NULL, 10);
				break;
			case 'T':
				n_threads = (int) strtol(optarg, NULL, 10);
				break;
			case 'd':
				duration_s = (int) strtol(optarg, NULL, 10);
				break;
			case 'a':
				acked_path = optarg;
				break;
			case 'r':
				if (sscanf(optarg, "%d-%d", &range_from, &range_to) != 2)
					return 2;
				break;
			case 'S':
				slots = (int) strtol(optarg, NULL, 10);
				break;
			case 'i':
				interval_us = (int) strtol(optarg, NULL, 10);
				break;
			case 'p':
				password = optarg;
				break;
			case 'n':
				count = strtol(optarg, NULL, 10);
				break;
			default:
				return 2;
		}
	}
	if (optind >= argc || cfg.etcd_endpoints == NULL || cfg.scope == NULL ||
	    n_users < 1 || n_threads < 1 || n_threads > THREADS_MAX || count < 1)
	{
		fprintf(
		    stderr,
		    "usage: pgw_shard_writer --etcd H:P --scope S [options] write|follow|lookup\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (pgw_shard_open(&cfg, &client, errbuf, sizeof(errbuf)) != 0)
	{
		fprintf(stderr, "pgw_shard_writer: %s\n", errbuf);
		return 1;
	}
	if (strcmp(argv[optind], "write") == 0 && acked_path)
		rc = do_write(duration_s, acked_path);
	else if (strcmp(argv[optind], "follow") == 0)
		rc = do_follow(duration_s);
	else if (strcmp(argv[optind], "lookup") == 0)
		rc = do_lookup_bench(count);
	else
		rc = 2;
	pgw_shard_close(client);
	return rc;
}
