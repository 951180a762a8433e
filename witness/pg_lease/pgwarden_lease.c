/*
 * pgwarden_lease.c: PostgreSQL's side of lease-checked commits (issue 19),
 * loaded into every session (session_preload_libraries, written by the
 * daemon when `lease_checked_commits` is on). Its transaction callback runs
 * at XACT_EVENT_COMMIT, which CommitTransaction() calls after
 * RecordTransactionCommit() (the WAL flush and the synchronous-replication
 * wait, where the lease witness answers) and before the caller sends
 * CommandComplete: the last moment a check can run before the client hears
 * "committed". It acknowledges a commit that wrote only while the daemon's
 * commit page (lease_page.h) says this node is armed and its fencing
 * deadline is in the future, on CLOCK_MONOTONIC read at that moment.
 *
 * Otherwise it waits, as a synchronous commit waits for its standby: a
 * daemon that renews the lease lets it through; a daemon that lost the
 * lease stops PostgreSQL, and the termination (or a cancel, or the
 * postmaster's death) ends the wait with the acknowledgement suppressed
 * (whereToSendOutput = DestNone, as syncrep.c does) and the connection
 * closed: the commit is durable here but the client never hears of it. So a
 * backend frozen past the deadline after the witness confirmed its flush
 * (the in-flight window the witness alone leaves), and a session that set
 * synchronous_commit to local or off (which never waits for the witness),
 * are both held. Only a superuser can turn the check off for a session
 * (pgwarden_lease.enforce, PGC_SUSET): pgwarden does, to create the
 * replication role at bootstrap, before any lease exists.
 *
 * Read-only transactions and everything but client backends pass
 * unchecked: they acknowledge no write. The page is mapped read-only;
 * nothing here writes outside this backend.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

#include "witness/lease_page.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

PG_MODULE_MAGIC;

void _PG_init(void);

#define WAIT_STEP_MS   10
#define REOPEN_STEP_MS 100

static char *page_path = NULL;
static bool check_on = true;
static LeasePage *page;
static dev_t page_dev;
static ino_t page_ino;
static char why[256];

static int64
now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
page_unmap(void)
{
	if (page != NULL)
		munmap(page, sizeof(LeasePage));
	page = NULL;
}

/* page_map: map pgwarden_lease.page read-only; false with why set */
static bool
page_map(void)
{
	struct stat st;
	void *p;
	int fd;

	if (page_path == NULL || page_path[0] == '\0')
	{
		snprintf(why, sizeof(why), "pgwarden_lease.page is not set");
		return false;
	}
	fd = open(page_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		snprintf(why, sizeof(why), "could not open the commit page \"%s\": %s",
		         page_path, strerror(errno));
		return false;
	}
	/* a page that another user could write would let it lift the check;
	 * a short one would be SIGBUS on the first read past its end */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    st.st_size != (off_t) sizeof(LeasePage))
	{
		snprintf(
		    why, sizeof(why),
		    "the commit page \"%s\" is not a %zu-byte file writable by its owner alone",
		    page_path, sizeof(LeasePage));
		close(fd);
		return false;
	}
	p = mmap(NULL, sizeof(LeasePage), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
	{
		snprintf(why, sizeof(why), "could not map the commit page \"%s\": %s",
		         page_path, strerror(errno));
		return false;
	}
	page = p;
	if (atomic_load(&page->magic) != LEASE_PAGE_MAGIC ||
	    page->version != LEASE_PAGE_VERSION || page->size != sizeof(LeasePage))
	{
		snprintf(
		    why, sizeof(why),
		    "\"%s\" is not a commit page of this version (rebuild pgwarden_lease with the daemon)",
		    page_path);
		page_unmap();
		return false;
	}
	page_dev = st.st_dev;
	page_ino = st.st_ino;
	return true;
}

/* page_replaced: the daemon started again and renamed a new page in */
static bool
page_replaced(void)
{
	struct stat st;

	return stat(page_path, &st) != 0 || st.st_dev != page_dev ||
	       st.st_ino != page_ino;
}

/* lease_holds: may this commit be acknowledged now? false with why set */
static bool
lease_holds(void)
{
	int64 deadline;

	if (page == NULL && !page_map())
		return false;
	if (atomic_load(&page->armed) != 1)
	{
		snprintf(
		    why, sizeof(why),
		    "this node does not hold the leader key with a writable primary");
		return false;
	}
	deadline = atomic_load(&page->deadline_mono_ms);
	if (deadline <= 0 || now_mono_ms() >= deadline)
	{
		snprintf(why, sizeof(why),
		         "the leader lease's fencing deadline has passed");
		return false;
	}
	return true;
}

/* refuse: the commit stands here, its acknowledgement never leaves */
static void
refuse(TransactionId xid, const char *cause)
{
	ereport(
	    WARNING,
	    (errcode(ERRCODE_ADMIN_SHUTDOWN),
	     errmsg(
	         "pgwarden_lease: terminating connection without acknowledging the commit of transaction %u: %s (%s)",
	         xid, cause, why),
	     errdetail(
	         "The transaction has already committed locally, but this node may no longer be the primary: it may be lost.")));
	whereToSendOutput = DestNone;
	QueryCancelPending = false;
	ProcDiePending = true;
	InterruptPending = true;
}

static void
commit_check(XactEvent event, void *arg)
{
	TransactionId xid;
	int64 reopen_at;
	bool logged = false;

	(void) arg;
	if (event != XACT_EVENT_COMMIT || !check_on || MyBackendType != B_BACKEND ||
	    whereToSendOutput != DestRemote)
		return;
	/* pgwarden writes the page's name with the library; a session that
	 * loaded it before lease_checked_commits was turned off reads the
	 * setting gone after the reload: checking stops with the rest */
	if (page_path == NULL || page_path[0] == '\0')
		return;
	xid = GetTopTransactionIdIfAny();
	if (!TransactionIdIsValid(xid))
		return; /* it wrote nothing */
	if (lease_holds())
		return;
	reopen_at = now_mono_ms() + REOPEN_STEP_MS;
	for (;;)
	{
		int rc;

		if (!logged)
		{
			ereport(
			    LOG,
			    (errmsg(
			        "pgwarden_lease: the commit of transaction %u waits for the leader lease: %s",
			        xid, why)));
			logged = true;
		}
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
		               WAIT_STEP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ProcDiePending)
		{
			refuse(xid, "the server is stopping it");
			return;
		}
		if (QueryCancelPending)
		{
			refuse(xid, "it was canceled while waiting for the lease");
			return;
		}
		if (rc & WL_POSTMASTER_DEATH)
		{
			refuse(xid, "the postmaster died");
			return;
		}
		if (now_mono_ms() >= reopen_at)
		{
			if (page == NULL || page_replaced())
				page_unmap();
			reopen_at = now_mono_ms() + REOPEN_STEP_MS;
		}
		if (lease_holds())
		{
			ereport(
			    LOG,
			    (errmsg(
			        "pgwarden_lease: the commit of transaction %u is acknowledged: the lease holds again",
			        xid)));
			return;
		}
	}
}

void
_PG_init(void)
{
	DefineCustomStringVariable(
	    "pgwarden_lease.page",
	    "The daemon's commit page (written by pgwarden).", NULL, &page_path, "",
	    PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
	    "pgwarden_lease.enforce",
	    "Acknowledge a commit only while this node holds the leader lease.",
	    "Only a superuser can turn it off.", &check_on, true, PGC_SUSET, 0,
	    NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgwarden_lease");
	RegisterXactCallback(commit_check, NULL);
}
