/*
 * patroni_reply.c: the plain-text answers patronictl expects from the
 * write endpoints (dropin_int.h). Patroni 3.0.2's api.py writes them with
 * _write_response(status, text) and ctl.py prints r.data as it is, so
 * "Switchover failed, details: 503, Switchover status unknown" reads the
 * same on both clusters. Our JSON stays the answer for every other client.
 */
#include "daemon/dropin_int.h"
#include "daemon/rest_int.h"

#include "common/xmem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

bool
rest_reply_for_patronictl(const char *user_agent, RestReply *r)
{
	json_t *o;
	json_t *v;
	const char *key;
	bool done = false;

	if (user_agent == NULL || strncmp(user_agent, "Patroni/", 8) != 0 ||
	    r->body == NULL)
		return false;
	o = json_loads(r->body, 0, NULL);
	if (o != NULL && json_is_object(o) && json_object_size(o) == 1)
	{
		key = json_object_iter_key(json_object_iter(o));
		v = json_object_iter_value(json_object_iter(o));
		if ((strcmp(key, "message") == 0 || strcmp(key, "error") == 0) &&
		    json_is_string(v))
		{
			char *text = pgw_xstrdup(json_string_value(v));

			free(r->body);
			r->body = text;
			done = true;
		}
	}
	json_decref(o);
	return done;
}
