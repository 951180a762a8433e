#!/usr/bin/env bash
# test_shard_move.sh: sharding by user id on real PostgreSQL 15 and etcd:
# one scope, three HA groups of two nodes (shard_groups.sh). Scenarios:
#   1. `list` shows every group, `--group 2` one; PgBouncer exposes one
#      read-write and one read-only database per group (a pgwarden-router
#      with `group:` each)
#   2. refusals first, each leaving the map as it was: init naming a group
#      that does not exist, a group twice, a bad slot count, a second init,
#      a table without a primary key on the user id, a user id that is not
#      an integer, a map with a gap written into etcd by hand (readers keep
#      the last good map)
#   3. lookups: the C slot function equals PostgreSQL's, the group is the
#      map's; GET /shards on the REST API; a map change reaches a watching
#      client within 2 s
#   4. under a writer (10,000 users, every acknowledged row recorded):
#      a move to a group that does not exist, to a group without a leader,
#      to a group whose table lost its guard trigger, and a second move
#      overlapping one in progress are refused; then the move of slots
#      0-99 from group 1 to group 3 completes: 0 acknowledged rows lost,
#      0 duplicated, the moved rows only on group 3, the write pause of the
#      moved range measured; a second move, stopped in its copy, is
#      aborted: the range serves on group 1 again, nothing left on group 2
#   5. a client with the old map writes to group 1 and is refused with
#      SQLSTATE PW001 naming the map version; after a lookup it writes to
#      group 3
#   5b. a group's leader puts its slot_owner table back to the map's
#      ranges after it was set back by hand (the leader duty); an assign
#      (which moves no data) of a range that has rows is refused
#   6. a split moves the upper half of group 2's range to group 1
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$here/shard_groups.sh"

