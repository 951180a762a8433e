/*
 * map_codec.c: the shard map's strict JSON codec and its validation
 * (shard.h, DESIGN.md `shards`): a value read from etcd is decoded whole and
 * validated (no gap, no overlap, known states, plain identifiers) or
 * refused with a message naming the field; unknown keys are refused too (a
 * map is too important to half-understand).
 */
#include "shard/shard_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
shard_state_name(ShardState s)
{
	switch (s)
	{
		case SHARD_STATE_SERVING:
			return "serving";
		case SHARD_STATE_MOVING:
			return "moving";
		case SHARD_STATE_FROZEN:
			return "frozen";
	}
	return "unknown";
}

static int
state_parse(const char *s, ShardState *out)
{
	if (strcmp(s, "serving") == 0)
		*out = SHARD_STATE_SERVING;
	else if (strcmp(s, "moving") == 0)
		*out = SHARD_STATE_MOVING;
	else if (strcmp(s, "frozen") == 0)
		*out = SHARD_STATE_FROZEN;
	else
		return PGW_EINVAL;
	return 0;
}

bool
shard_ident_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || !((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return n < SHARD_COLUMN_MAX;
}

/* "schema.table" with both parts plain identifiers (shard_int.h) */
bool
shard_table_name_ok(const char *s)
{
	const char *dot = strchr(s, '.');
	char schema[SHARD_COLUMN_MAX];
	size_t n;

	if (dot == NULL || strlen(s) >= SHARD_TABLE_NAME_MAX)
		return false;
	n = (size_t) (dot - s);
	if (n == 0 || n >= sizeof(schema))
		return false;
	memcpy(schema, s, n);
	schema[n] = '\0';
	return shard_ident_ok(schema) && shard_ident_ok(dot + 1);
}

bool
shard_database_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return n >= 1 && n <= 63;
}

bool
shard_move_id_ok(const char *id)
{
	size_t n = 0;

	if (id == NULL ||
	    !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
		return false;
	for (; *id; id++, n++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= '0' && *id <= '9') ||
		      *id == '-'))
			return false;
	return n < SHARD_MOVE_ID_MAX;
}

int
shard_map_validate(const ShardMap *m, PgwError *err)
{
	int32_t next = 0;

	if (!shard_slots_valid(m->slots))
		return pgw_error_set(err, PGW_EINVAL,
		                     "slots: %d is not a power of two between 1 and %d",
		                     m->slots, SHARD_SLOTS_MAX);
	if (m->version < 1)
		return pgw_error_set(err, PGW_EINVAL, "version: %lld is below 1",
		                     (long long) m->version);
	if (!shard_database_ok(m->database))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "database: \"%s\" is not a database name of 1..63 letters, digits, _ or -",
		    m->database);
	if (m->n_ranges < 1 || m->n_ranges > SHARD_RANGES_MAX)
		return pgw_error_set(err, PGW_EINVAL,
		                     "ranges: %d ranges (expected 1..%d)", m->n_ranges,
		                     SHARD_RANGES_MAX);
	for (int i = 0; i < m->n_ranges; i++)
	{
		const ShardRange *r = &m->ranges[i];

		if (r->from < 0 || r->to >= m->slots || r->from > r->to)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "ranges[%d]: %d-%d is not a range of slots 0..%d", i, r->from,
			    r->to, m->slots - 1);
		if (r->from > next)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "ranges[%d]: gap: slots %d..%d belong to no range", i, next,
			    r->from - 1);
		if (r->from < next)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "ranges[%d]: overlap: slots %d..%d are in two ranges (or ranges are not sorted)",
			    i, r->from, next - 1 < r->to ? next - 1 : r->to);
		if (r->group < 0 || r->group > SHARD_GROUP_MAX)
			return pgw_error_set(err, PGW_EINVAL,
			                     "ranges[%d]: group %d is out of range (0..%d)",
			                     i, r->group, SHARD_GROUP_MAX);
		if (r->state != SHARD_STATE_SERVING && !shard_move_id_ok(r->move_id))
			return pgw_error_set(err, PGW_EINVAL,
			                     "ranges[%d]: a %s range needs a valid move id",
			                     i, shard_state_name(r->state));
		if (r->state == SHARD_STATE_SERVING && r->move_id[0] != '\0')
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "ranges[%d]: a serving range has no move id (got \"%s\")", i,
			    r->move_id);
		next = r->to + 1;
	}
	if (next != m->slots)
		return pgw_error_set(err, PGW_EINVAL,
		                     "ranges: gap: slots %d..%d belong to no range",
		                     next, m->slots - 1);
	if (m->n_tables < 0 || m->n_tables > SHARD_TABLES_MAX)
		return pgw_error_set(err, PGW_EINVAL, "tables: at most %d",
		                     SHARD_TABLES_MAX);
	for (int i = 0; i < m->n_tables; i++)
	{
		if (!shard_table_name_ok(m->tables[i].name))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "tables[%d]: \"%s\" is not schema.table in plain lower-case identifiers",
			    i, m->tables[i].name);
		if (!shard_ident_ok(m->tables[i].column))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "tables[%d]: column \"%s\" is not a plain lower-case identifier",
			    i, m->tables[i].column);
		for (int j = 0; j < i; j++)
			if (strcmp(m->tables[i].name, m->tables[j].name) == 0)
				return pgw_error_set(err, PGW_EINVAL,
				                     "tables[%d]: \"%s\" is listed twice", i,
				                     m->tables[i].name);
	}
	return 0;
}

