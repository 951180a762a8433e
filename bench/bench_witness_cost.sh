#!/usr/bin/env bash
# bench_witness_cost.sh: what the lease witness (issue 19,
# lease_checked_commits) costs, on a real local 2-node cluster (etcd + 2
# daemons + PostgreSQL 15 on loopback, fast profile, asynchronous mode).
# For each round, with the witness off and then on (the same cluster, the
# `config` key flipped, the leader's synchronous_standby_names checked):
#   - pgbench simple-update (-N), 8 clients, 2 threads, --duration seconds:
#     TPS (pgbench's own figure, without initial connection time) and commit
#     latency p50/p99 (from pgbench's per-transaction log, -l);
#   - with the witness on: its CPU (utime + stime from /proc) per MB of WAL
#     the primary wrote in that run (pg_current_wal_lsn before and after).
# Rounds alternate off/on so that drift of a shared machine hits both.
# Usage: bash bench/bench_witness_cost.sh [--rounds N] [--duration S]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
rounds=2
duration=20
while [ $# -gt 0 ]; do
	case "$1" in
		--rounds) rounds=$2; shift 2 ;;
		--duration) duration=$2; shift 2 ;;
		*) echo "usage: $0 [--rounds N] [--duration S]" >&2; exit 2 ;;
	esac
done
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"
PGBENCH=${PG_BIN_DIR}/pgbench
WITNESS_APP=pgwarden_lease_witness
DIR=$(mktemp -d /tmp/pgw-bench-witness-XXXXXX)
chmod 755 "$DIR"
trap 'cluster_cleanup' EXIT

cluster_init "$DIR" 2 fast
cluster_start_etcd || exit 1
for i in 1 2; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) || { echo "no primary" >&2; exit 1; }
wait_for 120 cluster_has_replicas 1 || { echo "no replica" >&2; exit 1; }
export PGPASSWORD=pgw-super
pgb() { "$PGBENCH" -h 127.0.0.1 -p "${CL_PG_PORT[$p]}" -U postgres "$@" postgres; }
pgb -i -s 8 -q >/dev/null 2>&1 || { echo "pgbench -i failed" >&2; exit 1; }

witness_state() {
	cluster_psql "$p" "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$WITNESS_APP'"
}
witness_on() { [ "$(witness_state)" = sync ]; }
witness_off() { [ -z "$(witness_state)" ] && [ -z "$(cluster_psql "$p" "SHOW synchronous_standby_names")" ]; }
witness_pid() { pgrep -P "${CL_PID[$p]}" -f "/pgwarden-witness( |$)" | head -1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
lsn_bytes() { cluster_psql "$p" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }

# run MODE: one pgbench run; prints "MODE tps p50_ms p99_ms cpu_ms_per_mb"
run() {
	local mode=$1 out wp t0 t1 l0 l1 tps lat cpu="-"
	rm -f "$DIR"/pgbench_log.*
	wp=$( [ "$mode" = on ] && witness_pid)
	t0=$( [ -n "$wp" ] && ticks "$wp")
	l0=$(lsn_bytes)
	out=$(cd "$DIR" && pgb -N -c 8 -j 2 -T "$duration" -l 2>&1)
	l1=$(lsn_bytes)
	t1=$( [ -n "$wp" ] && ticks "$wp")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
	# pgbench -l: client xact latency_us ...
	lat=$(cat "$DIR"/pgbench_log.* | awk '{print $3}' | sort -n |
		awk '{v[NR] = $1} END {printf "%.2f %.2f", v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000}')
	if [ -n "$wp" ]; then
		cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v l0="$l0" -v l1="$l1" \
			'BEGIN {printf "%.1f", (b - a) * 1000 / hz / ((l1 - l0) / 1048576)}')
	fi
	echo "$mode ${tps:-?} $lat $cpu $(awk -v a="$l0" -v b="$l1" 'BEGIN {printf "%.1f", (b - a) / 1048576}')"
}

echo "# bench_witness_cost: rounds=$rounds duration=${duration}s pgbench -N -c 8 -j 2 scale 8, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
echo "# mode tps p50_ms p99_ms witness_cpu_ms_per_MB_WAL WAL_MB"
for r in $(seq 1 "$rounds"); do
	for mode in off on; do
		if [ "$mode" = on ]; then
			cluster_set_config '.lease_checked_commits = true'
			wait_for 30 witness_on || { echo "witness not in sync state" >&2; exit 1; }
		else
			cluster_set_config 'del(.lease_checked_commits)'
			wait_for 30 witness_off || { echo "witness still named" >&2; exit 1; }
		fi
		run "$mode"
	done
done | tee "$DIR/results.txt"
awk '$1 == "off" || $1 == "on" {n[$1]++; t[$1] += $2; a[$1] += $3; b[$1] += $4}
	END {for (m in n) printf "mean %s: tps=%.0f p50=%.2f ms p99=%.2f ms (%d runs)\n", m, t[m] / n[m], a[m] / n[m], b[m] / n[m], n[m]}' "$DIR/results.txt"
