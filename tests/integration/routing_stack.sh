# routing_stack.sh: a PgBouncer 1.18 and an HAProxy 2.6 on loopback, each
# with its pgwarden-router, in front of a cluster started by
# tests/lib/cluster.sh (routing/README.md). Shared by
# tests/integration/test_routing_cluster.sh and bench/bench_routing.sh, so the
# benchmark measures what the test proves. Source it after cluster.sh and
# after cluster_init; every process it starts is recorded in RS_PIDS and
# stopped by rs_stop_all (call it from the EXIT trap, before
# cluster_cleanup). Every wait is bounded.
#
# Usage: rs_check_deps; rs_setup_app LEADER; rs_start [poll]
#   poll: HAProxy also gets pg_rw_poll, Patroni's recipe with no router
#   (option httpchk GET /primary, inter 3s fall 3 rise 2), for comparison.

: "${RS_PROBE:=$PGW_BUILD_DIR/bench/bench_routing_probe}"
: "${RS_ROUTER:=$PGW_BUILD_DIR/routing/pgwarden-router}"
: "${RS_PGBENCH:=$PG_BIN_DIR/pgbench}"
declare -a RS_PIDS=()
RS_DIR=""
RS_LAST_PID=""
RS_PGB_PORT=0
RS_HAP_RW=0
RS_HAP_RO=0
RS_HAP_POLL=0
# RS_METRICS=1 before rs_start: each router also serves GET /metrics on
# 127.0.0.1:${RS_METRICS_PORT[r-pgb]} / [r-hap], its pools read every 500 ms
declare -A RS_METRICS_PORT=()

# rs_check_deps: every program the stack needs, or a message and 1
rs_check_deps() {
	local f
	for f in "$RS_PROBE" "$RS_ROUTER" "$RS_PGBENCH" /usr/sbin/pgbouncer /usr/sbin/haproxy; do
		if [ ! -x "$f" ]; then
			echo "routing_stack: $f is missing (build first; bash scripts/install-deps.sh)" >&2
			return 1
		fi
	done
	command -v python3 >/dev/null || {
		echo "routing_stack: python3 is missing (HAProxy socket)" >&2
		return 1
	}
}

# rs_as_user CMD...: exec CMD as the run-as user in place of the calling
# shell, so a background job's pid is CMD's own (rs_bg rs_as_user CMD...);
# never call it in the foreground
rs_as_user() {
	if [ "$(id -u)" = 0 ]; then
		exec setpriv --reuid="$PGW_RUN_AS" --regid="$PGW_RUN_AS" --init-groups -- "$@"
	else
		exec "$@"
	fi
}

# rs_bg LOG CMD...: CMD in the background, output to LOG; pid in RS_LAST_PID.
# A shell function as CMD must exec its program (rs_as_user does), or the
# pid is a subshell's and stopping it would leave the program running.
rs_bg() {
	local log=$1
	shift
	"$@" >>"$log" 2>&1 &
	RS_PIDS+=($!)
	RS_LAST_PID=$!
}

