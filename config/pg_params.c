/*
 * pg_params.c: the PostgreSQL parameters a node runs with (config.h,
 * config_pg_params_effective): the cluster-wide ones of the `config` key
 * and the node's own postgresql.parameters, merged with Patroni 3.0.2's
 * precedence (patroni/config.py _build_effective_configuration and
 * postgresql/config.py ConfigHandler.CMDLINE_OPTIONS):
 *   - the node's file wins over the cluster, except for the parameters a
 *     standby must share with its primary (max_connections, wal_level,
 *     max_wal_senders, ...): those come from the cluster only, and only
 *     when they pass Patroni's floor (max_connections >= 25, ...);
 *   - what pgwarden manages itself (listen_addresses, port, the socket
 *     directory, hot_standby, wal_log_hints, synchronous_standby_names, the
 *     standby's primary_conninfo and slot, recovery targets, the files
 *     PostgreSQL reads) is never taken from either: a recovery target or a
 *     redirected hba_file would quietly change what the HA loop relies on;
 *   - wal_keep_segments becomes wal_keep_size (16 MB a segment), as Patroni
 *     does for PostgreSQL 13+, which no longer knows the old name; without
 *     either, wal_keep_size is Patroni's default 128MB.
 * Pure: no I/O, so every rule is unit-tested (test_config_pg_params.c).
 */
#include "config/config.h"

#include "common/strutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef bool (*ValueCheck)(const char *value);

/* "25" .. : an integer at least min */
static bool
int_at_least(const char *v, int64_t min)
{
	int64_t n;

	return pgw_parse_int64(v, min, INT32_MAX, &n) == 0;
}

static bool
ge25(const char *v)
{
	return int_at_least(v, 25);
}

static bool
ge3(const char *v)
{
	return int_at_least(v, 3);
}

static bool
ge0(const char *v)
{
	return int_at_least(v, 0);
}

static bool
ge32(const char *v)
{
	return int_at_least(v, 32);
}

static bool
ge4(const char *v)
{
	return int_at_least(v, 4);
}

static bool
ge2(const char *v)
{
	return int_at_least(v, 2);
}

static bool
pg_bool(const char *v)
{
	static const char *const words[] = {"on", "off", "true", "false", "yes",
	                                    "no", "1",   "0",    NULL};

	for (int i = 0; words[i]; i++)
		if (strcasecmp(v, words[i]) == 0)
			return true;
	return false;
}

static bool
wal_level_ok(const char *v)
{
	return strcasecmp(v, "hot_standby") == 0 || strcasecmp(v, "replica") == 0 ||
	       strcasecmp(v, "logical") == 0;
}

/* wal_keep_size in MB: a number with an optional kB/MB/GB/TB unit (no unit
 * means MB, as PostgreSQL reads it); -1 when not one */
static int64_t
size_mb(const char *v)
{
	char *end;
	long long n;
	int64_t mult_kb = 1024;

	if (!isdigit((unsigned char) v[0]))
		return -1;
	n = strtoll(v, &end, 10);
	while (*end == ' ')
		end++;
	if (*end == '\0' || strcmp(end, "MB") == 0)
		mult_kb = 1024;
	else if (strcmp(end, "kB") == 0)
		mult_kb = 1;
	else if (strcmp(end, "GB") == 0)
		mult_kb = 1024 * 1024;
	else if (strcmp(end, "TB") == 0)
		mult_kb = 1024LL * 1024 * 1024;
	else
		return -1;
	if (n < 0 || n > (long long) (INT64_MAX / 1024 / mult_kb))
		return -1;
	return (int64_t) n * mult_kb / 1024;
}

static bool
wal_keep_ok(const char *v)
{
	return size_mb(v) >= 16;
}

