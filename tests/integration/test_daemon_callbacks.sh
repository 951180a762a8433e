#!/usr/bin/env bash
# test_daemon_callbacks.sh: callbacks, the pre_promote veto, a scheduled
# switchover that runs at its time, and a manual failover with no leader, on
# a real 3-node cluster (fast profile). Scenarios:
#   1. on_start / on_role_change run as `<cmd> <action> <role> <scope>`,
#      as the PostgreSQL OS user, not root (security review F7);
#      every callback sleeps 8 s, and a switchover still completes while
#      they sleep (callbacks never block the loop; a node runs its
#      callbacks one at a time, in order)
#   2. a switchover scheduled 6 s ahead: nothing before its time, done after
#      it, and the request is cleared
#   3. paused, the leader's node crashes: nobody is promoted; a failover
#      request naming a replica (no leader in it) promotes that replica
#   4. both replicas' pre_promote exits 1, the leader's node crashes: nobody
#      is promoted and the veto is logged; once the scripts exit 0 a
#      replica is promoted
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-cb-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 30
	pkill -f "$DIR/node[0-9]/cb.sh" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT
primary_is() { [ "$(cluster_primaries)" = "$1 " ]; }
cb_has() { grep -q -- "$2" "$DIR/node$1/cb.log" 2>/dev/null; }
others_than() {
	local i out=""
	for i in 1 2 3; do [ "$i" != "$1" ] && out+="$i "; done
	echo "$out"
}

cluster_init "$DIR" 3 fast
for i in 1 2 3; do
	cat >"$DIR/node$i/cb.sh" <<EOF
#!/bin/sh
echo "\$1 \$2 \$3" >>"$DIR/node$i/cb.log"
id -u >"$DIR/node$i/cb.uid"
sleep 8
EOF
	cat >"$DIR/node$i/pre.sh" <<EOF
#!/bin/sh
echo "pre_promote" >>"$DIR/node$i/cb.log"
id -u >"$DIR/node$i/pre.uid"
[ ! -e "$DIR/node$i/veto" ]
EOF
	chmod 755 "$DIR/node$i/cb.sh" "$DIR/node$i/pre.sh"
	# callbacks run as run_as (security review F7), which may not create
	# files in the root-owned node directory: the files they write
	touch "$DIR/node$i/cb.log" "$DIR/node$i/cb.uid" "$DIR/node$i/pre.uid"
	chown "$PGW_RUN_AS" "$DIR/node$i/cb.log" "$DIR/node$i/cb.uid" "$DIR/node$i/pre.uid"
	sed -i "s|^  parameters:\$|  callbacks:\n    on_start: $DIR/node$i/cb.sh\n    on_role_change: $DIR/node$i/cb.sh\n  pre_promote: $DIR/node$i/pre.sh\n  parameters:|" \
		"$DIR/node$i/pgwarden.yml"
done
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "cluster up" test -n "$leader"
check "two replicas" wait_for 120 cluster_has_replicas 2

# ---- 1. callbacks: arguments, and a slow one does not stall the loop ----
run_as_uid=$(id -u "$PGW_RUN_AS")
for i in 1 2 3; do
	check "node$i: on_start ran with (action, role, scope)" \
		wait_for 10 cb_has "$i" '^on_start \(primary\|replica\) demo$'
	check "node$i: the callback ran as $PGW_RUN_AS (uid $run_as_uid), not root" \
		wait_for 10 grep -qx "$run_as_uid" "$DIR/node$i/cb.uid"
done
set -- $(others_than "$leader")
target=node$1
# a replica publishes its WAL position at most every 3 s: right after the
# bootstrap the leader may still see it lagging and refuse (rightly)
target_caught_up() {
	curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$leader]}/cluster" |
		jq -e --arg t "$target" '.members[] | select(.name == $t) | (.lag // 0) <= 1048576' >/dev/null
}
check "$target is eligible (lag within maximum_lag_on_failover)" wait_for 30 target_caught_up
t0=$(now_ms)
cluster_etcdctl put /service/demo/failover "{\"leader\":\"node$leader\",\"member\":\"$target\"}" >/dev/null
check "a switchover completes while every callback still sleeps" wait_for 15 cluster_key_is leader "$target"
echo "# switchover with sleeping callbacks took $(($(now_ms) - t0)) ms"
check "the new leader ran on_role_change primary" wait_for 30 cb_has "${target#node}" '^on_role_change primary demo$'
check "the old leader ran on_role_change replica" wait_for 30 cb_has "$leader" '^on_role_change replica demo$'
check "the promoted node ran pre_promote first" cb_has "${target#node}" '^pre_promote$'
check "pre_promote ran as $PGW_RUN_AS (uid $run_as_uid), not root" grep -qx "$run_as_uid" "$DIR/${target}/pre.uid"
check "two replicas after the switchover" wait_for 60 cluster_has_replicas 2
leader=${target#node}

# ---- 2. scheduled switchover, executed at its time ----------------------
set -- $(others_than "$leader")
target=node$1
at=$(date -u -d '+6 sec' +%Y-%m-%dT%H:%M:%S+00:00)
cluster_etcdctl put /service/demo/failover "{\"leader\":\"node$leader\",\"member\":\"$target\",\"scheduled_at\":\"$at\"}" >/dev/null
check "scheduled: nothing before its time (2 s)" hold_for 2 cluster_key_is leader "node$leader"
check "scheduled: $target leads after the time" wait_for 25 cluster_key_is leader "$target"
check "scheduled: the request is cleared" wait_for 10 cluster_key_absent failover
check "scheduled: two replicas again" wait_for 60 cluster_has_replicas 2
leader=${target#node}

# ---- 3. paused, leader lost: a manual failover ------------------------
check "paused: every member reports paused" cluster_ctl pause --wait --timeout 20s
cluster_kill_node "$leader" KILL all
check "paused: the crashed leader's key expires" wait_for 10 cluster_key_absent leader
check "paused: nobody promoted after the leader's crash (5 s)" hold_for 5 cluster_no_primary
set -- $(others_than "$leader")
target=node$2
cluster_etcdctl put /service/demo/failover "{\"member\":\"$target\"}" >/dev/null
check "manual failover with no leader: $target is promoted while paused" wait_for 20 primary_is "${target#node}"
check "manual failover: the request is cleared" wait_for 10 cluster_key_absent failover
cluster_set_config 'del(.pause)'
cluster_start_node "$leader"
check "the crashed node rejoins" wait_for 120 cluster_has_replicas 2
leader=${target#node}

# ---- 4. pre_promote veto ---------------------------------------------
for i in $(others_than "$leader"); do touch "$DIR/node$i/veto"; done
cluster_kill_node "$leader" KILL all
vetoed() { grep -q "event=promote.vetoed" "$DIR"/node*/pgwarden.log; }
check "veto: a candidate's pre_promote vetoed its promotion" wait_for 30 vetoed
check "veto: nobody is primary (3 s)" hold_for 3 cluster_no_primary
for i in $(others_than "$leader"); do rm -f "$DIR/node$i/veto"; done
new=$(cluster_wait_primary 60 "$leader")
check "veto lifted: a replica is promoted" test -n "$new"
cluster_start_node "$leader"
check "the crashed node rejoins after the veto" wait_for 120 cluster_has_replicas 2

tap_finish
