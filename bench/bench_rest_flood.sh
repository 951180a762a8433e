#!/usr/bin/env bash
# bench_rest_flood.sh: what the REST API still serves while it is flooded
# (security review F4). A 2-node cluster (fast profile) on loopback; the
# health endpoints HAProxy checks (OPTIONS /primary on the primary,
# GET /replica on the replica) are driven by a closed-loop load generator
# (THREADS keep-alive clients per node, from 127.0.0.1) for SECONDS, first
# quiet, then while tests/tools/rest_flood.py holds CONNS slow connections
# from 127.0.0.2 against each node (trickling a header line every 2 s,
# reopening what the server closes). Then a POST /switchover is timed,
# quiet and under the flood. Prints one line per measure:
#   rest_flood phase=quiet|flood endpoint=... requests_per_s=N errors=N p50_ms= p99_ms= max_ms=
#   rest_flood phase=quiet|flood switchover_ms=N status=200
# The figures are this machine's (2 cores, shared): the load generator and
# the flood client run on it too. Compare the two phases of one run.
#
# Usage: bash bench/bench_rest_flood.sh [--seconds 10] [--conns 500] [--threads 4]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
source "$root/tests/lib/cluster.sh"
FLOOD="$root/tests/tools/rest_flood.py"

seconds=10
conns=500
threads=4
while [ $# -gt 0 ]; do
	case "$1" in
		--seconds) seconds=$2; shift 2 ;;
		--conns) conns=$2; shift 2 ;;
		--threads) threads=$2; shift 2 ;;
		*) echo "usage: $0 [--seconds N] [--conns N] [--threads N]" >&2; exit 2 ;;
	esac
done

DIR=$(mktemp -d /tmp/pgw-bench-flood-XXXXXX)
FLOOD_PIDS=()
cleanup() {
	for p in "${FLOOD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	cluster_cleanup
}
trap cleanup EXIT

# load PORT METHOD PATH: closed-loop keep-alive clients for $seconds
load() {
	python3 - "$1" "$2" "$3" "$seconds" "$threads" <<'PY'
import http.client, sys, threading, time
port, method, path, secs, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lat, errs, lock = [], [0], threading.Lock()
end = time.monotonic() + secs
def worker():
    c = None
    mine, bad = [], 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request(method, path)
            r = c.getresponse()
            r.read()
            ok = r.status == 200
        except Exception:
            ok = False
            c = None
        mine.append((time.monotonic() - t0) * 1000)
        if not ok:
            bad += 1
    with lock:
        lat.extend(mine)
        errs[0] += bad
ts = [threading.Thread(target=worker) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else 0
print("requests_per_s=%d errors=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
      % (len(lat) / secs, errs[0], q(0.5), q(0.99), lat[-1] if lat else 0))
PY
}

# switchover FROM TO: POST /switchover on FROM's node, its time and status
switchover() {
	local t0 code
	t0=$(date +%s%3N)
	code=$(curl -s -o /dev/null -m 60 -u "$CL_REST_AUTH" -w '%{http_code}' -X POST \
		-d "{\"leader\":\"node$1\",\"candidate\":\"node$2\"}" \
		"http://127.0.0.1:${CL_API_PORT[$1]}/switchover")
	echo "switchover_ms=$(($(date +%s%3N) - t0)) status=$code"
}

replica_of() { [ "$(cluster_status "$1" /replica)" = 200 ]; }
wait_replica() {
	local k
	for k in $(seq 1 300); do replica_of "$1" && return 0; sleep 0.2; done
	return 1
}

cluster_init "$DIR" 2 fast
cluster_start_etcd || exit 1
cluster_start_node 1
[ "$(cluster_wait_primary 90)" = 1 ] || { echo "bench_rest_flood: node1 did not become primary" >&2; exit 1; }
cluster_start_node 2
wait_replica 2 || { echo "bench_rest_flood: node2 did not replicate" >&2; exit 1; }

measure() { # PHASE
	echo "rest_flood phase=$1 endpoint=\"OPTIONS /primary\" $(load "${CL_API_PORT[1]}" OPTIONS /primary)"
	echo "rest_flood phase=$1 endpoint=\"GET /replica\" $(load "${CL_API_PORT[2]}" GET /replica)"
}

measure quiet
echo "rest_flood phase=quiet $(switchover 1 2)"
[ "$(cluster_wait_primary 60)" = 2 ] && wait_replica 1 || { echo "bench_rest_flood: no clean switchover" >&2; exit 1; }
# back to node1 (412 until its member key shows it a caught-up replica)
for k in $(seq 1 60); do
	back=$(switchover 2 1)
	[ "${back##*status=}" = 412 ] || break
	sleep 0.5
done
echo "rest_flood phase=quiet-back $back"
[ "$(cluster_wait_primary 60)" = 1 ] && wait_replica 2 || { echo "bench_rest_flood: no switchover back" >&2; exit 1; }

for i in 1 2; do
	python3 "$FLOOD" 127.0.0.1 "${CL_API_PORT[$i]}" "$conns" $((2 * seconds + 30)) \
		--source 127.0.0.2 --trickle 2 >"$DIR/flood$i.out" 2>&1 &
	FLOOD_PIDS+=($!)
done
sleep 2
measure flood
echo "rest_flood phase=flood $(switchover 1 2)"
for p in "${FLOOD_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
FLOOD_PIDS=()
echo "rest_flood conns_per_node=$conns threads=$threads seconds=$seconds commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
