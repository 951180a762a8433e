/*
 * map.c: the shard map (shard.h, DESIGN.md `shards`): lookups in it and the
 * pure edits pgwardenctl makes before it stores a new version by
 * compare-and-swap (the codec is map_codec.c). An edit expands the ranges into one entry
 * per slot, changes the slots, and compresses them back (merging neighbours
 * of the same group, state and move): with at most 65536 slots this is
 * simple enough to be obviously right, and a map that comes out with a gap
 * or an overlap cannot exist.
 */
#include "shard/shard_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
shard_map_find(const ShardMap *m, int slot)
{
	int lo = 0;
	int hi = m->n_ranges - 1;

	while (lo <= hi)
	{
		int mid = lo + (hi - lo) / 2;

		if (slot < m->ranges[mid].from)
			hi = mid - 1;
		else if (slot > m->ranges[mid].to)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

bool
shard_map_owns(const ShardMap *m, int group, int slot)
{
	int i = shard_map_find(m, slot);

	return i >= 0 && m->ranges[i].group == group &&
	       m->ranges[i].state != SHARD_STATE_FROZEN;
}

int
shard_map_groups(const ShardMap *m, int *groups, int max)
{
	int n = 0;

	for (int i = 0; i < m->n_ranges; i++)
	{
		int g = m->ranges[i].group;
		int j;

		for (j = 0; j < n && groups[j] != g; j++)
			;
		if (j < n)
			continue;
		if (n == max)
			break;
		/* insert sorted */
		for (j = n; j > 0 && groups[j - 1] > g; j--)
			groups[j] = groups[j - 1];
		groups[j] = g;
		n++;
	}
	return n;
}

/* ---- edits over one entry per slot ---- */

typedef struct SlotView
{
	int slots;
	int32_t *group;
	uint8_t *state;
	char (*move)[SHARD_MOVE_ID_MAX];
} SlotView;

static void
expand(const ShardMap *m, SlotView *sv)
{
	sv->slots = m->slots;
	sv->group = pgw_xcalloc((size_t) m->slots, sizeof(*sv->group));
	sv->state = pgw_xcalloc((size_t) m->slots, sizeof(*sv->state));
	sv->move = pgw_xcalloc((size_t) m->slots, sizeof(*sv->move));
	for (int i = 0; i < m->n_ranges; i++)
		for (int s = m->ranges[i].from; s <= m->ranges[i].to; s++)
		{
			sv->group[s] = m->ranges[i].group;
			sv->state[s] = (uint8_t) m->ranges[i].state;
			memcpy(sv->move[s], m->ranges[i].move_id, SHARD_MOVE_ID_MAX);
		}
}

static void
sv_free(SlotView *sv)
{
	free(sv->group);
	free(sv->state);
	free(sv->move);
}

/* compress sv back into m's ranges; PGW_ESTATE when too many ranges */
static int
compress(const SlotView *sv, ShardMap *m, PgwError *err)
{
	ShardMap *tmp = pgw_xmalloc(sizeof(*tmp));
	int n = 0;
	int rc = 0;

	*tmp = *m;
	for (int s = 0; s < sv->slots; s++)
	{
		ShardRange *last = n > 0 ? &tmp->ranges[n - 1] : NULL;

		if (last && last->group == sv->group[s] &&
		    last->state == (ShardState) sv->state[s] &&
		    strcmp(last->move_id, sv->move[s]) == 0)
		{
			last->to = s;
			continue;
		}
		if (n == SHARD_RANGES_MAX)
		{
			rc = pgw_error_set(err, PGW_ESTATE,
			                   "the map would have more than %d ranges",
			                   SHARD_RANGES_MAX);
			goto out;
		}
		memset(&tmp->ranges[n], 0, sizeof(tmp->ranges[n]));
		tmp->ranges[n].from = s;
		tmp->ranges[n].to = s;
		tmp->ranges[n].group = sv->group[s];
		tmp->ranges[n].state = (ShardState) sv->state[s];
		memcpy(tmp->ranges[n].move_id, sv->move[s], SHARD_MOVE_ID_MAX);
		n++;
	}
	tmp->n_ranges = n;
	if ((rc = shard_map_validate(tmp, err)) == 0)
		*m = *tmp;
out:
	free(tmp);
	return rc;
}

static int
range_check(const ShardMap *m, int from, int to, PgwError *err)
{
	if (from < 0 || to >= m->slots || from > to)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "slots %d-%d are not a range of this map's slots 0..%d", from, to,
		    m->slots - 1);
	return 0;
}

static int
group_check(int group, PgwError *err)
{
	if (group < 0 || group > SHARD_GROUP_MAX)
		return pgw_error_set(err, PGW_EINVAL,
		                     "group %d is out of range (0..%d)", group,
		                     SHARD_GROUP_MAX);
	return 0;
}

int
shard_map_init(ShardMap *m, int slots, const int *groups, int n,
               const char *database, PgwError *err)
{
	ShardMap *tmp;
	int per;
	int rc;

	if (!shard_slots_valid(slots))
		return pgw_error_set(err, PGW_EINVAL,
		                     "slots %d is not a power of two between 1 and %d",
		                     slots, SHARD_SLOTS_MAX);
	if (n < 1 || n > SHARD_GROUPS_MAX || n > slots)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "%d groups: expected 1..%d and no more than the %d slots", n,
		    SHARD_GROUPS_MAX, slots);
	for (int i = 0; i < n; i++)
	{
		if ((rc = group_check(groups[i], err)) != 0)
			return rc;
		for (int j = 0; j < i; j++)
			if (groups[j] == groups[i])
				return pgw_error_set(err, PGW_EINVAL,
				                     "group %d is listed twice", groups[i]);
	}
	tmp = pgw_xcalloc(1, sizeof(*tmp));
	tmp->version = 1;
	tmp->slots = slots;
	pgw_strlcpy(tmp->database, database ? database : "postgres",
	            sizeof(tmp->database));
	per = slots / n;
	for (int i = 0; i < n; i++)
	{
		tmp->ranges[i].from = i * per;
		tmp->ranges[i].to = i == n - 1 ? slots - 1 : (i + 1) * per - 1;
		tmp->ranges[i].group = groups[i];
	}
	tmp->n_ranges = n;
	rc = shard_map_validate(tmp, err);
	if (rc == 0)
		*m = *tmp;
	free(tmp);
	return rc;
}

