#!/usr/bin/env bash
# test_patronictl.sh: Debian's patronictl 3.0.2 (a client nobody on this
# project wrote) drives a real 3-node pgwarden cluster (issue 22), one
# command after another, and every effect is checked where it lands: in
# etcd, in PostgreSQL and in pgwardenctl's view, not only in patronictl's
# exit status. Refusals and bad input first, as Patroni answers them, then:
#   version, list (-e, -t, -W), topology, dsn, query, show-config (the
#   bootstrap.dcs parameters reach every PostgreSQL), edit-config (--set,
#   --pg, --apply: applied by reload, pending restart as PostgreSQL says),
#   restart (--pending, member, --role, --scheduled) and flush restart,
#   reload, pause/resume --wait (the member keys carry "pause"), switchover
#   (named, any, scheduled and flushed, scheduled and run), failover, history,
#   reinit --wait, remove;
# then pgwardenctl's switchover with only --etcd and --scope (its write
# downtime measured, or one line saying why not and how to give
# credentials), and every node stopped at once: the leader must not bring
# PostgreSQL back as primary during its own stop (issue 12).
# The cluster has restapi.authentication and patronictl the same
# credentials, so the test holds once write endpoints need them.
# A missing patronictl fails the test; it does not skip.
source "$(dirname "$0")/../lib/it_prelude.sh"

PATRONICTL=${PATRONICTL:-$(command -v patronictl)}
if [ -z "$PATRONICTL" ] || [ ! -x "$PATRONICTL" ]; then
	not_ok "patronictl is installed (Debian package patroni, installed by scripts/install-deps.sh)"
	tap_finish
	exit 1
fi

DIR=$(mktemp -d /tmp/pgw-it-patronictl-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 40
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 fast
# Each node's file, as a Patroni user would write it: REST credentials
# (patronictl gets the same below; when cluster.sh already gives the nodes
# some, those are used), cluster-wide parameters in bootstrap.dcs,
# Patroni's bootstrap.pg_hba (without the harness's postgresql.pg_hba), a
# custom tag on node3. Edited as YAML, so it
# does not depend on the order cluster.sh writes the keys in.
creds=$(python3 - "$DIR" <<'PY'
import sys, yaml
d = sys.argv[1]
for i in (1, 2, 3):
    path = "%s/node%d/pgwarden.yml" % (d, i)
    with open(path) as f:
        c = yaml.safe_load(f)
    auth = c.setdefault("restapi", {}).setdefault("authentication", {})
    auth.setdefault("username", "pgw-rest")
    auth.setdefault("password", "pgw-rest-secret")
    b = c.setdefault("bootstrap", {})
    pg = b.setdefault("dcs", {}).setdefault("postgresql", {})
    (pg.get("parameters") or pg.setdefault("parameters", {}))["work_mem"] = "6MB"
    b["pg_hba"] = ["host all all 10.99.0.0/16 scram-sha-256"]
    # Patroni (and pgwarden) add bootstrap.pg_hba only to the default
    # rules: a postgresql.pg_hba (cluster.sh writes one) replaces them
    c.get("postgresql", {}).pop("pg_hba", None)
    if i == 3:
        c.setdefault("tags", {})["zone"] = "b"
    with open(path, "w") as f:
        yaml.safe_dump(c, f, default_flow_style=False)
print(auth["username"], auth["password"])
PY
)
read -r REST_USER REST_PASS <<<"$creds"
[ -n "$REST_USER" ] || { not_ok "node configs edited"; exit 1; }
export PGWARDEN_RESTAPI_USERNAME=$REST_USER PGWARDEN_RESTAPI_PASSWORD=$REST_PASS
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
for i in 1 2 3; do cluster_start_node "$i"; done
leader_i=$(cluster_wait_primary 90) || { not_ok "a primary is elected"; exit 1; }
cluster_wait_replicas 120 2 || { not_ok "two replicas follow"; exit 1; }

cat >"$DIR/patronictl.yml" <<YML
scope: $CL_SCOPE
namespace: /service
etcd3:
  hosts: 127.0.0.1:$CL_ETCD_PORT
restapi:
  authentication:
    username: $REST_USER
    password: $REST_PASS
YML

OUT=""
# pc ARGS...: patronictl with the test's config; OUT holds stdout+stderr
pc() {
	OUT=$("$PATRONICTL" -c "$DIR/patronictl.yml" "$@" 2>&1 </dev/null)
}
# expect_pc RC PATTERN WHAT -- ARGS...: patronictl ARGS exits RC and its
# output matches the extended regex PATTERN
expect_pc() {
	local want=$1 pat=$2 what=$3 rc
	shift 4
	pc "$@"
	rc=$?
	if [ "$rc" = "$want" ] && echo "$OUT" | grepq -Eq -- "$pat"; then
		ok "$what"
	else
		not_ok "$what (rc=$rc, want $want and /$pat/; output: $(echo "$OUT" | tail -4 | tr '\n' '|'))"
	fi
}
leader() { cluster_key leader; }
member_key() { cluster_key "members/$1"; }
pgw_json() { cluster_ctl --format json "$@" 2>/dev/null; }
node_i() { echo "${1#node}"; }
psql_at() { cluster_psql "$(node_i "$1")" "$2" 2>/dev/null; }
pm_start() { psql_at "$1" "select pg_postmaster_start_time()"; }
setting_on_all() { # NAME VALUE: every node runs with it
	local i
	for i in 1 2 3; do
		[ "$(cluster_psql "$i" "show $1" 2>/dev/null)" = "$2" ] || return 1
	done
}
members_have() { # JQ: every member key satisfies the jq filter
	local i
	for i in 1 2 3; do
		[ "$(cluster_key "members/node$i" | jq -r "$1")" = true ] || return 1
	done
}
leader_is() { [ "$(leader)" = "$1" ]; }
in_recovery() { [ "$(psql_at "$1" 'select pg_is_in_recovery()')" = "$2" ]; }
replicas_of() { # the members that are not the leader
	local l i
	l=$(leader)
	for i in 1 2 3; do [ "node$i" != "$l" ] && echo "node$i"; done
}
leader_sees_all_running() { # the leader's own view (its REST snapshot, what it checks a request against)
	local l
	l=$(leader)
	[ -n "$l" ] && curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$(node_i "$l")]}/cluster" |
		jq -e '[.members[] | select(.state == "running")] | length == 3' >/dev/null
}
settled() { # one primary, two streaming replicas the leader knows as running, no request pending
	[ -n "$(leader)" ] && cluster_key_absent failover && cluster_has_replicas 2 && leader_sees_all_running
}
caught_up() { # MEMBER: within maximum_lag_on_failover, so a switchover to it is not refused
	pgw_json list | jq -e --arg m "$1" \
		'.members[] | select(.member == $m) | .lag_bytes != null and .lag_over_maximum == false' >/dev/null
}

