/*
 * main.c: the pgwarden daemon's entry point: arguments, configuration,
 * logging, then the loop (loop.c). Only main() exits (STYLE.md "Errors").
 */
#include "daemon/daemon.h"

#include "common/log.h"
#include "config/config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: pgwarden [-c CONFIG] [--check-config] [--version]\n\n"
			"Runs the pgwarden high-availability daemon for one PostgreSQL node.\n"
			"CONFIG defaults to $PGWARDEN_CONFIG or /etc/pgwarden/pgwarden.yml;\n"
			"PGWARDEN_* environment variables override its keys.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *path = getenv("PGWARDEN_CONFIG");
	bool		check_only = false;
	NodeConfig	cfg;
	PgwError	err = {0};
	int			o;
	int			rc;

	while ((o = getopt_long(argc, argv, "c:kVh", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'c':
				path = optarg;
				break;
			case 'k':
				check_only = true;
				break;
			case 'V':
				printf("pgwarden version %s\n", PGW_VERSION);
				return 0;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "pgwarden: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (path == NULL)
		path = "/etc/pgwarden/pgwarden.yml";
	log_init("pgwarden", LOG_LEVEL_INFO);
	memset(&cfg, 0, sizeof(cfg));
	if (config_load_file(path, &cfg, &err) != 0 ||
		config_apply_env(&cfg, environ, &err) != 0 ||
		config_validate(&cfg, &err) != 0)
	{
		fprintf(stderr, "pgwarden: %s\n", err.msg);
		config_free(&cfg);
		return 2;
	}
	if (check_only)
	{
		printf("pgwarden: configuration %s is valid\n", path);
		config_free(&cfg);
		return 0;
	}
	rc = daemon_run(&cfg, path);
	config_free(&cfg);
	return rc;
}
