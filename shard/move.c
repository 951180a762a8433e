/*
 * move.c: the online move of a slot range to another group (shard.h, notes
 * R3 §4), a resumable workflow whose whole state is the move record in
 * etcd and the shard map:
 *
 *   created  -> copying: publication on the source, subscription on the
 *               target (copy, then stream); wait until the target is close
 *   copying  -> frozen:  map CAS (range frozen), the source's slot_owner
 *               drops the range (waiting out the writes that passed it),
 *               its WAL position then is the freeze LSN
 *   frozen   -> flipped: the target confirmed the freeze LSN; map CAS
 *               (range serving on the target); the target takes the range
 *   flipped  -> cleanup: subscription, slots and publication dropped
 *   cleanup  -> done:    after the grace period the moved rows are deleted
 *                        on the source
 *
 * Every step checks what is already done and does only the rest, so a
 * driver that dies anywhere is continued by `shard move --resume ID`. A
 * logical slot does not survive a failover of the source (PostgreSQL 15
 * does not copy slots to standbys) and the target's applied position is
 * not worth trusting across its own failover, so a new primary in either
 * group before the flip restarts the copy: the target's rows of the range
 * are deleted (it does not own them) and copied again. The range is never
 * written on both sides: until the flip only the source owns it, after the
 * flip only the target, and between them nobody (frozen).
 */
#include "shard/shard_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOVE_RESTART 1 /* a primary changed: back to ensure_copy */
#define WAIT_POLL_MS 50

typedef struct MoveRun
{
	ShardCtx *ctx;
	ShardMove mv;
	ShardMap *map; /* the last map read */
	PGconn *src;
	PGconn *dst;
	RoutingEndpoint sep; /* the source's primary we are connected to */
	RoutingEndpoint dep;
	bool held; /* ctx->hold_phase was held once */
} MoveRun;

static void say(MoveRun *r, const char *event, const char *fmt, ...)
    PGW_PRINTF(3, 4);

static void
say(MoveRun *r, const char *event, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (r->ctx->progress)
		r->ctx->progress(r->ctx->progress_arg, &r->mv, event, detail);
}

static void
conns_close(MoveRun *r)
{
	shard_pg_close(r->src);
	shard_pg_close(r->dst);
	r->src = r->dst = NULL;
}

int
shard_group_primary(ShardCtx *ctx, int group, int64_t timeout_ms,
                    RoutingEndpoint *out, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	ShardGroupInfo *gi = pgw_xmalloc(sizeof(*gi));
	int rc;

	for (;;)
	{
		rc = shard_group_read(ctx->etcd, ctx->scope_prefix, group, gi, err);
		if (rc == 0 && !gi->exists)
		{
			rc = pgw_error_set(err, PGW_ENOTFOUND,
			                   "group %d does not exist (no keys under %s%d/)",
			                   group, ctx->scope_prefix, group);
			break;
		}
		if (rc == 0 && gi->has_leader && gi->has_routing &&
		    gi->routing.state == ROUTING_STATE_SERVING &&
		    gi->routing.has_primary &&
		    strcmp(gi->routing.primary.name, gi->leader) == 0)
		{
			*out = gi->routing.primary;
			break;
		}
		if (rc == 0)
			rc = pgw_error_set(
			    err, PGW_ESTATE,
			    "group %d has no serving primary (leader: %s, routing: %s)",
			    group, gi->has_leader ? gi->leader : "none",
			    gi->has_routing ? routing_state_name(gi->routing.state)
			                    : "none");
		if (pgw_now_mono_ms() >= deadline)
			break;
		pgw_sleep_ms(200);
	}
	free(gi);
	return rc;
}

