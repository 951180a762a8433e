#!/usr/bin/env bash
# demo.sh: build pgwarden and run a local 3-node cluster on loopback (one
# etcd, three pgwarden daemons each with its own PostgreSQL 15), wait until it
# has one leader and two streaming replicas, and show it with
# `pgwardenctl list`. The cluster keeps running; stop it with
#   bash scripts/demo.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${PGW_DEMO_DIR:-/tmp/pgwarden-demo}

stop_demo() {
	local f
	for f in "$DEMO_DIR"/node*/pid; do
		[ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
	done
	for i in $(seq 1 100); do
		alive=0
		for f in "$DEMO_DIR"/node*/pid; do
			[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	[ -f "$DEMO_DIR/etcd/pid" ] && kill -TERM "$(cat "$DEMO_DIR/etcd/pid")" 2>/dev/null || true
	rm -rf "$DEMO_DIR"
	echo "demo: stopped and removed $DEMO_DIR"
}

if [ "${1:-}" = stop ]; then
	stop_demo
	exit 0
fi
[ -d "$DEMO_DIR" ] && stop_demo

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target pgwarden pgwardenctl >/dev/null

export PGW_BUILD_DIR=$PWD/build
# shellcheck source=../tests/lib/cluster.sh
source tests/lib/cluster.sh
CL_KEEP_DIR=1
cluster_init "$DEMO_DIR" 3 default
cluster_start_etcd
for i in 1 2 3; do
	# setsid: the demo cluster outlives this script
	setsid "$PGW_BIN" -c "$DEMO_DIR/node$i/pgwarden.yml" >>"$DEMO_DIR/node$i/pgwarden.log" 2>&1 &
	echo $! >"$DEMO_DIR/node$i/pid"
done
echo "demo: waiting for a leader and two streaming replicas (logs in $DEMO_DIR/node*/pgwarden.log)"
if ! cluster_wait_primary 120 >/dev/null || ! cluster_wait_replicas 180 2; then
	echo "demo: the cluster did not come up; last log lines:" >&2
	tail -n 20 "$DEMO_DIR"/node*/pgwarden.log >&2
	exit 1
fi
cluster_ctl list
cat <<MSG

demo: the cluster runs in the background.
  pgwardenctl: $PGWCTL_BIN --etcd 127.0.0.1:$CL_ETCD_PORT --scope $CL_SCOPE list
  REST API:    curl -s http://127.0.0.1:${CL_API_PORT[1]}/cluster
  REST writes need the demo's credentials (restapi.authentication):
               curl -u $CL_REST_AUTH -X POST http://127.0.0.1:${CL_API_PORT[1]}/reload
  pgwardenctl commands that call the REST API take them from the environment:
               export PGWARDEN_RESTAPI_USERNAME=$CL_REST_USER PGWARDEN_RESTAPI_PASSWORD=$CL_REST_PASS
  PostgreSQL:  PGPASSWORD=pgw-super psql -h 127.0.0.1 -p ${CL_PG_PORT[1]} -U postgres
  stop it:     bash scripts/demo.sh stop
MSG
