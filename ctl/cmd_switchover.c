/*
 * cmd_switchover.c: switchover, failover and flush switchover. A request is
 * Patroni's `failover` key ({leader, member, scheduled_at}), created by one
 * compare-and-swap (only if absent) after the candidate passed the
 * engine's eligibility rules; the daemons carry it out. We then wait,
 * bounded, for the leader key to name the new primary, measuring the write
 * downtime with a libpq probe (probe.c).
 */
#include "ctl/ctl_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* the default wait: two rounds of ttl + loop_wait, at least 20 s */
static int64_t
wait_budget_ms(const ClusterView *v, const CtlArgs *a)
{
	int64_t ms;

	if (a->timeout_ms > 0)
		return a->timeout_ms;
	ms = 2 * (v->config.ttl_ms + v->config.loop_wait_ms);
	return ms < 20000 ? 20000 : ms;
}

static bool
leader_is_healthy(const ClusterView *v)
{
	const MemberInfo *m;

	if (!v->has_leader)
		return false;
	m = dcs_view_member(v, v->leader);
	return m != NULL && m->is_valid && m->state == MEMBER_STATE_RUNNING &&
	       (m->role == MEMBER_ROLE_PRIMARY ||
	        m->role == MEMBER_ROLE_STANDBY_LEADER);
}

typedef enum WaitResult
{
	WAIT_DONE = 0,
	WAIT_TIMEOUT,
	WAIT_ABANDONED, /* the request is gone, the leader did not move */
	WAIT_ETCD,
} WaitResult;

/*
 * wait_new_leader: poll etcd until the leader key names a member other
 * than old_leader (candidate when given) whose member key says it runs as
 * primary. *new_leader receives its name.
 */
static WaitResult
wait_new_leader(CtlGlobal *g, EtcdClient *c, const char *old_leader,
                const char *candidate, int64_t budget_ms, char *new_leader,
                char *msg, size_t msg_len)
{
	int64_t deadline = pgw_now_mono_ms() + budget_ms;
	int64_t gone_since = 0;
	ClusterView *v = pgw_xmalloc(sizeof(ClusterView));
	WaitResult res = WAIT_TIMEOUT;

	msg[0] = '\0';
	while (pgw_now_mono_ms() < deadline)
	{
		PgwError err = {0};

		if (dcs_view_read(c, g->prefix, true, v, &err) != 0)
		{
			/* etcd may blink during a switchover: keep trying */
			snprintf(msg, msg_len, "%s", err.msg);
			pgw_sleep_ms(100);
			continue;
		}
		if (v->has_leader && strcmp(v->leader, old_leader) != 0 &&
		    (candidate == NULL || strcmp(v->leader, candidate) == 0))
		{
			const MemberInfo *m = dcs_view_member(v, v->leader);

			if (m != NULL && m->is_valid && m->role == MEMBER_ROLE_PRIMARY &&
			    m->state == MEMBER_STATE_RUNNING)
			{
				pgw_strlcpy(new_leader, v->leader, PGW_NAME_MAX);
				res = WAIT_DONE;
				break;
			}
		}

		/*
		 * The daemons delete the request when they are done or when they
		 * refuse it. Gone while the leader stays put for a few loops means
		 * it was refused (the daemon's log says why).
		 */
		if (!v->failover.present && v->has_leader &&
		    strcmp(v->leader, old_leader) == 0)
		{
			if (gone_since == 0)
				gone_since = pgw_now_mono_ms();
			else if (pgw_now_mono_ms() - gone_since >
			         3 * v->config.loop_wait_ms + 1000)
			{
				res = WAIT_ABANDONED;
				break;
			}
		}
		else
			gone_since = 0;
		pgw_sleep_ms(50);
	}
	free(v);
	return res;
}

typedef struct Outcome
{
	const char *kind; /* "switchover" / "failover" */
	const char *from;
	char to[PGW_NAME_MAX];
	int64_t duration_ms;
	int64_t downtime_ms; /* -1: not measured */
	bool resumed;
	char probe_msg[256];
} Outcome;

