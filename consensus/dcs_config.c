/*
 * dcs_config.c: the `config` key (dynamic configuration shared by the
 * cluster), Patroni's JSON layout (anchors.md §2.1, §2.3) with our defaults
 * (DESIGN.md "Timing model"). The same rules decode the YAML file's
 * bootstrap.dcs map: config/ converts it to jansson and calls
 * dcs_config_decode_json().
 *
 * Times are seconds in JSON, integers or fractions (0.5 for our fast
 * profile), kept in milliseconds. Keys Patroni knows but we do not use
 * (slots, standby_cluster, postgresql.pg_hba, ...) are accepted and not
 * kept: DynamicConfig is a plain fixed-size struct, so dcs_config_encode()
 * cannot give them back. Whoever edits the key (ctl edit-config, PATCH
 * /config) must merge into the raw JSON rather than decode and re-encode.
 */
#include "consensus/consensus.h"
#include "consensus/dcs_codec_int.h"

#include "common/strutil.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ranges, in milliseconds */
#define TTL_MIN_MS           1000
#define TTL_MAX_MS           (24 * 3600 * 1000)
#define LOOP_WAIT_MIN_MS     100
#define LOOP_WAIT_MAX_MS     (3600 * 1000)
#define RETRY_MIN_MS         100
#define RETRY_MAX_MS         (3600 * 1000)
#define START_TIMEOUT_MAX_MS (24 * 3600 * 1000)

/* Top-level keys Patroni uses that we accept and ignore. */
static const char *const patroni_only_keys[] = {"slots",
                                                "ignore_slots",
                                                "standby_cluster",
                                                "primary_stop_timeout",
                                                "master_stop_timeout",
                                                "maximum_lag_on_syncnode",
                                                "max_timelines_history",
                                                "member_slots_ttl",
                                                "citus",
                                                NULL};

/* postgresql.* keys Patroni uses that we accept and ignore. */
static const char *const patroni_only_pg_keys[] = {
    "pg_hba", "pg_ident", "recovery_conf",
    "remove_data_directory_on_diverged_timelines", NULL};

typedef struct Ctx
{
	bool strict;
	const char *prefix;
	char *bad_key;
	size_t bad_key_len;
	PgwError *err;
} Ctx;

static int fail(Ctx *c, const char *key, const char *fmt, ...) PGW_PRINTF(3, 4);

static int
fail(Ctx *c, const char *key, const char *fmt, ...)
{
	char detail[PGW_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c->bad_key != NULL && c->bad_key_len > 0)
		pgw_strlcpy(c->bad_key, key, c->bad_key_len);
	return pgw_error_set(c->err, PGW_EINVAL, "key \"%s%s\": %s", c->prefix, key,
	                     detail);
}

static bool
in_list(const char *const *list, const char *key)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

void
dcs_config_defaults(DynamicConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ttl_ms = 10000;
	cfg->loop_wait_ms = 1000;
	cfg->retry_timeout_ms = 3000;
	cfg->maximum_lag_on_failover = 1024 * 1024;
	/* ours: a new primary within ~3 s when the leader's PG cannot restart */
	cfg->primary_start_timeout_ms = 3000;
	cfg->synchronous_node_count = 1;
	cfg->use_pg_rewind = true;
	cfg->use_slots = true;
	cfg->remove_data_directory_on_rewind_failure = true;
}

