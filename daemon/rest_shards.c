/*
 * rest_shards.c: GET /shards on the REST API (notes R3 §3): the shard map
 * with every group's read-write and read-only endpoints, or with
 * ?user_id=N where that user lives, served from libpgwshard's watch-kept
 * cache (opened on the first request). The map belongs to the scope, so a
 * node of group G (keys under <namespace>/<scope>/G/) reads it one level
 * up. Never blocks the snapshot lock: the cache needs no I/O per request.
 */
#include "daemon/rest_int.h"

#include "common/strutil.h"
#include "common/xmem.h"
#include "shard/shard.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t shards_lock = PTHREAD_MUTEX_INITIALIZER;
static PgwShardClient *shards_client;

static char *
error_json(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s ? s : pgw_xstrdup("{\"error\":\"out of memory\"}");
}

/* "/ns/scope/12/" -> "/ns/scope/" when the last part is a group number */
static bool
strip_group(const char *prefix, char *out, size_t len)
{
	size_t n = strlen(prefix);
	size_t i;

	if (n < 3 || n >= len || prefix[n - 1] != '/')
		return false;
	i = n - 1;
	while (i > 0 && isdigit((unsigned char) prefix[i - 1]))
		i--;
	if (i == n - 1 || i == 0 || prefix[i - 1] != '/' || i < 2)
		return false;
	memcpy(out, prefix, i);
	out[i] = '\0';
	return true;
}

/* with shards_lock held */
static PgwShardClient *
client_get(RestServer *srv, int *status, char **body)
{
	PgwShardConfig cfg = {0};
	char scope_prefix[PGW_PREFIX_MAX];
	char errbuf[512];
	int rc = PGW_ENOTFOUND;

	if (shards_client)
		return shards_client;
	cfg.etcd_endpoints = srv->etcd_endpoints;
	cfg.ca_file = srv->etcd_cacert;
	cfg.cert_file = srv->etcd_cert;
	cfg.key_file = srv->etcd_key;
	cfg.username = srv->etcd_username;
	cfg.password = srv->etcd_password;
	cfg.timeout_ms = 2000;
	/* a group's node: the map is one level up; a plain scope: here */
	if (strip_group(srv->prefix, scope_prefix, sizeof(scope_prefix)))
		rc = pgw_shard_open_prefix(&cfg, scope_prefix, &shards_client, errbuf,
		                           sizeof(errbuf));
	if (rc == PGW_ENOTFOUND)
		rc = pgw_shard_open_prefix(&cfg, srv->prefix, &shards_client, errbuf,
		                           sizeof(errbuf));
	if (rc != 0)
	{
		*status = rc == PGW_ENOTFOUND ? 404 : 503;
		*body = error_json(errbuf);
		shards_client = NULL;
	}
	return shards_client;
}

char *
rest_shards_get(RestServer *srv, const char *query, int *status)
{
	PgwShardClient *c;
	char *body = NULL;
	char qbuf[512];
	char *save = NULL;
	const char *uid_text = NULL;

	/* the only parameter: user_id (MHD has decoded it) */
	pgw_strlcpy(qbuf, query ? query : "", sizeof(qbuf));
	for (char *kv = strtok_r(qbuf, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save))
		if (strncmp(kv, "user_id=", 8) == 0)
			uid_text = kv + 8;
	pthread_mutex_lock(&shards_lock);
	if ((c = client_get(srv, status, &body)) == NULL)
	{
		pthread_mutex_unlock(&shards_lock);
		return body;
	}
	if (uid_text == NULL)
	{
		*status = 200;
		body = pgw_shard_map_json(c);
	}
	else
	{
		int64_t uid;
		PgwShardLookup r;
		char msg[160];

		if (pgw_parse_int64(uid_text, INT64_MIN, INT64_MAX, &uid) != 0)
		{
			snprintf(
			    msg, sizeof(msg),
			    "user_id \"%.64s\" is not an integer (expected -9223372036854775808..9223372036854775807)",
			    uid_text);
			*status = 400;
			body = error_json(msg);
		}
		else if (pgw_shard_lookup(c, uid, &r) != 0)
		{
			*status = 500;
			body = error_json("the shard map has no range for this slot");
		}
		else
		{
			*status = 200;
			body = pgw_shard_lookup_json(&r);
		}
	}
	pthread_mutex_unlock(&shards_lock);
	return body;
}

void
rest_shards_close(void)
{
	pthread_mutex_lock(&shards_lock);
	pgw_shard_close(shards_client);
	shards_client = NULL;
	pthread_mutex_unlock(&shards_lock);
}
