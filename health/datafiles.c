/*
 * datafiles.c: the files and directories pgwarden (root) touches inside and
 * beside the data directory, which the PostgreSQL OS user owns (DESIGN.md
 * promise 6; security review F1, F5, F8, F9). Everything goes through
 * common/safefs.h: a descriptor of the data directory (which must be owned
 * by run_as), names created with O_EXCL|O_NOFOLLOW under random temporary
 * names and renamed, owner and mode set on descriptors, reads that refuse
 * FIFOs and links, removals by an openat walk. Also the check that a pid
 * from postmaster.pid is really this data directory's postmaster before
 * root signals it.
 */
#include "health/control_int.h"

#include "common/log.h"
#include "common/safefs.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_READ_MAX (4 * 1024 * 1024)

/* the OS user PostgreSQL runs as (ourselves when we do not switch) */
static uid_t
pg_uid(const PgControl *c)
{
	return c->as.drop ? c->as.uid : geteuid();
}

int
control_data_dirfd(PgControl *c, PgwError *err)
{
	int fd = pgw_dir_open(c->data_dir, pg_uid(c), err);

	if (fd < 0)
		pgw_error_prefix(err, "postgresql.data_dir");
	return fd;
}

int
control_write_data_file(PgControl *c, const char *name, const char *data,
                        size_t len, PgwError *err)
{
	int dfd = control_data_dirfd(c, err);
	int rc;

	if (dfd < 0)
		return err && err->code ? err->code : PGW_EIO;
	rc = pgw_write_at(dfd, name, data, len, 0600,
	                  c->as.drop ? c->as.uid : PGW_NO_OWNER,
	                  c->as.drop ? c->as.gid : (gid_t) -1, err);
	close(dfd);
	if (rc != 0)
		pgw_error_prefix(err, "in data directory \"%s\"", c->data_dir);
	return rc;
}

int
control_unlink_data_file(PgControl *c, const char *name, PgwError *err)
{
	int dfd = control_data_dirfd(c, err);
	int rc = 0;

	if (dfd < 0)
		return err && err->code == PGW_ENOTFOUND ? 0
		                                         : (err ? err->code : PGW_EIO);
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
		rc = pgw_error_set(err, PGW_EIO, "could not remove file \"%s/%s\": %s",
		                   c->data_dir, name, strerror(errno));
	close(dfd);
	return rc;
}

int
control_ensure_dir(PgControl *c, const char *path, int mode, const char *key,
                   bool must_own, PgwError *err)
{
	return pgw_dir_ensure(
	    path, (mode_t) mode, c->as.drop ? c->as.uid : PGW_NO_OWNER,
	    c->as.drop ? c->as.gid : (gid_t) -1, must_own, key, err);
}

void
control_empty_dir(const char *path)
{
	PgwError err = {0};

	if (pgw_dir_clear(path, &err) != 0)
		log_warn("pg.data-dir-clear-failed", "data_dir=%s detail=\"%s\"", path,
		         err.msg);
}

int
control_open_log(PgControl *c, PgwError *err)
{
	int fd = pgw_open_append(c->log_path, 0640,
	                         c->as.drop ? c->as.uid : PGW_NO_OWNER,
	                         c->as.drop ? c->as.gid : (gid_t) -1, err);

	if (fd < 0)
		pgw_error_prefix(err, "postgresql log file");
	return fd;
}

/*
 * control_ensure_include: postgresql.conf must include our file. It is
 * opened in the data directory with O_NOFOLLOW and must be a regular file
 * with one link owned by the PostgreSQL user: a symlink planted there must
 * not make root append to /etc/... (security review F1). One descriptor
 * both reads it and appends.
 */
int
control_ensure_include(PgControl *c, PgwError *err)
{
	const char *line = "include_if_exists = '" PGW_CONF_FILE "'\t# pgwarden\n";
	int dfd = control_data_dirfd(c, err);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	bool found = false;
	int fd;
	int rc = 0;

	if (dfd < 0)
		return err && err->code ? err->code : PGW_EIO;
	fd = openat(dfd, "postgresql.conf",
	            O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return pgw_error_set(
		    err, PGW_EIO, "could not open file \"%s/postgresql.conf\": %s%s",
		    c->data_dir, strerror(errno),
		    errno == ELOOP ? " (a symbolic link: pgwarden does not follow it)"
		                   : "");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != pg_uid(c) || st.st_size > CONF_READ_MAX)
	{
		close(fd);
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "refusing to use \"%s/postgresql.conf\": not a regular file with one link owned by the PostgreSQL OS user",
		    c->data_dir);
	}
	buf = pgw_xmalloc((size_t) st.st_size + 1);
	while (got < (size_t) st.st_size)
	{
		ssize_t r =
		    pread(fd, buf + got, (size_t) st.st_size - got, (off_t) got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t) r;
	}
	buf[got] = '\0';
	for (char *p = buf; p != NULL && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
	{
		char *eol = strchr(p, '\n');
		char *hit = strstr(p, "'" PGW_CONF_FILE "'");

		if (strncmp(p, "include", 7) == 0 && hit != NULL &&
		    (eol == NULL || hit < eol))
			found = true;
	}
	free(buf);
	if (!found)
	{
		ssize_t w = write(fd, line, strlen(line));

		if (w != (ssize_t) strlen(line) || fsync(fd) != 0)
			rc = pgw_error_set(
			    err, PGW_EIO,
			    "could not append to file \"%s/postgresql.conf\": %s",
			    c->data_dir, strerror(errno));
	}
	close(fd);
	return rc;
}

