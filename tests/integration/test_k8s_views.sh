#!/usr/bin/env bash
# test_k8s_views.sh: the Kubernetes views of a real 3-node cluster (etcd,
# PostgreSQL 15, pgwarden) against the API server stand-in
# (tests/tools/k8s_standin.py): no Kubernetes API server can run here.
#   1. labels follow the roles (Patroni's role=master / role=replica), the
#      leader keeps the demo-rw EndpointSlice; the probes answer
#      (/startup, /readiness role- and lag-aware, /liveness); a label the
#      pod lacks (that Services select on) is named at start
#   2. planned switchover: the old leader's label goes before it stops
#      writing, the new leader's comes after its key is committed, and the
#      EndpointSlice takes one write for the change
#   3. a 5xx storm from the API server: a switchover takes as long as
#      without it (the HA loop never waits on Kubernetes), failures are
#      logged and counted in /metrics, the views converge once it ends
#   4. a slow API server: the label wait before a handover is bounded
#   5. 403: the RBAC message is logged; leadership is unaffected
#   6. every object the daemons wrote validates against the Kubernetes
#      OpenAPI schemas (tests/tools/k8s_validate.js)
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/k8s_standin.sh"

DIR=$(mktemp -d /tmp/pgw-it-k8s-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 40
	# first: cluster_cleanup waits for every background job of this shell
	k8s_standin_stop
	cluster_cleanup
}
trap cleanup EXIT

k8s_standin_start "$DIR/k8s" || { echo "could not start the API stand-in"; exit 1; }
cluster_init "$DIR" 3 fast
# cluster_init made the directory; the stand-in's files are inside it
for i in 1 2 3; do
	# node3's pod lacks the application label the Services select on
	labels="cluster-name=demo,application=pgwarden"
	[ "$i" = 3 ] && labels="cluster-name=demo"
	k8s_ctl "/_control/pod?name=node$i&ip=127.0.0.$i&labels=$labels" >/dev/null
	cat >>"$DIR/node$i/pgwarden.yml" <<YML
kubernetes:
  enabled: true
  api_url: $K8S_URL
  token_file: $K8S_TOKEN_FILE
  cacert: $K8S_CA
  namespace: default
  labels: {application: pgwarden}
  endpointslice: true
  timeout: 1
YML
done

# label ROLE of pod NAME in the stand-in ("" when absent)
pod_label() {
	k8s_ctl /_control/state | jq -r --arg p "$1" '.pods[$p].metadata.labels.role // ""'
}
slice_pod() {
	k8s_ctl /_control/state | jq -r '.slices["default/demo-rw"].endpoints[0].targetRef.name // ""'
}
labels_match() {
	local leader i want
	leader=$(cluster_key leader)
	[ -n "$leader" ] || return 1
	for i in 1 2 3; do
		want=replica
		[ "node$i" = "$leader" ] && want=master
		[ "$(pod_label "node$i")" = "$want" ] || return 1
	done
	[ "$(slice_pod)" = "$leader" ]
}
slice_writes() {
	k8s_ctl /_control/requests | jq '[.[] | select((.[0] == "PUT" or .[0] == "POST") and (.[1] | test("endpointslices")))] | length'
}
# line number of the first line matching RE in node N's log (0: none)
log_line() {
	local n
	n=$(grep -n -E "$2" "$DIR/node$1/pgwarden.log" | head -1 | cut -d: -f1)
	echo "${n:-0}"
}
switch_to() {
	local cur=$1 target=$2
	cluster_etcdctl put /service/demo/failover "{\"leader\":\"$cur\",\"member\":\"$target\"}" >/dev/null
	wait_for 30 cluster_key_is leader "$target"
}
other_replica() {
	local i
	for i in 1 2 3; do [ "node$i" != "$1" ] && echo "node$i" && return; done
}

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "cluster up" test -n "$leader"
check "two replicas" wait_for 120 cluster_has_replicas 2

# ---- 1. steady state ------------------------------------------------------
check "labels: leader master, replicas replica, slice on the leader" wait_for 20 labels_match
for i in 1 2 3; do
	check "node$i: /startup 200" test "$(cluster_status "$i" /startup)" = 200
	check "node$i: /readiness 200" test "$(cluster_status "$i" /readiness)" = 200
	check "node$i: /liveness 200" test "$(cluster_status "$i" /liveness)" = 200
