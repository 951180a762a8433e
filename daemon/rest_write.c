/*
 * rest_write.c: the REST API's write endpoints (DESIGN.md "REST API";
 * Patroni's api.py paths, bodies and status codes, anchors.md §1b):
 *   POST /switchover, POST /failover    write the `failover` key
 *   DELETE /switchover                  delete it (CAS)
 *   PATCH /config, PUT /config          CAS on the `config` key
 *   POST /restart, DELETE /restart,
 *   POST /reinitialize, POST /reload    queued for the loop (rest_actions.c)
 * Access is checked before (rest.c). Bodies are parsed by rest_body.c.
 *
 * A pending request is never overwritten: the failover key is created only
 * if absent, so a second request while one is pending answers 409 (Patroni
 * overwrites it; two operators racing should not silently replace each
 * other's switchover). DELETE /switchover removes the pending one,
 * scheduled or not (Patroni only deletes a scheduled one), by CAS on its
 * mod_revision (409 when it changed meanwhile).
 *
 * An immediate switchover waits up to 2 * (ttl + loop_wait), polling the
 * leader and failover keys in etcd every 200 ms: 200 once the leader key
 * names another member; 503 "Switchover failed" when the failover key is
 * gone for 1 s while the old leader still holds the key (so the daemon
 * should delete the key only once the new leader holds the leader key, or
 * when it gives up); 503 "Switchover status unknown" at the deadline (the
 * request stays in etcd; DELETE /switchover cancels it).
 */
#include "daemon/rest_int.h"
#include "daemon/rest_body.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "failover/failover.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_INTERVAL_MS 200

void
rest_reply_set(RestReply *r, int status, const char *key, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, key, json_string(msg ? msg : ""));
	free(r->body);
	r->status = status;
	r->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
}

void
reply_msg(RestReply *r, int status, const char *msg)
{
	rest_reply_set(r, status,
	               status >= 200 && status < 300 ? "message" : "error", msg);
}

RestSnapshot *
rest_snapshot_copy(RestServer *srv)
{
	RestSnapshot *s = NULL;

	pthread_mutex_lock(&srv->lock);
	if (srv->has_snap)
	{
		s = pgw_xmalloc(sizeof(RestSnapshot));
		*s = srv->snap;
		s->history_json = NULL;
		s->config_json = NULL;
	}
	pthread_mutex_unlock(&srv->lock);
	return s;
}

bool
rest_write_is_endpoint(const char *method, const char *url)
{
	if (strcmp(method, "POST") == 0)
		return strcmp(url, "/switchover") == 0 ||
		       strcmp(url, "/failover") == 0 || strcmp(url, "/restart") == 0 ||
		       strcmp(url, "/reinitialize") == 0 ||
		       strcmp(url, "/reload") == 0 || strcmp(url, "/failsafe") == 0 ||
		       strcmp(url, "/backup") == 0;
	if (strcmp(method, "DELETE") == 0)
		return strcmp(url, "/switchover") == 0 || strcmp(url, "/restart") == 0;
	if (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0)
		return strcmp(url, "/config") == 0;
	return false;
}

/* ---- switchover rules (pure) ------------------------------------------- */

