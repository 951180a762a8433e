/*
 * client.c: HTTP to the Kubernetes API server (k8s.h, part 2). One libcurl
 * easy handle per client, reused so the TLS session stays up; https only,
 * peer and host verified against the configured CA; the bearer token read
 * from its file for every request (projected tokens rotate, and an expired
 * one must show as "token refused", not as a stale copy); every request
 * bounded by the client's timeout. The higher-level calls (pod labels,
 * EndpointSlice) read, write against the resourceVersion read, and on a 409
 * read again: optimistic concurrency, as every Kubernetes client does.
 */
#include "k8s/k8s.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K8S_BODY_MAX  (1024 * 1024)
#define K8S_TOKEN_MAX (64 * 1024)

struct K8sClient
{
	CURL *h;
	char *api_url; /* no trailing '/' */
	char *token_file;
	char *ca_file;
	char *namespace_;
	int timeout_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/*
 * read_small: a whole small file (token, namespace) with trailing white
 * space removed. NULL with err naming the path when it cannot be read.
 */
static char *
read_small(const char *path, const char *what, size_t max, PgwError *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t got = 0;

	if (fd < 0)
	{
		pgw_error_set(err, PGW_EAUTH, "could not read %s file \"%s\": %s", what,
		              path, strerror(errno));
		return NULL;
	}
	buf = pgw_xmalloc(max + 1);
	for (;;)
	{
		ssize_t n = read(fd, buf + got, max - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t) n;
		if (got == max)
			break;
	}
	close(fd);
	buf[got] = '\0';
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' ||
	                   buf[got - 1] == ' ' || buf[got - 1] == '\t'))
		buf[--got] = '\0';
	if (got == 0)
	{
		free(buf);
		pgw_error_set(err, PGW_EAUTH, "%s file \"%s\" is empty", what, path);
		return NULL;
	}
	return buf;
}

int
k8s_client_open(const K8sClientConfig *cfg, char *const *envp, K8sClient **out,
                PgwError *err)
{
	K8sClient *c;
	char url[512];
	char *probe;
	const char *ns_file =
	    cfg->namespace_file ? cfg->namespace_file : K8S_NAMESPACE_FILE;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (cfg->api_url != NULL && cfg->api_url[0] != '\0')
		pgw_strlcpy(url, cfg->api_url, sizeof(url));
	else
	{
		const char *host = env_get(envp, "KUBERNETES_SERVICE_HOST");
		const char *port = env_get(envp, "KUBERNETES_SERVICE_PORT");

		if (host == NULL || host[0] == '\0')
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "no Kubernetes API server: set kubernetes.api_url or run in a pod (KUBERNETES_SERVICE_HOST is not set)");
		snprintf(url, sizeof(url),
		         strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		         port && port[0] ? port : "443");
	}
	if (strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
	    strpbrk(url, " \t\r\n\"") != NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "Kubernetes API URL \"%s\" is not an https:// URL",
		                     url);
	c = pgw_xcalloc(1, sizeof(K8sClient));
	c->api_url = pgw_xstrdup(url);
	while (strlen(c->api_url) > 8 && c->api_url[strlen(c->api_url) - 1] == '/')
		c->api_url[strlen(c->api_url) - 1] = '\0';
	c->token_file =
	    pgw_xstrdup(cfg->token_file ? cfg->token_file : K8S_TOKEN_FILE);
	c->ca_file = pgw_xstrdup(cfg->ca_file ? cfg->ca_file : K8S_CA_FILE);
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
	if (cfg->namespace_ != NULL && cfg->namespace_[0] != '\0')
		c->namespace_ = pgw_xstrdup(cfg->namespace_);
	else if ((c->namespace_ = read_small(ns_file, "namespace", 256, err)) ==
	         NULL)
	{
		pgw_error_prefix(err,
		                 "no Kubernetes namespace (set kubernetes.namespace)");
		err->code = PGW_EINVAL;
		k8s_client_close(c);
		return PGW_EINVAL;
	}
	if (!k8s_name_valid(c->namespace_))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "Kubernetes namespace \"%s\" is not a valid name",
		              c->namespace_);
		k8s_client_close(c);
		return PGW_EINVAL;
	}
	if (access(c->ca_file, R_OK) != 0)
	{
		pgw_error_set(err, PGW_EAUTH,
		              "could not read the API server's CA file \"%s\": %s",
		              c->ca_file, strerror(errno));
		k8s_client_close(c);
		return PGW_EAUTH;
	}
	if ((probe = read_small(c->token_file, "service-account token",
	                        K8S_TOKEN_MAX, err)) == NULL)
	{
		k8s_client_close(c);
		return PGW_EAUTH;
	}
	free(probe);
	if ((c->h = curl_easy_init()) == NULL)
	{
		k8s_client_close(c);
		return pgw_error_set(err, PGW_EINTERNAL,
		                     "could not create a libcurl handle");
	}
	*out = c;
	return 0;
}

