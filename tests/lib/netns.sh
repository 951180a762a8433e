#!/usr/bin/env bash
# netns.sh: the chaos drills' harness (DESIGN.md "The promises", notes R5):
# each pgwarden node (daemon + its PostgreSQL) and each etcd member runs in
# its own network namespace, with a veth onto a bridge that this file
# creates on a private subnet 10.231.<net>.0/24. Traffic goes only to
# loopback and these namespaces. A writer in the root namespace commits to
# whichever node is read-write and logs every acknowledged commit; a probe
# in *every* node's namespace tries a write on its own PostgreSQL every 20
# ms (so an isolated old primary is still watched) and logs each attempt.
# Faults are bounded in time; nn_round runs one: steady state -> fault ->
# heal -> convergence -> checks, and appends a row to the results table.
# The "netem" fault (100±50 ms delay, 10% loss on the primary's link) uses
# tc netem where the kernel has sch_netem; without it, iptables sends the
# link's packets to NFQUEUE and pgw_delay (tests/tools/pgw_delay.c), in the
# node's namespace, holds and drops them: nfqueue delay 100±50 ms + 10%
# loss, in both directions, so the RTT measured during the fault (rtt~ in
# the round's note) is about 200 ms. Only without either is it loss alone
# (iptables statistic).
#
# Usage: NN_NET=3 source tests/lib/netns.sh; nn_init DIR ETCD_N async|sync;
#        nn_up; nn_round node-crash; ...; nn_table; (trap nn_cleanup EXIT)
# Names: every namespace, link and file is prefixed "pgwc<net>-", so drill
# files with different NN_NET run side by side and a leftover of an
# interrupted run is removed at the next start.

: "${PGW_BUILD_DIR:=$(pwd)/build}"
: "${PGW_BIN:=$PGW_BUILD_DIR/daemon/pgwarden}"
: "${PGW_WRITER:=$PGW_BUILD_DIR/tests/pgw_writer}"
: "${PGW_DELAY:=$PGW_BUILD_DIR/tests/pgw_delay}"
: "${PG_BIN_DIR:=/usr/lib/postgresql/15/bin}"
: "${PGW_RUN_AS:=pgwarden}"
: "${NN_NET:=1}"
: "${NN_TTL:=3}"
: "${NN_LOOP_WAIT:=0.5}"
: "${NN_RETRY:=1}"
: "${NN_FAULT_S:=8}"			# how long a partition / outage lasts
: "${NN_CONVERGE_S:=120}"		# bound for "every node rejoined"

NN_P="pgwc${NN_NET}"
NN_SUB="10.231.${NN_NET}"
NN_BR="${NN_P}-br"
NN_DIR=""
NN_ETCD_N=1
NN_MODE=async
NN_WRITER_PID=""
NN_FAILED=0
NN_MISSING_PREV=0
NN_HAVE_NETEM=""
NN_NETEM_DESC=""
NN_FROZEN=""
declare -a NN_PID NN_EPID NN_PROBE_PID NN_ROWS NN_DELAY_PID

nn_log() { echo "# $*"; }
nn_now() { date +%s%3N; }
nn_ns() { echo "${NN_P}-n$1"; }
nn_ens() { echo "${NN_P}-e$1"; }
nn_ip() { echo "${NN_SUB}.1$1"; }
nn_eip() { echo "${NN_SUB}.2$1"; }

# nn_purge: remove our namespaces, links and their processes (a leftover of
# an interrupted run has the same names; nothing else is touched). A
# pgw_delay runs inside a node's namespace, so a leftover one, whose pid
# this shell never knew, goes with the namespace's other processes.
nn_purge() {
	local ns pids i
	for i in 1 2 3; do
		[ -n "${NN_DELAY_PID[$i]:-}" ] && kill -KILL "${NN_DELAY_PID[$i]}" 2>/dev/null
		NN_DELAY_PID[$i]=""
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NN_P}-"); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill -CONT $pids 2>/dev/null
			# shellcheck disable=SC2086
			kill -QUIT $pids 2>/dev/null
			sleep 0.5
			# shellcheck disable=SC2086
			kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null
	done
	ip link del "$NN_BR" 2>/dev/null
	# a namespace is torn down lazily (a socket in TIME_WAIT keeps it): the
	# host end of its veth can outlive "ip netns del" and block the next
	# run's "ip link add" ("File exists"); deleting one end deletes both
	local l
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^${NN_P}-"); do
		ip link del "$l" 2>/dev/null
	done
	true
}

