/*
 * fuzz_config.c: libFuzzer target for config_parse() (the per-node YAML
 * file), then config_apply_env() with no variables and config_validate():
 * whatever the bytes, no crash, no leak, and an error always has a message.
 */
#include "config/config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NodeConfig c = {0};
	PgwError e = {0};
	char *const envp[] = {NULL};

	if (config_parse((const char *) data, size, "fuzz.yml", &c, &e) == 0)
	{
		if (config_apply_env(&c, envp, &e) == 0)
			(void) !config_validate(&c, &e);
	}
	else if (e.msg[0] == '\0')
		abort();
	config_free(&c);
	return 0;
}
