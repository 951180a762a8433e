#!/usr/bin/env bash
# test_daemon_switchover.sh: planned switchovers, requests and pause on a real
# 3-node cluster (fast profile). Requests are written to the `failover` key
# exactly as Patroni's tools write them ({"leader", "member",
# "scheduled_at"}), so this tests the daemon alone. Scenarios:
#   1. switchover to a named member while a writer commits every 10 ms: the
#      member leads, the old leader follows it, no acknowledged commit is
#      lost, and the write downtime is measured (writer's longest gap)
#   2. switchover with no member named: the best replica takes over
#   3. a switchover scheduled in the future does nothing; deleting the key
#      cancels it
#   4. a request naming an ineligible member (nofailover) is refused: the key
#      is removed and the leader does not change
#   5. pause (pgwardenctl pause --wait): a crashed leader is not replaced
#      (its key expires, nobody is promoted for 5 s); resume: it is
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-switch-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 fast
# node3 may never be promoted
sed -i 's/^log_level: info$/log_level: info\ntags:\n  nofailover: true/' "$DIR/node3/pgwarden.yml"
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "cluster up" test -n "$leader"
check "two replicas" wait_for 120 cluster_has_replicas 2

cluster_start_writer
check "the writer acknowledges writes" cluster_wait_ack "$(($(now_ms) + 1000))" 30

# pick the eligible replica (not node3, not the leader)
other_than() {
	local i
	for i in 1 2; do [ "node$i" != "$1" ] && echo "node$i" && return; done
}

# ---- 1. switchover to a named member ----------------------------------
cur=$(cluster_key leader)
target=$(other_than "$cur")
t0=$(now_ms)
cluster_etcdctl put /service/demo/failover "{\"leader\":\"$cur\",\"member\":\"$target\"}" >/dev/null
check "switchover: $target takes the leader key" wait_for 30 cluster_key_is leader "$target"
t1=$(now_ms)
n=${target#node}
first_write=""
for k in $(seq 1 300); do
	if PGPASSWORD=pgw-super psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$n]}" -U postgres -d postgres \
		-c "CREATE TEMP TABLE w(x int); INSERT INTO w VALUES (1)" >/dev/null 2>&1; then
		first_write=$(($(now_ms) - t0))
		break
	fi
	sleep 0.01
done
echo "# switchover: leader key moved after $((t1 - t0)) ms; first write on $target $first_write ms after the request"
check "switchover: the request is cleared" wait_for 10 cluster_key_absent failover
check "switchover: the old leader follows as a replica" wait_for 60 cluster_has_replicas 2
check "switchover: the writer writes on $target" cluster_wait_ack "$(now_ms)" 30
r=$(cluster_gap "$t0" "$(now_ms)")
echo "# switchover: write downtime (longest gap between acknowledged commits) $(cl_kv downtime_ms "$r") ms, request -> the write that ended it $(cl_kv rto_ms "$r") ms"
cluster_stop_writer
check "switchover: no acknowledged commit lost" test "$(cluster_missing)" = 0

# ---- 2. switchover to any ----------------------------------------------
cur=$(cluster_key leader)
cluster_etcdctl put /service/demo/failover "{\"leader\":\"$cur\"}" >/dev/null
expect=$(other_than "$cur")
check "switchover to any: the eligible replica $expect leads" wait_for 30 cluster_key_is leader "$expect"
check "switchover to any: two replicas again" wait_for 60 cluster_has_replicas 2

# ---- 3. scheduled, then cancelled --------------------------------------
cur=$(cluster_key leader)
later=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%S+00:00)
cluster_etcdctl put /service/demo/failover "{\"leader\":\"$cur\",\"member\":\"$(other_than "$cur")\",\"scheduled_at\":\"$later\"}" >/dev/null
check "scheduled switchover: nothing happens before its time (3 s)" hold_for 3 cluster_key_is leader "$cur"
check "scheduled switchover: the request waits" test -n "$(cluster_key failover)"
cluster_etcdctl del /service/demo/failover >/dev/null
check "scheduled switchover: cancelled, leader unchanged (2 s)" hold_for 2 cluster_key_is leader "$cur"

# ---- 4. ineligible target ----------------------------------------------
cluster_etcdctl put /service/demo/failover "{\"leader\":\"$cur\",\"member\":\"node3\"}" >/dev/null
check "ineligible target: the request is removed" wait_for 15 cluster_key_absent failover
check "ineligible target: leader unchanged" cluster_key_is leader "$cur"
check "ineligible target: the refusal is logged with its reason" \
	grep -q 'switchover.refused.*nofailover' "$DIR/${cur}/pgwarden.log"

# ---- 5. pause -----------------------------------------------------------
check "pause: every member reports paused" cluster_ctl pause --wait --timeout 20s
n=${cur#node}
cluster_kill_node "$n" KILL all
check "pause: the crashed leader's key expires (ttl 3 s)" wait_for 10 cluster_key_absent leader
check "pause: no failover while paused (nobody promoted for 5 s)" hold_for 5 cluster_no_primary
cfg=$(cluster_etcdctl get --print-value-only /service/demo/config)
cluster_etcdctl put /service/demo/config "$(echo "$cfg" | jq -c 'del(.pause)')" >/dev/null
new=$(cluster_wait_primary 30 "$n")
check "resume: a replica is promoted" test -n "$new"
cluster_start_node "$n"
check "resume: the old leader rejoins" wait_for 120 cluster_has_replicas 2

tap_finish
