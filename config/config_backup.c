/*
 * config_backup.c: the `backup:` section (config_backup.h). The schema's
 * walk (config_schema.c) hands over the section as a jansson object through
 * config_backup_field; every key is checked here, and a bad one is reported
 * with its dotted path, which becomes the line in the error. Schedules are parsed in full now (common/cron.h): a schedule that
 * does not parse stops the daemon at start, not at 3 a.m.
 */
#include "config/config_int.h"

#include "common/cron.h"
#include "common/strutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct Ctx
{
	const char *path;			/* "backup" */
	char	   *bad;			/* dotted path of the offending key */
	size_t		bad_len;
	PgwError   *err;
} Ctx;

static int	fail(Ctx *c, const char *key, const char *fmt,...) PGW_PRINTF(3, 4);

static int
fail(Ctx *c, const char *key, const char *fmt,...)
{
	char		msg[PGW_ERROR_MSG_MAX];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->bad != NULL)
		snprintf(c->bad, c->bad_len, "%s%s%s", c->path, key[0] ? "." : "", key);
	return pgw_error_set(c->err, PGW_EINVAL, "%s", msg);
}

/*
 * A path pgwarden puts into archive_command (run by PostgreSQL through a
 * shell) and into pgbackrest.conf: absolute, and only characters that need
 * no quoting anywhere.
 */
bool
config_backup_path_ok(const char *s)
{
	if (s == NULL || s[0] != '/')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' || *p == '_' ||
			  *p == '-' || *p == '+' || *p == '@'))
			return false;
	return strstr(s, "/../") == NULL && strstr(s, "/./") == NULL;
}

/* stanza names: what pgBackRest accepts and a file name can hold */
bool
config_backup_stanza_ok(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n >= 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return s[0] != '.' && s[0] != '-';
}

int
config_backup_schedule_check(const char *entry, char *type, size_t type_len,
							 PgwCron *cron, PgwError *err)
{
	const char *sp = entry;
	size_t		n;
	PgwCron		local;

	while (*sp == ' ')
		sp++;
	n = strcspn(sp, " \t");
	if (!((n == 4 && (strncmp(sp, "full", 4) == 0 || strncmp(sp, "diff", 4) == 0 ||
					  strncmp(sp, "incr", 4) == 0)) ||
		  (n == 6 && strncmp(sp, "verify", 6) == 0)))
		return pgw_error_set(err, PGW_EINVAL,
							 "schedule entry \"%s\": expected \"full|diff|incr|verify MIN HOUR DOM MON DOW\"",
							 entry);
	if (type != NULL)
		snprintf(type, type_len, "%.*s", (int) n, sp);
	if (pgw_cron_parse(sp + n, cron ? cron : &local, err) != 0)
	{
		pgw_error_prefix(err, "schedule entry \"%s\"", entry);
		return PGW_EINVAL;
	}
	return 0;
}

static int
get_str(Ctx *c, const char *key, json_t *v, char *out, size_t len)
{
	if (!json_is_string(v))
		return fail(c, key, "expected a string");
	if (strlen(json_string_value(v)) >= len)
		return fail(c, key, "longer than %zu bytes", len - 1);
	pgw_strlcpy(out, json_string_value(v), len);
	return 0;
}

static int
get_int(Ctx *c, const char *key, json_t *v, int lo, int hi, int *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
		json_integer_value(v) > hi)
		return fail(c, key, "expected an integer %d..%d", lo, hi);
	*out = (int) json_integer_value(v);
	return 0;
}

