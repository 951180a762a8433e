#!/usr/bin/env bash
# test_ctl_commands.sh: pgwardenctl against a real 3-node pgwarden cluster
# (tests/lib/cluster.sh, fast profile). Refusals and bad input first, then
# the happy paths:
#   - usage errors exit 2 (unknown option, missing value, time without zone)
#   - unreachable etcd and a cluster that does not exist exit 1, one line
#   - switchover refusals: unknown member, the leader itself, wrong --leader,
#     not sync in synchronous mode, paused cluster; failover with a healthy
#     leader; flush with nothing pending; pause twice; resume twice
#   - edit-config: invalid config refused and nothing written; a stale
#     --expect-revision refused; two concurrent edits: exactly one wins
#   - remove: refused while members run, without a terminal and without
#     --yes-i-am-sure; removes a stopped cluster's keys in one delete
#   - JSON of list, topology, history, show-config, version, debug rules
#   - edit-config keeps unknown (Patroni) keys; pause/resume --wait
#   - scheduled switchover writes Patroni's failover key; flush cancels it
#   - reload (every member's PostgreSQL reloads: pg_conf_load_time moves),
#     restart of one member (its postmaster is new, the leader's is not),
#     reinit refusals, via the REST API with the test credentials; with
#     credentials but no allow_credentials_over_http, a restart over http
#     is refused before it is sent (the postmaster stays the same)
#   - a forged leader key's control characters never reach the terminal
#   - switchover end to end with the measured write downtime; the old
#     leader then streams from the new one
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-ctl-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT


