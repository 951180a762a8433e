/*
 * output.c: `topology`, `history` and `debug rules` output (ctl.h). The
 * JSON shapes are stable and documented in pgwardenctl(1).
 */
#include "ctl/ctl.h"

#include "common/strutil.h"
#include "common/xmem.h"
#include "failover/failover.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void
dump_json(FILE *out, json_t *o, CtlFormat fmt)
{
	char *s;

	if (fmt == CTL_FORMAT_YAML)
		s = ctl_json_to_yaml(o);
	else
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputs(s ? s : "", out);
	if (fmt != CTL_FORMAT_YAML)
		fputc('\n', out);
	free(s);
	json_decref(o);
}

/* ------------------------------------------------------------------------
 * topology
 * ------------------------------------------------------------------------ */

/* the member that m replicates from, by name ("" for the root) */
static const char *
upstream_of(const ClusterView *v, const MemberInfo *m)
{
	if (v->has_leader && strcmp(m->name, v->leader) == 0)
		return "";
	if (m->replicatefrom[0] && dcs_view_member(v, m->replicatefrom) != NULL &&
	    strcmp(m->replicatefrom, m->name) != 0)
		return m->replicatefrom;
	return v->has_leader ? v->leader : "";
}

static int
cmp_members(const void *a, const void *b)
{
	return strcmp((*(const MemberInfo *const *) a)->name,
	              (*(const MemberInfo *const *) b)->name);
}

static void
topo_walk(FILE *out, const ClusterView *v, const MemberInfo **sorted,
          const char *parent, int depth, bool *printed, json_t *arr)
{
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = sorted[i];
		int idx = (int) (m - v->members);
		bool is_leader = v->has_leader && strcmp(m->name, v->leader) == 0;

		if (printed[idx] || strcmp(upstream_of(v, m), parent) != 0)
			continue;
		printed[idx] = true;
		if (arr != NULL)
		{
			json_t *o = json_object();
			json_t *kids = json_array();

			json_object_set_new(o, "member", json_string(m->name));
			json_object_set_new(
			    o, "role",
			    json_string(is_leader ? "leader" : dcs_role_name(m->role)));
			json_object_set_new(o, "state",
			                    json_string(dcs_state_name(m->state)));
			topo_walk(out, v, sorted, m->name, depth + 1, printed, kids);
			json_object_set_new(o, "replicas", kids);
			json_array_append_new(arr, o);
		}
		else
		{
			for (int d = 0; d < depth; d++)
				fputs(d == depth - 1 ? "+ " : "  ", out);
			fprintf(out, "%s (%s, %s)\n", m->name,
			        is_leader ? "Leader" : dcs_role_name(m->role),
			        dcs_state_name(m->state));
			topo_walk(out, v, sorted, m->name, depth + 1, printed, NULL);
		}
	}
}

void
ctl_topology_print(FILE *out, const ClusterView *v, const char *scope,
                   CtlFormat fmt)
{
	const MemberInfo *sorted[PGW_MEMBERS_MAX];
	bool printed[PGW_MEMBERS_MAX] = {false};
	json_t *arr = NULL;

	for (int i = 0; i < v->n_members; i++)
		sorted[i] = &v->members[i];
	qsort(sorted, (size_t) v->n_members, sizeof(sorted[0]), cmp_members);
	if (fmt != CTL_FORMAT_PRETTY)
		arr = json_array();
	else
		fprintf(out, "+ Cluster: %s (%s)\n", scope,
		        v->has_initialize && v->initialize[0] ? v->initialize
		                                              : "uninitialized");
	/* the leader's tree, then members whose upstream is unknown or a loop */
	topo_walk(out, v, sorted, "", fmt == CTL_FORMAT_PRETTY ? 1 : 0, printed,
	          arr);
	for (int i = 0; i < v->n_members; i++)
	{
		const MemberInfo *m = sorted[i];
		int idx = (int) (m - v->members);

		if (printed[idx])
			continue;
		if (arr != NULL)
		{
			json_t *o = json_object();

			json_object_set_new(o, "member", json_string(m->name));
			json_object_set_new(o, "role", json_string(dcs_role_name(m->role)));
			json_object_set_new(o, "state",
			                    json_string(dcs_state_name(m->state)));
			json_object_set_new(o, "replicas", json_array());
			json_array_append_new(arr, o);
		}
		else
			fprintf(out, "+ %s (%s, %s, upstream unknown)\n", m->name,
			        dcs_role_name(m->role), dcs_state_name(m->state));
		printed[idx] = true;
	}
	if (arr != NULL)
	{
		json_t *o = json_object();

		json_object_set_new(o, "scope", json_string(scope));
		json_object_set_new(o, "topology", arr);
		dump_json(out, o, fmt);
	}
}

