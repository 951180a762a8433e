/*
 * test_failover_exec.c: every executor step (failover/exec_steps.c), the
 * switchover's sub-states (exec_switchover.c) and the leader's duties
 * (exec_leader.c), run against fake health and consensus operations
 * (ExecOps): which calls a step makes, in which order, and the outcome it
 * hands back to the loop. No process, no etcd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/xmem.h"
#include "failover/exec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the fakes ----------------------------------------------------------- */

typedef struct Fake
{
	char calls[4096]; /* "name,name,..." in call order */
	/* what the fakes answer (0 / READY / true unless set) */
	int rc_leader_check;
	int rc_acquire;
	bool acquire_won;
	int rc_takeover;
	int rc_release;
	int rc_handover;
	int rc_claim;
	bool claim_won;
	int rc_bootstrap;
	int rc_clone;
	int rc_promote;
	int rc_rewind;
	bool rewind_needed;
	int rc_set_upstream;
	int rc_cas_delete;
	int rc_cas_put;
	int rc_probe;
	HealthWait w_start;
	HealthWait w_demote;
	HealthWait w_stop_checkpointed;
	HealthWait w_wait_received;
	HealthWait w_wait_promoted;
	int pre_promote_status;
	bool pm_running;
	int64_t cas_delete_rev; /* the revision the last delete named */
	char cas_delete_key[32];
	char put_key[32]; /* the last leader-guarded put */
	char put_value[512];
	char *history_value; /* what key_read returns for history */
	int slots_n;
	char sync_value[128];
	uint64_t wal_lsn; /* the probe's WAL position (0: 0x3000060) */
	/* a replica's probe (replica = true) and the timeline check */
	bool replica;
	int timeline; /* the probe's (0: 2) */
	uint32_t received_tli;
	const char *wal_status; /* NULL: no WAL receiver row */
	int pm_pid;             /* the postmaster's pid (0: 4242) */
	int rc_tl_check;
	bool tl_diverged;
	int tl_checks;   /* calls of timeline_check */
	PgLsn tl_replay; /* the replay position it was given */
} Fake;

static Fake fk;

static void
called(const char *name)
{
	size_t used = strlen(fk.calls);

	snprintf(fk.calls + used, sizeof(fk.calls) - used, "%s%s", used ? "," : "",
	         name);
}

static int
f_probe_open(const PgProbeConfig *cfg, PgProbe **out, PgwError *err)
{
	(void) cfg;
	(void) err;
	*out = NULL;
	return 0;
}

static void
f_probe_close(PgProbe *p)
{
	(void) p;
}

static int
f_probe_run(PgProbe *p, PgLsn leader_lsn, HealthReport *r, PgwError *err)
{
	(void) p;
	(void) leader_lsn;
	called("probe");
	if (fk.rc_probe != 0)
		return pgw_error_set(err, fk.rc_probe, "probe failed");
	memset(r, 0, sizeof(*r));
	r->reachable = true;
	r->in_recovery = fk.replica;
	r->system_identifier = 7000000000000000001ULL;
	r->wal_lsn = fk.replica ? 0 : fk.wal_lsn ? fk.wal_lsn : 0x3000060;
	r->timeline = fk.timeline ? (uint32_t) fk.timeline : 2;
	if (fk.replica)
	{
		r->receive_lsn = 0x3000000;
		r->replay_lsn = 0x3000060;
		r->received_tli = fk.received_tli;
		r->has_wal_receiver = fk.wal_status != NULL;
		snprintf(r->wal_receiver_status, sizeof(r->wal_receiver_status), "%s",
		         fk.wal_status ? fk.wal_status : "");
		return 0;
	}
	r->n_standbys = 1;
	snprintf(r->standbys[0].application_name,
	         sizeof(r->standbys[0].application_name), "node3");
	snprintf(r->standbys[0].state, sizeof(r->standbys[0].state), "streaming");
	return 0;
}

static void
f_relag(HealthReport *r, PgLsn leader_lsn)
{
	(void) r;
	(void) leader_lsn;
}

static int
f_control_open(const PgControlConfig *cfg, PgControl **out, PgwError *err)
{
	(void) cfg;
	(void) err;
	*out = NULL;
	return 0;
}

static void
f_control_close(PgControl *c)
{
	(void) c;
}

static void
f_status(PgControl *c, HealthPmStatus *st)
{
	(void) c;
	memset(st, 0, sizeof(*st));
	st->running = fk.pm_running;
	st->pid = fk.pm_running ? (fk.pm_pid ? fk.pm_pid : 4242) : 0;
	st->is_child = fk.pm_running;
}

static HealthWait
f_start(PgControl *c, int timeout_ms, PgwError *err)
{
	(void) c;
	(void) timeout_ms;
	called("start");
	if (fk.w_start == HEALTH_WAIT_FAILED)
		pgw_error_set(err, PGW_EIO, "postgres exited at start");
	else
		fk.pm_running = true;
	return fk.w_start;
}

static HealthWait
f_stop(PgControl *c, HealthStopMode mode, int timeout_ms, PgwError *err)
{
	(void) c;
	(void) timeout_ms;
	(void) err;
	called(mode == HEALTH_STOP_IMMEDIATE ? "stop-immediate" : "stop-fast");
	fk.pm_running = false;
	return HEALTH_WAIT_READY;
}

static HealthWait
f_restart(PgControl *c, int timeout_ms, PgwError *err)
{
	(void) c;
	(void) timeout_ms;
	(void) err;
	called("restart");
	return HEALTH_WAIT_READY;
}

static int
f_reload(PgControl *c, PgwError *err)
{
	(void) c;
	(void) err;
	called("reload");
	return 0;
}

static int
f_bootstrap(PgControl *c, int timeout_ms, PgwError *err)
{
	(void) c;
	(void) timeout_ms;
	called("initdb");
	if (fk.rc_bootstrap != 0)
		return pgw_error_set(err, fk.rc_bootstrap, "initdb failed");
	fk.pm_running = true;
	return 0;
}

static int
f_clone(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	(void) c;
	called("clone");
	assert_string_equal(leader->host, "node1");
	assert_int_equal(leader->port, 5432);
	if (fk.rc_clone != 0)
		return pgw_error_set(err, fk.rc_clone, "pg_basebackup failed");
	return 0;
}

static int
f_promote(PgControl *c, int wait_seconds, uint32_t *tl, PgwError *err)
{
	(void) c;
	(void) wait_seconds;
	called("promote");
	*tl = 3;
	if (fk.rc_promote != 0)
		return pgw_error_set(err, fk.rc_promote, "promote failed");
	return 0;
}

