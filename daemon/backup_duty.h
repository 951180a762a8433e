/*
 * backup_duty.h: internal to daemon/: the turn's one call into backup/
 * (backup_duty.c, from the publish phase), the archive settings laid over
 * the parameter set (from pg_params.c), and what rest_backup.c (POST
 * /backup) needs of backup/.
 */
#ifndef PGW_DAEMON_BACKUP_DUTY_H
#define PGW_DAEMON_BACKUP_DUTY_H

#include "backup/backup.h"
#include "failover/failover.h"

struct Daemon;

/*
 * backup_duty_turn: hand backup/ what this turn observed (the publish
 * phase: after the step was carried out and the leader's duties ran). A
 * late keepalive keeps backup/ off etcd, so a dead etcd never adds call
 * timeouts to the loop. promoted: this turn promoted us.
 */
void backup_duty_turn(struct Daemon *d, const LocalHealth *self, bool promoted);

/*
 * backup_duty_params: the archive settings backup/ manages (archive_mode,
 * archive_command, restore_command, archive_timeout) over the set the
 * node's and the cluster's parameters give (pg_params.c): with a backup
 * section they are pgwarden's, and a value from either source is noted as
 * ignored with the reason. Without one, want is left alone.
 */
void backup_duty_params(const NodeConfig *cfg, PgParamSet *want);

#endif
