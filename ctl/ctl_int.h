/*
 * ctl_int.h: shared inside ctl/ only: the global options, the helpers every
 * command uses (etcd client, cluster view, confirmation, REST calls, the
 * write probe) and the command entry points (cmd_*.c).
 */
#ifndef PGW_CTL_INT_H
#define PGW_CTL_INT_H

#include "ctl/ctl.h"

#include <stdarg.h>

typedef struct CtlGlobal
{
	char *etcd; /* endpoints */
	char *scope;
	char *namespace_;
	char *cacert;
	char *cert;
	char *key;
	char *username; /* etcd auth */
	char *password;
	char *rest_username; /* restapi.authentication */
	char *rest_password;
	char *rest_cafile;               /* restapi.cafile: CA for https api_urls */
	bool rest_credentials_over_http; /* restapi.allow_credentials_over_http */
	char *pg_user; /* superuser, for the switchover write probe */
	char *pg_password;
	CtlFormat format;
	const char *config_path;           /* -c / PGWARDEN_CONFIG, NULL if none */
	char prefix[PGW_PREFIX_MAX];       /* the group's when group >= 0 */
	char scope_prefix[PGW_PREFIX_MAX]; /* "<namespace>/<scope>/" */
	int group;      /* --group N, -1: none (the whole scope) */
	int timeout_ms; /* one etcd call */
} CtlGlobal;

typedef int (*CtlCommandFn)(CtlGlobal *g, const CtlArgs *a);

/* ctl_command_fn: the entry point of a command from ctl_args_parse. */
CtlCommandFn ctl_command_fn(const char *command);

/* ctl_command_needs_etcd: false for version (optional) and debug rules. */
bool ctl_command_needs_etcd(const char *command);

/* ctl_fail: "pgwardenctl: <message>" on stderr, one line. */
void ctl_fail(const char *fmt, ...) PGW_PRINTF(1, 2);

/* ctl_open: an etcd client from g, or CTL_EXIT_FAILED with the reason. */
int ctl_open(CtlGlobal *g, EtcdClient **c);

/*
 * ctl_view: read the cluster linearizably into *v (heap, caller frees).
 * CTL_EXIT_FAILED with the reason when etcd cannot be read or the cluster
 * does not exist.
 */
int ctl_view(CtlGlobal *g, EtcdClient *c, ClusterView **v);

/*
 * ctl_confirm: ask question on the terminal unless force; true when the
 * answer is "y"/"yes". Without a terminal and without force, says to use
 * --force and answers false.
 */
bool ctl_confirm(bool force, const char *question, ...) PGW_PRINTF(2, 3);

/* ctl_prompt: read one line from the terminal into buf; false on EOF. */
bool ctl_prompt(const char *question, char *buf, size_t len);

/* ctl_is_interactive: stdin and stderr are terminals. */
bool ctl_is_interactive(void);

/* ctl_api_base: "http://h:p" from a member's api_url ("http://h:p/patroni"). */
void ctl_api_base(const char *api_url, char *out, size_t len);

/*
 * ctl_rest_call: one HTTP request to a member's REST API (libcurl), with
 * basic auth when g has restapi credentials - over plain http only when
 * g->rest_credentials_over_http: otherwise a GET goes without them and any
 * other method returns PGW_EAUTH before sending. *status gets the HTTP
 * status (0 when there was no answer), *body the answer (caller frees, may
 * be NULL). Returns 0 when an answer came, PGW_EUNAVAILABLE otherwise.
 */
int ctl_rest_call(const CtlGlobal *g, const char *method, const char *url,
                  const char *json_body, int timeout_ms, long *status,
                  char **body, PgwError *err) PGW_MUSTCHECK;

/*
 * Write probe (probe.c): a thread that tries a tiny write (SELECT
 * txid_current()) on each target every 10 ms and records the longest time
 * without a successful write on any of them.
 */
typedef struct CtlProbe CtlProbe;

CtlProbe *ctl_probe_start(const CtlGlobal *g, const char *const *conn_urls,
                          int n);
/* ctl_probe_last_ok: monotonic ms of the last successful write (0: none). */
int64_t ctl_probe_last_ok(CtlProbe *p);

/*
 * ctl_probe_stop: stop and join. *max_gap_ms is the longest time between
 * two successful writes (-1 when no write ever succeeded), *resumed whether
 * a write succeeded after the longest gap began (false: the outage was
 * still going on), msg the last error seen. Frees the probe.
 */
void ctl_probe_stop(CtlProbe *p, int64_t *max_gap_ms, bool *resumed, char *msg,
                    size_t msg_len);

/* commands */
int cmd_list(CtlGlobal *g, const CtlArgs *a);
int cmd_topology(CtlGlobal *g, const CtlArgs *a);
int cmd_history(CtlGlobal *g, const CtlArgs *a);
int cmd_show_config(CtlGlobal *g, const CtlArgs *a);
int cmd_version(CtlGlobal *g, const CtlArgs *a);
int cmd_debug(CtlGlobal *g, const CtlArgs *a);
int cmd_switchover(CtlGlobal *g, const CtlArgs *a);
int cmd_failover(CtlGlobal *g, const CtlArgs *a);
int cmd_flush(CtlGlobal *g, const CtlArgs *a);
int cmd_pause(CtlGlobal *g, const CtlArgs *a);
int cmd_resume(CtlGlobal *g, const CtlArgs *a);
int cmd_edit_config(CtlGlobal *g, const CtlArgs *a);
int cmd_restart(CtlGlobal *g, const CtlArgs *a);
int cmd_reload(CtlGlobal *g, const CtlArgs *a);
int cmd_reinit(CtlGlobal *g, const CtlArgs *a);
int cmd_remove(CtlGlobal *g, const CtlArgs *a);
int cmd_drill(CtlGlobal *g, const CtlArgs *a);   /* cmd_drill.c */
int cmd_backup(CtlGlobal *g, const CtlArgs *a);  /* cmd_backup.c */
int cmd_restore(CtlGlobal *g, const CtlArgs *a); /* cmd_backup.c */
int cmd_shard(CtlGlobal *g, const CtlArgs *a);   /* cmd_shard.c */

/*
 * ctl_list_groups: list / topology of a sharded scope without --group:
 * every group's members, one group after the other (cmd_shard.c). Returns
 * -1 when the scope has no groups (plain list), else the exit code.
 */
int ctl_list_groups(CtlGlobal *g, EtcdClient *c, bool topology, CtlFormat fmt);

/* flush restart (cmd_rest.c) */
int ctl_flush_restart(CtlGlobal *g, const CtlArgs *a);

#endif
