#!/usr/bin/env bash
# bench_idle.sh: what a 3-node cluster costs etcd and the host at rest and
# under a steady write load (issue 18), pgwarden beside Patroni 3.0.2 in the
# same run: each tool gets its own single-member etcd 3.4 and three
# PostgreSQL 15 nodes on loopback, both clusters run at once, and each
# window is sampled on both at the same time. Per window and tool it prints,
# from etcd's own /metrics: writes/s (raft proposals committed: every put,
# delete, txn that may write, lease grant or revoke; lease keepalives are not
# proposals and are counted apart), reads/s (Range calls plus read-only
# txns), watch events/s delivered per node, keepalives/s; and per daemon the
# CPU seconds per minute (pgwarden: the daemon plus its fence watchdog
# process; Patroni: its python process) and etcd's own CPU.
#
# Windows: "idle" (nothing but the cluster itself, --idle-s, default 300 s)
# and "load" (pgbench -R RATE on the primary, --load-s, default 120 s,
# after pgbench's tables were created and a 10 s settle). Profiles:
# "defaults" (each tool's defaults: pgwarden ttl 10 / loop_wait 1 /
# retry_timeout 3, Patroni 30 / 10 / 10) and "equal" (both at 10 / 1 / 3).
# Not a test: figures only.
#
# Usage: bash bench/bench_idle.sh [--idle-s S] [--load-s S] [--rate TPS]
#                                [--profiles defaults,equal] [--tools pgwarden,patroni]
# PGW_BENCH_KEEP=1 keeps the directory (logs, raw rows).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
idle_s=300
load_s=120
rate=50
profiles="defaults"
tools="pgwarden patroni"
while [ $# -gt 0 ]; do
	case "$1" in
		--idle-s) idle_s=$2; shift ;;
		--load-s) load_s=$2; shift ;;
		--rate) rate=$2; shift ;;
		--profiles) profiles=${2//,/ }; shift ;;
		--tools) tools=${2//,/ }; shift ;;
		*) echo "usage: $0 [--idle-s S] [--load-s S] [--rate TPS] [--profiles defaults,equal] [--tools pgwarden,patroni]" >&2; exit 2 ;;
	esac
	shift
done
for v in "$idle_s" "$load_s" "$rate"; do
	case "$v" in ''|*[!0-9]*) echo "--idle-s, --load-s and --rate want integers" >&2; exit 2 ;; esac
done
for p in $profiles; do
	case "$p" in defaults|equal) ;; *) echo "unknown profile $p" >&2; exit 2 ;; esac
done
for t in $tools; do
	case "$t" in pgwarden|patroni) ;; *) echo "unknown tool $t" >&2; exit 2 ;; esac
done
[ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 2; }
case " $tools " in *" patroni "*) command -v patroni >/dev/null || { echo "patroni is not installed" >&2; exit 2; } ;; esac
command -v pgbench >/dev/null || { echo "pgbench is not installed" >&2; exit 2; }
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"

BASE=$(mktemp -d /tmp/pgw-idle-bench-XXXXXX)
chmod 755 "$BASE"
RESULTS=$BASE/results.txt
: >"$RESULTS"
# shellcheck disable=SC2034 # read by tests/lib/cluster.sh
[ -n "${PGW_BENCH_KEEP:-}" ] && CL_KEEP_DIR=1
TOOL=""
declare -a DPID
declare -A LOADPID
nap() { sleep "$1" & wait $!; }

sweep() {
	local pids k
	for k in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(pgrep -f -- "$BASE/" | grep -v -x -e "$$" -e "${BASHPID:-$$}" | tr '\n' ' ')
		[ -n "${pids// /}" ] || return 0
		# shellcheck disable=SC2086
		if [ "$k" -le 5 ]; then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
		sleep 1
	done
}

stop_all() {
	local i pm pms=""
	[ -n "${CL_DIR:-}" ] || return 0
	for i in 1 2 3; do
		[ -n "${DPID[$i]:-}" ] && kill -KILL "$(daemon_pid "$i")" "${DPID[$i]}" 2>/dev/null
		pm=$(cluster_postmaster_pid "$i")
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null && pms+="$pm "
		DPID[$i]=""
		CL_PID[$i]=""
	done
	for _ in $(seq 1 50); do
		# shellcheck disable=SC2086
		[ -n "$pms" ] && kill -0 $pms 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	[ -n "$pms" ] && kill -KILL $pms 2>/dev/null
	true
}

