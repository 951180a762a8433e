/*
 * proc.h: the shared test harness for integration and chaos tests: free
 * loopback ports, private temp dirs, child processes that are always stopped
 * (an atexit hook and a fatal-signal hook kill every process a test spawned,
 * pass or fail), and bounded polls instead of sleeps (STYLE.md, "Tests").
 */
#ifndef PGW_TESTS_HARNESS_PROC_H
#define PGW_TESTS_HARNESS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* harness_init: install the cleanup hooks; call first in main(). */
void harness_init(const char *test_name);

/*
 * harness_free_port: a TCP port on 127.0.0.1 that nothing listens on, below
 * 32768 (etcd notes, pitfall 18: ephemeral ports collide), distinct from any
 * returned before in this process.
 */
int harness_free_port(void);

/* harness_tmpdir: a fresh directory under $TMPDIR (removed at exit unless
 * PGW_TEST_KEEP=1); caller frees the string. */
char *harness_tmpdir(const char *tag);

/* harness_run_user: the unprivileged OS user to run PostgreSQL as when the
 * test runs as root ("pgwarden", or $PGW_TEST_PG_USER); NULL when not root. */
const char *harness_run_user(void);

/*
 * harness_spawn: start argv[0] (PATH searched) with stdout and stderr to
 * log_path (appended), as user (NULL: as ourselves), in its own process
 * group. The child gets PR_SET_PDEATHSIG so it dies with the test. The pid is
 * registered for cleanup. Returns the pid or -1.
 */
pid_t harness_spawn(char *const argv[], const char *log_path, const char *user);

/* harness_kill: send sig to pid's process group, wait up to timeout_ms for
 * it to exit (reaping it), SIGKILL after that. Unregisters the pid. */
void harness_kill(pid_t pid, int sig, int timeout_ms);

/* harness_alive: the process exists and is not a zombie. */
bool harness_alive(pid_t pid);

/* harness_register_cleanup: run cmd (via /bin/sh) at exit, in reverse order
 * of registration; for things that are not processes (netns, pg_ctl stop). */
void harness_register_cleanup(const char *shell_cmd);

/* harness_run: run argv to completion (as user, NULL = ourselves), bounded by
 * timeout_ms; output to log_path (NULL: /dev/null). Returns the exit status,
 * or -1 on timeout / spawn failure. */
int harness_run(char *const argv[], const char *log_path, const char *user,
                int timeout_ms);

/* harness_wait_port: poll until 127.0.0.1:port accepts, up to timeout_ms. */
bool harness_wait_port(int port, int timeout_ms);

/*
 * HARNESS_POLL: evaluate cond every interval_ms until true or timeout_ms has
 * passed; evaluates to the final truth value. Never a bare sleep.
 */
int64_t harness_now_ms(void);
void harness_sleep_ms(int ms);
#define HARNESS_POLL(cond, timeout_ms, interval_ms)                            \
	({                                                                         \
		int64_t _deadline = harness_now_ms() + (timeout_ms);                   \
		bool _ok;                                                              \
		while (!(_ok = (cond)) && harness_now_ms() < _deadline)                \
			harness_sleep_ms(interval_ms);                                     \
		_ok;                                                                   \
	})

/* harness_timeout_mult: $PGW_TEST_TIMEOUT_MULT (default 1). */
int harness_timeout_mult(void);

#endif
