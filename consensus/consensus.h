/*
 * consensus.h: the only public header of consensus/, the only code in
 * pgwarden that knows etcd (DESIGN.md, "The parts"). Two layers:
 *   1. EtcdClient: etcd v3 over the gRPC C core (KV, Txn, leases with a
 *      keepalive stream, watches), with deadlines, several endpoints, TLS and
 *      user/password auth. Implemented in etcd_*.c.
 *   2. The DCS model: Patroni-compatible key layout and value codecs
 *      (member, config, history, failover, sync, status), the ClusterView
 *      that failover_decide() reads, and the leader-key operations.
 *      Implemented in dcs_*.c.
 *
 * Threading: an EtcdClient is used from one thread (the daemon loop or a ctl
 * command). Unary calls block that thread up to the call deadline. Streams
 * (keepalive, watch) run on one internal completion-queue thread that hands
 * events to the owner through etcd_client_event_fd() (see etcd_client.c's
 * header comment for the full model).
 */
#ifndef PGW_CONSENSUS_H
#define PGW_CONSENSUS_H

#include "common/compiler.h"
#include "common/error.h"
#include "common/promtext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Part 1, the etcd v3 client, is in consensus_etcd.h (file size only) */
#define PGW_CONSENSUS_H_PARTS
#include "consensus/consensus_etcd.h"
#undef PGW_CONSENSUS_H_PARTS

/* ------------------------------------------------------------------------
 * Part 2: the DCS model (Patroni-compatible, DESIGN.md "etcd keys")
 * ------------------------------------------------------------------------ */

#define PGW_MEMBERS_MAX   32
#define PGW_NAME_MAX      64
#define PGW_URL_MAX       256
#define PGW_TAGS_MAX      16
#define PGW_PG_PARAMS_MAX 64
#define PGW_SYNC_MAX      PGW_MEMBERS_MAX

typedef enum MemberRole
{
	MEMBER_ROLE_UNKNOWN = 0,
	MEMBER_ROLE_PRIMARY, /* "primary" (Patroni 3.x writes "master") */
	MEMBER_ROLE_REPLICA,
	MEMBER_ROLE_STANDBY_LEADER,
	MEMBER_ROLE_DEMOTED,
	MEMBER_ROLE_UNINITIALIZED,
} MemberRole;

typedef enum MemberState
{
	MEMBER_STATE_UNKNOWN = 0,
	MEMBER_STATE_RUNNING,
	MEMBER_STATE_STARTING,
	MEMBER_STATE_STOPPING,
	MEMBER_STATE_STOPPED,
	MEMBER_STATE_RESTARTING,
	MEMBER_STATE_CRASHED,
	MEMBER_STATE_CREATING_REPLICA,
	MEMBER_STATE_INITIALIZING, /* "initializing new cluster" */
	MEMBER_STATE_START_FAILED,
	MEMBER_STATE_STOP_FAILED,
	MEMBER_STATE_INITDB_FAILED,
} MemberState;

typedef struct MemberTag
{
	char key[32];
	char value[64]; /* JSON scalar rendered as text */
} MemberTag;

/*
 * A restart scheduled through POST /restart {"schedule": ...}, published in
 * the member key as Patroni's "scheduled_restart" object (patronictl list
 * -e shows it, flush restart looks for it).
 */
typedef struct MemberRestart
{
	int64_t schedule_wall_ms;         /* 0: none scheduled */
	int64_t postmaster_start_wall_ms; /* when it was asked; 0 unknown */
	bool restart_pending;             /* only if a restart is pending */
	char role[16];                    /* only in this role; "" any */
	char postgres_version[16];        /* only below this version; "" any */
	int timeout_s;                    /* 0: default */
} MemberRestart;

