#!/usr/bin/env bash
# bench_failover.sh: how fast pgwarden recovers, measured on a real local
# 3-node cluster (etcd + 3 daemons + PostgreSQL 15 on loopback). Prints:
#   - RTO of a node crash (SIGKILL daemon + postmaster of the primary) and of
#     a PostgreSQL crash (SIGKILL of the primary's postmaster only; the
#     daemon restarts it in place): the longest gap between two acknowledged
#     commits of a writer committing every 10 ms, i.e. fault -> first
#     acknowledged write; median and max of N runs;
#   - planned switchover: write downtime (same measure), request -> new
#     leader key and request -> first write on the new primary, median and
#     max of N runs;
#   - daemon RSS and CPU seconds per minute at idle.
# The writer tries the hosts one after the other (as in every figure of the
# README); --writer parallel connects to every host at once and abandons a
# statement after 1 s (--client-timeout-ms, as bench_vs_patroni.sh's writer
# does for both tools).
# Usage: bash bench/bench_failover.sh [--runs N] [--profile fast|default]
#                                     [--only node,pg,switchover,idle]
#                                     [--writer parallel|sequential]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
WRITER=$PGW_BUILD_DIR/tests/pgw_writer
runs=5
profile=fast
only=node,pg,switchover,idle
writer_opts=()
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift 2 ;;
		--profile) profile=$2; shift 2 ;;
		--only) only=$2; shift 2 ;;
		--writer)
			case "$2" in
				parallel) writer_opts=(--client-timeout-ms 1000) ;;
				sequential) writer_opts=() ;;
				*) echo "--writer: \"$2\" is neither parallel nor sequential" >&2; exit 2 ;;
			esac
			shift 2 ;;
		*) echo "usage: $0 [--runs N] [--profile fast|default] [--only node,pg,switchover,idle] [--writer parallel|sequential]" >&2; exit 2 ;;
	esac
done
[ -x "$WRITER" ] && [ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || {
	echo "build first: cmake -S . -B build && cmake --build build" >&2
	exit 2
}
source "$root/tests/lib/cluster.sh"
DIR=$(mktemp -d /tmp/pgw-bench-failover-XXXXXX)
WRITER_PID=""
trap '[ -n "$WRITER_PID" ] && kill $WRITER_PID 2>/dev/null; cluster_cleanup' EXIT

hosts() {
	local out="" i
	for i in 1 2 3; do out+="127.0.0.1:${CL_PG_PORT[$i]},"; done
	echo "${out%,}"
}
ectl() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" "$@"; }
replicas_ok() {
	local n=0 i deadline=$(($(date +%s) + 180))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		n=0
		for i in 1 2 3; do [ "$(cluster_status "$i" /replica)" = 200 ] && n=$((n + 1)); done
		[ $n -ge 2 ] && return 0
		sleep 0.3
	done
	return 1
}
WRITER_RUN=0
writer_start() {
	WRITER_RUN=$((WRITER_RUN + 1))
	# keep acked.txt: the writer continues after its highest acknowledged seq
	"$WRITER" --hosts "$(hosts)" --acked "$DIR/acked.txt" --interval-ms 10 "${writer_opts[@]}" --duration-s 300 \
		--log "$DIR/writer.$WRITER_RUN.log" write >"$DIR/writer.$WRITER_RUN.out" 2>&1 &
	WRITER_PID=$!
	sleep 2
}
writer_stop() {
	local out="$DIR/writer.$WRITER_RUN.out" v i
	kill "$WRITER_PID" 2>/dev/null
	# called as $(writer_stop), a subshell, where `wait` cannot wait for the
	# writer (not its child) and returned at once: two runs in seven read
	# the file before the writer had printed its figure and were dropped
	for i in $(seq 1 200); do
		kill -0 "$WRITER_PID" 2>/dev/null || break
		sleep 0.05
	done
	WRITER_PID=""
	v=$(sed -n 's/.*max_gap_ms=\([0-9]*\).*/\1/p' "$out")
	# a run without a figure is reported, never silently dropped
	[ -n "$v" ] || echo "run $WRITER_RUN: the writer printed no figure: $(tr '\n' ' ' <"$out" | cut -c1-300)" >&2
	echo "${v:-none}"
}
stats() {
	# median and max of the numbers on stdin
	# a run whose writer printed no figure is reported by writer_stop
	grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a n/a"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print m, a[NR]}'
}

cluster_init "$DIR" 3 "$profile"
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
cluster_wait_primary 120 >/dev/null && replicas_ok || { echo "cluster did not come up" >&2; exit 1; }
cfg=$(ectl get --print-value-only /service/demo/config)
echo "settings: profile=$profile $(echo "$cfg" | jq -c '{ttl, loop_wait, retry_timeout}') runs=$runs writer=${writer_opts[*]:-sequential}"

wanted() { [[ ",$only," == *",$1,"* ]]; }
node_rto=()
wanted node && for r in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60)
	writer_start
	cluster_kill_node "$leader" KILL all
	cluster_wait_primary 60 "$leader" >/dev/null
	sleep 1
	node_rto+=("$(writer_stop)")
	cluster_start_node "$leader"
	replicas_ok || { echo "node$leader did not rejoin" >&2; exit 1; }
