/*
 * config.h: the only public header of config/: the per-node YAML file
 * (Patroni-compatible where the concept exists, so a patroni.yml can be
 * reused) and the PGWARDEN_* environment overrides for containers. Both the
 * daemon and pgwardenctl use it; it links consensus/ only for the DynamicConfig
 * rules of bootstrap.dcs.
 *
 * Errors name the source, the line and the key path:
 *   config file /etc/pgwarden.yml line 12: unknown key "postgresql.listn"
 *   config file /etc/pgwarden.yml line 5: key "restapi.listen": expected host:port
 * Unknown keys and wrong types are errors; nothing falls back silently.
 *
 * Ownership: a NodeConfig owns every string and list it points to (heap,
 * NUL-terminated); config_free() releases them and leaves the struct zeroed.
 * A string field is NULL when neither the file nor the environment set it.
 * Callers zero the struct before the first call (NodeConfig c = {0}); the
 * loaders free whatever it held first, so they may be called again.
 */
#ifndef PGW_CONFIG_H
#define PGW_CONFIG_H

#include "common/compiler.h"
#include "common/error.h"
#include "common/log.h"
#include "config/config_backup.h"
#include "consensus/consensus.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ConfigVerifyClient
{
	CONFIG_VERIFY_NONE = 0,
	CONFIG_VERIFY_OPTIONAL,
	CONFIG_VERIFY_REQUIRED,
} ConfigVerifyClient;

typedef enum ConfigWatchdogMode
{
	CONFIG_WATCHDOG_OFF = 0, /* default */
	CONFIG_WATCHDOG_AUTOMATIC,
	CONFIG_WATCHDOG_REQUIRED,
} ConfigWatchdogMode;

/* kubernetes: (ours; Patroni's key names where Patroni has the concept) */
typedef enum ConfigK8sMode
{
	CONFIG_K8S_AUTO = 0, /* on when running in a pod (in-cluster
								 * detection), off elsewhere */
	CONFIG_K8S_ON,
	CONFIG_K8S_OFF,
} ConfigK8sMode;

typedef struct ConfigKubernetes
{
	ConfigK8sMode mode;       /* kubernetes.enabled; auto without it */
	bool has_section;         /* a kubernetes: section was given */
	char *api_url;            /* NULL: https://$KUBERNETES_SERVICE_HOST:PORT */
	char *token_file;         /* NULL: the service-account mount */
	char *cacert;             /* NULL: the service-account mount */
	char *namespace_;         /* NULL: the service-account mount */
	char *pod_name;           /* NULL: the member name */
	char *pod_ip;             /* EndpointSlice address; NULL: the pod's */
	char *role_label;         /* NULL: "role" */
	char *leader_label_value; /* NULL: "master" (Patroni 3.0.2) */
	char *follower_label_value; /* NULL: "replica" */
	char *scope_label;          /* NULL: "cluster-name" */
	int n_labels;               /* labels: the pod must carry (checked) */
	char **labels;              /* "key=value" */
	bool endpointslice;         /* the leader keeps <rw_service>'s slice */
	char *rw_service;           /* NULL: "<scope>-rw" */
	int64_t grace_period_ms;    /* termination_grace_period; 0: the
									 * pod's terminationGracePeriodSeconds */
	int64_t timeout_ms;         /* one API request; 0: 2000 */
} ConfigKubernetes;

