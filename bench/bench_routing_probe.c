/*
 * bench_routing_probe.c: a client loop through a pool or proxy, for
 * bench/bench_routing.sh and tests/integration/test_routing_cluster.sh
 * (issue 7). Every --interval-ms it runs one statement whose first value is
 * the server's port (inet_server_port()), over a fresh connection
 * (--fresh) or one it keeps (reconnecting after an error), and logs one
 * line per attempt:
 *   <end_wall_ms> ok <port> <duration_ms>
 *   <end_wall_ms> err <duration_ms> <message>
 * so a checker can tell where every acknowledged write landed and when.
 * Every attempt (connect + statement) is bounded by --timeout-ms, the loop by
 * --duration-s; SIGTERM/SIGINT stop it. At exit it prints one summary line:
 *   probe attempts=N ok=N errors=N max_gap_ms=N first_ok_wall_ms=N ports=P:n,...
 * --until-port P stops after the first acknowledged answer from port P;
 * --count N after N attempts. Exit 0, or 1 when --until-port was not met.
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
#include <unistd.h>

#define PORTS_MAX 16

static volatile sig_atomic_t stop_flag;

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_ms(void)
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

static void
usage(void)
{
	fprintf(stderr,
	        "usage: bench_routing_probe --conninfo STR [--sql SQL] [--fresh]\n"
	        "         [--interval-ms N] [--duration-s N] [--timeout-ms N]\n"
	        "         [--until-port P] [--count N] [--log FILE]\n");
}

/* wait for fd to be ready for events, until deadline; false on timeout */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;)
	{
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0 || stop_flag)
			return false;
		n = poll(&p, 1, (int) (left > 100 ? 100 : left));
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

