#!/usr/bin/env bash
# bench_k8s_container.sh: the drain drill in real containers (podman, crun),
# where a machine has podman: three pgwarden containers, each pgwarden as
# the container's PID 1 (the image of deploy/k8s/Containerfile.prebuilt on a
# Debian base made by debootstrap: no registry is needed), host networking
# on loopback, etcd, PgBouncer and pgwarden-router on the host. Then, as a
# kubelet would:
#   1. `podman stop -t 30` of the leader's container (SIGTERM to PID 1, 30 s
#      grace, then SIGKILL) while two clients write through PgBouncer every
#      10 ms: prints failed transactions, write downtime, leaderless time,
#      stop time;
#   2. `podman kill` of the new leader's container: prints how long its
#      PostgreSQL still took writes (it must be none) and when a replica led;
#   3. zombies in every container's PID namespace.
# Usage: bash bench/bench_k8s_container.sh   (as root; PGW_BUILD_DIR=build)
# Not part of ctest: building the base image downloads from Debian's archive.
source "$(dirname "$0")/../tests/lib/it_prelude.sh"
source "$root/tests/integration/routing_stack.sh"
rs_check_deps || exit 1
command -v podman >/dev/null || { echo "podman is missing (apt-get install podman crun)"; exit 1; }

IMAGE=localhost/pgwarden:bench
BASE=localhost/debian:bookworm
if ! podman image exists "$BASE"; then
	command -v debootstrap >/dev/null || { echo "debootstrap is missing"; exit 1; }
	rootfs=/var/tmp/pgwarden-image/rootfs
	[ -x "$rootfs/bin/sh" ] || debootstrap --variant=minbase bookworm "$rootfs" || exit 1
	tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null || exit 1
fi
podman build -q --network=host --build-arg "BASE=$BASE" \
	--build-arg "PGW_UID=$(id -u "$PGW_RUN_AS")" \
	-f "$root/deploy/k8s/Containerfile.prebuilt" -t "$IMAGE" "$PGW_BUILD_DIR" >/dev/null || exit 1

DIR=$(mktemp -d /tmp/pgw-bench-k8sc-XXXXXX)
NAME=pgwk8s-$$
WATCH_PID=""
cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	rs_stop_all
	for i in 1 2 3; do podman rm -f -t 0 "$NAME-node$i" >/dev/null 2>&1; done
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 default
start_ctr() {
	local i=$1
	podman rm -f -t 0 "$NAME-node$i" >/dev/null 2>&1
	podman run -d --name "$NAME-node$i" --network host -v "$DIR:$DIR" \
		--log-driver k8s-file --log-opt "path=$DIR/node$i/pgwarden.log" \
		"$IMAGE" -c "$DIR/node$i/pgwarden.yml" >/dev/null
}
ctr_pid() { podman inspect -f '{{.State.Pid}}' "$NAME-node$1" 2>/dev/null; }
zombies_in() {
	local p1 ns p n=0
	p1=$(ctr_pid "$1")
	[ -n "$p1" ] && [ "$p1" != 0 ] || { echo 0; return; }
	ns=$(readlink "/proc/$p1/ns/pid")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
		grep -q '^State:.*Z' "$p/status" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}

cluster_start_etcd || exit 1
for i in 1 2 3; do start_ctr "$i"; done
leader=$(cluster_wait_primary 180) || { echo "no primary"; exit 1; }
wait_for 240 cluster_has_replicas 2 || { echo "replicas did not come"; exit 1; }
for i in 1 2 3; do
	echo "# node$i: container PID 1 is $(podman top "$NAME-node$i" pid comm 2>/dev/null | awk '$1 == 1 {print $2}')"
done
rs_setup_app "$leader" && rs_start || { echo "routing stack did not start"; exit 1; }
wait_for 30 rs_routers_serve "node$leader" 2 || { echo "routers did not serve"; exit 1; }

stamp() { while read -r line; do echo "$(date +%s%3N) $line"; done; }
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" watch "/service/$CL_SCOPE/leader" \
	2>/dev/null > >(stamp >"$DIR/leader-watch.log") &
WATCH_PID=$!
for f in p_fresh p_kept; do
	extra=""
	[ $f = p_fresh ] && extra=--fresh
	rs_bg "$DIR/$f.sum" "$RS_PROBE" --conninfo "$(rs_conn_pgb rw)" --interval-ms 10 \
		--duration-s 300 --log "$DIR/$f.log" --timeout-ms 30000 $extra
	eval "PID_$f=$RS_LAST_PID"
done
sleep 3
t0=$(now_ms)
podman stop -t 30 "$NAME-node$leader" >/dev/null
t1=$(now_ms)
rc=$(podman inspect -f '{{.State.ExitCode}}' "$NAME-node$leader")
new=$(cluster_wait_primary 30 "$leader")
sleep 2
for f in p_fresh p_kept; do eval "rs_stop_pid \$PID_$f"; done
kill "$WATCH_PID" 2>/dev/null
WATCH_PID=""
failed=0
maxgap=0
total=0
for f in p_fresh p_kept; do
	sum=$(tail -1 "$DIR/$f.sum")
	echo "# $f: $sum"
	e=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$sum")
	a=$(sed -n 's/.*attempts=\([0-9]*\).*/\1/p' <<<"$sum")
	g=$(sed -n 's/.* max_gap_ms=\([0-9]*\).*/\1/p' <<<"$sum")
	failed=$((failed + ${e:-1}))
	total=$((total + ${a:-0}))
	[ "${g:-0}" -gt "$maxgap" ] && maxgap=${g:-0}
done
del_ms=$(awk '$2 == "DELETE" {print $1; exit}' "$DIR/leader-watch.log")
put_ms=$(awk -v d="${del_ms:-0}" '$2 == "PUT" && $1 >= d {print $1; exit}' "$DIR/leader-watch.log")
echo "drain (podman stop -t 30 of the leader's container, 2 writers through PgBouncer every 10 ms):"
echo "  failed transactions $failed of $total; write downtime ${maxgap} ms; leaderless $(( ${put_ms:-0} - ${del_ms:-0} )) ms;"
echo "  podman stop took $((t1 - t0)) ms, container exit code $rc; new leader node${new:-?}"

start_ctr "$leader"
wait_for 240 cluster_has_replicas 2 || echo "the drained container did not rejoin"
killed=$new
podman kill -s KILL "$NAME-node$killed" >/dev/null
k0=$(now_ms)
last_write=""
for k in $(seq 1 50); do
	cluster_writable "$killed" && last_write=$(($(now_ms) - k0))
	sleep 0.02
done
next=$(cluster_wait_primary 60 "$killed")
echo "killed (podman kill of the leader's container): its PostgreSQL took a write ${last_write:-never} ms after;"
echo "  postgres processes of it left: $(pgrep -fc "postgres -D $DIR/node$killed/data")"
echo "  new leader node${next:-?} after $(($(now_ms) - k0)) ms"
start_ctr "$killed"
wait_for 240 cluster_has_replicas 2 || echo "the killed container did not rejoin"
for i in 1 2 3; do echo "zombies in node$i's container: $(zombies_in "$i")"; done
