/*
 * bk_leader.c: the leader's backup duties (DESIGN.md "publish phase"):
 * the stanza, created once under the backup lock after checking that the
 * repository does not belong to another cluster; requests (an operator's
 * demand, a backup after a failover, a retry, the schedule) naming a
 * source; a stale attempt whose runner vanished marked aborted; the
 * catalog mirrored from `pgbackrest info`; the canary row. Every write is
 * a txn that compares the leader key with ours, so a deposed leader writes
 * nothing; only one request exists at a time, and only the lock holder
 * runs pgbackrest: two nodes that both think it is time start one backup.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STANZA_RETRY_MS 60000

static void stanza_lock_release(Backup *b, const BackupTurn *t);

void
bk_leader_stop(Backup *b, const BackupTurn *t)
{
	/* a leader's chores end with its leadership: pgbackrest info, repo-ls
	 * or a push stops at once (SIGTERM, then SIGKILL after 200 ms) */
	if (bk_job_running(&b->aux))
		bk_job_stop(&b->aux, 200);
	bk_job_clear(&b->aux);
	b->aux_phase = AUX_IDLE;
	b->was_leader = false;
	/* a stanza-create we stopped: its lock must not wait for our lease */
	if (t != NULL && t->etcd != NULL && t->view_valid)
		stanza_lock_release(b, t);
	b->stanza_lock_rev = 0;
}

/* ---- the stanza --------------------------------------------------------- */

static void
stanza_record(Backup *b, const BackupTurn *t, const char *sysid)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "created_by", t->name, "name",
	                      b->ex.stanza, "system_id", sysid);
	char *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	bool ok = false;
	PgwError err = {0};

	json_decref(o);
	if (json == NULL)
		abort();
	if (bk_leader_txn_put(t, "stanza", json, NULL, 0, NULL, 0, &ok, &err) !=
	        0 ||
	    !ok)
		log_warn("backup.stanza-record-failed", "detail=\"%s\"",
		         err.msg[0] ? err.msg : "not leader");
	else
	{
		log_info("backup.stanza-ready", "stanza=%s system_id=%s", b->ex.stanza,
		         sysid);
		b->cat->error[0] = '\0';
		bk_note_clear(b);
	}
	free(json);
	b->st_read_mono_ms = 0;
}

