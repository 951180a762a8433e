/*
 * config_schema.c: the keys of the per-node YAML file (config.h) and what
 * each one does: the field tables the walk in config.c follows, the keys
 * that need code (hosts, levels, tags, bootstrap.dcs, ...), and the
 * Patroni keys pgwarden accepts but does not use (a warning naming each)
 * or refuses because ignoring them would make the node less safe. The
 * README's table "patroni.yml keys" lists the same three groups.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * custom fields
 * ------------------------------------------------------------------------ */

/* group: the shard group this node serves (0..9999), as Patroni's
 * citus.group */
static int
fn_group(Parser *p, json_t *v, const char *path)
{
	if (!json_is_integer(v))
		return cfg_perr(p, path, "expected a group number 0..9999, got %s",
		                cfg_kind_name(v));
	if (json_integer_value(v) < 0 || json_integer_value(v) > 9999)
		return cfg_perr(p, path, "group %lld is out of range (0..9999)",
		                (long long) json_integer_value(v));
	p->cfg->group = (int) json_integer_value(v);
	p->cfg->has_group = true;
	return 0;
}

static int
fn_log_level(Parser *p, json_t *v, const char *path)
{
	if (!json_is_string(v) ||
	    config_parse_level(json_string_value(v), &p->cfg->log_level) != 0)
		return cfg_perr(p, path, "expected one of debug, info, warn, error");
	return 0;
}

static int
fn_etcd_hosts(Parser *p, json_t *v, const char *path)
{
	char *joined;

	if (json_is_string(v))
		joined = pgw_xstrdup(json_string_value(v));
	else if (json_is_array(v) && json_array_size(v) > 0)
	{
		size_t cap = 1;
		size_t i;
		json_t *item;

		json_array_foreach(v, i, item)
		{
			if (!json_is_string(item))
			{
				char sub[CONFIG_PATH_MAX];

				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
				return cfg_perr(p, sub, "expected host:port, got %s",
				                cfg_kind_name(item));
			}
			cap += json_string_length(item) + 1;
		}
		joined = pgw_xmalloc(cap);
		joined[0] = '\0';
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				strncat(joined, ",", cap - strlen(joined) - 1);
			strncat(joined, json_string_value(item), cap - strlen(joined) - 1);
		}
	}
	else
		return cfg_perr(p, path, "expected host:port or a list of them, got %s",
		                cfg_kind_name(v));
	if (p->cfg->etcd_hosts != NULL)
	{
		free(joined);
		return cfg_perr(p, path,
		                "set either etcd3.host or etcd3.hosts, not both");
	}
	{
		PgwError e2 = {0};
		char *norm = config_etcd_hosts_normalise(joined, "http", &e2);

		free(joined);
		if (norm == NULL)
			return cfg_perr(p, path, "%s", e2.msg);
		p->cfg->etcd_hosts = norm;
	}
	return 0;
}

static int
fn_etcd_protocol(Parser *p, json_t *v, const char *path)
{
	if (!json_is_string(v) || (strcmp(json_string_value(v), "http") != 0 &&
	                           strcmp(json_string_value(v), "https") != 0))
		return cfg_perr(p, path, "expected \"http\" or \"https\"");
	config_set_str(&p->cfg->etcd_protocol, json_string_value(v));
	return 0;
}

