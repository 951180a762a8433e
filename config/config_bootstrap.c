/*
 * config_bootstrap.c: the keys of the bootstrap: section that need code
 * (config_schema.c's tables name them): bootstrap.dcs with the Patroni keys
 * in it that pgwarden warns about or refuses, initdb, pg_hba and a custom
 * bootstrap method.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dcs_patroni_keys(Parser *p, json_t *v, const char *path);

int
fn_bootstrap_dcs(Parser *p, json_t *v, const char *path)
{
	char bad[CONFIG_PATH_MAX];
	char prefix[CONFIG_PATH_MAX];
	PgwError e2 = {0};

	if (!json_is_object(v))
		return cfg_perr(p, path, "expected a mapping, got %s",
		                cfg_kind_name(v));
	if (dcs_patroni_keys(p, v, path) != 0)
		return PGW_EINVAL;
	snprintf(prefix, sizeof(prefix), "%s.", path);
	if (dcs_config_decode_json(v, true, prefix, &p->cfg->bootstrap_dcs, bad,
	                           sizeof(bad), &e2) != 0)
	{
		char full[CONFIG_PATH_MAX * 2];
		int line;

		snprintf(full, sizeof(full), "%s%s", prefix, bad);
		line = cfg_line_of(p, full);
		if (line == 0)
			line = cfg_line_of(p, path);
		return pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: %s",
		                     p->source, line, e2.msg);
	}
	p->cfg->has_bootstrap_dcs = true;
	return 0;
}

int
fn_initdb(Parser *p, json_t *v, const char *path)
{
	NodeConfig *c = p->cfg;
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return cfg_perr(p, path, "expected a list, got %s", cfg_kind_name(v));
	for (int k = 0; k < c->n_initdb; k++)
		free(c->initdb[k]);
	free(c->initdb);
	c->initdb = NULL;
	c->n_initdb = 0;
	if (json_array_size(v) == 0)
		return 0;
	c->initdb = pgw_xcalloc(json_array_size(v), sizeof(char *));
	json_array_foreach(v, i, item)
	{
		char sub[CONFIG_PATH_MAX];
		char buf[64];
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (json_is_string(item))
			c->initdb[c->n_initdb++] = pgw_xstrdup(json_string_value(item));
		else if (json_is_object(item) && json_object_size(item) == 1)
		{
			const char *k = json_object_iter_key(json_object_iter(item));
			json_t *val = json_object_iter_value(json_object_iter(item));
			char *opt;
			size_t len;

			if ((s = cfg_str_value(p, val, sub, buf, sizeof(buf))) == NULL)
				return PGW_EINVAL;
			len = strlen(k) + strlen(s) + 2;
			opt = pgw_xmalloc(len);
			snprintf(opt, len, "%s=%s", k, s);
			c->initdb[c->n_initdb++] = opt;
		}
		else
			return cfg_perr(p, sub,
			                "expected an option or a one-key mapping, got %s",
			                cfg_kind_name(item));
	}
	return 0;
}

/* fn_bootstrap_method: the section of a custom bootstrap.method */
int
fn_bootstrap_method(Parser *p, json_t *v, const char *path)
{
	if (json_is_object(v) && json_object_get(v, "command") != NULL)
	{
		cfg_warn_ignored(
		    p, path,
		    "a custom bootstrap method: pgwarden bootstraps a new cluster with initdb");
		return 0;
	}
	return cfg_punknown(p, path);
}

