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
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
PROBE=$PGW_BUILD_DIR/bench/bench_routing_probe
ROUTER=$PGW_BUILD_DIR/routing/pgwarden-router
PGBENCH=${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}/pgbench
source "$root/tests/lib/cluster.sh"
source "$root/tests/lib/tap.sh"

for f in "$PROBE" "$ROUTER" "$PGBENCH" /usr/sbin/pgbouncer /usr/sbin/haproxy; do
	if [ ! -x "$f" ]; then
		echo "not ok - $f is missing (build first; bash scripts/install-deps.sh)"
		exit 1
	fi
done

DIR=$(mktemp -d /tmp/pgw-it-routing-XXXXXX)
RD=$DIR/route # PgBouncer, HAProxy and routers: owned by the run-as user
declare -a BG_PIDS=()
cleanup() {
	local p k
	for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for k in $(seq 1 30); do
		for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && break; done
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	if [ $failures -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then
		for f in r-pgb.log r-hap.log pgbouncer.log haproxy.log; do
			echo "---- $f (tail)"
			tail -n 25 "$RD/$f" 2>/dev/null
		done
	fi
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT

# as_user CMD...: exec CMD as the run-as user, keeping the pid (no fork)
as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$PGW_RUN_AS" --regid="$PGW_RUN_AS" --init-groups -- "$@"
	else
		"$@"
	fi
}
# bg LOG CMD...: start CMD in the background, record its pid in BG_PIDS
bg() {
	local log=$1
	shift
	"$@" >>"$log" 2>&1 &
	BG_PIDS+=($!)
	LAST_BG=$!
}
stop_pid() {
	local p=$1 k
	kill -TERM "$p" 2>/dev/null
	for k in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
# wait_pid PID TIMEOUT_S: wait for PID to exit; its status, 124 on timeout
wait_pid() {
	local p=$1 deadline=$(($(date +%s) + $2))
	while kill -0 "$p" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			stop_pid "$p"
			return 124
		fi
		sleep 0.2
	done
	wait "$p"
}

# ---- the cluster ---------------------------------------------------------
cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120)
check "cluster up" test -n "$leader"
[ -n "$leader" ] || exit 1
two_replicas() { [ "$(cluster_replica_count)" -ge 2 ]; }
check "two replicas" wait_for 120 two_replicas
cluster_psql "$leader" "CREATE ROLE app LOGIN PASSWORD 'app';
	CREATE TABLE pgw_route(id bigserial PRIMARY KEY, port int, at timestamptz DEFAULT clock_timestamp());
	GRANT ALL ON pgw_route TO app; GRANT ALL ON SEQUENCE pgw_route_id_seq TO app" >/dev/null
check "application role and table created on node$leader" test $? = 0

PGB_PORT=$(cl_pick_port)
HAP_RW=$(cl_pick_port)
HAP_RO=$(cl_pick_port)
mkdir -p "$RD"
[ "$(id -u)" = 0 ] && chown "$PGW_RUN_AS" "$RD"

# ---- PgBouncer (server_login_retry left at its default, 15 s) -------------
echo "[databases]" >"$RD/databases.ini"
cat >"$RD/pgbouncer.ini" <<INI
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $RD
auth_type = any
pool_mode = transaction
admin_users = pgwarden
max_client_conn = 200
default_pool_size = 10
query_wait_timeout = 30
logfile = $RD/pgbouncer.log
pidfile = $RD/pgbouncer.pid
%include $RD/databases.ini
INI
# ---- HAProxy: the router's runtime API on top of Patroni's REST checks ----
srv() { # PORT_OF_API_CHECK lines for the three nodes
	local i
	for i in 1 2 3; do
		echo "  server node$i 127.0.0.1:${CL_PG_PORT[$i]} check port ${CL_API_PORT[$i]} disabled"
	done
}
cat >"$RD/haproxy.cfg" <<CFG
global
  stats socket $RD/haproxy.sock mode 600 level admin
  server-state-file $RD/haproxy.state
defaults
  mode tcp
  retries 3
  option redispatch 1
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 2s
  load-server-state-from-file global
listen pg_rw
  bind 127.0.0.1:$HAP_RW
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
$(srv)
listen pg_ro
  bind 127.0.0.1:$HAP_RO
  balance roundrobin
  option httpchk GET /read-only
  http-check expect status 200
  default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
$(srv)
CFG
router_cfg() { # NAME TARGETS_YAML
	cat <<YML
name: $1
scope: $CL_SCOPE
namespace: /service
etcd:
  hosts: 127.0.0.1:$CL_ETCD_PORT
router_ttl: 2s
loop_wait: 20ms
retry_interval: 200ms
status_file: $RD/$1.status.json
targets:
$2
YML
}
router_cfg r-pgb "  - type: pgbouncer
    include_file: $RD/databases.ini
    admin_conninfo: \"host=127.0.0.1 port=$PGB_PORT dbname=pgbouncer user=pgwarden\"
    dbname: postgres
    options: \"user=app password=app\"
    timeout: 5s" >"$RD/r-pgb.yml"
router_cfg r-hap "  - type: haproxy
    socket: $RD/haproxy.sock
    rw_backend: pg_rw
    ro_backend: pg_ro
    server_state_file: $RD/haproxy.state
    timeout: 2s" >"$RD/r-hap.yml"
[ "$(id -u)" = 0 ] && chown -R "$PGW_RUN_AS" "$RD"

bg "$RD/pgbouncer.out" as_user /usr/sbin/pgbouncer "$RD/pgbouncer.ini"
bg "$RD/haproxy.log" as_user /usr/sbin/haproxy -db -f "$RD/haproxy.cfg"
listening() { ! cl_port_free "$1"; }
check "PgBouncer listens" wait_for 20 listening "$PGB_PORT"
check "HAProxy listens" wait_for 20 listening "$HAP_RW"
bg "$RD/r-pgb.log" as_user "$ROUTER" -c "$RD/r-pgb.yml"
bg "$RD/r-hap.log" as_user "$ROUTER" -c "$RD/r-hap.yml"

# ---- helpers ---------------------------------------------------------------
leader_key() { cluster_etcdctl get --print-value-only /service/demo/leader; }
leader_is() { [ "$(leader_key)" = "$1" ]; }
routing_json() { cluster_etcdctl get --print-value-only /service/demo/routing; }
# routers_serve NODE [REPLICAS]: the table serves NODE (with REPLICAS
# replicas) and both routers applied and acknowledged its epoch
routers_serve() {
	local t e r
	t=$(routing_json)
	e=$(jq -r --arg p "$1" --argjson n "${2:-0}" \
		'select(.state == "serving" and .primary.name == $p and (.replicas | length) >= $n) | .epoch' <<<"$t" 2>/dev/null)
	[ -n "$e" ] || return 1
	for r in r-pgb r-hap; do
		jq -e --argjson e "$e" '.acked_epoch == $e and .applied_ok' "$RD/$r.status.json" >/dev/null 2>&1 || return 1
	done
}
conn_pgb() { echo "host=127.0.0.1 port=$PGB_PORT dbname=postgres_$1 user=app password=app connect_timeout=10"; }
conn_hap() { echo "host=127.0.0.1 port=$1 dbname=postgres user=app password=app connect_timeout=5"; }
# port_of CONNINFO [SQL]: the server port one fresh write (or SQL) lands on
port_of() {
	local out
	if [ -n "${2:-}" ]; then
		out=$("$PROBE" --conninfo "$1" --count 1 --timeout-ms 10000 --sql "$2" 2>/dev/null)
	else
		out=$("$PROBE" --conninfo "$1" --count 1 --timeout-ms 10000 2>/dev/null)
	fi
	awk '$2 == "ok" {print $3}' <<<"$out"
}
port_is() { [ "$(port_of "$2" "${3:-}")" = "$1" ]; }
# wall ms of the last "routing.published state=STATE" in node I's log
published_ms() {
	local ts
	ts=$(grep -E "event=routing.published .*state=$2 " "$DIR/node$1/pgwarden.log" | tail -1 | cut -d' ' -f1)
	[ -n "$ts" ] && date -d "$ts" +%s%3N
}
# first_ok LOG PORT AFTER_MS: wall ms of the first write on PORT after AFTER_MS
first_ok() { awk -v p="$2" -v t="$3" '$2 == "ok" && $3 == p && $1 >= t {print $1; exit}' "$1"; }
# oks_off LOG PORT AFTER_MS: writes after AFTER_MS that landed elsewhere than PORT
oks_off() { awk -v p="$2" -v t="$3" '$2 == "ok" && $1 >= t && $3 != p {n++} END {print n + 0}' "$1"; }
oks_after() { awk -v t="$2" '$2 == "ok" && $1 >= t {n++} END {print n + 0}' "$1"; }
has_first_ok() { [ -n "$(first_ok "$@")" ]; }
replica_ports() {
	local i out=""
	for i in 1 2 3; do [ "$i" != "$1" ] && out+="${CL_PG_PORT[$i]} "; done
	echo "$out"
}
# ro_spread PRIMARY: 20 fresh reads through HAProxy ro reach replicas only
# (the statement answers no row on a primary) and both of them
RO_SQL="SELECT inet_server_port() WHERE pg_is_in_recovery()"
ro_spread() {
	local out seen r
	out=$("$PROBE" --conninfo "$(conn_hap "$HAP_RO")" --fresh --count 20 --interval-ms 5 \
		--timeout-ms 5000 --sql "$RO_SQL" 2>/dev/null)
	RO_LAST=$(tail -1 <<<"$out")
	grep -q " errors=0 " <<<"$RO_LAST" || return 1
	for r in $(replica_ports "$1"); do
		grep -q "[=,]$r:" <<<"$RO_LAST" || return 1
	done
}

# ---- 0. start ---------------------------------------------------------------
check "0: both routers apply and acknowledge the leader's table (node$leader, 2 replicas)" \
	wait_for 60 routers_serve "node$leader" 2
check "0: PgBouncer rw reaches the leader node$leader" port_is "${CL_PG_PORT[$leader]}" "$(conn_pgb rw)"
check "0: HAProxy rw reaches the leader node$leader" port_is "${CL_PG_PORT[$leader]}" "$(conn_hap "$HAP_RW")"
p=$(port_of "$(conn_pgb ro)" "$RO_SQL")
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
	"$PGBENCH" -n -h 127.0.0.1 -p "$PGB_PORT" -U app -d postgres_rw -f "$DIR/insert.sql" \
		-T 14 -l --log-prefix="$DIR/$name" "$@" >"$DIR/$name.out" 2>&1
}
pgbench_run pgb_kept -c 4 -j 2 -R 150 &
PGB_KEPT=$!
BG_PIDS+=($PGB_KEPT)
pgbench_run pgb_fresh -c 2 -C -R 40 &
PGB_FRESH=$!
BG_PIDS+=($PGB_FRESH)
logged() { [ -n "$(cat "$DIR"/pgb_kept.[0-9]* 2>/dev/null | head -50 | sed -n 50p)" ]; }
check "a: pgbench commits through PgBouncer before the switchover" wait_for 30 logged
PGUSER=postgres PGPASSWORD=pgw-super cluster_ctl switchover --leader "node$old" --candidate "node$cand" --force \
	--timeout 30s >"$DIR/switchover.out" 2>&1
