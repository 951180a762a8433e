/*
 * exec_backup.c: the executor's moments that matter to the archive (issue
 * 15): an old primary's WAL is pushed before a rewind or re-clone discards
 * it, a replica's data directory may come from the repository, and a new
 * cluster's first node may be restored from it (bootstrap.method:
 * pgbackrest). All go through ExecOps to backup/; a step calls these
 * functions and nothing else of backup/.
 */
#include "failover/exec_int.h"

#include "common/log.h"

/* the most a push may take before a rewind: the node must get back into
 * the cluster; what is left shows as a gap in the new leader's check */
#define SAVE_WAL_TIMEOUT_MS 60000

void
exec_save_wal(FailoverExec *e)
{
	PgwError err = {0};
	int n = 0;

	if (e->ops->push_ready == NULL)
		return;
	/* a failure is reported, never a reason to hold the node back */
	if (e->ops->push_ready(e->cfg, SAVE_WAL_TIMEOUT_MS, &n, &err) != 0)
		log_error("backup.push-ready-failed",
		          "pushed=%d detail=\"%s\" action=continue", n, err.msg);
}

int
exec_clone_data_dir(FailoverExec *e, const HealthUpstream *up, PgwError *err)
{
	int rc = PGW_ENOTFOUND;

	if (e->ops->clone_from_repository != NULL)
		rc = e->ops->clone_from_repository(e->cfg, err);
	if (rc == 0)
		return e->ops->set_upstream(e->pg, up, err);
	if (rc != PGW_ENOTFOUND)
	{
		PgwError e2 = {0};

		if (e->ops->basebackup_allowed == NULL ||
		    !e->ops->basebackup_allowed(e->cfg))
			return rc;
		log_warn("clone.from-repository-failed",
		         "detail=\"%s\" action=pg_basebackup", err->msg);
		if (e->ops->wipe_data_dir(e->cfg->pg_data_dir, &e2) != 0)
			log_warn("clone.wipe-failed", "detail=\"%s\" action=clone", e2.msg);
		*err = (PgwError){0};
	}
	return e->ops->clone(e->pg, up, err);
}

int
exec_restore_plan(FailoverExec *e, EtcdClient *etcd, char *label, PgwError *err)
{
	if (e->ops->bootstrap_plan == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "bootstrap.method: pgbackrest is not available in this executor");
	return e->ops->bootstrap_plan(e->cfg, etcd, label, EXEC_LABEL_MAX, err);
}

int
exec_restore_data_dir(FailoverExec *e, const char *label, PgwError *err)
{
	if (e->ops->bootstrap_restore == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "bootstrap.method: pgbackrest is not available in this executor");
	return e->ops->bootstrap_restore(e->cfg, label, err);
}