int
rest_switchover_check(const ClusterView *v, const char *leader,
                      const char *candidate, bool is_failover, bool scheduled,
                      char *why, size_t why_len)
{
	const char *what = is_failover ? "failover" : "switchover";
	const MemberInfo *m;
	FailoverCandidate fc;
	const char *best;

	why[0] = '\0';
	if (v->config.pause && scheduled)
	{
		snprintf(why, why_len, "Can't schedule %s in the paused state", what);
		return 400;
	}
	if (v->config.pause && candidate[0] == '\0')
	{
		snprintf(
		    why, why_len,
		    "Switchover is possible only to a specific candidate in a paused state");
		return 400;
	}
	if (leader[0] != '\0' && (!v->has_leader || strcmp(v->leader, leader) != 0))
	{
		snprintf(
		    why, why_len, "leader name does not match: the leader is %s%s%s",
		    v->has_leader ? "\"" : "", v->has_leader ? v->leader : "nobody",
		    v->has_leader ? "\"" : "");
		return 412;
	}
	if (candidate[0] == '\0')
	{
		best = failover_best_candidate(v, NULL, 0,
		                               v->has_leader ? v->leader : NULL);
		if (best == NULL)
		{
			snprintf(why, why_len,
			         "%s is not possible: no good candidates have been found",
			         what);
			return 412;
		}
		return 0;
	}
	m = dcs_view_member(v, candidate);
	if (m == NULL)
	{
		snprintf(why, why_len, "candidate does not exists: no member \"%s\"",
		         candidate);
		return 412;
	}
	if (v->has_leader && strcmp(v->leader, candidate) == 0)
	{
		snprintf(why, why_len, "candidate \"%s\" is already the leader",
		         candidate);
		return 412;
	}
	/*
	 * The engine's verdict (failover/rank.c), worded for the API. A failover
	 * with no leader may lose data by design (patronictl failover warns), so
	 * the lag bound applies only while a leader exists.
	 */
	(void) failover_candidate_assess(v, NULL, 0, candidate, &fc);
	switch (fc.why)
	{
		case FAILOVER_ELIGIBLE:
			return 0;
		case FAILOVER_INELIGIBLE_INVALID:
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible: its member key does not decode (%s)",
			    candidate, m->parse_error);
			break;
		case FAILOVER_INELIGIBLE_NOT_RUNNING:
			snprintf(why, why_len,
			         "candidate \"%s\" is not eligible: PostgreSQL is %s",
			         candidate, dcs_state_name(m->state));
			break;
		case FAILOVER_INELIGIBLE_NOT_REPLICA:
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible: it is not a replica (role %s)",
			    candidate, dcs_role_name(m->role));
			break;
		case FAILOVER_INELIGIBLE_NOFAILOVER:
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible: it is tagged nofailover",
			    candidate);
			break;
		case FAILOVER_INELIGIBLE_PRIORITY_ZERO:
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible: its failover_priority is %d",
			    candidate, m->failover_priority);
			break;
		case FAILOVER_INELIGIBLE_NOT_SYNC:
			snprintf(
			    why, why_len,
			    "candidate name does not match with sync_standby: \"%s\" is not a synchronous standby",
			    candidate);
			break;
		case FAILOVER_INELIGIBLE_LAG:
			if (!v->has_leader && is_failover)
				return 0;
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible: it lags %llu bytes behind (maximum_lag_on_failover is %llu)",
			    candidate, (unsigned long long) fc.lag_bytes,
			    (unsigned long long) v->config.maximum_lag_on_failover);
			break;
		case FAILOVER_INELIGIBLE_TIMELINE_BEHIND:
			snprintf(
			    why, why_len,
			    "candidate \"%s\" is not eligible for promotion (see GET /cluster)",
			    candidate);
			break;
	}
	return 412;
}

/* ---- etcd --------------------------------------------------------------- */

/* with etcd_lock held */
static EtcdClient *
etcd_get(RestServer *srv, PgwError *err)
{
	EtcdClientConfig ec = {0};

	if (srv->etcd != NULL)
		return srv->etcd;
	if (srv->etcd_endpoints == NULL || srv->prefix == NULL)
	{
		pgw_error_set(err, PGW_EUNAVAILABLE,
		              "this node's REST API has no etcd access configured");
		return NULL;
	}
	ec.endpoints = srv->etcd_endpoints;
	ec.ca_file = srv->etcd_cacert;
	ec.cert_file = srv->etcd_cert;
	ec.key_file = srv->etcd_key;
	ec.username = srv->etcd_username;
	ec.password = srv->etcd_password;
	ec.call_timeout_ms = 2000;
	if (etcd_client_open(&ec, &srv->etcd, err) != 0)
		srv->etcd = NULL;
	return srv->etcd;
}

void
rest_write_close(RestServer *srv)
{
	etcd_client_close(srv->etcd);
	srv->etcd = NULL;
}

/*
 * read_key: the value (caller frees; NULL when absent) and mod_revision of
 * prefix + suffix, read linearizably (dcs_key_read) on the write side's
 * etcd client.
 */
static int
read_key(RestServer *srv, const char *suffix, char **value, int64_t *mod_rev,
         PgwError *err)
{
	EtcdClient *c;
	int rc;

	*value = NULL;
	*mod_rev = 0;
	pthread_mutex_lock(&srv->etcd_lock);
	c = etcd_get(srv, err);
	rc = c ? dcs_key_read(c, srv->prefix, suffix, value, NULL, mod_rev, err)
	       : PGW_EUNAVAILABLE;
	pthread_mutex_unlock(&srv->etcd_lock);
	return rc;
}

