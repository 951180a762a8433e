/*
 * rest_write_actions.c: the write endpoints that queue an action for the
 * loop (rest_actions.c) and wait for its answer, bounded:
 *   POST /restart, DELETE /restart, POST /reinitialize, POST /reload
 * rest_write_handle (rest_write.c) routes them here.
 */
#include "daemon/rest_int.h"
#include "daemon/rest_body.h"

#include "common/pgwtime.h"
#include "common/strutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- actions for the loop ----------------------------------------------- */

static int64_t
loop_wait_of(RestServer *srv)
{
	RestSnapshot *s = rest_snapshot_copy(srv);
	int64_t lw = s ? s->view.config.loop_wait_ms : 1000;

	free(s);
	return lw > 0 ? lw : 1000;
}

static void
submit(RestServer *srv, RestAction *a, int64_t wait_ms, RestReply *out)
{
	char msg[256];
	int status;

	/* a day-long restart "timeout" must not hold a request that long
	 * (security review F4): past the cap the caller gets 503; an action
	 * the loop already started is finished, one still queued withdrawn */
	if (wait_ms > REST_WRITE_WAIT_MAX_MS)
		wait_ms = REST_WRITE_WAIT_MAX_MS;
	status = rest_action_submit(srv, a, (int) wait_ms, msg, sizeof(msg));
	reply_msg(out, status, msg);
}

void
post_restart(RestServer *srv, const char *body, size_t len, RestReply *out)
{
	RestRestartBody rb;
	RestAction a;
	RestSnapshot *s;
	PgwError err = {0};
	int status;
	int64_t wait_ms;

	if (rest_body_restart(body, len, pgw_now_wall_ms(), &rb, &status, &err) !=
	    0)
	{
		reply_msg(out, status, err.msg);
		return;
	}
	s = rest_snapshot_copy(srv);
	if (s == NULL)
	{
		reply_msg(out, 503, "starting: no observation yet");
		return;
	}
	if (s->view.config.pause && rb.has_schedule)
	{
		free(s);
		reply_msg(out, 400, "Can't schedule restart in the paused state");
		return;
	}
	if (!rb.has_schedule)
	{
		/* filters of an immediate restart: checked here, as Patroni does */
		const char *role = s->holds_leader ? "primary" : "replica";

		if ((rb.role[0] && strcmp(rb.role, role) != 0) ||
		    (rb.restart_pending && !s->self.pending_restart) ||
		    (rb.postgres_version > 0 && s->server_version > 0 &&
		     s->server_version >= rb.postgres_version))
		{
			free(s);
			reply_msg(out, 503, "restart conditions are not satisfied");
			return;
		}
	}
	wait_ms = 2 * (s->view.config.loop_wait_ms > 0 ? s->view.config.loop_wait_ms
	                                               : 1000) +
	          5000;
	free(s);
	if (!rb.has_schedule)
		wait_ms += (rb.timeout_s > 0 ? rb.timeout_s : 60) * 1000LL;
	memset(&a, 0, sizeof(a));
	a.kind = REST_ACTION_RESTART;
	a.restart_pending_only = rb.restart_pending;
	pgw_strlcpy(a.role, rb.role, sizeof(a.role));
	a.scheduled_wall_ms = rb.has_schedule ? rb.scheduled_wall_ms : 0;
	a.timeout_s = rb.timeout_s;
	a.postgres_version = rb.postgres_version;
	submit(srv, &a, wait_ms, out);
}

void
post_reinit(RestServer *srv, const char *body, size_t len, RestReply *out)
{
	RestAction a;
	RestSnapshot *s;
	PgwError err = {0};
	bool force;
	int status;
	int64_t lw;

	if (rest_body_reinit(body, len, &force, &status, &err) != 0)
	{
		reply_msg(out, status, err.msg);
		return;
	}
	s = rest_snapshot_copy(srv);
	if (s == NULL)
	{
		reply_msg(out, 503, "starting: no observation yet");
		return;
	}
	if (s->holds_leader)
	{
		free(s);
		reply_msg(out, 503, "I am the leader, can not reinitialize");
		return;
	}
	if (!s->view.has_leader)
	{
		free(s);
		reply_msg(out, 503, "Cluster has no leader, can not reinitialize");
		return;
	}
	lw = s->view.config.loop_wait_ms > 0 ? s->view.config.loop_wait_ms : 1000;
	free(s);
	memset(&a, 0, sizeof(a));
	a.kind = REST_ACTION_REINIT;
	a.force = force;
	submit(srv, &a, 2 * lw + 5000, out);
}

void
simple_action(RestServer *srv, RestActionKind kind, RestReply *out)
{
	RestAction a;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	submit(srv, &a, 2 * loop_wait_of(srv) + 5000, out);
}
