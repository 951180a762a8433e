/*
 * exec_ops.c: the executor's calls into health/, consensus/ and the shell,
 * as the real functions (exec_int.h, ExecOps). Nothing else in failover/
 * names them, so a unit test can run every step against fakes.
 */
#include "failover/exec_int.h"

#include "backup/backup.h"
#include "common/run.h"

const ExecOps exec_ops_real = {
    .probe_open = health_probe_open,
    .probe_close = health_probe_close,
    .probe_run = health_probe_run,
    .report_relag = health_report_relag,

    .control_open = health_control_open,
    .control_close = health_control_close,
    .status = health_control_status,
    .start = health_control_start,
    .stop = health_control_stop,
    .restart = health_control_restart,
    .reload = health_control_reload,
    .bootstrap = health_control_bootstrap,
    .clone = health_control_clone,
    .promote = health_control_promote,
    .demote = health_control_demote,
    .set_upstream = health_control_set_upstream,
    .ensure_standby = health_control_ensure_standby,
    .rewind_needed = health_control_rewind_needed,
    .rewind = health_control_rewind,
    .timeline_check = health_control_timeline_check,
    .slots_sync = health_control_slots_sync,
    .set_sync = health_control_set_sync,
    .fence_postmaster = health_fence_postmaster,

    .checkpoint = health_control_checkpoint,
    .checkpoint_lsn = health_control_checkpoint_lsn,
    .stop_checkpointed = health_control_stop_checkpointed,
    .standby_prepare = health_control_standby_prepare,
    .standby_forget = health_control_standby_forget,
    .wait_received = health_control_wait_received,
    .wait_promoted = health_control_wait_promoted,

    .data_dir_incomplete = health_data_dir_incomplete,
    .data_dir_state = health_data_dir_state,
    .data_dir_has = health_data_dir_has,
    .wipe_data_dir = wipe_data_dir,

    .leader_acquire = dcs_leader_acquire,
    .leader_check = dcs_leader_check,
    .leader_takeover = dcs_leader_takeover,
    .leader_release = dcs_leader_release,
    .leader_handover = dcs_leader_handover,
    .initialize_claim = dcs_initialize_claim,
    .initialize_set = dcs_initialize_set,
    .leader_guarded_put = dcs_leader_guarded_put,
    .cas_put_rev = dcs_cas_put_rev,
    .cas_delete = dcs_cas_delete,
    .key_read = dcs_key_read,

    .run_command = pgw_run_command,

    .push_ready = backup_push_ready,
    .clone_from_repository = backup_clone_replica,
    .basebackup_allowed = backup_basebackup_allowed,
    .bootstrap_plan = backup_bootstrap_plan,
    .bootstrap_restore = backup_bootstrap_restore,
};
