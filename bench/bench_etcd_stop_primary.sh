#!/usr/bin/env bash
# bench_etcd_stop_primary.sh: what the leader's GET /primary says while etcd
# is stopped (SIGSTOP) on a local 3-node cluster, fast profile (ttl 3 s),
# with a writer committing: the status every ~20 ms from the stop until
# +4.5 s, per round, and the rounds where a 503 was followed by a 200
# again (a "flip": an HAProxy check would mark the primary down, then up).
# Before eb3dbf8 the REST API judged the lease by the loop's last
# published deadline, which a turn held up by an etcd call let lag behind
# the fences' deadline: 2 flips in 8 rounds; after it, 0 in 12.
# Usage: N=ROUNDS bash bench/bench_etcd_stop_primary.sh   (default 8)
source "$(dirname "$0")/../tests/lib/it_prelude.sh"
N=${N:-8}
DIR=$(mktemp -d /tmp/pgw-bench-etcdstop-XXXXXX)
trap 'cluster_cleanup' EXIT
cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
cluster_wait_replicas 120 2
cluster_start_writer
flips=0
for r in $(seq 1 "$N"); do
	leader=$(cluster_wait_primary 60)
	[ -n "$leader" ] || { echo "no leader"; break; }
	sleep $(awk -v r=$RANDOM 'BEGIN{printf "%.2f", 1 + r % 100 / 100}')
	t0=$(now_ms)
	kill -STOP "$CL_ETCD_PID"
	trace=""
	seen503=0 flip=0
	while [ $(( $(now_ms) - t0 )) -lt 4500 ]; do
		s=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${CL_API_PORT[$leader]}/primary")
		trace+=" $(( $(now_ms) - t0 )):$s"
		[ "$s" = 503 ] && seen503=1
		[ "$s" = 200 ] && [ $seen503 = 1 ] && flip=1
		sleep 0.02
	done
	kill -CONT "$CL_ETCD_PID"
	[ $flip = 1 ] && flips=$((flips+1))
	echo "round $r leader=node$leader flip=$flip trace:$(echo "$trace" | tr ' ' '\n' | awk -F: 'NR>1 && $2!=p {printf " %s", $0} {p=$2}')"
	cluster_wait_replicas 120 2 || true
done
echo "rounds=$N flips=$flips (commit $(git -C "$root" rev-parse --short HEAD))"
