/*
 * shard_keeper.c: the shard-ownership duty of a group's leader (DESIGN.md
 * "Leader duties", notes R3 §3): while this node leads its group and runs
 * read-write, pgwarden.slot_owner in its database says what the shard map
 * in etcd says the group owns. pgwardenctl applies each map change to every
 * group itself; the keeper is what repairs a group that was down or
 * unreachable then, a restored database, or a hand edit. It runs on a
 * thread of its own with its own etcd connection, so a slow database never
 * holds up the HA loop: the loop only tells it, once per turn, whether we
 * lead (shard_keeper_tick). The apply is monotonic (a database that holds
 * a newer version is left alone) and waits for in-flight writes like the
 * driver's (shard_sql_apply_map).
 */
#include "daemon/daemon_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "shard/shard.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPER_POLL_MS    1000  /* read the map this often while leading */
#define KEEPER_RECHECK_MS 10000 /* ask the database again, map unchanged */

typedef struct Keeper
{
	int group;
	char scope_prefix[PGW_PREFIX_MAX];
	EtcdClientConfig ec; /* strings owned below */
	char *endpoints;
	char *cacert;
	char *cert;
	char *key;
	char *etcd_user;
	char *etcd_password;
	RoutingEndpoint pg; /* the local PostgreSQL (socket dir or host) */
	char *pg_user;
	char *pg_password;
	_Atomic bool leading;
	pthread_t thread;
} Keeper;

static pthread_mutex_t keeper_lock = PTHREAD_MUTEX_INITIALIZER;
static Keeper *keeper;

static char *
dup_or_null(const char *s)
{
	return s ? pgw_xstrdup(s) : NULL;
}

/* the map version the local database holds, -1 when it has no schema yet */
static int
db_version(PGconn *conn, int64_t *version, PgwError *err)
{
	PGresult *res = PQexec(
	    conn,
	    "SELECT CASE WHEN to_regclass('pgwarden.shard_state') IS NULL THEN -1"
	    " ELSE coalesce((SELECT map_version FROM pgwarden.shard_state), 0) END");

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		pgw_error_set(err, PGW_EIO, "reading pgwarden.shard_state: %s",
		              PQerrorMessage(conn));
		PQclear(res);
		return PGW_EIO;
	}
	*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static void *
keeper_main(void *arg)
{
	Keeper *k = arg;
	EtcdClient *etcd = NULL;
	PGconn *conn = NULL;
	ShardMap *m = pgw_xmalloc(sizeof(*m));
	ShardPgAuth auth = {0};
	int64_t seen_version = 0;
	int64_t next_db_check = 0;
	char last_error[PGW_ERROR_MSG_MAX] = "";

	auth.user = k->pg_user ? k->pg_user : "postgres";
	auth.password = k->pg_password;
	auth.connect_timeout_s = 2;
	for (;;)
	{
		PgwError err = {0};
		int64_t stored = 0;
		bool etcd_failed = false;
		int rc;

		pgw_sleep_ms(KEEPER_POLL_MS);
		if (!atomic_load(&k->leading))
		{
			/* a demoted node's database is someone else's to keep */
			shard_pg_close(conn);
			conn = NULL;
			seen_version = 0;
			continue;
		}
		etcd_failed = true;
		if (etcd == NULL && etcd_client_open(&k->ec, &etcd, &err) != 0)
			goto failed;
		rc = shard_map_read(etcd, k->scope_prefix, m, &err);
		if (rc == PGW_ENOTFOUND)
			continue; /* not sharded yet */
		if (rc != 0)
			goto failed;
		etcd_failed = false;
		if (m->version == seen_version && pgw_now_mono_ms() < next_db_check)
			continue;
		auth.dbname = m->database;
		if (conn == NULL &&
		    (rc = shard_pg_open(&auth, &k->pg, 2000, &conn, &err)) != 0)
			goto failed;
		if ((rc = db_version(conn, &stored, &err)) != 0)
			goto failed;
		if (stored >= 0 && stored < m->version)
		{
			/* the lock waits for in-flight writes: bounded, retried */
			if ((rc = shard_sql_apply_map(conn, m, k->group, NULL, &err)) != 0)
				goto failed;
			log_info("shard.owner.applied", "group=%d version=%lld was=%lld",
			         k->group, (long long) m->version, (long long) stored);
		}
		else if (stored < 0 && seen_version == 0)
			log_info(
			    "shard.owner.no-schema",
			    "group=%d database=%s detail=\"no schema pgwarden yet (pgwardenctl shard init or install)\"",
			    k->group, m->database);
		seen_version = m->version;
		next_db_check = pgw_now_mono_ms() + KEEPER_RECHECK_MS;
		last_error[0] = '\0';
		continue;
	failed:
		/* one line per new error, not one per second */
		if (strcmp(last_error, err.msg) != 0)
		{
			log_warn("shard.owner.failed", "group=%d detail=\"%s\"", k->group,
			         err.msg);
			pgw_strlcpy(last_error, err.msg, sizeof(last_error));
		}
		shard_pg_close(conn);
		conn = NULL;
		if (etcd_failed)
		{
			etcd_client_close(etcd);
			etcd = NULL;
		}
	}
	return NULL;
}

