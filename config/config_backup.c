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

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct Ctx
{
	const char *path; /* "backup" */
	char *bad;        /* dotted path of the offending key */
	size_t bad_len;
	PgwError *err;
} Ctx;

static int fail(Ctx *c, const char *key, const char *fmt, ...) PGW_PRINTF(3, 4);

static int
fail(Ctx *c, const char *key, const char *fmt, ...)
{
	char msg[PGW_ERROR_MSG_MAX];
	va_list ap;

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
	size_t n = strlen(s);

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
	size_t n;
	PgwCron local;

	while (*sp == ' ')
		sp++;
	n = strcspn(sp, " \t");
	if (!((n == 4 &&
	       (strncmp(sp, "full", 4) == 0 || strncmp(sp, "diff", 4) == 0 ||
	        strncmp(sp, "incr", 4) == 0)) ||
	      (n == 6 && strncmp(sp, "verify", 6) == 0)))
		return pgw_error_set(
		    err, PGW_EINVAL,
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

/* ---- recovery targets (moved unchanged from backup/bk_catalog.c) ------- */

/* digits: exactly n decimal digits at *p */
static bool
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* "YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]](Z|+HH[:MM]|-HH[:MM])" to epoch us */
static int
parse_time_us(const char *s, int64_t *us)
{
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
	int64_t frac = 0;
	struct tm tm;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
		return PGW_EINVAL;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
		return PGW_EINVAL;
	if (*p == ':')
	{
		p++;
		if (!digits(&p, 2, &sec))
			return PGW_EINVAL;
		if (*p == '.')
		{
			int64_t scale = 100000;

			p++;
			if (!isdigit((unsigned char) *p))
				return PGW_EINVAL;
			for (; isdigit((unsigned char) *p); p++)
			{
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
	}
	while (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!digits(&p, 2, &oh))
			return PGW_EINVAL;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char) *p) && !digits(&p, 2, &om))
			return PGW_EINVAL;
	}
	else if (strcmp(p, "UTC") == 0)
		p += 3;
	else
		return PGW_ENOTFOUND; /* no zone */
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || oh > 23 || om > 59)
		return PGW_EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*us =
	    ((int64_t) timegm(&tm) - sign * (oh * 3600 + om * 60)) * 1000000 + frac;
	return 0;
}

int
config_backup_target_parse(const char *s, BackupTarget *out, PgwError *err)
{
	unsigned int hi, lo;
	char tail;
	int rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL || s[0] == '\0')
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "empty recovery target: expected latest, a time with a zone or an LSN");
	if (strcmp(s, "latest") == 0)
	{
		out->kind = BACKUP_TARGET_LATEST;
		pgw_strlcpy(out->text, "latest", sizeof(out->text));
		return 0;
	}
	if (strcmp(s, "immediate") == 0)
	{
		out->kind = BACKUP_TARGET_IMMEDIATE;
		pgw_strlcpy(out->text, "immediate", sizeof(out->text));
		return 0;
	}
	if (strchr(s, '/') != NULL && sscanf(s, "%X/%X%c", &hi, &lo, &tail) == 2)
	{
		out->kind = BACKUP_TARGET_LSN;
		out->lsn = ((uint64_t) hi << 32) | lo;
		snprintf(out->text, sizeof(out->text), "%X/%X", hi, lo);
		return 0;
	}
	rc = parse_time_us(s, &out->wall_us);
	if (rc == PGW_ENOTFOUND)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "recovery target \"%s\" has no time zone: give one (Z, +00, +01:00), or it would mean whatever zone the server runs in",
		    s);
	if (rc != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid recovery target \"%s\": expected latest, immediate, an LSN like 0/3000060, or a time like 2026-11-23 10:00:00.123456+00",
		    s);
	{
		time_t t = (time_t) (out->wall_us / 1000000);
		struct tm tm;

		gmtime_r(&t, &tm);
		snprintf(out->text, sizeof(out->text),
		         "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		         (long long) (out->wall_us % 1000000));
	}
	out->kind = BACKUP_TARGET_TIME;
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
	char buf[64];
	const char *s = buf;

	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
	else if (json_is_string(v))
		s = json_string_value(v);
	else
		return fail(c, key, "expected a duration such as 60s or 5m");
	if (strcmp(s, "24h") == 0)
		*out = 24 * 3600 * INT64_C(1000);
	else if (strlen(s) > 1 && s[strlen(s) - 1] == 'h')
	{
		int64_t h;

		snprintf(buf, sizeof(buf), "%.*s", (int) strlen(s) - 1, s);
		if (pgw_parse_int64(buf, 1, 24 * 365, &h) != 0)
			return fail(c, key,
			            "expected a duration such as 60s, 5m or 2h, got \"%s\"",
			            s);
		*out = h * 3600 * 1000;
	}
	else if (pgw_parse_duration_ms(s, out) != 0)
		return fail(c, key,
		            "expected a duration such as 60s, 5m or 2h, got \"%s\"", s);
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
		return fail(c, key, "expected full, diff or incr%s",
		            allow_off ? " or off" : "");
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
	size_t i;
	json_t *item;

	if (json_is_string(v))
	{
		json_t *one = json_array();
		int rc;

		json_array_append(one, v);
		rc = get_schedule(c, one, b);
		json_decref(one);
		return rc;
	}
	if (!json_is_array(v))
		return fail(c, "schedule",
		            "expected a list of \"TYPE MIN HOUR DOM MON DOW\" entries");
	if (json_array_size(v) > CONFIG_BACKUP_SCHEDULE_MAX)
		return fail(c, "schedule", "at most %d entries",
		            CONFIG_BACKUP_SCHEDULE_MAX);
	b->n_schedule = 0;
	json_array_foreach(v, i, item)
	{
		char key[32];
		PgwError e2 = {0};

		snprintf(key, sizeof(key), "schedule[%zu]", i);
		if (get_str(c, key, item, b->schedule[i], sizeof(b->schedule[i])) != 0)
			return PGW_EINVAL;
		if (config_backup_schedule_check(b->schedule[i], NULL, 0, NULL, &e2) !=
		    0)
			return fail(c, key, "%s", e2.msg);
		b->n_schedule++;
	}
	return 0;
}

