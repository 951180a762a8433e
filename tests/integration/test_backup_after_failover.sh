#!/usr/bin/env bash
# test_backup_after_failover.sh (issue 15, "a new full or differential
# backup is optionally taken after every failover"): backup.after_failover
# is read by the node that becomes leader. Three nodes; failover_priority
# makes node2 (after_failover off) win the first crash and node3
# (after_failover: full) the second. (1) node1's node crashes: node2 leads,
# checks the archive for gaps on the new timeline, and takes no backup.
# (2) node2's node crashes: node3 leads and takes exactly one full backup,
# under the lock (a fencing token), recorded in the catalog by its attempt
# id, whose WAL starts on node3's new timeline; no second one follows.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-afterfo.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable "  allow_primary: true"
echo "  after_failover: full" >>"$dir/node3/pgwarden.yml"
# node1 never a candidate (phase 2 then has node3 alone); in phase 1
# node3's daemon is frozen while node1 fails: the candidate with the most
# WAL wins, whatever its priority, so priorities alone did not steer it
prio=(0 0 3 2)
for i in 1 2 3; do printf 'tags:\n  failover_priority: %d\n' "${prio[$i]}" >>"$dir/node$i/pgwarden.yml"; done
trap 'tap_dump_logs "$dir" 3 40; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
cluster_start_node 1
p=$(cluster_wait_primary 90) && ok "node1 bootstraps: node$p" || { not_ok "no primary"; exit 1; }
cluster_start_node 2
cluster_start_node 3
check "two replicas stream" cluster_wait_replicas 90 2
check "the stanza exists" wait_for 60 bk_stanza_ready
catalog_written() { [ -n "$(bk_key catalog)" ]; }
check "the catalog is mirrored" wait_for 60 catalog_written
check "no backup yet" test "$(bk_catalog_count)" = 0

# the timeline of node I's current WAL (decimal)
tl_of() { local w; w=$(cl_sql "$1" "SELECT pg_walfile_name(pg_current_wal_lsn())"); [ -n "$w" ] && echo $((16#${w:0:8})); }
gap_checked_on() { [ -n "$1" ] && [ "$(bk_key gap | jq -r '.timeline // 0' 2>/dev/null)" = "$1" ]; }
no_backup_activity() {
	[ -z "$(bk_key lock)" ] && [ -z "$(bk_key request)" ] && [ -z "$(bk_key attempt)" ] &&
		[ "$(bk_catalog_count)" = 0 ]
}

# ---- 1. failover to node2 (after_failover off): no backup ------------------------
kill -STOP "${CL_PID[3]}"
cluster_kill_node 1 KILL all
is_primary() { [ "$(cluster_status "$1" /primary)" = 200 ]; }
check "node1's node crashes: node2 leads" wait_for 60 cluster_key_is leader node2
kill -CONT "${CL_PID[3]}"
check "node2 is promoted" wait_for 60 is_primary 2
tl2=$(tl_of 2)
check "node2 runs on a new timeline ($tl2)" test "${tl2:-0}" -ge 2
check "node2 checked the archive for gaps on timeline $tl2" wait_for 60 gap_checked_on "$tl2"
check "after_failover off: no backup requested, locked or run for 20 s" hold_for 20 no_backup_activity
check "node2 logged no after-failover request" \
	test -z "$(grep -E 'after a failover' "$dir/node2/pgwarden.log")"
cluster_start_node 1
check "node1 rejoins" wait_for 120 cluster_has_replicas 2

# ---- 2. failover to node3 (after_failover: full): exactly one backup -------------
before=$(bk_attempt id)
cluster_kill_node 2 KILL all
check "node2's node crashes: node3 leads (node1 has failover_priority 0)" wait_for 60 cluster_key_is leader node3
check "node3 is promoted" wait_for 60 is_primary 3
tl3=$(tl_of 3)
check "node3 runs on a new timeline ($tl3 > $tl2)" test "${tl3:-0}" -gt "$tl2"
fo_done() {
	local id
	id=$(bk_attempt id)
	[ "$(bk_attempt status)" = ok ] && [ "$id" != "$before" ] && grep -q '^failover' <<<"$id" &&
		[ -z "$(bk_key lock)" ]
}
check "node3 requests and completes an after-failover backup" wait_for 180 fo_done
echo "# attempt: $(bk_key attempt | jq -c '{id, type, status, node, source_role, token, request_reason}')"
fid=$(bk_attempt id)
catalog_has_one() { [ "$(bk_catalog_count)" = 1 ] && [ "$(bk_key catalog | jq -r '.backups[0].attempt_id')" = "$fid" ]; }
check "the catalog lists it (attempt $fid)" wait_for 90 catalog_has_one
entry=$(bk_key catalog | jq -c '.backups[0]')
echo "# catalog entry: $entry"
check "it is a full backup" test "$(jq -r .type <<<"$entry")" = full
check "taken under the lock: fencing token $(jq -r .token <<<"$entry") > 0, by $(jq -r .node <<<"$entry")" \
	test "$(jq -r '.token > 0 and .node != ""' <<<"$entry")" = true
check "the token is the attempt's" test "$(jq -r .token <<<"$entry")" = "$(bk_attempt token)"
ws=$(jq -r .wal_start <<<"$entry")
check "its WAL starts on node3's new timeline $tl3 ($ws)" test "$((16#${ws:0:8}))" = "$tl3"
says_why() { bk_attempt request_reason | grepq -q "after a failover"; }
check "the request says why: after a failover" says_why
one_backup_idle() { [ "$(bk_catalog_count)" = 1 ] && [ -z "$(bk_key lock)" ] && [ -z "$(bk_key request)" ]; }
check "exactly one: no second backup follows for 20 s" hold_for 20 one_backup_idle
check "pgBackRest lists exactly one backup" test "$(bk_backup_count 3)" = 1
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
