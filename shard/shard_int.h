/*
 * shard_int.h: shared inside shard/ only: the SQL steps of a move
 * (move_sql.c) that move.c sequences.
 */
#ifndef PGW_SHARD_INT_H
#define PGW_SHARD_INT_H

#include "shard/shard.h"

#include <libpq-fe.h>

/* shard_table_name_ok: "schema.table", both plain identifiers (map_codec.c) */
bool shard_table_name_ok(const char *s);

/* libpq helpers (shard_sql.c): 0 or a PGW_E* naming the host and SQLSTATE
 * (PGW_EUNAVAILABLE when the connection is gone, PGW_ETIMEDOUT for a
 * statement timeout, PGW_ESTATE on a read-only server). shard_pq_error
 * clears res. */
int shard_pq_error(PGresult *res, PGconn *conn, const char *what,
                   PgwError *err);
int shard_pq_exec(PGconn *conn, const char *what, const char *sql,
                  PgwError *err);
int shard_pq_query(PGconn *conn, const char *what, const char *sql, int n,
                   const char *const *params, PGresult **out, PgwError *err);
int shard_pq_lsn(PGconn *conn, uint64_t *lsn, PgwError *err);

/* "pgw_move_<id with - as _>": the publication, subscription and slot */
void move_repl_name(const char *id, char *out, size_t len);

/* the publication of the move's rows on the source (idempotent) */
int move_sql_publication(PGconn *src, const ShardMap *m, const ShardMove *mv,
                         PgwError *err);
int move_sql_drop_publication(PGconn *src, const ShardMove *mv, PgwError *err);

/*
 * The subscription on the target. _drop never reaches the source (it is
 * disabled and detached from its slot first); move_sql_drop_slots drops
 * the move's slots on the source (the main one and the table-sync ones of
 * suboid, 0 when unknown), ending a walsender that still holds one.
 */
int move_sql_subscribe(PGconn *dst, const ShardPgAuth *auth,
                       const RoutingEndpoint *src_ep, const ShardMove *mv,
                       PgwError *err);
int move_sql_drop_subscription(PGconn *dst, const ShardMove *mv,
                               uint32_t *suboid, PgwError *err);
int move_sql_drop_slots(PGconn *src, const ShardMove *mv, uint32_t suboid,
                        PgwError *err);

/* The subscription's state on the target: present, tables total and not
 * yet ready ('r'), apply/sync errors seen since it was made. */
typedef struct MoveSubState
{
	bool exists;
	bool enabled;
	int n_tables;
	int n_not_ready;
	int64_t errors;
} MoveSubState;

int move_sql_sub_state(PGconn *dst, const ShardMove *mv, MoveSubState *out,
                       PgwError *err);

/* The slot on the source: present, active, confirmed_flush_lsn, and the
 * source's current WAL position. */
typedef struct MoveSlotState
{
	bool exists;
	bool active;
	uint64_t confirmed_flush;
	uint64_t current;
} MoveSlotState;

int move_sql_slot_state(PGconn *src, const ShardMove *mv, MoveSlotState *out,
                        PgwError *err);

/*
 * move_sql_delete_range: delete the rows of every sharded table whose slot
 * is in mv's range, bypassing the guard (session_replication_role =
 * replica): the copied rows on a target that restarts its copy, the moved
 * rows on the source after the grace period. *rows gets the count.
 */
int move_sql_delete_range(PGconn *conn, const ShardMap *m, const ShardMove *mv,
                          uint64_t *rows, PgwError *err);

#endif
