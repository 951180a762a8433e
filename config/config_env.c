/*
 * config_env.c: PGWARDEN_* environment overrides (containers) and the final
 * checks of config_validate() (config.h).
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum EnvKind
{
	E_STR,
	E_HOSTPORT,
	E_PGLISTEN,
	E_ETCD_HOSTS,
	E_PROTOCOL,
	E_LOG_LEVEL,
} EnvKind;

typedef struct EnvVar
{
	const char *name;
	EnvKind kind;
	size_t off;
	size_t off_port;
} EnvVar;

#define ENV(n, k, m)                                                           \
	{                                                                          \
		n, k, offsetof(NodeConfig, m), 0                                       \
	}
#define ENVP(n, k, m, p)                                                       \
	{                                                                          \
		n, k, offsetof(NodeConfig, m), offsetof(NodeConfig, p)                 \
	}

static const EnvVar env_vars[] = {
    ENV("PGWARDEN_SCOPE", E_STR, scope),
    ENV("PGWARDEN_NAMESPACE", E_STR, namespace_),
    ENV("PGWARDEN_NAME", E_STR, name),
    ENV("PGWARDEN_LOG_LEVEL", E_LOG_LEVEL, log_level),
    ENV("PGWARDEN_ETCD3_HOSTS", E_ETCD_HOSTS, etcd_hosts),
    ENV("PGWARDEN_ETCD3_PROTOCOL", E_PROTOCOL, etcd_protocol),
    ENV("PGWARDEN_ETCD3_CACERT", E_STR, etcd_cacert),
    ENV("PGWARDEN_ETCD3_CERT", E_STR, etcd_cert),
    ENV("PGWARDEN_ETCD3_KEY", E_STR, etcd_key),
    ENV("PGWARDEN_ETCD3_USERNAME", E_STR, etcd_username),
    ENV("PGWARDEN_ETCD3_PASSWORD", E_STR, etcd_password),
    ENVP("PGWARDEN_RESTAPI_LISTEN", E_HOSTPORT, restapi_listen, restapi_port),
    ENV("PGWARDEN_RESTAPI_CONNECT_ADDRESS", E_HOSTPORT,
        restapi_connect_address),
    ENV("PGWARDEN_RESTAPI_USERNAME", E_STR, restapi_username),
    ENV("PGWARDEN_RESTAPI_PASSWORD", E_STR, restapi_password),
    ENVP("PGWARDEN_POSTGRESQL_LISTEN", E_PGLISTEN, pg_listen, pg_port),
    ENV("PGWARDEN_POSTGRESQL_CONNECT_ADDRESS", E_HOSTPORT, pg_connect_address),
    ENV("PGWARDEN_POSTGRESQL_DATA_DIR", E_STR, pg_data_dir),
    ENV("PGWARDEN_POSTGRESQL_BIN_DIR", E_STR, pg_bin_dir),
    ENV("PGWARDEN_STATE_DIR", E_STR, state_dir),
};

#define CFG_FIELD(c, off, type) ((type *) ((char *) (c) + (off)))

static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	if (envp == NULL)
		return NULL;
	for (char *const *e = envp; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int
apply_one(NodeConfig *cfg, const EnvVar *ev, const char *val, PgwError *err)
{
	PgwError e2 = {0};
	int port = 0;

	if (val[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL,
		                     "environment variable %s: must not be empty",
		                     ev->name);
	switch (ev->kind)
	{
		case E_STR:
			config_set_str(CFG_FIELD(cfg, ev->off, char *), val);
			return 0;
		case E_HOSTPORT:
		case E_PGLISTEN:
			if (config_check_hostport(val, ev->kind == E_PGLISTEN, &port,
			                          &e2) != 0)
				return pgw_error_set(err, PGW_EINVAL,
				                     "environment variable %s: %s", ev->name,
				                     e2.msg);
			config_set_str(CFG_FIELD(cfg, ev->off, char *), val);
			if (ev->off_port != 0)
				*CFG_FIELD(cfg, ev->off_port, int) = port;
			return 0;
		case E_ETCD_HOSTS:
		{
			char *norm =
			    config_etcd_hosts_normalise(val, cfg->etcd_protocol, &e2);

			if (norm == NULL)
				return pgw_error_set(err, PGW_EINVAL,
				                     "environment variable %s: %s", ev->name,
				                     e2.msg);
			free(cfg->etcd_hosts);
			cfg->etcd_hosts = norm;
			return 0;
		}
		case E_PROTOCOL:
			if (strcmp(val, "http") != 0 && strcmp(val, "https") != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "environment variable %s: expected \"http\" or \"https\", got \"%s\"",
				    ev->name, val);
			config_set_str(&cfg->etcd_protocol, val);
			return 0;
		case E_LOG_LEVEL:
			if (config_parse_level(val, &cfg->log_level) != 0)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "environment variable %s: expected one of debug, info, warn, error, got \"%s\"",
				    ev->name, val);
			return 0;
	}
	return PGW_EINVAL;
}

int
config_apply_env(NodeConfig *cfg, char *const *envp, PgwError *err)
{
	for (size_t i = 0; i < PGW_LENGTHOF(env_vars); i++)
	{
		const char *val = env_get(envp, env_vars[i].name);

		if (val != NULL && apply_one(cfg, &env_vars[i], val, err) != 0)
			return PGW_EINVAL;
	}
	/* a protocol from the environment applies to hosts from the file too */
	if (cfg->etcd_hosts != NULL)
	{
		PgwError e2 = {0};
		char *norm = config_etcd_hosts_normalise(cfg->etcd_hosts,
		                                         cfg->etcd_protocol, &e2);

		if (norm == NULL)
			return pgw_error_set(err, PGW_EINVAL, "etcd3.hosts: %s", e2.msg);
		free(cfg->etcd_hosts);
		cfg->etcd_hosts = norm;
	}
	if (config_secrets_apply_env(cfg, envp, err) != 0 ||
	    config_k8s_apply_env(cfg, envp, err) != 0)
		return PGW_EINVAL;
	return 0;
}