int
fn_bootstrap_pg_hba(Parser *p, json_t *v, const char *path)
{
	NodeConfig *c = p->cfg;
	size_t i;
	json_t *item;

	if (json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return cfg_perr(p, path, "expected a list of pg_hba.conf lines, got %s",
		                cfg_kind_name(v));
	json_array_foreach(v, i, item)
	{
		char sub[CONFIG_PATH_MAX];

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (!json_is_string(item))
			return cfg_perr(p, sub, "expected a pg_hba.conf line, got %s",
			                cfg_kind_name(item));
		c->bootstrap_pg_hba =
		    pgw_xrealloc(c->bootstrap_pg_hba,
		                 sizeof(char *) * (size_t) (c->n_bootstrap_pg_hba + 1));
		c->bootstrap_pg_hba[c->n_bootstrap_pg_hba++] =
		    pgw_xstrdup(json_string_value(item));
	}
	return 0;
}

/*
 * Keys Patroni reads in bootstrap.dcs that the `config` key keeps but
 * pgwarden does not act on (consensus/dcs_config.c accepts them): said
 * here, where a file is checked. standby_cluster is refused: ignoring it
 * would run as a second primary cluster what was meant to follow another.
 */
static int
dcs_patroni_keys(Parser *p, json_t *v, const char *path)
{
	static const struct
	{
		const char *key;
		const char *why;
	} ignored[] = {
	    {"slots", "permanent replication slots are not created by pgwarden"},
	    {"ignore_slots", "pgwarden drops only the member slots it created"},
	    {"primary_stop_timeout",
	     "a switchover stops the old primary fast, bounded by pgwarden's own timeout"},
	    {"master_stop_timeout",
	     "a switchover stops the old primary fast, bounded by pgwarden's own timeout"},
	    {"maximum_lag_on_syncnode",
	     "synchronous standbys are chosen by pgwarden's sync rules"},
	    {"max_timelines_history", "the history key keeps every promotion"},
	    {"member_slots_ttl", "a departed member's slot is dropped at once"},
	    {"citus", "Citus groups are not managed by pgwarden"},
	};
	json_t *pg = json_object_get(v, "postgresql");
	json_t *sc = json_object_get(v, "standby_cluster");
	char sub[CONFIG_PATH_MAX];

	if (sc != NULL && !json_is_null(sc) &&
	    !(json_is_object(sc) && json_object_size(sc) == 0))
	{
		snprintf(sub, sizeof(sub), "%s.standby_cluster", path);
		return cfg_perr(
		    p, sub,
		    "standby clusters are not supported: pgwarden would run this cluster as a primary of its own; remove the section");
	}
	for (size_t i = 0; i < PGW_LENGTHOF(ignored); i++)
		if (json_object_get(v, ignored[i].key) != NULL)
		{
			snprintf(sub, sizeof(sub), "%s.%s", path, ignored[i].key);
			cfg_warn_ignored(p, sub, ignored[i].why);
		}
	if (json_is_object(pg))
	{
		json_t *hba = json_object_get(pg, "pg_hba");

		if (json_object_get(pg, "pg_ident") != NULL)
		{
			snprintf(sub, sizeof(sub), "%s.postgresql.pg_ident", path);
			cfg_warn_ignored(p, sub, "pgwarden does not write pg_ident.conf");
		}
		if (json_object_get(pg, "recovery_conf") != NULL)
		{
			snprintf(sub, sizeof(sub), "%s.postgresql.recovery_conf", path);
			cfg_warn_ignored(p, sub,
			                 "pgwarden writes the standby settings itself");
		}
		if (json_object_get(
		        pg, "remove_data_directory_on_diverged_timelines") != NULL)
		{
			snprintf(
			    sub, sizeof(sub),
			    "%s.postgresql.remove_data_directory_on_diverged_timelines",
			    path);
			cfg_warn_ignored(
			    p, sub,
			    "a diverged replica is rewound, or re-cloned when remove_data_directory_on_rewind_failure allows");
		}
		/* Patroni writes the whole pg_hba.conf from it: so do we, unless
		 * postgresql.pg_hba says otherwise */
		if (hba != NULL && !json_is_null(hba))
		{
			size_t i;
			json_t *item;

			snprintf(sub, sizeof(sub), "%s.postgresql.pg_hba", path);
			if (!json_is_array(hba))
				return cfg_perr(p, sub,
				                "expected a list of pg_hba.conf lines, got %s",
				                cfg_kind_name(hba));
			json_array_foreach(hba, i, item)
			{
				NodeConfig *c = p->cfg;

				if (!json_is_string(item))
					return cfg_perr(p, sub,
					                "expected pg_hba.conf lines, got %s",
					                cfg_kind_name(item));
				c->dcs_pg_hba = pgw_xrealloc(
				    c->dcs_pg_hba,
				    sizeof(char *) * (size_t) (c->n_dcs_pg_hba + 1));
				c->dcs_pg_hba[c->n_dcs_pg_hba++] =
				    pgw_xstrdup(json_string_value(item));
			}
		}
	}
	return 0;
}
