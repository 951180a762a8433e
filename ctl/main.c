/*
 * main.c: pgwardenctl, the operator's tool (DESIGN.md "ctl/"): the global
 * options, the environment and the config file, then one command
 * (cmd_*.c). Exit codes: 0 ok, 1 refused or failed (with the reason on
 * stderr), 2 usage error. Precedence: command line, then PGWARDEN_*
 * environment, then the config file (-c or PGWARDEN_CONFIG).
 */
#include "ctl/ctl_int.h"

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "config/config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pgwardenctl [-c CONFIG] [--etcd URL[,URL]] [--scope SCOPE]\n"
	    "                   [--namespace NS] [--group N] [--cacert F] [--cert F] [--key F]\n"
	    "                   [--format pretty|json|yaml] COMMAND [ARGS]\n\n"
	    "Environment: PGWARDEN_CONFIG, PGWARDEN_ETCD3_HOSTS, PGWARDEN_SCOPE,\n"
	    "PGWARDEN_NAMESPACE, PGWARDEN_ETCD3_CACERT, PGWARDEN_ETCD3_CERT,\n"
	    "PGWARDEN_ETCD3_KEY, PGWARDEN_ETCD3_USERNAME, PGWARDEN_ETCD3_PASSWORD,\n"
	    "PGWARDEN_RESTAPI_USERNAME, PGWARDEN_RESTAPI_PASSWORD.\n\n"
	    "Exit codes: 0 ok, 1 refused or failed, 2 usage error.\n\n"
	    "Commands (pgwardenctl COMMAND --help for each):\n");
	ctl_commands_print(out);
}

/* set *dst from the environment unless the command line set it */
static void
from_env(char **dst, const char *name)
{
	const char *v = getenv(name);

	if (*dst == NULL && v != NULL && v[0] != '\0')
		*dst = pgw_xstrdup(v);
}

static void
from_file(char **dst, const char *v)
{
	if (*dst == NULL && v != NULL && v[0] != '\0')
		*dst = pgw_xstrdup(v);
}