# expect RC PATTERN WHAT -- CMD...: CMD exits RC and its stderr+stdout
# match the extended regex PATTERN
OUT=""
expect() {
	local want=$1 pat=$2 what=$3
	shift 4
	local rc
	OUT=$("$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = "$want" ] && echo "$OUT" | grepq -Eq -- "$pat"; then
		ok "$what"
	else
		not_ok "$what (rc=$rc, want $want; output: $(echo "$OUT" | head -3))"
	fi
}
ctl() { cluster_ctl "$@"; }
json_of() { ctl --format json "$@" 2>/dev/null; }

cluster_init "$DIR" 3 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
for i in 1 2 3; do cluster_start_node "$i"; done
leader_i=$(cluster_wait_primary 90) || { not_ok "a primary is elected"; exit 1; }
cluster_wait_replicas 120 2 || { not_ok "two replicas follow"; exit 1; }
leader=node$leader_i
replicas=()
for i in 1 2 3; do [ "$i" != "$leader_i" ] && replicas+=("node$i"); done
echo "# leader $leader, replicas ${replicas[*]}"
ETCDCTL="etcdctl --endpoints 127.0.0.1:$CL_ETCD_PORT"

# ---- usage errors: exit 2 ----------------------------------------------
expect 2 'unknown option "--bogus"' "unknown option exits 2" -- ctl list --bogus
expect 2 'needs a value' "missing value exits 2" -- ctl switchover --candidate
expect 2 'with a zone' "time without a zone exits 2" -- ctl switchover --scheduled 2030-01-01T10:00:00
expect 2 'with a zone' "nonsense time exits 2" -- ctl restart --all --scheduled tomorrow
expect 2 'in the past' "time in the past exits 2" -- ctl switchover --scheduled 2001-01-01T10:00:00Z --force
expect 2 'unknown command' "unknown command exits 2" -- ctl frobnicate
expect 2 'no etcd endpoints' "no etcd configured exits 2" -- env -u PGWARDEN_ETCD3_HOSTS "$PGWCTL_BIN" --scope demo list
expect 0 'usage: pgwardenctl .*switchover' "switchover --help" -- ctl switchover --help

# ---- unreachable etcd, missing cluster: exit 1 ---------------------------
dead=$(cl_pick_port)
expect 1 'could not read cluster "demo" from etcd' "unreachable etcd exits 1 with a clear message" -- \
	"$PGWCTL_BIN" --etcd "127.0.0.1:$dead" --scope demo list
[ "$(echo "$OUT" | wc -l)" = 1 ] && ok "unreachable etcd: one line" || not_ok "unreachable etcd: one line ($OUT)"
expect 1 'cluster "nosuch" does not exist' "a cluster that does not exist exits 1" -- \
	"$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope nosuch list
expect 1 'does not exist' "switchover on a cluster that does not exist" -- \
	"$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope nosuch switchover --force

# ---- JSON output ----------------------------------------------------------
j=$(json_of list)
[ "$(echo "$j" | jq -r '.scope')" = demo ] && ok "list json: scope" || not_ok "list json: scope ($j)"
[ "$(echo "$j" | jq '.members | length')" = 3 ] && ok "list json: 3 members" || not_ok "list json: 3 members"
[ "$(echo "$j" | jq -r '[.members[] | select(.role == "Leader")] | .[0].member')" = "$leader" ] &&
	ok "list json: the leader" || not_ok "list json: the leader ($j)"
[ "$(echo "$j" | jq -r '.leader')" = "$leader" ] && ok "list json: leader field" || not_ok "list json: leader field"
[ "$(echo "$j" | jq '[.members[] | select(.state == "running")] | length')" = 3 ] &&
	ok "list json: all running" || not_ok "list json: all running"
[ "$(echo "$j" | jq -r '.system_identifier | test("^[0-9]+$")')" = true ] &&
	ok "list json: system identifier" || not_ok "list json: system identifier"
j=$(json_of topology)
[ "$(echo "$j" | jq -r '.topology[0].member')" = "$leader" ] && [ "$(echo "$j" | jq '.topology[0].replicas | length')" = 2 ] &&
	ok "topology json: leader with two replicas" || not_ok "topology json ($j)"
j=$(json_of show-config)
[ "$(echo "$j" | jq '.ttl')" = 3 ] && ok "show-config json: ttl 3" || not_ok "show-config json ($j)"
j=$(json_of history)
[ "$(echo "$j" | jq '.history | type')" = '"array"' ] && ok "history json: a list" || not_ok "history json ($j)"
j=$(json_of debug rules)
[ "$(echo "$j" | jq '.rules | length')" -gt 10 ] && ok "debug rules json" || not_ok "debug rules json"
j=$(json_of version)
[ "$(echo "$j" | jq '.members | length')" = 3 ] && ok "version json: 3 members" || not_ok "version json ($j)"
expect 0 "Leader" "list table" -- ctl list
expect 0 "\+ $leader \(Leader" "topology tree" -- ctl topology

# ---- switchover / failover refusals --------------------------------------
expect 1 'member "ghost" does not exist' "switchover to an unknown member" -- ctl switchover --candidate ghost --force
expect 1 'already the leader' "switchover to the leader itself" -- ctl switchover --candidate "$leader" --force
expect 1 "is not the leader" "switchover with a wrong --leader" -- ctl switchover --leader "${replicas[0]}" --force
expect 1 'healthy leader' "failover with a healthy leader" -- ctl failover --candidate "${replicas[0]}" --force
expect 1 'no switchover or failover is pending' "flush with nothing pending" -- ctl flush switchover
expect 1 'add --force' "switchover without a terminal and without --force" -- ctl switchover --candidate "${replicas[0]}"
[ -z "$($ETCDCTL get /service/demo/failover --print-value-only)" ] && ok "refusals wrote nothing" || not_ok "refusals wrote a failover key"

# not sync in synchronous mode: with synchronous_mode on, a replica the
# sync key does not name is refused
expect 0 'config updated' "edit-config: synchronous_mode on" -- ctl edit-config --set synchronous_mode=true --force
# the leader names its sync standby in the sync key (bounded wait); the
# other replica is the one to refuse (if no sync key appears, none is sync)
nonsync=${replicas[0]}
for k in $(seq 1 50); do
	sk=$($ETCDCTL get /service/demo/sync --print-value-only)
	named=$(echo "$sk" | jq -r '.sync_standby // empty' 2>/dev/null)
	if [ -n "$named" ]; then
		for r in "${replicas[@]}"; do
			echo "$named" | grepq -qw "$r" || nonsync=$r
		done
		break
	fi
	sleep 0.2
done
echo "# sync key: ${sk:-none}; non-sync replica: $nonsync"
expect 1 'not a synchronous standby' "switchover to a non-sync replica is refused" -- ctl switchover --candidate "$nonsync" --force
expect 0 'config updated' "edit-config: synchronous_mode off" -- ctl edit-config --set synchronous_mode=null --force

# ---- pause / resume ----------------------------------------------------------
expect 0 'paused cluster "demo"' "pause" -- ctl pause --wait --timeout 20s
[ "$(json_of list | jq '.paused')" = true ] && ok "list shows paused" || not_ok "list shows paused"
expect 1 'already paused' "pause twice is refused" -- ctl pause
expect 1 'is paused' "switchover while paused is refused" -- ctl switchover --candidate "${replicas[0]}" --force
expect 0 'every member has resumed' "resume --wait" -- ctl resume --wait --timeout 20s
expect 1 'is not paused' "resume twice is refused" -- ctl resume

# ---- edit-config ------------------------------------------------------------
before=$($ETCDCTL get /service/demo/config --print-value-only)
expect 1 'refused: key "ttl"' "edit-config: an invalid config is refused" -- ctl edit-config --set ttl=1 --force
[ "$($ETCDCTL get /service/demo/config --print-value-only)" = "$before" ] && ok "invalid edit wrote nothing" || not_ok "invalid edit wrote something"
expect 0 'config updated' "edit-config --set/--pg" -- ctl edit-config --set loop_wait=0.4 --pg work_mem=8MB --set patroni_only.nested=kept --force
echo "$OUT" | grepq -q '^+loop_wait: 0.4' && ok "edit-config shows the diff" || not_ok "edit-config shows the diff ($OUT)"
j=$(json_of show-config)
[ "$(echo "$j" | jq -r '.postgresql.parameters.work_mem')" = 8MB ] && ok "show-config: work_mem" || not_ok "show-config: work_mem ($j)"
printf 'maximum_lag_on_failover: 2097152\npostgresql:\n  parameters:\n    work_mem: null\n' >"$DIR/patch.yml"
expect 0 'config updated' "edit-config --apply FILE" -- ctl edit-config --apply "$DIR/patch.yml" --force
j=$(json_of show-config)
[ "$(echo "$j" | jq -r '.patroni_only.nested')" = kept ] && ok "unknown keys survive edits" || not_ok "unknown keys survive edits ($j)"
[ "$(echo "$j" | jq -r '.postgresql.parameters.work_mem')" = null ] && [ "$(echo "$j" | jq '.maximum_lag_on_failover')" = 2097152 ] &&
	ok "--apply merges, null deletes" || not_ok "--apply merges ($j)"
expect 0 'no changes' "edit-config with no change writes nothing" -- ctl edit-config --set loop_wait=0.4 --force
rev=$($ETCDCTL get /service/demo/config -w json | jq '.kvs[0].mod_revision')
expect 1 'not .* as expected' "edit-config with a stale --expect-revision" -- ctl edit-config --set loop_wait=0.5 --expect-revision $((rev - 1)) --force
# two concurrent edits, each holding its read for 1.5 s (x the timeout
# multiplier: under ASan and load the second process started more than
# 1.5 s after the first had read, so both won): one must lose
cas_delay=$((1500 * PGW_TEST_TIMEOUT_MULT))
PGWARDENCTL_TEST_CAS_DELAY_MS=$cas_delay cluster_ctl edit-config --set a_key=1 --force >"$DIR/e1.out" 2>&1 </dev/null &
p1=$!
PGWARDENCTL_TEST_CAS_DELAY_MS=$cas_delay cluster_ctl edit-config --set b_key=2 --force >"$DIR/e2.out" 2>&1 </dev/null &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
if [ $((r1 + r2)) = 1 ] && grep -q 'changed by someone else' "$DIR/e1.out" "$DIR/e2.out"; then
	ok "concurrent edit-config: one wins, one is refused"
else
	not_ok "concurrent edit-config (rc $r1/$r2: $(cat "$DIR/e1.out" "$DIR/e2.out"))"
fi
j=$(json_of show-config)
[ "$(echo "$j" | jq '[has("a_key"), has("b_key")] | map(select(.)) | length')" = 1 ] &&
	ok "concurrent edit-config: exactly one edit landed" || not_ok "concurrent edit-config landed ($j)"

# ---- scheduled switchover, flush ------------------------------------------------
at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S+00:00)
expect 0 'scheduled at' "scheduled switchover" -- ctl switchover --candidate "${replicas[0]}" --scheduled "$at" --force
fk=$($ETCDCTL get /service/demo/failover --print-value-only)
[ "$(echo "$fk" | jq -r '.leader')" = "$leader" ] && [ "$(echo "$fk" | jq -r '.member')" = "${replicas[0]}" ] &&
	[ "$(echo "$fk" | jq -r '.scheduled_at' | cut -c1-13)" = "${at:0:13}" ] &&
	ok "failover key is Patroni's {leader, member, scheduled_at}" || not_ok "failover key ($fk)"
