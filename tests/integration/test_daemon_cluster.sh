#!/usr/bin/env bash
# test_daemon_cluster.sh: one etcd and three pgwarden daemons with their own
# PostgreSQL 15 on loopback (fast profile: ttl 3 s, loop_wait 0.5 s,
# retry_timeout 1 s). Throughout, a writer commits a sequence number every
# 10 ms to whichever node is read-write and records every acknowledged
# commit, and a probe per node tries a write on that node every 20 ms and
# logs every attempt (tests/lib/cluster.sh). Scenarios, in order:
#   1. bootstrap: one leader, two replicas streaming from it (checked on
#      pg_stat_replication and pg_stat_wal_receiver); pgwardenctl list works
#   2. kill -9 every process of the leader's node: a replica is promoted,
#      the third follows it; the old node restarts and rejoins as a replica
#   3. SIGKILL the leader's daemon alone: its PostgreSQL stops accepting
#      writes (parent-death signal) before any other node accepts one
#      (from the probes' logs: the old node's last accepted write ends
#      before the new primary's first begins)
#   3b. SIGSTOP the daemon alone: the fence watchdog stops its PostgreSQL
#      before another node accepts a write
#   4. kill -9 the leader's postmaster and make it unable to restart: the
#      leader releases the key and a new primary is up within a few seconds
#   5. SIGSTOP the whole node (daemon, fence watchdog, PostgreSQL) for
#      longer than ttl, then SIGCONT, PostgreSQL first: how many writes the
#      thawed old primary acknowledges, and for how long, is measured and
#      printed; it never takes leadership back and rejoins as a replica
#   6. stop etcd: the leader stops accepting writes within ttl of the stop
#      (its lease cannot outlive that); etcd back: the cluster heals
# Must hold: never two writable nodes (tests/tools/pgw_logcheck.py split
# over the probes' logs after each scenario: a single accepted write on a
# second node fails it; in 5 only the thawed node's writes after SIGCONT
# are reported apart and bounded to 1 s); after each failover every
# acknowledged commit is on the new primary, or the loss is within the
# bound derived from maximum_lag_on_failover (async mode).
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-cluster-XXXXXX)
cleanup() {
	for i in 1 2 3; do chmod -R u+rwX "$DIR/node$i" 2>/dev/null; done
	tap_dump_logs "$DIR" 3 40
	cluster_cleanup
}
trap cleanup EXIT

MISSING_PREV=0
verify_acked() {
	local label=$1 miss lost
	miss=$(cluster_missing)
	if [ -z "$miss" ] || [ "$miss" -lt 0 ]; then
		not_ok "$label: acknowledged commits could not be verified"
		return
	fi
	lost=$((miss - MISSING_PREV))
	MISSING_PREV=$miss
	check "$label: acknowledged commits lost $lost <= $CL_LOSS_BOUND ($CL_LOSS_WHY)" \
		test "$lost" -ge 0 -a "$lost" -le "$CL_LOSS_BOUND"
}

# no_split LABEL FROM [ARGS...]: no two writable nodes since FROM
no_split() {
	local label=$1 from=$2 out
	shift 2
	out=$(cluster_split "$from" "$(now_ms)" "$@" 2>&1)
	echo "# $label: $(tail -n 1 <<<"$out")"
	check "$label: never two writable nodes (probe logs)" \
		test "$(cl_kv split "$(tail -n 1 <<<"$out")")" = 0
	SPLIT_OUT=$out
}

# order_check LABEL OLD NEW T0: OLD's last accepted write since T0 ended
# before NEW's first began
order_check() {
	local label=$1 old=$2 new=$3 t0=$4 now a b last first
	now=$(now_ms)
	a=$(cluster_accepts "$old" "$t0" "$now")
	b=$(cluster_accepts "$new" "$t0" "$now")
	last=$(cl_kv last_end_ms "$a")
	first=$(cl_kv first_start_ms "$b")
	echo "# $label: node$old last accepted a write at +$([ "$last" = -1 ] && echo never || echo $((last - t0))) ms, node$new first at +$([ "$first" = -1 ] && echo never || echo $((first - t0))) ms"
	check "$label: node$old stopped accepting writes before node$new accepted one" \
		test "$first" != -1 -a "$last" -lt "$first"
}

cluster_init "$DIR" 3 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }

