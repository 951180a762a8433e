/*
 * test_daemon_fence_release.c: the fence watchdog's release of the leader
 * key (daemon/fence_release.c, issue 21) against real etcd 3.4, each
 * attempt in a process forked from a parent that never initialised gRPC,
 * as the watchdog is forked from the daemon. Checked:
 *   - the key is deleted only while it holds our name on our lease: held by
 *     another member, or by our name on another lease, or gone, it stays
 *     as it was (PGW_ECONFLICT, the message names the holder);
 *   - the released key's record is written in the state directory;
 *   - the same TLS client certificate and the same etcd user as the
 *     daemon's are used (a TLS etcd; an etcd with auth enabled: refused
 *     without the password, released with it);
 *   - a postmaster that is still alive keeps the key (no proof);
 *   - an etcd that does not answer (a listener that never speaks) or is not
 *     there costs at most the budget, and the key stays.
 * The time of a cold release (fork, gRPC init, connect, txn) is printed.
 */
#include "daemon/fast_release.h"
#include "tests/harness/etcd_harness.h"
#include "tests/harness/proc.h"

#include "common/pgwtime.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                            \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
			        #cond);                                                    \
			exit(1);                                                           \
		}                                                                      \
	} while (0)

#define PREFIX "/service/fr/"
#define KEY    PREFIX "leader"

static int mult = 1;
static char *state_dir;

typedef struct Target
{
	const char *endpoints;
	EtcdCluster *tls_from; /* client certificate from this cluster */
	const char *user;
	const char *password;
} Target;

static EtcdClientConfig
client_config(const Target *t)
{
	EtcdClientConfig cfg = {0};

	cfg.endpoints = t->endpoints;
	cfg.call_timeout_ms = 3000 * mult;
	if (t->tls_from != NULL)
	{
		cfg.ca_file = etcd_harness_ca_file(t->tls_from);
		cfg.cert_file = etcd_harness_client_cert_file(t->tls_from);
		cfg.key_file = etcd_harness_client_key_file(t->tls_from);
	}
	cfg.username = t->user;
	cfg.password = t->password;
	return cfg;
}

/*
 * In a child: put KEY = value on a fresh lease (0: no key) and write the
 * lease id to fd. The parent never touches gRPC.
 */
static int64_t
setup_key(const Target *t, const char *value)
{
	int p[2];
	pid_t pid;
	int64_t lease = 0;
	int status;

	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
	{
		EtcdClientConfig cfg = client_config(t);
		EtcdClient *c = NULL;
		PgwError err = {0};
		int64_t id = 0, ttl;

		close(p[0]);
		if (etcd_client_open(&cfg, &c, &err) != 0 ||
		    etcd_delete(c, KEY, false, NULL, &err) != 0 ||
		    (value != NULL && (etcd_lease_grant(c, 60, &id, &ttl, &err) != 0 ||
		                       etcd_put(c, KEY, value, strlen(value), id, NULL,
		                                NULL, &err) != 0)))
		{
			fprintf(stderr, "setup: %s\n", err.msg);
			_exit(1);
		}
		if (write(p[1], &id, sizeof(id)) != sizeof(id))
			_exit(1);
		etcd_client_close(c);
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], &lease, sizeof(lease)) == sizeof(lease));
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	return lease;
}

/* In a child: KEY's value ("" when absent) and lease, into buf / *lease. */
static void
read_key(const Target *t, char *buf, size_t len, int64_t *lease)
{
	int p[2];
	pid_t pid;
	int status;
	struct
	{
		int64_t lease;
		char value[64];
	} out;

	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
	{
		EtcdClientConfig cfg = client_config(t);
		EtcdClient *c = NULL;
		EtcdRangeResult r = {0};
		PgwError err = {0};

		close(p[0]);
		memset(&out, 0, sizeof(out));
		if (etcd_client_open(&cfg, &c, &err) != 0 ||
		    etcd_range(c, KEY, false, 0, false, &r, &err) != 0)
		{
			fprintf(stderr, "read: %s\n", err.msg);
			_exit(1);
		}
		if (r.count == 1)
		{
			out.lease = r.kvs[0].lease;
			snprintf(out.value, sizeof(out.value), "%s", r.kvs[0].value);
		}
		etcd_range_result_free(&r);
		if (write(p[1], &out, sizeof(out)) != sizeof(out))
			_exit(1);
		etcd_client_close(c);
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], &out, sizeof(out)) == sizeof(out));
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	snprintf(buf, len, "%s", out.value);
	*lease = out.lease;
}

