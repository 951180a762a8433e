/*
 * control_int.h: the PgControl handle, shared by control.c (process
 * lifecycle and our configuration files) and actions.c (bootstrap, clone,
 * promote, demote, rewind, slots, sync). Inside health/ only.
 */
#ifndef PGW_HEALTH_CONTROL_INT_H
#define PGW_HEALTH_CONTROL_INT_H

#include "health/health_int.h"

#define PGW_CONF_FILE "postgresql.pgwarden.conf"

struct PgControl
{
	char *bin_dir;
	char *data_dir;
	int port;
	char *listen;
	char *socket_dir;
	char *run_as;
	char *member;
	char *superuser;
	char *su_password;
	char *repl_user;
	char *repl_password;
	char *pgpass;
	char *log_path;
	HealthParam *params;
	int n_params;
	bool params_unwritten; /* set_params could not write them yet */
	char **hba;
	int n_hba;
	char **hba_append; /* after the default lines */
	int n_hba_append;
	int cmd_timeout_ms;
	bool no_sync;

	/* hosts the pgpass file names (security review F12: never "*:*:*"):
	 * "localhost" for the socket, then the upstreams we connected to */
	char pgpass_host[16][256];
	int pgpass_port[16];
	int n_pgpass;

	RunAs as; /* how programs run */
	char home[1024];

	pid_t child; /* our postmaster, 0 if none */

	/* settings pgwarden manages, re-read from our file at open */
	char *primary_conninfo; /* NULL: not a standby */
	char *primary_slot;
	char *sync_names;   /* synchronous_standby_names; NULL unset */
	char *witness_app;  /* lease witness in it (lease_ssn.c); NULL: off */
	int witness_gate_k; /* the quorum gate we last gave the witness */
	char *commit_lib;   /* pgwarden_lease.so while the witness is on */
	char *commit_page;  /* the daemon's commit page it reads */

	/* opened by health_control_standby_prepare() for wait_received() */
	PGconn *standby_conn;
	char standby_host[256];
	int standby_port;
};

/* control.c */
int control_write_conf(PgControl *c, PgwError *err);
int control_write_hba(PgControl *c, PgwError *err);
/* datafiles.c: files in and beside the data directory (see its header) */
int control_ensure_include(PgControl *c, PgwError *err);
int control_data_dirfd(PgControl *c, PgwError *err);
int control_write_data_file(PgControl *c, const char *name, const char *data,
                            size_t len, PgwError *err);
int control_unlink_data_file(PgControl *c, const char *name, PgwError *err);
int control_open_log(PgControl *c, PgwError *err);
bool control_pid_trusted(PgControl *c, pid_t pid);
int control_pgpass_write(PgControl *c, PgwError *err);
int control_pgpass_allow(PgControl *c, const char *host, int port,
                         PgwError *err);
void control_pgpass_allow_conninfo(PgControl *c, const char *conninfo);
int control_set_standby(PgControl *c, const HealthUpstream *leader,
                        PgwError *err);
int control_write_signal(PgControl *c, bool standby, PgwError *err);
int control_ensure_dir(PgControl *c, const char *path, int mode,
                       const char *key, bool must_own, PgwError *err);
bool control_dir_empty(const char *path);
void control_empty_dir(const char *path);
PGconn *control_connect_local(PgControl *c, int timeout_ms, PgwError *err);
PGconn *control_connect_remote(PgControl *c, const HealthUpstream *up,
                               bool replication, int timeout_ms, PgwError *err);
void control_bin(PgControl *c, const char *prog, char *buf, size_t len);
pid_t control_running_pid(PgControl *c, bool *is_child);

/* lease_ssn.c: synchronous_standby_names with the lease witness in it */
struct WitnessGate;
int control_commit_check_render(PgControl *c, StrBuf *b, PgwError *err);
int control_sync_names_effective(PgControl *c, char *out, size_t len,
                                 struct WitnessGate *gate, bool *has,
                                 PgwError *err);
int control_witness_gate_before(PgControl *c, const struct WitnessGate *g,
                                PgwError *err);
int control_witness_gate_after(PgControl *c, const struct WitnessGate *g,
                               PgwError *err);
void control_witness_load(PgControl *c);

/* control_clear_stale_pidfile: remove a postmaster.pid whose PID no longer
 * runs in the data directory, when no process works there at all */
void control_clear_stale_pidfile(PgControl *c);

#endif