/*
 * probe_reason: libpq's message on one line ("connection to server at ...
 * failed: FATAL:  password authentication failed for user "root""), with
 * what to do when it is about credentials: pgwardenctl with only --etcd
 * and --scope has none, and says so in one line rather than a paragraph.
 */
static void
probe_reason(const char *msg, char *buf, size_t len)
{
	size_t n = 0;
	bool space = false;

	for (const char *p = msg; *p && n + 1 < len; p++)
	{
		bool ws = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';

		if (ws)
		{
			space = n > 0;
			continue;
		}
		if (space && n + 2 < len)
			buf[n++] = ' ';
		space = false;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	if (buf[0] == '\0')
		pgw_strlcpy(buf, "no answer", len);
	if (strstr(msg, "password") != NULL ||
	    strstr(msg, "authentication") != NULL || strstr(msg, "role") != NULL ||
	    strstr(msg, "no pg_hba.conf entry") != NULL)
		snprintf(
		    buf + strlen(buf), len - strlen(buf),
		    "; give the PostgreSQL superuser with -c /etc/pgwarden.yml, or PGUSER and PGPASSWORD (or ~/.pgpass)");
}

static void
print_outcome(CtlGlobal *g, const CtlArgs *a, const Outcome *o)
{
	char why[512];
	CtlFormat fmt = a->has_format ? a->format : g->format;

	if (fmt != CTL_FORMAT_PRETTY)
	{
		json_t *j = json_object();
		char *s;

		json_object_set_new(j, "result", json_string("ok"));
		json_object_set_new(j, "kind", json_string(o->kind));
		json_object_set_new(j, "from",
		                    o->from[0] ? json_string(o->from) : json_null());
		json_object_set_new(j, "to", json_string(o->to));
		json_object_set_new(j, "duration_ms", json_integer(o->duration_ms));
		json_object_set_new(j, "write_downtime_ms",
		                    o->downtime_ms >= 0 ? json_integer(o->downtime_ms)
		                                        : json_null());
		json_object_set_new(j, "writes_resumed", json_boolean(o->resumed));
		probe_reason(o->probe_msg, why, sizeof(why));
		json_object_set_new(j, "write_probe_error",
		                    o->downtime_ms < 0 ? json_string(why)
		                                       : json_null());
		s = fmt == CTL_FORMAT_JSON
		        ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		        : ctl_json_to_yaml(j);
		printf(fmt == CTL_FORMAT_JSON ? "%s\n" : "%s", s);
		free(s);
		json_decref(j);
		return;
	}
	printf("%s from %s to %s done in %lld ms\n", o->kind,
	       o->from[0] ? o->from : "(no leader)", o->to,
	       (long long) o->duration_ms);
	if (o->downtime_ms >= 0 && o->resumed)
		printf("write downtime: %lld ms (write probe every 10 ms)\n",
		       (long long) o->downtime_ms);
	else if (o->downtime_ms >= 0)
		printf(
		    "write downtime: more than %lld ms: writes had not resumed when the wait ended\n",
		    (long long) o->downtime_ms);
	else
	{
		probe_reason(o->probe_msg, why, sizeof(why));
		printf("write downtime: not measured: the probe could not write: %s\n",
		       why);
	}
}

/*
 * request_and_wait: write the request by CAS (create only), then, unless
 * scheduled, wait for the outcome and report it.
 */
static int
request_and_wait(CtlGlobal *g, const CtlArgs *a, EtcdClient *c,
                 const ClusterView *v, const FailoverRequest *req,
                 const char *kind)
{
	char *value = dcs_failover_encode(req);
	PgwError err = {0};
	const char *urls[PGW_MEMBERS_MAX];
	int n_urls = 0;
	CtlProbe *probe;
	Outcome o;
	WaitResult wr;
	char msg[PGW_ERROR_MSG_MAX];
	int64_t t0;
	int64_t budget = wait_budget_ms(v, a);

	memset(&o, 0, sizeof(o));
	o.kind = kind;
	o.from = req->leader;

	/* the probe runs from before the request, so the outage is all seen */
	for (int i = 0; i < v->n_members; i++)
		if ((v->has_leader && strcmp(v->members[i].name, v->leader) == 0) ||
		    req->member[0] == '\0' ||
		    strcmp(v->members[i].name, req->member) == 0)
			urls[n_urls++] = v->members[i].conn_url;
	probe = req->scheduled_at_wall_ms == 0 ? ctl_probe_start(g, urls, n_urls)
	                                       : NULL;
	if (probe != NULL)
	{
		/* give it one write before the request, if a primary answers */
		int64_t until = pgw_now_mono_ms() + 1000;

		while (ctl_probe_last_ok(probe) == 0 && pgw_now_mono_ms() < until)
			pgw_sleep_ms(10);
	}

	t0 = pgw_now_mono_ms();
	if (dcs_cas_put(c, g->prefix, "failover", value, 0, &err) != 0)
	{
		free(value);
		ctl_probe_stop(probe, &o.downtime_ms, &o.resumed, msg, sizeof(msg));
		if (err.code == PGW_ECONFLICT)
			ctl_fail(
			    "another switchover or failover request is pending; see it with list and cancel it with flush switchover");
		else
			ctl_fail(
			    "could not write the %s request to etcd: %s (nothing was written)",
			    kind, err.msg);
		return CTL_EXIT_FAILED;
	}
	free(value);
	if (req->scheduled_at_wall_ms != 0)
	{
		char ts[40];

		pgw_format_wall_iso(req->scheduled_at_wall_ms, 1, ts, sizeof(ts));
		printf(
		    "%s from %s to %s scheduled at %s (cancel with flush switchover)\n",
		    kind, req->leader,
		    req->member[0] ? req->member : "the best candidate", ts);
		return CTL_EXIT_OK;
	}
	if (!(a->has_format ? a->format != CTL_FORMAT_PRETTY
	                    : g->format != CTL_FORMAT_PRETTY))
		fprintf(stderr, "%s requested; waiting up to %lld s for %s to lead\n",
		        kind, (long long) (budget / 1000),
		        req->member[0] ? req->member : "a new leader");
	wr = wait_new_leader(g, c, req->leader, req->member[0] ? req->member : NULL,
	                     budget, o.to, msg, sizeof(msg));
	o.duration_ms = pgw_now_mono_ms() - t0;
	if (wr == WAIT_DONE && probe != NULL)
	{
		/* let the probe see the new primary take writes (bounded) */
		int64_t done = pgw_now_mono_ms();

		while (ctl_probe_last_ok(probe) < done &&
		       pgw_now_mono_ms() < done + 5000)
			pgw_sleep_ms(10);
	}
	ctl_probe_stop(probe, &o.downtime_ms, &o.resumed, o.probe_msg,
	               sizeof(o.probe_msg));
	if (wr == WAIT_DONE)
	{
		print_outcome(g, a, &o);
		return CTL_EXIT_OK;
	}
	if (wr == WAIT_ABANDONED)
		ctl_fail(
		    "%s refused or failed: the request was removed and %s still leads; see the daemons' logs (event names switchover.*)",
		    kind, req->leader[0] ? req->leader : "nobody");
	else
		ctl_fail(
		    "%s did not complete within %lld s; the request may still be pending (see list; cancel with flush switchover)%s%s",
		    kind, (long long) (budget / 1000),
		    msg[0] ? "; last etcd error: " : "", msg);
	return CTL_EXIT_FAILED;
}

int
cmd_switchover(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	PgwError err = {0};
	FailoverRequest req;
	int rc;

	if (a->scheduled_wall_ms != 0 && a->scheduled_wall_ms <= pgw_now_wall_ms())
	{
		ctl_fail(
		    "--scheduled time is in the past; give a future time with a zone");
		return CTL_EXIT_USAGE;
	}
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (!v->has_leader)
	{
		ctl_fail(
		    "cluster \"%s\" has no leader: a switchover needs one; use failover --candidate NAME",
		    g->scope);
		goto out;
	}
	if (a->leader && strcmp(a->leader, v->leader) != 0)
	{
		ctl_fail(
		    "member \"%s\" is not the leader (the leader is \"%s\"); check list and retry",
		    a->leader, v->leader);
		goto out;
	}
	if (!leader_is_healthy(v))
	{
		ctl_fail(
		    "the leader \"%s\" is not running as primary; use failover --candidate NAME",
		    v->leader);
		goto out;
	}
	if (v->config.pause)
	{
		ctl_fail(
		    "cluster \"%s\" is paused: the daemons do not act on switchovers; resume it first",
		    g->scope);
		goto out;
	}
	if (v->failover.present)
	{
		ctl_fail(
		    "a switchover or failover request is already pending (to \"%s\"); cancel it with flush switchover",
		    v->failover.member[0] ? v->failover.member : "any");
		goto out;
	}
	if (ctl_candidate_check(v, v->leader, a->candidate, CTL_TARGET_SWITCHOVER,
	                        &err) != 0)
	{
		ctl_fail("switchover refused: %s", err.msg);
		goto out;
	}
	if (!ctl_confirm(a->force, "Switch over from \"%s\" to \"%s\"%s? [y/N] ",
	                 v->leader,
	                 a->candidate ? a->candidate : "the best candidate",
	                 a->scheduled_wall_ms ? " at the scheduled time" : " now"))
	{
		if (a->force || ctl_is_interactive())
			ctl_fail("switchover aborted");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.present = true;
	pgw_strlcpy(req.leader, v->leader, sizeof(req.leader));
	if (a->candidate)
		pgw_strlcpy(req.member, a->candidate, sizeof(req.member));
	req.scheduled_at_wall_ms = a->scheduled_wall_ms;
	rc = request_and_wait(g, a, c, v, &req, "switchover");
out:
	free(v);
	etcd_client_close(c);
	return rc;
}

int
cmd_failover(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	PgwError err = {0};
	FailoverRequest req;
	int rc;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (leader_is_healthy(v))
	{
		ctl_fail(
		    "cluster \"%s\" has a healthy leader \"%s\": use switchover --candidate %s",
		    g->scope, v->leader, a->candidate);
		goto out;
	}
	if (v->failover.present)
	{
		ctl_fail(
		    "a switchover or failover request is already pending; cancel it with flush switchover");
		goto out;
	}
	if (ctl_candidate_check(v, v->has_leader ? v->leader : NULL, a->candidate,
	                        CTL_TARGET_FAILOVER, &err) != 0)
	{
		ctl_fail("failover refused: %s", err.msg);
		goto out;
	}
	if (!ctl_confirm(
	        a->force,
	        "Fail over to \"%s\"? There is no healthy leader; commits it did not receive are lost. [y/N] ",
	        a->candidate))
	{
		if (a->force || ctl_is_interactive())
			ctl_fail("failover aborted");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.present = true;
	pgw_strlcpy(req.member, a->candidate, sizeof(req.member));
	rc = request_and_wait(g, a, c, v, &req, "failover");
out:
	free(v);
	etcd_client_close(c);
	return rc;
}

int
cmd_flush(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	PgwError err = {0};
	char *value = NULL;
	size_t value_len = 0;
	int64_t mod_rev = 0;
	int rc;

	if (strcmp(a->pos[0], "restart") == 0)
		return ctl_flush_restart(g, a);
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if (dcs_key_read(c, g->prefix, "failover", &value, &value_len, &mod_rev,
	                 &err) != 0)
	{
		ctl_fail("could not read %sfailover from etcd %s: %s", g->prefix,
		         g->etcd, err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (value == NULL)
	{
		ctl_fail("no switchover or failover is pending in cluster \"%s\"",
		         g->scope);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (dcs_cas_delete(c, g->prefix, "failover", mod_rev, &err) != 0)
	{
		if (err.code == PGW_ECONFLICT)
			ctl_fail(
			    "the request changed while it was being cancelled (the daemons may be acting on it); check list and retry");
		else
			ctl_fail("could not delete %sfailover: %s", g->prefix, err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	printf("cancelled: %.*s\n", (int) value_len, value);
out:
	free(value);
	etcd_client_close(c);
	return rc;
}
