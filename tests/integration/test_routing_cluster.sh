#!/usr/bin/env bash
# test_routing_cluster.sh: routing end to end with the real daemons (issue
# 7): one etcd, three pgwarden daemons with their PostgreSQL 15 (fast
# profile: ttl 3 s), a PgBouncer 1.18 and an HAProxy 2.6 on loopback, each
# driven by its own pgwarden-router. Nothing in the test publishes a routing
# table: the leader does. PgBouncer keeps its default server_login_retry
# (15 s). Client loops are bench_routing_probe (one line per attempt: when,
# and on which server port it landed) and pgbench. Scenarios, in order:
#   0. start: both routers apply and acknowledge the leader's table;
#      PgBouncer and HAProxy rw reach the leader, ro reach replicas only
#   a. planned switchover (pgwardenctl switchover) while pgbench writes
#      through PgBouncer, with kept and with per-transaction connections:
#      zero failed transactions; the longest pause a transaction saw is
#      printed; afterwards both rw paths reach the new primary
#   b. node crash (SIGKILL of the leader's daemon and of every PostgreSQL
#      process of it): writes through PgBouncer (fresh and kept connections)
#      resume on the new primary; the old node comes back and rejoins as a
#      replica, and no write lands on it at any time after the crash; no
#      PgBouncer server connection and no HAProxy rw server points at it
#   c. through HAProxy: the rw port reaches the new primary (the time from
#      the new routing table to the first write is printed, with the same
#      figure for PgBouncer); the ro port spreads over both replicas and
#      never reaches the primary
# Timing figures are printed, never asserted. Every wait is bounded; every
# process the test starts is stopped at exit, on failure too.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$here/routing_stack.sh"
rs_check_deps || exit 1

