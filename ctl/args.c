/*
 * args.c: the command-line arguments of every pgwardenctl command (ctl.h).
 * One option table; each command lists the options it allows and how many
 * positional arguments it takes, so a bad command line is refused the same
 * way everywhere: one line naming the problem, exit code 2.
 */
#include "ctl/ctl.h"
#include "ctl/drill.h"
#include "ctl/shard_args.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum
{
	OPT_WATCH = 'W',
	OPT_FORMAT = 'f',
	OPT_HELP = 'h',
	OPT_SET = 's',
	OPT_PG = 'p',
	OPT_QUIET = 'q',
	OPT_LEADER = 256,
	OPT_CANDIDATE,
	OPT_SCHEDULED,
	OPT_FORCE,
	OPT_TIMEOUT,
	OPT_WAIT,
	OPT_ALL,
	OPT_PENDING,
	OPT_APPLY,
	OPT_REPLACE,
	OPT_EXPECT_REVISION,
	OPT_YES,
	OPT_ROUNDS,
	OPT_DRILL_YES,
};

typedef struct OptDef
{
	const char *name;
	int has_arg;
	int id;
	const char *arg; /* metavariable, NULL for flags */
	const char *help;
} OptDef;

static const OptDef opt_defs[] = {
    {"watch", required_argument, OPT_WATCH, "SECONDS",
     "print again on every change in etcd, and at least every SECONDS (1..3600), until interrupted"},
    {"format", required_argument, OPT_FORMAT, "FMT",
     "output format: pretty (default), json or yaml"},
    {"leader", required_argument, OPT_LEADER, "NAME",
     "the current leader (refused if it is not)"},
    {"candidate", required_argument, OPT_CANDIDATE, "NAME",
     "the member to promote"},
    {"scheduled", required_argument, OPT_SCHEDULED, "TIME",
     "ISO 8601 time with a zone, e.g. 2026-11-23T10:00:00+01:00"},
    {"force", no_argument, OPT_FORCE, NULL, "do not ask for confirmation"},
    {"timeout", required_argument, OPT_TIMEOUT, "DURATION",
     "how long to wait for the outcome (e.g. 30s)"},
    {"wait", no_argument, OPT_WAIT, NULL,
     "wait until every member has seen the change"},
    {"all", no_argument, OPT_ALL, NULL, "every member"},
    {"pending", no_argument, OPT_PENDING, NULL,
     "only members with a pending restart"},
    {"set", required_argument, OPT_SET, "KEY=VALUE",
     "set a (dotted) key; VALUE is YAML, null deletes"},
    {"pg", required_argument, OPT_PG, "PARAM=VALUE",
     "set postgresql.parameters.PARAM"},
    {"apply", required_argument, OPT_APPLY, "FILE",
     "merge a YAML/JSON file (- for stdin), null deletes"},
    {"replace", required_argument, OPT_REPLACE, "FILE",
     "replace the whole config by a YAML/JSON file"},
    {"quiet", no_argument, OPT_QUIET, NULL, "do not show the diff"},
    {"expect-revision", required_argument, OPT_EXPECT_REVISION, "REV",
     "refuse unless the config's mod_revision is REV"},
    {"yes-i-am-sure", no_argument, OPT_YES, NULL,
     "confirm without a terminal (remove)"},
    {"rounds", required_argument, OPT_ROUNDS, "N",
     "repeat the drill N times (1..100)"},
    {"yes", no_argument, OPT_DRILL_YES, NULL,
     "do not ask to type the scope (drill)"},
    {"help", no_argument, OPT_HELP, NULL, "show this help"},
};

typedef struct CmdDef
{
	const char *name;
	const int *opts; /* allowed option ids, 0-terminated */
	int min_pos;
	int max_pos;
	const char *usage;
	const char *help;
} CmdDef;

static const int o_list[] = {OPT_WATCH, OPT_FORMAT, 0};
static const int o_format[] = {OPT_FORMAT, 0};
static const int o_switchover[] = {OPT_LEADER, OPT_CANDIDATE, OPT_SCHEDULED,
                                   OPT_FORCE,  OPT_TIMEOUT,   OPT_FORMAT,
                                   0};
