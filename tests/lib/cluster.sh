#!/usr/bin/env bash
# cluster.sh: start and stop a local pgwarden cluster on loopback: one etcd
# and N pgwarden daemons, each with its own PostgreSQL 15 (run as the
# unprivileged user "pgwarden" when we are root). Shared by scripts/demo.sh
# and the shell-driven integration tests, so the demo is what the tests test.
# Everything this file starts is recorded and stopped by cluster_cleanup,
# which callers install as an EXIT trap. Every wait is a bounded poll.
#
# Usage: source tests/lib/cluster.sh; cluster_init DIR N [profile]
#        cluster_start_etcd; cluster_start_node 1 ...; cluster_cleanup

: "${PGW_BIN:=${PGW_BUILD_DIR:-$(pwd)/build}/daemon/pgwarden}"
: "${PGWCTL_BIN:=${PGW_BUILD_DIR:-$(pwd)/build}/ctl/pgwardenctl}"
: "${PG_BIN_DIR:=/usr/lib/postgresql/15/bin}"
: "${PGW_RUN_AS:=pgwarden}"
# REST write endpoints are closed without credentials (security review F2):
# every test node requires these (set them before cluster_init to change
# them); cluster_ctl and CL_REST_AUTH (curl -u) pass them
: "${CL_REST_USER:=pgw-admin}"
: "${CL_REST_PASS:=pgw-rest-test}"

CL_DIR=""
CL_N=0
CL_SCOPE="demo"
CL_ETCD_PORT=0
CL_ETCD_PEER_PORT=0
CL_ETCD_PID=""
declare -a CL_PG_PORT CL_API_PORT CL_PID

cl_log() { echo "cluster: $*" >&2; }

# cl_port_free PORT: nothing listens on 127.0.0.1:PORT
cl_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# cl_pick_port: a free port below 32768 (etcd pitfall 18), not handed out
# before by this script. Callers run it in $(...), a subshell, so the ports
# handed out are kept in a file named after the script's PID ($$ is the
# same in a subshell): a shell variable lost them, and two nodes of one
# test could get the same port (the dedupe never worked; the likely cause
# of a CI run in which one node's PostgreSQL could not listen).
cl_pick_port() {
	local p i used="${TMPDIR:-/tmp}/pgw-ports.$$"
	for i in $(seq 1 500); do
		p=$((20000 + RANDOM % 12000))
		grep -qx "$p" "$used" 2>/dev/null && continue
		# bindable covers a listener too, and a connected socket on it
		if cl_port_bindable "$p"; then
			echo "$p" >>"$used"
			echo "$p"
			return 0
		fi
	done
	return 1
}

# cluster_init DIR N [fast|default]
cluster_init() {
	CL_DIR=$1
	CL_STARTED=()
	CL_N=$2
	local profile=${3:-fast}
	mkdir -p "$CL_DIR"
	chmod 755 "$CL_DIR"
	CL_ETCD_PORT=$(cl_pick_port)
	CL_ETCD_PEER_PORT=$(cl_pick_port)
	CL_REST_AUTH="$CL_REST_USER:$CL_REST_PASS"
	local ttl=10 loop_wait=1 retry=3
	if [ "$profile" = fast ]; then ttl=3; loop_wait=0.5; retry=1; fi
	for i in $(seq 1 "$CL_N"); do
		CL_PG_PORT[$i]=$(cl_pick_port)
		CL_API_PORT[$i]=$(cl_pick_port)
		mkdir -p "$CL_DIR/node$i"
		cat >"$CL_DIR/node$i/pgwarden.yml" <<YML
scope: $CL_SCOPE
namespace: /service
name: node$i
log_level: info
etcd3:
  hosts: 127.0.0.1:$CL_ETCD_PORT
restapi:
  listen: 127.0.0.1:${CL_API_PORT[$i]}
  connect_address: 127.0.0.1:${CL_API_PORT[$i]}
  authentication: {username: $CL_REST_USER, password: $CL_REST_PASS}
  allow_credentials_over_http: true
postgresql:
  listen: 127.0.0.1:${CL_PG_PORT[$i]}
  connect_address: 127.0.0.1:${CL_PG_PORT[$i]}
  data_dir: $CL_DIR/node$i/data
  bin_dir: $PG_BIN_DIR
  run_as: $PGW_RUN_AS
  socket_dir: $CL_DIR/node$i/run
  authentication:
    superuser: {username: postgres, password: pgw-super}
    replication: {username: replicator, password: pgw-repl}
  parameters:
    shared_buffers: 16MB
    max_connections: 50
    wal_keep_size: 64MB
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $loop_wait
    retry_timeout: $retry
    maximum_lag_on_failover: 1048576
YML
		# it holds passwords: root's only (pgwarden warns otherwise)
		chmod 600 "$CL_DIR/node$i/pgwarden.yml"
	done
}