L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
echo "# leader $L, replicas $R1 $R2"

# ---- refusals and bad input, as Patroni answers them ----------------------
expect_pc 1 'Member ghost does not exist in cluster demo' "switchover to a member that does not exist" -- \
	switchover --candidate ghost --force
expect_pc 1 "Member $R1 is not the leader of cluster demo" "switchover from a member that is not the leader" -- \
	switchover --leader "$R1" --candidate "$R2" --force
expect_pc 1 'Switchover target and source are the same' "switchover to the leader itself" -- \
	switchover --leader "$L" --candidate "$L" --force
expect_pc 0 "Switchover failed, details: 422, Cannot schedule switchover in the past" \
	"switchover scheduled in the past: Patroni's 422" -- \
	switchover --leader "$L" --candidate "$R1" --scheduled 2001-01-01T10:00+00:00 --force
expect_pc 1 'No any among provided members' "restart of a member that does not exist (patronictl's own check)" -- \
	restart demo ghost --force
expect_pc 0 "Failed: restart for member $R1, status code=422, \(Cannot schedule restart in the past\)" \
	"restart scheduled in the past: Patroni's 422" -- restart demo "$R1" --scheduled 2001-01-01T10:00+00:00 --force
expect_pc 1 'No replica among provided members' "reinit of the leader (patronictl's own check)" -- reinit demo "$L" --force
# the server's answer when a client does ask (patronictl's User-Agent: text)
r=$(curl -s -m 10 -u "$REST_USER:$REST_PASS" -A "Patroni/3.0.2 Python/3.11" -w ' %{http_code}' -X POST \
	-d '{"force": true}' "http://127.0.0.1:${CL_API_PORT[$(node_i "$L")]}/reinitialize")
[ "$r" = "I am the leader, can not reinitialize 503" ] && ok "POST /reinitialize on the leader: Patroni's 503 text" ||
	not_ok "POST /reinitialize on the leader ($r)"
