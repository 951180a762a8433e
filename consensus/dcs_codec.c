/*
 * dcs_codec.c: JSON codecs of the Patroni-compatible DCS values (DESIGN.md
 * "etcd keys", anchors.md §2.1): failover, sync, history, failsafe, and the
 * field readers every codec shares (dcs_codec_int.h). members/<name> and
 * the role and state names live in dcs_member.c, `config` in dcs_config.c.
 *
 * Every decoder parses the whole value with jansson or rejects it with
 * PGW_EINVAL and a message naming the field (STYLE.md "Outside input is
 * parsed whole or rejected"): wrong types, out-of-range numbers and strings
 * longer than our fixed buffers are errors, never truncated into a
 * valid-looking value. Decoders write *out only on success.
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
	json_t *v;

	if (json == NULL || len == 0)
	{
		pgw_error_set(err, PGW_EINVAL, "%s: empty value", what);
		return NULL;
	}
	v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		pgw_error_set(err, PGW_EINVAL,
		              "%s: invalid JSON at line %d column %d: %s", what,
		              jerr.line, jerr.column, jerr.text);
	return v;
}

int
dcs_json_scalar_text(const json_t *v, bool pg_bool, char *buf, size_t size,
                     bool *toolong)
{
	int n;

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
			n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
			             json_integer_value(v));
			break;
		case JSON_REAL:
			n = snprintf(buf, size, "%.15g", json_real_value(v));
			if (n >= 0 && (size_t) n < size &&
			    strtod(buf, NULL) != json_real_value(v))
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
	int64_t i;

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
	char *s;

	if (v == NULL)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	return s;
}

/* ------------------------------------------------------------------------
 * field readers: each names `what` (the value) and the key in its message
 * ------------------------------------------------------------------------ */

int
dcs_type_error(PgwError *err, const char *what, const char *key,
               const char *expected, const json_t *got)
{
	return pgw_error_set(err, PGW_EINVAL, "%s: key \"%s\": expected %s, got %s",
	                     what, key, expected, dcs_json_kind_name(got));
}

int
dcs_get_str(const json_t *obj, const char *what, const char *key, char *dst,
            size_t size, bool required, bool null_ok, PgwError *err)
{
	json_t *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (v == NULL || (null_ok && json_is_null(v)))
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s: key \"%s\" is missing",
			                     what, key);
		return 0;
	}
	if (!json_is_string(v))
		return dcs_type_error(err, what, key, "a string", v);
	if (json_string_length(v) >= size)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: key \"%s\": value is longer than %zu bytes",
		                     what, key, size - 1);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: key \"%s\": value holds a NUL", what, key);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int
dcs_get_int(const json_t *obj, const char *what, const char *key, int64_t min,
            int64_t max, int64_t *out, PgwError *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return dcs_type_error(err, what, key, "an integer", v);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: key \"%s\": %" JSON_INTEGER_FORMAT
		                     " is out of range (%" PRId64 "..%" PRId64 ")",
		                     what, key, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

int
dcs_get_bool(const json_t *obj, const char *what, const char *key, bool *out,
             PgwError *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return dcs_type_error(err, what, key, "a boolean", v);
	*out = json_is_true(v);
	return 0;
}

int
dcs_require_object(const json_t *v, const char *what, PgwError *err)
{
	if (!json_is_object(v))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: expected a JSON object, got %s", what,
		                     dcs_json_kind_name(v));
	return 0;
}

/* ------------------------------------------------------------------------
 * failover
 * ------------------------------------------------------------------------ */

/* name_has_control: PGW_EINVAL naming key and the byte when name holds a
 * control character or DEL (security review F10), else 0 */
static int
name_has_control(const char *what, const char *key, const char *name,
                 PgwError *err)
{
	for (const char *p = name; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%s: key \"%s\": name holds a control character (byte 0x%02x at %d)",
			    what, key, (unsigned char) *p, (int) (p - name));
	return 0;
}