/* connect to group's primary, waiting out a failover up to timeout_ms */
static int
primary_conn(ShardCtx *ctx, int group, int64_t timeout_ms, PGconn **conn,
             RoutingEndpoint *ep, PgwError *err)
{
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	int rc;

	for (;;)
	{
		int64_t left = deadline - pgw_now_mono_ms();

		rc = shard_group_primary(ctx, group, left > 0 ? left : 0, ep, err);
		if (rc == PGW_ENOTFOUND)
			return rc;
		if (rc == 0 && (rc = shard_pg_open(&ctx->auth, ep, 0, conn, err)) == 0)
			return 0;
		if (rc == PGW_EAUTH || pgw_now_mono_ms() >= deadline)
			return rc;
		pgw_sleep_ms(300);
	}
}

/* read the map into r->map */
static int
map_read(MoveRun *r, PgwError *err)
{
	return shard_map_read(r->ctx->etcd, r->ctx->scope_prefix, r->map, err);
}

/* one step of the move in the map, by CAS, retried on a concurrent change */
static int
map_step(MoveRun *r, ShardMoveStep step, PgwError *err)
{
	for (int attempt = 0; attempt < 20; attempt++)
	{
		bool changed = false;
		int64_t rev = 0;
		int rc;

		if ((rc = map_read(r, err)) != 0 ||
		    (rc = shard_map_move_step(r->map, r->mv.from, r->mv.to, r->mv.id,
		                              r->mv.source, r->mv.target, step,
		                              &changed, err)) != 0)
			return rc;
		if (!changed)
			return 0;
		r->map->version++;
		rc = shard_map_cas(r->ctx->etcd, r->ctx->scope_prefix, r->map,
		                   r->map->mod_revision, NULL, &rev, err);
		if (rc == 0)
		{
			r->map->mod_revision = rev;
			return 0;
		}
		if (rc != PGW_ECONFLICT)
			return rc;
	}
	return pgw_error_set(err, PGW_ECONFLICT,
	                     "the shard map kept changing under move %s", r->mv.id);
}

/* store the record in phase; a CAS conflict means another driver */
static int
record(MoveRun *r, ShardMovePhase phase, PgwError *err)
{
	int rc;

	r->mv.phase = phase;
	r->mv.updated_wall_ms = pgw_now_wall_ms();
	rc = shard_move_write(r->ctx->etcd, r->ctx->scope_prefix, &r->mv, err);
	if (rc == PGW_ECONFLICT)
		pgw_error_set(
		    err, PGW_ECONFLICT,
		    "move %s was changed by someone else (another pgwardenctl driving it?): stopping",
		    r->mv.id);
	else if (rc == 0)
		say(r, shard_move_phase_name(phase), "recorded");
	if (rc == 0 && (int) phase == r->ctx->hold_phase && !r->held)
	{
		/* the driver goes on afterwards: whatever changed meanwhile (a
		 * failover) is found by the next step's checks */
		r->held = true;
		say(r, "hold", "waiting %lld ms before going on",
		    (long long) r->ctx->hold_ms);
		pgw_sleep_ms(r->ctx->hold_ms);
	}
	return rc;
}

/* no slot of the move's range is owned by group under r->map */
static bool
owns_none(MoveRun *r, int group)
{
	for (int s = r->mv.from; s <= r->mv.to; s++)
		if (shard_map_owns(r->map, group, s))
			return false;
	return true;
}

static bool
range_on(MoveRun *r, int group, ShardState state)
{
	for (int s = r->mv.from; s <= r->mv.to; s++)
	{
		int i = shard_map_find(r->map, s);

		if (i < 0 || r->map->ranges[i].group != group ||
		    r->map->ranges[i].state != state)
			return false;
	}
	return true;
}

/*
 * ensure_copy: the publication and the subscription exist against today's
 * primaries; otherwise (first time, a new primary on either side, a lost
 * subscription or slot) start the copy again from nothing. When the range
 * is frozen, the new source primary is frozen again first and the freeze
 * LSN read there.
 */