static HealthWait
f_demote(PgControl *c, const HealthUpstream *leader, int timeout_ms,
         PgwError *err)
{
	(void) c;
	(void) leader;
	(void) timeout_ms;
	called("demote");
	if (fk.w_demote == HEALTH_WAIT_FAILED)
		pgw_error_set(err, PGW_EIO, "could not start as a replica");
	else
		fk.pm_running = true;
	return fk.w_demote;
}

static int
f_set_upstream(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	(void) c;
	(void) leader;
	called("set-upstream");
	if (fk.rc_set_upstream != 0)
		return pgw_error_set(err, fk.rc_set_upstream, "reload failed");
	return 0;
}

static int
f_ensure_standby(PgControl *c, PgwError *err)
{
	(void) c;
	(void) err;
	called("ensure-standby");
	return 0;
}

static int
f_rewind_needed(PgControl *c, const HealthUpstream *leader, bool *needed,
                PgwError *err)
{
	(void) c;
	(void) leader;
	(void) err;
	called("rewind-needed");
	*needed = fk.rewind_needed;
	return 0;
}

static int
f_rewind(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	(void) c;
	(void) leader;
	called("rewind");
	if (fk.rc_rewind != 0)
		return pgw_error_set(err, fk.rc_rewind, "pg_rewind failed");
	return 0;
}

static int
f_timeline_check(PgControl *c, const HealthUpstream *leader, PgLsn replay,
                 HealthTimelineCheck *out, PgwError *err)
{
	(void) c;
	called("timeline-check");
	assert_string_equal(leader->host, "node1");
	fk.tl_checks++;
	fk.tl_replay = replay;
	memset(out, 0, sizeof(*out));
	if (fk.rc_tl_check != 0)
		return pgw_error_set(err, fk.rc_tl_check,
		                     "the leader at node1:5432 is in recovery");
	out->local_tli = 1;
	out->leader_tli = 2;
	out->local_lsn = replay;
	out->switchpoint = 0x3000000;
	out->diverged = fk.tl_diverged;
	snprintf(out->why, sizeof(out->why), "a fake");
	return 0;
}

static int
f_slots_sync(PgControl *c, const char *const *members, int n, int *changed,
             PgwError *err)
{
	(void) c;
	(void) members;
	(void) err;
	called("slots");
	fk.slots_n = n;
	*changed = n;
	return 0;
}

static int
f_set_sync(PgControl *c, const char *value, int timeout_ms, PgwError *err)
{
	(void) c;
	(void) timeout_ms;
	(void) err;
	called("set-sync");
	snprintf(fk.sync_value, sizeof(fk.sync_value), "%s", value);
	return 0;
}

static int
f_fence(pid_t pid)
{
	(void) pid;
	called("fence");
	return 0;
}

static int
f_checkpoint(PgControl *c, PgwError *err)
{
	(void) c;
	(void) err;
	called("checkpoint");
	return 0;
}

static int
f_checkpoint_lsn(PgControl *c, PgLsn *lsn, char *state, size_t len,
                 PgwError *err)
{
	(void) c;
	(void) err;
	called("checkpoint-lsn");
	*lsn = 0x5000028;
	snprintf(state, len, "shut down");
	return 0;
}

static HealthWait
f_stop_checkpointed(PgControl *c, int timeout_ms, PgLsn *lsn, PgwError *err)
{
	(void) c;
	called("stop-checkpointed");
	assert_true(timeout_ms <= SWO_SLICE_MS);
	if (fk.w_stop_checkpointed == HEALTH_WAIT_READY)
		*lsn = 0x5000028;
	else if (fk.w_stop_checkpointed == HEALTH_WAIT_FAILED)
		pgw_error_set(err, PGW_ESTATE,
		              "server exited without a shutdown checkpoint");
	return fk.w_stop_checkpointed;
}

static int
f_standby_prepare(PgControl *c, const HealthUpstream *standby, PgwError *err)
{
	(void) c;
	(void) err;
	called("standby-prepare");
	assert_string_equal(standby->host, "node3");
	return 0;
}

static void
f_standby_forget(PgControl *c)
{
	(void) c;
	called("standby-forget");
}

static HealthWait
f_wait_received(PgControl *c, const HealthUpstream *standby, PgLsn lsn,
                int timeout_ms, PgLsn *seen, PgwError *err)
{
	(void) c;
	(void) standby;
	(void) err;
	called("wait-received");
	assert_true(timeout_ms <= SWO_SLICE_MS);
	assert_int_equal(lsn, 0x5000029);
	*seen = fk.w_wait_received == HEALTH_WAIT_READY ? lsn : 0x5000000;
	return fk.w_wait_received;
}

static HealthWait
f_wait_promoted(PgControl *c, const HealthUpstream *standby, int timeout_ms)
{
	(void) c;
	(void) standby;
	called("wait-promoted");
	assert_true(timeout_ms <= SWO_SLICE_MS);
	return fk.w_wait_promoted;
}

static HealthIncomplete
f_incomplete(const char *dir)
{
	(void) dir;
	return HEALTH_INCOMPLETE_NONE;
}

static HealthDataDir
f_data_dir_state(const char *dir, HealthIncomplete inc)
{
	(void) dir;
	(void) inc;
	return HEALTH_DATA_DIR_INITIALIZED;
}

static bool
f_data_dir_has(const char *dir, const char *name)
{
	(void) dir;
	(void) name;
	return false;
}

static int
f_wipe(const char *dir, PgwError *err)
{
	(void) dir;
	(void) err;
	called("wipe");
	return 0;
}

static int
f_acquire(EtcdClient *c, const char *prefix, const char *name, int64_t lease,
          bool *won, char *holder, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) lease;
	called("acquire");
	*won = fk.acquire_won;
	snprintf(holder, PGW_NAME_MAX, "%s", fk.acquire_won ? name : "node1");
	if (fk.rc_acquire != 0)
		return pgw_error_set(err, fk.rc_acquire, "could not txn leader");
	return 0;
}

static int
f_leader_check(EtcdClient *c, const char *prefix, const char *name,
               int64_t lease, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) name;
	(void) lease;
	called("leader-check");
	if (fk.rc_leader_check != 0)
		return pgw_error_set(err, fk.rc_leader_check,
		                     "leader key held by node1");
	return 0;
}

static int
f_takeover(EtcdClient *c, const char *prefix, const char *name, int64_t old,
           int64_t new_lease, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) name;
	(void) old;
	(void) new_lease;
	called("takeover");
	if (fk.rc_takeover != 0)
		return pgw_error_set(err, fk.rc_takeover, "key moved");
	return 0;
}

static int
f_release(EtcdClient *c, const char *prefix, const char *name, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) name;
	called("release");
	if (fk.rc_release != 0)
		return pgw_error_set(err, fk.rc_release, "release failed");
	return 0;
}

