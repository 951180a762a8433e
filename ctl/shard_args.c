/*
 * shard_args.c: the arguments of `pgwardenctl shard ...` (shard_args.h).
 * A small table of subcommands, each with the options it allows and how
 * many positional words it takes; values are parsed whole, never with a
 * silent default for something that was given.
 */
#include "ctl/shard_args.h"

#include "common/strutil.h"
#include "shard/shard.h"

#include <string.h>

typedef enum ShardOpt
{
	SO_GROUPS = 1 << 0,
	SO_SLOTS = 1 << 1,
	SO_TO = 1 << 2,
	SO_ID = 1 << 3,
	SO_RESUME = 1 << 4,
	SO_ABORT = 1 << 5,
	SO_DBNAME = 1 << 6,
	SO_GRACE = 1 << 7,
	SO_TIMEOUT = 1 << 8,
	SO_STOP_AFTER = 1 << 9,
	SO_CATCHUP = 1 << 10,
	SO_FORMAT = 1 << 11,
	SO_HOLD = 1 << 12,
} ShardOpt;

static const struct
{
	const char *name;
	ShardOpt opt;
	bool has_value;
} opts[] = {
    {"groups", SO_GROUPS, true},
    {"slots", SO_SLOTS, true},
    {"to", SO_TO, true},
    {"id", SO_ID, true},
    {"resume", SO_RESUME, true},
    {"abort", SO_ABORT, true},
    {"dbname", SO_DBNAME, true},
    {"grace", SO_GRACE, true},
    {"timeout", SO_TIMEOUT, true},
    {"stop-after", SO_STOP_AFTER, true},
    {"catchup-bytes", SO_CATCHUP, true},
    {"format", SO_FORMAT, true},
    {"hold", SO_HOLD, true},
};

#define MOVE_OPTS                                                              \
	(SO_TO | SO_ID | SO_RESUME | SO_ABORT | SO_GRACE | SO_TIMEOUT |            \
	 SO_STOP_AFTER | SO_CATCHUP | SO_HOLD)

static const struct
{
	const char *name;
	ShardCmd cmd;
	unsigned allowed;
	int min_pos;
	int max_pos;
	const char *usage;
} cmds[] = {
    {"init", SHARD_CMD_INIT, SO_GROUPS | SO_SLOTS | SO_DBNAME, 0, 0,
     "init --groups G[,G...] [--slots N] [--dbname DB]"},
    {"show", SHARD_CMD_SHOW, SO_FORMAT, 0, 0, "show [--format pretty|json]"},
    {"lookup", SHARD_CMD_LOOKUP, SO_FORMAT, 1, 1,
     "lookup USER_ID [--format pretty|json]"},
    {"assign", SHARD_CMD_ASSIGN, 0, 2, 2, "assign FROM-TO GROUP"},
    {"table", SHARD_CMD_TABLE_ADD, 0, 2, 2, "table add TABLE COLUMN"},
    {"install", SHARD_CMD_INSTALL, 0, 0, 0, "install"},
    {"move", SHARD_CMD_MOVE, MOVE_OPTS, 0, 1,
     "move FROM-TO --to GROUP [--id ID] | move --resume ID | move --abort ID\n"
     "        [--grace DURATION] [--timeout DURATION] [--stop-after PHASE] [--hold PHASE=DURATION]\n"
     "        [--catchup-bytes N]"},
    {"split", SHARD_CMD_SPLIT, MOVE_OPTS & ~(SO_RESUME | SO_ABORT), 1, 1,
     "split FROM-TO --to GROUP [--id ID] [--grace DURATION] [--timeout DURATION]"},
};

void
shard_args_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pgwardenctl [GLOBAL OPTIONS] shard SUBCOMMAND\n\nSubcommands:\n");
	for (size_t i = 0; i < PGW_LENGTHOF(cmds); i++)
		fprintf(out, "  shard %s\n", cmds[i].usage);
	fprintf(
	    out,
	    "\nPHASE is copying, frozen, flipped or cleanup. --hold waits at a phase and\n"
	    "goes on. --dbname at init names the\n"
	    "database that holds the sharded tables in every group (the map keeps it).\n"
	    "The database superuser\n"
	    "comes from -c CONFIG (postgresql.authentication.superuser) or PGUSER /\n"
	    "PGPASSWORD. See pgwardenctl(1) and the README's sharding section.\n");
}

static int
parse_group(const char *s, const char *what, int *out, PgwError *err)
{
	int64_t v;

	if (pgw_parse_int64(s, 0, SHARD_GROUP_MAX, &v) != 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid %s \"%s\": expected a group number 0..%d",
		                     what, s, SHARD_GROUP_MAX);
	*out = (int) v;
	return 0;
}

