#!/usr/bin/env bash
# test_backup_failover.sh (issue 15, "a failover in the middle of a
# backup"): a full backup runs on a replica (slowed by gzip so that it
# lasts); (1) a switchover to that very replica promotes it: the backup is
# aborted ("source replica was promoted"), the lock released, the leader
# retries and the retry succeeds; (2) the primary's node crashes during the
# next backup: the runner aborts ("the primary changed" or its lock went),
# and again the retry succeeds. Afterwards the catalog is consistent: it
# lists exactly pgBackRest's backups, each pgwarden one with its node and
# fencing token, tokens growing, no lock left, and pgBackRest's verify
# finds no invalid file.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-failover.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable "  compress_type: gz
  max_retries: 3"
trap 'tap_dump_logs "$dir" 3 40; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "two replicas stream" cluster_wait_replicas 90 2
check "the stanza exists" wait_for 60 bk_stanza_ready
PGPASSWORD=pgw-super /usr/lib/postgresql/15/bin/pgbench -h 127.0.0.1 -p "${CL_PG_PORT[$p]}" \
	-U postgres -i -s 15 -q postgres >/dev/null 2>&1
ok "pgbench data (scale 15) for a backup that lasts"

leader_num() { local l; l=$(cluster_key leader); echo "${l#node}"; }
running_with_files() {
	local lock label_dirs
	lock=$(bk_key lock)
	[ -n "$lock" ] || return 1
	label_dirs=$(find "$BK_REPO/backup/demo" -maxdepth 1 -name '2*' -newer "$dir/mark" 2>/dev/null | head -1)
	[ -n "$label_dirs" ] && [ -n "$(find "$label_dirs" -name '*.gz' | head -1)" ]
}
settled_ok() {
	[ "$(bk_attempt status)" = ok ] && [ -z "$(bk_key lock)" ] && [ -z "$(bk_key request)" ]
}
# the aborted state lasts only until the retry is claimed: the durable
# evidence is the runner's log and the retry's request_reason
aborted_logged() { cat "$dir"/node*/pgwarden.log | grep -E "event=backup.(aborted|failed) .*id=$1 " | grepq -q "$2"; }
retried_ok() {
	settled_ok && bk_attempt request_reason | grepq -q "retry [0-9] of $1 (aborted)"
}

# ---- 1. the runner is promoted by a switchover ----------------------------------
touch "$dir/mark"
sleep 1
out=$(cluster_ctl backup --type full --no-wait 2>&1)
id1=$(bk_demand_id "$out")
check "a full backup starts on a replica and copies files ($out)" wait_for 60 running_with_files
runner=$(bk_key lock | jq -r .node)
check "the runner $runner is a replica" test "$runner" != "$(cluster_key leader)"
out=$(cluster_ctl switchover --candidate "$runner" --force 2>&1)
check "switchover to the runner $runner" wait_for 60 cluster_key_is leader "$runner"
check "the backup is aborted: the source replica was promoted" wait_for 60 aborted_logged "$id1" "promoted"
echo "# $(cat "$dir"/node*/pgwarden.log | grep -oE "event=backup.aborted .*id=$id1 .*" | head -1)"
check "the leader retries the aborted backup and the retry succeeds" wait_for 240 retried_ok "$id1"
echo "# retry: $(bk_key attempt | jq -c '{id, status, node, source_role, request_reason}')"
check "no lock is left" test -z "$(bk_key lock)"
check "the old leader follows again" wait_for 90 cluster_has_replicas 2

# ---- 2. the primary's node crashes mid-backup ------------------------------------
touch "$dir/mark"
sleep 1
out=$(cluster_ctl backup --type full --no-wait 2>&1)
id2=$(bk_demand_id "$out")
check "a second full backup runs ($out)" wait_for 60 running_with_files
runner=$(bk_key lock | jq -r .node)
p=$(leader_num)
cluster_kill_node "$p" KILL all
leader_moved_from() { local l; l=$(cluster_key leader); [ -n "$l" ] && [ "$l" != "$1" ]; }
check "a failover follows the node crash" wait_for 60 leader_moved_from "node$p"
check "the interrupted backup is aborted (the primary changed, or its runner died with it)" \
	wait_for 90 sh -c "grep -qE 'event=backup.aborted .*id=$id2 ' $dir/node*/pgwarden.log"
echo "# $(cat "$dir"/node*/pgwarden.log | grep -oE "event=backup.aborted .*id=$id2 .*" | head -1)"
check "the retry succeeds with the node down" wait_for 240 retried_ok "$id2"
cluster_start_node "$p"
check "the crashed node rejoins" wait_for 120 cluster_has_replicas 2

# ---- the catalog is consistent --------------------------------------------------
l=$(leader_num)
catalog_fresh() {
	local a b
	a=$(bk_pgbackrest "$l" info --output=json 2>/dev/null | jq -r '[.[0].backup[].label] | join(",")')
	b=$(bk_key catalog | jq -r '[.backups[].label] | join(",")')
	[ -n "$a" ] && [ "$a" = "$b" ]
}
check "the catalog lists exactly pgBackRest's backups" wait_for 90 catalog_fresh
cat=$(bk_key catalog)
echo "# catalog: $(jq -c '[.backups[] | {label, node, source_role, token}]' <<<"$cat")"
check "two backups, both taken by pgwarden with a node and a token" \
	test "$(jq '[.backups[] | select(.token > 0 and .node != "")] | length' <<<"$cat")" = 2
check "the fencing tokens grow" test "$(jq '[.backups[].token] | . == sort' <<<"$cat")" = true
check "the aborted attempts left no backup of their own" \
	test "$(jq '.backups | length' <<<"$cat")" = 2
out=$(bk_pgbackrest "$l" verify --log-level-console=detail 2>&1)
check "pgBackRest verify: no invalid file" test -z "$(grep 'status: error' <<<"$out")"
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
