/*
 * publisher.h: when this node's member key must be written (issue 18: an
 * idle cluster costs etcd nothing). Pure: no I/O, no clock, so the rules
 * are unit-tested (tests/unit/test_daemon_publisher.c); publish.c does the
 * write. DESIGN.md "etcd keys": members/<name> is written when its content
 * changes, never on a timer.
 */
#ifndef PGW_DAEMON_PUBLISHER_H
#define PGW_DAEMON_PUBLISHER_H

#include "consensus/consensus.h"

#include <stdbool.h>
#include <stdint.h>

/* What the publisher remembers of its last successful write. */
typedef struct MemberPublisher
{
	bool has_written;
	MemberInfo written;      /* the value written */
	uint32_t written_shape;  /* its reason's shape (Decision.reason_shape) */
	int64_t written_lease;   /* the lease it was written on */
	int64_t written_mono_ms; /* when */
} MemberPublisher;

/* The limits the cluster's config sets. */
typedef struct PublishLimits
{
	int64_t loop_wait_ms;   /* positions: at most one write per loop */
	int64_t ttl_ms;         /* positions that moved: rewritten this late */
	uint64_t max_lag_bytes; /* maximum_lag_on_failover */
} PublishLimits;

typedef enum MemberWrite
{
	MEMBER_WRITE_NONE = 0, /* etcd holds what we would write */
	MEMBER_WRITE_FIRST,    /* nothing written yet, or forced */
	MEMBER_WRITE_LEASE,    /* our lease changed: the old key goes with it */
	MEMBER_WRITE_MISSING,  /* the view lost our key (deleted, expired) */
	MEMBER_WRITE_CONTENT,  /* a field other than the WAL positions */
	MEMBER_WRITE_POSITION, /* WAL positions moved by lag_step bytes */
	MEMBER_WRITE_REFRESH,  /* WAL positions moved, last write ttl ago */
} MemberWrite;

/*
 * publisher_position_step: how far a WAL position may move before it is
 * news to the lag decisions (failover eligibility, switchover checks,
 * routing weights all compare a lag with maximum_lag_on_failover): an
 * eighth of it, at least 1 byte.
 */
uint64_t publisher_position_step(uint64_t max_lag_bytes);

/*
 * publisher_member_due: whether m (with its reason's shape, on lease) must
 * be written now. in_view is our key as the watch-fed view holds it (NULL:
 * absent), only looked at when view_valid. Content (role, state, timeline,
 * urls, tags, pending_restart, the reason's shape) is written at once;
 * positions at most once per loop, and only when they moved by the step or
 * the last write is a ttl old; a reason that differs only in its moving
 * numbers rides along with the next write. Pure.
 */
MemberWrite publisher_member_due(const MemberPublisher *p, const MemberInfo *m,
                                 uint32_t reason_shape, int64_t lease,
                                 const MemberInfo *in_view, bool view_valid,
                                 const PublishLimits *lim, int64_t now_mono_ms);

/* publisher_member_written: record a successful write of m. */
void publisher_member_written(MemberPublisher *p, const MemberInfo *m,
                              uint32_t reason_shape, int64_t lease,
                              int64_t now_mono_ms);

/* publisher_member_forget: the next write is unconditional (a role change
 * the peers must see at once, a new session). */
void publisher_member_forget(MemberPublisher *p);

/* publisher_write_name: "content", "position", ... for logs and tests */
const char *publisher_write_name(MemberWrite w);

#endif
