/*
 * config_k8s.c: the kubernetes: section and its PGWARDEN_KUBERNETES_*
 * variables (config.h, ConfigKubernetes). Key names follow Patroni's
 * (role_label, scope_label, labels, pod_ip, namespace, cacert,
 * leader_label_value, follower_label_value), so a patroni.yml's section is
 * read as is; keys only pgwarden has are enabled, api_url, token_file,
 * endpointslice, rw_service, termination_grace_period and timeout. Label
 * keys and values are checked with Kubernetes' own syntax rules here, so a
 * typo fails at --check-config and not as a 422 from the API server later.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"
#include "k8s/k8s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct K8sStrKey
{
	const char *key; /* under kubernetes: */
	const char *env; /* PGWARDEN_KUBERNETES_... */
	size_t off;      /* char * in ConfigKubernetes */
	int check;       /* CHECK_* below */
} K8sStrKey;

enum
{
	CHECK_NONE = 0,
	CHECK_LABEL_KEY,
	CHECK_LABEL_VALUE,
	CHECK_NAME,
	CHECK_URL,
};

#define KS(k, e, m, c)                                                         \
	{                                                                          \
		k, "PGWARDEN_KUBERNETES_" e, offsetof(ConfigKubernetes, m), c          \
	}

static const K8sStrKey str_keys[] = {
    KS("api_url", "API_URL", api_url, CHECK_URL),
    KS("token_file", "TOKEN_FILE", token_file, CHECK_NONE),
    KS("cacert", "CACERT", cacert, CHECK_NONE),
    KS("namespace", "NAMESPACE", namespace_, CHECK_NAME),
    KS("pod_name", "POD_NAME", pod_name, CHECK_NAME),
    KS("pod_ip", "POD_IP", pod_ip, CHECK_NONE),
    KS("role_label", "ROLE_LABEL", role_label, CHECK_LABEL_KEY),
    KS("leader_label_value", "LEADER_LABEL_VALUE", leader_label_value,
       CHECK_LABEL_VALUE),
    KS("follower_label_value", "FOLLOWER_LABEL_VALUE", follower_label_value,
       CHECK_LABEL_VALUE),
    KS("scope_label", "SCOPE_LABEL", scope_label, CHECK_LABEL_KEY),
    KS("rw_service", "RW_SERVICE", rw_service, CHECK_NAME),
};

#define K8S_FIELD(k, off) ((char **) ((char *) (k) + (off)))

/* why s is not acceptable for check, or NULL */
static const char *
str_problem(const char *s, int check)
{
	switch (check)
	{
		case CHECK_LABEL_KEY:
			return k8s_label_key_valid(s)
			           ? NULL
			           : "not a valid Kubernetes label key ([prefix/]name, name up to 63 characters: letters, digits, '-', '_', '.')";
		case CHECK_LABEL_VALUE:
			return k8s_label_value_valid(s) && s[0] != '\0'
			           ? NULL
			           : "not a valid Kubernetes label value (1 to 63 characters: letters, digits, '-', '_', '.')";
		case CHECK_NAME:
			return k8s_name_valid(s)
			           ? NULL
			           : "not a valid Kubernetes name (lower-case letters, digits, '-' and '.')";
		case CHECK_URL:
			return strncmp(s, "https://", 8) == 0 && s[8] != '\0'
			           ? NULL
			           : "expected an https:// URL";
		default:
			return s[0] != '\0' ? NULL : "must not be empty";
	}
}

/* "key=value" with both halves valid; NULL or the reason */
static const char *
label_pair_problem(const char *s)
{
	const char *eq = strchr(s, '=');
	char key[K8S_LABEL_KEY_MAX];

	if (eq == NULL || (size_t) (eq - s) >= sizeof(key))
		return "expected key=value";
	memcpy(key, s, (size_t) (eq - s));
	key[eq - s] = '\0';
	if (!k8s_label_key_valid(key))
		return "not a valid Kubernetes label key";
	if (!k8s_label_value_valid(eq + 1))
		return "not a valid Kubernetes label value";
	return NULL;
}

static void
add_label(ConfigKubernetes *k, const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 2;
	char *s = pgw_xmalloc(n);

	snprintf(s, n, "%s=%s", key, value);
	k->labels =
	    pgw_xrealloc(k->labels, sizeof(char *) * (size_t) (k->n_labels + 1));
	k->labels[k->n_labels++] = s;
}