int
rest_with_etcd(RestServer *srv,
               int (*fn)(EtcdClient *c, const char *prefix, void *arg,
                         PgwError *err),
               void *arg, PgwError *err)
{
	EtcdClient *c;
	int rc;

	pthread_mutex_lock(&srv->etcd_lock);
	c = etcd_get(srv, err);
	rc = c ? fn(c, srv->prefix, arg, err) : PGW_EUNAVAILABLE;
	pthread_mutex_unlock(&srv->etcd_lock);
	return rc;
}

static int
cas_put(RestServer *srv, const char *suffix, const char *value, int64_t rev,
        PgwError *err)
{
	EtcdClient *c;
	int rc;

	pthread_mutex_lock(&srv->etcd_lock);
	c = etcd_get(srv, err);
	rc = c ? dcs_cas_put(c, srv->prefix, suffix, value, rev, err)
	       : PGW_EUNAVAILABLE;
	pthread_mutex_unlock(&srv->etcd_lock);
	return rc;
}

static int
cas_delete(RestServer *srv, const char *suffix, int64_t rev, PgwError *err)
{
	EtcdClient *c;
	int rc;

	pthread_mutex_lock(&srv->etcd_lock);
	c = etcd_get(srv, err);
	rc =
	    c ? dcs_cas_delete(c, srv->prefix, suffix, rev, err) : PGW_EUNAVAILABLE;
	pthread_mutex_unlock(&srv->etcd_lock);
	return rc;
}

/* ---- switchover / failover ---------------------------------------------- */

/*
 * wait_result: Patroni's poll_failover_result: success once the leader key
 * names someone other than the old leader; failure when the failover key
 * went away and the leader did not change (for a few polls, so that a
 * daemon deleting the key just before the new leader takes over is not
 * misread); unknown at the deadline.
 */
static void
wait_result(RestServer *srv, const char *old_leader, const char *candidate,
            bool is_failover, int64_t wait_ms, RestReply *out)
{
	const char *past = is_failover ? "failed" : "switched";
	const char *title = is_failover ? "Failover" : "Switchover";
	int64_t deadline = pgw_now_mono_ms() + wait_ms;
	int gone_polls = 0;
	char msg[256];

	while (pgw_now_mono_ms() < deadline &&
	       !__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE))
	{
		char *leader = NULL;
		char *fo = NULL;
		int64_t rev;
		PgwError err = {0};

		pgw_sleep_ms(POLL_INTERVAL_MS);
		if (read_key(srv, "leader", &leader, &rev, &err) != 0 ||
		    read_key(srv, "failover", &fo, &rev, &err) != 0)
		{
			free(leader);
			continue;
		}
		if (leader != NULL && leader[0] != '\0' &&
		    strcmp(leader, old_leader) != 0)
		{
			if (candidate[0] == '\0' || strcmp(candidate, leader) == 0)
				snprintf(msg, sizeof(msg), "Successfully %s over to \"%s\"",
				         past, leader);
			else
				snprintf(
				    msg, sizeof(msg), "%s over to \"%s\" instead of \"%s\"",
				    is_failover ? "Failed" : "Switched", leader, candidate);
			free(leader);
			free(fo);
			reply_msg(out, 200, msg);
			return;
		}
		gone_polls = fo == NULL ? gone_polls + 1 : 0;
		free(leader);
		free(fo);
		if (gone_polls >= 5)
		{
			snprintf(msg, sizeof(msg), "%s failed", title);
			reply_msg(out, 503, msg);
			return;
		}
	}
	snprintf(msg, sizeof(msg), "%s status unknown", title);
	reply_msg(out, 503, msg);
}

