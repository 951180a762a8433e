#!/usr/bin/env bash
# cluster.sh: the one shell cluster harness (DESIGN.md "The promises"): etcd
# and N pgwarden daemons, each with its own PostgreSQL 15 (run as the
# unprivileged user "pgwarden" when we are root). On loopback by default
# (cluster_init); tests/lib/netns.sh puts every host in its own network
# namespace through the same functions, by setting each node's addresses
# (CL_PG_HOST/PORT, CL_API_HOST/PORT, CL_ETCD_*) and the command prefix that
# runs a process on that host (CL_EXEC, CL_ETCD_EXEC): one YAML writer, one
# set of checks. Shared by scripts/demo.sh, the shell-driven integration
# tests, the chaos drills and the benchmarks, so the demo is what the tests
# test. Everything this file starts is recorded and stopped by
# cluster_cleanup, which callers install as an EXIT trap. Every wait is a
# bounded poll (wait_for, hold_for, cluster_wait_*).
#
# What the checks mean:
#   streaming   a replica counts only when pg_stat_wal_receiver on it and
#               pg_stat_replication on the primary agree that it streams from
#               the current primary, on the primary's current timeline
#               (cluster_streaming); REST /replica alone answers 200 for any
#               PostgreSQL in recovery
#   writable    per-node probes (pgw_writer probe, one per node, on that
#               node's host) log every attempt; tests/tools/pgw_logcheck.py
#               finds overlapping writable windows (cluster_split)
#   loss        pgw_writer verify against the acknowledged seqs; the async
#               bound comes from maximum_lag_on_failover at the measured WAL
#               bytes per commit (cluster_loss_bound)
# REST writes and pgwardenctl authenticate as CL_REST_USER (restapi.
# authentication is in every node's YAML; write endpoints are closed
# without it).
#
# Usage: source tests/lib/cluster.sh; cluster_init DIR N [fast|default]
#        cluster_start_etcd; cluster_start_node 1 ...; cluster_cleanup

CL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${PGW_BUILD_DIR:=$(pwd)/build}"
: "${PGW_BIN:=$PGW_BUILD_DIR/daemon/pgwarden}"
: "${PGWCTL_BIN:=$PGW_BUILD_DIR/ctl/pgwardenctl}"
: "${PGW_WRITER:=$PGW_BUILD_DIR/tests/pgw_writer}"
: "${PGW_LOGCHECK:=$CL_LIB_DIR/../tools/pgw_logcheck.py}"
: "${PG_BIN_DIR:=/usr/lib/postgresql/15/bin}"
: "${PGW_RUN_AS:=pgwarden}"
: "${PGW_TEST_TIMEOUT_MULT:=1}"

CL_DIR=""
CL_N=0
CL_SCOPE="demo"
CL_REST_USER=${CL_REST_USER:-pgw-admin}
CL_REST_PASS=${CL_REST_PASS:-pgw-rest-test}
# curl -u of the tests that call the REST API themselves
CL_REST_AUTH="$CL_REST_USER:$CL_REST_PASS"
CL_TTL=3
CL_LOOP_WAIT=0.5
CL_RETRY=1
CL_MAX_LAG=1048576
CL_HBA_NET=""					# a subnet pg_hba allows besides loopback
CL_DCS_EXTRA=""					# more bootstrap.dcs lines ("    key: value")
CL_ETCD_N=1
CL_ETCD_PORT=0					# member 1's client port (the tests' etcd)
CL_ETCD_PEER_PORT=0
CL_ETCD_PID=""					# member 1's pid
CL_WRITER_PID=""
CL_LOSS_BOUND=""
CL_LOSS_WHY=""
declare -a CL_PG_HOST CL_PG_PORT CL_API_HOST CL_API_PORT CL_PID CL_EXEC
declare -a CL_ETCD_HOST CL_ETCD_CPORT CL_ETCD_PPORT CL_ETCD_EXEC CL_EPID CL_ETCD_EXTRA_LISTEN
declare -a CL_PROBE_PID CL_STARTED

cl_log() { echo "cluster: $*" >&2; }
cl_now() { date +%s%3N; }

# cl_port_free PORT: nothing listens on 127.0.0.1:PORT
cl_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
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

