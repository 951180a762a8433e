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

/*
 * config_backup_parse: the `backup:` section (config_backup.c) from its
 * jansson value at path ("backup"). On error, bad_path receives the dotted
 * path of the offending key (for the line number) and err the detail.
 */
struct json_t;
int			config_backup_parse(const struct json_t *v, const char *path,
								ConfigBackup *out, char *bad_path,
								size_t bad_len, PgwError *err);

#endif
