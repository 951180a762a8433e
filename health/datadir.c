/*
 * datadir.c: what the data directory holds, as files (DESIGN.md "health/":
 * the data directory is PostgreSQL's, so only health/ looks into it). The
 * executor asks here instead of reading PG_VERSION or standby.signal itself.
 */
#include "health/health.h"

#include "common/log.h"
#include "common/safefs.h"
#include "common/pgwtime.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

HealthDataDir
health_data_dir_state(const char *dir, HealthIncomplete inc)
{
	char path[1024];
	struct stat st;
	DIR *d;

	/* an interrupted clone has PG_VERSION and is not a data directory */
	if (inc == HEALTH_INCOMPLETE_CLONE)
		return HEALTH_DATA_DIR_EMPTY;
	snprintf(path, sizeof(path), "%s/PG_VERSION", dir);
	if (stat(path, &st) == 0)
		return HEALTH_DATA_DIR_INITIALIZED;
	/* missing, empty or a half-written clone (no PG_VERSION): as good as
	 * empty; only a directory we cannot open is unknown */
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? HEALTH_DATA_DIR_EMPTY
		                       : HEALTH_DATA_DIR_UNKNOWN;
	closedir(d);
	return HEALTH_DATA_DIR_EMPTY;
}

bool
health_data_dir_has(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

int
wipe_data_dir(const char *dir, PgwError *err)
{
	char path[1024];

	/* rename first so a crash mid-removal leaves no half data dir */
	snprintf(path, sizeof(path), "%s.removing.%lld", dir,
	         (long long) pgw_now_wall_ms());
	if (rename(dir, path) != 0 && errno != ENOENT)
		return pgw_error_set(err, PGW_EIO,
		                     "could not move data directory \"%s\" aside: %s",
		                     dir, strerror(errno));
	/* the removal walks with openat/unlinkat and never crosses a symlink
	 * the PostgreSQL user planted (security review F8; it was `rm -rf` as
	 * root) */
	log_info("pg.remove", "path=%s", path);
	return pgw_rmtree(path, err);
}