/* One members/<name> value, decoded. */
typedef struct MemberInfo
{
	char name[PGW_NAME_MAX];
	char conn_url[PGW_URL_MAX]; /* postgres://host:port/postgres */
	char api_url[PGW_URL_MAX];  /* http://host:8008/patroni */
	MemberRole role;
	MemberState state;
	uint64_t xlog_location; /* primary: current LSN; replica: max(rcv, rpl) */
	uint64_t received_location; /* ours, 0 if absent */
	uint64_t replayed_location; /* ours, 0 if absent */
	int timeline;               /* 0 if unknown */
	char version[32];           /* pgwarden/Patroni version */
	bool pending_restart;
	bool pause;                  /* the cluster is paused (Patroni: "pause") */
	bool checkpoint_pending;     /* a new primary whose first checkpoint
									 * on its timeline has not run yet:
									 * "checkpoint_after_promote": false */
	char proxy_url[PGW_URL_MAX]; /* postgresql.proxy_address as a URL */
	MemberRestart scheduled_restart;
	bool nofailover;                  /* tag */
	bool noloadbalance;               /* tag */
	bool nosync;                      /* tag */
	int failover_priority;            /* tag, default 1; 0 = never */
	char replicatefrom[PGW_NAME_MAX]; /* tag, "" if none */
	int n_tags;                       /* every tag, including the above */
	MemberTag tags[PGW_TAGS_MAX];
	char reason[256]; /* ours: the member's last decision reason */
	int64_t mod_revision;
	int64_t lease;
	bool is_valid;         /* false: value did not decode (never elect) */
	char parse_error[160]; /* why, when !is_valid */
} MemberInfo;

typedef struct PgParam
{
	char name[64];
	char value[256];
} PgParam;

/* The `config` key (dynamic configuration shared by the cluster). */
typedef struct DynamicConfig
{
	int64_t ttl_ms;                   /* default 10000 */
	int64_t loop_wait_ms;             /* default 1000 */
	int64_t retry_timeout_ms;         /* default 3000 */
	uint64_t maximum_lag_on_failover; /* bytes, default 1 MiB */
	int64_t primary_start_timeout_ms; /* crashed leader restart budget */
	bool synchronous_mode;
	bool synchronous_mode_strict;
	int synchronous_node_count; /* default 1 */
	bool synchronous_quorum;    /* ours: ANY k instead of FIRST k */
	bool lease_checked_commits; /* ours: the lease witness (issue 19) */
	bool pause;
	bool failsafe_mode;
	bool check_timeline;
	bool use_pg_rewind;                           /* default true */
	bool use_slots;                               /* default true */
	bool remove_data_directory_on_rewind_failure; /* default true */
	int n_params;
	PgParam params[PGW_PG_PARAMS_MAX]; /* postgresql.parameters */
	int64_t mod_revision;              /* 0 when built from defaults */
} DynamicConfig;

/* dcs_config_defaults: the defaults of DESIGN.md's timing model. */
void dcs_config_defaults(DynamicConfig *cfg);

/*
 * dcs_config_validate: check ranges and loop_wait + 2*retry_timeout <= ttl
 * (Patroni's rule).
 * Returns 0 or PGW_EINVAL with a message naming the key.
 */
int dcs_config_validate(const DynamicConfig *cfg, PgwError *err) PGW_MUSTCHECK;

/* The `failover` key: a switchover (leader set) or failover request. */
typedef struct FailoverRequest
{
	bool present;
	char leader[PGW_NAME_MAX];    /* "" for a failover */
	char member[PGW_NAME_MAX];    /* candidate, "" for any */
	int64_t scheduled_at_wall_ms; /* 0: now */
	/*
	 * Written by the old leader in the txn that frees the leader key: the
	 * LSN of its shutdown checkpoint, which the target has already
	 * received. 0 when no handover happened (yet).
	 */
	uint64_t handover_lsn;
	int64_t mod_revision;
} FailoverRequest;

/* The `sync` key. */
typedef struct SyncState
{
	bool present;
	char leader[PGW_NAME_MAX];
	int n_sync;
	char sync_standby[PGW_SYNC_MAX][PGW_NAME_MAX];
	int quorum; /* ANY k; 0 when FIRST */
	int64_t mod_revision;
} SyncState;

/* The `failsafe` key (Patroni's): the members the leader knew, by name,
 * with their api_url; written by the leader in failsafe mode. */
typedef struct FailsafeSet
{
	bool present;
	int n;
	char name[PGW_MEMBERS_MAX][PGW_NAME_MAX];
	char api_url[PGW_MEMBERS_MAX][PGW_URL_MAX];
} FailsafeSet;

typedef struct HistoryEntry
{
	int timeline;
	uint64_t lsn;
	char reason[160];
	char time[40]; /* ISO 8601 with zone */
	char new_leader[PGW_NAME_MAX];
} HistoryEntry;