static int
load_config_file(CtlGlobal *g, const char *path)
{
	NodeConfig nc;
	PgwError err = {0};

	memset(&nc, 0, sizeof(nc));
	if (config_load_file(path, &nc, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_USAGE;
	}
	from_file(&g->etcd, nc.etcd_hosts);
	from_file(&g->scope, nc.scope);
	from_file(&g->namespace_, nc.namespace_);
	from_file(&g->cacert, nc.etcd_cacert);
	from_file(&g->cert, nc.etcd_cert);
	from_file(&g->key, nc.etcd_key);
	from_file(&g->username, nc.etcd_username);
	from_file(&g->password, nc.etcd_password);
	from_file(&g->rest_username, nc.restapi_username);
	from_file(&g->rest_password, nc.restapi_password);
	from_file(&g->rest_cafile, nc.restapi_cafile);
	if (nc.restapi_credentials_over_http)
		g->rest_credentials_over_http = true;
	from_file(&g->pg_user, nc.pg_superuser_username);
	from_file(&g->pg_password, nc.pg_superuser_password);
	config_free(&nc);
	return CTL_EXIT_OK;
}

static void
global_free(CtlGlobal *g)
{
	char **all[] = {&g->etcd,          &g->scope,       &g->namespace_,
	                &g->cacert,        &g->cert,        &g->key,
	                &g->username,      &g->password,    &g->rest_username,
	                &g->rest_password, &g->rest_cafile, &g->pg_user,
	                &g->pg_password};

	for (size_t i = 0; i < PGW_LENGTHOF(all); i++)
	{
		free(*all[i]);
		*all[i] = NULL;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"etcd", required_argument, NULL, 'e'},
	    {"scope", required_argument, NULL, 's'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"group", required_argument, NULL, 'g'},
	    {"cacert", required_argument, NULL, 'A'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	CtlGlobal g;
	CtlArgs args;
	const char *config_path = NULL;
	const char *command;
	PgwError err = {0};
	int o;
	int rc;

	memset(&g, 0, sizeof(g));
	g.timeout_ms = 3000;
	g.group = -1;
	log_init("pgwardenctl", LOG_LEVEL_WARN);
	opterr = 0;
	/* stop at the first non-option: the command owns the rest */
	while ((o = getopt_long(argc, argv, "+:c:e:s:n:g:f:hV", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'c':
				config_path = optarg;
				break;
			case 'e':
				free(g.etcd);
				g.etcd = pgw_xstrdup(optarg);
				break;
			case 's':
				free(g.scope);
				g.scope = pgw_xstrdup(optarg);
				break;
			case 'n':
				free(g.namespace_);
				g.namespace_ = pgw_xstrdup(optarg);
				break;
			case 'g':
			{
				int64_t gv;

				if (pgw_parse_int64(optarg, 0, 9999, &gv) != 0)
				{
					ctl_fail(
					    "invalid --group \"%s\": expected a group number 0..9999",
					    optarg);
					global_free(&g);
					return CTL_EXIT_USAGE;
				}
				g.group = (int) gv;
			}
			break;
			case 'A':
				free(g.cacert);
				g.cacert = pgw_xstrdup(optarg);
				break;
			case 'C':
				free(g.cert);
				g.cert = pgw_xstrdup(optarg);
				break;
			case 'K':
				free(g.key);
				g.key = pgw_xstrdup(optarg);
				break;
			case 'f':
				if (ctl_format_parse(optarg, &g.format) != 0)
				{
					ctl_fail(
					    "invalid --format \"%s\": expected pretty, json or yaml",
					    optarg);
					global_free(&g);
					return CTL_EXIT_USAGE;
				}
				break;
			case 'h':
				usage(stdout);
				global_free(&g);
				return CTL_EXIT_OK;
			case 'V':
				printf("pgwardenctl version %s\n", PGW_VERSION);
				global_free(&g);
				return CTL_EXIT_OK;
			case ':':
				ctl_fail("option \"%s\" needs a value (see pgwardenctl --help)",
				         argv[optind - 1]);
				global_free(&g);
				return CTL_EXIT_USAGE;
			default:
				ctl_fail("unknown option \"%s\" (see pgwardenctl --help)",
				         argv[optind - 1]);
				global_free(&g);
				return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
	{
		usage(stderr);
		global_free(&g);
		return CTL_EXIT_USAGE;
	}
	command = argv[optind];
	if (strcmp(command, "help") == 0)
	{
		if (optind + 1 < argc && ctl_command_known(argv[optind + 1]))
			ctl_command_help(stdout, argv[optind + 1]);
		else
			usage(stdout);
		global_free(&g);
		return CTL_EXIT_OK;
	}
	if (ctl_args_parse(command, argc - optind, argv + optind, &args, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		ctl_args_free(&args);
		global_free(&g);
		return CTL_EXIT_USAGE;
	}
	if (args.help)
	{
		ctl_command_help(stdout, args.command);
		ctl_args_free(&args);
		global_free(&g);
		return CTL_EXIT_OK;
	}

	/* command line, then environment, then the config file */
	from_env(&g.etcd, "PGWARDEN_ETCD3_HOSTS");
	from_env(&g.scope, "PGWARDEN_SCOPE");
	from_env(&g.namespace_, "PGWARDEN_NAMESPACE");
	from_env(&g.cacert, "PGWARDEN_ETCD3_CACERT");
	from_env(&g.cert, "PGWARDEN_ETCD3_CERT");
	from_env(&g.key, "PGWARDEN_ETCD3_KEY");
	from_env(&g.username, "PGWARDEN_ETCD3_USERNAME");
	from_env(&g.password, "PGWARDEN_ETCD3_PASSWORD");
	from_env(&g.rest_username, "PGWARDEN_RESTAPI_USERNAME");
	from_env(&g.rest_password, "PGWARDEN_RESTAPI_PASSWORD");
	if (config_path == NULL)
		config_path = getenv("PGWARDEN_CONFIG");
	if (config_path && config_path[0] &&
	    (rc = load_config_file(&g, config_path)) != CTL_EXIT_OK)
		goto out;
	g.config_path = config_path && config_path[0] ? config_path : NULL;

	/* remove SCOPE names the cluster itself */
	if (strcmp(args.command, "remove") == 0)
	{
		free(g.scope);
		g.scope = pgw_xstrdup(args.pos[0]);
	}
	if (ctl_command_needs_etcd(args.command))
	{
		if (g.etcd == NULL)
		{
			ctl_fail(
			    "%s",
			    "no etcd endpoints: use --etcd, -c CONFIG or PGWARDEN_ETCD3_HOSTS");
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (g.scope == NULL)
		{
			ctl_fail(
			    "%s",
			    "no cluster scope: use --scope, -c CONFIG or PGWARDEN_SCOPE");
			rc = CTL_EXIT_USAGE;
			goto out;
		}
	}
	if (g.scope != NULL &&
	    (dcs_prefix_build(g.namespace_, g.scope, g.scope_prefix,
	                      sizeof(g.scope_prefix), &err) != 0 ||
	     dcs_group_prefix_build(g.namespace_, g.scope, g.group, g.prefix,
	                            sizeof(g.prefix), &err) != 0))
	{
		ctl_fail("%s", err.msg);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	rc = ctl_command_fn(args.command)(&g, &args);
out:
	ctl_args_free(&args);
	global_free(&g);
	return rc;
}
