/*
 * test_failover_decide.c: failover_decide() by a table of named scenarios
 * (STYLE.md "Tests"): each builds (view, self, peers, now) from a healthy
 * three-node cluster and states the expected decision kind, and where it
 * matters the rule and target. Also: every rule of the table is hit by some
 * scenario, every reason is fully rendered, decide is pure (same inputs,
 * same output, inputs untouched), and the ranking comparator is a total
 * order on random member sets (fixed seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "failover/failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW       1000000      /* monotonic ms of every scenario */
#define LSN_A     0x3000060ULL /* node1 / node2 position */
#define LSN_B     0x3000000ULL /* node3, 96 bytes behind */
#define SYSID     "7000000000000000001"
#define SYSID_NUM 7000000000000000001ULL
#define LEASE_L   0x100 /* node1's lease */
#define LEASE_ME  0x200 /* our lease */
#define MiB       (1024ULL * 1024ULL)

typedef struct Input
{
	ClusterView view;
	LocalHealth self;
	PeerStatus peers[PGW_MEMBERS_MAX];
	int n_peers;
	int64_t now;
	bool null_view;
	bool null_self;
} Input;

typedef struct Scenario
{
	const char *name;
	void (*build)(Input *in);
	DecisionKind expect;
	const char *rule;       /* NULL: not checked */
	const char *target;     /* NULL: not checked; "" must be empty */
	const char *reason_has; /* NULL: not checked */
} Scenario;

/* ---- builders ----------------------------------------------------------- */

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static MemberInfo *
member(ClusterView *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, name) == 0)
			return &v->members[i];
	return NULL;
}

static MemberInfo *
add_member(ClusterView *v, const char *name, MemberRole role, int tl,
           uint64_t lsn)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	copy(m->name, sizeof(m->name), name);
	snprintf(m->conn_url, sizeof(m->conn_url), "postgres://%s:5432/postgres",
	         name);
	snprintf(m->api_url, sizeof(m->api_url), "http://%s:8008/patroni", name);
	m->role = role;
	m->state = MEMBER_STATE_RUNNING;
	m->timeline = tl;
	m->xlog_location = lsn;
	if (role == MEMBER_ROLE_REPLICA)
	{
		m->received_location = lsn;
		m->replayed_location = lsn;
	}
	m->failover_priority = 1;
	m->is_valid = true;
	return m;
}

static void
remove_member(ClusterView *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, name) == 0)
		{
			memmove(&v->members[i], &v->members[i + 1],
			        sizeof(MemberInfo) * (size_t) (v->n_members - i - 1));
			v->n_members--;
			return;
		}
}

/* base: node1 leads on timeline 2, we are node2 (replica, caught up),
 * node3 is a replica 96 bytes behind. */
static void
base(Input *in)
{
	ClusterView *v = &in->view;
	LocalHealth *s = &in->self;

	memset(in, 0, sizeof(*in));
	in->now = NOW;
	v->is_valid = true;
	v->revision = 42;
	v->has_initialize = true;
	copy(v->initialize, sizeof(v->initialize), SYSID);
	v->has_leader = true;
	copy(v->leader, sizeof(v->leader), "node1");
	v->leader_lease = LEASE_L;
	v->has_config = true;
	v->config_is_valid = true;
	v->config.ttl_ms = 10000;
	v->config.loop_wait_ms = 1000;
	v->config.retry_timeout_ms = 3000;
	v->config.maximum_lag_on_failover = MiB;
	v->config.primary_start_timeout_ms = 30000;
	v->config.use_pg_rewind = true;
	v->config.use_slots = true;
	v->config.remove_data_directory_on_rewind_failure = true;
	v->config.synchronous_node_count = 1;
	v->last_history_timeline = 1;
	v->leader_optime = LSN_A;
	add_member(v, "node1", MEMBER_ROLE_PRIMARY, 2, LSN_A);
	add_member(v, "node2", MEMBER_ROLE_REPLICA, 2, LSN_A);
	add_member(v, "node3", MEMBER_ROLE_REPLICA, 2, LSN_B);

	copy(s->name, sizeof(s->name), "node2");
	s->failover_priority = 1;
	s->etcd_ok = true;
	s->lease_id = LEASE_ME;
	s->lease_deadline_mono_ms = NOW + 8000;
	s->data_dir = DATA_DIR_INITIALIZED;
	s->bootstrap_allowed = true;
	s->pg_running = true;
	s->pg_reachable = true;
	s->pg_in_recovery = true;
	s->pg_is_child = true;
	s->pg_timeline = 2;
	s->pg_received_lsn = LSN_A;
	s->pg_replayed_lsn = LSN_A;
	s->system_identifier = SYSID_NUM;
	copy(s->upstream, sizeof(s->upstream), "node1");
	s->last_loop_mono_ms = NOW - 1000;
}

/* we (node2) are the leader, running read-write */
static void
base_leader(Input *in)
{
	base(in);
	copy(in->view.leader, sizeof(in->view.leader), "node2");
	in->view.leader_lease = LEASE_ME;
	member(&in->view, "node1")->role = MEMBER_ROLE_REPLICA;
	member(&in->view, "node2")->role = MEMBER_ROLE_PRIMARY;
	in->self.pg_in_recovery = false;
	in->self.pg_was_primary = true;
	in->self.pg_current_lsn = LSN_A;
	in->self.upstream[0] = '\0';
}

/* the leader key (and node1's member key, same lease) expired 1200 ms ago */
static void
leader_gone(Input *in)
{
	base(in);
	in->view.has_leader = false;
	in->view.leader[0] = '\0';
	in->view.leader_lease = 0;
	remove_member(&in->view, "node1");
	in->self.leader_absent_since_mono_ms = NOW - 1200;
}

static void
add_peer(Input *in, const char *name, bool reachable, bool primary, int tl,
         uint64_t lsn)
{
	failover_peer_from_probe(&in->peers[in->n_peers++], name, reachable,
	                         primary, primary, true, tl, primary ? lsn : 0, lsn,
	                         lsn);
}

/* leader gone, linearizable view, node3 asked */
static void
election_ready(Input *in)
{
	leader_gone(in);
	in->self.view_is_linearizable = true;
	in->self.peers_probed = true;
	add_peer(in, "node3", true, false, 2, LSN_B);
}

/* ---- scenarios: replica with a healthy leader --------------------------- */

static void
s_replica_follows(Input *in)
{
	base(in);
}

static void
s_replica_wrong_upstream(Input *in)
{
	base(in);
	copy(in->self.upstream, sizeof(in->self.upstream), "node3");
}

static void
s_replica_no_upstream(Input *in)
{
	base(in);
	in->self.upstream[0] = '\0';
}