nn_subnet_free() {
	! ip -4 addr show 2>/dev/null | grep -q "inet ${NN_SUB}\." &&
		! ip -4 route show 2>/dev/null | grep -q "^${NN_SUB}\."
}

# nn_addns NAME IP HOSTIF: a namespace with lo and a veth onto the bridge
nn_addns() {
	local ns=$1 ip=$2 hif=$3
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	ip link add "$hif" type veth peer name eth0 netns "$ns" || return 1
	ip link set "$hif" master "$NN_BR" up
	ip -n "$ns" addr add "$ip/24" dev eth0
	ip -n "$ns" link set eth0 up
}

# nn_init DIR ETCD_N MODE: the layout, the configs and the network
nn_init() {
	NN_DIR=$1
	NN_ETCD_N=$2
	NN_MODE=$3
	if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
		echo "SKIP: chaos drills need root and ip netns"
		exit 77
	fi
	nn_purge
	if ! nn_subnet_free; then
		echo "not ok - subnet ${NN_SUB}.0/24 is in use on this host (set NN_NET)"
		exit 1
	fi
	mkdir -p "$NN_DIR"
	chmod 755 "$NN_DIR"
	ip link add "$NN_BR" type bridge || return 1
	ip addr add "${NN_SUB}.1/24" dev "$NN_BR"
	ip link set "$NN_BR" up
	local i hosts="" sync_line=""
	for i in $(seq 1 "$NN_ETCD_N"); do
		nn_addns "$(nn_ens "$i")" "$(nn_eip "$i")" "${NN_P}-ve$i" || return 1
		hosts+="$(nn_eip "$i"):2379,"
	done
	[ "$NN_MODE" = sync ] && sync_line="    synchronous_mode: true"
	# NN_FAILSAFE=1: failsafe_mode on (the replicas vouch for a leader
	# that lost etcd)
	[ -n "${NN_FAILSAFE:-}" ] && sync_line+=$'\n'"    failsafe_mode: true"
	for i in 1 2 3; do
		nn_addns "$(nn_ns "$i")" "$(nn_ip "$i")" "${NN_P}-vn$i" || return 1
		mkdir -p "$NN_DIR/node$i"
		cat >"$NN_DIR/node$i/pgwarden.yml" <<YML
scope: chaos
namespace: /service
name: node$i
log_level: info
etcd3:
  hosts: ${hosts%,}
restapi:
  listen: $(nn_ip "$i"):8008
  connect_address: $(nn_ip "$i"):8008
  authentication: {username: pgw-admin, password: pgw-rest-test}
  allow_credentials_over_http: true
postgresql:
  listen: $(nn_ip "$i"):5432
  connect_address: $(nn_ip "$i"):5432
  data_dir: $NN_DIR/node$i/data
  bin_dir: $PG_BIN_DIR
  run_as: $PGW_RUN_AS
  socket_dir: $NN_DIR/node$i/run
  authentication:
    superuser: {username: postgres, password: pgw-super}
    replication: {username: replicator, password: pgw-repl}
  pg_hba:
    - local all all scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
    - host all all ${NN_SUB}.0/24 scram-sha-256
    - local replication all scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
    - host replication all ${NN_SUB}.0/24 scram-sha-256
  parameters:
    shared_buffers: 16MB
    max_connections: 50
    wal_keep_size: 64MB
bootstrap:
  dcs:
    ttl: $NN_TTL
    loop_wait: $NN_LOOP_WAIT
    retry_timeout: $NN_RETRY
    maximum_lag_on_failover: 1048576
$sync_line
YML
	done
	# tc netem needs the sch_netem module; without it pgw_delay delays and
	# drops on NFQUEUE (nfnetlink_queue is built in where netem is not),
	# and only without that either is loss emulated alone with iptables'
	# statistic match
	if ip netns exec "$(nn_ens 1)" tc qdisc add dev eth0 root netem delay 1ms 2>/dev/null; then
		ip netns exec "$(nn_ens 1)" tc qdisc del dev eth0 root 2>/dev/null
		NN_HAVE_NETEM=1
		NN_NETEM_DESC="tc netem delay 100±50 ms + 10% loss"
	elif [ -x "$PGW_DELAY" ]; then
		NN_NETEM_DESC="nfqueue delay 100±50 ms + 10% loss"
	else
		NN_NETEM_DESC="iptables statistic loss only ($PGW_DELAY not built)"
	fi
	echo "kind|old|new|rto_ms|downtime_ms|lost|rejoin_ms|split|result|note" >"$NN_DIR/results.txt"
}