/* ---- codec ---- */

static int
get_int(json_t *o, const char *key, const char *where, int64_t min, int64_t max,
        bool required, int64_t *out, PgwError *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s%s: missing", where, key);
		return 0;
	}
	if (!json_is_integer(v))
		return pgw_error_set(err, PGW_EINVAL, "%s%s: expected an integer",
		                     where, key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s%s: %lld is out of range (%lld..%lld)", where,
		                     key, (long long) json_integer_value(v),
		                     (long long) min, (long long) max);
	*out = json_integer_value(v);
	return 0;
}

static int
get_str(json_t *o, const char *key, const char *where, char *buf, size_t len,
        bool required, PgwError *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
	{
		if (required)
			return pgw_error_set(err, PGW_EINVAL, "%s%s: missing", where, key);
		return 0;
	}
	if (!json_is_string(v))
		return pgw_error_set(err, PGW_EINVAL, "%s%s: expected a string", where,
		                     key);
	if (json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(err, PGW_EINVAL, "%s%s: too long or holds NUL",
		                     where, key);
	pgw_strlcpy(buf, json_string_value(v), len);
	return 0;
}

/* every key of o is one of allowed (NULL-terminated) */
static int
only_keys(json_t *o, const char *const *allowed, const char *where,
          PgwError *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		bool ok = false;

		(void) v;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, k) == 0)
				ok = true;
		if (!ok)
			return pgw_error_set(err, PGW_EINVAL, "%sunknown key \"%s\"", where,
			                     k);
	}
	return 0;
}

