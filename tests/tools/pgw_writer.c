/*
 * pgw_writer.c: the tests' and drills' writer and checker (DESIGN.md
 * "The promises"). Modes:
 *   write  : commit sequence numbers every --interval-ms to whichever host
 *            is read-write, append every *acknowledged* seq to --acked, and
 *            print the longest gap between two acknowledged commits (write
 *            downtime) when stopped (SIGTERM / --duration-s).
 *   probe  : every --interval-ms try a write on *every* host at once and
 *            count samples where two hosts accepted (split brain); print
 *            "probe samples=N split_brain=M".
 *   verify : read the acknowledged seqs from --acked and count those missing
 *            on the current read-write host: "verify acked=N missing=M".
 * Hosts are "h:p,h:p". Every loop is bounded by --duration-s.
 * Options for the chaos drills (tests/chaos): --log F appends one line per
 * acknowledged write ("wall_ms seq host", write mode) or per probe attempt
 * ("start_wall_ms end_wall_ms host ok", probe mode, failed connects
 * included), so a checker (tests/tools/pgw_logcheck.py) can line up
 * several probes and the fault times; --client-timeout-ms N
 * abandons a statement (and its connection) that gets no answer within N
 * ms, as a frozen or partitioned server gives none.
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HOSTS 16

static volatile sig_atomic_t stop_flag;
static char *hosts[MAX_HOSTS];
static int n_hosts;
static const char *user = "postgres";
static const char *password = "pgw-super";
static FILE *log_file;        /* --log */
static int client_timeout_ms; /* --client-timeout-ms (0: wait forever) */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void) sig;
	stop_flag = 1;
}

/*
 * A commit whose wait for synchronous replication is cancelled (statement
 * timeout, cancel request) returns success with a WARNING: committed
 * locally, maybe never replicated. The notice processor flags it, and
 * exec_ok counts such a "success" as not acknowledged (in synchronous mode
 * it would otherwise show as a lost acknowledged commit, or on a primary
 * cut from its standbys as an accepted write).
 */
static bool sync_wait_cancelled;

static void
on_notice(void *arg, const char *msg)
{
	(void) arg;
	if (strstr(msg, "canceling wait for synchronous replication") != NULL)
		sync_wait_cancelled = true;
}

static PGconn *
connect_host(int i, int timeout_s)
{
	char *h = strdup(hosts[i]);
	char *colon = strrchr(h, ':');
	const char *keys[] = {"host",
	                      "port",
	                      "user",
	                      "password",
	                      "dbname",
	                      "connect_timeout",
	                      "application_name",
	                      NULL};
	char tmo[16];
	const char *vals[8];
	PGconn *c;

	if (colon == NULL)
	{
		free(h);
		return NULL;
	}
	*colon = '\0';
	snprintf(tmo, sizeof(tmo), "%d", timeout_s);
	vals[0] = h;
	vals[1] = colon + 1;
	vals[2] = user;
	vals[3] = password;
	vals[4] = "postgres";
	vals[5] = tmo;
	vals[6] = "pgw_writer";
	vals[7] = NULL;
	c = PQconnectdbParams(keys, vals, 0);
	free(h);
	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, on_notice, NULL);
	return c;
}

static int64_t wall_ms(void);
static int64_t now_ms(void);


/*
 * exec_result: run sql and wait at most client_timeout_ms (when set) for its
 * answer; the last result, or NULL on error or timeout. On timeout the
 * socket is shut down (the caller drops the connection): a frozen or
 * partitioned server would never answer a cancel either.
 */
static PGresult *
exec_result(PGconn *c, const char *sql)
{
	int64_t deadline = now_ms() + client_timeout_ms;
	PGresult *r;
	PGresult *last = NULL;

	if (client_timeout_ms <= 0)
		return PQexec(c, sql);
	if (!PQsendQuery(c, sql))
		return NULL;
	for (;;)
	{
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
		int64_t left;

		if (!PQconsumeInput(c))
			return NULL;
		if (!PQisBusy(c))
			break;
		left = deadline - now_ms();
		if (left <= 0)
		{
			shutdown(PQsocket(c), SHUT_RDWR);
			return NULL;
		}
		if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
			return NULL;
	}
	while ((r = PQgetResult(c)) != NULL)
	{
		PQclear(last);
		last = r;
	}
	return last;
}

static bool
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r;
	bool ok;

	sync_wait_cancelled = false;
	r = exec_result(c, sql);
	ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK ||
	           PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
	if (ok && sync_wait_cancelled)
	{
		fprintf(
		    stderr,
		    "pgw_writer: commit's synchronous replication wait was cancelled: not counted as acknowledged\n");
		ok = false;
	}
	return ok;
}

