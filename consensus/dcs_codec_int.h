/*
 * dcs_codec_int.h: helpers shared by the DCS value codecs (dcs_codec.c,
 * dcs_member.c, dcs_config.c) only. Not part of consensus.h.
 */
#ifndef PGW_DCS_CODEC_INT_H
#define PGW_DCS_CODEC_INT_H

#include "consensus/consensus.h"

#include <jansson.h>

/* json_kind_name: "string", "integer", "number", "boolean", ... */
const char *dcs_json_kind_name(const json_t *v);

/*
 * dcs_json_load: parse len bytes as one JSON value (duplicate keys and NULs
 * in strings refused). what names the key in the message. NULL on error.
 */
json_t *dcs_json_load(const char *json, size_t len, const char *what,
                      PgwError *err);

/*
 * Field readers (dcs_codec.c): each names `what` (the value, "member
 * \"node1\"") and the key in its message, and writes *out only when the key
 * is present and well-formed.
 *
 * dcs_get_str: copy string key into dst. Absent: "" (error when required).
 * null counts as absent when null_ok (Patroni writes "sync_standby": null).
 * dcs_get_int: integer key within [min, max]; absent leaves *out unchanged.
 * dcs_get_bool: boolean key; absent leaves *out unchanged.
 */
int dcs_type_error(PgwError *err, const char *what, const char *key,
                   const char *expected, const json_t *got);
int dcs_get_str(const json_t *obj, const char *what, const char *key, char *dst,
                size_t size, bool required, bool null_ok, PgwError *err);
int dcs_get_int(const json_t *obj, const char *what, const char *key,
                int64_t min, int64_t max, int64_t *out, PgwError *err);
int dcs_get_bool(const json_t *obj, const char *what, const char *key,
                 bool *out, PgwError *err);
int dcs_require_object(const json_t *v, const char *what, PgwError *err);

/*
 * dcs_json_scalar_text: render a JSON scalar as text into buf (strings as
 * is; true/false, or on/off when pg_bool is set; numbers in decimal).
 * Returns 0, or PGW_EINVAL for objects/arrays (*toolong false) and for text
 * that does not fit (*toolong true).
 */
int dcs_json_scalar_text(const json_t *v, bool pg_bool, char *buf, size_t size,
                         bool *toolong);

/* dcs_json_from_text: the inverse for encoding: integers and true/false/null
 * literals become JSON literals (when literals is set), anything else a
 * JSON string. */
json_t *dcs_json_from_text(const char *text, bool literals);

/* dcs_json_dump: compact dump (Patroni's separators), caller frees. */
char *dcs_json_dump(json_t *v);

#endif
