/*
 * bk_runner.c: the node a backup request names runs it. It claims the
 * request and the lock in one txn (lock absent, request unchanged), the
 * lock on its member lease: the lock's create_revision is the fencing
 * token, and every record of the outcome is a txn that compares it, so a
 * runner that lost its lease (partition, crash) cannot write over a newer
 * attempt. pgBackRest's own repository lock is the second guard.
 *
 * The backup is aborted (pgbackrest gets SIGTERM, which it handles by
 * stopping; the next backup resumes or cleans the partial copy) when the
 * source is promoted or demoted, its PostgreSQL stops, the primary it
 * copies from changes, or the lock or our lease goes.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABORT_GRACE_MS    10000
#define FINISH_GIVE_UP_MS 60000

static const BackupNode *
node_of(const BackupState *st, const char *name)
{
	for (int i = 0; i < st->n_nodes; i++)
		if (strcmp(st->nodes[i].name, name) == 0)
			return &st->nodes[i];
	return NULL;
}

/* claim: request + lock + attempt in one txn; true when we won */
static bool
claim(Backup *b, const BackupTurn *t, int64_t *token)
{
	const BackupRequest *rq = &b->st->request;
	char k_req[PGW_PREFIX_MAX + 32], k_lock[PGW_PREFIX_MAX + 32],
	    k_att[PGW_PREFIX_MAX + 32];
	EtcdCompare cmp[2] = {{0}};
	EtcdOp ops[3] = {{0}};
	EtcdTxnResult r = {0};
	BackupLock lock = {0};
	char *lock_json;
	char *att_json;
	PgwError err = {0};
	int rc;

	memset(&b->cur, 0, sizeof(b->cur));
	pgw_strlcpy(b->cur.id, rq->id, sizeof(b->cur.id));
	pgw_strlcpy(b->cur.type, rq->type, sizeof(b->cur.type));
	pgw_strlcpy(b->cur.node, t->name, sizeof(b->cur.node));
	pgw_strlcpy(b->cur.source_role, t->pg_in_recovery ? "replica" : "primary",
	            sizeof(b->cur.source_role));
	pgw_strlcpy(b->cur.request_reason, rq->reason,
	            sizeof(b->cur.request_reason));
	b->cur.status = BACKUP_STATUS_RUNNING;
	b->cur.started_wall_ms = pgw_now_wall_ms();
	b->cur.attempt = rq->attempt > 0 ? rq->attempt : 1;
	pgw_strlcpy(lock.id, rq->id, sizeof(lock.id));
	pgw_strlcpy(lock.node, t->name, sizeof(lock.node));
	pgw_strlcpy(lock.type, rq->type, sizeof(lock.type));
	lock.started_wall_ms = b->cur.started_wall_ms;
	lock_json = bk_lock_encode(&lock);
	att_json = bk_attempt_encode(&b->cur);

	cmp[0].key = bk_key(k_req, sizeof(k_req), t->prefix, "request");
	cmp[0].target = ETCD_TARGET_MOD;
	cmp[0].result = ETCD_CMP_EQUAL;
	cmp[0].number = rq->mod_revision;
	cmp[1].key = bk_key(k_lock, sizeof(k_lock), t->prefix, "lock");
	cmp[1].target = ETCD_TARGET_CREATE;
	cmp[1].result = ETCD_CMP_EQUAL;
	cmp[1].number = 0;
	ops[0].kind = ETCD_OP_PUT;
	ops[0].key = k_lock;
	ops[0].value = lock_json;
	ops[0].value_len = strlen(lock_json);
	ops[0].lease = t->lease_id;
	ops[1].kind = ETCD_OP_DELETE;
	ops[1].key = k_req;
	ops[2].kind = ETCD_OP_PUT;
	ops[2].key = bk_key(k_att, sizeof(k_att), t->prefix, "attempt");
	ops[2].value = att_json;
	ops[2].value_len = strlen(att_json);
	rc = etcd_txn(t->etcd, cmp, 2, ops, 3, NULL, 0, &r, &err);
	free(lock_json);
	free(att_json);
	if (rc != 0)
	{
		log_warn("backup.claim-failed", "id=%s detail=\"%s\"", rq->id, err.msg);
		etcd_txn_result_free(&r);
		return false;
	}
	if (!r.succeeded)
	{
		log_info("backup.claim-lost",
		         "id=%s reason=\"the request changed or the lock is held\"",
		         rq->id);
		etcd_txn_result_free(&r);
		return false;
	}
	*token = r.revision;
	etcd_txn_result_free(&r);
	return true;
}