expect 1 'already pending' "a second request is refused" -- ctl switchover --candidate "${replicas[1]}" --force
expect 0 'cancelled' "flush switchover" -- ctl flush switchover
[ -z "$($ETCDCTL get /service/demo/failover --print-value-only)" ] && ok "flush deleted the key" || not_ok "flush deleted the key"

# ---- names from etcd reach the terminal without control characters ---------
# a forged leader key (an escape sequence and a newline) in another scope
printf 'evil\033[2J\nfake' | $ETCDCTL put /service/forged/leader >/dev/null
$ETCDCTL put /service/forged/members/node1 \
	'{"conn_url":"postgres://127.0.0.1:1/postgres","api_url":"http://127.0.0.1:1/patroni","state":"running","role":"replica"}' >/dev/null
expect 1 'the leader is "evil\?\[2J\?fake"' "a forged leader name is printed with '?' for its control characters" -- \
	"$PGWCTL_BIN" --etcd "$(cl_etcd_endpoints)" --scope forged switchover --leader node1 --candidate node2 --force
if [[ "$OUT" != *$'\e'* ]] && [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ]; then
	ok "no escape byte or broken line reaches the terminal"
else
	not_ok "no escape byte or broken line reaches the terminal: $(printf '%s' "$OUT" | od -c | head -4 | tr '\n' ' ')"
