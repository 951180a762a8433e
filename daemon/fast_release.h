/*
 * fast_release.h: internal to daemon/: giving the leader key up at once when
 * this node provably writes no more (issue 21), and remembering that it did.
 *
 * Two places release early, beside the daemon's own releases (a PostgreSQL
 * that cannot be restarted, a clean stop):
 *   - the fence watchdog (fence.c), once its daemon has died and it has
 *     killed the postmaster: a value- and lease-compared delete of the leader
 *     key through an etcd client it opens itself (fence_release.c), so the
 *     replicas elect on the watch's DELETE instead of waiting out the lease;
 *   - the record (release_record.c): a root-owned file in pgwarden's state
 *     directory (config `state_dir`, default /run/pgwarden; never the data
 *     directory, whose owner is the database's OS user) saying which lease's
 *     key this node gave up, and when. The restarted daemon reads it; the
 *     decision rules then never move that key back to the new lease and
 *     leave the election to the others for one ttl (failover.h
 *     LocalHealth.released_lease).
 */
#ifndef PGW_DAEMON_FAST_RELEASE_H
#define PGW_DAEMON_FAST_RELEASE_H

#include "common/error.h"
#include "config/config.h"
#include "consensus/consensus.h"

#include <stdbool.h>
#include <stdint.h>

#define RELEASE_STATE_DIR_DEFAULT "/run/pgwarden"

/* One record: the leader key this node gave up. */
typedef struct ReleaseRecord
{
	int64_t lease_id;         /* the lease the key was on */
	int64_t released_mono_ms; /* CLOCK_MONOTONIC, this boot */
	char by[16];              /* "fence" (the watchdog) or "daemon" */
	char reason[64];          /* "daemon-died", "shutdown", a rule name */
} ReleaseRecord;

/* release_state_dir: cfg's state_dir, or RELEASE_STATE_DIR_DEFAULT */
const char *release_state_dir(const NodeConfig *cfg);

/*
 * release_state_dir_open: open state_dir (created 0700 when missing, its
 * parent must exist) as a directory descriptor, refusing a symlink, a
 * directory owned by another user than ours, or one that group or others
 * may write. Returns the fd (caller closes) or a negative PGW_E* code
 * with err: PGW_ENOTFOUND (missing, create false), PGW_EIO (cannot open
 * or create it), PGW_EAUTH (a symlink, not ours, or
 * writable by others: not trusted), each naming the directory and why.
 */
int release_state_dir_open(const char *state_dir, bool create, PgwError *err);

/*
 * release_record_write: write r as "<state_dir>/<scope>.<name>.leader-
 * released" (a fresh file, fsynced, renamed into place; never through a
 * symlink). The boot id is added. Returns 0, PGW_EIO or PGW_EAUTH (the
 * state directory refused). Blocks on the disk only.
 */
int release_record_write(const char *state_dir, const char *scope,
                         const char *name, const ReleaseRecord *r,
                         PgwError *err) PGW_MUSTCHECK;

/*
 * release_record_read: 1 and *out when a record of this boot exists; 0 when
 * there is none or it dates from another boot (then it says nothing about
 * now); PGW_EAUTH when the file or the directory is not trustworthy,
 * PGW_EINVAL when the record does not parse, PGW_EIO when it cannot be
 * read (each message names the file and what is wrong).
 */
int release_record_read(const char *state_dir, const char *scope,
                        const char *name, ReleaseRecord *out,
                        PgwError *err) PGW_MUSTCHECK;

/*
 * release_record_parse: one record line; false (why in err) when it is not
 * one. boot receives its boot id. Pure: exposed for the unit tests.
 */
bool release_record_parse(const char *line, ReleaseRecord *out, char *boot,
                          size_t boot_len, PgwError *err);

/*
 * The daemon's view of its record (observe.c reads it every turn; the file
 * is read once, at the first call, and logged then): *lease_id and
 * *released_mono_ms, both 0 when this node gave nothing up in this boot.
 */
void release_facts(const NodeConfig *cfg, int64_t *lease_id,
                   int64_t *released_mono_ms);

/* release_forget: another member (leader) leads: the record has served
 * (the others elected); forget it, file included, so it never holds this
 * node back from a later election. */
void release_forget(const NodeConfig *cfg, const char *leader);

/* release_noted: the daemon released the key on lease itself (reason: the
 * rule, or "shutdown"): remember it, in the file and for release_facts. */
void release_noted(const NodeConfig *cfg, int64_t lease_id, const char *reason);

/* What the fence watchdog needs to release on its own: copied by fork()
 * from the daemon's configuration (so the same endpoints, TLS files and
 * credentials as the daemon's client). */
typedef struct FenceReleaseConfig
{
	EtcdClientConfig etcd;
	const char *prefix; /* "<namespace>/<scope>/" */
	const char *scope;
	const char *name; /* our member name: the key's value */
	const char *state_dir;
} FenceReleaseConfig;

/* fence_release_config_fill: from the daemon's configuration (borrowed) */
void fence_release_config_fill(FenceReleaseConfig *rc, const NodeConfig *cfg,
                               const char *prefix);

#define FENCE_RELEASE_BUDGET_MS_DEFAULT 3000
#define FENCE_PM_GONE_WAIT_MS           1000

/*
 * fence_release_after_death: in the watchdog, after its daemon died and it
 * fenced pm_pid: once the postmaster is proven gone (bounded wait; a
 * postmaster that does not die keeps the key: the lease expires as
 * before), delete the leader key if it still holds our name on lease, with
 * a fresh etcd client whose calls are bounded by budget_ms, and write the
 * record. Every outcome is logged (fence.released, fence.release-refused,
 * fence.release-failed, fence.release-skipped). Returns 0 when released,
 * else the PGW_E* code. Blocks up to FENCE_PM_GONE_WAIT_MS + about two
 * budgets (the call, then the client's close).
 */
int fence_release_after_death(const FenceReleaseConfig *rc, int pm_pid,
                              int64_t lease_id, int budget_ms);

#endif