void
k8s_client_close(K8sClient *c)
{
	if (c == NULL)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	free(c->api_url);
	free(c->token_file);
	free(c->ca_file);
	free(c->namespace_);
	free(c);
}

const char *
k8s_client_namespace(const K8sClient *c)
{
	return c->namespace_;
}

const char *
k8s_client_api_url(const K8sClient *c)
{
	return c->api_url;
}

typedef struct Sink
{
	char *buf;
	size_t len;
	bool overflow;
} Sink;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Sink *s = userdata;
	size_t n = size * nmemb;

	if (s->len + n > K8S_BODY_MAX)
	{
		s->overflow = true;
		return 0;
	}
	s->buf = pgw_xrealloc(s->buf, s->len + n + 1);
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static bool
token_printable(const char *t)
{
	/* a token goes into a header: no control characters, no spaces */
	for (; *t; t++)
		if ((unsigned char) *t <= ' ' || (unsigned char) *t >= 0x7f)
			return false;
	return true;
}

int
k8s_client_request(K8sClient *c, const char *method, const char *path,
                   const char *content_type, const char *body, K8sResponse *out,
                   PgwError *err)
{
	struct curl_slist *hdrs = NULL;
	char *token;
	char *auth;
	char *url;
	char ctype[128];
	char curl_err[CURL_ERROR_SIZE] = "";
	Sink sink = {0};
	CURLcode cc;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((token = read_small(c->token_file, "service-account token",
	                        K8S_TOKEN_MAX, err)) == NULL)
		return PGW_EAUTH;
	if (!token_printable(token))
	{
		free(token);
		return pgw_error_set(
		    err, PGW_EAUTH,
		    "service-account token file \"%s\" holds characters a token cannot have",
		    c->token_file);
	}
	n = strlen(token) + 32;
	auth = pgw_xmalloc(n);
	snprintf(auth, n, "Authorization: Bearer %s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	n = strlen(c->api_url) + strlen(path) + 1;
	url = pgw_xmalloc(n);
	snprintf(url, n, "%s%s", c->api_url, path);

	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (content_type != NULL)
	{
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, ctype);
	}
	/* no "Expect: 100-continue" round trip on PUT/POST */
	hdrs = curl_slist_append(hdrs, "Expect:");

	curl_easy_reset(c->h);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->h, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long) c->timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "pgwarden/" PGW_VERSION);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
	{
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	}
	else if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	cc = curl_easy_perform(c->h);
	explicit_bzero(auth, strlen(auth));
	if (cc == CURLE_OK)
	{
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = sink.buf;
		out->len = sink.len;
		sink.buf = NULL;
	}
	else if (sink.overflow)
		rc = pgw_error_set(err, PGW_EBADRESPONSE,
		                   "%s %s: answer larger than %d bytes", method, path,
		                   K8S_BODY_MAX);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rc = pgw_error_set(err, PGW_ETIMEDOUT,
		                   "%s %s: no answer from %s within %d ms", method,
		                   path, c->api_url, c->timeout_ms);
	else if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	         cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CONNECT_ERROR)
		rc = pgw_error_set(err, PGW_EUNAVAILABLE,
		                   "%s %s: TLS with %s failed (CA file \"%s\"): %s",
		                   method, path, c->api_url, c->ca_file,
		                   curl_err[0] ? curl_err : curl_easy_strerror(cc));
	else
		rc = pgw_error_set(
		    err, PGW_EUNAVAILABLE, "%s %s: could not reach %s: %s", method,
		    path, c->api_url, curl_err[0] ? curl_err : curl_easy_strerror(cc));
	free(sink.buf);
	curl_slist_free_all(hdrs);
	free(auth);
	free(url);
	return rc;
}