nn_start_etcd() {
	local k=$1 cluster="" j
	for j in $(seq 1 "$NN_ETCD_N"); do cluster+="e$j=http://$(nn_eip "$j"):2380,"; done
	mkdir -p "$NN_DIR/etcd$k"
	ip netns exec "$(nn_ens "$k")" etcd --name "e$k" --data-dir "$NN_DIR/etcd$k/data" \
		--listen-client-urls "http://$(nn_eip "$k"):2379" \
		--advertise-client-urls "http://$(nn_eip "$k"):2379" \
		--listen-peer-urls "http://$(nn_eip "$k"):2380" \
		--initial-advertise-peer-urls "http://$(nn_eip "$k"):2380" \
		--initial-cluster "${cluster%,}" --initial-cluster-state new \
		--heartbeat-interval 50 --election-timeout 500 \
		>>"$NN_DIR/etcd$k/etcd.log" 2>&1 &
	NN_EPID[$k]=$!
}

nn_etcd_endpoints() {
	local j out=""
	for j in $(seq 1 "$NN_ETCD_N"); do out+="$(nn_eip "$j"):2379,"; done
	echo "${out%,}"
}

nn_etcd_healthy() {
	ETCDCTL_API=3 etcdctl --endpoints "$(nn_etcd_endpoints)" --command-timeout=1s \
		endpoint health >/dev/null 2>&1
}

nn_start_node() {
	local i=$1
	ip netns exec "$(nn_ns "$i")" "$PGW_BIN" -c "$NN_DIR/node$i/pgwarden.yml" \
		>>"$NN_DIR/node$i/pgwarden.log" 2>&1 &
	NN_PID[$i]=$!
}

nn_pm() { head -1 "$NN_DIR/node$1/data/postmaster.pid" 2>/dev/null; }

nn_status() {
	curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$(nn_ip "$1"):8008$2" 2>/dev/null || true
}

nn_primaries() {
	local i out=""
	for i in 1 2 3; do [ "$(nn_status "$i" /primary)" = 200 ] && out+="$i "; done
	echo "$out"
}

