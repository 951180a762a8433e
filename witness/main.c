/*
 * main.c: pgwarden-witness, the lease witness process (witness.h). The
 * daemon starts it (proc.c) with the shared page on a descriptor and the
 * local PostgreSQL's address; it is not meant to be run by hand.
 */
#include "witness/witness.h"

#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static const char usage[] =
    "usage: pgwarden-witness --share-fd N --host DIR --port P --user ROLE\n"
    "                        --superuser ROLE --passfile FILE [--node NAME]\n"
    "                        [--parent PID] [--log-level LEVEL]\n\n"
    "The lease witness of pgwarden (issue 19): started by the pgwarden daemon\n"
    "on the primary's node, it confirms commits to PostgreSQL only while the\n"
    "leader's fencing deadline (read from the page on fd N) is in the future.\n";

/* number: a whole decimal argument within [min, max] */
static int
number(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr,
		        "pgwarden-witness: %s: \"%s\" is not a number in %ld..%ld\n",
		        opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"share-fd", required_argument, NULL, 'f'},
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"user", required_argument, NULL, 'U'},
	    {"superuser", required_argument, NULL, 'S'},
	    {"passfile", required_argument, NULL, 'P'},
	    {"node", required_argument, NULL, 'n'},
	    {"parent", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0},
	};
	WitnessRunConfig cfg;
	const char *node = NULL;
	LogLevel level = LOG_LEVEL_INFO;
	long v;
	int c;

	memset(&cfg, 0, sizeof(cfg));
	cfg.share_fd = -1;
	cfg.app_name = WITNESS_APP_NAME;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'f':
				if (number("--share-fd", optarg, 0, INT_MAX, &v) != 0)
					return 2;
				cfg.share_fd = (int) v;
				break;
			case 'h':
				cfg.host = optarg;
				break;
			case 'p':
				if (number("--port", optarg, 1, 65535, &v) != 0)
					return 2;
				cfg.port = (int) v;
				break;
			case 'U':
				cfg.repl_user = optarg;
				break;
			case 'S':
				cfg.superuser = optarg;
				break;
			case 'P':
				cfg.passfile = optarg;
				break;
			case 'n':
				node = optarg;
				break;
			case 'r':
				if (number("--parent", optarg, 1, INT_MAX, &v) != 0)
					return 2;
				cfg.parent = (pid_t) v;
				break;
			case 'l':
				if (log_parse_level(optarg, &level) != 0)
				{
					fprintf(
					    stderr,
					    "pgwarden-witness: --log-level: \"%s\" is not debug, info, warn or error\n",
					    optarg);
					return 2;
				}
				break;
			case 'H':
				fputs(usage, stdout);
				return 0;
			default:
				fputs(usage, stderr);
				return 2;
		}
	}
	if (optind != argc || cfg.share_fd < 0 || cfg.host == NULL ||
	    cfg.port == 0 || cfg.repl_user == NULL || cfg.superuser == NULL ||
	    cfg.passfile == NULL)
	{
		fprintf(
		    stderr,
		    "pgwarden-witness: --share-fd, --host, --port, --user, --superuser and --passfile are required\n%s",
		    usage);
		return 2;
	}
	/* it reads the pgpass file: no core dumps, no ptrace by others */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	log_init("pgwarden-witness", level);
	if (node != NULL)
	{
		char prefix[128];

		snprintf(prefix, sizeof(prefix), "node=%s", node);
		log_set_prefix(prefix);
	}
	return witness_run(&cfg);
}
