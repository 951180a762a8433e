/*
 * witness.h: the lease witness (issue 19, DESIGN.md promise 1): a small
 * replication client, its own process (pgwarden-witness), that PostgreSQL
 * lists in synchronous_standby_names on the leader's node and that reports
 * a flush position back only while the leader's fencing deadline, read on
 * its own monotonic clock at the moment it replies, is in the future. A
 * commit waits for it, so a primary frozen past its lease and thawed can
 * acknowledge no commit it writes after the deadline. It discards the WAL.
 *
 * Three parts, one header:
 *   - pure rules: what synchronous_standby_names becomes with the witness
 *     in it (witness_ssn_compose) and which position a quorum lets it
 *     confirm (witness_gate_position); the replication messages
 *     (witness_wire_*);
 *   - the shared page between the daemon and the witness (witness_share_*):
 *     the fencing deadline (fed by the same calls that feed the fences), the
 *     armed flag, the quorum gate;
 *   - the process (witness_proc_*: started, watched and stopped by the
 *     daemon) and its main loop (witness_run).
 */
#ifndef PGW_WITNESS_H
#define PGW_WITNESS_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The witness's application_name: the name synchronous_standby_names lists.
 * Reserved: a member must not be called this (PostgreSQL compares the names
 * case-insensitively). */
#define WITNESS_APP_NAME "pgwarden_lease_witness"

#define WITNESS_GATE_NAMES_MAX 32
#define WITNESS_GATE_NAME_LEN  64

/*
 * The quorum gate: the positions the witness may confirm are also bounded
 * by what k of the named standbys (any standby but the witness when
 * any_name) report in pg_stat_replication. k == 0: no gate (the lease
 * alone decides).
 */
typedef struct WitnessGate
{
	int k;         /* standbys needed; 0 = no gate */
	bool any_name; /* '*': any standby except the witness */
	int n_names;
	char names[WITNESS_GATE_NAMES_MAX][WITNESS_GATE_NAME_LEN];
} WitnessGate;

/* ---- pure rules (gate.c) ------------------------------------------------ */

/*
 * witness_ssn_compose: synchronous_standby_names with the witness in it,
 * from base (what synchronous mode alone would set; PostgreSQL's syntax):
 *   ""                 -> "\"witness\""            gate none (async)
 *   "FIRST k (list)"   -> "FIRST k+1 (\"witness\", list)"   gate none
 *                         (a list of k names or fewer: every one of them is
 *                         needed, so the witness is, too; PostgreSQL's own
 *                         FIRST rule keeps the standbys' part)
 *   "ANY k (list)"     -> "\"witness\""            gate k of list
 *   "*"                -> "\"witness\""            gate 1 of any other
 * FIRST/ANY cannot say "the witness AND any k", so in quorum mode the
 * witness itself waits for k of the list (witness_gate_position). Writes
 * ssn (NUL-terminated, at most ssn_len) and *gate. Returns 0, or
 * PGW_EINVAL (base has a form we do not compose: a FIRST list longer than
 * its k, more than WITNESS_GATE_NAMES_MAX names, a name too long, a
 * syntax error) with err naming it.
 */
int witness_ssn_compose(const char *base, const char *app, char *ssn,
                        size_t ssn_len, WitnessGate *gate,
                        PgwError *err) PGW_MUSTCHECK;

/*
 * witness_ssn_decompose: the base a value composed above came from, for a
 * daemon restarted over its own configuration file: "FIRST k+1 (witness,
 * list)" -> "FIRST k (list)"; "witness" alone -> "" with *gate_unknown set
 * (async, quorum and "*" all compose to it, so its gate is unknown until the
 * leader sets it again: confirm nothing meanwhile). A value that does not
 * name the witness first is its own base (*named false). Returns 0 or
 * PGW_EINVAL (base_len too small).
 */
int witness_ssn_decompose(const char *ssn, const char *app, char *base,
                          size_t base_len, bool *named,
                          bool *gate_unknown) PGW_MUSTCHECK;

/* A gate nothing satisfies: the gate is unknown, confirm nothing. */
#define WITNESS_GATE_UNKNOWN_K (WITNESS_GATE_NAMES_MAX + 1)