/* Everything failover_decide() reads from etcd, as of one revision. */
typedef struct ClusterView
{
	bool is_valid;    /* false: etcd could not be read */
	int64_t revision; /* etcd header revision of the read */
	bool has_initialize;
	char initialize[32]; /* system identifier, decimal */
	bool has_leader;
	char leader[PGW_NAME_MAX];
	int64_t leader_lease;
	int64_t leader_mod_revision;
	int n_members;
	MemberInfo members[PGW_MEMBERS_MAX];
	bool has_config;
	bool config_is_valid; /* false: garbage in `config`; defaults used */
	DynamicConfig config;
	FailoverRequest failover;
	SyncState sync;
	FailsafeSet failsafe;
	uint64_t leader_optime;    /* `status` optime, 0 if absent */
	int last_history_timeline; /* 0 if no history */
	int n_bad_values;          /* keys whose values did not decode */
	char bad_value_keys[256];  /* their names, comma-separated */
} ClusterView;

/* dcs_view_member: the member called name, or NULL. */
const MemberInfo *dcs_view_member(const ClusterView *v, const char *name);

/* Codecs: decode outside input whole or reject it, naming what is wrong. */
int dcs_member_decode(const char *name, const char *json, size_t len,
                      MemberInfo *out, PgwError *err) PGW_MUSTCHECK;
char *dcs_member_encode(const MemberInfo *m); /* caller frees */

/* dcs_member_flags_differ: a field a client waits on changed (pause,
 * pending_restart, scheduled_restart, checkpoint_after_promote, proxy_url,
 * tags): the member key must be written now, not at the next refresh. */
bool dcs_member_flags_differ(const MemberInfo *a, const MemberInfo *b);
int dcs_config_decode(const char *json, size_t len, DynamicConfig *out,
                      PgwError *err) PGW_MUSTCHECK;
char *dcs_config_encode(const DynamicConfig *cfg); /* caller frees */

/*
 * dcs_config_decode_json: the rules of dcs_config_decode applied to an
 * already parsed jansson object (a json_t *), shared with config/ for the
 * YAML file's bootstrap.dcs map. strict_keys also refuses keys that neither
 * pgwarden nor Patroni knows (typos in a file); etcd values ignore them.
 * Messages read `key "<key_prefix><path>": ...`; bad_key (may be NULL)
 * receives the offending dotted path without key_prefix. Includes
 * dcs_config_validate(). Returns 0 or PGW_EINVAL.
 */
struct json_t;
int dcs_config_decode_json(const struct json_t *obj, bool strict_keys,
                           const char *key_prefix, DynamicConfig *out,
                           char *bad_key, size_t bad_key_len,
                           PgwError *err) PGW_MUSTCHECK;
int dcs_failover_decode(const char *json, size_t len, FailoverRequest *out,
                        PgwError *err) PGW_MUSTCHECK;
char *dcs_failover_encode(const FailoverRequest *f); /* caller frees */
/* dcs_failsafe_decode: {"name": "api_url", ...}; every value a string
 * URL, names valid member names, at most PGW_MEMBERS_MAX. */
int dcs_failsafe_decode(const char *json, size_t len, FailsafeSet *out,
                        PgwError *err) PGW_MUSTCHECK;

/* dcs_failsafe_encode: the `failsafe` value of v's valid members with an
 * api_url (malloc'd compact JSON, keys sorted). */
char *dcs_failsafe_encode(const ClusterView *v);

/* dcs_failsafe_has: name is listed in f */
bool dcs_failsafe_has(const FailsafeSet *f, const char *name);

int dcs_sync_decode(const char *json, size_t len, SyncState *out,
                    PgwError *err) PGW_MUSTCHECK;
char *dcs_sync_encode(const SyncState *s); /* caller frees */

/*
 * dcs_history_decode: parse the `history` list; *entries is caller-freed
 * (free()), *n its length.
 */
int dcs_history_decode(const char *json, size_t len, HistoryEntry **entries,
                       int *n, PgwError *err) PGW_MUSTCHECK;
char *dcs_history_encode(const HistoryEntry *entries, int n);

const char *dcs_role_name(MemberRole r);   /* "primary", "replica", ... */
const char *dcs_state_name(MemberState s); /* "running", ... */

