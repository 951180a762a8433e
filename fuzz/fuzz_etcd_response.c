/*
 * fuzz_etcd_response.c: libFuzzer target for the etcd protobuf responses
 * pgwarden decodes (consensus.h): the first byte picks a RangeResponse
 * (even) or a TxnResponse (odd); the rest is the message as etcd would send
 * it. Every key-value a response decodes to is then folded into a cluster
 * view under /service/fuzz/, as a watch event or a read would be, so the
 * path from etcd's bytes to the view the decision engine reads is covered
 * whole (the values' own decoders are fuzz_dcs_values.c's).
 */
#include "consensus/consensus.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fold(ClusterView *v, const EtcdRangeResult *r, bool deleted)
{
	for (size_t i = 0; i < r->count; i++)
	{
		const EtcdKeyValue *kv = &r->kvs[i];
		EtcdEvent ev;

		/* the decoder's promises: NUL-terminated copies of the lengths */
		if (kv->key == NULL || kv->value == NULL ||
		    kv->key[kv->key_len] != '\0' || kv->value[kv->value_len] != '\0')
			abort();
		memset(&ev, 0, sizeof(ev));
		ev.type = deleted ? ETCD_EVENT_WATCH_DELETE : ETCD_EVENT_WATCH_PUT;
		ev.kv = *kv; /* borrowed: not cleared here */
		ev.revision = kv->mod_revision;
		(void) dcs_view_apply_event(v, "/service/fuzz/", &ev);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ClusterView view;
	EtcdRangeResult r;
	EtcdTxnResult t;

	if (size < 1)
		return 0;
	memset(&view, 0, sizeof(view));
	if (data[0] % 2 == 0)
	{
		if (etcd_range_result_decode(data + 1, size - 1, &r, NULL) == 0)
		{
			fold(&view, &r, false);
			fold(&view, &r, true);
			etcd_range_result_free(&r);
		}
		return 0;
	}
	if (etcd_txn_result_decode(data + 1, size - 1, &t, NULL) == 0)
	{
		for (size_t i = 0; i < t.n_responses; i++)
		{
			if (t.responses[i].kind == ETCD_OP_RANGE)
				fold(&view, &t.responses[i].range, false);
		}
		etcd_txn_result_free(&t);
	}
	return 0;
}
