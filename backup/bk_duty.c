/*
 * bk_duty.c: the backup duty the daemon runs once per turn (backup.h):
 * read the coordination keys (one round trip every BK_POLL_MS, at once
 * after a role change), publish how our data directory is reached, then
 * the runner's part (bk_runner.c) and, on the leader, the leader's part
 * (bk_leader.c); the metrics the REST thread serves are refreshed last.
 * A backup problem is logged once per change and shown, never returned:
 * HA goes on without backups.
 */
#include "backup/backup_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BK_POLL_MS         2000
#define BK_CATALOG_READ_MS 30000

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static char *metrics_text; /* guarded by metrics_lock */

void
bk_note(Backup *b, const char *event, const char *fmt, ...)
{
	char msg[BACKUP_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, b->logged) == 0)
		return;
	pgw_strlcpy(b->logged, msg, sizeof(b->logged));
	{
		char q[BACKUP_REASON_MAX * 2];

		log_error(event, "detail=%s", log_quote(msg, q, sizeof(q)));
	}
}

void
bk_note_clear(Backup *b)
{
	b->logged[0] = '\0';
}

void
backup_open(const NodeConfig *cfg, Backup **out)
{
	Backup *b = pgw_xcalloc(1, sizeof(Backup));
	PgwError err = {0};

	b->cfg = cfg;
	b->st = pgw_xcalloc(1, sizeof(BackupState));
	b->cat = pgw_xcalloc(1, sizeof(BackupCatalog));
	b->aux.fd = -1;
	b->run.fd = -1;
	*out = b;
	if (!cfg->backup.enabled)
		return;
	if (bk_exec_init(cfg, &b->ex, &err) != 0 ||
	    bk_conf_write(cfg, &b->ex, &err) != 0)
	{
		snprintf(b->problem, sizeof(b->problem), "%s", err.msg);
		log_error("backup.disabled",
		          "detail=\"%s\" action=\"HA goes on without backups\"",
		          err.msg);
		bk_metrics_update(b, NULL);
		return;
	}
	if (access(b->ex.pgbackrest, X_OK) != 0)
	{
		snprintf(
		    b->problem, sizeof(b->problem),
		    "pgbackrest program \"%s\" is missing or not executable (install the pgbackrest package or set backup.pgbackrest)",
		    b->ex.pgbackrest);
		log_error(
		    "backup.disabled",
		    "detail=\"%s\" action=\"HA goes on without backups or archiving; restart the daemon once it is installed\"",
		    b->problem);
		bk_metrics_update(b, NULL);
		return;
	}
	b->usable = true;
	log_info("backup.ready", "stanza=%s repository=%s config=%s", b->ex.stanza,
	         cfg->backup.repository, b->ex.conf);
	bk_metrics_update(b, NULL);
}

void
backup_close(Backup *b)
{
	if (b == NULL)
		return;
	bk_runner_stop(b);
	bk_leader_stop(b, NULL);
	free(b->config_json);
	bk_segset_free(&b->gap_missing);
	bk_segset_free(&b->gap_local);
	free(b->st);
	free(b->cat);
	free(b);
}

/*
 * bk_leader_txn_put: put prefix+backup/<suffix> (value NULL: delete) only
 * while the leader key holds us on our lease and the extra compares hold;
 * more ops ride along. *succeeded tells whether the compares held.
 */