static int
get_bool(Ctx *c, const char *key, json_t *v, bool *out)
{
	if (!json_is_boolean(v))
		return fail(c, key, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

/* a duration: "30s", "5m", "1500ms" or a number of seconds */
static int
get_duration(Ctx *c, const char *key, json_t *v, int64_t lo, int64_t *out)
{
	char		buf[64];
	const char *s = buf;

	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_string(v))
		s = json_string_value(v);
	else
		return fail(c, key, "expected a duration such as 60s or 5m");
	if (strcmp(s, "24h") == 0)
		*out = 24 * 3600 * INT64_C(1000);
	else if (strlen(s) > 1 && s[strlen(s) - 1] == 'h')
	{
		int64_t		h;

		snprintf(buf, sizeof(buf), "%.*s", (int) strlen(s) - 1, s);
		if (pgw_parse_int64(buf, 1, 24 * 365, &h) != 0)
			return fail(c, key, "expected a duration such as 60s, 5m or 2h, got \"%s\"", s);
		*out = h * 3600 * 1000;
	}
	else if (pgw_parse_duration_ms(s, out) != 0)
		return fail(c, key, "expected a duration such as 60s, 5m or 2h, got \"%s\"", s);
	if (*out < lo)
		return fail(c, key, "must be at least %lld ms", (long long) lo);
	return 0;
}

static int
get_type(Ctx *c, const char *key, json_t *v, bool allow_off, char *out,
		 size_t len)
{
	const char *s;

	if (!json_is_string(v) && !(allow_off && json_is_false(v)))
		return fail(c, key, "expected full, diff or incr%s", allow_off ? " or off" : "");
	s = json_is_false(v) ? "off" : json_string_value(v);
	if (strcmp(s, "full") != 0 && strcmp(s, "diff") != 0 &&
		strcmp(s, "incr") != 0 && !(allow_off && strcmp(s, "off") == 0))
		return fail(c, key, "expected full, diff or incr%s, got \"%s\"",
					allow_off ? " or off" : "", s);
	pgw_strlcpy(out, s, len);
	return 0;
}

static int
get_schedule(Ctx *c, json_t *v, ConfigBackup *b)
{
	size_t		i;
	json_t	   *item;

	if (json_is_string(v))
	{
		json_t	   *one = json_array();
		int			rc;

		json_array_append(one, v);
		rc = get_schedule(c, one, b);
		json_decref(one);
		return rc;
	}
	if (!json_is_array(v))
		return fail(c, "schedule", "expected a list of \"TYPE MIN HOUR DOM MON DOW\" entries");
	if (json_array_size(v) > CONFIG_BACKUP_SCHEDULE_MAX)
		return fail(c, "schedule", "at most %d entries", CONFIG_BACKUP_SCHEDULE_MAX);
	b->n_schedule = 0;
	json_array_foreach(v, i, item)
	{
		char		key[32];
		PgwError	e2 = {0};

		snprintf(key, sizeof(key), "schedule[%zu]", i);
		if (get_str(c, key, item, b->schedule[i], sizeof(b->schedule[i])) != 0)
			return PGW_EINVAL;
		if (config_backup_schedule_check(b->schedule[i], NULL, 0, NULL, &e2) != 0)
			return fail(c, key, "%s", e2.msg);
		b->n_schedule++;
	}
	return 0;
}

static int
get_methods(Ctx *c, json_t *v, ConfigBackup *b)
{
	size_t		i;
	json_t	   *item;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
		json_array_size(v) > CONFIG_BACKUP_METHODS_MAX)
		return fail(c, "create_replica_methods",
					"expected a list of 1 to %d of pgbackrest, basebackup",
					CONFIG_BACKUP_METHODS_MAX);
	b->n_replica_methods = 0;
	json_array_foreach(v, i, item)
	{
		char		key[48];
		const char *s = json_is_string(item) ? json_string_value(item) : "";

		snprintf(key, sizeof(key), "create_replica_methods[%zu]", i);
		if (strcmp(s, "pgbackrest") != 0 && strcmp(s, "basebackup") != 0)
			return fail(c, key, "expected pgbackrest or basebackup");
		pgw_strlcpy(b->replica_methods[i], s, sizeof(b->replica_methods[i]));
		b->n_replica_methods++;
	}
	return 0;
}

void
config_backup_defaults(ConfigBackup *b)
{
	memset(b, 0, sizeof(*b));
	pgw_strlcpy(b->pgbackrest, "/usr/bin/pgbackrest", sizeof(b->pgbackrest));
	b->max_lag_bytes = 16 * 1024 * 1024;
	pgw_strlcpy(b->after_failover, "off", sizeof(b->after_failover));
	b->retry_interval_ms = 60000;
	b->max_retries = 3;
	b->timeout_ms = 24 * 3600 * INT64_C(1000);
	pgw_strlcpy(b->remote, "local", sizeof(b->remote));
	pgw_strlcpy(b->compress_type, "lz4", sizeof(b->compress_type));
	b->process_max = 1;
	b->canary = true;
	b->canary_interval_ms = 60000;
	b->archive_timeout_ms = 60000;
	b->gap_check = true;
	b->n_replica_methods = 1;
	pgw_strlcpy(b->replica_methods[0], "basebackup", sizeof(b->replica_methods[0]));
}

