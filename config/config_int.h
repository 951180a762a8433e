/*
 * config_int.h: shared inside config/ only (config.c: the YAML walk,
 * config_schema.c: the keys, config_env.c, config_util.c).
 */
#ifndef PGW_CONFIG_INT_H
#define PGW_CONFIG_INT_H

#include "config/config.h"

#include <jansson.h>
#include <yaml.h>

/* set_str: replace *dst by a copy of s (NULL clears). */
void config_set_str(char **dst, const char *s);

/*
 * config_check_hostport: s as "host:port" (allow_list: "h1,h2:port" for
 * postgresql.listen). Returns 0 or PGW_EINVAL with msg "expected host:port"
 * (detail appended); *port (may be NULL) receives the port.
 */
int config_check_hostport(const char *s, bool allow_list, int *port,
                          PgwError *err);

/*
 * config_check_etcd_hosts: validate "h:p,https://h:p" entry by entry and
 * return the normalised list (scheme added for https), caller frees; NULL
 * with err (naming the entry) when an entry is bad.
 */
char *config_etcd_hosts_normalise(const char *hosts, const char *protocol,
                                  PgwError *err);

/* config_parse_level: debug/info/warn(ing)/error/critical, any case. */
int config_parse_level(const char *s, LogLevel *out);

/* ------------------------------------------------------------------------
 * the walk over the YAML tree (config.c) and its schema (config_schema.c)
 * ------------------------------------------------------------------------ */

#define CONFIG_PATH_MAX 256

typedef struct LineEntry
{
	char *path;
	int line;
} LineEntry;

typedef struct Parser
{
	const char *source;
	yaml_document_t *doc;
	unsigned char *visited; /* per node index */
	int n_nodes;
	LineEntry *lines;
	int n_lines;
	int cap_lines;
	NodeConfig *cfg;
	PgwError *err;
} Parser;

typedef enum FieldKind
{
	F_STR,      /* string (numbers accepted as their text);
								 * null: unset */
	F_HOSTPORT, /* "host:port" */
	F_PGLISTEN, /* "host[,host]:port" */
	F_BOOL,
	F_STRLIST, /* list of strings: off = char **, off_n = int */
	F_SECTION, /* mapping: sub */
	F_CUSTOM,  /* fn */
	F_IGNORED, /* a Patroni key pgwarden does not use:
								 * accepted, with a warning saying why */
	F_REFUSED, /* a Patroni key that ignoring would make
								 * less safe: an error saying why */
} FieldKind;

typedef struct Field Field;
typedef int (*FieldFn)(Parser *p, json_t *v, const char *path);

struct Field
{
	const char *key;
	FieldKind kind;
	size_t off;
	size_t off_n;
	const Field *sub;
	FieldFn fn;
	const char *why; /* F_IGNORED, F_REFUSED */
};

#define FSTR(k, m)                                                             \
	{                                                                          \
		k, F_STR, offsetof(NodeConfig, m), 0, NULL, NULL, NULL                 \
	}
#define FHP(k, m, n)                                                           \
	{                                                                          \
		k, F_HOSTPORT, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL, \
		    NULL, NULL                                                         \
	}
#define FPGL(k, m, n)                                                          \
	{                                                                          \
		k, F_PGLISTEN, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL, \
		    NULL, NULL                                                         \
	}
#define FBOOL(k, m)                                                            \
	{                                                                          \
		k, F_BOOL, offsetof(NodeConfig, m), 0, NULL, NULL, NULL                \
	}
#define FLIST(k, m, n)                                                         \
	{                                                                          \
		k, F_STRLIST, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL,  \
		    NULL, NULL                                                         \
	}
#define FSEC(k, s)                                                             \
	{                                                                          \
		k, F_SECTION, 0, 0, s, NULL, NULL                                      \
	}
#define FFN(k, f)                                                              \
	{                                                                          \
		k, F_CUSTOM, 0, 0, NULL, f, NULL                                       \
	}
#define FIGN(k, w)                                                             \
	{                                                                          \
		k, F_IGNORED, 0, 0, NULL, NULL, w                                      \
	}
#define FREF(k, w)                                                             \
	{                                                                          \
		k, F_REFUSED, 0, 0, NULL, NULL, w                                      \
	}
/* key "*": whatever other key the section holds goes to fn */
#define FANY(f)                                                                \
	{                                                                          \
		"*", F_CUSTOM, 0, 0, NULL, f, NULL                                     \
	}
