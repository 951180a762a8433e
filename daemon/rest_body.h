/*
 * rest_body.h: parsers of the REST write side's request bodies (DESIGN.md
 * "REST API"), pure functions shared by rest_write.c, the unit tests and
 * fuzz/fuzz_rest_body.c. Outside input is parsed whole or rejected: every
 * refusal names the problem and carries the HTTP status to answer (400 for
 * malformed input, 422 for well-formed but unacceptable values), as
 * Patroni's api.py answers.
 */
#ifndef PGW_DAEMON_REST_BODY_H
#define PGW_DAEMON_REST_BODY_H

#include "common/compiler.h"
#include "common/error.h"
#include "consensus/consensus.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REST_BODY_MAX (64 * 1024) /* larger bodies: 413 */

/* POST /switchover and POST /failover. */
typedef struct RestSwitchoverBody
{
	char leader[PGW_NAME_MAX];    /* "" when absent */
	char candidate[PGW_NAME_MAX]; /* "candidate" (or "member"), "" */
	bool has_schedule;
	int64_t scheduled_at_wall_ms;
} RestSwitchoverBody;

/*
 * rest_body_switchover: {leader, candidate?, scheduled_at?} (switchover:
 * leader required) or {candidate, leader?} (failover: candidate required,
 * no schedule). scheduled_at must be ISO 8601 with a zone (400 without one,
 * 422 unparsable or not after now_wall_ms). Unknown keys, wrong types and
 * names too long are 400. Returns 0, or PGW_EINVAL with *status and err.
 */
int rest_body_switchover(const char *body, size_t len, bool is_failover,
                         int64_t now_wall_ms, RestSwitchoverBody *out,
                         int *status, PgwError *err) PGW_MUSTCHECK;

/* POST /restart (every member optional; an empty body is {}). */
typedef struct RestRestartBody
{
	bool restart_pending; /* only if PostgreSQL says so */
	char role[16];        /* "primary", "replica" or "" (any) */
	int postgres_version; /* "15.2" -> 150002: only if lower; 0 */
	int timeout_s;        /* 0: default */
	bool has_schedule;
	int64_t scheduled_wall_ms;
} RestRestartBody;

/*
 * rest_body_restart: Patroni's filters restart_pending (boolean), role
 * ("primary", "master", "replica"), postgres_version ("X.Y" from 10 on,
 * "X.Y.Z" before), timeout (positive seconds: a number or "30s", "2min"),
 * schedule (ISO 8601 with a zone, in the future). An unknown filter is 400
 * ("Unknown filter for the scheduled restart"). Returns 0 or PGW_EINVAL.
 */
int rest_body_restart(const char *body, size_t len, int64_t now_wall_ms,
                      RestRestartBody *out, int *status,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * rest_body_reinit: optional {"force": bool} (also "true"/"false" strings,
 * as Patroni's parse_bool). Returns 0 or PGW_EINVAL (400).
 */
int rest_body_reinit(const char *body, size_t len, bool *force, int *status,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * rest_body_failsafe: the body of POST /failsafe, a primary cut from etcd
 * asking us to vouch for it: {"name": "<member>", ...}; Patroni's other
 * keys (conn_url, api_url, slots) are accepted and not used. name gets the
 * member (non-empty, shorter than PGW_NAME_MAX). 0 or PGW_EINVAL (400/413).
 */
int rest_body_failsafe(const char *body, size_t len, char *name,
                       size_t name_len, int *status,
                       PgwError *err) PGW_MUSTCHECK;

/*
 * rest_body_config: the new value of the `config` key for PATCH /config
 * (replace=false: patch is an RFC 7386 JSON merge patch applied to current,
 * the raw JSON of the key; null deletes, unknown keys already there are
 * kept) or PUT /config (replace=true: patch is the whole new value; current
 * is ignored). The result must decode as a DynamicConfig and pass
 * dcs_config_validate(); keys that neither pgwarden nor Patroni knows are
 * refused when the request introduces them. Returns 0 with *out_json
 * (compact JSON, caller frees) and *out_cfg (may be NULL), or PGW_EINVAL
 * with *status 400 (body not a JSON object) or 422 (invalid config; the
 * message names the key).
 */
int rest_body_config(const char *current, size_t current_len, const char *patch,
                     size_t patch_len, bool replace, char **out_json,
                     DynamicConfig *out_cfg, int *status,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * rest_json_merge_patch: RFC 7386 applied in place: returns the new target
 * (a new reference; target's reference is consumed). patch is borrowed.
 */
struct json_t;
struct json_t *rest_json_merge_patch(struct json_t *target,
                                     const struct json_t *patch);

/*
 * rest_parse_schedule: ISO 8601 with a zone, strictly after now_wall_ms.
 * what names the operation in messages ("switchover", "restart"). Returns 0
 * or PGW_EINVAL with *status 400 (no zone) or 422 (unparsable, past).
 */
int rest_parse_schedule(const char *s, const char *what, int64_t now_wall_ms,
                        int64_t *wall_ms, int *status,
                        PgwError *err) PGW_MUSTCHECK;

#endif
