#!/usr/bin/env bash
# bench_ctl_list.sh: how long `pgwardenctl list` takes on a 3-node pgwarden
# cluster, against `patronictl list` on a 3-node Patroni 3.0.2 cluster (the
# Debian package), each with its own etcd (same binary, same version) on
# loopback. Each tool is timed with only its own cluster running (the
# pgwarden cluster is stopped before the Patroni one starts). Prints median
# and p95 of RUNS runs each and the ratio. Not a test: it prints figures.
# Everything it starts is stopped on exit.
# Usage: bench/bench_ctl_list.sh [RUNS]   (run as root; PostgreSQL and
# Patroni run as the unprivileged user pgwarden)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
RUNS=${1:-50}
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"

DIR=$(mktemp -d /tmp/pgw-bench-ctl-XXXXXX)
chmod 755 "$DIR"
P_ETCD_PID=""
P_PIDS=()
cleanup() {
	local p
	for p in "${P_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${P_PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for i in 1 2 3; do
		pm=$(head -1 "$DIR/patroni/p$i/data/postmaster.pid" 2>/dev/null)
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
	done
	[ -n "$P_ETCD_PID" ] && kill -KILL "$P_ETCD_PID" 2>/dev/null
	cluster_cleanup
	rm -rf "$DIR"
}
trap cleanup EXIT

# stats NAME FILE: median and p95 (ms) of the numbers in FILE
stats() {
	sort -n "$2" | awk -v name="$1" '{ a[NR] = $1 } END {
		med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		i = int(NR * 0.95 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%s: runs=%d median=%.1f ms p95=%.1f ms\n", name, NR, med, a[i]
	}'
}
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# time_runs FILE CMD...: RUNS timings of CMD in ms (CMD must succeed)
time_runs() {
	local out=$1 t0 t1 k
	shift
	: >"$out"
	for k in $(seq 1 "$RUNS"); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || { echo "bench: command failed: $*" >&2; return 1; }
		t1=$(date +%s%N)
		echo "scale=3; ($t1 - $t0) / 1000000" | bc >>"$out"
	done
}

# ---- pgwarden ------------------------------------------------------------
cluster_init "$DIR/pgw" 3 default
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
cluster_wait_primary 120 >/dev/null || { echo "bench: pgwarden cluster has no primary" >&2; exit 1; }
cluster_wait_replicas 120 2 || { echo "bench: pgwarden replicas did not come up" >&2; exit 1; }
cluster_ctl list
time_runs "$DIR/pgw.ms" cluster_ctl list || exit 1
# each tool is timed with only its own cluster on the machine: the
# pgwarden cluster stops before the Patroni cluster starts
cluster_stop_all
cluster_cleanup
echo "# pgwarden cluster stopped; starting the Patroni cluster"

# ---- Patroni 3.0.2 --------------------------------------------------------
P_ETCD_PORT=$(cl_pick_port)
P_ETCD_PEER=$(cl_pick_port)
mkdir -p "$DIR/patroni/etcd"
etcd --name p-etcd --data-dir "$DIR/patroni/etcd/data" \
	--listen-client-urls "http://127.0.0.1:$P_ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$P_ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
	--initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
	--initial-cluster "p-etcd=http://127.0.0.1:$P_ETCD_PEER" \
	>"$DIR/patroni/etcd/etcd.log" 2>&1 &
P_ETCD_PID=$!
for _ in $(seq 1 100); do
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$P_ETCD_PORT" endpoint health >/dev/null 2>&1 && break
	sleep 0.1
done
for i in 1 2 3; do
	d=$DIR/patroni/p$i
	mkdir -p "$d"
	api=$(cl_pick_port)
	pg=$(cl_pick_port)
	cat >"$d/patroni.yml" <<YML
scope: pbench
namespace: /service/
name: p$i
restapi:
  listen: 127.0.0.1:$api
  connect_address: 127.0.0.1:$api
etcd3:
  hosts: 127.0.0.1:$P_ETCD_PORT
bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
  initdb:
  - encoding: UTF8
  - data-checksums
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $d/data
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: $d/pgpass
  authentication:
    replication: {username: replicator, password: rep-pass}
    superuser: {username: postgres, password: super-pass}
  parameters:
    unix_socket_directories: $d
    shared_buffers: 16MB
    max_connections: 50
  pg_hba:
  - local all all trust
  - host replication replicator 127.0.0.1/32 md5
  - host all all 127.0.0.1/32 md5
YML
	chown -R pgwarden "$d"
	(cd "$d" && exec runuser -u pgwarden -- patroni "$d/patroni.yml" >"$d/patroni.log" 2>&1) &
	P_PIDS+=($!)
	[ "$i" = 1 ] && sleep 3	# let p1 bootstrap first (as an operator would)
done
PCTL=(patronictl -c "$DIR/patroni/p1/patroni.yml")
# wait for a leader and two running replicas
for _ in $(seq 1 240); do
	n=$("${PCTL[@]}" list -f json 2>/dev/null | jq '[.[] | select(.State == "running" or .State == "streaming")] | length' 2>/dev/null)
	[ "${n:-0}" = 3 ] && break
	sleep 0.5
done
"${PCTL[@]}" list || { echo "bench: Patroni cluster did not come up; see $DIR/patroni/p*/patroni.log" >&2; exit 1; }
time_runs "$DIR/patroni.ms" "${PCTL[@]}" list || exit 1

# ---- report ------------------------------------------------------------------
echo
echo "etcd: $(etcd --version | head -1); patroni: $(patroni --version 2>&1)"
stats "pgwardenctl list" "$DIR/pgw.ms"
stats "patronictl list " "$DIR/patroni.ms"
mp=$(median "$DIR/pgw.ms")
mq=$(median "$DIR/patroni.ms")
echo "ratio (patronictl median / pgwardenctl median): $(echo "scale=1; $mq / $mp" | bc)x"
