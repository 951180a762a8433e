/*
 * cli.c: see cli.h.
 */
#include "common/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int
cli_parse(const CliProgram *prog, int argc, char **argv, CliArgs *out)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int o;

	out->config_path = getenv(prog->config_env);
	out->check_only = false;
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:kVh", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'c':
				out->config_path = optarg;
				break;
			case 'k':
				out->check_only = true;
				break;
			case 'V':
				printf("%s version %s\n", prog->name, PGW_VERSION);
				return 0;
			case 'h':
				fputs(prog->usage, stdout);
				return 0;
			default:
				fputs(prog->usage, stderr);
				return 2;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog->name,
		        argv[optind]);
		return 2;
	}
	if (out->config_path == NULL || out->config_path[0] == '\0')
		out->config_path = prog->config_default;
	return -1;
}
