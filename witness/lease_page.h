/*
 * lease_page.h: the commit page, the one structure shared by the daemon
 * (root, writer: witness/commit_page.c) and the PostgreSQL backends that
 * check every commit against the lease (reader, read-only mapping:
 * witness/pg_lease/pgwarden_lease.c). An ABI between two programs built
 * from this tree, so it stands alone (no other header of ours): fixed-width
 * fields and lock-free atomics, which are address-free and so work across
 * processes. A commit may be acknowledged only while armed is 1 and
 * CLOCK_MONOTONIC (ms) is before deadline_mono_ms: the same rule as the
 * lease witness's (witness_may_confirm), fed by the same calls.
 */
#ifndef PGW_WITNESS_LEASE_PAGE_H
#define PGW_WITNESS_LEASE_PAGE_H

#include <stdatomic.h>
#include <stdint.h>

#define LEASE_PAGE_MAGIC   0x70676c70u /* "pglp" */
#define LEASE_PAGE_VERSION 1u
#define LEASE_PAGE_SUFFIX  ".lease"

typedef struct LeasePage
{
	atomic_uint magic; /* stored last: a reader that sees it sees the rest */
	uint32_t version;
	uint32_t size;                    /* sizeof(LeasePage) */
	uint32_t writer_pid;              /* the daemon that feeds it */
	_Atomic int64_t deadline_mono_ms; /* the fences' deadline; 0: none */
	atomic_int armed;                 /* we hold the key, writable primary */
} LeasePage;

#endif