static int
parse_groups(const char *s, ShardArgs *a, PgwError *err)
{
	char buf[2048];
	char *p;
	char *save = NULL;

	if (strlen(s) >= sizeof(buf) || s[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid --groups: expected G[,G...]");
	pgw_strlcpy(buf, s, sizeof(buf));
	a->n_groups = 0;
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
	{
		int g = -1;
		int rc;

		if (a->n_groups == SHARD_ARGS_GROUPS_MAX)
			return pgw_error_set(err, PGW_EINVAL, "--groups: at most %d groups",
			                     SHARD_ARGS_GROUPS_MAX);
		if ((rc = parse_group(p, "--groups entry", &g, err)) != 0)
			return rc;
		a->groups[a->n_groups++] = g;
	}
	if (a->n_groups == 0 || s[strlen(s) - 1] == ',' || s[0] == ',' ||
	    strstr(s, ",,"))
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid --groups \"%s\": expected G[,G...]", s);
	return 0;
}

static int
parse_phase(const char *s, int *out, PgwError *err)
{
	static const ShardMovePhase ok[] = {SHARD_MOVE_COPYING, SHARD_MOVE_FROZEN,
	                                    SHARD_MOVE_FLIPPED, SHARD_MOVE_CLEANUP};

	for (size_t i = 0; i < PGW_LENGTHOF(ok); i++)
		if (strcmp(s, shard_move_phase_name(ok[i])) == 0)
		{
			*out = (int) ok[i];
			return 0;
		}
	return pgw_error_set(
	    err, PGW_EINVAL,
	    "invalid --stop-after \"%s\": expected copying, frozen, flipped or cleanup",
	    s);
}

static int
parse_duration(const char *s, const char *what, int64_t *out, PgwError *err)
{
	int64_t v;

	if (pgw_parse_duration_ms(s, &v) != 0 || v < 0 || v > INT64_C(7) * 86400000)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid --%s \"%s\": expected a duration such as 30s, 5m or 0",
		    what, s);
	*out = v;
	return 0;
}

static int
set_value(ShardArgs *a, ShardOpt o, const char *name, const char *v,
          PgwError *err)
{
	int64_t n;

	switch (o)
	{
		case SO_GROUPS:
			return parse_groups(v, a, err);
		case SO_SLOTS:
			if (pgw_parse_int64(v, 1, SHARD_SLOTS_MAX, &n) != 0 ||
			    !shard_slots_valid((int) n))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --slots \"%s\": expected a power of two 1..%d", v,
				    SHARD_SLOTS_MAX);
			a->slots = (int) n;
			return 0;
		case SO_TO:
			return parse_group(v, "--to", &a->group, err);
		case SO_ID:
		case SO_RESUME:
		case SO_ABORT:
			if (!shard_move_id_ok(v))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --%s \"%s\": a move id is 1..%d characters of a-z, 0-9 and -",
				    name, v, SHARD_MOVE_ID_MAX - 1);
			if (a->move_id && strcmp(a->move_id, v) != 0)
				return pgw_error_set(err, PGW_EINVAL,
				                     "two move ids given (\"%s\", \"%s\")",
				                     a->move_id, v);
			a->move_id = v;
			a->resume |= o == SO_RESUME;
			a->abort_move |= o == SO_ABORT;
			return 0;
		case SO_DBNAME:
			if (!shard_database_ok(v))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --dbname \"%s\": 1..63 letters, digits, _ or -",
				    v);
			a->dbname = v;
			return 0;
		case SO_GRACE:
			return parse_duration(v, name, &a->grace_ms, err);
		case SO_TIMEOUT:
			if (parse_duration(v, name, &a->timeout_ms, err) != 0 ||
			    a->timeout_ms == 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --timeout \"%s\": expected a duration above 0, such as 5m",
				    v);
			return 0;
		case SO_STOP_AFTER:
			return parse_phase(v, &a->stop_after, err);
		case SO_HOLD:
		{
			const char *eqp = strchr(v, '=');
			char phase[32];

			if (eqp == NULL || (size_t) (eqp - v) >= sizeof(phase))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --hold \"%s\": expected PHASE=DURATION, e.g. frozen=10s",
				    v);
			memcpy(phase, v, (size_t) (eqp - v));
			phase[eqp - v] = '\0';
			if (parse_phase(phase, &a->hold_phase, err) != 0 ||
			    parse_duration(eqp + 1, name, &a->hold_ms, err) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --hold \"%s\": expected PHASE=DURATION with PHASE copying, frozen, flipped or cleanup",
				    v);
			return 0;
		}
		case SO_CATCHUP:
			if (pgw_parse_bytes(v, &a->catchup_bytes) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --catchup-bytes \"%s\": expected a size such as 1MB",
				    v);
			return 0;
		case SO_FORMAT:
			if (ctl_format_parse(v, &a->format) != 0 ||
			    a->format == CTL_FORMAT_YAML)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "invalid --format \"%s\": expected pretty or json", v);
			a->has_format = true;
			return 0;
	}
	return pgw_error_set(err, PGW_EINTERNAL, "unhandled option %s", name);
}