static int
f_handover(EtcdClient *c, const char *prefix, const char *name,
           const FailoverRequest *f, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) name;
	called("handover");
	assert_string_equal(f->member, "node3");
	assert_int_equal(f->handover_lsn, 0x5000028);
	if (fk.rc_handover != 0)
		return pgw_error_set(err, fk.rc_handover, "handover txn failed");
	return 0;
}

static int
f_claim(EtcdClient *c, const char *prefix, bool *won, PgwError *err)
{
	(void) c;
	(void) prefix;
	called("claim-initialize");
	*won = fk.claim_won;
	if (fk.rc_claim != 0)
		return pgw_error_set(err, fk.rc_claim, "claim failed");
	return 0;
}

static int
f_initialize_set(EtcdClient *c, const char *prefix, const char *sysid,
                 PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) err;
	called("initialize-set");
	assert_string_equal(sysid, "7000000000000000001");
	return 0;
}

static int
f_guarded_put(EtcdClient *c, const char *prefix, const char *name,
              int64_t lease, const char *key, const char *value, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) name;
	(void) lease;
	(void) err;
	called("put-");
	strncat(fk.calls, key, sizeof(fk.calls) - strlen(fk.calls) - 1);
	snprintf(fk.put_key, sizeof(fk.put_key), "%s", key);
	snprintf(fk.put_value, sizeof(fk.put_value), "%s", value);
	return 0;
}

static int
f_cas_put_rev(EtcdClient *c, const char *prefix, const char *key,
              const char *value, int64_t rev, int64_t *new_rev, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) value;
	(void) rev;
	called("cas-put-");
	strncat(fk.calls, key, sizeof(fk.calls) - strlen(fk.calls) - 1);
	if (fk.rc_cas_put != 0)
		return pgw_error_set(err, fk.rc_cas_put, "changed by someone else");
	if (new_rev)
		*new_rev = 99;
	return 0;
}

static int
f_cas_delete(EtcdClient *c, const char *prefix, const char *key, int64_t rev,
             PgwError *err)
{
	(void) c;
	(void) prefix;
	called("cas-delete-");
	strncat(fk.calls, key, sizeof(fk.calls) - strlen(fk.calls) - 1);
	fk.cas_delete_rev = rev;
	snprintf(fk.cas_delete_key, sizeof(fk.cas_delete_key), "%s", key);
	if (fk.rc_cas_delete != 0)
		return pgw_error_set(err, fk.rc_cas_delete, "changed by someone else");
	return 0;
}

static int
f_key_read(EtcdClient *c, const char *prefix, const char *key, char **value,
           size_t *len, int64_t *rev, PgwError *err)
{
	(void) c;
	(void) prefix;
	(void) err;
	called("read-");
	strncat(fk.calls, key, sizeof(fk.calls) - strlen(fk.calls) - 1);
	*value = fk.history_value ? pgw_xstrdup(fk.history_value) : NULL;
	if (len)
		*len = fk.history_value ? strlen(fk.history_value) : 0;
	if (rev)
		*rev = 0;
	return 0;
}

static int
f_run_command(const char *cmd, const char *const *args, int timeout_ms,
              int *status, PgwError *err)
{
	(void) cmd;
	(void) args;
	(void) timeout_ms;
	(void) err;
	called("pre-promote");
	*status = fk.pre_promote_status;
	return 0;
}

static const ExecOps fake_ops = {
    .probe_open = f_probe_open,
    .probe_close = f_probe_close,
    .probe_run = f_probe_run,
    .report_relag = f_relag,
    .control_open = f_control_open,
    .control_close = f_control_close,
    .status = f_status,
    .start = f_start,
    .stop = f_stop,
    .restart = f_restart,
    .reload = f_reload,
    .bootstrap = f_bootstrap,
    .clone = f_clone,
    .promote = f_promote,
    .demote = f_demote,
    .set_upstream = f_set_upstream,
    .ensure_standby = f_ensure_standby,
    .rewind_needed = f_rewind_needed,
    .rewind = f_rewind,
    .timeline_check = f_timeline_check,
    .slots_sync = f_slots_sync,
    .set_sync = f_set_sync,
    .fence_postmaster = f_fence,
    .checkpoint = f_checkpoint,
    .checkpoint_lsn = f_checkpoint_lsn,
    .stop_checkpointed = f_stop_checkpointed,
    .standby_prepare = f_standby_prepare,
    .standby_forget = f_standby_forget,
    .wait_received = f_wait_received,
    .wait_promoted = f_wait_promoted,
    .data_dir_incomplete = f_incomplete,
    .data_dir_state = f_data_dir_state,
    .data_dir_has = f_data_dir_has,
    .wipe_data_dir = f_wipe,
    .leader_acquire = f_acquire,
    .leader_check = f_leader_check,
    .leader_takeover = f_takeover,
    .leader_release = f_release,
    .leader_handover = f_handover,
    .initialize_claim = f_claim,
    .initialize_set = f_initialize_set,
    .leader_guarded_put = f_guarded_put,
    .cas_put_rev = f_cas_put_rev,
    .cas_delete = f_cas_delete,
    .key_read = f_key_read,
    .run_command = f_run_command,
};

/* ---- fixtures ------------------------------------------------------------ */

typedef struct Fixture
{
	NodeConfig cfg;
	FailoverExec *e;
	ClusterView view;
	ExecContext ctx;
	LocalHealth self;
	Decision dec;
} Fixture;

static void
add_member(ClusterView *v, const char *name)
{
	MemberInfo *m = &v->members[v->n_members++];

	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->conn_url, sizeof(m->conn_url), "postgres://%s:5432/postgres",
	         name);
	m->is_valid = true;
}

static int
setup(void **state)
{
	Fixture *f = calloc(1, sizeof(Fixture));
	PgwError err = {0};

	memset(&fk, 0, sizeof(fk));
	fk.acquire_won = true;
	fk.claim_won = true;
	fk.pm_running = true;
	f->cfg.name = "node2";
	f->cfg.pg_listen = "127.0.0.1:5432";
	f->cfg.pg_port = 5432;
	f->cfg.pg_data_dir = "/nonexistent/pgwarden-test";
	f->cfg.restapi_listen = "127.0.0.1:8008";
	f->cfg.tag_failover_priority = 1;
	dcs_config_defaults(&f->cfg.bootstrap_dcs);
	assert_int_equal(failover_exec_open_ops(&f->cfg, &fake_ops, &f->e, &err),
	                 0);
	f->view.is_valid = true;
	dcs_config_defaults(&f->view.config);
	f->view.has_config = true;
	f->view.has_initialize = true;
	snprintf(f->view.initialize, sizeof(f->view.initialize),
	         "7000000000000000001");
	f->view.has_leader = true;
	snprintf(f->view.leader, sizeof(f->view.leader), "node1");
	f->view.leader_lease = 0x11;
	add_member(&f->view, "node1");
	add_member(&f->view, "node2");
	add_member(&f->view, "node3");
	f->ctx.etcd = NULL;
	f->ctx.prefix = "/service/demo/";
	f->ctx.name = "node2";
	f->ctx.lease_id = 0x22;
	f->ctx.view = &f->view;
	f->self.data_dir = DATA_DIR_INITIALIZED;
	f->self.pg_running = true;
	f->dec.rule = "test";
	snprintf(f->dec.reason, sizeof(f->dec.reason), "a test");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	Fixture *f = *state;

	failover_exec_close(f->e);
	free(fk.history_value);
	free(f);
	return 0;
}

