/*
 * cmd_rest.c: restart, reload, reinit and flush restart: requests to the
 * members' own REST APIs (Patroni's write endpoints), found through the
 * api_url of their member keys. 404/405/501 mean the member's daemon does
 * not implement the endpoint: a clear error, not a retry.
 */
#include "ctl/ctl_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* targets: the named members (all must exist) or every member */
static int
pick_members(const ClusterView *v, const CtlArgs *a, bool all_by_default,
             const MemberInfo **out, int *n)
{
	*n = 0;
	if (a->all || (a->n_pos == 0 && all_by_default))
	{
		for (int i = 0; i < v->n_members; i++)
			out[(*n)++] = &v->members[i];
		if (*n == 0)
		{
			ctl_fail(
			    "cluster has no members registered (are the daemons running?)");
			return CTL_EXIT_FAILED;
		}
		return CTL_EXIT_OK;
	}
	for (int i = 0; i < a->n_pos; i++)
	{
		const MemberInfo *m;

		/* flush restart MEMBER...: pos[0] is "restart" */
		if (strcmp(a->command, "flush") == 0 && i == 0)
			continue;
		m = dcs_view_member(v, a->pos[i]);
		if (m == NULL)
		{
			ctl_fail("member \"%s\" does not exist in this cluster (see list)",
			         a->pos[i]);
			return CTL_EXIT_FAILED;
		}
		out[(*n)++] = m;
	}
	if (*n == 0)
		for (int i = 0; i < v->n_members; i++)
			out[(*n)++] = &v->members[i];
	return CTL_EXIT_OK;
}

/*
 * call_member: one request; prints "member: answer" and returns true on a
 * 2xx answer. what names the action in messages.
 */
static bool
call_member(CtlGlobal *g, const MemberInfo *m, const char *method,
            const char *path, const char *body, int64_t timeout_ms)
{
	char base[PGW_URL_MAX];
	char url[PGW_URL_MAX + 32];
	long status = 0;
	char *answer = NULL;
	PgwError err = {0};
	bool ok = false;

	if (m->api_url[0] == '\0')
	{
		ctl_fail(
		    "member \"%s\" publishes no api_url; cannot reach its REST API",
		    m->name);
		return false;
	}
	ctl_api_base(m->api_url, base, sizeof(base));
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (ctl_rest_call(g, method, url, body, (int) timeout_ms, &status, &answer,
	                  &err) != 0)
	{
		ctl_fail("could not reach member \"%s\": %s; is its daemon running?",
		         m->name, err.msg);
		return false;
	}
	/* strip a trailing newline for one-line reports */
	if (answer)
	{
		size_t n = strlen(answer);

		while (n > 0 && (answer[n - 1] == '\n' || answer[n - 1] == '\r'))
			answer[--n] = '\0';
	}
	if (status >= 200 && status < 300)
	{
		printf("%s: %s\n", m->name, answer && answer[0] ? answer : "ok");
		ok = true;
	}
	else if (status == 404 || status == 405 || status == 501)
		ctl_fail(
		    "member \"%s\": its daemon does not support %s %s yet (HTTP %ld); upgrade it",
		    m->name, method, path, status);
	else if (status == 401 || status == 403)
		ctl_fail(
		    "member \"%s\": %s %s was refused (HTTP %ld): give restapi.authentication with -c CONFIG or PGWARDEN_RESTAPI_USERNAME/PASSWORD",
		    m->name, method, path, status);
	else
		ctl_fail("member \"%s\": %s %s failed (HTTP %ld): %s", m->name, method,
		         path, status, answer && answer[0] ? answer : "no detail");
	free(answer);
	return ok;
}

/* run one request on every target; exit 1 if any failed */
static int
for_members(CtlGlobal *g, const CtlArgs *a, bool all_by_default,
            const char *method, const char *path, const char *body,
            const char *confirm_what)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	const MemberInfo *targets[PGW_MEMBERS_MAX];
	int n = 0;
	int failed = 0;
	int rc;
	char names[512] = "";
	size_t used = 0;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK ||
	    (rc = pick_members(v, a, all_by_default, targets, &n)) != CTL_EXIT_OK)
		goto out;
	if (a->pending)
	{
		int k = 0;

		for (int i = 0; i < n; i++)
			if (targets[i]->pending_restart)
				targets[k++] = targets[i];
			else
				printf("%s: skipped (no pending restart)\n", targets[i]->name);
		n = k;
		if (n == 0)
		{
			printf("no member has a pending restart\n");
			goto out;
		}
	}
	for (int i = 0; i < n && used < sizeof(names); i++)
		used += (size_t) snprintf(names + used, sizeof(names) - used, "%s%s",
		                          i ? ", " : "", targets[i]->name);
	if (confirm_what != NULL &&
	    !ctl_confirm(a->force, "%s %s? [y/N] ", confirm_what, names))
	{
		if (a->force || ctl_is_interactive())
			ctl_fail("aborted; nothing was sent");
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!call_member(g, targets[i], method, path, body,
		                 a->timeout_ms > 0 ? a->timeout_ms : 60000))
			failed++;
	rc = failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
out:
	free(v);
	etcd_client_close(c);
	return rc;
}

int
cmd_restart(CtlGlobal *g, const CtlArgs *a)
{
	json_t *b = json_object();
	char *body;
	int rc;

	if (a->scheduled_wall_ms != 0)
	{
		char ts[40];

		if (a->scheduled_wall_ms <= pgw_now_wall_ms())
		{
			json_decref(b);
			ctl_fail(
			    "--scheduled time is in the past; give a future time with a zone");
			return CTL_EXIT_USAGE;
		}
		pgw_format_wall_iso(a->scheduled_wall_ms, 1, ts, sizeof(ts));
		json_object_set_new(b, "schedule", json_string(ts));
	}
	if (a->pending)
		json_object_set_new(b, "restart_pending", json_true());
	body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	rc =
	    for_members(g, a, false, "POST", "/restart", body,
	                a->scheduled_wall_ms ? "Schedule a restart of PostgreSQL on"
	                                     : "Restart PostgreSQL on");
	free(body);
	return rc;
}

int
cmd_reload(CtlGlobal *g, const CtlArgs *a)
{
	return for_members(g, a, true, "POST", "/reload", "{}", NULL);
}

int
cmd_reinit(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	int rc;

	/* refuse the leader here: the daemon would too, but say it plainly */
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	rc = ctl_view(g, c, &v);
	if (rc == CTL_EXIT_OK && v->has_leader && strcmp(v->leader, a->pos[0]) == 0)
	{
		ctl_fail(
		    "member \"%s\" is the leader: only a replica can be reinitialized (switch over first)",
		    a->pos[0]);
		rc = CTL_EXIT_FAILED;
	}
	free(v);
	etcd_client_close(c);
	if (rc != CTL_EXIT_OK)
		return rc;
	return for_members(g, a, false, "POST", "/reinitialize",
	                   a->force ? "{\"force\":true}" : "{}",
	                   "Wipe the data directory and clone again");
}

int
ctl_flush_restart(CtlGlobal *g, const CtlArgs *a)
{
	CtlArgs b = *a;

	b.force = true; /* cancelling needs no confirmation */
	return for_members(g, &b, true, "DELETE", "/restart", NULL, NULL);
}
