/*
 * safefs.c: file operations that cannot be turned against root by the user
 * who owns the directory they work in; see safefs.h. The habit is
 * OpenSSH's and PostgreSQL's: open the directory once, then act relative
 * to it with O_NOFOLLOW / O_EXCL and on descriptors, never by path.
 */
#include "common/safefs.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_TRIES    8
#define RMTREE_DEPTH 64

int
pgw_path_split(const char *path, char *dir, size_t dir_len, char *base,
               size_t base_len)
{
	const char *slash;
	size_t n;

	if (path == NULL || path[0] == '\0')
		return PGW_EINVAL;
	n = strlen(path);
	if (path[n - 1] == '/')
		return PGW_EINVAL;
	slash = strrchr(path, '/');
	if (slash == NULL)
	{
		if (pgw_strlcpy(dir, ".", dir_len) >= dir_len)
			return PGW_EINVAL;
		slash = path - 1;
	}
	else if (slash == path)
	{
		if (pgw_strlcpy(dir, "/", dir_len) >= dir_len)
			return PGW_EINVAL;
	}
	else
	{
		if ((size_t) (slash - path) >= dir_len)
			return PGW_EINVAL;
		memcpy(dir, path, (size_t) (slash - path));
		dir[slash - path] = '\0';
	}
	if (strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0 ||
	    pgw_strlcpy(base, slash + 1, base_len) >= base_len)
		return PGW_EINVAL;
	return 0;
}

int
pgw_dir_open(const char *path, uid_t owner, PgwError *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
	{
		pgw_error_set(err, errno == ENOENT ? PGW_ENOTFOUND : PGW_EIO,
		              "could not open directory \"%s\": %s", path,
		              strerror(errno));
		return -1;
	}
	if (owner != PGW_NO_OWNER && (fstat(fd, &st) != 0 || st.st_uid != owner))
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "directory \"%s\" is not owned by uid %d: refusing to write in it",
		    path, (int) owner);
		close(fd);
		return -1;
	}
	return fd;
}

/* a temporary name beside name that nobody can guess in advance */
static int
tmp_name(const char *name, char *buf, size_t len)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r))
		return -1;
	if ((size_t) snprintf(buf, len, ".%s.pgw-%016llx", name,
	                      (unsigned long long) r) >= len)
		return -1;
	return 0;
}

static int
write_all(int fd, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len)
	{
		ssize_t w = write(fd, (const char *) data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t) w;
	}
	return 0;
}

