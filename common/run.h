/*
 * run.h: run a configured command with arguments, bounded in time (STYLE.md
 * "Commands and secrets"). Policy-free: used by the daemon's callbacks
 * (asynchronous) and by pre_promote (synchronous, the failover executor).
 * The command is a string from the configuration, split into words as a
 * shell would (quotes, backslashes; glibc's wordexp without command
 * substitution) but never run by a shell: Patroni splits it with shlex.
 * It runs as
 *   <word0> <word1>... <arg>...
 * as the PostgreSQL OS user (pgw_run_set_user; Patroni runs callbacks as
 * the user it runs as), with an environment built from an allowlist
 * (pgw_env_child), so the daemon's secrets and root never reach it
 * (security review F6, F7).
 */
#ifndef PGW_COMMON_RUN_H
#define PGW_COMMON_RUN_H

#include "common/compiler.h"
#include "common/error.h"

#include <sys/types.h>

/* After a timeout: SIGTERM to the process group, SIGKILL after this. */
#define PGW_RUN_KILL_GRACE_MS 2000

/*
 * pgw_run_set_user: the OS user commands run as from now on (NULL: the
 * daemon's own). Resolved once (getpwnam, the group list) so that the
 * forked child only calls setgroups/setgid/setuid. Call at start, before
 * the first command. Returns 0, PGW_EINVAL (unknown user, or root asked
 * to run commands as root: refused), PGW_EIO.
 */
int pgw_run_set_user(const char *user, PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_env_child: a child's environment: PATH, LANG, LANGUAGE, LC_*, TZ and
 * TMPDIR from ours, nothing else (no PGWARDEN_*, PGPASSWORD, credentials
 * of any kind), then extra ("NAME=value", NULL-terminated, may be NULL),
 * which replaces an allowed variable of the same name. Allocates: build it
 * before fork. Free with pgw_env_free.
 */
char **pgw_env_child(const char *const *extra);
void pgw_env_free(char **envp);

/* pgw_child_reset: in a forked child before exec: close every descriptor
 * >= 3, empty the signal mask, default every disposition (run.c says
 * why). Async-signal-safe. */
void pgw_child_reset(void);

/*
 * pgw_run_spawn: start cmd (split into words, see above) with args
 * (NULL-terminated, may be NULL) appended, in a new process group, as the
 * pgw_run_set_user user, with stdin on /dev/null, stdout/stderr inherited,
 * every other descriptor closed, signals unblocked and at their defaults,
 * cwd "/", and the pgw_env_child environment with that user's HOME, USER
 * and LOGNAME. Does not wait. Returns 0 and *pid_out, or PGW_EINVAL (empty
 * command, or one that does not split into words: unbalanced quotes,
 * command substitution, a shell operator), PGW_EIO (could not fork). A
 * program that cannot be executed exits 127. The caller reaps the child
 * with pgw_run_poll().
 */
int pgw_run_spawn(const char *cmd, const char *const *args, pid_t *pid_out,
                  PgwError *err) PGW_MUSTCHECK;

/*
 * pgw_run_poll: reap pid without blocking. Returns 1 when it exited (its
 * wait status in *wait_status, may be NULL), 0 while it runs, PGW_EIO when
 * it is not our child.
 */
int pgw_run_poll(pid_t pid, int *wait_status);

/* pgw_run_signal: send sig to pid's process group (and to pid itself). */
void pgw_run_signal(pid_t pid, int sig);

/*
 * pgw_run_exit_code: a wait status as one number: the exit code (0..255),
 * or 128 + the signal number when a signal ended the process (the shell's
 * convention).
 */
int pgw_run_exit_code(int wait_status);

/*
 * pgw_run_command: run cmd with args (as pgw_run_spawn) and
 * wait for it up to timeout_ms (<= 0: 30 s). After the timeout the process
 * group gets SIGTERM, then SIGKILL after PGW_RUN_KILL_GRACE_MS, and is
 * reaped. Returns 0 when the command ran to its end (*exit_status, may be
 * NULL, holds its exit code: non-zero is the caller's business, e.g. a
 * pre_promote veto), PGW_ETIMEDOUT when it was killed at the timeout,
 * PGW_EINVAL / PGW_EIO when it could not be started. Blocks the calling
 * thread up to timeout_ms + PGW_RUN_KILL_GRACE_MS.
 */
int pgw_run_command(const char *cmd, const char *const *args, int timeout_ms,
                    int *exit_status, PgwError *err) PGW_MUSTCHECK;

#endif
