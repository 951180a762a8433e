#!/usr/bin/env bash
# test_daemon_failsafe.sh: failsafe mode (issue 5; Patroni's failsafe_mode)
# on a real cluster: one etcd, three daemons, fast profile (ttl 3 s).
#   0. failsafe_mode on: GET /failsafe lists the members the leader wrote;
#      POST /failsafe to the leader is 500, with bad JSON 400; without
#      credentials 401, for another member or from another address 403
#      (security review F3)
#   1. failsafe_mode on, etcd killed: the primary keeps accepting writes for
#      3 ttl because both replicas vouch for it (POST /failsafe); no other
#      node accepts a write (per-node probes); etcd back: the same leader,
#      two streaming replicas
#   2. etcd killed again and one replica's daemon frozen (it cannot vouch):
#      the primary stops accepting writes within a ttl or so, as without
#      failsafe; everything back: a primary and two replicas again
# A writer records every acknowledged commit; none may be missing beyond
# the asynchronous bound (maximum_lag_on_failover at the measured WAL bytes
# per commit) at the end.
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-failsafe-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 40
	cluster_cleanup
}
trap cleanup EXIT

leader_node() {
	cluster_etcdctl get --print-value-only /service/demo/leader 2>/dev/null | sed 's/^node//'
}

cluster_init "$DIR" 3 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120)
check "bootstrap: a primary" test -n "$leader"
check "bootstrap: two replicas" cluster_wait_replicas 120 2
[ -n "$leader" ] || exit 1

cfg=$(cluster_etcdctl get --print-value-only /service/demo/config)
cluster_etcdctl put /service/demo/config "$(echo "$cfg" | jq -c '.failsafe_mode = true')" >/dev/null
check "failsafe_mode is on in the config key" \
	sh -c "ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:$CL_ETCD_PORT get --print-value-only /service/demo/config | jq -e '.failsafe_mode == true' >/dev/null"
check "GET /failsafe lists the three members" wait_for 10 sh -c \
	"curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/failsafe | jq -e 'keys == [\"node1\",\"node2\",\"node3\"]' >/dev/null"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d '{"name":"node9"}' "http://127.0.0.1:${CL_API_PORT[$leader]}/failsafe")
check "POST /failsafe to the leader itself: 500 (it runs as the leader)" test "$code" = 500
replica=$((leader % 3 + 1))
other=$((replica % 3 + 1))
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d '{"name":' "http://127.0.0.1:${CL_API_PORT[$replica]}/failsafe")
check "POST /failsafe with bad JSON: 400" test "$code" = 400
# security review F3: a vouch stops every automatic failover, so it is a
# write like the others, and only for the leader, from the leader's address
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"name\":\"node$leader\"}" "http://127.0.0.1:${CL_API_PORT[$replica]}/failsafe")
check "POST /failsafe without credentials: 401 ($code)" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$CL_REST_AUTH" -X POST -d "{\"name\":\"node$other\"}" "http://127.0.0.1:${CL_API_PORT[$replica]}/failsafe")
check "POST /failsafe for a member that is not the leader: 403 ($code)" test "$code" = 403
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$CL_REST_AUTH" --interface 127.0.0.2 -X POST -d "{\"name\":\"node$leader\"}" "http://127.0.0.1:${CL_API_PORT[$replica]}/failsafe")
check "POST /failsafe for the leader from another address (127.0.0.2): 403 ($code)" test "$code" = 403
check "the refusals are logged (failsafe.vouch-refused)" \
	test "$(grep -c 'event=failsafe.vouch-refused' "$DIR/node$replica/pgwarden.log")" -ge 2
check "no refused request was vouched for" sh -c "! grep -q 'event=failsafe.vouched' '$DIR/node$replica/pgwarden.log'"
cfg_patch=$(curl -s -o /dev/null -w '%{http_code}' -u "$CL_REST_AUTH" -X PATCH -d '{"failsafe_mode":true}' "http://127.0.0.1:${CL_API_PORT[$replica]}/config")
check "PATCH /config failsafe_mode with REST authentication configured: 200 ($cfg_patch)" test "$cfg_patch" = 200
sleep 1

cluster_start_writer
cluster_start_probes
check "the writer acknowledges writes" cluster_wait_ack "$(($(now_ms) + 1000))" 30
cluster_loss_bound || not_ok "loss bound: $CL_LOSS_WHY"

# ---- 1. etcd down, every member vouches -------------------------------------
kill -KILL "$CL_ETCD_PID"
wait "$CL_ETCD_PID" 2>/dev/null
t0=$(now_ms)
check "etcd down, failsafe: the leader keeps accepting writes for 3 ttl (9 s)" hold_for 9 cluster_writable "$leader"
out=$(cluster_split "$t0" "$(now_ms)" 2>&1)
echo "# failsafe, etcd down: $(tail -n 1 <<<"$out")"
for i in 1 2 3; do
	[ "$i" = "$leader" ] && continue
	check "etcd down, failsafe: node$i accepted no write (probe log)" \
		test "$(cl_kv accepted "$(cluster_accepts "$i" "$t0" "$(now_ms)")")" = 0