DIR=$(mktemp -d /tmp/pgw-it-routing-XXXXXX)
cleanup() {
	rs_stop_all
	if [ $failures -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then rs_dump_logs 25; fi
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT

# ---- the cluster and the routing stack -----------------------------------
cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120)
check "cluster up" test -n "$leader"
[ -n "$leader" ] || exit 1
check "two replicas" wait_for 120 cluster_has_replicas 2
check "application role and table created on node$leader" rs_setup_app "$leader"
check "PgBouncer, HAProxy and their routers start" rs_start

replica_ports() {
	local i out=""
	for i in 1 2 3; do [ "$i" != "$1" ] && out+="${CL_PG_PORT[$i]} "; done
	echo "$out"
}
# ro_spread PRIMARY: 20 fresh reads through HAProxy ro reach replicas only
# (the statement answers no row on a primary) and both of them
RO_SQL="SELECT inet_server_port() WHERE pg_is_in_recovery()"
ro_spread() {
	local out r
	out=$("$RS_PROBE" --conninfo "$(rs_conn_hap "$RS_HAP_RO")" --fresh --count 20 --interval-ms 5 \
		--timeout-ms 5000 --sql "$RO_SQL" 2>/dev/null)
	RO_LAST=$(tail -1 <<<"$out")
	grep -q " errors=0 " <<<"$RO_LAST" || return 1
	for r in $(replica_ports "$1"); do
		grep -q "[=,]$r:" <<<"$RO_LAST" || return 1
	done
}

# ---- 0. start ---------------------------------------------------------------
check "0: both routers apply and acknowledge the leader's table (node$leader, 2 replicas)" \
	wait_for 60 rs_routers_serve "node$leader" 2
check "0: PgBouncer rw reaches the leader node$leader" rs_port_is "${CL_PG_PORT[$leader]}" "$(rs_conn_pgb rw)"
check "0: HAProxy rw reaches the leader node$leader" rs_port_is "${CL_PG_PORT[$leader]}" "$(rs_conn_hap "$RS_HAP_RW")"
p=$(rs_port_of "$(rs_conn_pgb ro)" "$RO_SQL")
check "0: PgBouncer ro reaches a replica (port $p)" grep -qw -- "${p:-none}" <<<"$(replica_ports "$leader")"
check "0: HAProxy ro spreads over both replicas and never the primary" wait_for 20 ro_spread "$leader"
echo "# HAProxy ro: $RO_LAST"

# ---- a. planned switchover with pgbench through PgBouncer -----------------
old=$leader
cand=""
for i in 1 2 3; do [ "$i" != "$old" ] && [ -z "$cand" ] && cand=$i; done
echo 'INSERT INTO pgw_route(port) VALUES (inet_server_port());' >"$DIR/insert.sql"
pgbench_run() { # NAME EXTRA_ARGS...
	local name=$1
	shift
	exec "$RS_PGBENCH" -n -h 127.0.0.1 -p "$RS_PGB_PORT" -U app -d postgres_rw -f "$DIR/insert.sql" \
		-T 14 -l --log-prefix="$DIR/$name" "$@" >"$DIR/$name.out" 2>&1
}
rs_bg /dev/null pgbench_run pgb_kept -c 4 -j 2 -R 150
PGB_KEPT=$RS_LAST_PID
rs_bg /dev/null pgbench_run pgb_fresh -c 2 -C -R 40
PGB_FRESH=$RS_LAST_PID
logged() { [ -n "$(cat "$DIR"/pgb_kept.[0-9]* 2>/dev/null | head -50 | sed -n 50p)" ]; }
check "a: pgbench commits through PgBouncer before the switchover" wait_for 30 logged
PGUSER=postgres PGPASSWORD=pgw-super cluster_ctl switchover --leader "node$old" --candidate "node$cand" --force \
	--timeout 30s >"$DIR/switchover.out" 2>&1
rc=$?
sed 's/^/# a: pgwardenctl: /' "$DIR/switchover.out"
check "a: pgwardenctl switchover node$old -> node$cand exits 0" test $rc = 0
check "a: node$cand holds the leader key" wait_for 30 rs_leader_is "node$cand"
rs_wait_pid $PGB_KEPT 60
rc_kept=$?
rs_wait_pid $PGB_FRESH 60
rc_fresh=$?
for n in kept fresh; do
	out=$DIR/pgb_$n.out
	rc=$rc_kept
	[ $n = fresh ] && rc=$rc_fresh
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	max_us=$(cat "$DIR"/pgb_$n.[0-9]* 2>/dev/null | awk '$3 + 0 > m {m = $3 + 0} END {print m + 0}')
	echo "# a: pgbench ($n connections): $done_tx transactions, failed ${failed:-?}, longest transaction (the pause it saw) $((max_us / 1000)) ms"
	check "a: pgbench ($n connections) exits 0, no client aborted" \
		bash -c "[ $rc = 0 ] && ! grep -qi 'aborted' '$out'"
	check "a: pgbench ($n connections): zero failed transactions" test "${failed:-x}" = 0
done
# the PAUSE -> RESUME window in the PgBouncer router's log
pause_ms() {
	awk '/command="PAUSE postgres_rw"/ {p = $1} /command="RESUME postgres_rw"/ && p {r = $1} END {print p, r}' \
		"$RS_DIR/r-pgb.log" | while read -r p r; do
		[ -n "$r" ] && echo $(($(date -d "$r" +%s%3N) - $(date -d "$p" +%s%3N)))
	done
}
echo "# a: PgBouncer postgres_rw paused for $(pause_ms) ms (PAUSE -> RESUME in the router's log)"
check "a: PgBouncer rw reaches the new primary node$cand" wait_for 10 rs_port_is "${CL_PG_PORT[$cand]}" "$(rs_conn_pgb rw)"
check "a: HAProxy rw reaches the new primary node$cand" wait_for 10 rs_port_is "${CL_PG_PORT[$cand]}" "$(rs_conn_hap "$RS_HAP_RW")"
check "a: the old leader node$old rejoins as a replica" wait_for 120 cluster_has_replicas 2
check "a: routers serve node$cand with both replicas" wait_for 30 rs_routers_serve "node$cand" 2

# ---- b. node crash ----------------------------------------------------------
old=$cand
probe() { # NAME CONNINFO EXTRA...
	local name=$1 ci=$2
	shift 2
	rs_bg "$DIR/$name.sum" "$RS_PROBE" --conninfo "$ci" --interval-ms 10 --duration-s 300 --log "$DIR/$name.log" "$@"
	eval "PID_$name=$RS_LAST_PID"
}
probe p_pgb "$(rs_conn_pgb rw)" --fresh --timeout-ms 20000
probe p_pgbk "$(rs_conn_pgb rw)" --timeout-ms 20000
probe p_hap "$(rs_conn_hap "$RS_HAP_RW")" --fresh --timeout-ms 5000
probing() { local f; for f in p_pgb p_pgbk p_hap; do [ "$(rs_oks_after "$DIR/$f.log" 0)" -ge 5 ] || return 1; done; }
check "b: probes write through PgBouncer (fresh, kept) and HAProxy" wait_for 30 probing
n_killed=$(rs_crash_node "$old")
crash_ms=$(now_ms) # every write acknowledged after this is by another server
echo "# b: SIGKILL node$old: its daemon and $n_killed PostgreSQL processes"
new=$(cluster_wait_primary 60 "$old")
check "b: a replica is promoted (node${new:-none})" test -n "$new"
[ -n "$new" ] || exit 1
newport=${CL_PG_PORT[$new]}
oldport=${CL_PG_PORT[$old]}
has_first_ok() { [ -n "$(rs_first_ok "$@")" ]; }
for f in p_pgb p_pgbk p_hap; do
	check "b: $f: writes resume on the new primary node$new" wait_for 60 has_first_ok "$DIR/$f.log" "$newport" "$crash_ms"
done
fenced=$(rs_published_ms "$new" fenced "$crash_ms")
serving=$(rs_published_ms "$new" serving "$crash_ms")
echo "# b: crash -> fenced table $((${fenced:-0} - crash_ms)) ms -> serving table $((${serving:-0} - ${fenced:-0})) ms (published by node$new)"
for f in p_pgb p_pgbk p_hap; do
	w=$(rs_first_ok "$DIR/$f.log" "$newport" "$crash_ms")
	echo "# b/c: $f: crash -> first write on node$new $((${w:-0} - crash_ms)) ms; serving table -> first write $((${w:-0} - ${serving:-0})) ms"
done
restart_ms=$(now_ms)
cluster_start_node "$old"
check "b: the old primary node$old comes back and rejoins as a replica" wait_for 120 cluster_has_replicas 2
check "b: routers serve node$new with both replicas" wait_for 30 rs_routers_serve "node$new" 2
# the probes keep writing while the old node is back
oks_after_restart() {
	local f
	for f in p_pgb p_pgbk p_hap; do
		[ "$(rs_oks_after "$DIR/$f.log" "$restart_ms")" -gt 0 ] || return 1
	done
}
wait_for 10 oks_after_restart
for f in p_pgb p_pgbk p_hap; do
	eval "rs_stop_pid \$PID_$f"
	echo "# b: $f: $(tail -1 "$DIR/$f.sum")"
	check "b: $f: no write landed on the old primary node$old after the crash" \
		test "$(rs_oks_on "$DIR/$f.log" "$oldport" "$crash_ms")" = 0
	w=$(rs_first_ok "$DIR/$f.log" "$newport" "$crash_ms")
	check "b: $f: every write after the first on node$new landed on node$new" test "$(rs_oks_off "$DIR/$f.log" "$newport" "${w:-0}")" = 0
	check "b: $f: writes continued after node$old came back ($(rs_oks_after "$DIR/$f.log" "$restart_ms"))" \
		test "$(rs_oks_after "$DIR/$f.log" "$restart_ms")" -gt 0
done
no_pgb_conn_to() { ! rs_pgb_rw_ports | grepq -qx "$1"; }
check "b: PgBouncer holds no rw server connection to node$old" no_pgb_conn_to "$oldport"
check "b: HAProxy rw: node$old is in maint" rs_in_maint pg_rw "$old"
check "b: HAProxy rw: node$new is ready" rs_not_maint pg_rw "$new"

# ---- c. HAProxy ro after the failover ----------------------------------------
check "c: HAProxy rw reaches the new primary node$new" rs_port_is "$newport" "$(rs_conn_hap "$RS_HAP_RW")"
check "c: HAProxy ro spreads over both replicas (node$old back) and never the primary" wait_for 30 ro_spread "$new"
echo "# HAProxy ro: $RO_LAST"

routers_clean() { ! grep -l -E "Sanitizer|runtime error:" "$RS_DIR"/r-*.log 2>/dev/null; }
check "no sanitizer report in any router log" routers_clean
tap_finish