static bool
is_primary(PGconn *c)
{
	PGresult *r = exec_result(c, "SELECT pg_is_in_recovery()");
	bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	          strcmp(PQgetvalue(r, 0, 0), "f") == 0;

	PQclear(r);
	return ok;
}

/*
 * find_primary_parallel: connect to every host at once (bounded by
 * timeout_s) and return the first read-write one, so that a host that
 * drops packets costs one timeout per scan, not one per host.
 */
static PGconn *
find_primary_parallel(int timeout_s, int *which)
{
	PGconn *cs[MAX_HOSTS] = {0};
	bool done[MAX_HOSTS] = {0};
	PostgresPollingStatusType want[MAX_HOSTS];
	int64_t deadline = now_ms() + (int64_t) timeout_s * 1000;
	PGconn *found = NULL;
	int pending = n_hosts;

	for (int i = 0; i < n_hosts; i++)
	{
		char *h = strdup(hosts[i]);
		char *colon = strrchr(h, ':');
		const char *keys[] = {"host",     "port",   "user",
		                      "password", "dbname", "application_name",
		                      NULL};
		const char *vals[7];

		if (colon == NULL)
		{
			free(h);
			done[i] = true;
			pending--;
			continue;
		}
		*colon = '\0';
		vals[0] = h;
		vals[1] = colon + 1;
		vals[2] = user;
		vals[3] = password;
		vals[4] = "postgres";
		vals[5] = "pgw_writer";
		vals[6] = NULL;
		cs[i] = PQconnectStartParams(keys, vals, 0);
		want[i] = PGRES_POLLING_WRITING;
		free(h);
		if (cs[i] == NULL || PQstatus(cs[i]) == CONNECTION_BAD)
		{
			done[i] = true;
			pending--;
		}
	}
	/*
	 * libpq's contract: call PQconnectPoll only once the socket is ready for
	 * what it last asked (writing, at first). Polling a connection whose
	 * connect() is still in progress made libpq send the startup packet on
	 * it and block in its own poll() with no timeout: the writer froze for
	 * as long as a host dropped its packets (a whole isolation drill).
	 */
	while (pending > 0 && found == NULL && now_ms() < deadline)
	{
		struct pollfd pfd[MAX_HOSTS];
		int idx[MAX_HOSTS];
		int np = 0;
		int64_t left = deadline - now_ms();

		for (int i = 0; i < n_hosts; i++)
		{
			if (done[i])
				continue;
			pfd[np].fd = PQsocket(cs[i]);
			pfd[np].events =
			    want[i] == PGRES_POLLING_READING ? POLLIN : POLLOUT;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (np == 0 || poll(pfd, (nfds_t) np, left < 20 ? (int) left : 20) < 0)
			break;
		for (int k = 0; k < np && found == NULL; k++)
		{
			int i = idx[k];
			PostgresPollingStatusType st;

			if (pfd[k].revents == 0)
				continue;
			st = PQconnectPoll(cs[i]);
			if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED)
			{
				done[i] = true;
				pending--;
				/* the first primary ends the scan: waiting for the other
				 * hosts (one restarting, say) cost up to the whole timeout */
				if (st == PGRES_POLLING_OK && is_primary(cs[i]))
				{
					PQsetNoticeProcessor(cs[i], on_notice, NULL);
					found = cs[i];
					*which = i;
				}
				continue;
			}
			want[i] = st;
		}
	}
	for (int i = 0; i < n_hosts; i++)
	{
		if (cs[i] != NULL && cs[i] != found)
			PQfinish(cs[i]);
	}
	return found;
}

static PGconn *
find_primary(int timeout_s, int *which)
{
	if (client_timeout_ms > 0)
		return find_primary_parallel(timeout_s, which);
	for (int i = 0; i < n_hosts; i++)
	{
		PGconn *c = connect_host(i, timeout_s);

		if (c && is_primary(c))
		{
			*which = i;
			return c;
		}
		PQfinish(c);
	}
	return NULL;
}

/* last_seq: the highest seq already in the acked file (a restarted writer
 * continues after it instead of colliding with its own rows) */
static long long
last_seq(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[64];
	long long max = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
	{
		long long v = strtoll(line, NULL, 10);

		if (v > max)
			max = v;
	}
	fclose(f);
	return max;
}