#define FEND                                                                   \
	{                                                                          \
		NULL, F_STR, 0, 0, NULL, NULL, NULL                                    \
	}

#define FIELD_PTR(p, off, type) ((type *) ((char *) (p)->cfg + (off)))

/* the field table of the file's top level (config_schema.c) */
extern const Field config_top_fields[];

/* config_schema_defaults: the NodeConfig of an empty file */
void config_schema_defaults(NodeConfig *c);

/* config_schema_finish: defaults that depend on several keys, after the walk */
int config_schema_finish(Parser *p);

/* the bootstrap: section's field functions (config_bootstrap.c) */
int fn_bootstrap_dcs(Parser *p, json_t *v, const char *path);
int fn_initdb(Parser *p, json_t *v, const char *path);
int fn_bootstrap_method(Parser *p, json_t *v, const char *path);
int fn_bootstrap_pg_hba(Parser *p, json_t *v, const char *path);

/* cfg_line_of: the line of a dotted key path, 0 if unknown */
int cfg_line_of(const Parser *p, const char *path);

/* cfg_perr: "config file X line N: key "path": <fmt>"; returns PGW_EINVAL */
int cfg_perr(Parser *p, const char *path, const char *fmt, ...)
    PGW_PRINTF(3, 4);

/* cfg_punknown: "config file X line N: unknown key "path"" */
int cfg_punknown(Parser *p, const char *path);

/* cfg_warn_ignored: record "key "path": ignored: why" in cfg->warnings */
void cfg_warn_ignored(Parser *p, const char *path, const char *why);

/* cfg_kind_name: "a mapping", "a list", "a string", ... */
const char *cfg_kind_name(const json_t *v);

/* cfg_str_value: the text of a string-typed value (numbers as their text);
 * NULL after cfg_perr when v is not one */
const char *cfg_str_value(Parser *p, json_t *v, const char *path, char *buf,
                          size_t size);

/* cfg_join_path: "path.key" (or "key" at the top) */
void cfg_join_path(char *buf, size_t size, const char *path, const char *key);

/* cfg_walk: apply obj's keys through fields (unknown keys are errors) */
int cfg_walk(Parser *p, json_t *obj, const char *path, const Field *fields);

/* ---- shared with config_k8s.c and config_secrets.c (containers) ---- */

/* config_perr: "config file X line N: key "path": detail" (PGW_EINVAL). */
int config_perr(Parser *p, const char *path, const char *fmt, ...)
    PGW_PRINTF(3, 4);

/* config_parser_cfg: the NodeConfig being filled. */
NodeConfig *config_parser_cfg(Parser *p);

/* config_k8s_field: the kubernetes: section (config_k8s.c). */
int config_k8s_field(Parser *p, json_t *v, const char *path);

/* config_k8s_apply_env: PGWARDEN_KUBERNETES_* (config_k8s.c). */
int config_k8s_apply_env(NodeConfig *cfg, char *const *envp, PgwError *err);

/* config_k8s_validate: cross-checks of the kubernetes: section. */
int config_k8s_validate(NodeConfig *cfg, PgwError *err);

/* config_k8s_free: release the section's strings. */
void config_k8s_free(ConfigKubernetes *k);

/* config_secrets_apply_env: the container variables and *_FILE secrets
 * (config_secrets.c). */
int config_secrets_apply_env(NodeConfig *cfg, char *const *envp, PgwError *err);

/* config_env_value: the value of name in envp, NULL when absent. */
const char *config_env_value(char *const *envp, const char *name);

/*
 * config_backup_parse: the `backup:` section (config_backup.c) from its
 * jansson value at path ("backup"). On error, bad_path receives the dotted
 * path of the offending key (for the line number) and err the detail.
 */
struct json_t;
int config_backup_parse(const struct json_t *v, const char *path,
                        ConfigBackup *out, char *bad_path, size_t bad_len,
                        PgwError *err);

/* config_backup_field: the field function of `backup:` (config_backup.c):
 * config_backup_parse, its error reported at the bad key's line. */
int config_backup_field(Parser *p, json_t *v, const char *path);

/* bootstrap.method and bootstrap.pgbackrest (config_backup.c); the checks
 * that need both and the backup: section run in config_backup_validate,
 * from config_validate */
int config_bootstrap_method_field(Parser *p, json_t *v, const char *path);
int config_bootstrap_pgbackrest_field(Parser *p, json_t *v, const char *path);
int config_backup_validate(NodeConfig *cfg, PgwError *err);

#endif
