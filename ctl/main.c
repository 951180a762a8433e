/*
 * main.c: pgwardenctl, the operator's tool (DESIGN.md "ctl/"). Reads and
 * CAS-writes etcd through consensus/ and calls member REST APIs.
 * Exit codes: 0 ok, 1 refused or failed (with the reason on stderr),
 * 2 usage error.
 */
#include "ctl/ctl.h"

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "config/config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_OK		0
#define EXIT_FAILED 1
#define EXIT_USAGE	2

typedef struct CtlGlobal
{
	char	   *etcd;			/* endpoints */
	char	   *scope;
	char	   *namespace_;
	char	   *cacert;
	char	   *cert;
	char	   *key;
	char	   *username;
	char	   *password;
	CtlFormat	format;
	char		prefix[PGW_PREFIX_MAX];
	int			timeout_ms;
} CtlGlobal;

typedef int (*CtlCommandFn) (CtlGlobal *g, int argc, char **argv);

typedef struct CtlCommand
{
	const char *name;
	CtlCommandFn fn;
	const char *usage;
	const char *help;
} CtlCommand;

static const CtlCommand *find_command(const char *name);

static void fail(const char *fmt, ...) PGW_PRINTF(1, 2);

static void
fail(const char *fmt, ...)
{
	va_list		ap;

	fprintf(stderr, "pgwardenctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
open_client(CtlGlobal *g, EtcdClient **c)
{
	EtcdClientConfig cfg = {0};
	PgwError	err = {0};

	cfg.endpoints = g->etcd;
	cfg.ca_file = g->cacert;
	cfg.cert_file = g->cert;
	cfg.key_file = g->key;
	cfg.username = g->username;
	cfg.password = g->password;
	cfg.call_timeout_ms = g->timeout_ms;
	if (etcd_client_open(&cfg, c, &err) != 0)
	{
		fail("%s", err.msg);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int
read_view(CtlGlobal *g, EtcdClient *c, ClusterView *v)
{
	PgwError	err = {0};

	if (dcs_view_read(c, g->prefix, true, v, &err) != 0)
	{
		fprintf(stderr,
				"pgwardenctl: could not read cluster \"%s\" from etcd: %s\n"
				"hint: check --etcd (or etcd3.hosts in the config) and that etcd runs\n",
				g->scope, err.msg);
		return EXIT_FAILED;
	}
	if (v->n_members == 0 && !v->has_initialize && !v->has_leader &&
		!v->has_config)
	{
		fprintf(stderr, "pgwardenctl: cluster \"%s\" does not exist under %s\n",
				g->scope, g->prefix);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int
cmd_list(CtlGlobal *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{"watch", required_argument, NULL, 'W'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int64_t		watch_s = 0;
	int			o;
	EtcdClient *c = NULL;
	int			rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "W:f:h", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'W':
				if (pgw_parse_int64(optarg, 1, 3600, &watch_s) != 0)
				{
					fail("invalid --watch \"%s\": expected seconds 1..3600", optarg);
					return EXIT_USAGE;
				}
				break;
			case 'f':
				if (ctl_format_parse(optarg, &g->format) != 0)
				{
					fail("invalid --format \"%s\": expected pretty, json or yaml",
						 optarg);
					return EXIT_USAGE;
				}
				break;
			case 'h':
				printf("usage: pgwardenctl list %s\n", find_command("list")->usage);
				return EXIT_OK;
			default:
				return EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		fail("unexpected argument \"%s\" to list", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = open_client(g, &c)) != EXIT_OK)
		return rc;
	for (;;)
	{
		ClusterView *v = pgw_xcalloc(1, sizeof(ClusterView));
		int64_t		ttl = -1;

		rc = read_view(g, c, v);
		if (rc == EXIT_OK)
		{
			if (v->has_leader && v->leader_lease != 0)
			{
				int64_t		granted;
				PgwError	err = {0};

				if (etcd_lease_ttl(c, v->leader_lease, &ttl, &granted, &err) != 0)
					ttl = -1;
			}
			ctl_list_print(stdout, v, g->scope, ttl, g->format);
			fflush(stdout);
		}
		free(v);
		if (watch_s == 0 || rc != EXIT_OK)
			break;
		sleep((unsigned) watch_s);
	}
	etcd_client_close(c);
	return rc;
}

static int
cmd_show_config(CtlGlobal *g, int argc, char **argv)
{
	EtcdClient *c = NULL;
	EtcdRangeResult r = {0};
	PgwError	err = {0};
	char		key[PGW_PREFIX_MAX + 16];
	int			rc;

	(void) argv;
	if (argc > 1)
	{
		fail("unexpected argument \"%s\" to show-config", argv[1]);
		return EXIT_USAGE;
	}
	if ((rc = open_client(g, &c)) != EXIT_OK)
		return rc;
	snprintf(key, sizeof(key), "%sconfig", g->prefix);
	if (etcd_range(c, key, false, 0, false, &r, &err) != 0)
	{
		fail("could not read config: %s", err.msg);
		etcd_client_close(c);
		return EXIT_FAILED;
	}
	if (r.count == 0)
	{
		fail("cluster has no config key (%s)", key);
		rc = EXIT_FAILED;
	}
	else
		printf("%s\n", r.kvs[0].value);
	etcd_range_result_free(&r);
	etcd_client_close(c);
	return rc;
}

static int
cmd_history(CtlGlobal *g, int argc, char **argv)
{
	EtcdClient *c = NULL;
	EtcdRangeResult r = {0};
	PgwError	err = {0};
	char		key[PGW_PREFIX_MAX + 16];
	HistoryEntry *h = NULL;
	int			n = 0;
	int			rc;

	(void) argv;
	if (argc > 1)
	{
		fail("unexpected argument \"%s\" to history", argv[1]);
		return EXIT_USAGE;
	}
	if ((rc = open_client(g, &c)) != EXIT_OK)
		return rc;
	snprintf(key, sizeof(key), "%shistory", g->prefix);
	if (etcd_range(c, key, false, 0, false, &r, &err) != 0)
	{
		fail("could not read history: %s", err.msg);
		etcd_client_close(c);
		return EXIT_FAILED;
	}
	if (r.count == 1 &&
		dcs_history_decode(r.kvs[0].value, r.kvs[0].value_len, &h, &n, &err) != 0)
	{
		fail("history value in etcd does not decode: %s", err.msg);
		rc = EXIT_FAILED;
	}
	else
	{
		printf("%-4s %-12s %-40s %-30s %s\n", "TL", "LSN", "Reason", "Timestamp",
			   "New Leader");
		for (int i = 0; i < n; i++)
			printf("%-4d %-12llu %-40s %-30s %s\n", h[i].timeline,
				   (unsigned long long) h[i].lsn, h[i].reason, h[i].time,
				   h[i].new_leader);
	}
	free(h);
	etcd_range_result_free(&r);
	etcd_client_close(c);
	return rc;
}

static int
cmd_version(CtlGlobal *g, int argc, char **argv)
{
	(void) g;
	(void) argc;
	(void) argv;
	printf("pgwardenctl version %s\n", PGW_VERSION);
	return EXIT_OK;
}

static const CtlCommand commands[] = {
	{"list", cmd_list, "[--watch SECONDS] [--format pretty|json|yaml]",
	"show the members of the cluster, their roles, states and lag"},
	{"show-config", cmd_show_config, "", "print the dynamic configuration"},
	{"history", cmd_history, "", "print the timeline history"},
	{"version", cmd_version, "", "print the version"},
};

static const CtlCommand *
find_command(const char *name)
{
	for (size_t i = 0; i < PGW_LENGTHOF(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: pgwardenctl [-c CONFIG] [--etcd URL[,URL]] [--scope SCOPE]\n"
			"                   [--namespace NS] [--cacert F --cert F --key F]\n"
			"                   [--format pretty|json|yaml] COMMAND [ARGS]\n\n"
			"Environment: PGWARDEN_CONFIG, PGWARDEN_ETCD3_HOSTS, PGWARDEN_SCOPE,\n"
			"PGWARDEN_NAMESPACE.\n\nCommands:\n");
	for (size_t i = 0; i < PGW_LENGTHOF(commands); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

static char *
env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? pgw_xstrdup(v) : NULL;
}

static int
load_config_file(CtlGlobal *g, const char *path)
{
	NodeConfig	nc;
	PgwError	err = {0};

	memset(&nc, 0, sizeof(nc));
	if (config_load_file(path, &nc, &err) != 0)
	{
		fail("%s", err.msg);
		return EXIT_USAGE;
	}
	if (g->etcd == NULL && nc.etcd_hosts)
		g->etcd = pgw_xstrdup(nc.etcd_hosts);
	if (g->scope == NULL && nc.scope)
		g->scope = pgw_xstrdup(nc.scope);
	if (g->namespace_ == NULL && nc.namespace_)
		g->namespace_ = pgw_xstrdup(nc.namespace_);
	if (g->cacert == NULL && nc.etcd_cacert)
		g->cacert = pgw_xstrdup(nc.etcd_cacert);
	if (g->cert == NULL && nc.etcd_cert)
		g->cert = pgw_xstrdup(nc.etcd_cert);
	if (g->key == NULL && nc.etcd_key)
		g->key = pgw_xstrdup(nc.etcd_key);
	if (g->username == NULL && nc.etcd_username)
		g->username = pgw_xstrdup(nc.etcd_username);
	if (g->password == NULL && nc.etcd_password)
		g->password = pgw_xstrdup(nc.etcd_password);
	config_free(&nc);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"etcd", required_argument, NULL, 'e'},
		{"scope", required_argument, NULL, 's'},
		{"namespace", required_argument, NULL, 'n'},
		{"cacert", required_argument, NULL, 'A'},
		{"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'K'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	CtlGlobal	g;
	const char *config_path = getenv("PGWARDEN_CONFIG");
	const CtlCommand *cmd;
	PgwError	err = {0};
	int			o;
	int			rc;

	memset(&g, 0, sizeof(g));
	g.timeout_ms = 3000;
	log_init("pgwardenctl", LOG_LEVEL_WARN);
	/* stop at the first non-option: the command owns the rest */
	while ((o = getopt_long(argc, argv, "+c:e:s:n:f:hV", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'c':
				config_path = optarg;
				break;
			case 'e':
				g.etcd = pgw_xstrdup(optarg);
				break;
			case 's':
				g.scope = pgw_xstrdup(optarg);
				break;
			case 'n':
				g.namespace_ = pgw_xstrdup(optarg);
				break;
			case 'A':
				g.cacert = pgw_xstrdup(optarg);
				break;
			case 'C':
				g.cert = pgw_xstrdup(optarg);
				break;
			case 'K':
				g.key = pgw_xstrdup(optarg);
				break;
			case 'f':
				if (ctl_format_parse(optarg, &g.format) != 0)
				{
					fail("invalid --format \"%s\": expected pretty, json or yaml",
						 optarg);
					return EXIT_USAGE;
				}
				break;
			case 'h':
				usage(stdout);
				return EXIT_OK;
			case 'V':
				return cmd_version(&g, 0, NULL);
			default:
				usage(stderr);
				return EXIT_USAGE;
		}
	}
	if (optind >= argc)
	{
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
	{
		fail("unknown command \"%s\" (see pgwardenctl --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (cmd->fn == cmd_version)
		return cmd_version(&g, 0, NULL);
	if (config_path && (rc = load_config_file(&g, config_path)) != EXIT_OK)
		return rc;
	if (g.etcd == NULL)
		g.etcd = env_dup("PGWARDEN_ETCD3_HOSTS");
	if (g.scope == NULL)
		g.scope = env_dup("PGWARDEN_SCOPE");
	if (g.namespace_ == NULL)
		g.namespace_ = env_dup("PGWARDEN_NAMESPACE");
	if (g.etcd == NULL)
	{
		fail("%s", "no etcd endpoints: use --etcd, -c CONFIG or PGWARDEN_ETCD3_HOSTS");
		return EXIT_USAGE;
	}
	if (g.scope == NULL)
	{
		fail("%s", "no cluster scope: use --scope, -c CONFIG or PGWARDEN_SCOPE");
		return EXIT_USAGE;
	}
	if (dcs_prefix_build(g.namespace_, g.scope, g.prefix, sizeof(g.prefix),
						 &err) != 0)
	{
		fail("%s", err.msg);
		return EXIT_USAGE;
	}
	rc = cmd->fn(&g, argc - optind, argv + optind);
	free(g.etcd);
	free(g.scope);
	free(g.namespace_);
	free(g.cacert);
	free(g.cert);
	free(g.key);
	free(g.username);
	free(g.password);
	return rc;
}
