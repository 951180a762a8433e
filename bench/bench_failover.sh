#!/usr/bin/env bash
# bench_failover.sh: how fast pgwarden recovers, measured on a real local
# 3-node cluster (etcd + 3 daemons + PostgreSQL 15 on loopback). Prints:
#   - RTO and write downtime of a node crash (SIGKILL every process of the
#     primary's node: daemon, fence watchdog, PostgreSQL) and of a
#     PostgreSQL crash (SIGKILL of the primary's postmaster only; the daemon
#     restarts it in place, or hands over after primary_start_timeout), and
#     pgwarden's own part of the latter (crash seen -> PostgreSQL started,
#     from its log): from a writer committing every 10 ms, the longest gap
#     between two acknowledged commits from the last one before the fault
#     (downtime) and fault -> the commit that ended it (RTO), computed from
#     the writer's log by tests/tools/pgw_logcheck.py once it wrote again
#     (a gap still open is reported, never a smaller earlier one); median
#     and max of N runs;
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
writer_mode=sequential
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift 2 ;;
		--profile) profile=$2; shift 2 ;;
		--only) only=$2; shift 2 ;;
		--writer)
			case "$2" in
				parallel) writer_opts=(--client-timeout-ms 1000); writer_mode=parallel ;;
				sequential) writer_opts=(); writer_mode=sequential ;;
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
trap '[ -n "$WRITER_PID" ] && kill $WRITER_PID 2>/dev/null; cluster_stop_all; cluster_cleanup' EXIT

hosts() { cluster_hosts; }
ectl() { cluster_etcdctl "$@"; }
# replicas_ok: two replicas streaming from the primary (pg_stat_replication
# and pg_stat_wal_receiver agree, same timeline), within 180 s
replicas_ok() { cluster_wait_replicas 180 2; }
WRITER_RUN=0
WLOG=""
writer_start() {
	WRITER_RUN=$((WRITER_RUN + 1))
	WLOG=$DIR/writer.$WRITER_RUN.log
	# keep acked.txt: the writer continues after its highest acknowledged seq
	"$WRITER" --hosts "$(hosts)" --acked "$DIR/acked.txt" --interval-ms 10 "${writer_opts[@]}" --duration-s 300 \
		--log "$WLOG" write >"$DIR/writer.$WRITER_RUN.out" 2>&1 &
	WRITER_PID=$!
	# writes flowing before the fault
	wait_for 30 acked_since "$(($(date +%s%3N) + 1500))"
}
acked_since() {
	local last
	last=$(tail -n 1 "$WLOG" 2>/dev/null | cut -d' ' -f1)
	[ -n "$last" ] && [ "$last" -ge "$1" ]
}
# writer_stop T0: stop the writer once it has written after the outage (up
# to 30 s), then the longest gap since T0 from its log (tests/tools/
# pgw_logcheck.py gap: measured from the last ack before T0; a gap still
# open when the writer stops is measured to then and reported as "open",
# never as the last small gap)
writer_stop() {
	local t0=$1 out down rto
	wait_for 30 acked_since "$(date +%s%3N)"
	kill "$WRITER_PID" 2>/dev/null
	for i in $(seq 1 200); do
		kill -0 "$WRITER_PID" 2>/dev/null || break
		sleep 0.05
	done
	WRITER_PID=""
	out=$(python3 "$PGW_LOGCHECK" gap --writer-log "$WLOG" --from "$t0" --to "$(date +%s%3N)" 2>&1)
	rto=$(cl_kv rto_ms "$out")
	down=$(cl_kv downtime_ms "$out")
	if [ -z "$rto" ]; then
		echo "run $WRITER_RUN: no figure: $out" >&2
		echo none
	elif [ "$rto" = -1 ]; then
		echo "run $WRITER_RUN: the outage was still open when the writer stopped (${down} ms so far)" >&2
		echo open
	else
		echo "$rto $down"
	fi
}
stats() {
	# median and max of the numbers on stdin ("none"/"open" runs are
	# reported by writer_stop and left out)
	grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a n/a"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print m, a[NR]}'
}
# log_ms LINE: the wall ms of a daemon log line's timestamp
log_ms() { date -d "$(cut -d' ' -f1 <<<"$1")" +%s%3N; }