# nn_wait_primary TIMEOUT_S [EXCLUDE]: exactly one primary (not EXCLUDE)
nn_wait_primary() {
	local deadline p
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		p=$(nn_primaries)
		if [ "$(echo $p | wc -w)" = 1 ] && [ "$p" != "${2:-} " ]; then
			echo "${p% }"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

nn_replicas() {
	local n=0 i
	for i in 1 2 3; do [ "$(nn_status "$i" /replica)" = 200 ] && n=$((n + 1)); done
	echo $n
}

# nn_wait_converged TIMEOUT_S: one primary and two streaming replicas
nn_wait_converged() {
	local deadline
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if [ "$(echo $(nn_primaries) | wc -w)" = 1 ] && [ "$(nn_replicas)" = 2 ]; then
			return 0
		fi
		sleep 0.3
	done
	return 1
}

nn_hosts() { echo "$(nn_ip 1):5432,$(nn_ip 2):5432,$(nn_ip 3):5432"; }

nn_start_probe() {
	local i=$1
	ip netns exec "$(nn_ns "$i")" "$PGW_WRITER" --hosts "$(nn_ip "$i"):5432" \
		--interval-ms 20 --client-timeout-ms 500 --duration-s 3000 \
		--log "$NN_DIR/probe$i.log" probe >>"$NN_DIR/probe$i.out" 2>/dev/null &
	NN_PROBE_PID[$i]=$!
}

# nn_up: etcd, three nodes, one primary and two replicas, writer and probes
nn_up() {
	local k i deadline
	for k in $(seq 1 "$NN_ETCD_N"); do nn_start_etcd "$k"; done
	deadline=$(($(date +%s) + 30))
	until nn_etcd_healthy; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "not ok - etcd did not start"; return 1; }
		sleep 0.2
	done
	for i in 1 2 3; do nn_start_node "$i"; done
	if ! nn_wait_converged 150; then
		echo "not ok - the cluster did not bootstrap (1 primary + 2 replicas)"
		return 1
	fi
	echo "ok - bootstrap: 1 primary + 2 replicas in namespaces (etcd members: $NN_ETCD_N, $NN_MODE)"
	# the tests bootstrap with initdb/pg_basebackup --no-sync for speed: flush
	# now, or a PostgreSQL crash drill measures the fsync of every unsynced
	# file at its restart (4-5 s here) instead of pgwarden
	sync
	"$PGW_WRITER" --hosts "$(nn_hosts)" --acked "$NN_DIR/acked.txt" --interval-ms 10 \
		--client-timeout-ms 1000 --duration-s 3000 --log "$NN_DIR/writer.log" write \
		>"$NN_DIR/writer.out" 2>&1 &
	NN_WRITER_PID=$!
	for i in 1 2 3; do nn_start_probe "$i"; done
	sleep 2
}

# ---- faults ---------------------------------------------------------------
nn_ipt() { ip netns exec "$(nn_ns "$1")" iptables -w "${@:2}"; }

# nn_block I IP...: node I drops everything to and from these addresses
nn_block() {
	local i=$1 a
	shift
	for a in "$@"; do
		nn_ipt "$i" -A INPUT -s "$a" -j DROP
		nn_ipt "$i" -A OUTPUT -d "$a" -j DROP
	done
}
nn_unblock() {
	# rules first: once no packet is queued any more, the delayer's stop
	# releases everything it holds and nothing new arrives behind it
	nn_ipt "$1" -F INPUT
	nn_ipt "$1" -F OUTPUT
	ip netns exec "$(nn_ns "$1")" tc qdisc del dev eth0 root 2>/dev/null
	nn_delay_stop "$1"
	true
}

# nn_delay_start I: pgw_delay on node I's link (NFQUEUE is per namespace;
# queue number I only names it in the logs). Fails when it does not bind.
nn_delay_start() {
	local i=$1 log="$NN_DIR/delay$1.log" n0 deadline
	touch "$log"
	n0=$(grep -c 'state=ready' "$log")
	# --duration-s: a delayer this shell loses track of still ends (and
	# accepts what it holds) on its own
	ip netns exec "$(nn_ns "$i")" "$PGW_DELAY" --queue "$i" --delay-ms 100 \
		--jitter-ms 50 --loss-pct 10 --duration-s $((NN_FAULT_S + 120)) 2>>"$log" &
	NN_DELAY_PID[$i]=$!
	# --queue-bypass would let packets through until it binds; waiting
	# for it makes the fault start now, not some time later
	deadline=$(($(nn_now) + 3000))
	until [ "$(grep -c 'state=ready' "$log")" -gt "$n0" ]; do
		if ! kill -0 "${NN_DELAY_PID[$i]}" 2>/dev/null || [ "$(nn_now)" -gt "$deadline" ]; then
			nn_log "pgw_delay on node$i did not start: $(tail -n 1 "$log")"
			nn_delay_stop "$i"
			return 1
		fi
		sleep 0.05
	done
	nn_ipt "$i" -A INPUT -i eth0 -j NFQUEUE --queue-num "$i" --queue-bypass &&
		nn_ipt "$i" -A OUTPUT -o eth0 -j NFQUEUE --queue-num "$i" --queue-bypass
}

