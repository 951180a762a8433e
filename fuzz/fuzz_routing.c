/*
 * fuzz_routing.c: libFuzzer target for routing.h's parsers of outside
 * input. The first byte picks one: even, the `routing` value as read from
 * etcd (a decoded table is re-encoded and must decode again to the same
 * routes and epoch); odd, a member's conn_url. The router's own config,
 * template and HAProxy parsers are internal (routing_int.h) and covered by
 * tests/unit/test_routing_router.c.
 */
#include "routing/routing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RoutingTable *t;
	char *s;
	char *json;

	if (size < 1)
		return 0;
	s = malloc(size);
	t = calloc(2, sizeof(*t));
	if (s == NULL || t == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 2 == 0)
	{
		if (routing_table_decode(s, size - 1, &t[0], NULL) == 0)
		{
			json = routing_table_encode(&t[0]);
			if (routing_table_decode(json, strlen(json), &t[1], NULL) != 0 ||
			    !routing_table_equal_routes(&t[0], &t[1]) ||
			    t[0].epoch != t[1].epoch)
				abort();
			free(json);
		}
	}
	else
	{
		RoutingEndpoint ep;

		if (routing_endpoint_from_url(s, &ep, NULL) == 0 &&
		    (ep.port < 1 || ep.port > 65535 || ep.host[0] == '\0'))
			abort();
	}
	free(t);
	free(s);
	return 0;
}
