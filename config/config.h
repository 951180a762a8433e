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
	CONFIG_WATCHDOG_OFF = 0,	/* default */
	CONFIG_WATCHDOG_AUTOMATIC,
	CONFIG_WATCHDOG_REQUIRED,
} ConfigWatchdogMode;

typedef struct NodeConfig
{
	char	   *source;			/* file name used in messages, "<string>" */

	/* top level */
	char	   *scope;			/* required */
	char	   *namespace_;		/* default "/service" */
	char	   *name;			/* required */
	LogLevel	log_level;		/* log_level: or Patroni's log.level; info */

	/* etcd3: */
	char	   *etcd_hosts;		/* "h:p,h:p" (https:// added per entry when
								 * protocol is https); required */
	char	   *etcd_protocol;	/* "http" (default) or "https" */
	char	   *etcd_cacert;
	char	   *etcd_cert;
	char	   *etcd_key;
	char	   *etcd_username;
	char	   *etcd_password;

	/* restapi: */
	char	   *restapi_listen;	/* "host:port", required */
	int			restapi_port;	/* from restapi_listen */
	char	   *restapi_connect_address;	/* default: restapi_listen */
	char	   *restapi_certfile;
	char	   *restapi_keyfile;
	char	   *restapi_cafile;
	ConfigVerifyClient restapi_verify_client;
	char	   *restapi_username;	/* restapi.authentication */
	char	   *restapi_password;
	int			n_restapi_allowlist;
	char	  **restapi_allowlist;	/* "10.0.0.0/8", ... */
	bool		restapi_allowlist_include_members;

	/* postgresql: */
	char	   *pg_listen;		/* "host[,host]:port", required */
	int			pg_port;		/* from pg_listen */
	char	   *pg_connect_address;	/* default: pg_listen */
	char	   *pg_data_dir;	/* required */
	char	   *pg_bin_dir;		/* NULL: search PATH */
	char	   *pg_run_as;		/* ours: OS user for PostgreSQL under root */
	char	   *pg_socket_dir;	/* ours */
	char	   *pg_pgpass;
	char	   *pg_superuser_username;	/* postgresql.authentication.superuser */
	char	   *pg_superuser_password;
	char	   *pg_replication_username;	/* ...replication */
	char	   *pg_replication_password;
	char	   *pg_rewind_username;	/* ...rewind (Patroni), optional */
	char	   *pg_rewind_password;
	int			n_pg_parameters;
	PgParam		pg_parameters[PGW_PG_PARAMS_MAX];	/* postgresql.parameters */
	int			n_pg_hba;
	char	  **pg_hba;			/* postgresql.pg_hba lines */
	char	   *cb_on_start;	/* postgresql.callbacks.* */
	char	   *cb_on_stop;
	char	   *cb_on_restart;
	char	   *cb_on_reload;
	char	   *cb_on_role_change;
	char	   *pg_pre_promote;	/* postgresql.pre_promote */

	/* bootstrap: */
	bool		has_bootstrap_dcs;
	DynamicConfig bootstrap_dcs;	/* bootstrap.dcs, or the defaults */
	int			n_initdb;
	char	  **initdb;			/* "data-checksums", "encoding=UTF8", ... */

	/* tags: (published in members/<name>, as MemberInfo) */
	bool		tag_nofailover;
	bool		tag_noloadbalance;
	bool		tag_nosync;
	int			tag_failover_priority;	/* default 1; 0 = never */
	char		tag_replicatefrom[PGW_NAME_MAX];
	int			n_tags;			/* every tag, including the above */
	MemberTag	tags[PGW_TAGS_MAX];

	/* watchdog: */
	ConfigWatchdogMode watchdog_mode;
	char	   *watchdog_device;	/* default NULL: /dev/watchdog */
	int64_t		watchdog_safety_margin_ms;	/* default 5000 */

	/* ours: a leader stopped by SIGTERM hands over to the best replica first */
	bool		switchover_on_shutdown;	/* default true */

	/* backup: (config_backup.h); enabled is false without the section */
	ConfigBackup backup;
} NodeConfig;

/*
 * config_load_file: read path and config_parse() it. PGW_ENOTFOUND when the
 * file does not exist, PGW_EIO when it cannot be read, PGW_EINVAL for bad
 * content. Does not apply the environment nor check required keys.
 */
int			config_load_file(const char *path, NodeConfig *out,
							 PgwError *err) PGW_MUSTCHECK;

/*
 * config_parse: parse len bytes of YAML (one document holding a mapping).
 * source_name appears in messages ("config file <source_name> line N: ...").
 * On error *out is freed and zeroed. Returns 0 or PGW_EINVAL.
 */
int			config_parse(const char *yaml, size_t len, const char *source_name,
						 NodeConfig *out, PgwError *err) PGW_MUSTCHECK;

/*
 * config_apply_env: apply PGWARDEN_SCOPE, _NAMESPACE, _NAME, _LOG_LEVEL,
 * _ETCD3_HOSTS, _ETCD3_PROTOCOL, _ETCD3_CACERT, _ETCD3_CERT, _ETCD3_KEY,
 * _ETCD3_USERNAME, _ETCD3_PASSWORD, _RESTAPI_LISTEN,
 * _RESTAPI_CONNECT_ADDRESS, _RESTAPI_USERNAME, _RESTAPI_PASSWORD,
 * _POSTGRESQL_LISTEN, _POSTGRESQL_CONNECT_ADDRESS, _POSTGRESQL_DATA_DIR,
 * _POSTGRESQL_BIN_DIR from envp (NULL-terminated "K=V" strings, e.g.
 * environ). Other PGWARDEN_* names (PGWARDEN_CONFIG) are left alone. A bad
 * or empty value is PGW_EINVAL naming the variable; cfg is then unchanged
 * for that variable.
 */
int			config_apply_env(NodeConfig *cfg, char *const *envp,
							 PgwError *err) PGW_MUSTCHECK;

/*
 * config_validate: what the daemon needs after the environment: required
 * keys (scope, name, etcd3.hosts, restapi.listen, postgresql.listen,
 * postgresql.data_dir; all missing ones named in one message), connect
 * addresses that are not wildcards, credentials in pairs, bootstrap.dcs
 * timing. Fills the connect-address defaults. Returns 0 or PGW_EINVAL.
 */
int			config_validate(NodeConfig *cfg, PgwError *err) PGW_MUSTCHECK;

/* config_free: release what cfg owns and zero it. Accepts NULL. */
void		config_free(NodeConfig *cfg);

/*
 * config_split_host_port: "host:port", "[v6]:port", "h1,h2:port", ":port"
 * -> host (without brackets; "" for all addresses) and port 1..65535.
 * Returns 0 or PGW_EINVAL (message: "expected host:port").
 */
int			config_split_host_port(const char *s, char *host, size_t host_len,
								   int *port, PgwError *err) PGW_MUSTCHECK;

#endif
