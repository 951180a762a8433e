#!/usr/bin/env bash
# test_sec_rest_flood.sh: the REST API stays answerable under a connection
# flood (security review F4: 64 half-sent requests from one client took the
# API down, and with it HAProxy's checks: a write outage). Two nodes, fast
# profile, a real HAProxy checking them with Patroni's recipe
# (OPTIONS /primary, GET /replica, inter 500ms fall 3, timeout check 2s).
#   1. a single connection that trickles a header line every second, never
#      finishing its headers, is closed by the server within the header
#      deadline (5 s) plus a sweep, however long it keeps trickling
#   2. 500 such connections from 127.0.0.2 held for 20 s against each node
#      (closed ones reopened at once): every OPTIONS /primary and
#      GET /replica from 127.0.0.1 during the flood answers 200 within
#      HAProxy's 2 s check timeout, HAProxy never marks a server down and
#      none of its checks times out or fails to connect (each failed check
#      is logged with its reason); at most 16 of the flood's connections
#      are served at a time (per-address limit)
#   3. a write (POST /switchover) during a flood still completes
source "$(dirname "$0")/../lib/it_prelude.sh"
FLOOD="$root/tests/tools/rest_flood.py"

DIR=$(mktemp -d /tmp/pgw-it-flood-XXXXXX)
HAP_PID=""
FLOOD_PIDS=()
cleanup() {
	for p in "${FLOOD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$HAP_PID" ] && kill "$HAP_PID" 2>/dev/null
	tap_dump_logs "$DIR" 2 30
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 2 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
cluster_start_node 1
check "node1 is primary" test "$(cluster_wait_primary 90)" = 1
cluster_start_node 2
check "node2 replicates" cluster_wait_replicas 90 1

# HAProxy with Patroni's check recipe; only its checks matter here
HAP_RW=$(cl_pick_port)
HAP_RO=$(cl_pick_port)
HAP_STATS=$(cl_pick_port)
cat >"$DIR/haproxy.cfg" <<CFG
global
  log stdout format raw local0
defaults
  log global
  option log-health-checks
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 2s
listen pg_rw
  bind 127.0.0.1:$HAP_RW
  option httpchk OPTIONS /primary
  http-check expect status 200
  default-server inter 500ms fall 3 rise 2
  server node1 127.0.0.1:${CL_PG_PORT[1]} check port ${CL_API_PORT[1]}
listen pg_ro
  bind 127.0.0.1:$HAP_RO
  option httpchk GET /replica
  http-check expect status 200
  default-server inter 500ms fall 3 rise 2
  server node2 127.0.0.1:${CL_PG_PORT[2]} check port ${CL_API_PORT[2]}
listen stats
  mode http
  bind 127.0.0.1:$HAP_STATS
  stats enable
  stats uri /stats
CFG
/usr/sbin/haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HAP_PID=$!
# hap_field BACKEND SERVER FIELD: a column of HAProxy's CSV stats
hap_field() {
	curl -s -m 2 "http://127.0.0.1:$HAP_STATS/stats;csv" | awk -F, -v b="$1" -v s="$2" -v f="$3" '
		NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == b && $2 == s { print $(col[f]) }'
}
# served_from ADDR I: connections node I's daemon has accepted from ADDR
served_from() {
	ss -tnp state established dst "$1" 2>/dev/null | grep -c "pid=${CL_PID[$2]},"
}
both_up() { [ "$(hap_field pg_rw node1 status)" = UP ] && [ "$(hap_field pg_ro node2 status)" = UP ]; }
check "HAProxy sees node1 UP for pg_rw and node2 UP for pg_ro" wait_for 30 both_up

# ---- 1. a trickling connection is closed at the header deadline -----------
out=$(python3 "$FLOOD" 127.0.0.1 "${CL_API_PORT[1]}" 1 12 --source 127.0.0.3 --trickle 1)
echo "# one trickler for 12 s: $out"
longest=$(sed -n 's/.*longest_open_s=\([0-9.]*\).*/\1/p' <<<"$out")
check "a connection trickling a header line every second is closed within 7 s (got ${longest}s)" \
	awk -v l="${longest:-99}" 'BEGIN { exit !(l >= 4.5 && l < 7.0) }'
check "the server closed it more than once in 12 s (it reopened)" \
	awk -v o="$(sed -n 's/.*closed_by_server=\([0-9]*\).*/\1/p' <<<"$out")" 'BEGIN { exit !(o >= 2) }'