# cl_pick_port: a free port below 32768 (etcd pitfall 18), not handed out
# before by this script. Callers run it in $(...), a subshell, so the ports
# handed out are kept in a file named after the script's PID ($$ is the
# same in a subshell): a shell variable lost them, and two nodes of one
# test could get the same port.
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

# cl_profile fast|default: the timing the YAML writer uses
cl_profile() {
	if [ "$1" = fast ]; then
		CL_TTL=3 CL_LOOP_WAIT=0.5 CL_RETRY=1
	else
		CL_TTL=10 CL_LOOP_WAIT=1 CL_RETRY=3
	fi
}

# cl_write_yaml I: node I's pgwarden.yml from the CL_* addresses and settings
cl_write_yaml() {
	local i=$1 hosts="" k hba=""
	for k in $(seq 1 "$CL_ETCD_N"); do hosts+="${CL_ETCD_HOST[$k]}:${CL_ETCD_CPORT[$k]},"; done
	if [ -n "$CL_HBA_NET" ]; then
		hba="    - host all all $CL_HBA_NET scram-sha-256
    - host replication all $CL_HBA_NET scram-sha-256
"
	fi
	mkdir -p "$CL_DIR/node$i"
	cat >"$CL_DIR/node$i/pgwarden.yml" <<YML
scope: $CL_SCOPE
namespace: /service
name: node$i
log_level: info
state_dir: $CL_DIR/node$i/state
etcd3:
  hosts: ${hosts%,}
restapi:
  listen: ${CL_API_HOST[$i]}:${CL_API_PORT[$i]}
  connect_address: ${CL_API_HOST[$i]}:${CL_API_PORT[$i]}
  authentication:
    username: $CL_REST_USER
    password: $CL_REST_PASS
  allow_credentials_over_http: true
postgresql:
  listen: ${CL_PG_HOST[$i]}:${CL_PG_PORT[$i]}
  connect_address: ${CL_PG_HOST[$i]}:${CL_PG_PORT[$i]}
  data_dir: $CL_DIR/node$i/data
  bin_dir: $PG_BIN_DIR
  run_as: $PGW_RUN_AS
  socket_dir: $CL_DIR/node$i/run
  authentication:
    superuser: {username: postgres, password: pgw-super}
    replication: {username: replicator, password: pgw-repl}
  pg_hba:
    - local all all scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
${hba}    - local replication all scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
  parameters:
    shared_buffers: 16MB
bootstrap:
  dcs:
    ttl: $CL_TTL
    loop_wait: $CL_LOOP_WAIT
    retry_timeout: $CL_RETRY
    maximum_lag_on_failover: $CL_MAX_LAG
    # a standby shares these with its primary: cluster-wide only (Patroni's
    # rule, config/pg_params.c); in postgresql.parameters they are ignored
    postgresql:
      parameters:
        max_connections: 50
        wal_keep_size: 64MB
${CL_DCS_EXTRA}
YML
	# it holds passwords: root's only (pgwarden warns otherwise)
	chmod 600 "$CL_DIR/node$i/pgwarden.yml"
}

# cl_reset DIR N: forget any earlier cluster of this shell
cl_reset() {
	CL_DIR=$1
	CL_N=$2
	CL_STARTED=()
	CL_PID=()
	CL_EXEC=()
	CL_ETCD_EXEC=()
	CL_EPID=()
	CL_PROBE_PID=()
	CL_WRITER_PID=""
	CL_LOSS_BOUND=""
	mkdir -p "$CL_DIR"
	chmod 755 "$CL_DIR"
}

# cluster_init DIR N [fast|default]: a loopback cluster, one etcd member
cluster_init() {
	cl_reset "$1" "$2"
	CL_REST_AUTH="$CL_REST_USER:$CL_REST_PASS"
	cl_profile "${3:-fast}"
	CL_ETCD_N=1
	CL_ETCD_HOST[1]=127.0.0.1
	CL_ETCD_CPORT[1]=$(cl_pick_port)
	CL_ETCD_PPORT[1]=$(cl_pick_port)
	CL_ETCD_PORT=${CL_ETCD_CPORT[1]}
	CL_ETCD_PEER_PORT=${CL_ETCD_PPORT[1]}
	local i
	for i in $(seq 1 "$CL_N"); do
		CL_PG_HOST[$i]=127.0.0.1
		CL_API_HOST[$i]=127.0.0.1
		CL_PG_PORT[$i]=$(cl_pick_port)
		CL_API_PORT[$i]=$(cl_pick_port)
		cl_write_yaml "$i"
	done
}