static int
get_methods(Ctx *c, json_t *v, ConfigBackup *b)
{
	size_t i;
	json_t *item;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > CONFIG_BACKUP_METHODS_MAX)
		return fail(c, "create_replica_methods",
		            "expected a list of 1 to %d of pgbackrest, basebackup",
		            CONFIG_BACKUP_METHODS_MAX);
	b->n_replica_methods = 0;
	json_array_foreach(v, i, item)
	{
		char key[48];
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
	pgw_strlcpy(b->replica_methods[0], "basebackup",
	            sizeof(b->replica_methods[0]));
}

int
config_backup_parse(const json_t *v, const char *path, ConfigBackup *out,
                    char *bad_path, size_t bad_len, PgwError *err)
{
	Ctx c = {path, bad_path, bad_len, err};
	const char *key;
	json_t *val;
	bool enabled = true;

	config_backup_defaults(out);
	if (json_is_null(v))
		return fail(&c, "", "expected a mapping with at least \"repository\"");
	if (!json_is_object(v))
		return fail(&c, "", "expected a mapping");
	json_object_foreach((json_t *) v, key, val)
	{
		int rc;

		if (strcmp(key, "enabled") == 0)
			rc = get_bool(&c, key, val, &enabled);
		else if (strcmp(key, "repository") == 0)
		{
			rc =
			    get_str(&c, key, val, out->repository, sizeof(out->repository));
			if (rc == 0 && !config_backup_path_ok(out->repository))
				rc = fail(
				    &c, key,
				    "expected an absolute path of letters, digits and /._-+@");
		}
		else if (strcmp(key, "stanza") == 0)
		{
			rc = get_str(&c, key, val, out->stanza, sizeof(out->stanza));
			if (rc == 0 && !config_backup_stanza_ok(out->stanza))
				rc = fail(&c, key,
				          "expected letters, digits, _ - . (at most 63)");
		}
		else if (strcmp(key, "pgbackrest") == 0 ||
		         strcmp(key, "config_dir") == 0)
		{
			char *dst = key[0] == 'p' ? out->pgbackrest : out->config_dir;

			rc = get_str(&c, key, val, dst, CONFIG_BACKUP_PATH_MAX);
			if (rc == 0 && !config_backup_path_ok(dst))
				rc = fail(
				    &c, key,
				    "expected an absolute path of letters, digits and /._-+@");
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
			char buf[64];
			const char *s = buf;

			if (json_is_integer(val) && json_integer_value(val) >= 0)
				snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
				         json_integer_value(val));
			else if (json_is_string(val))
				s = json_string_value(val);
			else
				s = "";
			rc = pgw_parse_bytes(s, &out->max_lag_bytes) != 0
			         ? fail(&c, key, "expected a size such as 16MB")
			         : 0;
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
			rc = get_str(&c, key, val, out->compress_type,
			             sizeof(out->compress_type));
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
		return fail(
		    &c, "repository",
		    "missing: the pgBackRest repository path (repo1-path) is required");
	out->enabled = enabled;
	return 0;
}

int
config_backup_field(Parser *p, json_t *v, const char *path)
{
	char bad[CONFIG_PATH_MAX] = "";
	PgwError e2 = {0};

	if (config_backup_parse(v, path, &p->cfg->backup, bad, sizeof(bad), &e2) !=
	    0)
		return cfg_perr(p, bad[0] ? bad : path, "%s", e2.msg);
	return 0;
}

/* ---- bootstrap.method: pgbackrest -------------------------------------- */

int
config_bootstrap_method_field(Parser *p, json_t *v, const char *path)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (s == NULL)
		return cfg_perr(p, path,
		                "expected a method name: initdb or pgbackrest");
	p->cfg->bootstrap_restore.enabled = strcmp(s, "pgbackrest") == 0;
	if (strcmp(s, "initdb") != 0 && strcmp(s, "pgbackrest") != 0)
		cfg_warn_ignored(
		    p, path,
		    "a custom bootstrap method: pgwarden bootstraps a new cluster with initdb, or restores one with method: pgbackrest");
	return 0;
}