expect_pc 0 'No pending scheduled switchover' "flush with no scheduled switchover" -- flush demo switchover
expect_pc 1 'Cluster is not paused' "resume of a cluster that is not paused" -- resume
[ -z "$(cluster_key failover)" ] && ok "no refusal wrote a failover key" || not_ok "a refusal wrote $(cluster_key failover)"
expect_pc 0 "Failed: restart for member $R1, status code=503, \(restart conditions are not satisfied\)" \
	"restart --pending with nothing pending: Patroni's 503" -- restart demo "$R1" --pending --force

# ---- read-only commands -----------------------------------------------------
expect_pc 0 "node1: Patroni [0-9.]+ PostgreSQL 15" "version names every member's PostgreSQL" -- version demo
echo "$OUT" | grep -c 'PostgreSQL 15' | grepq -qx 3 && ok "version: 3 members" || not_ok "version: 3 members ($OUT)"
pc list -f json
[ "$(echo "$OUT" | jq -r '.[] | select(.Role == "Leader") | .Member')" = "$L" ] &&
	[ "$(echo "$OUT" | jq '[.[] | select(.Role == "Replica" and .State == "running")] | length')" = 2 ] &&
	ok "list: the leader and two running replicas" || not_ok "list json ($OUT)"
[ "$(pgw_json list | jq -r '.leader')" = "$L" ] && ok "pgwardenctl list agrees on the leader" || not_ok "pgwardenctl list leader"
expect_pc 0 "zone: b" "list -e shows node3's tag" -- list -e
echo "$OUT" | grepq -q 'Pending restart' && echo "$OUT" | grepq -q 'Scheduled restart' &&
	ok "list -e has Patroni's extended columns" || not_ok "list -e columns ($OUT)"
expect_pc 0 '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}' "list -t prints a timestamp" -- list -t
# -W refreshes every 2 s until interrupted (patronictl's etcd3 client takes
# a few seconds to start): three tables or more within 15 s
PYTHONUNBUFFERED=1 timeout 15 "$PATRONICTL" -c "$DIR/patronictl.yml" list -W >"$DIR/watch.out" 2>&1 </dev/null
[ "$(grep -c 'Cluster: demo' "$DIR/watch.out")" -ge 3 ] && ok "list -W refreshes ($(grep -c 'Cluster: demo' "$DIR/watch.out") tables in 15 s)" ||
	not_ok "list -W ($(tail -5 "$DIR/watch.out"))"
expect_pc 0 "^\| $L +\|.*Leader" "topology: the leader at the root" -- topology
echo "$OUT" | grepq -Eq "\| \+ $R1 " && echo "$OUT" | grepq -Eq "\| \+ $R2 " && ok "topology: both replicas under it" ||
	not_ok "topology ($OUT)"
expect_pc 0 "^host=127\.0\.0\.1 port=${CL_PG_PORT[$(node_i "$L")]}\$" "dsn: the leader" -- dsn
expect_pc 0 "^host=127\.0\.0\.1 port=${CL_PG_PORT[$(node_i "$R1")]}\$" "dsn -m: a member" -- dsn -m "$R1"
OUT=$(PGPASSWORD=pgw-super "$PATRONICTL" -c "$DIR/patronictl.yml" query -U postgres -m "$R1" \
	-c "select pg_is_in_recovery()" 2>&1 </dev/null)
echo "$OUT" | grepq -qx 'True' && ok "query -m on a replica: in recovery" || not_ok "query -m ($OUT)"
OUT=$(PGPASSWORD=pgw-super "$PATRONICTL" -c "$DIR/patronictl.yml" query -U postgres -r master \
	-c "select pg_is_in_recovery()" 2>&1 </dev/null)
echo "$OUT" | grepq -qx 'False' && ok "query -r master: the primary" || not_ok "query -r master ($OUT)"

# ---- the node's file, as a Patroni user wrote it -------------------------------
for i in 1 2 3; do
	grep -qx 'host all all 10.99.0.0/16 scram-sha-256' "$DIR/node$i/data/pg_hba.conf" || break
	[ "$i" = 3 ] && ok "bootstrap.pg_hba is in every node's pg_hba.conf"
done
[ "$i" = 3 ] || not_ok "bootstrap.pg_hba missing on node$i: $(cat "$DIR/node$i/data/pg_hba.conf")"