static ExecOutcome
run(Fixture *f, DecisionKind kind, const char *target)
{
	fk.calls[0] = '\0';
	f->dec.kind = kind;
	snprintf(f->dec.target, sizeof(f->dec.target), "%s", target ? target : "");
	return failover_execute(f->e, &f->ctx, &f->dec, &f->self);
}

/* ---- the table ----------------------------------------------------------- */

static void
test_table_has_every_kind(void **state)
{
	int n;
	const ExecStep *t = exec_steps_table(&n);
	ExecStep broken[DECIDE_KIND_COUNT];

	(void) state;
	assert_int_equal(n, DECIDE_KIND_COUNT);
	assert_int_equal(exec_steps_check(t, n), DECIDE_KIND_COUNT);
	/* the check must be able to fail: a row missing, a name that drifted,
	 * a table too short */
	memcpy(broken, t, sizeof(broken));
	broken[DECIDE_REWIND].fn = NULL;
	assert_int_equal(exec_steps_check(broken, n), DECIDE_REWIND);
	memcpy(broken, t, sizeof(broken));
	broken[DECIDE_FOLLOW].name = "re-point";
	assert_int_equal(exec_steps_check(broken, n), DECIDE_FOLLOW);
	assert_int_equal(exec_steps_check(t, n - 1), DECIDE_KIND_COUNT - 1);
}

static void
test_nothing_steps(void **state)
{
	Fixture *f = *state;
	DecisionKind kinds[] = {DECIDE_WAIT, DECIDE_TILT, DECIDE_REFRESH};

	for (size_t i = 0; i < PGW_LENGTHOF(kinds); i++)
	{
		ExecOutcome out = run(f, kinds[i], NULL);

		assert_int_equal(out.rc, 0);
		assert_false(out.leads || out.role_changed || out.key_acquired ||
		             out.key_released || out.run_again);
		assert_string_equal(fk.calls, "");
	}
}

static void
test_renew(void **state)
{
	Fixture *f = *state;
	ExecOutcome out = run(f, DECIDE_RENEW, NULL);

	assert_int_equal(out.rc, 0);
	assert_true(out.leads);
	assert_string_equal(fk.calls, "leader-check");
	fk.rc_leader_check = PGW_ECONFLICT;
	out = run(f, DECIDE_RENEW, NULL);
	assert_int_equal(out.rc, PGW_ECONFLICT);
	assert_false(out.leads);
	assert_non_null(strstr(out.err.msg, "held by node1"));

	/* issue 18: a live watch vouches for the key: no read at all */
	fk.rc_leader_check = 0;
	fk.calls[0] = '\0';
	f->ctx.key_proven_by_watch = true;
	out = run(f, DECIDE_RENEW, NULL);
	assert_int_equal(out.rc, 0);
	assert_true(out.leads);
	assert_string_equal(fk.calls, "");
	f->ctx.key_proven_by_watch = false;
}

static void
test_bootstrap(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	f->view.has_initialize = false;
	f->view.has_leader = false;
	fk.pm_running = false;
	out = run(f, DECIDE_BOOTSTRAP, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls,
	                    "claim-initialize,initdb,acquire,probe,initialize-set");
	assert_true(out.key_acquired && out.leads && out.became_writable &&
	            out.role_changed);

	/* lost the race for initialize: nothing else */
	fk.claim_won = false;
	out = run(f, DECIDE_BOOTSTRAP, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "claim-initialize");
	assert_false(out.key_acquired);

	/* initdb fails: initialize is given back for another attempt */
	fk.claim_won = true;
	fk.rc_bootstrap = PGW_EIO;
	out = run(f, DECIDE_BOOTSTRAP, NULL);
	assert_int_equal(out.rc, PGW_EIO);
	assert_string_equal(fk.calls,
	                    "claim-initialize,initdb,cas-delete-initialize");
	assert_string_equal(out.err.msg, "initdb failed");
}

static void
test_clone_and_reinit(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	f->self.data_dir = DATA_DIR_EMPTY;
	fk.pm_running = false;
	out = run(f, DECIDE_CLONE, "node1");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "wipe,clone,start");
	assert_true(out.role_changed);
	assert_string_equal(f->e->upstream, "node1");

	/* reinit: stop at once, wipe, clone, start */
	out = run(f, DECIDE_REINIT, "node1");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "stop-immediate,wipe,clone,start");

	/* the clone fails: flagged for the engine, the error goes back */
	fk.rc_clone = PGW_EIO;
	out = run(f, DECIDE_CLONE, "node1");
	assert_int_equal(out.rc, PGW_EIO);
	assert_true(f->e->clone_failed);
	assert_string_equal(out.err.msg, "pg_basebackup failed");

	/* no address: the error names the member (it used to be dropped) */
	out = run(f, DECIDE_CLONE, "node9");
	assert_int_equal(out.rc, PGW_ESTATE);
	assert_non_null(strstr(out.err.msg, "clone source node9"));
	assert_string_equal(fk.calls, "");
}

static void
test_start_replica(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	/* a former primary, stopped: rewind first when pg_control says so */
	f->self.pg_was_primary = true;
	f->self.pg_running = false;
	f->view.config.use_pg_rewind = true;
	fk.rewind_needed = true;
	out = run(f, DECIDE_START_REPLICA, "node1");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "rewind-needed,rewind,demote");
	assert_string_equal(f->e->upstream, "node1");
	assert_true(out.role_changed);

	/* the rewind fails for good: re-clone next (rewind_failed) */
	fk.rc_rewind = PGW_ESTATE;
	out = run(f, DECIDE_START_REPLICA, "node1");
	assert_int_equal(out.rc, PGW_ESTATE);
	assert_true(f->e->rewind_failed);

	/* no upstream yet: in recovery, never read-write */
	out = run(f, DECIDE_START_REPLICA, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "ensure-standby,start");
}

