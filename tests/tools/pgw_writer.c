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
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HOSTS 16

static volatile sig_atomic_t stop_flag;
static char *hosts[MAX_HOSTS];
static int	n_hosts;
static const char *user = "postgres";
static const char *password = "pgw-super";

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

static PGconn *
connect_host(int i, int timeout_s)
{
	char	   *h = strdup(hosts[i]);
	char	   *colon = strrchr(h, ':');
	const char *keys[] = {"host", "port", "user", "password", "dbname",
	"connect_timeout", "application_name", NULL};
	char		tmo[16];
	const char *vals[8];
	PGconn	   *c;

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
	return c;
}

static bool
exec_ok(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);
	bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
		PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok;
}

static bool
is_primary(PGconn *c)
{
	PGresult   *r = PQexec(c, "SELECT pg_is_in_recovery()");
	bool		ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		strcmp(PQgetvalue(r, 0, 0), "f") == 0;

	PQclear(r);
	return ok;
}

static PGconn *
find_primary(int timeout_s, int *which)
{
	for (int i = 0; i < n_hosts; i++)
	{
		PGconn	   *c = connect_host(i, timeout_s);

		if (c && is_primary(c))
		{
			*which = i;
			return c;
		}
		PQfinish(c);
	}
	return NULL;
}

static int
mode_write(const char *acked_path, int interval_ms, int duration_s)
{
	FILE	   *acked = fopen(acked_path, "a");
	PGconn	   *c = NULL;
	int			which = -1;
	int64_t		start = now_ms();
	int64_t		last_ack = 0;
	int64_t		max_gap = 0;
	long long	seq = 0;
	long long	n_acked = 0;
	long long	n_failed = 0;

	if (acked == NULL)
	{
		perror(acked_path);
		return 1;
	}
	setvbuf(acked, NULL, _IOLBF, 0);
	while (!stop_flag && now_ms() - start < (int64_t) duration_s * 1000)
	{
		char		sql[256];

		if (c == NULL)
		{
			c = find_primary(1, &which);
			if (c == NULL)
			{
				usleep(20000);
				continue;
			}
			exec_ok(c, "CREATE TABLE IF NOT EXISTS pgw_writes (seq bigint PRIMARY KEY, host text, at timestamptz DEFAULT now())");
			exec_ok(c, "SET statement_timeout = '2s'");
		}
		seq++;
		snprintf(sql, sizeof(sql),
				 "INSERT INTO pgw_writes (seq, host) VALUES (%lld, '%s')", seq,
				 hosts[which]);
		if (exec_ok(c, sql))
		{
			int64_t		t = now_ms();

			/* acknowledged: the commit returned success to the client */
			fprintf(acked, "%lld\n", seq);
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
	int64_t		start = now_ms();
	long long	samples = 0;
	long long	split = 0;
	int64_t		split_first = 0;
	int64_t		split_last = 0;
	PGconn	   *conns[MAX_HOSTS] = {0};

	while (!stop_flag && now_ms() - start < (int64_t) duration_s * 1000)
	{
		int			accepted = 0;

		for (int i = 0; i < n_hosts; i++)
		{
			if (conns[i] == NULL || PQstatus(conns[i]) != CONNECTION_OK)
			{
				PQfinish(conns[i]);
				conns[i] = connect_host(i, 1);
				if (conns[i])
					exec_ok(conns[i], "SET statement_timeout = '500ms'");
			}
			if (conns[i] == NULL)
				continue;
			/* a write that commits: only a writable primary accepts it */
			if (exec_ok(conns[i], "CREATE TEMP TABLE IF NOT EXISTS pgw_probe (x int); INSERT INTO pgw_probe VALUES (1); SELECT txid_current()"))
				accepted++;
			else if (PQstatus(conns[i]) != CONNECTION_OK)
			{
				PQfinish(conns[i]);
				conns[i] = NULL;
			}
		}
		samples++;
		if (accepted > 1)
		{
			int64_t		w = wall_ms();

			split++;
			if (split_first == 0)
				split_first = w;
			split_last = w;
			fprintf(stderr, "probe: split brain at %lld: %d hosts accepted writes\n",
					(long long) w, accepted);
		}
		usleep((useconds_t) interval_ms * 1000);
	}
	for (int i = 0; i < n_hosts; i++)
		PQfinish(conns[i]);
	/* wall-clock ms of the first and last split sample, so a test can
	 * tell which fault they belong to */
	printf("probe samples=%lld split_brain=%lld split_first_ms=%lld split_last_ms=%lld\n",
		   samples, split, (long long) split_first, (long long) split_last);
	return split > 0 ? 3 : 0;
}

static int
mode_verify(const char *acked_path, int duration_s)
{
	FILE	   *f = fopen(acked_path, "r");
	PGconn	   *c = NULL;
	int			which;
	int64_t		deadline = now_ms() + (int64_t) duration_s * 1000;
	long long	n = 0;
	long long	missing = 0;
	PGresult   *r;
	char		line[64];

	if (f == NULL)
	{
		perror(acked_path);
		return 1;
	}
	while (c == NULL && now_ms() < deadline)
	{
		c = find_primary(2, &which);
		if (c == NULL)
			usleep(200000);
	}
	if (c == NULL)
	{
		fprintf(stderr, "verify: no read-write host found\n");
		fclose(f);
		return 1;
	}
	exec_ok(c, "CREATE TEMP TABLE acked (seq bigint)");
	r = PQexec(c, "COPY acked FROM STDIN");
	PQclear(r);
	while (fgets(line, sizeof(line), f))
	{
		PQputCopyData(c, line, (int) strlen(line));
		n++;
	}
	PQputCopyEnd(c, NULL);
	PQclear(PQgetResult(c));
	fclose(f);
	r = PQexec(c, "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM pgw_writes w WHERE w.seq = a.seq)");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		missing = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
	{
		fprintf(stderr, "verify: %s", PQerrorMessage(c));
		missing = -1;
	}
	PQclear(r);
	PQfinish(c);
	printf("verify acked=%lld missing=%lld primary=%s\n", n, missing,
		   hosts[which]);
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
		{NULL, 0, NULL, 0}
	};
	const char *acked = "acked.txt";
	int			interval_ms = 10;
	int			duration_s = 60;
	char	   *list = NULL;
	int			o;

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
			default:
				return 2;
		}
	}
	if (list == NULL || optind >= argc || interval_ms < 1 || duration_s < 1)
	{
		fprintf(stderr, "usage: pgw_writer --hosts h:p,... [--acked F] [--interval-ms N] [--duration-s N] write|probe|verify\n");
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
