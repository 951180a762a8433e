/*
 * shard.h: the only public header of shard/ (DESIGN.md "etcd keys",
 * `shards`; notes R3): sharding by user ID over many HA groups of one scope.
 *   - the slot function (slot.c; also in libpgwshard, pgw_shard.h);
 *   - the versioned shard map: slot ranges -> group, each serving, moving
 *     or frozen, and the sharded tables (map.c: model, strict codec, the
 *     pure edits `pgwardenctl shard` makes);
 *   - the map and move records in etcd, written only by compare-and-swap,
 *     and the groups under <namespace>/<scope>/<group>/ (shard_etcd.c);
 *   - the SQL each group's primary runs: the owned-slots table, the guard
 *     trigger, publications and subscriptions of a move (shard_sql.c);
 *   - the online move as a resumable workflow recorded in etcd (move.c).
 * Groups are numbered as Patroni numbers Citus groups (0..9999).
 */
#ifndef PGW_SHARD_H
#define PGW_SHARD_H

#include "common/compiler.h"
#include "common/error.h"
#include "consensus/consensus.h"
#include "routing/routing.h"
#include "shard/pgw_shard.h"

#include <stdbool.h>
#include <stdint.h>

#define SHARD_SLOTS_DEFAULT  4096
#define SHARD_SLOTS_MAX      65536
#define SHARD_RANGES_MAX     1024 /* distinct ranges in one map */
#define SHARD_TABLES_MAX     32
#define SHARD_GROUP_MAX      9999
#define SHARD_GROUPS_MAX     256 /* groups named by one map */
#define SHARD_MOVE_ID_MAX    32
#define SHARD_TABLE_NAME_MAX 128 /* "schema.table" */
#define SHARD_COLUMN_MAX     64
#define SHARD_KEY            "shards"
#define SHARD_MOVES_KEY      "shards/moves/"

/* ------------------------------------------------------------------------
 * The slot function (slot.c)
 * ------------------------------------------------------------------------ */

/* shard_hash_seeded: hashint8extended(value, seed) as unsigned bits. */
uint64_t shard_hash_seeded(int64_t value, uint64_t seed);

/* shard_slots_valid: a power of two in 1..SHARD_SLOTS_MAX. */
bool shard_slots_valid(int slots);

/* ------------------------------------------------------------------------
 * The shard map (map.c)
 * ------------------------------------------------------------------------ */

typedef enum ShardState
{
	SHARD_STATE_SERVING = 0, /* the group takes writes */
	SHARD_STATE_MOVING,      /* a move copies it away; still served */
	SHARD_STATE_FROZEN,      /* end of a move: nobody takes writes */
} ShardState;

typedef struct ShardRange
{
	int32_t from; /* first slot */
	int32_t to;   /* last slot (inclusive) */
	int32_t group;
	ShardState state;
	char move_id[SHARD_MOVE_ID_MAX]; /* moving/frozen: the move */
} ShardRange;

typedef struct ShardTable
{
	char name[SHARD_TABLE_NAME_MAX]; /* "schema.table", lower case */
	char column[SHARD_COLUMN_MAX];   /* the user id (bigint) column */
} ShardTable;

/*
 * The `shards` value. JSON:
 *   {"version": 7, "slots": 4096, "database": "app",
 *    "ranges": [{"from": 0, "to": 2047, "group": 1, "state": "serving"},
 *               {"from": 2048, "to": 4095, "group": 2, "state": "moving",
 *                "move": "m1"}],
 *    "tables": [{"table": "public.events", "column": "user_id"}]}
 * Ranges are sorted and cover 0..slots-1 exactly: no gap, no overlap.
 */
typedef struct ShardMap
{
	int64_t version;   /* >= 1; grows on every change */
	int32_t slots;     /* power of two, fixed at init */
	char database[64]; /* where every group keeps the sharded tables
								 * and schema pgwarden; "postgres" if absent */
	int n_ranges;
	ShardRange ranges[SHARD_RANGES_MAX];
	int n_tables;
	ShardTable tables[SHARD_TABLES_MAX];
	int64_t mod_revision; /* etcd's, 0 when not read from etcd */
} ShardMap;