done
# cluster_wait_primary gives the node's number
ln=$leader
rep=$(other_replica "node$leader")
rn=${rep#node}
# a replica whose replay is paused falls behind: not ready past the
# 1 MiB bound (maximum_lag_on_failover), ready again once it catches up
replica_ready() { [ "$(cluster_status "$rn" /readiness)" = "$1" ]; }
cluster_psql "$rn" "SELECT pg_wal_replay_pause()" >/dev/null
cluster_psql "$ln" "CREATE TABLE k(x text); INSERT INTO k SELECT repeat('x', 1000) FROM generate_series(1, 8000)" >/dev/null
check "a replica 8 MB behind is not ready" wait_for 20 replica_ready 503
check "  ... but still live" test "$(cluster_status "$rn" /liveness)" = 200
check "  ... and ready under ?lag=1GB" test "$(cluster_status "$rn" '/readiness?lag=1GB')" = 200
cluster_psql "$rn" "SELECT pg_wal_replay_resume()" >/dev/null
check "  ... and ready again once it caught up" wait_for 20 replica_ready 200
check "node3: the label its pod lacks is named (application=pgwarden)" \
	grep -q 'event=k8s.pod-label-missing.*label=application want=pgwarden have=(none)' "$DIR/node3/pgwarden.log"
check "node1, node2: no label named missing" \
	bash -c "! grep -q k8s.pod-label-missing $DIR/node1/pgwarden.log $DIR/node2/pgwarden.log"

# ---- 2. planned switchover: label order, one slice write --------------------
cur=$(cluster_key leader)
target=$(other_replica "$cur")
cn=${cur#node}
tn=${target#node}
w0=$(slice_writes)
check "switchover to $target" switch_to "$cur" "$target"
check "labels follow the switchover" wait_for 20 labels_match
check "the EndpointSlice took one write for the change" test "$(slice_writes)" = $((w0 + 1))
rm_line=$(log_line "$cn" 'event=k8s.label .*role=none')
so_line=$(log_line "$cn" 'event=switchover.start')
check "old leader: label removed (line $rm_line) before it stopped writing (line $so_line)" \
	test "$rm_line" -gt 0 -a "$rm_line" -lt "$so_line"
pr_line=$(log_line "$tn" 'event=promote.done')
ld_line=$(log_line "$tn" 'event=k8s.label .*role=leader')
check "new leader: label added (line $ld_line) after its promotion under the key (line $pr_line)" \
	test "$pr_line" -gt 0 -a "$ld_line" -gt "$pr_line"
check "switchover: old leader follows" wait_for 60 cluster_has_replicas 2

# ---- 3. a 5xx storm: the HA loop is not blocked ------------------------------
t0=$(now_ms)
cur=$(cluster_key leader)
target=$(other_replica "$cur")
check "switchover (calm API server) to $target" switch_to "$cur" "$target"
calm_ms=$(($(now_ms) - t0))
check "calm: labels follow" wait_for 20 labels_match
check "calm: old leader follows" wait_for 60 cluster_has_replicas 2
k8s_ctl "/_control/mode?m=error&n=1000000" >/dev/null
cur=$(cluster_key leader)
target=$(other_replica "$cur")
t0=$(now_ms)
check "switchover during a 5xx storm to $target" switch_to "$cur" "$target"
storm_ms=$(($(now_ms) - t0))
echo "# leader key moved in $calm_ms ms with a calm API server, $storm_ms ms during a 5xx storm"
check "storm: the switchover is not slowed by more than the 1 s label wait" test "$storm_ms" -lt $((calm_ms + 3000))
check "storm: the old leader follows" wait_for 60 cluster_has_replicas 2
alive=1
for i in 1 2 3; do [ "$(cluster_status "$i" /liveness)" = 200 ] || alive=0; done
check "storm: every node stays live" test $alive = 1
check "storm: failures logged" bash -c "grep -q 'event=k8s.write-failed.*HTTP 500' $DIR/node*/pgwarden.log"
failed=0
for i in 1 2 3; do
	n=$(curl -s "http://127.0.0.1:${CL_API_PORT[$i]}/metrics" | sed -n 's/^pgwarden_k8s_writes_total{result="failed"} //p')
	failed=$((failed + ${n:-0}))
done
check "storm: failures counted in /metrics ($failed)" test "$failed" -gt 0
k8s_ctl "/_control/mode?m=ok" >/dev/null
check "storm over: the views converge (backoff at most 30 s)" wait_for 45 labels_match
check "storm over: recovery logged" bash -c "grep -q 'event=k8s.recovered' $DIR/node*/pgwarden.log"

# ---- 4. a slow API server: the wait before a handover is bounded -------------
cur=$(cluster_key leader)
cn=${cur#node}
target=$(other_replica "$cur")
k8s_ctl "/_control/mode?m=slow&delay=4" >/dev/null
t0=$(now_ms)
check "switchover with a slow API server to $target" switch_to "$cur" "$target"
slow_ms=$(($(now_ms) - t0))
echo "# leader key moved in $slow_ms ms with an API server answering after 4 s"
check "slow: the old leader went on after a bounded wait" \
	grep -q 'event=k8s.label-not-removed' "$DIR/node$cn/pgwarden.log"
k8s_ctl "/_control/mode?m=ok" >/dev/null
check "slow over: the views converge" wait_for 45 labels_match
check "slow: old leader follows" wait_for 60 cluster_has_replicas 2

# ---- 5. 403: named, leadership unaffected -------------------------------------
cur=$(cluster_key leader)
target=$(other_replica "$cur")
k8s_ctl "/_control/mode?m=forbidden&n=1000000" >/dev/null
check "403: a switchover to $target still happens" switch_to "$cur" "$target"
check "403: the RBAC message is logged" \
	wait_for 30 bash -c "grep -q 'forbidden (403).*cannot patch resource' $DIR/node*/pgwarden.log"
check "403: the old leader follows" wait_for 60 cluster_has_replicas 2
k8s_ctl "/_control/mode?m=ok" >/dev/null
check "403 over: the views converge" wait_for 45 labels_match

# ---- 6. what the daemons wrote validates against the OpenAPI schemas -----------
k8s_ctl /_control/state >"$DIR/k8s-state.json"
out=$(node "$root/tests/tools/k8s_validate.js" "$DIR/k8s-state.json" 2>&1)
echo "$out" | sed 's/^/# /'
check "stored pods and EndpointSlice validate against the Kubernetes 1.27 schemas" \
	grep -q ' 0 invalid$' <<<"$out"
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