cluster_init "$DIR" 3 "$profile"
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
cluster_wait_primary 120 >/dev/null && replicas_ok || { echo "cluster did not come up" >&2; exit 1; }
cfg=$(ectl get --print-value-only /service/demo/config)
echo "settings: profile=$profile $(echo "$cfg" | jq -c '{ttl, loop_wait, retry_timeout}') runs=$runs writer=${writer_opts[*]:-sequential}"

wanted() { [[ ",$only," == *",$1,"* ]]; }
node_rto=()
node_down=()
wanted node && for r in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60)
	writer_start
	t0=$(date +%s%3N)
	# the host dies: every process of the node (daemon, fence watchdog,
	# PostgreSQL) at once
	# shellcheck disable=SC2046
	kill -KILL $(cluster_node_pids "$leader")
	cluster_wait_primary 60 "$leader" >/dev/null
	read -r a b <<<"$(writer_stop "$t0")"
	node_rto+=("$a")
	node_down+=("${b:-none}")
	cluster_start_node "$leader"
	replicas_ok || { echo "node$leader did not rejoin" >&2; exit 1; }
done

pg_rto=()
pg_down=()
pg_part=()
wanted pg && for r in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60)
	writer_start
	t0=$(date +%s%3N)
	kill -KILL "$(cluster_postmaster_pid "$leader")"
	cluster_wait_primary 60 >/dev/null
	read -r a b <<<"$(writer_stop "$t0")"
	pg_rto+=("$a")
	pg_down+=("${b:-none}")
	# pgwarden's part: the daemon saw the crash -> PostgreSQL started again
	# (its log's pg.crashed / pg.exited and the next pg.started)
	seen=$(awk -v t="$t0" '/event=pg\.(crashed|exited)/' "$DIR/node$leader/pgwarden.log" | while read -r l; do
		ms=$(log_ms "$l"); [ "$ms" -ge "$t0" ] && { echo "$ms"; break; }; done)
	started=$(awk '/event=pg\.started/' "$DIR/node$leader/pgwarden.log" | while read -r l; do
		ms=$(log_ms "$l"); [ "$ms" -ge "${seen:-99999999999999}" ] && { echo "$ms"; break; }; done)
	if [ -n "$seen" ] && [ -n "$started" ]; then
		pg_part+=("$((started - seen))")
	else
		pg_part+=(none)
		echo "pg run $r: no restart in place on node$leader (failed over, or not in its log)" >&2
	fi
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
	# request -> first write on the new primary: the end of the longest gap
	# after the request; downtime: that gap
	read -r a b <<<"$(writer_stop "$t0")"
	sw_first+=("$a")
	sw_down+=("${b:-none}")
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
printf '%-52s %10s %10s\n' "drill ($runs runs)" "median ms" "max ms"
printf '%-52s %10s %10s\n' "node crash -> first acknowledged write (RTO)" $(printf '%s\n' "${node_rto[@]}" | stats)
printf '%-52s %10s %10s\n' "node crash: write downtime" $(printf '%s\n' "${node_down[@]}" | stats)
printf '%-52s %10s %10s\n' "postgres crash -> first acknowledged write (RTO)" $(printf '%s\n' "${pg_rto[@]}" | stats)
printf '%-52s %10s %10s\n' "postgres crash: write downtime" $(printf '%s\n' "${pg_down[@]}" | stats)
printf '%-52s %10s %10s\n' "postgres crash: pgwarden's part (crash seen -> started)" $(printf '%s\n' "${pg_part[@]}" | stats)
printf '%-52s %10s %10s\n' "switchover: write downtime" $(printf '%s\n' "${sw_down[@]}" | stats)
printf '%-52s %10s %10s\n' "switchover: request -> new leader key" $(printf '%s\n' "${sw_key[@]}" | stats)
printf '%-52s %10s %10s\n' "switchover: request -> first write" $(printf '%s\n' "${sw_first[@]}" | stats)
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
echo "raw: node_rto=${node_rto[*]} node_down=${node_down[*]} pg_rto=${pg_rto[*]} pg_down=${pg_down[*]} pg_part=${pg_part[*]} switchover_down=${sw_down[*]} switchover_key=${sw_key[*]} switchover_first=${sw_first[*]}"
echo "command: bash bench/bench_failover.sh --runs $runs --profile $profile --only $only --writer ${writer_mode} (commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?); load $(cut -d' ' -f1-3 /proc/loadavg))"