int
bk_leader_txn_put(const BackupTurn *t, const char *suffix, const char *value,
                  const EtcdCompare *extra, size_t n_extra, const EtcdOp *more,
                  size_t n_more, bool *succeeded, PgwError *err)
{
	char leader_key[PGW_PREFIX_MAX + 16];
	char key[PGW_PREFIX_MAX + 64];
	EtcdCompare cmp[8];
	EtcdOp ops[8];
	EtcdTxnResult r = {0};
	size_t nc = 2;
	size_t no = 0;
	int rc;

	snprintf(leader_key, sizeof(leader_key), "%sleader", t->prefix);
	dcs_leader_compares(cmp, leader_key, t->name, t->lease_id);
	for (size_t i = 0; i < n_extra && nc < PGW_LENGTHOF(cmp); i++)
		cmp[nc++] = extra[i];
	if (suffix != NULL)
	{
		memset(&ops[no], 0, sizeof(EtcdOp));
		ops[no].kind = value ? ETCD_OP_PUT : ETCD_OP_DELETE;
		ops[no].key = bk_key(key, sizeof(key), t->prefix, suffix);
		ops[no].value = value;
		ops[no].value_len = value ? strlen(value) : 0;
		no++;
	}
	for (size_t i = 0; i < n_more && no < PGW_LENGTHOF(ops); i++)
		ops[no++] = more[i];
	rc = etcd_txn(t->etcd, cmp, nc, ops, no, NULL, 0, &r, err);
	if (rc == 0)
		*succeeded = r.succeeded;
	etcd_txn_result_free(&r);
	return rc;
}

/* publish_node: backup/nodes/<name> on our lease, when it is missing or
 * our lease changed */
static void
publish_node(Backup *b, const BackupTurn *t)
{
	const NodeConfig *cfg = b->cfg;
	BackupNode n = {0};
	char key[PGW_PREFIX_MAX + 96];
	char suffix[96];
	char *json;
	PgwError err = {0};
	bool listed = false;

	for (int i = 0; i < b->st->n_nodes; i++)
		if (strcmp(b->st->nodes[i].name, t->name) == 0)
			listed = true;
	if (t->lease_id == 0 || (listed && b->node_lease == t->lease_id))
		return;
	pgw_strlcpy(n.name, t->name, sizeof(n.name));
	{
		const char *addr =
		    cfg->pg_connect_address ? cfg->pg_connect_address : cfg->pg_listen;
		const char *colon = addr ? strrchr(addr, ':') : NULL;

		snprintf(n.host, sizeof(n.host), "%.*s",
		         colon ? (int) (colon - addr) : 0, addr ? addr : "");
	}
	pgw_strlcpy(n.data_dir, cfg->pg_data_dir, sizeof(n.data_dir));
	pgw_strlcpy(n.socket_dir, cfg->pg_socket_dir ? cfg->pg_socket_dir : "",
	            sizeof(n.socket_dir));
	n.port = cfg->pg_port;
	json = bk_node_encode(&n);
	snprintf(suffix, sizeof(suffix), "nodes/%s", t->name);
	if (etcd_put(t->etcd, bk_key(key, sizeof(key), t->prefix, suffix), json,
	             strlen(json), t->lease_id, NULL, NULL, &err) == 0)
		b->node_lease = t->lease_id;
	else
		log_warn("backup.node-publish-failed", "detail=\"%s\"", err.msg);
	free(json);
}

