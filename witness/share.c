/*
 * share.c: the page the daemon shares with its witness process (witness.h).
 * A memfd, so the witness (started by fork and exec, never a fork of a
 * threaded daemon running our code) maps the same memory from fd 3. The
 * daemon writes the fencing deadline there from the same calls that move
 * the fences' deadline (fence.c), so a frozen or hung daemon stops moving
 * it and the witness stops confirming at the same instant the fences act.
 * Lock-free atomics only: the etcd client's thread raises the deadline.
 */
#include "witness/witness_int.h"

#include "common/pgwtime.h"
#include "witness/lease_page.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static WitnessShared *shm;
static int shm_fd = -1;
static LeasePage *cpage; /* the commit page, when one was created */

static void
futex_wake(atomic_uint *word)
{
	(void) syscall(SYS_futex, (unsigned int *) word, FUTEX_WAKE, 1 << 30, NULL,
	               NULL, 0);
}

static void
bump(void)
{
	atomic_fetch_add(&shm->wake, 1);
	futex_wake(&shm->wake);
}

int
witness_share_create(PgwError *err)
{
	int fd;
	void *p;

	if (shm != NULL)
		return 0;
	fd = memfd_create("pgwarden-witness", MFD_CLOEXEC);
	if (fd < 0)
		return pgw_error_set(
		    err, PGW_EIO, "could not create the witness page: memfd_create: %s",
		    strerror(errno));
	if (ftruncate(fd, sizeof(WitnessShared)) != 0)
	{
		int e = errno;

		close(fd);
		return pgw_error_set(
		    err, PGW_EIO, "could not size the witness page: %s", strerror(e));
	}
	p = mmap(NULL, sizeof(WitnessShared), PROT_READ | PROT_WRITE, MAP_SHARED,
	         fd, 0);
	if (p == MAP_FAILED)
	{
		int e = errno;

		close(fd);
		return pgw_error_set(err, PGW_EIO, "could not map the witness page: %s",
		                     strerror(e));
	}
	shm = p;
	shm_fd = fd;
	memset(shm, 0, sizeof(*shm));
	shm->version = WITNESS_SHARED_VERSION;
	shm->size = (uint32_t) sizeof(WitnessShared);
	atomic_store(&shm->magic, WITNESS_SHARED_MAGIC);
	return 0;
}

int
witness_share_fd(void)
{
	return shm_fd;
}

int
witness_share_attach(int fd, PgwError *err)
{
	struct stat st;
	void *p;
	WitnessShared *s;

	if (fstat(fd, &st) != 0)
		return pgw_error_set(err, PGW_EIO, "witness page on fd %d: %s", fd,
		                     strerror(errno));
	if (st.st_size != (off_t) sizeof(WitnessShared))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "witness page on fd %d has %lld bytes, not %zu (another pgwarden version?)",
		    fd, (long long) st.st_size, sizeof(WitnessShared));
	p = mmap(NULL, sizeof(WitnessShared), PROT_READ | PROT_WRITE, MAP_SHARED,
	         fd, 0);
	if (p == MAP_FAILED)
		return pgw_error_set(err, PGW_EIO, "could not map the witness page: %s",
		                     strerror(errno));
	s = p;
	if (atomic_load(&s->magic) != WITNESS_SHARED_MAGIC ||
	    s->version != WITNESS_SHARED_VERSION ||
	    s->size != sizeof(WitnessShared))
	{
		munmap(p, sizeof(WitnessShared));
		return pgw_error_set(err, PGW_EINVAL,
		                     "fd %d is not a witness page of this version", fd);
	}
	shm = s;
	shm_fd = fd;
	return 0;
}

static void
raise_to(_Atomic int64_t *word, int64_t deadline_mono_ms)
{
	int64_t cur = atomic_load(word);

	while (deadline_mono_ms > cur &&
	       !atomic_compare_exchange_weak(word, &cur, deadline_mono_ms))
		;
}

void
witness_share_set_deadline(int64_t deadline_mono_ms)
{
	if (cpage != NULL)
		atomic_store(&cpage->deadline_mono_ms, deadline_mono_ms);
	if (shm != NULL)
		atomic_store(&shm->deadline_mono_ms, deadline_mono_ms);
}

void
witness_share_raise_deadline(int64_t deadline_mono_ms)
{
	if (cpage != NULL)
		raise_to(&cpage->deadline_mono_ms, deadline_mono_ms);
	if (shm != NULL)
		raise_to(&shm->deadline_mono_ms, deadline_mono_ms);
}

void
witness_share_arm(bool armed)
{
	if (cpage != NULL)
		atomic_store(&cpage->armed, armed ? 1 : 0);
	if (shm == NULL)
		return;
	if (atomic_exchange(&shm->armed, armed ? 1 : 0) != (armed ? 1 : 0))
		bump();
}

/*
 * A fresh file each start, renamed over the last one: the file a backend
 * has mapped is never truncated under it (a read past its end would be
 * SIGBUS in PostgreSQL), and a backend still on an older daemon's page sees
 * that page's last deadline pass and opens the new one.
 */