# ---- cluster-wide parameters -------------------------------------------------
expect_pc 0 'work_mem: 6MB' "show-config: bootstrap.dcs parameters in the config key" -- show-config
wait_for 20 setting_on_all work_mem 6MB && ok "bootstrap.dcs work_mem reached every PostgreSQL" ||
	not_ok "bootstrap work_mem ($(for i in 1 2 3; do cluster_psql $i 'show work_mem'; done | tr '\n' ' '))"
# what node1 runs before the edit (cluster.sh sets it cluster-wide)
mc_before=$(cluster_psql 1 'show max_connections')
expect_pc 0 'Configuration changed' "edit-config --set --pg" -- \
	edit-config --set loop_wait=1 --pg work_mem=12MB --pg max_connections=110 --force
cfg=$(cluster_key config)
[ "$(echo "$cfg" | jq '.loop_wait')" = 1 ] && [ "$(echo "$cfg" | jq -r '.postgresql.parameters.work_mem')" = 12MB ] &&
	ok "edit-config landed in etcd" || not_ok "edit-config in etcd ($cfg)"
wait_for 20 setting_on_all work_mem 12MB && ok "work_mem 12MB applied on every node by reload" || not_ok "work_mem 12MB"
wait_for 20 members_have '.pending_restart == true' && ok "max_connections: every member key says pending_restart" ||
	not_ok "pending_restart ($(cluster_key members/node1))"
[ "$(cluster_psql 1 'show max_connections')" = "$mc_before" ] && [ "$mc_before" != 110 ] &&
	ok "max_connections waits for a restart (still $mc_before)" || not_ok "max_connections changed without a restart"
expect_pc 0 "Pending restart" "list -e shows the pending restart" -- list -e
[ "$(echo "$OUT" | grep -c '| \* ')" = 3 ] && ok "list -e: three members pending" || not_ok "list -e pending ($OUT)"
[ "$(pgw_json list | jq '[.members[] | select(.pending_restart == true)] | length')" = 3 ] &&
	ok "pgwardenctl list: three members pending" || not_ok "pgwardenctl list pending ($(pgw_json list))"
printf 'postgresql:\n  parameters:\n    work_mem: 10MB\n' >"$DIR/apply.yml"
expect_pc 0 'Configuration changed' "edit-config --apply FILE" -- edit-config --apply "$DIR/apply.yml" --force
wait_for 20 setting_on_all work_mem 10MB && ok "--apply: work_mem 10MB on every node" || not_ok "--apply work_mem"
expect_pc 0 'Configuration changed' "edit-config --pg with a parameter PostgreSQL refuses" -- \
	edit-config --pg no_such_parameter=1 --force
wait_for 10 grep -q 'event=pg.param-rejected.*names=no_such_parameter' "$DIR"/node1/pgwarden.log &&
	ok "the refused parameter is named and left out" || not_ok "no pg.param-rejected"
[ "$(cluster_psql 1 'show work_mem')" = 10MB ] && ok "the other parameters stay applied" || not_ok "work_mem after a refused parameter"
expect_pc 0 'Configuration changed' "edit-config: drop the refused parameter" -- edit-config --pg no_such_parameter=null --force

# ---- restart -----------------------------------------------------------------
t0=$(pm_start "$L")
expect_pc 0 "Success: restart on member $L" "restart --pending" -- restart demo --pending --force
echo "$OUT" | grep -c 'Success: restart on member' | grepq -qx 3 && ok "restart --pending: all three" || not_ok "restart --pending ($OUT)"
wait_for 30 setting_on_all max_connections 110 && ok "max_connections 110 after the restart" || not_ok "max_connections after restart"
wait_for 20 members_have '(.pending_restart // false) == false' && ok "pending_restart cleared in every member key" ||
	not_ok "pending_restart still set"
[ "$(pm_start "$L")" != "$t0" ] && ok "the leader's postmaster restarted" || not_ok "leader not restarted"
wait_for 60 settled
tl=$(pm_start "$L")
t1=$(pm_start "$R1")
expect_pc 0 "Success: restart on member $R1" "restart a member" -- restart demo "$R1" --force
[ "$(pm_start "$R1")" != "$t1" ] && [ "$(pm_start "$L")" = "$tl" ] && ok "only $R1 restarted" || not_ok "restart member"
t1=$(pm_start "$R1")
t2=$(pm_start "$R2")
expect_pc 0 "Success: restart on member" "restart --role replica" -- restart demo --role replica --force
echo "$OUT" | grep -c 'Success: restart on member' | grepq -qx 2 && [ "$(pm_start "$R1")" != "$t1" ] &&
	[ "$(pm_start "$R2")" != "$t2" ] && [ "$(pm_start "$L")" = "$tl" ] && ok "both replicas restarted, not the leader" ||
	not_ok "restart --role replica ($OUT)"
