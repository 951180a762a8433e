#!/usr/bin/env bash
# test_k8s_pid1_drain.sh: pgwarden as the main process of a database
# container, at the process level: no container runtime is installed on the
# test machines, so each node runs as PID 1 of its own PID namespace
# (`unshare --pid --fork --mount-proc`), which is what a container gives a
# process; the test plays the kubelet (SIGTERM, a 30 s grace period, then
# SIGKILL). PgBouncer with pgwarden-router sits in front, as in
# deploy/k8s/router.yaml. Scenarios:
#   1. PID 1 supervises: pid1.started, the daemon is its child; orphans
#      (a killed postmaster's backends) are reaped: no zombie in any node's
#      namespace
#   2. drain drill: the leader's PID 1 receives SIGTERM with a 30 s grace
#      period while two clients write through PgBouncer every 10 ms; it hands
#      over to a replica and exits inside the grace period; zero failed
#      transactions; write downtime and leaderless time are printed next to
#      the 2-30 s that node drains cost users of the anchors
#   3. the drained pod comes back and rejoins as a replica
#   4. a killed container (SIGKILL to PID 1) leaves no writable primary: its
#      PostgreSQL is gone at once; re-created at once (a force-deleted pod),
#      it cannot prove its predecessor gone, waits for the old lease to
#      expire and never takes its key back
#   5. a grace period too short for a handover: logged, and the leader stops
#      and releases its key at once instead (leaderless time bounded by a
#      loop, not the TTL)
#   6. on a plain host (no PID namespace), a daemon killed with its fence
#      watchdog and restarted at once proves its predecessor dead and takes
#      its key back (the quick takeover a systemd restart relies on when
#      the watchdog could not give the key up)
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$here/routing_stack.sh"
rs_check_deps || exit 1
command -v unshare >/dev/null || { echo "unshare (util-linux) is missing"; exit 1; }

DIR=$(mktemp -d /tmp/pgw-it-k8spid1-XXXXXX)
WATCH_PID=""
cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	rs_stop_all
	tap_dump_logs "$DIR" 3 40
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 default
for i in 1 2 3; do
	# a callback that leaves an orphan behind (a background job outliving
	# its shell), as real hook scripts do
	sed -i 's/^postgresql:$/postgresql:\n  callbacks:\n    on_role_change: "sh -c '"'"'(sleep 0.3 \&) ; exit 0'"'"'"/' "$DIR/node$i/pgwarden.yml"
	cat >>"$DIR/node$i/pgwarden.yml" <<YML
kubernetes:
  enabled: false
YML
done

# start node I as PID 1 of a new PID namespace; CL_PID is unshare's pid
# (--kill-child: if it dies, PID 1 dies, and the namespace with it)
start_pod() {
	local i=$1
	if [ -z "${CL_STARTED[$i]:-}" ]; then
		cl_repick "$i"
		CL_STARTED[$i]=1
	fi
	unshare --pid --fork --mount-proc --kill-child \
		"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	CL_PID[$i]=$!
	POD[$i]=1
}
declare -a POD=()
# stop_pod I: the kubelet's stop: SIGTERM to node I's PID 1, then a bounded
# wait for the pod (unshare) to end; 0 when it exits with status 0 within
# 30 s (on timeout rs_wait_pid kills it)
stop_pod() {
	local i=$1 p1 rc
	p1=$(pid1_of "$i")
	[ -n "$p1" ] || { echo "# node$i: no PID 1 to stop"; return 1; }
	kill -TERM "$p1"
	rs_wait_pid "${CL_PID[$i]}" 30
	rc=$?
	CL_PID[$i]=""
	POD[$i]=""
	[ "$rc" = 0 ] || echo "# node$i: PID 1 exited with $rc (124: still running 30 s after SIGTERM)"
	[ "$rc" = 0 ]
}
# pid1_of I: node I's PID 1 as the root namespace sees it
pid1_of() { pgrep -P "${CL_PID[$1]}" -x pgwarden | head -1; }
has_pid1() { [ -n "$(pid1_of "$1")" ]; }
# zombies_in I: zombie processes in node I's PID namespace
zombies_in() {
	local p1 ns p n=0
	p1=$(pid1_of "$1")
	[ -n "$p1" ] || { echo 0; return; }
	ns=$(readlink "/proc/$p1/ns/pid")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
		grep -q '^State:.*Z' "$p/status" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}
