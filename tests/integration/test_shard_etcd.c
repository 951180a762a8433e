/*
 * test_shard_etcd.c: the shard map and move records in a real etcd 3.4, and
 * libpgwshard's watch-kept cache, without PostgreSQL:
 *   - the map is written only by compare-and-swap: a writer holding an old
 *     mod_revision is refused (PGW_ECONFLICT) and the map stays; a second
 *     map is refused when one exists; a move record is created only once,
 *     in the same txn as its map (a refused txn writes neither);
 *   - groups under the scope are listed from their keys;
 *   - the client: a lookup answers the map's group and the group's routing
 *     table (rw, ro by weight); a new map version and a new routing epoch
 *     reach the cache within a bound; a map that does not decode (a gap)
 *     and an older version are ignored, the last good map stays; a routing
 *     table that does not decode keeps the last good one too.
 */
#include "shard/shard.h"
#include "tests/harness/etcd_harness.h"
#include "tests/harness/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                       \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			failures++;                                                        \
		}                                                                      \
		else                                                                   \
			printf("ok - %s\n", #cond);                                        \
	} while (0)

static const char *prefix = "/service/shop/";

static void
put(EtcdClient *c, const char *key, const char *value)
{
	PgwError err = {0};

	if (etcd_put(c, key, value, strlen(value), 0, NULL, NULL, &err) != 0)
	{
		fprintf(stderr, "FAIL: put %s: %s\n", key, err.msg);
		exit(1);
	}
}

static void
put_routing(EtcdClient *c, int group, int epoch, const char *primary_host)
{
	char key[128];
	char value[1024];

	snprintf(key, sizeof(key), "%s%d/routing", prefix, group);
	snprintf(
	    value, sizeof(value),
	    "{\"epoch\":%d,\"state\":\"serving\",\"leader\":\"g%da\","
	    "\"primary\":{\"name\":\"g%da\",\"host\":\"%s\",\"port\":5432},"
	    "\"replicas\":[{\"name\":\"g%db\",\"host\":\"10.0.%d.2\",\"port\":5432,\"lag\":0,\"sync_state\":\"sync\",\"weight\":10},"
	    "{\"name\":\"g%dc\",\"host\":\"10.0.%d.3\",\"port\":5432,\"lag\":0,\"sync_state\":\"async\",\"weight\":100},"
	    "{\"name\":\"g%dd\",\"host\":\"10.0.%d.4\",\"port\":5432,\"lag\":0,\"sync_state\":\"async\",\"weight\":0}],"
	    "\"time\":\"2026-12-01T00:00:00Z\"}",
	    epoch, group, group, primary_host, group, group, group, group, group,
	    group);
	put(c, key, value);
}