const char *shard_state_name(ShardState s); /* "serving", ... */

/*
 * shard_map_validate: slots a power of two, version >= 1, ranges sorted,
 * each from <= to, covering 0..slots-1 with no gap and no overlap, groups
 * 0..9999, a move id exactly on moving/frozen ranges, table and column
 * names plain lower-case identifiers, no table twice. The message names
 * the first problem ("ranges[2]: gap: slots 100..199 belong to no range").
 * Returns 0 or PGW_EINVAL.
 */
int shard_map_validate(const ShardMap *m, PgwError *err) PGW_MUSTCHECK;

/*
 * shard_map_decode: parse a `shards` value whole and validate it; unknown
 * keys are refused (a map is too important to half-understand). *out is
 * written only on success. Returns 0 or PGW_EINVAL naming the field.
 */
int shard_map_decode(const char *json, size_t len, ShardMap *out,
                     PgwError *err) PGW_MUSTCHECK;

/* shard_map_encode: compact JSON of m (caller frees). */
char *shard_map_encode(const ShardMap *m);

/* shard_map_find: index of the range holding slot, -1 when none. */
int shard_map_find(const ShardMap *m, int slot);

/*
 * shard_map_init: a map of version 1 over slots slots, split into n equal
 * ranges (the last takes the remainder) for groups[0..n-1] in order, its
 * tables in database (NULL: "postgres").
 * PGW_EINVAL for a bad slot count, no or too many groups, a group twice or
 * out of range, more groups than slots.
 */
int shard_map_init(ShardMap *m, int slots, const int *groups, int n,
                   const char *database, PgwError *err) PGW_MUSTCHECK;

/*
 * The edits below change m in place and leave it valid, with adjacent
 * ranges of the same group and state merged; they do not touch version
 * (the caller stores version + 1 by compare-and-swap). On error m is
 * unchanged.
 */

/*
 * shard_map_assign: give slots from..to to group, moving no data (an
 * empty range, the first layout). Refused (PGW_ESTATE) when a slot of the
 * range is moving or frozen; PGW_EINVAL for a range outside the map.
 */
