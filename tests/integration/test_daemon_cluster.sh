#!/usr/bin/env bash
# test_daemon_cluster.sh: one etcd and three pgwarden daemons with their own
# PostgreSQL 15 on loopback (fast profile: ttl 3 s, loop_wait 0.5 s,
# retry_timeout 1 s). Throughout, a writer commits a sequence number every
# 10 ms to whichever node is read-write and records every acknowledged
# commit, and a probe tries a write on every node every 20 ms and counts
# samples where two nodes accepted (split brain). Scenarios, in order:
#   1. bootstrap: one leader, two streaming replicas; pgwardenctl list works
#   2. kill -9 the leader's daemon and postmaster: a replica is promoted,
#      the third follows it; the old node restarts and rejoins as a replica
#   3. SIGKILL the leader's daemon alone: its PostgreSQL stops accepting
#      writes (parent-death signal) before any other node is promoted
#   4. kill -9 the leader's postmaster and make it unable to restart: the
#      leader releases the key and a new primary is up within a few seconds
#   5. SIGSTOP the leader's daemon and postmaster for longer than ttl, then
#      SIGCONT: it never takes leadership back and rejoins as a replica
#   6. stop etcd: the leader stops accepting writes before its lease could
#      have expired; etcd back: the cluster heals
# Must hold: never two writable nodes at one sample (split_brain=0); after
# each failover every acknowledged commit is on the new primary, or the loss
# is within maximum_lag_on_failover (async mode) and reported.
source "$(dirname "$0")/../lib/it_prelude.sh"
WRITER=$PGW_BUILD_DIR/tests/pgw_writer

