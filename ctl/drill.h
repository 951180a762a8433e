/*
 * drill.h: `pgwardenctl drill` (DESIGN.md "The promises", notes R5): the
 * kinds of drill an operator may run against a live cluster without root on
 * the operator's machine, and the pure parts (per-round figures and the
 * report) that are unit-tested without a cluster. cmd_drill.c runs them.
 */
#ifndef PGW_CTL_DRILL_H
#define PGW_CTL_DRILL_H

#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_DRILL_ROUNDS_MAX 100

typedef enum CtlDrillKind
{
	CTL_DRILL_SWITCHOVER = 0,	/* planned hand-over through the failover key */
	CTL_DRILL_KILL_POSTGRES,	/* SIGKILL the primary's postmaster (SQL) */
	CTL_DRILL_STOP_DAEMON,		/* an operator-supplied command stops it */
} CtlDrillKind;

/*
 * ctl_drill_kind_parse: "switchover", "kill-postgres" or "stop-daemon" into
 * *out (may be NULL: only check). 0 or PGW_EINVAL.
 */
int			ctl_drill_kind_parse(const char *s, CtlDrillKind *out);

/* ctl_drill_kind_name: the name of a kind, as parsed. */
const char *ctl_drill_kind_name(CtlDrillKind k);

/* One round's figures; times are ms, -1 when not measured. */
typedef struct CtlDrillRound
{
	int			round;			/* 1-based */
	char		old_primary[64];
	char		new_primary[64];	/* "" when no primary came back */
	int64_t		rto_ms;			/* fault -> first acknowledged write after it */
	int64_t		downtime_ms;	/* longest gap between two acknowledged writes */
	int64_t		acked;			/* writes acknowledged during the round */
	int64_t		lost;			/* acknowledged but missing afterwards (-1: unknown) */
	int64_t		rejoin_ms;		/* fault -> every member running again (-1: not) */
	bool		ok;				/* a primary came back and the checks held */
	char		note[160];		/* why not ok, or what was seen */
} CtlDrillRound;

/*
 * ctl_drill_gap: from the acknowledged write times (monotonic ms, sorted)
 * and the fault time, the RTO (first acknowledged write at or after the end
 * of the longest gap that covers or follows the fault, minus the fault time;
 * 0 when writes never stopped for longer than stall_ms) and the longest gap
 * between consecutive acknowledged writes from the last one before the fault
 * on. Both -1 when no write was acknowledged after the fault.
 */
void		ctl_drill_gap(const int64_t *ack_ms, int n, int64_t fault_ms,
						  int64_t stall_ms, int64_t *rto_ms,
						  int64_t *downtime_ms);

/* ctl_drill_report: the rounds as a table (pretty/yaml) or JSON. */
void		ctl_drill_report(FILE *out, const char *scope, CtlDrillKind kind,
							 const CtlDrillRound *r, int n, bool json);

#endif