DIR=$(mktemp -d /tmp/pgw-it-shard-XXXXXX)
FOLLOW_PID=""
cleanup() {
	sg_writer_stop
	[ -n "$FOLLOW_PID" ] && kill "$FOLLOW_PID" 2>/dev/null
	rs_stop_all
	if [ $failures -gt 0 ]; then
		for f in "$DIR"/route/r-g*.log "$DIR"/route/pgbouncer.log; do
			echo "---- $f (tail)"
			tail -n 15 "$f" 2>/dev/null
		done
	fi
	tap_dump_logs "$DIR" 6 20
	cluster_cleanup
}
trap cleanup EXIT
map_version() { cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/shards" | jq -r '.version // 0'; }
# shard_rc EXPECTED_RC OUTFILE ARGS...: run pgwardenctl shard, 0 when its exit code is EXPECTED_RC
shard_rc() {
	local want=$1 out=$2
	shift 2
	sg_ctl shard "$@" >"$out" 2>&1
	local rc=$?
	[ "$rc" = "$want" ] || { echo "# shard $*: exit $rc, wanted $want:"; sed 's/^/#   /' "$out"; }
	[ "$rc" = "$want" ]
}

check "three groups of two nodes up" sg_setup "$DIR"
for g in 1 2 3; do check "group $g: sync standby named" wait_for 30 sg_sync_ready "$g"; done

check "PgBouncer with a pgwarden-router per group" sg_routers_start
for g in 1 2 3; do
	check "PgBouncer: app_g${g}_rw reaches group $g's primary, app_g${g}_ro its replica" wait_for 30 sg_pgb_routes "$g"
done

# ---- 1. list ----------------------------------------------------------------
cluster_ctl list >"$DIR/list.txt" 2>&1
check "list shows three groups" test "$(grep -c '^+ Cluster: demo group' "$DIR/list.txt")" = 3
cluster_ctl --group 2 list >"$DIR/list2.txt" 2>&1
check "list --group 2 shows node3 and node4 only" \
	bash -c "grep -q node3 '$DIR/list2.txt' && grep -q node4 '$DIR/list2.txt' && ! grep -q node1 '$DIR/list2.txt'"

# ---- 2. refusals before and at init -----------------------------------------
check "init naming group 9 (does not exist) is refused" shard_rc 1 "$DIR/o" init --groups 1,2,9
check "  ... naming it" grep -q 'group 9 does not exist' "$DIR/o"
check "  ... and no map was written" test -z "$(cluster_key shards)"
check "init with a group twice is refused" shard_rc 1 "$DIR/o" init --groups 1,1
check "init with 1000 slots (not a power of two) is a usage error" shard_rc 2 "$DIR/o" init --groups 1,2,3 --slots 1000
check "init --groups 1,2,3" shard_rc 0 "$DIR/o" init --groups 1,2,3
check "  ... map version 1" test "$(map_version)" = 1
check "a second init is refused" shard_rc 1 "$DIR/o" init --groups 1,2,3
check "  ... the map is still version 1" test "$(map_version)" = 1
check "sharded table created on every group" sg_create_table
for g in 1 2 3; do sg_psql "$g" "CREATE TABLE nopk (user_id bigint, x int)" >/dev/null; done
check "table add of a table without a primary key on the user id is refused" shard_rc 1 "$DIR/o" table add nopk user_id
check "  ... naming the reason" grep -q 'primary key must hold' "$DIR/o"
check "  ... the map is still version 1" test "$(map_version)" = 1
check "table add events user_id" shard_rc 0 "$DIR/o" table add events user_id
check "  ... map version 2, table listed" test "$(cluster_key shards | jq -r '.version, .tables[0].table' | tr '\n' ' ')" = "2 public.events "
check "lookup of a user id that is not an integer is a usage error" shard_rc 2 "$DIR/o" lookup 12abc
check "  ... saying so" grep -q 'is not an integer' "$DIR/o"

# ---- 3. lookups ---------------------------------------------------------------
lookups_agree() {
	local uid out slot sql_slot group want
	for uid in 42 0 -1 1234567 9223372036854775807 -9223372036854775808; do
		out=$(sg_ctl shard lookup "$uid" --format json 2>&1) || { echo "# lookup $uid: $out"; return 1; }
		slot=$(jq -r .slot <<<"$out")
		group=$(jq -r .group <<<"$out")
		sql_slot=$(sg_psql 1 "SELECT hashint8extended('$uid'::bigint, 0) & 4095")
		want=$(cluster_key shards | jq -r --argjson s "$slot" '.ranges[] | select(.from <= $s and .to >= $s) | .group')
		echo "# user $uid: slot $slot (SQL $sql_slot), group $group (map $want), rw $(jq -c .rw <<<"$out")"
		[ "$slot" = "$sql_slot" ] && [ "$group" = "$want" ] && [ "$(jq -r .rw.name <<<"$out")" != null ] || return 1
	done
}
check "lookup: C slot = PostgreSQL's hashint8extended & 4095, group = the map's" lookups_agree

# GET /shards on any node's REST API (node 4 is a replica of group 2)
rest=$(curl -s -m 5 "http://127.0.0.1:${CL_API_PORT[4]}/shards")
check "GET /shards serves the map with every group's endpoints" \
	test "$(jq -r '.version, (.groups | keys | join(",")), (.groups["3"].rw.name)' <<<"$rest" | tr '\n' ' ')" = "2 1,2,3 node5 "
rest=$(curl -s -m 5 "http://127.0.0.1:${CL_API_PORT[4]}/shards?user_id=42")
check "GET /shards?user_id=42 answers as shard lookup does" \
	test "$(jq -c . <<<"$rest")" = "$(sg_ctl shard lookup 42 --format json | jq -c .)"
check "GET /shards?user_id=abc is a 400 naming the problem" \
	test "$(curl -s -m 5 -o "$DIR/r400" -w '%{http_code}' "http://127.0.0.1:${CL_API_PORT[4]}/shards?user_id=abc")" = 400
check "  ... saying so" grep -q 'is not an integer' "$DIR/r400"

"$SG_WRITER" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope "$CL_SCOPE" --duration-s 600 follow >"$DIR/follow.txt" 2>&1 &
FOLLOW_PID=$!
check "a watching client is up" wait_for 10 grep -q '^version 2 ' "$DIR/follow.txt"
t0=$(now_ms)
check "assign 4090-4095 (empty) to group 1" shard_rc 0 "$DIR/o" assign 4090-4095 1
seen=$(awk '$1 == "version" && $2 == 3 {print $6}' "$DIR/follow.txt")
wait_for 5 grep -q '^version 3 ' "$DIR/follow.txt"
seen=$(awk '$1 == "version" && $2 == 3 {print $6}' "$DIR/follow.txt")
echo "# the watching client had version 3 $((seen - t0)) ms after the assign began"
check "a watching client follows a map change within 2 s" test -n "$seen" -a "$((seen - t0))" -lt 2000

good=$(cluster_key shards)
gapped=$(jq -c '.version = 50 | .ranges[0].to = 100' <<<"$good")
cluster_etcdctl put "/service/$CL_SCOPE/shards" "$gapped" >/dev/null
check "a map with a gap (written by hand) is refused by pgwardenctl" shard_rc 1 "$DIR/o" show
check "  ... naming the gap" grep -q 'gap: slots 101' "$DIR/o"
sleep 1
check "  ... and the watching client keeps the last good map" bash -c "! grep -q '^version 50 ' '$DIR/follow.txt'"
overlap=$(jq -c '.version = 51 | .ranges[1].from = 1000' <<<"$good")
cluster_etcdctl put "/service/$CL_SCOPE/shards" "$overlap" >/dev/null
check "a map with an overlap is refused" shard_rc 1 "$DIR/o" show
check "  ... naming the overlap" grep -q 'overlap' "$DIR/o"
cluster_etcdctl put "/service/$CL_SCOPE/shards" "$(jq -c '.version = 52' <<<"$good")" >/dev/null
check "the restored map (version 52) reaches the client" wait_for 5 grep -q '^version 52 ' "$DIR/follow.txt"
kill "$FOLLOW_PID" 2>/dev/null
FOLLOW_PID=""

# ---- 4. a move under a writer -------------------------------------------------
sg_writer_start "$DIR/acked" 0-99 4
check "writer acknowledges rows" wait_for 30 sg_acks_above "$DIR/acked" 1000
v=$(map_version)
check "move to group 9 (does not exist) is refused" shard_rc 1 "$DIR/o" move 0-99 --to 9
check "  ... naming it" grep -q 'group 9 does not exist' "$DIR/o"
cluster_etcdctl put "/service/$CL_SCOPE/7/initialize" "1234" >/dev/null
check "move to group 7 (no leader) is refused" shard_rc 1 "$DIR/o" move 0-99 --to 7
check "  ... naming it" grep -q 'group 7 has no serving primary' "$DIR/o"
sg_psql 2 "DROP TRIGGER pgwarden_slot_guard ON events" >/dev/null
check "move to group 2, whose events lost its guard trigger, is refused" shard_rc 1 "$DIR/o" move 0-99 --to 2
check "  ... naming the table" grep -q 'public.events on .* has no slot constraint' "$DIR/o"
check "  ... the map is as it was" test "$(map_version)" = "$v"
check "shard install puts the guard back" shard_rc 0 "$DIR/o" install
check "move 0-99 to group 3, stopped once copying" shard_rc 0 "$DIR/o" move 0-99 --to 3 --id ma --stop-after copying
check "  ... the map marks 0-99 moving" test "$(cluster_key shards | jq -r '.ranges[0].state + " " + .ranges[0].move')" = "moving ma"
v=$(map_version)
check "an overlapping move (50-150) is refused" shard_rc 1 "$DIR/o" move 50-150 --to 2
check "  ... naming the move in progress" grep -q 'already in move "ma"' "$DIR/o"
check "  ... the map is as it was" test "$(map_version)" = "$v"
check "the move resumes and completes" shard_rc 0 "$DIR/o" move --resume ma --grace 1s
cat "$DIR/o"
check "  ... slots 0-99 serve on group 3" test "$(cluster_key shards | jq -r '.ranges[] | select(.from == 0) | "\(.group) \(.state)"')" = "3 serving"
check "  ... the record says done" test "$(cluster_key shards/moves/ma | jq -r .phase)" = done
check "move 700-799 to group 2, stopped once copying" shard_rc 0 "$DIR/o" move 700-799 --to 2 --id mb --stop-after copying
copied_700() { [ "$(sg_range_rows 2 700 799)" -gt 0 ]; }
check "  ... group 2 has copied rows of 700-799" wait_for 20 copied_700
check "move --abort undoes it" shard_rc 0 "$DIR/o" move --abort mb
check "  ... 700-799 serve on group 1 again" test "$(cluster_key shards | jq -r '[.ranges[] | select(.from <= 700 and .to >= 799) | "\(.group) \(.state)"] | .[0]')" = "1 serving"
check "  ... the record says aborted" test "$(cluster_key shards/moves/mb | jq -r .phase)" = aborted
check "  ... no copied row of 700-799 left on group 2" test "$(sg_range_rows 2 700 799)" = 0
check "  ... the replication is gone" test "$(sg_psql 1 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgw_move_%'")$(sg_psql 2 "SELECT count(*) FROM pg_subscription")" = 00
sleep 3
sg_writer_stop
echo "# $(cat "$DIR/acked.out")"
sg_dump "$DIR/dump"
res=$(sg_check "$DIR/acked" "$DIR/dump")
echo "# $res"
check "move under the writer: 0 acknowledged rows lost" grep -q 'lost=0 ' <<<"$res"
check "move under the writer: 0 rows duplicated" grep -q 'dup=0 ' <<<"$res"
check "  ... the writer wrote to the moved range after the move" test "$(awk '$3 == 3' "$DIR/acked" | wc -l)" -gt 0
check "the moved rows are gone from group 1" test "$(sg_range_rows 1 0 99)" = 0
on3=$(sg_range_rows 3 0 99)
acked_in=$(sg_acked_in_range "$DIR/acked" 0 99)
check "every acknowledged row of slots 0-99 is on group 3 ($on3 rows, $acked_in acknowledged)" test "$on3" = "$acked_in" -a "$on3" -gt 0
pause=$(sg_pause_ms "$DIR/acked" 0 99)
frozen=$(cluster_key shards/moves/ma | jq '.flipped_at - .frozen_at')
echo "# write pause of the moved range: ${pause} ms longest write (the map was frozen ${frozen} ms)"
check "the write pause was measured" test -n "$pause"