void
backup_turn(Backup *b, const BackupTurn *t)
{
	int64_t now = pgw_now_mono_ms();
	bool leading;

	if (b == NULL || !b->usable)
		return;
	if (t->promoted)
	{
		/* a new timeline: its history must be archived whole */
		b->gap_due = b->cfg->backup.gap_check;
		b->gap_next_mono_ms = now;
		if (strcmp(b->cfg->backup.after_failover, "off") != 0)
			b->failover_backup_due = true;
		b->st_read_mono_ms = 0;
	}
	leading = t->holds_leader && t->pg_running && !t->pg_in_recovery;
	if (leading != b->was_leader)
		b->st_read_mono_ms = 0;
	if (!t->view_valid || t->etcd == NULL)
	{
		bk_runner_turn(b, t); /* it still watches its source */
		bk_metrics_update(b, t);
		return;
	}
	if (b->st_read_mono_ms == 0 || now - b->st_read_mono_ms >= BK_POLL_MS ||
	    (b->run_phase != RUN_IDLE &&
	     now - b->st_read_mono_ms >= BK_POLL_MS / 2))
	{
		PgwError err = {0};
		char *cfg_json = NULL;

		if (bk_state_read(t->etcd, t->prefix, b->st, leading ? &cfg_json : NULL,
		                  &err) == 0)
		{
			b->st_valid = true;
			if (leading)
			{
				free(b->config_json);
				b->config_json = cfg_json;
			}
		}
		else
		{
			b->st_valid = false;
			log_debug("backup.state-read-failed", "detail=\"%s\"", err.msg);
		}
		b->st_read_mono_ms = now;
	}
	if (b->st_valid)
		publish_node(b, t);
	bk_runner_turn(b, t);
	if (leading && b->st_valid)
		bk_leader_turn(b, t);
	else if (b->was_leader && !leading)
		bk_leader_stop(b, t);
	if (!leading &&
	    (!b->cat_valid || now - b->cat_read_mono_ms >= BK_CATALOG_READ_MS))
	{
		PgwError err = {0};
		bool found = false;

		/* for metrics: the leader's mirror */
		if (backup_catalog_read(t->etcd, t->prefix, b->cat, &found, &err) == 0)
			b->cat_valid = found;
		b->cat_read_mono_ms = now;
	}
	bk_metrics_update(b, t);
}

/* ---- metrics ------------------------------------------------------------ */

char *
backup_metrics_text(void)
{
	char *s = NULL;

	pthread_mutex_lock(&metrics_lock);
	if (metrics_text != NULL)
		s = pgw_xstrdup(metrics_text);
	pthread_mutex_unlock(&metrics_lock);
	return s;
}