cl_etcd_endpoints() {
	local k out=""
	for k in $(seq 1 "$CL_ETCD_N"); do out+="${CL_ETCD_HOST[$k]}:${CL_ETCD_CPORT[$k]},"; done
	echo "${out%,}"
}

cluster_etcd_healthy() {
	ETCDCTL_API=3 etcdctl --endpoints "$(cl_etcd_endpoints)" --command-timeout=1s \
		endpoint health >/dev/null 2>&1
}

# cluster_start_etcd_member K: start (or restart) etcd member K
cluster_start_etcd_member() {
	local k=$1 j cluster="" h
	for j in $(seq 1 "$CL_ETCD_N"); do
		cluster+="e$j=http://${CL_ETCD_HOST[$j]}:${CL_ETCD_PPORT[$j]},"
	done
	h=${CL_ETCD_HOST[$k]}
	mkdir -p "$CL_DIR/etcd$k"
	# shellcheck disable=SC2086 # CL_ETCD_EXEC is a command prefix
	# CL_ETCD_EXTRA_LISTEN[k]: more client URLs (a port one node alone uses,
	# which a test can block for that node only)
	${CL_ETCD_EXEC[$k]:-} etcd --name "e$k" --data-dir "$CL_DIR/etcd$k/data" \
		--listen-client-urls "http://$h:${CL_ETCD_CPORT[$k]}${CL_ETCD_EXTRA_LISTEN[$k]:+,${CL_ETCD_EXTRA_LISTEN[$k]}}" \
		--advertise-client-urls "http://$h:${CL_ETCD_CPORT[$k]}" \
		--listen-peer-urls "http://$h:${CL_ETCD_PPORT[$k]}" \
		--initial-advertise-peer-urls "http://$h:${CL_ETCD_PPORT[$k]}" \
		--initial-cluster "${cluster%,}" --initial-cluster-state new \
		--heartbeat-interval 50 --election-timeout 500 \
		>>"$CL_DIR/etcd$k/etcd.log" 2>&1 &
	CL_EPID[$k]=$!
	echo "${CL_EPID[$k]}" >"$CL_DIR/etcd$k/pid"
	[ "$k" = 1 ] && CL_ETCD_PID=${CL_EPID[1]}
	true
}

# cluster_start_etcd: every member, then a bounded wait until healthy
cluster_start_etcd() {
	local k
	for k in $(seq 1 "$CL_ETCD_N"); do cluster_start_etcd_member "$k"; done
	if ! wait_for 30 cluster_etcd_healthy; then
		cl_log "etcd did not become healthy; see $CL_DIR/etcd*/etcd.log"
		return 1
	fi
}

# cl_repick NODE: before a loopback node's first start, a port picked at
# init that something took since is replaced in its config, and what held
# it is logged (a node whose PostgreSQL cannot listen fails the whole test)
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

cl_launch() {
	local i=$1
	# shellcheck disable=SC2086 # CL_EXEC is a command prefix ("ip netns exec NS")
	${CL_EXEC[$i]:-} "$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	CL_PID[$i]=$!
	echo "${CL_PID[$i]}" >"$CL_DIR/node$i/pid"
}

# cl_listening I: node I's REST API answers, or its daemon is gone
cl_listening() {
	[ "$(cluster_status "$1" /liveness)" != 000 ] || ! kill -0 "${CL_PID[$1]}" 2>/dev/null
}

cluster_start_node() {
	local i=$1 k
	if [ -n "${CL_STARTED[$i]:-}" ] || [ "${CL_PG_HOST[$i]}" != 127.0.0.1 ]; then
		CL_STARTED[$i]=1
		cl_launch "$i"
		return
	fi
	CL_STARTED[$i]=1
	# a loopback node's first start: other clusters on this machine pick
	# ports from the same range, and one may take ours between the check and
	# the bind; a daemon that could not listen gets new ports (its config is
	# the only place they are known before it first publishes)
	for k in 1 2 3; do
		cl_repick "$i"
		cl_launch "$i"
		wait_for 5 cl_listening "$i"
		kill -0 "${CL_PID[$i]}" 2>/dev/null && return 0
		grep -q "could not listen" "$CL_DIR/node$i/pgwarden.log" 2>/dev/null || return 0
		cl_log "node$i: could not listen on its ports (attempt $k); picking others"
		cl_force_repick "$i"
	done
}

