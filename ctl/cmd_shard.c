/*
 * cmd_shard.c: `pgwardenctl shard ...` (DESIGN.md `shards`, notes R3): the
 * shard map (init, assign, table add, install, show), lookups through
 * libpgwshard, and the online move's driver (move, split; resumable, its
 * state in etcd: shard/move.c). Also `list` over every group of a sharded
 * scope. Every map change is one compare-and-swap on the version read; a
 * refusal leaves the map and the data as they were.
 */
#include "ctl/ctl_int.h"
#include "ctl/shard_args.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "shard/shard.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ShardCmdCtx
{
	CtlGlobal *g;
	const ShardArgs *a;
	EtcdClient *etcd;
	ShardCtx ctx;
	char dbname[64]; /* the map's database */
} ShardCmdCtx;

static void
progress(void *arg, const ShardMove *m, const char *event, const char *detail)
{
	char ts[40];

	(void) arg;
	pgw_format_wall_iso(pgw_now_wall_ms(), 0, ts, sizeof(ts));
	printf("%s move %s [%s] %s: %s\n", ts, m->id,
	       shard_move_phase_name(m->phase), event, detail);
	fflush(stdout);
}

static void
ctx_init(ShardCmdCtx *sc, CtlGlobal *g, const ShardArgs *a, EtcdClient *c)
{
	const char *env_user = getenv("PGUSER");
	const char *env_pw = getenv("PGPASSWORD");

	memset(sc, 0, sizeof(*sc));
	sc->g = g;
	sc->a = a;
	sc->etcd = c;
	sc->ctx.etcd = c;
	sc->ctx.scope_prefix = g->scope_prefix;
	sc->ctx.auth.user = g->pg_user ? g->pg_user
	                    : env_user ? env_user
	                               : "postgres";
	sc->ctx.auth.password = g->pg_password ? g->pg_password : env_pw;
	sc->ctx.auth.dbname = a->dbname ? a->dbname : "postgres";
	sc->ctx.auth.connect_timeout_s = 5;
	sc->ctx.step_timeout_ms = a->timeout_ms;
	sc->ctx.grace_ms = a->grace_ms;
	sc->ctx.catchup_bytes = a->catchup_bytes;
	sc->ctx.stop_after =
	    a->stop_after >= 0 ? (ShardMovePhase) a->stop_after : SHARD_MOVE_DONE;
	sc->ctx.hold_phase = a->hold_phase;
	sc->ctx.hold_ms = a->hold_ms;
	sc->ctx.progress = progress;
}

