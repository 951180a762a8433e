/*
 * cli.h: the command line shared by the long-running programs (pgwarden,
 * pgwarden-router): -c/--config FILE, --check-config, --version, --help.
 */
#ifndef PGW_COMMON_CLI_H
#define PGW_COMMON_CLI_H

#include <stdbool.h>

typedef struct CliProgram
{
	const char *name;           /* "pgwarden" */
	const char *config_env;     /* environment variable naming the file */
	const char *config_default; /* the file when neither -c nor env names one */
	const char *usage;          /* the text --help prints */
} CliProgram;

typedef struct CliArgs
{
	const char *config_path; /* never NULL after a parse that returned -1 */
	bool check_only;         /* --check-config */
} CliArgs;

/*
 * cli_parse: parse argv for prog. Returns -1 when the program should go on
 * with *out, else the exit code: 0 after --version or --help, 2 on a usage
 * error (which is reported on stderr, naming the argument).
 */
int cli_parse(const CliProgram *prog, int argc, char **argv, CliArgs *out);

#endif
