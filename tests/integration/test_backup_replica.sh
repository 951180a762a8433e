#!/usr/bin/env bash
# test_backup_replica.sh (issue 15, "base backup from a replica while
# pgbench runs"): POST /backup answers only to authenticated callers and
# refuses bad bodies; a full backup runs on a replica (pgBackRest standby
# backup) while pgbench writes on the primary, whose throughput before and
# during the backup is reported (not asserted: figures come from bench/);
# the catalog, `backup list --json` and /metrics show it with its fencing
# token; a schedule set in the dynamic config key fires on time, and one
# that does not parse is refused whole and shown as a problem.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-replica.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable
# REST writes authenticate as the harness's user (CL_REST_AUTH)
BENCH_PID=""
trap '[ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null; tap_dump_logs "$dir" 3 40; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "two replicas stream" cluster_wait_replicas 90 2
check "the stanza exists" wait_for 60 bk_stanza_ready
r=1
[ "$r" = "$p" ] && r=2
api="http://127.0.0.1:${CL_API_PORT[$r]}"

# ---- refusals -------------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$api/backup")
check "POST /backup without credentials: 401 ($code)" test "$code" = 401
code=$(curl -s -o "$dir/b.json" -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d '{"type":"weekly"}' "$api/backup")
check "POST /backup with a bad type: 400 ($(cat "$dir/b.json"))" test "$code" = 400
code=$(curl -s -o "$dir/b.json" -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d '{"typ":"full"}' "$api/backup")
check "POST /backup with an unknown key: 400 ($(cat "$dir/b.json"))" test "$code" = 400
check "no demand was written by the refusals" test -z "$(bk_key demand)"

# ---- pgbench on the primary, a full backup from a replica ------------------------
PGB() { PGPASSWORD=pgw-super /usr/lib/postgresql/15/bin/pgbench -h 127.0.0.1 -p "${CL_PG_PORT[$p]}" -U postgres "$@" postgres; }
PGB -i -s 10 -q >"$dir/pgbench-init.out" 2>&1
check "pgbench initialised (scale 10)" test $? = 0
PGB -c 4 -j 2 -T 240 -P 1 --progress-timestamp >"$dir/pgbench.out" 2>&1 &
BENCH_PID=$!
sleep 10
t0=$(date +%s%3N)
code=$(curl -s -o "$dir/b.json" -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d '{"type":"full"}' "$api/backup")
id=$(jq -r .id "$dir/b.json")
check "POST /backup with credentials: 202 ($(cat "$dir/b.json"))" test "$code" = 202 -a -n "$id"
out=$(cluster_ctl backup 2>&1)
check "a second demand while one is pending is refused ($out)" grep -q "already pending or running" <<<"$out"
check "the backup completes" wait_for 240 bk_attempt_is "$id" ok
t1=$(date +%s%3N)
sleep 10
kill -TERM "$BENCH_PID" 2>/dev/null
wait "$BENCH_PID" 2>/dev/null
BENCH_PID=""
node=$(bk_attempt node)
check "it ran on a replica ($node, $(bk_attempt source_role)), not on the primary node$p" \
	test "$(bk_attempt source_role)" = replica -a "$node" != "node$p"
