/*
 * health_int.h: shared inside health/ only (STYLE.md, "Headers"): a growing
 * string, file writing, libpq calls bounded by deadlines, and running
 * PostgreSQL programs from argument vectors as the unprivileged user.
 */
#ifndef PGW_HEALTH_HEALTH_INT_H
#define PGW_HEALTH_HEALTH_INT_H

#include "health/health.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct StrBuf
{
	char *data;
	size_t len;
	size_t cap;
} StrBuf;

void sbuf_init(StrBuf *b);
void sbuf_putn(StrBuf *b, const char *s, size_t n);
void sbuf_puts(StrBuf *b, const char *s);
void sbuf_putc(StrBuf *b, char c);
void sbuf_printf(StrBuf *b, const char *fmt, ...) PGW_PRINTF(2, 3);

/* conninfo.c */
/* health_pgpass_line: "host:port:*:user:password\n" with ':' and '\\'
 * escaped; PGW_EINVAL for a newline or an empty host (security review
 * F12: never "*:*:*", which offers the password to any host asked) */
int health_pgpass_line(StrBuf *b, const char *host, int port, const char *user,
                       const char *password);
int write_file_atomic(const char *path, const char *data, size_t len, int mode,
                      uid_t uid, gid_t gid, PgwError *err);
int conf_render(StrBuf *b, const char *header, const HealthParam *params, int n,
                PgwError *err);

/* pgconn.c: libpq with client-side deadlines */
#define PGC_MAX_RESULTS 4

/*
 * pgc_connect: PQconnectStartParams + PQconnectPoll bounded by timeout_ms.
 * Returns a connection in CONNECTION_OK, or NULL with *why and err filled.
 */
PGconn *pgc_connect(const char *const *keys, const char *const *values,
                    int timeout_ms, HealthUnreachable *why, PgwError *err);

/*
 * pgc_exec: send sql (simple protocol, may hold several statements; or one
 * statement with text params when nparams > 0), collect up to
 * PGC_MAX_RESULTS results within timeout_ms. On timeout the query is
 * cancelled and PGW_ETIMEDOUT returned (drop the connection). Any result
 * that is not COMMAND_OK/TUPLES_OK fails with the server's message, and
 * *sqlstate (may be NULL, 6 bytes) set. Caller PQclears res[0..*nres).
 */
int pgc_exec(PGconn *conn, const char *sql, int nparams,
             const char *const *params, int timeout_ms, PGresult **res,
             int *nres, char *sqlstate, PgwError *err);
void pgc_clear(PGresult **res, int nres);

/* pgc_classify: map a libpq/server error message to a reason. */
HealthUnreachable pgc_classify(const char *msg);
int pgc_reason_code(HealthUnreachable why);

/* pgc_one_line: copy msg into buf with newlines folded. */
void pgc_one_line(const char *msg, char *buf, size_t len);

/* run.c: external programs */
typedef struct RunAs
{
	bool drop; /* setuid/setgid in the child */
	uid_t uid;
	gid_t gid;
	const char *user; /* for initgroups, HOME */
	const char *home;
} RunAs;

/*
 * run_program: fork, drop to `as`, exec argv[0] (absolute path) with env
 * additions (NAME=value, NULL-terminated, may be NULL); log the command
 * first (event pg.exec); capture stdout+stderr (the last 8 kB kept in
 * *out when out != NULL, caller frees out->data). Bounded by timeout_ms
 * (process group killed). A pending SIGTERM or SIGINT (the daemon blocks
 * them) stops the program: SIGTERM to its group, SIGKILL after 5 s,
 * PGW_ECANCELED. Past 30 s it logs pg.exec.running every 30 s. Returns 0
 * when it exited 0; PGW_EIO with the output tail in err otherwise
 * (PGW_ETIMEDOUT on the bound).
 */
int run_program(const char *const *argv, const RunAs *as,
                const char *const *env, int timeout_ms, StrBuf *out,
                PgwError *err);

/* child_fail: in a forked child: write msg to stderr, _exit(126) */
void child_fail(const char *msg) PGW_NORETURN;

/* child_env_build: the environment for a child, built before fork: the
 * allowlist of ours (common/run.h pgw_env_child: PATH, LANG, LC_*, TZ,
 * TMPDIR), LC_ALL=C, HOME and USER/LOGNAME when given, then extra
 * ("NAME=value", NULL-terminated, may be NULL) over any same name.
 * Free with free_env. */
char **child_env_build(const char *home, const char *user,
                       const char *const *extra);
void free_env(char **envp);

/* tail of s (last n bytes, on a line start when possible, newlines as " | ") */
void text_tail(const char *s, char *buf, size_t len);

/* pid helpers */
bool pid_alive(pid_t pid); /* exists and not a zombie */
bool pid_is_postgres(pid_t pid);

/* control_startup_pid: the startup process among postmaster's children
 * (0: none, e.g. once recovery ended). */
pid_t control_startup_pid(pid_t postmaster);

/* control_parent_is: pid's parent is parent (reads /proc/pid/stat) */
bool control_parent_is(pid_t pid, pid_t parent);

/*
 * read_postmaster_pid: pid (line 1) and status (line 8) of
 * data_dir/postmaster.pid. Returns false when absent or unreadable.
 */
bool read_postmaster_pid(const char *data_dir, pid_t *pid, char *state,
                         size_t state_len);

#endif
