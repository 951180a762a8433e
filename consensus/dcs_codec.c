/*
 * dcs_codec.c: JSON codecs of the Patroni-compatible DCS values (DESIGN.md
 * "etcd keys", anchors.md §2.1): members/<name>, failover, sync, history,
 * plus the role and state names. The `config` value lives in dcs_config.c.
 *
 * Every decoder parses the whole value with jansson or rejects it with
 * PGW_EINVAL and a message naming the field (STYLE.md "Outside input is
 * parsed whole or rejected"): wrong types, out-of-range numbers and strings
 * longer than our fixed buffers are errors, never truncated into a
 * valid-looking value. Decoders write *out only on success.
 *
 * Role names: we encode "primary", as Patroni 4.0+ does. Patroni 3.0.2 (the
 * version we run beside) writes "master" but reads both: its patronictl
 * `list` takes the Leader from the `leader` key, not from the member role
 * (ctl.py cluster_as_json), and every role test in dcs/__init__.py, ha.py
 * and api.py is `role in ('master', 'primary')`. We decode "master",
 * "primary" and the transient "promoted" as MEMBER_ROLE_PRIMARY.
 */
#include "consensus/consensus.h"
#include "consensus/dcs_codec_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * shared helpers (dcs_codec_int.h)
 * ------------------------------------------------------------------------ */

const char *
dcs_json_kind_name(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "object";
		case JSON_ARRAY:
			return "array";
		case JSON_STRING:
			return "string";
		case JSON_INTEGER:
			return "integer";
		case JSON_REAL:
			return "number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

json_t *
dcs_json_load(const char *json, size_t len, const char *what, PgwError *err)
{
	json_error_t jerr;
	json_t	   *v;

	if (json == NULL || len == 0)
	{
		pgw_error_set(err, PGW_EINVAL, "%s: empty value", what);
		return NULL;
	}
	v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		pgw_error_set(err, PGW_EINVAL, "%s: invalid JSON at line %d column %d: %s",
					  what, jerr.line, jerr.column, jerr.text);
	return v;
}

int
dcs_json_scalar_text(const json_t *v, bool pg_bool, char *buf, size_t size,
					 bool *toolong)
{
	int			n;

	*toolong = false;
	switch (json_typeof(v))
	{
		case JSON_STRING:
			if (json_string_length(v) >= size)
			{
				*toolong = true;
				return PGW_EINVAL;
			}
			memcpy(buf, json_string_value(v), json_string_length(v) + 1);
			return 0;
		case JSON_INTEGER:
			n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			break;
		case JSON_REAL:
			n = snprintf(buf, size, "%.15g", json_real_value(v));
			if (n >= 0 && (size_t) n < size && strtod(buf, NULL) != json_real_value(v))
				n = snprintf(buf, size, "%.17g", json_real_value(v));
			break;
		case JSON_TRUE:
			n = snprintf(buf, size, "%s", pg_bool ? "on" : "true");
			break;
		case JSON_FALSE:
			n = snprintf(buf, size, "%s", pg_bool ? "off" : "false");
			break;
		case JSON_NULL:
			n = snprintf(buf, size, "null");
			break;
		default:
			return PGW_EINVAL;
	}
	if (n < 0 || (size_t) n >= size)
	{
		*toolong = true;
		return PGW_EINVAL;
	}
	return 0;
}

/* is_int_literal: -?[0-9]+ without leading zeros, fitting int64. */
static bool
is_int_literal(const char *s, int64_t *out)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return false;
	if (strcmp(s, "-0") == 0)
		return false;
	return pgw_parse_int64(s, INT64_MIN, INT64_MAX, out) == 0;
}

json_t *
dcs_json_from_text(const char *text, bool literals)
{
	int64_t		i;

	if (is_int_literal(text, &i))
		return json_integer((json_int_t) i);
	if (literals)
	{
		if (strcmp(text, "true") == 0)
			return json_true();
		if (strcmp(text, "false") == 0)
			return json_false();
		if (strcmp(text, "null") == 0)
			return json_null();
	}
	return json_string(text);
}

char *
dcs_json_dump(json_t *v)
{
	char	   *s;

	if (v == NULL)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	return s;
}

/* ------------------------------------------------------------------------
 * field readers: each names `what` (the value) and the key in its message
 * ------------------------------------------------------------------------ */