static int
ensure_copy(MoveRun *r, PgwError *err)
{
	ShardCtx *ctx = r->ctx;
	MoveSubState sub;
	MoveSlotState slot;
	uint32_t suboid = 0;
	uint64_t rows = 0;
	bool restart;
	int rc;

	if (r->src == NULL &&
	    (rc = primary_conn(ctx, r->mv.source, ctx->step_timeout_ms, &r->src,
	                       &r->sep, err)) != 0)
		return rc;
	if (r->dst == NULL &&
	    (rc = primary_conn(ctx, r->mv.target, ctx->step_timeout_ms, &r->dst,
	                       &r->dep, err)) != 0)
		return rc;
	if ((rc = move_sql_sub_state(r->dst, &r->mv, &sub, err)) != 0 ||
	    (rc = move_sql_slot_state(r->src, &r->mv, &slot, err)) != 0)
		return rc;
	restart = r->mv.phase == SHARD_MOVE_CREATED || !sub.exists ||
	          !sub.enabled || !slot.exists ||
	          strcmp(r->sep.name, r->mv.source_primary) != 0 ||
	          strcmp(r->dep.name, r->mv.target_primary) != 0;
	if (r->mv.phase == SHARD_MOVE_FROZEN &&
	    (restart || strcmp(r->sep.name, r->mv.source_primary) != 0))
	{
		/* the freeze must hold on the primary we read the LSN from */
		if ((rc = map_read(r, err)) != 0 ||
		    (rc = shard_sql_apply_map(r->src, r->map, r->mv.source,
		                              &r->mv.freeze_lsn, err)) != 0)
			return rc;
		say(r, "refrozen", "source primary %s, freeze LSN %X/%X", r->sep.name,
		    (unsigned) (r->mv.freeze_lsn >> 32), (unsigned) r->mv.freeze_lsn);
	}
	if (!restart)
		return 0;
	if (r->mv.phase != SHARD_MOVE_CREATED)
		say(r, "copy.restart",
		    "source primary %s (was %s), target primary %s (was %s), subscription %s, slot %s",
		    r->sep.name, r->mv.source_primary[0] ? r->mv.source_primary : "-",
		    r->dep.name, r->mv.target_primary[0] ? r->mv.target_primary : "-",
		    sub.exists ? "present" : "missing",
		    slot.exists ? "present" : "missing");
	/* the target must not own any slot of the range: its rows of it are
	 * only an earlier copy's, and they go */
	if ((rc = map_read(r, err)) != 0)
		return rc;
	if (!owns_none(r, r->mv.target))
		return pgw_error_set(
		    err, PGW_EINTERNAL,
		    "move %s: the map gives group %d part of slots %d-%d already; not restarting the copy",
		    r->mv.id, r->mv.target, r->mv.from, r->mv.to);
	if ((rc = move_sql_drop_subscription(r->dst, &r->mv, &suboid, err)) != 0 ||
	    (rc = move_sql_drop_slots(r->src, &r->mv, suboid, err)) != 0 ||
	    (rc = move_sql_delete_range(r->dst, r->map, &r->mv, &rows, err)) != 0 ||
	    (rc = move_sql_publication(r->src, r->map, &r->mv, err)) != 0 ||
	    (rc = move_sql_subscribe(r->dst, &ctx->auth, &r->sep, &r->mv, err)) !=
	        0)
		return rc;
	pgw_strlcpy(r->mv.source_primary, r->sep.name,
	            sizeof(r->mv.source_primary));
	pgw_strlcpy(r->mv.target_primary, r->dep.name,
	            sizeof(r->mv.target_primary));
	r->mv.copies++;
	say(r, "copy.start",
	    "copy %d from %s (%s:%d) to %s (%s:%d); %llu stale rows deleted on the target",
	    r->mv.copies, r->sep.name, r->sep.host, r->sep.port, r->dep.name,
	    r->dep.host, r->dep.port, (unsigned long long) rows);
	return record(
	    r, r->mv.phase == SHARD_MOVE_CREATED ? SHARD_MOVE_COPYING : r->mv.phase,
	    err);
}

