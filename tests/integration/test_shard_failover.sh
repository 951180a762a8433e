#!/usr/bin/env bash
# test_shard_failover.sh: online moves survive a failover of either group
# (three HA groups of two nodes, synchronous mode, shard_groups.sh), under
# a writer that records every acknowledged row. Each move is stopped at a
# phase (--stop-after, the state stays in etcd), the group's primary is
# killed with its PostgreSQL (a node crash), its replica takes over, the
# old node comes back as a replica, and `move --resume` finishes the move
# against the new primaries:
#   1. the source's primary dies during the copy phase
#   2. the source's primary dies while the range is frozen
#   3. the target's primary dies during the copy phase
# and two more with the driver running on (--hold waits at a phase and then
# continues, so the crash is found by the running driver's own checks):
#   4. the source's primary dies during the copy
#   5. the source's primary dies while the range is frozen
# PgBouncer's per-group database follows the source's new primary.
# Then: 0 acknowledged rows lost, 0 duplicated, every moved row only on its
# target, and each resumed move restarted its copy (copies = 2).
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$here/shard_groups.sh"

DIR=$(mktemp -d /tmp/pgw-it-shardfo-XXXXXX)
cleanup() {
	sg_writer_stop
	rs_stop_all
	tap_dump_logs "$DIR" 6 30
	cluster_cleanup
}
trap cleanup EXIT
shard_rc() {
	local want=$1 out=$2
	shift 2
	sg_ctl shard "$@" >"$out" 2>&1
	local rc=$?
	cat "$out" | sed 's/^/#   /'
	[ "$rc" = "$want" ]
}
move_field() { cluster_key "shards/moves/$1" | jq -r ".$2"; }

# crash G [norejoin]: kill group G's primary with its PostgreSQL, wait for
# the other node to take over, bring the old node back as a replica (and
# wait for it, unless norejoin)
crash() {
	local g=$1 old new t0
	wait_for 30 sg_sync_ready "$g" || echo "# group $g: no sync standby before the crash"
	old=$(sg_primary "$g")
	t0=$(now_ms)
	cluster_kill_node "$old" KILL all
	wait_for 60 sg_primary_not "$g" "$old" || return 1
	new=$(sg_primary "$g")
	echo "# group $g: node$old crashed, node$new primary after $(($(now_ms) - t0)) ms"
	cluster_start_node "$old"
	[ "${2:-}" = norejoin ] && return 0	# no later crash needs it back
	wait_for 120 sg_group_has_replica "$g" || return 1
	return 0
}

check "three groups of two nodes up" sg_setup "$DIR"
check "PgBouncer with a pgwarden-router per group" sg_routers_start
check "  ... app_g1_rw reaches group 1's primary" wait_for 30 sg_pgb_routes 1
check "init" shard_rc 0 "$DIR/o" init --groups 1,2,3
check "sharded table on every group" sg_create_table
check "table add" shard_rc 0 "$DIR/o" table add events user_id
sg_writer_start "$DIR/acked" 0-299 4
check "writer acknowledges rows" wait_for 30 sg_acks_above "$DIR/acked" 1000

# ---- 1. the source fails over during the copy --------------------------------
check "move 0-99 to group 2 stopped in the copy phase" shard_rc 0 "$DIR/o" move 0-99 --to 2 --id fo1 --stop-after copying
check "  ... recorded as copying" test "$(move_field fo1 phase)" = copying
check "source (group 1) primary crashes, its replica takes over" crash 1
check "PgBouncer's app_g1_rw follows group 1's new primary" wait_for 30 sg_pgb_routes 1
check "the move resumes against the new primary and completes" shard_rc 0 "$DIR/o" move --resume fo1 --grace 1s
check "  ... the copy restarted once" test "$(move_field fo1 copies)" = 2
check "  ... slots 0-99 serve on group 2" test "$(cluster_key shards | jq -r '.ranges[] | select(.from == 0) | .group')" = 2