/* outcome: record the attempt's end under the lock, release the lock */
static bool
record(Backup *b, const BackupTurn *t)
{
	char k_lock[PGW_PREFIX_MAX + 32], k_att[PGW_PREFIX_MAX + 32],
	    k_done[PGW_PREFIX_MAX + 96], suffix[96];
	EtcdCompare cmp = {0};
	EtcdOp ops[3] = {{0}};
	EtcdTxnResult r = {0};
	char *att_json = bk_attempt_encode(&b->cur);
	char *done_json = NULL;
	size_t n = 0;
	PgwError err = {0};
	int rc;

	cmp.key = bk_key(k_lock, sizeof(k_lock), t->prefix, "lock");
	cmp.target = ETCD_TARGET_CREATE;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.number = b->cur.token;
	ops[n].kind = ETCD_OP_PUT;
	ops[n].key = bk_key(k_att, sizeof(k_att), t->prefix, "attempt");
	ops[n].value = att_json;
	ops[n].value_len = strlen(att_json);
	n++;
	if (b->cur.status == BACKUP_STATUS_OK && b->cur.label[0])
	{
		BackupEntry e = {0};

		e.token = b->cur.token;
		pgw_strlcpy(e.node, b->cur.node, sizeof(e.node));
		pgw_strlcpy(e.source_role, b->cur.source_role, sizeof(e.source_role));
		pgw_strlcpy(e.attempt_id, b->cur.id, sizeof(e.attempt_id));
		done_json = bk_done_encode(&e);
		snprintf(suffix, sizeof(suffix), "done/%s", b->cur.label);
		ops[n].kind = ETCD_OP_PUT;
		ops[n].key = bk_key(k_done, sizeof(k_done), t->prefix, suffix);
		ops[n].value = done_json;
		ops[n].value_len = strlen(done_json);
		n++;
	}
	ops[n].kind = ETCD_OP_DELETE;
	ops[n].key = k_lock;
	n++;
	rc = t->etcd ? etcd_txn(t->etcd, &cmp, 1, ops, n, NULL, 0, &r, &err)
	             : PGW_EUNAVAILABLE;
	free(att_json);
	free(done_json);
	if (rc != 0)
	{
		log_warn("backup.record-failed", "id=%s detail=\"%s\" action=retry",
		         b->cur.id, err.msg);
		etcd_txn_result_free(&r);
		return false;
	}
	if (!r.succeeded)
		log_warn(
		    "backup.fenced",
		    "id=%s token=%lld status=%s reason=\"our lock is gone (another holder or an expired lease): the outcome is not recorded\"",
		    b->cur.id, (long long) b->cur.token,
		    backup_status_name(b->cur.status));
	else
		log_info("backup.recorded", "id=%s status=%s label=%s token=%lld",
		         b->cur.id, backup_status_name(b->cur.status),
		         b->cur.label[0] ? b->cur.label : "-",
		         (long long) b->cur.token);
	etcd_txn_result_free(&r);
	return true;
}

static void
finish(Backup *b, BackupStatus status, const char *reason)
{
	b->cur.status = status;
	pgw_strlcpy(b->cur.reason, reason, sizeof(b->cur.reason));
	b->cur.ended_wall_ms = pgw_now_wall_ms();
	b->run_phase = RUN_FINISH;
	b->abort_deadline_mono_ms = pgw_now_mono_ms() + FINISH_GIVE_UP_MS;
	if (status == BACKUP_STATUS_OK)
		log_info("backup.done", "id=%s type=%s label=%s duration_ms=%lld %s",
		         b->cur.id, b->cur.type, b->cur.label,
		         (long long) (b->cur.ended_wall_ms - b->cur.started_wall_ms),
		         b->expire_note);
	else
		log_warn(status == BACKUP_STATUS_ABORTED ? "backup.aborted"
		                                         : "backup.failed",
		         "id=%s type=%s reason=\"%s\"", b->cur.id, b->cur.type, reason);
}

