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
#include <sys/prctl.h>

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
	ConfigNotes notes;
	PgwError	err = {0};
	int			rc;

	if ((rc = cli_parse(&program, argc, argv, &args)) >= 0)
		return rc;
	/* root holds etcd, REST and database passwords: no core dumps, no
	 * ptrace by other processes of the same uid (security review F15) */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
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
	daemon_env_take();
	config_security_notes(&cfg, path, &notes);
	if (args.check_only)
	{
		for (int i = 0; i < notes.n; i++)
			printf("pgwarden: %s: %s\n", notes.warn[i] ? "warning" : "note",
				   notes.msg[i]);
		printf("pgwarden: configuration %s is valid\n", path);
		config_free(&cfg);
		return 0;
	}
	for (int i = 0; i < notes.n; i++)
	{
		if (notes.warn[i])
			log_warn("config.security", "detail=\"%s\"", notes.msg[i]);
		else
			log_info("config.security", "detail=\"%s\"", notes.msg[i]);
	}
	rc = daemon_run(&cfg, path);
	config_free(&cfg);
	return rc;
}