/* proc_uids_are: every uid on the "Uid:" line of /proc/pid/status is uid */
static bool
proc_uids_are(pid_t pid, uid_t uid)
{
	char path[64];
	char line[256];
	FILE *f;
	bool ok = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		unsigned long r, e, s, fs;

		if (strncmp(line, "Uid:", 4) != 0)
			continue;
		ok = sscanf(line + 4, "%lu %lu %lu %lu", &r, &e, &s, &fs) == 4 &&
		     r == uid && e == uid && s == uid && fs == uid;
		break;
	}
	fclose(f);
	return ok;
}

/* proc_link_is: /proc/pid/<what> points at want (a resolved path); a
 * replaced executable reads "<path> (deleted)" after a package upgrade */
static bool
proc_link_is(pid_t pid, const char *what, const char *want)
{
	char path[64];
	char buf[4200];
	ssize_t n;
	size_t wl = strlen(want);

	snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, what);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strncmp(buf, want, wl) == 0 &&
	       (buf[wl] == '\0' || strcmp(buf + wl, " (deleted)") == 0);
}

/*
 * control_pid_trusted: pid, read from the postgres-owned postmaster.pid,
 * is this data directory's postmaster: alive, running as the PostgreSQL OS
 * user, its executable our bin_dir's postgres and its working directory the
 * data directory (security review F9: before, any process whose name began
 * with "postgres", of any user, could be made a target of root's signals).
 */
bool
control_pid_trusted(PgControl *c, pid_t pid)
{
	char dir[4096];
	char exe[4096];
	char prog[4200];

	if (pid <= 0 || !pid_alive(pid) || !proc_uids_are(pid, pg_uid(c)))
		return false;
	control_bin(c, "postgres", prog, sizeof(prog));
	if (realpath(c->data_dir, dir) == NULL || realpath(prog, exe) == NULL)
		return false;
	return proc_link_is(pid, "cwd", dir) && proc_link_is(pid, "exe", exe);
}

/*
 * control_pgpass_write: the pgpass file (0600, owned by run_as) with lines
 * for our own server (its socket directory and "localhost") and for each
 * upstream pgwarden chose to connect to, never "*:*:*" (security review
 * F12: libpq offers a "*" line's password to any host a member key names,
 * and a rogue one could ask for cleartext password authentication).
 */
int
control_pgpass_write(PgControl *c, PgwError *err)
{
	StrBuf b;
	int rc = 0;

	sbuf_init(&b);
	/* our socket: libpq matches a socket path literally, and "localhost"
	 * only for the compiled-in default socket directory */
	for (int i = -2; i < c->n_pgpass && rc == 0; i++)
	{
		const char *host = i == -2   ? c->socket_dir
		                   : i == -1 ? "localhost"
		                             : c->pgpass_host[i];
		int port = i < 0 ? c->port : c->pgpass_port[i];

		if (c->su_password != NULL)
			rc = health_pgpass_line(&b, host, port, c->superuser,
			                        c->su_password);
		if (rc == 0 && c->repl_password != NULL)
			rc = health_pgpass_line(&b, host, port, c->repl_user,
			                        c->repl_password);
	}
	if (rc != 0)
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "a password or a host contains a newline");
	else
		rc = write_file_atomic(c->pgpass, b.data, b.len, 0600,
		                       c->as.drop ? c->as.uid : (uid_t) -1,
		                       c->as.drop ? c->as.gid : (gid_t) -1, err);
	explicit_bzero(b.data, b.cap);
	free(b.data);
	return rc;
}

int
control_pgpass_allow(PgControl *c, const char *host, int port, PgwError *err)
{
	int max = (int) PGW_LENGTHOF(c->pgpass_port);

	if (host == NULL || host[0] == '\0' || port <= 0 ||
	    (c->su_password == NULL && c->repl_password == NULL))
		return 0;
	for (int i = 0; i < c->n_pgpass; i++)
		if (c->pgpass_port[i] == port && strcmp(c->pgpass_host[i], host) == 0)
			return 0;
	if (strlen(host) >= sizeof(c->pgpass_host[0]))
		return pgw_error_set(err, PGW_EINVAL,
		                     "host name \"%.40s...\" is too long", host);
	if (c->n_pgpass == max)
	{
		/* the oldest upstream goes: members come and go */
		memmove(c->pgpass_host[0], c->pgpass_host[1],
		        sizeof(c->pgpass_host[0]) * (size_t) (max - 1));
		memmove(&c->pgpass_port[0], &c->pgpass_port[1],
		        sizeof(c->pgpass_port[0]) * (size_t) (max - 1));
		c->n_pgpass--;
	}
	pgw_strlcpy(c->pgpass_host[c->n_pgpass], host, sizeof(c->pgpass_host[0]));
	c->pgpass_port[c->n_pgpass++] = port;
	return control_pgpass_write(c, err);
}

/* control_pgpass_allow_conninfo: the host and port of a primary_conninfo
 * we wrote before a daemon restart, parsed by libpq itself */
void
control_pgpass_allow_conninfo(PgControl *c, const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL;
	int64_t port = 0;

	if (opts == NULL)
		return;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0 &&
		         pgw_parse_int64(o->val, 1, 65535, &port) != 0)
			port = 0;
	}
	if (host != NULL && port > 0)
		(void) control_pgpass_allow(c, host, (int) port, NULL);
	PQconninfoFree(opts);
}