static int
fn_verify_client(Parser *p, json_t *v, const char *path)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (strcmp(s, "none") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_NONE;
	else if (strcmp(s, "optional") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_OPTIONAL;
	else if (strcmp(s, "required") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_REQUIRED;
	else
		return cfg_perr(p, path, "expected none, optional or required");
	return 0;
}

static int
fn_watchdog_mode(Parser *p, json_t *v, const char *path)
{
	/* PyYAML reads a plain `off` as false, as we do */
	const char *s = json_is_string(v)  ? json_string_value(v)
	                : json_is_false(v) ? "off"
	                                   : "";

	if (strcmp(s, "off") == 0)
		p->cfg->watchdog_mode = CONFIG_WATCHDOG_OFF;
	else if (strcmp(s, "automatic") == 0)
		p->cfg->watchdog_mode = CONFIG_WATCHDOG_AUTOMATIC;
	else if (strcmp(s, "required") == 0)
		/* Patroni's "required" refuses leadership without a kernel
		 * watchdog; we do not drive /dev/watchdog, and accepting the word
		 * would promise a guarantee we do not give */
		return cfg_perr(
		    p, path,
		    "\"required\" is not supported: pgwarden does not drive /dev/watchdog; "
		    "its fence watchdog process stops PostgreSQL when the daemon freezes "
		    "(README, \"How it keeps one writer\"); use off or automatic");
	else
		return cfg_perr(p, path, "expected off, automatic or required");
	return 0;
}

static int
fn_watchdog_margin(Parser *p, json_t *v, const char *path)
{
	double s;

	if (!json_is_number(v))
		return cfg_perr(p, path, "expected a number of seconds, got %s",
		                cfg_kind_name(v));
	s = json_number_value(v);
	if (!(s >= 0 && s <= 3600))
		return cfg_perr(p, path, "%g s is out of range (0..3600 s)", s);
	p->cfg->watchdog_safety_margin_ms = (int64_t) (s * 1000.0 + 0.5);
	return 0;
}

static int
fn_parameters(Parser *p, json_t *v, const char *path)
{
	const char *name;
	json_t *val;
	NodeConfig *c = p->cfg;

	/* "parameters:" with every line under it commented out */
	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return cfg_perr(p, path, "expected a mapping, got %s",
		                cfg_kind_name(v));
	json_object_foreach(v, name, val)
	{
		char sub[CONFIG_PATH_MAX];
		PgParam *pp;
		int n;

		cfg_join_path(sub, sizeof(sub), path, name);
		if (c->n_pg_parameters >= PGW_PG_PARAMS_MAX)
			return cfg_perr(p, sub, "more than %d parameters",
			                PGW_PG_PARAMS_MAX);
		pp = &c->pg_parameters[c->n_pg_parameters];
		if (strlen(name) >= sizeof(pp->name))
			return cfg_perr(p, sub, "parameter name longer than %zu bytes",
			                sizeof(pp->name) - 1);
		if (json_is_string(val))
			n = snprintf(pp->value, sizeof(pp->value), "%s",
			             json_string_value(val));
		else if (json_is_integer(val))
			n = snprintf(pp->value, sizeof(pp->value), "%" JSON_INTEGER_FORMAT,
			             json_integer_value(val));
		else if (json_is_real(val))
			n = snprintf(pp->value, sizeof(pp->value), "%.15g",
			             json_real_value(val));
		else if (json_is_boolean(val))
			n = snprintf(pp->value, sizeof(pp->value), "%s",
			             json_is_true(val) ? "on" : "off");
		else
			return cfg_perr(p, sub,
			                "expected a string, number or boolean, got %s",
			                cfg_kind_name(val));
		if (n < 0 || (size_t) n >= sizeof(pp->value))
			return cfg_perr(p, sub, "value longer than %zu bytes",
			                sizeof(pp->value) - 1);
		pgw_strlcpy(pp->name, name, sizeof(pp->name));
		c->n_pg_parameters++;
	}
	return 0;
}

static int
fn_tags(Parser *p, json_t *v, const char *path)
{
	NodeConfig *c = p->cfg;
	const char *key;
	json_t *val;

	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return cfg_perr(p, path, "expected a mapping, got %s",
		                cfg_kind_name(v));
	json_object_foreach(v, key, val)
	{
		char sub[CONFIG_PATH_MAX];
		MemberTag *t;
		int n;

		cfg_join_path(sub, sizeof(sub), path, key);
		if (c->n_tags >= PGW_TAGS_MAX)
			return cfg_perr(p, sub, "more than %d tags", PGW_TAGS_MAX);
		t = &c->tags[c->n_tags];
		if (strlen(key) >= sizeof(t->key))
			return cfg_perr(p, sub, "tag name longer than %zu bytes",
			                sizeof(t->key) - 1);
		if (strcmp(key, "nofailover") == 0 ||
		    strcmp(key, "noloadbalance") == 0 || strcmp(key, "nosync") == 0 ||
		    strcmp(key, "clonefrom") == 0 || strcmp(key, "nostream") == 0)
		{
			if (!json_is_boolean(val))
				return cfg_perr(p, sub, "expected a boolean, got %s",
				                cfg_kind_name(val));
			if (strcmp(key, "nofailover") == 0)
				c->tag_nofailover = json_is_true(val);
			else if (strcmp(key, "noloadbalance") == 0)
				c->tag_noloadbalance = json_is_true(val);
			else if (strcmp(key, "nosync") == 0)
				c->tag_nosync = json_is_true(val);
		}
		else if (strcmp(key, "failover_priority") == 0)
		{
			if (!json_is_integer(val) || json_integer_value(val) < 0 ||
			    json_integer_value(val) > INT_MAX)
				return cfg_perr(p, sub, "expected a non-negative integer");
			c->tag_failover_priority = (int) json_integer_value(val);
		}
		else if (strcmp(key, "replicatefrom") == 0)
		{
			if (!json_is_string(val))
				return cfg_perr(p, sub, "expected a member name, got %s",
				                cfg_kind_name(val));
			if (json_string_length(val) >= sizeof(c->tag_replicatefrom))
				return cfg_perr(p, sub, "longer than %zu bytes",
				                sizeof(c->tag_replicatefrom) - 1);
			pgw_strlcpy(c->tag_replicatefrom, json_string_value(val),
			            sizeof(c->tag_replicatefrom));
		}
		if (json_is_string(val))
			n = snprintf(t->value, sizeof(t->value), "%s",
			             json_string_value(val));
		else if (json_is_integer(val))
			n = snprintf(t->value, sizeof(t->value), "%" JSON_INTEGER_FORMAT,
			             json_integer_value(val));
		else if (json_is_real(val))
			n = snprintf(t->value, sizeof(t->value), "%.15g",
			             json_real_value(val));
		else if (json_is_boolean(val))
			n = snprintf(t->value, sizeof(t->value), "%s",
			             json_is_true(val) ? "true" : "false");
		else
			return cfg_perr(p, sub,
			                "expected a string, number or boolean, got %s",
			                cfg_kind_name(val));
		if (n < 0 || (size_t) n >= sizeof(t->value))
			return cfg_perr(p, sub, "value longer than %zu bytes",
			                sizeof(t->value) - 1);
		pgw_strlcpy(t->key, key, sizeof(t->key));
		c->n_tags++;
	}
	return 0;
}

/* etcd: (v2) and the other stores Patroni speaks */
static int
fn_etcd_v2(Parser *p, json_t *v, const char *path)
{
	(void) v;
	return cfg_perr(
	    p, path,
	    "pgwarden speaks etcd v3 only: rename the section \"etcd:\" to \"etcd3:\" (its keys stay the same) and point it at etcd 3.4 or later");
}

static int
fn_other_dcs(Parser *p, json_t *v, const char *path)
{
	(void) v;
	return cfg_perr(
	    p, path,
	    "pgwarden keeps the cluster state in etcd v3 only: replace this section by an \"etcd3:\" section (hosts, protocol, cacert, cert, key, username, password)");
}

/*
 * fn_replica_method: another key under postgresql: Patroni's replica
 * methods are sections named by postgresql.create_replica_methods (a
 * mapping with "command", or basebackup's list of options).
 */
static int
fn_replica_method(Parser *p, json_t *v, const char *path)
{
	if (json_is_object(v) && json_object_get(v, "command") != NULL)
	{
		cfg_warn_ignored(
		    p, path,
		    "a replica-creation method: pgwarden clones replicas with pg_basebackup");
		return 0;
	}
	return cfg_punknown(p, path);
}


/* ------------------------------------------------------------------------
 * the schema
 * ------------------------------------------------------------------------ */

#define LOG_IGN                                                                \
	"pgwarden logs key=value lines to stderr (the journal under systemd)"
static const Field log_fields[] = {
    FFN("level", fn_log_level),      FIGN("traceback_level", LOG_IGN),
    FIGN("format", LOG_IGN),         FIGN("dateformat", LOG_IGN),
    FIGN("max_queue_size", LOG_IGN), FIGN("dir", LOG_IGN),
    FIGN("file_num", LOG_IGN),       FIGN("file_size", LOG_IGN),
    FIGN("loggers", LOG_IGN),        FEND};

static const Field etcd_fields[] = {
    FFN("hosts", fn_etcd_hosts),
    FFN("host", fn_etcd_hosts),
    FFN("protocol", fn_etcd_protocol),
    FSTR("cacert", etcd_cacert),
    FSTR("cert", etcd_cert),
    FSTR("key", etcd_key),
    FSTR("username", etcd_username),
    FSTR("password", etcd_password),
    FIGN("use_proxies", "pgwarden talks to the hosts given, over gRPC"),
    FREF(
        "url",
        "give the endpoint as etcd3.hosts (host:port, with etcd3.protocol: https for TLS)"),
    FREF("proxy", "give the endpoint as etcd3.hosts (host:port)"),
    FREF(
        "srv",
        "DNS SRV discovery is not supported: list the endpoints in etcd3.hosts"),
    FREF(
        "srv_suffix",
        "DNS SRV discovery is not supported: list the endpoints in etcd3.hosts"),
    FEND};

static const Field restapi_auth_fields[] = {FSTR("username", restapi_username),
                                            FSTR("password", restapi_password),
                                            FEND};

static const Field restapi_fields[] = {
    FHP("listen", restapi_listen, restapi_port),
    FSTR("connect_address", restapi_connect_address),
    FSTR("certfile", restapi_certfile),
    FSTR("keyfile", restapi_keyfile),
    FSTR("cafile", restapi_cafile),
    FFN("verify_client", fn_verify_client),
    FSEC("authentication", restapi_auth_fields),
    FLIST("allowlist", restapi_allowlist, n_restapi_allowlist),
    FBOOL("allowlist_include_members", restapi_allowlist_include_members),
    FBOOL("allow_unauthenticated_writes_from_loopback",
          restapi_loopback_writes),
    FBOOL("allow_credentials_over_http", restapi_credentials_over_http),
    FIGN("keyfile_password", "give an unencrypted restapi.keyfile"),
    FREF(
        "ciphers",
        "not supported: ignoring it would allow ciphers you excluded; remove it (OpenSSL's defaults apply)"),
    FIGN("http_extra_headers", "pgwarden sends no extra headers"),
    FIGN("https_extra_headers", "pgwarden sends no extra headers"),
    FIGN("request_queue_size", "pgwarden bounds connections per client itself"),
    FEND};

/* libpq's TLS and GSS settings per user: pgwarden's connections do not
 * carry them, and connecting without the checks asked for is less safe */
#define PG_AUTH_TLS                                                            \
	FREF("sslmode", PG_TLS_REF), FREF("sslkey", PG_TLS_REF),                   \
	    FREF("sslpassword", PG_TLS_REF), FREF("sslcert", PG_TLS_REF),          \
	    FREF("sslrootcert", PG_TLS_REF), FREF("sslcrl", PG_TLS_REF),           \
	    FREF("sslcrldir", PG_TLS_REF), FREF("gssencmode", PG_TLS_REF),         \
	    FREF("channel_binding", PG_TLS_REF)
#define PG_TLS_REF                                                             \
	"not supported: pgwarden would connect without the TLS or GSS checks asked for; remove it"

static const Field pg_superuser_fields[] = {
    FSTR("username", pg_superuser_username),
    FSTR("password", pg_superuser_password), PG_AUTH_TLS, FEND};

static const Field pg_replication_fields[] = {
    FSTR("username", pg_replication_username),
    FSTR("password", pg_replication_password), PG_AUTH_TLS, FEND};

static const Field pg_rewind_fields[] = {FSTR("username", pg_rewind_username),
                                         FSTR("password", pg_rewind_password),
                                         PG_AUTH_TLS, FEND};

static const Field pg_auth_fields[] = {
    FSEC("superuser", pg_superuser_fields),
    FSEC("replication", pg_replication_fields),
    FSEC("rewind", pg_rewind_fields), FEND};

static const Field pg_callback_fields[] = {
    FSTR("on_start", cb_on_start),
    FSTR("on_stop", cb_on_stop),
    FSTR("on_restart", cb_on_restart),
    FSTR("on_reload", cb_on_reload),
    FSTR("on_role_change", cb_on_role_change),
    FIGN(
        "before_stop",
        "not run: pgwarden stops PostgreSQL itself (see postgresql.callbacks.on_stop)"),
    FEND};

static const Field pg_fields[] = {
    FPGL("listen", pg_listen, pg_port),
    FSTR("connect_address", pg_connect_address),
    FSTR("proxy_address", pg_proxy_address),
    FSTR("data_dir", pg_data_dir),
    FSTR("bin_dir", pg_bin_dir),
    FSTR("run_as", pg_run_as),
    FSTR("socket_dir", pg_socket_dir),
    FSTR("pgpass", pg_pgpass),
    FSEC("authentication", pg_auth_fields),
    FFN("parameters", fn_parameters),
    FLIST("pg_hba", pg_hba, n_pg_hba),
    FSEC("callbacks", pg_callback_fields),
    FSTR("pre_promote", pg_pre_promote),
    FIGN(
        "config_dir",
        "pgwarden keeps postgresql.conf in data_dir and includes its own file there"),
    FIGN("use_unix_socket", "pgwarden connects over postgresql.socket_dir"),
    FIGN("use_unix_socket_repl",
         "replicas connect over TCP to connect_address"),
    FIGN("pg_ident", "pgwarden does not write pg_ident.conf"),
    FIGN("pg_ctl_timeout", "pgwarden bounds its own starts and stops"),
    FIGN("create_replica_methods",
         "pgwarden clones replicas with pg_basebackup"),
    FIGN("create_replica_method",
         "pgwarden clones replicas with pg_basebackup"),
    FIGN("basebackup", "pgwarden runs pg_basebackup with its own options"),
    FIGN("recovery_conf", "pgwarden writes the standby settings itself"),
    FIGN("custom_conf",
         "pgwarden includes its own file in data_dir/postgresql.conf"),
    FIGN("krbsrvname", "Kerberos is not supported for pgwarden's connections"),
    FIGN("bin_name", "pgwarden runs the programs of bin_dir by their names"),
    FIGN(
        "use_pg_rewind",
        "a cluster-wide setting in pgwarden: set it in bootstrap.dcs.postgresql or with edit-config"),
    FIGN(
        "use_slots",
        "a cluster-wide setting (as in Patroni): set it in bootstrap.dcs.postgresql or with edit-config"),
    FIGN(
        "remove_data_directory_on_rewind_failure",
        "a cluster-wide setting in pgwarden: set it in bootstrap.dcs.postgresql or with edit-config"),
    FIGN(
        "remove_data_directory_on_diverged_timelines",
        "a diverged replica is rewound, or re-cloned when remove_data_directory_on_rewind_failure allows"),
    FANY(fn_replica_method),
    FEND};

static const Field bootstrap_fields[] = {
    FFN("dcs", fn_bootstrap_dcs),
    FFN("initdb", fn_initdb),
    FFN("pg_hba", fn_bootstrap_pg_hba),
    FFN("method", config_bootstrap_method_field),
    FIGN("users",
         "create these roles yourself after the bootstrap (CREATE ROLE)"),
    FIGN("post_bootstrap",
         "not run: pgwarden runs no script after the bootstrap"),
    FIGN("post_init", "not run: pgwarden runs no script after the bootstrap"),
    FFN("pgbackrest", config_bootstrap_pgbackrest_field),
    FANY(fn_bootstrap_method),
    FEND};

static const Field watchdog_fields[] = {
    FFN("mode", fn_watchdog_mode), FSTR("device", watchdog_device),
    FFN("safety_margin", fn_watchdog_margin), FEND};

const Field config_top_fields[] = {
    FSTR("scope", scope),
    FSTR("namespace", namespace_),
    FSTR("name", name),
    FFN("log_level", fn_log_level),
    FSEC("log", log_fields),
    FSEC("etcd3", etcd_fields),
    FSEC("restapi", restapi_fields),
    FSEC("postgresql", pg_fields),
    FSEC("bootstrap", bootstrap_fields),
    FFN("tags", fn_tags),
    FSEC("watchdog", watchdog_fields),
    FBOOL("switchover_on_shutdown", switchover_on_shutdown),
    FSTR("state_dir", state_dir),
    FFN("kubernetes", config_k8s_field),
    FFN("backup", config_backup_field),
    FFN("group", fn_group),
    FFN("etcd", fn_etcd_v2),
    FFN("consul", fn_other_dcs),
    FFN("zookeeper", fn_other_dcs),
    FFN("exhibitor", fn_other_dcs),
    FFN("kubernetes", fn_other_dcs),
    FFN("raft", fn_other_dcs),
    FIGN("ctl", "patronictl's section; pgwardenctl reads etcd3 and restapi"),
    FIGN("citus", "Citus groups are not managed by pgwarden"),
    FEND};


/* ------------------------------------------------------------------------
 * defaults
 * ------------------------------------------------------------------------ */

void
config_schema_defaults(NodeConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LEVEL_INFO;
	c->tag_failover_priority = 1;
	c->watchdog_safety_margin_ms = 5000;
	c->switchover_on_shutdown = true;
	dcs_config_defaults(&c->bootstrap_dcs);
}

/* config_schema_finish: defaults that depend on several keys (protocol after hosts) */
int
config_schema_finish(Parser *p)
{
	NodeConfig *c = p->cfg;

	/* bootstrap.dcs.postgresql.pg_hba is the whole file, as in Patroni,
	 * unless the node's own postgresql.pg_hba says otherwise */
	if (c->n_pg_hba == 0 && c->n_dcs_pg_hba > 0)
	{
		c->pg_hba = c->dcs_pg_hba;
		c->n_pg_hba = c->n_dcs_pg_hba;
		c->dcs_pg_hba = NULL;
		c->n_dcs_pg_hba = 0;
	}
	else if (c->n_dcs_pg_hba > 0)
		cfg_warn_ignored(
		    p, "bootstrap.dcs.postgresql.pg_hba",
		    "postgresql.pg_hba gives this node's whole pg_hba.conf");
	/* Patroni adds bootstrap.pg_hba to the default file only */
	if (c->n_pg_hba > 0 && c->n_bootstrap_pg_hba > 0)
		cfg_warn_ignored(
		    p, "bootstrap.pg_hba",
		    "postgresql.pg_hba (or bootstrap.dcs.postgresql.pg_hba) gives the whole pg_hba.conf");

	if (c->namespace_ == NULL)
		config_set_str(&c->namespace_, "/service");
	if (c->etcd_protocol == NULL)
		config_set_str(&c->etcd_protocol, "http");
	if (c->etcd_hosts != NULL)
	{
		PgwError e2 = {0};
		char *norm =
		    config_etcd_hosts_normalise(c->etcd_hosts, c->etcd_protocol, &e2);

		if (norm == NULL)
			return cfg_perr(p, "etcd3.hosts", "%s", e2.msg);
		free(c->etcd_hosts);
		c->etcd_hosts = norm;
	}
	return 0;
}