/* the primaries we replicate between are still the groups' primaries */
static int
primaries_same(MoveRun *r, PgwError *err)
{
	ShardGroupInfo *gi = pgw_xmalloc(sizeof(*gi));
	int groups[2] = {r->mv.source, r->mv.target};
	const char *names[2] = {r->mv.source_primary, r->mv.target_primary};
	int rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++)
	{
		if ((rc = shard_group_read(r->ctx->etcd, r->ctx->scope_prefix,
		                           groups[i], gi, err)) != 0)
			break;
		if (!gi->has_leader || strcmp(gi->leader, names[i]) != 0)
		{
			say(r, "primary.changed",
			    "group %d: leader %s, the copy ran from/to %s", groups[i],
			    gi->has_leader ? gi->leader : "none", names[i]);
			rc = MOVE_RESTART;
		}
	}
	free(gi);
	return rc;
}

/*
 * wait_target: until every table is ready on the target and the target
 * confirmed the source's WAL up to want_lsn (0: to within catchup_bytes of
 * the source's current position). MOVE_RESTART when a primary changed or a
 * connection broke.
 */
static int
wait_target(MoveRun *r, uint64_t want_lsn, PgwError *err)
{
	int64_t start = pgw_now_mono_ms();
	int64_t deadline = start + r->ctx->step_timeout_ms;
	int64_t next_check = 0;
	int64_t next_say = start + 5000;
	MoveSubState sub = {0};
	MoveSlotState slot = {0};
	int rc;

	for (;;)
	{
		if (pgw_now_mono_ms() >= next_check)
		{
			if ((rc = primaries_same(r, err)) != 0)
				return rc;
			next_check = pgw_now_mono_ms() + 500;
		}
		if ((rc = move_sql_sub_state(r->dst, &r->mv, &sub, err)) != 0 ||
		    (rc = move_sql_slot_state(r->src, &r->mv, &slot, err)) != 0)
		{
			if (rc == PGW_EUNAVAILABLE)
			{
				say(r, "connection.lost", "%s", err->msg);
				return MOVE_RESTART;
			}
			return rc;
		}
		if (!sub.exists || !slot.exists)
			return MOVE_RESTART;
		if (sub.n_not_ready == 0 && slot.confirmed_flush > 0 &&
		    (want_lsn ? slot.confirmed_flush >= want_lsn
		              : slot.current <=
		                    slot.confirmed_flush + r->ctx->catchup_bytes))
		{
			say(r, want_lsn ? "reached" : "caught-up",
			    "target confirmed %X/%X (source at %X/%X) after %lld ms",
			    (unsigned) (slot.confirmed_flush >> 32),
			    (unsigned) slot.confirmed_flush,
			    (unsigned) (slot.current >> 32), (unsigned) slot.current,
			    (long long) (pgw_now_mono_ms() - start));
			return 0;
		}
		if (pgw_now_mono_ms() >= next_say)
		{
			say(r, "waiting",
			    "%d of %d tables not ready, target confirmed %X/%X, source at %X/%X, %lld errors",
			    sub.n_not_ready, sub.n_tables,
			    (unsigned) (slot.confirmed_flush >> 32),
			    (unsigned) slot.confirmed_flush,
			    (unsigned) (slot.current >> 32), (unsigned) slot.current,
			    (long long) sub.errors);
			next_say = pgw_now_mono_ms() + 5000;
		}
		if (pgw_now_mono_ms() >= deadline)
			return pgw_error_set(
			    err, PGW_ETIMEDOUT,
			    "move %s: the target did not catch up within %lld ms (%d of %d tables not ready, %lld apply errors; see the target's log); resume or abort the move",
			    r->mv.id, (long long) r->ctx->step_timeout_ms, sub.n_not_ready,
			    sub.n_tables, (long long) sub.errors);
		pgw_sleep_ms(WAIT_POLL_MS);
	}
}