static void
post_switchover(RestServer *srv, bool is_failover, const char *body, size_t len,
                RestReply *out)
{
	const char *what = is_failover ? "failover" : "switchover";
	RestSwitchoverBody req;
	RestSnapshot *s;
	FailoverRequest fr;
	PgwError err = {0};
	char why[PGW_ERROR_MSG_MAX];
	char old_leader[PGW_NAME_MAX] = "";
	char *value;
	int status;
	int rc;
	int64_t wait_ms;
	bool asked_failover;

	if (rest_body_switchover(body, len, is_failover, pgw_now_wall_ms(), &req,
	                         &status, &err) != 0)
	{
		reply_msg(out, status, err.msg);
		return;
	}
	s = rest_snapshot_copy(srv);
	if (s == NULL || !s->view.is_valid)
	{
		free(s);
		reply_msg(out, 503, "the cluster view is unknown (etcd unreachable?)");
		return;
	}
	/* a failover that names the leader is a switchover (Patroni), still
	 * worded as the failover that was asked for (api.py's action) */
	asked_failover = is_failover;
	if (is_failover && req.leader[0] != '\0')
	{
		is_failover = false;
		what = "switchover";
	}
	status =
	    rest_switchover_check(&s->view, req.leader, req.candidate, is_failover,
	                          req.has_schedule, why, sizeof(why));
	if (s->view.has_leader)
		pgw_strlcpy(old_leader, s->view.leader, sizeof(old_leader));
	wait_ms = 2 * (s->view.config.ttl_ms + s->view.config.loop_wait_ms);
	free(s);
	if (status != 0)
	{
		char q[PGW_ERROR_MSG_MAX + 16];

		log_info("rest.switchover-refused",
		         "leader=%s candidate=%s status=%d reason=%s", req.leader,
		         req.candidate, status, log_quote(why, q, sizeof(q)));
		reply_msg(out, status, why);
		return;
	}
	memset(&fr, 0, sizeof(fr));
	fr.present = true;
	pgw_strlcpy(fr.leader, req.leader, sizeof(fr.leader));
	pgw_strlcpy(fr.member, req.candidate, sizeof(fr.member));
	fr.scheduled_at_wall_ms = req.has_schedule ? req.scheduled_at_wall_ms : 0;
	value = dcs_failover_encode(&fr);
	rc = cas_put(srv, "failover", value, 0, &err);
	free(value);
	if (rc == PGW_ECONFLICT)
	{
		snprintf(
		    why, sizeof(why),
		    "another switchover or failover is already pending (cancel it with DELETE /switchover)");
		reply_msg(out, 409, why);
		return;
	}
	if (rc != 0)
	{
		char q[PGW_ERROR_MSG_MAX + 16];

		log_warn("rest.switchover-failed", "detail=%s",
		         log_quote(err.msg, q, sizeof(q)));
		snprintf(why, sizeof(why), "failed to write failover key into DCS: %s",
		         err.msg);
		reply_msg(out, 503, why);
		return;
	}
	log_info("rest.switchover-requested",
	         "kind=%s leader=%s candidate=%s scheduled=%s", what, req.leader,
	         req.candidate[0] ? req.candidate : "any",
	         req.has_schedule ? "yes" : "no");
	if (req.has_schedule)
	{
		reply_msg(out, 202,
		          asked_failover ? "Failover scheduled"
		                         : "Switchover scheduled");
		return;
	}
	wait_result(srv, old_leader, req.candidate, asked_failover, wait_ms, out);
}

static void
delete_switchover(RestServer *srv, RestReply *out)
{
	char *value = NULL;
	int64_t rev;
	PgwError err = {0};
	int rc;
	char msg[PGW_ERROR_MSG_MAX];

	rc = read_key(srv, "failover", &value, &rev, &err);
	free(value);
	if (rc != 0)
	{
		snprintf(msg, sizeof(msg), "could not read the failover key: %s",
		         err.msg);
		reply_msg(out, 503, msg);
		return;
	}
	if (rev == 0)
	{
		reply_msg(out, 404, "no switchover is scheduled");
		return;
	}
	rc = cas_delete(srv, "failover", rev, &err);
	if (rc == PGW_ECONFLICT)
		reply_msg(out, 409,
		          "the failover key changed meanwhile; read it again");
	else if (rc != 0)
	{
		snprintf(msg, sizeof(msg), "could not delete the failover key: %s",
		         err.msg);
		reply_msg(out, 503, msg);
	}
	else
	{
		log_info("rest.switchover-cancelled", "mod_revision=%lld",
		         (long long) rev);
		reply_msg(out, 200, "scheduled switchover deleted");
	}
}

/* ---- config -------------------------------------------------------------- */

/* If-Match: "123" or 123 -> 123; 0 when absent, -1 when malformed */
static int64_t
parse_if_match(const char *h)
{
	char buf[32];
	size_t n;
	int64_t v;

	if (h == NULL)
		return 0;
	while (*h == ' ')
		h++;
	if (strncmp(h, "W/", 2) == 0)
		h += 2;
	if (*h == '"')
		h++;
	n = strcspn(h, "\" ");
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (pgw_parse_int64(buf, 1, INT64_MAX, &v) != 0)
		return -1;
	return v;
}

