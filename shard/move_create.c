/*
 * move_create.c: shard_move_create (shard.h), the checks before an online
 * move is recorded: both groups have a serving primary, every sharded table
 * is guarded on both, then one map CAS marks the range moving and writes
 * the move record (move.c drives it from there).
 */
#include "shard/shard_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
shard_move_create(ShardCtx *ctx, int from, int to, int target, const char *id,
                  ShardMove *out, PgwError *err)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	ShardMove mv;
	RoutingEndpoint sep;
	RoutingEndpoint dep;
	PGconn *src = NULL;
	PGconn *dst = NULL;
	char gen_id[SHARD_MOVE_ID_MAX];
	char suffix[64];
	char *value = NULL;
	ShardExtraPut extra;
	int source = -1;
	int rc;

	memset(&mv, 0, sizeof(mv));
	if ((rc = shard_map_read(ctx->etcd, ctx->scope_prefix, m, err)) != 0)
		goto out;
	if (id == NULL)
	{
		snprintf(gen_id, sizeof(gen_id), "m%lld-%d-%d",
		         (long long) m->version + 1, from, to);
		id = gen_id;
	}
	if ((rc = shard_map_mark_moving(m, from, to, target, id, &source, err)) !=
	    0)
		goto out;
	if (m->n_tables == 0)
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "no sharded tables are registered: nothing to move (pgwardenctl shard table add TABLE COLUMN, or shard assign for an empty range)");
		goto out;
	}
	/* both groups must be there, with a primary, and guard every table */
	if ((rc = shard_group_primary(ctx, target, 0, &dep, err)) != 0 ||
	    (rc = shard_group_primary(ctx, source, 0, &sep, err)) != 0)
	{
		pgw_error_prefix(err, "cannot move slots %d-%d to group %d", from, to,
		                 target);
		goto out;
	}
	if ((rc = shard_pg_open(&ctx->auth, &sep, 10000, &src, err)) != 0 ||
	    (rc = shard_pg_open(&ctx->auth, &dep, 10000, &dst, err)) != 0)
		goto out;
	for (int i = 0; i < m->n_tables; i++)
		if ((rc = shard_sql_table_check(src, &m->tables[i], err)) != 0 ||
		    (rc = shard_sql_table_check(dst, &m->tables[i], err)) != 0)
		{
			pgw_error_prefix(err, "cannot move slots %d-%d", from, to);
			goto out;
		}
	pgw_strlcpy(mv.id, id, sizeof(mv.id));
	mv.from = from;
	mv.to = to;
	mv.source = source;
	mv.target = target;
	mv.phase = SHARD_MOVE_CREATED;
	mv.created_wall_ms = mv.updated_wall_ms = pgw_now_wall_ms();
	snprintf(suffix, sizeof(suffix), "%s%s", SHARD_MOVES_KEY, id);
	value = shard_move_encode(&mv);
	extra.key_suffix = suffix;
	extra.value = value;
	extra.create = true;
	extra.mod_revision = 0;
	m->version++;
	if ((rc = shard_map_cas(ctx->etcd, ctx->scope_prefix, m, m->mod_revision,
	                        &extra, &mv.mod_revision, err)) != 0)
	{
		if (rc == PGW_ECONFLICT)
			pgw_error_set(
			    err, PGW_ECONFLICT,
			    "the shard map changed while the move was checked, or a move called \"%s\" exists already: nothing was written; try again",
			    id);
		goto out;
	}
	if (out)
		*out = mv;
out:
	free(value);
	shard_pg_close(src);
	shard_pg_close(dst);
	free(m);
	return rc;
}
