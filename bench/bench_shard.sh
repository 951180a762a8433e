#!/usr/bin/env bash
# bench_shard.sh: figures of sharding by user id (README "Sharding"), on a
# real local etcd 3.4 and, for the moves, three HA groups of two PostgreSQL
# 15 nodes each (tests/integration/shard_groups.sh: fast profile,
# synchronous mode). It prints, and asserts nothing:
#   1. lookup latency from libpgwshard's cache (pgw_shard_lookup, ns per
#      call, one thread and two at once) over a map of 4096 slots in 100
#      groups;
#   2. how long a map change takes to reach every watching client: --watchers
#      processes (each its own etcd connection, as separate application
#      servers) follow the map; the map key is rewritten with a new version
#      --changes times; per change the time from just before the write to
#      each watcher's new version (wall clock, one host), median and max;
#   3. etcd keys and bytes for 100 groups: the live keys of group 1 (two
#      nodes) copied to 100 groups of another scope, plus a 100-group map;
#      counted from etcd (keys, key+value bytes);
#   4. --moves online moves of 60-slot ranges between the three groups under
#      a writer (4 threads; thread 0 writes the moved ranges' users, the
#      others the rest): the write pause of each move (the longest time from
#      first attempt to acknowledgement of a write to the moved range during
#      the move) and its frozen time (map frozen -> flipped), median and
#      max; the unaffected users' throughput during the moves against the 10
#      s before them; and the acknowledged rows lost or duplicated.
# Usage: bash bench/bench_shard.sh [--watchers N] [--changes N] [--moves N]
#                                  [--skip-moves]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
watchers=20
changes=10
moves=6
skip_moves=0
while [ $# -gt 0 ]; do
	case "$1" in
		--watchers) watchers=$2; shift 2 ;;
		--changes) changes=$2; shift 2 ;;
		--moves) moves=$2; shift 2 ;;
		--skip-moves) skip_moves=1; shift ;;
		*) echo "usage: $0 [--watchers N] [--changes N] [--moves N] [--skip-moves]" >&2; exit 2 ;;
	esac
done
source "$root/tests/lib/cluster.sh"
source "$root/tests/lib/tap.sh"
source "$root/tests/integration/shard_groups.sh"
DIR=$(mktemp -d /tmp/pgw-bench-shard-XXXXXX)
chmod 755 "$DIR"	# the groups' PostgreSQL (user pgwarden) lives below it
declare -a FOLLOWERS=()
cleanup() {
	local p
	sg_writer_stop
	for p in "${FOLLOWERS[@]}"; do kill "$p" 2>/dev/null; done
	cluster_cleanup
	[ -z "${PGW_TEST_KEEP:-}" ] && rm -rf "$DIR"
}
trap cleanup EXIT
now_wall() { date +%s%3N; }
# stats FILE: "median=X max=Y n=N" of the numbers in FILE
stats() {
	sort -n "$1" | awk '{a[NR]=$1} END {if (NR == 0) {print "n=0"; exit}
		m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
		printf "median=%s max=%s n=%d\n", m, a[NR], NR}'
}
echo "bench_shard: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || cat "$root/commit" 2>/dev/null), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# a 4096-slot map over groups 1..100 and a routing table per group
map100() {
	python3 - "$1" <<'PY'
import json, sys
v = int(sys.argv[1])
per = 4096 // 100
ranges = []
for g in range(100):
    lo = g * per
    hi = 4095 if g == 99 else (g + 1) * per - 1
    ranges.append({"from": lo, "to": hi, "group": g + 1, "state": "serving"})
print(json.dumps({"version": v, "slots": 4096, "ranges": ranges,
                  "tables": [{"table": "public.events", "column": "user_id"}]},
                 separators=(",", ":")))
PY
}

