#!/usr/bin/env bash
# test_daemon_diverged_rejoin.sh: an old primary that holds WAL the new
# leader never got, and was restarted as a replica before a leader existed,
# is rewound and streams again; replicas that are only behind are not
# touched (three nodes, fast profile, async, a writer every 10 ms).
#   1. node1 (primary) stops sending WAL (its walsenders are stopped) and
#      writes on; then all its PostgreSQL processes are killed and its
#      restart is blocked (global/ unreadable) past primary_start_timeout:
#      its daemon releases the key, gives the others one ttl to take it
#      (rule no-leader-released-by-us, issue 21), and as nobody does
#      (node2's daemon is frozen meanwhile, node3 is stopped) starts it as
#      a replica with no leader (standby.signal written: "was primary" is
#      gone); node2's daemon thawed, node2 is promoted on timeline 2,
#      forked before node1's last WAL. Unblocked,
#      node1 must find its WAL off the leader's history (pg.diverged), be
#      rewound (rule diverged-rewind) and stream from node2 on timeline 2
#      with a row written there after the failover. Before the fix it
#      followed "node2" for ever while PostgreSQL logged "new timeline 2
#      forked off current database system timeline 1 before current
#      recovery point".
#   2. node3, stopped before node1 stopped sending and started after the
#      failover with recovery_min_apply_delay 10s, replays on timeline 1
#      behind the fork for a while: its check runs there and says
#      "diverged=no"; it is never rewound and streams on timeline 2.
#   3. a switchover node2 -> node1: node2 restarts as a replica between two
#      upstreams; nobody is rewound and both replicas stream from node1.
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-diverged-XXXXXX)
cleanup() {
	chmod 700 "$DIR"/node*/data/global 2>/dev/null
	tap_dump_logs "$DIR" 3 60
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 fast
sed -i 's/^  parameters:$/&\n    recovery_min_apply_delay: 10s/' "$DIR/node3/pgwarden.yml"
cluster_start_etcd || exit 1
cluster_start_node 1
check "node1 is primary" test "$(cluster_wait_primary 90)" = 1
cluster_start_node 2
cluster_start_node 3
check "node2 and node3 stream from node1" cluster_wait_replicas 120 2
cluster_start_writer
check "the writer writes" cluster_wait_ack "$(now_ms)" 30

log_after() { tail -n +"$(($2 + 1))" "$DIR/node$1/pgwarden.log" | grepq -q -- "$3"; }
lines() { wc -l <"$DIR/node$1/pgwarden.log"; }
streams_from() { case " $(cluster_streaming "$1") " in *" $2 "*) return 0 ;; esac; return 1; }
lsn_num() { # X/Y -> decimal
	local v=$1
	[ -n "$v" ] || { echo 0; return; }
	echo $(((16#${v%/*} << 32) + 16#${v#*/}))
}
ahead_of_node2() {
	local a b
	a=$(lsn_num "$(cl_sql 1 "SELECT pg_current_wal_lsn()")")
	b=$(lsn_num "$(cl_sql 2 "SELECT pg_last_wal_receive_lsn()")")
	[ "$a" -gt $((b + 8192)) ]
}

# ---- 1. the old primary holds WAL nobody else has ------------------------
cluster_stop_node 3
cluster_psql 1 "CREATE TABLE t (x text); INSERT INTO t VALUES ('before')" >/dev/null
check "node2 has the table" wait_for 30 sh -c "[ \"\$(PGPASSWORD=pgw-super psql -X -A -t -h 127.0.0.1 -p ${CL_PG_PORT[2]} -U postgres -d postgres -c 'SELECT count(*) FROM t' 2>/dev/null)\" = 1 ]"
pm=$(cluster_postmaster_pid 1)
# shellcheck disable=SC2046
kill -STOP $(ps -o pid=,args= --ppid "$pm" | awk '/walsender/ {print $1}')
check "node1 writes WAL node2 does not receive" wait_for 30 ahead_of_node2
n1=$(lines 1)
# node2's daemon frozen: nobody takes the key node1 gives up, so node1
# starts as a replica before a leader exists (the path that lost "was
# primary"); without the freeze node2 takes the key within node1's wait
kill -STOP "${CL_PID[2]}"
chmod 000 "$DIR/node1/data/global"
# shellcheck disable=SC2046
kill -KILL $(cluster_pg_pids 1)
check "node1 released the key and left it to the others for one ttl" \
	wait_for 30 log_after 1 "$n1" "rule=no-leader-released-by-us"
check "node1 started as a replica with no leader" \
	wait_for 30 log_after 1 "$n1" "rule=no-leader-start-replica"
kill -CONT "${CL_PID[2]}"
check "node2 is promoted" test "$(cluster_wait_primary 60 1)" = 2
cluster_psql 2 "INSERT INTO t VALUES ('after')" >/dev/null
check "node1 tries to start as a replica of node2" \
	wait_for 30 log_after 1 "$n1" "rule=replica-start target=node2"
t_unblock=$(now_ms)
chmod 700 "$DIR/node1/data/global"
check "node1 finds its WAL off node2's history (pg.diverged)" \
	wait_for 60 log_after 1 "$n1" "event=pg.diverged node=node1 leader=node2 local_tli=1 leader_tli=2"
check "node1 is rewound (rule diverged-rewind)" \
	wait_for 60 log_after 1 "$n1" "event=pg.rewound"
check "node1 streams from node2 on its timeline" wait_for 90 streams_from 2 1
echo "# node1: unblocked -> streaming from node2 in $(($(now_ms) - t_unblock)) ms"
has_after() { [ "$(cluster_psql 1 "SELECT count(*) FROM t WHERE x = 'after'" 2>/dev/null)" = 1 ]; }
check "node1 holds the row written on node2 after the failover" wait_for 30 has_after
check "node1 is a replica (REST /replica 200)" test "$(cluster_status 1 /replica)" = 200

# ---- 2. a replica behind on the old timeline is left alone ---------------
n3=$(lines 3)
cluster_start_node 3
check "node3 checked its WAL on timeline 1 and found it on node2's history" \
	wait_for 60 log_after 3 "$n3" "event=pg.timeline-checked node=node3 leader=node2 local_tli=1 leader_tli=2 .* diverged=no"
check "node3 streams from node2 (after its 10 s apply delay)" wait_for 120 streams_from 2 3
check "node3 was never found diverged nor rewound" \
	sh -c "! grep -Eq 'event=pg.diverged |rewind.start|rule=diverged' '$DIR/node3/pgwarden.log'"
check "node3 checked once, then only while it could not follow (no check failed)" \
	sh -c "! grep -q 'event=pg.timeline-check-failed' '$DIR/node3/pgwarden.log'"

# ---- 3. a switchover: a replica between two upstreams --------------------
n1=$(lines 1)
n2=$(lines 2)
n3=$(lines 3)
cluster_etcdctl put "/service/$CL_SCOPE/failover" '{"leader":"node2","member":"node1"}' >/dev/null
check "switchover: node1 takes the leader key" wait_for 30 cluster_key_is leader node1
check "switchover: node2 streams from node1" wait_for 60 streams_from 1 2
check "switchover: node3 streams from node1" wait_for 120 streams_from 1 3
for i in 1 2 3; do
	eval "from=\$n$i"
	check "switchover: node$i was not found diverged nor rewound" \
		sh -c "! tail -n +$((from + 1)) '$DIR/node$i/pgwarden.log' | grep -Eq 'event=pg.diverged |rewind.start|rule=diverged'"
done
check "switchover: node2 checked its new postmaster against node1" \
	log_after 2 "$n2" "event=pg.timeline-checked node=node2 leader=node1"

tap_finish
