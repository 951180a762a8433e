/*
 * cmd_view.c: the read-only commands: list, topology, history, show-config,
 * version, debug rules. They read etcd (serializable is never used: an
 * operator in an incident must see the truth) and print.
 */
#include "ctl/ctl_int.h"

#include "common/pgwtime.h"
#include "common/xmem.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CtlFormat
fmt_of(const CtlGlobal *g, const CtlArgs *a)
{
	return a->has_format ? a->format : g->format;
}

/* render: the list or topology text of v (caller frees) */
static char *
render(CtlGlobal *g, const CtlArgs *a, const ClusterView *v, int64_t ttl,
       bool topology)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	if (topology)
		ctl_topology_print(f, v, g->scope, fmt_of(g, a));
	else
		ctl_list_print(f, v, g->scope, ttl, fmt_of(g, a));
	fclose(f);
	return buf;
}

/*
 * wait_change: block until a key of the cluster changes (the watch on the
 * prefix delivers an event) or until deadline_mono_ms. True on a change.
 * A burst (a switchover writes several keys) is taken as one change: after
 * the first event, events keep coming for 100 ms before the re-read.
 */
static bool
wait_change(EtcdClient *c, int64_t deadline_mono_ms)
{
	struct pollfd pfd = {.fd = etcd_client_event_fd(c), .events = POLLIN};
	bool changed = false;

	for (;;)
	{
		int64_t left = deadline_mono_ms - pgw_now_mono_ms();
		EtcdEvent ev;

		if (left <= 0)
			return changed;
		if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
			return changed;
		while (etcd_client_next_event(c, &ev))
		{
			if (ev.type == ETCD_EVENT_WATCH_PUT ||
			    ev.type == ETCD_EVENT_WATCH_DELETE ||
			    ev.type == ETCD_EVENT_WATCH_RESYNC)
				changed = true;
			etcd_event_clear(&ev);
		}
		if (changed && deadline_mono_ms > pgw_now_mono_ms() + 100)
			deadline_mono_ms = pgw_now_mono_ms() + 100;
	}
}

/*
 * list_or_topology: print once, or with --watch SECONDS print again as
 * soon as etcd reports a change of the cluster's keys (a watch on the
 * prefix, not polling) and at least every SECONDS; a re-read that changes
 * nothing but the lease countdown is not printed before SECONDS.
 */
static int
list_or_topology(CtlGlobal *g, const CtlArgs *a, bool topology)
{
	EtcdClient *c = NULL;
	int rc;
	bool watching = false;
	char *last = NULL;
	int64_t next_print = 0;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	/* a sharded scope without --group: every group (cmd_shard.c) */
	if (g->group < 0 &&
	    (rc = ctl_list_groups(g, c, topology, fmt_of(g, a))) >= 0)
	{
		etcd_client_close(c);
		return rc;
	}
	for (;;)
	{
		ClusterView *v = NULL;
		int64_t ttl = -1;

		rc = ctl_view(g, c, &v);
		if (rc == CTL_EXIT_OK)
		{
			char *same;

			if (v->has_leader && v->leader_lease != 0)
			{
				int64_t granted;
				PgwError err = {0};

				if (etcd_lease_ttl(c, v->leader_lease, &ttl, &granted, &err) !=
				    0)
					ttl = -1;
			}
			if (a->watch_s > 0 && !watching)
			{
				int64_t wid;
				PgwError err = {0};

				if (etcd_watch_start(c, g->prefix, true, v->revision + 1, &wid,
				                     &err) != 0)
				{
					fprintf(stderr, "pgwardenctl: could not watch %s: %s\n",
					        g->prefix, err.msg);
					free(v);
					rc = CTL_EXIT_FAILED;
					break;
				}
				watching = true;
			}
			/* what changed, the lease countdown left out */
			same = render(g, a, v, -1, topology);
			if (last == NULL || strcmp(same, last) != 0 ||
			    pgw_now_mono_ms() >= next_print)
			{
				char *text = render(g, a, v, ttl, topology);

				if (a->watch_s > 0 && fmt_of(g, a) == CTL_FORMAT_PRETTY)
				{
					char ts[40];

					pgw_format_wall_iso(pgw_now_wall_ms(), 0, ts, sizeof(ts));
					printf("%s%s\n", ts,
					       last != NULL && strcmp(same, last) != 0
					           ? " (changed)"
					           : "");
				}
				fputs(text, stdout);
				fflush(stdout);
				free(text);
				free(last);
				last = same;
				next_print = pgw_now_mono_ms() + a->watch_s * 1000;
			}
			else
				free(same);
		}
		free(v);
		if (a->watch_s == 0 || rc != CTL_EXIT_OK)
			break;
		(void) wait_change(c, next_print);
	}
	free(last);
	etcd_client_close(c);
	return rc;
}