static const int o_failover[] = {OPT_CANDIDATE, OPT_FORCE, OPT_TIMEOUT,
                                 OPT_FORMAT, 0};
static const int o_flush[] = {OPT_FORCE, 0};
static const int o_pause[] = {OPT_WAIT, OPT_TIMEOUT, 0};
static const int o_restart[] = {OPT_ALL,   OPT_PENDING, OPT_SCHEDULED,
                                OPT_FORCE, OPT_TIMEOUT, 0};
static const int o_reload[] = {OPT_FORCE, OPT_TIMEOUT, 0};
static const int o_reinit[] = {OPT_FORCE, OPT_TIMEOUT, 0};
static const int o_edit[] = {
    OPT_SET,   OPT_PG,    OPT_APPLY,           OPT_REPLACE,
    OPT_QUIET, OPT_FORCE, OPT_EXPECT_REVISION, 0};
static const int o_remove[] = {OPT_YES, 0};
static const int o_none[] = {0};
static const int o_drill[] = {OPT_ROUNDS, OPT_DRILL_YES, OPT_TIMEOUT,
                              OPT_FORMAT, 0};

static const CmdDef cmd_defs[] = {
    {"list", o_list, 0, 0, "list [--watch SECONDS] [--format pretty|json|yaml]",
     "show the members, their roles, states and lag"},
    {"topology", o_list, 0, 0,
     "topology [--watch SECONDS] [--format pretty|json|yaml]",
     "show the members as a tree of who replicates from whom"},
    {"switchover", o_switchover, 0, 0,
     "switchover [--leader NAME] [--candidate NAME] [--scheduled TIME] [--force] [--timeout DURATION]",
     "hand the leader role to a healthy replica"},
    {"failover", o_failover, 0, 0,
     "failover --candidate NAME [--force] [--timeout DURATION]",
     "promote a replica when there is no healthy leader"},
    {"flush", o_flush, 1, PGW_MEMBERS_MAX,
     "flush switchover | flush restart [MEMBER...]",
     "cancel a scheduled switchover or scheduled restarts"},
    {"pause", o_pause, 0, 0, "pause [--wait] [--timeout DURATION]",
     "maintenance mode: the daemons stop acting on PostgreSQL"},
    {"resume", o_pause, 0, 0, "resume [--wait] [--timeout DURATION]",
     "leave maintenance mode"},
    {"restart", o_restart, 0, PGW_MEMBERS_MAX,
     "restart MEMBER... | --all [--pending] [--scheduled TIME] [--force]",
     "restart PostgreSQL on members (their REST API)"},
    {"reload", o_reload, 0, PGW_MEMBERS_MAX, "reload [MEMBER...] [--force]",
     "make members re-read their configuration (all by default)"},
    {"reinit", o_reinit, 1, 1, "reinit MEMBER [--force]",
     "wipe a replica and clone it again from the leader"},
    {"history", o_format, 0, 0, "history [--format pretty|json|yaml]",
     "show the timeline history"},
    {"show-config", o_format, 0, 0, "show-config [--format pretty|json|yaml]",
     "print the dynamic configuration (the config key)"},
    {"edit-config", o_edit, 0, 0,
     "edit-config [--set KEY=VALUE ...] [--pg PARAM=VALUE ...] [--apply FILE | --replace FILE] [--quiet] [--force] [--expect-revision REV]",
     "change the dynamic configuration: diff, then one compare-and-swap write"},
    {"remove", o_remove, 1, 1, "remove SCOPE [--yes-i-am-sure]",
     "delete every key of a stopped cluster (type the scope to confirm)"},
    {"version", o_format, 0, 0, "version [--format pretty|json|yaml]",
     "print pgwardenctl's version and the members' versions"},
    {"debug", o_format, 1, 1, "debug rules [--format pretty|json|yaml]",
     "print the decision engine's rule table"},
    {"shard", o_none, 0, 0,
     "shard SUBCOMMAND [ARGS] (pgwardenctl shard --help)",
     "sharding by user id: the shard map, lookups, online moves"},
    /* opts NULL: the command parses its own arguments (cmd_backup.c) */
    {"backup", NULL, 0, 0,
     "backup [--type full|diff|incr] [--no-wait] [--timeout DURATION] | backup list [--json] | backup verify [--dir DIR] [--port PORT] [--json]",
     "take a base backup now, list the backups and recovery window, or run a restore drill"},
    {"restore", NULL, 0, 0,
     "restore --to TIME|LSN|latest --into NEW_SCOPE --data-dir DIR [--port PORT] [--json]",
     "restore the repository to a point in time into a new cluster's data directory"},
    {"drill", o_drill, 1, 1,
     "drill switchover|kill-postgres|stop-daemon [--rounds N] [--yes] [--timeout DURATION] [--format pretty|json]",
     "rehearse a failover on this cluster under a writer; report RTO and lost writes"},
};