static void
test_follow(void **state)
{
	Fixture *f = *state;
	ExecOutcome out = run(f, DECIDE_FOLLOW, "node3");

	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "set-upstream");
	assert_string_equal(f->e->upstream, "node3");
	out = run(f, DECIDE_FOLLOW, "nobody");
	assert_int_equal(out.rc, PGW_ESTATE);
	assert_non_null(strstr(out.err.msg, "new upstream nobody"));
}

static void
test_acquire(void **state)
{
	Fixture *f = *state;
	ExecOutcome out = run(f, DECIDE_ACQUIRE, NULL);

	assert_int_equal(out.rc, 0);
	assert_true(out.key_acquired && out.leads);
	assert_true(f->e->expect_primary);

	fk.acquire_won = false;
	out = run(f, DECIDE_ACQUIRE, NULL);
	assert_int_equal(out.rc, 0);
	assert_false(out.key_acquired || out.leads);

	/* our key from an earlier lease moved: someone else's now, no error */
	f->dec.takeover_from_lease = 0x11;
	fk.rc_takeover = PGW_ECONFLICT;
	out = run(f, DECIDE_ACQUIRE, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "takeover");
	assert_false(out.key_acquired);
	fk.rc_takeover = 0;
	out = run(f, DECIDE_ACQUIRE, NULL);
	assert_true(out.key_acquired);
}

static void
test_promote(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	f->view.has_leader = false;
	f->view.failover.present = true;
	f->view.failover.mod_revision = 77;
	f->self.pg_received_lsn = 0x5000000;
	f->self.pg_replayed_lsn = 0x4000000;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_int_equal(out.rc, 0);
	/* the step promotes and returns: routing, then the duties, follow in
	 * the loop's publish phase (no probe, no key writes here) */
	assert_string_equal(fk.calls, "acquire,promote");
	assert_true(out.key_acquired && out.leads && out.became_writable &&
	            out.role_changed);
	assert_true(f->e->pending.history);
	assert_int_equal(f->e->pending.new_timeline, 3);
	assert_int_equal(f->e->pending.lsn, 0x5000000);
	assert_int_equal(f->e->pending.clear_failover_rev, 77);

	/* lost the race for the key: nothing else */
	fk.acquire_won = false;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_string_equal(fk.calls, "acquire");
	assert_false(out.leads || out.key_acquired);

	/* pre_promote says no: the key goes back at once */
	fk.acquire_won = true;
	f->cfg.pg_pre_promote = "/bin/false";
	fk.pre_promote_status = 1;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "acquire,pre-promote,release");
	assert_false(out.key_acquired || out.leads);
	assert_true(out.key_released);
	f->cfg.pg_pre_promote = NULL;

	/* the promotion fails: the key stays ours, the error goes back */
	fk.rc_promote = PGW_EIO;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_int_equal(out.rc, PGW_EIO);
	assert_true(out.key_acquired);
	assert_false(out.leads);
	assert_string_equal(out.err.msg, "promote failed");
}

static void
test_demote_and_release(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	f->e->expect_primary = true;
	out = run(f, DECIDE_DEMOTE, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "stop-immediate");
	assert_true(out.role_changed);
	assert_false(f->e->expect_primary);

	/* a crashed primary still in recovery is killed, then released */
	fk.pm_running = true;
	f->e->pm.running = true;
	f->self.pg_crashed_since_mono_ms = 1;
	out = run(f, DECIDE_RELEASE, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "fence,stop-immediate,release");
	assert_true(out.key_released && out.role_changed);

	/* not ours any more: released as far as we are concerned */
	fk.rc_release = PGW_ECONFLICT;
	out = run(f, DECIDE_RELEASE, NULL);
	assert_int_equal(out.rc, 0);
	assert_true(out.key_released);
	/* etcd failed: the key may still be ours; the view must not say free */
	fk.rc_release = PGW_ETIMEDOUT;
	out = run(f, DECIDE_RELEASE, NULL);
	assert_int_equal(out.rc, PGW_ETIMEDOUT);
	assert_false(out.key_released);
}

static void
test_restart_primary(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	fk.pm_running = false;
	f->view.config.primary_start_timeout_ms = 300000;
	out = run(f, DECIDE_RESTART_PRIMARY, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "start");
	assert_false(out.run_again);
	assert_int_equal(f->e->restart_attempts, 1);

	/* postgres exits before serving: the release must not wait the tick */
	fk.w_start = HEALTH_WAIT_FAILED;
	out = run(f, DECIDE_RESTART_PRIMARY, NULL);
	assert_int_equal(out.rc, PGW_EIO);
	assert_true(out.run_again);
	assert_true(f->e->restart_failed);
	assert_string_equal(out.err.msg, "postgres exited at start");
}

static void
test_rewind(void **state)
{
	Fixture *f = *state;
	ExecOutcome out = run(f, DECIDE_REWIND, "node1");

	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "stop-fast,rewind,start");
	fk.rc_rewind = PGW_EIO;
	out = run(f, DECIDE_REWIND, "node1");
	assert_int_equal(out.rc, PGW_EIO);
	assert_true(f->e->rewind_failed);
	out = run(f, DECIDE_REWIND, "ghost");
	assert_int_equal(out.rc, PGW_ESTATE);
	assert_non_null(strstr(out.err.msg, "rewind source ghost"));
}

/* ---- the timeline check (exec_diverge.c) ------------------------------- */

/* look: one turn's observation, as the loop takes it */
static void
look(Fixture *f)
{
	fk.calls[0] = '\0';
	failover_exec_observe(f->e, &f->view, &f->self);
}

static MemberInfo *
view_member(ClusterView *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, name) == 0)
			return &v->members[i];
	return NULL;
}

/* as_replica: we run in recovery; the leader node1 is on leader_tl, we on
 * tl, our WAL receiver in state status (NULL: none) on received_tli */
static void
as_replica(Fixture *f, int leader_tl, int tl, const char *status,
           uint32_t received_tli)
{
	fk.replica = true;
	fk.timeline = tl;
	fk.wal_status = status;
	fk.received_tli = received_tli;
	view_member(&f->view, "node1")->timeline = leader_tl;
}

/* age: the last attempt lies DIVERGE_CHECK_MS in the past */
static void
age(Fixture *f)
{
	f->e->tl_attempt_mono_ms -= DIVERGE_CHECK_MS;
}

static void
test_timeline_check_once_per_postmaster(void **state)
{
	Fixture *f = *state;

	/* a replica that follows: checked once, for the postmaster we see */
	as_replica(f, 2, 2, "streaming", 2);
	look(f);
	assert_string_equal(fk.calls, "probe,timeline-check");
	assert_int_equal(fk.tl_replay, 0x3000060); /* replayed, not received */
	assert_false(f->self.timeline_diverged);
	look(f);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 1);
	/* a new postmaster (any start as a replica, whatever the path) */
	fk.pm_pid = 5151;
	look(f);
	assert_int_equal(fk.tl_checks, 2);
	/* a reused probe never checks (its replay position is not this turn's) */
	fk.pm_pid = 6161;
	failover_exec_reobserve(f->e, &f->view, &f->self, 60000);
	assert_int_equal(fk.tl_checks, 2);
}