int shard_map_assign(ShardMap *m, int from, int to, int group,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * shard_map_mark_moving: start move id of from..to: every slot must be
 * serving on one group (*source receives it). PGW_ESTATE when a slot is
 * already in a move (naming it) or the range spans groups; PGW_EINVAL for
 * a target equal to the source or a range outside the map.
 */
int shard_map_mark_moving(ShardMap *m, int from, int to, int target,
                          const char *id, int *source,
                          PgwError *err) PGW_MUSTCHECK;

/*
 * shard_map_move_step: the states of move id's range from..to: to FROZEN
 * (from MOVING or FROZEN), to SERVING on target (flip: from FROZEN, or
 * already flipped), or back to SERVING on the source (abort: from MOVING
 * or FROZEN). PGW_ESTATE when the range is not in the state the step
 * needs; calling a step twice is a no-op (returns 0, *changed false).
 */
typedef enum ShardMoveStep
{
	SHARD_STEP_FREEZE = 0,
	SHARD_STEP_FLIP,
	SHARD_STEP_ABORT,
} ShardMoveStep;

int shard_map_move_step(ShardMap *m, int from, int to, const char *id,
                        int source, int target, ShardMoveStep step,
                        bool *changed, PgwError *err) PGW_MUSTCHECK;

/*
 * shard_map_table_add: register a sharded table (name "schema.table" or
 * "table" for public.table, column), both plain lower-case identifiers.
 * PGW_ECONFLICT when it is registered already with another column.
 */
int shard_map_table_add(ShardMap *m, const char *name, const char *column,
                        PgwError *err) PGW_MUSTCHECK;

/* shard_map_groups: the distinct groups the map names, ascending. */
int shard_map_groups(const ShardMap *m, int *groups, int max);

/* shard_map_owns: group takes writes for slot under m (serving or moving). */
bool shard_map_owns(const ShardMap *m, int group, int slot);

/*
 * shard_range_parse: "FROM-TO" or a single "SLOT" into from/to, each an
 * integer 0..slots-1 with from <= to. PGW_EINVAL with the reason.
 */
int shard_range_parse(const char *s, int slots, int *from, int *to,
                      PgwError *err) PGW_MUSTCHECK;

/* shard_ident_ok: a plain lower-case SQL identifier (no quoting needed). */
bool shard_ident_ok(const char *s);

/* shard_database_ok: a database name 1..63 of [A-Za-z0-9_-]. */
bool shard_database_ok(const char *s);

/* ------------------------------------------------------------------------
 * Move records (move_record.c): <prefix>shards/moves/<id>
 * ------------------------------------------------------------------------ */

typedef enum ShardMovePhase
{
	SHARD_MOVE_CREATED = 0, /* recorded; the map marks the range moving */
	SHARD_MOVE_COPYING,     /* publication + subscription made */
	SHARD_MOVE_FROZEN,      /* map frozen, source refuses the range */
	SHARD_MOVE_FLIPPED,     /* map points the range at the target */
	SHARD_MOVE_CLEANUP,     /* replication dropped; grace period */
	SHARD_MOVE_DONE,        /* moved rows deleted from the source */
	SHARD_MOVE_ABORTED,     /* undone before the flip */
} ShardMovePhase;

typedef struct ShardMove
{
	char id[SHARD_MOVE_ID_MAX];
	int32_t from;
	int32_t to;
	int32_t source;
	int32_t target;
	ShardMovePhase phase;
	int64_t created_wall_ms;
	int64_t updated_wall_ms;
	/* the primaries the subscription was made against: another primary
	 * in either group means the logical slot or the applied rows may be
	 * gone, so the copy starts again */
	char source_primary[PGW_NAME_MAX];
	char target_primary[PGW_NAME_MAX];
	uint64_t freeze_lsn; /* source's WAL position after the freeze */
	int64_t frozen_wall_ms;
	int64_t flipped_wall_ms;
	int64_t delete_after_wall_ms; /* end of the grace period */
	int32_t copies;               /* times the copy (re)started */
	uint64_t rows_deleted;        /* from the source, after the grace period */
	char last_error[256];
	int64_t mod_revision; /* etcd's */
} ShardMove;

const char *shard_move_phase_name(ShardMovePhase p);

/* shard_move_decode / shard_move_encode: strict codec of a move record. */
int shard_move_decode(const char *json, size_t len, ShardMove *out,
                      PgwError *err) PGW_MUSTCHECK;
char *shard_move_encode(const ShardMove *m);

/* shard_move_id_ok: 1..31 characters of [a-z0-9-], starting alphanumeric. */
bool shard_move_id_ok(const char *id);

/* ------------------------------------------------------------------------
 * etcd (shard_etcd.c). scope_prefix is "<namespace>/<scope>/".
 * ------------------------------------------------------------------------ */

/*
 * shard_map_read: read <scope_prefix>shards linearizably. 0 with the map
 * (mod_revision set), PGW_ENOTFOUND when there is none, PGW_EINVAL when the
 * stored value does not decode, or the etcd error.
 */
int shard_map_read(EtcdClient *c, const char *scope_prefix, ShardMap *out,
                   PgwError *err) PGW_MUSTCHECK;

/*
 * shard_map_cas: store m (its version must be the stored version + 1, or 1
 * for a new map) only if the key's mod_revision is still expect_mod_rev (0:
 * only if there is no map). extra (may be NULL) is one more put in the same
 * txn, guarded by its own create_revision == 0 when extra_create is true
 * (a new move record) or by extra_mod_rev otherwise. PGW_ECONFLICT when
 * someone changed the map (or the record) first: re-read and retry.
 * *new_mod_rev (may be NULL) receives the map's new mod_revision.
 */
typedef struct ShardExtraPut
{
	const char *key_suffix; /* under scope_prefix */
	const char *value;
	bool create;          /* compare create_revision == 0 */
	int64_t mod_revision; /* else compare mod_revision */
} ShardExtraPut;

int shard_map_cas(EtcdClient *c, const char *scope_prefix, const ShardMap *m,
                  int64_t expect_mod_rev, const ShardExtraPut *extra,
                  int64_t *new_mod_rev, PgwError *err) PGW_MUSTCHECK;

/* shard_move_read: one move record; PGW_ENOTFOUND when absent. */
int shard_move_read(EtcdClient *c, const char *scope_prefix, const char *id,
                    ShardMove *out, PgwError *err) PGW_MUSTCHECK;

/* shard_move_write: CAS on m->mod_revision; updates it on success. */
int shard_move_write(EtcdClient *c, const char *scope_prefix, ShardMove *m,
                     PgwError *err) PGW_MUSTCHECK;

/* shard_move_list: every move record (*out caller-freed), sorted by id. */
int shard_move_list(EtcdClient *c, const char *scope_prefix, ShardMove **out,
                    int *n, PgwError *err) PGW_MUSTCHECK;

/* A group as etcd shows it: <scope_prefix><group>/{initialize,leader,routing}. */
typedef struct ShardGroupInfo
{
	int group;
	bool exists; /* any key under the group's prefix */
	bool has_leader;
	char leader[PGW_NAME_MAX];
	bool has_routing;
	RoutingTable routing; /* valid when has_routing */
	int n_members;
} ShardGroupInfo;

/* shard_group_prefix: "<scope_prefix><group>/". */
void shard_group_prefix(const char *scope_prefix, int group, char *out,
                        size_t len);

/* shard_group_read: one linearizable range over the group's prefix. */
int shard_group_read(EtcdClient *c, const char *scope_prefix, int group,
                     ShardGroupInfo *out, PgwError *err) PGW_MUSTCHECK;

/*
 * shard_groups_list: the groups that have keys under scope_prefix (names
 * made of digits only), ascending, at most max.
 */
int shard_groups_list(EtcdClient *c, const char *scope_prefix, int *groups,
                      int max, int *n, PgwError *err) PGW_MUSTCHECK;

/* ------------------------------------------------------------------------
 * SQL on a group's primary (shard_sql.c)
 * ------------------------------------------------------------------------ */

struct pg_conn;

/* How the driver reaches the groups' primaries. */
typedef struct ShardPgAuth
{
	const char *user;      /* a superuser (publications, triggers) */
	const char *password;  /* NULL: libpq's own (PGPASSWORD, .pgpass) */
	const char *dbname;    /* the database holding the tables */
	int connect_timeout_s; /* <= 0: 5 */
} ShardPgAuth;

/*
 * shard_pg_open: connect to ep (a group's primary) and check that it is
 * not in recovery (PGW_ESTATE otherwise: routing is behind a failover).
 * statement_timeout is set to stmt_timeout_ms (0: none).
 */
int shard_pg_open(const ShardPgAuth *auth, const RoutingEndpoint *ep,
                  int stmt_timeout_ms, struct pg_conn **out,
                  PgwError *err) PGW_MUSTCHECK;
void shard_pg_close(struct pg_conn *conn);

/*
 * shard_sql_install: create (or update) schema pgwarden on a group's
 * primary: shard_state (the group, the map version and slot count it
 * holds), slot_owner (the ranges it takes writes for), the function
 * apply_map() and the guard trigger function. Idempotent.
 */
int shard_sql_install(struct pg_conn *conn, PgwError *err) PGW_MUSTCHECK;

/*
 * shard_sql_apply_map: make group's slot_owner say what m says, in one
 * transaction that first locks shard_state and slot_owner exclusively, so
 * it waits for every write whose guard already read them and every later
 * write sees the new ranges. A group that holds version >= m->version is
 * left alone. *lsn_after (may be NULL) receives pg_current_wal_lsn() read
 * after the commit: every write the old ranges let through is below it.
 */
int shard_sql_apply_map(struct pg_conn *conn, const ShardMap *m, int group,
                        uint64_t *lsn_after, PgwError *err) PGW_MUSTCHECK;

/*
 * shard_sql_table_guard: install the guard trigger on t (BEFORE INSERT OR
 * UPDATE, refusing a row whose slot the group does not own with SQLSTATE
 * PW001, a row with no user id with PW002). Refuses (PGW_EINVAL) a table
 * that does not exist, a column that is not smallint/integer/bigint, or a
 * primary key that does not hold the column (a move's row filter needs it
 * in the replica identity). Idempotent.
 */
int shard_sql_table_guard(struct pg_conn *conn, const ShardTable *t,
                          PgwError *err) PGW_MUSTCHECK;

/*
 * shard_sql_table_check: the table exists with an enabled guard trigger.
 * PGW_ESTATE (naming what is missing) otherwise.
 */
int shard_sql_table_check(struct pg_conn *conn, const ShardTable *t,
                          PgwError *err) PGW_MUSTCHECK;

/* shard_sql_count_range: rows of the map's tables whose slot is in
 * from..to (a check before `shard assign`, which moves no data). */
int shard_sql_count_range(struct pg_conn *conn, const ShardMap *m, int from,
                          int to, uint64_t *rows, PgwError *err) PGW_MUSTCHECK;

/* shard_sql_slot_expr: "(hashint8extended(col, 0) & (slots-1))" into buf. */
void shard_sql_slot_expr(const char *column, int slots, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * The move workflow (move.c): pgwardenctl drives it; its state is the move
 * record, so any later `pgwardenctl shard move --resume ID` continues it.
 * ------------------------------------------------------------------------ */

typedef struct ShardCtx
{
	EtcdClient *etcd;
	const char *scope_prefix;
	ShardPgAuth auth;
	int64_t step_timeout_ms;   /* one wait (copy, catch-up, a primary) */
	int64_t grace_ms;          /* before deleting moved rows on the source */
	uint64_t catchup_bytes;    /* freeze once the target is this close */
	ShardMovePhase stop_after; /* stop once this phase is recorded (tests,
								 * step by step); SHARD_MOVE_DONE: run all */
	int hold_phase;            /* once this phase is recorded, wait hold_ms
								 * and go on (a window to inspect, or for a
								 * test to fail a group over); -1: none */
	int64_t hold_ms;
	/* progress: one line per step, for the operator */
	void (*progress)(void *arg, const ShardMove *m, const char *event,
	                 const char *detail);
	void *progress_arg;
} ShardCtx;

/*
 * shard_move_create: check and record a move of from..to to target:
 * target != source, the target group exists, has a leader and a serving
 * routing table, every registered table has its guard on both primaries,
 * no slot of the range is in another move. One txn stores the map (range
 * moving, version + 1) and the new record. *out receives the record.
 * PGW_EINVAL / PGW_ESTATE / PGW_ENOTFOUND with the reason; nothing is
 * written then.
 */
int shard_move_create(ShardCtx *ctx, int from, int to, int target,
                      const char *id, ShardMove *out,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * shard_move_run: carry move id forward from its recorded phase to DONE
 * (or ctx->stop_after): copy (publication filtered on the slot function +
 * subscription on the target), catch up, freeze, wait until the target has
 * the source's last position, flip the map by CAS, give the target the
 * range, drop the replication, wait the grace period, delete the moved
 * rows on the source. Each step is idempotent; a new primary in either
 * group restarts the copy. Blocks for as long as the move takes.
 */
int shard_move_run(ShardCtx *ctx, const char *id, ShardMove *out,
                   PgwError *err) PGW_MUSTCHECK;

/*
 * shard_move_abort: undo move id before its flip: the range serves on the
 * source again (map CAS), the source's slot_owner is re-applied, the
 * replication is dropped and the copied rows deleted on the target.
 * PGW_ESTATE after the flip.
 */
int shard_move_abort(ShardCtx *ctx, const char *id,
                     PgwError *err) PGW_MUSTCHECK;

/*
 * shard_apply_groups: apply m to the slot_owner table of every group it
 * names (their primaries from the routing tables). Returns 0 when every
 * group took it; otherwise the first error, naming the group (the daemon
 * of each group's leader applies the map too, so a group that was down
 * catches up on its own).
 */
int shard_apply_groups(ShardCtx *ctx, const ShardMap *m,
                       PgwError *err) PGW_MUSTCHECK;

/*
 * shard_group_primary: a group's primary from its routing table, waiting
 * up to timeout_ms for one that serves. PGW_ESTATE when the group has no
 * leader or no serving table by then.
 */
int shard_group_primary(ShardCtx *ctx, int group, int64_t timeout_ms,
                        RoutingEndpoint *out, PgwError *err) PGW_MUSTCHECK;

#endif