/* a group's primary, connected; CTL_EXIT_FAILED with the reason */
static int
group_conn(ShardCmdCtx *sc, int group, PGconn **conn)
{
	RoutingEndpoint ep;
	PgwError err = {0};

	if (shard_group_primary(&sc->ctx, group, 10000, &ep, &err) != 0 ||
	    shard_pg_open(&sc->ctx.auth, &ep, 60000, conn, &err) != 0)
	{
		ctl_fail("group %d: %s", group, err.msg);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

/* the map, or CTL_EXIT_FAILED with the reason */
static int
read_map(ShardCmdCtx *sc, ShardMap *m)
{
	PgwError err = {0};

	if (shard_map_read(sc->etcd, sc->g->scope_prefix, m, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

/* store m as the next version (CAS on the version read) and apply it */
static int
store_map(ShardCmdCtx *sc, ShardMap *m, int64_t expect_mod_rev)
{
	PgwError err = {0};

	if (shard_map_cas(sc->etcd, sc->g->scope_prefix, m, expect_mod_rev, NULL,
	                  NULL, &err) != 0)
	{
		ctl_fail("%s; nothing changed", err.msg);
		return CTL_EXIT_FAILED;
	}
	printf("shard map version %lld stored\n", (long long) m->version);
	if (shard_apply_groups(&sc->ctx, m, &err) != 0)
		fprintf(
		    stderr,
		    "pgwardenctl: warning: %s (that group's leader applies the map when it can)\n",
		    err.msg);
	return CTL_EXIT_OK;
}

/* a group that a new map names must exist and have a serving primary */
static int
group_ready(ShardCmdCtx *sc, int group)
{
	RoutingEndpoint ep;
	PgwError err = {0};

	if (shard_group_primary(&sc->ctx, group, 0, &ep, &err) != 0)
	{
		ctl_fail("%s; the map was not changed", err.msg);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

static int
do_init(ShardCmdCtx *sc)
{
	ShardMap *m = pgw_xcalloc(1, sizeof(*m));
	PgwError err = {0};
	int rc;

	rc = shard_map_read(sc->etcd, sc->g->scope_prefix, m, &err);
	if (rc != PGW_ENOTFOUND)
	{
		if (rc == 0)
			ctl_fail(
			    "a shard map exists already (version %lld, %d slots): nothing changed",
			    (long long) m->version, m->slots);
		else
			ctl_fail("%s", err.msg);
		free(m);
		return CTL_EXIT_FAILED;
	}
	if (shard_map_init(m, sc->a->slots, sc->a->groups, sc->a->n_groups,
	                   sc->a->dbname, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		free(m);
		return CTL_EXIT_FAILED;
	}
	/* every group first: a group that cannot take the schema gets no map */
	for (int i = 0; i < sc->a->n_groups; i++)
	{
		PGconn *conn = NULL;

		if ((rc = group_ready(sc, sc->a->groups[i])) != CTL_EXIT_OK ||
		    (rc = group_conn(sc, sc->a->groups[i], &conn)) != CTL_EXIT_OK)
		{
			free(m);
			return rc;
		}
		if (shard_sql_install(conn, &err) != 0)
		{
			ctl_fail("group %d: %s", sc->a->groups[i], err.msg);
			shard_pg_close(conn);
			free(m);
			return CTL_EXIT_FAILED;
		}
		shard_pg_close(conn);
	}
	rc = store_map(sc, m, 0);
	free(m);
	return rc;
}

/* rows of slots from..to that group holds in the map's tables */
static int
count_rows(ShardCmdCtx *sc, const ShardMap *m, int group, int from, int to,
           uint64_t *rows)
{
	PGconn *conn = NULL;
	PgwError err = {0};
	int rc;

	*rows = 0;
	if ((rc = group_conn(sc, group, &conn)) != CTL_EXIT_OK)
		return rc;
	if (shard_sql_count_range(conn, m, from, to, rows, &err) != 0)
	{
		ctl_fail("group %d: %s", group, err.msg);
		rc = CTL_EXIT_FAILED;
	}
	shard_pg_close(conn);
	return rc;
}

static int
do_assign(ShardCmdCtx *sc)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	PgwError err = {0};
	int from;
	int to;
	int rc;

	if ((rc = read_map(sc, m)) != CTL_EXIT_OK)
		goto out;
	if (shard_range_parse(sc->a->range, m->slots, &from, &to, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	if ((rc = group_ready(sc, sc->a->group)) != CTL_EXIT_OK)
		goto out;
	/* assign moves no data: refuse to orphan rows */
	for (int s = from; s <= to; s++)
	{
		int i = shard_map_find(m, s);
		int owner = m->ranges[i].group;
		uint64_t rows = 0;
		int end = m->ranges[i].to < to ? m->ranges[i].to : to;

		if (owner != sc->a->group && m->n_tables > 0)
		{
			if ((rc = count_rows(sc, m, owner, s, end, &rows)) != CTL_EXIT_OK)
				goto out;
			if (rows > 0)
			{
				ctl_fail(
				    "group %d holds %llu rows of slots %d-%d: assign moves no data, use shard move; the map was not changed",
				    owner, (unsigned long long) rows, s, end);
				rc = CTL_EXIT_FAILED;
				goto out;
			}
		}
		s = end;
	}
	if (shard_map_assign(m, from, to, sc->a->group, &err) != 0)
	{
		ctl_fail("%s; the map was not changed", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	m->version++;
	rc = store_map(sc, m, m->mod_revision);
out:
	free(m);
	return rc;
}

/* install the schema (and every table's guard, and the map) on group */
static int
install_group(ShardCmdCtx *sc, const ShardMap *m, int group,
              const ShardTable *extra)
{
	PGconn *conn = NULL;
	PgwError err = {0};
	int rc;

	if ((rc = group_conn(sc, group, &conn)) != CTL_EXIT_OK)
		return rc;
	if (shard_sql_install(conn, &err) != 0)
		goto fail;
	for (int i = 0; i < m->n_tables; i++)
		if (shard_sql_table_guard(conn, &m->tables[i], &err) != 0)
			goto fail;
	if (extra && shard_sql_table_guard(conn, extra, &err) != 0)
		goto fail;
	if (shard_sql_apply_map(conn, m, group, NULL, &err) != 0)
		goto fail;
	shard_pg_close(conn);
	return CTL_EXIT_OK;
fail:
	ctl_fail("group %d: %s", group, err.msg);
	shard_pg_close(conn);
	return CTL_EXIT_FAILED;
}

static int
do_table_add(ShardCmdCtx *sc)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	PgwError err = {0};
	int groups[SHARD_GROUPS_MAX];
	int n;
	int rc;

	if ((rc = read_map(sc, m)) != CTL_EXIT_OK)
		goto out;
	if (shard_map_table_add(m, sc->a->table, sc->a->column, &err) != 0)
	{
		ctl_fail("%s; the map was not changed", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	/* the guard on every group before the map lists the table */
	n = shard_map_groups(m, groups, SHARD_GROUPS_MAX);
	for (int i = 0; i < n; i++)
		if ((rc = install_group(sc, m, groups[i], NULL)) != CTL_EXIT_OK)
		{
			fprintf(stderr, "pgwardenctl: the map was not changed\n");
			goto out;
		}
	printf("guard trigger pgwarden_slot_guard installed on %s in %d groups\n",
	       m->tables[m->n_tables - 1].name, n);
	m->version++;
	rc = store_map(sc, m, m->mod_revision);
out:
	free(m);
	return rc;
}

static int
do_install(ShardCmdCtx *sc)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	int groups[SHARD_GROUPS_MAX];
	int n;
	int rc;
	int failed = 0;

	if ((rc = read_map(sc, m)) != CTL_EXIT_OK)
		goto out;
	n = shard_map_groups(m, groups, SHARD_GROUPS_MAX);
	for (int i = 0; i < n; i++)
	{
		if (install_group(sc, m, groups[i], NULL) != CTL_EXIT_OK)
			failed++;
		else
			printf(
			    "group %d: schema pgwarden, %d guard triggers, map version %lld\n",
			    groups[i], m->n_tables, (long long) m->version);
	}
	rc = failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
out:
	free(m);
	return rc;
}

static json_t *
move_json(const ShardMove *mv)
{
	char *s = shard_move_encode(mv);
	json_error_t jerr;
	json_t *o = json_loads(s, 0, &jerr);

	free(s);
	return o ? o : json_null();
}

static int
do_show(ShardCmdCtx *sc)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	ShardMove *moves = NULL;
	int n_moves = 0;
	int groups[SHARD_GROUPS_MAX];
	ShardGroupInfo *gi = pgw_xcalloc(SHARD_GROUPS_MAX, sizeof(ShardGroupInfo));
	PgwError err = {0};
	int n;
	int rc;
	CtlFormat fmt = sc->a->has_format ? sc->a->format : sc->g->format;

	if ((rc = read_map(sc, m)) != CTL_EXIT_OK)
		goto out;
	if (shard_move_list(sc->etcd, sc->g->scope_prefix, &moves, &n_moves,
	                    &err) != 0)
	{
		ctl_fail("%s", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	n = shard_map_groups(m, groups, SHARD_GROUPS_MAX);
	for (int i = 0; i < n; i++)
		if (shard_group_read(sc->etcd, sc->g->scope_prefix, groups[i], &gi[i],
		                     &err) != 0)
			gi[i].group = groups[i];
	if (fmt == CTL_FORMAT_JSON)
	{
		char *ms = shard_map_encode(m);
		json_error_t jerr;
		json_t *root = json_object();
		json_t *jm = json_array();
		json_t *jg = json_object();
		char *s;

		json_object_set_new(root, "map", json_loads(ms, 0, &jerr));
		free(ms);
		for (int i = 0; i < n_moves; i++)
			json_array_append_new(jm, move_json(&moves[i]));
		json_object_set_new(root, "moves", jm);
		for (int i = 0; i < n; i++)
		{
			json_t *o = json_object();
			char key[16];

			json_object_set_new(o, "leader",
			                    gi[i].has_leader ? json_string(gi[i].leader)
			                                     : json_null());
			if (gi[i].has_routing && gi[i].routing.has_primary)
			{
				json_object_set_new(o, "primary",
				                    json_string(gi[i].routing.primary.name));
				json_object_set_new(o, "host",
				                    json_string(gi[i].routing.primary.host));
				json_object_set_new(o, "port",
				                    json_integer(gi[i].routing.primary.port));
			}
			snprintf(key, sizeof(key), "%d", groups[i]);
			json_object_set_new(jg, key, o);
		}
		json_object_set_new(root, "groups", jg);
		s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "");
		free(s);
		json_decref(root);
		goto out;
	}
	printf("Shard map version %lld, %d slots, %d groups\n",
	       (long long) m->version, m->slots, n);
	printf("  %-12s %-6s %-8s %-20s %s\n", "slots", "group", "state", "move",
	       "primary");
	for (int i = 0; i < m->n_ranges; i++)
	{
		const ShardRange *r = &m->ranges[i];
		char slots[32];
		char prim[320] = "-";

		snprintf(slots, sizeof(slots), "%d-%d", r->from, r->to);
		for (int j = 0; j < n; j++)
			if (groups[j] == r->group && gi[j].has_routing &&
			    gi[j].routing.has_primary)
				snprintf(prim, sizeof(prim), "%s %s:%d",
				         gi[j].routing.primary.name, gi[j].routing.primary.host,
				         gi[j].routing.primary.port);
		printf("  %-12s %-6d %-8s %-20s %s\n", slots, r->group,
		       shard_state_name(r->state), r->move_id[0] ? r->move_id : "-",
		       prim);
	}
	printf("Tables:");
	for (int i = 0; i < m->n_tables; i++)
		printf(" %s(%s)", m->tables[i].name, m->tables[i].column);
	printf("%s\n", m->n_tables ? "" : " none");
	if (n_moves > 0)
		printf("Moves:\n");
	for (int i = 0; i < n_moves; i++)
	{
		const ShardMove *mv = &moves[i];

		printf("  %-20s slots %d-%d, group %d -> %d, %s, copies %d", mv->id,
		       mv->from, mv->to, mv->source, mv->target,
		       shard_move_phase_name(mv->phase), mv->copies);
		if (mv->frozen_wall_ms && mv->flipped_wall_ms)
			printf(", frozen %lld ms",
			       (long long) (mv->flipped_wall_ms - mv->frozen_wall_ms));
		if (mv->rows_deleted)
			printf(", %llu rows deleted on the source",
			       (unsigned long long) mv->rows_deleted);
		if (mv->last_error[0])
			printf("\n    last error: %s", mv->last_error);
		printf("\n");
	}
out:
	free(moves);
	free(gi);
	free(m);
	return rc;
}

static int
do_lookup(ShardCmdCtx *sc)
{
	PgwShardConfig cfg = {0};
	PgwShardClient *client = NULL;
	PgwShardLookup r;
	char errbuf[512];
	CtlFormat fmt = sc->a->has_format ? sc->a->format : sc->g->format;

	cfg.etcd_endpoints = sc->g->etcd;
	cfg.namespace_ = sc->g->namespace_;
	cfg.scope = sc->g->scope;
	cfg.ca_file = sc->g->cacert;
	cfg.cert_file = sc->g->cert;
	cfg.key_file = sc->g->key;
	cfg.username = sc->g->username;
	cfg.password = sc->g->password;
	cfg.timeout_ms = sc->g->timeout_ms;
	if (pgw_shard_open(&cfg, &client, errbuf, sizeof(errbuf)) != 0)
	{
		ctl_fail("%s", errbuf);
		return CTL_EXIT_FAILED;
	}
	if (pgw_shard_lookup(client, sc->a->user_id, &r) != 0)
	{
		ctl_fail("user id %lld: the map has no range for its slot",
		         (long long) sc->a->user_id);
		pgw_shard_close(client);
		return CTL_EXIT_FAILED;
	}
	if (fmt == CTL_FORMAT_JSON)
	{
		char *s = pgw_shard_lookup_json(&r);

		printf("%s\n", s);
		free(s);
	}
	else
	{
		printf("user %lld: slot %d, group %d (%s), shard map version %lld\n",
		       (long long) r.user_id, r.slot, r.group,
		       shard_state_name((ShardState) r.state),
		       (long long) r.map_version);
		if (r.has_rw)
			printf("  rw: %s %s:%d\n", r.rw.name, r.rw.host, r.rw.port);
		else
			printf("  rw: none (the group has no serving primary now)\n");
		for (int i = 0; i < r.n_ro; i++)
			printf("  ro: %s %s:%d\n", r.ro[i].name, r.ro[i].host,
			       r.ro[i].port);
	}
	pgw_shard_close(client);
	return CTL_EXIT_OK;
}

static int
report_move(const ShardMove *mv, int rc, const PgwError *err)
{
	if (rc != 0)
	{
		ctl_fail(
		    "move %s stopped in phase %s: %s (continue with: pgwardenctl shard move --resume %s, or undo with --abort %s before the flip)",
		    mv->id[0] ? mv->id : "?", shard_move_phase_name(mv->phase),
		    err->msg, mv->id, mv->id);
		return CTL_EXIT_FAILED;
	}
	printf("move %s: %s", mv->id, shard_move_phase_name(mv->phase));
	if (mv->frozen_wall_ms && mv->flipped_wall_ms)
		printf(", slots %d-%d frozen for %lld ms", mv->from, mv->to,
		       (long long) (mv->flipped_wall_ms - mv->frozen_wall_ms));
	if (mv->phase == SHARD_MOVE_DONE)
		printf(", %llu rows deleted on group %d",
		       (unsigned long long) mv->rows_deleted, mv->source);
	printf("\n");
	return CTL_EXIT_OK;
}

static int
do_move(ShardCmdCtx *sc, bool split)
{
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	ShardMove mv;
	PgwError err = {0};
	int from;
	int to;
	int rc;

	memset(&mv, 0, sizeof(mv));
	if (sc->a->abort_move)
	{
		free(m);
		if (shard_move_abort(&sc->ctx, sc->a->move_id, &err) != 0)
		{
			ctl_fail("%s", err.msg);
			return CTL_EXIT_FAILED;
		}
		printf("move %s: aborted\n", sc->a->move_id);
		return CTL_EXIT_OK;
	}
	if (sc->a->resume)
	{
		free(m);
		rc = shard_move_run(&sc->ctx, sc->a->move_id, &mv, &err);
		if (rc != 0 && mv.id[0] == '\0')
			pgw_strlcpy(mv.id, sc->a->move_id, sizeof(mv.id));
		return report_move(&mv, rc, &err);
	}
	if ((rc = read_map(sc, m)) != CTL_EXIT_OK)
	{
		free(m);
		return rc;
	}
	if (shard_range_parse(sc->a->range, m->slots, &from, &to, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		free(m);
		return CTL_EXIT_USAGE;
	}
	free(m);
	if (split)
	{
		if (from == to)
		{
			ctl_fail("cannot split the single slot %d", from);
			return CTL_EXIT_FAILED;
		}
		from += (to - from + 1) / 2;
		printf("split: moving the upper half, slots %d-%d, to group %d\n", from,
		       to, sc->a->group);
	}
	if (shard_move_create(&sc->ctx, from, to, sc->a->group, sc->a->move_id, &mv,
	                      &err) != 0)
	{
		ctl_fail("%s; nothing changed", err.msg);
		return CTL_EXIT_FAILED;
	}
	printf("move %s created: slots %d-%d from group %d to group %d\n", mv.id,
	       mv.from, mv.to, mv.source, mv.target);
	fflush(stdout);
	rc = shard_move_run(&sc->ctx, mv.id, &mv, &err);
	return report_move(&mv, rc, &err);
}

int
cmd_shard(CtlGlobal *g, const CtlArgs *a)
{
	ShardArgs sa;
	ShardCmdCtx sc;
	EtcdClient *c = NULL;
	PgwError err = {0};
	int rc;

	if (shard_args_parse(a->raw_argc, a->raw_argv, &sa, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_USAGE;
	}
	if (sa.help)
	{
		shard_args_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (sa.cmd == SHARD_CMD_LOOKUP)
	{
		ctx_init(&sc, g, &sa, NULL);
		return do_lookup(&sc);
	}
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	ctx_init(&sc, g, &sa, c);
	/* the map names the groups' database; --dbname only picks it at init */
	if (sa.cmd != SHARD_CMD_INIT)
	{
		ShardMap *m = pgw_xmalloc(sizeof(*m));

		if (shard_map_read(c, g->scope_prefix, m, &err) == 0)
			pgw_strlcpy(sc.dbname, m->database, sizeof(sc.dbname));
		free(m);
		if (sc.dbname[0])
			sc.ctx.auth.dbname = sc.dbname;
	}
	switch (sa.cmd)
	{
		case SHARD_CMD_INIT:
			rc = do_init(&sc);
			break;
		case SHARD_CMD_SHOW:
			rc = do_show(&sc);
			break;
		case SHARD_CMD_ASSIGN:
			rc = do_assign(&sc);
			break;
		case SHARD_CMD_TABLE_ADD:
			rc = do_table_add(&sc);
			break;
		case SHARD_CMD_INSTALL:
			rc = do_install(&sc);
			break;
		case SHARD_CMD_MOVE:
			rc = do_move(&sc, false);
			break;
		case SHARD_CMD_SPLIT:
			rc = do_move(&sc, true);
			break;
		default:
			rc = CTL_EXIT_USAGE;
			break;
	}
	etcd_client_close(c);
	return rc;
}

int
ctl_list_groups(CtlGlobal *g, EtcdClient *c, bool topology, CtlFormat fmt)
{
	int groups[SHARD_GROUPS_MAX];
	int n = 0;
	PgwError err = {0};
	char saved[PGW_PREFIX_MAX];
	int rc = CTL_EXIT_OK;

	if (shard_groups_list(c, g->scope_prefix, groups, SHARD_GROUPS_MAX, &n,
	                      &err) != 0 ||
	    n == 0)
		return -1;
	pgw_strlcpy(saved, g->prefix, sizeof(saved));
	for (int i = 0; i < n; i++)
	{
		ClusterView *v = NULL;
		int64_t ttl = -1;
		char label[160];

		snprintf(g->prefix, sizeof(g->prefix), "%s%d/", g->scope_prefix,
		         groups[i]);
		snprintf(label, sizeof(label), "%s group %d", g->scope, groups[i]);
		if (ctl_view(g, c, &v) != CTL_EXIT_OK)
		{
			rc = CTL_EXIT_FAILED;
			continue;
		}
		if (v->has_leader && v->leader_lease != 0)
		{
			int64_t granted;

			if (etcd_lease_ttl(c, v->leader_lease, &ttl, &granted, &err) != 0)
				ttl = -1;
		}
		if (topology)
			ctl_topology_print(stdout, v, label, fmt);
		else
			ctl_list_print(stdout, v, label, ttl, fmt);
		free(v);
	}
	pgw_strlcpy(g->prefix, saved, sizeof(g->prefix));
	return rc;
}