# cl_force_repick I: new ports for node I, whatever holds the old ones
cl_force_repick() {
	local i=$1 old new
	for old in "${CL_PG_PORT[$i]}" "${CL_API_PORT[$i]}"; do
		new=$(cl_pick_port) || return 1
		sed -i "s/127\.0\.0\.1:$old\b/127.0.0.1:$new/" "$CL_DIR/node$i/pgwarden.yml"
		[ "${CL_PG_PORT[$i]}" = "$old" ] && CL_PG_PORT[$i]=$new
		[ "${CL_API_PORT[$i]}" = "$old" ] && CL_API_PORT[$i]=$new
	done
}

# cluster_postmaster_pid I: the pid in node I's postmaster.pid, if any
cluster_postmaster_pid() {
	head -1 "$CL_DIR/node$1/data/postmaster.pid" 2>/dev/null
}

# cluster_node_pids I: every process of node I: the daemon, its children
# (the fence watchdog, a running callback or program) and PostgreSQL's (the
# postmaster and each backend, which is its own session leader: a process
# group signal misses them). A whole-node freeze stops all of these.
cluster_node_pids() {
	local i=$1 pm d out=""
	d=${CL_PID[$i]:-}
	pm=$(cluster_postmaster_pid "$i")
	[ -n "$d" ] && out+="$d $(pgrep -P "$d" | tr '\n' ' ')"
	[ -n "$pm" ] && out+=" $pm $(pgrep -P "$pm" | tr '\n' ' ')"
	echo "$out" | tr ' ' '\n' | grep -E '^[0-9]+$' | sort -u | tr '\n' ' '
}

# cluster_pg_pids I: the postmaster and its children
cluster_pg_pids() {
	local pm
	pm=$(cluster_postmaster_pid "$1")
	[ -n "$pm" ] && echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}

# cluster_kill_node I SIGNAL [all]: signal node I's daemon (and with "all", its postmaster)
cluster_kill_node() {
	local i=$1 sig=$2 what=${3:-daemon}
	local pm
	pm=$(cluster_postmaster_pid "$i")
	kill "-$sig" "${CL_PID[$i]}" 2>/dev/null || true
	if [ "$what" = all ] && [ -n "$pm" ]; then kill "-$sig" "$pm" 2>/dev/null || true; fi
}

# cl_term_wait SECONDS PID...: SIGTERM each (thawed first), a bounded wait
# for all to exit, then SIGKILL the rest; 1 when any needed the SIGKILL
cl_term_wait() {
	local lim=$1 p left deadline
	shift
	[ $# -gt 0 ] || return 0
	kill -CONT "$@" 2>/dev/null
	kill -TERM "$@" 2>/dev/null
	deadline=$(($(cl_now) + lim * 1000))
	while [ "$(cl_now)" -lt "$deadline" ]; do
		left=""
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left+="$p "; done
		[ -z "$left" ] && break
		sleep 0.1
	done
	# reap only what is gone: `wait` on a live pid blocks without bound (a
	# process that blocks SIGTERM, such as `unshare --fork`, hung the suite)
	left=""
	for p in "$@"; do
		if kill -0 "$p" 2>/dev/null; then
			left+="$p "
		else
			wait "$p" 2>/dev/null
		fi
	done
	[ -z "$left" ] && return 0
	cl_log "still running ${lim}s after SIGTERM, killed: $left"
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
	for p in $left; do wait "$p" 2>/dev/null; done
	return 1
}

# cluster_stop_node I: SIGTERM (clean stop), bounded wait, then SIGKILL
cluster_stop_node() {
	local i=$1 pid=${CL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	cl_term_wait $((15 * PGW_TEST_TIMEOUT_MULT)) "$pid"
	CL_PID[$i]=""
}

# cluster_stop_all: every running daemon stopped with SIGTERM, as systemd
# stops them, so PostgreSQL stops cleanly and LeakSanitizer runs at exit:
# the replicas first (a leader hands over on SIGTERM when a replica can take
# over; stopping them first keeps the stop a plain stop), then the rest.
# 1 when a daemon did not exit within 45 s of its SIGTERM: the daemon
# itself gives PostgreSQL's fast stop 30 s before it asks for an immediate
# one (a backend stuck sending its last message to a client that no longer
# reads holds the fast stop; seen in drills), so 30 s was its own bound.
cluster_stop_all() {
	local i prim rc=0 first=() rest=()
	prim=" $(cluster_primaries)"
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PID[$i]:-}" ] || continue
		case "$prim" in
			*" $i "*) rest+=("${CL_PID[$i]}") ;;
			*) first+=("${CL_PID[$i]}") ;;
		esac
	done
	cl_term_wait $((45 * PGW_TEST_TIMEOUT_MULT)) "${first[@]}" || rc=1
	cl_term_wait $((45 * PGW_TEST_TIMEOUT_MULT)) "${rest[@]}" || rc=1
	for i in $(seq 1 "$CL_N"); do CL_PID[$i]=""; done
	return $rc
}

