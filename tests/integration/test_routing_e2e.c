/*
 * test_routing_e2e.c: routing/ end to end (issue 7, notes R1) with real
 * processes on loopback: one etcd, two PostgreSQL 15 servers (n1, n2; two
 * independent primaries stand in for the roles), a PgBouncer 1.18 and an
 * HAProxy 2.6, each driven by a real pgwarden-router. The test holds the
 * leader key on a lease and publishes tables with routing_publish(), as the
 * daemon's leader will.
 * Scenario: refusals first (a publish from a non-leader, from a wrong lease,
 * a stale epoch, a corrupt value that the router must ignore), then:
 * serving n1 -> fenced -> serving n2 (PgBouncer and HAProxy move, time from
 * publish to first write printed), an unplanned direct move (old client
 * connections never reach the old primary), a fence during which a client
 * came and went (the router clears the "last connect failed" mark PgBouncer
 * set on the pool before it RESUMEs, so the next client does not wait
 * server_login_retry),
 * a planned switchover through
 * PgBouncer (switching: PAUSE, then RELOAD + RESUME) with a client loop that
 * must see zero errors, and etcd frozen (SIGSTOP): writes stop within
 * router_ttl and come back after SIGCONT. Every wait is a bounded poll;
 * everything started is stopped at exit by the harness.
 */
#include "routing/routing.h"

#include "common/pgwtime.h"
#include "tests/harness/etcd_harness.h"
#include "tests/harness/pg_harness.h"
#include "tests/harness/proc.h"

#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                       \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			exit(1);                                                           \
		}                                                                      \
	} while (0)

#define STEP(name)                                                             \
	printf("--- %s (t=%.1fs)\n", name, (harness_now_ms() - t0) / 1000.0);      \
	fflush(stdout)

#define ROUTER_TTL_MS 2000

static int64_t t0;
static char *dir;
static char prefix[PGW_PREFIX_MAX];
static EtcdClient *etcd;
static int64_t lease;
static PgNode n1;
static PgNode n2;
static int pgb_port;
static int rw_port;
static int ro_port;
static int64_t epoch;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL, "open %s", path);
	fputs(text, f);
	fclose(f);
	if (harness_run_user())
	{
		struct passwd *pw = getpwnam(harness_run_user());

		CHECK(pw && chown(path, pw->pw_uid, pw->pw_gid) == 0, "chown %s", path);
	}
}

