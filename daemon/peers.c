/*
 * peers.c: ask every other member's REST API for its role and WAL position
 * before a promotion (DESIGN.md promise 5: drop out if anyone is ahead or
 * still primary). All requests run in parallel through one libcurl multi
 * handle and the whole round is bounded by timeout_ms.
 */
#include "daemon/daemon_loop.h"

#include "common/strutil.h"
#include "common/url.h"
#include "common/xmem.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct Fetch
{
	char *buf;
	size_t len;
	bool overflow;
} Fetch;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Fetch *f = userdata;
	size_t n = size * nmemb;

	if (f->len + n > 256 * 1024)
	{
		f->overflow = true;
		return 0;
	}
	f->buf = pgw_xrealloc(f->buf, f->len + n + 1);
	memcpy(f->buf + f->len, ptr, n);
	f->len += n;
	f->buf[f->len] = '\0';
	return n;
}

static uint64_t
json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0
	           ? (uint64_t) json_integer_value(v)
	           : 0;
}

static const char *peers_scope;
static bool peers_http_credentials;

void
peers_set_policy(const char *scope, bool credentials_over_http)
{
	peers_scope = scope;
	peers_http_credentials = credentials_over_http;
}

/* peer_parse: decode a GET /patroni body; false when it is not one. */
bool
peer_parse(const char *body, size_t len, PeerProbe *p)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, 0, &jerr);
	json_t *xlog;
	const char *role;
	const char *state;

	if (o == NULL || !json_is_object(o))
	{
		json_decref(o);
		return false;
	}
	{
		json_t *pw = json_object_get(o, "patroni");
		const char *scope = json_string_value(json_object_get(pw, "scope"));
		const char *name = json_string_value(json_object_get(pw, "name"));

		/* an answer from whoever now holds that address is no answer
		 * from the member we asked (security review F11) */
		if ((peers_scope != NULL &&
		     (scope == NULL || strcmp(scope, peers_scope) != 0)) ||
		    (name != NULL && p->name[0] != '\0' && strcmp(name, p->name) != 0))
		{
			json_decref(o);
			return false;
		}
	}
	role = json_string_value(json_object_get(o, "role"));
	state = json_string_value(json_object_get(o, "state"));
	p->is_primary =
	    role && (strcmp(role, "primary") == 0 || strcmp(role, "master") == 0);
	p->running = state && strcmp(state, "running") == 0;
	xlog = json_object_get(o, "xlog");
	if (json_is_object(xlog))
	{
		p->xlog_location = json_u64(xlog, "location");
		p->received_location = json_u64(xlog, "received_location");
		p->replayed_location = json_u64(xlog, "replayed_location");
		if (p->xlog_location == 0)
			p->xlog_location = p->received_location > p->replayed_location
			                       ? p->received_location
			                       : p->replayed_location;
	}
	p->timeline = (int) json_u64(o, "timeline");
	{
		json_t *pw = json_object_get(o, "pgwarden");

		p->holds_leader = json_is_object(pw) &&
		                  json_is_true(json_object_get(pw, "holds_leader"));
	}
	json_decref(o);
	return true;
}

static const char *peers_cafile;
static const char *peers_certfile;
static const char *peers_keyfile;

void
peers_set_tls(const char *cafile, const char *certfile, const char *keyfile)
{
	peers_cafile = cafile;
	peers_certfile = certfile;
	peers_keyfile = keyfile;
}

/*
 * peer_request: a GET of url into f, bounded by timeout_ms. Peers' https
 * certificates are checked against the cluster CA (restapi.cafile), and we
 * present our own certificate, which a peer with verify_client may ask for.
 */