int
main(void)
{
	EtcdCluster *ec;
	EtcdClient *c = NULL;
	EtcdClientConfig cfg = {0};
	PgwShardConfig scfg = {0};
	PgwShardClient *sc = NULL;
	PgwShardLookup r;
	PgwError err = {0};
	ShardMap *m = calloc(1, sizeof(*m));
	ShardMap *m2 = calloc(1, sizeof(*m2));
	ShardMove mv;
	ShardExtraPut extra;
	char *json;
	char errbuf[512];
	int groups[] = {1, 2, 3};
	int listed[8];
	int n = 0;
	int64_t old_rev;
	int64_t t0;
	int64_t uid;
	int rc;

	harness_init("shard_etcd");
	ec = etcd_harness_start(1, false);
	if (ec == NULL)
		return 1;
	cfg.endpoints = etcd_harness_endpoints(ec);
	if (etcd_client_open(&cfg, &c, &err) != 0)
	{
		fprintf(stderr, "FAIL: open: %s\n", err.msg);
		return 1;
	}

	/* the groups' keys */
	for (int g = 1; g <= 3; g++)
	{
		char key[64];

		snprintf(key, sizeof(key), "%s%d/leader", prefix, g);
		put(c, key, "x");
		put_routing(c, g, 2,
		            g == 1   ? "10.0.1.1"
		            : g == 2 ? "10.0.2.1"
		                     : "10.0.3.1");
	}
	put(c, "/service/shop/members/not-a-group", "{}");
	CHECK(shard_groups_list(c, prefix, listed, 8, &n, &err) == 0 && n == 3 &&
	          listed[0] == 1 && listed[2] == 3,
	      "n=%d %s", n, err.msg);

	/* map CAS */
	CHECK(shard_map_read(c, prefix, m, &err) == PGW_ENOTFOUND, "%s", err.msg);
	CHECK(shard_map_init(m, 4096, groups, 3, "app", &err) == 0, "%s", err.msg);
	CHECK(shard_map_cas(c, prefix, m, 0, NULL, NULL, &err) == 0, "%s", err.msg);
	CHECK(shard_map_cas(c, prefix, m, 0, NULL, NULL, &err) == PGW_ECONFLICT,
	      "a second map must be refused: %s", err.msg);
	CHECK(shard_map_read(c, prefix, m, &err) == 0 && m->version == 1 &&
	          strcmp(m->database, "app") == 0,
	      "%s", err.msg);
	old_rev = m->mod_revision;
	*m2 = *m;
	CHECK(shard_map_assign(m, 4000, 4095, 3, &err) == 0, "%s", err.msg);
	m->version = 2;
	CHECK(shard_map_cas(c, prefix, m, old_rev, NULL, NULL, &err) == 0, "%s",
	      err.msg);
	/* a writer that read version 1 is refused and changes nothing */
	CHECK(shard_map_assign(m2, 0, 99, 2, &err) == 0, "%s", err.msg);
	m2->version = 2;
	CHECK(shard_map_cas(c, prefix, m2, old_rev, NULL, NULL, &err) ==
	          PGW_ECONFLICT,
	      "a stale writer must be refused: %s", err.msg);
	CHECK(shard_map_read(c, prefix, m, &err) == 0 && m->version == 2 &&
	          m->ranges[0].group == 1,
	      "the map must be the first writer's");

	/* a move record and its map in one txn, created once */
	memset(&mv, 0, sizeof(mv));
	snprintf(mv.id, sizeof(mv.id), "m1");
	mv.from = 0;
	mv.to = 99;
	mv.source = 1;
	mv.target = 2;
	json = shard_move_encode(&mv);
	extra.key_suffix = "shards/moves/m1";
	extra.value = json;
	extra.create = true;
	extra.mod_revision = 0;
	*m2 = *m;
	CHECK(shard_map_mark_moving(m2, 0, 99, 2, "m1", NULL, &err) == 0, "%s",
	      err.msg);
	m2->version = 3;
	CHECK(shard_map_cas(c, prefix, m2, m->mod_revision, &extra, NULL, &err) ==
	          0,
	      "%s", err.msg);
	m2->version = 4;
	rc = shard_map_cas(c, prefix, m2, m2->mod_revision, &extra, NULL, &err);
	CHECK(rc == PGW_ECONFLICT, "the same move twice must be refused: rc=%d",
	      rc);
	CHECK(shard_map_read(c, prefix, m, &err) == 0 && m->version == 3,
	      "a refused txn writes no map: version %lld", (long long) m->version);
	CHECK(shard_move_read(c, prefix, "m1", &mv, &err) == 0 && mv.target == 2,
	      "%s", err.msg);
	mv.phase = SHARD_MOVE_COPYING;
	CHECK(shard_move_write(c, prefix, &mv, &err) == 0, "%s", err.msg);
	mv.mod_revision--;
	CHECK(shard_move_write(c, prefix, &mv, &err) == PGW_ECONFLICT,
	      "a move record written by someone else must be refused");
	free(json);

	/* the client */
	scfg.etcd_endpoints = etcd_harness_endpoints(ec);
	scfg.scope = "shop";
	CHECK(pgw_shard_open(&scfg, &sc, errbuf, sizeof(errbuf)) == 0, "%s",
	      errbuf);
	CHECK(pgw_shard_lookup(sc, 42, &r) == 0 && r.slot == 3784 && r.group == 3 &&
	          r.map_version == 3 && r.has_rw &&
	          strcmp(r.rw.host, "10.0.3.1") == 0,
	      "slot %d group %d", r.slot, r.group);
	CHECK(r.n_ro == 2 && strcmp(r.ro[0].name, "g3c") == 0 &&
	          strcmp(r.ro[1].name, "g3b") == 0,
	      "ro by weight: %d %s", r.n_ro, r.n_ro ? r.ro[0].name : "");
	CHECK(pgw_shard_lookup(sc, 0, &r) == 0 && r.slot == 175 && r.group == 1 &&
	          r.state == PGW_SHARD_SERVING,
	      "slot %d", r.slot);
	/* a user in the moving range */
	for (uid = 1; pgw_shard_slot(uid, 4096) > 99; uid++)
		;
	CHECK(pgw_shard_lookup(sc, uid, &r) == 0 && r.state == PGW_SHARD_MOVING &&
	          r.group == 1,
	      "user %lld state %d", (long long) uid, r.state);

	/* a new version reaches the cache */
	*m2 = *m;
	CHECK(shard_map_move_step(m2, 0, 99, "m1", 1, 2, SHARD_STEP_FREEZE,
	                          &(bool){false}, &err) == 0,
	      "%s", err.msg);
	m2->version = 4;
	t0 = harness_now_ms();
	CHECK(shard_map_cas(c, prefix, m2, m->mod_revision, NULL, NULL, &err) == 0,
	      "%s", err.msg);
	CHECK(pgw_shard_wait_version(sc, 4, 5000), "version 4 within 5 s");
	printf("# a map change reached the cache in %lld ms\n",
	       (long long) (harness_now_ms() - t0));
	CHECK(pgw_shard_lookup(sc, uid, &r) == 0 && r.state == PGW_SHARD_FROZEN &&
	          r.map_version == 4,
	      "state %d", r.state);

	/* a map with a gap, and an older version: ignored */
	{
		PgwShardStats st0;
		PgwShardStats st1;

		pgw_shard_stats(sc, &st0);
		put(c, "/service/shop/shards",
		    "{\"version\":9,\"slots\":4096,\"ranges\":[{\"from\":0,\"to\":99,\"group\":1,\"state\":\"serving\"}]}");
		json = shard_map_encode(m); /* version 3 */
		put(c, "/service/shop/shards", json);
		free(json);
		CHECK(HARNESS_POLL((pgw_shard_stats(sc, &st1),
		                    st1.decode_errors > st0.decode_errors),
		                   5000, 20),
		      "the gapped map is counted as a decode error");
		harness_sleep_ms(300);
		CHECK(pgw_shard_version(sc) == 4,
		      "the last good map stays: version %lld",
		      (long long) pgw_shard_version(sc));
	}

	/* a routing change reaches the cache; a bad table is ignored */
	put_routing(c, 3, 5, "10.0.3.9");
	CHECK(HARNESS_POLL(pgw_shard_lookup(sc, 42, &r) == 0 &&
	                       strcmp(r.rw.host, "10.0.3.9") == 0,
	                   5000, 20),
	      "the group's new primary within 5 s");
	put(c, "/service/shop/3/routing", "{\"epoch\":6,\"state\":\"serving\"}");
	harness_sleep_ms(300);
	CHECK(pgw_shard_lookup(sc, 42, &r) == 0 &&
	          strcmp(r.rw.host, "10.0.3.9") == 0 && r.routing_epoch == 5,
	      "the last good routing table stays");
	put_routing(c, 3, 4, "10.0.3.8");
	harness_sleep_ms(300);
	CHECK(pgw_shard_lookup(sc, 42, &r) == 0 &&
	          strcmp(r.rw.host, "10.0.3.9") == 0,
	      "an older routing epoch is ignored");
	json = pgw_shard_map_json(sc);
	CHECK(strstr(json, "\"groups\":{\"1\":") != NULL &&
	          strstr(json, "10.0.3.9") != NULL,
	      "map json: %.200s", json);
	free(json);

	pgw_shard_close(sc);
	etcd_client_close(c);
	etcd_harness_stop(ec);
	free(m);
	free(m2);
	printf("%d failures\n", failures);
	return failures ? 1 : 0;
}
