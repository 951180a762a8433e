/*
 * rest_body.c: request bodies of the REST write side, see rest_body.h.
 * Every refusal names the problem; messages follow Patroni's api.py where
 * it has one, so patronictl users read familiar text.
 */
#include "daemon/rest_body.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* refuse with an HTTP status */
static int refuse(int *status, int code, PgwError *err, const char *fmt, ...)
    PGW_PRINTF(4, 5);

static int
refuse(int *status, int code, PgwError *err, const char *fmt, ...)
{
	va_list ap;
	char msg[PGW_ERROR_MSG_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*status = code;
	return pgw_error_set(err, PGW_EINVAL, "%s", msg);
}

static const char *
kind_name(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "an array";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
			return "an integer";
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		case JSON_NULL:
			return "null";
	}
	return "?";
}

static bool
blank(const char *body, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char) body[i]))
			return false;
	return true;
}

/*
 * load_object: the body as a JSON object; an empty body is {} when
 * optional. NULL (with *status 400) otherwise.
 */
static json_t *
load_object(const char *body, size_t len, bool optional, int *status,
            PgwError *err)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL || blank(body, len))
	{
		if (optional)
			return json_object();
		refuse(status, 400, err,
		       "a JSON object is required in the request body");
		return NULL;
	}
	if (len > REST_BODY_MAX)
	{
		refuse(status, 413, err, "request body is larger than %d bytes",
		       REST_BODY_MAX);
		return NULL;
	}
	root =
	    json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL)
	{
		refuse(status, 400, err, "invalid JSON at line %d column %d: %s",
		       jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root))
	{
		refuse(status, 400, err, "expected a JSON object, got %s",
		       kind_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* a member name: a non-empty string shorter than PGW_NAME_MAX */
static int
get_name(const json_t *v, const char *key, char *out, int *status,
         PgwError *err)
{
	const char *s;
	size_t n;

	out[0] = '\0';
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return refuse(status, 400, err,
		              "key \"%s\": expected a member name (string), got %s",
		              key, kind_name(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= PGW_NAME_MAX || strlen(s) != n)
		return refuse(
		    status, 400, err,
		    "key \"%s\": not a valid member name (NUL byte or longer than %d bytes)",
		    key, PGW_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			return refuse(
			    status, 400, err,
			    "key \"%s\": member name holds a control character or '/'",
			    key);
	memcpy(out, s, n + 1);
	return 0;
}

int
rest_parse_schedule(const char *s, const char *what, int64_t now_wall_ms,
                    int64_t *wall_ms, int *status, PgwError *err)
{
	char withzone[80];

	if (pgw_parse_wall_iso(s, wall_ms) != 0)
	{
		/* tell a missing zone apart from garbage, as Patroni does */
		if (strlen(s) < 64)
		{
			int64_t ignored;

			snprintf(withzone, sizeof(withzone), "%sZ", s);
			if (pgw_parse_wall_iso(withzone, &ignored) == 0)
				return refuse(
				    status, 400, err,
				    "Timezone information is mandatory for the scheduled %s",
				    what);
		}
		return refuse(
		    status, 422, err,
		    "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601");
	}
	/* the failover key's codec accepts years 1970..9999 only */
	if (*wall_ms < 0 || *wall_ms >= INT64_C(253402300800000))
		return refuse(
		    status, 422, err,
		    "scheduled timestamp is out of range (years 1970 to 9999)");
	if (*wall_ms <= now_wall_ms)
		return refuse(status, 422, err, "Cannot schedule %s in the past", what);
	return 0;
}

int
rest_body_switchover(const char *body, size_t len, bool is_failover,
                     int64_t now_wall_ms, RestSwitchoverBody *out, int *status,
                     PgwError *err)
{
	const char *what = is_failover ? "failover" : "switchover";
	json_t *root;
	const char *key;
	json_t *v;
	int rc = 0;
	char member[PGW_NAME_MAX] = "";

	memset(out, 0, sizeof(*out));
	*status = 0;
	root = load_object(body, len, false, status, err);
	if (root == NULL)
		return PGW_EINVAL;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "leader") == 0)
			rc = get_name(v, key, out->leader, status, err);
		else if (strcmp(key, "candidate") == 0)
			rc = get_name(v, key, out->candidate, status, err);
		else if (strcmp(key, "member") == 0)
			rc = get_name(v, key, member, status, err);
		else if (strcmp(key, "scheduled_at") == 0)
		{
			if (json_is_null(v))
				continue;
			if (!json_is_string(v))
				rc = refuse(
				    status, 400, err,
				    "key \"scheduled_at\": expected an ISO 8601 timestamp (string), got %s",
				    kind_name(v));
			else if (is_failover)
				rc = refuse(status, 400, err, "Failover can't be scheduled");
			else
			{
				rc = rest_parse_schedule(
				    json_string_value(v), what, now_wall_ms,
				    &out->scheduled_at_wall_ms, status, err);
				out->has_schedule = rc == 0;
			}
		}
		else
			rc = refuse(status, 400, err,
			            "unknown key \"%.64s\" in the %s request", key, what);
		if (rc != 0)
			break;
	}
	json_decref(root);
	if (rc != 0)
		return PGW_EINVAL;
	/* Patroni: candidate = request.get('candidate') or request.get('member') */
	if (out->candidate[0] == '\0')
		memcpy(out->candidate, member, sizeof(member));
	if (is_failover && out->candidate[0] == '\0')
		return refuse(
		    status, 400, err,
		    "Failover could be performed only to a specific candidate");
	if (!is_failover && out->leader[0] == '\0')
		return refuse(
		    status, 400, err,
		    "Switchover could be performed only from a specific leader");
	if (out->leader[0] && strcmp(out->leader, out->candidate) == 0)
		return refuse(status, 412, err,
		              "candidate \"%s\" is already the leader", out->candidate);
	return 0;
}

/* "X.Y" (X >= 10) or "X.Y.Z" (X < 10) -> server_version_num */
static int
parse_pg_version(const char *s, int *out)
{
	int64_t c[3] = {0, 0, 0};
	int n = 0;
	const char *p = s;

	while (n < 3)
	{
		char buf[8];
		size_t k = 0;

		while (isdigit((unsigned char) p[k]) && k < sizeof(buf) - 1)
		{
			buf[k] = p[k];
			k++;
		}
		buf[k] = '\0';
		if (k == 0 || pgw_parse_int64(buf, 0, 99, &c[n]) != 0)
			return PGW_EINVAL;
		n++;
		p += k;
		if (*p == '\0')
			break;
		if (*p != '.')
			return PGW_EINVAL;
		p++;
	}
	if (*p != '\0' || n < 2 || (n == 2 && c[0] < 10) || (n == 3 && c[0] >= 10))
		return PGW_EINVAL;
	if (n == 2)
		*out = (int) (c[0] * 10000 + c[1]);
	else
		*out = (int) (c[0] * 10000 + c[1] * 100 + c[2]);
	return 0;
}

int
rest_body_restart(const char *body, size_t len, int64_t now_wall_ms,
                  RestRestartBody *out, int *status, PgwError *err)
{
	json_t *root;
	const char *key;
	json_t *v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	*status = 0;
	root = load_object(body, len, true, status, err);
	if (root == NULL)
		return PGW_EINVAL;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "schedule") == 0)
		{
			if (!json_is_string(v))
				rc = refuse(
				    status, 400, err,
				    "key \"schedule\": expected an ISO 8601 timestamp (string), got %s",
				    kind_name(v));
			else
			{
				rc = rest_parse_schedule(json_string_value(v), "restart",
				                         now_wall_ms, &out->scheduled_wall_ms,
				                         status, err);
				out->has_schedule = rc == 0;
			}
		}
		else if (strcmp(key, "role") == 0)
		{
			const char *r = json_is_string(v) ? json_string_value(v) : "";

			if (strcmp(r, "primary") == 0 || strcmp(r, "master") == 0)
				pgw_strlcpy(out->role, "primary", sizeof(out->role));
			else if (strcmp(r, "replica") == 0)
				pgw_strlcpy(out->role, "replica", sizeof(out->role));
			else
				rc = refuse(
				    status, 400, err,
				    "PostgreSQL role should be either primary or replica");
		}
		else if (strcmp(key, "postgres_version") == 0)
		{
			if (!json_is_string(v) ||
			    parse_pg_version(json_string_value(v),
			                     &out->postgres_version) != 0)
				rc = refuse(
				    status, 400, err,
				    "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted");
		}
		else if (strcmp(key, "timeout") == 0)
		{
			int64_t ms = -1;

			if (json_is_integer(v))
				ms = json_integer_value(v) > 0 && json_integer_value(v) <= 86400
				         ? json_integer_value(v) * 1000
				         : -1;
			else if (json_is_string(v))
			{
				if (pgw_parse_duration_ms(json_string_value(v), &ms) != 0 ||
				    ms > 86400 * 1000)
					ms = -1;
			}
			if (ms < 1000)
				rc = refuse(status, 400, err,
				            "Timeout should be a positive number of seconds");
			else
				out->timeout_s = (int) (ms / 1000);
		}
		else if (strcmp(key, "restart_pending") == 0)
		{
			if (!json_is_boolean(v))
				rc = refuse(
				    status, 400, err,
				    "key \"restart_pending\": expected a boolean, got %s",
				    kind_name(v));
			else
				out->restart_pending = json_is_true(v);
		}
		else
			rc = refuse(status, 400, err,
			            "Unknown filter for the scheduled restart: %.64s", key);
		if (rc != 0)
			break;
	}
	json_decref(root);
	return rc == 0 ? 0 : PGW_EINVAL;
}