# teardown: every tool's processes stopped first (cluster_cleanup waits for
# its shell's children, which include the other tool's etcd), then each
# directory removed
teardown() {
	local t k
	for t in $tools; do
		[ -f "$BASE/ctx.$t" ] || continue
		ctx_load "$t"
		stop_all
		for k in $(seq 1 "${CL_ETCD_N:-0}"); do
			[ -n "${CL_EPID[$k]:-}" ] && kill -KILL "${CL_EPID[$k]}" 2>/dev/null
		done
	done
	for t in $tools; do
		[ -f "$BASE/ctx.$t" ] || continue
		ctx_load "$t"
		[ -n "$CL_DIR" ] && cluster_cleanup
		CL_DIR=""
		ctx_save "$t"
	done
}

cleanup() {
	trap - EXIT INT TERM
	load_stop
	teardown
	sweep
	[ -z "${PGW_BENCH_KEEP:-}" ] && rm -rf "$BASE"
	true
}
trap cleanup EXIT
trap 'echo "# interrupted" >&2; exit 130' INT
trap 'echo "# terminated" >&2; exit 143' TERM

CTX_VARS="CL_DIR CL_N CL_ETCD_N CL_ETCD_PORT CL_ETCD_PEER_PORT CL_ETCD_PID CL_ETCD_HOST CL_ETCD_CPORT CL_ETCD_PPORT CL_EPID CL_PG_HOST CL_PG_PORT CL_API_HOST CL_API_PORT CL_PID CL_STARTED DPID TOOL READY"
ctx_save() {
	# shellcheck disable=SC2086
	declare -p $CTX_VARS 2>/dev/null | sed 's/^declare -/declare -g -/' >"$BASE/ctx.$1"
}
ctx_load() { source "$BASE/ctx.$1"; }

patroni_cfg() {
	local i=$1 ttl=$2 lw=$3 rt=$4
	cat <<YML
scope: bench
namespace: /service
name: node$i
restapi:
  listen: 127.0.0.1:${CL_API_PORT[$i]}
  connect_address: 127.0.0.1:${CL_API_PORT[$i]}
etcd3:
  hosts: 127.0.0.1:$CL_ETCD_PORT
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $lw
    retry_timeout: $rt
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: "on"
        shared_buffers: 16MB
        max_connections: 50
        wal_keep_size: 64MB
  initdb:
    - encoding: UTF8
    - data-checksums
postgresql:
  listen: 127.0.0.1:${CL_PG_PORT[$i]}
  connect_address: 127.0.0.1:${CL_PG_PORT[$i]}
  data_dir: $CL_DIR/node$i/data
  bin_dir: $PG_BIN_DIR
  pgpass: $CL_DIR/node$i/pgpass
  authentication:
    superuser: {username: postgres, password: pgw-super}
    replication: {username: replicator, password: pgw-repl}
    rewind: {username: postgres, password: pgw-super}
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
  parameters:
    unix_socket_directories: $CL_DIR/node$i
YML
}

start_daemon() {
	local i=$1
	if [ "$TOOL" = patroni ]; then
		runuser -u pgwarden -- patroni "$CL_DIR/node$i/patroni.yml" >>"$CL_DIR/node$i/patroni.log" 2>&1 &
	else
		"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	fi
	DPID[$i]=$!
	# shellcheck disable=SC2034 # read by tests/lib/cluster.sh
	CL_PID[$i]=${DPID[$i]}
	disown "${DPID[$i]}" 2>/dev/null
}

# daemon_pid I: for Patroni the python process under runuser
daemon_pid() {
	local p=${DPID[$1]:-} c
	[ -n "$p" ] || return 0
	if [ "$TOOL" = patroni ]; then
		c=$(ps -o pid= --ppid "$p" 2>/dev/null | head -1 | tr -d ' ')
		[ -n "$c" ] && p=$c
	fi
	echo "$p"
}

