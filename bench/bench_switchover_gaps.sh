#!/usr/bin/env bash
# bench_switchover_gaps.sh: every gap in a writer's acknowledged commits
# around and after a planned switchover, not just the longest (the
# longest is what bench_vs_patroni.sh's RTO ends at, and in its runs that
# was at times a gap seconds after the hand-over). 3 nodes on loopback,
# profile 10/1/3, the writer of bench_vs_patroni.sh (every host at once,
# client timeout 1 s, a commit every 10 ms), PostgreSQL logging
# checkpoints, statements over 100 ms, lock waits and autovacuum. ROUNDS
# switchovers (POST /switchover) 25 s apart; after each, every gap over
# 150 ms from 2 s before the request to 25 s after, with its end relative
# to the request and the host before and after it. --load N runs N CPU
# burners (busy shell loops) beside it for the whole run, to see what load
# alone does to the gaps; --fsync-load N runs N writers of synchronous
# 64 KiB blocks (dd oflag=dsync, a 4 MiB file rewritten in the run's
# directory) for disk flush pressure. PGW_BENCH_KEEP=1 keeps the directory.
# Usage: bash bench/bench_switchover_gaps.sh [--rounds N] [--load N] [--fsync-load N]
source "$(dirname "$0")/../tests/lib/it_prelude.sh"
N=4
LOAD=0
FLOAD=0
while [ $# -gt 0 ]; do
	case "$1" in
		--rounds) N=$2; shift ;;
		--load) LOAD=$2; shift ;;
		--fsync-load) FLOAD=$2; shift ;;
		*) echo "usage: $0 [--rounds N] [--load N] [--fsync-load N]" >&2; exit 2 ;;
	esac
	shift
done
DIR=$(mktemp -d /tmp/pgw-bench-swogaps-XXXXXX)
BURNERS=()
done_() {
	local b
	for b in "${BURNERS[@]}"; do kill "$b" 2>/dev/null; done
	[ "${PGW_BENCH_KEEP:-0}" = 1 ] && cp -r "$DIR" "$DIR.kept" && echo "# kept $DIR.kept"
	cluster_cleanup
}
trap done_ EXIT
cluster_init "$DIR" 3 default
for i in 1 2 3; do
	sed -i 's/^    shared_buffers: 16MB$/    shared_buffers: 16MB\n    log_checkpoints: "on"\n    log_min_duration_statement: 100\n    log_lock_waits: "on"\n    log_autovacuum_min_duration: 0/' "$DIR/node$i/pgwarden.yml"
done
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
cluster_wait_replicas 120 2
"$PGW_WRITER" --hosts "$(for i in 1 2 3; do printf '127.0.0.1:%s,' "${CL_PG_PORT[$i]}"; done | sed 's/,$//')" \
	--acked "$DIR/acked.txt" --interval-ms 10 --client-timeout-ms 1000 --duration-s 3600 \
	--log "$DIR/writer.log" write >"$DIR/writer.out" 2>&1 &
CL_WRITER_PID=$!
sleep 5
for _ in $(seq 1 "$LOAD"); do
	bash -c 'while :; do :; done' &
	BURNERS+=($!)
done
for k in $(seq 1 "$FLOAD"); do
	bash -c "while :; do dd if=/dev/zero of='$DIR/fsync$k' bs=64k count=64 oflag=dsync conv=notrunc status=none; done" &
	BURNERS+=($!)
done
echo "# commit $(git -C "$root" rev-parse --short HEAD), CPU burners $LOAD, fsync writers $FLOAD, $(nproc) CPUs"
for r in $(seq 1 "$N"); do
	leader=$(cluster_wait_primary 60)
	t0=$(now_ms)
	code=$(curl -s -m 60 -u "$CL_REST_USER:$CL_REST_PASS" -o /dev/null -w '%{http_code}' -X POST \
		-d "{\"leader\": \"node$leader\"}" "http://127.0.0.1:${CL_API_PORT[$leader]}/switchover")
	echo "round $r: switchover from node$leader at $t0 ($(date -u -d @$((t0 / 1000)) +%T).$(printf %03d $((t0 % 1000)))) http=$code"
	sleep 25
	echo "  (load average $(cut -d' ' -f1 /proc/loadavg))"
	awk -v t0="$t0" -v end="$(now_ms)" '$1 >= t0 - 2000 && $1 <= end { if (p && $1 - p > 150) printf "  gap %d ms ending at +%d ms on %s (prev on %s)\n", $1 - p, $1 - t0, $3, ph; p = $1; ph = $3 }' "$DIR/writer.log"
done
echo "# ports: $(for i in 1 2 3; do printf 'node%s=%s ' $i "${CL_PG_PORT[$i]}"; done); load average $(cut -d' ' -f1-3 /proc/loadavg)"
