/*
 * objects.c: the request bodies pgwarden sends to the Kubernetes API server
 * and the parsers of its answers (k8s.h, part 1). Pure: no I/O, no clock.
 * The API server's answers are outside input: every field is checked for
 * type and size before it is copied, and a body we cannot trust is an error
 * naming what is wrong, never a guess.
 */
#include "k8s/k8s.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---- syntax rules (k8s.io/apimachinery validation, as documented) ------ */

static bool
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* a qualified name's name part, or a label value: [A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])? */
static bool
label_word_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool
subdomain_valid(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char c = s[i];
		bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if ((c == '-' || c == '.') && !edge)
			continue;
		return false;
	}
	return true;
}

bool
k8s_name_valid(const char *name)
{
	return name != NULL && subdomain_valid(name, strlen(name));
}

bool
k8s_label_key_valid(const char *key)
{
	const char *slash;

	if (key == NULL)
		return false;
	slash = strchr(key, '/');
	if (slash == NULL)
		return label_word_valid(key, strlen(key));
	return subdomain_valid(key, (size_t) (slash - key)) &&
	       label_word_valid(slash + 1, strlen(slash + 1));
}

bool
k8s_label_value_valid(const char *value)
{
	return value != NULL &&
	       (value[0] == '\0' || label_word_valid(value, strlen(value)));
}

/* ---- bodies ------------------------------------------------------------ */

static char *
dump(json_t *o, PgwError *err)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(o);
	if (s == NULL)
		pgw_error_set(err, PGW_EINTERNAL, "could not encode a JSON body");
	return s;
}

char *
k8s_labels_patch_json(const K8sLabel *labels, int n,
                      const char *resource_version, PgwError *err)
{
	json_t *root = json_object();
	json_t *meta = json_object();
	json_t *lab = json_object();

	json_object_set_new(root, "metadata", meta);
	json_object_set_new(meta, "labels", lab);
	if (resource_version != NULL && resource_version[0] != '\0')
		json_object_set_new(meta, "resourceVersion",
		                    json_string(resource_version));
	for (int i = 0; i < n; i++)
	{
		if (!k8s_label_key_valid(labels[i].key))
		{
			json_decref(root);
			pgw_error_set(
			    err, PGW_EINVAL,
			    "label key \"%s\" is not a valid Kubernetes label key",
			    labels[i].key);
			return NULL;
		}
		if (!labels[i].remove && !k8s_label_value_valid(labels[i].value))
		{
			json_decref(root);
			pgw_error_set(
			    err, PGW_EINVAL,
			    "label value \"%s\" (key \"%s\") is not a valid Kubernetes label value",
			    labels[i].value, labels[i].key);
			return NULL;
		}
		json_object_set_new(lab, labels[i].key,
		                    labels[i].remove ? json_null()
		                                     : json_string(labels[i].value));
	}
	return dump(root, err);
}

char *
k8s_endpointslice_json(const K8sEndpointSlice *es, const char *resource_version,
                       PgwError *err)
{
	json_t *root;
	json_t *meta;
	json_t *lab;
	json_t *eps;
	json_t *port;
	bool v6 = strchr(es->address, ':') != NULL;

	if (!k8s_name_valid(es->name) || !k8s_name_valid(es->namespace_) ||
	    !k8s_label_value_valid(es->service_name) || es->service_name[0] == '\0')
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "EndpointSlice \"%s\" in namespace \"%s\" for Service \"%s\": not valid Kubernetes names",
		    es->name, es->namespace_, es->service_name);
		return NULL;
	}
	if (es->port < 1 || es->port > 65535 ||
	    (es->port_name[0] != '\0' &&
	     !label_word_valid(es->port_name, strlen(es->port_name))))
	{
		pgw_error_set(err, PGW_EINVAL,
		              "EndpointSlice \"%s\": port %d (\"%s\") is not valid",
		              es->name, es->port, es->port_name);
		return NULL;
	}
	root = json_object();
	json_object_set_new(root, "apiVersion", json_string("discovery.k8s.io/v1"));
	json_object_set_new(root, "kind", json_string("EndpointSlice"));
	meta = json_object();
	json_object_set_new(root, "metadata", meta);
	json_object_set_new(meta, "name", json_string(es->name));
	json_object_set_new(meta, "namespace", json_string(es->namespace_));
	if (resource_version != NULL && resource_version[0] != '\0')
		json_object_set_new(meta, "resourceVersion",
		                    json_string(resource_version));
	lab = json_object();
	json_object_set_new(meta, "labels", lab);
	json_object_set_new(lab, "kubernetes.io/service-name",
	                    json_string(es->service_name));
	json_object_set_new(lab, "endpointslice.kubernetes.io/managed-by",
	                    json_string("pgwarden"));
	json_object_set_new(root, "addressType", json_string(v6 ? "IPv6" : "IPv4"));
	eps = json_array();
	json_object_set_new(root, "endpoints", eps);
	if (es->address[0] != '\0')
	{
		json_t *ep = json_object();
		json_t *cond = json_object();

		json_object_set_new(ep, "addresses", json_pack("[s]", es->address));
		json_object_set_new(cond, "ready", json_true());
		json_object_set_new(ep, "conditions", cond);
		if (es->pod_name[0] != '\0')
			json_object_set_new(ep, "targetRef",
			                    json_pack("{s:s, s:s, s:s}", "kind", "Pod",
			                              "namespace", es->namespace_, "name",
			                              es->pod_name));
		json_array_append_new(eps, ep);
	}
	port = json_object();
	if (es->port_name[0] != '\0')
		json_object_set_new(port, "name", json_string(es->port_name));
	json_object_set_new(port, "port", json_integer(es->port));
	json_object_set_new(port, "protocol", json_string("TCP"));
	json_object_set_new(root, "ports", json_pack("[o]", port));
	return dump(root, err);
}