static void
clear_labels(ConfigKubernetes *k)
{
	for (int i = 0; i < k->n_labels; i++)
		free(k->labels[i]);
	free(k->labels);
	k->labels = NULL;
	k->n_labels = 0;
}

/* seconds as a number or a duration text ("30s"); -1 when neither */
static int64_t
seconds_ms(json_t *v)
{
	int64_t ms;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (int64_t) json_integer_value(v) * 1000;
	if (json_is_real(v) && json_real_value(v) >= 0)
		return (int64_t) (json_real_value(v) * 1000.0 + 0.5);
	if (json_is_string(v) &&
	    pgw_parse_duration_ms(json_string_value(v), &ms) == 0 && ms >= 0)
		return ms;
	return -1;
}

int
config_k8s_field(Parser *p, json_t *v, const char *path)
{
	ConfigKubernetes *k = &config_parser_cfg(p)->k8s;
	const char *key;
	json_t *val;

	if (json_is_null(v))
	{
		k->has_section = true;
		return 0;
	}
	if (!json_is_object(v))
		return config_perr(p, path, "expected a mapping");
	k->has_section = true;
	json_object_foreach(v, key, val)
	{
		char sub[256];
		size_t i;

		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		for (i = 0; i < PGW_LENGTHOF(str_keys); i++)
			if (strcmp(str_keys[i].key, key) == 0)
				break;
		if (i < PGW_LENGTHOF(str_keys))
		{
			const char *why;

			if (!json_is_string(val))
				return config_perr(p, sub, "expected a string");
			if ((why = str_problem(json_string_value(val),
			                       str_keys[i].check)) != NULL)
				return config_perr(p, sub, "\"%s\" is %s",
				                   json_string_value(val), why);
			config_set_str(K8S_FIELD(k, str_keys[i].off),
			               json_string_value(val));
		}
		else if (strcmp(key, "enabled") == 0)
		{
			if (!json_is_boolean(val))
				return config_perr(p, sub, "expected a boolean");
			k->mode = json_is_true(val) ? CONFIG_K8S_ON : CONFIG_K8S_OFF;
		}
		else if (strcmp(key, "endpointslice") == 0)
		{
			if (!json_is_boolean(val))
				return config_perr(p, sub, "expected a boolean");
			k->endpointslice = json_is_true(val);
		}
		else if (strcmp(key, "termination_grace_period") == 0 ||
		         strcmp(key, "timeout") == 0)
		{
			int64_t ms = seconds_ms(val);
			bool grace = key[0] == 't' && key[1] == 'e';

			if (ms < 0 || ms > (grace ? 86400000 : 60000))
				return config_perr(p, sub, "expected seconds (0..%s)",
				                   grace ? "86400" : "60");
			if (grace)
				k->grace_period_ms = ms;
			else
				k->timeout_ms = ms;
		}
		else if (strcmp(key, "labels") == 0)
		{
			const char *lk;
			json_t *lv;

			if (!json_is_object(val))
				return config_perr(
				    p, sub, "expected a mapping of label keys to values");
			clear_labels(k);
			json_object_foreach(val, lk, lv)
			{
				char lsub[320];

				snprintf(lsub, sizeof(lsub), "%s.%s", sub, lk);
				if (!json_is_string(lv))
					return config_perr(p, lsub, "expected a string");
				if (!k8s_label_key_valid(lk))
					return config_perr(p, lsub,
					                   "not a valid Kubernetes label key");
				if (!k8s_label_value_valid(json_string_value(lv)))
					return config_perr(
					    p, lsub, "\"%s\" is not a valid Kubernetes label value",
					    json_string_value(lv));
				add_label(k, lk, json_string_value(lv));
			}
		}
		else if (strcmp(key, "use_endpoints") == 0 ||
		         strcmp(key, "ports") == 0 ||
		         strcmp(key, "bypass_api_service") == 0)
			return config_perr(
			    p, sub,
			    "Patroni's Kubernetes DCS key: pgwarden keeps its state in etcd and publishes the leader through kubernetes.endpointslice instead");
		else
		{
			return config_perr(
			    p, sub,
			    "unknown key (known: enabled, api_url, token_file, cacert, namespace, pod_name, pod_ip, role_label, leader_label_value, follower_label_value, scope_label, labels, endpointslice, rw_service, termination_grace_period, timeout)");
		}
	}
	return 0;
}

