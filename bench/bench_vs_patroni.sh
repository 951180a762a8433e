#!/usr/bin/env bash
# bench_vs_patroni.sh: the same 3-node topology on loopback (one etcd 3.4,
# three PostgreSQL 15 as user pgwarden) run once with pgwarden and once with
# Patroni 3.0.2, at equal timing (ttl 10 s, loop_wait 1 s, retry_timeout
# 3 s: both accept it) and at each tool's defaults (pgwarden 10/1/3,
# Patroni 30/10/10). Drills: node crash (SIGKILL daemon + every PostgreSQL
# process), PostgreSQL crash (SIGKILL postmaster), freeze (SIGSTOP daemon +
# every PostgreSQL process for ttl + 3 s), planned switchover (POST
# /switchover). A writer commits every 10 ms to whichever node is
# read-write; RTO = fault -> first acknowledged write after the longest gap,
# downtime = that gap. Prints median / max per drill and tool, the ratio
# (Patroni / pgwarden), and each daemon's RSS and CPU seconds per minute at
# steady state. Not a test: figures only.
#
# Usage: bash bench/bench_vs_patroni.sh [--runs N] [--quick] [--profiles equal,defaults]
#   --quick: 1 run per drill, equal profile only, 15 s steady-state sample
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
WRITER=$PGW_BUILD_DIR/tests/pgw_writer
runs=5
profiles="equal defaults"
steady_s=60
drills="node-crash pg-crash freeze switchover"
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift ;;
		--quick) runs=1; profiles=equal; steady_s=15 ;;
		--profiles) profiles=${2//,/ }; shift ;;
		--drills) drills=${2//,/ }; shift ;;
		*) echo "usage: $0 [--runs N] [--quick] [--profiles equal,defaults] [--drills a,b]" >&2; exit 2 ;;
	esac
	shift
done
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"

BASE=$(mktemp -d /tmp/pgwc-bench-XXXXXX)
chmod 755 "$BASE"
RESULTS=$BASE/results.txt
: >"$RESULTS"
TOOL=""
declare -a DPID
WRITER_PID=""
now_ms() { date +%s%3N; }

