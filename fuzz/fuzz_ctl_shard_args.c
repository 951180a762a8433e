/*
 * fuzz_ctl_shard_args.c: libFuzzer target for `pgwardenctl shard` argument
 * parsing (ctl/shard_args.h): the input is split into words at newlines,
 * as argv would hold them. Whatever is accepted must be complete for its
 * subcommand (a range for assign/move/split, a group 0..9999, a move id
 * that is valid, a power-of-two slot count).
 */
#include "ctl/shard_args.h"
#include "shard/shard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char *argv[64];
	int argc = 0;
	ShardArgs a;
	char *p;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	p = s;
	while (argc < 63 && p < s + size)
	{
		char *nl = memchr(p, '\n', (size_t) (s + size - p));

		argv[argc++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	argv[argc] = NULL;
	if (shard_args_parse(argc, argv, &a, NULL) == 0 && !a.help)
	{
		if (!shard_slots_valid(a.slots) || a.group > SHARD_GROUP_MAX)
			abort();
		if (a.move_id && !shard_move_id_ok(a.move_id))
			abort();
		switch (a.cmd)
		{
			case SHARD_CMD_INIT:
				if (a.n_groups < 1)
					abort();
				break;
			case SHARD_CMD_ASSIGN:
			case SHARD_CMD_SPLIT:
				if (a.range == NULL || a.group < 0)
					abort();
				break;
			case SHARD_CMD_MOVE:
				if (!a.resume && !a.abort_move &&
				    (a.range == NULL || a.group < 0))
					abort();
				if ((a.resume || a.abort_move) && a.move_id == NULL)
					abort();
				break;
			case SHARD_CMD_TABLE_ADD:
				if (a.table == NULL || a.column == NULL)
					abort();
				break;
			default:
				break;
		}
	}
	free(s);
	return 0;
}