int
config_backup_parse(const json_t *v, const char *path, ConfigBackup *out,
					char *bad_path, size_t bad_len, PgwError *err)
{
	Ctx			c = {path, bad_path, bad_len, err};
	const char *key;
	json_t	   *val;
	bool		enabled = true;

	config_backup_defaults(out);
	if (json_is_null(v))
		return fail(&c, "", "expected a mapping with at least \"repository\"");
	if (!json_is_object(v))
		return fail(&c, "", "expected a mapping");
	json_object_foreach((json_t *) v, key, val)
	{
		int			rc;

		if (strcmp(key, "enabled") == 0)
			rc = get_bool(&c, key, val, &enabled);
		else if (strcmp(key, "repository") == 0)
		{
			rc = get_str(&c, key, val, out->repository, sizeof(out->repository));
			if (rc == 0 && !config_backup_path_ok(out->repository))
				rc = fail(&c, key, "expected an absolute path of letters, digits and /._-+@");
		}
		else if (strcmp(key, "stanza") == 0)
		{
			rc = get_str(&c, key, val, out->stanza, sizeof(out->stanza));
			if (rc == 0 && !config_backup_stanza_ok(out->stanza))
				rc = fail(&c, key, "expected letters, digits, _ - . (at most 63)");
		}
		else if (strcmp(key, "pgbackrest") == 0 || strcmp(key, "config_dir") == 0)
		{
			char	   *dst = key[0] == 'p' ? out->pgbackrest : out->config_dir;

			rc = get_str(&c, key, val, dst, CONFIG_BACKUP_PATH_MAX);
			if (rc == 0 && !config_backup_path_ok(dst))
				rc = fail(&c, key, "expected an absolute path of letters, digits and /._-+@");
		}
		else if (strcmp(key, "schedule") == 0)
			rc = get_schedule(&c, val, out);
		else if (strcmp(key, "retention_full") == 0)
			rc = get_int(&c, key, val, 1, 9999999, &out->retention_full);
		else if (strcmp(key, "retention_diff") == 0)
			rc = get_int(&c, key, val, 1, 9999999, &out->retention_diff);
		else if (strcmp(key, "allow_primary") == 0)
			rc = get_bool(&c, key, val, &out->allow_primary);
		else if (strcmp(key, "max_lag") == 0)
		{
			char		buf[64];
			const char *s = buf;

			if (json_is_integer(val) && json_integer_value(val) >= 0)
				snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
			else if (json_is_string(val))
				s = json_string_value(val);
			else
				s = "";
			rc = pgw_parse_bytes(s, &out->max_lag_bytes) != 0 ?
				fail(&c, key, "expected a size such as 16MB") : 0;
		}
		else if (strcmp(key, "after_failover") == 0)
			rc = get_type(&c, key, val, true, out->after_failover,
						  sizeof(out->after_failover));
		else if (strcmp(key, "retry_interval") == 0)
			rc = get_duration(&c, key, val, 1000, &out->retry_interval_ms);
		else if (strcmp(key, "max_retries") == 0)
			rc = get_int(&c, key, val, 0, 100, &out->max_retries);
		else if (strcmp(key, "timeout") == 0)
			rc = get_duration(&c, key, val, 10000, &out->timeout_ms);
		else if (strcmp(key, "remote") == 0)
		{
			rc = get_str(&c, key, val, out->remote, sizeof(out->remote));
			if (rc == 0 && strcmp(out->remote, "local") != 0 &&
				strcmp(out->remote, "ssh") != 0)
				rc = fail(&c, key, "expected local or ssh");
		}
		else if (strcmp(key, "compress_type") == 0)
		{
			rc = get_str(&c, key, val, out->compress_type, sizeof(out->compress_type));
			if (rc == 0 && strcmp(out->compress_type, "none") != 0 &&
				strcmp(out->compress_type, "gz") != 0 &&
				strcmp(out->compress_type, "lz4") != 0 &&
				strcmp(out->compress_type, "zst") != 0 &&
				strcmp(out->compress_type, "bz2") != 0)
				rc = fail(&c, key, "expected none, gz, lz4, zst or bz2");
		}
		else if (strcmp(key, "process_max") == 0)
			rc = get_int(&c, key, val, 1, 64, &out->process_max);
		else if (strcmp(key, "canary") == 0)
			rc = get_bool(&c, key, val, &out->canary);
		else if (strcmp(key, "canary_interval") == 0)
			rc = get_duration(&c, key, val, 1000, &out->canary_interval_ms);
		else if (strcmp(key, "archive_timeout") == 0)
			rc = get_duration(&c, key, val, 1000, &out->archive_timeout_ms);
		else if (strcmp(key, "gap_check") == 0)
			rc = get_bool(&c, key, val, &out->gap_check);
		else if (strcmp(key, "create_replica_methods") == 0)
			rc = get_methods(&c, val, out);
		else
			rc = fail(&c, key, "unknown key");
		if (rc != 0)
			return PGW_EINVAL;
	}
	if (enabled && out->repository[0] == '\0')
		return fail(&c, "repository", "missing: the pgBackRest repository path (repo1-path) is required");
	out->enabled = enabled;
	return 0;
}

int
config_backup_field(Parser *p, json_t *v, const char *path)
{
	char		bad[CONFIG_PATH_MAX] = "";
	PgwError	e2 = {0};

	if (config_backup_parse(v, path, &p->cfg->backup, bad, sizeof(bad), &e2) != 0)
		return cfg_perr(p, bad[0] ? bad : path, "%s", e2.msg);
	return 0;
}