static void
test_timeline_check_while_it_cannot_follow(void **state)
{
	Fixture *f = *state;

	/* the leader is on timeline 2; we are on 1 and do not stream it:
	 * checked at once, then at most every DIVERGE_CHECK_MS */
	as_replica(f, 2, 1, "waiting", 1);
	look(f);
	assert_int_equal(fk.tl_checks, 1);
	look(f);
	assert_int_equal(fk.tl_checks, 1);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 2);
	/* streaming, but timeline 1 (catching up to the fork): still checked */
	as_replica(f, 2, 1, "streaming", 1);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 3);
	/* no WAL receiver at all (restoring from an archive): checked */
	as_replica(f, 2, 1, NULL, 0);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 4);
	/* it streams the leader's timeline: no more checks */
	as_replica(f, 2, 2, "streaming", 2);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 4);
	/* the leader's member key names no timeline: nothing to compare */
	as_replica(f, 0, 1, NULL, 0);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 4);
	assert_false(f->self.timeline_diverged);
}

static void
test_timeline_check_diverged_is_sticky(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	as_replica(f, 2, 1, "waiting", 1);
	fk.tl_diverged = true;
	look(f);
	assert_true(f->self.timeline_diverged);
	assert_true(f->e->diverged);
	/* sticky: no check, whatever a new postmaster or a reused probe */
	fk.tl_diverged = false;
	fk.pm_pid = 7171;
	age(f);
	look(f);
	assert_true(f->self.timeline_diverged);
	failover_exec_reobserve(f->e, &f->view, &f->self, 60000);
	assert_true(f->self.timeline_diverged);
	assert_int_equal(fk.tl_checks, 1);
	{
		MemberInfo m;

		/* published as nofailover: no peer ranks our LSN first */
		failover_exec_member_info(f->e, &f->view, NULL, &m);
		assert_true(m.nofailover);
	}
	/* a rewind that fails keeps it; one that succeeds clears it, and the
	 * postmaster it starts is checked again */
	fk.rc_rewind = PGW_EUNAVAILABLE;
	out = run(f, DECIDE_REWIND, "node1");
	assert_int_equal(out.rc, PGW_EUNAVAILABLE);
	assert_true(f->e->diverged);
	fk.rc_rewind = 0;
	out = run(f, DECIDE_REWIND, "node1");
	assert_int_equal(out.rc, 0);
	assert_false(f->e->diverged);
	{
		MemberInfo m;

		failover_exec_member_info(f->e, &f->view, NULL, &m);
		assert_false(m.nofailover);
	}
	look(f);
	assert_int_equal(fk.tl_checks, 2);
	assert_false(f->self.timeline_diverged);
	/* a re-clone clears it */
	fk.tl_diverged = true;
	fk.pm_pid = 8181;
	look(f);
	assert_true(f->self.timeline_diverged);
	out = run(f, DECIDE_REINIT, "node1");
	assert_int_equal(out.rc, 0);
	assert_false(f->e->diverged);
	/* and so does a promotion */
	fk.pm_pid = 9191;
	look(f);
	assert_true(f->e->diverged);
	f->view.has_leader = false;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_int_equal(out.rc, 0);
	assert_false(f->e->diverged);
}

static void
test_rewind_then_unstartable(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	as_replica(f, 2, 1, "waiting", 1);
	fk.tl_diverged = true;
	look(f);
	/* rewound, but PostgreSQL does not start: once may pass */
	fk.w_start = HEALTH_WAIT_FAILED;
	out = run(f, DECIDE_REWIND, "node1");
	assert_int_equal(out.rc, PGW_EIO);
	assert_false(f->e->rewind_failed);
	assert_false(f->e->diverged);
	/* the replica-start rule tries again, and it fails again: the rewound
	 * data directory is the cause; the engine must re-clone (or wait for
	 * an operator), not start it in a loop */
	fk.w_demote = HEALTH_WAIT_FAILED;
	out = run(f, DECIDE_START_REPLICA, "node1");
	assert_int_equal(out.rc, PGW_EIO);
	assert_true(f->e->rewind_failed);
	assert_true(f->e->diverged);
	look(f);
	assert_true(f->self.timeline_diverged);
	assert_true(f->self.rewind_failed);
	/* a re-clone clears both */
	fk.w_start = HEALTH_WAIT_READY;
	fk.w_demote = HEALTH_WAIT_READY;
	out = run(f, DECIDE_REINIT, "node1");
	assert_int_equal(out.rc, 0);
	assert_false(f->e->rewind_failed);
	assert_false(f->e->diverged);
	/* a failed start with no rewind behind it is only a failed start */
	fk.w_demote = HEALTH_WAIT_FAILED;
	(void) run(f, DECIDE_START_REPLICA, "node1");
	(void) run(f, DECIDE_START_REPLICA, "node1");
	assert_false(f->e->rewind_failed);
	assert_false(f->e->diverged);
}

static void
test_timeline_check_rewind_did_not_help(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	as_replica(f, 2, 1, "waiting", 1);
	fk.tl_diverged = true;
	look(f);
	out = run(f, DECIDE_REWIND, "node1");
	assert_int_equal(out.rc, 0);
	assert_false(f->e->rewind_failed);
	/* the rewound postmaster is found diverged from the same leader: the
	 * rewind did not help; the engine must re-clone, not rewind again */
	look(f);
	assert_true(f->self.timeline_diverged);
	assert_true(f->self.rewind_failed);
	out = run(f, DECIDE_REINIT, "node1");
	assert_int_equal(out.rc, 0);
	assert_false(f->e->rewind_failed);
	assert_false(f->e->diverged);
	/* a rewind that helped: the next check clears it, and a divergence
	 * found later (another failover) is rewound again */
	look(f);
	fk.tl_diverged = false;
	fk.pm_pid = 4343;
	f->e->diverged = false;
	f->e->tl_rewound_from[0] = '\0';
	look(f);
	fk.tl_diverged = true;
	out = run(f, DECIDE_REWIND, "node1");
	fk.tl_diverged = false;
	fk.pm_pid = 4444;
	look(f);
	assert_false(f->self.timeline_diverged);
	fk.tl_diverged = true;
	age(f);
	as_replica(f, 3, 1, "waiting", 1);
	look(f);
	assert_true(f->self.timeline_diverged);
	assert_false(f->self.rewind_failed);
}

