/*
 * main.c: pgwarden-router's entry point: arguments, configuration, logging,
 * then the loop (router.c). Runs beside one PgBouncer / HAProxy / VIP
 * (notes R1). Only main() exits (STYLE.md "Errors").
 */
#include "routing/routing_int.h"

#include "common/cli.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const CliProgram program = {
    .name = "pgwarden-router",
    .config_env = "PGWARDEN_ROUTER_CONFIG",
    .config_default = "/etc/pgwarden/pgwarden-router.yml",
    .usage =
        "usage: pgwarden-router [-c CONFIG] [--check-config] [--version]\n\n"
        "Watches the routing table a pgwarden leader publishes in etcd and\n"
        "applies it to PgBouncer, HAProxy, a template + hook, or a VIP.\n"
        "CONFIG defaults to $PGWARDEN_ROUTER_CONFIG or\n"
        "/etc/pgwarden/pgwarden-router.yml.\n"
        "Exit codes: 0 stopped by a signal, 1 failed, 2 usage.\n",
};

int
main(int argc, char **argv)
{
	CliArgs args;
	const char *path;
	RouterConfig *cfg;
	PgwError err = {0};
	LogLevel level = LOG_LEVEL_INFO;
	char prefix[PGW_NAME_MAX + 16];
	int rc;

	if ((rc = cli_parse(&program, argc, argv, &args)) >= 0)
		return rc;
	path = args.config_path;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return 1;
	if (router_config_load(path, cfg, &err) != 0)
	{
		fprintf(stderr, "pgwarden-router: invalid configuration: %s\n",
		        err.msg);
		free(cfg);
		return 1;
	}
	if (args.check_only)
	{
		printf("configuration file \"%s\" is valid (%d targets)\n", path,
		       cfg->n_targets);
		free(cfg);
		return 0;
	}
	if (log_parse_level(cfg->log_level, &level) != 0)
	{
		fprintf(stderr, "pgwarden-router: invalid log_level \"%s\"\n",
		        cfg->log_level);
		free(cfg);
		return 1;
	}
	log_init("pgwarden-router", level);
	snprintf(prefix, sizeof(prefix), "router=%s", cfg->name);
	log_set_prefix(prefix);
	rc = router_run(cfg);
	free(cfg);
	return rc;
}