/* the first slot of from..to whose state is not SERVING, -1 if none */
static int
first_busy(const SlotView *sv, int from, int to)
{
	for (int s = from; s <= to; s++)
		if (sv->state[s] != SHARD_STATE_SERVING)
			return s;
	return -1;
}

int
shard_map_assign(ShardMap *m, int from, int to, int group, PgwError *err)
{
	SlotView sv;
	int busy;
	int rc;

	if ((rc = range_check(m, from, to, err)) != 0 ||
	    (rc = group_check(group, err)) != 0)
		return rc;
	expand(m, &sv);
	busy = first_busy(&sv, from, to);
	if (busy >= 0)
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "slot %d is %s by move \"%s\": finish or abort that move first",
		    busy,
		    sv.state[busy] == SHARD_STATE_MOVING ? "being moved" : "frozen",
		    sv.move[busy]);
		goto out;
	}
	for (int s = from; s <= to; s++)
		sv.group[s] = group;
	rc = compress(&sv, m, err);
out:
	sv_free(&sv);
	return rc;
}

int
shard_map_mark_moving(ShardMap *m, int from, int to, int target, const char *id,
                      int *source, PgwError *err)
{
	SlotView sv;
	int busy;
	int rc;

	if ((rc = range_check(m, from, to, err)) != 0 ||
	    (rc = group_check(target, err)) != 0)
		return rc;
	if (!shard_move_id_ok(id))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "move id \"%s\": expected 1..%d characters of a-z, 0-9 and -",
		    id ? id : "", SHARD_MOVE_ID_MAX - 1);
	expand(m, &sv);
	busy = first_busy(&sv, from, to);
	if (busy >= 0)
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "slot %d is already in move \"%s\" (%s): two moves of overlapping ranges are refused",
		    busy, sv.move[busy], shard_state_name(sv.state[busy]));
		goto out;
	}
	for (int s = from + 1; s <= to; s++)
		if (sv.group[s] != sv.group[from])
		{
			rc = pgw_error_set(
			    err, PGW_ESTATE,
			    "slots %d-%d span groups %d and %d: move one group's range at a time",
			    from, to, sv.group[from], sv.group[s]);
			goto out;
		}
	if (sv.group[from] == target)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "slots %d-%d are on group %d already", from, to,
		                   target);
		goto out;
	}
	for (int s = from; s <= to; s++)
	{
		sv.state[s] = SHARD_STATE_MOVING;
		pgw_strlcpy(sv.move[s], id, SHARD_MOVE_ID_MAX);
	}
	if (source)
		*source = sv.group[from];
	rc = compress(&sv, m, err);
out:
	sv_free(&sv);
	return rc;
}