no_zombies() { local i; for i in 1 2 3; do [ "$(zombies_in "$i")" = 0 ] || return 1; done; }

cluster_start_etcd || exit 1
for i in 1 2 3; do start_pod "$i"; done
leader=$(cluster_wait_primary 120)
check "cluster up (every node PID 1 of its namespace)" test -n "$leader"
check "two replicas" wait_for 180 cluster_has_replicas 2

# ---- 1. PID 1 supervises and reaps ---------------------------------------
for i in 1 2 3; do
	check "node$i: pgwarden runs as PID 1 (pid1.started init=pid1)" \
		grep -q 'event=pid1.started.*init=pid1' "$DIR/node$i/pgwarden.log"
	check "node$i: the daemon is PID 1's child" \
		test -n "$(pgrep -P "$(pid1_of "$i")" -x pgwarden)"
done
rep=1
[ "$leader" = 1 ] && rep=2
pm=$(cluster_postmaster_pid "$rep")
# backends that outlive a killed postmaster become PID 1's orphans
for k in 1 2 3; do cluster_psql "$rep" "SELECT 1" >/dev/null 2>&1; done
kill -KILL "$pm"
check "node$rep: PostgreSQL back after its postmaster was killed" wait_for 60 cluster_has_replicas 2
check "no zombie in any node's namespace" wait_for 10 no_zombies

# ---- 2. drain drill: SIGTERM with a 30 s grace period under writers ---------
check "application role and table on node$leader" rs_setup_app "$leader"
check "PgBouncer, HAProxy and their routers start" rs_start
check "routers serve node$leader" wait_for 30 rs_routers_serve "node$leader" 2
# the leader key, every change stamped
stamp() { while read -r line; do echo "$(date +%s%3N) $line"; done; }
# a simple command, so $! is etcdctl itself; the stamping reader ends at
# its EOF
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" watch "/service/$CL_SCOPE/leader" \
	2>/dev/null > >(stamp >"$DIR/leader-watch.log") &
WATCH_PID=$!
probe() { # NAME EXTRA...
	local name=$1
	shift
	rs_bg "$DIR/$name.sum" "$RS_PROBE" --conninfo "$(rs_conn_pgb rw)" --interval-ms 10 \
		--duration-s 300 --log "$DIR/$name.log" --timeout-ms 30000 "$@"
	eval "PID_$name=$RS_LAST_PID"
}
probe p_fresh --fresh
probe p_kept
probing() { local f; for f in p_fresh p_kept; do [ "$(rs_oks_after "$DIR/$f.log" 0)" -ge 20 ] || return 1; done; }
check "writers commit through PgBouncer" wait_for 30 probing
old=$leader
p1=$(pid1_of "$old")
term_ms=$(now_ms)
kill -TERM "$p1"
# the kubelet: wait out the grace period, then SIGKILL
exited=0
for k in $(seq 1 300); do
	kill -0 "${CL_PID[$old]}" 2>/dev/null || { exited=1; break; }
	sleep 0.1
done
exit_ms=$(now_ms)
[ $exited = 1 ] || kill -KILL "${CL_PID[$old]}" 2>/dev/null
wait "${CL_PID[$old]}" 2>/dev/null
pid1_rc=$?
CL_PID[$old]=""
check "drain: PID 1 exited inside the 30 s grace period ($((exit_ms - term_ms)) ms)" test $exited = 1
check "drain: PID 1 exited with the daemon's status 0 (got $pid1_rc)" test "$pid1_rc" = 0
check "drain: PID 1 forwarded SIGTERM" grep -q 'event=pid1.signal signal=15 action=forward' "$DIR/node$old/pgwarden.log"
check "drain: the leader handed over (switchover.done)" grep -q 'event=switchover.done' "$DIR/node$old/pgwarden.log"
new=$(cluster_wait_primary 30 "$old")
check "drain: node${new:-?} leads" test -n "$new"
sleep 2 # the writers go on on the new primary
for f in p_fresh p_kept; do eval "rs_stop_pid \$PID_$f"; done
kill "$WATCH_PID" 2>/dev/null
WATCH_PID=""
failed=0
maxgap=0
for f in p_fresh p_kept; do
	sum=$(tail -1 "$DIR/$f.sum")
	echo "# drain: $f: $sum"
	e=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$sum")
	g=$(sed -n 's/.* max_gap_ms=\([0-9]*\).*/\1/p' <<<"$sum")
	failed=$((failed + ${e:-1}))
	[ "${g:-0}" -gt "$maxgap" ] && maxgap=${g:-0}