int
rest_body_reinit(const char *body, size_t len, bool *force, int *status,
                 PgwError *err)
{
	json_t *root;
	const char *key;
	json_t *v;
	int rc = 0;

	*force = false;
	*status = 0;
	root = load_object(body, len, true, status, err);
	if (root == NULL)
		return PGW_EINVAL;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "force") == 0)
		{
			if (json_is_boolean(v))
				*force = json_is_true(v);
			else if (!json_is_string(v) ||
			         pgw_parse_bool(json_string_value(v), force) != 0)
				rc = refuse(status, 400, err,
				            "key \"force\": expected a boolean, got %s",
				            kind_name(v));
		}
		else
			rc = refuse(status, 400, err,
			            "unknown key \"%.64s\" in the reinitialize request",
			            key);
		if (rc != 0)
			break;
	}
	json_decref(root);
	return rc == 0 ? 0 : PGW_EINVAL;
}

int
rest_body_failsafe(const char *body, size_t len, char *name, size_t name_len,
                   int *status, PgwError *err)
{
	json_t *root;
	json_t *v;
	const char *n;
	int rc = 0;

	if (name_len > 0)
		name[0] = '\0';
	*status = 0;
	root = load_object(body, len, false, status, err);
	if (root == NULL)
		return PGW_EINVAL;
	v = json_object_get(root, "name");
	n = json_string_value(v);
	if (v == NULL)
		rc = refuse(status, 400, err,
		            "key \"name\" (the primary's member name) is required");
	else if (n == NULL)
		rc = refuse(status, 400, err, "key \"name\": expected a string, got %s",
		            kind_name(v));
	else if (n[0] == '\0' || strlen(n) >= name_len ||
	         strlen(n) >= PGW_NAME_MAX || json_string_length(v) != strlen(n))
		rc = refuse(
		    status, 400, err,
		    "key \"name\": not a member name (empty, too long or holding NUL)");
	else
		pgw_strlcpy(name, n, name_len);
	json_decref(root);
	return rc == 0 ? 0 : PGW_EINVAL;
}