# nn_delay_stop I: SIGTERM (it accepts every held packet and prints its
# summary), at most 3 s, then SIGKILL
nn_delay_stop() {
	local i=$1 pid=${NN_DELAY_PID[$1]:-} n
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for n in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	NN_DELAY_PID[$i]=""
	nn_log "pgw_delay node$i: $(grep 'state=stopped' "$NN_DIR/delay$i.log" 2>/dev/null | tail -n 1)"
}

# nn_rtt I: the round-trip time node I's link has now: median TCP handshake
# (curl's time_connect) to etcd over up to 7 tries, within NN_FAULT_S - 1 s
# (a handshake that lost a packet waits 1 s for its retransmit: the median
# keeps such outliers out). Prints "rtt~Nms (median of k/n TCP handshakes
# to etcd)" or "rtt~? ...".
nn_rtt() {
	local i=$1 deadline n=0 s out=""
	deadline=$(($(nn_now) + (NN_FAULT_S - 1) * 1000))
	while [ $n -lt 7 ] && [ "$(nn_now)" -lt "$deadline" ]; do
		n=$((n + 1))
		s=$(ip netns exec "$(nn_ns "$i")" curl -s -o /dev/null -m 1.5 \
			-w '%{time_connect}' "http://$(nn_eip 1):2379/health" 2>/dev/null)
		case "$s" in "" | 0 | 0.000000) ;; *) out+="$s"$'\n' ;; esac
		sleep 0.2
	done
	printf '%s' "$out" | sort -g | awk -v n="$n" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { printf "rtt~? (no TCP handshake to etcd of %d)\n", n; exit }
			m = (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)
			printf "rtt~%.0fms (median of %d/%d TCP handshakes to etcd)\n", m * 1000, NR, n
		}'
}

nn_etcd_leader() {
	local j
	for j in $(seq 1 "$NN_ETCD_N"); do
		if ETCDCTL_API=3 etcdctl --endpoints "$(nn_eip "$j"):2379" --command-timeout=1s \
			endpoint status -w json 2>/dev/null | jq -e '.[0].Status.leader == .[0].Status.header.member_id' >/dev/null; then
			echo "$j"
			return
		fi
	done
	echo 1
}

