/*
 * dcs_member.c: the members/<name> value (DESIGN.md "etcd keys", anchors.md
 * §2.1) and the role and state names. Every field Patroni 3.0.2 publishes
 * in a member key and a client reads is here: patronictl's list, topology,
 * flush and pause --wait read conn_url, api_url, state, role, xlog_location,
 * timeline, tags, pending_restart, scheduled_restart and pause
 * (patroni/utils.py cluster_as_json, ctl.py flush and
 * wait_until_pause_is_applied); checkpoint_after_promote and proxy_url are
 * published as Patroni's ha.py touch_member() does.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * names
 * ------------------------------------------------------------------------ */

static const struct
{
	MemberRole role;
	const char *name;
} role_names[] = {
    {MEMBER_ROLE_PRIMARY, "primary"},
    {MEMBER_ROLE_PRIMARY, "master"},   /* Patroni < 4.0 */
    {MEMBER_ROLE_PRIMARY, "promoted"}, /* Patroni, right after promote */
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
} state_names[] = {
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
	json_t *v;

	if (!json_is_object(tags))
		return dcs_type_error(err, what, "tags", "an object", tags);
	json_object_foreach((json_t *) tags, key, v)
	{
		MemberTag *t;
		bool toolong;

		if (m->n_tags >= PGW_TAGS_MAX)
			return pgw_error_set(err, PGW_EINVAL,
			                     "%s: key \"tags\": more than %d tags", what,
			                     PGW_TAGS_MAX);
		if (strlen(key) >= sizeof(t->key) || key[0] == '\0')
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%s: key \"tags.%.40s\": tag name is empty or longer than %zu bytes",
			    what, key, sizeof(t->key) - 1);
		if (strcmp(key, "nofailover") == 0 ||
		    strcmp(key, "noloadbalance") == 0 || strcmp(key, "nosync") == 0)
		{
			bool b;

			if (!json_is_boolean(v))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "%s: key \"tags.%s\": expected a boolean, got %s", what,
				    key, dcs_json_kind_name(v));
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
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "%s: key \"tags.failover_priority\": expected an integer 0..%d, got %s",
				    what, INT_MAX, dcs_json_kind_name(v));
			m->failover_priority = (int) json_integer_value(v);
		}
		else if (strcmp(key, "replicatefrom") == 0)
		{
			if (!json_is_string(v))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "%s: key \"tags.replicatefrom\": expected a string, got %s",
				    what, dcs_json_kind_name(v));
			if (json_string_length(v) >= sizeof(m->replicatefrom) ||
			    strlen(json_string_value(v)) != json_string_length(v))
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "%s: key \"tags.replicatefrom\": value is longer than %zu bytes",
				    what, sizeof(m->replicatefrom) - 1);
			pgw_strlcpy(m->replicatefrom, json_string_value(v),
			            sizeof(m->replicatefrom));
		}
		t = &m->tags[m->n_tags];
		pgw_strlcpy(t->key, key, sizeof(t->key));
		if (dcs_json_scalar_text(v, false, t->value, sizeof(t->value),
		                         &toolong) != 0 ||
		    (json_is_string(v) &&
		     strlen(json_string_value(v)) != json_string_length(v)))
			return pgw_error_set(
			    err, PGW_EINVAL, "%s: key \"tags.%s\": %s", what, key,
			    toolong ? "value is too long"
			            : "expected a scalar (string, number or boolean)");
		m->n_tags++;
	}
	return 0;
}

/*
 * decode_restart: Patroni's "scheduled_restart" object: the POST /restart
 * request with "schedule" as ISO 8601 and "postmaster_start_time" added
 * (ha.py schedule_future_restart, touch_member). postmaster_start_time is
 * PostgreSQL's text ("2024-05-01 10:00:00.123 UTC"): kept when it parses.
 */
static int
decode_restart(const json_t *o, const char *what, MemberRestart *r,
               PgwError *err)
{
	char w[PGW_NAME_MAX + 64];
	char ts[64];
	int64_t i64 = 0;
	json_t *v;

	snprintf(w, sizeof(w), "%s: key \"scheduled_restart\"", what);
	memset(r, 0, sizeof(*r));
	if (dcs_require_object(o, w, err) ||
	    dcs_get_str(o, w, "schedule", ts, sizeof(ts), true, false, err))
		return PGW_EINVAL;
	if (pgw_parse_wall_iso(ts, &r->schedule_wall_ms) != 0 ||
	    r->schedule_wall_ms <= 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%s: key \"schedule\": \"%s\" is not an ISO 8601 time with a zone",
		    w, ts);
	if (dcs_get_str(o, w, "postmaster_start_time", ts, sizeof(ts), false, true,
	                err) ||
	    dcs_get_bool(o, w, "restart_pending", &r->restart_pending, err) ||
	    dcs_get_str(o, w, "role", r->role, sizeof(r->role), false, true, err) ||
	    dcs_get_int(o, w, "timeout", 0, INT_MAX, &i64, err))
		return PGW_EINVAL;
	if (ts[0] != '\0' &&
	    pgw_parse_wall_iso(ts, &r->postmaster_start_wall_ms) != 0)
		r->postmaster_start_wall_ms = 0;
	r->timeout_s = (int) i64;
	/* Patroni keeps the version as given: "15.2" or 150002 */
	v = json_object_get(o, "postgres_version");
	if (v != NULL && !json_is_null(v))
	{
		bool toolong;

		if ((!json_is_string(v) && !json_is_integer(v)) ||
		    dcs_json_scalar_text(v, false, r->postgres_version,
		                         sizeof(r->postgres_version), &toolong) != 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%s: key \"postgres_version\": expected a version string", w);
	}
	return 0;
}

