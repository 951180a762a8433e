/*
 * backup_duty.c: the turn's call into backup/ (DESIGN.md "publish phase"):
 * it turns the loop's observations into a BackupTurn, so backup/ depends on
 * neither the loop nor failover/. Every node runs it, not only the leader:
 * a replica may be the source a backup names.
 */
#include "daemon/backup_duty.h"
#include "daemon/daemon_loop.h"

#include "common/log.h"
#include "common/strutil.h"

#include <string.h>
#include <strings.h>

void
backup_duty_turn(Daemon *d, const LocalHealth *self, bool promoted)
{
	BackupTurn t;

	memset(&t, 0, sizeof(t));
	t.etcd = d->etcd;
	t.prefix = d->prefix;
	t.name = d->cfg->name;
	t.lease_id = d->lease_id;
	t.view = d->view;
	t.view_valid = d->view_valid && !session_keepalive_late(d) &&
	               d->view != NULL && d->view->is_valid;
	t.holds_leader = failover_holds_leader(d->view, self);
	t.pg_running = self->pg_running && self->pg_reachable;
	t.pg_in_recovery = self->pg_in_recovery;
	t.timeline = self->pg_timeline;
	t.system_identifier = self->system_identifier;
	t.promoted = promoted;
	backup_turn(d->backup, &t);
}

void
backup_duty_params(const NodeConfig *cfg, PgParamSet *want)
{
	int n = 0;
	const HealthParam *bk = backup_pg_params(cfg, &n);

	/* a cut archive_command would archive somewhere else: all or none */
	for (int i = 0; i < n; i++)
		if (strlen(bk[i].value) >= sizeof(want->params[0].value))
		{
			log_error("backup.params-too-long",
			          "name=%s length=%zu max=%zu action=no-archiving",
			          bk[i].name, strlen(bk[i].value),
			          sizeof(want->params[0].value) - 1);
			return;
		}
	for (int i = 0; i < n; i++)
	{
		int k = 0;

		while (k < want->n && strcasecmp(want->params[k].name, bk[i].name) != 0)
			k++;
		if (k < want->n && strcmp(want->params[k].value, bk[i].value) != 0 &&
		    want->n_ignored < PGW_PG_PARAMS_IGNORED_MAX)
		{
			PgParamIgnored *ig = &want->ignored[want->n_ignored++];

			pgw_strlcpy(ig->name, bk[i].name, sizeof(ig->name));
			pgw_strlcpy(ig->source, "config", sizeof(ig->source));
			pgw_strlcpy(ig->why,
			            "the backup: section manages archiving (pgBackRest)",
			            sizeof(ig->why));
		}
		if (k == want->n)
		{
			if (want->n >= PGW_PG_PARAMS_EFFECTIVE_MAX)
			{
				log_error("backup.param-dropped",
				          "name=%s detail=\"too many parameters\"", bk[i].name);
				continue;
			}
			want->n++;
		}
		pgw_strlcpy(want->params[k].name, bk[i].name,
		            sizeof(want->params[k].name));
		pgw_strlcpy(want->params[k].value, bk[i].value,
		            sizeof(want->params[k].value));
	}
}