static void
test_timeline_check_failure_retried(void **state)
{
	Fixture *f = *state;

	/* no answer (the leader is still promoting): not a verdict, retried */
	as_replica(f, 2, 2, "streaming", 2);
	fk.rc_tl_check = PGW_ESTATE;
	look(f);
	look(f);
	assert_int_equal(fk.tl_checks, 1);
	assert_false(f->self.timeline_diverged);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 2);
	fk.rc_tl_check = 0;
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 3);
	age(f);
	look(f);
	assert_int_equal(fk.tl_checks, 3);
}

static void
test_timeline_check_not_run(void **state)
{
	Fixture *f = *state;

	as_replica(f, 2, 1, "waiting", 1);
	/* we lead */
	snprintf(f->view.leader, sizeof(f->view.leader), "node2");
	look(f);
	/* no leader */
	f->view.has_leader = false;
	look(f);
	/* a leader without a usable address */
	f->view.has_leader = true;
	snprintf(f->view.leader, sizeof(f->view.leader), "node1");
	view_member(&f->view, "node1")->conn_url[0] = '\0';
	look(f);
	snprintf(view_member(&f->view, "node1")->conn_url,
	         sizeof(f->view.members[0].conn_url),
	         "postgres://node1:5432/postgres");
	/* a switchover of ours is between its sub-states */
	f->e->swo.step = SWO_FOLLOW;
	look(f);
	f->e->swo.step = SWO_NONE;
	/* we run read-write, or not at all */
	fk.replica = false;
	look(f);
	fk.replica = true;
	fk.pm_running = false;
	look(f);
	assert_int_equal(fk.tl_checks, 0);
	/* the same node, a leader again: checked */
	fk.pm_running = true;
	look(f);
	assert_int_equal(fk.tl_checks, 1);
}

static void
test_cancel_switchover(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	f->view.failover.present = true;
	f->view.failover.mod_revision = 55;
	out = run(f, DECIDE_CANCEL_SWITCHOVER, "node3");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "cas-delete-failover");
	assert_int_equal(fk.cas_delete_rev, 55);
	/* changed meanwhile: decide again, no error */
	fk.rc_cas_delete = PGW_ECONFLICT;
	out = run(f, DECIDE_CANCEL_SWITCHOVER, "node3");
	assert_int_equal(out.rc, 0);
}

/* the leader of a switchover request without a named target */
static void
switchover_setup(Fixture *f)
{
	snprintf(f->view.leader, sizeof(f->view.leader), "node2");
	f->view.leader_lease = 0x22;
	f->view.failover.present = true;
	snprintf(f->view.failover.leader, sizeof(f->view.failover.leader), "node2");
	f->view.failover.mod_revision = 50;
	f->e->expect_primary = true;
	f->e->should_run = true;
}

static void
test_switchover_sub_states(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	switchover_setup(f);
	fk.w_stop_checkpointed = HEALTH_WAIT_PENDING;
	fk.w_wait_received = HEALTH_WAIT_READY;
	fk.w_wait_promoted = HEALTH_WAIT_PENDING;

	/* turn 1: name the target, connect to it, checkpoint while serving */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls,
	                    "cas-put-failover,standby-prepare,checkpoint");
	assert_int_equal(f->e->swo.step, SWO_STOPPING);
	assert_int_equal(f->e->swo.request_rev, 99);
	assert_true(out.run_again);
	assert_false(out.key_released);

	/* the next turn's look: no probe of a stopping server, the REST API
	 * stops calling it reachable, fencing still sees a writer */
	{
		LocalHealth self;

		fk.calls[0] = '\0';
		f->e->rep->reachable = true; /* the last probe, before the stop */
		failover_exec_observe(f->e, &f->view, &self);
		assert_string_equal(fk.calls, "");
		assert_int_equal(self.switchover_step, SWO_STOPPING);
		assert_string_equal(self.switchover_target, "node3");
		assert_true(self.pg_running);
		assert_false(self.pg_in_recovery);
		assert_false(f->e->rep->reachable);
	}

	/* turn 2: a slow stop returns after one slice; the loop goes on */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_string_equal(fk.calls, "stop-checkpointed");
	assert_int_equal(f->e->swo.step, SWO_STOPPING);
	assert_true(out.run_again);
	assert_false(f->e->should_run);

	/* turn 3: shut down */
	fk.w_stop_checkpointed = HEALTH_WAIT_READY;
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_WAIT_RECEIVED);
	assert_int_equal(f->e->swo.checkpoint, 0x5000028);

	/* turn 4: the target has it: the handover frees the key */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "wait-received,handover");
	assert_int_equal(f->e->swo.step, SWO_HANDED_OVER);
	assert_true(out.key_released && out.role_changed && out.run_again);

	/* turn 5: not promoted yet within a slice; past the deadline we follow */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_HANDED_OVER);
	f->e->swo.step_deadline_mono_ms = pgw_now_mono_ms() - 1;
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_FOLLOW);

	/* turn 7: follow the target */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_string_equal(fk.calls, "demote");
	assert_int_equal(f->e->swo.step, SWO_NONE);
	assert_false(f->e->expect_primary);
	assert_string_equal(f->e->upstream, "node3");
	assert_false(out.run_again);
}

static void
test_switchover_aborts_before_handover(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	switchover_setup(f);
	fk.w_stop_checkpointed = HEALTH_WAIT_READY;
	fk.w_wait_received = HEALTH_WAIT_PENDING;
	(void) run(f, DECIDE_SWITCHOVER, "node3"); /* checkpoint */
	(void) run(f, DECIDE_SWITCHOVER, "node3"); /* stopped */
	assert_int_equal(f->e->swo.step, SWO_WAIT_RECEIVED);
	out = run(f, DECIDE_SWITCHOVER, "node3"); /* pending, deadline ahead */
	assert_int_equal(out.rc, 0);
	assert_int_equal(f->e->swo.step, SWO_WAIT_RECEIVED);

	/* the target never gets our checkpoint: abort by the deadline, serve
	 * again as primary and drop the request we named the target in */
	f->e->swo.step_deadline_mono_ms = pgw_now_mono_ms() - 1;
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(out.rc, PGW_ETIMEDOUT);
	assert_string_equal(out.action, "restart-as-primary");
	assert_non_null(strstr(out.err.msg, "aborted in sub-state wait-received"));
	assert_non_null(strstr(out.err.msg, "target node3 received 0/5000000"));
	assert_string_equal(
	    fk.calls,
	    "wait-received,standby-forget,stop-fast,start,cas-delete-failover");
	assert_int_equal(fk.cas_delete_rev, 99);
	assert_int_equal(f->e->swo.step, SWO_NONE);
	assert_true(f->e->expect_primary);
	assert_false(out.key_released);
}