# setup TOOL PROFILE: a fresh etcd + 3 nodes of TOOL, converged
setup() {
	local tool=$1 profile=$2 ttl=10 lw=1 rt=3 i
	TOOL=$tool
	if [ "$profile" = defaults ] && [ "$tool" = patroni ]; then ttl=30; lw=10; rt=10; fi
	cluster_init "$BASE/$tool-$profile" 3 default
	cluster_start_etcd || return 1
	for i in 1 2 3; do
		if [ "$tool" = patroni ]; then
			patroni_cfg "$i" "$ttl" "$lw" "$rt" >"$CL_DIR/node$i/patroni.yml"
			chown -R pgwarden "$CL_DIR/node$i"
		else
			sed -i "s/^    ttl: .*/    ttl: $ttl/; s/^    loop_wait: .*/    loop_wait: $lw/; s/^    retry_timeout: .*/    retry_timeout: $rt/" "$CL_DIR/node$i/pgwarden.yml"
		fi
		start_daemon "$i"
		[ "$i" = 1 ] && nap 5
	done
	wait_for 180 cluster_converged
}

# ---- sampling ---------------------------------------------------------------
# etcd_counters: "proposals put delete range_calls txn_calls grant revoke
# events keepalives" from the tool's etcd
etcd_counters() {
	curl -s -m 5 "http://127.0.0.1:$CL_ETCD_PORT/metrics" | awk '
		/^etcd_server_proposals_committed_total / { p = $2 }
		/^grpc_server_handled_total/ && /grpc_service="etcdserverpb.KV"/ {
			if ($0 ~ /grpc_method="Put"/) put += $2
			if ($0 ~ /grpc_method="DeleteRange"/) del += $2
			if ($0 ~ /grpc_method="Range"/) rng += $2
			if ($0 ~ /grpc_method="Txn"/) txn += $2 }
		/^grpc_server_handled_total/ && /grpc_method="LeaseGrant"/ { gr += $2 }
		/^grpc_server_handled_total/ && /grpc_method="LeaseRevoke"/ { rv += $2 }
		/^grpc_server_msg_received_total/ && /grpc_method="LeaseKeepAlive"/ { ka += $2 }
		/^etcd_debugging_mvcc_events_total / { ev = $2 }
		END { printf "%d %d %d %d %d %d %d %d %d\n", p, put, del, rng, txn, gr, rv, ev, ka }'
}

# cpu_ticks: the tool's daemons (pgwarden: + fence watchdog) in clock
# ticks, then etcd's
cpu_ticks() {
	local i pid t=0 w
	for i in 1 2 3; do
		pid=$(daemon_pid "$i")
		[ -n "$pid" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
		if [ "$TOOL" = pgwarden ]; then
			for w in $(pgrep -P "$pid" -x pgwarden-fence); do
				t=$((t + $(awk '{print $14 + $15}' "/proc/$w/stat" 2>/dev/null || echo 0)))
			done
		fi
	done
	echo "$t $(awk '{print $14 + $15}' "/proc/$CL_ETCD_PID/stat" 2>/dev/null || echo 0)"
}

daemon_pids() { local i; for i in 1 2 3; do daemon_pid "$i"; done | tr '\n' ' '; }

declare -A S0 P0 T0
sample_begin() {
	local t
	for t in $tools; do
		ctx_load "$t"
		[ "$READY" = 1 ] || continue
		S0[$t]="$(etcd_counters) $(cpu_ticks)"
		P0[$t]=$(daemon_pids)
		T0[$t]=$(date +%s%3N)
	done
}

# sample_end PROFILE WINDOW: one row per tool
sample_end() {
	local prof=$1 win=$2 t now s1
	for t in $tools; do
		ctx_load "$t"
		[ "$READY" = 1 ] || { echo "fail|$t|$prof|$win|setup failed" >>"$RESULTS"; continue; }
		now=$(date +%s%3N)
		if [ "$(daemon_pids)" != "${P0[$t]}" ]; then
			echo "fail|$t|$prof|$win|a daemon restarted during the window" >>"$RESULTS"
			continue
		fi
		s1="$(etcd_counters) $(cpu_ticks)"
		awk -v a="${S0[$t]}" -v b="$s1" -v ms=$((now - ${T0[$t]})) -v hz="$(getconf CLK_TCK)" \
			-v t="$t" -v prof="$prof" -v win="$win" 'BEGIN {
				split(a, x, " "); split(b, y, " "); s = ms / 1000
				for (i = 1; i <= 11; i++) d[i] = y[i] - x[i]
				# proposals, put, del, range, txn, grant, revoke, events, keepalives, cpu, etcd cpu
				wtxn = d[1] - d[2] - d[3] - d[6] - d[7]; if (wtxn < 0) wtxn = 0
				reads = d[4] + (d[5] - wtxn > 0 ? d[5] - wtxn : 0)
				printf "row|%s|%s|%s|%.0f|%.3f|%.3f|%.3f|%.2f|%.3f|%.3f\n", t, prof, win, s,
					d[1] / s, reads / s, d[8] / 3 / s, d[9] / s, d[10] / hz / 3 * 60 / s, d[11] / hz * 60 / s
			}' >>"$RESULTS"
	done
}