/* In a child, as the watchdog does: the release; its result and duration. */
static int
release_in_child(const Target *t, const char *name, int64_t lease, int pm_pid,
                 int budget_ms, int64_t *took_ms)
{
	FenceReleaseConfig rc = {0};
	int p[2];
	pid_t pid;
	int status;
	int res = 1;
	int64_t t0 = pgw_now_mono_ms();

	rc.etcd = client_config(t);
	rc.prefix = PREFIX;
	rc.scope = "fr";
	rc.name = name;
	rc.state_dir = state_dir;
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
	{
		close(p[0]);
		res = fence_release_after_death(&rc, pm_pid, lease, budget_ms);
		if (write(p[1], &res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], &res, sizeof(res)) == sizeof(res));
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	*took_ms = pgw_now_mono_ms() - t0;
	return res;
}

static void
expect_key(const Target *t, const char *value, int64_t lease)
{
	char v[64];
	int64_t l;

	read_key(t, v, sizeof(v), &l);
	if (strcmp(v, value) != 0 || l != lease)
	{
		fprintf(stderr,
		        "key %s is \"%s\" on %" PRIx64 ", want \"%s\" on %" PRIx64 "\n",
		        KEY, v, (uint64_t) l, value, (uint64_t) lease);
		exit(1);
	}
}

static void
test_compares(const Target *t, const char *label)
{
	int64_t l1, l2, took;
	int rc;
	ReleaseRecord rec;
	PgwError err = {0};

	/* held by another member: never deleted */
	l1 = setup_key(t, "node2");
	rc = release_in_child(t, "node1", l1, 0, 2000, &took);
	CHECK(rc == PGW_ECONFLICT);
	expect_key(t, "node2", l1);
	printf("ok %s: a key held by another member stays (%" PRId64 " ms)\n",
	       label, took);

	/* our name on another lease (an earlier or later incarnation) */
	l2 = setup_key(t, "node1");
	rc = release_in_child(t, "node1", l2 + 1, 0, 2000, &took);
	CHECK(rc == PGW_ECONFLICT);
	expect_key(t, "node1", l2);
	printf("ok %s: our name on another lease stays\n", label);

	/* no key at all */
	(void) setup_key(t, NULL);
	rc = release_in_child(t, "node1", l2, 0, 2000, &took);
	CHECK(rc == PGW_ECONFLICT);
	expect_key(t, "", 0);
	printf("ok %s: no key: nothing to release\n", label);

	/* ours on our lease: released, recorded */
	l1 = setup_key(t, "node1");
	rc = release_in_child(t, "node1", l1, 0, 2000, &took);
	CHECK(rc == 0);
	expect_key(t, "", 0);
	CHECK(release_record_read(state_dir, "fr", "node1", &rec, &err) == 1);
	CHECK(rec.lease_id == l1);
	CHECK(strcmp(rec.by, "fence") == 0 &&
	      strcmp(rec.reason, "daemon-died") == 0);
	printf(
	    "ok %s: our key on our lease released and recorded; cold release (fork, gRPC init, connect, txn) took %" PRId64
	    " ms\n",
	    label, took);
}

static void
test_postmaster_alive(const Target *t)
{
	char *argv[] = {"sleep", "60", NULL};
	pid_t pm = harness_spawn(argv, "/dev/null", NULL);
	int64_t l1, took;

	CHECK(pm > 0);
	l1 = setup_key(t, "node1");
	CHECK(release_in_child(t, "node1", l1, (int) pm, 2000, &took) ==
	      PGW_ESTATE);
	expect_key(t, "node1", l1);
	CHECK(took >= FENCE_PM_GONE_WAIT_MS &&
	      took < FENCE_PM_GONE_WAIT_MS + 2000 * mult);
	printf("ok a live postmaster keeps the key (gave up after %" PRId64
	       " ms)\n",
	       took);
	harness_kill(pm, SIGKILL, 2000);
	CHECK(release_in_child(t, "node1", l1, (int) pm, 2000, &took) == 0);
	expect_key(t, "", 0);
	printf("ok once it is gone, the key goes\n");
}