void
shard_keeper_tick(const NodeConfig *cfg, bool leading)
{
	Keeper *k;
	PgwError err = {0};
	char host[256];

	if (!cfg->has_group)
		return;
	pthread_mutex_lock(&keeper_lock);
	if (keeper != NULL)
	{
		atomic_store(&keeper->leading, leading);
		pthread_mutex_unlock(&keeper_lock);
		return;
	}
	k = pgw_xcalloc(1, sizeof(*k));
	k->group = cfg->group;
	if (dcs_prefix_build(cfg->namespace_, cfg->scope, k->scope_prefix,
	                     sizeof(k->scope_prefix), &err) != 0)
	{
		log_error("shard.owner.config", "detail=\"%s\"", err.msg);
		free(k);
		pthread_mutex_unlock(&keeper_lock);
		return;
	}
	k->endpoints = dup_or_null(cfg->etcd_hosts);
	k->cacert = dup_or_null(cfg->etcd_cacert);
	k->cert = dup_or_null(cfg->etcd_cert);
	k->key = dup_or_null(cfg->etcd_key);
	k->etcd_user = dup_or_null(cfg->etcd_username);
	k->etcd_password = dup_or_null(cfg->etcd_password);
	k->ec.endpoints = k->endpoints;
	k->ec.ca_file = k->cacert;
	k->ec.cert_file = k->cert;
	k->ec.key_file = k->key;
	k->ec.username = k->etcd_user;
	k->ec.password = k->etcd_password;
	k->ec.call_timeout_ms = 2000;
	/* the local server: its socket directory, else the listen address */
	if (cfg->pg_socket_dir)
		pgw_strlcpy(k->pg.host, cfg->pg_socket_dir, sizeof(k->pg.host));
	else
	{
		const char *colon =
		    cfg->pg_listen ? strrchr(cfg->pg_listen, ':') : NULL;

		snprintf(host, sizeof(host), "%.*s",
		         colon ? (int) (colon - cfg->pg_listen) : 0,
		         cfg->pg_listen ? cfg->pg_listen : "");
		if (host[0] == '\0' || strcmp(host, "*") == 0 || strchr(host, ','))
			pgw_strlcpy(host, "127.0.0.1", sizeof(host));
		pgw_strlcpy(k->pg.host, host, sizeof(k->pg.host));
	}
	k->pg.port = cfg->pg_port;
	pgw_strlcpy(k->pg.name, cfg->name, sizeof(k->pg.name));
	k->pg_user = dup_or_null(cfg->pg_superuser_username);
	k->pg_password = dup_or_null(cfg->pg_superuser_password);
	atomic_store(&k->leading, leading);
	keeper = k; /* kept even if the thread fails: no retry per loop */
	if (pthread_create(&k->thread, NULL, keeper_main, k) != 0)
	{
		log_error("shard.owner.thread",
		          "detail=\"could not start the shard keeper\"");
		pthread_mutex_unlock(&keeper_lock);
		return;
	}
	pthread_detach(k->thread);
	log_info("shard.owner.started", "group=%d scope_prefix=%s", k->group,
	         k->scope_prefix);
	pthread_mutex_unlock(&keeper_lock);
}