rc=$?
sed 's/^/# a: pgwardenctl: /' "$DIR/switchover.out"
check "a: pgwardenctl switchover node$old -> node$cand exits 0" test $rc = 0
check "a: node$cand holds the leader key" wait_for 30 leader_is "node$cand"
wait_pid $PGB_KEPT 60
rc_kept=$?
wait_pid $PGB_FRESH 60
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
check "a: PgBouncer rw reaches the new primary node$cand" wait_for 10 port_is "${CL_PG_PORT[$cand]}" "$(conn_pgb rw)"
check "a: HAProxy rw reaches the new primary node$cand" wait_for 10 port_is "${CL_PG_PORT[$cand]}" "$(conn_hap "$HAP_RW")"
check "a: the old leader node$old rejoins as a replica" wait_for 120 two_replicas
check "a: routers serve node$cand with both replicas" wait_for 30 routers_serve "node$cand" 2

# ---- b. node crash ----------------------------------------------------------
old=$cand
other=""
for i in 1 2 3; do [ "$i" != "$old" ] && [ -z "$other" ] && other=$i; done
probe() { # NAME CONNINFO EXTRA...
	local name=$1 ci=$2
	shift 2
	bg "$DIR/$name.sum" "$PROBE" --conninfo "$ci" --interval-ms 10 --duration-s 300 --log "$DIR/$name.log" "$@"
	eval "PID_$name=$LAST_BG"
}
probe p_pgb "$(conn_pgb rw)" --fresh --timeout-ms 20000
probe p_pgbk "$(conn_pgb rw)" --timeout-ms 20000
probe p_hap "$(conn_hap "$HAP_RW")" --fresh --timeout-ms 5000
probing() { local f; for f in p_pgb p_pgbk p_hap; do [ "$(oks_after "$DIR/$f.log" 0)" -ge 5 ] || return 1; done; }
check "b: probes write through PgBouncer (fresh, kept) and HAProxy" wait_for 30 probing
pm=$(cluster_postmaster_pid "$old")
kids=$(ps -o pid= --ppid "$pm" 2>/dev/null | tr '\n' ' ')
# shellcheck disable=SC2086
kill -KILL "${CL_PID[$old]}" "$pm" $kids 2>/dev/null
crash_ms=$(now_ms) # every write acknowledged after this is by another server
echo "# b: SIGKILL node$old: daemon ${CL_PID[$old]}, postmaster $pm and $(wc -w <<<"$kids") PostgreSQL children"
new=$(cluster_wait_primary 60 "$old")
check "b: a replica is promoted (node${new:-none})" test -n "$new"
[ -n "$new" ] || exit 1
newport=${CL_PG_PORT[$new]}
oldport=${CL_PG_PORT[$old]}
for f in p_pgb p_pgbk p_hap; do
	check "b: $f: writes resume on the new primary node$new" wait_for 60 has_first_ok "$DIR/$f.log" "$newport" "$crash_ms"
