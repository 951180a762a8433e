#!/usr/bin/env bash
# test_daemon_rewind_unstartable.sh: a rewound old primary whose PostgreSQL
# will not start is re-cloned, or left stopped for an operator, never
# restarted in a loop (two nodes, fast profile, async, a writer).
# The fault is injected at the one moment that matters: every node's
# bin_dir is a copy of PostgreSQL's (symbolic links) whose pg_rewind runs
# the real one and then, when the test has armed it for that node, puts a
# line PostgreSQL refuses at start into the rewound postgresql.auto.conf
# (a clone from the leader brings the leader's file and starts).
#   A. remove_data_directory_on_rewind_failure on (the default): the
#      primary's node is killed (SIGKILL, every process), the replica is
#      promoted, the old node's daemon restarted: it rewinds, PostgreSQL
#      fails to start twice, pgwarden logs pg.unstartable-after-rewind
#      action=reinit, re-clones (rule diverged-reinit) and the node
#      streams from the new primary; no acknowledged commit is lost
#      beyond the bound
#   B. the same with the setting off (roles swapped): the node logs
#      action=wait-for-operator, rule diverged-no-reinit, and does not
#      start PostgreSQL again for 10 s (counted from its log: before this
#      change it was started again at every turn); the setting turned on,
#      it re-clones and streams
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-rwunstart-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 2 60
	cluster_cleanup
}
trap cleanup EXIT

# the wrapped bin_dir: root's, not writable by others (pgwarden runs it)
BIN=$DIR/pgbin
FLAGS=$DIR/flags
mkdir -p "$BIN" "$FLAGS"
chmod 777 "$FLAGS" # the wrapper runs as the PostgreSQL user and removes its flag
for f in "$PG_BIN_DIR"/*; do ln -s "$f" "$BIN/$(basename "$f")"; done
rm "$BIN/pg_rewind"
cat >"$BIN/pg_rewind" <<EOF
#!/bin/bash
# the real pg_rewind; then, if armed for this node, a bad line at start
"$PG_BIN_DIR/pg_rewind" "\$@" || exit \$?
for a in "\$@"; do
	case "\$a" in --target-pgdata=*) target=\${a#--target-pgdata=} ;; esac
done
node=\$(basename "\$(dirname "\$target")")
if [ -n "\$target" ] && [ -e "$FLAGS/\$node" ]; then
	rm -f "$FLAGS/\$node"
	echo "shared_buffers = 'not-a-size'" >>"\$target/postgresql.auto.conf"
	echo "\$(date +%s%3N) broke \$target" >>"$FLAGS/log"
fi
exit 0
EOF
chmod 755 "$BIN/pg_rewind"
PG_BIN_DIR=$BIN

cluster_init "$DIR" 2 fast
cluster_start_etcd || exit 1
cluster_start_node 1
check "node1 is primary" test "$(cluster_wait_primary 90)" = 1
cluster_start_node 2
check "node2 streams from node1" cluster_wait_replicas 120 1
cluster_start_writer
check "the writer writes" cluster_wait_ack "$(now_ms)" 30
cluster_loss_bound || not_ok "loss bound: $CL_LOSS_WHY"

lines() { wc -l <"$DIR/node$1/pgwarden.log"; }
since() { tail -n +"$(($2 + 1))" "$DIR/node$1/pgwarden.log"; }
# pg_starts I FROM: how many times node I's daemon started PostgreSQL
pg_starts() { since "$1" "$2" | grep -c "event=pg.exec .*bin/postgres -D"; }

# crash_and_break OLD NEW: kill OLD's node, NEW is promoted, arm the
# wrapper for OLD and restart its daemon
crash_and_break() {
	local old=$1 new=$2 got
	# shellcheck disable=SC2046
	kill -KILL $(cluster_node_pids "$old")
	got=$(cluster_wait_primary 30 "$old")
	check "node$old crashed: node$new is promoted" test "$got" = "$new"
	check "the writer writes on node$new" cluster_wait_ack "$(now_ms)" 30
	touch "$FLAGS/node$old"
	FROM=$(lines "$old")
	cluster_start_node "$old"
}

# ---- A ------------------------------------------------------------------
crash_and_break 1 2
check "A: node1 is rewound from node2" wait_for 60 bash -c "tail -n +$((FROM + 1)) '$DIR/node1/pgwarden.log' | grep -q 'event=rewind.start'"
check "A: the wrapper broke the rewound data directory" wait_for 30 test ! -e "$FLAGS/node1"
check "A: pg.unstartable-after-rewind, action=reinit" \
	wait_for 60 bash -c "tail -n +$((FROM + 1)) '$DIR/node1/pgwarden.log' | grep -q 'event=pg.unstartable-after-rewind .*failures=2 action=reinit '"
check "A: re-cloned (rule diverged-reinit, clone.done)" \
	wait_for 60 bash -c "tail -n +$((FROM + 1)) '$DIR/node1/pgwarden.log' | grep 'rule=diverged-reinit' >/dev/null && tail -n +$((FROM + 1)) '$DIR/node1/pgwarden.log' | grep -q 'event=clone.done'"
check "A: node1 streams from node2" cluster_wait_replicas 120 1
n=$(since 1 "$FROM" | sed -n '/event=rewind.start/,/event=pg.unstartable-after-rewind/p' | grep -c "event=pg.exec .*bin/postgres -D")
check "A: PostgreSQL was started twice between the rewind and the verdict (got $n)" test "$n" = 2
miss=$(cluster_missing)
check "A: acknowledged commits lost ${miss:-?} <= $CL_LOSS_BOUND ($CL_LOSS_WHY)" \
	test -n "$miss" -a "${miss:--1}" -ge 0 -a "${miss:-0}" -le "$CL_LOSS_BOUND"

# ---- B ------------------------------------------------------------------
cluster_set_config '.postgresql.remove_data_directory_on_rewind_failure = false'
sleep 2 # every daemon's watch has the new config
crash_and_break 2 1
check "B: pg.unstartable-after-rewind, action=wait-for-operator" \
	wait_for 60 bash -c "tail -n +$((FROM + 1)) '$DIR/node2/pgwarden.log' | grep -q 'event=pg.unstartable-after-rewind .*failures=2 action=wait-for-operator '"
check "B: rule diverged-no-reinit" \
	wait_for 10 bash -c "tail -n +$((FROM + 1)) '$DIR/node2/pgwarden.log' | grep -q 'rule=diverged-no-reinit'"
mark=$(lines 2)
sleep 10
n=$(pg_starts 2 "$mark")
check "B: PostgreSQL not started again in 10 s (got $n starts)" test "$n" = 0
check "B: nor running" bash -c "! pgrep -f '[b]in/postgres -D $DIR/node2/data' >/dev/null"
cluster_set_config '.postgresql.remove_data_directory_on_rewind_failure = true'
check "B: the setting turned on: re-cloned" \
	wait_for 60 bash -c "tail -n +$((mark + 1)) '$DIR/node2/pgwarden.log' | grep -q 'event=clone.done'"
check "B: node2 streams from node1" cluster_wait_replicas 120 1

cluster_stop_writer
tap_finish
