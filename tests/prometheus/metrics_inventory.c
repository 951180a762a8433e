/*
 * metrics_inventory.c: print every metric family pgwarden exports, one per
 * line ("<family> <type>"), by rendering a daemon that leads with a
 * replica and a router with a PgBouncer and a HAProxy target, each with
 * everything filled in. test_prometheus_rules.sh and
 * test_grafana_dashboard.sh check the names their files use against this
 * list; test_monitoring_cluster.sh checks the list against live /metrics.
 * With --text, print the rendered texts instead.
 */
#include "common/strutil.h"
#include "daemon/metrics_int.h"
#include "routing/exporter_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
daemon_text(void)
{
	RestSnapshot *s = calloc(1, sizeof(RestSnapshot));
	MetricsRuntime rt;
	char	   *t;

	if (s == NULL)
		abort();
	memset(&rt, 0, sizeof(rt));
	pgw_strlcpy(s->name, "n1", sizeof(s->name));
	pgw_strlcpy(s->scope, "demo", sizeof(s->scope));
	dcs_config_defaults(&s->view.config);
	s->view.is_valid = s->view.has_leader = true;
	pgw_strlcpy(s->view.leader, "n1", sizeof(s->view.leader));
	s->view.n_members = 2;
	pgw_strlcpy(s->view.members[0].name, "n1", PGW_NAME_MAX);
	pgw_strlcpy(s->view.members[1].name, "n2", PGW_NAME_MAX);
	s->pg_running = s->pg_read_write = s->holds_leader = true;
	s->lease_deadline_mono_ms = 5000;
	s->n_standbys = 1;
	pgw_strlcpy(s->standbys[0].application_name, "n2", PGW_NAME_MAX);
	pgw_strlcpy(s->standbys[0].state, "streaming", 32);
	s->history_json = strdup("[[1,1,\"requested promotion of n1 at 0/1\",\"t\",\"n1\"]]");
	t = rest_metrics_render(s, &rt, 1000, 0);
	free(s->history_json);
	free(s);
	return t;
}

static char *
router_text(void)
{
	static const char yaml[] =
		"name: r1\nscope: demo\netcd: {hosts: \"127.0.0.1:1\"}\n"
		"targets:\n"
		"  - {type: pgbouncer, include_file: /x, admin_conninfo: \"port=1\"}\n"
		"  - {type: haproxy, socket: /s, rw_backend: rw, ro_backend: ro}\n";
	RouterConfig *c = calloc(1, sizeof(*c));
	TargetStats *ts = calloc(2, sizeof(*ts));
	RouterStatus st;
	EtcdClientStats es;
	PgwError	err = {0};
	char	   *t;

	if (c == NULL || ts == NULL ||
		router_config_parse(yaml, strlen(yaml), c, &err) != 0)
		abort();
	memset(&st, 0, sizeof(st));
	memset(&es, 0, sizeof(es));
	st.has_applied = true;
	pgw_strlcpy(st.applied_primary, "n1", sizeof(st.applied_primary));
	for (int i = 0; i < 2; i++)
	{
		ts[i].kind = c->targets[i].kind;
		exporter_target_name(&c->targets[i], ts[i].name, sizeof(ts[i].name));
		ts[i].read_ok = ts[i].ever_read = true;
	}
	ts[0].n_pools = ts[0].n_dbs = 1;
	pgw_strlcpy(ts[0].pools[0].database, "db", 64);
	pgw_strlcpy(ts[0].dbs[0].name, "db", 64);
	ts[0].dbs[0].pool_size = 10;
	ts[1].n_rw = ts[1].n_ro = 1;
	pgw_strlcpy(ts[1].rw[0].name, "n1", 64);
	ts[1].rw[0].op_state = 2;
	pgw_strlcpy(ts[1].ro[0].name, "n2", 64);
	t = router_metrics_render(c, &st, ts, 2, &es, 1000);
	free(ts);
	free(c);
	return t;
}

static void
print_families(const char *text)
{
	for (const char *p = text; p && *p;)
	{
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "# TYPE ", 7) == 0)
			printf("%.*s\n", (int) ((nl ? nl : p + strlen(p)) - p - 7), p + 7);
		p = nl ? nl + 1 : NULL;
	}
}

int
main(int argc, char **argv)
{
	char	   *d = daemon_text();
	char	   *r = router_text();

	if (argc > 1 && strcmp(argv[1], "--text") == 0)
		printf("%s%s", d, r);
	else
	{
		print_families(d);
		print_families(r);
	}
	free(d);
	free(r);
	return 0;
}
