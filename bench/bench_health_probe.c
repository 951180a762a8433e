/*
 * bench_health_probe.c: latency of health_probe_run() against a local
 * PostgreSQL 15 primary with two streaming replicas (so the probe reads
 * pg_stat_replication too), over the Unix socket and over 127.0.0.1.
 * Prints p50/p99/max. Not a test (STYLE.md: tests never assert on speed).
 * Reproduce: cmake --build build --target bench_health_probe &&
 *            build/bench/bench_health_probe [probes]
 */
#include "health/health.h"
#include "tests/harness/pg_harness.h"
#include "tests/harness/proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static void
run(const char *label, PgProbe *p, int n)
{
	int64_t *us = calloc((size_t) n, sizeof(int64_t));
	HealthReport r;
	PgwError err = {0};
	int fails = 0;

	for (int i = 0; i < 20; i++)
		(void) health_probe_run(p, 0, &r, &err); /* warm up */
	for (int i = 0; i < n; i++)
	{
		if (health_probe_run(p, 0, &r, &err) != 0)
			fails++;
		us[i] = r.probe_duration_us;
	}
	qsort(us, (size_t) n, sizeof(int64_t), cmp_i64);
	printf(
	    "%-28s probes=%d failed=%d standbys=%d p50=%.3f ms p99=%.3f ms max=%.3f ms\n",
	    label, n, fails, r.n_standbys, us[n / 2] / 1000.0,
	    us[(int) ((int64_t) n * 99 / 100)] / 1000.0, us[n - 1] / 1000.0);
	free(us);
}

int
main(int argc, char **argv)
{
	PgNode n1;
	PgNode n2;
	PgNode n3;
	PgwError err = {0};
	HealthUpstream up;
	PgProbeConfig pc = {0};
	PgProbe *tcp;
	int n = argc > 1 ? (int) strtol(argv[1], NULL, 10) : 2000;
	HealthReport r;

	if (n < 100)
		n = 100;
	harness_init("bench_health_probe");
	if (!pgh_available())
	{
		fprintf(stderr, "PostgreSQL not found in %s\n", pgh_bin_dir());
		return 1;
	}
	pgh_node_init(&n1, "b1");
	pgh_node_init(&n2, "b2");
	pgh_node_init(&n3, "b3");
	if (health_control_bootstrap(n1.ctl, 60000, &err) != 0)
	{
		fprintf(stderr, "bootstrap: %s\n", err.msg);
		return 1;
	}
	up = pgh_upstream(&n1);
	if (health_control_clone(n2.ctl, &up, &err) != 0 ||
	    health_control_start(n2.ctl, 60000, &err) != HEALTH_WAIT_READY ||
	    health_control_clone(n3.ctl, &up, &err) != 0 ||
	    health_control_start(n3.ctl, 60000, &err) != HEALTH_WAIT_READY)
	{
		fprintf(stderr, "replicas: %s\n", err.msg);
		return 1;
	}
	if (!HARNESS_POLL(pgh_probe(&n1, 0, &r) && r.n_standbys == 2, 30000, 100))
	{
		fprintf(stderr, "standbys did not connect\n");
		return 1;
	}
	printf("PostgreSQL %s, %d probes each, one persistent connection\n",
	       r.server_version, n);
	run("primary unix socket", n1.probe, n);
	run("replica unix socket", n2.probe, n);
	pc.host = "127.0.0.1";
	pc.port = n1.port;
	pc.password = PGH_SU_PASSWORD;
	if (health_probe_open(&pc, &tcp, &err) != 0)
		return 1;
	run("primary tcp 127.0.0.1", tcp, n);
	health_probe_close(tcp);
	printf(
	    "reproduce: cmake --build build --target bench_health_probe && build/bench/bench_health_probe %d\n",
	    n);
	pgh_node_free(&n3);
	pgh_node_free(&n2);
	pgh_node_free(&n1);
	return 0;
}
