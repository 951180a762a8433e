/*
 * fuzz_routing.c: libFuzzer target for routing/'s parsers of outside input.
 * The first byte picks one: 0 the `routing` value (a decoded table is
 * re-encoded and must decode again to the same routes), 1 the router's YAML
 * config, 2 a template rendered against a fixed table, 3 HAProxy's
 * `show servers state` answer.
 */
#include "routing/routing_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
table_roundtrip(const char *s, size_t n)
{
	RoutingTable *t = calloc(2, sizeof(*t));
	char	   *json;

	if (t == NULL)
		abort();
	if (routing_table_decode(s, n, &t[0], NULL) == 0)
	{
		json = routing_table_encode(&t[0]);
		if (routing_table_decode(json, strlen(json), &t[1], NULL) != 0 ||
			!routing_table_equal_routes(&t[0], &t[1]) ||
			t[0].epoch != t[1].epoch)
			abort();
		free(json);
	}
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	uint8_t		kind;

	if (size < 1)
		return 0;
	kind = data[0] % 4;
	s = malloc(size);
	if (s == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (kind)
	{
		case 0:
			table_roundtrip(s, size - 1);
			break;
		case 1:
			{
				RouterConfig *c = calloc(1, sizeof(*c));

				if (c == NULL)
					abort();
				if (router_config_parse(s, size - 1, c, NULL) == 0 &&
					c->n_targets < 1)
					abort();
				free(c);
				break;
			}
		case 2:
			{
				RoutingTable t = {0};
				char	   *out = NULL;

				t.epoch = 1;
				t.has_primary = true;
				memcpy(t.primary.name, "n1", 3);
				memcpy(t.primary.host, "127.0.0.1", 10);
				t.primary.port = 5432;
				if (strlen(s) == size - 1 &&
					router_template_render(s, &t, &out, NULL) == 0)
					free(out);
				break;
			}
		case 3:
			{
				HaproxyServer *srv = calloc(HAPROXY_SERVERS_MAX, sizeof(*srv));

				if (srv == NULL)
					abort();
				if (haproxy_servers_parse(s, "pg_rw", srv, HAPROXY_SERVERS_MAX,
										  NULL) > HAPROXY_SERVERS_MAX)
					abort();
				free(srv);
				break;
			}
	}
	free(s);
	return 0;
}