static void
s_replica_pg_stopped(Input *in)
{
	base(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
}

static void
s_replica_pg_starting(Input *in)
{
	base(in);
	in->self.pg_reachable = false;
}

static void
s_garbage_member_leader_healthy(Input *in)
{
	MemberInfo *m;

	base(in);
	m = member(&in->view, "node3");
	memset(m, 0x7f, sizeof(*m)); /* any bytes at all */
	copy(m->name, sizeof(m->name), "node3");
	m->is_valid = false;
	copy(m->parse_error, sizeof(m->parse_error), "not JSON");
}

static void
s_leader_member_garbage(Input *in)
{
	base(in);
	member(&in->view, "node1")->is_valid = false;
}

static void
s_leader_member_missing(Input *in)
{
	base(in);
	remove_member(&in->view, "node1");
}

/* ---- scenarios: election ------------------------------------------------ */

static void
s_gone_not_linearizable(Input *in)
{
	leader_gone(in);
}

static void
s_gone_peers_not_probed(Input *in)
{
	leader_gone(in);
	in->self.view_is_linearizable = true;
}

static void
s_gone_we_are_best(Input *in)
{
	election_ready(in);
}

static void
s_gone_no_peers_at_all(Input *in)
{
	/* two-node cluster: no other member to ask, probing done */
	leader_gone(in);
	remove_member(&in->view, "node3");
	in->self.view_is_linearizable = true;
	in->self.peers_probed = true;
}

static void
s_gone_peer_ahead(Input *in)
{
	election_ready(in);
	in->peers[0].received_location = LSN_A + 4096;
	in->peers[0].replayed_location = LSN_A + 4096;
}

static void
s_gone_unreachable_ahead_within_lag(Input *in)
{
	/* node3's key says it is ahead but it does not answer: skipped */
	election_ready(in);
	member(&in->view, "node3")->xlog_location = LSN_A + 4096;
	in->peers[0].reachable = false;
}

static void
s_gone_unreachable_key_bounds_lag(Input *in)
{
	/* node3's key (unreachable) is 2 MiB ahead: bounds our lag */
	election_ready(in);
	member(&in->view, "node3")->xlog_location = LSN_A + 2 * MiB;
	in->peers[0].reachable = false;
}

static void
s_gone_we_lag(Input *in)
{
	election_ready(in);
	in->view.leader_optime = LSN_A + 2 * MiB;
}

static void
s_gone_lag_exactly_max(Input *in)
{
	election_ready(in);
	in->view.leader_optime = LSN_A + MiB;
}

static void
s_gone_nofailover(Input *in)
{
	election_ready(in);
	in->self.nofailover = true;
}

/* failsafe mode: we vouched for a primary cut from etcd 1 s ago (ttl 10 s
 * in this fixture): promoting beside it would make two writers */
static void
s_gone_failsafe_vouched(Input *in)
{
	election_ready(in);
	in->self.failsafe_vouched_mono_ms = NOW - 1000;
}

/* ... but a vouch older than ttl no longer holds us back */
static void
s_gone_failsafe_vouch_expired(Input *in)
{
	election_ready(in);
	in->self.failsafe_vouched_mono_ms = NOW - 11000;
}

/* failsafe mode: the leader's `failsafe` list does not name us */
static void
s_gone_not_failsafe_member(Input *in)
{
	election_ready(in);
	in->view.config.failsafe_mode = true;
	in->view.failsafe.present = true;
	in->view.failsafe.n = 1;
	snprintf(in->view.failsafe.name[0], PGW_NAME_MAX, "node3");
}

/* ... and one that does lets the election go on */
static void
s_gone_failsafe_member(Input *in)
{
	election_ready(in);
	in->view.config.failsafe_mode = true;
	in->view.failsafe.present = true;
	in->view.failsafe.n = 2;
	snprintf(in->view.failsafe.name[0], PGW_NAME_MAX, "node3");
	snprintf(in->view.failsafe.name[1], PGW_NAME_MAX, "%s", in->self.name);
}

static void
s_gone_priority_zero(Input *in)
{
	election_ready(in);
	in->self.failover_priority = 0;
}

static void
s_gone_timeline_behind(Input *in)
{
	election_ready(in);
	in->view.config.check_timeline = true;
	in->view.last_history_timeline = 2; /* cluster is on 3 */
}

/* check_timeline off (Patroni's default): the lag bound decides alone */
static void
s_gone_timeline_behind_unchecked(Input *in)
{
	election_ready(in);
	in->view.last_history_timeline = 2; /* cluster is on 3 */
}

static void
s_gone_tie_priority(Input *in)
{
	/* same LSN: node3 has failover_priority 2 */
	election_ready(in);
	member(&in->view, "node3")->failover_priority = 2;
	in->peers[0].received_location = LSN_A;
	in->peers[0].replayed_location = LSN_A;
}

static void
s_gone_tie_name_we_win(Input *in)
{
	election_ready(in);
	in->peers[0].received_location = LSN_A;
	in->peers[0].replayed_location = LSN_A;
}

static void
s_gone_tie_name_we_lose(Input *in)
{
	/* we are node3 now; node2 has the same LSN and sorts first */
	election_ready(in);
	copy(in->self.name, sizeof(in->self.name), "node3");
	copy(in->peers[0].name, sizeof(in->peers[0].name), "node2");
	in->peers[0].received_location = LSN_A;
	in->peers[0].replayed_location = LSN_A;
}

static void
s_gone_garbage_peer_ahead(Input *in)
{
	/* node3 answers ahead of us but its member key is garbage */
	election_ready(in);
	member(&in->view, "node3")->is_valid = false;
	in->peers[0].received_location = LSN_A + 4096;
	in->peers[0].replayed_location = LSN_A + 4096;
}

static void
s_gone_nofailover_peer_ahead(Input *in)
{
	election_ready(in);
	member(&in->view, "node3")->nofailover = true;
	in->peers[0].received_location = LSN_A + 4096;
	in->peers[0].replayed_location = LSN_A + 4096;
}

static void
s_gone_peer_still_primary(Input *in)
{
	election_ready(in);
	add_peer(in, "node1", true, true, 2, LSN_A);
}

static void
s_gone_peer_says_leader(Input *in)
{
	election_ready(in);
	in->peers[0].is_leader = true;
}

static void
s_sync_non_sync_member(Input *in)
{
	election_ready(in);
	in->view.config.synchronous_mode = true;
	in->view.sync.present = true;
	copy(in->view.sync.leader, PGW_NAME_MAX, "node1");
	in->view.sync.n_sync = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node3");
}

static void
s_sync_member_promotes(Input *in)
{
	/* we are the sync standby; node3 is ahead but not sync */
	election_ready(in);
	in->view.config.synchronous_mode = true;
	in->view.sync.present = true;
	copy(in->view.sync.leader, PGW_NAME_MAX, "node1");
	in->view.sync.n_sync = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node2");
	in->peers[0].received_location = LSN_A + 4096;
	in->peers[0].replayed_location = LSN_A + 4096;
}

static void
s_sync_key_absent(Input *in)
{
	election_ready(in);
	in->view.config.synchronous_mode = true;
}

static void
s_no_leader_pg_stopped(Input *in)
{
	leader_gone(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
}

static void
s_no_leader_pg_starting(Input *in)
{
	leader_gone(in);
	in->self.pg_reachable = false;
}

static void
s_peers_null_but_count(Input *in)
{
	/* a caller bug: n_peers > 0 with no array; must not crash */
	leader_gone(in);
	in->self.view_is_linearizable = true;
	in->n_peers = 3;
}

/* ---- scenarios: a primary without the key ------------------------------ */

static void
primary_no_key(Input *in)
{
	leader_gone(in);
	in->self.pg_in_recovery = false;
	in->self.pg_was_primary = true;
	in->self.pg_current_lsn = LSN_A;
	in->self.upstream[0] = '\0';
}

static void
s_primary_no_key_refresh(Input *in)
{
	primary_no_key(in);
}

static void
s_primary_no_key_acquire(Input *in)
{
	primary_no_key(in);
	in->self.view_is_linearizable = true;
	in->self.peers_probed = true;
	add_peer(in, "node3", true, false, 2, LSN_B);
}

static void
s_primary_no_key_peer_primary(Input *in)
{
	s_primary_no_key_acquire(in);
	in->peers[0].is_primary = true;
}

static void
s_primary_no_key_newer_timeline(Input *in)
{
	s_primary_no_key_acquire(in);
	member(&in->view, "node3")->timeline = 3;
}

static void
s_primary_no_key_history_moved(Input *in)
{
	s_primary_no_key_acquire(in);
	in->view.last_history_timeline = 2;
}

static void
s_other_holds_key_we_primary(Input *in)
{
	base(in);
	in->self.pg_in_recovery = false;
	in->self.pg_current_lsn = LSN_A;
}

static void
s_own_name_old_lease_primary(Input *in)
{
	base_leader(in);
	in->view.leader_lease = 0x999; /* our previous incarnation */
}

static void
s_own_name_old_lease_stopped(Input *in)
{
	s_own_name_old_lease_primary(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	/* the earlier run's process is proven gone (lease_holder.c) */
	in->self.proven_prior_lease = in->view.leader_lease;
}

static void
s_own_name_old_lease_unproven(Input *in)
{
	/* a new container: its predecessor may still hold the lease */
	s_own_name_old_lease_stopped(in);
	in->self.proven_prior_lease = 0;
}

static void
s_own_name_old_lease_other_proven(Input *in)
{
	/* the proof is for another, older lease than the key's */
	s_own_name_old_lease_stopped(in);
	in->self.proven_prior_lease = in->view.leader_lease + 1;
}

static void
s_own_name_old_lease_no_lease_yet(Input *in)
{
	s_own_name_old_lease_stopped(in);
	in->self.lease_id = 0;
	in->self.lease_deadline_mono_ms = 0;
}

static void
s_own_name_old_lease_empty_dir(Input *in)
{
	s_own_name_old_lease_stopped(in);
	in->self.data_dir = DATA_DIR_EMPTY;
}

/* issue 21: we led, our daemon died, its fence killed PostgreSQL and gave
 * the key (on LEASE_OLD) up 800 ms ago; the daemon restarted before the
 * others elected. node3 is a running replica that may take over. */
#define LEASE_OLD 0x150

static void
s_released_by_us_restarted(Input *in)
{
	leader_gone(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_in_recovery = false;
	in->self.pg_was_primary = true;
	in->self.pg_current_lsn = LSN_A + 8192; /* ahead of everyone */
	in->self.released_lease = LEASE_OLD;
	in->self.released_mono_ms = NOW - 800;
}

static void
s_released_by_us_ttl_passed(Input *in)
{
	/* a ttl later the others had their chance: a normal election */
	s_released_by_us_restarted(in);
	in->self.released_mono_ms = NOW - 10000;
}

static void
s_released_by_us_no_candidate(Input *in)
{
	/* nobody else may be promoted: waiting would only lose time */
	s_released_by_us_restarted(in);
	member(&in->view, "node3")->nofailover = true;
}

static void
s_released_by_us_candidate_stopped(Input *in)
{
	s_released_by_us_restarted(in);
	member(&in->view, "node3")->state = MEMBER_STATE_STOPPED;
}

static void
s_released_by_us_candidate_priority_zero(Input *in)
{
	s_released_by_us_restarted(in);
	member(&in->view, "node3")->failover_priority = 0;
}

static void
s_released_by_us_sync_candidate(Input *in)
{
	s_released_by_us_restarted(in);
	in->view.config.synchronous_mode = true;
	in->view.sync.present = true;
	copy(in->view.sync.leader, PGW_NAME_MAX, "node2");
	in->view.sync.n_sync = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node3");
}

static void
s_released_by_us_sync_no_candidate(Input *in)
{
	/* synchronous mode and node3 is not in `sync`: it cannot take over */
	s_released_by_us_sync_candidate(in);
	in->view.sync.n_sync = 0;
}

static void
s_released_by_us_clock_behind(Input *in)
{
	/* a record "from the future" (not this boot's clock): no effect */
	s_released_by_us_restarted(in);
	in->self.released_mono_ms = NOW + 5000;
}

static void
s_released_by_us_running_replica(Input *in)
{
	/* our PostgreSQL already runs as a replica (it followed someone since,
	 * or we released as an ineligible replica): a normal election, or the
	 * others, seeing us ahead, would wait for us while we wait for them */
	s_released_by_us_restarted(in);
	in->self.pg_running = true;
	in->self.pg_reachable = true;
	in->self.pg_in_recovery = true;
	in->self.pg_current_lsn = 0;
	in->self.pg_received_lsn = LSN_A;
	in->self.pg_replayed_lsn = LSN_A;
}

static void
s_released_by_us_other_leads(Input *in)
{
	/* node1 took over: we rejoin as its replica, as any stopped node */
	base(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.released_lease = LEASE_OLD;
	in->self.released_mono_ms = NOW - 800;
}

static void
s_released_key_on_our_name_no_takeover(Input *in)
{
	/* the key still shows our name on the lease we released (a stale view
	 * or an ambiguous delete): never moved back to our new lease, even
	 * with its holder proven gone */
	s_own_name_old_lease_stopped(in);
	in->self.released_lease = in->view.leader_lease;
	in->self.released_mono_ms = NOW - 800;
}

static void
s_released_other_lease_takeover(Input *in)
{
	/* we gave up a key on an older lease; this one we did not release */
	s_own_name_old_lease_stopped(in);
	in->self.released_lease = in->view.leader_lease - 1;
	in->self.released_mono_ms = NOW - 800;
}

static void
s_unreachable_pg_not_in_recovery(Input *in)
{
	/* running, does not answer, no standby.signal: may write -> fence */
	base(in);
	in->self.pg_reachable = false;
	in->self.pg_in_recovery = false;
}

/* ---- scenarios: we lead -------------------------------------------------- */

static void
s_leader_renew(Input *in)
{
	base_leader(in);
}

static void
s_leader_lease_nearly_expired(Input *in)
{
	base_leader(in);
	in->self.lease_deadline_mono_ms = NOW + 100;
}

static void
s_leader_deadline_passed(Input *in)
{
	base_leader(in);
	in->self.lease_deadline_mono_ms = NOW - 50;
}

static void
s_leader_deadline_exactly_now(Input *in)
{
	base_leader(in);
	in->self.lease_deadline_mono_ms = NOW;
}

static void
s_leader_deadline_passed_in_tilt(Input *in)
{
	base_leader(in);
	in->self.lease_deadline_mono_ms = NOW - 50;
	in->self.last_loop_mono_ms = NOW - 60000;
}

static void
s_leader_etcd_down_within_deadline(Input *in)
{
	base_leader(in);
	in->self.etcd_ok = false;
	in->view.is_valid = false;
	in->self.lease_deadline_mono_ms = NOW + 3000;
}

static void
s_leader_etcd_down_deadline_passed(Input *in)
{
	s_leader_etcd_down_within_deadline(in);
	in->self.lease_deadline_mono_ms = NOW - 1;
}

static void
s_writable_no_lease(Input *in)
{
	base_leader(in);
	in->self.lease_deadline_mono_ms = 0;
}

static void
s_leader_pg_crashed(Input *in)
{
	base_leader(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_crashed_since_mono_ms = NOW - 2000;
	in->self.restart_attempts = 1;
}

static void
s_leader_pg_down_no_bookkeeping(Input *in)
{
	/* restarted daemon that still holds its lease: PG not started yet */
	s_leader_pg_crashed(in);
	in->self.pg_crashed_since_mono_ms = 0;
	in->self.restart_attempts = 0;
}

static void
s_leader_pg_down_timeout(Input *in)
{
	s_leader_pg_crashed(in);
	in->self.pg_crashed_since_mono_ms = NOW - 31000;
	in->self.restart_attempts = 5;
}

static void
s_leader_pg_crash_loop_timeout(Input *in)
{
	/* postmaster keeps coming back but never accepts connections */
	s_leader_pg_down_timeout(in);
	in->self.pg_running = true;
	in->self.pg_in_recovery = true;
}

static void
s_leader_start_timeout_zero(Input *in)
{
	s_leader_pg_crashed(in);
	in->view.config.primary_start_timeout_ms = 0;
}

static void
s_leader_restart_failed(Input *in)
{
	/* postgres exited during the first restart (unreadable data directory):
	 * waiting out primary_start_timeout would not help */
	s_leader_pg_crashed(in);
	in->self.pg_crashed_since_mono_ms = NOW - 400;
	in->self.restart_attempts = 1;
	in->self.restart_failed = true;
}

static void
s_leader_restart_failed_but_running(Input *in)
{
	/* a failed start attempt, yet a postmaster runs now (slow recovery
	 * after a retry): give it primary_start_timeout */
	s_leader_restart_failed(in);
	in->self.pg_running = true;
	in->self.pg_in_recovery = true;
}

static void
s_leader_pg_starting(Input *in)
{
	base_leader(in);
	in->self.pg_reachable = false;
	in->self.pg_in_recovery = true;
}

static void
s_leader_key_as_replica(Input *in)
{
	base_leader(in);
	in->self.pg_in_recovery = true;
}

static void
s_leader_key_as_replica_nofailover(Input *in)
{
	s_leader_key_as_replica(in);
	in->self.nofailover = true;
}

static void
s_leader_key_as_replica_not_sync(Input *in)
{
	s_leader_key_as_replica(in);
	in->view.config.synchronous_mode = true;
	in->view.sync.present = true;
	copy(in->view.sync.leader, PGW_NAME_MAX, "node1");
	in->view.sync.n_sync = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node3");
}

static void
s_leader_data_dir_empty(Input *in)
{
	base_leader(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.data_dir = DATA_DIR_EMPTY;
}

static void
s_leader_garbage_config(Input *in)
{
	base_leader(in);
	in->view.config_is_valid = false;
	in->view.config.ttl_ms = -5;
	in->view.config.loop_wait_ms = 0;
	in->view.config.retry_timeout_ms = 0;
}

/* ---- scenarios: stalls, etcd --------------------------------------------- */

static void
s_tilt(Input *in)
{
	base(in);
	in->self.last_loop_mono_ms = NOW - 5001; /* limit 2*1000+3000 */
}

static void
s_no_tilt_at_limit(Input *in)
{
	base(in);
	in->self.last_loop_mono_ms = NOW - 5000;
}

static void
s_first_loop_no_tilt(Input *in)
{
	base(in);
	in->self.last_loop_mono_ms = 0;
}

static void
s_replica_etcd_down(Input *in)
{
	base(in);
	in->self.etcd_ok = false;
}

static void
s_replica_view_invalid(Input *in)
{
	base(in);
	in->view.is_valid = false;
}

static void
s_null_view(Input *in)
{
	base(in);
	in->null_view = true;
}

static void
s_null_self(Input *in)
{
	base(in);
	in->null_self = true;
}

static void
s_empty_name(Input *in)
{
	base(in);
	in->self.name[0] = '\0';
}

/* ---- scenarios: bootstrap, clone, system identifier ---------------------- */

static void
uninitialized(Input *in)
{
	base(in);
	in->view.has_initialize = false;
	in->view.initialize[0] = '\0';
	in->view.has_leader = false;
	in->view.leader[0] = '\0';
	in->view.n_members = 0;
	in->view.leader_optime = 0;
	in->view.last_history_timeline = 0;
	in->self.data_dir = DATA_DIR_EMPTY;
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_timeline = 0;
	in->self.system_identifier = 0;
	in->self.upstream[0] = '\0';
}

static void
s_bootstrap(Input *in)
{
	uninitialized(in);
}

static void
s_bootstrap_not_allowed(Input *in)
{
	uninitialized(in);
	in->self.bootstrap_allowed = false;
}

static void
s_bootstrap_adopt(Input *in)
{
	uninitialized(in);
	in->self.data_dir = DATA_DIR_INITIALIZED;
	in->self.system_identifier = SYSID_NUM;
}

static void
s_bootstrap_in_progress(Input *in)
{
	uninitialized(in);
	in->view.has_initialize = true;
}

static void
s_clone(Input *in)
{
	base(in);
	in->self.data_dir = DATA_DIR_EMPTY;
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.system_identifier = 0;
	in->self.upstream[0] = '\0';
}

static void
s_clone_retry(Input *in)
{
	s_clone(in);
	in->self.clone_failed = true;
}

static void
s_clone_no_leader(Input *in)
{
	s_clone(in);
	in->view.has_leader = false;
	in->view.leader[0] = '\0';
}

static void
s_clone_leader_no_member(Input *in)
{
	s_clone(in);
	remove_member(&in->view, "node1");
}

static void
s_clone_empty_dir_other_sysid(Input *in)
{
	/* a stale system identifier from before the wipe: still clone */
	s_clone(in);
	in->self.system_identifier = 123;
}

static void
s_sysid_mismatch(Input *in)
{
	base(in);
	in->self.system_identifier = 123456789;
}

static void
s_sysid_mismatch_stopped(Input *in)
{
	s_sysid_mismatch(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
}

static void
s_initialize_garbage(Input *in)
{
	base(in);
	copy(in->view.initialize, sizeof(in->view.initialize), "x\"}{garbage");
}

static void
s_data_dir_unknown(Input *in)
{
	base(in);
	in->self.data_dir = DATA_DIR_UNKNOWN;
}

/* ---- scenarios: returning old primary ------------------------------------ */

static void
old_primary_back(Input *in)
{
	base(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_in_recovery = false;
	in->self.pg_was_primary = true;
	in->self.pg_timeline = 1;
	in->self.pg_current_lsn = LSN_A + 8192;
	in->self.upstream[0] = '\0';
}

static void
s_old_primary_rewind(Input *in)
{
	old_primary_back(in);
}

static void
s_old_primary_rewind_failed(Input *in)
{
	old_primary_back(in);
	in->self.rewind_failed = true;
}

static void
s_old_primary_rewind_off(Input *in)
{
	old_primary_back(in);
	in->view.config.use_pg_rewind = false;
}

static void
s_old_primary_no_reinit(Input *in)
{
	old_primary_back(in);
	in->self.rewind_failed = true;
	in->view.config.remove_data_directory_on_rewind_failure = false;
}

/* the daemon was killed during pg_rewind: the executor reports the marker
 * as rewind_incomplete and rewind_failed; same timeline as the leader's */
static void
s_rewind_interrupted(Input *in)
{
	base(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_timeline = 2;
	in->self.rewind_incomplete = true;
	in->self.rewind_failed = true;
}

static void
s_rewind_interrupted_no_reinit(Input *in)
{
	s_rewind_interrupted(in);
	in->view.config.remove_data_directory_on_rewind_failure = false;
}

/* no leader: a half-rewound data directory must not run for leader */
static void
s_rewind_interrupted_no_leader(Input *in)
{
	s_rewind_interrupted(in);
	in->view.has_leader = false;
	in->view.leader[0] = '\0';
}

static void
s_replica_receiver_diverged(Input *in)
{
	base(in);
	in->self.timeline_diverged = true;
}

/*
 * The bug of the rejoin branch: an old primary restarted in recovery (so
 * standby.signal, pg_was_primary false) runs on timeline 1, behind the
 * leader's 2, at a higher LSN than the leader's fork. Decide alone must not
 * guess from timelines (a replica behind on an older timeline looks the
 * same): it follows until the executor's timeline check says "diverged".
 */
static void
running_old_primary(Input *in)
{
	base(in);
	in->self.pg_timeline = 1;
	in->self.pg_received_lsn = 0x4000000;
	in->self.pg_replayed_lsn = LSN_A + 8192;
}

static void
s_running_replica_unchecked(Input *in)
{
	running_old_primary(in);
}

static void
s_running_replica_diverged(Input *in)
{
	running_old_primary(in);
	in->self.timeline_diverged = true;
}

static void
s_running_replica_diverged_rewind_failed(Input *in)
{
	s_running_replica_diverged(in);
	in->self.rewind_failed = true;
}

static void
s_running_replica_diverged_no_reinit(Input *in)
{
	s_running_replica_diverged_rewind_failed(in);
	in->view.config.remove_data_directory_on_rewind_failure = false;
}

/* the leader is gone before the rewind: never a candidate (the cluster's
 * timeline is newer than ours) and nothing to rewind from */
static void
s_running_replica_diverged_no_leader(Input *in)
{
	s_running_replica_diverged(in);
	in->view.has_leader = false;
	in->view.leader[0] = '\0';
	in->view.leader_lease = 0;
	remove_member(&in->view, "node1");
	in->view.last_history_timeline = 1;
	in->self.leader_absent_since_mono_ms = NOW - 1200;
	in->self.view_is_linearizable = true;
	in->self.peers_probed = true;
	add_peer(in, "node3", true, false, 2, LSN_B);
}

/* seen from a peer: node3 is ahead by LSN but its member key says
 * nofailover (a diverged replica publishes that): we do not wait for it */
static void
s_election_diverged_peer_ahead(Input *in)
{
	election_ready(in);
	in->n_peers = 0;
	add_peer(in, "node3", true, false, 1, LSN_A + 8192);
	member(&in->view, "node3")->nofailover = true;
	member(&in->view, "node3")->timeline = 1;
	member(&in->view, "node3")->xlog_location = LSN_A + 8192;
}

/* a failover request naming us changes nothing: no promotion off the
 * cluster's history */
static void
s_running_replica_diverged_failover_to_us(Input *in)
{
	s_running_replica_diverged_no_leader(in);
	in->view.failover.present = true;
	copy(in->view.failover.member, sizeof(in->view.failover.member), "node2");
}

/* paused: an operator holds every automatic action, a rewind too */
static void
s_running_replica_diverged_paused(Input *in)
{
	s_running_replica_diverged(in);
	in->view.config.pause = true;
}

static void
s_old_replica_lower_timeline(Input *in)
{
	/* a replica (not a former primary) on timeline 1 just follows */
	base(in);
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.pg_timeline = 1;
}

/* ---- the table ----------------------------------------------------------- */

/* ---- switchover / failover requests and pause ------------------------ */

static void
request(Input *in, const char *leader, const char *member_name, int64_t at)
{
	in->view.failover.present = true;
	copy(in->view.failover.leader, sizeof(in->view.failover.leader), leader);
	copy(in->view.failover.member, sizeof(in->view.failover.member),
	     member_name);
	in->view.failover.scheduled_at_wall_ms = at;
	in->view.failover.mod_revision = 77;
	in->self.now_wall_ms = 1700000000000LL;
}

/* we lead; switchover to node3, which is eligible */
static void
s_switchover_to_named(Input *in)
{
	base_leader(in);
	request(in, "node2", "node3", 0);
}

/* we lead; switchover with no named target: the best replica (node1) */
static void
s_switchover_to_any(Input *in)
{
	base_leader(in);
	request(in, "node2", "", 0);
}

/* we lead a switchover to node3 and are stopping: it is carried on */
static void
s_switchover_in_progress(Input *in)
{
	base_leader(in);
	request(in, "node2", "node3", 0);
	in->self.switchover_step = SWO_STOPPING;
	copy(in->self.switchover_target, sizeof(in->self.switchover_target),
	     "node3");
	in->self.pg_reachable = false; /* shutting down: no connections */
}

/* handed over: the key is free and we would win an election, and the
 * loop looks stalled; the switchover still comes first */
static void
s_switchover_handed_over(Input *in)
{
	leader_gone(in);
	request(in, "node1", "node3", 0);
	in->self.switchover_step = SWO_HANDED_OVER;
	copy(in->self.switchover_target, sizeof(in->self.switchover_target),
	     "node3");
	in->self.pg_running = false;
	in->self.pg_reachable = false;
	in->self.last_loop_mono_ms = NOW - 60000;
}

/* stopping for a switchover, and the fencing deadline passed: fencing
 * wins (the executor abandons the switchover) */
static void
s_switchover_in_progress_fenced(Input *in)
{
	s_switchover_in_progress(in);
	in->self.lease_deadline_mono_ms = NOW - 10;
}

/* scheduled in the future: not yet */
static void
s_switchover_scheduled_later(Input *in)
{
	base_leader(in);
	request(in, "node2", "node3", 1700000000000LL + 60000);
}

/* the named target has nofailover: refused, the request is dropped */
static void
s_switchover_target_nofailover(Input *in)
{
	base_leader(in);
	request(in, "node2", "node3", 0);
	member(&in->view, "node3")->nofailover = true;
}

/* the request names another leader than us */
static void
s_switchover_wrong_leader(Input *in)
{
	base_leader(in);
	request(in, "node1", "node3", 0);
}

/* the target names a member that does not exist */
static void
s_switchover_unknown_target(Input *in)
{
	base_leader(in);
	request(in, "node2", "node9", 0);
}

/* the old leader released the key; we are the named target: fresh data first */
static void
s_candidate_refresh(Input *in)
{
	leader_gone(in);
	request(in, "node1", "node2", 0);
}

/* ... and with fresh data and nobody ahead we promote */
static void
s_candidate_promote(Input *in)
{
	election_ready(in);
	request(in, "node1", "node2", 0);
}

/* the old leader handed over at a checkpoint we hold: no peers needed */
static void
s_candidate_handover(Input *in)
{
	leader_gone(in);
	request(in, "node1", "node2", 0);
	in->self.view_is_linearizable = true;
	in->view.failover.handover_lsn = LSN_A - 0x60;
}

/* ... but not on a stale view */
static void
s_candidate_handover_stale(Input *in)
{
	s_candidate_handover(in);
	in->self.view_is_linearizable = false;
}

/* ... and not when the checkpoint is beyond what we received */
static void
s_candidate_handover_ahead(Input *in)
{
	s_candidate_handover(in);
	in->view.failover.handover_lsn = LSN_A;
}

/* a handover recorded for another target does not spare us the peers */
static void
s_handover_to_another(Input *in)
{
	s_candidate_handover(in);
	request(in, "node1", "node3", 0);
	in->view.failover.handover_lsn = LSN_A - 0x60;
}

/* a failover request (no leader named) long after the leader died: served */
static void
s_failover_request_no_leader(Input *in)
{
	election_ready(in);
	request(in, "", "node2", 0);
	in->self.leader_absent_since_mono_ms = NOW - 60000;
}

/* ... even when the cluster is paused: a request is manual */
static void
s_failover_request_paused(Input *in)
{
	s_failover_request_no_leader(in);
	in->view.config.pause = true;
}

/* we are the target but a peer has more WAL: no requested promotion */
static void
s_candidate_peer_ahead(Input *in)
{
	election_ready(in);
	request(in, "node1", "node2", 0);
	in->peers[0].received_location = LSN_A + 100;
	in->peers[0].replayed_location = LSN_A + 100;
}

/* another member is the target: we do not compete */
static void
s_not_the_target(Input *in)
{
	election_ready(in);
	request(in, "node1", "node3", 0);
}

/* the request is older than ttl without a leader: normal election */
static void
s_request_expired(Input *in)
{
	election_ready(in);
	request(in, "node1", "node3", 0);
	in->self.leader_absent_since_mono_ms = NOW - 20000;
}

/* quorum ANY 1 of (node2, node3): node3 silent, so a commit may exist
 * only on node3 and we cannot know; never promote */
static void
s_quorum_unsafe(Input *in)
{
	election_ready(in);
	in->view.config.synchronous_mode = true;
	in->view.config.synchronous_quorum = true;
	in->view.sync.present = true;
	in->view.sync.n_sync = 2;
	in->view.sync.quorum = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node2");
	copy(in->view.sync.sync_standby[1], PGW_NAME_MAX, "node3");
	in->peers[0].reachable = false;
}

/* ... with node3 answering and behind us, we may promote */
static void
s_quorum_safe(Input *in)
{
	s_quorum_unsafe(in);
	in->peers[0].reachable = true;
}

static void
s_paused_leader(Input *in)
{
	base_leader(in);
	in->view.config.pause = true;
}

/* paused: the leader key is gone but nobody is promoted */
static void
s_paused_leader_gone(Input *in)
{
	election_ready(in);
	in->view.config.pause = true;
}

/* paused: a manual switchover still runs */
static void
s_paused_switchover(Input *in)
{
	base_leader(in);
	in->view.config.pause = true;
	request(in, "node2", "node3", 0);
}

/* paused, but past the fencing deadline: fencing still wins */
static void
s_paused_fence(Input *in)
{
	base_leader(in);
	in->view.config.pause = true;
	in->self.lease_deadline_mono_ms = NOW - 10;
}

#define SC(fn, kind, rule, target, has)                                        \
	{                                                                          \
#fn, fn, kind, rule, target, has                                       \
	}

static const Scenario scenarios[] = {
    SC(s_switchover_in_progress, DECIDE_SWITCHOVER, "switchover-in-progress",
       "node3", "in progress (stopping)"),
    SC(s_switchover_handed_over, DECIDE_SWITCHOVER, "switchover-in-progress",
       "node3", "in progress (handed-over)"),
    SC(s_switchover_in_progress_fenced, DECIDE_DEMOTE, "fence-deadline-passed",
       NULL, NULL),
    SC(s_switchover_to_named, DECIDE_SWITCHOVER, "switchover-start", "node3",
       "handing over to node3"),
    SC(s_switchover_to_any, DECIDE_SWITCHOVER, "switchover-start", "node1",
       NULL),
    SC(s_switchover_scheduled_later, DECIDE_RENEW, "leader-running-renew", NULL,
       NULL),
    SC(s_switchover_target_nofailover, DECIDE_CANCEL_SWITCHOVER,
       "switchover-refused", "node3", "nofailover"),
    SC(s_switchover_wrong_leader, DECIDE_CANCEL_SWITCHOVER,
       "switchover-refused", NULL, "another leader"),
    SC(s_switchover_unknown_target, DECIDE_CANCEL_SWITCHOVER,
       "switchover-refused", "node9", "not a valid member"),
    SC(s_candidate_refresh, DECIDE_REFRESH, "switchover-candidate-refresh",
       NULL, NULL),
    SC(s_candidate_promote, DECIDE_PROMOTE, "switchover-candidate-promote",
       NULL, "requested promotion"),
    SC(s_candidate_peer_ahead, DECIDE_WAIT, "someone-ahead", "node3", NULL),
    SC(s_failover_request_no_leader, DECIDE_PROMOTE,
       "switchover-candidate-promote", NULL, "requested promotion"),
    SC(s_failover_request_paused, DECIDE_PROMOTE,
       "switchover-candidate-promote", NULL, "requested promotion"),
    SC(s_candidate_handover, DECIDE_PROMOTE, "switchover-candidate-promote",
       NULL, "requested promotion"),
    SC(s_candidate_handover_stale, DECIDE_REFRESH,
       "switchover-candidate-refresh", NULL, NULL),
    SC(s_candidate_handover_ahead, DECIDE_REFRESH,
       "switchover-candidate-refresh", NULL, NULL),
    SC(s_handover_to_another, DECIDE_WAIT, "switchover-wait-target", "node3",
       NULL),
    SC(s_not_the_target, DECIDE_WAIT, "switchover-wait-target", "node3", NULL),
    SC(s_request_expired, DECIDE_PROMOTE, "leader-key-gone-we-are-best", NULL,
       NULL),
    SC(s_quorum_unsafe, DECIDE_WAIT, "no-leader-quorum-unknown", NULL,
       "only 1 of the 2"),
    SC(s_quorum_safe, DECIDE_PROMOTE, "leader-key-gone-we-are-best", NULL,
       NULL),
    SC(s_paused_leader, DECIDE_RENEW, "paused-leader-renew", NULL, "paused"),
    SC(s_paused_leader_gone, DECIDE_WAIT, "paused", NULL, "paused"),
    SC(s_paused_switchover, DECIDE_SWITCHOVER, "switchover-start", "node3",
       NULL),
    SC(s_paused_fence, DECIDE_DEMOTE, "fence-deadline-passed", NULL, NULL),
    /* replica with a healthy leader */
    SC(s_replica_follows, DECIDE_WAIT, "replica-following-leader", "node1",
       "following leader node1 at 0/3000060"),
    SC(s_replica_wrong_upstream, DECIDE_FOLLOW, "replica-wrong-upstream",
       "node1", "following node3 instead of leader node1"),
    SC(s_replica_no_upstream, DECIDE_FOLLOW, "replica-wrong-upstream", "node1",
       NULL),
    SC(s_replica_pg_stopped, DECIDE_START_REPLICA, "replica-start", "node1",
       NULL),
    SC(s_replica_pg_starting, DECIDE_WAIT, "replica-starting", NULL, NULL),
    SC(s_garbage_member_leader_healthy, DECIDE_WAIT, "replica-following-leader",
       "node1", NULL),
    SC(s_leader_member_garbage, DECIDE_WAIT, "leader-no-member-key", NULL,
       NULL),
    SC(s_leader_member_missing, DECIDE_WAIT, "leader-no-member-key", NULL,
       NULL),
    SC(s_old_replica_lower_timeline, DECIDE_START_REPLICA, "replica-start",
       "node1", NULL),

    /* election */
    SC(s_gone_not_linearizable, DECIDE_REFRESH, "leader-key-gone-refresh", "",
       NULL),
    SC(s_gone_peers_not_probed, DECIDE_REFRESH, "leader-key-gone-refresh", "",
       NULL),
    SC(s_gone_we_are_best, DECIDE_PROMOTE, "leader-key-gone-we-are-best", "",
       "leader key gone 1200 ms; we are best at 0/3000060"),
    SC(s_gone_no_peers_at_all, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       "", NULL),
    SC(s_gone_peer_ahead, DECIDE_WAIT, "someone-ahead", "node3", "0/3001060"),
    SC(s_gone_unreachable_ahead_within_lag, DECIDE_PROMOTE,
       "leader-key-gone-we-are-best", NULL, NULL),
    SC(s_gone_unreachable_key_bounds_lag, DECIDE_WAIT,
       "no-leader-we-lag-too-much", NULL, "we lag 2097152 bytes"),
    SC(s_gone_we_lag, DECIDE_WAIT, "no-leader-we-lag-too-much", NULL,
       "maximum_lag_on_failover 1048576"),
    SC(s_gone_lag_exactly_max, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       NULL, NULL),
    SC(s_gone_nofailover, DECIDE_WAIT, "no-leader-we-nofailover", NULL, NULL),
    SC(s_gone_not_failsafe_member, DECIDE_WAIT, "no-leader-not-failsafe-member",
       NULL, "did not list us"),
    SC(s_gone_failsafe_member, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       NULL, NULL),
    SC(s_gone_failsafe_vouched, DECIDE_WAIT, "no-leader-failsafe-vouched", NULL,
       "vouch for it"),
    SC(s_gone_failsafe_vouch_expired, DECIDE_PROMOTE,
       "leader-key-gone-we-are-best", NULL, NULL),
    SC(s_gone_priority_zero, DECIDE_WAIT, "no-leader-we-priority-zero", NULL,
       NULL),
    SC(s_gone_timeline_behind, DECIDE_WAIT, "no-leader-timeline-behind", NULL,
       "our timeline 2 is behind the cluster's 3"),
    SC(s_gone_timeline_behind_unchecked, DECIDE_PROMOTE,
       "leader-key-gone-we-are-best", NULL, NULL),
    SC(s_gone_tie_priority, DECIDE_WAIT, "someone-ahead", "node3", NULL),
    SC(s_gone_tie_name_we_win, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       NULL, NULL),
    SC(s_gone_tie_name_we_lose, DECIDE_WAIT, "someone-ahead", "node2", NULL),
    SC(s_gone_garbage_peer_ahead, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       NULL, NULL),
    SC(s_gone_nofailover_peer_ahead, DECIDE_PROMOTE,
       "leader-key-gone-we-are-best", NULL, NULL),
    SC(s_gone_peer_still_primary, DECIDE_WAIT, "peer-still-primary", "node1",
       NULL),
    SC(s_gone_peer_says_leader, DECIDE_WAIT, "peer-still-primary", "node3",
       NULL),
    SC(s_sync_non_sync_member, DECIDE_WAIT, "no-leader-not-sync-member", NULL,
       NULL),
    SC(s_sync_member_promotes, DECIDE_PROMOTE, "leader-key-gone-we-are-best",
       NULL, NULL),
    SC(s_sync_key_absent, DECIDE_WAIT, "no-leader-not-sync-member", NULL, NULL),
    SC(s_no_leader_pg_stopped, DECIDE_START_REPLICA, "no-leader-start-replica",
       "", NULL),
    SC(s_no_leader_pg_starting, DECIDE_WAIT, "no-leader-pg-starting", NULL,
       NULL),
    SC(s_peers_null_but_count, DECIDE_REFRESH, "leader-key-gone-refresh", NULL,
       NULL),

    /* a primary without the key */
    SC(s_primary_no_key_refresh, DECIDE_REFRESH, "no-leader-primary-refresh",
       NULL, NULL),
    SC(s_primary_no_key_acquire, DECIDE_ACQUIRE, "no-leader-primary-acquire",
       NULL, NULL),
    SC(s_primary_no_key_peer_primary, DECIDE_DEMOTE,
       "no-leader-primary-peer-primary", "node3", NULL),
    SC(s_primary_no_key_newer_timeline, DECIDE_DEMOTE,
       "no-leader-primary-newer-timeline", NULL, "node3 is on timeline 3"),
    SC(s_primary_no_key_history_moved, DECIDE_DEMOTE,
       "no-leader-primary-newer-timeline", NULL, NULL),
    SC(s_other_holds_key_we_primary, DECIDE_DEMOTE, "fence-other-holds-key",
       "node1", NULL),
    SC(s_own_name_old_lease_primary, DECIDE_DEMOTE, "fence-other-holds-key",
       NULL, NULL),
    SC(s_own_name_old_lease_stopped, DECIDE_ACQUIRE,
       "stale-own-leader-key-takeover", "", "earlier lease 999"),
    SC(s_own_name_old_lease_unproven, DECIDE_WAIT, "stale-own-leader-key", NULL,
       "cannot prove dead"),
    SC(s_own_name_old_lease_other_proven, DECIDE_WAIT, "stale-own-leader-key",
       NULL, NULL),
    SC(s_own_name_old_lease_no_lease_yet, DECIDE_WAIT, "stale-own-leader-key",
       NULL, NULL),
    SC(s_own_name_old_lease_empty_dir, DECIDE_WAIT, "stale-own-leader-key",
       NULL, NULL),

    /* a leader key we gave up ourselves (issue 21) */
    SC(s_released_by_us_restarted, DECIDE_WAIT, "no-leader-released-by-us", "",
       "(lease 150) 800 ms ago and node3 may take it"),
    SC(s_released_by_us_ttl_passed, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_no_candidate, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_candidate_stopped, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_candidate_priority_zero, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_sync_candidate, DECIDE_WAIT, "no-leader-released-by-us",
       NULL, "node3 may take it"),
    SC(s_released_by_us_sync_no_candidate, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_clock_behind, DECIDE_START_REPLICA,
       "no-leader-start-replica", NULL, NULL),
    SC(s_released_by_us_running_replica, DECIDE_REFRESH,
       "leader-key-gone-refresh", NULL, NULL),
    SC(s_released_by_us_other_leads, DECIDE_START_REPLICA, "replica-start",
       "node1", NULL),
    SC(s_released_key_on_our_name_no_takeover, DECIDE_WAIT,
       "stale-own-leader-key", NULL, NULL),
    SC(s_released_other_lease_takeover, DECIDE_ACQUIRE,
       "stale-own-leader-key-takeover", "", NULL),
    SC(s_unreachable_pg_not_in_recovery, DECIDE_DEMOTE, "fence-other-holds-key",
       NULL, NULL),

    /* we lead */
    SC(s_leader_renew, DECIDE_RENEW, "leader-running-renew", "", NULL),
    SC(s_leader_lease_nearly_expired, DECIDE_RENEW, "leader-running-renew",
       NULL, NULL),
    SC(s_leader_deadline_passed, DECIDE_DEMOTE, "fence-deadline-passed", NULL,
       "passed 50 ms ago"),
    SC(s_leader_deadline_exactly_now, DECIDE_DEMOTE, "fence-deadline-passed",
       NULL, NULL),
    SC(s_leader_deadline_passed_in_tilt, DECIDE_DEMOTE, "fence-deadline-passed",
       NULL, NULL),
    SC(s_leader_etcd_down_within_deadline, DECIDE_WAIT,
       "etcd-unreachable-keep-primary", NULL, "3000 ms to fencing deadline"),
    SC(s_leader_etcd_down_deadline_passed, DECIDE_DEMOTE,
       "fence-deadline-passed", NULL, NULL),
    SC(s_writable_no_lease, DECIDE_DEMOTE, "fence-no-lease", NULL, NULL),
    SC(s_leader_pg_crashed, DECIDE_RESTART_PRIMARY, "leader-pg-crashed-restart",
       NULL, "down (2000 ms)"),
    SC(s_leader_pg_down_no_bookkeeping, DECIDE_RESTART_PRIMARY,
       "leader-pg-crashed-restart", NULL, NULL),
    SC(s_leader_pg_down_timeout, DECIDE_RELEASE, "leader-pg-down-release", NULL,
       "down 31000 ms after 5 restart attempts"),
    SC(s_leader_pg_crash_loop_timeout, DECIDE_RELEASE, "leader-pg-down-release",
       NULL, NULL),
    SC(s_leader_start_timeout_zero, DECIDE_RELEASE, "leader-pg-down-release",
       NULL, NULL),
    SC(s_leader_restart_failed, DECIDE_RELEASE, "leader-pg-down-release", NULL,
       "after 1 restart attempts, the last failed"),
    SC(s_leader_restart_failed_but_running, DECIDE_WAIT, "leader-pg-starting",
       NULL, NULL),
    SC(s_leader_pg_starting, DECIDE_WAIT, "leader-pg-starting", NULL, NULL),
    SC(s_leader_key_as_replica, DECIDE_PROMOTE, "leader-replica-promote", NULL,
       NULL),
    SC(s_leader_key_as_replica_nofailover, DECIDE_RELEASE,
       "leader-replica-ineligible-release", NULL, NULL),
    SC(s_leader_key_as_replica_not_sync, DECIDE_RELEASE,
       "leader-replica-ineligible-release", NULL, NULL),
    SC(s_leader_data_dir_empty, DECIDE_RELEASE, "leader-data-dir-empty-release",
       NULL, NULL),
    SC(s_leader_garbage_config, DECIDE_RENEW, "leader-running-renew", NULL,
       NULL),

    /* stalls, etcd, bad input */
    SC(s_tilt, DECIDE_TILT, "tilt-stall-detected", NULL,
       "stalled 5001 ms (limit 5000 ms)"),
    SC(s_no_tilt_at_limit, DECIDE_WAIT, "replica-following-leader", NULL, NULL),
    SC(s_first_loop_no_tilt, DECIDE_WAIT, "replica-following-leader", NULL,
       NULL),
    SC(s_replica_etcd_down, DECIDE_WAIT, "etcd-unreachable", NULL, NULL),
    SC(s_replica_view_invalid, DECIDE_WAIT, "etcd-unreachable", NULL, NULL),
    SC(s_null_view, DECIDE_WAIT, "invalid-input", "", NULL),
    SC(s_null_self, DECIDE_WAIT, "invalid-input", "", NULL),
    SC(s_empty_name, DECIDE_WAIT, "invalid-input", "", NULL),

    /* bootstrap, clone, system identifier */
    SC(s_bootstrap, DECIDE_BOOTSTRAP, "bootstrap-new-cluster", "", NULL),
    SC(s_bootstrap_not_allowed, DECIDE_WAIT, "bootstrap-wait-for-other", NULL,
       NULL),
    SC(s_bootstrap_adopt, DECIDE_BOOTSTRAP, "bootstrap-adopt-existing", NULL,
       SYSID),
    SC(s_bootstrap_in_progress, DECIDE_WAIT, "bootstrap-in-progress", NULL,
       NULL),
    SC(s_clone, DECIDE_CLONE, "clone-from-leader", "node1", NULL),
    SC(s_clone_retry, DECIDE_CLONE, "clone-retry", "node1", NULL),
    SC(s_clone_no_leader, DECIDE_WAIT, "clone-no-leader", NULL, NULL),
    SC(s_clone_leader_no_member, DECIDE_WAIT, "clone-leader-no-member", NULL,
       NULL),
    SC(s_clone_empty_dir_other_sysid, DECIDE_CLONE, "clone-from-leader",
       "node1", NULL),
    SC(s_sysid_mismatch, DECIDE_WAIT, "sysid-mismatch", NULL,
       "123456789 differs from cluster's " SYSID),
    SC(s_sysid_mismatch_stopped, DECIDE_WAIT, "sysid-mismatch", NULL, NULL),
    SC(s_initialize_garbage, DECIDE_WAIT, "replica-following-leader", NULL,
       NULL),
    SC(s_data_dir_unknown, DECIDE_WAIT, "data-dir-unknown", NULL, NULL),

    /* returning old primary */
    SC(s_old_primary_rewind, DECIDE_REWIND, "diverged-rewind", "node1",
       "timeline 1 diverged from leader node1 on timeline 2"),
    SC(s_old_primary_rewind_failed, DECIDE_REINIT, "diverged-reinit", "node1",
       NULL),
    SC(s_old_primary_rewind_off, DECIDE_REINIT, "diverged-reinit", "node1",
       NULL),
    SC(s_old_primary_no_reinit, DECIDE_WAIT, "diverged-no-reinit", NULL, NULL),
    SC(s_rewind_interrupted, DECIDE_REINIT, "diverged-reinit", "node1",
       "rewind failed or is off; re-cloning"),
    SC(s_rewind_interrupted_no_reinit, DECIDE_WAIT, "diverged-no-reinit", NULL,
       NULL),
    SC(s_rewind_interrupted_no_leader, DECIDE_WAIT, "no-leader-data-unusable",
       NULL, "waiting for a leader to re-clone from"),
    SC(s_replica_receiver_diverged, DECIDE_REWIND, "diverged-rewind", "node1",
       NULL),
    SC(s_running_replica_unchecked, DECIDE_WAIT, "replica-following-leader",
       "node1", NULL),
    SC(s_running_replica_diverged, DECIDE_REWIND, "diverged-rewind", "node1",
       "timeline 1 diverged from leader node1 on timeline 2; rewinding"),
    SC(s_running_replica_diverged_rewind_failed, DECIDE_REINIT,
       "diverged-reinit", "node1", NULL),
    SC(s_running_replica_diverged_no_reinit, DECIDE_WAIT, "diverged-no-reinit",
       NULL, "operator must reinitialize"),
    SC(s_running_replica_diverged_no_leader, DECIDE_WAIT,
       "no-leader-we-diverged", NULL, "left the cluster's history"),
    SC(s_running_replica_diverged_failover_to_us, DECIDE_WAIT,
       "no-leader-we-diverged", NULL, NULL),
    SC(s_election_diverged_peer_ahead, DECIDE_PROMOTE,
       "leader-key-gone-we-are-best", NULL, NULL),
    SC(s_running_replica_diverged_paused, DECIDE_WAIT, "paused", NULL, NULL),
};

#undef SC

/* ---- running scenarios --------------------------------------------------- */

static Decision
run(const Input *in)
{
	return failover_decide(
	    in->null_view ? NULL : &in->view, in->null_self ? NULL : &in->self,
	    in->n_peers > 0 && in->peers[0].name[0] ? in->peers : NULL, in->n_peers,
	    in->now);
}

static void
test_scenario(void **state)
{
	const Scenario *sc = *state;
	Input *in = calloc(1, sizeof(Input));
	Decision d;

	assert_non_null(in);
	sc->build(in);
	d = run(in);
	if (d.kind != sc->expect ||
	    (sc->rule && (d.rule == NULL || strcmp(d.rule, sc->rule) != 0)) ||
	    (sc->target && strcmp(d.target, sc->target) != 0) ||
	    (sc->reason_has && strstr(d.reason, sc->reason_has) == NULL))
		print_error("%s: got kind=%s rule=%s target=%s reason=\"%s\"; "
		            "want kind=%s rule=%s target=%s reason~\"%s\"\n",
		            sc->name, failover_decision_kind_name(d.kind),
		            d.rule ? d.rule : "(null)", d.target, d.reason,
		            failover_decision_kind_name(sc->expect),
		            sc->rule ? sc->rule : "*", sc->target ? sc->target : "*",
		            sc->reason_has ? sc->reason_has : "*");
	assert_int_equal(d.kind, sc->expect);
	if (sc->rule)
		assert_string_equal(d.rule, sc->rule);
	if (sc->target)
		assert_string_equal(d.target, sc->target);
	if (sc->reason_has)
		assert_non_null(strstr(d.reason, sc->reason_has));
	/* every reason is rendered: no template field left, never empty */
	assert_true(d.reason[0] != '\0');
	assert_null(strchr(d.reason, '{'));
	free(in);
}

/* every row of the table is hit by at least one scenario */
static void
test_every_rule_hit(void **state)
{
	int n = failover_rule_count();
	int missing = 0;

	(void) state;
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
	{
		const char *name = failover_rule_name(i);
		bool hit = false;

		for (size_t k = 0; k < PGW_LENGTHOF(scenarios) && !hit; k++)
		{
			Input *in = calloc(1, sizeof(Input));
			Decision d;

			scenarios[k].build(in);
			d = run(in);
			hit = d.rule != NULL && strcmp(d.rule, name) == 0;
			if (hit)
				assert_int_equal(d.rule_number, i + 1);
			free(in);
		}
		if (!hit)
		{
			print_error("rule %d \"%s\" is hit by no scenario\n", i + 1, name);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* the table is well formed: unique non-empty names, described, known kinds */
static void
test_rule_table_well_formed(void **state)
{
	int n = failover_rule_count();

	(void) state;
	assert_null(failover_rule_name(-1));
	assert_null(failover_rule_name(n));
	assert_null(failover_rule_describe(n));
	for (int i = 0; i < n; i++)
	{
		const FailoverRuleInfo *r = failover_rule_describe(i);

		assert_non_null(r);
		assert_string_equal(r->name, failover_rule_name(i));
		assert_true(r->name[0] && r->group[0] && r->when[0] && r->reason[0]);
		assert_string_not_equal(failover_decision_kind_name(r->kind), "?");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(r->name, failover_rule_name(j));
	}
	/* fencing rows come before TILT */
	for (int i = 0; i < n; i++)
		if (strcmp(failover_rule_describe(i)->group, "fence") == 0)
			for (int j = 0; j < i; j++)
				assert_string_not_equal(failover_rule_describe(j)->group,
				                        "tilt");
	for (int k = 0; k < DECIDE_KIND_COUNT; k++)
		assert_string_not_equal(failover_decision_kind_name((DecisionKind) k),
		                        "?");
	assert_string_equal(failover_decision_kind_name(DECIDE_KIND_COUNT), "?");
	assert_string_equal(failover_decision_kind_name(DECIDE_PROMOTE), "promote");
}

/* pure: same inputs, same decision, inputs untouched */
static void
test_decide_is_pure(void **state)
{
	(void) state;
	for (size_t k = 0; k < PGW_LENGTHOF(scenarios); k++)
	{
		Input *in = calloc(1, sizeof(Input));
		Input *copy_in = calloc(1, sizeof(Input));
		Decision a;
		Decision b;

		scenarios[k].build(in);
		memcpy(copy_in, in, sizeof(Input));
		a = run(in);
		b = run(in);
		assert_memory_equal(in, copy_in, sizeof(Input));
		assert_int_equal(a.kind, b.kind);
		assert_ptr_equal(a.rule, b.rule);
		assert_string_equal(a.reason, b.reason);
		assert_string_equal(a.target, b.target);
		free(in);
		free(copy_in);
	}
}

/*
 * issue 18: the reason's shape leaves out the numbers that move by
 * themselves (WAL positions, durations), so a member key that publishes
 * the reason is not rewritten for each LSN; anything else in the text
 * (whom we follow, the rule) changes it.
 */
static void
test_reason_shape(void **state)
{
	Input *in = calloc(1, sizeof(Input));
	Decision a;
	Decision b;

	(void) state;
	base(in);
	a = run(in);
	in->self.pg_received_lsn += 4096;
	in->self.pg_replayed_lsn += 4096;
	b = run(in);
	assert_string_equal(a.rule, "replica-following-leader");
	assert_string_not_equal(a.reason, b.reason);
	assert_int_equal(a.reason_shape, b.reason_shape);
	assert_int_not_equal(a.reason_shape, 0);

	/* the leader key expired: its age counts up turn after turn */
	leader_gone(in);
	a = run(in);
	in->now += 700;
	in->self.last_loop_mono_ms += 700;
	b = run(in);
	assert_ptr_equal(a.rule, b.rule);
	assert_string_not_equal(a.reason, b.reason);
	assert_int_equal(a.reason_shape, b.reason_shape);

	/* following another leader is news */
	base(in);
	a = run(in);
	copy(in->view.leader, sizeof(in->view.leader), "node3");
	copy(in->self.upstream, sizeof(in->self.upstream), "node3");
	b = run(in);
	assert_ptr_equal(a.rule, b.rule);
	assert_int_not_equal(a.reason_shape, b.reason_shape);

	/* so is another rule */
	base_leader(in);
	b = run(in);
	assert_int_not_equal(a.reason_shape, b.reason_shape);
	free(in);
}

/* executor-facing flags of some decisions */
static void
test_decision_flags(void **state)
{
	Input *in = calloc(1, sizeof(Input));
	Decision d;

	(void) state;
	s_gone_we_are_best(in);
	d = run(in);
	assert_true(d.checkpoint_after_promote);
	assert_false(d.key_already_held);
	assert_true(d.wal_position == LSN_A);

	s_leader_key_as_replica(in);
	d = run(in);
	assert_int_equal(d.kind, DECIDE_PROMOTE);
	assert_true(d.key_already_held);

	s_bootstrap_adopt(in);
	d = run(in);
	assert_true(d.adopt_existing_data);
	s_bootstrap(in);
	d = run(in);
	assert_false(d.adopt_existing_data);

	s_own_name_old_lease_stopped(in);
	d = run(in);
	assert_int_equal(d.kind, DECIDE_ACQUIRE);
	assert_true(d.takeover_from_lease == 0x999);
	s_primary_no_key_acquire(in);
	d = run(in);
	assert_int_equal(d.kind, DECIDE_ACQUIRE);
	assert_true(d.takeover_from_lease == 0);

	s_leader_deadline_passed(in);
	d = run(in);
	assert_int_equal(d.demote_mode, DEMOTE_IMMEDIATE);
	assert_true(d.deadline_left_ms == -50);
	free(in);
}

static void
test_holds_leader(void **state)
{
	Input *in = calloc(1, sizeof(Input));

	(void) state;
	base_leader(in);
	assert_true(failover_holds_leader(&in->view, &in->self));
	in->view.leader_lease = 0x999;
	assert_false(failover_holds_leader(&in->view, &in->self));
	base_leader(in);
	in->self.lease_id = 0;
	in->view.leader_lease = 0;
	assert_false(failover_holds_leader(&in->view, &in->self));
	base(in);
	assert_false(failover_holds_leader(&in->view, &in->self));
	assert_false(failover_holds_leader(NULL, &in->self));
	assert_false(failover_holds_leader(&in->view, NULL));
	free(in);
}

/* ---- ranking ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t) (rng_state >> 11);
}

static void
random_candidate(FailoverCandidate *c)
{
	memset(c, 0, sizeof(*c));
	/* small ranges so that ties on every key are frequent */
	snprintf(c->name, sizeof(c->name), "n%u", rng() % 6);
	c->why = (rng() % 3 == 0) ? (FailoverIneligible) (1 + rng() % 8)
	                          : FAILOVER_ELIGIBLE;
	c->is_sync = rng() % 2;
	c->wal_position = 0x3000000 + (rng() % 4) * 16;
	c->failover_priority = (int) (rng() % 3);
	c->timeline = 2;
}

static int
sign(int x)
{
	return (x > 0) - (x < 0);
}

static void
test_comparator_total_order(void **state)
{
	enum
	{
		N = 60
	};
	FailoverCandidate c[N];

	(void) state;
	for (int round = 0; round < 20; round++)
	{
		for (int i = 0; i < N; i++)
			random_candidate(&c[i]);
		for (int i = 0; i < N; i++)
		{
			assert_int_equal(failover_candidate_compare(&c[i], &c[i]), 0);
			for (int j = 0; j < N; j++)
			{
				int ij = sign(failover_candidate_compare(&c[i], &c[j]));
				int ji = sign(failover_candidate_compare(&c[j], &c[i]));

				assert_int_equal(ij, -ji); /* antisymmetry */
				/* 0 only for identical ranking keys (a total order on them) */
				if (ij == 0)
				{
					assert_string_equal(c[i].name, c[j].name);
					assert_true(c[i].wal_position == c[j].wal_position);
				}
				for (int k = 0; k < N; k++)
				{
					int jk = sign(failover_candidate_compare(&c[j], &c[k]));
					int ik = sign(failover_candidate_compare(&c[i], &c[k]));

					if (ij <= 0 && jk <= 0)
						assert_true(ik <= 0); /* transitivity */
				}
			}
		}
	}
}

static void
test_comparator_keys(void **state)
{
	FailoverCandidate a = {0};
	FailoverCandidate b = {0};

	(void) state;
	snprintf(a.name, sizeof(a.name), "b");
	snprintf(b.name, sizeof(b.name), "a");
	a.wal_position = b.wal_position = 100;
	a.failover_priority = b.failover_priority = 1;
	assert_true(failover_candidate_compare(&a, &b) > 0); /* name */
	a.failover_priority = 2;
	assert_true(failover_candidate_compare(&a, &b) < 0); /* priority */
	b.wal_position = 101;
	assert_true(failover_candidate_compare(&a, &b) > 0); /* position */
	a.is_sync = true;
	assert_true(failover_candidate_compare(&a, &b) < 0); /* sync first */
	a.why = FAILOVER_INELIGIBLE_LAG;
	assert_true(failover_candidate_compare(&a, &b) > 0); /* eligible first */
	assert_string_equal(failover_ineligible_name(FAILOVER_INELIGIBLE_LAG),
	                    "lag");
	assert_string_equal(failover_ineligible_name((FailoverIneligible) 99), "?");
}

static void
test_best_candidate(void **state)
{
	Input *in = calloc(1, sizeof(Input));
	const char *best;

	(void) state;
	base(in);
	/* node1 is primary (not a candidate); node2 is ahead of node3 */
	best = failover_best_candidate(&in->view, NULL, 0, NULL);
	assert_non_null(best);
	assert_string_equal(best, "node2");
	best = failover_best_candidate(&in->view, NULL, 0, "node2");
	assert_string_equal(best, "node3");
	/* a fresher REST answer from node3 puts it first */
	add_peer(in, "node3", true, false, 2, LSN_A + 16);
	best = failover_best_candidate(&in->view, in->peers, in->n_peers, NULL);
	assert_string_equal(best, "node3");
	/* garbage member values are never candidates */
	member(&in->view, "node3")->is_valid = false;
	best = failover_best_candidate(&in->view, in->peers, in->n_peers, NULL);
	assert_string_equal(best, "node2");
	/* sync mode: only the sync standby */
	base(in);
	in->view.config.synchronous_mode = true;
	in->view.sync.present = true;
	in->view.sync.n_sync = 1;
	copy(in->view.sync.sync_standby[0], PGW_NAME_MAX, "node3");
	best = failover_best_candidate(&in->view, NULL, 0, NULL);
	assert_string_equal(best, "node3");
	best = failover_best_candidate(&in->view, NULL, 0, "node3");
	assert_null(best);
	/* nobody eligible */
	base(in);
	member(&in->view, "node2")->nofailover = true;
	member(&in->view, "node3")->failover_priority = 0;
	assert_null(failover_best_candidate(&in->view, NULL, 0, NULL));
	assert_null(failover_best_candidate(NULL, NULL, 0, NULL));
	free(in);
}

int
main(void)
{
	enum
	{
		N_SC = PGW_LENGTHOF(scenarios)
	};
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_every_rule_hit),
	    cmocka_unit_test(test_rule_table_well_formed),
	    cmocka_unit_test(test_decide_is_pure),
	    cmocka_unit_test(test_reason_shape),
	    cmocka_unit_test(test_decision_flags),
	    cmocka_unit_test(test_holds_leader),
	    cmocka_unit_test(test_comparator_total_order),
	    cmocka_unit_test(test_comparator_keys),
	    cmocka_unit_test(test_best_candidate),
	};
	struct CMUnitTest tests[N_SC + PGW_LENGTHOF(fixed)];

	for (size_t i = 0; i < N_SC; i++)
	{
		tests[i].name = scenarios[i].name;
		tests[i].test_func = test_scenario;
		tests[i].setup_func = NULL;
		tests[i].teardown_func = NULL;
		tests[i].initial_state = (void *) &scenarios[i];
	}
	for (size_t i = 0; i < PGW_LENGTHOF(fixed); i++)
		tests[N_SC + i] = fixed[i];
	return _cmocka_run_group_tests("failover_decide", tests,
	                               PGW_LENGTHOF(tests), NULL, NULL);
}