/* connect within the deadline; NULL and msg on failure */
static PGconn *
connect_bounded(const char *conninfo, int64_t deadline, char *msg, size_t len)
{
	PGconn *c = PQconnectStart(conninfo);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (c == NULL)
	{
		snprintf(msg, len, "out of memory");
		return NULL;
	}
	if (PQstatus(c) == CONNECTION_BAD)
		st = PGRES_POLLING_FAILED;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		if (!wait_fd(PQsocket(c),
		             st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline))
		{
			snprintf(msg, len, "connect timed out");
			PQfinish(c);
			return NULL;
		}
		st = PQconnectPoll(c);
	}
	if (st == PGRES_POLLING_FAILED)
	{
		snprintf(msg, len, "%s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* run sql within the deadline: the first value as a port, or -1 and msg */
static int
query_bounded(PGconn *c, const char *sql, int64_t deadline, char *msg,
              size_t len)
{
	PGresult *r;
	int port = -1;
	bool failed = false;

	if (!PQsendQuery(c, sql))
	{
		snprintf(msg, len, "%s", PQerrorMessage(c));
		return -1;
	}
	while (PQisBusy(c))
	{
		if (!wait_fd(PQsocket(c), POLLIN, deadline))
		{
			snprintf(msg, len, "statement timed out");
			return -1;
		}
		if (!PQconsumeInput(c))
		{
			snprintf(msg, len, "%s", PQerrorMessage(c));
			return -1;
		}
	}
	while ((r = PQgetResult(c)) != NULL)
	{
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) >= 1 &&
		    PQnfields(r) >= 1 && port < 0 && !failed)
			port = (int) strtol(PQgetvalue(r, 0, 0), NULL, 10);
		else if (PQresultStatus(r) != PGRES_TUPLES_OK &&
		         PQresultStatus(r) != PGRES_COMMAND_OK && !failed)
		{
			failed = true;
			snprintf(msg, len, "%s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	if (failed)
		return -1;
	if (port <= 0)
	{
		snprintf(msg, len, "no port in the answer");
		return -1;
	}
	return port;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"conninfo", required_argument, NULL, 'c'},
	    {"sql", required_argument, NULL, 's'},
	    {"fresh", no_argument, NULL, 'f'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"until-port", required_argument, NULL, 'u'},
	    {"count", required_argument, NULL, 'n'},
	    {"log", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0}};
	const char *conninfo = NULL;
	const char *sql =
	    "INSERT INTO pgw_route(port) VALUES (inet_server_port()) RETURNING port";
	bool fresh = false;
	long interval_ms = 10;
	long duration_s = 60;
	long timeout_ms = 5000;
	long until_port = 0;
	long count = 0;
	FILE *log = stdout;
	PGconn *conn = NULL;
	long attempts = 0;
	long ok = 0;
	long errors = 0;
	int64_t first_ok = 0;
	int64_t last_ok_mono = 0;
	int64_t max_gap = 0;
	int ports[PORTS_MAX];
	long port_n[PORTS_MAX];
	int n_ports = 0;
	bool met = false;
	int64_t end;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		char *e = NULL;
		long v = 0;

		if (o != 'c' && o != 's' && o != 'f' && o != 'l')
		{
			v = strtol(optarg, &e, 10);
			if (e == optarg || *e != '\0' || v < 0 || v > 86400000)
			{
				fprintf(stderr, "bench_routing_probe: bad value \"%s\"\n",
				        optarg);
				return 2;
			}
		}
		switch (o)
		{
			case 'c':
				conninfo = optarg;
				break;
			case 's':
				sql = optarg;
				break;
			case 'f':
				fresh = true;
				break;
			case 'i':
				interval_ms = v;
				break;
			case 'd':
				duration_s = v;
				break;
			case 't':
				timeout_ms = v > 0 ? v : 1;
				break;
			case 'u':
				until_port = v;
				break;
			case 'n':
				count = v;
				break;
			case 'l':
				log = fopen(optarg, "a");
				if (log == NULL)
				{
					perror(optarg);
					return 2;
				}
				break;
			default:
				usage();
				return 2;
		}
	}
	if (conninfo == NULL || optind != argc)
	{
		usage();
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(log, NULL, _IOLBF, 0);
	end = mono_ms() + duration_s * 1000;
	while (!stop_flag && mono_ms() < end && (count == 0 || attempts < count))
	{
		int64_t start = mono_ms();
		int64_t deadline = start + timeout_ms;
		char msg[512] = "";
		int port = -1;

		attempts++;
		if (conn == NULL)
			conn = connect_bounded(conninfo, deadline, msg, sizeof(msg));
		if (conn != NULL)
			port = query_bounded(conn, sql, deadline, msg, sizeof(msg));
		if (port > 0)
		{
			int64_t now = mono_ms();
			int k;

			ok++;
			if (first_ok == 0)
				first_ok = wall_ms();
			if (last_ok_mono > 0 && now - last_ok_mono > max_gap)
				max_gap = now - last_ok_mono;
			last_ok_mono = now;
			for (k = 0; k < n_ports && ports[k] != port; k++)
				;
			if (k == n_ports && n_ports < PORTS_MAX)
			{
				ports[n_ports] = port;
				port_n[n_ports++] = 0;
			}
			if (k < PORTS_MAX)
				port_n[k]++;
			fprintf(log, "%lld ok %d %lld\n", (long long) wall_ms(), port,
			        (long long) (now - start));
			if (until_port > 0 && port == until_port)
			{
				met = true;
				break;
			}
		}
		else if (stop_flag)
			break; /* interrupted, not failed */
		else
		{
			errors++;
			msg[strcspn(msg, "\n")] = '\0';
			fprintf(log, "%lld err %lld %s\n", (long long) wall_ms(),
			        (long long) (mono_ms() - start), msg);
			PQfinish(conn);
			conn = NULL;
		}
		if (fresh && conn != NULL)
		{
			PQfinish(conn);
			conn = NULL;
		}
		if (interval_ms > 0)
			usleep((useconds_t) interval_ms * 1000);
	}
	PQfinish(conn);
	printf(
	    "probe attempts=%ld ok=%ld errors=%ld max_gap_ms=%lld first_ok_wall_ms=%lld ports=",
	    attempts, ok, errors, (long long) max_gap, (long long) first_ok);
	for (int k = 0; k < n_ports; k++)
		printf("%s%d:%ld", k ? "," : "", ports[k], port_n[k]);
	printf("\n");
	if (log != stdout)
		fclose(log);
	return until_port > 0 && !met ? 1 : 0;
}
