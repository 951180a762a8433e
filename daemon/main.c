/*
 * main.c: the pgwarden daemon's entry point: arguments, configuration,
 * logging, then the loop (loop.c). Only main() exits (STYLE.md "Errors").
 */
#include "daemon/daemon.h"

#include "common/cli.h"
#include "common/log.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const CliProgram program = {
	.name = "pgwarden",
	.config_env = "PGWARDEN_CONFIG",
	.config_default = "/etc/pgwarden/pgwarden.yml",
	.usage =
	"usage: pgwarden [-c CONFIG] [--check-config] [--version]\n\n"
	"Runs the pgwarden high-availability daemon for one PostgreSQL node.\n"
	"CONFIG defaults to $PGWARDEN_CONFIG or /etc/pgwarden/pgwarden.yml;\n"
	"PGWARDEN_* environment variables override its keys.\n",
};

int
main(int argc, char **argv)
{
	CliArgs		args;
	const char *path;
	NodeConfig	cfg;
	PgwError	err = {0};
	int			rc;

	if ((rc = cli_parse(&program, argc, argv, &args)) >= 0)
		return rc;
	path = args.config_path;
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
	for (int i = 0; i < cfg.n_warnings; i++)
	{
		char		q[PGW_ERROR_MSG_MAX + 16];

		if (args.check_only)
			fprintf(stderr, "pgwarden: warning: %s\n", cfg.warnings[i]);
		else
			log_warn("config.ignored", "detail=%s",
					 log_quote(cfg.warnings[i], q, sizeof(q)));
	}
	if (args.check_only)
	{
		printf("pgwarden: configuration %s is valid%s\n", path,
			   cfg.n_warnings > 0 ? " (see the warnings about keys it ignores)" : "");
		config_free(&cfg);
		return 0;
	}
	rc = daemon_run(&cfg, path);
	config_free(&cfg);
	return rc;
}