done

pg_rto=()
wanted pg && for r in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60)
	writer_start
	kill -KILL "$(cluster_postmaster_pid "$leader")"
	sleep 1
	cluster_wait_primary 60 >/dev/null
	sleep 1
	pg_rto+=("$(writer_stop)")
	replicas_ok || { echo "cluster did not heal" >&2; exit 1; }
done

sw_down=()
sw_key=()
sw_first=()
wanted switchover && for r in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60)
	cur=$(ectl get --print-value-only /service/demo/leader)
	writer_start
	t0=$(date +%s%3N)
	ectl put /service/demo/failover "{\"leader\":\"$cur\"}" >/dev/null
	for k in $(seq 1 300); do
		now=$(ectl get --print-value-only /service/demo/leader)
		[ -n "$now" ] && [ "$now" != "$cur" ] && break
		sleep 0.01
	done
	sw_key+=("$(($(date +%s%3N) - t0))")
	sleep 2
	sw_down+=("$(writer_stop)")
	# request -> first write on the new primary: the end of the longest gap
	# between acknowledged writes after the request (the writer logs wall ms)
	sw_first+=("$(awk -v t0="$t0" '$1 >= t0 && prev > 0 && $1 - prev > g { g = $1 - prev; e = $1 }
		{ prev = $1 } END { print (e > 0) ? e - t0 : "none" }' "$DIR/writer.$WRITER_RUN.log")")
	replicas_ok || { echo "cluster did not heal after switchover" >&2; exit 1; }
done

# idle footprint: RSS and CPU of each daemon over 60 s
declare -a cpu0 wdcpu0
if wanted idle; then
	sleep 5
	for i in 1 2 3; do
		cpu0[$i]=$(awk '{print $14 + $15}' "/proc/${CL_PID[$i]}/stat")
		wd=$(pgrep -P "${CL_PID[$i]}" -x pgwarden-fence | head -1)
		wdcpu0[$i]=$([ -n "$wd" ] && awk '{print $14 + $15}' "/proc/$wd/stat" || echo 0)
	done
	sleep 60
fi
hz=$(getconf CLK_TCK)
echo
printf '%-44s %10s %10s\n' "drill ($runs runs)" "median ms" "max ms"
printf '%-44s %10s %10s\n' "node crash -> first acknowledged write" $(printf '%s\n' "${node_rto[@]}" | stats)
printf '%-44s %10s %10s\n' "postgres crash -> first acknowledged write" $(printf '%s\n' "${pg_rto[@]}" | stats)
printf '%-44s %10s %10s\n' "switchover: write downtime" $(printf '%s\n' "${sw_down[@]}" | stats)
printf '%-44s %10s %10s\n' "switchover: request -> new leader key" $(printf '%s\n' "${sw_key[@]}" | stats)
printf '%-44s %10s %10s\n' "switchover: request -> first write" $(printf '%s\n' "${sw_first[@]}" | stats)
echo
wanted idle && for i in 1 2 3; do
	rss=$(awk '/VmRSS/ {print $2}' "/proc/${CL_PID[$i]}/status")
	cpu1=$(awk '{print $14 + $15}' "/proc/${CL_PID[$i]}/stat")
	echo "node$i daemon idle: RSS ${rss} kB, CPU $(awk -v a="$cpu1" -v b="${cpu0[$i]}" -v hz="$hz" 'BEGIN {printf "%.3f", (a - b) / hz}') s per minute"
	# the fence watchdog is a fork of the daemon: most of its RSS is shared
	wd=$(pgrep -P "${CL_PID[$i]}" -x pgwarden-fence | head -1)
	if [ -n "$wd" ]; then
		wrss=$(awk '/VmRSS/ {print $2}' "/proc/$wd/status")
		wpss=$(awk '/^Pss:/ {print $2}' "/proc/$wd/smaps_rollup" 2>/dev/null)
		wcpu1=$(awk '{print $14 + $15}' "/proc/$wd/stat")
		echo "node$i fence watchdog idle: RSS ${wrss} kB (PSS ${wpss:-?} kB), CPU $(awk -v a="$wcpu1" -v b="${wdcpu0[$i]}" -v hz="$hz" 'BEGIN {printf "%.3f", (a - b) / hz}') s per minute"
	fi
done
echo "raw: node=${node_rto[*]} pg=${pg_rto[*]} switchover_down=${sw_down[*]} switchover_key=${sw_key[*]} switchover_first=${sw_first[*]}"
echo "command: bash bench/bench_failover.sh --runs $runs --profile $profile --only $only"