static int
type_error(PgwError *err, const char *what, const char *key,
		   const char *expected, const json_t *got)
{
	return pgw_error_set(err, PGW_EINVAL, "%s: key \"%s\": expected %s, got %s",
						 what, key, expected, dcs_json_kind_name(got));
}

/*
 * get_str: copy string key into dst. Absent: "" (error when required). null
 * counts as absent when null_ok (Patroni writes "sync_standby": null).
 */
static int
get_str(const json_t *obj, const char *what, const char *key, char *dst,
		size_t size, bool required, bool null_ok, PgwError *err)
{
	json_t	   *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (v == NULL || (null_ok && json_is_null(v)))
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s: key \"%s\" is missing",
								 what, key);
		return 0;
	}
	if (!json_is_string(v))
		return type_error(err, what, key, "a string", v);
	if (json_string_length(v) >= size)
		return pgw_error_set(err, PGW_EINVAL,
							 "%s: key \"%s\": value is longer than %zu bytes",
							 what, key, size - 1);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(err, PGW_EINVAL, "%s: key \"%s\": value holds a NUL",
							 what, key);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* get_int: integer key within [min, max]; absent leaves *out unchanged. */
static int
get_int(const json_t *obj, const char *what, const char *key, int64_t min,
		int64_t max, int64_t *out, PgwError *err)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return type_error(err, what, key, "an integer", v);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return pgw_error_set(err, PGW_EINVAL,
							 "%s: key \"%s\": %" JSON_INTEGER_FORMAT
							 " is out of range (%" PRId64 "..%" PRId64 ")",
							 what, key, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

static int
get_bool(const json_t *obj, const char *what, const char *key, bool *out,
		 PgwError *err)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return type_error(err, what, key, "a boolean", v);
	*out = json_is_true(v);
	return 0;
}

static int
require_object(const json_t *v, const char *what, PgwError *err)
{
	if (!json_is_object(v))
		return pgw_error_set(err, PGW_EINVAL, "%s: expected a JSON object, got %s",
							 what, dcs_json_kind_name(v));
	return 0;
}

/* ------------------------------------------------------------------------
 * names
 * ------------------------------------------------------------------------ */

static const struct
{
	MemberRole	role;
	const char *name;
}			role_names[] = {
	{MEMBER_ROLE_PRIMARY, "primary"},
	{MEMBER_ROLE_PRIMARY, "master"},	/* Patroni < 4.0 */
	{MEMBER_ROLE_PRIMARY, "promoted"},	/* Patroni, right after promote */
	{MEMBER_ROLE_REPLICA, "replica"},
	{MEMBER_ROLE_STANDBY_LEADER, "standby_leader"},
	{MEMBER_ROLE_DEMOTED, "demoted"},
	{MEMBER_ROLE_UNINITIALIZED, "uninitialized"},
	{MEMBER_ROLE_UNKNOWN, "unknown"},
};

static const struct
{
	MemberState state;
	const char *name;
}			state_names[] = {
	{MEMBER_STATE_RUNNING, "running"},
	{MEMBER_STATE_STARTING, "starting"},
	{MEMBER_STATE_STOPPING, "stopping"},
	{MEMBER_STATE_STOPPED, "stopped"},
	{MEMBER_STATE_RESTARTING, "restarting"},
	{MEMBER_STATE_CRASHED, "crashed"},
	{MEMBER_STATE_CREATING_REPLICA, "creating replica"},
	{MEMBER_STATE_INITIALIZING, "initializing new cluster"},
	{MEMBER_STATE_START_FAILED, "start failed"},
	{MEMBER_STATE_STOP_FAILED, "stop failed"},
	{MEMBER_STATE_INITDB_FAILED, "initdb failed"},
	/* Patroni's custom bootstrap states, folded into ours */
	{MEMBER_STATE_INITIALIZING, "running custom bootstrap script"},
	{MEMBER_STATE_INITDB_FAILED, "custom bootstrap failed"},
	{MEMBER_STATE_UNKNOWN, "unknown"},
};

const char *
dcs_role_name(MemberRole r)
{
	for (size_t i = 0; i < PGW_LENGTHOF(role_names); i++)
		if (role_names[i].role == r)
			return role_names[i].name;
	return "unknown";
}

const char *
dcs_state_name(MemberState s)
{
	for (size_t i = 0; i < PGW_LENGTHOF(state_names); i++)
		if (state_names[i].state == s)
			return state_names[i].name;
	return "unknown";
}