int
witness_commit_page_create(int dfd, const char *fname, PgwError *err)
{
	char tmp[256];
	LeasePage *p;
	int fd;

	if (cpage != NULL)
		return 0;
	if ((size_t) snprintf(tmp, sizeof(tmp), "%s.new", fname) >= sizeof(tmp))
		return pgw_error_set(err, PGW_EINVAL, "commit page name too long");
	if (unlinkat(dfd, tmp, 0) != 0 && errno != ENOENT)
		return pgw_error_set(err, PGW_EIO, "could not remove \"%s\": %s", tmp,
		                     strerror(errno));
	fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0644);
	if (fd < 0)
		return pgw_error_set(err, PGW_EIO, "could not create \"%s\": %s", tmp,
		                     strerror(errno));
	/* readable by the PostgreSQL user whatever our umask; writable by us */
	if (fchmod(fd, 0644) != 0 || ftruncate(fd, sizeof(LeasePage)) != 0)
	{
		int e = errno;

		close(fd);
		(void) unlinkat(dfd, tmp, 0);
		return pgw_error_set(err, PGW_EIO, "could not size \"%s\": %s", tmp,
		                     strerror(e));
	}
	p = mmap(NULL, sizeof(LeasePage), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	         0);
	close(fd);
	if (p == MAP_FAILED)
	{
		int e = errno;

		(void) unlinkat(dfd, tmp, 0);
		return pgw_error_set(err, PGW_EIO, "could not map \"%s\": %s", tmp,
		                     strerror(e));
	}
	p->version = LEASE_PAGE_VERSION;
	p->size = (uint32_t) sizeof(LeasePage);
	p->writer_pid = (uint32_t) getpid();
	atomic_store(&p->deadline_mono_ms,
	             shm != NULL ? atomic_load(&shm->deadline_mono_ms) : 0);
	atomic_store(&p->armed, shm != NULL ? atomic_load(&shm->armed) : 0);
	atomic_store(&p->magic, LEASE_PAGE_MAGIC);
	if (renameat(dfd, tmp, dfd, fname) != 0)
	{
		int e = errno;

		munmap(p, sizeof(LeasePage));
		(void) unlinkat(dfd, tmp, 0);
		return pgw_error_set(err, PGW_EIO, "could not rename \"%s\": %s", tmp,
		                     strerror(e));
	}
	cpage = p;
	return 0;
}

int
witness_share_set_gate(const WitnessGate *g, int timeout_ms, PgwError *err)
{
	unsigned gen;
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;

	if (shm == NULL)
		return g->k > 0
		           ? pgw_error_set(
		                 err, PGW_ESTATE,
		                 "no lease witness page to publish the quorum gate on")
		           : 0;
	/* seqlock: odd while the gate is being written */
	atomic_fetch_add(&shm->gate_seq, 1);
	atomic_thread_fence(memory_order_release);
	memcpy((void *) &shm->gate, g, sizeof(*g));
	atomic_thread_fence(memory_order_release);
	gen = atomic_fetch_add(&shm->gate_seq, 1) + 1;
	bump();
	if (timeout_ms <= 0)
		return 0;
	for (;;)
	{
		if ((int) (atomic_load(&shm->gate_applied) - gen) >= 0)
			return 0;
		if (pgw_now_mono_ms() >= deadline)
			return pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "the lease witness did not take the quorum gate within %d ms (is it running?)",
			    timeout_ms);
		pgw_sleep_ms(2);
	}
}

bool
witness_share_gate_take(WitnessGate *out, unsigned *seen)
{
	unsigned s1, s2;
	WitnessGate g;

	/* one try: a writer caught half way (or frozen there) is read again on
	 * the next turn, and the gate in force stays the old one meanwhile */
	s1 = atomic_load(&shm->gate_seq);
	if (s1 == *seen || (s1 & 1))
		return false;
	atomic_thread_fence(memory_order_acquire);
	memcpy(&g, (const void *) &shm->gate, sizeof(g));
	atomic_thread_fence(memory_order_acquire);
	s2 = atomic_load(&shm->gate_seq);
	if (s1 != s2)
		return false;
	if (g.n_names < 0 || g.n_names > WITNESS_GATE_NAMES_MAX)
		g.n_names = 0;
	for (int i = 0; i < g.n_names; i++)
		g.names[i][WITNESS_GATE_NAME_LEN - 1] = '\0';
	*out = g;
	*seen = s1;
	atomic_store(&shm->gate_applied, s1);
	return true;
}

void
witness_share_read(WitnessSnap *out)
{
	out->deadline_mono_ms = atomic_load(&shm->deadline_mono_ms);
	out->armed = atomic_load(&shm->armed) != 0;
	out->wake = atomic_load(&shm->wake);
}

void
witness_share_wait(unsigned seen_wake, int timeout_ms)
{
	struct timespec ts;

	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long) (timeout_ms % 1000) * 1000000L;
	(void) syscall(SYS_futex, (unsigned int *) &shm->wake, FUTEX_WAIT,
	               seen_wake, &ts, NULL, 0);
}

void
witness_share_publish(WitnessState state, uint64_t confirmed_lsn)
{
	atomic_store(&shm->state, (int) state);
	atomic_store(&shm->confirmed_lsn, confirmed_lsn);
	atomic_store(&shm->pid, (int) getpid());
}

void
witness_share_report(WitnessReport *out)
{
	memset(out, 0, sizeof(*out));
	if (shm == NULL)
		return;
	out->state = (WitnessState) atomic_load(&shm->state);
	out->confirmed_lsn = atomic_load(&shm->confirmed_lsn);
	out->pid = atomic_load(&shm->pid);
}

const char *
witness_state_name(WitnessState s)
{
	switch (s)
	{
		case WITNESS_IDLE:
			return "idle";
		case WITNESS_CONNECTING:
			return "connecting";
		case WITNESS_STREAMING:
			return "streaming";
		case WITNESS_REFUSING:
			return "refusing";
		case WITNESS_FAILING:
			return "failing";
	}
	return "unknown";
}