# ---- 5. a client with the old map --------------------------------------------
uid=$(sg_psql 1 "SELECT u FROM generate_series(1, 100000) u WHERE (hashint8extended(u::bigint, 0) & 4095) BETWEEN 0 AND 99 LIMIT 1")
p1=$(sg_primary 1)
out=$(PGPASSWORD=pgw-super psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$p1]}" -U postgres -d postgres \
	-v VERBOSITY=verbose -c "\\set VERBOSITY verbose" -c "INSERT INTO events VALUES ($uid, 1, 'stale')" 2>&1)
echo "# $out" | head -2
check "an old-map write to group 1 is refused with SQLSTATE PW001" grep -q 'PW001' <<<"$out"
check "  ... naming the map version group 1 holds" grep -q "at shard map version $(map_version)" <<<"$out"
g=$(sg_ctl shard lookup "$uid" --format json | jq -r .group)
check "after a lookup (group $g) the write succeeds there" sg_psql "$g" "INSERT INTO events VALUES ($uid, 1, 'fresh')"

# ---- 5b. the leader keeps its group's owned slots -----------------------------
sg_psql 2 "UPDATE pgwarden.shard_state SET map_version = 1; DELETE FROM pgwarden.slot_owner" >/dev/null
owner_repaired() {
	[ "$(sg_psql 2 "SELECT map_version FROM pgwarden.shard_state")" = "$(map_version)" ] &&
		[ "$(sg_psql 2 "SELECT count(*) FROM pgwarden.slot_owner")" -gt 0 ]
}
check "group 2's leader restores a slot_owner table set back by hand" wait_for 20 owner_repaired
check "  ... and logs it" grep -q 'event=shard.owner.applied' "$DIR/node$(sg_primary 2)/pgwarden.log"