int
shard_map_move_step(ShardMap *m, int from, int to, const char *id, int source,
                    int target, ShardMoveStep step, bool *changed,
                    PgwError *err)
{
	SlotView sv;
	int rc;
	int n_done = 0;
	int n_todo = 0;
	const char *what = step == SHARD_STEP_FREEZE ? "freeze"
	                   : step == SHARD_STEP_FLIP ? "flip"
	                                             : "abort";

	*changed = false;
	if ((rc = range_check(m, from, to, err)) != 0)
		return rc;
	expand(m, &sv);
	for (int s = from; s <= to; s++)
	{
		bool ours = strcmp(sv.move[s], id) == 0;
		bool done;
		bool todo;

		switch (step)
		{
			case SHARD_STEP_FREEZE:
				done = ours && sv.state[s] == SHARD_STATE_FROZEN;
				todo = ours && sv.state[s] == SHARD_STATE_MOVING;
				break;
			case SHARD_STEP_FLIP:
				done =
				    sv.state[s] == SHARD_STATE_SERVING && sv.group[s] == target;
				todo = ours && sv.state[s] == SHARD_STATE_FROZEN;
				break;
			default:
				done =
				    sv.state[s] == SHARD_STATE_SERVING && sv.group[s] == source;
				todo = ours && sv.state[s] != SHARD_STATE_SERVING;
				break;
		}
		if (!done && !todo)
		{
			rc = pgw_error_set(
			    err, PGW_ESTATE,
			    "cannot %s move \"%s\": slot %d is %s on group %d%s%s", what,
			    id, s, shard_state_name(sv.state[s]), sv.group[s],
			    sv.move[s][0] ? " in move " : "", sv.move[s]);
			goto out;
		}
		n_done += done;
		n_todo += todo;
		if (!todo)
			continue;
		if (step == SHARD_STEP_FREEZE)
			sv.state[s] = SHARD_STATE_FROZEN;
		else
		{
			sv.state[s] = SHARD_STATE_SERVING;
			sv.move[s][0] = '\0';
			sv.group[s] = step == SHARD_STEP_FLIP ? target : source;
		}
	}
	if (n_todo == 0)
		goto out; /* done already: no new version */
	if (n_done > 0)
	{
		rc = pgw_error_set(
		    err, PGW_ESTATE,
		    "cannot %s move \"%s\": part of slots %d-%d is done already, part not",
		    what, id, from, to);
		goto out;
	}
	rc = compress(&sv, m, err);
	if (rc == 0)
		*changed = true;
out:
	sv_free(&sv);
	return rc;
}

int
shard_map_table_add(ShardMap *m, const char *name, const char *column,
                    PgwError *err)
{
	char full[SHARD_TABLE_NAME_MAX];

	if (name == NULL || column == NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "a table needs a name and a column");
	if (strchr(name, '.') == NULL)
		snprintf(full, sizeof(full), "public.%s", name);
	else
		pgw_strlcpy(full, name, sizeof(full));
	if (!shard_table_name_ok(full) || strlen(name) >= SHARD_TABLE_NAME_MAX - 7)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "table \"%s\": expected [schema.]table in plain lower-case identifiers",
		    name);
	if (!shard_ident_ok(column))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "column \"%s\": expected a plain lower-case identifier", column);
	for (int i = 0; i < m->n_tables; i++)
		if (strcmp(m->tables[i].name, full) == 0)
		{
			if (strcmp(m->tables[i].column, column) == 0)
				return 0;
			return pgw_error_set(err, PGW_ECONFLICT,
			                     "table %s is sharded by column \"%s\" already",
			                     full, m->tables[i].column);
		}
	if (m->n_tables == SHARD_TABLES_MAX)
		return pgw_error_set(err, PGW_ESTATE, "at most %d sharded tables",
		                     SHARD_TABLES_MAX);
	pgw_strlcpy(m->tables[m->n_tables].name, full, SHARD_TABLE_NAME_MAX);
	pgw_strlcpy(m->tables[m->n_tables].column, column, SHARD_COLUMN_MAX);
	m->n_tables++;
	return 0;
}

int
shard_range_parse(const char *s, int slots, int *from, int *to, PgwError *err)
{
	char buf[64];
	char *dash;
	int64_t a;
	int64_t b;

	if (s == NULL || strlen(s) >= sizeof(buf) || s[0] == '\0')
		return pgw_error_set(err, PGW_EINVAL,
		                     "slot range \"%s\": expected FROM-TO or SLOT",
		                     s ? s : "");
	pgw_strlcpy(buf, s, sizeof(buf));
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (pgw_parse_int64(buf, 0, slots - 1, &a) != 0 ||
	    (dash && pgw_parse_int64(dash + 1, 0, slots - 1, &b) != 0))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "slot range \"%s\": expected FROM-TO with slots 0..%d", s,
		    slots - 1);
	if (!dash)
		b = a;
	if (a > b)
		return pgw_error_set(err, PGW_EINVAL,
		                     "slot range \"%s\": FROM is above TO", s);
	*from = (int) a;
	*to = (int) b;
	return 0;
}