/* One standby as pg_stat_replication shows it. */
typedef struct WitnessStandby
{
	const char *application_name;
	bool streaming; /* state 'streaming' or 'stopping' */
	uint64_t write_lsn;
	uint64_t flush_lsn;
	uint64_t replay_lsn;
} WitnessStandby;

/* Positions the witness reports (write, flush, apply). */
typedef struct WitnessPositions
{
	uint64_t write;
	uint64_t flush;
	uint64_t apply;
} WitnessPositions;

/*
 * witness_gate_position: what the witness may confirm when it has received
 * WAL up to received: received itself without a gate; with one, for each
 * of write/flush/apply the k-th highest position among the gate's streaming
 * standbys (PostgreSQL's ANY rule), never above received; 0 when fewer than
 * k of them stream. The witness itself (self_name) never counts. Pure.
 */
WitnessPositions witness_gate_position(const WitnessGate *g,
                                       const char *self_name,
                                       const WitnessStandby *s, int n,
                                       uint64_t received);

/*
 * witness_may_confirm: the lease rule, checked at the moment of a reply:
 * armed (we hold the key and run a writable primary) and now strictly
 * before the fencing deadline (0: none, never confirm). Pure.
 */
bool witness_may_confirm(bool armed, int64_t deadline_mono_ms,
                         int64_t now_mono_us);

/* ---- replication messages (wire.c), protocol facts of PostgreSQL 15 ---- */

typedef enum WitnessMsgKind
{
	WITNESS_MSG_XLOGDATA = 'w',  /* start, wal end, send time, data */
	WITNESS_MSG_KEEPALIVE = 'k', /* wal end, send time, reply requested */
} WitnessMsgKind;

typedef struct WitnessMsg
{
	WitnessMsgKind kind;
	uint64_t start_lsn;   /* 'w' */
	uint64_t wal_end;     /* both: the server's end of WAL */
	int64_t send_time_us; /* server clock, since 2000-01-01 */
	size_t data_len;      /* 'w': WAL bytes after the header */
	bool reply_requested; /* 'k' */
} WitnessMsg;

/*
 * witness_wire_decode: one CopyData payload from the server. Returns 0, or
 * PGW_EBADRESPONSE (unknown kind, short message) with err saying which.
 */
int witness_wire_decode(const char *buf, size_t len, WitnessMsg *out,
                        PgwError *err) PGW_MUSTCHECK;

#define WITNESS_REPLY_LEN 34

/* witness_wire_reply: the standby status update ('r'), into out[34]. */
void witness_wire_reply(const WitnessPositions *p, int64_t now_wall_us,
                        char out[WITNESS_REPLY_LEN]);

/* witness_pg_epoch_us: a wall-clock time (µs since 1970) as PostgreSQL's
 * (µs since 2000-01-01) */
int64_t witness_pg_epoch_us(int64_t unix_us);

/* ---- the shared page (share.c) ------------------------------------------ */

/*
 * witness_share_create: the daemon's page (a memfd, so the witness process
 * started later by fork and exec maps the same page). Call once, at start.
 * Returns 0 or PGW_EIO. Before it (and in every other program) the setters
 * below do nothing.
 */
int witness_share_create(PgwError *err) PGW_MUSTCHECK;

/*
 * witness_commit_page_create: the commit page (lease_page.h) that
 * PostgreSQL's commit check (pgwarden_lease.so) reads, as fname in the
 * directory dfd (the daemon's root-owned state directory): created 0644 as
 * "<fname>.new", then renamed over fname. From then on the deadline and
 * armed setters below feed it too. Call once, at start, before any thread
 * that calls them. Returns 0, PGW_EINVAL or PGW_EIO.
 */
int witness_commit_page_create(int dfd, const char *fname,
                               PgwError *err) PGW_MUSTCHECK;

/* The commit check PostgreSQL loads (witness/pg_lease/pgwarden_lease.c). */
#define WITNESS_COMMIT_LIB "pgwarden_lease.so"