# ---- 2. the source fails over while the range is frozen ----------------------
check "move 100-199 to group 3 stopped while frozen" shard_rc 0 "$DIR/o" move 100-199 --to 3 --id fo2 --stop-after frozen
check "  ... the map has 100-199 frozen" test "$(cluster_key shards | jq -r '.ranges[] | select(.from == 100) | .state')" = frozen
check "source (group 1) primary crashes again" crash 1
check "the frozen move resumes and completes" shard_rc 0 "$DIR/o" move --resume fo2 --grace 1s
check "  ... the copy restarted once" test "$(move_field fo2 copies)" = 2
check "  ... slots 100-199 serve on group 3" test "$(cluster_key shards | jq -r '.ranges[] | select(.from == 100) | .group')" = 3

# ---- 3. the target fails over during the copy --------------------------------
check "move 200-299 to group 2 stopped in the copy phase" shard_rc 0 "$DIR/o" move 200-299 --to 2 --id fo3 --stop-after copying
check "target (group 2) primary crashes" crash 2 norejoin
check "the move resumes against the target's new primary and completes" shard_rc 0 "$DIR/o" move --resume fo3 --grace 1s
check "  ... the copy restarted once" test "$(move_field fo3 copies)" = 2

# ---- 4-5. a failover while the driver runs ---------------------------------
# the driver holds at a phase (--hold) and goes on by itself: the crash is
# found by its next step, not by a --resume
move_phase_is() { [ "$(move_field "$1" phase 2>/dev/null)" = "$2" ]; }
held_crash() {
	local id=$1 phase=$2 group=$3 range=$4 to=$5 pid
	sg_ctl shard move "$range" --to "$to" --id "$id" --grace 1s --hold "$phase=10s" >"$DIR/$id.out" 2>&1 &
	pid=$!
	wait_for 60 move_phase_is "$id" "$phase" || { echo "# $id never reached $phase"; kill "$pid"; return 1; }
	crash "$group" norejoin || { wait "$pid"; return 1; }
	wait "$pid"
	local rc=$?
	sed 's/^/#   /' "$DIR/$id.out"
	return $rc
}
check "move 2730-2829 from group 3 to group 1: group 3's primary crashes while the driver runs the copy" held_crash fo4 copying 3 2730-2829 1
check "  ... the move completed in the same run, the copy restarted once" test "$(move_field fo4 phase) $(move_field fo4 copies)" = "done 2"
check "move 300-399 from group 1 to group 3: group 1's primary crashes while the driver holds the range frozen" held_crash fo5 frozen 1 300-399 3
check "  ... the move completed in the same run, the copy restarted once" test "$(move_field fo5 phase) $(move_field fo5 copies)" = "done 2"

sleep 2
sg_writer_stop
echo "# $(cat "$DIR/acked.out")"
sg_dump "$DIR/dump"
res=$(sg_check "$DIR/acked" "$DIR/dump")
echo "# $res"
check "five moves with five crashes: 0 acknowledged rows lost" grep -q 'lost=0 ' <<<"$res"
check "  ... 0 rows duplicated" grep -q 'dup=0 ' <<<"$res"
check "no row of 0-299 left on group 1" test "$(sg_range_rows 1 0 299)" = 0
check "no row of 100-199 on group 2" test "$(sg_range_rows 2 100 199)" = 0
check "no row of 0-99 or 200-299 on group 3" test "$(($(sg_range_rows 3 0 99) + $(sg_range_rows 3 200 299)))" = 0
check "no row of 2730-2829 left on group 3" test "$(sg_range_rows 3 2730 2829)" = 0
check "no row of 300-399 left on group 1" test "$(sg_range_rows 1 300 399)" = 0
for r in "0 99 2" "100 199 3" "200 299 2" "2730 2829 1" "300 399 3"; do
	set -- $r
	on=$(sg_range_rows "$3" "$1" "$2")
	acked=$(sg_acked_in_range "$DIR/acked" "$1" "$2")
	check "every acknowledged row of slots $1-$2 is on group $3 ($on rows, $acked acknowledged)" test "$on" = "$acked" -a "$on" -gt 0
done
for id in fo1 fo2 fo3 fo4 fo5; do
	echo "# move $id: frozen $(cluster_key shards/moves/$id | jq '.flipped_at - .frozen_at') ms, copies $(move_field $id copies)"
done
check "no daemon log holds a sanitizer report" cluster_sanitizer_clean
tap_finish