# nn_fault KIND P: inject the fault on primary node P; prints what to heal
# (and NN_FAULT_NOTE: what the round's note must say about the fault)
NN_HEAL=""
NN_FAULT_NOTE=""
nn_fault() {
	local kind=$1 p=$2 pm i ips=() j
	pm=$(nn_pm "$p")
	NN_FAULT_NOTE=""
	case "$kind" in
		node-crash)
			kill -KILL "${NN_PID[$p]}" 2>/dev/null
			[ -n "$pm" ] && kill -KILL -- "-$pm" 2>/dev/null
			NN_HEAL="restart $p" ;;
		pg-crash)
			[ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null
			NN_HEAL="none" ;;
		daemon-crash)
			kill -KILL "${NN_PID[$p]}" 2>/dev/null
			NN_HEAL="restart $p" ;;
		freeze)
			# the whole host pauses, as a VM does: every process in the
			# node's namespace but our probe. (The postmaster's process
			# group is not enough: PostgreSQL's InitPostmasterChild() puts
			# every backend in its own session with setsid().)
			NN_FROZEN=$(ip netns pids "$(nn_ns "$p")" | grep -vx "${NN_PROBE_PID[$p]}" | tr '\n' ' ')
			# shellcheck disable=SC2086
			kill -STOP $NN_FROZEN 2>/dev/null
			NN_HEAL="thaw $p" ;;
		part-etcd)
			for j in $(seq 1 "$NN_ETCD_N"); do ips+=("$(nn_eip "$j")"); done
			nn_block "$p" "${ips[@]}"
			NN_HEAL="unblock $p" ;;
		part-replicas)
			for i in 1 2 3; do [ "$i" != "$p" ] && ips+=("$(nn_ip "$i")"); done
			nn_block "$p" "${ips[@]}"
			NN_HEAL="unblock $p" ;;
		isolate)
			nn_ipt "$p" -A INPUT -i eth0 -j DROP
			nn_ipt "$p" -A OUTPUT -o eth0 -j DROP
			NN_HEAL="unblock $p" ;;
		netem)
			if [ -n "$NN_HAVE_NETEM" ]; then
				ip netns exec "$(nn_ns "$p")" tc qdisc add dev eth0 root netem delay 100ms 50ms loss 10%
			elif [ -x "$PGW_DELAY" ] && nn_delay_start "$p"; then
				:
			else
				[ -n "$NN_HAVE_NETEM" ] || [ ! -x "$PGW_DELAY" ] ||
					NN_FAULT_NOTE="pgw_delay did not start: 10% loss only, no delay"
				nn_ipt "$p" -F INPUT
				nn_ipt "$p" -F OUTPUT
				nn_ipt "$p" -A INPUT -i eth0 -m statistic --mode random --probability 0.1 -j DROP
				nn_ipt "$p" -A OUTPUT -o eth0 -m statistic --mode random --probability 0.1 -j DROP
			fi
			NN_HEAL="unblock $p" ;;
		etcd-member)
			j=$(nn_etcd_leader)
			kill -KILL "${NN_EPID[$j]}" 2>/dev/null
			NN_HEAL="etcd $j" ;;
		etcd-quorum)
			j=$(nn_etcd_leader)
			kill -KILL "${NN_EPID[$j]}" 2>/dev/null
			i=$((j % NN_ETCD_N + 1))
			kill -KILL "${NN_EPID[$i]}" 2>/dev/null
			NN_HEAL="etcd $j $i" ;;
		*) echo "unknown fault $kind" >&2; return 1 ;;
	esac
}

nn_heal() {
	local what=$1 a b c
	read -r _ a b c <<<"$NN_HEAL"
	case "$NN_HEAL" in
		restart*) nn_start_node "$a" ;;
		thaw*)
			# shellcheck disable=SC2086
			kill -CONT $NN_FROZEN 2>/dev/null ;;
		unblock*) nn_unblock "$a" ;;
		etcd*)
			nn_start_etcd "$a"
			[ -n "$b" ] && nn_start_etcd "$b" ;;
	esac
	: "$what" "$c"
}

# ---- checks -----------------------------------------------------------------
# nn_gap FROM_MS TO_MS [NOW_MS]: "rto downtime newhost" from the writer's
# log (one line per acknowledged write, in time order).
# downtime: the longest interval without an acknowledged write that overlaps
# [FROM, TO]. It runs from the ack before it, even one before FROM (the
# writer was already waiting when the fault began), to the ack after it,
# even one after TO: the whole log is read, so call this once the writer has
# had a chance to write again (nn_wait_ack). An interval still open (no ack
# since one before TO) lasts until NOW_MS (default TO).
# rto: FROM -> the ack that ends that interval, i.e. the first write the
# cluster took after the outage (0 when it was 300 ms or less: no outage);
# -1 while the writer has not written since before TO.
# newhost: the host of that ack ("-" when none).
nn_gap() {
	awk -v f="$1" -v t="$2" -v now="${3:-$2}" '
		{ if ($1 > f && (prev == "" || prev < t)) {
			g = $1 - (prev == "" ? f : prev)
			if (g > best) { best = g; end = $1; host = $3 }
		  }
		  prev = $1; last = $3
		  if (prev >= t) exit }
		END {
			if (prev == "") { print "-1 -1 -"; exit }
			if (prev < t) {
				# the writer has not written since: an outage still on
				g = now - prev
				print -1, (g > best ? g : best), "-"
				exit
			}
			rto = (best > 300 ? end - f : 0)
			if (host == "") host = last
			print rto, best + 0, host
		}' "$NN_DIR/writer.log"
}