/* copying -> frozen */
static int
freeze(MoveRun *r, PgwError *err)
{
	int rc;

	if ((rc = map_step(r, SHARD_STEP_FREEZE, err)) != 0)
		return rc;
	/* from here on writes for the range fail; the pause has begun */
	if (r->mv.frozen_wall_ms == 0)
		r->mv.frozen_wall_ms = pgw_now_wall_ms();
	if ((rc = shard_sql_apply_map(r->src, r->map, r->mv.source,
	                              &r->mv.freeze_lsn, err)) != 0)
		return rc == PGW_EUNAVAILABLE ? MOVE_RESTART : rc;
	say(r, "frozen", "map version %lld, source %s refuses the range from %X/%X",
	    (long long) r->map->version, r->sep.name,
	    (unsigned) (r->mv.freeze_lsn >> 32), (unsigned) r->mv.freeze_lsn);
	return record(r, SHARD_MOVE_FROZEN, err);
}

/* frozen -> flipped: the map first, then the target takes the range */
static int
flip(MoveRun *r, PgwError *err)
{
	PgwError e2 = {0};
	int rc;

	if ((rc = map_step(r, SHARD_STEP_FLIP, err)) != 0)
		return rc;
	if (r->dst == NULL &&
	    (rc = primary_conn(r->ctx, r->mv.target, r->ctx->step_timeout_ms,
	                       &r->dst, &r->dep, err)) != 0)
		return rc;
	if ((rc = shard_sql_apply_map(r->dst, r->map, r->mv.target, NULL, err)) !=
	    0)
		return rc;
	/* the source holds nothing new, but its version should follow */
	if (r->src &&
	    shard_sql_apply_map(r->src, r->map, r->mv.source, NULL, &e2) != 0)
		say(r, "source.behind", "%s (its leader catches up)", e2.msg);
	r->mv.flipped_wall_ms = pgw_now_wall_ms();
	say(r, "flipped",
	    "map version %lld: slots %d-%d serve on group %d; frozen for %lld ms",
	    (long long) r->map->version, r->mv.from, r->mv.to, r->mv.target,
	    (long long) (r->mv.flipped_wall_ms - r->mv.frozen_wall_ms));
	return record(r, SHARD_MOVE_FLIPPED, err);
}

/* flipped -> cleanup: the replication goes; the source keeps its rows */
static int
cleanup(MoveRun *r, PgwError *err)
{
	uint32_t suboid = 0;
	int rc;

	conns_close(r);
	if ((rc = primary_conn(r->ctx, r->mv.target, r->ctx->step_timeout_ms,
	                       &r->dst, &r->dep, err)) != 0 ||
	    (rc = move_sql_drop_subscription(r->dst, &r->mv, &suboid, err)) != 0 ||
	    (rc = primary_conn(r->ctx, r->mv.source, r->ctx->step_timeout_ms,
	                       &r->src, &r->sep, err)) != 0 ||
	    (rc = move_sql_drop_slots(r->src, &r->mv, suboid, err)) != 0 ||
	    (rc = move_sql_drop_publication(r->src, &r->mv, err)) != 0)
		return rc;
	r->mv.delete_after_wall_ms = pgw_now_wall_ms() + r->ctx->grace_ms;
	return record(r, SHARD_MOVE_CLEANUP, err);
}

