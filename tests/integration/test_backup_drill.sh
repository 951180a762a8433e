#!/usr/bin/env bash
# test_backup_drill.sh (issue 15, "restore drills" and "bad input"): the
# restore drill (`pgwardenctl backup verify`) passes on a good backup,
# reporting its restore time and the recovery point measured with the
# canary row, records it in etcd and /metrics; it fails, clearly and with
# exit code 1, once the repository is damaged on purpose. Bad input:
# an unreachable repository makes the backup fail with pgBackRest's reason
# and the archive report failures; a cluster whose stanza names another
# cluster's repository refuses to archive or back up (system identifiers
# named); a node without the pgbackrest program runs without backups. In
# every case the cluster's HA is unaffected: its leader keeps serving.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-drill.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 2
bk_enable
OPID=""
trap '[ -n "$OPID" ] && kill -KILL "$OPID" 2>/dev/null; pm=$(head -1 "$dir/other/data/postmaster.pid" 2>/dev/null); [ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null; [ -d "$BK_REPO" ] && chmod 750 "$BK_REPO"; tap_dump_logs "$dir" 2 30; [ $failures -gt 0 ] && tail -n 40 "$dir/other/pgwarden.log"; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
for i in 1 2; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "a replica streams" cluster_wait_replicas 90 1
check "the stanza exists" wait_for 60 bk_stanza_ready
cluster_psql "$p" "CREATE TABLE drill AS SELECT g AS id FROM generate_series(1, 10000) g" >/dev/null
out=$(cluster_ctl backup --type full --timeout 180s 2>&1)
check "a full backup ($out)" grep -q "done: label" <<<"$out"
canary_there() { [ -n "$(cluster_psql "$p" "SELECT at FROM pgwarden_canary" 2>/dev/null)" ]; }
check "the leader writes the canary row" wait_for 30 canary_there
cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
sleep 3