# nn_wait_ack MS TIMEOUT_S: until the writer has logged an ack at or after MS
nn_wait_ack() {
	local deadline last
	deadline=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		last=$(tail -n 1 "$NN_DIR/writer.log" 2>/dev/null | cut -d' ' -f1)
		[ -n "$last" ] && [ "$last" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# nn_split FROM_MS TO_MS: writable windows of different nodes that overlap.
# Each probe attempt that committed is a point at the middle of its
# [start, end]; consecutive commits of one node form a run; two runs of
# different nodes that overlap in time are two writable primaries.
nn_split() {
	cat "$NN_DIR"/probe[123].log 2>/dev/null | sort -n -k1,1 | awk -v f="$1" -v t="$2" '
		$2 < f - 5000 || $1 > t { next }
		{ h = $3; m = int(($1 + $2) / 2)
		  if ($4 == 1) {
			if (!(h in open)) { open[h] = 1; rs[h] = m }
			re[h] = m
		  } else if (h in open) {
			n++; R_h[n] = h; R_s[n] = rs[h]; R_e[n] = re[h]; delete open[h]
		  } }
		END {
			for (h in open) { n++; R_h[n] = h; R_s[n] = rs[h]; R_e[n] = re[h] }
			c = 0; worst = 0
			for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) {
				if (R_h[a] == R_h[b]) continue
				lo = (R_s[a] > R_s[b] ? R_s[a] : R_s[b])
				hi = (R_e[a] < R_e[b] ? R_e[a] : R_e[b])
				if (hi > lo) { c++; if (hi - lo > worst) { worst = hi - lo; at = lo } }
			}
			printf "%d %d %.0f\n", c, worst, at
		}'
}

nn_missing() {
	local out
	out=$("$PGW_WRITER" --hosts "$(nn_hosts)" --acked "$NN_DIR/acked.txt" \
		--client-timeout-ms 3000 --duration-s 30 verify 2>&1)
	echo "$out" | sed -n 's/.*missing=\([0-9-]*\).*/\1/p'
}

nn_name_of_host() {
	case "$1" in
		"$(nn_ip 1)":*) echo node1 ;;
		"$(nn_ip 2)":*) echo node2 ;;
		"$(nn_ip 3)":*) echo node3 ;;
		*) echo "-" ;;
	esac
}