/* one query through a fresh connection; the first value or "" */
static bool
query_via(int port, const char *db, const char *sql, char *out, size_t len,
          char *errbuf, size_t errlen)
{
	char ci[256];
	PGconn *c;
	PGresult *r;
	bool ok;

	snprintf(
	    ci, sizeof(ci),
	    "host=127.0.0.1 port=%d dbname=%s user=app password=app connect_timeout=3",
	    port, db);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
	{
		if (errbuf)
			snprintf(errbuf, errlen, "%s", PQerrorMessage(c));
		PQfinish(c);
		return false;
	}
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	if (ok && out)
		snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
	if (!ok && errbuf)
		snprintf(errbuf, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok;
}

static int
write_port(int port, const char *db)
{
	char v[32] = "";

	if (!query_via(
	        port, db,
	        "INSERT INTO t(port) VALUES (inet_server_port()) RETURNING port", v,
	        sizeof(v), NULL, 0))
		return -1;
	return (int) strtol(v, NULL, 10);
}

static RoutingTable *
mk_table(RoutingState st, PgNode *primary, PgNode *replica)
{
	static RoutingTable t;

	memset(&t, 0, sizeof(t));
	t.state = st;
	snprintf(t.leader, sizeof(t.leader), "n1");
	t.changed_at_wall_ms = pgw_now_wall_ms();
	if (primary)
	{
		t.has_primary = true;
		snprintf(t.primary.name, sizeof(t.primary.name), "%s", primary->name);
		snprintf(t.primary.host, sizeof(t.primary.host), "127.0.0.1");
		t.primary.port = primary->port;
	}
	if (replica)
	{
		t.n_replicas = 1;
		snprintf(t.replicas[0].ep.name, sizeof(t.replicas[0].ep.name), "%s",
		         replica->name);
		snprintf(t.replicas[0].ep.host, sizeof(t.replicas[0].ep.host),
		         "127.0.0.1");
		t.replicas[0].ep.port = replica->port;
		t.replicas[0].weight = 100;
	}
	return &t;
}

static int64_t
publish(RoutingState st, PgNode *primary, PgNode *replica)
{
	RoutingTable *t = mk_table(st, primary, replica);
	PgwError err = {0};
	int64_t got = 0;

	t->epoch = epoch + 1;
	CHECK(routing_publish(etcd, prefix, "n1", lease, t, &got, &err) == 0, "%s",
	      err.msg);
	CHECK(got == epoch + 1, "epoch %" PRId64, got);
	epoch = got;
	return got;
}

static void
wait_ack(int64_t e)
{
	RoutingAcks acks;
	PgwError err = {0};
	RoutingWait w = routing_acks_wait(etcd, prefix, e, 10000, &acks, &err);

	CHECK(w == ROUTING_WAIT_READY && acks.n_routers == 2,
	      "acks for epoch %" PRId64
	      ": wait=%d routers=%d acked=%d lagging=%s %s",
	      e, (int) w, acks.n_routers, acks.n_acked, acks.lagging, err.msg);
}

static json_t *
status(const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s.status.json", dir, name);
	return json_load_file(path, 0, NULL);
}

static bool
status_is(const char *name, const char *key, bool want)
{
	json_t *s = status(name);
	bool ok = s && json_is_boolean(json_object_get(s, key)) &&
	          json_boolean_value(json_object_get(s, key)) == want;

	json_decref(s);
	return ok;
}

static int64_t
status_int(const char *name, const char *key)
{
	json_t *s = status(name);
	int64_t v = s ? json_integer_value(json_object_get(s, key)) : -1;

	json_decref(s);
	return v;
}

static void
setup_pg(PgNode *n, const char *name)
{
	PgwError err = {0};
	char v[64];

	pgh_node_init(n, name);
	CHECK(health_control_bootstrap(n->ctl, 60000, &err) == 0, "%s", err.msg);
	CHECK(pgh_sql(n, "CREATE ROLE app LOGIN PASSWORD 'app'", v, sizeof(v)) == 0,
	      "role");
	CHECK(
	    pgh_sql(
	        n,
	        "CREATE TABLE t(id bigserial PRIMARY KEY, port int, at timestamptz DEFAULT now())",
	        v, sizeof(v)) == 0,
	    "table");
	CHECK(pgh_sql(
	          n, "GRANT ALL ON t TO app; GRANT ALL ON SEQUENCE t_id_seq TO app",
	          v, sizeof(v)) == 0,
	      "grant");
}

static EtcdCluster *ec;

static pid_t
start_router(const char *name, const char *targets)
{
	char cfg[4096];
	char path[600];
	char log[600];
	char bin[600];
	char *argv[4];
	pid_t pid;

	snprintf(cfg, sizeof(cfg),
	         "name: %s\nscope: routing-e2e\nnamespace: /test\n"
	         "etcd:\n  hosts: %s\n"
	         "router_ttl: %dms\nloop_wait: 20ms\nretry_interval: 200ms\n"
	         "status_file: %s/%s.status.json\nmetrics_file: %s/%s.prom\n"
	         "targets:\n%s",
	         name, etcd_harness_endpoints(ec), ROUTER_TTL_MS, dir, name, dir,
	         name, targets);
	snprintf(path, sizeof(path), "%s/%s.yml", dir, name);
	write_file(path, cfg);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(bin, sizeof(bin), "%s/routing/pgwarden-router",
	         getenv("PGW_BUILD_DIR") ? getenv("PGW_BUILD_DIR") : "build");
	argv[0] = bin;
	argv[1] = (char *) "-c";
	argv[2] = path;
	argv[3] = NULL;
	pid = harness_spawn(argv, log, harness_run_user());
	CHECK(pid > 0, "spawn %s", name);
	return pid;
}

static void
start_pgbouncer(void)
{
	char ini[2048];
	char path[600];
	char log[600];
	char *argv[3];

	snprintf(path, sizeof(path), "%s/databases.ini", dir);
	write_file(path, "[databases]\n");
	snprintf(ini, sizeof(ini),
	         "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
	         "unix_socket_dir = %s\nauth_type = any\npool_mode = transaction\n"
	         "admin_users = pgwarden\nserver_login_retry = 1\n"
	         "query_wait_timeout = 30\nlogfile = %s/pgbouncer.log\n"
	         "pidfile = %s/pgbouncer.pid\n%%include %s/databases.ini\n",
	         pgb_port, dir, dir, dir, dir);
	snprintf(path, sizeof(path), "%s/pgbouncer.ini", dir);
	write_file(path, ini);
	snprintf(log, sizeof(log), "%s/pgbouncer.out", dir);
	argv[0] = (char *) "/usr/sbin/pgbouncer";
	argv[1] = path;
	argv[2] = NULL;
	CHECK(harness_spawn(argv, log, harness_run_user() ? "pgwarden" : NULL) > 0,
	      "pgbouncer");
	CHECK(harness_wait_port(pgb_port, 10000), "pgbouncer listens");
}

static void
start_haproxy(void)
{
	char cfg[4096];
	char path[600];
	char log[600];
	char *argv[5];

	/* servers start in maint at a wrong port: only the router enables them */
	snprintf(
	    cfg, sizeof(cfg),
	    "global\n  stats socket %s/haproxy.sock mode 600 level admin\n"
	    "  server-state-file %s/haproxy.state\n"
	    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30m\n"
	    "  timeout server 30m\n  timeout check 1s\n"
	    "  load-server-state-from-file global\n"
	    "listen pg_rw\n  bind 127.0.0.1:%d\n"
	    "  default-server inter 1s fall 3 rise 2 on-marked-down shutdown-sessions\n"
	    "  server n1 127.0.0.1:1 check disabled\n"
	    "  server n2 127.0.0.1:1 check disabled\n"
	    "listen pg_ro\n  bind 127.0.0.1:%d\n  balance roundrobin\n"
	    "  server n1 127.0.0.1:%d check disabled\n"
	    "  server n2 127.0.0.1:%d check disabled\n",
	    dir, dir, rw_port, ro_port, n1.port, n2.port);
	snprintf(path, sizeof(path), "%s/haproxy.cfg", dir);
	write_file(path, cfg);
	snprintf(log, sizeof(log), "%s/haproxy.out", dir);
	argv[0] = (char *) "/usr/sbin/haproxy";
	argv[1] = (char *) "-db";
	argv[2] = (char *) "-f";
	argv[3] = path;
	argv[4] = NULL;
	CHECK(harness_spawn(argv, log, harness_run_user() ? "pgwarden" : NULL) > 0,
	      "haproxy");
	CHECK(harness_wait_port(rw_port, 10000), "haproxy listens");
}

/* ---- timing of a move: first write through each path ---- */

typedef struct Prober
{
	int port;
	const char *db;
	int want_port;
	int64_t start_us;
	int64_t done_us;
	int attempts;
} Prober;

static void *
probe_thread(void *arg)
{
	Prober *p = arg;
	int64_t deadline = pgw_now_mono_us() + 10000000;

	while (pgw_now_mono_us() < deadline)
	{
		p->attempts++;
		if (write_port(p->port, p->db) == p->want_port)
		{
			p->done_us = pgw_now_mono_us();
			return NULL;
		}
		harness_sleep_ms(1);
	}
	return NULL;
}

static void
move_and_measure(const char *what, RoutingState st, PgNode *to, PgNode *other)
{
	Prober pb = {.port = pgb_port, .db = "postgres_rw", .want_port = to->port};
	Prober hp = {.port = rw_port, .db = "postgres", .want_port = to->port};
	pthread_t a;
	pthread_t b;
	int64_t start = pgw_now_mono_us();

	pb.start_us = hp.start_us = start;
	publish(st, to, other);
	pthread_create(&a, NULL, probe_thread, &pb);
	pthread_create(&b, NULL, probe_thread, &hp);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(pb.done_us > 0, "%s: no write reached %s through PgBouncer", what,
	      to->name);
	CHECK(hp.done_us > 0, "%s: no write reached %s through HAProxy", what,
	      to->name);
	printf(
	    "    %s: publish -> first write on %s: PgBouncer %.1f ms (%d tries), HAProxy %.1f ms (%d tries)\n",
	    what, to->name, (pb.done_us - start) / 1000.0, pb.attempts,
	    (hp.done_us - start) / 1000.0, hp.attempts);
	wait_ack(epoch);
}

/* ---- the client loop of the planned switchover ---- */

typedef struct Loop
{
	volatile bool stop;
	bool fresh; /* a new connection per transaction */
	int ok;
	int errors;
	int64_t max_us;
	char last_err[256];
	int ports[2];
	int seen[2];
} Loop;

static void *
loop_thread(void *arg)
{
	Loop *l = arg;
	PGconn *c = NULL;
	char ci[256];

	snprintf(
	    ci, sizeof(ci),
	    "host=127.0.0.1 port=%d dbname=postgres_rw user=app password=app connect_timeout=10",
	    pgb_port);
	while (!l->stop)
	{
		int64_t s = pgw_now_mono_us();
		PGresult *r;
		bool ok;

		if (c == NULL)
			c = PQconnectdb(ci);
		if (PQstatus(c) != CONNECTION_OK)
		{
			l->errors++;
			snprintf(l->last_err, sizeof(l->last_err), "connect: %s",
			         PQerrorMessage(c));
			PQfinish(c);
			c = NULL;
			harness_sleep_ms(5);
			continue;
		}
		r = PQexec(
		    c,
		    "BEGIN; INSERT INTO t(port) VALUES (inet_server_port()) RETURNING port; COMMIT");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (ok)
		{
			l->ok++;
			if (pgw_now_mono_us() - s > l->max_us)
				l->max_us = pgw_now_mono_us() - s;
		}
		else
		{
			l->errors++;
			snprintf(l->last_err, sizeof(l->last_err), "%s", PQerrorMessage(c));
			PQfinish(c);
			c = NULL;
		}
		if (l->fresh && c != NULL)
		{
			PQfinish(c);
			c = NULL;
		}
		harness_sleep_ms(2);
	}
	PQfinish(c);
	return NULL;
}

static int
count_rows(PgNode *n)
{
	char v[32];

	CHECK(pgh_sql(n, "SELECT count(*) FROM t", v, sizeof(v)) == 0, "count");
	return (int) strtol(v, NULL, 10);
}

int
main(void)
{
	char targets[4096];
	char v[64];
	char e[256];
	PgwError err = {0};
	EtcdClientConfig cc = {0};
	bool won = false;
	int64_t ttl;

	harness_init("test_routing_e2e");
	t0 = harness_now_ms();
	if (!pgh_available() || access("/usr/sbin/pgbouncer", X_OK) != 0 ||
	    access("/usr/sbin/haproxy", X_OK) != 0)
	{
		printf("SKIP: PostgreSQL, PgBouncer or HAProxy missing\n");
		return 77;
	}
	dir = harness_tmpdir("routing-e2e");
	if (harness_run_user())
	{
		struct passwd *pw = getpwnam(harness_run_user());

		CHECK(pw && chown(dir, pw->pw_uid, pw->pw_gid) == 0, "chown dir");
	}
	pgb_port = harness_free_port();
	rw_port = harness_free_port();
	ro_port = harness_free_port();

	STEP("etcd, two PostgreSQL servers, PgBouncer, HAProxy");
	ec = etcd_harness_start(1, false);
	CHECK(ec != NULL, "etcd");
	setup_pg(&n1, "n1");
	setup_pg(&n2, "n2");
	start_pgbouncer();
	start_haproxy();
	cc.endpoints = etcd_harness_endpoints(ec);
	cc.call_timeout_ms = 2000;
	CHECK(etcd_client_open(&cc, &etcd, &err) == 0, "%s", err.msg);
	CHECK(dcs_prefix_build("/test", "routing-e2e", prefix, sizeof(prefix),
	                       &err) == 0,
	      "%s", err.msg);
	CHECK(etcd_lease_grant(etcd, 30, &lease, &ttl, &err) == 0, "%s", err.msg);
	CHECK(etcd_lease_keepalive_start(etcd, lease, 2000, &err) == 0, "%s",
	      err.msg);
	CHECK(dcs_leader_acquire(etcd, prefix, "n1", lease, &won, NULL, &err) ==
	              0 &&
	          won,
	      "leader: %s", err.msg);

	STEP("refusals: a non-leader, a wrong lease, before anything exists");
	{
		RoutingTable *t = mk_table(ROUTING_STATE_SERVING, &n1, &n2);

		t->epoch = 1;
		snprintf(t->leader, sizeof(t->leader), "n2");
		CHECK(routing_publish(etcd, prefix, "n2", lease, t, NULL, &err) ==
		          PGW_ECONFLICT,
		      "non-leader publish: %s", err.msg);
		printf("    refused: %s\n", err.msg);
		t->leader[0] = '\0';
		CHECK(routing_publish(etcd, prefix, "n1", lease + 1, t, NULL, &err) ==
		          PGW_ECONFLICT,
		      "wrong lease publish: %s", err.msg);
		CHECK(routing_table_read(etcd, prefix, t, NULL, &err) == PGW_ENOTFOUND,
		      "nothing was written");
	}

	STEP(
	    "routers: one beside PgBouncer (+ template + hook), one beside HAProxy");
	snprintf(
	    targets, sizeof(targets),
	    "  - type: pgbouncer\n    include_file: %s/databases.ini\n"
	    "    admin_conninfo: \"host=127.0.0.1 port=%d dbname=pgbouncer user=pgwarden\"\n"
	    "    options: \"user=app password=app\"\n"
	    "    timeout: 5s\n"
	    "  - type: template\n    template: %s/endpoints.tmpl\n"
	    "    output: %s/endpoints.out\n"
	    "    hook: [\"/bin/sh\", \"-c\", \"cp %s/endpoints.out %s/hook.seen\"]\n"
	    "    timeout: 2s\n",
	    dir, pgb_port, dir, dir, dir, dir);
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/endpoints.tmpl", dir);
		write_file(
		    p,
		    "primary={{primary_host}}:{{primary_port}} epoch={{epoch}} state={{state}}\nreplicas={{replicas_json}}\n");
	}
	start_router("r-pgb", targets);
	snprintf(targets, sizeof(targets),
	         "  - type: haproxy\n    socket: %s/haproxy.sock\n"
	         "    rw_backend: pg_rw\n    ro_backend: pg_ro\n"
	         "    server_state_file: %s/haproxy.state\n    timeout: 2s\n",
	         dir, dir);
	start_router("r-hap", targets);
	CHECK(HARNESS_POLL(({
		                   RoutingAcks a;
		                   routing_acks_read(etcd, prefix, 0, &a, NULL) == 0 &&
		                       a.n_routers == 2;
	                   }),
	                   10000, 50),
	      "both routers registered their ack keys");

	STEP("epoch 1: serving n1");
	publish(ROUTING_STATE_SERVING, &n1, &n2);
	wait_ack(epoch);
	CHECK(write_port(pgb_port, "postgres_rw") == n1.port, "PgBouncer rw -> n1");
	CHECK(write_port(rw_port, "postgres") == n1.port, "HAProxy rw -> n1");
	CHECK(query_via(pgb_port, "postgres_ro", "SELECT inet_server_port()", v,
	                sizeof(v), e, sizeof(e)) &&
	          strtol(v, NULL, 10) == n2.port,
	      "PgBouncer ro -> n2: %s %s", v, e);
	CHECK(query_via(ro_port, "postgres", "SELECT inet_server_port()", v,
	                sizeof(v), e, sizeof(e)) &&
	          strtol(v, NULL, 10) == n2.port,
	      "HAProxy ro -> n2: %s %s", v, e);
	{
		char p[600];
		char buf[512] = "";
		FILE *f;

		snprintf(p, sizeof(p), "%s/hook.seen", dir);
		f = fopen(p, "r");
		CHECK(f != NULL, "hook ran");
		CHECK(fread(buf, 1, sizeof(buf) - 1, f) > 0, "hook output");
		fclose(f);
		snprintf(p, sizeof(p), "primary=127.0.0.1:%d epoch=1 state=serving",
		         n1.port);
		CHECK(strstr(buf, p) != NULL, "template rendered: %s", buf);
	}
	CHECK(HARNESS_POLL(status_int("r-hap", "acked_epoch") == 1, 3000, 20),
	      "status file");

	STEP("refusals: stale epoch; corrupt value ignored by the routers");
	{
		RoutingTable *t = mk_table(ROUTING_STATE_SERVING, &n2, &n1);
		char key[PGW_PREFIX_MAX + 16];
		int64_t dec0 = status_int("r-pgb", "decode_errors");

		t->epoch = 1;
		CHECK(routing_publish(etcd, prefix, "n1", lease, t, NULL, &err) ==
		          PGW_ECONFLICT,
		      "stale epoch: %s", err.msg);
		printf("    refused: %s\n", err.msg);
		snprintf(key, sizeof(key), "%srouting", prefix);
		CHECK(etcd_put(etcd, key, "{\"epoch\":99,\"state\":\"serving\"}", 30, 0,
		               NULL, NULL, &err) == 0,
		      "%s", err.msg);
		CHECK(
		    HARNESS_POLL(status_int("r-pgb", "decode_errors") > dec0, 3000, 20),
		    "router counted the bad value");
		CHECK(write_port(pgb_port, "postgres_rw") == n1.port,
		      "PgBouncer still routes epoch 1");
		CHECK(write_port(rw_port, "postgres") == n1.port,
		      "HAProxy still routes epoch 1");
		/* the leader may overwrite a corrupt value */
	}

	STEP("fence first, then point: fenced, then serving n2");
	publish(ROUTING_STATE_FENCED, NULL, &n2);
	wait_ack(epoch);
	CHECK(write_port(rw_port, "postgres") < 0,
	      "HAProxy rw refuses while fenced");
	{
		/* PgBouncer holds new clients while fenced (KILL: wait for RESUME) */
		char ci[128];
		PGconn *c;
		bool waited;

		snprintf(
		    ci, sizeof(ci),
		    "host=127.0.0.1 port=%d dbname=postgres_rw user=app password=app",
		    pgb_port);
		c = PQconnectStart(ci);
		waited = HARNESS_POLL(PQconnectPoll(c) == PGRES_POLLING_FAILED ||
		                          PQstatus(c) == CONNECTION_OK,
		                      300, 10) == false;
		PQfinish(c);
		CHECK(waited, "a new PgBouncer client waits while fenced");
	}
	move_and_measure("fenced -> serving", ROUTING_STATE_SERVING, &n2, &n1);
	CHECK(write_port(pgb_port, "postgres_rw") == n2.port, "PgBouncer rw -> n2");

	STEP("unplanned direct move n2 -> n1: old connections never reach n2");
	{
		char ci[160];
		PGconn *old;
		PGresult *r;

		snprintf(ci, sizeof(ci),
		         "host=127.0.0.1 port=%d dbname=postgres user=app password=app",
		         rw_port);
		old = PQconnectdb(ci);
		CHECK(PQstatus(old) == CONNECTION_OK, "old HAProxy client");
		move_and_measure("serving -> serving", ROUTING_STATE_SERVING, &n1, &n2);
		r = PQexec(old, "SELECT inet_server_port()");
		CHECK(PQresultStatus(r) != PGRES_TUPLES_OK ||
		          strtol(PQgetvalue(r, 0, 0), NULL, 10) != n2.port,
		      "an old HAProxy session still reached the old primary");
		PQclear(r);
		PQfinish(old);
	}

	STEP(
	    "fenced with a client that gave up, then serving n1: PgBouncer's failed connect to the fenced host does not hold the next client");
	{
		char ci[128];
		char log[600];
		PGconn *c;
		int64_t s;
		FILE *f;
		char line[1024];
		bool cleared = false;

		publish(ROUTING_STATE_FENCED, NULL, &n2);
		wait_ack(epoch);
		/* PgBouncer connects to the fenced host for this client (a fresh
		 * pool has no welcome message), fails, and marks the pool */
		snprintf(
		    ci, sizeof(ci),
		    "host=127.0.0.1 port=%d dbname=postgres_rw user=app password=app",
		    pgb_port);
		c = PQconnectStart(ci);
		(void) HARNESS_POLL(PQconnectPoll(c) == PGRES_POLLING_FAILED ||
		                        PQstatus(c) == CONNECTION_OK,
		                    300, 10);
		PQfinish(c);
		harness_sleep_ms(100);
		publish(ROUTING_STATE_SERVING, &n1, &n2);
		wait_ack(epoch);
		s = pgw_now_mono_us();
		CHECK(write_port(pgb_port, "postgres_rw") == n1.port,
		      "PgBouncer rw -> n1 after the fence");
		printf(
		    "    serving acknowledged -> a new client's write on n1: %.1f ms (server_login_retry 1 s)\n",
		    (pgw_now_mono_us() - s) / 1000.0);
		snprintf(log, sizeof(log), "%s/r-pgb.log", dir);
		f = fopen(log, "r");
		CHECK(f != NULL, "router log");
		/* the last RESUME must have cleared the mark: the client that gave
		 * up still counts in SHOW POOLS (PgBouncer reads nothing from a
		 * client waiting for a welcome), so it is server_login_retry 0 for
		 * the RESUME; a pool with no client at all would be KILLed */
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "event=router.pgbouncer.resume"))
				cleared = strstr(line, "plan=retry-zero") != NULL ||
				          strstr(line, "plan=kill-first") != NULL;
		fclose(f);
		CHECK(
		    cleared,
		    "the router cleared PgBouncer's failed-connect mark before RESUME");
	}

	STEP(
	    "planned switchover n1 -> n2 through PgBouncer: zero failed transactions");
	{
		Loop keep = {0};
		Loop fresh = {.fresh = true};
		pthread_t a;
		pthread_t b;
		int before2 = count_rows(&n2);
		int64_t sw_start;

		pthread_create(&a, NULL, loop_thread, &keep);
		pthread_create(&b, NULL, loop_thread, &fresh);
		CHECK(HARNESS_POLL(keep.ok > 20 && fresh.ok > 5, 10000, 10),
		      "client loops run: %d %d %s", keep.ok, fresh.ok, keep.last_err);
		sw_start = pgw_now_mono_us();
		publish(ROUTING_STATE_SWITCHING, &n1, &n2);
		wait_ack(epoch);
		printf("    switching acknowledged by both routers in %.1f ms\n",
		       (pgw_now_mono_us() - sw_start) / 1000.0);
		/* the leader would stop n1 and promote n2 here */
		harness_sleep_ms(200);
		publish(ROUTING_STATE_SERVING, &n2, &n1);
		wait_ack(epoch);
		printf(
		    "    switchover window (switching publish -> serving acked): %.1f ms\n",
		    (pgw_now_mono_us() - sw_start) / 1000.0);
		CHECK(HARNESS_POLL(count_rows(&n2) > before2 + 20, 10000, 20),
		      "writes continue on n2");
		keep.stop = fresh.stop = true;
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		printf(
		    "    client loops: persistent %d ok / %d errors, longest %.1f ms; fresh connections %d ok / %d errors, longest %.1f ms\n",
		    keep.ok, keep.errors, keep.max_us / 1000.0, fresh.ok, fresh.errors,
		    fresh.max_us / 1000.0);
		CHECK(keep.errors == 0 && fresh.errors == 0,
		      "failed transactions during a planned switchover: %s / %s",
		      keep.last_err, fresh.last_err);
	}

	STEP("etcd frozen: routers cut writes within router_ttl, then recover");
	{
		int64_t stop_ms;
		int64_t cut_pgb = 0;
		int64_t cut_hap = 0;

		CHECK(write_port(pgb_port, "postgres_rw") == n2.port, "before");
		etcd_harness_kill_member(ec, 0, SIGSTOP);
		stop_ms = harness_now_ms();
		CHECK(HARNESS_POLL(
		          ({
			          if (!cut_pgb && status_is("r-pgb", "writes_cut", true))
				          cut_pgb = harness_now_ms();
			          if (!cut_hap && status_is("r-hap", "writes_cut", true))
				          cut_hap = harness_now_ms();
			          cut_pgb &&cut_hap;
		          }),
		          ROUTER_TTL_MS + 3000, 10),
		      "both routers cut");
		printf(
		    "    etcd SIGSTOP -> writes cut: PgBouncer router %lld ms, HAProxy router %lld ms (router_ttl %d ms)\n",
		    (long long) (cut_pgb - stop_ms), (long long) (cut_hap - stop_ms),
		    ROUTER_TTL_MS);
		CHECK(cut_pgb - stop_ms <= ROUTER_TTL_MS + 300 &&
		          cut_hap - stop_ms <= ROUTER_TTL_MS + 300,
		      "cut within router_ttl");
		CHECK(write_port(rw_port, "postgres") < 0, "HAProxy rw cut");
		{
			char ci[128];
			PGconn *c;
			bool held;

			snprintf(
			    ci, sizeof(ci),
			    "host=127.0.0.1 port=%d dbname=postgres_rw user=app password=app",
			    pgb_port);
			c = PQconnectStart(ci);
			held = !HARNESS_POLL(PQconnectPoll(c) == PGRES_POLLING_FAILED ||
			                         PQstatus(c) == CONNECTION_OK,
			                     300, 10);
			PQfinish(c);
			CHECK(held, "PgBouncer rw held while cut");
		}
		/* reads keep going to the last good table */
		CHECK(query_via(ro_port, "postgres", "SELECT 1", v, sizeof(v), e,
		                sizeof(e)),
		      "HAProxy ro still serves: %s", e);
		etcd_harness_kill_member(ec, 0, SIGCONT);
		CHECK(HARNESS_POLL(write_port(pgb_port, "postgres_rw") == n2.port &&
		                       write_port(rw_port, "postgres") == n2.port,
		                   15000, 50),
		      "writes back after etcd returns");
		printf(
		    "    etcd SIGSTOP -> SIGCONT -> writes back: %.1f s after the stop\n",
		    (harness_now_ms() - stop_ms) / 1000.0);
	}

	STEP("a deposed leader cannot publish");
	{
		RoutingTable *t = mk_table(ROUTING_STATE_SERVING, &n1, &n2);
		int64_t lease2;

		CHECK(dcs_leader_release(etcd, prefix, "n1", &err) == 0, "%s", err.msg);
		CHECK(etcd_lease_grant(etcd, 30, &lease2, &ttl, &err) == 0, "%s",
		      err.msg);
		CHECK(dcs_leader_acquire(etcd, prefix, "n2", lease2, &won, NULL,
		                         &err) == 0 &&
		          won,
		      "n2 leads");
		t->epoch = epoch + 10;
		CHECK(routing_publish(etcd, prefix, "n1", lease, t, NULL, &err) ==
		          PGW_ECONFLICT,
		      "deposed: %s", err.msg);
		printf("    refused: %s\n", err.msg);
		snprintf(t->leader, sizeof(t->leader), "n2");
		t->epoch = 0; /* next after the stored one */
		CHECK(routing_publish(etcd, prefix, "n2", lease2, t, &epoch, &err) == 0,
		      "%s", err.msg);
	}
	STEP("done");
	return 0;
}