/* the parameters a standby shares with its primary: cluster-wide only */
static const struct
{
	const char *name;
	ValueCheck ok;
	const char *floor; /* said in the warning */
} cluster_only[] = {
    {"max_connections", ge25, "at least 25"},
    {"max_wal_senders", ge3, "at least 3"},
    {"max_prepared_transactions", ge0, "at least 0"},
    {"max_locks_per_transaction", ge32, "at least 32"},
    {"max_replication_slots", ge4, "at least 4"},
    {"max_worker_processes", ge2, "at least 2"},
    {"track_commit_timestamp", pg_bool, "a boolean"},
    {"wal_level", wal_level_ok, "replica or logical"},
    {"wal_keep_size", wal_keep_ok, "at least 16MB"},
    {"wal_keep_segments", ge0, "a number of segments"},
};

/* what pgwarden sets itself, and from where */
static const struct
{
	const char *name;
	const char *why;
} managed[] = {
    {"listen_addresses", "pgwarden sets it from postgresql.listen"},
    {"port", "pgwarden sets it from postgresql.listen"},
    {"unix_socket_directories", "pgwarden sets it from postgresql.socket_dir"},
    {"hot_standby", "always on: replicas serve reads and replay"},
    {"wal_log_hints", "always on: pg_rewind needs it"},
    {"synchronous_standby_names", "the leader sets it (synchronous_mode)"},
    {"primary_conninfo", "pgwarden points each replica at its upstream"},
    {"primary_slot_name", "pgwarden names each replica's slot"},
    {"recovery_target", "a recovery target would stop a replica's replay"},
    {"recovery_target_lsn", "a recovery target would stop a replica's replay"},
    {"recovery_target_name", "a recovery target would stop a replica's replay"},
    {"recovery_target_time", "a recovery target would stop a replica's replay"},
    {"recovery_target_xid", "a recovery target would stop a replica's replay"},
    {"recovery_target_timeline", "replicas follow the latest timeline"},
    {"recovery_target_action",
     "a recovery target would stop a replica's replay"},
    {"recovery_target_inclusive",
     "a recovery target would stop a replica's replay"},
    {"pause_at_recovery_target",
     "a recovery target would stop a replica's replay"},
    {"standby_mode", "pgwarden writes standby.signal"},
    {"trigger_file", "pgwarden promotes"},
    {"promote_trigger_file", "pgwarden promotes"},
    {"data_directory", "pgwarden sets it from postgresql.data_dir"},
    {"config_file", "pgwarden starts PostgreSQL with its own files"},
    {"hba_file", "pgwarden writes pg_hba.conf (postgresql.pg_hba)"},
    {"ident_file", "pgwarden starts PostgreSQL with its own files"},
    {"external_pid_file", "pgwarden tracks the postmaster itself"},
};

static int
find(const PgParam *p, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(p[i].name, name) == 0)
			return i;
	return -1;
}

static void note(PgParamSet *out, const char *source, const char *name,
                 const char *fmt, ...) PGW_PRINTF(4, 5);

static void
note(PgParamSet *out, const char *source, const char *name, const char *fmt,
     ...)
{
	va_list ap;
	PgParamIgnored *ig;

	if (out->n_ignored >= PGW_PG_PARAMS_IGNORED_MAX)
		return;
	ig = &out->ignored[out->n_ignored++];
	pgw_strlcpy(ig->name, name, sizeof(ig->name));
	pgw_strlcpy(ig->source, source, sizeof(ig->source));
	va_start(ap, fmt);
	vsnprintf(ig->why, sizeof(ig->why), fmt, ap);
	va_end(ap);
}

/* a name PostgreSQL could know: letters, digits, '_' and '.' (custom
 * parameters), not starting with a digit; the conf file gets it lower case */