v=$(map_version)
check "assign of a range that has rows (500-599 on group 1) is refused" shard_rc 1 "$DIR/o" assign 500-599 3
check "  ... naming the rows" grep -q 'group 1 holds [0-9]* rows of slots 500-599' "$DIR/o"
check "  ... the map is as it was" test "$(map_version)" = "$v"

# ---- 6. split -------------------------------------------------------------------
check "split 1365-2729 to group 1 moves 2047-2729" shard_rc 0 "$DIR/o" split 1365-2729 --to 1 --grace 0
check "  ... 2047-2729 serve on group 1" test "$(cluster_key shards | jq -r '.ranges[] | select(.from == 2047) | "\(.to) \(.group)"')" = "2729 1"
check "  ... no row of 2047-2729 left on group 2" test "$(sg_range_rows 2 2047 2729)" = 0
check "  ... and group 1 has them" test "$(sg_range_rows 1 2047 2729)" -gt 0
sg_dump "$DIR/dump2"
res=$(sg_check "$DIR/acked" "$DIR/dump2")
check "after the split: 0 lost, 0 duplicated ($res)" grep -q 'lost=0 dup=0' <<<"$res"
sg_ctl shard show
check "no daemon log holds a sanitizer report" cluster_sanitizer_clean
tap_finish
