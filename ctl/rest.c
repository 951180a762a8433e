/*
 * rest.c: calls to a member's REST API (ctl_int.h) with libcurl: the write
 * side of Patroni's API (POST /restart, /reload, /reinitialize, DELETE
 * /restart) and GET /patroni, with HTTP basic auth from the node's
 * restapi.authentication.
 */
#include "ctl/ctl_int.h"

#include "common/xmem.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct Body
{
	char *s;
	size_t len;
} Body;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	Body *b = ud;
	size_t n = size * nmemb;

	if (b->len + n > 1024 * 1024)
		return 0; /* a REST answer is small: refuse a flood */
	b->s = pgw_xrealloc(b->s, b->len + n + 1);
	memcpy(b->s + b->len, ptr, n);
	b->len += n;
	b->s[b->len] = '\0';
	return n;
}

int
ctl_rest_call(const CtlGlobal *g, const char *method, const char *url,
              const char *json_body, int timeout_ms, long *status, char **body,
              PgwError *err)
{
	static bool inited = false;
	CURL *h;
	CURLcode cc;
	Body b = {0};
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = 0;

	*status = 0;
	if (body)
		*body = NULL;
	if (!inited)
	{
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	h = curl_easy_init();
	if (h == NULL)
		return pgw_error_set(err, PGW_EIO, "could not initialise libcurl");
	curl_easy_setopt(h, CURLOPT_URL, url);
	/* api_urls come from etcd: never file://, ftp:// ... with our password
	 * (security review F12); no redirects either (curl's default) */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long) (timeout_ms < 3000 ? timeout_ms : 3000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (g->rest_cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, g->rest_cafile);
	/*
	 * api_urls come from etcd, where any member may write its own: basic
	 * auth over plain http gives the password to whoever is on the path
	 * (security review F12, as the daemon's leader does). A read needs no
	 * credentials and goes without them; a write is refused before it
	 * leaves, rather than sent without them for a 401.
	 */
	if (g->rest_username && g->rest_password &&
	    !g->rest_credentials_over_http && strncasecmp(url, "http://", 7) == 0)
	{
		if (strcmp(method, "GET") != 0)
		{
			curl_easy_cleanup(h);
			return pgw_error_set(
			    err, PGW_EAUTH,
			    "not sending restapi.authentication to %s: it is plain http, the password would cross the network in clear; give the members https api_urls (restapi.certfile), or set restapi.allow_credentials_over_http: true in the config given with -c",
			    url);
		}
	}
	else if (g->rest_username && g->rest_password)
	{
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, g->rest_username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, g->rest_password);
	}
	if (json_body)
	{
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(json_body));
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK)
		rc = pgw_error_set(err, PGW_EUNAVAILABLE, "%s %s: %s", method, url,
		                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (body && rc == 0)
		*body = b.s;
	else
		free(b.s);
	return rc;
}
