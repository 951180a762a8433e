/*
 * release_record.c: the record of a leader key this node gave up
 * (fast_release.h). One line in "<state_dir>/<scope>.<name>.leader-released":
 *   lease=7f3a... boot=<boot id> mono_ms=<CLOCK_MONOTONIC ms> by=fence reason=daemon-died
 * The monotonic clock counts from the boot, so a record means something only
 * in the boot that wrote it (the boot id says which). The state directory is
 * pgwarden's own, root's: the database's OS user owns the data directory and
 * may own its parent, so a file there could be planted or swapped for a
 * symlink (DESIGN.md promise 6). Every access goes through a descriptor of
 * a directory we checked, with O_NOFOLLOW.
 */
#include "daemon/fast_release.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_SUFFIX ".leader-released"
#define BOOT_ID_PATH  "/proc/sys/kernel/random/boot_id"

const char *
release_state_dir(const NodeConfig *cfg)
{
	return cfg != NULL && cfg->state_dir != NULL && cfg->state_dir[0] != '\0'
	           ? cfg->state_dir
	           : RELEASE_STATE_DIR_DEFAULT;
}

static bool
read_boot_id(char *buf, size_t len)
{
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] != '\0';
}

int
release_state_dir_open(const char *state_dir, bool create, PgwError *err)
{
	struct stat st;
	int dfd;

	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && create)
	{
		if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
			return pgw_error_set(err, PGW_EIO,
			                     "could not create state directory \"%s\": %s",
			                     state_dir, strerror(errno));
		dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (dfd < 0 && errno == ENOENT)
		return pgw_error_set(err, PGW_ENOTFOUND,
		                     "state directory \"%s\" does not exist",
		                     state_dir);
	if (dfd < 0)
		return pgw_error_set(
		    err, errno == ELOOP || errno == ENOTDIR ? PGW_EAUTH : PGW_EIO,
		    "could not open state directory \"%s\": %s", state_dir,
		    errno == ELOOP ? "it is a symlink" : strerror(errno));
	if (fstat(dfd, &st) != 0)
	{
		int e = errno;

		close(dfd);
		return pgw_error_set(err, PGW_EIO,
		                     "could not stat state directory \"%s\": %s",
		                     state_dir, strerror(e));
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
	{
		close(dfd);
		return pgw_error_set(
		    err, PGW_EAUTH,
		    "state directory \"%s\" is not trusted: owned by uid %u with mode %04o (it must belong to uid %u and be writable by it alone)",
		    state_dir, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777),
		    (unsigned) geteuid());
	}
	return dfd;
}

static void
record_name(const char *scope, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s.%s%s", scope, name, RECORD_SUFFIX);
}

/* a token of the record: no blank, no '=' or newline (a rule name, a word) */
static bool
is_token(const char *s)
{
	if (s[0] == '\0')
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p == '=' || *p > '~')
			return false;
	return true;
}

int
release_record_write(const char *state_dir, const char *scope, const char *name,
                     const ReleaseRecord *r, PgwError *err)
{
	char fname[PGW_NAME_MAX * 2 + 64];
	char tmp[sizeof(fname) + 8];
	char boot[64];
	char body[256];
	int dfd;
	int fd;
	int n;
	int rc = 0;

	if (r->lease_id == 0 || !is_token(r->by) || !is_token(r->reason))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "release record: lease, by and reason must be set (words)");
	if (!read_boot_id(boot, sizeof(boot)))
		return pgw_error_set(err, PGW_EIO, "could not read %s: %s",
		                     BOOT_ID_PATH, strerror(errno));
	n = snprintf(
	    body, sizeof(body),
	    "lease=%" PRIx64 " boot=%s mono_ms=%" PRId64 " by=%s reason=%s\n",
	    (uint64_t) r->lease_id, boot, r->released_mono_ms, r->by, r->reason);
	if (n <= 0 || (size_t) n >= sizeof(body))
		return pgw_error_set(err, PGW_EINVAL, "release record: too long");
	if ((dfd = release_state_dir_open(state_dir, false, err)) < 0)
		return dfd;
	record_name(scope, name, fname, sizeof(fname));
	snprintf(tmp, sizeof(tmp), "%s.tmp", fname);
	(void) unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0)
	{
		rc = pgw_error_set(err, PGW_EIO, "could not create \"%s/%s\": %s",
		                   state_dir, tmp, strerror(errno));
		close(dfd);
		return rc;
	}
	if (write(fd, body, (size_t) n) != n || fsync(fd) != 0 ||
	    renameat(dfd, tmp, dfd, fname) != 0)
	{
		rc = pgw_error_set(err, PGW_EIO, "could not write \"%s/%s\": %s",
		                   state_dir, fname, strerror(errno));
		(void) unlinkat(dfd, tmp, 0);
	}
	else
		(void) fsync(dfd);
	close(fd);
	close(dfd);
	return rc;
}

