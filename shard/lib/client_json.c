/*
 * client_json.c: libpgwshard's JSON answers (pgw_shard.h): the cached map
 * with every group's endpoints, and one lookup.
 */
#include "shard/lib/client_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
endpoint_json(const RoutingEndpoint *ep)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(ep->name));
	json_object_set_new(o, "host", json_string(ep->host));
	json_object_set_new(o, "port", json_integer(ep->port));
	return o;
}

char *
pgw_shard_map_json(PgwShardClient *sc)
{
	json_t *root;
	json_t *groups = json_object();
	char *map_text;
	char *s;
	json_error_t jerr;

	pthread_rwlock_rdlock(&sc->lock);
	map_text = shard_map_encode(sc->map);
	for (int i = 0; i < sc->n_groups; i++)
	{
		const GroupRoute *gr = &sc->groups[i];
		json_t *o = json_object();
		json_t *ro = json_array();
		PgwShardLookup l;
		char name[16];

		memset(&l, 0, sizeof(l));
		if (gr->has_table)
		{
			fill_ro(&gr->table, &l);
			json_object_set_new(o, "epoch", json_integer(gr->table.epoch));
			json_object_set_new(
			    o, "state", json_string(routing_state_name(gr->table.state)));
			json_object_set_new(o, "rw",
			                    gr->table.state == ROUTING_STATE_SERVING &&
			                            gr->table.has_primary
			                        ? endpoint_json(&gr->table.primary)
			                        : json_null());
			for (int j = 0; j < gr->table.n_replicas; j++)
				if (gr->table.replicas[j].weight > 0)
					json_array_append_new(
					    ro, endpoint_json(&gr->table.replicas[j].ep));
		}
		else
			json_object_set_new(o, "rw", json_null());
		json_object_set_new(o, "ro", ro);
		snprintf(name, sizeof(name), "%d", gr->group);
		json_object_set_new(groups, name, o);
	}
	pthread_rwlock_unlock(&sc->lock);
	root = json_loads(map_text, 0, &jerr);
	free(map_text);
	if (root == NULL)
		abort(); /* our own encoding always parses */
	json_object_set_new(root, "groups", groups);
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		abort();
	return s;
}

static json_t *
pub_endpoint_json(const PgwShardEndpoint *ep)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(ep->name));
	json_object_set_new(o, "host", json_string(ep->host));
	json_object_set_new(o, "port", json_integer(ep->port));
	return o;
}

char *
pgw_shard_lookup_json(const PgwShardLookup *r)
{
	json_t *o = json_object();
	json_t *ro = json_array();
	char *s;

	json_object_set_new(o, "user_id", json_integer(r->user_id));
	json_object_set_new(o, "slot", json_integer(r->slot));
	json_object_set_new(o, "group", json_integer(r->group));
	json_object_set_new(o, "state",
	                    json_string(shard_state_name((ShardState) r->state)));
	json_object_set_new(o, "map_version", json_integer(r->map_version));
	json_object_set_new(o, "rw",
	                    r->has_rw ? pub_endpoint_json(&r->rw) : json_null());
	for (int i = 0; i < r->n_ro; i++)
		json_array_append_new(ro, pub_endpoint_json(&r->ro[i]));
	json_object_set_new(o, "ro", ro);
	json_object_set_new(o, "routing_epoch", json_integer(r->routing_epoch));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}