/* sets_failsafe: the new config value turns failsafe_mode on */
static bool
sets_failsafe(const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	bool on = o != NULL && json_is_true(json_object_get(o, "failsafe_mode"));

	json_decref(o);
	return on;
}

static void
write_config(RestServer *srv, bool replace, const char *body, size_t len,
             const char *if_match, RestReply *out)
{
	char *current = NULL;
	char *next = NULL;
	int64_t rev;
	int64_t want = parse_if_match(if_match);
	PgwError err = {0};
	int status;
	int rc;
	char msg[PGW_ERROR_MSG_MAX];

	if (want < 0)
	{
		reply_msg(
		    out, 400,
		    "If-Match: expected the config key's mod_revision (as in the ETag of GET /config)");
		return;
	}
	rc = read_key(srv, "config", &current, &rev, &err);
	if (rc != 0)
	{
		snprintf(msg, sizeof(msg), "could not read the config key: %s",
		         err.msg);
		reply_msg(out, 503, msg);
		return;
	}
	if (current == NULL && !replace)
	{
		reply_msg(out, 503, "no config in etcd");
		return;
	}
	if (want != 0 && want != rev)
	{
		snprintf(msg, sizeof(msg),
		         "config changed meanwhile: mod_revision is %lld, not %lld",
		         (long long) rev, (long long) want);
		free(current);
		reply_msg(out, 409, msg);
		return;
	}
	if (rest_body_config(current, current ? strlen(current) : 0, body, len,
	                     replace, &next, NULL, &status, &err) != 0)
	{
		free(current);
		reply_msg(out, status, err.msg);
		return;
	}
	free(current);
	if (sets_failsafe(next) && srv->username == NULL &&
	    !(srv->verify_client != 0 && srv->cert_pem != NULL))
	{
		free(next);
		reply_msg(
		    out, 400,
		    "failsafe_mode needs restapi.authentication or client certificates (restapi.verify_client) on the nodes: a vouch stops every automatic failover, so only the leader may ask for one");
		return;
	}
	rc = cas_put(srv, "config", next, rev, &err);
	if (rc == PGW_ECONFLICT)
	{
		free(next);
		reply_msg(
		    out, 409,
		    "config changed meanwhile (compare-and-swap on mod_revision lost); read it again");
		return;
	}
	if (rc != 0)
	{
		free(next);
		snprintf(msg, sizeof(msg), "could not write the config key: %s",
		         err.msg);
		reply_msg(out, replace ? 502 : 503, msg);
		return;
	}
	log_info("rest.config-changed", "method=%s previous_mod_revision=%lld",
	         replace ? "PUT" : "PATCH", (long long) rev);
	free(out->body);
	out->status = 200;
	out->body = next;
}

void
rest_write_handle(RestServer *srv, const char *method, const char *url,
                  const char *body, size_t len, const char *if_match,
                  const struct sockaddr *client, RestReply *out)
{
	bool post = strcmp(method, "POST") == 0;
	bool del = strcmp(method, "DELETE") == 0;

	out->status = 0;
	out->body = NULL;
	if (post && strcmp(url, "/switchover") == 0)
		post_switchover(srv, false, body, len, out);
	else if (post && strcmp(url, "/failover") == 0)
		post_switchover(srv, true, body, len, out);
	else if (del && strcmp(url, "/switchover") == 0)
		delete_switchover(srv, out);
	else if (strcmp(method, "PATCH") == 0 && strcmp(url, "/config") == 0)
		write_config(srv, false, body, len, if_match, out);
	else if (strcmp(method, "PUT") == 0 && strcmp(url, "/config") == 0)
		write_config(srv, true, body, len, if_match, out);
	else if (post && strcmp(url, "/restart") == 0)
		post_restart(srv, body, len, out);
	else if (del && strcmp(url, "/restart") == 0)
		simple_action(srv, REST_ACTION_RESTART_CANCEL, out);
	else if (post && strcmp(url, "/reinitialize") == 0)
		post_reinit(srv, body, len, out);
	else if (post && strcmp(url, "/reload") == 0)
		simple_action(srv, REST_ACTION_RELOAD, out);
	else if (post && strcmp(url, "/failsafe") == 0)
		rest_failsafe_post(srv, body, len, client, out);
	else if (post && strcmp(url, "/backup") == 0)
		rest_backup_post(srv, body, len, out); /* rest_backup.c */
	else
		reply_msg(out, 405, "method not allowed");
}
