#!/usr/bin/env bash
# bench_metrics.sh: what GET /metrics costs a pgwarden daemon, on a real
# local 3-node cluster (fast profile). Prints:
#   - the latency of GET /health and GET /metrics on a kept connection,
#     N requests each, p50 / p99, and the body size: the difference is the
#     render (both answer from the same snapshot under the same lock);
#   - a planned switchover (request -> new leader key, as pgwardenctl
#     reports it) with no scraping, with every node's /health flooded and
#     with every node's /metrics flooded by SCRAPERS back-to-back scrapers
#     each, alternating, RUNS rounds; median and max per mode. The /health
#     flood costs the same CPU of HTTP clients as the /metrics one, so the
#     two differ by what rendering /metrics costs the daemons;
#   - HA loop turns per second of each node during the /metrics flood.
# Usage: bash bench/bench_metrics.sh [--runs N] [--scrapers N] [--requests N]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
runs=3
scrapers=2
requests=2000
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift 2 ;;
		--scrapers) scrapers=$2; shift 2 ;;
		--requests) requests=$2; shift 2 ;;
		*) echo "usage: $0 [--runs N] [--scrapers N] [--requests N]" >&2; exit 2 ;;
	esac
done
[ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || { echo "build first" >&2; exit 2; }
source "$root/tests/lib/cluster.sh"
DIR=$(mktemp -d /tmp/pgw-bench-metrics-XXXXXX)
declare -a FLOOD=()
stop_flood() {
	local p
	for p in "${FLOOD[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${FLOOD[@]}"; do wait "$p" 2>/dev/null; done
	FLOOD=()
}
trap 'stop_flood; cluster_cleanup' EXIT

# latency PORT PATH N: "p50_ms p99_ms bytes" of N GETs on one connection
latency() {
	python3 - "$@" <<'PY'
import http.client, sys, time
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
lat, size = [], 0
for _ in range(n):
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    size = len(r.read())
    lat.append(time.perf_counter() - t)
lat.sort()
print("%.3f %.3f %d" % (lat[n // 2] * 1000, lat[int(n * 0.99)] * 1000, size))
PY
}
# flood PORT PATH: GET PATH back to back on one connection until killed
flood() {
	exec python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
while True:
    try:
        c.request("GET", sys.argv[2]); c.getresponse().read()
    except Exception:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
' "$1" "$2"
}
loops() { curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$1]}/metrics" | awk '/^pgwarden_loops_total\{/ {print $2}'; }
stats() { grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {if (!NR) {print "n/a n/a"; exit} print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[NR]}'; }

cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120) || { echo "no primary" >&2; exit 1; }
cluster_wait_replicas 120 2 || { echo "no replicas" >&2; exit 1; }
echo "settings: fast profile (ttl 3 s, loop_wait 0.5 s), $scrapers scrapers per node, $requests requests, $runs rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"

for path in /health /metrics /health /metrics; do
	read -r p50 p99 bytes <<<"$(latency "${CL_API_PORT[$leader]}" "$path" "$requests")"
	echo "GET $path on the leader: p50 $p50 ms, p99 $p99 ms, $bytes bytes"
done

declare -A took
for r in $(seq 1 "$runs"); do
	for mode in none /health /metrics; do
		if [ "$mode" != none ]; then
			for i in 1 2 3; do
				for k in $(seq 1 "$scrapers"); do
					flood "${CL_API_PORT[$i]}" "$mode" &
					FLOOD+=($!)
				done
			done
		fi
		declare -a L0
		for i in 1 2 3; do L0[$i]=$(loops "$i"); done
		t0=$(date +%s%3N)
		sleep 2
		cur=$(cluster_key leader)
		cand=""
		for c in node1 node2 node3; do [ "$c" != "$cur" ] && [ -z "$cand" ] && cand=$c; done
		ms=$(cluster_ctl switchover --leader "$cur" --candidate "$cand" --force --timeout 60s 2>&1 |
			sed -n 's/.*done in \([0-9]*\) ms.*/\1/p')
		took[$mode]+="${ms:-none} "
		if [ "$mode" = /metrics ]; then
			s=$((($(date +%s%3N) - t0) / 1000))
			turns=""
			for i in 1 2 3; do turns+="node$i $(awk -v a="${L0[$i]}" -v b="$(loops "$i")" -v s="$s" 'BEGIN {printf "%.1f", (b - a) / s}')/s "; done
			echo "round $r: HA loop turns during the /metrics flood: $turns"
		fi
		stop_flood
		cluster_wait_replicas 120 2 >/dev/null || { echo "replicas did not return" >&2; exit 1; }
		sleep 2
	done
done
for mode in none /health /metrics; do
	read -r med max <<<"$(tr ' ' '\n' <<<"${took[$mode]}" | stats)"
	echo "switchover (request -> new leader key) with flood=$mode: median $med ms, max $max ms (runs: ${took[$mode]})"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