static int
validate(const DynamicConfig *cfg, Ctx *c)
{
	if (cfg->ttl_ms < TTL_MIN_MS || cfg->ttl_ms > TTL_MAX_MS)
		return fail(c, "ttl", "%.3g s is out of range (%d..%d s)",
		            (double) cfg->ttl_ms / 1000, TTL_MIN_MS / 1000,
		            TTL_MAX_MS / 1000);
	if (cfg->loop_wait_ms < LOOP_WAIT_MIN_MS ||
	    cfg->loop_wait_ms > LOOP_WAIT_MAX_MS)
		return fail(c, "loop_wait", "%.3g s is out of range (0.1..%d s)",
		            (double) cfg->loop_wait_ms / 1000, LOOP_WAIT_MAX_MS / 1000);
	if (cfg->retry_timeout_ms < RETRY_MIN_MS ||
	    cfg->retry_timeout_ms > RETRY_MAX_MS)
		return fail(c, "retry_timeout", "%.3g s is out of range (0.1..%d s)",
		            (double) cfg->retry_timeout_ms / 1000, RETRY_MAX_MS / 1000);
	if (cfg->primary_start_timeout_ms < 0 ||
	    cfg->primary_start_timeout_ms > START_TIMEOUT_MAX_MS)
		return fail(c, "primary_start_timeout",
		            "%.3g s is out of range (0..%d s)",
		            (double) cfg->primary_start_timeout_ms / 1000,
		            START_TIMEOUT_MAX_MS / 1000);
	if (cfg->maximum_lag_on_failover > (uint64_t) INT64_MAX)
		return fail(c, "maximum_lag_on_failover", "out of range");
	if (cfg->synchronous_node_count < 1 ||
	    cfg->synchronous_node_count > PGW_SYNC_MAX)
		return fail(c, "synchronous_node_count", "%d is out of range (1..%d)",
		            cfg->synchronous_node_count, PGW_SYNC_MAX);
	if (cfg->n_params < 0 || cfg->n_params > PGW_PG_PARAMS_MAX)
		return fail(c, "postgresql.parameters", "more than %d parameters",
		            PGW_PG_PARAMS_MAX);
	/*
	 * Patroni's own rule (DESIGN.md "Timing model", patroni#1579), so that
	 * its defaults 30/10/10 and a fast 10/2/4 are valid here too. The
	 * fencing margin does not come out of this budget: the leader's
	 * deadline is the send time of its last confirmed keepalive + ttl -
	 * margin (daemon/loop.c), whatever loop_wait and retry_timeout are.
	 */
	if (cfg->loop_wait_ms + 2 * cfg->retry_timeout_ms > cfg->ttl_ms)
		return fail(c, "ttl",
		            "loop_wait + 2 * retry_timeout (%" PRId64
		            " ms) must not exceed ttl (%" PRId64 " ms)",
		            cfg->loop_wait_ms + 2 * cfg->retry_timeout_ms, cfg->ttl_ms);
	return 0;
}

int
dcs_config_validate(const DynamicConfig *cfg, PgwError *err)
{
	Ctx c = {.strict = false, .prefix = "", .err = err};

	if (validate(cfg, &c) != 0)
	{
		pgw_error_prefix(err, "config");
		return PGW_EINVAL;
	}
	return 0;
}

/* seconds (integer or fraction) -> ms, within [min_ms, max_ms] */
static int
get_seconds(const json_t *v, Ctx *c, const char *key, int64_t min_ms,
            int64_t max_ms, int64_t *out_ms)
{
	double s;
	double ms;

	if (json_is_integer(v))
		s = (double) json_integer_value(v);
	else if (json_is_real(v))
		s = json_real_value(v);
	else
		return fail(c, key, "expected a number, got %s", dcs_json_kind_name(v));
	ms = s * 1000.0;
	if (!isfinite(ms) || ms < (double) min_ms || ms > (double) max_ms)
		return fail(c, key, "%g s is out of range (%g..%g s)", s,
		            (double) min_ms / 1000, (double) max_ms / 1000);
	*out_ms = (int64_t) llround(ms);
	return 0;
}

static int
get_boolean(const json_t *v, Ctx *c, const char *key, bool *out)
{
	if (!json_is_boolean(v))
		return fail(c, key, "expected a boolean, got %s",
		            dcs_json_kind_name(v));
	*out = json_is_true(v);
	return 0;
}

static int
decode_parameters(const json_t *params, Ctx *c, DynamicConfig *cfg)
{
	const char *name;
	json_t *v;
	char key[PGW_ERROR_MSG_MAX / 2];

	if (!json_is_object(params))
		return fail(c, "postgresql.parameters", "expected an object, got %s",
		            dcs_json_kind_name(params));
	json_object_foreach((json_t *) params, name, v)
	{
		PgParam *p;
		bool toolong;

		snprintf(key, sizeof(key), "postgresql.parameters.%.100s", name);
		if (cfg->n_params >= PGW_PG_PARAMS_MAX)
			return fail(c, "postgresql.parameters", "more than %d parameters",
			            PGW_PG_PARAMS_MAX);
		p = &cfg->params[cfg->n_params];
		if (name[0] == '\0' || strlen(name) >= sizeof(p->name))
			return fail(c, key,
			            "parameter name is empty or longer than %zu bytes",
			            sizeof(p->name) - 1);
		if (dcs_json_scalar_text(v, true, p->value, sizeof(p->value),
		                         &toolong) != 0 ||
		    json_is_null(v))
		{
			if (toolong)
				return fail(c, key, "value is longer than %zu bytes",
				            sizeof(p->value) - 1);
			return fail(c, key, "expected a string, number or boolean, got %s",
			            dcs_json_kind_name(v));
		}
		pgw_strlcpy(p->name, name, sizeof(p->name));
		cfg->n_params++;
	}
	return 0;
}