void
k8s_response_free(K8sResponse *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int
k8s_status_error(const K8sResponse *r, const char *what, PgwError *err)
{
	K8sStatus st;
	char msg[448];
	int code;

	if (k8s_parse_status(r->body, r->len, &st) && st.message[0] != '\0')
		snprintf(msg, sizeof(msg), "%s", st.message);
	else
		snprintf(msg, sizeof(msg), "no Status object in the answer");
	switch (r->status)
	{
		case 401:
			return pgw_error_set(
			    err, PGW_EAUTH,
			    "%s: the API server refused the service-account token (401 Unauthorized: expired, revoked or for another cluster?): %s",
			    what, msg);
		case 403:
			return pgw_error_set(
			    err, PGW_EAUTH,
			    "%s: forbidden (403): %s; see deploy/k8s/rbac.yaml for the rights pgwarden needs",
			    what, msg);
		case 404:
			return pgw_error_set(err, PGW_ENOTFOUND, "%s: not found (404): %s",
			                     what, msg);
		case 409:
			return pgw_error_set(err, PGW_ECONFLICT, "%s: conflict (409): %s",
			                     what, msg);
		default:
			break;
	}
	code = r->status >= 500 || r->status == 429 ? PGW_EUNAVAILABLE
	                                            : PGW_EBADRESPONSE;
	return pgw_error_set(err, code, "%s: HTTP %ld: %s", what, r->status, msg);
}

static void
pod_path(K8sClient *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/api/v1/namespaces/%s/pods/%s", c->namespace_, name);
}

int
k8s_pod_get(K8sClient *c, const char *name, K8sPod *out, PgwError *err)
{
	char path[600];
	char what[300];
	K8sResponse r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!k8s_name_valid(name))
		return pgw_error_set(err, PGW_EINVAL,
		                     "pod name \"%s\" is not a valid Kubernetes name",
		                     name);
	pod_path(c, name, path, sizeof(path));
	snprintf(what, sizeof(what), "pod \"%s\"", name);
	if ((rc = k8s_client_request(c, "GET", path, NULL, NULL, &r, err)) != 0)
		return rc;
	if (r.status != 200)
		rc = k8s_status_error(&r, what, err);
	else if ((rc = k8s_parse_pod(r.body, r.len, out, err)) != 0)
		pgw_error_prefix(err, "GET %s", what);
	k8s_response_free(&r);
	return rc;
}

/* labels already as wanted: nothing to send */
static bool
labels_hold(const K8sObjectMeta *m, const K8sLabel *labels, int n)
{
	for (int i = 0; i < n; i++)
	{
		const char *have = k8s_meta_label(m, labels[i].key);

		if (labels[i].remove
		        ? have != NULL
		        : (have == NULL || strcmp(have, labels[i].value) != 0))
			return false;
	}
	/* a truncated label list may hide a key we must remove */
	return !m->labels_truncated;
}