fi
$ETCDCTL del /service/forged/ --prefix >/dev/null

# ---- REST commands ----------------------------------------------------------------
expect 1 'is the leader' "reinit of the leader is refused" -- ctl reinit "$leader" --force
expect 1 'does not exist' "restart of an unknown member" -- ctl restart ghost --force
# reload: every member's PostgreSQL reloads its configuration
# (pg_conf_load_time moves on); restart: the named member's postmaster is a
# new one (pg_postmaster_start_time moves on), the others' are not
conf_times() {
	local i out=""
	for i in 1 2 3; do out+="$(cluster_psql "$i" "SELECT extract(epoch FROM pg_conf_load_time())") "; done
	echo "$out"
}
start_time() { cluster_psql "$1" "SELECT extract(epoch FROM pg_postmaster_start_time())"; }
all_reloaded_since() {
	local before=($1) now=($(conf_times)) k
	[ "${#now[@]}" = 3 ] || return 1
	for k in 0 1 2; do
		awk -v a="${now[$k]}" -v b="${before[$k]}" 'BEGIN{exit !(a > b)}' || return 1
	done
}
restarted_since() { awk -v a="$(start_time "$1")" -v b="$2" 'BEGIN{exit !(a != "" && a > b)}'; }
before=$(conf_times)
expect 0 '^node[0-9]: ' "reload answers for every member" -- ctl reload
check "reload: every member's PostgreSQL reloaded its configuration" wait_for 20 all_reloaded_since "$before"
r1=${replicas[1]#node}
st_r1=$(start_time "$r1")
st_leader=$(start_time "$leader_i")
expect 0 '^node[0-9]: ' "restart ${replicas[1]} answers" -- ctl restart "${replicas[1]}" --force
check "restart: ${replicas[1]}'s postmaster is a new one" wait_for 60 restarted_since "$r1" "$st_r1"
check "restart: the leader's postmaster is the same" test "$(start_time "$leader_i")" = "$st_leader"
cluster_wait_replicas 60 2 >/dev/null
# REST credentials never cross plain http unless the config allows it
# (cluster_ctl's -c file says allow_credentials_over_http: true): with them
# from the environment alone, the restart is refused before it leaves, and
# the postmaster is the same one (the endpoint answers only after a restart)
st_r1=$(start_time "$r1")
expect 1 'not sending restapi.authentication to http://127\.0\.0\.1:[0-9]+/restart: it is plain http' \
	"restart with credentials from the environment only is refused over http" -- \
	env -u PGWARDEN_CONFIG PGWARDEN_RESTAPI_USERNAME="$CL_REST_USER" PGWARDEN_RESTAPI_PASSWORD="$CL_REST_PASS" \
	"$PGWCTL_BIN" --etcd "$(cl_etcd_endpoints)" --scope "$CL_SCOPE" restart "${replicas[1]}" --force
check "refused restart: ${replicas[1]}'s postmaster is the same" test "$(start_time "$r1")" = "$st_r1"

# ---- remove ---------------------------------------------------------------------------
expect 1 'still has 3 running member' "remove of a running cluster is refused" -- ctl remove demo --yes-i-am-sure
$ETCDCTL put /service/ghost/config '{"ttl":30}' >/dev/null
$ETCDCTL put /service/ghost/initialize '123' >/dev/null
expect 1 'needs confirmation' "remove without a terminal needs --yes-i-am-sure" -- ctl remove ghost
expect 0 'removed cluster "ghost" \(2 keys' "remove a stopped cluster" -- ctl remove ghost --yes-i-am-sure
[ "$($ETCDCTL get /service/ghost/ --prefix --keys-only | grep -c .)" = 0 ] && ok "remove deleted every key" || not_ok "remove left keys"
[ -n "$($ETCDCTL get /service/demo/leader --print-value-only)" ] && ok "other clusters untouched" || not_ok "remove touched demo"

# ---- switchover end to end ----------------------------------------------------------------
cluster_wait_replicas 60 2 >/dev/null
cand=${replicas[0]}
j=$(cluster_ctl --format json switchover --candidate "$cand" --force --timeout 30s 2>"$DIR/sw.err" </dev/null)
rc=$?
[ $rc = 0 ] && [ "$(echo "$j" | jq -r '.to')" = "$cand" ] && [ "$(echo "$j" | jq -r '.from')" = "$leader" ] &&
	ok "switchover $leader -> $cand (json: $(echo "$j" | jq -c .))" || not_ok "switchover (rc $rc: $j $(cat "$DIR/sw.err"))"
[ "$(echo "$j" | jq '.write_downtime_ms | type')" = '"number"' ] && ok "write downtime measured: $(echo "$j" | jq .write_downtime_ms) ms" ||
	not_ok "write downtime measured ($j)"
[ "$(json_of list | jq -r '.leader')" = "$cand" ] && ok "list shows the new leader" || not_ok "list shows the new leader"
cand_i=${cand#node}
check "$cand answers /primary" wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${CL_API_PORT[$cand_i]}/primary)\" = 200 ]"
check "the old leader streams from $cand" cluster_wait_replicas 60 2
j=$(json_of history)
[ "$(echo "$j" | jq -r '.history[-1].new_leader')" = "$cand" ] && ok "history names the new leader" || not_ok "history ($j)"

tap_finish
