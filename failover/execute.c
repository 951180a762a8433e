/*
 * execute.c: the executor (failover.h Part 3): its handle, the dispatcher
 * that runs a Decision's step from the table (exec_steps.c) and hands the
 * outcome back, and what the loop reads from it (member value, last
 * report, postmaster). The steps themselves live in exec_steps.c, the
 * switchover in exec_switchover.c, the leader's duties in exec_leader.c.
 */
#include "failover/exec_int.h"

#include "backup/backup.h"
#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- open / close ------------------------------------------------------ */

int
failover_exec_open(const NodeConfig *cfg, FailoverExec **out, PgwError *err)
{
	return failover_exec_open_ops(cfg, &exec_ops_real, out, err);
}

int
failover_exec_open_ops(const NodeConfig *cfg, const ExecOps *ops,
                       FailoverExec **out, PgwError *err)
{
	FailoverExec *e;
	PgProbeConfig pc = {0};
	PgControlConfig cc = {0};
	char host[256];
	int port = cfg->pg_port;
	int n_steps;
	const ExecStep *steps = exec_steps_table(&n_steps);
	DecisionKind missing = exec_steps_check(steps, n_steps);
	int rc;
	int n_bk = 0;
	const HealthParam *bk = backup_pg_params(cfg, &n_bk); /* archiving */

	*out = NULL;
	if (missing != DECIDE_KIND_COUNT)
		return pgw_error_set(
		    err, PGW_EINTERNAL,
		    "the executor has no step for decision kind %d (%s)", (int) missing,
		    failover_decision_kind_name(missing));
	e = pgw_xcalloc(1, sizeof(FailoverExec));
	e->cfg = cfg;
	e->ops = ops;
	e->rep = pgw_xcalloc(1, sizeof(HealthReport));
	e->params = pgw_xcalloc((size_t) (cfg->n_pg_parameters + 1 + n_bk),
	                        sizeof(HealthParam));
	for (int i = 0; i < cfg->n_pg_parameters; i++)
	{
		e->params[i].name = cfg->pg_parameters[i].name;
		e->params[i].value = cfg->pg_parameters[i].value;
	}
	{
		bool has = false;

		for (int i = 0; i < cfg->n_pg_parameters; i++)
			if (strcmp(cfg->pg_parameters[i].name,
			           "wal_retrieve_retry_interval") == 0)
				has = true;
		/*
		 * A replica re-pointed at a new leader retries every
		 * wal_retrieve_retry_interval (5 s by default). Worse, a promote
		 * request that lands just after the stream from the old primary
		 * ended waits out the rest of the interval: 1 s showed as 1 s
		 * stalls in a third of switchovers. 200 ms bounds both, at the
		 * price of a reconnect attempt every 200 ms while the upstream is
		 * down.
		 */
		if (!has)
		{
			e->params[cfg->n_pg_parameters].name =
			    "wal_retrieve_retry_interval";
			e->params[cfg->n_pg_parameters].value = "200ms";
		}
		e->n_params = cfg->n_pg_parameters + (has ? 0 : 1);
	}
	for (int i = 0; i < n_bk; i++)
		e->params[e->n_params++] = bk[i];
	if (!exec_url_host_port(cfg->pg_listen, host, sizeof(host), &port))
		pgw_strlcpy(host, "127.0.0.1", sizeof(host));
	pc.host = cfg->pg_socket_dir ? cfg->pg_socket_dir : host;
	pc.port = cfg->pg_port;
	pc.user = cfg->pg_superuser_username;
	pc.password = cfg->pg_superuser_password;
	pc.data_dir = cfg->pg_data_dir;
	pc.connect_timeout_ms = 2000;
	pc.statement_timeout_ms = 1000;
	if ((rc = ops->probe_open(&pc, &e->probe, err)) != 0)
		goto fail;
	cc.bin_dir = cfg->pg_bin_dir;
	cc.data_dir = cfg->pg_data_dir;
	cc.port = cfg->pg_port;
	cc.listen_addresses = host;
	cc.socket_dir = cfg->pg_socket_dir;
	cc.run_as = cfg->pg_run_as;
	cc.member_name = cfg->name;
	cc.superuser = cfg->pg_superuser_username;
	cc.superuser_password = cfg->pg_superuser_password;
	cc.replication_user = cfg->pg_replication_username;
	cc.replication_password = cfg->pg_replication_password;
	cc.pgpass_path = cfg->pg_pgpass;
	cc.params = e->params;
	cc.n_params = e->n_params;
	cc.hba_lines = (const char *const *) cfg->pg_hba;
	cc.n_hba_lines = cfg->n_pg_hba;
	cc.hba_append_lines = (const char *const *) cfg->bootstrap_pg_hba;
	cc.n_hba_append_lines = cfg->n_bootstrap_pg_hba;
	if ((rc = ops->control_open(&cc, &e->pg, err)) != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	ops->probe_close(e->probe);
	free(e->params);
	free(e->rep);
	free(e);
	*out = NULL;
	return rc;
}

void
failover_exec_close(FailoverExec *e)
{
	if (e == NULL)
		return;
	e->ops->probe_close(e->probe);
	e->ops->control_close(e->pg);
	free(e->params);
	free(e->rep);
	free(e);
}

void
failover_exec_reconfigure(FailoverExec *e, const NodeConfig *cfg)
{
	/* tags and log level only; the rest needs a restart (documented) */
	(void) e;
	(void) cfg;
}

/*
 * failover_exec_fence_fn: run on the fencing thread when the leader's
 * deadline passed. Stop the postmaster (it forks no new backend), SIGKILL
 * every child it has, then the postmaster itself: no backend can
 * acknowledge another commit, even on a connection that is already open.
 * Crash recovery runs at the next start, exactly as after an immediate stop.
 */
void
failover_exec_fence_fn(void *arg)
{
	FailoverExec *e = arg;
	int pid = atomic_load(&e->fence_pid);

	if (pid <= 0)
		return;
	(void) e->ops->fence_postmaster(pid);
}

bool
failover_exec_reap(FailoverExec *e)
{
	HealthPmStatus st;

	e->ops->status(e->pg, &st);
	if (!st.exited)
		return false;
	e->pm = st;
	/* an exit we asked for (a switchover's stop) is no crash */
	if (e->should_run)
		log_warn("pg.exited", "status=%d", st.exit_status);
	else
		log_info("pg.exited", "status=%d expected=1", st.exit_status);
	return true;
}

int
failover_exec_postmaster_pid(FailoverExec *e)
{
	return atomic_load(&e->fence_pid);
}

/* ---- the dispatcher ----------------------------------------------------- */

ExecOutcome
failover_execute(FailoverExec *e, const ExecContext *ctx, const Decision *dec,
                 const LocalHealth *self)
{
	ExecOutcome out;
	int n;
	const ExecStep *steps = exec_steps_table(&n);

	memset(&out, 0, sizeof(out));
	out.action = "";
	/* whatever this step does to PostgreSQL, the next look probes afresh */
	e->probe_ok_mono_ms = 0;
	if ((int) dec->kind < 0 || (int) dec->kind >= n ||
	    steps[dec->kind].fn == NULL)
	{
		out.rc = pgw_error_set(&out.err, PGW_EINTERNAL,
		                       "no executor step for decision kind %d",
		                       (int) dec->kind);
		return out;
	}
	steps[dec->kind].fn(e, ctx, dec, self, &out);
	if (out.rc != 0 && out.err.code == 0)
		out.err.code = out.rc;
	return out;
}

/* ---- what the loop publishes ------------------------------------------- */

void
failover_exec_member_info(FailoverExec *e, const ClusterView *view,
                          const Decision *dec, MemberInfo *m)
{
	const NodeConfig *cfg = e->cfg;
	const HealthReport *r = e->rep;

	memset(m, 0, sizeof(*m));
	pgw_strlcpy(m->name, cfg->name, sizeof(m->name));
	snprintf(m->conn_url, sizeof(m->conn_url), "postgres://%s/postgres",
	         cfg->pg_connect_address ? cfg->pg_connect_address
	                                 : cfg->pg_listen);
	snprintf(m->api_url, sizeof(m->api_url), "%s://%s/patroni",
	         cfg->restapi_certfile && cfg->restapi_certfile[0] ? "https"
	                                                           : "http",
	         cfg->restapi_connect_address ? cfg->restapi_connect_address
	                                      : cfg->restapi_listen);
	pgw_strlcpy(m->version, PGW_VERSION, sizeof(m->version));
	if (e->pm.running && r->reachable)
	{
		m->state = MEMBER_STATE_RUNNING;
		m->role = r->in_recovery ? MEMBER_ROLE_REPLICA : MEMBER_ROLE_PRIMARY;
		m->timeline = (int) r->timeline;
		if (r->in_recovery)
		{
			m->received_location = r->receive_lsn;
			m->replayed_location = r->replay_lsn;
			m->xlog_location =
			    r->receive_lsn > r->replay_lsn ? r->receive_lsn : r->replay_lsn;
		}
		else
			m->xlog_location = r->wal_lsn;
		m->pending_restart = r->pending_restart;
	}
	else if (e->pm.running)
	{
		m->state = MEMBER_STATE_STARTING;
		m->role = MEMBER_ROLE_UNKNOWN;
	}
	else if (e->cloning)
	{
		m->state = MEMBER_STATE_CREATING_REPLICA;
		m->role = MEMBER_ROLE_REPLICA;
	}
	else
	{
		m->state = e->should_run ? MEMBER_STATE_CRASHED : MEMBER_STATE_STOPPED;
		m->role = exec_data_dir_state(e) == DATA_DIR_INITIALIZED
		              ? MEMBER_ROLE_DEMOTED
		              : MEMBER_ROLE_UNINITIALIZED;
	}
	/* a replica whose WAL left the leader's history (exec_diverge.c) must
	 * not be ranked first by its LSN, which is on a timeline the cluster
	 * left: peers would wait for it while it refuses to run */
	m->nofailover = cfg->tag_nofailover || e->diverged;
	m->noloadbalance = cfg->tag_noloadbalance;
	m->nosync = cfg->tag_nosync;
	m->failover_priority = cfg->tag_failover_priority;
	pgw_strlcpy(m->replicatefrom, cfg->tag_replicatefrom,
	            sizeof(m->replicatefrom));
	m->n_tags = cfg->n_tags;
	memcpy(m->tags, cfg->tags, sizeof(MemberTag) * (size_t) cfg->n_tags);
	if (dec != NULL)
		snprintf(m->reason, sizeof(m->reason), "%s: %s",
		         dec->rule ? dec->rule : "", dec->reason);
	m->is_valid = true;
	(void) view;
}

const HealthReport *
failover_exec_last_report(const FailoverExec *e, bool *pg_running,
                          int64_t *postmaster_start_wall_ms)
{
	*pg_running = e->pm.running && e->rep->reachable;
	*postmaster_start_wall_ms = e->postmaster_start_wall_ms;
	return e->rep;
}

bool
failover_exec_is_writable_primary(const FailoverExec *e)
{
	return e->pm.running && e->expect_primary;
}

struct PgControl *
failover_exec_control(FailoverExec *e)
{
	return e->pg;
}

void
failover_exec_set_cloning(FailoverExec *e, bool cloning)
{
	e->cloning = cloning;
}