static void
stanza_lock_release(Backup *b, const BackupTurn *t)
{
	char k[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp = {0};
	EtcdOp op = {0};
	EtcdTxnResult r = {0};
	PgwError err = {0};

	if (b->stanza_lock_rev == 0)
		return;
	cmp.key = bk_key(k, sizeof(k), t->prefix, "lock");
	cmp.target = ETCD_TARGET_CREATE;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.number = b->stanza_lock_rev;
	op.kind = ETCD_OP_DELETE;
	op.key = k;
	if (etcd_txn(t->etcd, &cmp, 1, &op, 1, NULL, 0, &r, &err) != 0)
		log_warn("backup.unlock-failed", "detail=\"%s\"", err.msg);
	etcd_txn_result_free(&r);
	b->stanza_lock_rev = 0;
}

/* take the lock for stanza-create on our lease, leader-guarded */
static bool
stanza_lock(Backup *b, const BackupTurn *t)
{
	char k[PGW_PREFIX_MAX + 32];
	char leader_key[PGW_PREFIX_MAX + 16];
	EtcdCompare cmp[3] = {{0}};
	EtcdOp op = {0};
	EtcdTxnResult r = {0};
	BackupLock l = {0};
	char *json;
	PgwError err = {0};
	bool won = false;

	bk_id_new("stanza", l.id, sizeof(l.id));
	pgw_strlcpy(l.node, t->name, sizeof(l.node));
	pgw_strlcpy(l.type, "stanza-create", sizeof(l.type));
	l.started_wall_ms = pgw_now_wall_ms();
	json = bk_lock_encode(&l);
	snprintf(leader_key, sizeof(leader_key), "%sleader", t->prefix);
	dcs_leader_compares(cmp, leader_key, t->name, t->lease_id);
	cmp[2].key = bk_key(k, sizeof(k), t->prefix, "lock");
	cmp[2].target = ETCD_TARGET_CREATE;
	cmp[2].result = ETCD_CMP_EQUAL;
	cmp[2].number = 0;
	op.kind = ETCD_OP_PUT;
	op.key = k;
	op.value = json;
	op.value_len = strlen(json);
	op.lease = t->lease_id;
	if (etcd_txn(t->etcd, cmp, 3, &op, 1, NULL, 0, &r, &err) == 0 &&
	    r.succeeded)
	{
		b->stanza_lock_rev = r.revision;
		won = true;
	}
	etcd_txn_result_free(&r);
	free(json);
	return won;
}

static void
stanza_turn(Backup *b, const BackupTurn *t, int64_t now)
{
	char sysid[24];
	BkArgv a;
	PgwError err = {0};

	snprintf(sysid, sizeof(sysid), "%llu",
	         (unsigned long long) t->system_identifier);
	if (b->aux_phase == AUX_STANZA_INFO || b->aux_phase == AUX_STANZA_CREATE)
	{
		if (!bk_job_poll(&b->aux))
			return;
		if (b->aux_phase == AUX_STANZA_INFO)
		{
			BackupCatalog *c = pgw_xcalloc(1, sizeof(BackupCatalog));
			int rc = b->aux.exit_code == 0
			             ? backup_info_parse(b->aux.out ? b->aux.out : "",
			                                 b->aux.len, b->ex.stanza, c, &err)
			             : PGW_EIO;

			if (rc != 0 && b->aux.exit_code != 0)
			{
				char tail[200];

				bk_job_reason(&b->aux, tail, sizeof(tail));
				snprintf(
				    b->cat->error, sizeof(b->cat->error),
				    "repository %s unreadable: pgbackrest info exit code %d: %s",
				    b->cfg->backup.repository, b->aux.exit_code, tail);
				bk_note(b, "backup.repository-unreachable", "%s",
				        b->cat->error);
			}
			else if (rc == 0 && c->system_id[0] &&
			         strcmp(c->system_id, sysid) != 0)
			{
				/* never push into, nor back up over, another cluster's history */
				snprintf(
				    b->cat->error, sizeof(b->cat->error),
				    "repository %s stanza \"%s\" belongs to another cluster (system identifier %s, ours %s): archiving and backups refused",
				    b->cfg->backup.repository, b->ex.stanza, c->system_id,
				    sysid);
				bk_note(b, "backup.foreign-repository", "%s", b->cat->error);
			}
			else if (rc == 0 && c->system_id[0])
				stanza_record(b, t, sysid);
			else if (stanza_lock(b, t))
			{
				bk_job_clear(&b->aux);
				bk_argv_pgbackrest(&a, &b->ex, NULL, "stanza-create");
				bk_argv_add(&a, "--log-level-console=info");
				if (bk_job_start(&b->aux, &b->ex, a.v, 300000, "stanza-create",
				                 &err) == 0)
				{
					b->aux_phase = AUX_STANZA_CREATE;
					free(c);
					return;
				}
				bk_note(b, "backup.stanza-create-failed", "%s", err.msg);
				stanza_lock_release(b, t);
			}
			free(c);
		}
		else
		{
			if (b->aux.exit_code == 0)
				stanza_record(b, t, sysid);
			else
			{
				char tail[200];

				bk_job_reason(&b->aux, tail, sizeof(tail));
				snprintf(b->cat->error, sizeof(b->cat->error),
				         "pgbackrest stanza-create failed (exit code %d): %s",
				         b->aux.exit_code, tail);
				bk_note(b, "backup.stanza-create-failed", "%s", b->cat->error);
			}
			stanza_lock_release(b, t);
		}
		bk_job_clear(&b->aux);
		b->aux_phase = AUX_IDLE;
		b->stanza_next_mono_ms = now + STANZA_RETRY_MS;
		return;
	}
	if (b->aux_phase != AUX_IDLE || now < b->stanza_next_mono_ms ||
	    t->system_identifier == 0 || b->st->lock.present)
		return;
	bk_argv_pgbackrest(&a, &b->ex, NULL, "info");
	bk_argv_add(&a, "--output=json");
	if (bk_job_start(&b->aux, &b->ex, a.v, 120000, "info", &err) != 0)
	{
		bk_note(b, "backup.stanza-check-failed", "%s", err.msg);
		b->stanza_next_mono_ms = now + STANZA_RETRY_MS;
		return;
	}
	b->aux_phase = AUX_STANZA_INFO;
}

/* ---- requests ----------------------------------------------------------- */

/*
 * pick_source: a running replica that is valid, streams within max_lag of
 * the leader's position and whose data directory we know (backup/nodes);
 * the sync standby first, then the smallest lag, then the name. The
 * primary (ourselves) only when allowed. NULL with why filled otherwise.
 */
static const char *
pick_source(Backup *b, const BackupTurn *t, char *why, size_t why_len)
{
	const ClusterView *v = t->view;
	uint64_t top = v->leader_optime;
	const MemberInfo *best = NULL;
	uint64_t best_lag = 0;
	bool best_sync = false;

	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, t->name) == 0 &&
		    v->members[i].xlog_location > top)
			top = v->members[i].xlog_location;
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = &v->members[i];
		uint64_t lag;
		bool known = false;
		bool is_sync = false;

		if (!m->is_valid || strcmp(m->name, t->name) == 0 ||
		    m->role != MEMBER_ROLE_REPLICA || m->state != MEMBER_STATE_RUNNING)
			continue;
		for (int k = 0; k < b->st->n_nodes; k++)
			if (strcmp(b->st->nodes[k].name, m->name) == 0)
				known = true;
		if (!known)
			continue;
		lag = top > m->xlog_location ? top - m->xlog_location : 0;
		if (lag > b->cfg->backup.max_lag_bytes)
			continue;
		for (int k = 0; k < v->sync.n_sync; k++)
			if (strcmp(v->sync.sync_standby[k], m->name) == 0)
				is_sync = true;
		if (best == NULL || (is_sync && !best_sync) ||
		    (is_sync == best_sync &&
		     (lag < best_lag ||
		      (lag == best_lag && strcmp(m->name, best->name) < 0))))
		{
			best = m;
			best_lag = lag;
			best_sync = is_sync;
		}
	}
	if (best != NULL)
		return best->name;
	if (b->cfg->backup.allow_primary)
		return t->name;
	snprintf(
	    why, why_len,
	    "no running replica within backup.max_lag (%llu bytes) to back up from, and backup.allow_primary is off",
	    (unsigned long long) b->cfg->backup.max_lag_bytes);
	return NULL;
}

