/*
 * lease_witness.c: the daemon's side of the lease witness (issue 19,
 * witness/witness.h; DESIGN.md promise 1). When the cluster's `config` says
 * lease_checked_commits, every node runs a pgwarden-witness process (idle
 * until this node leads with a writable primary: the fences' armed flag) and
 * names it in synchronous_standby_names, so that whichever node is promoted
 * starts with commits that wait for it. The witness reads the fences'
 * deadline from the page fence.c feeds; this file only starts, watches and
 * stops the process and turns the naming on and off, once per turn in the
 * observe phase (before any step may start PostgreSQL).
 */
#include "daemon/daemon_loop.h"
#include "daemon/lease_witness.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "daemon/fast_release.h"
#include "health/health.h"
#include "witness/lease_page.h"
#include "witness/witness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESPAWN_MIN_MS 1000
#define RESPAWN_MAX_MS 10000
#define STOP_WAIT_MS   2000

static bool want_on; /* the config asks for it (last valid view) */
static bool was_on;  /* want_on of the last turn */
static bool running; /* the process runs */
static int64_t respawn_at_mono_ms;
static int64_t respawn_ms;
static char last_spawn_error[PGW_ERROR_MSG_MAX];

static char commit_lib[PATH_MAX];  /* "": no commit check */
static char commit_page[PATH_MAX]; /* where the commit page is */
static char commit_off_why[PGW_ERROR_MSG_MAX];

/* commit_page_open: the page in the state directory and the library that
 * reads it; on failure, why the commit check stays off */
static void
commit_page_open(const NodeConfig *cfg)
{
	const char *dir = release_state_dir(cfg);
	char fname[256];
	struct stat st;
	PgwError e = {0};
	int dfd;

	if ((dfd = release_state_dir_open(dir, true, &e)) < 0)
		goto off;
	/* the PostgreSQL user reaches the page by its name: search, not list */
	if (fstat(dfd, &st) != 0 || ((st.st_mode & 0011) != 0011 &&
	                             fchmod(dfd, (st.st_mode & 07777) | 0011) != 0))
	{
		pgw_error_set(&e, PGW_EIO,
		              "could not let others search state directory \"%s\": %s",
		              dir, strerror(errno));
		close(dfd);
		goto off;
	}
	if ((size_t) snprintf(fname, sizeof(fname), "%s.%s%s", cfg->scope,
	                      cfg->name, LEASE_PAGE_SUFFIX) >= sizeof(fname) ||
	    (size_t) snprintf(commit_page, sizeof(commit_page), "%s/%s", dir,
	                      fname) >= sizeof(commit_page))
	{
		pgw_error_set(&e, PGW_EINVAL, "commit page path too long");
		close(dfd);
		goto off;
	}
	if (witness_commit_page_create(dfd, fname, &e) != 0)
	{
		close(dfd);
		goto off;
	}
	close(dfd);
	if (witness_commit_lib_find(commit_lib, sizeof(commit_lib), &e) != 0)
		goto off;
	log_debug("witness.commit-page", "page=%s library=%s", commit_page,
	          commit_lib);
	return;
off:
	commit_lib[0] = '\0';
	memcpy(commit_off_why, e.msg, sizeof(commit_off_why));
}

int
lease_witness_open(const NodeConfig *cfg, PgwError *err)
{
	int rc = witness_share_create(err);

	if (rc == 0)
		commit_page_open(cfg);
	return rc;
}

static const char *
level_name(LogLevel l)
{
	switch (l)
	{
		case LOG_LEVEL_DEBUG:
			return "debug";
		case LOG_LEVEL_WARN:
			return "warn";
		case LOG_LEVEL_ERROR:
			return "error";
		default:
			return "info";
	}
}

/* keep_running: start it, or again after it exited (with a back-off) */
static void
keep_running(Daemon *d)
{
	WitnessProcConfig pc = {0};
	HealthWitnessConn hc;
	PgwError err = {0};
	int status = 0;
	int64_t now = pgw_now_mono_ms();

	if (running)
	{
		if (witness_proc_check(&status))
			return;
		running = false;
		log_error("witness.exited",
		          "status=%d signal=%d action=restart-commits-wait",
		          WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		respawn_ms = respawn_ms == 0
		                 ? RESPAWN_MIN_MS
		                 : (respawn_ms * 2 > RESPAWN_MAX_MS ? RESPAWN_MAX_MS
		                                                    : respawn_ms * 2);
		respawn_at_mono_ms = now + respawn_ms;
	}
	if (now < respawn_at_mono_ms)
		return;
	health_control_witness_conn(failover_exec_control(d->exec), &hc);
	pc.node = d->cfg->name;
	pc.host = hc.host;
	pc.port = hc.port;
	pc.repl_user = hc.repl_user;
	pc.superuser = hc.superuser;
	pc.passfile = hc.passfile;
	pc.log_level = level_name(d->cfg->log_level);
	if (witness_proc_start(&pc, &err) != 0)
	{
		if (strcmp(err.msg, last_spawn_error) != 0)
			log_error("witness.start-failed",
			          "detail=\"%s\" action=retry-commits-wait", err.msg);
		memcpy(last_spawn_error, err.msg, sizeof(last_spawn_error));
		respawn_ms = RESPAWN_MAX_MS;
		respawn_at_mono_ms = now + respawn_ms;
		return;
	}
	last_spawn_error[0] = '\0';
	running = true;
}

void
lease_witness_follow(Daemon *d)
{
	const ClusterView *v = d->view;
	PgControl *pg = failover_exec_control(d->exec);
	PgwError err = {0};
	bool changed = false;

	/* garbage in `config` is read as the defaults: keep the last choice */
	if (d->view_valid && (!v->has_config || v->config_is_valid))
		want_on = v->config.lease_checked_commits;
	if (want_on)
		keep_running(d);
	if (want_on && !was_on && commit_lib[0] == '\0')
		log_error("witness.commit-check-off",
		          "detail=\"%s\" action=witness-alone", commit_off_why);
	was_on = want_on;
	health_control_set_commit_check(pg, commit_lib[0] ? commit_lib : NULL,
	                                commit_page);
	/* a no-op when the file already says so (after a restart too) */
	if (health_control_set_witness(pg, want_on, &changed, &err) != 0)
	{
		log_warn("witness.naming-failed", "on=%d detail=\"%s\" action=retry",
		         want_on, err.msg);
		return;
	}
	if (changed)
	{
		PgwError e2 = {0};
		bool reloaded = health_control_reload(pg, &e2) == 0;

		log_info(want_on ? "witness.on" : "witness.off",
		         "synchronous_standby_names=%s reload=%s",
		         want_on ? "names-the-witness" : "without-the-witness",
		         reloaded ? "yes" : "not-running");
		/* a quorum gate the new value no longer has is lifted after it */
		if (health_control_witness_gate_settle(pg, &err) != 0)
			log_warn("witness.gate-failed", "detail=\"%s\" action=retry",
			         err.msg);
	}
	if (!want_on && running)
	{
		witness_proc_stop(STOP_WAIT_MS);
		running = false;
		respawn_ms = 0;
		log_info("witness.stopped", "reason=lease_checked_commits-off");
	}
}

void
lease_witness_close(void)
{
	if (running)
		witness_proc_stop(STOP_WAIT_MS);
	running = false;
}