/*
 * witness_commit_lib_find: the absolute path of pgwarden_lease.so, beside
 * the running binary (a build tree) or in ../lib/pgwarden (installed).
 * Returns 0, PGW_ENOTFOUND, PGW_EAUTH (a path PostgreSQL's list syntax
 * would need quoted past what we write, or a file others may write) or
 * PGW_EIO, naming where it looked.
 */
int witness_commit_lib_find(char *out, size_t len, PgwError *err) PGW_MUSTCHECK;

/* witness_share_fd: the page's descriptor (-1 without a page) */
int witness_share_fd(void);

/* witness_share_set_deadline / raise_deadline: what fence_set_deadline and
 * fence_raise_deadline get (raise only ever moves it later); lock-free,
 * safe on any thread. */
void witness_share_set_deadline(int64_t deadline_mono_ms);
void witness_share_raise_deadline(int64_t deadline_mono_ms);

/* witness_share_arm: what fence_arm gets: we hold the key and run a
 * writable primary. Wakes the witness. */
void witness_share_arm(bool armed);

/*
 * witness_share_set_gate: publish the quorum gate and wait (at most
 * timeout_ms) until the witness applies it to every later confirmation.
 * Without a page: 0 when g has no gate, else PGW_ESTATE. Returns 0,
 * PGW_ETIMEDOUT (no witness took it: is it running?) with err. Blocks;
 * timeout_ms 0 publishes without waiting (a witness started later takes
 * it before its first confirmation).
 */
int witness_share_set_gate(const WitnessGate *g, int timeout_ms,
                           PgwError *err) PGW_MUSTCHECK;

/* What the witness reports of itself (for the daemon's log and tests). */
typedef enum WitnessState
{
	WITNESS_IDLE = 0, /* not armed: no connection */
	WITNESS_CONNECTING,
	WITNESS_STREAMING, /* connected, confirming */
	WITNESS_REFUSING,  /* connected, the lease rule says no */
	WITNESS_FAILING,   /* cannot connect or stream (logged) */
} WitnessState;

typedef struct WitnessReport
{
	WitnessState state;
	uint64_t confirmed_lsn; /* the last flush position it confirmed */
	int pid;
} WitnessReport;

/* witness_share_report: read the witness's report (zero without a page) */
void witness_share_report(WitnessReport *out);

/* witness_share_state_name: "idle", "streaming", ... */
const char *witness_state_name(WitnessState s);

/* ---- the process, from the daemon (proc.c) ------------------------------ */

typedef struct WitnessProcConfig
{
	const char *bin;  /* pgwarden-witness; NULL: beside our binary */
	const char *node; /* member name, for its log lines */
	const char *host; /* PostgreSQL's socket directory */
	int port;
	const char *repl_user; /* the stream's role (REPLICATION) */
	const char *superuser; /* reads pg_stat_replication (quorum gate) */
	const char *passfile;  /* the daemon's pgpass file */
	const char *log_level; /* "info", ... */
} WitnessProcConfig;

/*
 * witness_proc_start: fork and exec the witness with the shared page on fd 3
 * and a parent-death signal (it dies with the daemon: call from the thread
 * that lives as long as the process). Returns 0, PGW_ESTATE (no page, or one
 * runs already), PGW_EIO (fork failed; the exec's failure shows as an early
 * exit).
 */
int witness_proc_start(const WitnessProcConfig *cfg,
                       PgwError *err) PGW_MUSTCHECK;

/*
 * witness_proc_check: true while it runs; false once it exited (reaped
 * here, *status set to waitpid's status when not NULL) or was never
 * started. Never blocks.
 */
bool witness_proc_check(int *status);

/* witness_proc_stop: SIGTERM, wait up to timeout_ms, then SIGKILL. */
void witness_proc_stop(int timeout_ms);

/* ---- the process itself (run.c) ---------------------------------------- */

typedef struct WitnessRunConfig
{
	int share_fd;
	const char *host;
	int port;
	const char *repl_user;
	const char *superuser;
	const char *passfile;
	const char *app_name;
	pid_t parent; /* exit when it is gone */
} WitnessRunConfig;

/* witness_run: the witness's loop; returns (the exit code) on SIGTERM, when
 * the parent is gone, or when the shared page cannot be used. */
int witness_run(const WitnessRunConfig *cfg);

#endif