/* cleanup -> done: after the grace period, the source's moved rows go */
static int
delete_moved(MoveRun *r, PgwError *err)
{
	int64_t wait_ms = r->mv.delete_after_wall_ms - pgw_now_wall_ms();
	uint64_t rows = 0;
	int rc;

	if (wait_ms > 0)
	{
		say(r, "grace", "deleting the moved rows on group %d in %lld ms",
		    r->mv.source, (long long) wait_ms);
		pgw_sleep_ms(wait_ms);
	}
	if ((rc = map_read(r, err)) != 0)
		return rc;
	if (!owns_none(r, r->mv.source))
		say(r, "delete.skipped",
		    "group %d owns part of slots %d-%d again: its rows stay",
		    r->mv.source, r->mv.from, r->mv.to);
	else
	{
		if (r->src == NULL &&
		    (rc = primary_conn(r->ctx, r->mv.source, r->ctx->step_timeout_ms,
		                       &r->src, &r->sep, err)) != 0)
			return rc;
		if ((rc = move_sql_delete_range(r->src, r->map, &r->mv, &rows, err)) !=
		    0)
			return rc;
		r->mv.rows_deleted += rows;
		say(r, "deleted", "%llu moved rows deleted on group %d",
		    (unsigned long long) rows, r->mv.source);
	}
	return record(r, SHARD_MOVE_DONE, err);
}

static bool
stop_here(MoveRun *r)
{
	return r->ctx->stop_after != SHARD_MOVE_DONE &&
	       r->mv.phase >= r->ctx->stop_after;
}

/* one pass from the recorded phase; MOVE_RESTART: run it again */
static int
run_phase(MoveRun *r, PgwError *err)
{
	int rc;

	switch (r->mv.phase)
	{
		case SHARD_MOVE_CREATED:
		case SHARD_MOVE_COPYING:
			/* the map may be ahead of the record (a driver died after
			 * the CAS): let the frozen phase finish the job */
			if ((rc = map_read(r, err)) != 0)
				return rc;
			if ((rc = ensure_copy(r, err)) != 0)
				return rc;
			if (stop_here(r))
				return 0;
			if ((rc = wait_target(r, 0, err)) != 0)
				return rc;
			return freeze(r, err);
		case SHARD_MOVE_FROZEN:
			if ((rc = map_read(r, err)) != 0)
				return rc;
			if (range_on(r, r->mv.target, SHARD_STATE_SERVING))
				return flip(r, err); /* flipped before the record said so */
			if ((rc = ensure_copy(r, err)) != 0 ||
			    (rc = wait_target(r, r->mv.freeze_lsn, err)) != 0)
				return rc;
			return flip(r, err);
		case SHARD_MOVE_FLIPPED:
			return cleanup(r, err);
		case SHARD_MOVE_CLEANUP:
			return delete_moved(r, err);
		case SHARD_MOVE_DONE:
		case SHARD_MOVE_ABORTED:
			return 0;
	}
	return pgw_error_set(err, PGW_EINTERNAL, "move %s: unknown phase",
	                     r->mv.id);
}