wait_for 60 settled
at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S+00:00)
expect_pc 0 "Success: restart scheduled on member $R2" "restart --scheduled" -- restart demo "$R2" --scheduled "$at" --force
wait_for 10 bash -c "[ \"\$(ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:$CL_ETCD_PORT get --print-value-only /service/demo/members/$R2 | jq -r .scheduled_restart.schedule)\" = '$at' ]" &&
	ok "the member key carries scheduled_restart" || not_ok "scheduled_restart ($(member_key "$R2"))"
expect_pc 0 "${at:0:19}" "list -e shows the scheduled restart" -- list -e
expect_pc 0 "Success: flush scheduled restart for member $R2" "flush restart" -- flush demo "$R2" restart --force
wait_for 10 bash -c "[ \"\$(ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:$CL_ETCD_PORT get --print-value-only /service/demo/members/$R2 | jq -r '.scheduled_restart // \"none\"')\" = none ]" &&
	ok "flush removed scheduled_restart from the member key" || not_ok "flush restart ($(member_key "$R2"))"

# ---- reload ------------------------------------------------------------------
psql_at "$L" "alter system set log_min_duration_statement = 1234" >/dev/null
[ "$(psql_at "$L" 'show log_min_duration_statement')" != 1234ms ] && ok "ALTER SYSTEM alone does not apply" || not_ok "applied early"
expect_pc 0 "Reload request received for member $L" "reload a member" -- reload demo "$L" --force
wait_for 10 bash -c "[ \"\$(PGPASSWORD=pgw-super psql -X -A -t -h 127.0.0.1 -p ${CL_PG_PORT[$(node_i "$L")]} -U postgres -c 'show log_min_duration_statement')\" = 1234ms ]" &&
	ok "reload: PostgreSQL re-read its files" || not_ok "reload had no effect"
psql_at "$L" "alter system reset log_min_duration_statement" >/dev/null
expect_pc 0 "Reload request received for member" "reload the cluster" -- reload demo --force

# ---- pause / resume ------------------------------------------------------------
expect_pc 0 "Success: cluster management is paused" "pause --wait" -- pause --wait
[ "$(cluster_key config | jq '.pause')" = true ] && ok "pause: the config key says so" || not_ok "pause in config"
members_have '.pause == true' && ok "pause: every member key carries pause" || not_ok "member pause ($(member_key node1))"
[ "$(pgw_json list | jq '.paused')" = true ] && ok "pgwardenctl list: paused" || not_ok "pgwardenctl paused"
expect_pc 1 'Cluster is already paused' "pause twice" -- pause
expect_pc 0 "Switchover failed, details: 400, Switchover is possible only to a specific candidate in a paused state" \
	"switchover to any member while paused: Patroni's 400" -- switchover --leader "$L" --force
expect_pc 1 "Can't schedule switchover in the paused state" "scheduled switchover while paused" -- \
	switchover --leader "$L" --candidate "$R1" --scheduled "$at" --force
expect_pc 1 "Can't schedule restart in the paused state" "scheduled restart while paused" -- \
	restart demo "$R1" --scheduled "$at" --force
leader_is "$L" && ok "nothing moved while paused" || not_ok "leader moved while paused"
expect_pc 0 "Success: cluster management is resumed" "resume --wait" -- resume --wait
members_have '(.pause // false) == false' && ok "resume: no member key carries pause" || not_ok "member pause after resume"

# ---- switchover, failover, history ------------------------------------------------
wait_for 60 settled
pglog="$DIR/node$(node_i "$R1")/data.log"
pglog_size=$(stat -c %s "$pglog")
expect_pc 0 "Successfully switched over to \"$R1\"" "switchover to a named candidate" -- \
	switchover --leader "$L" --candidate "$R1" --force