# nn_round KIND: one drill round; appends to results.txt, counts failures
nn_round() {
	local kind=$1 p t0 t_heal t_conv t_end rto down host new split worst at miss lost
	local result=ok note="" rejoin rtt_pid
	p=$(nn_wait_primary 30) || { echo "not ok - $kind: no primary before the fault"; NN_FAILED=$((NN_FAILED + 1)); return 1; }
	t0=$(nn_now)
	nn_fault "$kind" "$p" || return 1
	[ -n "$NN_FAULT_NOTE" ] && note+="$NN_FAULT_NOTE; "
	case "$kind" in
		pg-crash) sleep 2 ;;
		node-crash | daemon-crash)
			nn_wait_primary 30 "$p" >/dev/null
			sleep 1 ;;
		freeze) sleep $((NN_TTL + 3)) ;;
		netem)
			# measured during the fault, so the row shows the delay the
			# link really had (nfqueue delays both directions: ~2 x 100 ms)
			nn_rtt "$p" >"$NN_DIR/rtt.txt" &
			rtt_pid=$!
			sleep "$NN_FAULT_S"
			wait "$rtt_pid"
			note+="$(cat "$NN_DIR/rtt.txt"); "
			nn_log "netem on node$p: $(cat "$NN_DIR/rtt.txt")" ;;
		*) sleep "$NN_FAULT_S" ;;
	esac
	t_heal=$(nn_now)
	nn_heal "$kind"
	if nn_wait_converged "$NN_CONVERGE_S"; then
		t_conv=$(nn_now)
		rejoin=$((t_conv - t0))
	else
		rejoin=-1
		result=FAILED
		note+="not converged within ${NN_CONVERGE_S}s (primaries: $(nn_primaries), replicas: $(nn_replicas)); "
	fi
	sleep 1
	t_end=$(nn_now)
	# an outage that lasts past t_end is measured to its end, not cut there
	nn_wait_ack "$t_end" 30
	read -r rto down host <<<"$(nn_gap "$t0" "$t_end" "$(nn_now)")"
	new=$(nn_name_of_host "$host")
	read -r split worst at <<<"$(nn_split "$t0" "$(nn_now)")"
	miss=$(nn_missing)
	if [ -z "$miss" ] || [ "$miss" -lt 0 ]; then
		lost=-1
		result=FAILED
		note+="verify found no primary; "
	else
		lost=$((miss - NN_MISSING_PREV))
		NN_MISSING_PREV=$miss
		if [ "$NN_MODE" = sync ] && [ "$lost" != 0 ]; then
			result=FAILED
			note+="sync mode lost $lost acknowledged commits; "
		elif [ "$lost" -gt 1000 ]; then
			result=FAILED
			note+="async loss $lost > bound (1000 commits ~ maximum_lag_on_failover); "
		fi
	fi
	if [ "$split" != 0 ]; then
		# a frozen backend finishes its commit the instant it is thawed,
		# before its daemon can fence: measured, allowed up to 1 s after
		# SIGCONT (as test_daemon_cluster.sh does); anything else fails
		if [ "$kind" = freeze ] && [ "$at" -ge "$t_heal" ] && [ "$worst" -le 1000 ]; then
			note+="thaw window: old primary accepted writes ${worst} ms after SIGCONT; "
		else
			result=FAILED
			note+="SPLIT BRAIN: $split overlapping writable windows, worst ${worst} ms at wall $at (fault at $t0, heal at $t_heal); "
		fi
	fi
	[ "$rto" = -1 ] && { result=FAILED; note+="no acknowledged write after the outage (waited 30 s past convergence); "; }
	echo "$kind|node$p|$new|$rto|$down|$lost|$rejoin|$split|$result|${note%; }" >>"$NN_DIR/results.txt"
	if [ "$result" = ok ]; then
		echo "ok - $kind: old node$p new $new rto=${rto}ms downtime=${down}ms lost=$lost rejoin=${rejoin}ms split=$split ${note:+(${note%; })}"
	else
		echo "not ok - $kind: old node$p new $new rto=${rto}ms downtime=${down}ms lost=$lost rejoin=${rejoin}ms split=$split: $note"
		echo "# fault at wall $t0, heal at $t_heal; logs: $NN_DIR"
		NN_FAILED=$((NN_FAILED + 1))
	fi
}

nn_table() {
	echo "# results ($NN_MODE, etcd members: $NN_ETCD_N, ttl ${NN_TTL}s loop_wait ${NN_LOOP_WAIT}s retry_timeout ${NN_RETRY}s; netem: $NN_NETEM_DESC)"
	column -t -s '|' "$NN_DIR/results.txt" | sed 's/^/# /'
}

nn_cleanup() {
	local i
	for i in 1 2 3; do nn_delay_stop "$i"; done
	[ -n "$NN_WRITER_PID" ] && kill "$NN_WRITER_PID" 2>/dev/null
	for i in 1 2 3; do
		[ -n "${NN_PROBE_PID[$i]:-}" ] && kill "${NN_PROBE_PID[$i]}" 2>/dev/null
	done
	if [ "$NN_FAILED" -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then
		for i in 1 2 3; do
			echo "---- node$i log (tail)"
			tail -n 30 "$NN_DIR/node$i/pgwarden.log" 2>/dev/null
		done
		# keep the evidence of a failure
		if [ -n "$NN_DIR" ] && [ -d "$NN_DIR" ]; then
			mkdir -p /tmp/pgwc-failed
			cp -r "$NN_DIR" "/tmp/pgwc-failed/$(basename "$NN_DIR")" 2>/dev/null
			rm -rf "/tmp/pgwc-failed/$(basename "$NN_DIR")"/node*/data
			echo "# logs kept in /tmp/pgwc-failed/$(basename "$NN_DIR")"
		fi
	fi
	nn_purge
	wait 2>/dev/null
	[ -n "$NN_DIR" ] && [ -z "${PGW_TEST_KEEP:-}" ] && rm -rf "$NN_DIR"
	true
}
