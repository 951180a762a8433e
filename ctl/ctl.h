/*
 * ctl.h: the public header of ctl/ (pgwardenctl's library part): argument
 * parsing, output formatting, the edit-config merge and diff, and the
 * switchover eligibility check, all unit-tested without a cluster. The
 * commands themselves (cmd_*.c) are declared in ctl_int.h; main.c holds the
 * global options and the dispatch.
 */
#ifndef PGW_CTL_H
#define PGW_CTL_H

#include "consensus/consensus.h"

#include <stdio.h>

#define CTL_EXIT_OK     0 /* success */
#define CTL_EXIT_FAILED 1 /* refused or failed, reason on stderr */
#define CTL_EXIT_USAGE  2 /* bad command line */

typedef enum CtlFormat
{
	CTL_FORMAT_PRETTY = 0,
	CTL_FORMAT_JSON,
	CTL_FORMAT_YAML,
} CtlFormat;

/* ctl_format_parse: "pretty" / "json" / "yaml"; 0 or PGW_EINVAL. */
int ctl_format_parse(const char *s, CtlFormat *out);

/* ------------------------------------------------------------------------
 * Command-line arguments of one command (args.c)
 * ------------------------------------------------------------------------ */

#define CTL_SETS_MAX 64

/* Everything any command accepts; each command allows a subset. */
typedef struct CtlArgs
{
	const char *command; /* canonical name ("flush", "debug", ...) */
	bool help;           /* --help given: print usage, do nothing */
	bool has_format;     /* --format given after the command */
	CtlFormat format;
	int64_t watch_s;           /* list/topology --watch (0: once) */
	const char *leader;        /* switchover --leader (borrowed from argv) */
	const char *candidate;     /* --candidate */
	int64_t scheduled_wall_ms; /* --scheduled (0: now) */
	bool force;                /* --force: no confirmation */
	int64_t timeout_ms;        /* --timeout (0: command default) */
	bool wait;                 /* pause/resume --wait */
	bool all;                  /* restart --all */
	bool pending;              /* restart --pending */
	int n_sets;                /* edit-config --set / --pg, in order */
	char *sets[CTL_SETS_MAX];  /* "a.b.c=value" (owned) */
	const char *apply_file;    /* edit-config --apply FILE ("-": stdin) */
	const char *replace_file;  /* edit-config --replace FILE */
	bool quiet;                /* edit-config -q: no diff */
	int64_t expect_revision;   /* edit-config --expect-revision (0: none) */
	bool yes_i_am_sure;        /* remove, non-interactive; drill --yes */
	int64_t rounds;            /* drill --rounds (0: not given, 1 round) */
	int raw_argc;              /* shard: the words after "shard"; backup,
								 * restore: argv[0] is the name (borrowed) */
	char **raw_argv;
	int n_pos;                        /* positional arguments */
	const char *pos[PGW_MEMBERS_MAX]; /* borrowed from argv */
} CtlArgs;

/*
 * ctl_args_parse: parse argv[1..argc-1] (argv[0] is the command name) for
 * command, which must be a name from ctl_command_names(). Options are
 * checked against what the command allows, values are parsed whole
 * (--scheduled needs an ISO 8601 time with a zone, --watch 1..3600 seconds,
 * --timeout a duration), and the number of positional arguments is
 * checked. Returns 0 or PGW_EINVAL with a one-line message in err; *out
 * must be released with ctl_args_free() either way.
 */
int ctl_args_parse(const char *command, int argc, char **argv, CtlArgs *out,
                   PgwError *err) PGW_MUSTCHECK;
void ctl_args_free(CtlArgs *a);

/* ctl_command_known: true for a command name pgwardenctl knows. */
bool ctl_command_known(const char *command);

/* ctl_command_help: print "usage: ..." and the options of command. */
void ctl_command_help(FILE *out, const char *command);

/* ctl_commands_print: the list of commands with one line each. */
void ctl_commands_print(FILE *out);

/* ------------------------------------------------------------------------
 * Output (list.c, output.c)
 * ------------------------------------------------------------------------ */

/*
 * ctl_list_print: print the members of a cluster view as `pgwardenctl list`
 * does: a header line (scope, system identifier, pause, leader lease) and one
 * row per member (name, host:port, role, state, timeline, lag in MB, pending
 * restart, tags), sorted by name. lease_ttl_s is the leader lease's remaining
 * TTL (< 0 unknown). Column widths count UTF-8 characters, not bytes.
 */
