#!/usr/bin/env bash
# test_tools_claims.sh: the chaos drills' per-kind claims and timing bounds
# (tests/lib/netns.sh nn_claims, nn_bound) on synthetic probe logs, no
# cluster: each claim is fed a case where it must fail, and one where it
# holds.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
source "$root/tests/lib/tap.sh"
CL_DIR=$(mktemp -d /tmp/pgw-claims-XXXXXX)
trap 'rm -rf "$CL_DIR"' EXIT
CL_N=3
for i in 1 2 3; do CL_PG_HOST[$i]=10.0.0.1$i; CL_PG_PORT[$i]=5432; done
NN_TTL=3 NN_RETRY=1 NN_LOOP_WAIT=0.5 NN_FAULT_S=8 NN_SLACK_MS=5000 NN_FAILSAFE=""
B=1700000000000
T0=$((B + 10000))
TH=$((T0 + 8000))
NOW=$((T0 + 20000))
# probe I OK_FROM OK_TO: node I accepted writes from OK_FROM to OK_TO
# (relative to T0; -1 -1: never), refused them otherwise, every 20 ms
probe() {
	awk -v b="$B" -v t0="$T0" -v now="$NOW" -v h="10.0.0.1$1:5432" -v f="$2" -v t="$3" 'BEGIN {
		for (x = b; x < now; x += 20) {
			ok = (f != -1 && x - t0 >= f && x - t0 <= t) ? 1 : 0
			printf "%.0f %.0f %s %d\n", x, x + 3, h, ok
		}
	}' >"$CL_DIR/probe$1.log"
}
claims() { nn_claims "$1" 1 "$T0" "$TH" "$NOW"; }

# a clean failover: node1 stops at +2000, node2 takes over at +4000
probe 1 -10000 2000
probe 2 4000 20000
probe 3 -1 -1
check "part-etcd: a clean failover holds" test -z "$(claims part-etcd)"
check "isolate: a clean failover holds" test -z "$(claims isolate)"
check "part-replicas: a failover breaks 'keeps the lease'" \
	grep -q "did not keep the lease" <<<"$(claims part-replicas)"
# node1 writes on past ttl
probe 1 -10000 3500
check "part-etcd: writes past ttl fail 'stops within ttl'" \
	grep -q "still accepted a write 35[0-9][0-9] ms after the fault" <<<"$(claims part-etcd)"
check "etcd-quorum: writes past ttl fail" grep -q "still accepted a write" <<<"$(claims etcd-quorum)"
# nobody takes over before the heal
probe 1 -10000 2000
probe 2 9000 20000
check "isolate: a take-over after the heal fails 'a replica takes over'" \
	grep -q "no other node accepted a write before the heal" <<<"$(claims isolate)"
check "node-crash: the same" grep -q "no other node accepted" <<<"$(claims node-crash)"
# the primary keeps the lease through the fault
probe 1 -10000 20000
probe 2 -1 -1
check "part-replicas: keeping the lease holds" test -z "$(claims part-replicas)"
check "etcd-member: keeping the lease holds" test -z "$(claims etcd-member)"
check "etcd-quorum: writing on after the fault fails" grep -q "still accepted" <<<"$(claims etcd-quorum)"
NN_FAILSAFE=1
check "failsafe part-etcd: keeping the lease holds" test -z "$(claims part-etcd)"
NN_FAILSAFE=""
# a dead probe: the claims refuse its log
: >"$CL_DIR/probe1.log"
check "an empty probe log is refused" grep -q "unreadable" <<<"$(claims part-etcd)"
# bounds from the profile
check "node-crash bound: rto ttl + retry + slack" test "$(nn_bound node-crash)" = "rto 9000"
check "pg-crash bound: rto loop_wait + primary_start_timeout + retry + slack" test "$(nn_bound pg-crash)" = "rto 9500"
check "part-replicas bound: rto 2 x fault + retry + slack" test "$(nn_bound part-replicas)" = "rto 22000"
check "etcd-member bound: downtime ttl" test "$(nn_bound etcd-member)" = "downtime 3000"
tap_finish