leader_is "$R1" && ok "etcd: $R1 holds the leader key" || not_ok "leader key after switchover: $(leader)"
wait_for 20 in_recovery "$R1" f && ok "PostgreSQL: $R1 runs read-write" || not_ok "$R1 not read-write"
wait_for 30 in_recovery "$L" t && ok "PostgreSQL: $L follows as a replica" || not_ok "$L not in recovery"
[ "$(pgw_json list | jq -r '.leader')" = "$R1" ] && ok "pgwardenctl list: $R1 leads" || not_ok "pgwardenctl leader"
sleep_until=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt $sleep_until ]; do # watch the new primary's member key for 3 s
	[ "$(member_key "$R1" | jq -r '.pending_restart // false')" = true ] && break
	sleep 0.2
done
[ "$(member_key "$R1" | jq -r '.pending_restart // false')" = false ] &&
	ok "no false pending restart after the promotion" || not_ok "new primary pending restart ($(member_key "$R1"))"
tail -c +$((pglog_size + 1)) "$pglog" >"$DIR/promoted.log"
grep -q 'database system is ready to accept connections\|archive recovery complete' "$DIR/promoted.log" &&
	! grep -q 'contains errors\|cannot be changed without restarting' "$DIR/promoted.log" &&
	ok "the promoted PostgreSQL logged no configuration-file errors" ||
	not_ok "config-file errors at promotion: $(grep -E 'contains errors|without restarting' "$DIR/promoted.log" | head -2)"
wait_for 60 settled
expect_pc 0 "Successfully switched over to" "switchover to any candidate" -- switchover --leader "$R1" --force
wait_for 10 bash -c "l=\$(ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:$CL_ETCD_PORT get --print-value-only /service/demo/leader); [ -n \"\$l\" ] && [ \"\$l\" != $R1 ]" &&
	ok "switchover to any: the leader moved off $R1 ($(leader))" || not_ok "switchover any: $(leader)"
wait_for 60 settled
L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
expect_pc 0 "Successfully failed over to \"$R2\"" "failover to a named candidate" -- failover --candidate "$R2" --force
leader_is "$R2" && ok "etcd: $R2 leads after the failover" || not_ok "failover leader: $(leader)"
wait_for 60 settled
pc history -f json
[ "$(echo "$OUT" | jq 'length')" -ge 3 ] && [ "$(echo "$OUT" | jq -r '.[-1]["New Leader"]')" = "$R2" ] &&
	ok "history: three promotions, the last to $R2" || not_ok "history ($OUT)"
[ "$(cluster_key history | jq 'length')" = "$(echo "$OUT" | jq 'length')" ] && ok "history: as the etcd key holds it" || not_ok "history vs etcd"

# scheduled: written, shown, flushed; then one that runs
L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S+00:00)
expect_pc 0 "Switchover scheduled" "switchover --scheduled" -- switchover --leader "$L" --candidate "$R1" --scheduled "$at" --force
fk=$(cluster_key failover)
[ "$(echo "$fk" | jq -r '.leader')" = "$L" ] && [ "$(echo "$fk" | jq -r '.member')" = "$R1" ] &&
	[ "$(echo "$fk" | jq -r '.scheduled_at' | cut -c1-19)" = "${at:0:19}" ] && ok "etcd: Patroni's failover key" || not_ok "failover key ($fk)"
expect_pc 0 "Switchover scheduled at: ${at:0:19}" "list shows the scheduled switchover" -- list
expect_pc 0 "Success: scheduled switchover deleted" "flush switchover" -- flush demo switchover
cluster_key_absent failover && ok "flush removed the failover key" || not_ok "failover key after flush"
# patronictl alone takes seconds to start on a loaded machine: 30 s ahead
at=$(date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%S+00:00)
expect_pc 0 "Switchover scheduled" "switchover scheduled 30 s ahead" -- switchover --leader "$L" --candidate "$R1" --scheduled "$at" --force
wait_for 60 leader_is "$R1" && ok "the scheduled switchover ran: $R1 leads" || not_ok "scheduled switchover did not run ($(leader))"
started=$(grep 'event=switchover.start' "$DIR/node$(node_i "$L")/pgwarden.log" | tail -1 | cut -c1-19)
[ -n "$started" ] && [ "$(date -u -d "${started}Z" +%s)" -ge "$(date -u -d "$at" +%s)" ] &&
	ok "it started at $started, not before $at" || not_ok "it started at '$started', before $at"
wait_for 60 settled

