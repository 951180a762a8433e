/*
 * fuzz_rest_body.c: libFuzzer target for the REST write side's body
 * parsers (daemon/rest_body.h). The first byte picks the parser
 * (switchover, failover, restart, reinitialize, PATCH /config against a
 * fixed current value, PUT /config, a raw merge patch of two documents
 * split at the first NUL); the rest is the body. Whatever is accepted must
 * hold: names fit, a config result decodes again as the etcd value.
 */
#include "daemon/rest_body.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1767261600000) /* 2026-01-01T10:00:00Z */

static const char current[] =
    "{\"ttl\":10,\"loop_wait\":1,\"retry_timeout\":3,"
    "\"maximum_lag_on_failover\":1048576,\"postgresql\":{\"use_pg_rewind\":true,"
    "\"parameters\":{\"max_connections\":100}},\"slots\":{},\"other\":{\"x\":1}}";

static void
check_config(const char *body, size_t len, bool replace)
{
	char *out = NULL;
	DynamicConfig cfg;
	int status = 0;

	if (rest_body_config(current, strlen(current), body, len, replace, &out,
	                     &cfg, &status, NULL) == 0)
	{
		DynamicConfig again;

		if (out == NULL ||
		    dcs_config_decode(out, strlen(out), &again, NULL) != 0)
			abort();
		if (again.ttl_ms != cfg.ttl_ms ||
		    again.loop_wait_ms != cfg.loop_wait_ms)
			abort();
		free(out);
	}
	else if (out != NULL || (status != 400 && status != 413 && status != 422))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t len;
	int status = 0;

	if (size < 1)
		return 0;
	body = (const char *) data + 1;
	len = size - 1;
	switch (data[0] % 7)
	{
		case 0:
		case 1:
		{
			RestSwitchoverBody b;

			if (rest_body_switchover(body, len, data[0] % 7 == 1, NOW, &b,
			                         &status, NULL) == 0)
			{
				if (strlen(b.leader) >= PGW_NAME_MAX ||
				    strlen(b.candidate) >= PGW_NAME_MAX ||
				    (b.has_schedule && b.scheduled_at_wall_ms <= NOW))
					abort();
			}
			else if (status < 400 || status > 422)
				abort();
			break;
		}
		case 2:
		{
			RestRestartBody b;

			if (rest_body_restart(body, len, NOW, &b, &status, NULL) == 0)
			{
				if (b.timeout_s < 0 || b.postgres_version < 0 ||
				    (b.role[0] && strcmp(b.role, "primary") != 0 &&
				     strcmp(b.role, "replica") != 0))
					abort();
			}
			else if (status < 400 || status > 422)
				abort();
			break;
		}
		case 3:
		{
			bool force;

			char name[PGW_NAME_MAX];

			if (rest_body_reinit(body, len, &force, &status, NULL) != 0 &&
			    status != 400 && status != 413)
				abort();
			/* the same bytes as a POST /failsafe body */
			if (rest_body_failsafe(body, len, name, sizeof(name), &status,
			                       NULL) == 0)
			{
				if (name[0] == '\0' || strlen(name) >= PGW_NAME_MAX)
					abort();
			}
			else if (status != 400 && status != 413)
				abort();
			break;
		}
		case 4:
			check_config(body, len, false);
			break;
		case 5:
			check_config(body, len, true);
			break;
		case 6:
		{
			const char *nul = memchr(body, '\0', len);
			json_t *t;
			json_t *p;

			if (nul == NULL)
				break;
			t = json_loadb(body, (size_t) (nul - body), JSON_DECODE_ANY, NULL);
			p = json_loadb(nul + 1, len - (size_t) (nul - body) - 1,
			               JSON_DECODE_ANY, NULL);
			if (t != NULL && p != NULL)
			{
				json_t *again;
				json_t *r = rest_json_merge_patch(json_deep_copy(t), p);

				/* RFC 7386: applying the same patch twice changes nothing */
				again = rest_json_merge_patch(json_deep_copy(r), p);
				if (r == NULL || !json_equal(r, again))
					abort();
				json_decref(again);
				json_decref(r);
			}
			json_decref(t);
			json_decref(p);
			break;
		}
	}
	return 0;
}
