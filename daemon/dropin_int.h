/*
 * dropin_int.h: internal to daemon/: what keeps pgwarden a drop-in for a
 * Patroni user (issues 12 and 22), called from the loop's publish phase:
 * the member-key fields Patroni's clients read (member_fields.c), the
 * cluster-wide PostgreSQL parameters of the `config` key (pg_params.c) and
 * the systemd notify contract (sd_notify.c).
 */
#ifndef PGW_DAEMON_DROPIN_INT_H
#define PGW_DAEMON_DROPIN_INT_H

#include "config/config.h"
#include "consensus/consensus.h"
#include "daemon/daemon_int.h"
#include "failover/failover.h"

#include <stdbool.h>

/*
 * member_fields_fill: add to m (already filled by failover_exec_member_info)
 * the fields Patroni publishes beside the basics: pause (from the view's
 * config), scheduled_restart (from the restart the loop holds, kind 0:
 * none), checkpoint_after_promote (a primary whose checkpoint timeline lags
 * its timeline) and proxy_url (postgresql.proxy_address). No I/O.
 */
void member_fields_fill(MemberInfo *m, const NodeConfig *cfg,
                        const ClusterView *v, const RestAction *scheduled,
                        const FailoverExec *exec);

/*
 * member_restart_version_ok: a restart asked "if the version is lower than
 * V" (postgres_version as 150002; 0: any) may run now: Patroni checks it
 * when a scheduled restart comes due, not only when it is asked.
 */
bool member_restart_version_ok(const FailoverExec *exec, int postgres_version);

/*
 * pg_params_sync: apply the parameters this node should run with (the
 * cluster-wide ones of v's config and cfg's own, Patroni's precedence):
 * when they changed, rewrite and check PostgreSQL's file and reload a
 * running server; what is left out is logged (pg.param-ignored,
 * pg.param-rejected). Called every loop before the act phase, so that a
 * start uses them. Skipped while the view is invalid or `config` is
 * garbage. Blocks for the file check only when they changed.
 */
void pg_params_sync(FailoverExec *exec, const NodeConfig *cfg,
                    const ClusterView *v, bool view_valid);

/*
 * The systemd contract (sd_notify.c). sd_notify_loop: after each loop;
 * READY=1 with the first good one (the cluster was read from etcd),
 * STATUS= always, WATCHDOG=1 once ready. sd_notify_wait_ms: the poll
 * timeout capped so that sd_notify_wait_tick, called after each wakeup,
 * pings the watchdog at least every half of WATCHDOG_USEC while the loop
 * waits. sd_notify_stopping: STOPPING=1 (SIGTERM received).
 */
void sd_notify_loop(bool good, const char *role, const char *decision);
int sd_notify_wait_ms(int timeout_ms);
void sd_notify_wait_tick(void);
void sd_notify_stopping(void);

/*
 * rest_reply_for_patronictl: Patroni answers its write endpoints in plain
 * text ("Successfully switched over to \"node2\"") and patronictl prints
 * that text as it is. When user_agent is Patroni's own ("Patroni/3.0.2
 * Python/..."), a reply of ours that is one {"message": X} or {"error": X}
 * is turned into X (r->body replaced) and true is returned: the caller
 * sends it as text/html, as Patroni's _write_response does. Any other
 * client, or any other body, keeps the JSON (false).
 */
struct RestReply;
bool rest_reply_for_patronictl(const char *user_agent, struct RestReply *r);

#endif