# ---- reinit -------------------------------------------------------------------------
L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
touch "$DIR/node$(node_i "$R2")/data/reinit-marker"
expect_pc 0 "Reinitialize is completed on: $R2" "reinit --wait" -- reinit demo "$R2" --force --wait
echo "$OUT" | grepq -q "Success: reinitialize for member $R2" && ok "reinit: Patroni's 'started' answer" || not_ok "reinit answer ($OUT)"
[ ! -e "$DIR/node$(node_i "$R2")/data/reinit-marker" ] && ok "reinit: the data directory was cloned afresh" || not_ok "marker survived reinit"
wait_for 60 in_recovery "$R2" t && ok "reinit: $R2 follows again" || not_ok "$R2 after reinit"

# ---- pgwardenctl: switchover with only --etcd and --scope -------------------------------
wait_for 60 settled
L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
mkdir -p "$DIR/nohome"
# a freshly cloned or loaded replica can be megabytes behind for a while:
# the check is about credentials, not about a lag refusal
wait_for 60 caught_up "$R1" || not_ok "$R1 still lags beyond maximum_lag_on_failover"
OUT=$(env -u PGUSER -u PGPASSWORD -u PGPASSFILE HOME="$DIR/nohome" "$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" \
	--scope demo switchover --candidate "$R1" --force 2>&1 </dev/null)
line=$(echo "$OUT" | grep '^write downtime')
if [ "$(echo "$line" | wc -l)" = 1 ] && echo "$line" | grepq -q 'not measured' && echo "$line" | grepq -q 'PGUSER' &&
	[ "$(echo "$OUT" | grep -c .)" -le 3 ]; then
	ok "pgwardenctl without credentials: one line says why and how ($line)"
else
	not_ok "pgwardenctl without credentials ($OUT)"
fi
wait_for 60 settled
L=$(leader)
read -r R1 R2 <<<"$(replicas_of | tr '\n' ' ')"
wait_for 60 caught_up "$R1" || not_ok "$R1 still lags beyond maximum_lag_on_failover"
OUT=$(PGUSER=postgres PGPASSWORD=pgw-super "$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope demo \
	switchover --candidate "$R1" --force 2>&1 </dev/null)
if echo "$OUT" | grepq -Eq '^write downtime: [0-9]+ ms'; then
	ok "pgwardenctl with PGUSER/PGPASSWORD: $(echo "$OUT" | grep '^write downtime')"
else
	not_ok "pgwardenctl switchover downtime ($OUT)"
fi

# ---- every node stopped at once ----------------------------------------------------------
wait_for 60 settled
L=$(leader)
Li=$(node_i "$L")
for i in 1 2 3; do kill -TERM "${CL_PID[$i]}" 2>/dev/null; done
for i in 1 2 3; do
	wait_for 40 bash -c "! kill -0 ${CL_PID[$i]} 2>/dev/null" || not_ok "node$i did not stop"
	CL_PID[$i]=""
done
after=$(sed -n '/event=daemon.stopping/,$p' "$DIR/node$Li/pgwarden.log")
if [ -n "$after" ] && ! echo "$after" | grepq -q 'event=pg.started'; then
	ok "all stopped at once: the leader $L never restarted PostgreSQL during its stop"
else
	not_ok "the leader restarted PostgreSQL during its stop: $(echo "$after" | grep -E 'switchover|pg.started' | head -3)"
fi

# ---- remove ------------------------------------------------------------------------------
OUT=$(printf 'wrong\n' | "$PATRONICTL" -c "$DIR/patronictl.yml" remove demo 2>&1)
echo "$OUT" | grepq -q 'Cluster names specified do not match' && ok "remove: a wrong confirmation is refused" ||
	not_ok "remove wrong name ($OUT)"
[ -n "$(cluster_key config)" ] && ok "remove refused: nothing deleted" || not_ok "refused remove deleted keys"
OUT=$(printf 'demo\nYes I am aware\n%s\n' "$L" | "$PATRONICTL" -c "$DIR/patronictl.yml" remove demo 2>&1)
[ "$(cluster_etcdctl get /service/demo/ --prefix --keys-only | grep -c .)" = 0 ] && ok "remove: every key of the cluster deleted" ||
	not_ok "remove left keys ($OUT; $(cluster_etcdctl get /service/demo/ --prefix --keys-only | tr '\n' ' '))"

cluster_sanitizer_clean && ok "no sanitizer report in the daemon logs" || not_ok "sanitizer report"
tap_finish
