/*
 * config_int.h: shared inside config/ only (config.c, config_env.c).
 */
#ifndef PGW_CONFIG_INT_H
#define PGW_CONFIG_INT_H

#include "config/config.h"

/* set_str: replace *dst by a copy of s (NULL clears). */
void		config_set_str(char **dst, const char *s);

/*
 * config_check_hostport: s as "host:port" (allow_list: "h1,h2:port" for
 * postgresql.listen). Returns 0 or PGW_EINVAL with msg "expected host:port"
 * (detail appended); *port (may be NULL) receives the port.
 */
int			config_check_hostport(const char *s, bool allow_list, int *port,
								  PgwError *err);

/*
 * config_check_etcd_hosts: validate "h:p,https://h:p" entry by entry and
 * return the normalised list (scheme added for https), caller frees; NULL
 * with err (naming the entry) when an entry is bad.
 */
char	   *config_etcd_hosts_normalise(const char *hosts, const char *protocol,
										PgwError *err);

/* config_parse_level: debug/info/warn(ing)/error/critical, any case. */
int			config_parse_level(const char *s, LogLevel *out);

/* ---- shared with config_k8s.c and config_secrets.c (containers) ---- */

#include <jansson.h>

typedef struct Parser Parser;

/* config_perr: "config file X line N: key "path": detail" (PGW_EINVAL). */
int			config_perr(Parser *p, const char *path, const char *fmt,...)
			PGW_PRINTF(3, 4);

/* config_parser_cfg: the NodeConfig being filled. */
NodeConfig *config_parser_cfg(Parser *p);

/* config_k8s_field: the kubernetes: section (config_k8s.c). */
int			config_k8s_field(Parser *p, json_t *v, const char *path);

/* config_k8s_apply_env: PGWARDEN_KUBERNETES_* (config_k8s.c). */
int			config_k8s_apply_env(NodeConfig *cfg, char *const *envp,
								 PgwError *err);

/* config_k8s_validate: cross-checks of the kubernetes: section. */
int			config_k8s_validate(NodeConfig *cfg, PgwError *err);

/* config_k8s_free: release the section's strings. */
void		config_k8s_free(ConfigKubernetes *k);

/* config_secrets_apply_env: the container variables and *_FILE secrets
 * (config_secrets.c). */
int			config_secrets_apply_env(NodeConfig *cfg, char *const *envp,
									 PgwError *err);

/* config_env_value: the value of name in envp, NULL when absent. */
const char *config_env_value(char *const *envp, const char *name);

#endif