# ---- 1. bootstrap ------------------------------------------------------
t0=$(now_ms)
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "bootstrap elects one primary" test -n "$leader"
check "two replicas stream from it (pg_stat_replication + pg_stat_wal_receiver, same timeline)" cluster_wait_replicas 120 2
echo "# bootstrap to 1 leader + 2 streaming replicas took $(($(now_ms) - t0)) ms"
list=$(cluster_ctl list 2>&1)
echo "$list"
check "pgwardenctl list shows the leader" grep -q "node$leader .*| Leader " <<<"$list"
json=$(cluster_ctl list --format json)
check "pgwardenctl list --format json parses" bash -c "echo '$json' | jq -e '.members | length == 3' >/dev/null"
check "GET /cluster lists 3 members" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/cluster | jq -e '.members | length == 3' >/dev/null"
check "GET /metrics is Prometheus text" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/metrics | grep -q '^pgwarden_primary{scope=\"demo\",member=\"node$leader\"} 1'"
routing_primary() {
	cluster_etcdctl get --print-value-only /service/demo/routing |
		jq -r 'select(.state == "serving") | .primary.name' 2>/dev/null
}
routing_is() { [ "$(routing_primary)" = "$1" ]; }
check "routing table: serving with the leader as primary" wait_for 20 routing_is "node$leader"
check "HEAD /primary answers with the status alone" bash -c "[ \"\$(curl -s -I -o /dev/null -w '%{http_code}' http://127.0.0.1:${CL_API_PORT[$leader]}/primary)\" = 200 ]"

cluster_start_writer
cluster_start_probes
check "the writer acknowledges writes" cluster_wait_ack "$(($(now_ms) + 1000))" 30
cluster_loss_bound || not_ok "loss bound: $CL_LOSS_WHY"
echo "# async loss bound: $CL_LOSS_BOUND commits ($CL_LOSS_WHY)"

# ---- 2. node crash ------------------------------------------------------
old=$leader
t0=$(now_ms)
# shellcheck disable=SC2046
kill -KILL $(cluster_node_pids "$old")
new=$(cluster_wait_primary 30 "$old")
rto=$(($(now_ms) - t0))
check "node crash: a replica is promoted" test -n "$new"
echo "# node crash: new primary node$new after ${rto} ms (ttl 3 s)"
check "node crash: the third node streams from the new primary" cluster_wait_replicas 60 1
verify_acked "node crash"
cluster_start_node "$old"
check "node crash: the old primary rejoins, streaming from the new one" cluster_wait_replicas 120 2
check "node crash: routing table re-pointed (fenced first, then serving)" wait_for 20 routing_is "node$new"
check "node crash: history records the failover" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$new]}/history | jq -e 'length >= 1' >/dev/null"
no_split "node crash" "$t0"

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 3. daemon crash alone ---------------------------------------------
old=$leader
pm=$(cluster_postmaster_pid "$old")
t0=$(now_ms)
kill -KILL "${CL_PID[$old]}"
new=$(cluster_wait_primary 30 "$old")
echo "# daemon crash: new primary node${new:-?} after $(($(now_ms) - t0)) ms"
check "daemon crash: a new primary" test -n "$new"
check "daemon crash: postmaster gone with its daemon" wait_for 5 bash -c "! kill -0 $pm 2>/dev/null"
check "daemon crash: the writer writes again" cluster_wait_ack "$(now_ms)" 30
order_check "daemon crash" "$old" "${new:-0}" "$t0"
verify_acked "daemon crash"
cluster_start_node "$old"
check "daemon crash: the old node rejoins as a streaming replica" cluster_wait_replicas 120 2
no_split "daemon crash" "$t0"

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 3b. daemon frozen alone -------------------------------------------
# Only the daemon stops (SIGSTOP; a debugger or a stuck page fault does the
# same); its PostgreSQL and the fence watchdog keep running. The fencing
# thread cannot run inside a stopped process: the watchdog process must
# fence before the lease could have expired, so before any other node is
# promoted.
old=$leader
t0=$(now_ms)
kill -STOP "${CL_PID[$old]}"
new=$(cluster_wait_primary 30 "$old")
echo "# daemon frozen alone: new primary node${new:-?} after $(($(now_ms) - t0)) ms (ttl 3000 ms)"
check "daemon frozen alone: a new primary" test -n "$new"
check "daemon frozen alone: the writer writes again" cluster_wait_ack "$(now_ms)" 30
order_check "daemon frozen alone" "$old" "${new:-0}" "$t0"
check "daemon frozen alone: the watchdog logged the fence" grep -q "event=fence.fired .*by=watchdog" "$DIR/node$old/pgwarden.log"
kill -CONT "${CL_PID[$old]}"
check "daemon frozen alone: the thawed daemon does not take leadership back (2 s)" hold_for 2 cluster_not_primary "$old"
check "daemon frozen alone: it rejoins as a streaming replica" cluster_wait_replicas 120 2
verify_acked "daemon frozen alone"
no_split "daemon frozen alone" "$t0"

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 4. PostgreSQL crash that cannot restart ---------------------------
old=$leader
pm=$(cluster_postmaster_pid "$old")
# an unreadable data directory: the restart attempt must fail
chmod 000 "$DIR/node$old/data/global"
t0=$(now_ms)
kill -KILL "$pm"
new=$(cluster_wait_primary 30 "$old")
rto=$(($(now_ms) - t0))
check "postgres crash: a new primary" test -n "$new"
echo "# postgres crash (no restart possible): new primary node$new after ${rto} ms"
chmod 700 "$DIR/node$old/data/global"
verify_acked "postgres crash"
check "postgres crash: the old node heals into a streaming replica" cluster_wait_replicas 120 2
no_split "postgres crash" "$t0"

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 5. freeze longer than ttl -----------------------------------------
# The whole server freezes, as a paused VM does: the daemon, its fence
# watchdog, the postmaster and every backend (backends call setsid(), so
# they are found as the postmaster's children). The thaw resumes
# PostgreSQL first, then the rest: the order in which a backend with a
# client waiting can commit before anything of pgwarden runs again.
old=$leader
pg_pids=$(cluster_pg_pids "$old")
all_pids=$(cluster_node_pids "$old")
check "freeze: the fence watchdog is among the frozen processes" \
	bash -c "for p in $all_pids; do [ \"\$(cat /proc/\$p/comm 2>/dev/null)\" = pgwarden-fence ] && exit 0; done; exit 1"