int
dcs_member_decode(const char *name, const char *json, size_t len,
                  MemberInfo *out, PgwError *err)
{
	char what[PGW_NAME_MAX + 32];
	MemberInfo *m;
	json_t *root;
	json_t *v;
	char buf[64];
	int64_t i64;
	int rc = PGW_EINVAL;

	if (name == NULL || name[0] == '\0' || strlen(name) >= PGW_NAME_MAX)
		return pgw_error_set(err, PGW_EINVAL,
		                     "member name is empty or longer than %d bytes",
		                     PGW_NAME_MAX - 1);
	for (const char *p = name; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "member name holds a control character (byte 0x%02x at %d)",
			    (unsigned char) *p, (int) (p - name));
	snprintf(what, sizeof(what), "member \"%s\"", name);
	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	m = pgw_xcalloc(1, sizeof(*m));
	pgw_strlcpy(m->name, name, sizeof(m->name));
	m->failover_priority = 1;
	if (dcs_require_object(root, what, err) ||
	    dcs_get_str(root, what, "conn_url", m->conn_url, sizeof(m->conn_url),
	                true, false, err) ||
	    dcs_get_str(root, what, "api_url", m->api_url, sizeof(m->api_url), true,
	                false, err) ||
	    dcs_get_str(root, what, "version", m->version, sizeof(m->version),
	                false, false, err) ||
	    dcs_get_str(root, what, "reason", m->reason, sizeof(m->reason), false,
	                false, err) ||
	    dcs_get_bool(root, what, "pending_restart", &m->pending_restart, err) ||
	    dcs_get_bool(root, what, "pause", &m->pause, err) ||
	    dcs_get_str(root, what, "proxy_url", m->proxy_url, sizeof(m->proxy_url),
	                false, true, err))
		goto out;
	{
		bool ckpt_done = true;

		if (dcs_get_bool(root, what, "checkpoint_after_promote", &ckpt_done,
		                 err))
			goto out;
		m->checkpoint_pending = !ckpt_done;
	}
	v = json_object_get(root, "scheduled_restart");
	if (v != NULL && !json_is_null(v) &&
	    decode_restart(v, what, &m->scheduled_restart, err))
		goto out;

	/* role and state: required, from the known names only */
	if (dcs_get_str(root, what, "role", buf, sizeof(buf), true, false, err))
		goto out;
	{
		size_t k;

		for (k = 0; k < PGW_LENGTHOF(role_names); k++)
			if (strcmp(buf, role_names[k].name) == 0)
				break;
		if (k == PGW_LENGTHOF(role_names))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "%s: key \"role\": unknown role \"%s\"", what, buf);
			goto out;
		}
		m->role = role_names[k].role;
	}
	if (dcs_get_str(root, what, "state", buf, sizeof(buf), true, false, err))
		goto out;
	{
		size_t k;

		for (k = 0; k < PGW_LENGTHOF(state_names); k++)
			if (strcmp(buf, state_names[k].name) == 0)
				break;
		if (k == PGW_LENGTHOF(state_names))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "%s: key \"state\": unknown state \"%s\"", what, buf);
			goto out;
		}
		m->state = state_names[k].state;
	}

	i64 = 0;
	if (dcs_get_int(root, what, "xlog_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->xlog_location = (uint64_t) i64;
	i64 = 0;
	if (dcs_get_int(root, what, "received_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->received_location = (uint64_t) i64;
	i64 = 0;
	if (dcs_get_int(root, what, "replayed_location", 0, INT64_MAX, &i64, err))
		goto out;
	m->replayed_location = (uint64_t) i64;
	i64 = 0;
	if (dcs_get_int(root, what, "timeline", 0, INT_MAX, &i64, err))
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

/* python_iso: what Python's isoformat() gives for a UTC time, the text
 * patronictl list -e prints as it is: no fraction for whole seconds */
static void
python_iso(int64_t wall_ms, char *ts, size_t len)
{
	char *dot;

	pgw_format_wall_iso(wall_ms, 1, ts, len);
	dot = strchr(ts, '.');
	if (dot != NULL && wall_ms % 1000 == 0)
		memmove(dot, dot + 4, strlen(dot + 4) + 1);
}

static json_t *
encode_restart(const MemberRestart *r)
{
	json_t *o = json_object();
	char ts[40];

	python_iso(r->schedule_wall_ms, ts, sizeof(ts));
	json_object_set_new(o, "schedule", json_string(ts));
	if (r->postmaster_start_wall_ms > 0)
	{
		python_iso(r->postmaster_start_wall_ms, ts, sizeof(ts));
		json_object_set_new(o, "postmaster_start_time", json_string(ts));
	}
	if (r->restart_pending)
		json_object_set_new(o, "restart_pending", json_true());
	if (r->role[0])
		json_object_set_new(o, "role", json_string(r->role));
	if (r->postgres_version[0])
		json_object_set_new(o, "postgres_version",
		                    json_string(r->postgres_version));
	if (r->timeout_s > 0)
		json_object_set_new(o, "timeout", json_integer(r->timeout_s));
	return o;
}

static bool
restart_same(const MemberRestart *a, const MemberRestart *b)
{
	return a->schedule_wall_ms == b->schedule_wall_ms &&
	       a->postmaster_start_wall_ms == b->postmaster_start_wall_ms &&
	       a->restart_pending == b->restart_pending &&
	       a->timeout_s == b->timeout_s && strcmp(a->role, b->role) == 0 &&
	       strcmp(a->postgres_version, b->postgres_version) == 0;
}

bool
dcs_member_flags_differ(const MemberInfo *a, const MemberInfo *b)
{
	if (a->pause != b->pause || a->pending_restart != b->pending_restart ||
	    a->checkpoint_pending != b->checkpoint_pending ||
	    strcmp(a->proxy_url, b->proxy_url) != 0 ||
	    !restart_same(&a->scheduled_restart, &b->scheduled_restart) ||
	    a->n_tags != b->n_tags)
		return true;
	for (int i = 0; i < a->n_tags && i < PGW_TAGS_MAX; i++)
		if (strcmp(a->tags[i].key, b->tags[i].key) != 0 ||
		    strcmp(a->tags[i].value, b->tags[i].value) != 0)
			return true;
	return false;
}

char *
dcs_member_encode(const MemberInfo *m)
{
	json_t *o = json_object();
	json_t *tags = json_object();

	json_object_set_new(o, "conn_url", json_string(m->conn_url));
	json_object_set_new(o, "api_url", json_string(m->api_url));
	json_object_set_new(o, "state", json_string(dcs_state_name(m->state)));
	json_object_set_new(o, "role", json_string(dcs_role_name(m->role)));
	if (m->version[0])
		json_object_set_new(o, "version", json_string(m->version));
	if (m->xlog_location > 0 && m->xlog_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "xlog_location",
		                    json_integer((json_int_t) m->xlog_location));
	if (m->received_location > 0 &&
	    m->received_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "received_location",
		                    json_integer((json_int_t) m->received_location));
	if (m->replayed_location > 0 &&
	    m->replayed_location <= (uint64_t) INT64_MAX)
		json_object_set_new(o, "replayed_location",
		                    json_integer((json_int_t) m->replayed_location));
	if (m->timeline > 0)
		json_object_set_new(o, "timeline", json_integer(m->timeline));

	/* the typed tags win over their text copies in tags[] */
	if (m->nofailover || tag_listed(m, "nofailover"))
		json_object_set_new(tags, "nofailover", json_boolean(m->nofailover));
	if (m->noloadbalance || tag_listed(m, "noloadbalance"))
		json_object_set_new(tags, "noloadbalance",
		                    json_boolean(m->noloadbalance));
	if (m->nosync || tag_listed(m, "nosync"))
		json_object_set_new(tags, "nosync", json_boolean(m->nosync));
	if (m->failover_priority != 1 || tag_listed(m, "failover_priority"))
		json_object_set_new(tags, "failover_priority",
		                    json_integer(m->failover_priority));
	if (m->replicatefrom[0])
		json_object_set_new(tags, "replicatefrom",
		                    json_string(m->replicatefrom));
	for (int i = 0; i < m->n_tags && i < PGW_TAGS_MAX; i++)
	{
		const char *k = m->tags[i].key;

		if (json_object_get(tags, k) != NULL || strcmp(k, "replicatefrom") == 0)
			continue;
		json_object_set_new(tags, k,
		                    dcs_json_from_text(m->tags[i].value, true));
	}
	if (json_object_size(tags) > 0)
		json_object_set_new(o, "tags", tags);
	else
		json_decref(tags);
	if (m->pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	if (m->scheduled_restart.schedule_wall_ms > 0)
		json_object_set_new(o, "scheduled_restart",
		                    encode_restart(&m->scheduled_restart));
	if (m->pause)
		json_object_set_new(o, "pause", json_true());
	/* Patroni writes it only while false (ha.py touch_member) */
	if (m->checkpoint_pending)
		json_object_set_new(o, "checkpoint_after_promote", json_false());
	if (m->proxy_url[0])
		json_object_set_new(o, "proxy_url", json_string(m->proxy_url));
	if (m->reason[0])
		json_object_set_new(o, "reason", json_string(m->reason));
	return dcs_json_dump(o);
}
