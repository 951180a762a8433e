/*
 * shard_args.h: the arguments of `pgwardenctl shard ...` (shard_args.c),
 * parsed whole into a struct by a pure function, so the fuzz target
 * (fuzz/fuzz_shard_args.c) and the unit tests drive exactly what the
 * command runs.
 */
#ifndef PGW_CTL_SHARD_ARGS_H
#define PGW_CTL_SHARD_ARGS_H

#include "common/error.h"
#include "ctl/ctl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHARD_ARGS_GROUPS_MAX 256

typedef enum ShardCmd
{
	SHARD_CMD_INIT = 0,  /* init --groups 1,2,3 [--slots N] */
	SHARD_CMD_SHOW,      /* show */
	SHARD_CMD_LOOKUP,    /* lookup USER_ID */
	SHARD_CMD_ASSIGN,    /* assign RANGE GROUP */
	SHARD_CMD_TABLE_ADD, /* table add TABLE COLUMN */
	SHARD_CMD_INSTALL,   /* install */
	SHARD_CMD_MOVE,      /* move RANGE --to G | --resume ID | --abort ID */
	SHARD_CMD_SPLIT,     /* split RANGE --to G */
} ShardCmd;

typedef struct ShardArgs
{
	ShardCmd cmd;
	bool help;
	bool has_format;
	CtlFormat format;
	int slots;    /* init --slots (default 4096) */
	int n_groups; /* init --groups */
	int groups[SHARD_ARGS_GROUPS_MAX];
	const char *range; /* assign/move/split RANGE (parsed against the
								 * map's slot count later) */
	int group;         /* assign GROUP, move/split --to */
	int64_t user_id;   /* lookup */
	const char *table; /* table add */
	const char *column;
	const char *move_id; /* move --id / --resume / --abort */
	bool resume;
	bool abort_move;
	const char *dbname; /* --dbname (default postgres) */
	int64_t grace_ms;   /* --grace (default 30 s) */
	int64_t timeout_ms; /* --timeout: one wait of a step (default 5 min) */
	int stop_after;     /* --stop-after PHASE, -1: run to the end */
	int hold_phase;     /* --hold PHASE=DURATION, -1: none */
	int64_t hold_ms;
	uint64_t catchup_bytes; /* --catchup-bytes (default 1 MiB) */
} ShardArgs;

/*
 * shard_args_parse: argv[0..argc-1] are the words after "shard". Every
 * value is checked whole (a user id must be a 64-bit integer, a group
 * 0..9999, durations such as 30s); an unknown word or option, a missing
 * or extra argument is PGW_EINVAL with a one-line message. *out borrows
 * strings from argv.
 */
int shard_args_parse(int argc, char **argv, ShardArgs *out,
                     PgwError *err) PGW_MUSTCHECK;

/* shard_args_usage: the usage of every shard subcommand. */
void shard_args_usage(FILE *out);

#endif