static int
mode_write(const char *acked_path, int interval_ms, int duration_s)
{
	FILE *acked = fopen(acked_path, "a");
	PGconn *c = NULL;
	int which = -1;
	int64_t start = now_ms();
	int64_t last_ack = 0;
	int64_t max_gap = 0;
	long long seq = last_seq(acked_path);
	long long n_acked = 0;
	long long n_failed = 0;

	if (acked == NULL)
	{
		perror(acked_path);
		return 1;
	}
	setvbuf(acked, NULL, _IOLBF, 0);
	while (!stop_flag && now_ms() - start < (int64_t) duration_s * 1000)
	{
		char sql[256];

		if (c == NULL)
		{
			c = find_primary(1, &which);
			if (c == NULL)
			{
				usleep(20000);
				continue;
			}
			exec_ok(
			    c,
			    "CREATE TABLE IF NOT EXISTS pgw_writes (seq bigint PRIMARY KEY, host text, at timestamptz DEFAULT now())");
			exec_ok(c, "SET statement_timeout = '2s'");
		}
		seq++;
		snprintf(sql, sizeof(sql),
		         "INSERT INTO pgw_writes (seq, host) VALUES (%lld, '%s')", seq,
		         hosts[which]);
		if (exec_ok(c, sql))
		{
			int64_t t = now_ms();

			/* acknowledged: the commit returned success to the client */
			fprintf(acked, "%lld\n", seq);
			if (log_file)
				fprintf(log_file, "%lld %lld %s\n", (long long) wall_ms(), seq,
				        hosts[which]);
			if (last_ack > 0 && t - last_ack > max_gap)
				max_gap = t - last_ack;
			last_ack = t;
			n_acked++;
		}
		else
		{
			n_failed++;
			PQfinish(c);
			c = NULL;
		}
		usleep((useconds_t) interval_ms * 1000);
	}
	PQfinish(c);
	fclose(acked);
	printf("write acked=%lld failed=%lld max_gap_ms=%lld\n", n_acked, n_failed,
	       (long long) max_gap);
	return 0;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
mode_probe(int interval_ms, int duration_s)
{
	int64_t start = now_ms();
	long long samples = 0;
	long long split = 0;
	int64_t split_first = 0;
	int64_t split_last = 0;
	PGconn *conns[MAX_HOSTS] = {0};

	while (!stop_flag && now_ms() - start < (int64_t) duration_s * 1000)
	{
		int accepted = 0;

		for (int i = 0; i < n_hosts; i++)
		{
			if (conns[i] == NULL || PQstatus(conns[i]) != CONNECTION_OK)
			{
				int64_t t_start = wall_ms();

				PQfinish(conns[i]);
				conns[i] = connect_host(i, 1);
				/* without a client timeout a server-side one bounds the
				 * attempt (a cancelled sync wait is not counted: on_notice) */
				if (conns[i] && client_timeout_ms <= 0)
					exec_ok(conns[i], "SET statement_timeout = '500ms'");
				if (conns[i] == NULL)
				{
					/* a failed connect is an attempt too: a checker can
					 * tell a probe that saw "down" from one that saw
					 * nothing (dead, or stuck) */
					if (log_file)
						fprintf(log_file, "%lld %lld %s 0\n",
						        (long long) t_start, (long long) wall_ms(),
						        hosts[i]);
					continue;
				}
			}
			/* a write that commits: only a writable primary accepts it */
			{
				int64_t t_start = wall_ms();
				bool ok = exec_ok(
				    conns[i],
				    "CREATE TEMP TABLE IF NOT EXISTS pgw_probe (x int); INSERT INTO pgw_probe VALUES (1); SELECT txid_current()");

				if (log_file)
					fprintf(log_file, "%lld %lld %s %d\n", (long long) t_start,
					        (long long) wall_ms(), hosts[i], ok ? 1 : 0);
				if (ok)
					accepted++;
				else if (PQstatus(conns[i]) != CONNECTION_OK ||
				         client_timeout_ms > 0)
				{
					/* after a client timeout the socket is unusable */
					PQfinish(conns[i]);
					conns[i] = NULL;
				}
			}
		}
		samples++;
		if (accepted > 1)
		{
			int64_t w = wall_ms();

			split++;
			if (split_first == 0)
				split_first = w;
			split_last = w;
			fprintf(stderr,
			        "probe: split brain at %lld: %d hosts accepted writes\n",
			        (long long) w, accepted);
		}
		usleep((useconds_t) interval_ms * 1000);
	}
	for (int i = 0; i < n_hosts; i++)
		PQfinish(conns[i]);
	/* wall-clock ms of the first and last split sample, so a test can
	 * tell which fault they belong to */
	printf(
	    "probe samples=%lld split_brain=%lld split_first_ms=%lld split_last_ms=%lld\n",
	    samples, split, (long long) split_first, (long long) split_last);
	return split > 0 ? 3 : 0;
}

/*
 * verify_once: one attempt on connection c: load the acked sequence numbers
 * into a temp table and count those missing from pgw_writes. -1 when any
 * step fails (in synchronous mode a primary whose standby is still coming
 * back blocks even the temp table's commit; the caller retries).
 */
static long long
verify_once(PGconn *c, const char *acked_path, long long *n_out)
{
	FILE *f = fopen(acked_path, "r");
	PGresult *r;
	char line[64];
	long long n = 0;
	long long missing = -1;

	if (f == NULL)
		return -1;
	if (!exec_ok(c, "CREATE TEMP TABLE IF NOT EXISTS acked (seq bigint)") ||
	    !exec_ok(c, "TRUNCATE acked"))
	{
		fclose(f);
		return -1;
	}
	r = PQexec(c, "COPY acked FROM STDIN");
	PQclear(r);
	while (fgets(line, sizeof(line), f))
	{
		PQputCopyData(c, line, (int) strlen(line));
		n++;
	}
	PQputCopyEnd(c, NULL);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	fclose(f);
	r = exec_result(
	    c,
	    "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM pgw_writes w WHERE w.seq = a.seq)");
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		missing = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		fprintf(stderr, "verify: %s", PQerrorMessage(c));
	PQclear(r);
	*n_out = n;
	return missing;
}

static int
mode_verify(const char *acked_path, int duration_s)
{
	int64_t deadline = now_ms() + (int64_t) duration_s * 1000;
	long long n = 0;
	long long missing = -1;
	int which = -1;
	int attempts = 0;

	if (access(acked_path, R_OK) != 0)
	{
		perror(acked_path);
		return 1;
	}
	/* bounded: until the deadline, one attempt at a time */
	while (now_ms() < deadline)
	{
		PGconn *c = find_primary(2, &which);

		if (c != NULL)
		{
			attempts++;
			missing = verify_once(c, acked_path, &n);
			PQfinish(c);
			if (missing >= 0)
				break;
		}
		usleep(200000);
	}
	if (missing < 0)
	{
		fprintf(stderr,
		        "verify: no read-write host could be verified (%d attempts)\n",
		        attempts);
		return 1;
	}
	printf("verify acked=%lld missing=%lld primary=%s attempts=%d\n", n,
	       missing, hosts[which], attempts);
	return missing == 0 ? 0 : 3;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"hosts", required_argument, NULL, 'H'},
	    {"acked", required_argument, NULL, 'a'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"user", required_argument, NULL, 'U'},
	    {"password", required_argument, NULL, 'P'},
	    {"log", required_argument, NULL, 'L'},
	    {"client-timeout-ms", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0}};
	const char *acked = "acked.txt";
	int interval_ms = 10;
	int duration_s = 60;
	char *list = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'H':
				list = strdup(optarg);
				break;
			case 'a':
				acked = optarg;
				break;
			case 'i':
				interval_ms = (int) strtol(optarg, NULL, 10);
				break;
			case 'd':
				duration_s = (int) strtol(optarg, NULL, 10);
				break;
			case 'U':
				user = optarg;
				break;
			case 'P':
				password = optarg;
				break;
			case 'L':
				log_file = fopen(optarg, "a");
				if (log_file == NULL)
				{
					perror(optarg);
					return 1;
				}
				setvbuf(log_file, NULL, _IOLBF, 0);
				break;
			case 'T':
				client_timeout_ms = (int) strtol(optarg, NULL, 10);
				break;
			default:
				return 2;
		}
	}
	if (list == NULL || optind >= argc || interval_ms < 1 || duration_s < 1)
	{
		fprintf(
		    stderr,
		    "usage: pgw_writer --hosts h:p,... [--acked F] [--interval-ms N] [--duration-s N] [--log F] [--client-timeout-ms N] write|probe|verify\n");
		return 2;
	}
	for (char *save = NULL, *t = strtok_r(list, ",", &save);
	     t && n_hosts < MAX_HOSTS; t = strtok_r(NULL, ",", &save))
		hosts[n_hosts++] = t;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[optind], "write") == 0)
		return mode_write(acked, interval_ms, duration_s);
	if (strcmp(argv[optind], "probe") == 0)
		return mode_probe(interval_ms, duration_s);
	if (strcmp(argv[optind], "verify") == 0)
		return mode_verify(acked, duration_s);
	fprintf(stderr, "pgw_writer: unknown mode \"%s\"\n", argv[optind]);
	return 2;
}
