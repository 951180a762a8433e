/*
 * k8s.h: the only public header of k8s/, a small Kubernetes API client
 * (libcurl + jansson) for the views pgwarden publishes (DESIGN.md, R4 of
 * notes/routing-pitr-sharding-k8s.md): its own pod's role labels and,
 * optionally, the EndpointSlice of a selector-less `<scope>-rw` Service.
 * etcd stays the lock; nothing here decides anything.
 *
 * Part 1 (objects.c) is pure: the request bodies and the parsers of the API
 * server's answers, unit-tested and fuzzed. Part 2 (client.c) does the HTTP:
 * https only, the service-account token read afresh for every request (the
 * kubelet rotates projected tokens), the CA verified, every request bounded
 * by a timeout. Errors name the object, the HTTP status and the API server's
 * own message (a Status object), so one log line says what RBAC is missing
 * or which token was refused.
 */
#ifndef PGW_K8S_H
#define PGW_K8S_H

#include "common/compiler.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_NAME_MAX        254 /* a DNS subdomain: 253 + NUL */
#define K8S_LABEL_KEY_MAX   320 /* prefix (253) + '/' + name (63) + NUL */
#define K8S_LABEL_VALUE_MAX 64  /* 63 + NUL */
#define K8S_LABELS_MAX      32  /* labels kept from one object */
#define K8S_RV_MAX          64  /* resourceVersion (opaque) */
#define K8S_IP_MAX          64

#define K8S_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define K8S_CA_FILE    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
#define K8S_NAMESPACE_FILE                                                     \
	"/var/run/secrets/kubernetes.io/serviceaccount/namespace"

/* ------------------------------------------------------------------------
 * Part 1: bodies and parsers (objects.c), pure
 * ------------------------------------------------------------------------ */

/* One label: key=value, or (remove) a key to delete (JSON null in a patch). */
typedef struct K8sLabel
{
	char key[K8S_LABEL_KEY_MAX];
	char value[K8S_LABEL_VALUE_MAX];
	bool remove;
} K8sLabel;

/* What we read from any object's metadata. */
typedef struct K8sObjectMeta
{
	char name[K8S_NAME_MAX];
	char namespace_[K8S_NAME_MAX];
	char uid[64];
	char resource_version[K8S_RV_MAX];
	int n_labels;
	K8sLabel labels[K8S_LABELS_MAX];
	bool labels_truncated; /* more than K8S_LABELS_MAX labels */
} K8sObjectMeta;

typedef struct K8sPod
{
	K8sObjectMeta meta;
	char pod_ip[K8S_IP_MAX]; /* status.podIP, "" when not assigned */
	int64_t grace_period_s;  /* spec.terminationGracePeriodSeconds, -1
								 * when absent */
	bool deleting;           /* metadata.deletionTimestamp is set */
} K8sPod;

/* The API server's error object (kind: Status). */
typedef struct K8sStatus
{
	int code;          /* HTTP code it names, 0 if absent */
	char reason[64];   /* Conflict, Forbidden, NotFound, ... */
	char message[384]; /* its human text */
} K8sStatus;

/*
 * K8sEndpointSlice: the one EndpointSlice (discovery.k8s.io/v1) the leader
 * keeps for a selector-less Service: the leader's address, or none at all
 * while no node may take writes.
 */
typedef struct K8sEndpointSlice
{
	char name[K8S_NAME_MAX]; /* usually the Service's name */
	char namespace_[K8S_NAME_MAX];
	char service_name[K8S_NAME_MAX];     /* kubernetes.io/service-name */
	char address[K8S_IP_MAX];            /* IPv4 or IPv6; "" = no endpoint */
	char pod_name[K8S_NAME_MAX];         /* targetRef, "" = none */
	char port_name[K8S_LABEL_VALUE_MAX]; /* "postgresql" */
	int port;                            /* 1..65535 */
} K8sEndpointSlice;

/* k8s_label_key_valid / _value_valid: Kubernetes' syntax rules for label
 * keys ([prefix/]name) and values; parsers and config use them. */
bool k8s_label_key_valid(const char *key);
bool k8s_label_value_valid(const char *value);

/* k8s_name_valid: a DNS-1123 subdomain (pod, slice and namespace names). */
bool k8s_name_valid(const char *name);

/*
 * k8s_labels_patch_json: the body of a pod label patch, the same in
 * strategic-merge-patch and merge-patch (RFC 7386) form:
 *   {"metadata":{"resourceVersion":"42","labels":{"role":"master","x":null}}}
 * With resource_version (may be NULL), the API server applies the patch
 * only to that version and answers 409 otherwise. Returns a string the
 * caller frees, or NULL when a key or value is not valid (err says which).
 */
char *k8s_labels_patch_json(const K8sLabel *labels, int n,
                            const char *resource_version, PgwError *err);

/*
 * k8s_endpointslice_json: the whole EndpointSlice object for a create
 * (resource_version NULL) or a replace (PUT with resource_version, which
 * the API server compares: 409 when it moved). addressType follows the
 * address (IPv6 when it holds ':'); endpoints is empty when address is "".
 * Labels: kubernetes.io/service-name and endpointslice.kubernetes.io/
 * managed-by (pgwarden), so the endpoint-slice controller leaves it alone.
 * Returns a string the caller frees, or NULL with err for bad input.
 */
char *k8s_endpointslice_json(const K8sEndpointSlice *es,
                             const char *resource_version, PgwError *err);

/*
 * k8s_parse_meta: metadata of any object (name, namespace, uid,
 * resourceVersion, labels). Returns 0, or PGW_EBADRESPONSE naming what is
 * wrong ("not JSON", "no metadata.resourceVersion", "label value is not a
 * string") when the body is not an object we can trust.
 */