static void
test_unreachable(const Target *good)
{
	Target t = *good;
	int port = harness_free_port();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	char ep[64];
	int64_t l1, took;
	int rc;

	/* nothing listens: refused at once */
	snprintf(ep, sizeof(ep), "127.0.0.1:%d", harness_free_port());
	t.endpoints = ep;
	rc = release_in_child(&t, "node1", 0x1234, 0, 1500, &took);
	CHECK(rc == PGW_EUNAVAILABLE || rc == PGW_ETIMEDOUT);
	CHECK(took < 1500 + 2000 * mult);
	printf("ok no etcd: %s after %" PRId64 " ms (budget 1500)\n",
	       pgw_strerror(rc), took);

	/* a listener that accepts and never answers: the budget bounds it */
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(s >= 0 && bind(s, (struct sockaddr *) &a, sizeof(a)) == 0 &&
	      listen(s, 16) == 0);
	snprintf(ep, sizeof(ep), "127.0.0.1:%d", port);
	l1 = setup_key(good, "node1");
	rc = release_in_child(&t, "node1", l1, 0, 1500, &took);
	CHECK(rc == PGW_ETIMEDOUT || rc == PGW_EUNAVAILABLE);
	CHECK(took >= 1000 && took < 1500 + 2500 * mult);
	expect_key(good, "node1", l1);
	printf("ok a silent etcd: %s after %" PRId64
	       " ms (budget 1500); the key stays for its lease\n",
	       pgw_strerror(rc), took);
	close(s);
}

static void
test_auth(EtcdCluster *ec)
{
	const char *add_root[] = {"user", "add", "root:rootpw", NULL};
	const char *enable[] = {"auth", "enable", NULL};
	const char *disable[] = {"--user=root:rootpw", "auth", "disable", NULL};
	Target t = {0};
	int64_t l1, took;

	CHECK(etcd_harness_etcdctl(ec, add_root) == 0);
	CHECK(etcd_harness_etcdctl(ec, enable) == 0);
	t.endpoints = etcd_harness_endpoints(ec);
	t.user = "root";
	t.password = "rootpw";
	l1 = setup_key(&t, "node1");
	t.password = "wrong";
	CHECK(release_in_child(&t, "node1", l1, 0, 2000, &took) == PGW_EAUTH);
	t.password = "rootpw";
	expect_key(&t, "node1", l1);
	CHECK(release_in_child(&t, "node1", l1, 0, 2000, &took) == 0);
	expect_key(&t, "", 0);
	printf(
	    "ok auth: refused with a wrong password, released with the daemon's (%" PRId64
	    " ms)\n",
	    took);
	CHECK(etcd_harness_etcdctl(ec, disable) == 0);
}

int
main(void)
{
	EtcdCluster *plain;
	EtcdCluster *tls;
	Target t = {0};
	int64_t t_start = pgw_now_mono_ms();

	harness_init("daemon_fence_release");
	mult = harness_timeout_mult();
	state_dir = harness_tmpdir("fence-release");
	CHECK(state_dir != NULL);
	{
		PgwError err = {0};
		int fd = release_state_dir_open(state_dir, false, &err);

		/* harness_tmpdir's mode may let others in: our own subdirectory */
		if (fd < 0)
		{
			size_t len = strlen(state_dir) + 8;
			char *sub = malloc(len);

			CHECK(sub != NULL);
			snprintf(sub, len, "%s/state", state_dir);
			state_dir = sub;
			fd = release_state_dir_open(state_dir, true, &err);
		}
		CHECK(fd >= 0);
		close(fd);
	}

	plain = etcd_harness_start(1, false);
	CHECK(plain != NULL);
	t.endpoints = etcd_harness_endpoints(plain);
	test_compares(&t, "plain");
	test_postmaster_alive(&t);
	test_unreachable(&t);
	test_auth(plain);
	etcd_harness_stop(plain);

	tls = etcd_harness_start(1, true);
	CHECK(tls != NULL);
	t.endpoints = etcd_harness_endpoints(tls);
	t.tls_from = tls;
	test_compares(&t, "tls");
	etcd_harness_stop(tls);
	printf("all fence release tests passed in %" PRId64 " ms\n",
	       pgw_now_mono_ms() - t_start);
	return 0;
}