done
fenced=$(published_ms "$new" fenced)
serving=$(published_ms "$new" serving)
echo "# b: crash -> fenced table $((${fenced:-0} - crash_ms)) ms -> serving table $((${serving:-0} - ${fenced:-0})) ms (published by node$new)"
for f in p_pgb p_pgbk p_hap; do
	w=$(first_ok "$DIR/$f.log" "$newport" "$crash_ms")
	echo "# b/c: $f: crash -> first write on node$new $((${w:-0} - crash_ms)) ms; serving table -> first write $((${w:-0} - ${serving:-0})) ms"
done
restart_ms=$(now_ms)
cluster_start_node "$old"
check "b: the old primary node$old comes back and rejoins as a replica" wait_for 120 two_replicas
check "b: routers serve node$new with both replicas" wait_for 30 routers_serve "node$new" 2
sleep 2 # the probes keep writing while the old node is back
for f in p_pgb p_pgbk p_hap; do
	eval "stop_pid \$PID_$f"
	echo "# b: $f: $(tail -1 "$DIR/$f.sum")"
	check "b: $f: no write landed on the old primary node$old after the crash" \
		test "$(awk -v p="$oldport" -v t="$crash_ms" '$2 == "ok" && $1 >= t && $3 == p {n++} END {print n + 0}' "$DIR/$f.log")" = 0
	w=$(first_ok "$DIR/$f.log" "$newport" "$crash_ms")
	check "b: $f: every write after the first on node$new landed on node$new" test "$(oks_off "$DIR/$f.log" "$newport" "${w:-0}")" = 0
	check "b: $f: writes continued after node$old came back ($(oks_after "$DIR/$f.log" "$restart_ms"))" \
		test "$(oks_after "$DIR/$f.log" "$restart_ms")" -gt 0