# ---- 2. 500 slow connections against each node ------------------------------
fail0_rw=$(hap_field pg_rw node1 chkfail)
fail0_ro=$(hap_field pg_ro node2 chkfail)
for i in 1 2; do
	python3 "$FLOOD" 127.0.0.1 "${CL_API_PORT[$i]}" 500 20 --source 127.0.0.2 --trickle 2 \
		>"$DIR/flood$i.out" 2>&1 &
	FLOOD_PIDS+=($!)
done
sleep 1
declare -a most
probes=0
slow=0
bad=0
down=0
worst=0
t_end=$(($(date +%s) + 17))
while [ "$(date +%s)" -lt "$t_end" ]; do
	for req in "1 OPTIONS /primary" "2 GET /replica"; do
		set -- $req
		r=$(curl -s -o /dev/null -m 2 -X "$2" -w '%{http_code} %{time_total}' \
			"http://127.0.0.1:${CL_API_PORT[$1]}$3")
		probes=$((probes + 1))
		code=${r%% *}
		t_ms=$(awk -v t="${r##* }" 'BEGIN { printf "%d", t * 1000 }')
		[ "$code" = 200 ] || bad=$((bad + 1))
		[ "$t_ms" -ge 2000 ] && slow=$((slow + 1))
		[ "$t_ms" -gt "$worst" ] && worst=$t_ms
	done
	both_up || down=$((down + 1))
	for i in 1 2; do
		n=$(served_from 127.0.0.2 "$i")
		[ "$n" -gt "${most[$i]:-0}" ] && most[$i]=$n
	done
	sleep 0.2
done
for p in "${FLOOD_PIDS[@]}"; do wait "$p"; done
FLOOD_PIDS=()
echo "# flood on node1: $(cat "$DIR/flood1.out")"
echo "# flood on node2: $(cat "$DIR/flood2.out")"
echo "# during the flood: $probes health checks, $bad not 200, $slow over 2 s, slowest ${worst} ms"
check "the flood ran: hundreds of connections were opened against node1" \
	awk -v o="$(sed -n 's/.*opened=\([0-9]*\).*/\1/p' "$DIR/flood1.out")" 'BEGIN { exit !(o >= 500) }'
check "every health check during the flood answered 200 ($bad of $probes did not)" test "$bad" = 0
check "every health check answered within HAProxy's 2 s ($slow did not; slowest ${worst} ms)" test "$slow" = 0
check "HAProxy kept both servers UP the whole time ($down samples not)" test "$down" = 0
# every failed check HAProxy logged (option log-health-checks), and why
failed_checks=$(grep -i "health check for server .* failed" "$DIR/haproxy.log")
[ -n "$failed_checks" ] && echo "# HAProxy's failed checks: $failed_checks"
echo "# HAProxy check failures: pg_rw $fail0_rw -> $(hap_field pg_rw node1 chkfail), pg_ro $fail0_ro -> $(hap_field pg_ro node2 chkfail)"
check "no HAProxy check timed out or failed to connect during the flood" \
	sh -c "! grep -iE 'health check for server .* failed.*(timeout|layer4|connection)' '$DIR/haproxy.log'"
for i in 1 2; do
	check "node$i served at most 16 of one address's connections at a time (most seen: ${most[$i]:-0})" \
		test "${most[$i]:-0}" -ge 1 -a "${most[$i]:-99}" -le 16
done
check "node1 logged the slow clients it closed" grep -q "event=rest.slow-clients-closed" "$DIR/node1/pgwarden.log"

# ---- 3. a write during a flood ------------------------------------------------
python3 "$FLOOD" 127.0.0.1 "${CL_API_PORT[1]}" 500 30 --source 127.0.0.2 --trickle 2 \
	>"$DIR/flood3.out" 2>&1 &
FLOOD_PIDS+=($!)
sleep 2
t0=$(now_ms)
code=$(curl -s -o "$DIR/sw.out" -m 60 -u "$CL_REST_AUTH" -w '%{http_code}' -X POST \
	-d '{"leader":"node1","candidate":"node2"}' "http://127.0.0.1:${CL_API_PORT[1]}/switchover")
echo "# POST /switchover during a flood: $code in $(($(now_ms) - t0)) ms: $(cat "$DIR/sw.out")"
check "POST /switchover during a flood: 200" test "$code" = 200
check "node2 is the primary" test "$(cluster_wait_primary 60)" = 2
for p in "${FLOOD_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
FLOOD_PIDS=()
check "no sanitizer report in any daemon log" cluster_sanitizer_clean
tap_finish
