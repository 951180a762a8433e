/*
 * metrics.c: the daemon's metrics that are not in the REST snapshot (see
 * metrics_int.h): the loop-duration histogram, the loop's etcd client, and
 * the classification of `history` entries into failovers and switchovers
 * by the decision table's own reason templates.
 */
#include "daemon/metrics_int.h"

#include "failover/failover.h"

#include <stdatomic.h>
#include <string.h>

static PgwHistogram loop_hist;
static _Atomic(EtcdClient *) loop_etcd;

void
metrics_loop_done(int64_t duration_ms)
{
	pgw_hist_observe_us(&loop_hist, duration_ms * 1000);
}

void
metrics_set_etcd(EtcdClient *c)
{
	atomic_store(&loop_etcd, c);
}

int64_t
metrics_etcd_last_seen_wall_ms(EtcdClient *c)
{
	EtcdClientStats st;

	if (c == NULL)
		return 0;
	etcd_client_stats(c, &st);
	return st.last_contact_wall_ms;
}

void
metrics_runtime_read(MetricsRuntime *rt)
{
	EtcdClient *c = atomic_load(&loop_etcd);

	memset(rt, 0, sizeof(*rt));
	pgw_hist_read(&loop_hist, &rt->loop_seconds);
	if (c != NULL)
	{
		rt->has_etcd = true;
		etcd_client_stats(c, &rt->etcd);
	}
}

/*
 * template_matches: text was produced from tmpl, whose "{name}" parts are
 * any text: the literal parts appear in order, the first at the start, the
 * last at the end. A history reason is cut at 159 bytes, so a text that
 * long may end early.
 */
static bool
template_matches(const char *tmpl, const char *text)
{
	bool cut = strlen(text) >= sizeof(((HistoryEntry *) 0)->reason) - 1;
	const char *t = text;
	const char *p = tmpl;
	bool first = true;

	while (*p)
	{
		const char *open = strchr(p, '{');
		size_t n = open ? (size_t) (open - p) : strlen(p);

		if (n > 0 && first)
		{
			if (strncmp(t, p, n) != 0)
				return cut && strncmp(t, p, strlen(t)) == 0;
			t += n;
		}
		else if (n > 0 && open == NULL)
		{
			size_t tl = strlen(t);

			/* the last literal part ends the text */
			return (tl >= n && strcmp(t + tl - n, p) == 0) || cut;
		}
		else if (n > 0)
		{
			const char *hit = memmem(t, strlen(t), p, n);

			if (hit == NULL)
				return cut;
			t = hit + n;
		}
		first = false;
		if (open == NULL)
			break;
		p = strchr(open, '}');
		if (p == NULL)
			break;
		p++;
	}
	return true;
}

const char *
metrics_promotion_rule(const char *reason, bool *is_switchover)
{
	int n = failover_rule_count();

	*is_switchover = false;
	if (reason == NULL || reason[0] == '\0')
		return NULL;
	for (int i = 0; i < n; i++)
	{
		const FailoverRuleInfo *r = failover_rule_describe(i);

		if (r == NULL || r->kind != DECIDE_PROMOTE || r->reason == NULL ||
		    r->reason[0] == '{')
			continue;
		if (template_matches(r->reason, reason))
		{
			*is_switchover = strcmp(r->group, "switchover") == 0;
			return r->name;
		}
	}
	return NULL;
}