static const CmdDef *
cmd_find(const char *name)
{
	for (size_t i = 0; i < PGW_LENGTHOF(cmd_defs); i++)
		if (strcmp(cmd_defs[i].name, name) == 0)
			return &cmd_defs[i];
	return NULL;
}

static const OptDef *
opt_find(int id)
{
	for (size_t i = 0; i < PGW_LENGTHOF(opt_defs); i++)
		if (opt_defs[i].id == id)
			return &opt_defs[i];
	return NULL;
}

static bool
cmd_allows(const CmdDef *c, int id)
{
	if (id == OPT_HELP)
		return true;
	if (c->opts == NULL)
		return false; /* the command parses its own options */
	for (const int *p = c->opts; *p; p++)
		if (*p == id)
			return true;
	return false;
}

bool
ctl_command_known(const char *command)
{
	return command != NULL && cmd_find(command) != NULL;
}

void
ctl_commands_print(FILE *out)
{
	for (size_t i = 0; i < PGW_LENGTHOF(cmd_defs); i++)
		fprintf(out, "  %-12s %s\n", cmd_defs[i].name, cmd_defs[i].help);
}

void
ctl_command_help(FILE *out, const char *command)
{
	const CmdDef *c = cmd_find(command);

	if (c == NULL)
		return;
	if (strcmp(c->name, "shard") == 0)
	{
		shard_args_usage(out);
		return;
	}
	fprintf(out, "usage: pgwardenctl [GLOBAL OPTIONS] %s\n\n%s.\n\nOptions:\n",
	        c->usage, c->help);
	for (size_t i = 0; i < PGW_LENGTHOF(opt_defs); i++)
	{
		const OptDef *o = &opt_defs[i];
		char left[64];

		if (!cmd_allows(c, o->id))
			continue;
		if (o->id < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->id, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(out, "  %-30s %s\n", left, o->help);
	}
	fprintf(out,
	        "\nSee pgwardenctl(1) for the global options and exit codes.\n");
}

void
ctl_args_free(CtlArgs *a)
{
	if (a == NULL)
		return;
	for (int i = 0; i < a->n_sets; i++)
		free(a->sets[i]);
	memset(a, 0, sizeof(*a));
}

static int
add_set(CtlArgs *a, const char *prefix, const char *arg, const char *opt,
        PgwError *err)
{
	const char *eq = strchr(arg, '=');
	size_t len;

	if (eq == NULL || eq == arg)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid --%s \"%s\": expected KEY=VALUE", opt,
		                     arg);
	if (a->n_sets >= CTL_SETS_MAX)
		return pgw_error_set(err, PGW_EINVAL,
		                     "too many --set/--pg options (at most %d)",
		                     CTL_SETS_MAX);
	len = strlen(prefix) + strlen(arg) + 1;
	a->sets[a->n_sets] = pgw_xmalloc(len);
	snprintf(a->sets[a->n_sets], len, "%s%s", prefix, arg);
	a->n_sets++;
	return 0;
}