static int
decode_postgresql(const json_t *pg, Ctx *c, DynamicConfig *cfg)
{
	const char *key;
	json_t *v;
	char path[128];

	if (!json_is_object(pg))
		return fail(c, "postgresql", "expected an object, got %s",
		            dcs_json_kind_name(pg));
	json_object_foreach((json_t *) pg, key, v)
	{
		snprintf(path, sizeof(path), "postgresql.%.100s", key);
		if (strcmp(key, "use_pg_rewind") == 0)
		{
			if (get_boolean(v, c, path, &cfg->use_pg_rewind))
				return PGW_EINVAL;
		}
		else if (strcmp(key, "use_slots") == 0)
		{
			if (get_boolean(v, c, path, &cfg->use_slots))
				return PGW_EINVAL;
		}
		else if (strcmp(key, "remove_data_directory_on_rewind_failure") == 0)
		{
			if (get_boolean(v, c, path,
			                &cfg->remove_data_directory_on_rewind_failure))
				return PGW_EINVAL;
		}
		else if (strcmp(key, "parameters") == 0)
		{
			/* "parameters:" with every line commented out (Patroni's own
			 * examples): none, as Patroni reads it */
			if (!json_is_null(v) && decode_parameters(v, c, cfg))
				return PGW_EINVAL;
		}
		else if (c->strict && !in_list(patroni_only_pg_keys, key))
			return fail(c, path, "unknown key");
	}
	return 0;
}

int
dcs_config_decode_json(const json_t *obj, bool strict_keys,
                       const char *key_prefix, DynamicConfig *out,
                       char *bad_key, size_t bad_key_len, PgwError *err)
{
	Ctx c = {strict_keys, key_prefix ? key_prefix : "", bad_key, bad_key_len,
	         err};
	DynamicConfig cfg;
	const char *key;
	json_t *v;
	bool has_primary_start = false;

	if (bad_key != NULL && bad_key_len > 0)
		bad_key[0] = '\0';
	if (obj == NULL || !json_is_object(obj))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s%sexpected a JSON object, got %s",
		                     c.prefix[0] ? "key " : "", c.prefix,
		                     obj ? dcs_json_kind_name(obj) : "nothing");
	dcs_config_defaults(&cfg);
	has_primary_start = json_object_get(obj, "primary_start_timeout") != NULL;
	json_object_foreach((json_t *) obj, key, v)
	{
		int rc = 0;

		if (strcmp(key, "ttl") == 0)
			rc = get_seconds(v, &c, key, TTL_MIN_MS, TTL_MAX_MS, &cfg.ttl_ms);
		else if (strcmp(key, "loop_wait") == 0)
			rc = get_seconds(v, &c, key, LOOP_WAIT_MIN_MS, LOOP_WAIT_MAX_MS,
			                 &cfg.loop_wait_ms);
		else if (strcmp(key, "retry_timeout") == 0)
			rc = get_seconds(v, &c, key, RETRY_MIN_MS, RETRY_MAX_MS,
			                 &cfg.retry_timeout_ms);
		else if (strcmp(key, "primary_start_timeout") == 0 ||
		         strcmp(key, "master_start_timeout") == 0)
		{
			/* the old name counts only when the new one is absent */
			if (key[0] == 'p' || !has_primary_start)
				rc = get_seconds(v, &c, key, 0, START_TIMEOUT_MAX_MS,
				                 &cfg.primary_start_timeout_ms);
		}
		else if (strcmp(key, "maximum_lag_on_failover") == 0)
		{
			if (!json_is_integer(v))
				rc = fail(&c, key, "expected an integer (bytes), got %s",
				          dcs_json_kind_name(v));
			else if (json_integer_value(v) < 0)
				rc = fail(&c, key, "must not be negative");
			else
				cfg.maximum_lag_on_failover = (uint64_t) json_integer_value(v);
		}
		else if (strcmp(key, "synchronous_mode") == 0)
		{
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), "quorum") == 0)
			{
				cfg.synchronous_mode = true;
				cfg.synchronous_quorum = true;
			}
			else if (json_is_boolean(v))
			{
				cfg.synchronous_mode = json_is_true(v);
				cfg.synchronous_quorum = false;
			}
			else
				rc = fail(&c, key, "expected a boolean or \"quorum\", got %s",
				          json_is_string(v) ? "another string"
				                            : dcs_json_kind_name(v));
		}
		else if (strcmp(key, "synchronous_mode_strict") == 0)
			rc = get_boolean(v, &c, key, &cfg.synchronous_mode_strict);
		else if (strcmp(key, "lease_checked_commits") == 0)
			rc = get_boolean(v, &c, key, &cfg.lease_checked_commits);
		else if (strcmp(key, "synchronous_node_count") == 0)
		{
			if (!json_is_integer(v))
				rc = fail(&c, key, "expected an integer, got %s",
				          dcs_json_kind_name(v));
			else if (json_integer_value(v) < 1 ||
			         json_integer_value(v) > PGW_SYNC_MAX)
				rc = fail(&c, key,
				          "%" JSON_INTEGER_FORMAT " is out of range (1..%d)",
				          json_integer_value(v), PGW_SYNC_MAX);
			else
				cfg.synchronous_node_count = (int) json_integer_value(v);
		}
		else if (strcmp(key, "pause") == 0)
			rc = get_boolean(v, &c, key, &cfg.pause);
		else if (strcmp(key, "failsafe_mode") == 0)
			rc = get_boolean(v, &c, key, &cfg.failsafe_mode);
		else if (strcmp(key, "check_timeline") == 0)
			rc = get_boolean(v, &c, key, &cfg.check_timeline);
		else if (strcmp(key, "postgresql") == 0)
		{
			if (!json_is_null(v))
				rc = decode_postgresql(v, &c, &cfg);
		}
		else if (strict_keys && !in_list(patroni_only_keys, key))
		{
			char k[128];

			snprintf(k, sizeof(k), "%.100s", key);
			rc = fail(&c, k, "unknown key");
		}
		if (rc != 0)
			return PGW_EINVAL;
	}
	if (validate(&cfg, &c) != 0)
		return PGW_EINVAL;
	*out = cfg;
	return 0;
}

