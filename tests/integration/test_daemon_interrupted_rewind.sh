#!/usr/bin/env bash
# test_daemon_interrupted_rewind.sh: a daemon stopped while pg_rewind runs
# (two nodes, fast profile). Both nodes' bin_dir is a directory of links to
# PostgreSQL's programs whose pg_rewind is a wrapper: while a flag file
# exists it sleeps before the real pg_rewind, so the test can stop the
# daemon in the middle.
#   A. rewind interrupted before it touched a file (the wrapper says
#      nothing): SIGTERM ends the daemon by itself (pg.exec.cancel, no
#      SIGKILL), the wrapper is gone, it held no socket of the daemon, the
#      marker is cleared; restarted, the node rewinds and rejoins
#   B. rewind interrupted after it began to change files (the wrapper says
#      pg_rewind's "rewinding from last common checkpoint" first): the
#      marker stays; restarted, the daemon binds its REST port, refuses
#      to rewind or start that data directory, re-clones it
#      (rule diverged-reinit), rejoins, and holds a row written after
#      the failover
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-rewind-XXXXXX)
cleanup() {
	[ -f "$DIR/probe/pid" ] && kill -KILL "$(cat "$DIR/probe/pid")" 2>/dev/null
	tap_dump_logs "$DIR" 2 40
	cluster_cleanup
}
trap cleanup EXIT

# the wrapped bin_dir
mkdir -p "$DIR/bin" "$DIR/probe"
chmod 777 "$DIR/probe"
for f in "$PG_BIN_DIR"/*; do ln -s "$f" "$DIR/bin/$(basename "$f")"; done
rm "$DIR/bin/pg_rewind"
cat >"$DIR/bin/pg_rewind" <<EOF
#!/bin/bash
if [ -e "$DIR/probe/slow" ]; then
	[ -e "$DIR/probe/touch" ] && echo "pg_rewind: rewinding from last common checkpoint at 0/0 on timeline 1 (test wrapper)" >&2
	echo \$\$ >"$DIR/probe/pid"
	sleep 120
fi
exec "$PG_BIN_DIR/pg_rewind" "\$@"
EOF
chmod 755 "$DIR/bin/pg_rewind"

cluster_init "$DIR" 2 fast
for i in 1 2; do sed -i "s|^  bin_dir: .*|  bin_dir: $DIR/bin|" "$DIR/node$i/pgwarden.yml"; done
cluster_start_etcd || exit 1
cluster_start_node 1
check "node1 is primary" test "$(cluster_wait_primary 90)" = 1
cluster_start_node 2
check "node2 replicates" cluster_wait_replicas 90 1

wrapper_running() { [ -s "$DIR/probe/pid" ] && kill -0 "$(cat "$DIR/probe/pid")" 2>/dev/null; }
log_has() { grep -q -- "$2" "$DIR/node$1/pgwarden.log"; }
is_replica() { [ "$(cluster_status "$1" /replica)" = 200 ]; }

# fail_over OLD NEW: crash OLD's node, wait for NEW to be primary, write a row
fail_over() {
	local old=$1 new=$2
	cluster_psql "$old" "CREATE TABLE IF NOT EXISTS t (x text); INSERT INTO t VALUES ('before-$old')" >/dev/null
	cluster_kill_node "$old" KILL all
	check "node$new takes over from node$old" test "$(cluster_wait_primary 60 "$old")" = "$new"
	cluster_psql "$new" "INSERT INTO t VALUES ('after-$old')" >/dev/null
}

# interrupt NODE: restart NODE's daemon with the slow wrapper, stop it
# while the wrapper runs
interrupt() {
	local n=$1 wpid lines
	rm -f "$DIR/probe/pid"
	touch "$DIR/probe/slow"
	lines=$(wc -l <"$DIR/node$n/pgwarden.log")
	cluster_start_node "$n"
	check "node$n: pg_rewind started" wait_for 60 wrapper_running
	wpid=$(cat "$DIR/probe/pid")
	check "node$n: the rewind marker is written" test -e "$DIR/node$n/data.rewind-incomplete"
	echo "# fds of pg_rewind: $(ls -l "/proc/$wpid/fd" 2>/dev/null | awk 'NR>1{print $NF}' | tr '\n' ' ')"
	check "node$n: pg_rewind holds no socket of the daemon" \
		test "$(ls -l "/proc/$wpid/fd" 2>/dev/null | grep -c socket)" = 0
	kill -TERM "${CL_PID[$n]}"
	stopped() { ! kill -0 "${CL_PID[$n]}" 2>/dev/null; }
	# the cancel grace is 5 s; cluster_stop_node would SIGKILL at 15 s
	check "node$n: SIGTERM during pg_rewind ends the daemon" wait_for 12 stopped
	cluster_stop_node "$n"
	check "node$n: the running program was canceled" \
		sh -c "tail -n +$((lines + 1)) '$DIR/node$n/pgwarden.log' | grep -q 'event=pg.exec.cancel'"
	check "node$n: the daemon stopped by itself" \
		sh -c "tail -n +$((lines + 1)) '$DIR/node$n/pgwarden.log' | grep -q 'event=daemon.stopped'"
	check "node$n: pg_rewind is gone" sh -c "! kill -0 $wpid 2>/dev/null"
	rm -f "$DIR/probe/slow"
}

# ---- A. interrupted before any file changed ------------------------------
fail_over 1 2
interrupt 1
check "A: the marker is cleared (nothing was touched)" test ! -e "$DIR/node1/data.rewind-incomplete"
lines=$(wc -l <"$DIR/node1/pgwarden.log")
cluster_start_node 1
check "A: node1 rejoins as a replica" wait_for 120 is_replica 1
check "A: node1 was rewound, not re-cloned" \
	sh -c "tail -n +$((lines + 1)) '$DIR/node1/pgwarden.log' | grep -q 'event=pg.rewound' && ! tail -n +$((lines + 1)) '$DIR/node1/pgwarden.log' | grep -q 'event=clone.start'"

# ---- B. interrupted after pg_rewind began to change files ----------------
fail_over 2 1
touch "$DIR/probe/touch"
interrupt 2
check "B: the marker stays" test -e "$DIR/node2/data.rewind-incomplete"
lines=$(wc -l <"$DIR/node2/pgwarden.log")
cluster_start_node 2
check "B: node2 rejoins as a replica" wait_for 120 is_replica 2
check "B: the restarted daemon listens (its REST port was free)" sh -c "! tail -n +$((lines + 1)) '$DIR/node2/pgwarden.log' | grep -q 'could not listen'"
check "B: node2 re-cloned (rule diverged-reinit)" sh -c "tail -n +$((lines + 1)) '$DIR/node2/pgwarden.log' | grep -q 'rule=diverged-reinit'"
check "B: node2 did not run pg_rewind again" sh -c "! tail -n +$((lines + 1)) '$DIR/node2/pgwarden.log' | grep -q 'rewind.start'"
check "B: the marker is gone after the re-clone" test ! -e "$DIR/node2/data.rewind-incomplete"
has_rows() { [ "$(cluster_psql 2 "SELECT count(*) FROM t WHERE x IN ('after-1', 'after-2')" 2>/dev/null)" = 2 ]; }
check "B: node2 holds the rows written after both failovers" wait_for 30 has_rows

tap_finish