const MemberInfo *
dcs_view_member(const ClusterView *v, const char *name)
{
	if (v == NULL || name == NULL)
		return NULL;
	for (int i = 0; i < v->n_members && i < PGW_MEMBERS_MAX; i++)
		if (strcmp(v->members[i].name, name) == 0)
			return &v->members[i];
	return NULL;
}

/* ------------------------------------------------------------------------
 * members/<name>
 * ------------------------------------------------------------------------ */

static int
decode_tags(const json_t *tags, const char *what, MemberInfo *m, PgwError *err)
{
	const char *key;
	json_t	   *v;

	if (!json_is_object(tags))
		return type_error(err, what, "tags", "an object", tags);
	json_object_foreach((json_t *) tags, key, v)
	{
		MemberTag  *t;
		bool		toolong;

		if (m->n_tags >= PGW_TAGS_MAX)
			return pgw_error_set(err, PGW_EINVAL, "%s: key \"tags\": more than %d tags",
								 what, PGW_TAGS_MAX);
		if (strlen(key) >= sizeof(t->key) || key[0] == '\0')
			return pgw_error_set(err, PGW_EINVAL,
								 "%s: key \"tags.%.40s\": tag name is empty or longer than %zu bytes",
								 what, key, sizeof(t->key) - 1);
		if (strcmp(key, "nofailover") == 0 || strcmp(key, "noloadbalance") == 0 ||
			strcmp(key, "nosync") == 0)
		{
			bool		b;

			if (!json_is_boolean(v))
				return pgw_error_set(err, PGW_EINVAL,
									 "%s: key \"tags.%s\": expected a boolean, got %s",
									 what, key, dcs_json_kind_name(v));
			b = json_is_true(v);
			if (key[2] == 'f')
				m->nofailover = b;
			else if (key[2] == 'l')
				m->noloadbalance = b;
			else
				m->nosync = b;
		}
		else if (strcmp(key, "failover_priority") == 0)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
				json_integer_value(v) > INT_MAX)
				return pgw_error_set(err, PGW_EINVAL,
									 "%s: key \"tags.failover_priority\": expected an integer 0..%d, got %s",
									 what, INT_MAX, dcs_json_kind_name(v));
			m->failover_priority = (int) json_integer_value(v);
		}
		else if (strcmp(key, "replicatefrom") == 0)
		{
			if (!json_is_string(v))
				return pgw_error_set(err, PGW_EINVAL,
									 "%s: key \"tags.replicatefrom\": expected a string, got %s",
									 what, dcs_json_kind_name(v));
			if (json_string_length(v) >= sizeof(m->replicatefrom) ||
				strlen(json_string_value(v)) != json_string_length(v))
				return pgw_error_set(err, PGW_EINVAL,
									 "%s: key \"tags.replicatefrom\": value is longer than %zu bytes",
									 what, sizeof(m->replicatefrom) - 1);
			pgw_strlcpy(m->replicatefrom, json_string_value(v),
						sizeof(m->replicatefrom));
		}
		t = &m->tags[m->n_tags];
		pgw_strlcpy(t->key, key, sizeof(t->key));
		if (dcs_json_scalar_text(v, false, t->value, sizeof(t->value), &toolong) != 0 ||
			(json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)))
			return pgw_error_set(err, PGW_EINVAL, "%s: key \"tags.%s\": %s", what, key,
								 toolong ? "value is too long" :
								 "expected a scalar (string, number or boolean)");
		m->n_tags++;
	}
	return 0;
}

