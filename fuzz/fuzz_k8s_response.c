/*
 * fuzz_k8s_response.c: libFuzzer target for the parsers of the Kubernetes
 * API server's answers (k8s/k8s.h part 1). The first byte picks the parser
 * (pod, any object's metadata, EndpointSlice, Status); the rest is the
 * body. Whatever is accepted must hold: a resourceVersion, NUL-terminated
 * fields within their arrays, a label count within K8S_LABELS_MAX.
 */
#include "k8s/k8s.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_meta(const K8sObjectMeta *m)
{
	if (m->resource_version[0] == '\0' || m->n_labels < 0 ||
	    m->n_labels > K8S_LABELS_MAX)
		abort();
	if (strnlen(m->name, sizeof(m->name)) == sizeof(m->name) ||
	    strnlen(m->resource_version, sizeof(m->resource_version)) ==
	        sizeof(m->resource_version))
		abort();
	for (int i = 0; i < m->n_labels; i++)
		if (strnlen(m->labels[i].key, sizeof(m->labels[i].key)) ==
		        sizeof(m->labels[i].key) ||
		    strnlen(m->labels[i].value, sizeof(m->labels[i].value)) ==
		        sizeof(m->labels[i].value))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t len;
	PgwError err = {0};

	if (size < 1)
		return 0;
	body = (const char *) data + 1;
	len = size - 1;
	switch (data[0] % 4)
	{
		case 0:
		{
			K8sPod p;

			if (k8s_parse_pod(body, len, &p, &err) == 0)
			{
				check_meta(&p.meta);
				if (strnlen(p.pod_ip, sizeof(p.pod_ip)) == sizeof(p.pod_ip) ||
				    p.grace_period_s < -1)
					abort();
			}
			else if (err.msg[0] == '\0')
				abort(); /* a refusal always says why */
			break;
		}
		case 1:
		{
			K8sObjectMeta m;

			if (k8s_parse_meta(body, len, &m, &err) == 0)
				check_meta(&m);
			break;
		}
		case 2:
		{
			K8sEndpointSlice es;
			K8sObjectMeta m;

			if (k8s_parse_endpointslice(body, len, &es, &m, &err) == 0)
			{
				check_meta(&m);
				if (es.port < 0 || es.port > 65535 ||
				    strnlen(es.address, sizeof(es.address)) ==
				        sizeof(es.address))
					abort();
			}
			break;
		}
		default:
		{
			K8sStatus st;

			if (k8s_parse_status(body, len, &st) &&
			    (strchr(st.message, '"') != NULL ||
			     strchr(st.message, '\n') != NULL))
				abort();
			break;
		}
	}
	return 0;
}