/* ------------------------------------------------------------------------
 * Part 3: DCS operations (dcs.c): the key layout under
 * <namespace>/<scope>/ and the leader-key protocol of DESIGN.md promise 5.
 * ------------------------------------------------------------------------ */

#define PGW_PREFIX_MAX 256

/*
 * dcs_prefix_build: "<namespace>/<scope>/" with single slashes ("/service"
 * + "demo" -> "/service/demo/"). Returns PGW_EINVAL when the scope is empty,
 * holds '/' or the result does not fit PGW_PREFIX_MAX.
 */
int dcs_prefix_build(const char *namespace_, const char *scope, char *out,
                     size_t len, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_group_prefix_build: the key prefix of one HA group of a sharded scope,
 * "<namespace>/<scope>/<group>/" (Patroni's Citus layout), or the scope's
 * own prefix when group < 0. PGW_EINVAL as dcs_prefix_build, or for a group
 * above 9999.
 */
int dcs_group_prefix_build(const char *namespace_, const char *scope, int group,
                           char *out, size_t len, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_view_read: read every key under prefix at one revision and decode it
 * into *out (zeroed first). Undecodable values are counted in
 * out->n_bad_values and named in out->bad_value_keys; a member with a bad
 * value is kept with is_valid=false (never elected). linearizable=false reads
 * from the connected member (serializable). Returns 0 or the etcd error.
 */
int dcs_view_read(EtcdClient *c, const char *prefix, bool linearizable,
                  ClusterView *out, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_view_read_raw: dcs_view_read that also hands back the raw values of
 * the `config` and `history` keys (malloc'd, NULL when absent; the caller
 * frees them), which the REST API serves as they are: the same read, not
 * two more round trips.
 */
int dcs_view_read_raw(EtcdClient *c, const char *prefix, bool linearizable,
                      ClusterView *out, char **raw_config, char **raw_history,
                      PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_view_apply_event: update a cached view from one watch event under
 * prefix (member put/delete, leader, config, failover, sync, initialize,
 * status, history). Returns true when the leader key, config or failover key
 * changed (the loop should run at once).
 */
bool dcs_view_apply_event(ClusterView *v, const char *prefix,
                          const EtcdEvent *ev);

/*
 * dcs_view_note_leader: record in a cached view what our own txn on the
 * leader key just did: name holds it on lease (name NULL: the key is gone).
 * The watch event that follows says the same; until it arrives the view
 * does not contradict what we know. Pure.
 */
void dcs_view_note_leader(ClusterView *v, const char *name, int64_t lease);

/*
 * dcs_leader_compares: fill cmp[0] (value == name) and cmp[1] (lease ==
 * lease) on leader_key: the compares every leader-only write carries.
 */
void dcs_leader_compares(EtcdCompare cmp[2], const char *leader_key,
                         const char *name, int64_t lease);

/*
 * dcs_leader_acquire: take the leader key for name on lease by a txn that
 * requires create_revision == 0. *won tells whether we hold it afterwards
 * (an earlier ambiguous attempt of ours that succeeded counts: the current
 * holder is compared with name and lease). holder (may be NULL, size
 * PGW_NAME_MAX) receives the holder's name.
 */
int dcs_leader_acquire(EtcdClient *c, const char *prefix, const char *name,
                       int64_t lease, bool *won, char *holder,
                       PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_check: confirm that the leader key still holds name on lease by
 * a read-only txn comparing value and lease (no blind put, ever). Returns 0,
 * PGW_ECONFLICT (someone else leads or the key is gone: step down), or the
 * transport error (retry until the fencing deadline).
 */
int dcs_leader_check(EtcdClient *c, const char *prefix, const char *name,
                     int64_t lease, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_takeover: move the leader key that still holds name on
 * old_lease (our previous incarnation's lease) to new_lease, by one txn
 * comparing value and old lease, so a restarted daemon need not wait out the
 * TTL of its own key and nobody else can slip in between. PGW_ECONFLICT when
 * the key is not (name, old_lease) any more.
 */
int dcs_leader_takeover(EtcdClient *c, const char *prefix, const char *name,
                        int64_t old_lease, int64_t new_lease,
                        PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_release: delete the leader key only if it holds name (value
 * compare), so replicas need not wait out the TTL. PGW_ECONFLICT when it
 * was not ours.
 */
int dcs_leader_release(EtcdClient *c, const char *prefix, const char *name,
                       PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_release_owned: delete the leader key only if it holds name on
 * lease (value and lease compared in one txn): a key another member took,
 * or our name on another lease, is never touched. PGW_ECONFLICT (the
 * message names the holder and lease, or says the key is gone), PGW_EINVAL
 * for lease 0, or the transport error. Safe to retry.
 */
int dcs_leader_release_owned(EtcdClient *c, const char *prefix,
                             const char *name, int64_t lease,
                             PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_handover: the end of a switchover. In one txn, only if the
 * leader key still holds name: delete it and write `failover` as f (which
 * carries handover_lsn), so the target learns from the same revision that
 * the key is free and that it holds all our WAL. PGW_ECONFLICT when the key
 * was not ours.
 */
int dcs_leader_handover(EtcdClient *c, const char *prefix, const char *name,
                        const FailoverRequest *f, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_initialize_claim: race for the `initialize` key (create_revision == 0)
 * with an empty value; *won tells the winner, who bootstraps and then calls
 * dcs_initialize_set() with the new system identifier.
 */
int dcs_initialize_claim(EtcdClient *c, const char *prefix, bool *won,
                         PgwError *err) PGW_MUSTCHECK;
int dcs_initialize_set(EtcdClient *c, const char *prefix, const char *sysid,
                       PgwError *err) PGW_MUSTCHECK;

/* dcs_member_publish: put members/<name> on lease. */
int dcs_member_publish(EtcdClient *c, const char *prefix, const MemberInfo *m,
                       int64_t lease, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_guarded_put: put key=value only while the leader key holds
 * name on lease (txn comparing both), for every leader-only write (history,
 * status, sync, routing). PGW_ECONFLICT when we no longer lead.
 */
int dcs_leader_guarded_put(EtcdClient *c, const char *prefix, const char *name,
                           int64_t lease, const char *key_suffix,
                           const char *value, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_leader_guarded_cas: dcs_leader_guarded_put that also requires the
 * key's mod_revision to be mod_revision (0: the key does not exist), in the
 * same txn: for a leader-only value the writer read first (routing's
 * epoch). PGW_ECONFLICT with *lost_leadership true when we no longer lead
 * (the message names the holder), false when the key changed since it was
 * read (re-read and retry).
 */
int dcs_leader_guarded_cas(EtcdClient *c, const char *prefix, const char *name,
                           int64_t lease, const char *key_suffix,
                           const char *value, int64_t mod_revision,
                           bool *lost_leadership, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_cas_put: put prefix+key_suffix only if its mod_revision is still
 * mod_revision (0: only if the key does not exist). PGW_ECONFLICT when
 * someone else changed it first. Used for config, failover, sync.
 */
int dcs_cas_put(EtcdClient *c, const char *prefix, const char *key_suffix,
                const char *value, int64_t mod_revision,
                PgwError *err) PGW_MUSTCHECK;

/* dcs_cas_put_rev: dcs_cas_put that also gives the key's new mod_revision
 * (the txn's revision), for a writer that later deletes by revision what
 * it wrote itself. */
int dcs_cas_put_rev(EtcdClient *c, const char *prefix, const char *key_suffix,
                    const char *value, int64_t mod_revision,
                    int64_t *new_revision, PgwError *err) PGW_MUSTCHECK;

/*
 * dcs_key_read: the value of prefix + key_suffix, read linearizably:
 * *value (NUL-terminated, caller frees; NULL when the key does not exist),
 * *value_len and *mod_revision (both may be NULL; 0 when absent). Returns 0
 * or the etcd error. The one way to read a single key of the layout.
 */
int dcs_key_read(EtcdClient *c, const char *prefix, const char *key_suffix,
                 char **value, size_t *value_len, int64_t *mod_revision,
                 PgwError *err) PGW_MUSTCHECK;

/* dcs_cas_delete: delete if mod_revision matches (0: unconditionally). */
int dcs_cas_delete(EtcdClient *c, const char *prefix, const char *key_suffix,
                   int64_t mod_revision, PgwError *err) PGW_MUSTCHECK;

#endif