int
shard_args_parse(int argc, char **argv, ShardArgs *out, PgwError *err)
{
	const char *pos[4];
	int n_pos = 0;
	int c = -1;
	int first = 1;
	bool only_pos = false;

	memset(out, 0, sizeof(*out));
	out->slots = SHARD_SLOTS_DEFAULT;
	out->group = -1;
	out->grace_ms = 30000;
	out->timeout_ms = 300000;
	out->stop_after = -1;
	out->hold_phase = -1;
	out->catchup_bytes = 1024 * 1024;
	if (argc < 1 || argv[0] == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "shard: missing subcommand (init, show, lookup, assign, table, install, move, split)");
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0)
	{
		out->help = true;
		return 0;
	}
	for (size_t i = 0; i < PGW_LENGTHOF(cmds); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			c = (int) i;
	if (c < 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "shard: unknown subcommand \"%s\" (init, show, lookup, assign, table, install, move, split)",
		    argv[0]);
	out->cmd = cmds[c].cmd;
	if (out->cmd == SHARD_CMD_TABLE_ADD)
	{
		if (argc < 2 || strcmp(argv[1], "add") != 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "shard table: expected \"table add TABLE COLUMN\"");
		first = 2;
	}
	for (int i = first; i < argc; i++)
	{
		const char *w = argv[i];
		const char *eq;
		char name[32];
		const char *val;
		int o = -1;
		int rc;

		if (w == NULL)
			break;
		if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0)
		{
			out->help = true;
			return 0;
		}
		if (strcmp(w, "--") == 0 && !only_pos)
		{
			only_pos = true; /* the rest are arguments, even "--x" */
			continue;
		}
		if (only_pos || strncmp(w, "--", 2) != 0)
		{
			/* a negative user id is a value, not an option */
			if (n_pos == cmds[c].max_pos)
				return pgw_error_set(err, PGW_EINVAL,
				                     "shard %s: unexpected argument \"%s\"",
				                     cmds[c].name, w);
			pos[n_pos++] = w;
			continue;
		}
		eq = strchr(w, '=');
		pgw_strlcpy(name, w + 2,
		            eq && (size_t) (eq - w - 2) < sizeof(name)
		                ? (size_t) (eq - w - 2) + 1
		                : sizeof(name));
		for (size_t k = 0; k < PGW_LENGTHOF(opts); k++)
			if (strcmp(name, opts[k].name) == 0)
				o = (int) k;
		if (o < 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "shard %s: unknown option \"%s\" (see pgwardenctl shard --help)",
			    cmds[c].name, w);
		if (!(cmds[c].allowed & opts[o].opt))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "shard %s: option --%s is not valid here (usage: shard %s)",
			    cmds[c].name, name, cmds[c].usage);
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc && argv[i + 1] != NULL)
			val = argv[++i];
		else
			return pgw_error_set(err, PGW_EINVAL,
			                     "shard %s: option --%s needs a value",
			                     cmds[c].name, name);
		if ((rc = set_value(out, opts[o].opt, name, val, err)) != 0)
			return rc;
	}
	if (out->cmd == SHARD_CMD_TABLE_ADD)
	{
		/* "add" was consumed before the loop */
		if (n_pos != 2)
			return pgw_error_set(err, PGW_EINVAL,
			                     "shard table add: expected TABLE COLUMN");
		out->table = pos[0];
		out->column = pos[1];
		return 0;
	}
	if (n_pos < cmds[c].min_pos || n_pos > cmds[c].max_pos)
		return pgw_error_set(
		    err, PGW_EINVAL, "shard %s: %s argument (usage: shard %s)",
		    cmds[c].name, n_pos < cmds[c].min_pos ? "missing" : "unexpected",
		    cmds[c].usage);
	switch (out->cmd)
	{
		case SHARD_CMD_INIT:
			if (out->n_groups == 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "shard init: --groups G[,G...] is required");
			break;
		case SHARD_CMD_LOOKUP:
			if (pgw_parse_int64(pos[0], INT64_MIN, INT64_MAX, &out->user_id) !=
			    0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "shard lookup: user id \"%s\" is not an integer (expected -9223372036854775808..9223372036854775807)",
				    pos[0]);
			break;
		case SHARD_CMD_ASSIGN:
			out->range = pos[0];
			return parse_group(pos[1], "group", &out->group, err);
		case SHARD_CMD_MOVE:
			if (out->resume || out->abort_move)
			{
				if (n_pos > 0)
					return pgw_error_set(
					    err, PGW_EINVAL,
					    "shard move: --resume/--abort take a move id, not a range");
				if (out->resume && out->abort_move)
					return pgw_error_set(
					    err, PGW_EINVAL,
					    "shard move: --resume or --abort, not both");
				if (out->group >= 0)
					return pgw_error_set(
					    err, PGW_EINVAL,
					    "shard move: --to belongs to a new move, not to --resume/--abort");
				break;
			}
			/* FALLTHROUGH */
		case SHARD_CMD_SPLIT:
			if (n_pos != 1)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "shard %s: missing FROM-TO (usage: shard %s)", cmds[c].name,
				    cmds[c].usage);
			if (out->group < 0)
				return pgw_error_set(err, PGW_EINVAL,
				                     "shard %s: --to GROUP is required",
				                     cmds[c].name);
			out->range = pos[0];
			break;
		default:
			break;
	}
	return 0;
}
