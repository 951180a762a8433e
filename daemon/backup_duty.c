/*
 * backup_duty.c: the loop's per-turn call into backup/ (DESIGN.md "publish
 * phase"): it turns the loop's observations into a BackupTurn, so backup/
 * depends on neither the loop nor failover/.
 */
#include "daemon/backup_duty.h"

#include <string.h>

void
daemon_backup_turn(Backup *b, EtcdClient *etcd, const char *prefix, const char *name,
				   int64_t lease_id, const ClusterView *view, bool etcd_ok,
				   const LocalHealth *self, bool promoted)
{
	BackupTurn	t;

	memset(&t, 0, sizeof(t));
	t.etcd = etcd;
	t.prefix = prefix;
	t.name = name;
	t.lease_id = lease_id;
	t.view = view;
	t.view_valid = etcd_ok && view != NULL && view->is_valid;
	t.holds_leader = failover_holds_leader(view, self);
	t.pg_running = self->pg_running && self->pg_reachable;
	t.pg_in_recovery = self->pg_in_recovery;
	t.timeline = self->pg_timeline;
	t.system_identifier = self->system_identifier;
	t.promoted = promoted;
	backup_turn(b, &t);
}
