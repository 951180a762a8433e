#!/usr/bin/env bash
# test_chaos_partition.sh: network faults on the primary, each host in its
# own network namespace (tests/lib/netns.sh), one etcd member, synchronous
# mode (synchronous_mode: true), fast profile (ttl 3 s, loop_wait 0.5 s,
# retry_timeout 1 s). Each fault lasts 8 s (longer than ttl), then heals:
#   part-etcd      the primary's namespace drops all traffic to/from etcd:
#                  it stops accepting writes within ttl (its lease cannot
#                  outlive that), a replica takes over before the heal
#   part-replicas  the primary cannot reach the replicas (etcd still can):
#                  it keeps the lease (no other node accepts a write);
#                  synchronous commits block until the heal, none lost
#   isolate        the primary's link drops everything (its own probe in its
#                  namespace still sees it): it fences itself within ttl, a
#                  replica takes over before the heal, it rejoins after
#   netem          100 ms +- 50 ms delay and 10% packet loss on the
#                  primary's link (tc netem, or pgw_delay on NFQUEUE where
#                  the kernel has no sch_netem); the note gives the RTT
# Must hold (tests/lib/netns.sh nn_round): never two writable nodes (one
# accepted write is enough to fail), zero acknowledged commits missing
# (synchronous mode), each kind's timing bound from the profile, one
# primary + two streaming replicas again without an operator; RTO,
# downtime and rejoin time reported per fault.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-2}
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
nn_init "$(mktemp -d /tmp/pgwc2-XXXXXX)" 1 sync || exit 1
nn_up || { NN_FAILED=1; exit 1; }
for kind in ${NN_KINDS:-part-etcd part-replicas isolate netem}; do
	nn_round "$kind"
done
nn_finish
nn_table
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
