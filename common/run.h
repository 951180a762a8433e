/*
 * run.h: run a configured shell command with arguments, bounded in time
 * (STYLE.md "Commands and secrets"). Policy-free: used by the daemon's
 * callbacks (asynchronous) and by pre_promote (synchronous, the failover
 * executor). The command is a string from the configuration; it runs as
 *   /bin/sh -c '<cmd> "$@"' <name> <arg>...
 * so the arguments are never pasted into the shell text.
 */
#ifndef PGW_COMMON_RUN_H
#define PGW_COMMON_RUN_H

#include "common/compiler.h"
#include "common/error.h"

#include <sys/types.h>

/* After a timeout: SIGTERM to the process group, SIGKILL after this. */
#define PGW_RUN_KILL_GRACE_MS 2000

/*
 * pgw_run_spawn: start cmd with args (NULL-terminated, may be NULL) in a new
 * process group, with stdin on /dev/null, stdout/stderr inherited, every
 * other descriptor closed, signals unblocked and at their defaults. Does
 * not wait (posix_spawn: no copy of the parent's memory). name is $0 of the
 * shell ("pgwarden-callback"). Returns 0 and *pid_out, or PGW_EINVAL (empty
 * command), PGW_EIO (could not spawn). The caller reaps the child with
 * pgw_run_poll().
 */
int			pgw_run_spawn(const char *cmd, const char *name,
						  const char *const *args, pid_t *pid_out,
						  PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_run_poll: reap pid without blocking. Returns 1 when it exited (its
 * wait status in *wait_status, may be NULL), 0 while it runs, PGW_EIO when
 * it is not our child.
 */
int			pgw_run_poll(pid_t pid, int *wait_status);

/* pgw_run_signal: send sig to pid's process group (and to pid itself). */
void		pgw_run_signal(pid_t pid, int sig);

/*
 * pgw_run_exit_code: a wait status as one number: the exit code (0..255),
 * or 128 + the signal number when a signal ended the process (the shell's
 * convention).
 */
int			pgw_run_exit_code(int wait_status);

/*
 * pgw_run_command: run cmd with args (as pgw_run_spawn, $0 "pgwarden") and
 * wait for it up to timeout_ms (<= 0: 30 s). After the timeout the process
 * group gets SIGTERM, then SIGKILL after PGW_RUN_KILL_GRACE_MS, and is
 * reaped. Returns 0 when the command ran to its end (*exit_status, may be
 * NULL, holds its exit code: non-zero is the caller's business, e.g. a
 * pre_promote veto), PGW_ETIMEDOUT when it was killed at the timeout,
 * PGW_EINVAL / PGW_EIO when it could not be started. Blocks the calling
 * thread up to timeout_ms + PGW_RUN_KILL_GRACE_MS.
 */
int			pgw_run_command(const char *cmd, const char *const *args,
							int timeout_ms, int *exit_status,
							PgwError *err) PGW_MUSTCHECK;

#endif