static int
parse_value(CtlArgs *a, int id, const char *arg, PgwError *err)
{
	int64_t v;

	switch (id)
	{
		case OPT_WATCH:
			if (pgw_parse_int64(arg, 1, 3600, &a->watch_s) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --watch \"%s\": expected seconds 1..3600", arg);
			return 0;
		case OPT_FORMAT:
			if (ctl_format_parse(arg, &a->format) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --format \"%s\": expected pretty, json or yaml",
				    arg);
			a->has_format = true;
			return 0;
		case OPT_LEADER:
		case OPT_CANDIDATE:
			if (arg[0] == '\0' || strlen(arg) >= PGW_NAME_MAX)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --%s \"%s\": expected a member name",
				    id == OPT_LEADER ? "leader" : "candidate", arg);
			if (id == OPT_LEADER)
				a->leader = arg;
			else
				a->candidate = arg;
			return 0;
		case OPT_SCHEDULED:
			if (pgw_parse_wall_iso(arg, &v) != 0 || v <= 0 ||
			    v >= INT64_C(253402300800000))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --scheduled \"%s\": expected an ISO 8601 time with a zone, e.g. 2026-11-23T10:00:00+01:00",
				    arg);
			a->scheduled_wall_ms = v;
			return 0;
		case OPT_TIMEOUT:
			if (pgw_parse_duration_ms(arg, &v) != 0 || v <= 0 ||
			    v > INT64_C(86400000))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --timeout \"%s\": expected a duration such as 30s or 2m",
				    arg);
			a->timeout_ms = v;
			return 0;
		case OPT_SET:
			return add_set(a, "", arg, "set", err);
		case OPT_PG:
			return add_set(a, "postgresql.parameters.", arg, "pg", err);
		case OPT_APPLY:
			a->apply_file = arg;
			return 0;
		case OPT_REPLACE:
			a->replace_file = arg;
			return 0;
		case OPT_EXPECT_REVISION:
			if (pgw_parse_int64(arg, 1, INT64_MAX, &a->expect_revision) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --expect-revision \"%s\": expected a positive revision",
				    arg);
			return 0;
		case OPT_FORCE:
			a->force = true;
			return 0;
		case OPT_WAIT:
			a->wait = true;
			return 0;
		case OPT_ALL:
			a->all = true;
			return 0;
		case OPT_PENDING:
			a->pending = true;
			return 0;
		case OPT_QUIET:
			a->quiet = true;
			return 0;
		case OPT_YES:
			a->yes_i_am_sure = true;
			return 0;
		case OPT_ROUNDS:
			if (pgw_parse_int64(arg, 1, 100, &a->rounds) != 0)
				return pgw_error_set(err, PGW_EINVAL,
				                     "invalid --rounds \"%s\": expected 1..100",
				                     arg);
			return 0;
		case OPT_DRILL_YES:
			a->yes_i_am_sure = true;
			return 0;
		case OPT_HELP:
			a->help = true;
			return 0;
	}
	return pgw_error_set(err, PGW_EINTERNAL, "unhandled option %d", id);
}

/* the command-specific rules that getopt cannot express */
static int
check_combination(const CmdDef *c, CtlArgs *a, PgwError *err)
{
	const char *n = c->name;

	if (strcmp(n, "failover") == 0 && a->candidate == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "failover needs --candidate NAME (to hand over from a healthy leader, use switchover)");
	if (strcmp(n, "restart") == 0)
	{
		if (a->all && a->n_pos > 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "restart takes either member names or --all, not both");
		if (!a->all && a->n_pos == 0)
			return pgw_error_set(err, PGW_EINVAL,
			                     "restart needs member names or --all");
	}
	if (strcmp(n, "flush") == 0)
	{
		if (strcmp(a->pos[0], "switchover") != 0 &&
		    strcmp(a->pos[0], "restart") != 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "flush \"%s\": expected \"switchover\" or \"restart\"",
			    a->pos[0]);
		if (strcmp(a->pos[0], "switchover") == 0 && a->n_pos > 1)
			return pgw_error_set(err, PGW_EINVAL,
			                     "flush switchover takes no member names");
	}
	if (strcmp(n, "debug") == 0 && strcmp(a->pos[0], "rules") != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "debug \"%s\": the only debug command is \"rules\"", a->pos[0]);
	if (strcmp(n, "drill") == 0 && ctl_drill_kind_parse(a->pos[0], NULL) != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "drill \"%s\": expected switchover, kill-postgres or stop-daemon",
		    a->pos[0]);
	if (strcmp(n, "edit-config") == 0 && a->apply_file && a->replace_file)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "edit-config takes --apply or --replace, not both");
	if (strcmp(n, "switchover") == 0 && a->leader && a->candidate &&
	    strcmp(a->leader, a->candidate) == 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "switchover: --candidate \"%s\" is the --leader itself",
		    a->candidate);
	return 0;
}

