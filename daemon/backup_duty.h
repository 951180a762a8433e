/*
 * backup_duty.h: internal to daemon/: the loop's one call into backup/
 * per turn (backup_duty.c) and the REST side of POST /backup
 * (rest_backup.c).
 */
#ifndef PGW_DAEMON_BACKUP_DUTY_H
#define PGW_DAEMON_BACKUP_DUTY_H

#include "backup/backup.h"
#include "failover/failover.h"

/*
 * daemon_backup_turn: hand backup/ what this turn observed (the publish
 * phase: after the decision was carried out). etcd_ok false (a watch-fed
 * view while keepalives are late) keeps backup/ off etcd, so a dead etcd
 * never adds call timeouts to the loop. promoted: this turn promoted us.
 */
void		daemon_backup_turn(Backup *b, EtcdClient *etcd, const char *prefix,
							   const char *name, int64_t lease_id,
							   const ClusterView *view, bool etcd_ok,
							   const LocalHealth *self, bool promoted);

#endif