done
# leaderless: from the key's delete to the next put (the watch's stamps)
del_ms=$(awk '$2 == "DELETE" {print $1; exit}' "$DIR/leader-watch.log")
put_ms=$(awk -v d="${del_ms:-0}" '$2 == "PUT" && $1 >= d {print $1; exit}' "$DIR/leader-watch.log")
leaderless=$(( ${put_ms:-0} - ${del_ms:-0} ))
echo "# drain drill (SIGTERM to the leader's PID 1, 30 s grace, 2 writers through PgBouncer every 10 ms):"
echo "#   write downtime (longest gap between commits) ${maxgap} ms, failed transactions ${failed},"
echo "#   leaderless time ${leaderless} ms, SIGTERM -> PID 1 exit $((exit_ms - term_ms)) ms"
echo "#   (anchors' users report 2-30 s without a leader on node drains)"
check "drain: zero failed transactions through PgBouncer" test "$failed" = 0
check "drain: a leaderless time was measured (${leaderless} ms)" test -n "$del_ms" -a -n "$put_ms"

# ---- 3. the drained pod comes back ---------------------------------------------
start_pod "$old"
check "comeback: node$old rejoins as a replica" wait_for 120 cluster_has_replicas 2
check "comeback: node$new still leads" test "$(cluster_key leader)" = "node$new"

# ---- 4. a killed container; it comes back before its lease expired --------
killed=$new
kill -KILL "$(pid1_of "$killed")"
gone() { ! cluster_writable "$killed"; }
check "killed: node$killed's PostgreSQL takes no write within 1 s" wait_for 1 gone
no_pg_procs() { ! pgrep -f "postgres -D $CL_DIR/node$killed/data" >/dev/null; }
check "killed: no postgres process of node$killed is left" wait_for 3 no_pg_procs
wait "${CL_PID[$killed]}" 2>/dev/null
# the pod comes back at once (a force-deleted pod re-created): its old lease
# still lives, and from a new PID namespace it cannot prove its
# predecessor gone, so it must not take the key back
before=$(wc -l <"$DIR/node$killed/pgwarden.log")
start_pod "$killed"
since() { tail -n +"$((before + 1))" "$DIR/node$killed/pgwarden.log"; }
unproven() { since | grepq -q 'event=lease.holder-unproven.*another PID namespace'; }
check "comeback before expiry: node$killed cannot prove its old lease's holder gone" wait_for 20 unproven
waits() { since | grepq -q 'rule=stale-own-leader-key '; }
check "comeback before expiry: node$killed waits for the old lease to expire" wait_for 20 waits
next=$(cluster_wait_primary 60)
check "killed: a leader (node${next:-?}) after the old lease expired" test -n "$next"
check "comeback before expiry: node$killed never took its old key back" \
	bash -c "! tail -n +$((before + 1)) $DIR/node$killed/pgwarden.log | grep -q 'rule=stale-own-leader-key-takeover'"
check "killed: every node back (primary + 2 replicas)" wait_for 120 cluster_has_replicas 2