void
bk_metrics_update(Backup *b, const BackupTurn *t)
{
	const NodeConfig *cfg = b->cfg;
	const BackupCatalog *c = b->cat;
	const BackupState *st = b->st;
	char *buf;
	size_t cap = 8192;
	size_t n = 0;
	const char *sc = cfg->scope ? cfg->scope : "";
	int64_t now_wall = pgw_now_wall_ms();
	int64_t last_ok = 0;
	bool problem =
	    !b->usable || c->error[0] != '\0' || b->sched.error[0] != '\0';

	(void) t;
	if (!cfg->backup.enabled)
		return;
	buf = pgw_xmalloc(cap);
	for (int i = 0; i < c->n_backups; i++)
		if (c->backups[i].stop_wall_ms > last_ok)
			last_ok = c->backups[i].stop_wall_ms;
#define M(...)                                                                 \
	n += (size_t) snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
	M("# HELP pgwarden_backup_problem 1 when backups cannot work (configuration, pgbackrest missing, foreign repository, bad schedule).\n"
	  "# TYPE pgwarden_backup_problem gauge\npgwarden_backup_problem{scope=\"%s\"} %d\n",
	  sc, problem ? 1 : 0);
	M("# TYPE pgwarden_backup_count gauge\npgwarden_backup_count{scope=\"%s\"} %d\n",
	  sc, c->n_backups);
	M("# HELP pgwarden_backup_last_success_timestamp_seconds Stop time of the newest backup in the repository.\n"
	  "# TYPE pgwarden_backup_last_success_timestamp_seconds gauge\n"
	  "pgwarden_backup_last_success_timestamp_seconds{scope=\"%s\"} %lld\n",
	  sc, (long long) (last_ok / 1000));
	M("# HELP pgwarden_backup_recovery_window_start_timestamp_seconds Earliest recoverable time (oldest backup's consistent point).\n"
	  "# TYPE pgwarden_backup_recovery_window_start_timestamp_seconds gauge\n"
	  "pgwarden_backup_recovery_window_start_timestamp_seconds{scope=\"%s\"} %lld\n",
	  sc, (long long) (c->window_earliest_wall_ms / 1000));
	M("# HELP pgwarden_backup_recovery_window_end_timestamp_seconds Latest recoverable time known (last WAL segment archived).\n"
	  "# TYPE pgwarden_backup_recovery_window_end_timestamp_seconds gauge\n"
	  "pgwarden_backup_recovery_window_end_timestamp_seconds{scope=\"%s\"} %lld\n",
	  sc, (long long) (c->window_latest_wall_ms / 1000));
	M("# HELP pgwarden_backup_archive_age_seconds Seconds since the primary last archived a WAL segment (-1 unknown).\n"
	  "# TYPE pgwarden_backup_archive_age_seconds gauge\n"
	  "pgwarden_backup_archive_age_seconds{scope=\"%s\"} %lld\n",
	  sc,
	  (long long) (c->last_archived_wall_ms > 0
	                   ? (now_wall - c->last_archived_wall_ms) / 1000
	                   : -1));
	M("# TYPE pgwarden_backup_archive_failed_total counter\n"
	  "pgwarden_backup_archive_failed_total{scope=\"%s\"} %lld\n",
	  sc, (long long) c->archive_failed_count);
	M("# HELP pgwarden_backup_running 1 while a backup runs on this node.\n"
	  "# TYPE pgwarden_backup_running gauge\npgwarden_backup_running{scope=\"%s\"} %d\n",
	  sc, b->run_phase != RUN_IDLE ? 1 : 0);
	if (st->attempt.present)
		M("# HELP pgwarden_backup_last_attempt The latest backup attempt, by status.\n"
		  "# TYPE pgwarden_backup_last_attempt gauge\n"
		  "pgwarden_backup_last_attempt{scope=\"%s\",status=\"%s\",type=\"%s\"} %lld\n",
		  sc, backup_status_name(st->attempt.status), st->attempt.type,
		  (long long) ((st->attempt.ended_wall_ms
		                    ? st->attempt.ended_wall_ms
		                    : st->attempt.started_wall_ms) /
		               1000));
	M("# HELP pgwarden_backup_wal_gap_segments WAL segments a timeline's history needs that the archive lacks (last gap check).\n"
	  "# TYPE pgwarden_backup_wal_gap_segments gauge\npgwarden_backup_wal_gap_segments{scope=\"%s\"} %d\n",
	  sc,
	  st->gap.present && strcmp(st->gap.status, "gap") == 0
	      ? (st->gap.n_missing > 0 ? st->gap.n_missing : 1)
	      : 0);
	if (st->verify.present)
	{
		M("# HELP pgwarden_backup_verify_ok 1 when the last restore drill passed.\n"
		  "# TYPE pgwarden_backup_verify_ok gauge\npgwarden_backup_verify_ok{scope=\"%s\"} %d\n",
		  sc, st->verify.ok ? 1 : 0);
		M("# TYPE pgwarden_backup_verify_timestamp_seconds gauge\n"
		  "pgwarden_backup_verify_timestamp_seconds{scope=\"%s\"} %lld\n",
		  sc, (long long) (st->verify.at_wall_ms / 1000));
		M("# HELP pgwarden_backup_verify_restore_seconds Restore plus recovery time of the last drill.\n"
		  "# TYPE pgwarden_backup_verify_restore_seconds gauge\n"
		  "pgwarden_backup_verify_restore_seconds{scope=\"%s\"} %.3f\n",
		  sc, (double) st->verify.restore_ms / 1000.0);
		M("# HELP pgwarden_backup_verify_rpo_seconds Drill start minus the newest canary the restored copy holds.\n"
		  "# TYPE pgwarden_backup_verify_rpo_seconds gauge\n"
		  "pgwarden_backup_verify_rpo_seconds{scope=\"%s\"} %.3f\n",
		  sc, (double) st->verify.rpo_ms / 1000.0);
	}
#undef M
	if (n >= cap)
		n = cap - 1;
	buf[n] = '\0';
	pthread_mutex_lock(&metrics_lock);
	free(metrics_text);
	metrics_text = buf;
	pthread_mutex_unlock(&metrics_lock);
}