# cluster_status I PATH: HTTP status of node I's REST PATH (000 if down)
cluster_status() {
	curl -s -o /dev/null -m 1 -w '%{http_code}' "http://${CL_API_HOST[$1]}:${CL_API_PORT[$1]}$2" 2>/dev/null || true
}

# cluster_rest I METHOD PATH [BODY]: an authenticated REST call; prints
# "STATUS BODY"
cluster_rest() {
	local i=$1 m=$2 p=$3 body=${4:-} out
	out=$(curl -s -m 40 -u "$CL_REST_USER:$CL_REST_PASS" -X "$m" -H 'Content-Type: application/json' \
		${body:+--data-binary "$body"} -w '\n%{http_code}' \
		"http://${CL_API_HOST[$i]}:${CL_API_PORT[$i]}$p" 2>/dev/null)
	echo "$(tail -n1 <<<"$out") $(head -n -1 <<<"$out")"
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

# cl_sql I SQL: one value from node I (superuser), "" when it cannot
cl_sql() {
	PGPASSWORD=pgw-super PGCONNECT_TIMEOUT=2 psql -X -q -A -t -h "${CL_PG_HOST[$1]}" \
		-p "${CL_PG_PORT[$1]}" -U postgres -d postgres -c "SET statement_timeout = '2s'" -c "$2" 2>/dev/null
}

# cluster_streaming P: the nodes (numbers) that stream from node P now:
# P runs read-write and its pg_stat_replication shows them streaming (by
# application_name, the member name), and each one's pg_stat_wal_receiver
# is streaming from P's address on P's current timeline
cluster_streaming() {
	local p=$1 r tli names i w out=""
	r=$(cl_sql "$p" "SELECT CASE WHEN pg_is_in_recovery() THEN 'recovery' ELSE
		(('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int)::text || ' ' ||
		coalesce((SELECT string_agg(application_name, ',') FROM pg_stat_replication
		          WHERE state = 'streaming'), '') END")
	read -r tli names <<<"$r"
	case "$tli" in '' | *[!0-9]*) return 0 ;; esac
	for i in $(seq 1 "$CL_N"); do
		[ "$i" = "$p" ] && continue
		case ",$names," in *",node$i,"*) ;; *) continue ;; esac
		w=$(cl_sql "$i" "SELECT status || ' ' || sender_host || ':' || sender_port || ' ' || received_tli FROM pg_stat_wal_receiver")
		[ "$w" = "streaming ${CL_PG_HOST[$p]}:${CL_PG_PORT[$p]} $tli" ] && out+="$i "
	done
	echo "$out"
}

# cluster_streaming_count: replicas streaming from the one primary (0 when
# there is not exactly one)
cluster_streaming_count() {
	local p
	p=$(cluster_primaries)
	[ "$(echo $p | wc -w)" = 1 ] || { echo 0; return; }
	echo $(cluster_streaming "${p% }") | wc -w
}

# cluster_has_replicas N: at least N replicas stream from the one primary
cluster_has_replicas() { [ "$(cluster_streaming_count)" -ge "$1" ]; }

# cluster_wait_replicas TIMEOUT_S COUNT: until COUNT replicas stream from it
cluster_wait_replicas() { wait_for "$1" cluster_has_replicas "$2"; }

# cluster_converged: one primary, every other node streaming from it
cluster_converged() { cluster_has_replicas $((CL_N - 1)); }

# cluster_replica_count: how many nodes answer 200 on REST /replica (what
# HAProxy sees; not a streaming check)
cluster_replica_count() {
	local n=0 i
	for i in $(seq 1 "$CL_N"); do
		[ "$(cluster_status "$i" /replica)" = 200 ] && n=$((n + 1))
	done
	echo $n
}

# cluster_no_primary: no node answers 200 on /primary
cluster_no_primary() { [ -z "$(cluster_primaries)" ]; }

# cluster_writable I: node I's PostgreSQL accepts a write right now
cluster_writable() {
	PGPASSWORD=pgw-super PGCONNECT_TIMEOUT=1 psql -X -q -A -t -h "${CL_PG_HOST[$1]}" \
		-p "${CL_PG_PORT[$1]}" -U postgres -d postgres \
		-c "SET statement_timeout='500ms'; CREATE TEMP TABLE w(x int); INSERT INTO w VALUES (1)" \
		>/dev/null 2>&1
}

# cluster_hosts: every node's PostgreSQL address, for multi-host clients
cluster_hosts() {
	local out="" i
	for i in $(seq 1 "$CL_N"); do out+="${CL_PG_HOST[$i]}:${CL_PG_PORT[$i]},"; done
	echo "${out%,}"
}

# cluster_node_of_host HOST:PORT: the node number (or "-")
cluster_node_of_host() {
	local i
	for i in $(seq 1 "$CL_N"); do
		[ "$1" = "${CL_PG_HOST[$i]}:${CL_PG_PORT[$i]}" ] && { echo "$i"; return; }
	done
	echo "-"
}

# cluster_etcdctl ARGS...: etcdctl against the test's own etcd
cluster_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints "$(cl_etcd_endpoints)" "$@"; }