/* stderr_of_demote: what a DECIDE_DEMOTE step logs (the log's sink is
 * stderr here), caught in a temporary file */
static char *
stderr_of_demote(Fixture *f)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	char *buf = pgw_xcalloc(1, 8192);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	(void) run(f, DECIDE_DEMOTE, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, 8191, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static void
test_switchover_no_abort_after_handover(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;
	PgwError err = {0};

	switchover_setup(f);
	fk.w_stop_checkpointed = HEALTH_WAIT_READY;
	fk.w_wait_received = HEALTH_WAIT_READY;
	fk.w_wait_promoted = HEALTH_WAIT_READY;
	(void) run(f, DECIDE_SWITCHOVER, "node3");
	(void) run(f, DECIDE_SWITCHOVER, "node3");
	(void) run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_HANDED_OVER);
	/* the point of no return is checked: no abandon, no restart */
	assert_int_equal(exec_switchover_abandon(f->e, &err), PGW_EINTERNAL);
	assert_int_equal(f->e->swo.step, SWO_HANDED_OVER);
	/* a demote decided between the sub-states (the target holds the key
	 * while our postmaster is still exiting) stops PostgreSQL and is no
	 * error: it logged switchover.abandon-failed at level error */
	{
		char *log = stderr_of_demote(f);

		/* the test logs errors only: a clean demote logs nothing */
		assert_string_equal(log, "");
		assert_non_null(strstr(fk.calls, "stop-"));
		free(log);
	}
	assert_int_equal(f->e->swo.step, SWO_HANDED_OVER);
	/* the target runs read-write: follow it */
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_FOLLOW);
	assert_int_equal(out.rc, 0);
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_NONE);
	/* REST restart and reinit were refused in between; allowed again now */
	failover_exec_refresh(f->e, &f->view);
	assert_int_equal(failover_exec_restart(f->e, &f->ctx, 1000, &err), 0);
}

static void
test_switchover_refuses_rest_and_fencing_abandons(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;
	PgwError err = {0};

	switchover_setup(f);
	fk.w_stop_checkpointed = HEALTH_WAIT_PENDING;
	(void) run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(f->e->swo.step, SWO_STOPPING);
	assert_int_equal(failover_exec_restart(f->e, &f->ctx, 1000, &err),
	                 PGW_ESTATE);
	assert_non_null(strstr(err.msg, "switchover to node3 is in progress"));
	assert_int_equal(failover_exec_reinit(f->e, &f->ctx, &err), PGW_ESTATE);
	/* fencing ends it before the handover: stop, no restart as primary */
	out = run(f, DECIDE_DEMOTE, NULL);
	assert_int_equal(out.rc, 0);
	assert_string_equal(fk.calls, "standby-forget,stop-immediate");
	assert_int_equal(f->e->swo.step, SWO_NONE);
}

static void
test_switchover_begin_refused(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	switchover_setup(f);
	/* the request changed before we could name the target */
	fk.rc_cas_put = PGW_ECONFLICT;
	out = run(f, DECIDE_SWITCHOVER, "node3");
	assert_int_equal(out.rc, PGW_ECONFLICT);
	assert_int_equal(f->e->swo.step, SWO_NONE);
	assert_string_equal(fk.calls, "cas-put-failover");
	/* a target without an address */
	out = run(f, DECIDE_SWITCHOVER, "nowhere");
	assert_int_equal(out.rc, PGW_ESTATE);
	assert_int_equal(f->e->swo.step, SWO_NONE);
}

static void
test_leader_duties(void **state)
{
	Fixture *f = *state;
	ExecOutcome out;

	/* a promotion leaves the history entry and the served request */
	f->view.has_leader = false;
	f->view.has_config = false;
	f->view.failover.present = true;
	f->view.failover.mod_revision = 77;
	f->self.pg_received_lsn = 0x5000000;
	out = run(f, DECIDE_PROMOTE, NULL);
	assert_true(out.leads);
	/* the loop's publish phase: a fresh probe, then the duties */
	f->view.config.synchronous_mode = true;
	failover_exec_refresh(f->e, &f->view);
	fk.calls[0] = '\0';
	fk.history_value = pgw_xstrdup(
	    "[[1,100,\"no recovery target specified\",\"2026-01-01T00:00:00+00:00\",\"node1\"]]");
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(
	    fk.calls,
	    "put-status,cas-put-config,set-sync,put-sync,slots,read-history,put-history,cas-delete-failover");
	assert_int_equal(fk.cas_delete_rev, 77);
	assert_non_null(strstr(fk.put_value, "\"node2\""));
	assert_non_null(strstr(fk.put_value, "[2,"));
	assert_int_equal(fk.slots_n, 2);
	assert_false(f->e->pending.history);

	/* the next turn (the watch brought what we wrote): nothing to do */
	fk.calls[0] = '\0';
	f->view.has_config = true;
	f->view.sync.present = true;
	snprintf(f->view.sync.leader, sizeof(f->view.sync.leader), "node2");
	f->view.sync.n_sync = 1;
	snprintf(f->view.sync.sync_standby[0], PGW_NAME_MAX, "node3");
	f->view.leader_optime = 0x3000060;
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(fk.calls, "");

	/* issue 18: an idle leader a loop and more later: `status` holds our
	 * optime, so it is not written again */
	f->e->status_published_mono_ms -= 60000;
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(fk.calls, "");

	/* the optime moved: written in that same turn, with the new value */
	fk.wal_lsn = 0x3000100;
	failover_exec_refresh(f->e, &f->view);
	fk.calls[0] = '\0';
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(fk.calls, "put-status");
	assert_string_equal(fk.put_key, "status");
	assert_non_null(strstr(fk.put_value, "50331904"));

	/* moved again within the same loop: at most one write a loop */
	fk.wal_lsn = 0x3000200;
	failover_exec_refresh(f->e, &f->view);
	fk.calls[0] = '\0';
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(fk.calls, "");
	/* a loop later it goes out */
	f->e->status_published_mono_ms -= f->view.config.loop_wait_ms;
	failover_leader_duties(f->e, &f->ctx);
	assert_string_equal(fk.calls, "put-status");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_has_every_kind),
	    cmocka_unit_test_setup_teardown(test_nothing_steps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renew, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clone_and_reinit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_replica, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_promote, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_demote_and_release, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restart_primary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeline_check_once_per_postmaster,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_timeline_check_while_it_cannot_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeline_check_diverged_is_sticky,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeline_check_rewind_did_not_help,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rewind_then_unstartable, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_timeline_check_failure_retried,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeline_check_not_run, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_switchover, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_switchover_sub_states, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_switchover_aborts_before_handover,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_switchover_no_abort_after_handover,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_switchover_refuses_rest_and_fencing_abandons, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_switchover_begin_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_leader_duties, setup, teardown),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