static bool
is_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "*") == 0 ||
	       strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* connect address default: the first listen host, unless a wildcard */
static int
default_connect(const char *src, char **connect, const char *listen_key,
                const char *connect_key, const char *listen, PgwError *err)
{
	char host[512];
	int port;
	char *comma;
	char buf[600];

	if (*connect != NULL || listen == NULL)
		return 0;
	if (config_split_host_port(listen, host, sizeof(host), &port, NULL) != 0)
		return 0;
	if ((comma = strchr(host, ',')) != NULL)
		*comma = '\0';
	if (is_wildcard(host))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"%s\" is required when \"%s\" listens on all addresses",
		    src, connect_key, listen_key);
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
	         port);
	config_set_str(connect, buf);
	return 0;
}

static int
pair(const char *src, const char *a, const char *a_key, const char *b,
     const char *b_key, PgwError *err)
{
	if ((a != NULL) != (b != NULL))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: keys \"%s\" and \"%s\" go together", src, a_key,
		    b_key);
	return 0;
}

/* a relative data_dir is taken from the working directory, as Patroni
 * does (os.path.abspath): the daemon needs an absolute one */
static int
absolute_data_dir(NodeConfig *cfg, PgwError *err)
{
	char cwd[4096];
	char *abs;
	size_t len;

	if (cfg->pg_data_dir[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"postgresql.data_dir\": relative, and the working directory is unknown",
		    cfg->source ? cfg->source : "<environment>");
	len = strlen(cwd) + strlen(cfg->pg_data_dir) + 2;
	abs = pgw_xmalloc(len);
	snprintf(abs, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	         cfg->pg_data_dir);
	free(cfg->pg_data_dir);
	cfg->pg_data_dir = abs;
	return 0;
}

/*
 * default_socket_dir: without postgresql.socket_dir, the first entry of
 * postgresql.parameters.unix_socket_directories (relative to data_dir, as
 * PostgreSQL reads it), else Debian's /var/run/postgresql.
 */
static int
default_socket_dir(NodeConfig *cfg, PgwError *err)
{
	const char *usd = NULL;
	char buf[4096];

	(void) err;
	if (cfg->pg_socket_dir != NULL)
		return 0;
	for (int i = 0; i < cfg->n_pg_parameters; i++)
		if (strcmp(cfg->pg_parameters[i].name, "unix_socket_directories") == 0)
			usd = cfg->pg_parameters[i].value;
	if (usd != NULL)
	{
		size_t n;

		while (*usd == ' ')
			usd++;
		n = strcspn(usd, ",");
		while (n > 0 && usd[n - 1] == ' ')
			n--;
		if (n > 0 && usd[0] == '/')
			snprintf(buf, sizeof(buf), "%.*s", (int) n, usd);
		else if (n > 0)
			snprintf(buf, sizeof(buf), "%s/%.*s", cfg->pg_data_dir, (int) n,
			         usd);
		else
			snprintf(buf, sizeof(buf), "/var/run/postgresql");
	}
	else
		snprintf(buf, sizeof(buf), "/var/run/postgresql");
	/* "/a/b/.." -> "/a": PostgreSQL would use the same directory */
	{
		size_t l = strlen(buf);

		while (l > 1 && buf[l - 1] == '/')
			buf[--l] = '\0';
		if (l > 3 && strcmp(buf + l - 3, "/..") == 0)
		{
			char *slash;

			buf[l - 3] = '\0';
			slash = strrchr(buf, '/');
			if (slash != NULL && slash != buf)
				*slash = '\0';
			else if (slash == buf)
				buf[1] = '\0';
		}
	}
	config_set_str(&cfg->pg_socket_dir, buf);
	return 0;
}

/* note_ignored_params: the node's own parameters that Patroni's
 * precedence or pgwarden's own settings leave out, as warnings */
static void
note_ignored_params(NodeConfig *cfg, bool socket_from_params)
{
	PgParamSet *set = pgw_xmalloc(sizeof(PgParamSet));

	/* the node's own first, then bootstrap.dcs's (the cluster's) */
	for (int pass = 0; pass < 2; pass++)
	{
		config_pg_params_effective(pass == 0 ? cfg : NULL,
		                           pass == 0 ? NULL : &cfg->bootstrap_dcs, set);
		for (int i = 0; i < set->n_ignored; i++)
		{
			char w[PGW_ERROR_MSG_MAX];
			const PgParamIgnored *ig = &set->ignored[i];

			if (pass == 0 && socket_from_params &&
			    strcmp(ig->name, "unix_socket_directories") == 0)
				snprintf(
				    w, sizeof(w),
				    "config file %s: key \"postgresql.parameters.unix_socket_directories\": taken as postgresql.socket_dir %s (pgwarden sets the parameter itself)",
				    cfg->source ? cfg->source : "<environment>",
				    cfg->pg_socket_dir);
			else
				snprintf(
				    w, sizeof(w),
				    "config file %s: key \"%spostgresql.parameters.%s\": ignored: %s",
				    cfg->source ? cfg->source : "<environment>",
				    pass == 0 ? "" : "bootstrap.dcs.", ig->name, ig->why);
			config_add_warning(cfg, w);
		}
	}
	free(set);
}

int
config_validate(NodeConfig *cfg, PgwError *err)
{
	const char *src = cfg->source ? cfg->source : "<environment>";
	char missing[256] = "";
	const struct
	{
		const char *key;
		const char *value;
	} required[] = {
	    {"scope", cfg->scope},
	    {"name", cfg->name},
	    {"etcd3.hosts", cfg->etcd_hosts},
	    {"restapi.listen", cfg->restapi_listen},
	    {"postgresql.listen", cfg->pg_listen},
	    {"postgresql.data_dir", cfg->pg_data_dir},
	};
	size_t used = 0;
	bool socket_from_params;

	for (size_t i = 0; i < PGW_LENGTHOF(required); i++)
	{
		if (required[i].value == NULL || required[i].value[0] == '\0')
			used += (size_t) snprintf(missing + used, sizeof(missing) - used,
			                          "%s\"%s\"", used ? ", " : "",
			                          required[i].key);
	}
	if (used > 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "config file %s: missing required key%s %s", src,
		                     strchr(missing + 1, ',') ? "s" : "", missing);
	if (strlen(cfg->name) >= PGW_NAME_MAX || strchr(cfg->name, '/') != NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"name\": must be shorter than %d bytes and hold no '/'",
		    src, PGW_NAME_MAX);
	if (strchr(cfg->scope, '/') != NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "config file %s: key \"scope\": must not hold '/'",
		                     src);
	if (cfg->namespace_ == NULL)
		config_set_str(&cfg->namespace_, "/service");
	if (cfg->etcd_protocol == NULL)
		config_set_str(&cfg->etcd_protocol, "http");
	if (default_connect(src, &cfg->restapi_connect_address, "restapi.listen",
	                    "restapi.connect_address", cfg->restapi_listen,
	                    err) != 0 ||
	    default_connect(src, &cfg->pg_connect_address, "postgresql.listen",
	                    "postgresql.connect_address", cfg->pg_listen, err) != 0)
		return PGW_EINVAL;
	if (pair(src, cfg->restapi_username, "restapi.authentication.username",
	         cfg->restapi_password, "restapi.authentication.password", err) ||
	    pair(src, cfg->etcd_username, "etcd3.username", cfg->etcd_password,
	         "etcd3.password", err) ||
	    pair(src, cfg->etcd_cert, "etcd3.cert", cfg->etcd_key, "etcd3.key",
	         err))
		return PGW_EINVAL;
	/* a PostgreSQL user without a password is Patroni's too (Debian's
	 * template): libpq then uses the pgpass file, or the server's trust
	 * or peer rules; a password without a user names nobody */
	if ((cfg->pg_superuser_password && !cfg->pg_superuser_username) ||
	    (cfg->pg_replication_password && !cfg->pg_replication_username))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: a postgresql.authentication password needs its username",
		    src);
	socket_from_params = cfg->pg_socket_dir == NULL;
	if (absolute_data_dir(cfg, err) != 0 || default_socket_dir(cfg, err) != 0)
		return PGW_EINVAL;
	note_ignored_params(cfg, socket_from_params);
	if (cfg->restapi_verify_client != CONFIG_VERIFY_NONE &&
	    cfg->restapi_cafile == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"restapi.verify_client\" needs \"restapi.cafile\"",
		    src);
	if (cfg->restapi_keyfile != NULL && cfg->restapi_certfile == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"restapi.keyfile\" needs \"restapi.certfile\"",
		    src);
	if (cfg->state_dir != NULL &&
	    (cfg->state_dir[0] != '/' ||
	     (cfg->pg_data_dir != NULL &&
	      strcmp(cfg->state_dir, cfg->pg_data_dir) == 0)))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"state_dir\": must be an absolute path other than postgresql.data_dir, not \"%s\"",
		    src, cfg->state_dir);
	if (config_security_validate(cfg, err) != 0)
		return PGW_EINVAL;
	if (dcs_config_validate(&cfg->bootstrap_dcs, err) != 0)
	{
		pgw_error_prefix(err, "config file %s: bootstrap.dcs", src);
		return PGW_EINVAL;
	}
	if (config_backup_validate(cfg, err) != 0)
		return PGW_EINVAL;
	return config_k8s_validate(cfg, err);
}
