/*
 * move_record.c: the record of one online move in etcd,
 * <prefix>shards/moves/<id> (shard.h). It is the workflow's whole state: a
 * driver that dies leaves it behind, and `pgwardenctl shard move --resume
 * ID` carries on from the recorded phase. Strict codec: a record that does
 * not decode is never acted on.
 */
#include "shard/shard.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[] = {
    [SHARD_MOVE_CREATED] = "created", [SHARD_MOVE_COPYING] = "copying",
    [SHARD_MOVE_FROZEN] = "frozen",   [SHARD_MOVE_FLIPPED] = "flipped",
    [SHARD_MOVE_CLEANUP] = "cleanup", [SHARD_MOVE_DONE] = "done",
    [SHARD_MOVE_ABORTED] = "aborted",
};

const char *
shard_move_phase_name(ShardMovePhase p)
{
	if ((size_t) p < PGW_LENGTHOF(phase_names))
		return phase_names[p];
	return "unknown";
}

static int
phase_parse(const char *s, ShardMovePhase *out)
{
	for (size_t i = 0; i < PGW_LENGTHOF(phase_names); i++)
		if (strcmp(s, phase_names[i]) == 0)
		{
			*out = (ShardMovePhase) i;
			return 0;
		}
	return PGW_EINVAL;
}

static int
lsn_parse(const char *s, uint64_t *out)
{
	unsigned int hi;
	unsigned int lo;
	char tail;

	if (sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
		return PGW_EINVAL;
	*out = ((uint64_t) hi << 32) | lo;
	return 0;
}

static int
int_field(json_t *o, const char *k, int64_t min, int64_t max, bool required,
          int64_t *out, PgwError *err)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return required ? pgw_error_set(err, PGW_EINVAL,
		                                "move record: %s: missing", k)
		                : 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return pgw_error_set(err, PGW_EINVAL,
		                     "move record: %s: expected an integer %lld..%lld",
		                     k, (long long) min, (long long) max);
	*out = json_integer_value(v);
	return 0;
}

static int
str_field(json_t *o, const char *k, char *buf, size_t len, bool required,
          PgwError *err)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return required ? pgw_error_set(err, PGW_EINVAL,
		                                "move record: %s: missing", k)
		                : 0;
	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "move record: %s: expected a string under %zu bytes", k, len);
	pgw_strlcpy(buf, json_string_value(v), len);
	return 0;
}

int
shard_move_decode(const char *json, size_t len, ShardMove *out, PgwError *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	ShardMove m;
	char phase[16] = "";
	char lsn[32] = "";
	int64_t v;
	int rc;

	if (root == NULL)
		return pgw_error_set(err, PGW_EINVAL, "move record is not JSON: %s",
		                     jerr.text);
	memset(&m, 0, sizeof(m));
	if (!json_is_object(root))
	{
		rc = pgw_error_set(err, PGW_EINVAL, "move record: expected an object");
		goto out;
	}
	if ((rc = str_field(root, "id", m.id, sizeof(m.id), true, err)) != 0 ||
	    (rc = str_field(root, "phase", phase, sizeof(phase), true, err)) != 0)
		goto out;
	if (!shard_move_id_ok(m.id))
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "move record: id \"%s\" is not valid", m.id);
		goto out;
	}
	if (phase_parse(phase, &m.phase) != 0)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "move record: phase \"%s\" is unknown", phase);
		goto out;
	}
#define INTF(key, field, min, max, req)                                        \
	do                                                                         \
	{                                                                          \
		v = 0;                                                                 \
		if ((rc = int_field(root, key, min, max, req, &v, err)) != 0)          \
			goto out;                                                          \
		m.field = v;                                                           \
	} while (0)
	INTF("from", from, 0, SHARD_SLOTS_MAX - 1, true);
	INTF("to", to, 0, SHARD_SLOTS_MAX - 1, true);
	INTF("source", source, 0, SHARD_GROUP_MAX, true);
	INTF("target", target, 0, SHARD_GROUP_MAX, true);
	INTF("created", created_wall_ms, 0, INT64_MAX, false);
	INTF("updated", updated_wall_ms, 0, INT64_MAX, false);
	INTF("frozen_at", frozen_wall_ms, 0, INT64_MAX, false);
	INTF("flipped_at", flipped_wall_ms, 0, INT64_MAX, false);
	INTF("delete_after", delete_after_wall_ms, 0, INT64_MAX, false);
	INTF("copies", copies, 0, INT32_MAX, false);
	INTF("rows_deleted", rows_deleted, 0, INT64_MAX, false);
#undef INTF
	if ((rc = str_field(root, "source_primary", m.source_primary,
	                    sizeof(m.source_primary), false, err)) != 0 ||
	    (rc = str_field(root, "target_primary", m.target_primary,
	                    sizeof(m.target_primary), false, err)) != 0 ||
	    (rc = str_field(root, "last_error", m.last_error, sizeof(m.last_error),
	                    false, err)) != 0 ||
	    (rc = str_field(root, "freeze_lsn", lsn, sizeof(lsn), false, err)) != 0)
		goto out;
	if (lsn[0] && lsn_parse(lsn, &m.freeze_lsn) != 0)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "move record: freeze_lsn \"%s\" is not an LSN", lsn);
		goto out;
	}
	if (m.from > m.to || m.source == m.target)
	{
		rc = pgw_error_set(
		    err, PGW_EINVAL,
		    "move record: slots %d-%d from group %d to %d is not a move",
		    m.from, m.to, m.source, m.target);
		goto out;
	}
	*out = m;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

char *
shard_move_encode(const ShardMove *m)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "from", json_integer(m->from));
	json_object_set_new(o, "to", json_integer(m->to));
	json_object_set_new(o, "source", json_integer(m->source));
	json_object_set_new(o, "target", json_integer(m->target));
	json_object_set_new(o, "phase",
	                    json_string(shard_move_phase_name(m->phase)));
	json_object_set_new(o, "created", json_integer(m->created_wall_ms));
	json_object_set_new(o, "updated", json_integer(m->updated_wall_ms));
	if (m->source_primary[0])
		json_object_set_new(o, "source_primary",
		                    json_string(m->source_primary));
	if (m->target_primary[0])
		json_object_set_new(o, "target_primary",
		                    json_string(m->target_primary));
	if (m->freeze_lsn)
	{
		char lsn[32];

		snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned) (m->freeze_lsn >> 32),
		         (unsigned) m->freeze_lsn);
		json_object_set_new(o, "freeze_lsn", json_string(lsn));
	}
	if (m->frozen_wall_ms)
		json_object_set_new(o, "frozen_at", json_integer(m->frozen_wall_ms));
	if (m->flipped_wall_ms)
		json_object_set_new(o, "flipped_at", json_integer(m->flipped_wall_ms));
	if (m->delete_after_wall_ms)
		json_object_set_new(o, "delete_after",
		                    json_integer(m->delete_after_wall_ms));
	json_object_set_new(o, "copies", json_integer(m->copies));
	if (m->rows_deleted)
		json_object_set_new(o, "rows_deleted",
		                    json_integer((json_int_t) m->rows_deleted));
	if (m->last_error[0])
		json_object_set_new(o, "last_error", json_string(m->last_error));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}