static void
start(Backup *b, const BackupTurn *t, int64_t token)
{
	const ConfigBackup *cb = &b->cfg->backup;
	BkArgv a;
	PgwError err = {0};

	b->cur.token = token;
	b->cur_as_replica = t->pg_in_recovery;
	b->cur_lease = t->lease_id;
	b->expire_note[0] = '\0';
	pgw_strlcpy(b->cur_leader, t->view->has_leader ? t->view->leader : "",
	            sizeof(b->cur_leader));
	bk_argv_pgbackrest(&a, &b->ex, NULL, "backup");
	bk_argv_add(&a, "--type=%s", b->cur.type);
	bk_argv_add(&a, "--log-level-console=info");
	if (b->cur_as_replica)
	{
		const BackupNode *p = node_of(b->st, b->cur_leader);

		if (p == NULL)
		{
			char why[160];

			snprintf(
			    why, sizeof(why),
			    "no backup/nodes entry for the primary \"%s\": cannot reach it for a standby backup",
			    b->cur_leader);
			finish(b, BACKUP_STATUS_FAILED, why);
			return;
		}
		if (strcmp(cb->remote, "ssh") != 0 &&
		    bk_pgpass_write(b->cfg, &b->ex, "pgpass", p->socket_dir, p->port,
		                    &err) != 0)
		{
			finish(b, BACKUP_STATUS_FAILED, err.msg);
			return;
		}
		/* pgBackRest: start/stop on the primary, files from the standby */
		bk_argv_add(&a, "--backup-standby");
		if (strcmp(cb->remote, "ssh") == 0)
		{
			bk_argv_add(&a, "--pg2-host=%s", p->host);
			bk_argv_add(&a, "--pg2-host-user=%s", b->ex.user);
		}
		bk_argv_add(&a, "--pg2-path=%s", p->data_dir);
		bk_argv_add(&a, "--pg2-port=%d", p->port);
		if (p->socket_dir[0])
			bk_argv_add(&a, "--pg2-socket-path=%s", p->socket_dir);
		bk_argv_add(&a, "--pg2-user=%s",
		            b->cfg->pg_superuser_username
		                ? b->cfg->pg_superuser_username
		                : "postgres");
	}
	log_info(
	    "backup.start",
	    "id=%s type=%s source=%s role=%s primary=%s token=%lld reason=\"%s\"",
	    b->cur.id, b->cur.type, t->name, b->cur.source_role,
	    b->cur_leader[0] ? b->cur_leader : "-", (long long) token,
	    b->cur.request_reason);
	if (bk_job_start(&b->run, &b->ex, a.v, b->cfg->backup.timeout_ms, "backup",
	                 &err) != 0)
	{
		finish(b, BACKUP_STATUS_FAILED, err.msg);
		return;
	}
	b->run_phase = RUN_BACKUP;
}

/* why_abort: a reason to stop the backup now, or NULL */
static const char *
why_abort(Backup *b, const BackupTurn *t, char *buf, size_t len)
{
	if (t->lease_id != b->cur_lease)
		return "this node's lease changed (cut off from etcd): the lock is no longer ours";
	if (b->st_valid && b->st->revision >= b->cur.token &&
	    (!b->st->lock.present || strcmp(b->st->lock.id, b->cur.id) != 0))
		return "the backup lock is gone or held by another attempt";
	if (!t->pg_running)
		return "the source's PostgreSQL is not running (crashed or stopped)";
	if (b->cur_as_replica && !t->pg_in_recovery)
		return "the source replica was promoted";
	if (!b->cur_as_replica && (t->pg_in_recovery || !t->holds_leader))
		return "the source is no longer the primary";
	if (b->cur_as_replica && t->view_valid && t->view->has_leader &&
	    strcmp(t->view->leader, t->name) == 0)
		return "the source replica was promoted (it holds the leader key now)";
	if (t->view_valid && b->cur_leader[0] &&
	    (!t->view->has_leader || strcmp(t->view->leader, b->cur_leader) != 0))
	{
		snprintf(buf, len, "the primary changed during the backup (%s -> %s)",
		         b->cur_leader, t->view->has_leader ? t->view->leader : "none");
		return buf;
	}
	return NULL;
}

