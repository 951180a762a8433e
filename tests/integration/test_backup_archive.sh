#!/usr/bin/env bash
# test_backup_archive.sh (issue 15, "archive continuity"): a writer commits
# through (1) a switchover, (2) a node crash while archiving is stalled, so
# that the crashed primary leaves WAL the archive never got (the new
# leader's gap check must push it from its own pg_wal), (3) the crashed
# node's return (its .ready WAL is pushed before pg_rewind discards it),
# (4) a PostgreSQL crash on the leader (restarted in place). Afterwards
# pgBackRest's own `verify` finds no gap on any timeline, and a restore to
# `latest` holds exactly the leader's rows: every acknowledged commit that
# survived the failovers was archived.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

WRITER=$PGW_BUILD_DIR/tests/pgw_writer
dir=$(mktemp -d /tmp/pgw-backup-archive.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable
WRITER_PID=""
stall_dir=""
trap '[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null; [ -f "$dir/latest/postmaster.pid" ] && kill -QUIT "$(head -1 "$dir/latest/postmaster.pid")" 2>/dev/null; [ -n "$stall_dir" ] && chmod 750 "$stall_dir"; tap_dump_logs "$dir" 3 50; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "two replicas stream" cluster_wait_replicas 90 2
check "the stanza exists" wait_for 60 bk_stanza_ready
out=$(cluster_ctl backup --type full --timeout 180s 2>&1)
check "a full backup ($out)" grep -q "done: label" <<<"$out"

"$WRITER" --hosts "$(cluster_hosts)" --acked "$dir/acked.txt" --interval-ms 20 --duration-s 600 \
	write >"$dir/writer.out" 2>&1 &
WRITER_PID=$!
acked() { wc -l <"$dir/acked.txt" 2>/dev/null || echo 0; }
acked_over() { [ "$(acked)" -gt "$1" ]; }
check "the writer commits" wait_for 30 acked_over 50
gap_of() { bk_key gap | jq -r "select(.timeline == $1) | .status" 2>/dev/null; }
gap_done() { local s; s=$(gap_of "$1"); [ "$s" = ok ] || [ "$s" = closed ]; }
leader_num() { local l; l=$(cluster_key leader); echo "${l#node}"; }
leader_moved_from() { local l; l=$(cluster_key leader); [ -n "$l" ] && [ "$l" != "$1" ]; }
timeline_of() { cluster_psql "$1" "SELECT timeline_id FROM pg_control_checkpoint()" 2>/dev/null; }
new_tl() {
	local n
	n=$(leader_num)
	[ -n "$n" ] && [ "$(cluster_status "$n" /primary)" = 200 ] &&
		[ "$(cluster_psql "$n" "SELECT pg_is_in_recovery()")" = f ]
}

# ---- 1. switchover -----------------------------------------------------------
old=$(cluster_key leader)
out=$(cluster_ctl switchover --force 2>&1)
check "switchover away from $old ($out)" wait_for 60 leader_moved_from "$old"
check "the new leader runs read-write" wait_for 60 new_tl
p=$(leader_num)
cluster_psql "$p" "CHECKPOINT" >/dev/null
tl=$(timeline_of "$p")
check "after the switchover the gap check passed on timeline $tl ($(bk_key gap))" wait_for 60 gap_done "$tl"
check "the old leader follows again" wait_for 90 cluster_has_replicas 2

# ---- 2. node crash with the archive stalled --------------------------------------
# pgbackrest (run as the PostgreSQL user) cannot write this timeline's
# archive directory: the primary's segments pile up as .ready, the
# replicas receive them, then the primary's node dies
cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
tlhex=$(printf '%08X' "$tl")
tl_dir() { stall_dir=$(find "$BK_REPO/archive/demo" -maxdepth 2 -type d -name "${tlhex}00000000" | head -1); [ -n "$stall_dir" ]; }
check "a segment of timeline $tl is archived" wait_for 60 tl_dir
tl_dir
chmod 500 "$stall_dir"
for k in 1 2 3; do
	sleep 1
	cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
done
sleep 1
ready=$(ls "$dir/node$p/data/pg_wal/archive_status/" 2>/dev/null | grep -c '\.ready$')
check "the primary holds unarchived segments ($ready .ready)" test "$ready" -ge 2
cluster_kill_node "$p" KILL all
old=node$p
# the archive works again before anyone is promoted (ttl 3 s)
chmod 750 "$stall_dir"
stall_dir=""
check "a replica takes over after the node crash" wait_for 60 leader_moved_from "$old"
check "the new leader runs read-write" wait_for 60 new_tl
p2=$(leader_num)
cluster_psql "$p2" "CHECKPOINT" >/dev/null
tl2=$(timeline_of "$p2")
check "the gap check closed the gap on timeline $tl2 ($(bk_key gap))" wait_for 90 gap_done "$tl2"
pushed=$(bk_key gap | jq -r .pushed)
check "the new leader pushed the crashed primary's unarchived segments from its pg_wal ($pushed)" \
	test "${pushed:-0}" -ge 1
echo "# gap check after the node crash: $(bk_key gap)"

# ---- 3. the crashed node returns (its .ready pushed before rewind) ------------
cluster_start_node "${old#node}"
check "the crashed node rejoins as a replica" wait_for 120 cluster_has_replicas 2
grep -q "event=backup.push-ready " "$dir/$old/pgwarden.log" &&
	ok "the returning node pushed its .ready WAL before rewinding ($(grep -o 'event=backup.push-ready-done.*' "$dir/$old/pgwarden.log" | tail -1))" ||
	ok "the returning node had no .ready WAL left to push"

# ---- 4. PostgreSQL crash on the leader --------------------------------------
pm=$(cluster_postmaster_pid "$p2")
kill -KILL "$pm"
pg_back() { [ "$(cluster_status "$p2" /primary)" = 200 ] && [ "$(cluster_postmaster_pid "$p2")" != "$pm" ]; }
check "the leader restarts its crashed PostgreSQL in place" wait_for 60 pg_back
check "the writer commits again" wait_for 30 acked_over "$(($(acked) + 20))"

# ---- the end: everything archived, verified, restorable -----------------------
kill "$WRITER_PID"
wait "$WRITER_PID" 2>/dev/null
WRITER_PID=""
p=$(leader_num)
rows=$(cluster_psql "$p" "SELECT count(*) || ' ' || max(seq) FROM pgw_writes")
last=$(cluster_psql "$p" "SELECT pg_walfile_name(pg_current_wal_lsn())")
cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
archived_last() {
	[ "$(cluster_psql "$p" "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")" = t ]
}
check "the leader archived its last segment $last" wait_for 60 archived_last
out=$(bk_pgbackrest "$p" verify --log-level-console=detail 2>&1)
echo "$out" | grep -E "wal start|status" | sed 's/^/# verify: /'
ranges=$(grep -c "wal start:" <<<"$out")
tls=$(grep -o "wal start: [0-9A-F]\{8\}" <<<"$out" | sort -u | wc -l)
check "pgBackRest verify: one contiguous range per timeline ($ranges ranges, $tls timelines)" \
	test "$ranges" -ge 3 -a "$ranges" = "$tls"
if [ "$ranges" != "$tls" ]; then
	# the evidence a gap needs (seen once under load, not reproduced): what
	# every node's gap check and pushes said, the timelines' switch points,
	# and what the repository holds
	grep -h -E "event=(backup\.(gap|push)|switchover\.(released|done)|promote\.done|pg\.(stop|started) )" \
		"$dir"/node*/pgwarden.log | sort | sed 's/^/# gap evidence: /'
	for h in "$dir"/node*/data/pg_wal/*.history; do
		[ -f "$h" ] && sed "s|^|# $(basename "$h"): |" "$h"
	done
	find "$BK_REPO/archive" -type f -printf '# repo: %P %s\n' 2>/dev/null | sort
	cp -r "$dir" "$dir.kept" 2>/dev/null && echo "# kept $dir.kept"
fi
check "pgBackRest verify: no invalid file" test -z "$(grep 'status: error' <<<"$out")"
sport=$(cl_pick_port)
"$PGWCTL_BIN" -c "$dir/node$p/pgwarden.yml" restore --to latest --into demo3 \
	--data-dir "$dir/latest" --port "$sport" >"$dir/restore.out" 2>&1
check "restore to latest ($(tail -2 "$dir/restore.out" | head -1))" grep -q "^restored backup" "$dir/restore.out"
PGCTL() { runuser -u "$PGW_RUN_AS" -- "$PG_BIN_DIR/pg_ctl" -D "$dir/latest" -l "$dir/latest/startup.log" "$@"; }
PGCTL -w -t 60 -o "-c port=$sport -c listen_addresses= -c unix_socket_directories=$dir/latest -c archive_mode=off" \
	start >/dev/null
rq() { PGPASSWORD=pgw-super psql -X -q -A -t -h "$dir/latest" -p "$sport" -U postgres -d postgres -c "$1" 2>/dev/null; }
restored=$(rq "SELECT count(*) || ' ' || max(seq) FROM pgw_writes")
check "the restored copy holds exactly the leader's rows (leader: $rows; restored: $restored)" \
	test "$restored" = "$rows"
out=$("$WRITER" --hosts "127.0.0.1:${CL_PG_PORT[$p]}" --acked "$dir/acked.txt" --duration-s 30 verify)
echo "# acknowledged commits vs the leader (async failovers may lose some): $out"
PGCTL -w -t 60 -m fast stop >/dev/null
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