# cluster_psql I SQL: run SQL on node I as the superuser
cluster_psql() {
	PGPASSWORD=pgw-super PGCONNECT_TIMEOUT=2 psql -X -q -A -t -h "${CL_PG_HOST[$1]}" \
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

# cluster_ctl ARGS...: pgwardenctl as an operator of this cluster: node 1's
# config (REST and PostgreSQL credentials), this etcd and scope
cluster_ctl() {
	"$PGWCTL_BIN" -c "$CL_DIR/node1/pgwarden.yml" --etcd "$(cl_etcd_endpoints)" --scope "$CL_SCOPE" "$@"
}

# ---- writer, probes and the detectors (tests/tools/pgw_logcheck.py) --------

# cluster_start_writer: commits every 10 ms to whichever node is read-write;
# every acknowledged seq goes to acked.txt, every ack to writer.log
cluster_start_writer() {
	"$PGW_WRITER" --hosts "$(cluster_hosts)" --acked "$CL_DIR/acked.txt" --interval-ms 10 \
		--client-timeout-ms 1000 --duration-s 7200 --log "$CL_DIR/writer.log" write \
		>>"$CL_DIR/writer.out" 2>&1 &
	CL_WRITER_PID=$!
}

cluster_stop_writer() {
	[ -n "$CL_WRITER_PID" ] || return 0
	kill "$CL_WRITER_PID" 2>/dev/null
	wait "$CL_WRITER_PID" 2>/dev/null
	CL_WRITER_PID=""
}

# cluster_start_probe I: a probe on node I's host tries a write on node I's
# PostgreSQL every 20 ms and logs every attempt to probeI.log (in its
# namespace, a partition cannot blind it; a whole-node freeze leaves it
# running)
cluster_start_probe() {
	local i=$1
	# shellcheck disable=SC2086
	${CL_EXEC[$i]:-} "$PGW_WRITER" --hosts "${CL_PG_HOST[$i]}:${CL_PG_PORT[$i]}" \
		--interval-ms 20 --client-timeout-ms 500 --duration-s 7200 \
		--log "$CL_DIR/probe$i.log" probe >>"$CL_DIR/probe$i.out" 2>&1 &
	CL_PROBE_PID[$i]=$!
}

cluster_start_probes() {
	local i
	for i in $(seq 1 "$CL_N"); do cluster_start_probe "$i"; done
}

cluster_stop_probes() {
	local i
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PROBE_PID[$i]:-}" ] && kill "${CL_PROBE_PID[$i]}" 2>/dev/null
		[ -n "${CL_PROBE_PID[$i]:-}" ] && wait "${CL_PROBE_PID[$i]}" 2>/dev/null
		CL_PROBE_PID[$i]=""
	done
	true
}