int
config_bootstrap_pgbackrest_field(Parser *p, json_t *v, const char *path)
{
	ConfigBootstrapRestore *r = &p->cfg->bootstrap_restore;
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return cfg_perr(
		    p, path,
		    "expected a mapping with stanza (the source's) and to (TIME|LSN|latest)");
	r->has_section = true;
	pgw_strlcpy(r->to, "latest", sizeof(r->to));
	if (json_object_get(v, "command") != NULL)
	{
		/* Patroni's script form: config_backup_validate refuses it when
		 * it is the method, warns otherwise */
		r->has_command = true;
		return 0;
	}
	json_object_foreach(v, key, val)
	{
		char sub[CONFIG_PATH_MAX];

		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		if (strcmp(key, "stanza") == 0)
		{
			if (!json_is_string(val) ||
			    !config_backup_stanza_ok(json_string_value(val)))
				return cfg_perr(
				    p, sub,
				    "expected the source cluster's stanza: letters, digits, _ - . (at most 63)");
			pgw_strlcpy(r->stanza, json_string_value(val), sizeof(r->stanza));
		}
		else if (strcmp(key, "to") == 0)
		{
			PgwError e2 = {0};

			if (!json_is_string(val) ||
			    strlen(json_string_value(val)) >= sizeof(r->to))
				return cfg_perr(
				    p, sub,
				    "expected latest, immediate, an LSN or a time with a zone, as a string");
			if (config_backup_target_parse(json_string_value(val), &r->target,
			                               &e2) != 0)
				return cfg_perr(p, sub, "%s", e2.msg);
			pgw_strlcpy(r->to, json_string_value(val), sizeof(r->to));
		}
		else
			return cfg_perr(p, sub, "unknown key (expected stanza, to)");
	}
	return 0;
}

int
config_backup_validate(NodeConfig *cfg, PgwError *err)
{
	ConfigBootstrapRestore *r = &cfg->bootstrap_restore;
	const char *src = cfg->source ? cfg->source : "<environment>";
	const char *own;

	if (!r->enabled)
	{
		if (r->has_section)
		{
			char w[PGW_ERROR_MSG_MAX];

			snprintf(
			    w, sizeof(w),
			    "config file %s: key \"bootstrap.pgbackrest\": ignored: used only with bootstrap.method: pgbackrest",
			    src);
			config_add_warning(cfg, w);
		}
		return 0;
	}
	if (r->has_command)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"bootstrap.pgbackrest.command\": pgwarden restores from the backup: section's repository itself and runs no bootstrap script: give stanza (the source's) and to (TIME|LSN|latest) instead",
		    src);
	if (!r->has_section || r->stanza[0] == '\0')
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: bootstrap.method: pgbackrest needs bootstrap.pgbackrest.stanza, the stanza of the cluster to restore",
		    src);
	if (!cfg->backup.enabled)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: bootstrap.method: pgbackrest needs the backup: section (its repository holds stanza \"%s\")",
		    src, r->stanza);
	if (r->target.kind == BACKUP_TARGET_LATEST && r->to[0] == '\0')
		pgw_strlcpy(r->to, "latest", sizeof(r->to));
	own = cfg->backup.stanza[0] ? cfg->backup.stanza : cfg->scope;
	if (own != NULL && strcmp(own, r->stanza) == 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"bootstrap.pgbackrest.stanza\": \"%s\" is this cluster's own stanza: a new cluster restores another cluster's stanza and archives into its own (%s), never into the source's history",
		    src, r->stanza,
		    cfg->backup.stanza[0] ? "backup.stanza" : "the scope");
	return 0;
}
