/*
 * bk_conf.c: pgBackRest's configuration as pgwarden writes it, the
 * archive settings PostgreSQL gets, and pgbackrest's argument vectors.
 *
 * The configuration directory is pgwarden's (root's, when we run as root):
 * it often sits beside the data directory, in a parent the PostgreSQL OS
 * user may write, so it is opened with O_NOFOLLOW and refused unless we
 * own it and nobody else may write it; files are written through that
 * descriptor. Only its lock/ and spool/ subdirectories belong to run_as,
 * which pgbackrest (running as run_as) writes.
 */
#include "backup/backup_int.h"

#include "common/safefs.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
stanza_of(const NodeConfig *cfg)
{
	return cfg->backup.stanza[0] ? cfg->backup.stanza : cfg->scope;
}

int
bk_exec_init(const NodeConfig *cfg, BkExec *ex, PgwError *err)
{
	const ConfigBackup *b = &cfg->backup;

	memset(ex, 0, sizeof(*ex));
	if (cfg->pg_data_dir == NULL || cfg->scope == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "backup: postgresql.data_dir and scope are required");
	pgw_strlcpy(ex->stanza, stanza_of(cfg), sizeof(ex->stanza));
	if (!config_backup_stanza_ok(ex->stanza))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "backup: stanza \"%s\" (from %s) is not a valid pgBackRest stanza name: set backup.stanza",
		    ex->stanza, b->stanza[0] ? "backup.stanza" : "the scope");
	pgw_strlcpy(ex->pgbackrest,
	            b->pgbackrest[0] ? b->pgbackrest : "/usr/bin/pgbackrest",
	            sizeof(ex->pgbackrest));
	if (b->config_dir[0])
		pgw_strlcpy(ex->dir, b->config_dir, sizeof(ex->dir));
	else
		snprintf(ex->dir, sizeof(ex->dir), "%s.backup", cfg->pg_data_dir);
	if (!config_backup_path_ok(ex->dir))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "backup: configuration directory \"%s\" must be an absolute path of letters, digits and /._-+@ (set backup.config_dir)",
		    ex->dir);
	snprintf(ex->conf, sizeof(ex->conf), "%s/pgbackrest.conf", ex->dir);
	if (cfg->pg_pgpass != NULL)
		pgw_strlcpy(ex->pgpass, cfg->pg_pgpass, sizeof(ex->pgpass));
	else
		snprintf(ex->pgpass, sizeof(ex->pgpass), "%s.pgpass", cfg->pg_data_dir);
	pgw_strlcpy(ex->bin_dir,
	            cfg->pg_bin_dir ? cfg->pg_bin_dir
	                            : "/usr/lib/postgresql/15/bin",
	            sizeof(ex->bin_dir));
	if (cfg->pg_run_as != NULL && geteuid() == 0)
	{
		struct passwd pw, *res = NULL;
		char buf[4096];
		int ng = BK_GROUPS_MAX;

		if (getpwnam_r(cfg->pg_run_as, &pw, buf, sizeof(buf), &res) != 0 ||
		    res == NULL)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "backup: unknown OS user \"%s\" (postgresql.run_as)",
			    cfg->pg_run_as);
		if (pw.pw_uid == 0)
			return pgw_error_set(err, PGW_EINVAL,
			                     "backup: postgresql.run_as must not be root");
		ex->drop = true;
		ex->uid = pw.pw_uid;
		ex->gid = pw.pw_gid;
		pgw_strlcpy(ex->user, pw.pw_name, sizeof(ex->user));
		pgw_strlcpy(ex->home, pw.pw_dir, sizeof(ex->home));
		if (getgrouplist(pw.pw_name, pw.pw_gid, ex->groups, &ng) < 0)
			ng = 0;
		ex->n_groups = ng;
	}
	else if (geteuid() == 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "backup: pgbackrest must not run as root: set postgresql.run_as");
	else
	{
		struct passwd pw, *res = NULL;
		char buf[4096];

		if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 &&
		    res != NULL)
		{
			pgw_strlcpy(ex->user, pw.pw_name, sizeof(ex->user));
			pgw_strlcpy(ex->home, pw.pw_dir, sizeof(ex->home));
		}
	}
	return 0;
}

