#!/usr/bin/env bash
# test_chaos_etcd.sh: etcd faults with a 3-member etcd, each member and each
# node in its own network namespace (tests/lib/netns.sh), asynchronous
# replication, fast profile. Faults, each 8 s, then the members restart:
#   etcd-member  SIGKILL the etcd leader member: the 2 others keep quorum;
#                the primary keeps its lease (asserted: no other node
#                accepts a write) and writes never stop for a whole ttl
#   etcd-quorum  SIGKILL 2 of 3 members: nobody can renew; the primary
#                stops accepting writes within ttl of the fault (asserted
#                over its probe's log: its lease could not outlive that);
#                after the restart a primary is elected again, within
#                fault + ttl + retry_timeout + 5 s
# Must hold: never two writable nodes, acknowledged commits lost within the
# bound derived from maximum_lag_on_failover, one primary + two streaming
# replicas again without an operator; RTO, downtime, rejoin time reported.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-3}
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
nn_init "$(mktemp -d /tmp/pgwc3-XXXXXX)" 3 async || exit 1
nn_up || { NN_FAILED=1; exit 1; }
for kind in ${NN_KINDS:-etcd-member etcd-quorum}; do
	nn_round "$kind"
done
nn_finish
nn_table
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