# ---- 5. a grace period too short for a handover ----------------------------------
cur=$(cluster_key leader)
cn=${cur#node}
sed -i 's/^  enabled: false$/  enabled: false\n  termination_grace_period: 5/' "$DIR/node$cn/pgwarden.yml"
# the grace period is read at start: restart the node under it
stop_pod "$cn"
CL_PID[$cn]=""
cluster_wait_primary 60 "$cn" >/dev/null
start_pod "$cn"
check "short grace: node$cn back" wait_for 120 cluster_has_replicas 2
lead=$(cluster_key leader)
ln=${lead#node}
if [ "$ln" != "$cn" ]; then
	cluster_etcdctl put "/service/$CL_SCOPE/failover" "{\"leader\":\"$lead\",\"member\":\"node$cn\"}" >/dev/null
	wait_for 60 cluster_key_is leader "node$cn"
fi
check "short grace: node$cn leads" cluster_key_is leader "node$cn"
t0=$(now_ms)
stop_pod "$cn"
CL_PID[$cn]=""
next=$(cluster_wait_primary 60 "$cn")
took=$(($(now_ms) - t0))
check "short grace: warned that a handover does not fit" \
	grep -q 'event=shutdown.no-switchover.*reason=grace-too-short' "$DIR/node$cn/pgwarden.log"
check "short grace: the key was released, node${next:-?} leads after ${took} ms (well inside the 10 s TTL)" \
	test -n "$next" -a "$took" -lt 8000
sed -i '/^  termination_grace_period: 5$/d' "$DIR/node$cn/pgwarden.yml"
start_pod "$cn"
check "short grace: node$cn back as a replica" wait_for 120 cluster_has_replicas 2
# ---- 6. on a plain host the proof holds: a crashed daemon (and its watchdog) takes its key back --
# (the same node, same boot, same PID namespace: its dead predecessor is seen
# to be dead, so the quick takeover of systemd restarts is kept)
cur=$(cluster_key leader)
cn=${cur#node}
stop_pod "$cn"
CL_PID[$cn]=""
cluster_wait_primary 60 "$cn" >/dev/null
cluster_start_node "$cn" # no namespace: the host's
POD[$cn]=""
check "host: node$cn back" wait_for 120 cluster_has_replicas 2
lead=$(cluster_key leader)
if [ "$lead" != "node$cn" ]; then
	cluster_etcdctl put "/service/$CL_SCOPE/failover" "{\"leader\":\"$lead\",\"member\":\"node$cn\"}" >/dev/null
	wait_for 60 cluster_key_is leader "node$cn"
fi
check "host: node$cn leads" cluster_key_is leader "node$cn"
before=$(wc -l <"$DIR/node$cn/pgwarden.log")
# the daemon and its fence watchdog (first) at once, a crash that takes
# both; its PostgreSQL dies with it. With the watchdog alive, it would give
# the key up itself and a replica would take over (issue 21:
# test_daemon_fast_release.sh); here the key stays on the old lease
wd=$(pgrep -P "${CL_PID[$cn]}" -x pgwarden-fence)
kill -KILL $wd "${CL_PID[$cn]}"
wait "${CL_PID[$cn]}" 2>/dev/null
cluster_start_node "$cn"
since6() { tail -n +"$((before + 1))" "$DIR/node$cn/pgwarden.log"; }
proven() { since6 | grepq -q 'event=lease.holder-gone'; }
check "host: the restarted daemon proves its predecessor gone" wait_for 20 proven
took_back() { since6 | grepq -q 'rule=stale-own-leader-key-takeover'; }
check "host: it takes its key back without a failover" wait_for 20 took_back
check "host: node$cn leads again" wait_for 30 cluster_key_is leader "node$cn"
check "host: every node back" wait_for 120 cluster_has_replicas 2

check "no zombie in any node's namespace at the end" wait_for 10 no_zombies

# ---- the end: each pod stopped as the kubelet stops it ----------------------
# SIGTERM to its PID 1, replicas first, then the leader. (`unshare --fork`
# blocks SIGTERM, so the harness's own stop, which signals CL_PID, would
# wait out its bound and SIGKILL a pod: only the host node is left to it.)
lead=$(cluster_key leader)
for i in 1 2 3; do
	[ -n "${POD[$i]:-}" ] && [ "node$i" != "$lead" ] &&
		check "end: node$i's pod stops on SIGTERM to its PID 1 (status 0)" stop_pod "$i"
done
ln=${lead#node}
[ -n "${POD[$ln]:-}" ] && check "end: the leader node$ln's pod stops on SIGTERM to its PID 1 (status 0)" stop_pod "$ln"
check "no sanitizer report" cluster_sanitizer_clean
# tap_finish stops every daemon with SIGTERM: a pod's goes to its PID 1, as
# the kubelet sends it (unshare, its parent here, blocks SIGTERM while it
# waits: signalled, the stop waited its whole bound and then hung in wait)
for i in 1 2 3; do
	[ "$(ps -o comm= -p "${CL_PID[$i]:-0}" 2>/dev/null)" = unshare ] || continue
	p1=$(pid1_of "$i")
	[ -n "$p1" ] && CL_PID[$i]=$p1
done
tap_finish