# cl_kv KEY LINE: the value of KEY in a "k=v k=v" line
cl_kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }

# cluster_split FROM_MS TO_MS [ARGS...]: overlapping writable windows over
# every node's probe log (pgw_logcheck split; ARGS e.g. --exempt-host);
# prints its output, the summary last; exit 2 on a bad or silent log
cluster_split() {
	local f=$1 t=$2 i args=()
	shift 2
	for i in $(seq 1 "$CL_N"); do args+=(--probe-log "$CL_DIR/probe$i.log"); done
	python3 "$PGW_LOGCHECK" split "${args[@]}" --from "$f" --to "$t" --live \
		--max-silence-ms $((5000 * PGW_TEST_TIMEOUT_MULT)) "$@"
}

# cluster_gap FROM_MS TO_MS [NOW_MS]: the writer's longest write gap over
# the window (pgw_logcheck gap): "rto_ms= downtime_ms= ... host="
cluster_gap() {
	python3 "$PGW_LOGCHECK" gap --writer-log "$CL_DIR/writer.log" --from "$1" --to "$2" \
		${3:+--now "$3"} --live
}

# cluster_accepts I FROM_MS TO_MS: node I's accepted probe writes in the window
cluster_accepts() {
	python3 "$PGW_LOGCHECK" accepts --probe-log "$CL_DIR/probe$1.log" --from "$2" --to "$3" --live
}

# cluster_wait_ack MS TIMEOUT_S: until the writer has logged an ack at or after MS
cl_acked_since() {
	local last
	last=$(tail -n 1 "$CL_DIR/writer.log" 2>/dev/null | cut -d' ' -f1)
	[ -n "$last" ] && [ "$last" -ge "$1" ]
}
cluster_wait_ack() { wait_for "$2" cl_acked_since "$1"; }

# cluster_missing: acknowledged commits missing on the current primary now
# ("" when no primary could be verified)
cluster_missing() {
	"$PGW_WRITER" --hosts "$(cluster_hosts)" --acked "$CL_DIR/acked.txt" \
		--client-timeout-ms 3000 --duration-s 30 verify 2>&1 |
		sed -n 's/.*missing=\([0-9-]*\).*/\1/p'
}

# cluster_loss_bound: CL_LOSS_BOUND, the acknowledged commits an async
# failover may lose: maximum_lag_on_failover (the candidate's lag behind the
# leader's last published WAL position) at the WAL bytes per acknowledged
# commit measured now, plus the commits of one loop_wait (the leader
# publishes its position once per loop). Bytes per commit counts all WAL
# (probes, daemons), so it overstates a commit's size: the bound errs
# strict. Needs the writer running; CL_LOSS_WHY says how it was derived.
cluster_loss_bound() {
	local p l1 l2 a1 a2 t1 t2 bytes
	p=$(cluster_wait_primary 30) || { CL_LOSS_WHY="no primary to measure on"; return 1; }
	a1=$(wc -l <"$CL_DIR/acked.txt" 2>/dev/null || echo 0)
	l1=$(cl_sql "$p" "SELECT pg_current_wal_lsn()")
	t1=$(cl_now)
	wait_for 30 cl_acks_beyond $((a1 + 300)) || { CL_LOSS_WHY="the writer did not ack 300 commits in 30 s"; return 1; }
	a2=$(wc -l <"$CL_DIR/acked.txt")
	l2=$(cl_sql "$p" "SELECT pg_current_wal_lsn()")
	t2=$(cl_now)
	bytes=$(cl_sql "$p" "SELECT pg_wal_lsn_diff('$l2', '$l1')::bigint")
	[ -n "$bytes" ] && [ "$bytes" -gt 0 ] || { CL_LOSS_WHY="no WAL position from node$p"; return 1; }
	read -r CL_LOSS_BOUND CL_LOSS_WHY <<<"$(awk -v b="$bytes" -v a=$((a2 - a1)) -v ms=$((t2 - t1)) \
		-v lag="$CL_MAX_LAG" -v lw="$CL_LOOP_WAIT" 'BEGIN {
			bpc = b / a; rate = a * 1000 / ms
			bound = int(lag / bpc + 0.999) + int(rate * lw + 0.999)
			printf "%d maximum_lag_on_failover=%d_B/%.0f_B_per_commit+%.0f_commits/s*loop_wait_%ss\n", bound, lag, bpc, rate, lw }')"
	return 0
}
cl_acks_beyond() { [ "$(wc -l <"$CL_DIR/acked.txt" 2>/dev/null || echo 0)" -ge "$1" ]; }