# ---- load -------------------------------------------------------------------
primary_port() {
	local i
	for i in 1 2 3; do
		[ "$(cluster_status "$i" /primary)" = 200 ] && { echo "${CL_PG_PORT[$i]}"; return 0; }
	done
	return 1
}

load_prepare() {
	local t port
	for t in $tools; do
		ctx_load "$t"
		[ "$READY" = 1 ] || continue
		port=$(primary_port) || { echo "# $t: no primary for pgbench" >&2; continue; }
		PGPASSWORD=pgw-super pgbench -h 127.0.0.1 -p "$port" -U postgres -i -s 1 -q postgres \
			>"$CL_DIR/pgbench-init.log" 2>&1 || echo "# $t: pgbench -i failed: $(tail -2 "$CL_DIR/pgbench-init.log")" >&2
	done
}

load_start() {
	local t port
	for t in $tools; do
		ctx_load "$t"
		[ "$READY" = 1 ] || continue
		port=$(primary_port) || continue
		PGPASSWORD=pgw-super pgbench -h 127.0.0.1 -p "$port" -U postgres -c 2 -j 1 -R "$rate" \
			-T "$((load_s + 30))" -n postgres >"$CL_DIR/pgbench.log" 2>&1 &
		LOADPID[$t]=$!
	done
}

load_stop() {
	local t
	for t in "${!LOADPID[@]}"; do
		kill "${LOADPID[$t]}" 2>/dev/null
		wait "${LOADPID[$t]}" 2>/dev/null
	done
	LOADPID=()
}

report() {
	echo
	echo "etcd cost of a 3-node cluster, pgwarden beside Patroni 3.0.2 (each on its own etcd 3.4, both at once); pgbench load: $rate tps"
	printf "%-8s %-9s %-6s %5s | %9s | %8s | %14s | %12s | %17s | %12s\n" profile tool window s "writes/s" "reads/s" "watch ev/s/node" "keepalives/s" "daemon CPU s/min" "etcd CPU s/min"
	awk -F'|' '$1 == "row" { printf "%-8s %-9s %-6s %5s | %9s | %8s | %15s | %12s | %17s | %12s\n", $3, $2, $4, $5, $6, $7, $8, $9, $10, $11 }
		$1 == "fail" { printf "%-8s %-9s %-6s   n/a: %s\n", $3, $2, $4, $5 }' "$RESULTS"
	echo "(writes = raft proposals committed, lease keepalives excluded; reads = Range + read-only Txn calls; daemon CPU per daemon, pgwarden's with its fence watchdog)"
}

echo "# $(date -u '+%F %T') UTC start; commit $(git -C "$root" rev-parse --short HEAD); load: $(cut -d' ' -f1-3 /proc/loadavg); profiles=$profiles tools=$tools idle=${idle_s}s load=${load_s}s rate=$rate" >&2
for prof in $profiles; do
	for t in $tools; do
		READY=1
		if ! setup "$t" "$prof"; then
			echo "# $t $prof: setup failed" >&2
			READY=0
		fi
		ctx_save "$t"
	done
	# the cluster settles (bootstrap keys, slots, first member values)
	nap 20
	echo "# $prof: idle window ${idle_s}s" >&2
	sample_begin
	nap "$idle_s"
	sample_end "$prof" idle
	if [ "$load_s" -gt 0 ]; then
		load_prepare
		load_start
		nap 10
		echo "# $prof: load window ${load_s}s at $rate tps" >&2
		sample_begin
		nap "$load_s"
		sample_end "$prof" load
		load_stop
	fi
	teardown
done
echo "# $(date -u '+%F %T') UTC end; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
report
[ -n "${PGW_BENCH_KEEP:-}" ] && echo "kept: $BASE"
true