/* ensure_subdir: dfd/name as a directory owned by run_as (mode 0700) */
static int
ensure_subdir(int dfd, const char *dir, const char *name, const BkExec *ex,
              PgwError *err)
{
	struct stat st;

	if (mkdirat(dfd, name, 0700) != 0 && errno != EEXIST)
		return pgw_error_set(err, PGW_EIO,
		                     "could not create directory \"%s/%s\": %s", dir,
		                     name, strerror(errno));
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(st.st_mode))
		return pgw_error_set(err, PGW_ESTATE, "\"%s/%s\" is not a directory",
		                     dir, name);
	/* the parent is ours and closed to others: nobody can swap it */
	if (ex->drop &&
	    fchownat(dfd, name, ex->uid, ex->gid, AT_SYMLINK_NOFOLLOW) != 0)
		return pgw_error_set(err, PGW_EIO, "could not chown \"%s/%s\": %s", dir,
		                     name, strerror(errno));
	return 0;
}

/* pgpass_add: "host:port:*:user:password\n", ':' and '\\' escaped;
 * false when a field holds a newline or the buffer is full */
static bool
pgpass_add(char *buf, size_t size, size_t *n, const char *host, int port,
           const char *user, const char *password)
{
	const char *f[4];
	char portbuf[16];

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	f[0] = host;
	f[1] = portbuf;
	f[2] = user;
	f[3] = password;
	for (int i = 0; i < 4; i++)
	{
		if (i == 2 && *n + 2 < size)
		{
			buf[(*n)++] = '*';
			buf[(*n)++] = ':';
		}
		for (const char *c = f[i]; *c; c++)
		{
			if (*c == '\n' || *c == '\r' || *n + 3 >= size)
				return false;
			if (*c == ':' || *c == '\\')
				buf[(*n)++] = '\\';
			buf[(*n)++] = *c;
		}
		if (*n + 2 >= size)
			return false;
		buf[(*n)++] = i == 3 ? '\n' : ':';
	}
	return true;
}

int
bk_pgpass_write(const NodeConfig *cfg, BkExec *ex, const char *name,
                const char *socket_dir, int port, PgwError *err)
{
	const char *user =
	    cfg->pg_superuser_username ? cfg->pg_superuser_username : "postgres";
	const char *pw = cfg->pg_superuser_password;
	char text[2048];
	size_t n = 0;
	bool ok = true;
	int dfd;
	int rc;

	if (pw == NULL)
		return 0; /* no password: the node's file (or trust) */
	if (cfg->pg_socket_dir != NULL)
		ok = pgpass_add(text, sizeof(text), &n, cfg->pg_socket_dir,
		                cfg->pg_port, user, pw);
	ok = ok && pgpass_add(text, sizeof(text), &n, "localhost", cfg->pg_port,
	                      user, pw);
	if (socket_dir != NULL && socket_dir[0])
		ok = ok &&
		     pgpass_add(text, sizeof(text), &n, socket_dir, port, user, pw);
	ok = ok && pgpass_add(text, sizeof(text), &n, "localhost", port, user, pw);
	if (!ok)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "a socket directory or the superuser's password cannot go into a pgpass file (newline or too long)");
	if ((dfd = pgw_dir_open(ex->dir, geteuid(), err)) < 0)
		return err->code ? err->code : PGW_EIO;
	/* pgbackrest reads it as run_as; nobody else may */
	rc = pgw_write_at(dfd, name, text, n, 0600,
	                  ex->drop ? ex->uid : PGW_NO_OWNER,
	                  ex->drop ? ex->gid : PGW_NO_OWNER, err);
	explicit_bzero(text, sizeof(text));
	close(dfd);
	if (rc == 0)
		snprintf(ex->pgpass, sizeof(ex->pgpass), "%s/%s", ex->dir, name);
	return rc;
}