int
shard_move_run(ShardCtx *ctx, const char *id, ShardMove *out, PgwError *err)
{
	MoveRun r;
	int restarts = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.map = pgw_xmalloc(sizeof(ShardMap));
	if ((rc = shard_move_read(ctx->etcd, ctx->scope_prefix, id, &r.mv, err)) !=
	    0)
		goto out;
	while (r.mv.phase != SHARD_MOVE_DONE && r.mv.phase != SHARD_MOVE_ABORTED &&
	       !stop_here(&r))
	{
		ShardMovePhase before = r.mv.phase;

		rc = run_phase(&r, err);
		if (rc == MOVE_RESTART || rc == PGW_EUNAVAILABLE)
		{
			/* a failover under us: new connections, and the copy checks
			 * its primaries again */
			conns_close(&r);
			if (++restarts > 20)
			{
				rc = pgw_error_set(
				    err, PGW_ESTATE,
				    "move %s: primaries kept changing (20 restarts); resume it later",
				    id);
				break;
			}
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		if (r.mv.phase == before && before != SHARD_MOVE_CREATED &&
		    before != SHARD_MOVE_COPYING)
		{
			rc = pgw_error_set(err, PGW_EINTERNAL,
			                   "move %s made no progress in phase %s", id,
			                   shard_move_phase_name(before));
			break;
		}
	}
out:
	if (rc != 0 && r.mv.id[0] != '\0')
	{
		PgwError e2 = {0};
		ShardMove cur;

		/* leave the reason in the record for `shard show` (best effort) */
		if (shard_move_read(ctx->etcd, ctx->scope_prefix, id, &cur, &e2) == 0 &&
		    cur.mod_revision == r.mv.mod_revision)
		{
			pgw_strlcpy(cur.last_error, err->msg, sizeof(cur.last_error));
			cur.updated_wall_ms = pgw_now_wall_ms();
			if (shard_move_write(ctx->etcd, ctx->scope_prefix, &cur, &e2) != 0)
				pgw_error_clear(&e2); /* the error itself is reported */
		}
	}
	if (out)
		*out = r.mv;
	conns_close(&r);
	free(r.map);
	return rc;
}

int
shard_move_abort(ShardCtx *ctx, const char *id, PgwError *err)
{
	MoveRun r;
	PgwError e2 = {0};
	uint32_t suboid = 0;
	uint64_t rows = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.map = pgw_xmalloc(sizeof(ShardMap));
	if ((rc = shard_move_read(ctx->etcd, ctx->scope_prefix, id, &r.mv, err)) !=
	    0)
		goto out;
	if (r.mv.phase == SHARD_MOVE_ABORTED)
		goto out;
	if (r.mv.phase >= SHARD_MOVE_FLIPPED)
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "move %s is %s: the target serves the range already; move it back instead",
		    id, shard_move_phase_name(r.mv.phase));
		goto out;
	}
	if ((rc = map_step(&r, SHARD_STEP_ABORT, err)) != 0)
		goto out;
	/* the source takes the range again: that must work */
	if ((rc = primary_conn(ctx, r.mv.source, ctx->step_timeout_ms, &r.src,
	                       &r.sep, err)) != 0 ||
	    (rc = shard_sql_apply_map(r.src, r.map, r.mv.source, NULL, err)) != 0)
		goto out;
	/* the target's copy goes; the source's slots and publication too */
	if ((rc = primary_conn(ctx, r.mv.target, ctx->step_timeout_ms, &r.dst,
	                       &r.dep, err)) != 0 ||
	    (rc = move_sql_drop_subscription(r.dst, &r.mv, &suboid, err)) != 0 ||
	    (rc = move_sql_drop_slots(r.src, &r.mv, suboid, err)) != 0 ||
	    (rc = move_sql_drop_publication(r.src, &r.mv, err)) != 0)
		goto out;
	if ((rc = map_read(&r, err)) != 0)
		goto out;
	if (owns_none(&r, r.mv.target) &&
	    (rc = move_sql_delete_range(r.dst, r.map, &r.mv, &rows, &e2)) == 0)
		say(&r, "aborted", "%llu copied rows deleted on group %d",
		    (unsigned long long) rows, r.mv.target);
	rc = record(&r, SHARD_MOVE_ABORTED, err);
out:
	conns_close(&r);
	free(r.map);
	return rc;
}

int
shard_apply_groups(ShardCtx *ctx, const ShardMap *m, PgwError *err)
{
	int groups[SHARD_GROUPS_MAX];
	int n = shard_map_groups(m, groups, SHARD_GROUPS_MAX);
	int first_rc = 0;

	for (int i = 0; i < n; i++)
	{
		RoutingEndpoint ep;
		PGconn *conn = NULL;
		PgwError e2 = {0};
		int rc;

		rc = shard_group_primary(ctx, groups[i], 10000, &ep, &e2);
		if (rc == 0)
			rc = shard_pg_open(&ctx->auth, &ep, 30000, &conn, &e2);
		if (rc == 0)
			rc = shard_sql_apply_map(conn, m, groups[i], NULL, &e2);
		shard_pg_close(conn);
		if (rc != 0 && first_rc == 0)
		{
			first_rc = rc;
			pgw_error_set(err, rc, "group %d: %s", groups[i], e2.msg);
		}
	}
	return first_rc;
}