json_t *
rest_json_merge_patch(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *v;

	if (!json_is_object(patch))
	{
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (target == NULL || !json_is_object(target))
	{
		json_decref(target);
		target = json_object();
	}
	json_object_foreach((json_t *) patch, key, v)
	{
		if (json_is_null(v))
			json_object_del(target, key);
		else
		{
			json_t *cur = json_object_get(target, key);

			json_incref(cur);
			json_object_set_new(target, key, rest_json_merge_patch(cur, v));
		}
	}
	return target;
}

/* the value at a dotted path of decode's bad_key ("x" or "postgresql.x") */
static bool
has_path(const json_t *doc, const char *path)
{
	const char *dot;

	if (doc == NULL)
		return false;
	if (json_object_get(doc, path) != NULL)
		return true;
	dot = strchr(path, '.');
	if (dot != NULL && strncmp(path, "postgresql.", 11) == 0)
		return json_object_get(json_object_get(doc, "postgresql"), dot + 1) !=
		       NULL;
	return false;
}

static void
del_path(json_t *doc, const char *path)
{
	if (json_object_del(doc, path) == 0)
		return;
	if (strncmp(path, "postgresql.", 11) == 0)
		json_object_del(json_object_get(doc, "postgresql"), path + 11);
}

int
rest_body_config(const char *current, size_t current_len, const char *patch,
                 size_t patch_len, bool replace, char **out_json,
                 DynamicConfig *out_cfg, int *status, PgwError *err)
{
	json_t *p;
	json_t *cur = NULL;
	json_t *merged;
	json_t *strict;
	DynamicConfig cfg;
	char bad_key[160];
	PgwError e = {0};
	int rc = PGW_EINVAL;

	*out_json = NULL;
	*status = 0;
	p = load_object(patch, patch_len, false, status, err);
	if (p == NULL)
		return PGW_EINVAL;
	if (!replace && current != NULL)
	{
		cur = json_loadb(current, current_len, 0, NULL);
		if (cur != NULL && !json_is_object(cur))
		{
			json_decref(cur);
			cur = NULL;
		}
	}
	if (replace)
		merged = json_incref(p);
	else
		merged =
		    rest_json_merge_patch(cur ? json_deep_copy(cur) : json_object(), p);

	/* the rules of an etcd value: what the daemons will decode */
	if (dcs_config_decode_json(merged, false, "", &cfg, bad_key,
	                           sizeof(bad_key), &e) != 0)
	{
		refuse(status, 422, err, "invalid config: %s", e.msg);
		goto out;
	}

	/*
	 * Typos are refused too: a strict decode must pass once the unknown keys
	 * that were already in the key (written by someone else) are set aside.
	 */
	strict = json_deep_copy(merged);
	for (int i = 0; i < 256; i++)
	{
		size_t ml;

		pgw_error_clear(&e);
		if (dcs_config_decode_json(strict, true, "", &cfg, bad_key,
		                           sizeof(bad_key), &e) == 0)
			break;
		ml = strlen(e.msg);
		if (ml >= 11 && strcmp(e.msg + ml - 11, "unknown key") == 0 &&
		    bad_key[0] != '\0' && has_path(cur, bad_key))
		{
			del_path(strict, bad_key);
			continue;
		}
		json_decref(strict);
		refuse(status, 422, err, "invalid config: %s", e.msg);
		goto out;
	}
	json_decref(strict);
	/* keep the lax decode for the caller: every key the daemons use */
	if (dcs_config_decode_json(merged, false, "", &cfg, NULL, 0, &e) != 0)
	{
		refuse(status, 422, err, "invalid config: %s", e.msg);
		goto out;
	}
	*out_json = json_dumps(merged, JSON_COMPACT);
	if (*out_json == NULL)
	{
		refuse(status, 422, err, "invalid config: could not encode the result");
		goto out;
	}
	if (out_cfg != NULL)
		*out_cfg = cfg;
	rc = 0;
out:
	json_decref(merged);
	json_decref(cur);
	json_decref(p);
	return rc;
}
