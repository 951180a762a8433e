/*
 * lease_witness.h: internal to daemon/: the daemon's side of the lease
 * witness (lease_witness.c; the witness itself is witness/witness.h).
 */
#ifndef PGW_DAEMON_LEASE_WITNESS_H
#define PGW_DAEMON_LEASE_WITNESS_H

#include "common/error.h"

struct Daemon;

/* lease_witness_open: the page shared with the witness, and the commit
 * page PostgreSQL's commit check reads (in the state directory; a failure
 * there is logged, and the witness then works alone); before the executor
 * opens (its PostgreSQL control may hand the witness a gate) and before
 * any thread */
int lease_witness_open(const struct NodeConfig *cfg,
                       PgwError *err) PGW_MUSTCHECK;

/* lease_witness_follow: once per turn (observe phase): run the witness and
 * name it in synchronous_standby_names as `config` asks */
void lease_witness_follow(struct Daemon *d);

/* lease_witness_close: stop the process (after PostgreSQL stopped) */
void lease_witness_close(void);

#endif