cleanup() {
	[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
	stop_all
	cluster_cleanup
	[ -z "${PGW_BENCH_KEEP:-}" ] && rm -rf "$BASE"
}
trap cleanup EXIT

pm_of() { head -1 "$CL_DIR/node$1/data/postmaster.pid" 2>/dev/null; }
# pg_pids I: the postmaster and all its children (each backend is its own
# session leader, so a process group signal is not enough)
pg_pids() {
	local pm
	pm=$(pm_of "$1")
	[ -n "$pm" ] || return 0
	echo "$pm $(ps -o pid= --ppid "$pm" 2>/dev/null | tr '\n' ' ')"
}

stop_all() {
	local i
	for i in 1 2 3; do
		[ -n "${DPID[$i]:-}" ] && kill -CONT "${DPID[$i]}" 2>/dev/null
		# shellcheck disable=SC2046
		kill -CONT $(pg_pids "$i") 2>/dev/null
		# Patroni runs under runuser: kill the python child first
		[ -n "${DPID[$i]:-}" ] && kill -KILL "$(daemon_pid "$i")" "${DPID[$i]}" 2>/dev/null
		pm=$(pm_of "$i")
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
		DPID[$i]=""
	done
	sleep 1
}

# ---- the two tools ----------------------------------------------------------
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

# setup TOOL PROFILE: a fresh etcd + 3 nodes of TOOL, converged
setup() {
	local tool=$1 profile=$2 ttl lw rt i
	TOOL=$tool
	if [ "$profile" = equal ]; then ttl=10; lw=1; rt=3
	elif [ "$tool" = patroni ]; then ttl=30; lw=10; rt=10
	else ttl=10; lw=1; rt=3; fi
	CLUSTER_TTL=$ttl
	cluster_init "$BASE/$tool-$profile" 3 default
	cluster_start_etcd || return 1
	for i in 1 2 3; do
		if [ "$tool" = patroni ]; then
			patroni_cfg "$i" "$ttl" "$lw" "$rt" >"$CL_DIR/node$i/patroni.yml"
			chown -R pgwarden "$CL_DIR/node$i"
			runuser -u pgwarden -- patroni "$CL_DIR/node$i/patroni.yml" >>"$CL_DIR/node$i/patroni.log" 2>&1 &
		else
			sed -i "s/^    ttl: .*/    ttl: $ttl/; s/^    loop_wait: .*/    loop_wait: $lw/; s/^    retry_timeout: .*/    retry_timeout: $rt/" "$CL_DIR/node$i/pgwarden.yml"
			"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
		fi
		DPID[$i]=$!
		CL_PID[$i]=${DPID[$i]}
		[ "$i" = 1 ] && sleep 5	# the first one bootstraps (both tools race fine, this is quicker)
	done
	wait_converged 180 || { echo "# $tool/$profile did not converge" >&2; return 1; }
}

start_daemon() {
	local i=$1
	if [ "$TOOL" = patroni ]; then
		runuser -u pgwarden -- patroni "$CL_DIR/node$i/patroni.yml" >>"$CL_DIR/node$i/patroni.log" 2>&1 &
	else
		"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	fi
	DPID[$i]=$!
	CL_PID[$i]=${DPID[$i]}
}

# the daemon's pid: for Patroni the python process under runuser
daemon_pid() {
	local p=${DPID[$1]}
	if [ "$TOOL" = patroni ]; then
		local c
		c=$(ps -o pid= --ppid "$p" 2>/dev/null | head -1 | tr -d ' ')
		[ -n "$c" ] && p=$c
	fi
	echo "$p"
}

wait_converged() {
	local deadline
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		local p n=0 i
		p=$(cluster_primaries)
		for i in 1 2 3; do [ "$(cluster_status "$i" /replica)" = 200 ] && n=$((n + 1)); done
		[ "$(echo $p | wc -w)" = 1 ] && [ "$n" = 2 ] && return 0
		sleep 0.5
	done
	return 1
}

hosts() { echo "127.0.0.1:${CL_PG_PORT[1]},127.0.0.1:${CL_PG_PORT[2]},127.0.0.1:${CL_PG_PORT[3]}"; }

# gap FROM TO: "rto downtime" from the writer log
gap() {
	awk -v f="$1" -v t="$2" '
		$1 < f { prev = $1; next }
		$1 > t { exit }
		{ from = (prev != "" ? prev : f); g = $1 - from
		  if (g > best) { best = g; end = $1 }
		  prev = $1; any = 1 }
		END { if (!any) { print "-1 -1"; exit } print (best > 300 ? end - f : 0), best }' "$CL_DIR/writer.log"
}

steady_state() {
	local tool=$1 profile=$2 i pid rss=0 t0=0 t1=0 hz
	hz=$(getconf CLK_TCK)
	declare -a c0
	for i in 1 2 3; do
		pid=$(daemon_pid "$i")
		c0[$i]=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
	done
	sleep "$steady_s"
	for i in 1 2 3; do
		pid=$(daemon_pid "$i")
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
		t0=$((t0 + t1 - ${c0[$i]}))
		rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
	done
	# per daemon: mean RSS (MiB) and CPU s per minute
	echo "steady|$tool|$profile|$(awk -v r="$rss" 'BEGIN{printf "%.1f", r/3/1024}')|$(awk -v t="$t0" -v hz="$hz" -v s="$steady_s" 'BEGIN{printf "%.2f", t/hz/3*60/s}')" >>"$RESULTS"
}

drill() {
	local kind=$1 p t0 pids rto down
	p=$(cluster_wait_primary 60) || return 1
	sleep 2
	t0=$(now_ms)
	case "$kind" in
		node-crash)
			pids=$(pg_pids "$p")
			kill -KILL "$(daemon_pid "$p")" "${DPID[$p]}" 2>/dev/null
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
			cluster_wait_primary 120 "$p" >/dev/null
			sleep 1
			start_daemon "$p" ;;
		pg-crash)
			kill -KILL "$(pm_of "$p")" 2>/dev/null ;;
		freeze)
			pids="$(daemon_pid "$p") ${DPID[$p]} $(pg_pids "$p")"
			# shellcheck disable=SC2086
			kill -STOP $pids 2>/dev/null
			sleep $((CLUSTER_TTL + 3))
			# shellcheck disable=SC2086
			kill -CONT $pids 2>/dev/null ;;
		switchover)
			curl -s -m 10 -o /dev/null -X POST -H 'Content-Type: application/json' \
				-d "{\"leader\": \"node$p\"}" "http://127.0.0.1:${CL_API_PORT[$p]}/switchover" ;;
	esac
	wait_converged 240 || echo "# $TOOL $kind: not converged within 240 s" >&2
	sleep 2
	read -r rto down <<<"$(gap "$t0" "$(now_ms)")"
	echo "drill|$TOOL|$PROFILE|$kind|$rto|$down" >>"$RESULTS"
	echo "# $TOOL $PROFILE $kind: rto=${rto} ms downtime=${down} ms" >&2
}