# ---- polling helpers --------------------------------------------------------

# grepq ARGS...: `grep -q` for the right-hand side of a pipe. Under
# pipefail, `cmd | grep -q X` fails when grep stops at the first match and
# cmd then dies of SIGPIPE (seen: test_patroni_yml failing 1 run in 60 on a
# warning that was there); the rest of the input is drained instead.
grepq() {
	local rc
	grep "$@"
	rc=$?
	cat >/dev/null
	return $rc
}

# wait_for SECONDS CMD...: poll CMD every 100 ms until it succeeds (bounded)
wait_for() {
	local deadline
	deadline=$(($(cl_now) + $(awk -v s="$1" 'BEGIN{printf "%d", s * 1000}')))
	shift
	while [ "$(cl_now)" -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# hold_for SECONDS CMD...: CMD holds at every poll (100 ms apart) for
# SECONDS: the "nothing happens for N seconds" check; 1 at the first poll
# where it does not
hold_for() {
	local deadline
	deadline=$(($(cl_now) + $(awk -v s="$1" 'BEGIN{printf "%d", s * 1000}')))
	shift
	while [ "$(cl_now)" -lt "$deadline" ]; do
		"$@" || return 1
		sleep 0.1
	done
	"$@"
}

# cluster_not_primary I: node I does not answer 200 on /primary (for hold_for)
cluster_not_primary() { [ "$(cluster_status "$1" /primary)" != 200 ]; }
# cluster_refuses_primary I: node I answers /primary, and not with 200 (a
# timed-out request, 000, says nothing: for "it stops answering 200")
cluster_refuses_primary() {
	local s
	s=$(cluster_status "$1" /primary)
	[ "$s" != 200 ] && [ "$s" != 000 ] && [ -n "$s" ]
}

# cluster_sanitizer_clean: no daemon log holds an ASan/UBSan/LSan report
# (under PGW_SANITIZE builds a report aborts the daemon or is printed at
# exit: cluster_stop_all lets the exit-time leak check run)
cluster_sanitizer_clean() {
	! grep -l -E "Sanitizer|runtime error:" "$CL_DIR"/node*/pgwarden.log 2>/dev/null
}

cluster_cleanup() {
	local i pm k
	cluster_stop_writer
	cluster_stop_probes
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PID[$i]:-}" ] && kill -CONT "${CL_PID[$i]}" $(pgrep -P "${CL_PID[$i]}") 2>/dev/null
		[ -n "${CL_PID[$i]:-}" ] && kill -KILL "${CL_PID[$i]}" 2>/dev/null
		pm=$(cluster_postmaster_pid "$i")
		# a frozen postmaster acts on SIGQUIT only once thawed
		[ -n "$pm" ] && kill -CONT "$pm" $(pgrep -P "$pm") 2>/dev/null
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
	done
	for k in $(seq 1 "$CL_ETCD_N"); do
		[ -n "${CL_EPID[$k]:-}" ] && kill -CONT "${CL_EPID[$k]}" 2>/dev/null
		[ -n "${CL_EPID[$k]:-}" ] && kill -KILL "${CL_EPID[$k]}" 2>/dev/null
	done
	rm -f "${TMPDIR:-/tmp}/pgw-ports.$$"
	# reap what this cluster started, not every child of the shell: a bare
	# `wait` also waited for another cluster the same script runs
	# (bench_vs_patroni.sh runs two), without bound
	for k in "${CL_PID[@]}" "${CL_EPID[@]}"; do
		[ -n "$k" ] || continue
		for i in $(seq 1 50); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$k" 2>/dev/null || wait "$k" 2>/dev/null
	done
	if [ -n "$CL_DIR" ] && [ -z "${PGW_TEST_KEEP:-}" ] && [ "${CL_KEEP_DIR:-0}" != 1 ]; then
		rm -rf "$CL_DIR"
	fi
}