int
ctl_args_parse(const char *command, int argc, char **argv, CtlArgs *out,
               PgwError *err)
{
	const CmdDef *c = cmd_find(command ? command : "");
	struct option longopts[PGW_LENGTHOF(opt_defs) + 1];
	char shortopts[64];
	size_t ns = 0;
	int o;

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "unknown command \"%s\" (see pgwardenctl --help)",
		                     command ? command : "");
	out->command = c->name;
	if (strcmp(c->name, "shard") == 0)
	{
		/* its own grammar: shard_args_parse() in cmd_shard.c */
		out->raw_argc = argc - 1;
		out->raw_argv = argv + 1;
		out->help = argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		                          strcmp(argv[1], "-h") == 0 ||
		                          strcmp(argv[1], "help") == 0);
		return 0;
	}
	if (c->opts == NULL)
	{
		/* the command's own parser gets everything after its name */
		out->raw_argc = argc;
		out->raw_argv = argv;
		return 0;
	}
	shortopts[ns++] = '+'; /* "--" ends options; no permutation surprises */
	shortopts[ns++] = ':'; /* report missing values as ':' */
	for (size_t i = 0; i < PGW_LENGTHOF(opt_defs); i++)
	{
		longopts[i].name = opt_defs[i].name;
		longopts[i].has_arg = opt_defs[i].has_arg;
		longopts[i].flag = NULL;
		longopts[i].val = opt_defs[i].id;
		if (opt_defs[i].id < 256 && ns + 3 < sizeof(shortopts))
		{
			shortopts[ns++] = (char) opt_defs[i].id;
			if (opt_defs[i].has_arg == required_argument)
				shortopts[ns++] = ':';
		}
	}
	memset(&longopts[PGW_LENGTHOF(opt_defs)], 0, sizeof(struct option));
	shortopts[ns] = '\0';

	/*
	 * Options may follow positional arguments (restart node1 --force): scan
	 * in rounds, collecting one positional between rounds.
	 */
	optind = 0; /* full re-initialisation (glibc) */
	opterr = 0;
	for (;;)
	{
		int longidx = -1;

		o = getopt_long(argc, argv, shortopts, longopts, &longidx);
		if (o == -1)
		{
			if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
			{
				if (out->n_pos >= c->max_pos)
					return pgw_error_set(err, PGW_EINVAL,
					                     "unexpected argument \"%s\" to %s",
					                     argv[optind], c->name);
				out->pos[out->n_pos++] = argv[optind];
				/* continue parsing after it */
				{
					int next = optind + 1;

					optind = 0;
					argc -= next - 1;
					argv += next - 1;
				}
				continue;
			}
			for (; optind < argc; optind++)
			{
				if (out->n_pos >= c->max_pos)
					return pgw_error_set(err, PGW_EINVAL,
					                     "unexpected argument \"%s\" to %s",
					                     argv[optind], c->name);
				out->pos[out->n_pos++] = argv[optind];
			}
			break;
		}
		if (o == '?')
		{
			if (optopt != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "unknown option \"-%c\" for %s (see pgwardenctl %s --help)",
				    optopt, c->name, c->name);
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "unknown option \"%s\" for %s (see pgwardenctl %s --help)",
			    argv[optind - 1], c->name, c->name);
		}
		if (o == ':')
		{
			const OptDef *d = opt_find(optopt);

			return pgw_error_set(
			    err, PGW_EINVAL, "option --%s of %s needs a value (%s)",
			    d ? d->name : "?", c->name, d && d->arg ? d->arg : "?");
		}
		if (!cmd_allows(c, o))
		{
			const OptDef *d = opt_find(o);

			return pgw_error_set(
			    err, PGW_EINVAL,
			    "option --%s is not valid for %s (see pgwardenctl %s --help)",
			    d ? d->name : "?", c->name, c->name);
		}
		if (parse_value(out, o, optarg, err) != 0)
			return PGW_EINVAL;
	}
	if (out->help)
		return 0;
	if (out->n_pos < c->min_pos)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: missing argument (usage: pgwardenctl %s)",
		                     c->name, c->usage);
	return check_combination(c, out, err);
}