typedef struct NodeConfig
{
	char *source; /* file name used in messages, "<string>" */

	/* top level */
	char *scope;        /* required */
	char *namespace_;   /* default "/service" */
	char *name;         /* required */
	bool has_group;     /* group: given (a sharded scope) */
	int group;          /* shard group 0..9999 (Patroni's Citus
								 * layout: keys under
								 * <namespace>/<scope>/<group>/) */
	LogLevel log_level; /* log_level: or Patroni's log.level; info */

	/* etcd3: */
	char *etcd_hosts;    /* "h:p,h:p" (https:// added per entry when
								 * protocol is https); required */
	char *etcd_protocol; /* "http" (default) or "https" */
	char *etcd_cacert;
	char *etcd_cert;
	char *etcd_key;
	char *etcd_username;
	char *etcd_password;

	/* restapi: */
	char *restapi_listen;          /* "host:port", required */
	int restapi_port;              /* from restapi_listen */
	char *restapi_connect_address; /* default: restapi_listen */
	char *restapi_certfile;
	char *restapi_keyfile;
	char *restapi_cafile;
	ConfigVerifyClient restapi_verify_client;
	char *restapi_username; /* restapi.authentication */
	char *restapi_password;
	int n_restapi_allowlist;
	char **restapi_allowlist; /* "10.0.0.0/8", ... */
	bool restapi_allowlist_include_members;
	bool
	    restapi_loopback_writes; /* restapi.allow_unauthenticated_writes_from_loopback */
	bool
	    restapi_credentials_over_http; /* restapi.allow_credentials_over_http */

	/* postgresql: */
	char *pg_listen;          /* "host[,host]:port", required */
	int pg_port;              /* from pg_listen */
	char *pg_connect_address; /* default: pg_listen */
	char *pg_proxy_address;   /* postgresql.proxy_address: a pooler
									 * beside PostgreSQL (published only) */
	char *pg_data_dir;        /* required */
	char *pg_bin_dir;         /* NULL: search PATH */
	char *pg_run_as;          /* ours: OS user for PostgreSQL under root */
	char *pg_socket_dir;      /* ours */
	char *pg_pgpass;
	char *pg_superuser_username; /* postgresql.authentication.superuser */
	char *pg_superuser_password;
	char *pg_replication_username; /* ...replication */
	char *pg_replication_password;
	char *pg_rewind_username; /* ...rewind (Patroni), optional */
	char *pg_rewind_password;
	int n_pg_parameters;
	PgParam pg_parameters[PGW_PG_PARAMS_MAX]; /* postgresql.parameters */
	int n_pg_hba;
	char **pg_hba;     /* postgresql.pg_hba lines */
	char *cb_on_start; /* postgresql.callbacks.* */
	char *cb_on_stop;
	char *cb_on_restart;
	char *cb_on_reload;
	char *cb_on_role_change;
	char *pg_pre_promote; /* postgresql.pre_promote */

	/* bootstrap: */
	bool has_bootstrap_dcs;
	DynamicConfig bootstrap_dcs; /* bootstrap.dcs, or the defaults */
	int n_initdb;
	char **initdb; /* "data-checksums", "encoding=UTF8", ... */
	int n_bootstrap_pg_hba;
	char **bootstrap_pg_hba; /* bootstrap.pg_hba: lines added to the
									 * default pg_hba.conf (Patroni) */
	int n_dcs_pg_hba;        /* bootstrap.dcs.postgresql.pg_hba, moved to */
	char **dcs_pg_hba;       /* pg_hba when postgresql.pg_hba is absent */

	/* tags: (published in members/<name>, as MemberInfo) */
	bool tag_nofailover;
	bool tag_noloadbalance;
	bool tag_nosync;
	int tag_failover_priority; /* default 1; 0 = never */
	char tag_replicatefrom[PGW_NAME_MAX];
	int n_tags; /* every tag, including the above */
	MemberTag tags[PGW_TAGS_MAX];

	/* watchdog: */
	ConfigWatchdogMode watchdog_mode;
	char *watchdog_device;             /* default NULL: /dev/watchdog */
	int64_t watchdog_safety_margin_ms; /* default 5000 */

	/* ours: a leader stopped by SIGTERM hands over to the best replica first */
	bool switchover_on_shutdown; /* default true */

	/* ours: root-owned directory for pgwarden's own state across restarts
	 * (the record of a leader key given up, fast_release.h); NULL:
	 * /run/pgwarden. An absolute path; never the data directory. */
	char *state_dir;

	ConfigKubernetes k8s; /* kubernetes: (config_k8s.c) */

	/* Patroni keys accepted but not used, one message each ("config file X
	 * line N: key "k": ignored: why"): --check-config prints them, the
	 * daemon logs them (event config.ignored) */
	int n_warnings;
	char **warnings;

	/* backup: (config_backup.h); enabled is false without the section */
	ConfigBackup backup;
	/* bootstrap.method: pgbackrest (config_backup.h): restore, not initdb */
	ConfigBootstrapRestore bootstrap_restore;
} NodeConfig;

/*
 * config_load_file: read path and config_parse() it. PGW_ENOTFOUND when the
 * file does not exist, PGW_EIO when it cannot be read, PGW_EINVAL for bad
 * content. Does not apply the environment nor check required keys.
 */