done
check "etcd down, failsafe: never two writable nodes" test "$(cl_kv split "$(tail -n 1 <<<"$out")")" = 0
check "the leader logged failsafe.active" grep -q "event=failsafe.active" "$DIR/node$leader/pgwarden.log"
for i in 1 2 3; do
	[ "$i" = "$leader" ] && continue
	check "node$i logged its vouch for node$leader (failsafe.vouched from its address)" \
		grep -qE "event=failsafe.vouched .*primary=node$leader from=127.0.0.1" "$DIR/node$i/pgwarden.log"
done
for i in 1 2 3; do
	[ "$i" = "$leader" ] && continue
	check "node$i vouched and held back (no-leader-failsafe-vouched or following)" \
		sh -c "! grep -q 'kind=promote' '$DIR/node$i/pgwarden.log'"
done
cluster_start_etcd || { not_ok "etcd restarts"; exit 1; }
now_leader=""
for k in $(seq 1 60); do
	now_leader=$(leader_node)
	[ -n "$now_leader" ] && break
	sleep 0.5
done
echo "# failsafe: after etcd came back the leader key names node${now_leader:-?}"
check "etcd back: the same leader holds the key" test "$now_leader" = "$leader"
check "etcd back: two replicas" cluster_wait_replicas 120 2
# failsafe ends once etcd confirms our keepalives again
check "the leader logged failsafe.ended" wait_for 30 grep -q "event=failsafe.ended" "$DIR/node$leader/pgwarden.log"

# ---- 2. etcd down and a replica cannot vouch --------------------------------
leader=$(cluster_wait_primary 60)
[ -n "$leader" ] || { not_ok "a primary before scenario 2"; exit 1; }
frozen=$((leader % 3 + 1))
# the frozen member vouched last before t0: from t0 + ttl it could take
# over (were etcd within its reach), so the leader must stop before that;
# its fence fires at the last round + ttl - 10 %, and writable() itself
# takes up to ~300 ms to notice
t0=$(now_ms)
kill -STOP "${CL_PID[$frozen]}"
kill -KILL "$CL_ETCD_PID"
wait "$CL_ETCD_PID" 2>/dev/null
check "a replica that cannot vouch: the leader stops answering /primary" wait_for 10 cluster_refuses_primary "$leader"
check "it does not claim /primary again while etcd is down (to +5 s)" \
	hold_for "$(awk -v ms=$((t0 + 5000 - $(now_ms))) 'BEGIN{printf "%.1f", (ms > 0 ? ms : 0) / 1000}')" cluster_not_primary "$leader"
a=$(cluster_accepts "$leader" "$t0" "$(now_ms)")
last=$(cl_kv last_end_ms "$a")
echo "# failsafe: node$frozen frozen: the leader's last accepted write ended $([ "$last" = -1 ] && echo "before the freeze" || echo "$((last - t0)) ms after it") (ttl 3000 ms)"
check "a replica that cannot vouch: the leader stopped accepting writes within a ttl of its last vouch (3300 ms)" \
	test -n "$last" -a "${last:-0}" -lt $((t0 + 3300))
# the refusal is logged when a round ran before the deadline (a cycle
# blocked in an etcd call may use that time up: then the deadline fences)
if grep -q "event=failsafe.refused" "$DIR/node$leader/pgwarden.log"; then
	echo "# failsafe: the leader logged failsafe.refused"
else
	echo "# failsafe: the deadline passed before a failsafe round could run"
fi
kill -CONT "${CL_PID[$frozen]}"
cluster_start_etcd || { not_ok "etcd restarts"; exit 1; }
leader=$(cluster_wait_primary 90)
check "everything back: a primary" test -n "$leader"
check "everything back: two replicas" cluster_wait_replicas 120 2

out=$(cluster_split "$t0" "$(now_ms)" 2>&1)
echo "# failsafe, a replica frozen: $(tail -n 1 <<<"$out")"
check "a replica frozen: never two writable nodes" test "$(cl_kv split "$(tail -n 1 <<<"$out")")" = 0
cluster_stop_writer
cluster_stop_probes
cat "$CL_DIR/writer.out"
missing=$(cluster_missing)
check "acknowledged commits missing=${missing:-?} <= $CL_LOSS_BOUND ($CL_LOSS_WHY)" \
	test -n "$missing" -a "${missing:--1}" -ge 0 -a "${missing:-999999}" -le "${CL_LOSS_BOUND:-0}"
tap_finish