/* ---- parsers ----------------------------------------------------------- */

static json_t *
load(const char *body, size_t len, PgwError *err)
{
	json_error_t jerr;
	json_t *o;

	if (body == NULL || len == 0)
	{
		pgw_error_set(err, PGW_EBADRESPONSE,
		              "empty answer where a JSON object was expected");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
	{
		pgw_error_set(err, PGW_EBADRESPONSE,
		              "answer is not JSON (%s at byte %d)", jerr.text,
		              jerr.position);
		return NULL;
	}
	if (!json_is_object(o))
	{
		json_decref(o);
		pgw_error_set(err, PGW_EBADRESPONSE,
		              "answer is JSON but not an object");
		return NULL;
	}
	return o;
}

/* copy an optional string field; false (with err) when present but wrong */
static bool
opt_str(json_t *o, const char *key, const char *where, char *dst, size_t size,
        PgwError *err)
{
	json_t *v = json_object_get(o, key);

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) >= size)
	{
		pgw_error_set(err, PGW_EBADRESPONSE,
		              "%s.%s is not a string of at most %zu bytes", where, key,
		              size - 1);
		return false;
	}
	pgw_strlcpy(dst, json_string_value(v), size);
	return true;
}

static int
meta_from(json_t *root, K8sObjectMeta *out, PgwError *err)
{
	json_t *meta = json_object_get(root, "metadata");
	json_t *labels;
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(meta))
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "answer has no metadata object");
	if (!opt_str(meta, "name", "metadata", out->name, sizeof(out->name), err) ||
	    !opt_str(meta, "namespace", "metadata", out->namespace_,
	             sizeof(out->namespace_), err) ||
	    !opt_str(meta, "uid", "metadata", out->uid, sizeof(out->uid), err) ||
	    !opt_str(meta, "resourceVersion", "metadata", out->resource_version,
	             sizeof(out->resource_version), err))
		return PGW_EBADRESPONSE;
	if (out->resource_version[0] == '\0')
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "answer has no metadata.resourceVersion");
	labels = json_object_get(meta, "labels");
	if (labels == NULL || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "metadata.labels is not an object");
	json_object_foreach(labels, key, v)
	{
		K8sLabel *l;

		if (!json_is_string(v))
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "label \"%.80s\" is not a string", key);
		if (out->n_labels >= K8S_LABELS_MAX)
		{
			out->labels_truncated = true;
			continue;
		}
		if (strlen(key) >= sizeof(l->key) ||
		    json_string_length(v) >= sizeof(l->value))
			return pgw_error_set(
			    err, PGW_EBADRESPONSE,
			    "label \"%.80s\" is longer than Kubernetes allows", key);
		l = &out->labels[out->n_labels++];
		pgw_strlcpy(l->key, key, sizeof(l->key));
		pgw_strlcpy(l->value, json_string_value(v), sizeof(l->value));
	}
	return 0;
}

static bool
kind_is(json_t *root, const char *kind)
{
	const char *k = json_string_value(json_object_get(root, "kind"));

	/* a GET answers with kind set; a missing kind is tolerated, a wrong one not */
	return k == NULL || strcmp(k, kind) == 0;
}

int
k8s_parse_meta(const char *body, size_t len, K8sObjectMeta *out, PgwError *err)
{
	json_t *root = load(body, len, err);
	int rc;

	if (root == NULL)
	{
		memset(out, 0, sizeof(*out));
		return PGW_EBADRESPONSE;
	}
	rc = meta_from(root, out, err);
	json_decref(root);
	return rc;
}

