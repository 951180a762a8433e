/*
 * routing_int.h: internals of routing/ shared by the router process
 * (pgwarden-router: router.c, router_config.c, target_*.c) and its unit
 * tests. Nothing outside routing/ and tests/unit/test_routing_* includes it.
 */
#ifndef PGW_ROUTING_INT_H
#define PGW_ROUTING_INT_H

#include "routing/routing.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define ROUTER_TARGETS_MAX   8
#define ROUTER_HOOK_ARGS_MAX 16
#define ROUTER_PATH_MAX      512

typedef enum TargetKind
{
	TARGET_PGBOUNCER = 0,
	TARGET_HAPROXY,
	TARGET_TEMPLATE,
	TARGET_VIP,
} TargetKind;

/* One entry of the router's `targets:` list (fields by kind). */
typedef struct TargetConfig
{
	TargetKind kind;
	int line;           /* where it starts in the YAML file */
	char name[64];      /* metrics label; "" derives one */
	int64_t timeout_ms; /* one admin / socket / hook operation */
	/* pgbouncer */
	char include_file[ROUTER_PATH_MAX]; /* the [databases] file */
	char admin_conninfo[1024];          /* libpq conninfo of the console */
	char rw_database[64];               /* PgBouncer db name for writes */
	char ro_database[64];               /* for reads; "" for none */
	char dbname[64];                    /* server-side database */
	char options[512];                 /* appended to each entry ("user=app") */
	char fenced_host[ROUTER_PATH_MAX]; /* where rw points when cut */
	/* haproxy */
	char socket[ROUTER_PATH_MAX]; /* stats socket, level admin */
	char rw_backend[64];
	char ro_backend[64];      /* "" for none */
	bool ro_fallback_primary; /* primary serves reads if no replica */
	char server_state_file[ROUTER_PATH_MAX]; /* "" for none */
	/* template */
	char template_path[ROUTER_PATH_MAX];
	char output[ROUTER_PATH_MAX];
	int hook_argc;
	char hook_argv[ROUTER_HOOK_ARGS_MAX][256];
	/* vip */
	char address[64]; /* "10.0.0.10/24" */
	char interface[32];
	char node[PGW_NAME_MAX]; /* member this router sits beside */
	char netns[64];          /* run ip in this network namespace */
} TargetConfig;

typedef struct RouterConfig
{
	char name[PGW_NAME_MAX]; /* router name (its ack key) */
	char endpoints[1024];    /* etcd */
	char ca_file[ROUTER_PATH_MAX];
	char cert_file[ROUTER_PATH_MAX];
	char key_file[ROUTER_PATH_MAX];
	char username[64];
	char password[256];
	char namespace_[128]; /* default "/service" */
	char scope[128];
	int group;             /* group: of a sharded scope, -1 none */
	int64_t router_ttl_ms; /* cut writes after this long without etcd */
	int64_t loop_ms;       /* poll tick, default 50 ms */
	int64_t retry_ms;      /* retry a failed apply, default 1000 ms */
	char status_file[ROUTER_PATH_MAX];  /* JSON; "" for none */
	char metrics_file[ROUTER_PATH_MAX]; /* Prometheus text; "" none */
	char metrics_listen[128];  /* HTTP host:port of /metrics; "" none */
	int64_t pools_interval_ms; /* read PgBouncer/HAProxy stats this often */
	char log_level[16];
	int n_targets;
	TargetConfig targets[ROUTER_TARGETS_MAX];
} RouterConfig;

/*
 * router_config_parse / router_config_load: the router's YAML (text or
 * file). Unknown keys, wrong types and missing required keys are PGW_EINVAL
 * with a message naming the key and its line ("line 7: key \"tragets\" is
 * unknown"). *out is filled with defaults first.
 */
int router_config_parse(const char *yaml, size_t len, RouterConfig *out,
                        PgwError *err) PGW_MUSTCHECK;
int router_config_load(const char *path, RouterConfig *out,
                       PgwError *err) PGW_MUSTCHECK;

/* ---- helpers shared by the targets (router_util.c) ---- */

/*
 * router_write_atomic: write len bytes to path through a temp file in the
 * same directory: write, fsync, rename, fsync the directory. mode is the
 * new file's permission. Returns 0 or PGW_EIO (path named).
 */
