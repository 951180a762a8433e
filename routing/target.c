/*
 * target.c: the router's targets behind one small interface
 * (router_target_*), dispatching on the kind in the router's config.
 */
#include "routing/routing_int.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- dispatch (one small ops table per kind) ---- */

struct RouterTarget
{
	const TargetConfig *cfg;
	char desc[96];
};

RouterTarget *
router_target_open(const TargetConfig *cfg)
{
	RouterTarget *t = calloc(1, sizeof(*t));
	static const char *const kinds[] = {"pgbouncer", "haproxy", "template",
	                                    "vip"};

	if (t == NULL)
		abort();
	t->cfg = cfg;
	snprintf(t->desc, sizeof(t->desc), "%s (line %d)", kinds[cfg->kind],
	         cfg->line);
	return t;
}

const char *
router_target_describe(const RouterTarget *t)
{
	return t->desc;
}

int
router_target_apply(RouterTarget *t, const RoutingTable *prev,
                    const RoutingTable *next, PgwError *err)
{
	switch (t->cfg->kind)
	{
		case TARGET_PGBOUNCER:
			return pgbouncer_apply(t->cfg, prev, next, err);
		case TARGET_HAPROXY:
			return haproxy_apply(t->cfg, next, err);
		case TARGET_TEMPLATE:
			return template_apply(t->cfg, next, err);
		case TARGET_VIP:
			return vip_apply(t->cfg, next, err);
	}
	return pgw_error_set(err, PGW_EINTERNAL, "unknown target kind");
}

void
router_target_close(RouterTarget *t)
{
	free(t);
}
