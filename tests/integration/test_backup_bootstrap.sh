#!/usr/bin/env bash
# test_backup_bootstrap.sh (issue 15, "the equivalent bootstrap method in
# the YAML"): a new cluster built from the repository by its YAML alone.
# A source cluster "demo" (node1) takes a full backup; commits A, a
# recorded time T, commits B. Refusals first: --check-config refuses a
# target without a zone and the node's own stanza; a node started with a
# target before the recovery window logs the window, claims no
# `initialize` and leaves its data directory empty. Then node2 and node3,
# scope demo2, both with bootstrap.method: pgbackrest and to: T, start
# together: one wins `initialize` and restores, the other clones from it;
# the new cluster holds all of A and none of B on both nodes, its replica
# streams, it archives into its own stanza demo2 and nothing of its
# timeline reaches the source's archive.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-boot.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable "  allow_primary: true"
trap 'tap_dump_logs "$dir" 3 60; cluster_cleanup' EXIT

# to_new_scope I TARGET: node I becomes a node of demo2 restored to TARGET
to_new_scope() {
	local f="$dir/node$1/pgwarden.yml"
	sed -i -e 's/^scope: demo$/scope: demo2/' -e '/^  method: pgbackrest$/,/^    to: /d' "$f"
	awk -v t="$2" '{ print } /^bootstrap:$/ {
		print "  method: pgbackrest"; print "  pgbackrest:"; print "    stanza: demo"
		print "    to: \x27" t "\x27" }' "$f" >"$f.new" && mv "$f.new" "$f"
	chmod 600 "$f"
}

cluster_start_etcd || exit 1
cluster_start_node 1
p=$(cluster_wait_primary 90) && ok "the source cluster demo: node$p" || { not_ok "no primary"; exit 1; }
check "the stanza demo exists" wait_for 60 bk_stanza_ready

# ---- A, T, B in the source -----------------------------------------------------
cluster_psql 1 "CREATE TABLE pitr (id int PRIMARY KEY, phase text)" >/dev/null
out=$(cluster_ctl backup --type full --timeout 180s 2>&1)
check "a full backup of demo ($out)" grep -q "done: label" <<<"$out"
ins() { for i in $(seq "$1" "$2"); do echo "INSERT INTO pitr VALUES ($i, '$3');"; done |
	PGPASSWORD=pgw-super psql -X -q -h 127.0.0.1 -p "${CL_PG_PORT[1]}" -U postgres -d postgres >/dev/null; }
ins 1 50 A
sleep 1
T=$(cluster_psql 1 "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1
ins 51 100 B
ok "commits A (50), time T=$T, commits B (50)"
cluster_psql 1 "SELECT pg_switch_wal()" >/dev/null
t_ms=$(date -d "${T%+00} UTC" +%s%3N)
window_covers_t() { [ "$(bk_key catalog | jq -r '.window.latest // 0')" -gt "$t_ms" ]; }
check "the recovery window reaches past T (WAL archived)" wait_for 60 window_covers_t

# ---- refusals -------------------------------------------------------------------
to_new_scope 2 "${T%+00}"
out=$("$PGW_BIN" -c "$dir/node2/pgwarden.yml" --check-config 2>&1)
check "--check-config: a target without a zone is refused at its line ($out)" \
	grep -q 'bootstrap.pgbackrest.to": recovery target .* has no time zone' <<<"$out"
sed -e 's/^    stanza: demo$/    stanza: demo2/' "$dir/node2/pgwarden.yml" >"$dir/own.yml"
sed -i -e "s/^    to: .*/    to: latest/" "$dir/own.yml"
out=$("$PGW_BIN" -c "$dir/own.yml" --check-config 2>&1)
check "--check-config: the new cluster's own stanza is refused ($out)" \
	grep -q "is this cluster's own stanza" <<<"$out"
to_new_scope 2 "2020-01-01 00:00:00+00"
check "--check-config accepts the YAML" "$PGW_BIN" -c "$dir/node2/pgwarden.yml" --check-config
cluster_start_node 2
refused() { grep -q "before the recovery window, which runs from 20" "$dir/node2/pgwarden.log"; }
check "a target before the window: refused, the window named" wait_for 60 refused
echo "# $(grep -o 'detail=.*before the recovery window[^"]*' "$dir/node2/pgwarden.log" | head -1)"
init2() { cluster_etcdctl get --print-value-only /service/demo2/initialize; }
check "no initialize key was claimed for demo2" test -z "$(init2)"
check "node2's data directory stays empty" test -z "$(ls -A "$dir/node2/data" 2>/dev/null)"
cluster_stop_node 2

# ---- the new cluster from the YAML ---------------------------------------------
to_new_scope 2 "$T"
to_new_scope 3 "$T"
cluster_start_node 2
cluster_start_node 3
leader2() {
	local i
	for i in 2 3; do [ "$(cluster_status "$i" /primary)" = 200 ] && { echo "$i"; return 0; }; done
	return 1
}
check "a node of demo2 leads" wait_for 120 leader2
l=$(leader2)
r=$((5 - l))
echo "# demo2: leader node$l, replica node$r"
check "node$l restored (bootstrap.restore-done) and node$r did not" \
	test -n "$(grep 'event=bootstrap.restore-done' "$dir/node$l/pgwarden.log")" \
	-a -z "$(grep 'event=bootstrap.restore-done' "$dir/node$r/pgwarden.log")"
echo "# $(grep -o 'event=bootstrap.restore-done.*' "$dir/node$l/pgwarden.log" | head -1)"
check "initialize of demo2 names the restored system identifier (the source's)" \
	test "$(init2)" = "$(cluster_key initialize)"
cnt() { cl_sql "$1" "SELECT count(*) FROM pitr WHERE phase = '$2'"; }
check "all of A restored on the leader" test "$(cnt "$l" A)" = 50
check "none of B restored on the leader" test "$(cnt "$l" B)" = 0
check "the source still has A and B" test "$(cl_sql 1 "SELECT count(*) FROM pitr")" = 100
streams() { cluster_streaming "$l" | grepq -qw "$r"; }
check "the replica node$r streams from node$l" wait_for 120 streams
cl_sql "$l" "INSERT INTO pitr VALUES (1000, 'after')" >/dev/null
replicated() { [ "$(cl_sql "$r" "SELECT count(*) FROM pitr WHERE id = 1000")" = 1 ]; }
check "a commit on the new leader reaches the replica" wait_for 60 replicated
check "the replica holds A and none of B" test "$(cnt "$r" A)/$(cnt "$r" B)" = 50/0

# ---- its archive is its own -----------------------------------------------------
stanza2() { [ -n "$(cluster_etcdctl get --print-value-only /service/demo2/backup/stanza)" ]; }
check "the new cluster created its own stanza demo2" wait_for 60 stanza2
cl_sql "$l" "SELECT pg_switch_wal()" >/dev/null
w=$(cl_sql "$l" "SELECT pg_walfile_name(pg_current_wal_lsn())")
tl=${w:0:8}
archived2() {
	runuser -u "$PGW_RUN_AS" -- pgbackrest --config="$dir/node$l/data.backup/pgbackrest.conf" --stanza=demo2 \
		info --output=json 2>/dev/null | jq -e '.[0].archive[0].max // empty' >/dev/null
}
check "the new cluster archives into stanza demo2" wait_for 60 archived2
check "nothing of its timeline $tl reached the source's archive (stanza demo)" \
	test -z "$(find "$BK_REPO/archive/demo" -name "$tl*" 2>/dev/null)"
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
