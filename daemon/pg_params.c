/*
 * pg_params.c: the cluster-wide PostgreSQL parameters of the `config` key
 * applied on this node (dropin_int.h, pg_params_sync), issue 12. Each loop,
 * before anything may start PostgreSQL, the parameters this node should run
 * with are worked out (config_pg_params_effective: Patroni's precedence);
 * when they changed, our configuration file is rewritten and checked
 * (health_control_set_params) and a running server reloaded. Whether a
 * change needs a restart is PostgreSQL's to say: its pg_settings
 * pending_restart, which the probe reads every loop, goes into the member
 * key, `pgwardenctl list` and `patronictl list`.
 */
#include "daemon/dropin_int.h"
#include "daemon/backup_duty.h"

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "health/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PgParamSet *applied; /* what the file holds, as we last set it */

/* log what is left out, once per change of the set */
static void
log_ignored(const PgParamSet *want)
{
	for (int i = 0; i < want->n_ignored; i++)
	{
		const PgParamIgnored *ig = &want->ignored[i];
		char q[256];

		log_warn("pg.param-ignored", "source=%s name=%s reason=%s", ig->source,
		         ig->name, log_quote(ig->why, q, sizeof(q)));
	}
}

void
pg_params_sync(FailoverExec *exec, const NodeConfig *cfg, const ClusterView *v,
               bool view_valid)
{
	PgParamSet *want;
	HealthParam hp[PGW_PG_PARAMS_EFFECTIVE_MAX];
	char rejected[512];
	bool changed = false;
	PgwError err = {0};
	int rc;

	/* garbage in `config` is read as the defaults: never drop the
	 * cluster's parameters on that account */
	if (!view_valid || (v->has_config && !v->config_is_valid))
		return;
	want = pgw_xmalloc(sizeof(PgParamSet));
	config_pg_params_effective(cfg, &v->config, want);
	backup_duty_params(cfg, want); /* archiving, when backup: is on */
	if (applied != NULL && config_pg_params_equal(want, applied))
	{
		free(want);
		return;
	}
	log_ignored(want);
	for (int i = 0; i < want->n; i++)
	{
		hp[i].name = want->params[i].name;
		hp[i].value = want->params[i].value;
	}
	rc = health_control_set_params(failover_exec_control(exec), hp, want->n,
	                               &changed, rejected, sizeof(rejected), &err);
	if (rejected[0] != '\0')
		log_warn(
		    "pg.param-rejected",
		    "names=%s action=left-out detail=\"PostgreSQL refuses them; fix them in the config key or postgresql.parameters\"",
		    rejected);
	if (rc != 0)
	{
		char q[PGW_ERROR_MSG_MAX + 16];

		log_warn("pg.params-check-failed", "detail=%s action=written-anyway",
		         log_quote(err.msg, q, sizeof(q)));
	}
	if (changed)
	{
		PgwError e2 = {0};
		int rl = health_control_reload(failover_exec_control(exec), &e2);

		log_info("pg.params-applied", "count=%d reload=%s", want->n,
		         rl == 0 ? "yes" : "not-running");
	}
	/* the file could not be written: the next loop tries again */
	if (rc != 0 && !changed)
	{
		free(want);
		return;
	}
	free(applied);
	applied = want;
}
