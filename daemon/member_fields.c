/*
 * member_fields.c: the member-key fields a Patroni client reads beyond the
 * basics (dropin_int.h): patronictl `pause --wait` waits for "pause" in
 * every member, `list -e` shows "scheduled_restart", `flush restart` sends
 * DELETE /restart only to a member that shows one (Patroni 3.0.2 ctl.py
 * wait_until_pause_is_applied, output_members, flush). The values mirror
 * ha.py touch_member().
 */
#include "daemon/dropin_int.h"

#include "common/strutil.h"
#include "health/health.h"

#include <stdio.h>
#include <string.h>

void
member_fields_fill(MemberInfo *m, const NodeConfig *cfg, const ClusterView *v,
                   const RestAction *scheduled, const FailoverExec *exec)
{
	bool running = false;
	int64_t pm_start = 0;
	const HealthReport *r =
	    failover_exec_last_report(exec, &running, &pm_start);

	m->pause = v->config.pause;
	memset(&m->scheduled_restart, 0, sizeof(m->scheduled_restart));
	if (scheduled != NULL && scheduled->kind == REST_ACTION_RESTART &&
	    scheduled->scheduled_wall_ms > 0)
	{
		MemberRestart *sr = &m->scheduled_restart;

		sr->schedule_wall_ms = scheduled->scheduled_wall_ms;
		sr->postmaster_start_wall_ms = pm_start;
		sr->restart_pending = scheduled->restart_pending_only;
		pgw_strlcpy(sr->role, scheduled->role, sizeof(sr->role));
		if (scheduled->postgres_version > 0)
			snprintf(sr->postgres_version, sizeof(sr->postgres_version),
			         "%d.%d", scheduled->postgres_version / 10000,
			         scheduled->postgres_version % 10000);
		sr->timeout_s = scheduled->timeout_s;
	}
	/* Patroni: false until the first checkpoint after promotion finished;
	 * pg_rewind against this primary needs that checkpoint */
	m->checkpoint_pending = running && r != NULL && !r->in_recovery &&
	                        r->checkpoint_tli != 0 &&
	                        r->checkpoint_tli < r->timeline;
	m->proxy_url[0] = '\0';
	if (cfg->pg_proxy_address != NULL && cfg->pg_proxy_address[0] != '\0')
		snprintf(m->proxy_url, sizeof(m->proxy_url), "postgres://%s/postgres",
		         cfg->pg_proxy_address);
}

bool
member_restart_version_ok(const FailoverExec *exec, int postgres_version)
{
	bool running = false;
	int64_t pm_start = 0;
	const HealthReport *r =
	    failover_exec_last_report(exec, &running, &pm_start);

	return postgres_version <= 0 || r == NULL || r->server_version_num <= 0 ||
	       r->server_version_num < postgres_version;
}
