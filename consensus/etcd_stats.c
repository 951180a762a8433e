/*
 * etcd_stats.c: what an EtcdClient saw of etcd (round-trip times, failed
 * attempts, the last answer), for the metrics of the daemon and the router
 * (issue 20). Atomics only: the client's callers record, another thread
 * (a metrics scrape) reads, neither waits for the other.
 */
#include "consensus/consensus_int.h"

#include "common/pgwtime.h"

void
etcd_stats_attempt(EtcdClient *c, int64_t us, bool ok, bool answered)
{
	pgw_hist_observe_us(&c->req_hist, us);
	if (!ok)
		atomic_fetch_add_explicit(&c->req_failed, 1, memory_order_relaxed);
	if (answered)
		etcd_stats_contact(c);
}

void
etcd_stats_contact(EtcdClient *c)
{
	atomic_store_explicit(&c->contact_mono_ms, pgw_now_mono_ms(),
	                      memory_order_relaxed);
	atomic_store_explicit(&c->contact_wall_ms, pgw_now_wall_ms(),
	                      memory_order_relaxed);
}

void
etcd_client_stats(EtcdClient *c, EtcdClientStats *out)
{
	pgw_hist_read(&c->req_hist, &out->request_seconds);
	out->requests_failed =
	    atomic_load_explicit(&c->req_failed, memory_order_relaxed);
	out->last_contact_mono_ms =
	    atomic_load_explicit(&c->contact_mono_ms, memory_order_relaxed);
	out->last_contact_wall_ms =
	    atomic_load_explicit(&c->contact_wall_ms, memory_order_relaxed);
}
