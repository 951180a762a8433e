/*
 * bk_sched.c: the backup schedule in force: the dynamic `config` key's
 * backup.schedule (one list for the whole cluster, changed with
 * `pgwardenctl edit-config --set backup.schedule=...` or PATCH /config), or
 * the node file's backup.schedule while the key has none. A dynamic
 * schedule that does not parse is refused whole and said so (metric,
 * `backup list`); the file's schedule stays in force, never half a list.
 */
#include "backup/backup_int.h"

#include "common/strutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void
from_file(const ConfigBackup *cfg, BkSchedule *out)
{
	out->n = 0;
	for (int i = 0; i < cfg->n_schedule && i < CONFIG_BACKUP_SCHEDULE_MAX; i++)
	{
		PgwError err = {0};

		/* checked when the file was loaded */
		if (config_backup_schedule_check(cfg->schedule[i], out->type[out->n],
		                                 sizeof(out->type[0]),
		                                 &out->cron[out->n], &err) != 0)
			continue;
		pgw_strlcpy(out->entry[out->n], cfg->schedule[i],
		            sizeof(out->entry[0]));
		out->n++;
	}
	out->from_config_key = false;
}

void
bk_schedule_from_config(const char *config_json, const ConfigBackup *cfg,
                        BkSchedule *out)
{
	json_t *root;
	json_t *b;
	json_t *s;
	BkSchedule dyn;
	size_t i;
	json_t *item;

	memset(out, 0, sizeof(*out));
	from_file(cfg, out);
	if (config_json == NULL)
		return;
	root = json_loads(config_json, 0, NULL);
	b = json_is_object(root) ? json_object_get(root, "backup") : NULL;
	s = json_is_object(b) ? json_object_get(b, "schedule") : NULL;
	if (s == NULL || json_is_null(s))
	{
		json_decref(root);
		return;
	}
	memset(&dyn, 0, sizeof(dyn));
	if (json_is_string(s))
	{
		json_t *one = json_array();

		json_array_append(one, s);
		s = one;
		json_object_set_new(b, "schedule", one);
	}
	if (!json_is_array(s) || json_array_size(s) > CONFIG_BACKUP_SCHEDULE_MAX)
	{
		snprintf(
		    out->error, sizeof(out->error),
		    "config key backup.schedule: expected a list of at most %d \"TYPE MIN HOUR DOM MON DOW\" entries",
		    CONFIG_BACKUP_SCHEDULE_MAX);
		json_decref(root);
		return;
	}
	json_array_foreach(s, i, item)
	{
		PgwError err = {0};

		if (!json_is_string(item) ||
		    strlen(json_string_value(item)) >= sizeof(dyn.entry[0]))
		{
			snprintf(out->error, sizeof(out->error),
			         "config key backup.schedule[%zu]: expected a string", i);
			json_decref(root);
			return;
		}
		if (config_backup_schedule_check(json_string_value(item),
		                                 dyn.type[dyn.n], sizeof(dyn.type[0]),
		                                 &dyn.cron[dyn.n], &err) != 0)
		{
			snprintf(out->error, sizeof(out->error),
			         "config key backup.schedule[%zu]: %s", i, err.msg);
			json_decref(root);
			return;
		}
		pgw_strlcpy(dyn.entry[dyn.n], json_string_value(item),
		            sizeof(dyn.entry[0]));
		dyn.n++;
	}
	json_decref(root);
	dyn.from_config_key = true;
	*out = dyn;
}

int
backup_schedule_check_json(const char *config_json, int *n_entries,
                           PgwError *err)
{
	ConfigBackup none;
	BkSchedule s;

	config_backup_defaults(&none);
	bk_schedule_from_config(config_json, &none, &s);
	*n_entries = s.n;
	if (s.error[0])
		return pgw_error_set(err, PGW_EINVAL, "%s", s.error);
	return 0;
}
