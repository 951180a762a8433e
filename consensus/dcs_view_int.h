/*
 * dcs_view_int.h: shared by dcs_view.c (the pure view model) and dcs.c
 * (the operations over etcd) only. Not part of consensus.h.
 */
#ifndef PGW_DCS_VIEW_INT_H
#define PGW_DCS_VIEW_INT_H

#include "consensus/consensus.h"

/* dcs_key_join: prefix + suffix into out; PGW_EINVAL when too long. */
int dcs_key_join(const char *prefix, const char *suffix, char *out, size_t len,
                 PgwError *err);

/* dcs_view_apply_kv: fold one key (suffix after the prefix) into v; true
 * for keys that should wake the loop (leader, config, failover, ...). */
bool dcs_view_apply_kv(ClusterView *v, const char *suffix,
                       const EtcdKeyValue *kv, bool deleted);

#endif
