/*
 * fence_release.c: the fence watchdog gives the leader key up once its
 * daemon died and it killed the postmaster (fast_release.h, issue 21).
 *
 * Why it may: the key says "this node writes"; the watchdog has just killed
 * every PostgreSQL process of the node and sees the postmaster gone, and no
 * daemon is left to start another. Waiting out the lease then only keeps
 * the cluster without a writer (9.2 s at ttl 10, measured before this).
 *
 * How it reaches etcd: the watchdog was forked before the daemon had any
 * thread or had initialised gRPC (pitfall 11: a fork after grpc_init is
 * unsafe). Until its daemon dies it stays single-threaded and holds no
 * connection. Only then does it open an etcd client of its own, through
 * the same consensus/ code and with the same endpoints, TLS files and
 * credentials as the daemon (copied by the fork), so there is no second
 * etcd protocol to keep right and nothing idle costs memory or a
 * connection while the daemon lives. The price is a connect (and a TLS
 * handshake, an authentication) at the moment of need: milliseconds.
 *
 * What it may delete: the key only while it holds our name on the lease
 * the daemon last reported holding it on (one txn, value and lease
 * compared): a key another member took, or our name on another lease,
 * stays. Every call is bounded by budget_ms; etcd out of reach means the
 * lease expires as it always did. Fencing came first and did not wait.
 */
#include "daemon/fast_release.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* pm_gone: pid has exited (no such process, or a zombie: it runs no code) */
static bool
pm_gone(int pid)
{
	char path[64];
	char buf[512];
	const char *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 || errno == ESRCH;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

void
fence_release_config_fill(FenceReleaseConfig *rc, const NodeConfig *cfg,
                          const char *prefix)
{
	memset(rc, 0, sizeof(*rc));
	rc->etcd.endpoints = cfg->etcd_hosts;
	rc->etcd.ca_file = cfg->etcd_cacert;
	rc->etcd.cert_file = cfg->etcd_cert;
	rc->etcd.key_file = cfg->etcd_key;
	rc->etcd.username = cfg->etcd_username;
	rc->etcd.password = cfg->etcd_password;
	rc->prefix = prefix;
	rc->scope = cfg->scope;
	rc->name = cfg->name;
	rc->state_dir = release_state_dir(cfg);
}

int
fence_release_after_death(const FenceReleaseConfig *rc, int pm_pid,
                          int64_t lease_id, int budget_ms)
{
	int64_t t0 = pgw_now_mono_ms();
	int64_t gone_ms;
	EtcdClientConfig ec = rc->etcd;
	EtcdClient *c = NULL;
	PgwError err = {0};
	ReleaseRecord r = {0};
	int res;

	if (budget_ms <= 0)
		budget_ms = FENCE_RELEASE_BUDGET_MS_DEFAULT;
	/* the proof first: no process of that PostgreSQL runs any more */
	while (pm_pid > 0 && !pm_gone(pm_pid))
	{
		if (pgw_now_mono_ms() - t0 >= FENCE_PM_GONE_WAIT_MS)
		{
			log_error(
			    "fence.release-skipped",
			    "lease=%" PRIx64 " pid=%d waited_ms=%" PRId64
			    " detail=\"the postmaster is still alive\" action=lease-expires",
			    (uint64_t) lease_id, pm_pid, pgw_now_mono_ms() - t0);
			return PGW_ESTATE;
		}
		pgw_sleep_ms(2);
	}
	gone_ms = pgw_now_mono_ms() - t0;
	ec.call_timeout_ms = budget_ms;
	if (ec.dial_timeout_ms <= 0 || ec.dial_timeout_ms > budget_ms)
		ec.dial_timeout_ms = budget_ms;
	if ((res = etcd_client_open(&ec, &c, &err)) == 0)
		res = dcs_leader_release_owned(c, rc->prefix, rc->name, lease_id, &err);
	if (res == 0)
	{
		log_warn("fence.released",
		         "lease=%" PRIx64
		         " key=%sleader reason=daemon-died pm_gone_ms=%" PRId64
		         " took_ms=%" PRId64,
		         (uint64_t) lease_id, rc->prefix, gone_ms,
		         pgw_now_mono_ms() - t0);
		r.lease_id = lease_id;
		r.released_mono_ms = pgw_now_mono_ms();
		pgw_strlcpy(r.by, "fence", sizeof(r.by));
		pgw_strlcpy(r.reason, "daemon-died", sizeof(r.reason));
		if (release_record_write(rc->state_dir, rc->scope, rc->name, &r,
		                         &err) != 0)
			log_warn("release.record-failed", "detail=\"%s\"", err.msg);
	}
	else if (res == PGW_ECONFLICT)
		log_warn("fence.release-refused",
		         "lease=%" PRIx64 " detail=\"%s\" action=none",
		         (uint64_t) lease_id, err.msg);
	else
		log_error("fence.release-failed",
		          "lease=%" PRIx64 " error=%s took_ms=%" PRId64
		          " detail=\"%s\" action=lease-expires",
		          (uint64_t) lease_id, pgw_strerror(res),
		          pgw_now_mono_ms() - t0, err.msg);
	etcd_client_close(c);
	return res;
}