cluster_start_etcd() {
	mkdir -p "$CL_DIR/etcd"
	etcd --name pgw-etcd --data-dir "$CL_DIR/etcd/data" \
		--listen-client-urls "http://127.0.0.1:$CL_ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$CL_ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$CL_ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$CL_ETCD_PEER_PORT" \
		--initial-cluster "pgw-etcd=http://127.0.0.1:$CL_ETCD_PEER_PORT" \
		--heartbeat-interval 50 --election-timeout 500 \
		>"$CL_DIR/etcd/etcd.log" 2>&1 &
	CL_ETCD_PID=$!
	echo "$CL_ETCD_PID" >"$CL_DIR/etcd/pid"
	local i
	for i in $(seq 1 100); do
		if ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" \
			--command-timeout=1s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	cl_log "etcd did not become healthy; see $CL_DIR/etcd/etcd.log"
	return 1
}

# cl_port_bindable PORT: a listener could bind 127.0.0.1:PORT now (with
# SO_REUSEADDR, as PostgreSQL and the REST API do). cl_port_free only sees
# listeners; a connected socket on that local port blocks a bind as well.
cl_port_bindable() {
	python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# cl_repick NODE: before a node's first start, a port picked at init that
# something took since is replaced in its config, and what held it is
# logged (a node whose PostgreSQL cannot listen fails the whole test)
declare -a CL_STARTED
cl_repick() {
	local i=$1 old new
	for old in "${CL_PG_PORT[$i]}" "${CL_API_PORT[$i]}"; do
		cl_port_bindable "$old" && continue
		new=$(cl_pick_port) || return 1
		cl_log "node$i: port $old was taken after init, using $new: $(ss -tanp 2>/dev/null | grep -E "127\.0\.0\.1:$old\b" | tr -s ' ' | head -3 | tr '\n' ';')"
		sed -i "s/127\.0\.0\.1:$old\b/127.0.0.1:$new/" "$CL_DIR/node$i/pgwarden.yml"
		[ "${CL_PG_PORT[$i]}" = "$old" ] && CL_PG_PORT[$i]=$new
		[ "${CL_API_PORT[$i]}" = "$old" ] && CL_API_PORT[$i]=$new
	done
	return 0
}

cluster_start_node() {
	local i=$1
	if [ -z "${CL_STARTED[$i]:-}" ]; then
		cl_repick "$i"
		CL_STARTED[$i]=1
	fi
	"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	CL_PID[$i]=$!
	echo "${CL_PID[$i]}" >"$CL_DIR/node$i/pid"
}

# cluster_postmaster_pid I: the pid in node I's postmaster.pid, if any
cluster_postmaster_pid() {
	head -1 "$CL_DIR/node$1/data/postmaster.pid" 2>/dev/null
}

# cluster_kill_node I SIGNAL: signal node I's daemon (and with "all", its postmaster)
cluster_kill_node() {
	local i=$1 sig=$2 what=${3:-daemon}
	local pm
	pm=$(cluster_postmaster_pid "$i")
	kill "-$sig" "${CL_PID[$i]}" 2>/dev/null || true
	if [ "$what" = all ] && [ -n "$pm" ]; then kill "-$sig" "$pm" 2>/dev/null || true; fi
}

# cluster_stop_node I: SIGTERM (clean stop), bounded wait, then SIGKILL
cluster_stop_node() {
	local i=$1 pid=${CL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	local k
	for k in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	CL_PID[$i]=""
}

# cluster_status I PATH: HTTP status of node I's REST PATH (000 if down)
cluster_status() {
	curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${CL_API_PORT[$1]}$2" 2>/dev/null || true
}

# cluster_primaries: the node numbers answering 200 on /primary
cluster_primaries() {
	local i out=""
	for i in $(seq 1 "$CL_N"); do
		[ "$(cluster_status "$i" /primary)" = 200 ] && out+="$i "
	done
	echo "$out"
}

# cluster_wait_primary TIMEOUT_S [EXCLUDE]: wait for exactly one primary
cluster_wait_primary() {
	local timeout=$1 exclude=${2:-} deadline p
	deadline=$(($(date +%s) + timeout))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		p=$(cluster_primaries)
		if [ -n "$p" ] && [ "$(echo $p | wc -w)" = 1 ] && [ "$p" != "$exclude " ]; then
			echo "${p% }"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# cluster_wait_replicas TIMEOUT_S COUNT: wait until COUNT nodes answer /replica
cluster_wait_replicas() {
	local timeout=$1 want=$2 deadline n i
	deadline=$(($(date +%s) + timeout))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		n=0
		for i in $(seq 1 "$CL_N"); do
			[ "$(cluster_status "$i" /replica)" = 200 ] && n=$((n + 1))
		done
		[ "$n" -ge "$want" ] && return 0
		sleep 0.3
	done
	return 1
}

# cluster_replica_count: how many nodes answer 200 on /replica
cluster_replica_count() {
	local n=0 i
	for i in $(seq 1 "$CL_N"); do
		[ "$(cluster_status "$i" /replica)" = 200 ] && n=$((n + 1))
	done
	echo $n
}

# cluster_has_replicas N: at least N nodes answer 200 on /replica (for wait_for)
cluster_has_replicas() { [ "$(cluster_replica_count)" -ge "$1" ]; }

# cluster_no_primary: no node answers 200 on /primary
cluster_no_primary() { [ -z "$(cluster_primaries)" ]; }

# cluster_writable I: node I's PostgreSQL accepts a write right now
cluster_writable() {
	PGPASSWORD=pgw-super PGCONNECT_TIMEOUT=1 psql -X -q -A -t -h 127.0.0.1 \
		-p "${CL_PG_PORT[$1]}" -U postgres -d postgres \
		-c "SET statement_timeout='500ms'; CREATE TEMP TABLE w(x int); INSERT INTO w VALUES (1)" \
		>/dev/null 2>&1
}

# cluster_hosts: every node's PostgreSQL address, for multi-host clients
cluster_hosts() {
	local out="" i
	for i in $(seq 1 "$CL_N"); do out+="127.0.0.1:${CL_PG_PORT[$i]},"; done
	echo "${out%,}"
}

# cluster_etcdctl ARGS...: etcdctl against the test's own etcd
cluster_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" "$@"; }

# cluster_psql I SQL: run SQL on node I as the superuser
cluster_psql() {
	PGPASSWORD=pgw-super PGCONNECT_TIMEOUT=2 psql -X -q -A -t -h 127.0.0.1 \
		-p "${CL_PG_PORT[$1]}" -U postgres -d postgres -c "$2"
}

# cluster_key NAME: the value of the scope's key NAME (leader, failover, sync, ...)
cluster_key() { cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/$1"; }
# cluster_key_is NAME VALUE / cluster_key_absent NAME (for wait_for)
cluster_key_is() { [ "$(cluster_key "$1")" = "$2" ]; }
cluster_key_absent() { [ -z "$(cluster_key "$1")" ]; }

# cluster_set_config JQ: rewrite the config key through the jq filter JQ
cluster_set_config() {
	local cfg
	cfg=$(cluster_key config)
	cluster_etcdctl put "/service/$CL_SCOPE/config" "$(echo "$cfg" | jq -c "$1")" >/dev/null
}

cluster_ctl() {
	PGWARDEN_RESTAPI_USERNAME=$CL_REST_USER PGWARDEN_RESTAPI_PASSWORD=$CL_REST_PASS \
		"$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope "$CL_SCOPE" "$@"
}

# cluster_sanitizer_clean: no daemon log holds an ASan/UBSan/LSan report
# (under PGW_SANITIZE builds a report aborts the daemon or is printed at
# exit; the tests must not pass over it)
cluster_sanitizer_clean() {
	! grep -l -E "Sanitizer|runtime error:" "$CL_DIR"/node*/pgwarden.log 2>/dev/null
}

cluster_cleanup() {
	local i pm
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PID[$i]:-}" ] && kill -KILL "${CL_PID[$i]}" 2>/dev/null
		pm=$(cluster_postmaster_pid "$i")
		# a frozen postmaster acts on SIGQUIT only once thawed
		[ -n "$pm" ] && kill -CONT "$pm" $(pgrep -P "$pm") 2>/dev/null
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
	done
	[ -n "$CL_ETCD_PID" ] && kill -KILL "$CL_ETCD_PID" 2>/dev/null
	rm -f "${TMPDIR:-/tmp}/pgw-ports.$$"
	wait 2>/dev/null
	if [ -n "$CL_DIR" ] && [ -z "${PGW_TEST_KEEP:-}" ] && [ "${CL_KEEP_DIR:-0}" != 1 ]; then
		rm -rf "$CL_DIR"
	fi
}