int
config_k8s_apply_env(NodeConfig *cfg, char *const *envp, PgwError *err)
{
	ConfigKubernetes *k = &cfg->k8s;
	const char *v;

	for (size_t i = 0; i < PGW_LENGTHOF(str_keys); i++)
	{
		const char *why;

		if ((v = config_env_value(envp, str_keys[i].env)) == NULL)
			continue;
		if ((why = str_problem(v, str_keys[i].check)) != NULL)
			return pgw_error_set(err, PGW_EINVAL,
			                     "environment variable %s: \"%s\" is %s",
			                     str_keys[i].env, v, why);
		config_set_str(K8S_FIELD(k, str_keys[i].off), v);
	}
	if ((v = config_env_value(envp, "PGWARDEN_KUBERNETES_ENABLED")) != NULL)
	{
		bool b;

		if (strcmp(v, "auto") == 0)
			k->mode = CONFIG_K8S_AUTO;
		else if (pgw_parse_bool(v, &b) != 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "environment variable PGWARDEN_KUBERNETES_ENABLED: expected true, false or auto, got \"%s\"",
			    v);
		else
			k->mode = b ? CONFIG_K8S_ON : CONFIG_K8S_OFF;
	}
	if ((v = config_env_value(envp, "PGWARDEN_KUBERNETES_ENDPOINTSLICE")) !=
	        NULL &&
	    pgw_parse_bool(v, &k->endpointslice) != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "environment variable PGWARDEN_KUBERNETES_ENDPOINTSLICE: expected true or false, got \"%s\"",
		    v);
	if ((v = config_env_value(
	         envp, "PGWARDEN_KUBERNETES_TERMINATION_GRACE_PERIOD")) != NULL)
	{
		int64_t ms;

		if (pgw_parse_duration_ms(v, &ms) != 0 || ms < 0 || ms > 86400000)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "environment variable PGWARDEN_KUBERNETES_TERMINATION_GRACE_PERIOD: expected seconds, got \"%s\"",
			    v);
		k->grace_period_ms = ms;
	}
	if ((v = config_env_value(envp, "PGWARDEN_KUBERNETES_LABELS")) != NULL)
	{
		/* "k=v,k2=v2": label values hold no ',', so a split is exact */
		char *copy = pgw_xstrdup(v);
		char *save = NULL;

		clear_labels(k);
		for (char *it = strtok_r(copy, ",", &save); it != NULL;
		     it = strtok_r(NULL, ",", &save))
		{
			const char *why = label_pair_problem(it);

			if (why != NULL)
			{
				pgw_error_set(
				    err, PGW_EINVAL,
				    "environment variable PGWARDEN_KUBERNETES_LABELS: \"%s\": %s",
				    it, why);
				free(copy);
				return PGW_EINVAL;
			}
			k->labels = pgw_xrealloc(k->labels, sizeof(char *) *
			                                        (size_t) (k->n_labels + 1));
			k->labels[k->n_labels++] = pgw_xstrdup(it);
		}
		free(copy);
	}
	return 0;
}

int
config_k8s_validate(NodeConfig *cfg, PgwError *err)
{
	ConfigKubernetes *k = &cfg->k8s;
	const char *src = cfg->source ? cfg->source : "<environment>";

	if (k->mode == CONFIG_K8S_OFF)
		return 0;
	/* the pod name defaults to the member name: it must be one */
	if (k->pod_name == NULL && (k->mode == CONFIG_K8S_ON || k->has_section) &&
	    cfg->name != NULL && !k8s_name_valid(cfg->name))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"name\": \"%s\" is not a valid Kubernetes pod name; set kubernetes.pod_name",
		    src, cfg->name);
	if (k->endpointslice && k->rw_service == NULL && cfg->scope != NULL)
	{
		char svc[300];

		snprintf(svc, sizeof(svc), "%s-rw", cfg->scope);
		if (!k8s_name_valid(svc) || strlen(svc) > 63)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "config file %s: key \"kubernetes.rw_service\" is required: \"%s\" (from the scope) is not a valid Service name",
			    src, svc);
	}
	return 0;
}

void
config_k8s_free(ConfigKubernetes *k)
{
	for (size_t i = 0; i < PGW_LENGTHOF(str_keys); i++)
	{
		free(*K8S_FIELD(k, str_keys[i].off));
		*K8S_FIELD(k, str_keys[i].off) = NULL;
	}
	clear_labels(k);
	memset(k, 0, sizeof(*k));
}
