/*
 * routing_pub.c: the leader's side of routing (DESIGN.md R1, "fence first,
 * then point"). A new leader publishes the table fenced (no primary), waits
 * a bounded time for every live router to acknowledge, then publishes
 * itself as the primary; an old leader about to hand over in a planned
 * switchover publishes "switching" (routers pause) first. While serving, the
 * table is republished when its routes change (replicas, weights). Every
 * write is routing_publish(): one txn that also compares the leader key's
 * value and lease, so a deposed leader can never publish. Routing never
 * blocks failover: errors are logged and retried next loop.
 */
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "routing/routing.h"

#include <stdio.h>
#include <string.h>

#define ROUTING_ACK_WAIT_MAX_MS 2000
#define ROUTING_REPUBLISH_MS    5000

static int64_t
ack_wait_ms(const ClusterView *v)
{
	return v->config.retry_timeout_ms < ROUTING_ACK_WAIT_MAX_MS
	           ? v->config.retry_timeout_ms
	           : ROUTING_ACK_WAIT_MAX_MS;
}

static int
publish(RoutingPub *rp, EtcdClient *c, const char *prefix, const char *name,
        int64_t lease, const ClusterView *v, RoutingState state, int64_t *epoch)
{
	RoutingTable t;
	PgwError err = {0};
	int rc;

	rc = routing_table_build(v, name, state, 1,
	                         v->config.maximum_lag_on_failover,
	                         pgw_now_wall_ms(), &t, &err);
	if (rc != 0)
	{
		log_warn("routing.build-failed", "state=%s detail=\"%s\"",
		         routing_state_name(state), err.msg);
		return rc;
	}
	t.epoch = 0; /* stored epoch + 1 */
	rc = routing_publish(c, prefix, name, lease, &t, epoch, &err);
	if (rc != 0)
	{
		log_warn("routing.publish-failed", "state=%s error=%s detail=\"%s\"",
		         routing_state_name(state), pgw_strerror(rc), err.msg);
		return rc;
	}
	rp->last = t;
	rp->last.epoch = *epoch;
	rp->published_mono_ms = pgw_now_mono_ms();
	log_info("routing.published", "state=%s epoch=%lld replicas=%d",
	         routing_state_name(state), (long long) *epoch, t.n_replicas);
	return 0;
}

static void
wait_acks(EtcdClient *c, const char *prefix, const ClusterView *v,
          int64_t epoch, const char *what)
{
	RoutingAcks acks;
	PgwError err = {0};
	int64_t t0 = pgw_now_mono_ms();
	RoutingWait w =
	    routing_acks_wait(c, prefix, epoch, (int) ack_wait_ms(v), &acks, &err);

	if (w == ROUTING_WAIT_READY)
		log_info("routing.acked", "what=%s epoch=%lld routers=%d wait_ms=%lld",
		         what, (long long) epoch, acks.n_routers,
		         (long long) (pgw_now_mono_ms() - t0));
	else
		log_warn("routing.ack-timeout",
		         "what=%s epoch=%lld lagging=\"%s\" action=proceed", what,
		         (long long) epoch, acks.lagging);
}

void
routing_pub_leader(RoutingPub *rp, EtcdClient *c, const char *prefix,
                   const char *name, int64_t lease, const ClusterView *v)
{
	int64_t epoch = 0;
	int64_t now = pgw_now_mono_ms();

	if (!rp->serving)
	{
		RoutingTable cur;
		PgwError err = {0};
		bool planned = false;

		/* after a planned switchover the routers already paused writes;
		 * after anything else, cut writes everywhere first */
		if (routing_table_read(c, prefix, &cur, NULL, &err) == 0)
			planned = cur.state == ROUTING_STATE_SWITCHING ||
			          (cur.state == ROUTING_STATE_SERVING && cur.has_primary &&
			           strcmp(cur.primary.name, name) == 0);
		if (!planned)
		{
			if (publish(rp, c, prefix, name, lease, v, ROUTING_STATE_FENCED,
			            &epoch) != 0)
				return;
			wait_acks(c, prefix, v, epoch, "fenced");
		}
		if (publish(rp, c, prefix, name, lease, v, ROUTING_STATE_SERVING,
		            &epoch) != 0)
			return;
		rp->serving = true;
		return;
	}
	/* serving: republish when the routes change (replicas, weights) */
	if (now - rp->published_mono_ms >= ROUTING_REPUBLISH_MS ||
	    v->n_members != rp->last_n_members)
	{
		RoutingTable t;
		PgwError err = {0};

		rp->last_n_members = v->n_members;
		if (routing_table_build(v, name, ROUTING_STATE_SERVING, 1,
		                        v->config.maximum_lag_on_failover,
		                        pgw_now_wall_ms(), &t, &err) != 0)
			return;
		if (routing_table_equal_routes(&t, &rp->last))
		{
			rp->published_mono_ms = now;
			return;
		}
		(void) publish(rp, c, prefix, name, lease, v, ROUTING_STATE_SERVING,
		               &epoch);
	}
}

void
routing_pub_switching(RoutingPub *rp, EtcdClient *c, const char *prefix,
                      const char *name, int64_t lease, const ClusterView *v)
{
	int64_t epoch = 0;

	if (publish(rp, c, prefix, name, lease, v, ROUTING_STATE_SWITCHING,
	            &epoch) == 0)
		wait_acks(c, prefix, v, epoch, "switching");
	rp->serving = false;
}

void
routing_pub_not_leader(RoutingPub *rp)
{
	rp->serving = false;
}