# ---- the drill passes on a good repository ---------------------------------------
vport=$(cl_pick_port)
out=$("$PGWCTL_BIN" -c "$dir/node$p/pgwarden.yml" backup verify --dir "$dir/scratch" --port "$vport" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "the drill passes (exit 0)" test "$rc" = 0 -a -n "$(grep 'PASSED' <<<"$out")"
check "it reports the restore time and the recovery point" grep -q "restore + recovery .* s, recovery point 20.* RPO" <<<"$out"
check "the scratch copy is removed" test ! -e "$dir/scratch"
check "the drill is recorded in etcd" test "$(bk_key verify | jq -r .ok)" = true
rpo=$(bk_key verify | jq -r .rpo_ms)
check "the measured recovery point is recent (RPO ${rpo} ms)" test "$rpo" -gt 0 -a "$rpo" -lt 120000
verify_metric() { curl -s "http://127.0.0.1:${CL_API_PORT[$p]}/metrics" | grepq -q "^pgwarden_backup_verify_ok{scope=\"demo\"} $1"; }
check "/metrics: pgwarden_backup_verify_ok 1" wait_for 30 verify_metric 1

# ---- the drill fails on a damaged repository -------------------------------------
f=$(find "$BK_REPO/backup/demo" -path '*pg_data/base/*' -type f -size +8k | head -1)
cp "$f" "$dir/saved-file"
printf 'damaged on purpose' >"$f"
ok "damaged $(basename "$f") in the repository"
out=$("$PGWCTL_BIN" -c "$dir/node$p/pgwarden.yml" backup verify --dir "$dir/scratch" --port "$vport" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "the drill fails (exit 1)" test "$rc" = 1 -a -n "$(grep 'FAILED' <<<"$out")"
check "it says the repository is damaged, naming the file" grep -q "repository damaged.*$(basename "$f")" <<<"$out"
check "the failure is recorded" test "$(bk_key verify | jq -r .ok)" = false
check "/metrics: pgwarden_backup_verify_ok 0" wait_for 30 verify_metric 0
cp "$dir/saved-file" "$f"
chown "$PGW_RUN_AS" "$f"

# ---- an unreachable repository ----------------------------------------------------
chmod 000 "$BK_REPO"
out=$(cluster_ctl backup --type full --timeout 120s 2>&1)
check "a backup into an unreachable repository fails with pgBackRest's reason ($out)" \
	grep -q "failed: pgbackrest exit code [0-9]*: ERROR: \[[0-9]*\]" <<<"$out"
cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
archive_failing() { grep -q "event=backup.archive-failing" "$dir/node$p/pgwarden.log"; }
check "archiving failures are reported" wait_for 30 archive_failing
check "HA unaffected: the leader serves" test "$(cluster_status "$p" /primary)" = 200
chmod 750 "$BK_REPO"
archived_again() { [ "$(cluster_psql "$p" "SELECT last_archived_time > last_failed_time FROM pg_stat_archiver")" = t ]; }
check "archiving resumes once the repository is back" wait_for 60 archived_again
idle() { [ -z "$(bk_key lock)" ] && [ -z "$(bk_key request)" ] && [ "$(bk_attempt status)" != running ]; }
wait_for 120 idle
out=$(cluster_ctl backup --type incr --timeout 180s 2>&1)
[ $? != 0 ] && wait_for 120 idle && out=$(cluster_ctl backup --type incr --timeout 180s 2>&1)
check "backups work again once the repository is back ($out)" grep -q "done: label" <<<"$out"

# ---- a cluster pointed at another cluster's stanza ---------------------------------
mkdir -p "$dir/other"
opg=$(cl_pick_port)
oapi=$(cl_pick_port)
sed -e "s/^scope: .*/scope: other/" -e "s/^name: .*/name: other1/" \
	-e "s/127.0.0.1:${CL_PG_PORT[1]}/127.0.0.1:$opg/g" -e "s/127.0.0.1:${CL_API_PORT[1]}/127.0.0.1:$oapi/g" \
	-e "s#$dir/node1/data#$dir/other/data#" -e "s#socket_dir: $dir/node1#socket_dir: $dir/other#" \
	"$dir/node1/pgwarden.yml" >"$dir/other/pgwarden.yml"
echo "  stanza: demo" >>"$dir/other/pgwarden.yml"
"$PGW_BIN" -c "$dir/other/pgwarden.yml" >>"$dir/other/pgwarden.log" 2>&1 &
OPID=$!
oprimary() { [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$oapi/primary")" = 200 ]; }
check "the other cluster comes up (its HA does not wait for backups)" wait_for 120 oprimary
foreign() { grep -q "event=backup.foreign-repository" "$dir/other/pgwarden.log"; }
check "its leader refuses the repository of another cluster" wait_for 60 foreign
echo "# $(grep -o 'event=backup.foreign-repository.*' "$dir/other/pgwarden.log" | head -1)"
check "the message names both system identifiers" \
	grep -q "belongs to another cluster (system identifier [0-9]*, ours [0-9]*)" "$dir/other/pgwarden.log"
oproblem() { curl -s "http://127.0.0.1:$oapi/metrics" | grepq -q '^pgwarden_backup_problem{scope="other"} 1'; }
check "/metrics of the other cluster: pgwarden_backup_problem 1" wait_for 30 oproblem
check "no stanza was recorded for it" \
	test -z "$(cluster_etcdctl get --print-value-only /service/other/backup/stanza)"
sysids=$(bk_pgbackrest "$p" info --output=json | grep -o '"system-id":[0-9]*' | cut -d: -f2 | sort -u | tr '\n' ' ')
check "the source's stanza still knows only its own system identifier ($sysids)" \
	test "$sysids" = "$(cluster_key initialize) "

# ---- a node without the pgbackrest program ----------------------------------------
kill -TERM "$OPID"
wait "$OPID" 2>/dev/null
sed -i 's#^  stanza: demo#  stanza: other\n  pgbackrest: /usr/local/bin/no-such-pgbackrest#' "$dir/other/pgwarden.yml"
"$PGW_BIN" -c "$dir/other/pgwarden.yml" >>"$dir/other/pgwarden.log" 2>&1 &
OPID=$!
check "without pgbackrest the node still leads its cluster" wait_for 120 oprimary
missing() { grep -q 'event=backup.disabled.*no-such-pgbackrest.*missing or not executable' "$dir/other/pgwarden.log"; }
check "it says pgbackrest is missing and runs without backups" wait_for 30 missing
check "/metrics: pgwarden_backup_problem 1" wait_for 30 oproblem
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
