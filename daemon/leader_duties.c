/*
 * leader_duties.c: what the leader keeps up, once per turn, in the publish
 * phase, while it holds the key and the turn's step confirmed it (DESIGN.md
 * "daemon/": leader duties run after routing points at the new primary).
 *
 * Each duty is one row below. A capability that needs the leader's turn
 * (a backup schedule, an archive check, Kubernetes labels, shard
 * ownership) adds one row and one small function here that calls into its
 * own module's public header; it must not block for long (bound it by
 * retry_timeout), must log its own failures (they are retried next turn)
 * and must compare every etcd write against the leader key
 * (dcs_leader_guarded_put / dcs_leader_guarded_cas).
 */
#include "daemon/daemon_loop.h"

#include "common/pgwtime.h"

typedef struct LeaderDuty
{
	const char *name; /* stable, for logs and the tests */
	void (*run)(const LeaderDutyContext *c);
} LeaderDuty;

/* the executor's duties: status, config, initialize, sync names and `sync`,
 * slots, history, clearing a served request (failover/exec_leader.c) */
static void
duty_keys_sync_slots(const LeaderDutyContext *c)
{
	failover_leader_duties(c->d->exec, c->ctx);
}

/* the `failsafe` key, when failsafe mode is on (failsafe.c) */
static void
duty_failsafe(const LeaderDutyContext *c)
{
	failsafe_publish(c->d);
}

static const LeaderDuty duties[] = {
    {"keys-sync-slots-history", duty_keys_sync_slots},
    {"failsafe", duty_failsafe},
    /* one row per capability: backup schedule, archive check, k8s labels,
	 * shard ownership */
};

void
leader_duties_run(Daemon *d, const ExecContext *ctx, const ExecOutcome *out)
{
	LeaderDutyContext c;

	c.d = d;
	c.ctx = ctx;
	c.cfg = d->cfg;
	c.out = out;
	c.now_mono_ms = pgw_now_mono_ms();
	for (size_t i = 0; i < PGW_LENGTHOF(duties); i++)
		duties[i].run(&c);
}