tps() { awk -v a="$1" -v b="$2" '/^progress: / { t = $2 * 1000; if (t >= a && t < b) { s += $4; n++ } }
	END { if (n) printf "%.0f", s / n; else print 0 }' "$dir/pgbench.out"; }
before=$(tps $((t0 - 10000)) "$t0")
during=$(tps "$t0" "$t1")
echo "# primary TPS under pgbench -c 4: $before before, $during while node $node backed up (scale 10, $(((t1 - t0) / 1000)) s)"
ok "primary throughput reported: before $before TPS, during the replica backup $during TPS"
token=$(bk_attempt token)
label=$(bk_attempt label)
in_catalog() { [ "$(bk_key catalog | jq -r --arg l "$label" '.backups[] | select(.label == $l) | .token')" = "$token" ]; }
check "the catalog lists $label with its fencing token $token" wait_for 90 in_catalog
out=$(cluster_ctl backup list --json)
check "backup list --json names the source and token" \
	test "$(jq -r --arg l "$label" '.backups[] | select(.label == $l) | .node + " " + (.token|tostring)' <<<"$out")" = "$node $token"
cluster_ctl backup list | sed 's/^/# /'
m=$(curl -s "http://127.0.0.1:${CL_API_PORT[$p]}/metrics")
check "/metrics: backup count and last success" \
	grep -qE '^pgwarden_backup_last_success_timestamp_seconds\{scope="demo"\} [1-9]' <<<"$m"
check "/metrics: no backup problem" grep -q '^pgwarden_backup_problem{scope="demo"} 0' <<<"$m"

# ---- the schedule in the dynamic config key -------------------------------------
cluster_set_config '.backup = {"schedule": ["incr * * * * *"]}'
sched_ok() { [ "$(bk_attempt id | cut -c1-5)" = sched ] && [ "$(bk_attempt status)" = ok ]; }
check "the schedule in the config key fires (within its minute)" wait_for 100 sched_ok
echo "# scheduled: $(bk_key attempt | jq -c '{id, type, node, status, request_reason}')"
cluster_set_config '.backup = {"schedule": ["incr 0 25 * * *"]}'
problem() { curl -s "http://127.0.0.1:${CL_API_PORT[$p]}/metrics" | grepq -q '^pgwarden_backup_problem{scope="demo"} 1'; }
check "a schedule that does not parse is refused and shown as a problem" wait_for 30 problem
check "the leader logged why (hour 25)" \
	grep -q 'event=backup.schedule-invalid.*hour \\"25\\"' "$dir/node$p/pgwarden.log"
check "HA unaffected: the leader still serves" test "$(cluster_status "$p" /primary)" = 200
cluster_set_config 'del(.backup)'

# ---- a new replica created from the repository (create_replica_methods) ----------
mkdir -p "$dir/node4"
pg4=$(cl_pick_port)
api4=$(cl_pick_port)
sed -e "s/^name: .*/name: node4/" \
	-e "s/127.0.0.1:${CL_PG_PORT[1]}/127.0.0.1:$pg4/g" -e "s/127.0.0.1:${CL_API_PORT[1]}/127.0.0.1:$api4/g" \
	-e "s#$dir/node1/data#$dir/node4/data#" -e "s#socket_dir: $dir/node1#socket_dir: $dir/node4#" \
	"$dir/node1/pgwarden.yml" >"$dir/node4/pgwarden.yml"
echo "  create_replica_methods: [pgbackrest, basebackup]" >>"$dir/node4/pgwarden.yml"
"$PGW_BIN" -c "$dir/node4/pgwarden.yml" >>"$dir/node4/pgwarden.log" 2>&1 &
N4=$!
replica4() { [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$api4/replica")" = 200 ]; }
check "a fourth node becomes a streaming replica" wait_for 180 replica4
check "it was restored from the repository, not cloned from the primary" \
	test -n "$(grep 'event=clone.from-repository-done' "$dir/node4/pgwarden.log")" -a \
	-z "$(grep 'pg_basebackup' "$dir/node4/pgwarden.log")"
cluster_psql "$p" "CREATE TABLE after_repo AS SELECT 1 AS x" >/dev/null
seen4() { [ "$(PGPASSWORD=pgw-super psql -X -q -A -t -h 127.0.0.1 -p "$pg4" -U postgres -d postgres -c 'SELECT x FROM after_repo' 2>/dev/null)" = 1 ]; }
check "and it streams what the primary writes now" wait_for 60 seen4
kill -KILL "$N4" 2>/dev/null
pm4=$(head -1 "$dir/node4/data/postmaster.pid" 2>/dev/null)
[ -n "$pm4" ] && kill -QUIT "$pm4" 2>/dev/null
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
