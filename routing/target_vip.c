/*
 * target_vip.c: hold a virtual IPv4 address on an interface only while the
 * routing table names this router's node as the serving primary (what
 * vip-manager does for Patroni, notes R1 §1.2): `ip addr add/del` from an
 * argument vector, then a gratuitous ARP with arping when it is installed.
 * A fenced table, a cut router or another primary releases it first.
 */
#include "routing/routing_int.h"

#include "common/log.h"
#include "common/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
vip_should_hold(const TargetConfig *cfg, const RoutingTable *t)
{
	return t->state == ROUTING_STATE_SERVING && t->has_primary &&
	       strcmp(t->primary.name, cfg->node) == 0;
}

/* argv of `ip [-n ns] <words...>` into argv[] (at most 12 entries) */
static void
ip_argv(const TargetConfig *cfg, char **argv, const char *const *words)
{
	int n = 0;

	argv[n++] = (char *) "ip";
	if (cfg->netns[0] != '\0')
	{
		argv[n++] = (char *) "-n";
		argv[n++] = (char *) cfg->netns;
	}
	for (; *words; words++)
		argv[n++] = (char *) *words;
	argv[n] = NULL;
}

static int
vip_held(const TargetConfig *cfg, bool *held, PgwError *err)
{
	const char *w[] = {"-o", "-4", "addr", "show", "dev", cfg->interface, NULL};
	char *argv[12];
	char out[4096];
	char needle[96];
	int rc;

	ip_argv(cfg, argv, w);
	if ((rc = router_run_argv(argv, cfg->timeout_ms, out, sizeof(out), err)) !=
	    0)
		return rc;
	snprintf(needle, sizeof(needle), " inet %s ", cfg->address);
	*held = strstr(out, needle) != NULL;
	return 0;
}

int
vip_apply(const TargetConfig *cfg, const RoutingTable *t, PgwError *err)
{
	bool want = vip_should_hold(cfg, t);
	bool held = false;
	char *argv[12];
	int rc;

	if ((rc = vip_held(cfg, &held, err)) != 0)
		goto out;
	if (want == held)
		goto out;
	{
		const char *w[] = {"addr", want ? "add" : "del", cfg->address,
		                   "dev",  cfg->interface,       NULL};

		ip_argv(cfg, argv, w);
		log_info(want ? "router.vip.add" : "router.vip.del",
		         "address=%s interface=%s netns=%s epoch=%lld", cfg->address,
		         cfg->interface, cfg->netns[0] ? cfg->netns : "-",
		         (long long) t->epoch);
		if ((rc = router_run_argv(argv, cfg->timeout_ms, NULL, 0, err)) != 0)
			goto out;
	}
	if (want && router_in_path("arping"))
	{
		char ip[64];
		char *av[12];
		int n = 0;
		PgwError e = {0};

		pgw_strlcpy(ip, cfg->address, sizeof(ip));
		ip[strcspn(ip, "/")] = '\0';
		if (cfg->netns[0] != '\0')
		{
			av[n++] = (char *) "ip";
			av[n++] = (char *) "netns";
			av[n++] = (char *) "exec";
			av[n++] = (char *) cfg->netns;
		}
		av[n++] = (char *) "arping";
		av[n++] = (char *) "-U";
		av[n++] = (char *) "-c";
		av[n++] = (char *) "1";
		av[n++] = (char *) "-I";
		av[n++] = (char *) cfg->interface;
		av[n++] = ip;
		av[n] = NULL;
		/* a failed gratuitous ARP only delays neighbours: warn */
		if (router_run_argv(av, cfg->timeout_ms, NULL, 0, &e) != 0)
			log_warn("router.vip.arp_failed", "address=%s error=\"%s\"", ip,
			         e.msg);
	}
out:
	if (rc != 0)
		pgw_error_prefix(err, "vip target");
	return rc;
}