bool
release_record_parse(const char *line, ReleaseRecord *out, char *boot,
                     size_t boot_len, PgwError *err)
{
	char b[64];
	char by[sizeof(out->by)];
	char reason[sizeof(out->reason)];
	uint64_t lease;
	int64_t mono;
	int used = 0;

	memset(out, 0, sizeof(*out));
	if (sscanf(line,
	           "lease=%" SCNx64 " boot=%63s mono_ms=%" SCNd64
	           " by=%15s reason=%63s%n",
	           &lease, b, &mono, by, reason, &used) != 5)
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "not a record: want \"lease=HEX boot=ID mono_ms=N by=WORD reason=WORD\"");
		return false;
	}
	if (line[used] != '\0' && strcmp(line + used, "\n") != 0)
	{
		pgw_error_set(err, PGW_EINVAL,
		              "unexpected text after the reason: \"%.40s\"",
		              line + used);
		return false;
	}
	if (lease == 0 || lease > INT64_MAX || mono <= 0)
	{
		pgw_error_set(err, PGW_EINVAL,
		              "lease %" PRIx64 " or mono_ms %" PRId64 " out of range",
		              lease, mono);
		return false;
	}
	out->lease_id = (int64_t) lease;
	out->released_mono_ms = mono;
	pgw_strlcpy(out->by, by, sizeof(out->by));
	pgw_strlcpy(out->reason, reason, sizeof(out->reason));
	pgw_strlcpy(boot, b, boot_len);
	return true;
}

int
release_record_read(const char *state_dir, const char *scope, const char *name,
                    ReleaseRecord *out, PgwError *err)
{
	char fname[PGW_NAME_MAX * 2 + 64];
	char line[512];
	char boot[64];
	char rec_boot[64];
	struct stat st;
	ssize_t n;
	int dfd;
	int fd;
	PgwError perr = {0};

	memset(out, 0, sizeof(*out));
	if ((dfd = release_state_dir_open(state_dir, false, err)) < 0)
		return dfd == PGW_ENOTFOUND ? 0 : dfd;
	record_name(scope, name, fname, sizeof(fname));
	fd = openat(dfd, fname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return pgw_error_set(err, errno == ELOOP ? PGW_EAUTH : PGW_EIO,
		                     "could not open \"%s/%s\": %s", state_dir, fname,
		                     errno == ELOOP ? "it is a symlink"
		                                    : strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
	{
		close(fd);
		return pgw_error_set(
		    err, PGW_EAUTH,
		    "\"%s/%s\" is not trusted: not a regular file of uid %u writable by it alone",
		    state_dir, fname, (unsigned) geteuid());
	}
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 0)
		return pgw_error_set(err, PGW_EIO, "could not read \"%s/%s\": %s",
		                     state_dir, fname, strerror(errno));
	line[n] = '\0';
	if (!release_record_parse(line, out, rec_boot, sizeof(rec_boot), &perr))
		return pgw_error_set(err, PGW_EINVAL, "\"%s/%s\": %s", state_dir, fname,
		                     perr.msg);
	if (!read_boot_id(boot, sizeof(boot)))
		return pgw_error_set(err, PGW_EIO, "could not read %s: %s",
		                     BOOT_ID_PATH, strerror(errno));
	if (strcmp(boot, rec_boot) != 0)
	{
		memset(out, 0, sizeof(*out));
		return 0; /* another boot: its clock means nothing now */
	}
	return 1;
}

/* ---- the daemon's copy --------------------------------------------------- */

static bool facts_read;
static ReleaseRecord facts;

void
release_facts(const NodeConfig *cfg, int64_t *lease_id,
              int64_t *released_mono_ms)
{
	if (!facts_read)
	{
		const char *dir = release_state_dir(cfg);
		PgwError err = {0};
		int fd;
		int rc;

		facts_read = true;
		/* created here, at the first turn, so the watchdog finds it */
		if ((fd = release_state_dir_open(dir, true, &err)) < 0)
			log_error("release.state-dir",
			          "detail=\"%s\" action=no-release-record", err.msg);
		else
		{
			close(fd);
			rc = release_record_read(dir, cfg->scope, cfg->name, &facts, &err);
			if (rc < 0)
			{
				log_error("release.record-unreadable",
				          "detail=\"%s\" action=ignored", err.msg);
				memset(&facts, 0, sizeof(facts));
			}
			else if (rc == 1)
				log_info("release.record",
				         "lease=%" PRIx64 " ago_ms=%" PRId64 " by=%s reason=%s",
				         (uint64_t) facts.lease_id,
				         pgw_now_mono_ms() - facts.released_mono_ms, facts.by,
				         facts.reason);
		}
	}
	*lease_id = facts.lease_id;
	*released_mono_ms = facts.released_mono_ms;
}

void
release_forget(const NodeConfig *cfg, const char *leader)
{
	char fname[PGW_NAME_MAX * 2 + 64];
	PgwError err = {0};
	int dfd;

	if (facts.lease_id == 0)
		return;
	log_info("release.record-cleared", "lease=%" PRIx64 " leader=%s",
	         (uint64_t) facts.lease_id, leader);
	memset(&facts, 0, sizeof(facts));
	facts_read = true;
	if ((dfd = release_state_dir_open(release_state_dir(cfg), false, &err)) < 0)
		return;
	record_name(cfg->scope, cfg->name, fname, sizeof(fname));
	if (unlinkat(dfd, fname, 0) != 0 && errno != ENOENT)
		log_warn("release.record-failed",
		         "detail=\"could not remove %s/%s: %s\"",
		         release_state_dir(cfg), fname, strerror(errno));
	close(dfd);
}

void
release_noted(const NodeConfig *cfg, int64_t lease_id, const char *reason)
{
	ReleaseRecord r = {0};
	PgwError err = {0};

	if (lease_id == 0)
		return;
	r.lease_id = lease_id;
	r.released_mono_ms = pgw_now_mono_ms();
	pgw_strlcpy(r.by, "daemon", sizeof(r.by));
	pgw_strlcpy(r.reason, reason, sizeof(r.reason));
	facts = r;
	facts_read = true;
	if (release_record_write(release_state_dir(cfg), cfg->scope, cfg->name, &r,
	                         &err) != 0)
		log_warn("release.record-failed", "detail=\"%s\"", err.msg);
}
