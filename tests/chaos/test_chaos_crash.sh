#!/usr/bin/env bash
# test_chaos_crash.sh: crashes and a freeze of the primary, each host in its
# own network namespace (tests/lib/netns.sh), one etcd member, asynchronous
# replication, fast profile (ttl 3 s, loop_wait 0.5 s, retry_timeout 1 s).
# Throughout: a writer commits every 10 ms to whichever node is read-write;
# a probe in every node's namespace tries a write on that node every 20 ms.
# Faults, in order, each bounded, each on the current primary:
#   node-crash   SIGKILL every process of the node (daemon, fence watchdog,
#                PostgreSQL); the daemon is started again once a replica
#                has taken over
#   pg-crash     SIGKILL the postmaster only; the daemon restarts it or
#                hands over (either is fine; the RTO bound covers both)
#   daemon-crash SIGKILL the daemon only: its PostgreSQL goes with it
#                (asserted: no write accepted on it within ttl of the
#                fault, and never beside another writable node)
#   freeze       SIGSTOP every process of the node (the fence watchdog
#                too) for ttl + 3 s; SIGCONT PostgreSQL first, then the
#                rest
# Must hold after each (tests/lib/netns.sh nn_round): never two writable
# nodes (a single accepted write counts; only the thawed old primary's
# writes after SIGCONT are reported apart, in the "thaw" column, and allowed
# up to 1 s), acknowledged commits lost within the bound derived from
# maximum_lag_on_failover at the measured WAL bytes per commit, a replica
# took over before the heal, the RTO within ttl + retry_timeout + 5 s (pg
# crash: loop_wait + primary_start_timeout + retry_timeout + 5 s), one
# primary and two streaming replicas again without an operator.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-1}
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
nn_init "$(mktemp -d /tmp/pgwc1-XXXXXX)" 1 async || exit 1
nn_up || { NN_FAILED=1; exit 1; }
for kind in ${NN_KINDS:-node-crash pg-crash daemon-crash freeze}; do
	nn_round "$kind"
done
nn_finish
nn_table
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