static bool
name_ok(const char *name)
{
	if (name[0] == '\0' || isdigit((unsigned char) name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_' && *p != '.')
			return false;
	return true;
}

static void
set(PgParamSet *out, const char *name, const char *value)
{
	int i = find(out->params, out->n, name);
	char *d;

	if (i < 0)
	{
		if (out->n >= PGW_PG_PARAMS_EFFECTIVE_MAX)
			return;
		i = out->n++;
	}
	pgw_strlcpy(out->params[i].name, name, sizeof(out->params[i].name));
	for (d = out->params[i].name; *d; d++)
		*d = (char) tolower((unsigned char) *d);
	pgw_strlcpy(out->params[i].value, value, sizeof(out->params[i].value));
}

static int
cluster_only_index(const char *name)
{
	for (size_t i = 0; i < PGW_LENGTHOF(cluster_only); i++)
		if (strcasecmp(name, cluster_only[i].name) == 0)
			return (int) i;
	return -1;
}

/* managed_reason: why pgwarden keeps name for itself, or NULL */
const char *
config_pg_param_managed(const char *name)
{
	for (size_t i = 0; i < PGW_LENGTHOF(managed); i++)
		if (strcasecmp(name, managed[i].name) == 0)
			return managed[i].why;
	return NULL;
}

void
config_pg_params_effective(const NodeConfig *cfg, const DynamicConfig *dyn,
                           PgParamSet *out)
{
	const char *why;
	int k;
	int seg;

	memset(out, 0, sizeof(*out));
	/* cluster-wide first */
	for (int i = 0; dyn != NULL && i < dyn->n_params; i++)
	{
		const PgParam *p = &dyn->params[i];

		if (!name_ok(p->name))
			note(out, "cluster", p->name, "%s", "not a parameter name");
		else if ((why = config_pg_param_managed(p->name)) != NULL)
			note(out, "cluster", p->name, "%s", why);
		else if ((k = cluster_only_index(p->name)) >= 0 &&
		         !cluster_only[k].ok(p->value))
			note(out, "cluster", p->name, "must be %s (Patroni's floor)",
			     cluster_only[k].floor);
		else if (strcasecmp(p->name, "wal_level") == 0 &&
		         strcasecmp(p->value, "hot_standby") == 0)
			set(out, "wal_level", "replica");
		else if (strcasecmp(p->name, "wal_keep_segments") != 0)
			set(out, p->name, p->value);
	}
	/* PostgreSQL 13+ knows wal_keep_size only: convert, as Patroni does */
	if (dyn != NULL &&
	    (seg = find(dyn->params, dyn->n_params, "wal_keep_segments")) >= 0 &&
	    ge0(dyn->params[seg].value) &&
	    find(out->params, out->n, "wal_keep_size") < 0)
	{
		char mb[32];
		int64_t n = 0;

		if (pgw_parse_int64(dyn->params[seg].value, 0, INT32_MAX, &n) != 0)
			n = 0;
		snprintf(mb, sizeof(mb), "%lldMB", (long long) n * 16);
		set(out, "wal_keep_size", mb);
	}
	/* then the node's own file, over the cluster's */
	for (int i = 0; cfg != NULL && i < cfg->n_pg_parameters; i++)
	{
		const PgParam *p = &cfg->pg_parameters[i];

		if (!name_ok(p->name))
			note(out, "local", p->name, "%s", "not a parameter name");
		else if ((why = config_pg_param_managed(p->name)) != NULL)
			note(out, "local", p->name, "%s", why);
		else if (cluster_only_index(p->name) >= 0)
			note(
			    out, "local", p->name, "%s",
			    "a standby must share it with its primary: set it cluster-wide "
			    "(bootstrap.dcs.postgresql.parameters or edit-config), as Patroni requires");
		else
			set(out, p->name, p->value);
	}
	/*
	 * ours: a replica re-pointed at a new leader retries every
	 * wal_retrieve_retry_interval (5 s by default), and a promote request
	 * that lands just after the stream ended waits out the rest of it:
	 * 200 ms bounds both, unless someone chose a value.
	 */
	if (find(out->params, out->n, "wal_retrieve_retry_interval") < 0)
		set(out, "wal_retrieve_retry_interval", "200ms");
	/* Patroni's default on 13+ (8 segments of 16 MB): WAL a replica can
	 * still fetch while its slot does not exist yet */
	if (find(out->params, out->n, "wal_keep_size") < 0)
		set(out, "wal_keep_size", "128MB");
}

bool
config_pg_params_equal(const PgParamSet *a, const PgParamSet *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->params[i].name, b->params[i].name) != 0 ||
		    strcmp(a->params[i].value, b->params[i].value) != 0)
			return false;
	return true;
}
