/*
 * test_routing_vip.c: the router's VIP target (notes R1 §1.2) in two network
 * namespaces the test creates and removes (each with a veth pair whose
 * end d0 stands in for a node's NIC). One router per "node" (n1, n2) holds
 * 10.77.0.100/24 only while the routing table serves with its node as
 * primary. A sampler checks that the address is never held in both
 * namespaces at once across serving n1 -> fenced -> serving n2 -> fenced ->
 * serving n1 -> switching, each step published once every router has
 * acknowledged the previous one (fence first, then point: the leader's
 * protocol). A direct serving -> serving move without the fence would let
 * the new holder add before the old one deletes; only the fence orders them.
 * Skips (77) when not root or without `ip netns`.
 */
#include "routing/routing.h"

#include "common/pgwtime.h"
#include "tests/harness/etcd_harness.h"
#include "tests/harness/proc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                       \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			exit(1);                                                           \
		}                                                                      \
	} while (0)

#define VIP "10.77.0.100/24"

static char ns[2][64];
static volatile bool stop_sampler;
static int both_seen;
static int samples;

static bool
holds(int i)
{
	char cmd[256];
	FILE *p;
	char buf[4096];
	size_t n;

	snprintf(cmd, sizeof(cmd), "ip -n %s -o -4 addr show dev d0", ns[i]);
	p = popen(cmd, "r");
	if (p == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	pclose(p);
	buf[n] = '\0';
	return strstr(buf, " inet " VIP " ") != NULL;
}

static void *
sampler(void *arg)
{
	(void) arg;
	while (!stop_sampler)
	{
		if (holds(0) && holds(1))
			both_seen++;
		samples++;
		harness_sleep_ms(2);
	}
	return NULL;
}

static int
sh(const char *cmd)
{
	int rc = system(cmd);

	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	EtcdCluster *ec;
	EtcdClient *etcd;
	EtcdClientConfig cc = {0};
	PgwError err = {0};
	char prefix[PGW_PREFIX_MAX];
	char cmd[512];
	char *dir;
	int64_t lease;
	int64_t ttl;
	int64_t epoch = 0;
	bool won;
	pthread_t th;
	static const struct
	{
		RoutingState st;
		int primary; /* -1 none */
		int holder;  /* -1 none */
	} steps[] = {
	    {ROUTING_STATE_SERVING, 0, 0}, {ROUTING_STATE_FENCED, -1, -1},
	    {ROUTING_STATE_SERVING, 1, 1}, {ROUTING_STATE_FENCED, -1, -1},
	    {ROUTING_STATE_SERVING, 0, 0}, {ROUTING_STATE_SWITCHING, 0, -1},
	};

	harness_init("test_routing_vip");
	if (geteuid() != 0 || sh("ip netns list >/dev/null 2>&1") != 0)
	{
		printf("SKIP: needs root and ip netns\n");
		return 77;
	}
	dir = harness_tmpdir("routing-vip");
	for (int i = 0; i < 2; i++)
	{
		snprintf(ns[i], sizeof(ns[i]), "pgwvip%d-%d", i + 1, (int) getpid());
		snprintf(cmd, sizeof(cmd), "ip netns add %s", ns[i]);
		CHECK(sh(cmd) == 0, "%s", cmd);
		snprintf(cmd, sizeof(cmd), "ip netns del %s", ns[i]);
		harness_register_cleanup(cmd);
		/* a veth pair inside the namespace (no dummy module everywhere) */
		snprintf(
		    cmd, sizeof(cmd),
		    "ip -n %s link add d0 type veth peer name d1 && ip -n %s link set d0 up && ip -n %s link set d1 up",
		    ns[i], ns[i], ns[i]);
		CHECK(sh(cmd) == 0, "%s", cmd);
	}
	ec = etcd_harness_start(1, false);
	CHECK(ec != NULL, "etcd");
	cc.endpoints = etcd_harness_endpoints(ec);
	CHECK(etcd_client_open(&cc, &etcd, &err) == 0, "%s", err.msg);
	CHECK(dcs_prefix_build("/test", "vip", prefix, sizeof(prefix), &err) == 0,
	      "%s", err.msg);
	CHECK(etcd_lease_grant(etcd, 30, &lease, &ttl, &err) == 0, "%s", err.msg);
	CHECK(etcd_lease_keepalive_start(etcd, lease, 2000, &err) == 0, "%s",
	      err.msg);
	CHECK(dcs_leader_acquire(etcd, prefix, "n1", lease, &won, NULL, &err) ==
	              0 &&
	          won,
	      "leader");

	for (int i = 0; i < 2; i++)
	{
		char path[600];
		char log[600];
		char bin[600];
		char *argv[4];
		FILE *f;

		snprintf(path, sizeof(path), "%s/r%d.yml", dir, i + 1);
		f = fopen(path, "w");
		CHECK(f != NULL, "cfg");
		fprintf(f,
		        "name: vip-n%d\nscope: vip\nnamespace: /test\n"
		        "etcd:\n  hosts: %s\nrouter_ttl: 2s\nloop_wait: 20ms\n"
		        "targets:\n  - type: vip\n    address: " VIP "\n"
		        "    interface: d0\n    node: n%d\n    netns: %s\n",
		        i + 1, etcd_harness_endpoints(ec), i + 1, ns[i]);
		fclose(f);
		snprintf(log, sizeof(log), "%s/r%d.log", dir, i + 1);
		snprintf(bin, sizeof(bin), "%s/routing/pgwarden-router",
		         getenv("PGW_BUILD_DIR") ? getenv("PGW_BUILD_DIR") : "build");
		argv[0] = bin;
		argv[1] = (char *) "-c";
		argv[2] = path;
		argv[3] = NULL;
		CHECK(harness_spawn(argv, log, NULL) > 0, "router");
	}
	CHECK(HARNESS_POLL(({
		                   RoutingAcks a;
		                   routing_acks_read(etcd, prefix, 0, &a, NULL) == 0 &&
		                       a.n_routers == 2;
	                   }),
	                   10000, 20),
	      "both routers registered");
	pthread_create(&th, NULL, sampler, NULL);
	for (size_t s = 0; s < PGW_LENGTHOF(steps); s++)
	{
		RoutingTable t = {0};
		RoutingAcks acks;
		int64_t start = pgw_now_mono_ms();

		t.state = steps[s].st;
		if (steps[s].primary >= 0)
		{
			t.has_primary = true;
			snprintf(t.primary.name, sizeof(t.primary.name), "n%d",
			         steps[s].primary + 1);
			snprintf(t.primary.host, sizeof(t.primary.host), "10.77.0.%d",
			         steps[s].primary + 1);
			t.primary.port = 5432;
		}
		CHECK(routing_publish(etcd, prefix, "n1", lease, &t, &epoch, &err) == 0,
		      "%s", err.msg);
		CHECK(routing_acks_wait(etcd, prefix, epoch, 10000, &acks, &err) ==
		              ROUTING_WAIT_READY &&
		          acks.n_routers == 2,
		      "acks: %d/%d lagging %s", acks.n_acked, acks.n_routers,
		      acks.lagging);
		for (int i = 0; i < 2; i++)
			CHECK(holds(i) == (steps[s].holder == i),
			      "step %zu: namespace %d holds=%d", s, i, holds(i));
		printf("--- epoch %" PRId64
		       " %s primary=%s: VIP on %s, acked in %lld ms\n",
		       epoch, routing_state_name(t.state),
		       t.has_primary ? t.primary.name : "-",
		       steps[s].holder >= 0 ? ns[steps[s].holder] : "none",
		       (long long) (pgw_now_mono_ms() - start));
	}
	stop_sampler = true;
	pthread_join(th, NULL);
	printf("--- %d samples, VIP held by both namespaces in %d\n", samples,
	       both_seen);
	CHECK(both_seen == 0, "the VIP was held twice");
	etcd_client_close(etcd);
	etcd_harness_stop(ec);
	free(dir);
	return 0;
}