# ---- 1-2: lookups and propagation on etcd alone -----------------------------
cluster_init "$DIR/lk" 0 fast
CL_SCOPE=bench
cluster_start_etcd || exit 1
cluster_etcdctl put /service/bench/shards "$(map100 1)" >/dev/null
for g in $(seq 1 100); do
	cluster_etcdctl put "/service/bench/$g/routing" \
		"{\"epoch\":2,\"state\":\"serving\",\"leader\":\"n${g}a\",\"primary\":{\"name\":\"n${g}a\",\"host\":\"10.0.$g.1\",\"port\":5432},\"replicas\":[{\"name\":\"n${g}b\",\"host\":\"10.0.$g.2\",\"port\":5432,\"lag\":0,\"sync_state\":\"sync\",\"weight\":100}],\"time\":\"2026-12-01T00:00:00Z\"}" >/dev/null
done
W="$SG_WRITER --etcd 127.0.0.1:$CL_ETCD_PORT --scope bench"
$W --count 20000000 lookup | sed 's/^/lookup 1 thread: /'
$W --count 10000000 lookup >"$DIR/l1" &
p1=$!
$W --count 10000000 lookup >"$DIR/l2"
wait "$p1"
echo "lookup 2 threads at once (two processes): $(grep -o 'lookup.*ns_per_call=[0-9.]*' "$DIR/l1" | tr '\n' ' ') / $(grep -o 'lookup.*ns_per_call=[0-9.]*' "$DIR/l2" | tr '\n' ' ')"

for i in $(seq 1 "$watchers"); do
	$W --duration-s 600 follow >"$DIR/w$i.txt" 2>&1 &
	FOLLOWERS+=($!)
done
for i in $(seq 1 "$watchers"); do
	wait_for 30 grep -q '^version 1 ' "$DIR/w$i.txt" || echo "watcher $i did not start"
done
: >"$DIR/prop_all"
: >"$DIR/prop_max"
for c in $(seq 2 $((changes + 1))); do
	value=$(map100 "$c")
	t0=$(now_wall)
	cluster_etcdctl put /service/bench/shards "$value" >/dev/null
	for i in $(seq 1 "$watchers"); do
		wait_for 10 grep -q "^version $c " "$DIR/w$i.txt" || echo "watcher $i missed version $c"
	done
	worst=0
	for i in $(seq 1 "$watchers"); do
		t=$(awk -v v="$c" '$1 == "version" && $2 == v {print $6}' "$DIR/w$i.txt")
		d=$((t - t0))
		echo "$d" >>"$DIR/prop_all"
		[ "$d" -gt "$worst" ] && worst=$d
	done
	echo "$worst" >>"$DIR/prop_max"
	sleep 0.3
done
echo "map change -> every one of $watchers watchers (ms, per change, includes etcdctl's start): $(stats "$DIR/prop_max")"
echo "map change -> one watcher (ms, all samples): $(stats "$DIR/prop_all")"
for p in "${FOLLOWERS[@]}"; do kill "$p" 2>/dev/null; done
FOLLOWERS=()
cluster_cleanup
CL_ETCD_PID=""

[ "$skip_moves" = 1 ] && exit 0

# ---- 3-4: three real groups ------------------------------------------------
CL_SCOPE=demo
sg_setup "$DIR/mv" || { echo "bench_shard: the groups did not come up"; exit 1; }
for g in 1 2 3; do wait_for 30 sg_sync_ready "$g"; done
sg_ctl shard init --groups 1,2,3 >/dev/null || exit 1
sg_create_table
sg_ctl shard table add events user_id >/dev/null || exit 1

# 3. keys and bytes for 100 groups: group 1's live keys, 100 times
cluster_etcdctl get --prefix /service/demo/1/ -w json >"$DIR/g1.json"
python3 - "$DIR/g1.json" "$(map100 1)" <<'PY' >"$DIR/keys100.txt"
import base64, json, sys
kvs = json.load(open(sys.argv[1])).get("kvs", [])
for g in range(1, 101):
    for kv in kvs:
        k = base64.b64decode(kv["key"]).decode().replace("/service/demo/1/", "/service/keys100/%d/" % g, 1)
        v = base64.b64decode(kv.get("value", "")).decode()
        print(json.dumps([k, v]))