int
k8s_pod_patch_labels(K8sClient *c, const char *name, const K8sLabel *labels,
                     int n, int attempts, K8sPod *out, PgwError *err)
{
	K8sPod pod;
	char path[600];
	char what[300];
	int rc = 0;

	if (attempts < 1)
		attempts = 1;
	pod_path(c, name, path, sizeof(path));
	snprintf(what, sizeof(what), "patch of pod \"%s\" labels", name);
	for (int a = 0; a < attempts; a++)
	{
		K8sResponse r;
		char *body;

		if ((rc = k8s_pod_get(c, name, &pod, err)) != 0)
			return rc;
		if (labels_hold(&pod.meta, labels, n))
		{
			if (out)
				*out = pod;
			return 0;
		}
		if ((body = k8s_labels_patch_json(labels, n, pod.meta.resource_version,
		                                  err)) == NULL)
			return PGW_EINVAL;
		rc = k8s_client_request(c, "PATCH", path,
		                        "application/strategic-merge-patch+json", body,
		                        &r, err);
		free(body);
		if (rc != 0)
			return rc;
		if (r.status == 200)
		{
			rc = k8s_parse_pod(r.body, r.len, &pod, err);
			k8s_response_free(&r);
			if (rc == 0 && out)
				*out = pod;
			return rc;
		}
		rc = k8s_status_error(&r, what, err);
		k8s_response_free(&r);
		if (rc != PGW_ECONFLICT)
			return rc;
		/* someone changed the pod since we read it: read again */
	}
	return rc;
}

static bool
slice_same(const K8sEndpointSlice *a, const K8sEndpointSlice *b)
{
	return strcmp(a->address, b->address) == 0 &&
	       strcmp(a->pod_name, b->pod_name) == 0 &&
	       strcmp(a->port_name, b->port_name) == 0 && a->port == b->port &&
	       strcmp(a->service_name, b->service_name) == 0;
}

int
k8s_endpointslice_apply(K8sClient *c, const K8sEndpointSlice *es, int attempts,
                        int *writes, PgwError *err)
{
	char path[600];
	char coll[600];
	char what[300];
	int rc = 0;

	*writes = 0;
	if (attempts < 1)
		attempts = 1;
	if (!k8s_name_valid(es->name))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "EndpointSlice name \"%s\" is not a valid Kubernetes name",
		    es->name);
	snprintf(coll, sizeof(coll),
	         "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices",
	         c->namespace_);
	snprintf(path, sizeof(path), "%s/%s", coll, es->name);
	snprintf(what, sizeof(what), "EndpointSlice \"%s\"", es->name);
	for (int a = 0; a < attempts; a++)
	{
		K8sResponse r;
		K8sEndpointSlice have;
		K8sObjectMeta meta;
		K8sEndpointSlice want = *es;
		char *body;
		bool create;

		pgw_strlcpy(want.namespace_, c->namespace_, sizeof(want.namespace_));
		if ((rc = k8s_client_request(c, "GET", path, NULL, NULL, &r, err)) != 0)
			return rc;
		create = r.status == 404;
		if (!create && r.status != 200)
		{
			rc = k8s_status_error(&r, what, err);
			k8s_response_free(&r);
			return rc;
		}
		if (!create)
		{
			rc = k8s_parse_endpointslice(r.body, r.len, &have, &meta, err);
			k8s_response_free(&r);
			if (rc != 0)
			{
				pgw_error_prefix(err, "GET %s", what);
				return rc;
			}
			if (slice_same(&have, &want) &&
			    k8s_meta_label(
			        &meta, "endpointslice.kubernetes.io/managed-by") != NULL)
				return 0;
		}
		else
			k8s_response_free(&r);
		if ((body = k8s_endpointslice_json(
		         &want, create ? NULL : meta.resource_version, err)) == NULL)
			return PGW_EINVAL;
		rc =
		    k8s_client_request(c, create ? "POST" : "PUT", create ? coll : path,
		                       "application/json", body, &r, err);
		free(body);
		if (rc != 0)
			return rc;
		(*writes)++;
		if (r.status == 200 || r.status == 201)
		{
			k8s_response_free(&r);
			return 0;
		}
		rc = k8s_status_error(&r, what, err);
		k8s_response_free(&r);
		/* 409: changed since we read it, or created by someone else (a
		 * create that lost answers 409 AlreadyExists): read again */
		if (rc != PGW_ECONFLICT)
			return rc;
	}
	return rc;
}