int
pgw_write_at(int dirfd, const char *name, const void *data, size_t len,
             mode_t mode, uid_t uid, gid_t gid, PgwError *err)
{
	char tmp[300];
	int fd = -1;
	int e;

	if (strchr(name, '/') != NULL || strlen(name) > 200)
		return pgw_error_set(err, PGW_EINVAL, "invalid file name \"%s\"", name);
	for (int i = 0; i < TMP_TRIES && fd < 0; i++)
	{
		if (tmp_name(name, tmp, sizeof(tmp)) != 0)
			return pgw_error_set(err, PGW_EIO,
			                     "could not pick a temporary name for \"%s\"",
			                     name);
		fd = openat(dirfd, tmp,
		            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return pgw_error_set(err, PGW_EIO,
		                     "could not create a temporary file for \"%s\": %s",
		                     name, strerror(errno));
	if (write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0 ||
	    (uid != PGW_NO_OWNER && fchown(fd, uid, gid) != 0) || fsync(fd) != 0)
	{
		e = errno;
		close(fd);
		(void) unlinkat(dirfd, tmp, 0);
		return pgw_error_set(err, PGW_EIO, "could not write file \"%s\": %s",
		                     name, strerror(e));
	}
	close(fd);
	/* renameat replaces whatever is at name, a symlink as a link */
	if (renameat(dirfd, tmp, dirfd, name) != 0)
	{
		e = errno;
		(void) unlinkat(dirfd, tmp, 0);
		return pgw_error_set(err, PGW_EIO,
		                     "could not rename a temporary file to \"%s\": %s",
		                     name, strerror(e));
	}
	(void) fsync(dirfd);
	return 0;
}

int
pgw_write_file(const char *path, const void *data, size_t len, mode_t mode,
               uid_t uid, gid_t gid, PgwError *err)
{
	char dir[4096];
	char base[256];
	int dfd;
	int rc;

	if (pgw_path_split(path, dir, sizeof(dir), base, sizeof(base)) != 0)
		return pgw_error_set(err, PGW_EINVAL, "invalid file path \"%s\"", path);
	dfd = pgw_dir_open(dir, PGW_NO_OWNER, err);
	if (dfd < 0)
		return err ? err->code : PGW_EIO;
	rc = pgw_write_at(dfd, base, data, len, mode, uid, gid, err);
	close(dfd);
	if (rc != 0)
		pgw_error_prefix(err, "in directory \"%s\"", dir);
	return rc;
}

int
pgw_create_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
              PgwError *err)
{
	int fd;

	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		return pgw_error_set(err, PGW_EIO, "could not remove stale \"%s\": %s",
		                     name, strerror(errno));
	fd = openat(dirfd, name,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return pgw_error_set(err, PGW_EIO, "could not create \"%s\": %s", name,
		                     strerror(errno));
	if (fchmod(fd, mode) != 0 ||
	    (uid != PGW_NO_OWNER && fchown(fd, uid, gid) != 0))
	{
		int e = errno;

		close(fd);
		(void) unlinkat(dirfd, name, 0);
		return pgw_error_set(err, PGW_EIO, "could not set owner of \"%s\": %s",
		                     name, strerror(e));
	}
	close(fd);
	return 0;
}

int
pgw_open_append(const char *path, mode_t mode, uid_t uid, gid_t gid,
                PgwError *err)
{
	char dir[4096];
	char base[256];
	struct stat st;
	int dfd;
	int fd;

	if (pgw_path_split(path, dir, sizeof(dir), base, sizeof(base)) != 0)
	{
		pgw_error_set(err, PGW_EINVAL, "invalid file path \"%s\"", path);
		return -1;
	}
	dfd = pgw_dir_open(dir, PGW_NO_OWNER, err);
	if (dfd < 0)
		return -1;
	fd = openat(dfd, base,
	            O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            mode);
	if (fd >= 0)
	{
		close(dfd);
		if (fchmod(fd, mode) != 0 ||
		    (uid != PGW_NO_OWNER && fchown(fd, uid, gid) != 0))
		{
			pgw_error_set(err, PGW_EIO, "could not set owner of \"%s\": %s",
			              path, strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	if (errno != EEXIST)
	{
		pgw_error_set(err, PGW_EIO, "could not create file \"%s\": %s", path,
		              strerror(errno));
		close(dfd);
		return -1;
	}
	fd = openat(dfd, base,
	            O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
	{
		pgw_error_set(err, PGW_EINVAL, "could not open file \"%s\": %s%s", path,
		              strerror(errno),
		              errno == ELOOP
		                  ? " (a symbolic link: pgwarden does not follow it)"
		                  : "");
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != 0 && (uid == PGW_NO_OWNER || st.st_uid != uid)))
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "refusing to append to \"%s\": not a regular file with one link owned by the PostgreSQL user or root",
		    path);
		close(fd);
		return -1;
	}
	/* appends must not be O_NONBLOCK for PostgreSQL's stderr */
	(void) fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}

int
pgw_open_read_at(int dirfd, const char *name)
{
	struct stat st;
	int fd =
	    openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int
pgw_open_read(const char *path)
{
	return pgw_open_read_at(AT_FDCWD, path);
}

FILE *
pgw_fopen_read(const char *path)
{
	int fd = pgw_open_read(path);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "re");
	if (f == NULL)
		close(fd);
	return f;
}

int
pgw_read_file(const char *path, size_t max, char **out, size_t *len,
              PgwError *err)
{
	int fd = pgw_open_read(path);
	struct stat st;
	char *buf;
	size_t got = 0;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (fd < 0)
		return pgw_error_set(err,
		                     errno == ENOENT                     ? PGW_ENOTFOUND
		                     : errno == ELOOP || errno == EINVAL ? PGW_EINVAL
		                                                         : PGW_EIO,
		                     "could not open file \"%s\": %s", path,
		                     errno == EINVAL ? "not a regular file"
		                                     : strerror(errno));
	if (fstat(fd, &st) != 0 || (size_t) st.st_size > max)
	{
		close(fd);
		return pgw_error_set(err, PGW_EINVAL,
		                     "file \"%s\" is larger than %zu bytes", path, max);
	}
	buf = pgw_xmalloc((size_t) st.st_size + 1);
	while (got < (size_t) st.st_size)
	{
		ssize_t r = read(fd, buf + got, (size_t) st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
		{
			int e = errno;

			close(fd);
			free(buf);
			return pgw_error_set(err, PGW_EIO, "could not read file \"%s\": %s",
			                     path, strerror(e));
		}
		if (r == 0)
			break;
		got += (size_t) r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	if (len != NULL)
		*len = got;
	return 0;
}

int
pgw_unlink(const char *path, PgwError *err)
{
	char dir[4096];
	char base[256];
	int dfd;
	int rc = 0;

	if (pgw_path_split(path, dir, sizeof(dir), base, sizeof(base)) != 0)
		return pgw_error_set(err, PGW_EINVAL, "invalid file path \"%s\"", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT
		           ? 0
		           : pgw_error_set(err, PGW_EIO,
		                           "could not open directory \"%s\": %s", dir,
		                           strerror(errno));
	if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
		rc = pgw_error_set(err, PGW_EIO, "could not remove \"%s\": %s", path,
		                   strerror(errno));
	close(dfd);
	return rc;
}

/*
 * clear_fd: remove every entry of the directory dfd (on device dev). A
 * sub-directory is entered with openat(O_NOFOLLOW|O_DIRECTORY) and must be
 * the very inode lstat saw: a swap for a symlink or another directory
 * between the two is an error. Entries are re-read until a pass removes
 * nothing (removing while reading may skip names).
 */
static int
clear_fd(int dfd, dev_t dev, int depth, const char *what, PgwError *err)
{
	bool removed = true;

	if (depth > RMTREE_DEPTH)
		return pgw_error_set(
		    err, PGW_EIO, "could not remove \"%s\": nested more than %d levels",
		    what, RMTREE_DEPTH);
	for (int pass = 0; removed && pass < 8; pass++)
	{
		int fd2 = dup(dfd);
		DIR *d;
		struct dirent *de;

		removed = false;
		if (fd2 < 0 || (d = fdopendir(fd2)) == NULL)
		{
			if (fd2 >= 0)
				close(fd2);
			return pgw_error_set(err, PGW_EIO,
			                     "could not read directory in \"%s\": %s", what,
			                     strerror(errno));
		}
		rewinddir(d);
		while ((de = readdir(d)) != NULL)
		{
			struct stat st;
			struct stat st2;
			int cfd;
			int rc;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			{
				if (errno == ENOENT)
					continue;
				closedir(d);
				return pgw_error_set(err, PGW_EIO,
				                     "could not stat \"%s\" in \"%s\": %s",
				                     de->d_name, what, strerror(errno));
			}
			if (!S_ISDIR(st.st_mode))
			{
				if (unlinkat(dfd, de->d_name, 0) != 0 && errno != ENOENT)
				{
					closedir(d);
					return pgw_error_set(
					    err, PGW_EIO, "could not remove \"%s\" in \"%s\": %s",
					    de->d_name, what, strerror(errno));
				}
				removed = true;
				continue;
			}
			if (st.st_dev != dev)
			{
				closedir(d);
				return pgw_error_set(
				    err, PGW_EIO,
				    "could not remove \"%s\" in \"%s\": a mount point",
				    de->d_name, what);
			}
			cfd = openat(dfd, de->d_name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0 || fstat(cfd, &st2) != 0 || st2.st_ino != st.st_ino ||
			    st2.st_dev != st.st_dev)
			{
				if (cfd >= 0)
					close(cfd);
				closedir(d);
				return pgw_error_set(
				    err, PGW_EIO,
				    "could not remove \"%s\" in \"%s\": it changed while being removed",
				    de->d_name, what);
			}
			rc = clear_fd(cfd, dev, depth + 1, what, err);
			close(cfd);
			if (rc != 0)
			{
				closedir(d);
				return rc;
			}
			if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
			{
				closedir(d);
				return pgw_error_set(
				    err, PGW_EIO,
				    "could not remove directory \"%s\" in \"%s\": %s",
				    de->d_name, what, strerror(errno));
			}
			removed = true;
		}
		closedir(d);
	}
	return 0;
}

int
pgw_dir_clear(const char *path, PgwError *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno == ENOENT
		           ? 0
		           : pgw_error_set(
		                 err, PGW_EIO, "could not open directory \"%s\": %s%s",
		                 path, strerror(errno),
		                 errno == ELOOP ? " (a symbolic link: not followed)"
		                                : "");
	if (fstat(fd, &st) != 0)
	{
		close(fd);
		return pgw_error_set(err, PGW_EIO, "could not stat \"%s\": %s", path,
		                     strerror(errno));
	}
	rc = clear_fd(fd, st.st_dev, 0, path, err);
	close(fd);
	return rc;
}

int
pgw_rmtree(const char *path, PgwError *err)
{
	char dir[4096];
	char base[256];
	struct stat st;
	int dfd;
	int rc;

	if (pgw_path_split(path, dir, sizeof(dir), base, sizeof(base)) != 0)
		return pgw_error_set(err, PGW_EINVAL, "invalid path \"%s\"", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT
		           ? 0
		           : pgw_error_set(err, PGW_EIO,
		                           "could not open directory \"%s\": %s", dir,
		                           strerror(errno));
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
	{
		rc = errno == ENOENT
		         ? 0
		         : pgw_error_set(err, PGW_EIO, "could not stat \"%s\": %s",
		                         path, strerror(errno));
		close(dfd);
		return rc;
	}
	if (!S_ISDIR(st.st_mode))
		rc = unlinkat(dfd, base, 0) == 0
		         ? 0
		         : pgw_error_set(err, PGW_EIO, "could not remove \"%s\": %s",
		                         path, strerror(errno));
	else
	{
		int fd =
		    openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st2;

		if (fd < 0 || fstat(fd, &st2) != 0 || st2.st_ino != st.st_ino)
			rc = pgw_error_set(
			    err, PGW_EIO,
			    "could not remove \"%s\": it changed while being removed",
			    path);
		else
			rc = clear_fd(fd, st.st_dev, 0, path, err);
		if (fd >= 0)
			close(fd);
		if (rc == 0 && unlinkat(dfd, base, AT_REMOVEDIR) != 0)
			rc = pgw_error_set(err, PGW_EIO,
			                   "could not remove directory \"%s\": %s", path,
			                   strerror(errno));
	}
	close(dfd);
	return rc;
}

/* can uid (primary group gid) create files in a directory with st? */
static bool
writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return (st->st_mode & S_IWUSR) && (st->st_mode & S_IXUSR);
	if (st->st_gid == gid)
		return (st->st_mode & S_IWGRP) && (st->st_mode & S_IXGRP);
	return (st->st_mode & S_IWOTH) && (st->st_mode & S_IXOTH);
}

int
pgw_dir_ensure(const char *path, mode_t mode, uid_t uid, gid_t gid,
               bool owner_must_be_uid, const char *key, PgwError *err)
{
	struct stat st;
	uid_t want = uid == PGW_NO_OWNER ? geteuid() : uid;

	if (mkdir(path, mode) == 0)
	{
		/* ours: only now, and only on the descriptor of what we made */
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int rc = 0;

		if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid != geteuid() ||
		    st.st_nlink != 2)
			rc = pgw_error_set(
			    err, PGW_EIO,
			    "%s: directory \"%s\" changed right after pgwarden created it",
			    key, path);
		else if (fchmod(fd, mode) != 0 ||
		         (uid != PGW_NO_OWNER && fchown(fd, uid, gid) != 0))
			rc = pgw_error_set(err, PGW_EIO,
			                   "%s: could not set owner and mode of \"%s\": %s",
			                   key, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (errno != EEXIST)
		return pgw_error_set(err, PGW_EIO,
		                     "%s: could not create directory \"%s\": %s", key,
		                     path, strerror(errno));
	if (lstat(path, &st) != 0)
		return pgw_error_set(err, PGW_EIO, "%s: could not stat \"%s\": %s", key,
		                     path, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%s: \"%s\" is a symbolic link; pgwarden does not follow links for directories it manages (name the real directory)",
		    key, path);
	if (!S_ISDIR(st.st_mode))
		return pgw_error_set(err, PGW_EINVAL,
		                     "%s: \"%s\" exists and is not a directory", key,
		                     path);
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%s: \"%s\" is world-writable without the sticky bit: refusing to use it",
		    key, path);
	if (st.st_uid != want && (owner_must_be_uid || st.st_uid != 0))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%s: \"%s\" is owned by uid %d, not by the PostgreSQL OS user (uid %d)%s; pgwarden changes the owner only of directories it creates",
		    key, path, (int) st.st_uid, (int) want,
		    owner_must_be_uid ? "" : " or root");
	if (!writable_by(&st, want, gid == (gid_t) -1 ? getegid() : gid))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%s: \"%s\" is not writable by the PostgreSQL OS user (uid %d); pgwarden changes the owner only of directories it creates",
		    key, path, (int) want);
	return 0;
}
