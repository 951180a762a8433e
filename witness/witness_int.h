/*
 * witness_int.h: inside witness/ only: the shared page's layout and the
 * witness process's side of it (share.c), and the stream (stream.c).
 */
#ifndef PGW_WITNESS_INT_H
#define PGW_WITNESS_INT_H

#include "witness/witness.h"

#include <stdatomic.h>

#define WITNESS_SHARED_MAGIC   0x70677774u /* "pgwt" */
#define WITNESS_SHARED_VERSION 1u

/* The page. Lock-free atomics are address-free, so they work across the
 * two processes; the gate is a seqlock (gate_seq odd while written). */
typedef struct WitnessShared
{
	atomic_uint magic;
	uint32_t version;
	uint32_t size;                    /* sizeof(WitnessShared) */
	_Atomic int64_t deadline_mono_ms; /* the fences' deadline; 0: none */
	atomic_int armed;                 /* we hold the key, writable primary */
	atomic_uint wake;                 /* futex word: bumped on arm and gate */
	atomic_uint gate_seq;             /* seqlock of gate (the daemon writes) */
	atomic_uint gate_applied; /* gate_seq the witness applies (it writes) */
	WitnessGate gate;
	/* the witness's report of itself */
	atomic_int state; /* WitnessState */
	atomic_int pid;
	_Atomic uint64_t confirmed_lsn;
} WitnessShared;

_Static_assert(sizeof(WitnessShared) < 4096, "the witness page is one page");

/* What one look at the page gives the witness. */
typedef struct WitnessSnap
{
	int64_t deadline_mono_ms;
	bool armed;
	unsigned wake;
} WitnessSnap;

/* witness_share_attach: the witness maps the page on fd (checks magic,
 * version and size). 0, PGW_EIO or PGW_EINVAL. */
int witness_share_attach(int fd, PgwError *err) PGW_MUSTCHECK;

/* witness_share_read: deadline, armed flag and wake counter, now */
void witness_share_read(WitnessSnap *out);

/* witness_share_wait: sleep until the wake counter moves off seen_wake or
 * timeout_ms pass */
void witness_share_wait(unsigned seen_wake, int timeout_ms);

/* witness_share_gate_take: a newer gate than *seen, into out (then marked
 * applied: call it where no confirmation is half-computed); false when
 * there is none (or a write is in progress) */
bool witness_share_gate_take(WitnessGate *out, unsigned *seen);

/* witness_share_publish: the witness's state, for the daemon */
void witness_share_publish(WitnessState state, uint64_t confirmed_lsn);

#endif