int config_load_file(const char *path, NodeConfig *out,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * config_parse: parse len bytes of YAML (one document holding a mapping).
 * source_name appears in messages ("config file <source_name> line N: ...").
 * On error *out is freed and zeroed. Returns 0 or PGW_EINVAL.
 */
int config_parse(const char *yaml, size_t len, const char *source_name,
                 NodeConfig *out, PgwError *err) PGW_MUSTCHECK;

/*
 * config_apply_env: apply PGWARDEN_SCOPE, _NAMESPACE, _NAME, _LOG_LEVEL,
 * _ETCD3_HOSTS, _ETCD3_PROTOCOL, _ETCD3_CACERT, _ETCD3_CERT, _ETCD3_KEY,
 * _ETCD3_USERNAME, _ETCD3_PASSWORD, _RESTAPI_LISTEN,
 * _RESTAPI_CONNECT_ADDRESS, _RESTAPI_USERNAME, _RESTAPI_PASSWORD,
 * _POSTGRESQL_LISTEN, _POSTGRESQL_CONNECT_ADDRESS, _POSTGRESQL_DATA_DIR,
 * _POSTGRESQL_BIN_DIR, _STATE_DIR from envp (NULL-terminated "K=V" strings, e.g.
 * environ). Other PGWARDEN_* names (PGWARDEN_CONFIG) are left alone. A bad
 * or empty value is PGW_EINVAL naming the variable; cfg is then unchanged
 * for that variable. Then the container set (config_secrets.c): the
 * PostgreSQL credentials, run_as, socket_dir, the REST TLS files, and for
 * every secret a PGWARDEN_<NAME>_FILE variant naming a mounted Secret file
 * (both set is an error); and PGWARDEN_KUBERNETES_* (config_k8s.c).
 */
int config_apply_env(NodeConfig *cfg, char *const *envp,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * config_validate: what the daemon needs after the environment: required
 * keys (scope, name, etcd3.hosts, restapi.listen, postgresql.listen,
 * postgresql.data_dir; all missing ones named in one message), connect
 * addresses that are not wildcards, credentials in pairs, bootstrap.dcs
 * timing. Fills the connect-address defaults. Returns 0 or PGW_EINVAL.
 */
int config_validate(NodeConfig *cfg, PgwError *err) PGW_MUSTCHECK;

/*
 * config_load_or_env: config_load_file(path), except that a missing file is
 * an empty configuration when may_be_missing (a container configured by
 * environment variables and mounted Secrets alone); the environment and
 * config_validate() still apply. Returns what config_load_file returns.
 */
int config_load_or_env(const char *path, bool may_be_missing, NodeConfig *out,
                       PgwError *err) PGW_MUSTCHECK;

/* config_add_warning: append a copy of msg to cfg->warnings. */
void config_add_warning(NodeConfig *cfg, const char *msg);

/* config_free: release what cfg owns and zero it. Accepts NULL. */
void config_free(NodeConfig *cfg);

/* ------------------------------------------------------------------------
 * The PostgreSQL parameters a node runs with (pg_params.c)
 * ------------------------------------------------------------------------ */

#define PGW_PG_PARAMS_EFFECTIVE_MAX (2 * PGW_PG_PARAMS_MAX + 2)
#define PGW_PG_PARAMS_IGNORED_MAX   (2 * PGW_PG_PARAMS_MAX)

typedef struct PgParamIgnored
{
	char name[64];
	char source[8]; /* "cluster" or "local" */
	char why[192];
} PgParamIgnored;

typedef struct PgParamSet
{
	int n;
	PgParam params[PGW_PG_PARAMS_EFFECTIVE_MAX]; /* in order: cluster's,
														 * then the node's */
	int n_ignored;
	PgParamIgnored ignored[PGW_PG_PARAMS_IGNORED_MAX]; /* and why */
} PgParamSet;

/*
 * config_pg_params_effective: the parameters this node's PostgreSQL runs
 * with: the cluster-wide postgresql.parameters of dyn (may be NULL) and
 * cfg's own (may be NULL), merged with Patroni's precedence (pg_params.c's
 * header says which wins where). What is left out is listed in
 * out->ignored with the reason. Pure.
 */
void config_pg_params_effective(const NodeConfig *cfg, const DynamicConfig *dyn,
                                PgParamSet *out);

/* config_pg_params_equal: same names and values in the same order */
bool config_pg_params_equal(const PgParamSet *a, const PgParamSet *b);

/* config_pg_param_managed: why pgwarden sets name itself, or NULL */
const char *config_pg_param_managed(const char *name);

/*
 * config_split_host_port: "host:port", "[v6]:port", "h1,h2:port", ":port"
 * -> host (without brackets; "" for all addresses) and port 1..65535.
 * Returns 0 or PGW_EINVAL (message: "expected host:port").
 */
int config_split_host_port(const char *s, char *host, size_t host_len,
                           int *port, PgwError *err) PGW_MUSTCHECK;

/* ------------------------------------------------------------------------
 * Security checks (config_security.c; security review F2, F3, F12, F13,
 * F15). config_validate() applies the refusals; the notes are printed by
 * --check-config and logged at the daemon's start.
 * ------------------------------------------------------------------------ */

/*
 * config_security_validate: refuse an empty restapi.authentication
 * username or password, and failsafe_mode in bootstrap.dcs without REST
 * authentication or client certificates. Returns 0 or PGW_EINVAL naming
 * the key.
 */
int config_security_validate(const NodeConfig *cfg,
                             PgwError *err) PGW_MUSTCHECK;

/* config_rest_has_auth: REST callers can prove who they are (basic auth
 * or verified client certificates) */
bool config_rest_has_auth(const NodeConfig *cfg);

/* config_rest_writes_open: some caller may use the write endpoints: auth,
 * client certificates, an allowlist or the loopback opt-in */
bool config_rest_writes_open(const NodeConfig *cfg);

#define CONFIG_NOTES_MAX 12

typedef struct ConfigNotes
{
	int n;
	bool warn[CONFIG_NOTES_MAX]; /* a weakness, not just a fact */
	char msg[CONFIG_NOTES_MAX][400];
} ConfigNotes;

/*
 * config_security_notes: what a reader of this configuration should know:
 * whether and how the REST write endpoints are open, credentials sent in
 * clear (REST over http, etcd password without TLS), and the config file's
 * owner and mode (path, when not NULL). Pure apart from stat(path).
 */
void config_security_notes(const NodeConfig *cfg, const char *path,
                           ConfigNotes *out);

#endif
