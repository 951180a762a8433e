/*
 * bk_push.c: before pg_rewind or a re-clone throws away an old primary's
 * WAL, push what PostgreSQL had not archived yet (its archive_status/NAME.ready
 * files), as Patroni does since its #2384: otherwise the last segments of
 * the old timeline exist nowhere once the rewind removes them. pgbackrest
 * runs as the PostgreSQL user and opens the files itself; we only read the
 * file names (as data) and never follow them with root's rights.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* a WAL, .partial or .history file name PostgreSQL would mark .ready */
static bool
wal_file_name(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') ||
		      s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z')))
			return false;
	return n >= 12 && n <= 40 && strstr(s, "..") == NULL;
}

int
backup_push_ready(const NodeConfig *cfg, int timeout_ms, int *pushed,
                  PgwError *err)
{
	BkExec ex;
	char dir[CONFIG_BACKUP_PATH_MAX + 64];
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	int n = 0, cap = 0;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	int rc = 0;
	int ok = 0;

	if (pushed != NULL)
		*pushed = 0;
	if (cfg == NULL || !cfg->backup.enabled)
		return 0;
	if (bk_exec_init(cfg, &ex, err) != 0)
		return PGW_EINVAL;
	snprintf(dir, sizeof(dir), "%s/pg_wal/archive_status", cfg->pg_data_dir);
	d = opendir(dir);
	if (d == NULL)
		return 0; /* no WAL to lose */
	while ((de = readdir(d)) != NULL)
	{
		size_t len = strlen(de->d_name);

		if (len < 7 || strcmp(de->d_name + len - 6, ".ready") != 0)
			continue;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 32;
			names = pgw_xrealloc(names, sizeof(char *) * (size_t) cap);
		}
		names[n++] = pgw_xstrndup(de->d_name, len - 6);
	}
	closedir(d);
	if (n == 0)
	{
		free(names);
		return 0;
	}
	qsort(names, (size_t) n, sizeof(char *), name_cmp);
	log_info(
	    "backup.push-ready",
	    "segments=%d reason=\"WAL about to be discarded (rewind or re-clone)\"",
	    n);
	for (int i = 0; i < n; i++)
	{
		BkArgv a;
		BkJob j;
		PgwError e2 = {0};
		int64_t left = deadline - pgw_now_mono_ms();

		if (!wal_file_name(names[i]))
			continue;
		if (left <= 0)
		{
			rc = pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "pushed %d of %d unarchived WAL files before the %d ms bound",
			    ok, n, timeout_ms);
			break;
		}
		bk_argv_pgbackrest(&a, &ex, NULL, "archive-push");
		bk_argv_add(&a, "%s/pg_wal/%s", cfg->pg_data_dir, names[i]);
		if (bk_job_run(&j, &ex, a.v, left, "archive-push", &e2) == 0)
			ok++;
		else if (rc == 0)
			rc = pgw_error_set(err, e2.code, "%s: %s", names[i], e2.msg);
		bk_job_clear(&j);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (pushed != NULL)
		*pushed = ok;
	log_info("backup.push-ready-done", "pushed=%d of=%d", ok, n);
	return rc;
}
