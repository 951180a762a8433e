/*
 * main.c: the pgwarden daemon's entry point: arguments, configuration,
 * logging, then the loop (loop.c). Only main() exits (STYLE.md "Errors").
 */
#include "daemon/daemon.h"

#include "common/cli.h"
#include "common/log.h"
#include "config/config.h"
#include "daemon/k8s_views.h"

#include <errno.h>
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
        "PGWARDEN_* environment variables override its keys (and configure a\n"
        "container alone when that default file does not exist). As PID 1, or\n"
        "with PGWARDEN_INIT=1, it supervises the daemon: signals forwarded,\n"
        "orphans reaped.\n",
};

int
main(int argc, char **argv)
{
	CliArgs args;
	const char *path;
	NodeConfig cfg;
	ConfigNotes notes;
	PgwError err = {0};
	int rc;

	if ((rc = cli_parse(&program, argc, argv, &args)) >= 0)
		return rc;
	/* root holds etcd, REST and database passwords: no core dumps, no
	 * ptrace by other processes of the same uid (security review F15) */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	path = args.config_path;
	log_init("pgwarden", LOG_LEVEL_INFO);
	memset(&cfg, 0, sizeof(cfg));
	/* a container may be configured by its environment alone: a missing
	 * default file is then an empty one (an explicit -c FILE must exist) */
	if (config_load_or_env(path, path == program.config_default, &cfg, &err) !=
	        0 ||
	    config_apply_env(&cfg, environ, &err) != 0 ||
	    config_validate(&cfg, &err) != 0)
	{
		fprintf(stderr, "pgwarden: %s\n", err.msg);
		config_free(&cfg);
		return 2;
	}
	config_security_notes(&cfg, path, &notes);
	for (int i = 0; i < cfg.n_warnings; i++)
	{
		char q[PGW_ERROR_MSG_MAX + 16];

		if (args.check_only)
			fprintf(stderr, "pgwarden: warning: %s\n", cfg.warnings[i]);
		else
			log_warn("config.ignored", "detail=%s",
			         log_quote(cfg.warnings[i], q, sizeof(q)));
	}
	if (args.check_only)
	{
		/* an init container's check: the Kubernetes part offline too */
		if (k8s_views_check_config(&cfg, environ, stdout, &err) != 0)
		{
			fprintf(stderr, "pgwarden: %s\n", err.msg);
			config_free(&cfg);
			return 2;
		}
		for (int i = 0; i < notes.n; i++)
			printf("pgwarden: %s: %s\n", notes.warn[i] ? "warning" : "note",
			       notes.msg[i]);
		printf("pgwarden: configuration %s is valid%s\n", path,
		       cfg.n_warnings > 0 ? " (see the warnings about keys it ignores)"
		                          : "");
		config_free(&cfg);
		return 0;
	}
	switch (pid1_supervise(environ, &rc))
	{
		case PID1_FAILED:
			fprintf(stderr,
			        "pgwarden: could not start the daemon under PID 1: %s\n",
			        strerror(errno));
			config_free(&cfg);
			return 1;
		case PID1_EXIT:
			config_free(&cfg);
			return rc;
		default:
			break;
	}
	/* the daemon (PID 1's child in a container) keeps PGWARDEN_* secrets
	 * out of every child's environment from here on */
	daemon_env_take();
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