int
k8s_parse_pod(const char *body, size_t len, K8sPod *out, PgwError *err)
{
	json_t *root = load(body, len, err);
	json_t *spec;
	json_t *status;
	json_t *grace;
	int rc;

	memset(out, 0, sizeof(*out));
	out->grace_period_s = -1;
	if (root == NULL)
		return PGW_EBADRESPONSE;
	if (!kind_is(root, "Pod"))
	{
		json_decref(root);
		return pgw_error_set(err, PGW_EBADRESPONSE, "answer is a %s, not a Pod",
		                     json_string_value(json_object_get(root, "kind")));
	}
	if ((rc = meta_from(root, &out->meta, err)) != 0)
		goto out;
	out->deleting = json_object_get(json_object_get(root, "metadata"),
	                                "deletionTimestamp") != NULL;
	spec = json_object_get(root, "spec");
	grace = json_is_object(spec)
	            ? json_object_get(spec, "terminationGracePeriodSeconds")
	            : NULL;
	if (grace != NULL && !json_is_null(grace))
	{
		if (!json_is_integer(grace) || json_integer_value(grace) < 0)
		{
			rc = pgw_error_set(
			    err, PGW_EBADRESPONSE,
			    "spec.terminationGracePeriodSeconds is not a non-negative integer");
			goto out;
		}
		out->grace_period_s = (int64_t) json_integer_value(grace);
	}
	status = json_object_get(root, "status");
	if (json_is_object(status) &&
	    !opt_str(status, "podIP", "status", out->pod_ip, sizeof(out->pod_ip),
	             err))
		rc = PGW_EBADRESPONSE;
out:
	json_decref(root);
	return rc;
}

int
k8s_parse_endpointslice(const char *body, size_t len, K8sEndpointSlice *out,
                        K8sObjectMeta *meta, PgwError *err)
{
	json_t *root = load(body, len, err);
	K8sObjectMeta m;
	json_t *ep;
	json_t *port;
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return PGW_EBADRESPONSE;
	if (!kind_is(root, "EndpointSlice"))
	{
		json_decref(root);
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "answer is not an EndpointSlice");
	}
	if ((rc = meta_from(root, &m, err)) != 0)
		goto out;
	pgw_strlcpy(out->name, m.name, sizeof(out->name));
	pgw_strlcpy(out->namespace_, m.namespace_, sizeof(out->namespace_));
	{
		const char *svc = k8s_meta_label(&m, "kubernetes.io/service-name");

		pgw_strlcpy(out->service_name, svc ? svc : "",
		            sizeof(out->service_name));
	}
	ep = json_array_get(json_object_get(root, "endpoints"), 0);
	if (json_is_object(ep))
	{
		json_t *ref = json_object_get(ep, "targetRef");
		const char *addr = json_string_value(
		    json_array_get(json_object_get(ep, "addresses"), 0));

		if (addr == NULL || strlen(addr) >= sizeof(out->address))
		{
			rc = pgw_error_set(err, PGW_EBADRESPONSE,
			                   "endpoints[0].addresses[0] is not an address");
			goto out;
		}
		pgw_strlcpy(out->address, addr, sizeof(out->address));
		if (json_is_object(ref) &&
		    !opt_str(ref, "name", "endpoints[0].targetRef", out->pod_name,
		             sizeof(out->pod_name), err))
		{
			rc = PGW_EBADRESPONSE;
			goto out;
		}
	}
	port = json_array_get(json_object_get(root, "ports"), 0);
	if (json_is_object(port))
	{
		json_t *p = json_object_get(port, "port");

		if (!opt_str(port, "name", "ports[0]", out->port_name,
		             sizeof(out->port_name), err))
		{
			rc = PGW_EBADRESPONSE;
			goto out;
		}
		if (json_is_integer(p) && json_integer_value(p) > 0 &&
		    json_integer_value(p) < 65536)
			out->port = (int) json_integer_value(p);
	}
	if (meta != NULL)
		*meta = m;
out:
	json_decref(root);
	return rc;
}

bool
k8s_parse_status(const char *body, size_t len, K8sStatus *out)
{
	json_t *root;
	json_t *code;
	PgwError ignored = {0};

	memset(out, 0, sizeof(*out));
	if ((root = load(body, len, &ignored)) == NULL)
		return false;
	if (!json_is_string(json_object_get(root, "kind")) ||
	    strcmp(json_string_value(json_object_get(root, "kind")), "Status") != 0)
	{
		json_decref(root);
		return false;
	}
	code = json_object_get(root, "code");
	if (json_is_integer(code) && json_integer_value(code) > 0 &&
	    json_integer_value(code) < 1000)
		out->code = (int) json_integer_value(code);
	if (json_is_string(json_object_get(root, "reason")))
		pgw_strlcpy(out->reason,
		            json_string_value(json_object_get(root, "reason")),
		            sizeof(out->reason));
	if (json_is_string(json_object_get(root, "message")))
		pgw_strlcpy(out->message,
		            json_string_value(json_object_get(root, "message")),
		            sizeof(out->message));
	/* the message goes into one log line: no line breaks, no quotes */
	for (char *p = out->message; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"' ||
		    !isprint((unsigned char) *p))
			*p = ' ';
	json_decref(root);
	return true;
}

const char *
k8s_meta_label(const K8sObjectMeta *meta, const char *key)
{
	for (int i = 0; i < meta->n_labels; i++)
		if (strcmp(meta->labels[i].key, key) == 0)
			return meta->labels[i].value;
	return NULL;
}