/* router_pgb_dbname_ok: name is a plain PgBouncer database name (letters,
 * digits, '_'; not starting with a digit; < 64 bytes): what the admin
 * console's KILL / PAUSE / RESUME / RECONNECT may name */
bool router_pgb_dbname_ok(const char *name);

int router_write_atomic(const char *path, const char *data, size_t len,
                        int mode, PgwError *err) PGW_MUSTCHECK;

/*
 * router_run_argv: run argv (no shell) and wait up to timeout_ms; then
 * SIGKILL its process group. Output (stdout+stderr, up to out_len-1 bytes)
 * into out when out is not NULL. Returns 0 (exit 0), PGW_EIO (non-zero
 * exit: message has the status and output tail), PGW_ETIMEDOUT.
 */
int router_run_argv(char *const argv[], int64_t timeout_ms, char *out,
                    size_t out_len, PgwError *err) PGW_MUSTCHECK;

/* router_in_path: an executable called name exists on $PATH. */
bool router_in_path(const char *name);

/*
 * router_effective_table: what a router routes: the table, or (cut) the
 * same table fenced, with no primary. Every target sees only this.
 */
void router_effective_table(const RoutingTable *t, bool cut, RoutingTable *out);

/* ---- targets ---- */

typedef struct RouterTarget RouterTarget;

/*
 * router_target_open: the target of cfg (borrowed; lives as long as the
 * target). Does no I/O. router_target_apply: make the target route as next
 * says; prev is what was last applied successfully (NULL at start-up: read
 * the target's current state instead). Returns 0 or an error whose message
 * names the target; on error the target was left as close to prev as
 * possible and the router retries.
 */
RouterTarget *router_target_open(const TargetConfig *cfg);
int router_target_apply(RouterTarget *t, const RoutingTable *prev,
                        const RoutingTable *next, PgwError *err) PGW_MUSTCHECK;
const char *router_target_describe(const RouterTarget *t);
void router_target_close(RouterTarget *t);

/* pgbouncer (target_pgbouncer.c) */
int pgbouncer_apply(const TargetConfig *cfg, const RoutingTable *prev,
                    const RoutingTable *next, PgwError *err) PGW_MUSTCHECK;

/*
 * pgbouncer_render_include: the [databases] include file for t: the rw
 * entry names the primary only while t serves (else cfg->fenced_host, a
 * socket directory that does not exist), the ro entry the replica with the
 * highest weight > 0 (ties: lower lag, then name), else the primary if any,
 * else the fenced host. Caller frees.
 */
char *pgbouncer_render_include(const TargetConfig *cfg, const RoutingTable *t);

/* pgbouncer_ro_choice: index of the replica for reads, -1 none. */
int pgbouncer_ro_choice(const RoutingTable *t);

/*
 * How the rw database is resumed. PgBouncer 1.18 marks a pool "last connect
 * failed" when a server connection fails or is closed before its login
 * completes, and then launches no new server connection for that pool
 * until server_login_retry has passed since the attempt (objects.c,
 * launch_new_connection). KILL frees the pool; a client that connects while
 * the database is killed or paused gets a fresh pool with no cached welcome
 * message, and PgBouncer connects for it at once, even though the database
 * is paused: to the fenced host (which fails) or to the old primary (closed
 * by the pause). Such a pool would keep every client waiting up to
 * server_login_retry (default 15 s) after the RESUME.
 */
typedef enum PgbResume
{
	PGB_RESUME_PLAIN = 0,  /* no pool since the KILL: nothing is stale */
	PGB_RESUME_KILL_FIRST, /* a pool with no client: KILL frees it */
	PGB_RESUME_RETRY_ZERO, /* clients wait in it: server_login_retry 0
								 * for the RESUME (they connect at once, and
								 * a login clears the mark), then restored */
} PgbResume;

/*
 * pgbouncer_resume_plan: pure. was_killed: the rw database was KILLed (a
 * fence, a cut, an unplanned move) rather than PAUSEd since it last served;
 * pool_exists: SHOW POOLS lists it; clients: cl_active + cl_waiting.
 */
PgbResume pgbouncer_resume_plan(bool was_killed, bool pool_exists, int clients);