DIR=$(mktemp -d /tmp/pgw-it-cluster-XXXXXX)
WRITER_PID=""
PROBE_PID=""
cleanup() {
	[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
	[ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
	for i in 1 2 3; do
		[ -n "${CL_PID[$i]:-}" ] && kill -CONT "${CL_PID[$i]}" 2>/dev/null
		pm=$(cluster_postmaster_pid "$i")
		[ -n "$pm" ] && kill -CONT "$pm" $(pgrep -P "$pm") 2>/dev/null
		chmod -R u+rwX "$DIR/node$i" 2>/dev/null
	done
	tap_dump_logs "$DIR" 3 40
	cluster_cleanup
}
trap cleanup EXIT

verify_acked() {
	local label=$1 out missing
	out=$("$WRITER" --hosts "$(cluster_hosts)" --acked "$DIR/acked.txt" --duration-s 30 verify 2>&1)
	missing=$(echo "$out" | sed -n 's/.*missing=\([0-9-]*\).*/\1/p')
	echo "# $label: $out"
	# async mode: loss is bounded by maximum_lag_on_failover (1 MiB); each
	# commit here is far below 1 KiB of WAL, so more than 1000 missing
	# would break the bound
	if [ -n "$missing" ] && [ "$missing" -ge 0 ] && [ "$missing" -le 1000 ]; then
		ok "$label: acknowledged commits missing=$missing (bound: maximum_lag_on_failover)"
	else
		not_ok "$label: acknowledged commits check failed: $out"
	fi
}

cluster_init "$DIR" 3 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }

# ---- 1. bootstrap ------------------------------------------------------
t0=$(now_ms)
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "bootstrap elects one primary" test -n "$leader"
check "two streaming replicas follow it" cluster_wait_replicas 120 2
echo "# bootstrap to 1 leader + 2 replicas took $(($(now_ms) - t0)) ms"
list=$(cluster_ctl list 2>&1)
echo "$list"
check "pgwardenctl list shows the leader" grep -q "node$leader .*| Leader " <<<"$list"
json=$(cluster_ctl list --format json)
check "pgwardenctl list --format json parses" bash -c "echo '$json' | jq -e '.members | length == 3' >/dev/null"
check "GET /cluster lists 3 members" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/cluster | jq -e '.members | length == 3' >/dev/null"
check "GET /metrics is Prometheus text" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/metrics | grep -q '^pgwarden_primary{scope=\"demo\",member=\"node$leader\"} 1'"
routing_primary() {
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" get --print-value-only /service/demo/routing |
		jq -r 'select(.state == "serving") | .primary.name' 2>/dev/null
}
routing_is() {
	local deadline=$(($(date +%s) + 20))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		[ "$(routing_primary)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
check "routing table: serving with the leader as primary" routing_is "node$leader"
check "HEAD /primary answers with the status alone" bash -c "[ \"\$(curl -s -I -o /dev/null -w '%{http_code}' http://127.0.0.1:${CL_API_PORT[$leader]}/primary)\" = 200 ]"

"$WRITER" --hosts "$(cluster_hosts)" --acked "$DIR/acked.txt" --interval-ms 10 --duration-s 900 write >"$DIR/writer.out" 2>&1 &
WRITER_PID=$!
"$WRITER" --hosts "$(cluster_hosts)" --interval-ms 20 --duration-s 900 probe >"$DIR/probe.out" 2>"$DIR/probe.err" &
PROBE_PID=$!
sleep 2

# ---- 2. node crash ------------------------------------------------------
old=$leader
t0=$(now_ms)
cluster_kill_node "$old" KILL all
new=$(cluster_wait_primary 30 "$old")
rto=$(($(now_ms) - t0))
check "node crash: a replica is promoted" test -n "$new"
echo "# node crash: new primary node$new after ${rto} ms (ttl 3 s)"
check "node crash: the third node follows the new primary" cluster_wait_replicas 60 1
verify_acked "node crash"
cluster_start_node "$old"
check "node crash: the old primary rejoins as a replica" cluster_wait_replicas 120 2
check "node crash: routing table re-pointed (fenced first, then serving)" routing_is "node$new"
check "node crash: history records the failover" bash -c "curl -s http://127.0.0.1:${CL_API_PORT[$new]}/history | jq -e 'length >= 1' >/dev/null"
leader=$new

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 3. daemon crash alone ---------------------------------------------
old=$leader
pm=$(cluster_postmaster_pid "$old")
t0=$(now_ms)
kill -KILL "${CL_PID[$old]}"
stopped_ms=""
for k in $(seq 1 100); do
	if ! cluster_writable "$old"; then stopped_ms=$(($(now_ms) - t0)); break; fi
	sleep 0.05
done
new=$(cluster_wait_primary 30 "$old")
promoted_ms=$(($(now_ms) - t0))
check "daemon crash: the orphaned primary stops accepting writes" test -n "$stopped_ms"
echo "# daemon crash: old primary refused writes after ${stopped_ms:-never} ms; new primary node$new after ${promoted_ms} ms"
check "daemon crash: writes stopped before another node was promoted" test -n "$stopped_ms" -a "${stopped_ms:-999999}" -lt "$promoted_ms"
check "daemon crash: postmaster gone with its daemon" bash -c "! kill -0 $pm 2>/dev/null"
verify_acked "daemon crash"
cluster_start_node "$old"
check "daemon crash: the old node rejoins as a replica" cluster_wait_replicas 120 2
leader=$new

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 3b. daemon frozen alone -------------------------------------------
# Only the daemon stops (SIGSTOP; a debugger or a stuck page fault does the
# same); its PostgreSQL keeps running. The fencing thread cannot run inside
# a stopped process: the watchdog process must fence before the lease could
# have expired, so before any other node is promoted.
old=$leader
t0=$(now_ms)
kill -STOP "${CL_PID[$old]}"
stopped_ms=""
for k in $(seq 1 100); do
	if ! cluster_writable "$old"; then stopped_ms=$(($(now_ms) - t0)); break; fi
	sleep 0.05
done
new=$(cluster_wait_primary 30 "$old")
promoted_ms=$(($(now_ms) - t0))
echo "# daemon frozen alone: old primary refused writes after ${stopped_ms:-never} ms; new primary node$new after ${promoted_ms} ms (ttl 3000 ms)"
check "daemon frozen alone: its PostgreSQL stops accepting writes" test -n "$stopped_ms"
check "daemon frozen alone: writes stopped before another node was promoted" test -n "$stopped_ms" -a "${stopped_ms:-999999}" -lt "$promoted_ms"
check "daemon frozen alone: a new primary" test -n "$new"
check "daemon frozen alone: the watchdog logged the fence" grep -q "event=fence.fired .*by=watchdog" "$DIR/node$old/pgwarden.log"
kill -CONT "${CL_PID[$old]}"
took_back=0
for k in $(seq 1 10); do
	p=$(cluster_primaries)
	case " $p" in *" $old "*) took_back=1 ;; esac
	sleep 0.2
done
check "daemon frozen alone: the thawed daemon never takes leadership back" test $took_back = 0
check "daemon frozen alone: it rejoins as a replica" cluster_wait_replicas 120 2
verify_acked "daemon frozen alone"
leader=$new

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
check "postgres crash: the old node heals into a replica" cluster_wait_replicas 120 2
leader=$new

# the probe so far: never two writable nodes through crashes
stop_probe() {
	kill "$PROBE_PID" 2>/dev/null
	wait "$PROBE_PID" 2>/dev/null
	PROBE_PID=""
}
start_probe() {
	"$WRITER" --hosts "$(cluster_hosts)" --interval-ms 20 --duration-s 900 probe >"$DIR/probe.out" 2>"$DIR/probe.err" &
	PROBE_PID=$!
}
stop_probe
cat "$DIR/probe.out"
check "crashes: the probe saw at most one writable node at every sample" grep -q "split_brain=0 " "$DIR/probe.out"
start_probe

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 5. freeze longer than ttl -----------------------------------------
# The whole server freezes, as a paused VM does: the daemon, the postmaster
# and every backend (backends call setsid(), so they are found as the
# postmaster's children, not through its process group).
old=$leader
pm=$(cluster_postmaster_pid "$old")
pg_pids="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
kill -STOP "${CL_PID[$old]}" $pg_pids
new=$(cluster_wait_primary 30 "$old")
check "freeze: a replica is promoted while the leader is frozen" test -n "$new"
sleep 1
t0=$(now_ms)
thaw_ms=$(date +%s%3N)
kill -CONT $pg_pids
kill -CONT "${CL_PID[$old]}"
# how long does the thawed old primary still acknowledge commits?
last_ok=""
for k in $(seq 1 40); do
	if cluster_writable "$old"; then last_ok=$(($(now_ms) - t0)); else break; fi
done
echo "# freeze: old primary acknowledged writes for ${last_ok:-0} ms after SIGCONT (new connections)"
took_back=0
for k in $(seq 1 20); do
	p=$(cluster_primaries)
	case " $p" in *" $old "*) took_back=1 ;; esac
	sleep 0.2
done
check "freeze: the thawed node never takes leadership back" test $took_back = 0
check "freeze: it rejoins as a replica" cluster_wait_replicas 120 2
verify_acked "freeze"
leader=$(cluster_wait_primary 30)
stop_probe
cat "$DIR/probe.out" "$DIR/probe.err"
# a backend frozen in the middle of a commit finishes it the instant it is
# thawed, before any fencing can run: that window is measured, not zero
last=$(sed -n 's/.*split_last_ms=\([0-9]*\).*/\1/p' "$DIR/probe.out")
first=$(sed -n 's/.*split_first_ms=\([0-9]*\).*/\1/p' "$DIR/probe.out")
if [ "${last:-0}" = 0 ]; then
	ok "freeze: no sample ever saw two writable nodes"
	echo "# freeze: window after SIGCONT in which the old primary still acknowledged a write: 0 ms (none seen)"
else
	window=$((last - thaw_ms))
	echo "# freeze: the thawed old primary acknowledged writes on open connections up to ${window} ms after SIGCONT"
	check "freeze: two writable nodes only right after SIGCONT (first $((first - thaw_ms)) ms, last ${window} ms)" \
		test "$first" -ge "$thaw_ms" -a "$window" -le 1000
fi
start_probe

leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before the next scenario"; exit 1; }
# ---- 6. etcd down ------------------------------------------------------
t0=$(now_ms)
kill -STOP "$CL_ETCD_PID"
stopped_ms=""
for k in $(seq 1 100); do
	if ! cluster_writable "$leader"; then stopped_ms=$(($(now_ms) - t0)); break; fi
	sleep 0.05
done
echo "# etcd down: leader refused writes after ${stopped_ms:-never} ms (ttl 3000 ms)"
check "etcd down: the leader stops accepting writes before its lease expires" test -n "$stopped_ms" -a "${stopped_ms:-999999}" -lt 3000
kill -CONT "$CL_ETCD_PID"
leader=$(cluster_wait_primary 60)
check "etcd back: a primary again" test -n "$leader"
check "etcd back: two replicas" cluster_wait_replicas 120 2

# ---- the probe: never two writable nodes --------------------------------
kill "$WRITER_PID" 2>/dev/null
wait "$WRITER_PID" 2>/dev/null
WRITER_PID=""
stop_probe
cat "$DIR/writer.out" "$DIR/probe.out"
check "etcd outage: the probe saw at most one writable node at every sample" grep -q "split_brain=0 " "$DIR/probe.out"

check "no sanitizer report in any daemon log" cluster_sanitizer_clean
tap_finish