static void
parse_label(Backup *b)
{
	const char *p =
	    b->run.out ? strstr(b->run.out, "new backup label = ") : NULL;
	size_t n = 0;

	b->cur.label[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("new backup label = ");
	while (p[n] && p[n] != '\n' && p[n] != ' ' && n + 1 < sizeof(b->cur.label))
		n++;
	snprintf(b->cur.label, sizeof(b->cur.label), "%.*s", (int) n, p);
}

void
bk_runner_turn(Backup *b, const BackupTurn *t)
{
	char buf[BACKUP_REASON_MAX];
	const char *why;

	switch (b->run_phase)
	{
		case RUN_IDLE:
		{
			int64_t token = 0;

			if (!b->st_valid || !b->st->request.present ||
			    b->st->lock.present ||
			    strcmp(b->st->request.source, t->name) != 0 ||
			    t->lease_id == 0 || !t->pg_running || !t->view_valid)
				return;
			if (claim(b, t, &token))
			{
				b->st_read_mono_ms = 0;
				start(b, t, token);
			}
			return;
		}
		case RUN_BACKUP:
			if ((why = why_abort(b, t, buf, sizeof(buf))) != NULL)
			{
				pgw_strlcpy(b->cur.reason, why, sizeof(b->cur.reason));
				log_warn("backup.abort", "id=%s reason=\"%s\" action=sigterm",
				         b->cur.id, why);
				kill(-b->run.pid, SIGTERM);
				b->abort_deadline_mono_ms = pgw_now_mono_ms() + ABORT_GRACE_MS;
				b->run_phase = RUN_ABORTING;
				return;
			}
			if (!bk_job_poll(&b->run))
				return;
			if (b->run.exit_code == 0 && !b->run.timed_out)
			{
				BkArgv a;
				PgwError err = {0};

				parse_label(b);
				bk_job_clear(&b->run);
				/* retention: the lock holder expires, after a success only */
				bk_argv_pgbackrest(&a, &b->ex, NULL, "expire");
				bk_argv_add(&a, "--log-level-console=info");
				if (bk_job_start(&b->run, &b->ex, a.v, 3600 * 1000, "expire",
				                 &err) != 0)
				{
					snprintf(b->expire_note, sizeof(b->expire_note),
					         "expire=\"%s\"", err.msg);
					finish(b, BACKUP_STATUS_OK, "");
				}
				else
					b->run_phase = RUN_EXPIRE;
				return;
			}
			{
				char tail[200];
				BackupStatus st = BACKUP_STATUS_FAILED;

				bk_job_reason(&b->run, tail, sizeof(tail));
				if (b->run.timed_out)
					snprintf(buf, sizeof(buf),
					         "timed out after %lld s; pgbackrest: %s",
					         (long long) (b->cfg->backup.timeout_ms / 1000),
					         tail);
				else if ((why = why_abort(b, t, buf, sizeof(buf))) != NULL)
				{
					/* it failed because the cluster changed under it */
					char w[160];

					pgw_strlcpy(w, why, sizeof(w));
					snprintf(buf, sizeof(buf), "%s; pgbackrest: %s", w, tail);
					st = BACKUP_STATUS_ABORTED;
				}
				else
					snprintf(buf, sizeof(buf), "pgbackrest exit code %d: %s",
					         b->run.exit_code, tail);
				bk_job_clear(&b->run);
				finish(b, st, buf);
				return;
			}
		case RUN_EXPIRE:
			if (!bk_job_poll(&b->run))
				return;
			if (b->run.exit_code != 0)
			{
				char tail[120];

				bk_job_tail(&b->run, tail, sizeof(tail));
				snprintf(b->expire_note, sizeof(b->expire_note),
				         "expire_failed=\"%s\"", tail);
			}
			bk_job_clear(&b->run);
			finish(b, BACKUP_STATUS_OK, "");
			return;
		case RUN_ABORTING:
			if (!bk_job_poll(&b->run))
			{
				if (pgw_now_mono_ms() > b->abort_deadline_mono_ms)
					bk_job_stop(&b->run, 0);
				return;
			}
			{
				char tail[200];
				char why2[BACKUP_REASON_MAX];

				bk_job_tail(&b->run, tail, sizeof(tail));
				pgw_strlcpy(why2, b->cur.reason, sizeof(why2));
				snprintf(buf, sizeof(buf), "%s; pgbackrest: %s", why2, tail);
				bk_job_clear(&b->run);
				finish(b, BACKUP_STATUS_ABORTED, buf);
				return;
			}
		case RUN_FINISH:
			if (t->etcd == NULL || !t->view_valid)
				return;
			if (record(b, t) || pgw_now_mono_ms() > b->abort_deadline_mono_ms)
			{
				b->run_phase = RUN_IDLE;
				b->st_read_mono_ms = 0;
			}
			return;
	}
}

void
bk_runner_stop(Backup *b)
{
	if (bk_job_running(&b->run))
	{
		log_warn("backup.abort",
		         "id=%s reason=\"the daemon is stopping\" action=sigterm",
		         b->cur.id);
		bk_job_stop(&b->run, 5000);
	}
	bk_job_clear(&b->run);
	b->run_phase = RUN_IDLE;
}
