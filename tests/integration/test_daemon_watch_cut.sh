#!/usr/bin/env bash
# test_daemon_watch_cut.sh: a watch that silently stops delivering does not
# leave the daemon with a stale view (issue 18). The daemon reads nothing
# periodically while its watch is healthy, so a stream that goes silent
# without closing must be noticed by the watch's progress requests.
# One etcd, two daemons, default profile (ttl 10 s). node2 reaches etcd
# through tests/tools/pgw_cutproxy.py; the drill makes the proxy stop
# forwarding etcd's bytes to node2 on the open connection (nothing closes,
# etcd sees nothing wrong) and, at the same moment, changes the config key.
#   - node2 logs the stalled watch (dcs.resync) within one ttl
#   - node2's REST /config shows the config changed during the cut, also
#     within one ttl of the cut (the view re-read, the watch resumed)
#   - node2 is still a streaming replica, node1 still the primary
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-watchcut-XXXXXX)
PROXY_PID=""
cleanup() {
	[ -n "$PROXY_PID" ] && kill -KILL "$PROXY_PID" 2>/dev/null
	tap_dump_logs "$DIR" 2 40
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 2 default
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
pport=$(cl_pick_port)
python3 "$root/tests/tools/pgw_cutproxy.py" "$pport" "127.0.0.1:$CL_ETCD_PORT" \
	2>"$DIR/proxy.log" &
PROXY_PID=$!
sed -i "s/^  hosts: .*/  hosts: 127.0.0.1:$pport/" "$DIR/node2/pgwarden.yml"
proxy_up() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$pport" --command-timeout=1s endpoint health >/dev/null 2>&1; }
check "the proxy forwards to etcd" wait_for 10 proxy_up

cluster_start_node 1
leader=$(cluster_wait_primary 120)
check "node1 is the primary" test "$leader" = 1
cluster_start_node 2
check "node2 streams from node1 (through the proxy to etcd)" cluster_wait_replicas 180 1
stalled() { grep -q "event=dcs.resync.*stalled" "$DIR/node2/pgwarden.log"; }
not_stalled() { ! stalled; }
check "no stall is reported on a healthy, idle watch (5 s)" hold_for 5 not_stalled

t0=$(cl_now)
kill -USR1 "$PROXY_PID"
cluster_set_config '.maximum_lag_on_failover = 1048577'
if wait_for 10 stalled; then
	ok "node2 notices the silent watch within one ttl ($(($(cl_now) - t0)) ms after the cut)"
else
	not_ok "node2 notices the silent watch within one ttl (nothing in its log after 10 s)"
fi
check "the proxy did cut a connection" grep -q "cutproxy: cut [1-9]" "$DIR/proxy.log"
config_seen() {
	curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[2]}/config" | jq -e '.maximum_lag_on_failover == 1048577' >/dev/null 2>&1
}
# within one ttl of the cut: the stall's re-read, not gRPC's own keepalive
# (which would notice the dead connection much later)
left_s=$(awk -v ms=$((10000 - ($(cl_now) - t0))) 'BEGIN{printf "%.1f", (ms > 0 ? ms / 1000 : 0)}')
check "node2's view has the config changed during the cut, within one ttl of it" wait_for "$left_s" config_seen
check "node2 is still a streaming replica" cluster_wait_replicas 30 1
sole_primary_1() { [ "$(cluster_primaries)" = "1 " ]; }
check "node1 is still the only primary" sole_primary_1

tap_finish