int k8s_parse_meta(const char *body, size_t len, K8sObjectMeta *out,
                   PgwError *err) PGW_MUSTCHECK;

/* k8s_parse_pod: k8s_parse_meta plus status.podIP, the grace period and
 * whether it is being deleted; the object must be kind Pod. */
int k8s_parse_pod(const char *body, size_t len, K8sPod *out,
                  PgwError *err) PGW_MUSTCHECK;

/* k8s_parse_endpointslice: what k8s_endpointslice_json writes, read back
 * (first endpoint, first port); metadata in *meta (may be NULL). */
int k8s_parse_endpointslice(const char *body, size_t len, K8sEndpointSlice *out,
                            K8sObjectMeta *meta, PgwError *err) PGW_MUSTCHECK;

/* k8s_parse_status: a Status object's code, reason and message; false when
 * the body is not one (garbage, HTML from a proxy). */
bool k8s_parse_status(const char *body, size_t len, K8sStatus *out);

/* k8s_meta_label: the value of key in meta, NULL when absent. */
const char *k8s_meta_label(const K8sObjectMeta *meta, const char *key);

/* ------------------------------------------------------------------------
 * Part 2: the client (client.c)
 * ------------------------------------------------------------------------ */

typedef struct K8sClientConfig
{
	const char *api_url;        /* "https://host:port"; NULL: from
								 * KUBERNETES_SERVICE_HOST and _PORT */
	const char *token_file;     /* NULL: K8S_TOKEN_FILE */
	const char *ca_file;        /* NULL: K8S_CA_FILE */
	const char *namespace_;     /* NULL: read K8S_NAMESPACE_FILE */
	const char *namespace_file; /* NULL: K8S_NAMESPACE_FILE */
	int timeout_ms;             /* one request, connect included; 0: 2000 */
} K8sClientConfig;

typedef struct K8sClient K8sClient;

typedef struct K8sResponse
{
	long status; /* HTTP status */
	char *body;  /* NUL-terminated, owned; may be NULL */
	size_t len;
} K8sResponse;

/*
 * k8s_client_open: check the configuration (URL https, CA and token files
 * readable now, namespace known) without talking to the server. envp is
 * where KUBERNETES_SERVICE_HOST/PORT are looked up (NULL: none). Returns 0,
 * PGW_EINVAL (no API URL, bad URL, no namespace: the message names it) or
 * PGW_EAUTH (token or CA file unreadable: the message names the path).
 */
int k8s_client_open(const K8sClientConfig *cfg, char *const *envp,
                    K8sClient **out, PgwError *err) PGW_MUSTCHECK;

/* k8s_client_close: free; NULL is fine. */
void k8s_client_close(K8sClient *c);

/* k8s_client_namespace: the namespace requests go to (borrowed). */
const char *k8s_client_namespace(const K8sClient *c);

/* k8s_client_api_url: the API server's base URL (borrowed). */
const char *k8s_client_api_url(const K8sClient *c);

/*
 * k8s_client_request: one request, bounded by the timeout. path starts with
 * "/". content_type may be NULL when body is NULL. Returns 0 with the
 * answer in *out (any HTTP status: the caller maps it), or PGW_EAUTH (token
 * unreadable), PGW_ETIMEDOUT, PGW_EUNAVAILABLE (connect or TLS failure: the
 * message says which), PGW_EBADRESPONSE (body over 1 MiB). Blocks. Not
 * thread-safe: one thread per client.
 */
int k8s_client_request(K8sClient *c, const char *method, const char *path,
                       const char *content_type, const char *body,
                       K8sResponse *out, PgwError *err) PGW_MUSTCHECK;

void k8s_response_free(K8sResponse *r);

/*
 * k8s_status_error: map a non-2xx answer to an error code with the API
 * server's message: 401 -> PGW_EAUTH ("token refused: expired or
 * revoked?"), 403 -> PGW_EAUTH (the RBAC message), 404 -> PGW_ENOTFOUND,
 * 409 -> PGW_ECONFLICT, 5xx and 429 -> PGW_EUNAVAILABLE, else
 * PGW_EBADRESPONSE. what names the object ("pod \"db-0\"").
 */
int k8s_status_error(const K8sResponse *r, const char *what, PgwError *err);

/* k8s_pod_get: GET the pod name in the client's namespace. */
int k8s_pod_get(K8sClient *c, const char *name, K8sPod *out,
                PgwError *err) PGW_MUSTCHECK;

/*
 * k8s_pod_patch_labels: set and remove labels of pod name: read it, patch
 * (strategic-merge-patch) against the resourceVersion read, and on 409
 * read again and retry (at most attempts times in all, at least 1). The
 * patched pod is in *out (may be NULL). A patch that would change nothing
 * is not sent. Returns 0 or the last error.
 */
int k8s_pod_patch_labels(K8sClient *c, const char *name, const K8sLabel *labels,
                         int n, int attempts, K8sPod *out,
                         PgwError *err) PGW_MUSTCHECK;

/*
 * k8s_endpointslice_apply: make the EndpointSlice es->name hold es: read
 * it; create it when absent (a 409 from a concurrent create is retried);
 * else replace it against the resourceVersion read when it differs (409:
 * read again, retry). At most attempts rounds. *writes counts the writes
 * sent (0 when it already held es). Returns 0 or the last error.
 */
int k8s_endpointslice_apply(K8sClient *c, const K8sEndpointSlice *es,
                            int attempts, int *writes,
                            PgwError *err) PGW_MUSTCHECK;

#endif