static int
decode_obj(json_t *root, ShardMap *m, PgwError *err)
{
	static const char *const top_keys[] = {"version", "slots",  "database",
	                                       "ranges",  "tables", NULL};
	static const char *const range_keys[] = {"from",  "to",   "group",
	                                         "state", "move", NULL};
	static const char *const table_keys[] = {"table", "column", NULL};
	json_t *ranges;
	json_t *tables;
	int64_t v;
	int rc;

	if (!json_is_object(root))
		return pgw_error_set(err, PGW_EINVAL,
		                     "shard map: expected a JSON object");
	if ((rc = only_keys(root, top_keys, "", err)) != 0)
		return rc;
	if ((rc = get_int(root, "version", "", 1, INT64_MAX, true, &m->version,
	                  err)) != 0)
		return rc;
	if ((rc = get_int(root, "slots", "", 1, SHARD_SLOTS_MAX, true, &v, err)) !=
	    0)
		return rc;
	m->slots = (int32_t) v;
	pgw_strlcpy(m->database, "postgres", sizeof(m->database));
	if ((rc = get_str(root, "database", "", m->database, sizeof(m->database),
	                  false, err)) != 0)
		return rc;
	ranges = json_object_get(root, "ranges");
	if (!json_is_array(ranges))
		return pgw_error_set(err, PGW_EINVAL, "ranges: %s",
		                     ranges ? "expected an array" : "missing");
	if (json_array_size(ranges) > SHARD_RANGES_MAX)
		return pgw_error_set(err, PGW_EINVAL, "ranges: more than %d",
		                     SHARD_RANGES_MAX);
	for (size_t i = 0; i < json_array_size(ranges); i++)
	{
		json_t *r = json_array_get(ranges, i);
		ShardRange *sr = &m->ranges[m->n_ranges];
		char where[32];
		char state[16] = "";

		snprintf(where, sizeof(where), "ranges[%zu].", i);
		if (!json_is_object(r))
			return pgw_error_set(err, PGW_EINVAL,
			                     "ranges[%zu]: expected an object", i);
		if ((rc = only_keys(r, range_keys, where, err)) != 0 ||
		    (rc = get_int(r, "from", where, 0, SHARD_SLOTS_MAX - 1, true, &v,
		                  err)) != 0)
			return rc;
		sr->from = (int32_t) v;
		if ((rc = get_int(r, "to", where, 0, SHARD_SLOTS_MAX - 1, true, &v,
		                  err)) != 0)
			return rc;
		sr->to = (int32_t) v;
		if ((rc = get_int(r, "group", where, 0, SHARD_GROUP_MAX, true, &v,
		                  err)) != 0)
			return rc;
		sr->group = (int32_t) v;
		if ((rc = get_str(r, "state", where, state, sizeof(state), true,
		                  err)) != 0)
			return rc;
		if (state_parse(state, &sr->state) != 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "%sstate: \"%s\" is not serving, moving or frozen", where,
			    state);
		if ((rc = get_str(r, "move", where, sr->move_id, sizeof(sr->move_id),
		                  false, err)) != 0)
			return rc;
		m->n_ranges++;
	}
	tables = json_object_get(root, "tables");
	if (tables != NULL && !json_is_array(tables))
		return pgw_error_set(err, PGW_EINVAL, "tables: expected an array");
	if (tables && json_array_size(tables) > SHARD_TABLES_MAX)
		return pgw_error_set(err, PGW_EINVAL, "tables: more than %d",
		                     SHARD_TABLES_MAX);
	for (size_t i = 0; tables && i < json_array_size(tables); i++)
	{
		json_t *t = json_array_get(tables, i);
		ShardTable *st = &m->tables[m->n_tables];
		char where[32];

		snprintf(where, sizeof(where), "tables[%zu].", i);
		if (!json_is_object(t))
			return pgw_error_set(err, PGW_EINVAL,
			                     "tables[%zu]: expected an object", i);
		if ((rc = only_keys(t, table_keys, where, err)) != 0 ||
		    (rc = get_str(t, "table", where, st->name, sizeof(st->name), true,
		                  err)) != 0 ||
		    (rc = get_str(t, "column", where, st->column, sizeof(st->column),
		                  true, err)) != 0)
			return rc;
		m->n_tables++;
	}
	return shard_map_validate(m, err);
}

int
shard_map_decode(const char *json, size_t len, ShardMap *out, PgwError *err)
{
	json_error_t jerr;
	json_t *root;
	ShardMap *m;
	int rc;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "shard map is not JSON: %s (line %d column %d)",
		                     jerr.text, jerr.line, jerr.column);
	m = pgw_xcalloc(1, sizeof(*m));
	rc = decode_obj(root, m, err);
	json_decref(root);
	if (rc == 0)
		*out = *m;
	free(m);
	return rc;
}

char *
shard_map_encode(const ShardMap *m)
{
	json_t *root = json_object();
	json_t *ranges = json_array();
	json_t *tables = json_array();
	char *s;

	json_object_set_new(root, "version", json_integer(m->version));
	json_object_set_new(root, "slots", json_integer(m->slots));
	json_object_set_new(root, "database", json_string(m->database));
	for (int i = 0; i < m->n_ranges; i++)
	{
		const ShardRange *r = &m->ranges[i];
		json_t *o = json_object();

		json_object_set_new(o, "from", json_integer(r->from));
		json_object_set_new(o, "to", json_integer(r->to));
		json_object_set_new(o, "group", json_integer(r->group));
		json_object_set_new(o, "state",
		                    json_string(shard_state_name(r->state)));
		if (r->move_id[0])
			json_object_set_new(o, "move", json_string(r->move_id));
		json_array_append_new(ranges, o);
	}
	json_object_set_new(root, "ranges", ranges);
	for (int i = 0; i < m->n_tables; i++)
	{
		json_t *o = json_object();

		json_object_set_new(o, "table", json_string(m->tables[i].name));
		json_object_set_new(o, "column", json_string(m->tables[i].column));
		json_array_append_new(tables, o);
	}
	json_object_set_new(root, "tables", tables);
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		abort(); /* jansson only fails on allocation */
	return s;
}