for PROFILE in $profiles; do
	for tool in pgwarden patroni; do
		setup "$tool" "$PROFILE" || { stop_all; cluster_cleanup; continue; }
		steady_state "$tool" "$PROFILE"
		"$WRITER" --hosts "$(hosts)" --acked "$CL_DIR/acked.txt" --interval-ms 10 \
			--client-timeout-ms 1000 --duration-s 7200 --log "$CL_DIR/writer.log" write \
			>"$CL_DIR/writer.out" 2>&1 &
		WRITER_PID=$!
		for kind in $drills; do
			for r in $(seq 1 "$runs"); do drill "$kind"; done
		done
		kill "$WRITER_PID" 2>/dev/null
		wait "$WRITER_PID" 2>/dev/null
		WRITER_PID=""
		stop_all
		cluster_cleanup
		CL_DIR=""
	done
done

# ---- the table ----------------------------------------------------------------
echo
echo "pgwarden vs Patroni 3.0.2 on loopback: 3 nodes, etcd 3.4, PostgreSQL 15; runs per drill: $runs"
awk -F'|' '
	function med(s,   n, a, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n ? (n % 2 ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2)) : "-" }
	function mx(s,   n, a, i, m) { n = split(s, a, " "); m = "-"; for (i = 1; i <= n; i++) if (m == "-" || a[i] + 0 > m + 0) m = a[i]; return m }
	function ratio(a, b) { return (a == "-" || b == "-" || a + 0 == 0) ? "-" : sprintf("%.1fx", b / a) }
	$1 == "drill" { k = $3 "|" $4; rto[k, $2] = rto[k, $2] " " $5; dn[k, $2] = dn[k, $2] " " $6; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	$1 == "steady" { st[$3, $2] = $4 " MiB, " $5 " CPU s/min" }
	END {
		printf "%-9s %-11s | %-17s | %-17s | %-7s | %-17s | %-17s | %-7s\n", "profile", "drill", "pgwarden RTO med/max", "Patroni RTO med/max", "ratio", "pgwarden down med/max", "Patroni down med/max", "ratio"
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, kk, "|")
			a = med(rto[k, "pgwarden"]); b = med(rto[k, "patroni"])
			c = med(dn[k, "pgwarden"]); d = med(dn[k, "patroni"])
			printf "%-9s %-11s | %7s / %7s | %7s / %7s | %-7s | %7s / %7s | %7s / %7s | %-7s\n", kk[1], kk[2], a, mx(rto[k, "pgwarden"]), b, mx(rto[k, "patroni"]), ratio(a, b), c, mx(dn[k, "pgwarden"]), d, mx(dn[k, "patroni"]), ratio(c, d)
		}
		for (k in st) { split(k, kk, SUBSEP); printf "steady state %-9s %-8s: per daemon %s\n", kk[1], kk[2], st[k] }
	}' "$RESULTS"
echo "(times in ms; ratio = Patroni / pgwarden; raw rows: $RESULTS)"
[ -n "${PGW_BENCH_KEEP:-}" ] && echo "kept: $BASE"
true