int
dcs_config_decode(const char *json, size_t len, DynamicConfig *out,
                  PgwError *err)
{
	json_t *root;
	int rc;

	root = dcs_json_load(json, len, "config", err);
	if (root == NULL)
		return PGW_EINVAL;
	rc = dcs_config_decode_json(root, false, "", out, NULL, 0, err);
	if (rc != 0)
		pgw_error_prefix(err, "config");
	json_decref(root);
	return rc;
}

static json_t *
seconds_json(int64_t ms)
{
	if (ms % 1000 == 0)
		return json_integer((json_int_t) (ms / 1000));
	return json_real((double) ms / 1000.0);
}

char *
dcs_config_encode(const DynamicConfig *cfg)
{
	json_t *o = json_object();
	json_t *pg = json_object();
	json_t *params = json_object();

	json_object_set_new(o, "ttl", seconds_json(cfg->ttl_ms));
	json_object_set_new(o, "loop_wait", seconds_json(cfg->loop_wait_ms));
	json_object_set_new(o, "retry_timeout",
	                    seconds_json(cfg->retry_timeout_ms));
	json_object_set_new(
	    o, "maximum_lag_on_failover",
	    json_integer(
	        (json_int_t) (cfg->maximum_lag_on_failover <= (uint64_t) INT64_MAX
	                          ? cfg->maximum_lag_on_failover
	                          : INT64_MAX)));
	json_object_set_new(o, "primary_start_timeout",
	                    seconds_json(cfg->primary_start_timeout_ms));
	if (cfg->synchronous_mode && cfg->synchronous_quorum)
		json_object_set_new(o, "synchronous_mode", json_string("quorum"));
	else
		json_object_set_new(o, "synchronous_mode",
		                    json_boolean(cfg->synchronous_mode));
	json_object_set_new(o, "synchronous_mode_strict",
	                    json_boolean(cfg->synchronous_mode_strict));
	json_object_set_new(o, "synchronous_node_count",
	                    json_integer(cfg->synchronous_node_count));
	/* ours (issue 19): written only when on, so a Patroni-written config
	 * reads back unchanged */
	if (cfg->lease_checked_commits)
		json_object_set_new(o, "lease_checked_commits", json_true());
	json_object_set_new(o, "pause", json_boolean(cfg->pause));
	json_object_set_new(o, "failsafe_mode", json_boolean(cfg->failsafe_mode));
	json_object_set_new(o, "check_timeline", json_boolean(cfg->check_timeline));
	json_object_set_new(pg, "use_pg_rewind", json_boolean(cfg->use_pg_rewind));
	json_object_set_new(pg, "use_slots", json_boolean(cfg->use_slots));
	json_object_set_new(
	    pg, "remove_data_directory_on_rewind_failure",
	    json_boolean(cfg->remove_data_directory_on_rewind_failure));
	for (int i = 0; i < cfg->n_params && i < PGW_PG_PARAMS_MAX; i++)
		json_object_set_new(params, cfg->params[i].name,
		                    dcs_json_from_text(cfg->params[i].value, false));
	json_object_set_new(pg, "parameters", params);
	json_object_set_new(o, "postgresql", pg);
	return dcs_json_dump(o);
}