int
dcs_failover_decode(const char *json, size_t len, FailoverRequest *out,
                    PgwError *err)
{
	const char *what = "failover";
	FailoverRequest f;
	json_t *root;
	char ts[64];
	int64_t handover = 0;
	int rc = PGW_EINVAL;

	memset(&f, 0, sizeof(f));
	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	if (dcs_require_object(root, what, err) ||
	    dcs_get_str(root, what, "leader", f.leader, sizeof(f.leader), false,
	                true, err) ||
	    dcs_get_str(root, what, "member", f.member, sizeof(f.member), false,
	                true, err) ||
	    dcs_get_str(root, what, "scheduled_at", ts, sizeof(ts), false, true,
	                err) ||
	    dcs_get_int(root, what, "handover_lsn", 1, INT64_MAX, &handover, err))
		goto out;
	/* names are shown on terminals and compared with member names, which
	 * never hold control characters (dcs_member_decode) */
	if (name_has_control(what, "leader", f.leader, err) ||
	    name_has_control(what, "member", f.member, err))
		goto out;
	f.handover_lsn = (uint64_t) handover;
	/* 1970..9999 only: a negative or 5-digit year cannot be written back */
	if (ts[0] != '\0' &&
	    (pgw_parse_wall_iso(ts, &f.scheduled_at_wall_ms) != 0 ||
	     f.scheduled_at_wall_ms <= 0 ||
	     f.scheduled_at_wall_ms >= INT64_C(253402300800000)))
	{
		pgw_error_set(
		    err, PGW_EINVAL,
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
	json_t *o = json_object();

	if (f->leader[0])
		json_object_set_new(o, "leader", json_string(f->leader));
	if (f->member[0])
		json_object_set_new(o, "member", json_string(f->member));
	if (f->scheduled_at_wall_ms != 0)
	{
		char ts[40];

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
	SyncState *s;
	json_t *root;
	json_t *v;
	int64_t quorum = 0;
	int rc = PGW_EINVAL;

	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	s = pgw_xcalloc(1, sizeof(*s));
	if (dcs_require_object(root, what, err) ||
	    dcs_get_str(root, what, "leader", s->leader, sizeof(s->leader), false,
	                true, err))
		goto out;
	v = json_object_get(root, "quorum");
	if (v != NULL && !json_is_null(v) &&
	    dcs_get_int(root, what, "quorum", 0, PGW_SYNC_MAX, &quorum, err))
		goto out;
	s->quorum = (int) quorum;
	v = json_object_get(root, "sync_standby");
	if (v != NULL && !json_is_null(v))
	{
		const char *p;
		const char *end;

		if (!json_is_string(v))
		{
			dcs_type_error(err, what, "sync_standby", "a string", v);
			goto out;
		}
		p = json_string_value(v);
		end = p + json_string_length(v);
		if (strlen(p) != json_string_length(v))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "%s: key \"sync_standby\": value holds a NUL", what);
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
					pgw_error_set(
					    err, PGW_EINVAL,
					    "%s: key \"sync_standby\": more than %d names", what,
					    PGW_SYNC_MAX);
					goto out;
				}
				if ((size_t) (e - b) >= PGW_NAME_MAX)
				{
					pgw_error_set(
					    err, PGW_EINVAL,
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
	json_t *o = json_object();

	json_object_set_new(o, "leader",
	                    s->leader[0] ? json_string(s->leader) : json_null());
	if (s->n_sync > 0)
	{
		size_t cap = (size_t) s->n_sync * PGW_NAME_MAX + 1;
		char *list = pgw_xmalloc(cap);
		size_t used = 0;

		list[0] = '\0';
		for (int i = 0; i < s->n_sync && i < PGW_SYNC_MAX; i++)
			used += (size_t) snprintf(list + used, cap - used, "%s%s",
			                          i ? "," : "", s->sync_standby[i]);
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
	json_t *v = json_array_get(arr, idx);

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "history: entry %zu: element %zu (%s): expected a string, got %s",
		    entry, idx, field, dcs_json_kind_name(v));
	if (json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "history: entry %zu: element %zu (%s): longer than %zu bytes",
		    entry, idx, field, size - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int
dcs_history_decode(const char *json, size_t len, HistoryEntry **entries, int *n,
                   PgwError *err)
{
	json_t *root;
	HistoryEntry *h = NULL;
	size_t count;
	int rc = PGW_EINVAL;

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
		json_t *e = json_array_get(root, i);
		json_t *tl;
		json_t *lsn;
		int64_t wall;

		if (!json_is_array(e) || json_array_size(e) < 3 ||
		    json_array_size(e) > 5)
		{
			pgw_error_set(
			    err, PGW_EINVAL,
			    "history: entry %zu: expected a list of 3 to 5 elements, got %s",
			    i,
			    json_is_array(e) ? "a list of another size"
			                     : dcs_json_kind_name(e));
			goto out;
		}
		tl = json_array_get(e, 0);
		lsn = json_array_get(e, 1);
		if (!json_is_integer(tl) || json_integer_value(tl) < 0 ||
		    json_integer_value(tl) > INT_MAX)
		{
			pgw_error_set(
			    err, PGW_EINVAL,
			    "history: entry %zu: element 0 (timeline): expected a timeline number, got %s",
			    i, dcs_json_kind_name(tl));
			goto out;
		}
		if (!json_is_integer(lsn) || json_integer_value(lsn) < 0)
		{
			pgw_error_set(
			    err, PGW_EINVAL,
			    "history: entry %zu: element 1 (lsn): expected a non-negative integer, got %s",
			    i, dcs_json_kind_name(lsn));
			goto out;
		}
		h[i].timeline = (int) json_integer_value(tl);
		h[i].lsn = (uint64_t) json_integer_value(lsn);
		if (history_str(e, 2, i, "reason", h[i].reason, sizeof(h[i].reason),
		                err) ||
		    history_str(e, 3, i, "time", h[i].time, sizeof(h[i].time), err) ||
		    history_str(e, 4, i, "new_leader", h[i].new_leader,
		                sizeof(h[i].new_leader), err))
			goto out;
		if (json_array_size(e) >= 4 &&
		    pgw_parse_wall_iso(h[i].time, &wall) != 0)
		{
			pgw_error_set(
			    err, PGW_EINVAL,
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
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
	{
		const HistoryEntry *h = &entries[i];
		json_t *e = json_array();

		json_array_append_new(e, json_integer(h->timeline));
		json_array_append_new(
		    e, json_integer(
		           (json_int_t) (h->lsn <= (uint64_t) INT64_MAX ? h->lsn : 0)));
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
	json_t *root;
	const char *key;
	json_t *v;
	FailsafeSet *f;
	int rc = PGW_EINVAL;

	root = dcs_json_load(json, len, what, err);
	if (root == NULL)
		return PGW_EINVAL;
	f = pgw_xcalloc(1, sizeof(*f));
	if (dcs_require_object(root, what, err))
		goto out;
	json_object_foreach(root, key, v)
	{
		if (f->n >= PGW_MEMBERS_MAX)
		{
			pgw_error_set(err, PGW_EINVAL, "%s: more than %d members", what,
			              PGW_MEMBERS_MAX);
			goto out;
		}
		if (key[0] == '\0' || strlen(key) >= PGW_NAME_MAX ||
		    strchr(key, '/') != NULL)
		{
			pgw_error_set(err, PGW_EINVAL, "%s: \"%.64s\" is not a member name",
			              what, key);
			goto out;
		}
		if (!json_is_string(v) || json_string_length(v) >= PGW_URL_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "%s: key \"%.64s\": expected an api_url string", what,
			              key);
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
	json_t *o = json_object();
	char *s;

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