static CURL *
peer_request(const char *url, Fetch *f, int timeout_ms)
{
	CURL *h = curl_easy_init();

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (peers_cafile && peers_cafile[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, peers_cafile);
	if (peers_certfile && peers_certfile[0])
	{
		curl_easy_setopt(h, CURLOPT_SSLCERT, peers_certfile);
		if (peers_keyfile && peers_keyfile[0])
			curl_easy_setopt(h, CURLOPT_SSLKEY, peers_keyfile);
	}
	return h;
}

/* run_all: drive every transfer of multi to its end (each is bounded) */
static void
run_all(CURLM *multi)
{
	int running = 0;

	do
	{
		int numfds;

		curl_multi_perform(multi, &running);
		if (running)
			curl_multi_poll(multi, NULL, 0, 50, &numfds);
	} while (running > 0);
}

/* failsafe_url: api_url with its path replaced by "/failsafe", as
 * Patroni's request derives an endpoint (scheme and authority kept):
 * "http://h:8008/patroni" -> "http://h:8008/failsafe" */
static bool
failsafe_url(const char *api_url, char *out, size_t len)
{
	char base[PGW_URL_MAX];
	int n;

	pgw_url_base(api_url, base, sizeof(base));
	n = snprintf(out, len, "%s/failsafe", base);
	return n > 0 && (size_t) n < len;
}

bool
peers_failsafe_confirm(const ClusterView *v, const char *self_name,
                       const char *user, const char *password, int timeout_ms,
                       char *failed_name, size_t failed_len,
                       long *failed_status)
{
	CURLM *multi = curl_multi_init();
	CURL *easy[PGW_MEMBERS_MAX] = {0};
	const char *names[PGW_MEMBERS_MAX];
	Fetch fetch[PGW_MEMBERS_MAX];
	char body[PGW_NAME_MAX + 32];
	char userpwd[512];
	int n = 0;
	bool all = true;
	json_t *b = json_pack("{s:s}", "name", self_name);
	char *bs = b ? json_dumps(b, JSON_COMPACT) : NULL;

	json_decref(b);
	snprintf(body, sizeof(body), "%s", bs ? bs : "{}");
	free(bs);
	if (user && user[0])
		snprintf(userpwd, sizeof(userpwd), "%s:%s", user,
		         password ? password : "");
	failed_name[0] = '\0';
	*failed_status = 0;
	memset(fetch, 0, sizeof(fetch));
	/* the members the `failsafe` key lists (what we wrote while etcd was
	 * there, and what a member checks before it may promote), else the
	 * view's */
	int n_ask = v->failsafe.present ? v->failsafe.n : v->n_members;

	for (int i = 0; i < n_ask && n < PGW_MEMBERS_MAX; i++)
	{
		const char *mname =
		    v->failsafe.present ? v->failsafe.name[i] : v->members[i].name;
		const char *murl = v->failsafe.present ? v->failsafe.api_url[i]
		                                       : v->members[i].api_url;
		bool valid = v->failsafe.present || v->members[i].is_valid;
		char url[PGW_URL_MAX + 16];

		if (strcmp(mname, self_name) == 0)
			continue;
		names[n] = mname;
		/* a member we cannot ask cannot vouch: that is a "no" */
		if (!valid || murl[0] == '\0' || !failsafe_url(murl, url, sizeof(url)))
		{
			if (all)
				pgw_strlcpy(failed_name, mname, failed_len);
			all = false;
			continue;
		}
		easy[n] = peer_request(url, &fetch[n], timeout_ms);
		curl_easy_setopt(easy[n], CURLOPT_POSTFIELDS, body);
		/* the password goes over TLS only, unless the operator allowed
		 * http (security review F12): a member key's api_url is where
		 * etcd says, and plain http is readable on the way */
		if (user && user[0] &&
		    (strncmp(url, "https://", 8) == 0 || peers_http_credentials))
			curl_easy_setopt(easy[n], CURLOPT_USERPWD, userpwd);
		curl_multi_add_handle(multi, easy[n]);
		n++;
	}
	run_all(multi);
	for (int i = 0; i < n; i++)
	{
		long code = 0;

		if (easy[i] == NULL)
			continue;
		curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
		if (code != 200 && all)
		{
			pgw_strlcpy(failed_name, names[i], failed_len);
			*failed_status = code;
			all = false;
		}
		else if (code != 200)
			all = false;
		curl_multi_remove_handle(multi, easy[i]);
		curl_easy_cleanup(easy[i]);
		free(fetch[i].buf);
	}
	curl_multi_cleanup(multi);
	return all;
}

int
peers_probe(const ClusterView *v, const char *self_name, int timeout_ms,
            PeerProbe *out, int max_out)
{
	CURLM *multi = curl_multi_init();
	CURL *easy[PGW_MEMBERS_MAX] = {0};
	Fetch fetch[PGW_MEMBERS_MAX];
	int n = 0;

	memset(fetch, 0, sizeof(fetch));
	for (int i = 0; i < v->n_members && n < max_out && n < PGW_MEMBERS_MAX; i++)
	{
		const MemberInfo *m = &v->members[i];

		if (strcmp(m->name, self_name) == 0 || !m->is_valid ||
		    m->api_url[0] == '\0')
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		pgw_strlcpy(out[n].name, m->name, sizeof(out[n].name));
		easy[n] = peer_request(m->api_url, &fetch[n], timeout_ms);
		curl_multi_add_handle(multi, easy[n]);
		n++;
	}
	run_all(multi);

	for (int i = 0; i < n; i++)
	{
		long code = 0;

		curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
		out[i].reachable = code > 0 && fetch[i].buf != NULL &&
		                   !fetch[i].overflow &&
		                   peer_parse(fetch[i].buf, fetch[i].len, &out[i]);
		curl_multi_remove_handle(multi, easy[i]);
		curl_easy_cleanup(easy[i]);
		free(fetch[i].buf);
	}
	curl_multi_cleanup(multi);
	return n;
}