void ctl_list_print(FILE *out, const ClusterView *v, const char *scope,
                    int64_t lease_ttl_s, CtlFormat fmt);

/*
 * ctl_topology_print: the members as a tree of who replicates from whom:
 * the leader at the root, members with a replicatefrom tag under that
 * member, the others under the leader.
 */
void ctl_topology_print(FILE *out, const ClusterView *v, const char *scope,
                        CtlFormat fmt);

/* ctl_history_print: the timeline history as a table / JSON / YAML. */
void ctl_history_print(FILE *out, const HistoryEntry *h, int n, CtlFormat fmt);

/* ctl_rules_print: failover_decide()'s rule table (`debug rules`). */
void ctl_rules_print(FILE *out, CtlFormat fmt);

/* ctl_display_width: terminal columns of a UTF-8 string (1 per code point). */
size_t ctl_display_width(const char *s);

/* ------------------------------------------------------------------------
 * edit-config (editconf.c): work on the raw JSON of the config key so that
 * keys pgwarden does not know (Patroni's) survive an edit.
 * ------------------------------------------------------------------------ */

struct json_t;

/*
 * ctl_yaml_to_json: parse one YAML document (JSON is YAML) into a new
 * jansson value (*out, caller json_decref). Plain scalars resolve as YAML
 * does (null/~, true/false, integers, reals, else strings); quoted scalars
 * are strings. Anchors and tags are refused. 0 or PGW_EINVAL with the line.
 */
int ctl_yaml_to_json(const char *text, size_t len, struct json_t **out,
                     PgwError *err) PGW_MUSTCHECK;

/* ctl_json_to_yaml: block YAML of v with sorted keys (caller frees). */
char *ctl_json_to_yaml(const struct json_t *v);

/*
 * ctl_config_set: apply one "dotted.key=value" to the object root, creating
 * intermediate objects; value is a YAML scalar or flow value, and null
 * deletes the key (Patroni's `edit-config -s`). PGW_EINVAL when the
 * assignment has no '=' or no key, or a path element is not an object.
 */
int ctl_config_set(struct json_t *root, const char *assignment,
                   PgwError *err) PGW_MUSTCHECK;

/*
 * ctl_config_merge_patch: merge patch into root as RFC 7386 does (objects
 * merge recursively, null deletes, anything else replaces). PGW_EINVAL when
 * patch is not an object.
 */
int ctl_config_merge_patch(struct json_t *root, const struct json_t *patch,
                           PgwError *err) PGW_MUSTCHECK;

/*
 * ctl_config_check: the edited config must be a JSON object that the
 * daemon accepts (dcs_config_decode_json, including the timing invariant).
 * 0 or PGW_EINVAL naming the key.
 */
int ctl_config_check(const struct json_t *root, PgwError *err) PGW_MUSTCHECK;

/*
 * ctl_diff: a line diff of old_text and new_text, each changed line
 * prefixed "-" or "+", unchanged lines " " (the whole text: configs are
 * small). NULL when the texts are equal. Caller frees.
 */
char *ctl_diff(const char *old_text, const char *new_text);

/* ------------------------------------------------------------------------
 * switchover / failover eligibility (eligible.c)
 * ------------------------------------------------------------------------ */

typedef enum CtlTargetKind
{
	CTL_TARGET_SWITCHOVER = 0, /* a healthy leader hands over */
	CTL_TARGET_FAILOVER,       /* no healthy leader: promote candidate */
} CtlTargetKind;

/*
 * ctl_candidate_check: may candidate (NULL: any member) be promoted by a
 * switchover away from leader, or a failover? Applies the engine's own
 * ranking (failover_best_candidate) and explains a refusal by the first
 * rule that fails: unknown member, candidate is the leader, not running,
 * not a replica, nofailover, failover priority 0, timeline behind, not
 * sync in synchronous mode, lag above maximum_lag_on_failover. Returns 0
 * (eligible) or PGW_ESTATE / PGW_ENOTFOUND with a one-line reason in err.
 */
int ctl_candidate_check(const ClusterView *v, const char *leader,
                        const char *candidate, CtlTargetKind kind,
                        PgwError *err) PGW_MUSTCHECK;

#endif