t0=$(now_ms)
# shellcheck disable=SC2086
kill -STOP $all_pids
new=$(cluster_wait_primary 30 "$old")
check "freeze: a replica is promoted while the leader is frozen" test -n "$new"
check "freeze: the new primary takes writes" cluster_wait_ack "$(now_ms)" 30
thaw=$(now_ms)
# shellcheck disable=SC2086
kill -CONT $pg_pids
# shellcheck disable=SC2086
kill -CONT $all_pids
check "freeze: the thawed node does not take leadership back (4 s)" hold_for 4 cluster_not_primary "$old"
check "freeze: it rejoins as a streaming replica" cluster_wait_replicas 120 2
verify_acked "freeze"
# what the thawed old primary did: its probe's accepted writes after SIGCONT
a=$(cluster_accepts "$old" "$thaw" "$(now_ms)")
n=$(cl_kv accepted "$a")
last=$(cl_kv last_end_ms "$a")
if [ "$n" = 0 ]; then
	echo "# freeze: the thawed old primary acknowledged 0 probe writes after SIGCONT (fence watchdog frozen too, PostgreSQL resumed first)"
else
	echo "# freeze: the thawed old primary acknowledged $n probe writes after SIGCONT, the last ending $((last - thaw)) ms after it (fence watchdog frozen too, PostgreSQL resumed first)"
fi
no_split "freeze" "$t0" --exempt-host "127.0.0.1:${CL_PG_PORT[$old]}" --exempt-after "$thaw"
check "freeze: the thawed old primary's writes end within 1 s of SIGCONT" \
	test "$n" = 0 -o $((last - thaw)) -le 1000

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 6. etcd down ------------------------------------------------------
check "etcd down: the writer writes on node$leader" cluster_wait_ack "$(now_ms)" 30
t0=$(now_ms)
kill -STOP "$CL_ETCD_PID"
# the lease was renewed last before the stop: it cannot outlive t0 + ttl
check "etcd down: the leader stops answering /primary" wait_for 10 cluster_refuses_primary "$leader"
left=$((t0 + 5000 - $(now_ms)))
check "etcd down: it does not claim /primary again while etcd is stopped" \
	hold_for "$(awk -v ms="$left" 'BEGIN{printf "%.1f", (ms > 0 ? ms : 0) / 1000}')" cluster_not_primary "$leader"
a=$(cluster_accepts "$leader" "$t0" "$(now_ms)")
last=$(cl_kv last_end_ms "$a")
echo "# etcd down: node$leader's last accepted write ended $([ "$last" = -1 ] && echo "before the stop" || echo "$((last - t0)) ms after it") (ttl 3000 ms; probe log up to +$(($(now_ms) - t0)) ms)"
check "etcd down: the leader stopped accepting writes within ttl of the stop" \
	test -n "$last" -a "${last:-0}" -lt $((t0 + 3000))
kill -CONT "$CL_ETCD_PID"
leader=$(cluster_wait_primary 60)
check "etcd back: a primary again" test -n "$leader"
check "etcd back: two streaming replicas" cluster_wait_replicas 120 2
no_split "etcd outage" "$t0"

cluster_stop_writer
cluster_stop_probes
cat "$DIR/writer.out"
tap_finish
