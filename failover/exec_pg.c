/*
 * exec_pg.c: the executor's small PostgreSQL helpers: start and stop with
 * the bookkeeping every step needs (should the server run, as what, which
 * pid the fence guards), and a member's address from the cluster view.
 */
#include "failover/exec_int.h"

#include "common/log.h"
#include "common/strutil.h"
#include "common/url.h"

bool
exec_url_host_port(const char *url, char *host, size_t hlen, int *port)
{
	PgwUrl u;

	if (pgw_url_split(url, &u, NULL) != 0 || u.port == 0)
		return false;
	pgw_strlcpy(host, u.host, hlen);
	*port = u.port;
	return true;
}

bool
exec_upstream_of(const ClusterView *v, const char *name, char *host,
                 size_t hlen, HealthUpstream *up)
{
	const MemberInfo *m = dcs_view_member(v, name);

	if (m == NULL || !m->is_valid ||
	    !exec_url_host_port(m->conn_url, host, hlen, &up->port))
		return false;
	up->host = host;
	return true;
}

/* exec_data_dir_state: health's view of the data directory, as the
 * decision engine's DataDirState */
DataDirState
exec_data_dir_state(FailoverExec *e)
{
	const char *dir = e->cfg->pg_data_dir;

	switch (e->ops->data_dir_state(dir, e->ops->data_dir_incomplete(dir)))
	{
		case HEALTH_DATA_DIR_EMPTY:
			return DATA_DIR_EMPTY;
		case HEALTH_DATA_DIR_INITIALIZED:
			return DATA_DIR_INITIALIZED;
		case HEALTH_DATA_DIR_UNKNOWN:
			break;
	}
	return DATA_DIR_UNKNOWN;
}

void
exec_pm_refresh(FailoverExec *e)
{
	e->ops->status(e->pg, &e->pm);
	atomic_store(&e->fence_pid, e->pm.running ? (int) e->pm.pid : 0);
}

HealthWait
exec_start_pg_within(FailoverExec *e, bool as_primary, int timeout_ms,
                     PgwError *err)
{
	HealthWait w;

	e->should_run = true;
	e->expect_primary = as_primary;
	w = e->ops->start(e->pg, timeout_ms, err);
	if (w != HEALTH_WAIT_FAILED)
		exec_pm_refresh(e);
	return w;
}

HealthWait
exec_start_pg(FailoverExec *e, bool as_primary, PgwError *err)
{
	return exec_start_pg_within(
	    e, as_primary, as_primary ? START_TIMEOUT_MS : REPLICA_START_WAIT_MS,
	    err);
}

void
exec_stop_pg(FailoverExec *e, HealthStopMode mode)
{
	PgwError err = {0};

	e->should_run = false;
	e->crashed_since_mono_ms = 0;
	if (e->ops->stop(e->pg, mode, STOP_TIMEOUT_MS, &err) != HEALTH_WAIT_READY)
	{
		log_warn("pg.stop", "mode=%d detail=\"%s\" action=immediate",
		         (int) mode, err.msg);
		pgw_error_clear(&err);
		if (e->ops->stop(e->pg, HEALTH_STOP_IMMEDIATE, STOP_TIMEOUT_MS, &err) !=
		    HEALTH_WAIT_READY)
			log_error("pg.stop-failed", "mode=immediate detail=\"%s\"",
			          err.msg);
	}
	atomic_store(&e->fence_pid, 0);
}
