/*
 * lease_holder.c: may a restarted daemon take back a leader key that still
 * holds its name on an earlier lease (rules.c, stale-own-leader-key-
 * takeover)? Only when it can prove that the process which kept that lease
 * alive is gone. A pod force-deleted and re-created (issue 16;
 * patroni/patroni#1872) has the same member name, but its predecessor may
 * still run on a node cut off from the API server, keeping the lease alive
 * and its PostgreSQL writable: taking the key then would make two primaries.
 *
 * The proof: at each lease grant the daemon records, beside the data
 * directory (DATA_DIR.pgwarden-lease), the lease and the identity of the
 * process holding it: the boot (/proc/sys/kernel/random/boot_id), its PID
 * namespace and its PID with the process's start time. At start, the record
 * proves the holder gone when it names this boot and this PID namespace and
 * that PID no longer runs the process that wrote it: a daemon restarted on
 * the same host (systemd) keeps its quick takeover. A new container has a
 * new PID namespace, from which its predecessor cannot be seen: no proof,
 * so it waits for the old lease to expire and rejoins through a normal
 * election, as a replica unless it is then the best candidate.
 */
#include "daemon/k8s_views.h"

#include "common/log.h"
#include "common/safefs.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD_NAME_SUFFIX ".pgwarden-lease"

static int64_t proven_lease; /* decided once, at the first call */
static bool decided;

/* split data_dir into its parent directory and the record's file name */
static bool
record_location(const char *data_dir, char *parent, size_t plen, char *name,
                size_t nlen)
{
	char d[4096];
	size_t n;
	char *slash;

	if (data_dir == NULL || strlen(data_dir) >= sizeof(d))
		return false;
	pgw_strlcpy(d, data_dir, sizeof(d));
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';
	slash = strrchr(d, '/');
	if (slash == NULL)
	{
		pgw_strlcpy(parent, ".", plen);
		snprintf(name, nlen, "%s%s", d, RECORD_NAME_SUFFIX);
	}
	else
	{
		*slash = '\0';
		pgw_strlcpy(parent, slash == d ? "/" : d, plen);
		snprintf(name, nlen, "%s%s", slash + 1, RECORD_NAME_SUFFIX);
	}
	return true;
}

static bool
read_line(const char *path, char *buf, size_t len)
{
	FILE *f = pgw_fopen_read(path); /* no symlink, no FIFO */
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, (int) len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* this process's identity: boot, PID namespace, pid, start time */
static bool
identity(char *boot, size_t blen, char *pidns, size_t nlen, long *pid,
         unsigned long long *start)
{
	char stat[1024];
	char *rp;
	ssize_t n;

	if (!read_line("/proc/sys/kernel/random/boot_id", boot, blen))
		return false;
	if ((n = readlink("/proc/self/ns/pid", pidns, nlen - 1)) <= 0)
		return false;
	pidns[n] = '\0';
	*pid = (long) getpid();
	if (!read_line("/proc/self/stat", stat, sizeof(stat)) ||
	    (rp = strrchr(stat, ')')) == NULL ||
	    sscanf(
	        rp + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
	        start) != 1)
		return false;
	return true;
}

/* start time of pid in our namespace, 0 when it does not run */
static unsigned long long
start_time_of(long pid)
{
	char path[64];
	char stat[1024];
	char *rp;
	unsigned long long st = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!read_line(path, stat, sizeof(stat)) ||
	    (rp = strrchr(stat, ')')) == NULL ||
	    sscanf(
	        rp + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
	        &st) != 1)
		return 0;
	return st;
}

void
lease_holder_record(const char *data_dir, int64_t lease_id)
{
	char parent[4096];
	char name[300];
	char boot[64];
	char pidns[64];
	char body[400];
	long pid;
	unsigned long long start;
	int n;

	if (lease_id == 0 ||
	    !record_location(data_dir, parent, sizeof(parent), name,
	                     sizeof(name)) ||
	    !identity(boot, sizeof(boot), pidns, sizeof(pidns), &pid, &start))
		return;
	n = snprintf(body, sizeof(body),
	             "lease=%" PRIx64 " boot=%s pidns=%s pid=%ld start=%llu\n",
	             (uint64_t) lease_id, boot, pidns, pid, start);
	/* beside a directory the database's user may own: no symlink followed,
	 * a fresh file renamed into place (DESIGN.md promise 6) */
	{
		char path[4400];
		PgwError err = {0};

		snprintf(path, sizeof(path), "%s/%s", parent, name);
		if (pgw_write_file(path, body, (size_t) n, 0600, PGW_NO_OWNER, 0,
		                   &err) != 0)
			log_warn("lease.record-failed", "dir=%s detail=\"%s\"", parent,
			         err.msg);
	}
}

int64_t
lease_holder_proven(const char *data_dir)
{
	char parent[4096];
	char name[300];
	char path[4400];
	char line[512];
	char boot[64];
	char pidns[64];
	char r_boot[64];
	char r_pidns[64];
	long pid;
	long r_pid;
	unsigned long long start;
	unsigned long long r_start;
	uint64_t lease;
	const char *why = NULL;

	if (decided)
		return proven_lease;
	decided = true;
	if (!record_location(data_dir, parent, sizeof(parent), name, sizeof(name)))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", parent, name);
	if (!read_line(path, line, sizeof(line)))
		return 0; /* no earlier lease recorded here */
	if (sscanf(line,
	           "lease=%" SCNx64 " boot=%63s pidns=%63s pid=%ld start=%llu",
	           &lease, r_boot, r_pidns, &r_pid, &r_start) != 5)
		why = "the record is not readable";
	else if (!identity(boot, sizeof(boot), pidns, sizeof(pidns), &pid, &start))
		why = "this process's identity is not readable";
	else if (strcmp(boot, r_boot) != 0)
		why = "it was granted before the last boot";
	else if (strcmp(pidns, r_pidns) != 0)
		why =
		    "it was granted in another PID namespace (another container), whose processes cannot be seen from here";
	else if (r_pid != pid && start_time_of(r_pid) == r_start)
		why = "the process that holds it still runs";
	if (why != NULL)
	{
		log_info("lease.holder-unproven",
		         "record=%s detail=\"%s\" action=wait-for-expiry", path, why);
		return 0;
	}
	proven_lease = (int64_t) lease;
	log_info("lease.holder-gone",
	         "lease=%" PRIx64
	         " detail=\"the process that held it no longer runs\"",
	         lease);
	return proven_lease;
}
