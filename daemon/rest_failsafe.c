/*
 * rest_failsafe.c: POST /failsafe (Patroni's failsafe_mode): a primary cut
 * from etcd asks the members to vouch for it, and a member that vouched
 * does not promote for a ttl. A vouch thus stops every automatic failover,
 * so it is given only to the member our last valid view named as leader,
 * asking from that member's address (security review F3).
 */
#include "daemon/rest_int.h"
#include "daemon/rest_body.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
rest_failsafe_vouch_check(const char *name, const char *leader,
                          const char *api_url, const char *conn_url,
                          const struct sockaddr *client, char *why,
                          size_t why_len)
{
	char host[PGW_URL_MAX];

	if (leader == NULL || leader[0] == '\0' || strcmp(name, leader) != 0)
	{
		snprintf(
		    why, why_len,
		    "\"%s\" is not the leader of the last valid view (%s%s%s): no vouch",
		    name, leader && leader[0] ? "\"" : "",
		    leader && leader[0] ? leader : "none",
		    leader && leader[0] ? "\"" : "");
		return 403;
	}
	if (client == NULL || !((rest_url_host(api_url, host, sizeof(host)) &&
	                         rest_host_match(host, client)) ||
	                        (rest_url_host(conn_url, host, sizeof(host)) &&
	                         rest_host_match(host, client))))
	{
		snprintf(why, why_len,
		         "the request does not come from \"%s\"'s address: no vouch",
		         name);
		return 403;
	}
	return 0;
}

static void
client_text(const struct sockaddr *sa, char *buf, size_t len)
{
	snprintf(buf, len, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf,
		          (socklen_t) len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf,
		          (socklen_t) len);
}

/*
 * POST /failsafe (Patroni's codes): a primary cut from etcd asks us to vouch
 * for it. 502 when failsafe_mode is off, 500 when we run as the leader
 * ourselves, else 200 "Accepted": we then do not promote for a ttl
 * (failover/rules.c, no-leader-failsafe-vouched). A vouch stops every
 * automatic failover, so (security review F3) it is given only to the
 * member our last valid view named as leader, asking from that member's
 * address (403 otherwise), and access was checked like every write; every
 * vouch and refusal is logged (a streak of vouches once per ttl).
 */
void
rest_failsafe_post(RestServer *srv, const char *body, size_t len,
                   const struct sockaddr *client, RestReply *out)
{
	RestSnapshot *s = rest_snapshot_copy(srv);
	char name[PGW_NAME_MAX];
	char why[PGW_NAME_MAX * 2 + 128];
	char leader[PGW_NAME_MAX];
	char api_url[PGW_URL_MAX];
	char conn_url[PGW_URL_MAX];
	char from[64];
	PgwError err = {0};
	int status = 0;

	if (s == NULL)
	{
		rest_reply_set(out, 503, "error", "no cluster state yet");
		return;
	}
	client_text(client, from, sizeof(from));
	if (!s->view.config.failsafe_mode)
		rest_reply_set(out, 502, "error",
		               "failsafe_mode is not enabled in the cluster's config");
	else if (rest_body_failsafe(body, len, name, sizeof(name), &status, &err) !=
	         0)
		rest_reply_set(out, status ? status : 400, "error", err.msg);
	else if (strcmp(name, s->name) == 0 ||
	         (s->pg_read_write && s->holds_leader))
		rest_reply_set(out, 500, "error", "Running as a leader");
	else
	{
		pthread_mutex_lock(&srv->lock);
		pgw_strlcpy(leader, srv->last_leader, sizeof(leader));
		pgw_strlcpy(api_url, srv->last_leader_api_url, sizeof(api_url));
		pgw_strlcpy(conn_url, srv->last_leader_conn_url, sizeof(conn_url));
		pthread_mutex_unlock(&srv->lock);
		status = rest_failsafe_vouch_check(name, leader, api_url, conn_url,
		                                   client, why, sizeof(why));
		if (status != 0)
		{
			log_warn("failsafe.vouch-refused",
			         "primary=%s from=%s reason=\"%s\"", name, from, why);
			rest_reply_set(out, status, "error", why);
		}
		else
		{
			int64_t now = pgw_now_mono_ms();
			int64_t last = atomic_exchange(&srv->failsafe_vouched_mono_ms, now);
			int64_t ttl =
			    s->view.config.ttl_ms > 0 ? s->view.config.ttl_ms : 10000;

			pthread_mutex_lock(&srv->lock);
			if (last == 0 || now - last > ttl ||
			    strcmp(srv->failsafe_primary, name) != 0)
				log_info("failsafe.vouched", "primary=%s from=%s", name, from);
			pgw_strlcpy(srv->failsafe_primary, name,
			            sizeof(srv->failsafe_primary));
			pthread_mutex_unlock(&srv->lock);
			rest_reply_set(out, 200, "message", "Accepted");
		}
	}
	free(s);
}

int64_t
rest_failsafe_vouched_ms(RestServer *s)
{
	return s ? atomic_load(&s->failsafe_vouched_mono_ms) : 0;
}