/*
 * make_request: create backup/request (absent, no lock, leader-guarded),
 * with more ops in the same txn (deleting the demand it answers, the
 * schedule bookkeeping). True when written.
 */
static bool
make_request(Backup *b, const BackupTurn *t, const char *id, const char *type,
             int attempt, const char *reason, bool for_demand,
             const EtcdCompare *extra, size_t n_extra, const EtcdOp *more,
             size_t n_more)
{
	BackupRequest rq = {0};
	char why[BACKUP_REASON_MAX];
	const char *src = pick_source(b, t, why, sizeof(why));
	char k_req[PGW_PREFIX_MAX + 32], k_lock[PGW_PREFIX_MAX + 32],
	    k_demand[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp[7];
	size_t nc = 0;
	char *json;
	bool ok = false;
	PgwError err = {0};

	if (src == NULL)
	{
		bk_note(b, "backup.no-source", "%s (wanted: %s backup, %s)", why, type,
		        reason);
		return false;
	}
	memset(cmp, 0, sizeof(cmp));
	cmp[nc].key = bk_key(k_req, sizeof(k_req), t->prefix, "request");
	cmp[nc].target = ETCD_TARGET_CREATE;
	cmp[nc].result = ETCD_CMP_EQUAL;
	nc++;
	cmp[nc].key = bk_key(k_lock, sizeof(k_lock), t->prefix, "lock");
	cmp[nc].target = ETCD_TARGET_CREATE;
	cmp[nc].result = ETCD_CMP_EQUAL;
	nc++;
	if (!for_demand)
	{
		/* a demand that arrived since our last read is served first, and
		 * takes this minute of the schedule with it */
		cmp[nc].key = bk_key(k_demand, sizeof(k_demand), t->prefix, "demand");
		cmp[nc].target = ETCD_TARGET_CREATE;
		cmp[nc].result = ETCD_CMP_EQUAL;
		nc++;
	}
	for (size_t i = 0; i < n_extra && nc < PGW_LENGTHOF(cmp); i++)
		cmp[nc++] = extra[i];
	pgw_strlcpy(rq.id, id, sizeof(rq.id));
	pgw_strlcpy(rq.type, type, sizeof(rq.type));
	pgw_strlcpy(rq.source, src, sizeof(rq.source));
	pgw_strlcpy(rq.reason, reason, sizeof(rq.reason));
	rq.attempt = attempt;
	rq.at_wall_ms = pgw_now_wall_ms();
	json = bk_request_encode(&rq);
	if (bk_leader_txn_put(t, "request", json, cmp, nc, more, n_more, &ok,
	                      &err) != 0)
		log_warn("backup.request-failed", "detail=\"%s\"", err.msg);
	else if (ok)
		log_info("backup.requested",
		         "id=%s type=%s source=%s attempt=%d reason=\"%s\"", rq.id,
		         type, src, attempt, reason);
	else
		log_info(
		    "backup.request-refused",
		    "id=%s reason=\"a request or the lock exists, the bookkeeping moved, or we no longer lead\"",
		    rq.id);
	free(json);
	b->st_read_mono_ms = 0;
	return ok;
}

static int
type_rank(const char *t)
{
	return strcmp(t, "full") == 0 ? 3 : strcmp(t, "diff") == 0 ? 2 : 1;
}

static int64_t
fired_at(const BackupState *st, const char *entry)
{
	for (int i = 0; i < st->n_fired; i++)
		if (strcmp(st->fired_entry[i], entry) == 0)
			return st->fired_wall_ms[i];
	return 0;
}

/*
 * sched_due: the schedule's bookkeeping after now (next, every entry at
 * its latest due minute) and the biggest type due (type "" when none);
 * a demand served in the same turn takes the schedule's slot too, so the
 * schedule and an operator asking in the same minute start one backup.
 */
static void
sched_due(Backup *b, BackupState *next, char *type, size_t type_len,
          char *reason, size_t reason_len)
{
	int64_t now = pgw_now_wall_ms();
	int64_t since_default =
	    b->st->sched_checked_wall_ms > 0 ? b->st->sched_checked_wall_ms : now;

	type[0] = '\0';
	bk_schedule_from_config(b->config_json, &b->cfg->backup, &b->sched);
	if (b->sched.error[0])
		bk_note(b, "backup.schedule-invalid",
		        "%s (the node file's schedule stays in force)", b->sched.error);
	next->sched_checked_wall_ms = now;
	next->n_fired = 0;
	for (int i = 0; i < b->sched.n; i++)
	{
		int64_t last = fired_at(b->st, b->sched.entry[i]);
		int64_t due = pgw_cron_last_due(&b->sched.cron[i],
		                                last > 0 ? last : since_default, now);

		pgw_strlcpy(next->fired_entry[next->n_fired], b->sched.entry[i],
		            CONFIG_BACKUP_ENTRY_MAX);
		next->fired_wall_ms[next->n_fired++] =
		    due > 0 ? due : (last > 0 ? last : since_default);
		if (due <= 0 || strcmp(b->sched.type[i], "verify") == 0)
			continue;
		if (type[0] == '\0' || type_rank(b->sched.type[i]) > type_rank(type))
		{
			pgw_strlcpy(type, b->sched.type[i], type_len);
			snprintf(reason, reason_len, "schedule \"%s\"", b->sched.entry[i]);
		}
	}
}

/* sched_ops: the compare and put of backup/state for next */
static char *
sched_ops(Backup *b, const BackupTurn *t, const BackupState *next, char *key,
          size_t key_len, EtcdCompare *cmp, EtcdOp *op)
{
	char *json = bk_sched_encode(next);

	memset(cmp, 0, sizeof(*cmp));
	memset(op, 0, sizeof(*op));
	cmp->key = bk_key(key, key_len, t->prefix, "state");
	cmp->target = ETCD_TARGET_MOD;
	cmp->result = ETCD_CMP_EQUAL;
	cmp->number = b->st->state_mod_revision;
	op->kind = ETCD_OP_PUT;
	op->key = key;
	op->value = json;
	op->value_len = strlen(json);
	return json;
}

/* schedule_turn: fire the schedule's due entries as one request */
static void
schedule_turn(Backup *b, const BackupTurn *t)
{
	BackupState *next = pgw_xcalloc(1, sizeof(BackupState));
	int64_t now = pgw_now_wall_ms();
	char type[8];
	char reason[128] = "";
	char k_state[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp;
	EtcdOp op;
	char *json;
	char id[BACKUP_ID_MAX];

	sched_due(b, next, type, sizeof(type), reason, sizeof(reason));
	/* the bookkeeping moves only with a request, or every minute */
	if (type[0] == '\0' && now - b->st->sched_checked_wall_ms < 60000 &&
	    b->st->sched_checked_wall_ms > 0)
	{
		free(next);
		return;
	}
	json = sched_ops(b, t, next, k_state, sizeof(k_state), &cmp, &op);
	if (type[0] != '\0')
	{
		bk_id_new("sched", id, sizeof(id));
		(void) make_request(b, t, id, type, 1, reason, false, &cmp, 1, &op, 1);
	}
	else
	{
		bool ok = false;
		PgwError err = {0};

		(void) bk_leader_txn_put(t, "state", json, &cmp, 1, NULL, 0, &ok, &err);
		b->st_read_mono_ms = 0;
	}
	free(json);
	free(next);
}

static void
requests_turn(Backup *b, const BackupTurn *t)
{
	const BackupState *st = b->st;
	char k[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp = {0};
	EtcdOp op = {0};

	if (st->request.present || st->lock.present || b->run_phase != RUN_IDLE ||
	    (st->attempt.present && st->attempt.status == BACKUP_STATUS_RUNNING))
		return;
	if (st->demand.present)
	{
		char reason[128];
		const char *type = st->demand.type[0] ? st->demand.type : "incr";

		cmp.key = bk_key(k, sizeof(k), t->prefix, "demand");
		cmp.target = ETCD_TARGET_MOD;
		cmp.result = ETCD_CMP_EQUAL;
		cmp.number = st->demand.mod_revision;
		op.kind = ETCD_OP_DELETE;
		op.key = k;
		if (st->demand.id[0] == '\0')
		{
			bool ok = false;
			PgwError err = {0};

			log_warn("backup.demand-invalid", "action=deleted");
			(void) bk_leader_txn_put(t, NULL, NULL, &cmp, 1, &op, 1, &ok, &err);
			return;
		}
		snprintf(reason, sizeof(reason), "asked by %s",
		         st->demand.by[0] ? st->demand.by : "an operator");
		{
			BackupState *next = pgw_xcalloc(1, sizeof(BackupState));
			char stype[8];
			char sreason[128] = "";
			char k_state[PGW_PREFIX_MAX + 32];
			EtcdCompare cmps[2];
			EtcdOp ops[2];
			char *json;

			sched_due(b, next, stype, sizeof(stype), sreason, sizeof(sreason));
			cmps[0] = cmp;
			ops[0] = op;
			json = sched_ops(b, t, next, k_state, sizeof(k_state), &cmps[1],
			                 &ops[1]);
			if (stype[0] != '\0')
			{
				if (type_rank(stype) > type_rank(type))
					type = stype;
				snprintf(reason + strlen(reason),
				         sizeof(reason) - strlen(reason), "; also %s", sreason);
			}
			(void) make_request(b, t, st->demand.id, type, 1, reason, true,
			                    cmps, 2, ops, 2);
			free(json);
			free(next);
		}
		return;
	}
	if (b->failover_backup_due && !b->gap_due && b->aux_phase != AUX_GAP_LS &&
	    b->aux_phase != AUX_GAP_PUSH)
	{
		char id[BACKUP_ID_MAX];

		bk_id_new("failover", id, sizeof(id));
		if (make_request(b, t, id, b->cfg->backup.after_failover, 1,
		                 "after a failover: a backup on the new timeline",
		                 false, NULL, 0, NULL, 0))
			b->failover_backup_due = false;
		return;
	}
	if (st->attempt.present &&
	    (st->attempt.status == BACKUP_STATUS_FAILED ||
	     st->attempt.status == BACKUP_STATUS_ABORTED) &&
	    st->attempt.attempt <= b->cfg->backup.max_retries &&
	    pgw_now_wall_ms() - st->attempt.ended_wall_ms >=
	        b->cfg->backup.retry_interval_ms)
	{
		char id[BACKUP_ID_MAX];
		char reason[128];

		bk_id_new("retry", id, sizeof(id));
		snprintf(reason, sizeof(reason), "retry %d of %s (%s)",
		         st->attempt.attempt, st->attempt.id,
		         backup_status_name(st->attempt.status));
		(void) make_request(b, t, id, st->attempt.type, st->attempt.attempt + 1,
		                    reason, false, NULL, 0, NULL, 0);
		return;
	}
	schedule_turn(b, t);
}

/* stale_turn: an attempt "running" without its lock lost its runner */
static void
stale_turn(Backup *b, const BackupTurn *t)
{
	BackupAttempt a = b->st->attempt;
	char k[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp = {0};
	char *json;
	bool ok = false;
	PgwError err = {0};

	if (!a.present || a.status != BACKUP_STATUS_RUNNING ||
	    (b->st->lock.present && strcmp(b->st->lock.id, a.id) == 0) ||
	    (b->run_phase != RUN_IDLE && strcmp(b->cur.id, a.id) == 0))
		return;
	a.status = BACKUP_STATUS_ABORTED;
	a.ended_wall_ms = pgw_now_wall_ms();
	snprintf(
	    a.reason, sizeof(a.reason),
	    "its runner %s lost the backup lock (node or daemon crash, or cut off from etcd)",
	    a.node);
	json = bk_attempt_encode(&a);
	cmp.key = bk_key(k, sizeof(k), t->prefix, "attempt");
	cmp.target = ETCD_TARGET_MOD;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.number = a.mod_revision;
	if (bk_leader_txn_put(t, "attempt", json, &cmp, 1, NULL, 0, &ok, &err) ==
	        0 &&
	    ok)
		log_warn("backup.aborted", "id=%s node=%s reason=\"%s\"", a.id, a.node,
		         a.reason);
	free(json);
	b->st_read_mono_ms = 0;
}

void
bk_leader_turn(Backup *b, const BackupTurn *t)
{
	int64_t now = pgw_now_mono_ms();
	char sysid[24];

	if (!b->was_leader)
	{
		b->was_leader = true;
		b->catalog_next_mono_ms = now;
		b->canary_next_mono_ms = now;
		b->stanza_next_mono_ms = now;
		log_info("backup.leader", "stanza=%s", b->ex.stanza);
	}
	bk_canary_turn(b, t, now);
	snprintf(sysid, sizeof(sysid), "%llu",
	         (unsigned long long) t->system_identifier);
	if (!b->st->has_stanza || strcmp(b->st->stanza_sysid, sysid) != 0 ||
	    strcmp(b->st->stanza_name, b->ex.stanza) != 0 ||
	    b->aux_phase == AUX_STANZA_INFO || b->aux_phase == AUX_STANZA_CREATE)
	{
		stanza_turn(b, t, now);
		return;
	}
	stale_turn(b, t);
	if (b->aux_phase == AUX_GAP_LS || b->aux_phase == AUX_GAP_PUSH)
		bk_gap_step(b, t);
	else if (b->gap_due && now >= b->gap_next_mono_ms &&
	         b->aux_phase == AUX_IDLE)
		(void) bk_gap_start(b, t);
	requests_turn(b, t);
	bk_catalog_turn(b, t, now);
}