print(json.dumps(["/service/keys100/shards", sys.argv[2]]))
PY
while IFS= read -r line; do
	k=$(jq -r '.[0]' <<<"$line")
	v=$(jq -r '.[1]' <<<"$line")
	cluster_etcdctl put "$k" "$v" >/dev/null
done <"$DIR/keys100.txt"
cluster_etcdctl get --prefix /service/keys100/ -w json | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
kb = sum(len(base64.b64decode(kv["key"])) for kv in kvs)
vb = sum(len(base64.b64decode(kv.get("value", ""))) for kv in kvs)
m = [kv for kv in kvs if base64.b64decode(kv["key"]).endswith(b"/shards")]
mb = len(base64.b64decode(m[0]["value"])) if m else 0
print("etcd for 100 groups (2 nodes each, keys as group 1 has them live): keys=%d key_bytes=%d value_bytes=%d total_bytes=%d shard_map_bytes=%d" % (len(kvs), kb, vb, kb + vb, mb))
'
cluster_etcdctl del --prefix /service/keys100/ >/dev/null

# 4. moves under a writer
sg_writer_start "$DIR/acked" 0-$((60 * moves - 1)) 4
wait_for 30 sg_acks_above "$DIR/acked" 500
sleep 10
: >"$DIR/windows"
for m in $(seq 0 $((moves - 1))); do
	from=$((60 * m))
	to=$((from + 59))
	# group 1 owns 0-1364 at first: send each range to 2 or 3
	target=$((2 + m % 2))
	t0=$(now_wall)
	sg_ctl shard move "$from-$to" --to "$target" --id "b$m" --grace 0 >"$DIR/move$m.txt" 2>&1 ||
		{ echo "move $m failed:"; cat "$DIR/move$m.txt"; }
	t1=$(now_wall)
	echo "$m $from $to $t0 $t1 $(cluster_key "shards/moves/b$m" | jq '.flipped_at - .frozen_at')" >>"$DIR/windows"
	sleep 2
done
sleep 2
sg_writer_stop
echo "writer: $(cat "$DIR/acked.out")"
first_move=$(awk 'NR == 1 {print $4}' "$DIR/windows")
echo "per move (id from-to: frozen ms, wall ms of the command):"
awk '{printf "  b%s %s-%s: frozen %s ms, command %s ms\n", $1, $2, $3, $6, $5 - $4}' "$DIR/windows"
awk '{print $6}' "$DIR/windows" >"$DIR/frozen"
echo "frozen time (map frozen -> flipped) over $moves moves: $(stats "$DIR/frozen")"
: >"$DIR/pauses"
while read -r m from to t0 t1 fz; do
	p=$(sg_acked_sql "$DIR/acked" "SELECT coalesce(max(t1 - t0), 0) FROM a WHERE (hashint8extended(u, 0) & 4095) BETWEEN $from AND $to AND t1 BETWEEN $t0 AND $t1 + 1000")
	echo "$p" >>"$DIR/pauses"
done <"$DIR/windows"
echo "write pause of the moved range (longest first attempt -> ack during the move, ms): $(stats "$DIR/pauses")"
last_end=$(awk 'END {print $5}' "$DIR/windows")
base=$(sg_acked_sql "$DIR/acked" "SELECT count(*) FROM a WHERE (hashint8extended(u, 0) & 4095) > $((60 * moves - 1)) AND t1 BETWEEN $((first_move - 10000)) AND $first_move")
during=$(sg_acked_sql "$DIR/acked" "SELECT count(*) FROM a WHERE (hashint8extended(u, 0) & 4095) > $((60 * moves - 1)) AND t1 BETWEEN $first_move AND $last_end")
secs=$(awk -v a="$first_move" -v b="$last_end" 'BEGIN {printf "%.1f", (b - a) / 1000}')
echo "unaffected users: $(awk -v n="$base" 'BEGIN {printf "%.0f", n / 10}') writes/s in the 10 s before the moves, $(awk -v n="$during" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') writes/s during the $moves moves (${secs} s)"
sg_dump "$DIR/dump"
echo "acknowledged rows: $(sg_check "$DIR/acked" "$DIR/dump")"
