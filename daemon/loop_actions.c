/*
 * loop_actions.c: the actions the REST API queues for the loop (they touch
 * PostgreSQL, which only the loop's thread may): restart (now or
 * scheduled), reload, reinitialize. They run between two turns.
 */
#include "daemon/daemon_loop.h"
#include "daemon/dropin_int.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <stdio.h>
#include <string.h>

/* role_matches: a restart's {"role": ...} against ours ("primary" and
 * Patroni's "master" mean the leader, anything else a replica) */
static bool
role_matches(const char *role, bool leading)
{
	bool wants_leader =
	    strcmp(role, "primary") == 0 || strcmp(role, "master") == 0;

	return wants_leader == leading;
}

/* run_action: carry out one REST action; returns the HTTP status. */
static int
run_action(Daemon *d, const RestAction *a, char *msg, size_t len)
{
	ExecContext ctx = exec_context(d);
	PgwError err = {0};
	bool leading =
	    d->view->has_leader && strcmp(d->view->leader, d->cfg->name) == 0;
	int timeout_ms = a->timeout_s > 0 ? a->timeout_s * 1000 : 60000;
	int rc;

	switch (a->kind)
	{
		case REST_ACTION_RELOAD:
			rc = failover_exec_reload(d->exec, &err);
			if (rc == 0)
				callbacks_fire(d->cb, "on_reload", d->cb_role);
			snprintf(msg, len, rc == 0 ? "reload scheduled" : "%s", err.msg);
			return rc == 0 ? 202 : 503;
		case REST_ACTION_RESTART_CANCEL:
			if (d->scheduled.kind == 0)
			{
				snprintf(msg, len, "no restart is scheduled");
				return 404;
			}
			d->scheduled.kind = 0;
			snprintf(msg, len, "scheduled restart deleted");
			return 200;
		case REST_ACTION_RESTART:
			if (a->role[0] && !role_matches(a->role, leading))
			{
				snprintf(msg, len,
				         "restart conditions are not satisfied: role is not %s",
				         a->role);
				return 503;
			}
			if (a->scheduled_wall_ms > pgw_now_wall_ms())
			{
				if (d->scheduled.kind != 0)
				{
					snprintf(msg, len, "another restart is already scheduled");
					return 409;
				}
				d->scheduled = *a;
				snprintf(msg, len, "restart scheduled");
				return 202;
			}
			if (a->restart_pending_only &&
			    !failover_exec_pending_restart(d->exec))
			{
				snprintf(
				    msg, len,
				    "restart conditions are not satisfied: no restart pending");
				return 503;
			}
			if (!member_restart_version_ok(d->exec, a->postgres_version))
			{
				snprintf(
				    msg, len,
				    "restart conditions are not satisfied: PostgreSQL is not older than the version given");
				return 503;
			}
			rc = failover_exec_restart(d->exec, &ctx, timeout_ms, &err);
			if (rc == 0)
				callbacks_fire(d->cb, "on_restart", d->cb_role);
			snprintf(msg, len,
			         rc == 0 ? "restarted successfully" : "restart failed: %s",
			         err.msg);
			return rc == 0 ? 200 : 503;
		case REST_ACTION_REINIT:
			/* Patroni answers before the clone; reinit --wait then polls
			 * GET /patroni, which says "creating replica" meanwhile: the
			 * member key and the REST snapshot say so before it starts */
			rest_action_done(d->rest, a->ticket, 200, "reinitialize started");
			failover_exec_set_cloning(d->exec, true);
			{
				Observation o;

				memset(&o, 0, sizeof(o));
				o.t0_mono_ms = pgw_now_mono_ms();
				(void) turn_observe(d, &o, OBSERVE_LOCAL);
				publish_snapshot(d, &o.self, &d->last, MEMBER_PUBLISH_FORCE,
				                 o.t0_mono_ms);
			}
			rc = failover_exec_reinit(d->exec, &ctx, &err);
			failover_exec_set_cloning(d->exec, false);
			snprintf(msg, len, rc == 0 ? "reinitialize done" : "%s", err.msg);
			return rc == 0 ? 200 : 503;
	}
	snprintf(msg, len, "unknown action");
	return 400;
}

void
handle_actions(Daemon *d)
{
	RestAction a;
	char msg[512];

	while (rest_action_next(d->rest, &a))
	{
		int status = run_action(d, &a, msg, sizeof(msg));

		log_info("rest.action", "kind=%d status=%d msg=\"%s\"", (int) a.kind,
		         status, msg);
		rest_action_done(d->rest, a.ticket, status, msg);
	}
	if (d->scheduled.kind == REST_ACTION_RESTART &&
	    d->scheduled.scheduled_wall_ms <= pgw_now_wall_ms())
	{
		RestAction due = d->scheduled;

		d->scheduled.kind = 0;
		due.scheduled_wall_ms = 0;
		log_info("rest.action", "kind=scheduled-restart status=%d",
		         run_action(d, &due, msg, sizeof(msg)));
	}
}