/* haproxy (target_haproxy.c) */
typedef struct HaproxyServer
{
	char name[64];
	char addr[ROUTING_HOST_MAX];
	int port;
	int op_state;    /* 0 stopped, 1 starting, 2 running, 3 stopping */
	int admin_state; /* bit 0x01: forced maint (FMAINT) */
	int check_state; /* HAPROXY_CHK_CONFIGURED: checks configured */
	int weight;      /* srv_uweight */
} HaproxyServer;

#define HAPROXY_SERVERS_MAX 64
/* HAProxy 2.6's CHK_ST_CONFIGURED (0x01 is CHK_ST_INPROGRESS, a check running
 * now); `show servers state` dumps 6 or 14 for a server with checks */
#define HAPROXY_CHK_CONFIGURED 0x02
#define HAPROXY_CMDS_MAX       (HAPROXY_SERVERS_MAX * 6)

typedef struct HaproxyCmds
{
	int n;
	char cmd[HAPROXY_CMDS_MAX][ROUTING_HOST_MAX + 160];
} HaproxyCmds;

/*
 * haproxy_servers_parse: the lines of `show servers state [backend]` that
 * belong to backend into out[max]. Returns the count, or PGW_EBADRESPONSE
 * (format version other than 1, short line).
 */
int haproxy_servers_parse(const char *text, const char *backend,
                          HaproxyServer *out, int max,
                          PgwError *err) PGW_MUSTCHECK;

/*
 * haproxy_commands_build: the runtime API commands that make backend route
 * as t says. Fence first: every rw server that is not the primary goes to
 * maint and its sessions are shut down before the primary is made ready
 * (its addr/port set when they differ, health forced up when checks are
 * configured). For the ro backend (is_ro), replicas with weight > 0 are made
 * ready with their weight, the rest go to maint (no session shutdown);
 * with ro_fallback_primary and no such replica, the primary takes reads.
 * Pure. A primary with no server of its name in the rw backend is
 * PGW_ENOTFOUND (after the maint commands: writes stay cut).
 */
int haproxy_commands_build(const TargetConfig *cfg, const RoutingTable *t,
                           bool is_ro, const HaproxyServer *servers, int n,
                           HaproxyCmds *out, PgwError *err);

/*
 * haproxy_verify: check a parsed `show servers state` against t: the servers
 * that should be ready are not in maint (and have the table's addr/port),
 * the others are. Returns 0 or PGW_ESTATE naming the server.
 */
int haproxy_verify(const TargetConfig *cfg, const RoutingTable *t, bool is_ro,
                   const HaproxyServer *servers, int n,
                   PgwError *err) PGW_MUSTCHECK;

/*
 * haproxy_command: send one command to the stats socket and read the answer
 * (up to out_len-1 bytes) until EOF, bounded by timeout_ms.
 */
int haproxy_command(const char *socket_path, const char *cmd,
                    int64_t timeout_ms, char *out, size_t out_len,
                    PgwError *err) PGW_MUSTCHECK;

int haproxy_apply(const TargetConfig *cfg, const RoutingTable *t,
                  PgwError *err) PGW_MUSTCHECK;

/* template (target_template.c) */

/*
 * router_template_render: replace {{epoch}}, {{state}}, {{leader}},
 * {{primary_name}}, {{primary_host}}, {{primary_port}} (empty without a
 * primary), {{replicas_json}} (JSON array of name/host/port/lag/weight/
 * sync_state), {{table_json}} and {{time}} in tmpl. An unknown or
 * unterminated placeholder is PGW_EINVAL naming it and its line. *out is
 * caller-freed.
 */
int router_template_render(const char *tmpl, const RoutingTable *t, char **out,
                           PgwError *err) PGW_MUSTCHECK;
int template_apply(const TargetConfig *cfg, const RoutingTable *t,
                   PgwError *err) PGW_MUSTCHECK;

/* vip (target_vip.c): hold cfg->address iff t serves with cfg->node as
 * primary. */
bool vip_should_hold(const TargetConfig *cfg, const RoutingTable *t);
int vip_apply(const TargetConfig *cfg, const RoutingTable *t,
              PgwError *err) PGW_MUSTCHECK;

/* the router process (router.c) */
int router_run(const RouterConfig *cfg);

#endif