int
cmd_list(CtlGlobal *g, const CtlArgs *a)
{
	return list_or_topology(g, a, false);
}

int
cmd_topology(CtlGlobal *g, const CtlArgs *a)
{
	return list_or_topology(g, a, true);
}

/* read_key: one key's value (*value NULL when absent; caller frees);
 * CTL_EXIT_FAILED with the reason on errors */
static int
read_key(CtlGlobal *g, EtcdClient *c, const char *suffix, char **value,
         size_t *len)
{
	PgwError err = {0};

	if (dcs_key_read(c, g->prefix, suffix, value, len, NULL, &err) != 0)
	{
		ctl_fail(
		    "could not read %s%s from etcd %s: %s; check --etcd and that etcd runs",
		    g->prefix, suffix, g->etcd, err.msg);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

int
cmd_history(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	char *raw = NULL;
	size_t raw_len = 0;
	PgwError err = {0};
	HistoryEntry *h = NULL;
	int n = 0;
	int rc;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK ||
	    (rc = read_key(g, c, "history", &raw, &raw_len)) != CTL_EXIT_OK)
		goto out;
	if (raw != NULL && dcs_history_decode(raw, raw_len, &h, &n, &err) != 0)
	{
		ctl_fail("the history key does not decode: %s", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	ctl_history_print(stdout, h, n, fmt_of(g, a));
out:
	free(h);
	free(v);
	free(raw);
	etcd_client_close(c);
	return rc;
}

int
cmd_show_config(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	char *raw = NULL;
	size_t raw_len = 0;
	json_error_t jerr;
	json_t *o = NULL;
	int rc;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = read_key(g, c, "config", &raw, &raw_len)) != CTL_EXIT_OK)
		goto out;
	if (raw == NULL)
	{
		ctl_fail(
		    "cluster \"%s\" has no config key (%sconfig); is the scope right?",
		    g->scope, g->prefix);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	o = json_loadb(raw, raw_len, 0, &jerr);
	if (o == NULL)
	{
		ctl_fail(
		    "the config key is not JSON (%s); fix it with edit-config --replace FILE",
		    jerr.text);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (fmt_of(g, a) == CTL_FORMAT_JSON)
	{
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS |
		                            JSON_REAL_PRECISION(15));

		printf("%s\n", s);
		free(s);
	}
	else
	{
		char *s = ctl_json_to_yaml(o);

		fputs(s, stdout);
		free(s);
	}
out:
	json_decref(o);
	free(raw);
	etcd_client_close(c);
	return rc;
}

int
cmd_version(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	json_t *o;
	json_t *members;

	o = json_object();
	members = json_object();
	json_object_set_new(o, "pgwardenctl", json_string(PGW_VERSION));

	/* the members' versions when a cluster is configured (best effort) */
	if (g->etcd && g->scope && g->prefix[0])
	{
		EtcdClientConfig cfg = {0};
		PgwError err = {0};

		cfg.endpoints = g->etcd;
		cfg.ca_file = g->cacert;
		cfg.cert_file = g->cert;
		cfg.key_file = g->key;
		cfg.username = g->username;
		cfg.password = g->password;
		cfg.call_timeout_ms = g->timeout_ms;
		v = pgw_xcalloc(1, sizeof(ClusterView));
		if (etcd_client_open(&cfg, &c, &err) == 0 &&
		    dcs_view_read(c, g->prefix, true, v, &err) == 0)
		{
			for (int i = 0; i < v->n_members; i++)
				json_object_set_new(members, v->members[i].name,
				                    json_string(v->members[i].version));
		}
		etcd_client_close(c);
		free(v);
	}
	if (fmt_of(g, a) == CTL_FORMAT_PRETTY)
	{
		const char *k;
		json_t *val;

		printf("pgwardenctl version %s\n", PGW_VERSION);
		json_object_foreach(members, k, val) printf(
		    "%s: pgwarden %s\n", k,
		    json_string_value(val)[0] ? json_string_value(val) : "(unknown)");
		json_decref(members);
	}
	else
	{
		char *s;

		json_object_set_new(o, "members", members);
		s = fmt_of(g, a) == CTL_FORMAT_JSON
		        ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		        : ctl_json_to_yaml(o);
		printf(fmt_of(g, a) == CTL_FORMAT_JSON ? "%s\n" : "%s", s);
		free(s);
	}
	json_decref(o);
	return CTL_EXIT_OK;
}

int
cmd_debug(CtlGlobal *g, const CtlArgs *a)
{
	ctl_rules_print(stdout, fmt_of(g, a));
	return CTL_EXIT_OK;
}