done
# pgb_rw_ports: server ports of PgBouncer's rw server connections
pgb_rw_ports() {
	psql -X -A -t -F'|' -h 127.0.0.1 -p "$PGB_PORT" -U pgwarden -d pgbouncer -c "SHOW SERVERS" 2>/dev/null |
		awk -F'|' '$3 == "postgres_rw" {print $6}'
}
no_pgb_conn_to() { ! pgb_rw_ports | grep -qx "$1"; }
check "b: PgBouncer holds no rw server connection to node$old" no_pgb_conn_to "$oldport"
# haproxy_cmd CMD: one command on HAProxy's stats socket, its answer
haproxy_cmd() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
sys.stdout.write(s.makefile().read())' "$RD/haproxy.sock" "$1" 2>/dev/null
}
# srv_admin BACKEND NODE: srv_admin_state of NODE in HAProxy's BACKEND
srv_admin() {
	haproxy_cmd "show servers state $1" | awk -v s="node$2" '$4 == s {print $7}'
}
in_maint() { local a; a=$(srv_admin "$1" "$2"); [ -n "$a" ] && [ $((a & 1)) = 1 ]; }
not_maint() { local a; a=$(srv_admin "$1" "$2"); [ -n "$a" ] && [ $((a & 1)) = 0 ]; }
check "b: HAProxy rw: node$old is in maint" in_maint pg_rw "$old"
check "b: HAProxy rw: node$new is ready" not_maint pg_rw "$new"

# ---- c. HAProxy ro after the failover ----------------------------------------
check "c: HAProxy rw reaches the new primary node$new" port_is "$newport" "$(conn_hap "$HAP_RW")"
check "c: HAProxy ro spreads over both replicas (node$old back) and never the primary" wait_for 30 ro_spread "$new"
echo "# HAProxy ro: $RO_LAST"

routers_clean() { ! grep -l -E "Sanitizer|runtime error:" "$RD"/r-*.log 2>/dev/null; }
check "no sanitizer report in any daemon log" cluster_sanitizer_clean
check "no sanitizer report in any router log" routers_clean
tap_finish
