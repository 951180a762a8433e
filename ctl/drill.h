/*
 * drill.h: `pgwardenctl drill` (DESIGN.md "The promises", notes R5): the
 * kinds of drill an operator may run against a live cluster without root on
 * the operator's machine, and the pure parts (per-round figures and the
 * report) that are unit-tested without a cluster. cmd_drill.c runs them.
 */
#ifndef PGW_CTL_DRILL_H
#define PGW_CTL_DRILL_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_DRILL_ROUNDS_MAX 100

typedef enum CtlDrillKind
{
	CTL_DRILL_SWITCHOVER = 0, /* planned hand-over through the failover key */
	CTL_DRILL_KILL_POSTGRES,  /* SIGKILL the primary's postmaster (SQL) */
	CTL_DRILL_STOP_DAEMON,    /* an operator-supplied command stops it */
} CtlDrillKind;

/*
 * ctl_drill_kind_parse: "switchover", "kill-postgres" or "stop-daemon" into
 * *out (may be NULL: only check). 0 or PGW_EINVAL.
 */
int ctl_drill_kind_parse(const char *s, CtlDrillKind *out);

/* ctl_drill_kind_name: the name of a kind, as parsed. */
const char *ctl_drill_kind_name(CtlDrillKind k);

/*
 * One round's figures; times are ms, -1 when not measured. Nothing here is
 * a threshold: RTO and downtime come from the acknowledged writes, rejoin
 * from the cluster and its PostgreSQL instances.
 */
typedef struct CtlDrillRound
{
	int round; /* 1-based */
	char old_primary[64];
	char new_primary[64];   /* "" when no primary came back */
	int64_t fault_wall_ms;  /* wall clock at the fault (cross-checks) */
	int64_t rto_ms;         /* fault -> the acknowledged write that
								 * ended the longest gap */
	int64_t downtime_ms;    /* that gap: from the last acknowledged
								 * write before it */
	int64_t acked;          /* writes acknowledged during the round */
	int64_t lost;           /* acknowledged but missing afterwards
								 * (-1: the check did not run) */
	int64_t rejoin_ms;      /* fault -> every member running, every
								 * replica streaming from the primary on
								 * its timeline, writes acknowledged (-1:
								 * not within the budget) */
	int64_t split_instants; /* overlapping pairs of write runs of two
								 * members (drill_split.c); -1: the
								 * split-brain watch did not run */
	int64_t split_worst_ms; /* the longest of those overlaps */
	char split_pair[136];   /* its members: "a and b" */
	bool broken;            /* the round itself failed (fault not
								 * injected, cluster unfit): note says why */
	bool ok;                /* ctl_drill_judge */
	char note[320];         /* why not ok, or what was seen */
} CtlDrillRound;

/*
 * ctl_drill_gap: from the acknowledged write times (monotonic ms, sorted;
 * the slice may begin with acks before the fault) and the fault time: the
 * longest interval between consecutive acknowledged writes that ends after
 * the fault, measured from the last ack before it (from the fault when
 * there is none), as *downtime_ms, and fault -> the ack that ended it as
 * *rto_ms. No threshold: a 100 ms gap gives an RTO of its end, never 0.
 * Both -1 when no write was acknowledged after the fault.
 */
void ctl_drill_gap(const int64_t *ack_ms, int n, int64_t fault_ms,
                   int64_t *rto_ms, int64_t *downtime_ms);

/*
 * ctl_drill_round_of: the index of the round an acknowledged write at
 * ack_ms belongs to: the last round whose fault came at or before it (the
 * first round for writes before any fault). fault_ms is sorted.
 */
int ctl_drill_round_of(const int64_t *fault_ms, int n_rounds, int64_t ack_ms);

/*
 * One attempt of the split-brain watch on one member: a write
 * acknowledgement tried over [start_ms, end_ms] (monotonic); is_acked when
 * it committed and was acknowledged, is_answered when the server answered
 * at all (an error counts; a timeout or a refused connection does not).
 */
typedef struct CtlDrillAttempt
{
	int64_t start_ms;
	int64_t end_ms;
	bool is_acked;
	bool is_answered;
} CtlDrillAttempt;

/* The split-brain instants of a window (ctl_drill_split). */
typedef struct CtlDrillSplit
{
	int64_t n;           /* overlapping pairs of runs of two members */
	int64_t worst_ms;    /* the longest overlap (0 when none) */
	int64_t worst_at_ms; /* where it starts (0 when none) */
	int worst_a;         /* its two members (indexes; -1 when none) */
	int worst_b;
} CtlDrillSplit;

/*
 * ctl_drill_split: the split-brain instants in [from_ms, to_ms] among
 * n_members probe logs (att[i], n_att[i] attempts each, in start order;
 * borrowed). Consecutive acknowledged attempts of one member form a run
 * [first start, last end], built over the whole log; runs that touch the
 * window count whole. Two runs of different members overlap when
 * max(starts) <= min(ends), so a run of one single write counts. The same
 * semantics as tests/tools/pgw_logcheck.py split (without --exempt-host).
 * 0 with *out filled, or PGW_EINVAL (starts out of order, an attempt
 * ending before it starts, to_ms < from_ms, NULL logs): never a silent 0.
 */
int ctl_drill_split(const CtlDrillAttempt *const *att, const int *n_att,
                    int n_members, int64_t from_ms, int64_t to_ms,
                    CtlDrillSplit *out) PGW_MUSTCHECK;

/*
 * ctl_drill_probe_blind: whether one member's probe log (as for
 * ctl_drill_split) cannot vouch for [from_ms, to_ms]: no attempt started
 * for more than max_silence_ms in it (the window's end included), or none
 * touching it was answered by the server (then no write could have been
 * seen either). true with the reason in why; a log out of order is blind.
 */
bool ctl_drill_probe_blind(const CtlDrillAttempt *a, int n, int64_t from_ms,
                           int64_t to_ms, int64_t max_silence_ms, char *why,
                           size_t len);

/*
 * ctl_drill_judge: r->ok from the figures: not broken, a write
 * acknowledged after the fault, rejoined, lost == 0 (a loss fails the
 * round; so does a loss check that did not run) and split_instants == 0
 * (two writable members fail the round; so does a watch that did not run).
 * Appends the reasons to r->note.
 */
void ctl_drill_judge(CtlDrillRound *r);

/*
 * ctl_drill_report: the rounds as a table (pretty/yaml) or JSON. The total
 * of lost writes is printed only when every round's check ran ("unknown"
 * / null otherwise).
 */
void ctl_drill_report(FILE *out, const char *scope, CtlDrillKind kind,
                      const CtlDrillRound *r, int n, bool json);

#endif
