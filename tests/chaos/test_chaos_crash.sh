#!/usr/bin/env bash
# test_chaos_crash.sh: crashes and a freeze of the primary, each host in its
# own network namespace (tests/lib/netns.sh), one etcd member, asynchronous
# replication, fast profile (ttl 3 s, loop_wait 0.5 s, retry_timeout 1 s).
# Throughout: a writer commits every 10 ms to whichever node is read-write;
# a probe in every node's namespace tries a write on that node every 20 ms.
# Faults, in order, each bounded, each on the current primary:
#   node-crash   SIGKILL the daemon and the postmaster's process group;
#                the daemon is started again once a replica has taken over
#   pg-crash     SIGKILL the postmaster only; the daemon restarts it or
#                hands over
#   daemon-crash SIGKILL the daemon only (its PostgreSQL must go with it)
#   freeze       SIGSTOP daemon + postmaster group for ttl + 3 s, SIGCONT
# Must hold after each: never two writable nodes (the thawed primary's
# commits in flight may land within 1 s of SIGCONT: measured), acknowledged
# commits missing on the final primary <= the maximum_lag_on_failover bound
# (reported), one primary and two streaming replicas again without an
# operator; RTO, downtime and rejoin time are reported per fault.
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
nn_table
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
