/*
 * safefs.h: files a root process creates, rewrites, appends to, reads or
 * removes in directories another user controls: the data directory, the
 * directory beside it, the socket directory, the router's output
 * directories (DESIGN.md promise 6; STYLE.md "Files a root process
 * touches beside the database"). Every call works relative to a directory
 * descriptor, never follows a symbolic link in the last component, creates
 * under a random temporary name with O_EXCL, changes owner and mode only
 * on its own descriptor, and refuses FIFOs, devices and hard-linked files
 * where a regular file is expected. A path whose type changed between a
 * look and an act is an error, never a retry.
 */
#ifndef PGW_COMMON_SAFEFS_H
#define PGW_COMMON_SAFEFS_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* "no change of owner" for the uid/gid arguments below */
#define PGW_NO_OWNER ((uid_t) -1)

/*
 * pgw_path_split: the directory ("." when none, "/" for a top-level name)
 * and the last component of path (no trailing slash allowed). Returns 0 or
 * PGW_EINVAL (empty, too long, ends in '/', "." or "..").
 */
int pgw_path_split(const char *path, char *dir, size_t dir_len, char *base,
                   size_t base_len) PGW_MUSTCHECK;

/*
 * pgw_dir_open: open path as a directory. With owner != PGW_NO_OWNER the
 * directory (after symlinks in the path, which are the operator's) must be
 * owned by that user: a data directory the PostgreSQL user redirected to
 * a directory of root's is refused. Returns a descriptor (O_CLOEXEC) or -1
 * with err filled.
 */
int pgw_dir_open(const char *path, uid_t owner, PgwError *err);

/*
 * pgw_write_at: replace dirfd/name with data, atomically: a temporary
 * ".name.pgw-XXXXXXXXXXXXXXXX" (random) is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, written, given mode and (uid != PGW_NO_OWNER)
 * owner on its descriptor, fsynced and renamed over name (a symlink or a
 * file there is replaced, never followed), then the directory is fsynced.
 * Returns 0 or PGW_EIO / PGW_EINVAL with err naming the file.
 */
int pgw_write_at(int dirfd, const char *name, const void *data, size_t len,
                 mode_t mode, uid_t uid, gid_t gid,
                 PgwError *err) PGW_MUSTCHECK;

/* pgw_write_file: pgw_write_at in the directory of path. */
int pgw_write_file(const char *path, const void *data, size_t len, mode_t mode,
                   uid_t uid, gid_t gid, PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_create_at: create dirfd/name empty with O_EXCL|O_NOFOLLOW (a stale
 * file of that name is removed first, a symlink as a link), owner and mode
 * set on the descriptor. For signal files (promote). Returns 0 or PGW_EIO.
 */
int pgw_create_at(int dirfd, const char *name, mode_t mode, uid_t uid,
                  gid_t gid, PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_open_append: a descriptor (O_WRONLY|O_APPEND|O_CLOEXEC) on path. A
 * new file is created with O_EXCL|O_NOFOLLOW and then given uid/gid and
 * mode; an existing one must be a regular file with one link, owned by uid
 * or by root, and is opened with O_NOFOLLOW and left as it is (never
 * chowned). A symlink, FIFO, device, hard-linked or foreign file is refused.
 * Returns the descriptor or -1 with err filled.
 */
int pgw_open_append(const char *path, mode_t mode, uid_t uid, gid_t gid,
                    PgwError *err);

/*
 * pgw_open_read_at / pgw_open_read: a read-only descriptor on a regular
 * file, opened with O_NOFOLLOW|O_NONBLOCK (a FIFO planted there cannot
 * block the daemon) and checked with fstat. dirfd may be AT_FDCWD. Returns
 * the descriptor or -1 (errno set: ENOENT when absent, ELOOP for a
 * symlink, EINVAL for anything but a regular file).
 */
int pgw_open_read_at(int dirfd, const char *name);
int pgw_open_read(const char *path);

/* pgw_fopen_read: pgw_open_read as a FILE ("re"); NULL with errno set. */
FILE *pgw_fopen_read(const char *path);

/*
 * pgw_read_file: the whole regular file path (pgw_open_read rules), at
 * most max bytes, NUL-terminated, caller frees. Returns 0, PGW_ENOTFOUND,
 * PGW_EINVAL (too large, not a regular file, a symlink) or PGW_EIO.
 */
int pgw_read_file(const char *path, size_t max, char **out, size_t *len,
                  PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_unlink: remove the last component of path (a symlink as a link) in
 * its directory; absent is success. Returns 0 or PGW_EIO.
 */
int pgw_unlink(const char *path, PgwError *err);

/*
 * pgw_dir_clear: remove everything inside the directory path (which stays)
 * by an openat/unlinkat walk that never follows a symlink (a link is
 * removed as a link) and never leaves the directory's file system; a
 * directory swapped for something else during the walk stops it with an
 * error. pgw_rmtree removes path itself too. Return 0 or PGW_EIO.
 */
int pgw_dir_clear(const char *path, PgwError *err) PGW_MUSTCHECK;
int pgw_rmtree(const char *path, PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_dir_ensure: make sure the directory path exists for user uid/gid. A
 * directory created here gets uid/gid and mode (on its descriptor); an
 * existing one is never chowned or chmodded (security review F5): it is
 * refused, with key (the configuration key, e.g. "postgresql.socket_dir")
 * in the message, when it is a symlink or not a directory, when it is
 * world-writable without the sticky bit, when its owner is neither uid nor
 * root (with owner_must_be_uid: not uid), or when uid cannot write in it.
 * Returns 0 or PGW_EINVAL / PGW_EIO.
 */
int pgw_dir_ensure(const char *path, mode_t mode, uid_t uid, gid_t gid,
                   bool owner_must_be_uid, const char *key,
                   PgwError *err) PGW_MUSTCHECK;

#endif