# rs_stop_pid PID: SIGTERM, bounded wait (5 s), SIGKILL
rs_stop_pid() {
	local p=$1 k
	kill -TERM "$p" 2>/dev/null
	for k in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

# rs_wait_pid PID TIMEOUT_S: wait for PID to exit: its status, 124 on timeout
rs_wait_pid() {
	local p=$1 deadline=$(($(date +%s) + $2))
	while kill -0 "$p" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			rs_stop_pid "$p"
			return 124
		fi
		sleep 0.2
	done
	wait "$p"
}

# rs_stop_all: stop everything rs_bg started (SIGTERM, 3 s, SIGKILL)
rs_stop_all() {
	local p k alive
	for p in "${RS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for k in $(seq 1 30); do
		alive=0
		for p in "${RS_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${RS_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	RS_PIDS=()
}

# rs_dump_logs LINES: the tail of the routers', PgBouncer's and HAProxy's logs
rs_dump_logs() {
	local f
	for f in r-pgb.log r-hap.log pgbouncer.log haproxy.log; do
		echo "---- $f (tail)"
		tail -n "$1" "$RS_DIR/$f" 2>/dev/null
	done
}

# rs_setup_app I: role app/app and table pgw_route on node I (the leader)
rs_setup_app() {
	cluster_psql "$1" "CREATE ROLE app LOGIN PASSWORD 'app';
		CREATE TABLE pgw_route(id bigserial PRIMARY KEY, port int,
			at timestamptz DEFAULT clock_timestamp());
		GRANT ALL ON pgw_route TO app; GRANT ALL ON SEQUENCE pgw_route_id_seq TO app" >/dev/null
}

rs_servers() { # [disabled]: one line per node, checked on its REST port
	local i
	for i in $(seq 1 "$CL_N"); do
		echo "  server node$i 127.0.0.1:${CL_PG_PORT[$i]} check port ${CL_API_PORT[$i]}${1:+ $1}"
	done
}

rs_router_cfg() { # NAME TARGETS_YAML
	cat <<YML
name: $1
scope: $CL_SCOPE
namespace: /service
etcd:
  hosts: 127.0.0.1:$CL_ETCD_PORT
router_ttl: 2s
loop_wait: 20ms
retry_interval: 200ms
status_file: $RS_DIR/$1.status.json
${RS_METRICS:+metrics_listen: 127.0.0.1:${RS_METRICS_PORT[$1]:-0}
pools_interval: 500ms}
targets:
$2
YML
}

# rs_start [poll]: write the configurations into $CL_DIR/route and start
# PgBouncer (server_login_retry left at its default, 15 s), HAProxy and the
# two routers (r-pgb, r-hap); 1 when PgBouncer or HAProxy does not listen
rs_start() {
	local poll=${1:-} k
	RS_DIR=$CL_DIR/route
	RS_PGB_PORT=$(cl_pick_port)
	RS_HAP_RW=$(cl_pick_port)
	RS_HAP_RO=$(cl_pick_port)
	RS_HAP_POLL=$(cl_pick_port)
	if [ -n "${RS_METRICS:-}" ]; then
		RS_METRICS_PORT[r-pgb]=$(cl_pick_port)
		RS_METRICS_PORT[r-hap]=$(cl_pick_port)
	fi
	mkdir -p "$RS_DIR"
	echo "[databases]" >"$RS_DIR/databases.ini"
	cat >"$RS_DIR/pgbouncer.ini" <<INI
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $RS_PGB_PORT
unix_socket_dir = $RS_DIR
auth_type = any
pool_mode = transaction
admin_users = pgwarden
max_client_conn = 200
default_pool_size = 10
query_wait_timeout = 30
logfile = $RS_DIR/pgbouncer.log
pidfile = $RS_DIR/pgbouncer.pid
%include $RS_DIR/databases.ini
INI
	# pg_rw / pg_ro: the router's runtime API on top of Patroni's REST
	# checks; servers start disabled, only the router enables them.
	# retries + option redispatch 1: a connection attempt that was retrying
	# the dead primary moves to the server the router made ready instead of
	# waiting out retries x 1 s on the dead one.
	{
		cat <<CFG
global
  stats socket $RS_DIR/haproxy.sock mode 600 level admin
  server-state-file $RS_DIR/haproxy.state
defaults
  mode tcp
  retries 3
  option redispatch 1
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 2s
  load-server-state-from-file global
listen pg_rw
  bind 127.0.0.1:$RS_HAP_RW
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
$(rs_servers disabled)
listen pg_ro
  bind 127.0.0.1:$RS_HAP_RO
  balance roundrobin
  option httpchk GET /read-only
  http-check expect status 200
  default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
$(rs_servers disabled)
CFG
		if [ "$poll" = poll ]; then
			# polling the REST API alone (Patroni's recipe, no router), with
			# the same HAProxy settings as the router's backends (retries 3,
			# option redispatch 1, timeout connect 2s, checks inter 3s fall 3
			# rise 2), so the comparison measures the router, not defaults
			cat <<CFG
listen pg_rw_poll
  bind 127.0.0.1:$RS_HAP_POLL
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
$(rs_servers)
CFG
		fi
	} >"$RS_DIR/haproxy.cfg"
	rs_router_cfg r-pgb "  - type: pgbouncer
    include_file: $RS_DIR/databases.ini
    admin_conninfo: \"host=127.0.0.1 port=$RS_PGB_PORT dbname=pgbouncer user=pgwarden\"
    dbname: postgres
    options: \"user=app password=app\"
    timeout: 5s" >"$RS_DIR/r-pgb.yml"
	rs_router_cfg r-hap "  - type: haproxy
    socket: $RS_DIR/haproxy.sock
    rw_backend: pg_rw
    ro_backend: pg_ro
    server_state_file: $RS_DIR/haproxy.state
    timeout: 2s" >"$RS_DIR/r-hap.yml"
	[ "$(id -u)" = 0 ] && chown -R "$PGW_RUN_AS" "$RS_DIR"
	rs_bg "$RS_DIR/pgbouncer.out" rs_as_user /usr/sbin/pgbouncer "$RS_DIR/pgbouncer.ini"
	rs_bg "$RS_DIR/haproxy.log" rs_as_user /usr/sbin/haproxy -db -f "$RS_DIR/haproxy.cfg"
	for k in $(seq 1 200); do
		! cl_port_free "$RS_PGB_PORT" && ! cl_port_free "$RS_HAP_RW" && break
		sleep 0.1
	done
	if cl_port_free "$RS_PGB_PORT" || cl_port_free "$RS_HAP_RW"; then
		echo "routing_stack: PgBouncer or HAProxy does not listen; see $RS_DIR" >&2
		return 1
	fi
	rs_bg "$RS_DIR/r-pgb.log" rs_as_user "$RS_ROUTER" -c "$RS_DIR/r-pgb.yml"
	rs_bg "$RS_DIR/r-hap.log" rs_as_user "$RS_ROUTER" -c "$RS_DIR/r-hap.yml"
}

# ---- observing --------------------------------------------------------------

rs_leader_key() { cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/leader"; }
rs_leader_is() { [ "$(rs_leader_key)" = "$1" ]; }
rs_routing_json() { cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/routing"; }

# rs_routers_serve NODE [REPLICAS]: the table serves NODE (with at least
# REPLICAS replicas) and both routers applied and acknowledged its epoch
rs_routers_serve() {
	local e r
	e=$(rs_routing_json | jq -r --arg p "$1" --argjson n "${2:-0}" \
		'select(.state == "serving" and .primary.name == $p and (.replicas | length) >= $n) | .epoch' 2>/dev/null)
	[ -n "$e" ] || return 1
	for r in r-pgb r-hap; do
		jq -e --argjson e "$e" '.acked_epoch == $e and .applied_ok' "$RS_DIR/$r.status.json" >/dev/null 2>&1 || return 1
	done
}

# conninfos: PgBouncer database postgres_rw / postgres_ro; an HAProxy port
rs_conn_pgb() { echo "host=127.0.0.1 port=$RS_PGB_PORT dbname=postgres_$1 user=app password=app connect_timeout=10"; }
rs_conn_hap() { echo "host=127.0.0.1 port=$1 dbname=postgres user=app password=app connect_timeout=5"; }

# rs_port_of CONNINFO [SQL]: the server port one fresh write (or SQL) lands on
rs_port_of() {
	local out
	if [ -n "${2:-}" ]; then
		out=$("$RS_PROBE" --conninfo "$1" --count 1 --timeout-ms 10000 --sql "$2" 2>/dev/null)
	else
		out=$("$RS_PROBE" --conninfo "$1" --count 1 --timeout-ms 10000 2>/dev/null)
	fi
	awk '$2 == "ok" {print $3}' <<<"$out"
}
rs_port_is() { [ "$(rs_port_of "$2" "${3:-}")" = "$1" ]; }

# rs_event_ms I PATTERN: wall ms of the last line of node I's log matching
# PATTERN (an extended regex)
rs_event_ms() {
	local ts
	ts=$(grep -E "$2" "$CL_DIR/node$1/pgwarden.log" | tail -1 | cut -d' ' -f1)
	[ -n "$ts" ] && date -d "$ts" +%s%3N
}
# rs_event_after_ms I PATTERN AFTER_MS: wall ms of the first such line at or
# after AFTER_MS
rs_event_after_ms() {
	local ts ms
	while read -r ts; do
		ms=$(date -d "$ts" +%s%3N) || continue
		if [ "$ms" -ge "$3" ]; then
			echo "$ms"
			return 0
		fi
	done < <(grep -E "$2" "$CL_DIR/node$1/pgwarden.log" | cut -d' ' -f1)
	return 1
}
# rs_published_ms I STATE [AFTER_MS]: when node I published a STATE table
# (the last one, or the first at or after AFTER_MS)
rs_published_ms() {
	if [ -n "${3:-}" ]; then
		rs_event_after_ms "$1" "event=routing.published .*state=$2 " "$3"
	else
		rs_event_ms "$1" "event=routing.published .*state=$2 "
	fi
}

# probe logs (bench_routing_probe --log): "<wall_ms> ok <port> <ms>"
# rs_first_ok LOG PORT AFTER_MS: wall ms of the first write on PORT after AFTER_MS
rs_first_ok() { awk -v p="$2" -v t="$3" '$2 == "ok" && $3 == p && $1 >= t {print $1; exit}' "$1"; }
# rs_oks_off LOG PORT AFTER_MS: writes after AFTER_MS that landed elsewhere than PORT
rs_oks_off() { awk -v p="$2" -v t="$3" '$2 == "ok" && $1 >= t && $3 != p {n++} END {print n + 0}' "$1"; }
# rs_oks_on LOG PORT AFTER_MS: writes after AFTER_MS that landed on PORT
rs_oks_on() { awk -v p="$2" -v t="$3" '$2 == "ok" && $1 >= t && $3 == p {n++} END {print n + 0}' "$1"; }
rs_oks_after() { awk -v t="$2" '$2 == "ok" && $1 >= t {n++} END {print n + 0}' "$1"; }

# rs_haproxy_cmd CMD: one command on HAProxy's stats socket, its answer
rs_haproxy_cmd() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
sys.stdout.write(s.makefile().read())' "$RS_DIR/haproxy.sock" "$1" 2>/dev/null
}
# rs_srv_admin BACKEND I: srv_admin_state of node I in BACKEND (bit 1: maint)
rs_srv_admin() {
	rs_haproxy_cmd "show servers state $1" | awk -v s="node$2" '$4 == s {print $7}'
}
rs_in_maint() { local a; a=$(rs_srv_admin "$1" "$2"); [ -n "$a" ] && [ $((a & 1)) = 1 ]; }
rs_not_maint() { local a; a=$(rs_srv_admin "$1" "$2"); [ -n "$a" ] && [ $((a & 1)) = 0 ]; }

# rs_pgb_rw_ports: server ports of PgBouncer's rw server connections
rs_pgb_rw_ports() {
	psql -X -A -t -F'|' -h 127.0.0.1 -p "$RS_PGB_PORT" -U pgwarden -d pgbouncer -c "SHOW SERVERS" 2>/dev/null |
		awk -F'|' '$3 == "postgres_rw" {print $6}'
}

# rs_crash_node I: SIGKILL node I's daemon, postmaster and every child of
# the postmaster (backends, walsenders, ...) at once; prints the count
rs_crash_node() {
	local i=$1 pm kids
	pm=$(cluster_postmaster_pid "$i")
	kids=$(ps -o pid= --ppid "${pm:-0}" 2>/dev/null | tr '\n' ' ')
	# shellcheck disable=SC2086
	kill -KILL "${CL_PID[$i]}" $pm $kids 2>/dev/null
	echo $(($(wc -w <<<"$kids") + 1))
}