int
dcs_member_decode(const char *name, const char *json, size_t len,
				  MemberInfo *out, PgwError *err)
{
	char		what[PGW_NAME_MAX + 32];
	MemberInfo *m;
	json_t	   *root;
	json_t	   *v;
	char		buf[64];
	int64_t		i64;
	int			rc = PGW_EINVAL;

	if (name == NULL || name[0] == '\0' || strlen(name) >= PGW_NAME_MAX)
		return pgw_error_set(err, PGW_EINVAL,
							 "member name is empty or longer than %d bytes",
							 PGW_NAME_MAX - 1);
	for (const char *p = name; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return pgw_error_set(err, PGW_EINVAL,
								 "member name holds a control character (byte 0x%02x at %d)",
								 (unsigned char) *p, (int) (p - name));
	snprintf(what, sizeof(what), "member \"%s\"", name);
	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	m = pgw_xcalloc(1, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	m->failover_priority = 1;
	if (require_object(root, what, err) ||
		get_str(root, what, "conn_url", m->conn_url, sizeof(m->conn_url), true, false, err) ||
		get_str(root, what, "api_url", m->api_url, sizeof(m->api_url), true, false, err) ||
		get_str(root, what, "version", m->version, sizeof(m->version), false, false, err) ||
		get_str(root, what, "reason", m->reason, sizeof(m->reason), false, false, err) ||
		get_bool(root, what, "pending_restart", &m->pending_restart, err))
		goto out;

	/* role and state: required, from the known names only */
	if (get_str(root, what, "role", buf, sizeof(buf), true, false, err))
		goto out;
	{
		size_t		k;

		for (k = 0; k < PGW_LENGTHOF(role_names); k++)
			if (strcmp(buf, role_names[k].name) == 0)
				break;
		if (k == PGW_LENGTHOF(role_names))
		{
			pgw_error_set(err, PGW_EINVAL, "%s: key \"role\": unknown role \"%s\"",
						  what, buf);
			goto out;
		}
		m->role = role_names[k].role;
	}
	if (get_str(root, what, "state", buf, sizeof(buf), true, false, err))
		goto out;
	{
		size_t		k;

		for (k = 0; k < PGW_LENGTHOF(state_names); k++)
			if (strcmp(buf, state_names[k].name) == 0)
				break;
		if (k == PGW_LENGTHOF(state_names))
		{
			pgw_error_set(err, PGW_EINVAL, "%s: key \"state\": unknown state \"%s\"",
						  what, buf);
			goto out;
		}
		m->state = state_names[k].state;
	}

	i64 = 0;
	if (get_int(root, what, "xlog_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->xlog_location = (uint64_t) i64;
	i64 = 0;
	if (get_int(root, what, "received_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->received_location = (uint64_t) i64;
	i64 = 0;
	if (get_int(root, what, "replayed_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->replayed_location = (uint64_t) i64;
	i64 = 0;
	if (get_int(root, what, "timeline", 0, INT_MAX, &i64, err))
		goto out;
	m->timeline = (int) i64;

	v = json_object_get(root, "tags");
	if (v != NULL && decode_tags(v, what, m, err))
		goto out;

	m->is_valid = true;
	*out = *m;
	rc = 0;
out:
	free(m);
	json_decref(root);
	return rc;
}

static bool
tag_listed(const MemberInfo *m, const char *key)
{
	for (int i = 0; i < m->n_tags && i < PGW_TAGS_MAX; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			return true;
	return false;
}

char *
dcs_member_encode(const MemberInfo *m)
{
	json_t	   *o = json_object();
	json_t	   *tags = json_object();

	json_object_set_new(o, "conn_url", json_string(m->conn_url));
	json_object_set_new(o, "api_url", json_string(m->api_url));
	json_object_set_new(o, "state", json_string(dcs_state_name(m->state)));
	json_object_set_new(o, "role", json_string(dcs_role_name(m->role)));
	if (m->version[0])
		json_object_set_new(o, "version", json_string(m->version));
	if (m->xlog_location > 0 && m->xlog_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "xlog_location",
							json_integer((json_int_t) m->xlog_location));
	if (m->received_location > 0 && m->received_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "received_location",
							json_integer((json_int_t) m->received_location));
	if (m->replayed_location > 0 && m->replayed_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "replayed_location",
							json_integer((json_int_t) m->replayed_location));
	if (m->timeline > 0)
		json_object_set_new(o, "timeline", json_integer(m->timeline));

	/* the typed tags win over their text copies in tags[] */
	if (m->nofailover || tag_listed(m, "nofailover"))
		json_object_set_new(tags, "nofailover", json_boolean(m->nofailover));
	if (m->noloadbalance || tag_listed(m, "noloadbalance"))
		json_object_set_new(tags, "noloadbalance", json_boolean(m->noloadbalance));
	if (m->nosync || tag_listed(m, "nosync"))
		json_object_set_new(tags, "nosync", json_boolean(m->nosync));
	if (m->failover_priority != 1 || tag_listed(m, "failover_priority"))
		json_object_set_new(tags, "failover_priority",
							json_integer(m->failover_priority));
	if (m->replicatefrom[0])
		json_object_set_new(tags, "replicatefrom", json_string(m->replicatefrom));
	for (int i = 0; i < m->n_tags && i < PGW_TAGS_MAX; i++)
	{
		const char *k = m->tags[i].key;

		if (json_object_get(tags, k) != NULL || strcmp(k, "replicatefrom") == 0)
			continue;
		json_object_set_new(tags, k, dcs_json_from_text(m->tags[i].value, true));
	}
	if (json_object_size(tags) > 0)
		json_object_set_new(o, "tags", tags);
	else
		json_decref(tags);
	if (m->pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	if (m->reason[0])
		json_object_set_new(o, "reason", json_string(m->reason));
	return dcs_json_dump(o);
}

/* ------------------------------------------------------------------------
 * failover
 * ------------------------------------------------------------------------ */

int
dcs_failover_decode(const char *json, size_t len, FailoverRequest *out,
					PgwError *err)
{
	const char *what = "failover";
	FailoverRequest f;
	json_t	   *root;
	char		ts[64];
	int64_t		handover = 0;
	int			rc = PGW_EINVAL;

	memset(&f, 0, sizeof(f));
	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	if (require_object(root, what, err) ||
		get_str(root, what, "leader", f.leader, sizeof(f.leader), false, true, err) ||
		get_str(root, what, "member", f.member, sizeof(f.member), false, true, err) ||
		get_str(root, what, "scheduled_at", ts, sizeof(ts), false, true, err) ||
		get_int(root, what, "handover_lsn", 1, INT64_MAX, &handover, err))
		goto out;
	f.handover_lsn = (uint64_t) handover;
	/* 1970..9999 only: a negative or 5-digit year cannot be written back */
	if (ts[0] != '\0' && (pgw_parse_wall_iso(ts, &f.scheduled_at_wall_ms) != 0 ||
						  f.scheduled_at_wall_ms <= 0 ||
						  f.scheduled_at_wall_ms >= INT64_C(253402300800000)))
	{
		pgw_error_set(err, PGW_EINVAL,
					  "%s: key \"scheduled_at\": \"%s\" is not an ISO 8601 time with a zone",
					  what, ts);
		goto out;
	}
	f.present = true;
	*out = f;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

char *
dcs_failover_encode(const FailoverRequest *f)
{
	json_t	   *o = json_object();

	if (f->leader[0])
		json_object_set_new(o, "leader", json_string(f->leader));
	if (f->member[0])
		json_object_set_new(o, "member", json_string(f->member));
	if (f->scheduled_at_wall_ms != 0)
	{
		char		ts[40];

		pgw_format_wall_iso(f->scheduled_at_wall_ms, 1, ts, sizeof(ts));
		json_object_set_new(o, "scheduled_at", json_string(ts));
	}
	if (f->handover_lsn != 0)
		json_object_set_new(o, "handover_lsn",
							json_integer((json_int_t) f->handover_lsn));
	return dcs_json_dump(o);
}

/* ------------------------------------------------------------------------
 * sync
 * ------------------------------------------------------------------------ */

int
dcs_sync_decode(const char *json, size_t len, SyncState *out, PgwError *err)
{
	const char *what = "sync";
	SyncState  *s;
	json_t	   *root;
	json_t	   *v;
	int64_t		quorum = 0;
	int			rc = PGW_EINVAL;

	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	s = pgw_xcalloc(1, sizeof(*s));
	if (require_object(root, what, err) ||
		get_str(root, what, "leader", s->leader, sizeof(s->leader), false, true, err))
		goto out;
	v = json_object_get(root, "quorum");
	if (v != NULL && !json_is_null(v) &&
		get_int(root, what, "quorum", 0, PGW_SYNC_MAX, &quorum, err))
		goto out;
	s->quorum = (int) quorum;
	v = json_object_get(root, "sync_standby");
	if (v != NULL && !json_is_null(v))
	{
		const char *p;
		const char *end;

		if (!json_is_string(v))
		{
			type_error(err, what, "sync_standby", "a string", v);
			goto out;
		}
		p = json_string_value(v);
		end = p + json_string_length(v);
		if (strlen(p) != json_string_length(v))
		{
			pgw_error_set(err, PGW_EINVAL, "%s: key \"sync_standby\": value holds a NUL",
						  what);
			goto out;
		}
		while (p < end)
		{
			const char *comma = memchr(p, ',', (size_t) (end - p));
			const char *e = comma ? comma : end;
			const char *b = p;

			while (b < e && (*b == ' ' || *b == '\t'))
				b++;
			while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e > b)
			{
				if (s->n_sync >= PGW_SYNC_MAX)
				{
					pgw_error_set(err, PGW_EINVAL,
								  "%s: key \"sync_standby\": more than %d names",
								  what, PGW_SYNC_MAX);
					goto out;
				}
				if ((size_t) (e - b) >= PGW_NAME_MAX)
				{
					pgw_error_set(err, PGW_EINVAL,
								  "%s: key \"sync_standby\": a name is longer than %d bytes",
								  what, PGW_NAME_MAX - 1);
					goto out;
				}
				memcpy(s->sync_standby[s->n_sync], b, (size_t) (e - b));
				s->sync_standby[s->n_sync][e - b] = '\0';
				s->n_sync++;
			}
			p = comma ? comma + 1 : end;
		}
	}
	s->present = true;
	*out = *s;
	rc = 0;
out:
	free(s);
	json_decref(root);
	return rc;
}

char *
dcs_sync_encode(const SyncState *s)
{
	json_t	   *o = json_object();

	json_object_set_new(o, "leader", s->leader[0] ? json_string(s->leader) : json_null());
	if (s->n_sync > 0)
	{
		size_t		cap = (size_t) s->n_sync * PGW_NAME_MAX + 1;
		char	   *list = pgw_xmalloc(cap);
		size_t		used = 0;

		list[0] = '\0';
		for (int i = 0; i < s->n_sync && i < PGW_SYNC_MAX; i++)
			used += (size_t) snprintf(list + used, cap - used, "%s%s", i ? "," : "",
									  s->sync_standby[i]);
		json_object_set_new(o, "sync_standby", json_string(list));
		free(list);
	}
	else
		json_object_set_new(o, "sync_standby", json_null());
	if (s->quorum > 0)
		json_object_set_new(o, "quorum", json_integer(s->quorum));
	return dcs_json_dump(o);
}

/* ------------------------------------------------------------------------
 * history: [[timeline, lsn, reason, time, new_leader], ...]; Patroni's older
 * entries have 3 (no time) or 4 (no new leader) elements.
 * ------------------------------------------------------------------------ */

static int
history_str(const json_t *arr, size_t idx, size_t entry, const char *field,
			char *dst, size_t size, PgwError *err)
{
	json_t	   *v = json_array_get(arr, idx);

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return pgw_error_set(err, PGW_EINVAL,
							 "history: entry %zu: element %zu (%s): expected a string, got %s",
							 entry, idx, field, dcs_json_kind_name(v));
	if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(err, PGW_EINVAL,
							 "history: entry %zu: element %zu (%s): longer than %zu bytes",
							 entry, idx, field, size - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int
dcs_history_decode(const char *json, size_t len, HistoryEntry **entries,
				   int *n, PgwError *err)
{
	json_t	   *root;
	HistoryEntry *h = NULL;
	size_t		count;
	int			rc = PGW_EINVAL;

	*entries = NULL;
	*n = 0;
	root = dcs_json_load(json, len, "history", err);
	if (root == NULL)
		return PGW_EINVAL;
	if (!json_is_array(root))
	{
		pgw_error_set(err, PGW_EINVAL, "history: expected a JSON list, got %s",
					  dcs_json_kind_name(root));
		goto out;
	}
	count = json_array_size(root);
	if (count > INT_MAX / 2)
	{
		pgw_error_set(err, PGW_EINVAL, "history: too many entries");
		goto out;
	}
	h = pgw_xcalloc(count ? count : 1, sizeof(*h));
	for (size_t i = 0; i < count; i++)
	{
		json_t	   *e = json_array_get(root, i);
		json_t	   *tl;
		json_t	   *lsn;
		int64_t		wall;

		if (!json_is_array(e) || json_array_size(e) < 3 || json_array_size(e) > 5)
		{
			pgw_error_set(err, PGW_EINVAL,
						  "history: entry %zu: expected a list of 3 to 5 elements, got %s",
						  i, json_is_array(e) ? "a list of another size" :
						  dcs_json_kind_name(e));
			goto out;
		}
		tl = json_array_get(e, 0);
		lsn = json_array_get(e, 1);
		if (!json_is_integer(tl) || json_integer_value(tl) < 0 ||
			json_integer_value(tl) > INT_MAX)
		{
			pgw_error_set(err, PGW_EINVAL,
						  "history: entry %zu: element 0 (timeline): expected a timeline number, got %s",
						  i, dcs_json_kind_name(tl));
			goto out;
		}
		if (!json_is_integer(lsn) || json_integer_value(lsn) < 0)
		{
			pgw_error_set(err, PGW_EINVAL,
						  "history: entry %zu: element 1 (lsn): expected a non-negative integer, got %s",
						  i, dcs_json_kind_name(lsn));
			goto out;
		}
		h[i].timeline = (int) json_integer_value(tl);
		h[i].lsn = (uint64_t) json_integer_value(lsn);
		if (history_str(e, 2, i, "reason", h[i].reason, sizeof(h[i].reason), err) ||
			history_str(e, 3, i, "time", h[i].time, sizeof(h[i].time), err) ||
			history_str(e, 4, i, "new_leader", h[i].new_leader,
						sizeof(h[i].new_leader), err))
			goto out;
		if (json_array_size(e) >= 4 && pgw_parse_wall_iso(h[i].time, &wall) != 0)
		{
			pgw_error_set(err, PGW_EINVAL,
						  "history: entry %zu: element 3 (time): \"%s\" is not an ISO 8601 time with a zone",
						  i, h[i].time);
			goto out;
		}
	}
	*entries = h;
	*n = (int) count;
	h = NULL;
	rc = 0;
out:
	free(h);
	json_decref(root);
	return rc;
}

char *
dcs_history_encode(const HistoryEntry *entries, int n)
{
	json_t	   *a = json_array();

	for (int i = 0; i < n; i++)
	{
		const HistoryEntry *h = &entries[i];
		json_t	   *e = json_array();

		json_array_append_new(e, json_integer(h->timeline));
		json_array_append_new(e, json_integer((json_int_t) (h->lsn <= (uint64_t) INT64_MAX ?
															h->lsn : 0)));
		json_array_append_new(e, json_string(h->reason));
		if (h->time[0] || h->new_leader[0])
			json_array_append_new(e, json_string(h->time));
		if (h->new_leader[0])
			json_array_append_new(e, json_string(h->new_leader));
		json_array_append_new(a, e);
	}
	return dcs_json_dump(a);
}

/* ---- failsafe ------------------------------------------------------------ */

int
dcs_failsafe_decode(const char *json, size_t len, FailsafeSet *out,
					PgwError *err)
{
	const char *what = "failsafe";
	json_t	   *root;
	const char *key;
	json_t	   *v;
	FailsafeSet *f;
	int			rc = PGW_EINVAL;

	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	f = pgw_xcalloc(1, sizeof(*f));
	if (require_object(root, what, err))
		goto out;
	json_object_foreach(root, key, v)
	{
		if (f->n >= PGW_MEMBERS_MAX)
		{
			pgw_error_set(err, PGW_EINVAL, "%s: more than %d members", what,
						  PGW_MEMBERS_MAX);
			goto out;
		}
		if (key[0] == '\0' || strlen(key) >= PGW_NAME_MAX || strchr(key, '/') != NULL)
		{
			pgw_error_set(err, PGW_EINVAL, "%s: \"%.64s\" is not a member name", what, key);
			goto out;
		}
		if (!json_is_string(v) || json_string_length(v) >= PGW_URL_MAX ||
			strlen(json_string_value(v)) != json_string_length(v))
		{
			pgw_error_set(err, PGW_EINVAL, "%s: key \"%.64s\": expected an api_url string", what, key);
			goto out;
		}
		pgw_strlcpy(f->name[f->n], key, PGW_NAME_MAX);
		pgw_strlcpy(f->api_url[f->n], json_string_value(v), PGW_URL_MAX);
		f->n++;
	}
	f->present = true;
	*out = *f;
	rc = 0;
out:
	free(f);
	json_decref(root);
	return rc;
}

char *
dcs_failsafe_encode(const ClusterView *v)
{
	json_t	   *o = json_object();
	char	   *s;

	for (int i = 0; i < v->n_members; i++)
		if (v->members[i].is_valid && v->members[i].api_url[0] != '\0')
			json_object_set_new(o, v->members[i].name,
								json_string(v->members[i].api_url));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s ? s : pgw_xstrdup("{}");
}

bool
dcs_failsafe_has(const FailsafeSet *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->name[i], name) == 0)
			return true;
	return false;
}
