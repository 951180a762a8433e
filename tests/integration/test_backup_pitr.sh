#!/usr/bin/env bash
# test_backup_pitr.sh (issue 15, "PITR exactness"): on a 3-node cluster
# with a real pgBackRest repository in the test's directory: refusals first
# (no backup yet, a time without a zone, the source scope as --into, a
# target outside the recovery window naming the window, a non-empty data
# directory), then a full backup from a replica, commits A, a recorded
# time T, commits B; `pgwardenctl restore --to T --into demo2` builds a new
# cluster's data directory, a pgwarden node of scope demo2 adopts it and
# holds all of A and none of B; it archives into its own stanza (demo2)
# and nothing of its new timeline reaches the source's archive.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-pitr.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable
trap 'tap_dump_logs "$dir" 4 60; cluster_cleanup_extra; cluster_cleanup' EXIT
RPID=""
cluster_cleanup_extra() {
	[ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null
	local pm
	pm=$(head -1 "$dir/node4/data/postmaster.pid" 2>/dev/null)
	[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
	return 0
}

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "two replicas stream" cluster_wait_replicas 90 2
check "the leader created the stanza (system identifier checked)" wait_for 60 bk_stanza_ready
check "the stanza records the cluster's system identifier" \
	test "$(bk_key stanza | jq -r .system_id)" = "$(cluster_key initialize)"
catalog_written() { [ -n "$(bk_key catalog)" ]; }
check "the catalog is mirrored before any backup" wait_for 60 catalog_written

CTL() { "$PGWCTL_BIN" -c "$dir/node1/pgwarden.yml" "$@"; }

# ---- refusals ----------------------------------------------------------------
out=$(CTL restore --to latest --into demo2 --data-dir "$dir/r0" 2>&1)
check "no backup yet: refused, nothing to restore ($out)" \
	grep -q "nothing to restore" <<<"$out"
out=$(CTL restore --to "2026-01-01 00:00:00" --into demo2 --data-dir "$dir/r0" 2>&1)
rc=$?
check "a time without a zone is refused with exit 2 ($out)" \
	test "$rc" = 2 -a -n "$(grep 'has no time zone' <<<"$out")"
out=$(CTL restore --to latest --into demo --data-dir "$dir/r0" 2>&1)
check "--into the source scope is refused ($out)" grep -q "is the source cluster itself" <<<"$out"
check "nothing was created by the refusals" test ! -e "$dir/r0"

# ---- A, T, B -----------------------------------------------------------------
cluster_psql "$p" "CREATE TABLE pitr (id int PRIMARY KEY, phase text)" >/dev/null
out=$(cluster_ctl backup --type full --timeout 180s 2>&1)
check "a full backup from a replica ($out)" grep -q "done: label .* (replica)" <<<"$out"
for i in $(seq 1 50); do echo "INSERT INTO pitr VALUES ($i, 'A');"; done |
	PGPASSWORD=pgw-super psql -X -q -h 127.0.0.1 -p "${CL_PG_PORT[$p]}" -U postgres -d postgres >/dev/null
sleep 1
T=$(cluster_psql "$p" "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1
for i in $(seq 51 100); do echo "INSERT INTO pitr VALUES ($i, 'B');"; done |
	PGPASSWORD=pgw-super psql -X -q -h 127.0.0.1 -p "${CL_PG_PORT[$p]}" -U postgres -d postgres >/dev/null
ok "commits A (50), time T=$T, commits B (50)"
cluster_psql "$p" "SELECT pg_switch_wal()" >/dev/null
t_ms=$(date -d "${T%+00} UTC" +%s%3N)
window_covers_t() {
	local latest
	latest=$(bk_key catalog | jq -r '.window.latest // 0')
	[ "$latest" -gt "$t_ms" ]
}
check "the recovery window reaches past T (WAL archived)" wait_for 60 window_covers_t

out=$(CTL restore --to "2020-01-01 00:00:00+00" --into demo2 --data-dir "$dir/r0" 2>&1)
check "a target before the window names the window ($out)" \
	grep -q "before the recovery window, which runs from 20" <<<"$out"
out=$(CTL restore --to "2099-01-01 00:00:00+00" --into demo2 --data-dir "$dir/r0" 2>&1)
check "a target after the window names the window ($out)" \
	grep -q "after the recovery window, which runs from 20" <<<"$out"
mkdir -p "$dir/full" && touch "$dir/full/keep-me"
out=$(CTL restore --to "$T" --into demo2 --data-dir "$dir/full" 2>&1)
check "a non-empty data directory is refused and kept ($out)" \
	test -n "$(grep 'is not empty' <<<"$out")" -a -e "$dir/full/keep-me"

# ---- restore to T into a new scope -------------------------------------------
mkdir -p "$dir/node4"
rport=$(cl_pick_port)
out=$(CTL restore --to "$T" --into demo2 --data-dir "$dir/node4/data" --port "$rport" 2>&1)
rc=$?
check "restore to T into demo2 ($out)" test "$rc" = 0
echo "# $out"

# a node of the new scope on the restored directory
pg4=$(cl_pick_port)
api4=$(cl_pick_port)
sed -e "s/^scope: .*/scope: demo2/" -e "s/^name: .*/name: restored1/" \
	-e "s/127.0.0.1:${CL_PG_PORT[1]}/127.0.0.1:$pg4/g" -e "s/127.0.0.1:${CL_API_PORT[1]}/127.0.0.1:$api4/g" \
	-e "s#$dir/node1/data#$dir/node4/data#" -e "s#socket_dir: $dir/node1#socket_dir: $dir/node4#" \
	"$dir/node1/pgwarden.yml" >"$dir/node4/pgwarden.yml"
"$PGW_BIN" -c "$dir/node4/pgwarden.yml" >>"$dir/node4/pgwarden.log" 2>&1 &
RPID=$!
primary4() { [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$api4/primary")" = 200 ]; }
check "the restored node leads the new cluster demo2" wait_for 90 primary4
q4() { PGPASSWORD=pgw-super psql -X -q -A -t -h 127.0.0.1 -p "$pg4" -U postgres -d postgres -c "$1"; }
check "all of A restored" test "$(q4 "SELECT count(*) FROM pitr WHERE phase = 'A'")" = 50
check "none of B restored" test "$(q4 "SELECT count(*) FROM pitr WHERE phase = 'B'")" = 0
check "the source still has A and B" test "$(cluster_psql "$p" "SELECT count(*) FROM pitr")" = 100
stanza2() { [ -n "$(cluster_etcdctl get --print-value-only /service/demo2/backup/stanza)" ]; }
check "the new cluster created its own stanza demo2" wait_for 60 stanza2
q4 "INSERT INTO pitr VALUES (1000, 'after')" >/dev/null
q4 "SELECT pg_switch_wal()" >/dev/null
tl4=$(q4 "SELECT timeline_id FROM pg_control_checkpoint()")
archived4() {
	runuser -u "$PGW_RUN_AS" -- pgbackrest --config="$dir/node4/data.backup/pgbackrest.conf" --stanza=demo2 \
		info --output=json 2>/dev/null | jq -e '.[0].archive[0].max // empty' >/dev/null
}
check "the restored cluster archives into stanza demo2" wait_for 60 archived4
check "nothing of timeline $tl4 reached the source's archive (stanza demo)" \
	test -z "$(find "$BK_REPO/archive/demo" -name "$(printf '%08X' "$tl4")*" 2>/dev/null)"
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
