/*
 * rest_probes.c: the kubelet's probes (k8s_views.h): /liveness, /readiness,
 * /startup, with Patroni's codes (200 or 503, no body). The rule they keep:
 * a probe never kills a healthy primary. Liveness only asks whether the HA
 * loop turns (Patroni's ttl / 2 x ttl), and a loop blocked in a long,
 * bounded action (a clone of a large database, a rewind) counts as alive:
 * the action has its own time bound, and a kubelet restart would only
 * start it over. Readiness decides who receives traffic through Services:
 * the leader while it writes under a live lease, a replica only while its
 * WAL receiver streams and it is within the lag bound. Startup covers
 * everything before the node first served (bootstrap, clone, restore), so
 * liveness is not asked during it.
 */
#include "daemon/k8s_views.h"

#include "common/strutil.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t facts_mu = PTHREAD_MUTEX_INITIALIZER;
static ProbeFacts facts;

void
rest_probes_set(const ProbeFacts *f)
{
	pthread_mutex_lock(&facts_mu);
	facts = *f;
	pthread_mutex_unlock(&facts_mu);
}

void
rest_probes_get(ProbeFacts *f)
{
	pthread_mutex_lock(&facts_mu);
	*f = facts;
	pthread_mutex_unlock(&facts_mu);
}

bool
rest_probe_path(const char *path)
{
	return strcmp(path, "/liveness") == 0 || strcmp(path, "/readiness") == 0 ||
	       strcmp(path, "/startup") == 0;
}

/* lag=<bytes|16kB|10MB> from the query; true with *out, false when absent;
 * *bad when present but not a size */
static bool
query_lag(const char *query, uint64_t *out, bool *bad)
{
	const char *p = query;

	*bad = false;
	while (p != NULL && *p)
	{
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t) (amp - p) : strlen(p);

		if (n > 4 && strncmp(p, "lag=", 4) == 0)
		{
			char buf[64];

			if (n - 4 >= sizeof(buf))
			{
				*bad = true;
				return true;
			}
			memcpy(buf, p + 4, n - 4);
			buf[n - 4] = '\0';
			*bad = pgw_parse_bytes(buf, out) != 0;
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

/* how far this replica is behind the leader's last published position */
static uint64_t
lag_bytes(const RestSnapshot *s)
{
	uint64_t leader_lsn = s->view.leader_optime;
	uint64_t mine = s->self.replayed_location ? s->self.replayed_location
	                                          : s->self.xlog_location;

	for (int i = 0; i < s->view.n_members; i++)
		if (s->view.has_leader &&
		    strcmp(s->view.members[i].name, s->view.leader) == 0 &&
		    s->view.members[i].xlog_location > leader_lsn)
			leader_lsn = s->view.members[i].xlog_location;
	return leader_lsn > mine ? leader_lsn - mine : 0;
}

int
rest_probe_status(const RestSnapshot *s, const ProbeFacts *f, const char *path,
                  const char *query, int64_t now_mono_ms)
{
	int64_t ttl_ms = s->view.config.ttl_ms > 0 ? s->view.config.ttl_ms : 10000;
	bool leads = s->holds_leader && s->lease_deadline_mono_ms > now_mono_ms;

	if (query == NULL)
		query = "";
	if (strcmp(path, "/liveness") == 0)
	{
		int64_t bound = s->holds_leader ? ttl_ms : 2 * ttl_ms;

		if (s->view.config.pause || f->busy_kind != 0)
			return 200;
		return s->last_loop_mono_ms > 0 &&
		               now_mono_ms - s->last_loop_mono_ms <= bound
		           ? 200
		           : 503;
	}
	if (strcmp(path, "/startup") == 0)
		return f->started || (leads && s->pg_read_write) ? 200 : 503;
	if (strcmp(path, "/readiness") == 0)
	{
		uint64_t bound = s->view.config.maximum_lag_on_failover;
		bool bad = false;

		if (leads && s->pg_read_write)
			return 200;
		if (!s->pg_running || s->pg_read_write || s->holds_leader ||
		    s->self.noloadbalance || !f->streaming)
			return 503;
		/* an unparsable bound is a bad check, not a ready replica */
		if (query_lag(query, &bound, &bad) && bad)
			return 503;
		return lag_bytes(s) <= bound ? 200 : 503;
	}
	return 0;
}

int
rest_probe_status_now(const RestSnapshot *s, const char *path,
                      const char *query, int64_t now_mono_ms)
{
	ProbeFacts f;

	rest_probes_get(&f);
	return rest_probe_status(s, &f, path, query, now_mono_ms);
}