int
bk_conf_write(const NodeConfig *cfg, const BkExec *ex, PgwError *err)
{
	const ConfigBackup *b = &cfg->backup;
	char text[8192];
	size_t n = 0;
	struct stat st;
	int dfd;
	int rc;

	if (mkdir(ex->dir, 0755) != 0 && errno != EEXIST)
		return pgw_error_set(err, PGW_EIO,
		                     "could not create directory \"%s\": %s", ex->dir,
		                     strerror(errno));
	dfd = open(ex->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "could not open \"%s\" as a directory (a symlink is refused): %s",
		    ex->dir, strerror(errno));
	if (fstat(dfd, &st) != 0 || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0)
	{
		close(dfd);
		return pgw_error_set(
		    err, PGW_ESTATE,
		    "directory \"%s\" must belong to pgwarden's user (uid %d) and be closed to others' writes",
		    ex->dir, (int) geteuid());
	}
	if ((rc = ensure_subdir(dfd, ex->dir, "lock", ex, err)) != 0 ||
	    (rc = ensure_subdir(dfd, ex->dir, "spool", ex, err)) != 0)
	{
		close(dfd);
		return rc;
	}
#define PUT(...)                                                               \
	n += (size_t) snprintf(text + n, n < sizeof(text) ? sizeof(text) - n : 0,  \
	                       __VA_ARGS__)
	PUT("# written by pgwarden from the backup: section of its configuration;\n"
	    "# rewritten at every start: do not edit\n[global]\n");
	PUT("repo1-path=%s\n", b->repository);
	PUT("repo1-retention-full-type=count\n");
	/* without a count pgBackRest warns on every command; 9999999 = all */
	PUT("repo1-retention-full=%d\n",
	    b->retention_full > 0 ? b->retention_full : 9999999);
	if (b->retention_diff > 0)
		PUT("repo1-retention-diff=%d\n", b->retention_diff);
	PUT("log-level-file=off\n");
	PUT("lock-path=%s/lock\n", ex->dir);
	PUT("spool-path=%s/spool\n", ex->dir);
	PUT("compress-type=%s\n", b->compress_type[0] ? b->compress_type : "lz4");
	PUT("process-max=%d\n", b->process_max > 0 ? b->process_max : 1);
	PUT("start-fast=y\n");
	PUT("\n[%s]\n", ex->stanza);
	PUT("pg1-path=%s\n", cfg->pg_data_dir);
	PUT("pg1-port=%d\n", cfg->pg_port);
	if (cfg->pg_socket_dir != NULL)
		PUT("pg1-socket-path=%s\n", cfg->pg_socket_dir);
	PUT("pg1-user=%s\n",
	    cfg->pg_superuser_username ? cfg->pg_superuser_username : "postgres");
#undef PUT
	if (n >= sizeof(text))
	{
		close(dfd);
		return pgw_error_set(err, PGW_EINVAL,
		                     "pgbackrest.conf would exceed %zu bytes",
		                     sizeof(text));
	}
	/* pgbackrest reads it as run_as: 0644, root's */
	rc = pgw_write_at(dfd, "pgbackrest.conf", text, n, 0644, PGW_NO_OWNER,
	                  PGW_NO_OWNER, err);
	close(dfd);
	return rc;
}

const HealthParam *
backup_pg_params(const NodeConfig *cfg, int *n)
{
	static char archive_cmd[2 * CONFIG_BACKUP_PATH_MAX + 128];
	static char restore_cmd[2 * CONFIG_BACKUP_PATH_MAX + 128];
	static char timeout[32];
	static HealthParam p[4];
	BkExec ex;
	PgwError err = {0};

	*n = 0;
	if (cfg == NULL || !cfg->backup.enabled ||
	    bk_exec_init(cfg, &ex, &err) != 0)
		return p;
	/*
	 * Without the program PostgreSQL gets no archive settings at all (and
	 * backup_open() says so loudly): a restore_command the shell cannot
	 * find is fatal to recovery (a replica or a restarting standby would
	 * not start), and an archive_command that always fails would fill
	 * pg_wal until the primary stops. HA must not depend on backups.
	 */
	if (access(ex.pgbackrest, X_OK) != 0)
		return p;
	/*
	 * PostgreSQL runs these through a shell as its own user; every path in
	 * them passed config_backup_path_ok(), so nothing needs quoting.
	 * pgBackRest refuses a push before the stanza exists and whenever the
	 * segment's system identifier is not the stanza's, so nothing reaches
	 * a repository of another cluster.
	 */
	snprintf(archive_cmd, sizeof(archive_cmd),
	         "%s --config=%s --stanza=%s archive-push %%p", ex.pgbackrest,
	         ex.conf, ex.stanza);
	snprintf(restore_cmd, sizeof(restore_cmd),
	         "%s --config=%s --stanza=%s archive-get %%f \"%%p\"",
	         ex.pgbackrest, ex.conf, ex.stanza);
	snprintf(timeout, sizeof(timeout), "%lldms",
	         (long long) cfg->backup.archive_timeout_ms);
	p[0].name = "archive_mode";
	p[0].value = "on";
	p[1].name = "archive_command";
	p[1].value = archive_cmd;
	p[2].name = "restore_command";
	p[2].value = restore_cmd;
	p[3].name = "archive_timeout";
	p[3].value = timeout;
	*n = 4;
	return p;
}

void
bk_argv_add(BkArgv *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n >= BK_ARGV_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->n], sizeof(a->buf[a->n]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->buf[a->n];
	a->n++;
	a->v[a->n] = NULL;
}

void
bk_argv_pgbackrest(BkArgv *a, const BkExec *ex, const char *stanza,
                   const char *command)
{
	memset(a, 0, sizeof(*a));
	bk_argv_add(a, "%s", ex->pgbackrest);
	bk_argv_add(a, "--config=%s", ex->conf);
	bk_argv_add(a, "--stanza=%s", stanza ? stanza : ex->stanza);
	bk_argv_add(a, "%s", command);
}