/* ------------------------------------------------------------------------
 * history
 * ------------------------------------------------------------------------ */

static void
lsn_text(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
}

void
ctl_history_print(FILE *out, const HistoryEntry *h, int n, CtlFormat fmt)
{
	if (fmt != CTL_FORMAT_PRETTY)
	{
		json_t *arr = json_array();
		json_t *o = json_object();

		for (int i = 0; i < n; i++)
		{
			json_t *e = json_object();
			char lsn[32];

			lsn_text(h[i].lsn, lsn, sizeof(lsn));
			json_object_set_new(e, "timeline", json_integer(h[i].timeline));
			json_object_set_new(e, "lsn", json_integer((json_int_t) h[i].lsn));
			json_object_set_new(e, "lsn_text", json_string(lsn));
			json_object_set_new(e, "reason", json_string(h[i].reason));
			json_object_set_new(e, "timestamp",
			                    h[i].time[0] ? json_string(h[i].time)
			                                 : json_null());
			json_object_set_new(e, "new_leader",
			                    h[i].new_leader[0]
			                        ? json_string(h[i].new_leader)
			                        : json_null());
			json_array_append_new(arr, e);
		}
		json_object_set_new(o, "history", arr);
		dump_json(out, o, fmt);
		return;
	}
	{
		size_t wr = strlen("Reason");
		size_t wl = strlen("New Leader");

		for (int i = 0; i < n; i++)
		{
			if (ctl_display_width(h[i].reason) > wr)
				wr = ctl_display_width(h[i].reason);
			if (ctl_display_width(h[i].new_leader) > wl)
				wl = ctl_display_width(h[i].new_leader);
		}
		fprintf(out, "%-4s %-14s %-*s %-29s %s\n", "TL", "LSN", (int) wr,
		        "Reason", "Timestamp", "New Leader");
		for (int i = 0; i < n; i++)
		{
			char lsn[32];

			lsn_text(h[i].lsn, lsn, sizeof(lsn));
			fprintf(out, "%-4d %-14s %s", h[i].timeline, lsn, h[i].reason);
			for (size_t w = ctl_display_width(h[i].reason); w < wr; w++)
				fputc(' ', out);
			fprintf(out, " %-29s %s\n", h[i].time, h[i].new_leader);
		}
		if (n == 0)
			fprintf(out, "(no timeline changes yet)\n");
	}
}

/* ------------------------------------------------------------------------
 * debug rules
 * ------------------------------------------------------------------------ */

void
ctl_rules_print(FILE *out, CtlFormat fmt)
{
	int n = failover_rule_count();

	if (fmt != CTL_FORMAT_PRETTY)
	{
		json_t *arr = json_array();
		json_t *o = json_object();

		for (int i = 0; i < n; i++)
		{
			const FailoverRuleInfo *r = failover_rule_describe(i);
			json_t *e = json_object();

			if (r == NULL)
				continue;
			json_object_set_new(e, "number", json_integer(i + 1));
			json_object_set_new(e, "name", json_string(r->name));
			json_object_set_new(e, "group",
			                    json_string(r->group ? r->group : ""));
			json_object_set_new(e, "when", json_string(r->when ? r->when : ""));
			json_object_set_new(
			    e, "action", json_string(failover_decision_kind_name(r->kind)));
			json_object_set_new(e, "reason",
			                    json_string(r->reason ? r->reason : ""));
			json_array_append_new(arr, e);
		}
		json_object_set_new(o, "rules", arr);
		dump_json(out, o, fmt);
		return;
	}
	fprintf(out,
	        "Rules of the decision engine, first match wins (%d rows):\n\n", n);
	for (int i = 0; i < n; i++)
	{
		const FailoverRuleInfo *r = failover_rule_describe(i);

		if (r == NULL)
			continue;
		fprintf(out, "%3d  %-36s %-10s -> %s\n", i + 1, r->name,
		        r->group ? r->group : "", failover_decision_kind_name(r->kind));
		if (r->when && r->when[0])
			fprintf(out, "     when:   %s\n", r->when);
		if (r->reason && r->reason[0])
			fprintf(out, "     reason: %s\n", r->reason);
	}
}
