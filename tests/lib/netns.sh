#!/usr/bin/env bash
# netns.sh: the chaos drills' harness (DESIGN.md "The promises", notes R5),
# built on tests/lib/cluster.sh: each pgwarden node (daemon + its
# PostgreSQL) and each etcd member runs in its own network namespace, with a
# veth onto a bridge that this file creates on a private subnet
# 10.231.<net>.0/24; cluster.sh's functions reach them through the node's
# addresses and the command prefix "ip netns exec <ns>" (CL_EXEC). Traffic
# goes only to loopback and these namespaces. A writer in the root
# namespace commits to whichever node is read-write and logs every
# acknowledged commit; a probe in *every* node's namespace tries a write on
# its own PostgreSQL every 20 ms and logs each attempt (so an isolated or
# thawed old primary is still watched).
#
# nn_round KIND runs one drill: steady state -> fault -> heal ->
# convergence (one primary, the others streaming from it on its timeline)
# -> checks, and appends a row to results.txt. Every round checks, and
# fails on:
#   - any overlap of two nodes' writable windows (tests/tools/
#     pgw_logcheck.py split over the probe logs, a single accepted write
#     included; a probe silent for 5 s fails the round too). Only in the
#     freeze drill, overlaps in which the thawed old primary's writes all
#     come after SIGCONT are reported apart ("thaw" column: writes, ms) and
#     allowed up to NN_THAW_MAX_MS; PostgreSQL is resumed first, then the
#     daemon and its fence watchdog (the adversarial order);
#   - lost acknowledged commits: any in synchronous mode; in asynchronous
#     mode more than cluster_loss_bound (maximum_lag_on_failover at the
#     measured WAL bytes per commit + one loop_wait of commits);
#   - the kind's claims (nn_claims): a primary cut from etcd or isolated,
#     or losing etcd's quorum, stops accepting writes within ttl of the
#     fault (its lease could not outlive that), and where the kind says a
#     replica takes over, one does before the heal; a primary cut from its
#     replicas or losing one etcd member keeps the lease;
#   - the kind's timing bound (nn_bound, from ttl, retry_timeout, loop_wait,
#     primary_start_timeout and the fault's length, plus NN_SLACK_MS for
#     promotion and the writer's reconnect);
#   - no convergence within NN_CONVERGE_S of the heal (an operator would be
#     needed), no acknowledged write after it, an unknown kind, a fault
#     that could not be injected as specified.
# The "netem" fault (100±50 ms delay, 10% loss on the primary's link) uses
# tc netem where the kernel has sch_netem; without it, iptables sends the
# link's packets to NFQUEUE and pgw_delay (tests/tools/pgw_delay.c), in the
# node's namespace, holds and drops them: nfqueue delay 100±50 ms + 10%
# loss, in both directions, so the RTT measured during the fault (rtt~ in
# the round's note) is about 200 ms. Without either the round fails.
#
# Usage: NN_NET=3 source tests/lib/netns.sh; nn_init DIR ETCD_N async|sync;
#        nn_up; nn_round node-crash; ...; nn_table; (trap nn_cleanup EXIT)
# Names: every namespace, link and file is prefixed "pgwc<net>-", so drill
# files with different NN_NET run side by side and a leftover of an
# interrupted run is removed at the next start.

# shellcheck source=cluster.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh"
: "${PGW_DELAY:=$PGW_BUILD_DIR/tests/pgw_delay}"
: "${NN_NET:=1}"
: "${NN_TTL:=3}"
: "${NN_LOOP_WAIT:=0.5}"
: "${NN_RETRY:=1}"
: "${NN_FAULT_S:=8}"			# how long a partition / outage lasts
: "${NN_CONVERGE_S:=120}"		# heal -> every node back, or an operator is needed
: "${NN_SLACK_MS:=$((5000 * PGW_TEST_TIMEOUT_MULT))}"	# promotion + the writer's reconnect
: "${NN_THAW_MAX_MS:=1000}"		# a thawed primary's writes after SIGCONT
NN_KIND_LIST="node-crash pg-crash daemon-crash freeze part-etcd part-replicas isolate netem etcd-member etcd-quorum"
# faults that must make a round fail, to see every check fail
# (tests/chaos/test_chaos_selftest.sh; only with NN_SELFTEST=1)
NN_SELFTEST_KINDS="selftest-split selftest-loss selftest-probe"

NN_P="pgwc${NN_NET}"
NN_SUB="10.231.${NN_NET}"
NN_BR="${NN_P}-br"
NN_DIR=""
NN_MODE=async
NN_FAILED=0
NN_MISSING_PREV=0
NN_HAVE_NETEM=""
NN_NETEM_DESC=""
NN_FROZEN=""
NN_FROZEN_PG=""
NN_FAILSAFE=${NN_FAILSAFE:-}
declare -a NN_DELAY_PID

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
	! ip -4 addr show 2>/dev/null | grep "inet ${NN_SUB}\." >/dev/null &&
		! ip -4 route show 2>/dev/null | grep "^${NN_SUB}\." >/dev/null
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
	nn_mark
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


# nn_init DIR ETCD_N MODE: the layout, the configs (cluster.sh's YAML writer)
# and the network
nn_init() {
	local i k
	if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
		echo "SKIP: chaos drills need root and ip netns"
		exit 77
	fi
	nn_purge
	if ! nn_subnet_free; then
		echo "not ok - subnet ${NN_SUB}.0/24 is in use on this host (set NN_NET)"
		exit 1
	fi
	NN_DIR=$1
	NN_MODE=$3
	NN_MISSING_PREV=0
	cl_reset "$NN_DIR" 3
	CL_SCOPE=chaos
	CL_TTL=$NN_TTL CL_LOOP_WAIT=$NN_LOOP_WAIT CL_RETRY=$NN_RETRY
	CL_HBA_NET="${NN_SUB}.0/24"
	CL_DCS_EXTRA=""
	[ "$NN_MODE" = sync ] && CL_DCS_EXTRA="    synchronous_mode: true"
	# NN_FAILSAFE=1: failsafe_mode on (the replicas vouch for a leader
	# that lost etcd)
	[ -n "$NN_FAILSAFE" ] && CL_DCS_EXTRA+=$'\n'"    failsafe_mode: true"
	ip link add "$NN_BR" type bridge || return 1
	ip addr add "${NN_SUB}.1/24" dev "$NN_BR"
	ip link set "$NN_BR" up
	CL_ETCD_N=$2
	for k in $(seq 1 "$CL_ETCD_N"); do
		nn_addns "$(nn_ens "$k")" "$(nn_eip "$k")" "${NN_P}-ve$k" || return 1
		CL_ETCD_HOST[$k]=$(nn_eip "$k")
		CL_ETCD_CPORT[$k]=2379
		CL_ETCD_PPORT[$k]=2380
		CL_ETCD_EXEC[$k]="ip netns exec $(nn_ens "$k")"
	done
	CL_ETCD_PORT=2379
	for i in 1 2 3; do
		nn_addns "$(nn_ns "$i")" "$(nn_ip "$i")" "${NN_P}-vn$i" || return 1
		CL_PG_HOST[$i]=$(nn_ip "$i")
		CL_PG_PORT[$i]=5432
		CL_API_HOST[$i]=$(nn_ip "$i")
		CL_API_PORT[$i]=8008
		CL_EXEC[$i]="ip netns exec $(nn_ns "$i")"
		cl_write_yaml "$i"
	done
	# tc netem needs the sch_netem module; without it pgw_delay delays and
	# drops on NFQUEUE (nfnetlink_queue is built in where netem is not)
	if ip netns exec "$(nn_ens 1)" tc qdisc add dev eth0 root netem delay 1ms 2>/dev/null; then
		ip netns exec "$(nn_ens 1)" tc qdisc del dev eth0 root 2>/dev/null
		NN_HAVE_NETEM=1
		NN_NETEM_DESC="tc netem delay 100±50 ms + 10% loss"
	elif [ -x "$PGW_DELAY" ]; then
		NN_NETEM_DESC="nfqueue delay 100±50 ms + 10% loss"
	else
		NN_NETEM_DESC="none: no sch_netem and $PGW_DELAY not built (the netem round fails)"
	fi
	echo "kind|old|new|rto_ms|downtime_ms|lost|loss_bound|rejoin_ms|split|thaw|bound_ms|result|note" >"$NN_DIR/results.txt"
}

# nn_up: etcd, three nodes, one primary and two streaming replicas, writer
# and probes; in async mode the loss bound, measured under the writer
nn_up() {
	local i
	cluster_start_etcd || { echo "not ok - etcd did not start"; return 1; }
	for i in 1 2 3; do cluster_start_node "$i"; done
	if ! wait_for 150 cluster_converged; then
		echo "not ok - the cluster did not bootstrap (1 primary + 2 streaming replicas)"
		return 1
	fi
	echo "ok - bootstrap: 1 primary + 2 streaming replicas in namespaces (etcd members: $CL_ETCD_N, $NN_MODE)"
	# the tests bootstrap with initdb/pg_basebackup --no-sync for speed: flush
	# now, or a PostgreSQL crash drill measures the fsync of every unsynced
	# file at its restart (4-5 s here) instead of pgwarden
	sync
	cluster_start_writer
	cluster_start_probes
	if ! cluster_wait_ack "$(($(nn_now) + 1000))" 30; then
		echo "not ok - the writer acknowledged nothing within 30 s"
		return 1
	fi
	if [ "$NN_MODE" = sync ]; then
		CL_LOSS_BOUND=0
		CL_LOSS_WHY="synchronous_mode"
	elif ! cluster_loss_bound; then
		echo "not ok - async loss bound: $CL_LOSS_WHY"
		return 1
	fi
	echo "ok - loss bound: $CL_LOSS_BOUND acknowledged commits ($CL_LOSS_WHY)"
}

nn_etcd_leader() {
	local j
	for j in $(seq 1 "$CL_ETCD_N"); do
		if ETCDCTL_API=3 etcdctl --endpoints "$(nn_eip "$j"):2379" --command-timeout=1s \
			endpoint status -w json 2>/dev/null | jq -e '.[0].Status.leader == .[0].Status.header.member_id' >/dev/null; then
			echo "$j"
			return
		fi
	done
	echo 1
}

# nn_ns_pids I: every process in node I's namespace but its probe
nn_ns_pids() {
	ip netns pids "$(nn_ns "$1")" 2>/dev/null | grep -vx "${CL_PROBE_PID[$1]:-none}" | tr '\n' ' '
}

# nn_fault KIND P: inject the fault on primary node P; sets NN_HEAL (what to
# heal) and NN_FAULT_NOTE; 1 when the fault could not be injected as
# specified (the round then fails)
NN_HEAL=""
NN_FAULT_NOTE=""
NN_FAULT_AT=""					# wall ms of the fault itself
nn_mark() { NN_FAULT_AT=$(nn_now); }
nn_fault() {
	local kind=$1 p=$2 pm i ips=() j
	pm=$(cluster_postmaster_pid "$p")
	NN_FAULT_NOTE=""
	NN_HEAL="none"
	NN_FAULT_AT=$(nn_now)
	case "$kind" in
		node-crash)
			# the host dies: every process on it (the daemon, its fence
			# watchdog, PostgreSQL), all at once
			nn_mark
			# shellcheck disable=SC2046
			kill -KILL $(nn_ns_pids "$p") 2>/dev/null
			NN_HEAL="restart $p" ;;
		pg-crash)
			[ -n "$pm" ] || { NN_FAULT_NOTE="no postmaster.pid on node$p"; return 1; }
			nn_mark
			kill -KILL "$pm" || { NN_FAULT_NOTE="kill of postmaster $pm failed"; return 1; }
			NN_HEAL="pgdead $pm" ;;
		daemon-crash)
			nn_mark
			kill -KILL "${CL_PID[$p]}" 2>/dev/null
			NN_HEAL="restart $p" ;;
		freeze)
			# the whole host pauses, as a VM does: every process in the
			# node's namespace (daemon, fence watchdog, PostgreSQL) but our
			# probe; the thaw resumes PostgreSQL first
			NN_FROZEN_PG=$(cluster_pg_pids "$p")
			NN_FROZEN=$(nn_ns_pids "$p")
			nn_mark
			# shellcheck disable=SC2086
			kill -STOP $NN_FROZEN 2>/dev/null
			NN_HEAL="thaw $p" ;;
		part-etcd)
			for j in $(seq 1 "$CL_ETCD_N"); do ips+=("$(nn_eip "$j")"); done
			nn_mark
			nn_block "$p" "${ips[@]}"
			NN_HEAL="unblock $p" ;;
		part-replicas)
			for i in 1 2 3; do [ "$i" != "$p" ] && ips+=("$(nn_ip "$i")"); done
			nn_mark
			nn_block "$p" "${ips[@]}"
			NN_HEAL="unblock $p" ;;
		isolate)
			nn_mark
			nn_ipt "$p" -A INPUT -i eth0 -j DROP
			nn_ipt "$p" -A OUTPUT -o eth0 -j DROP
			NN_HEAL="unblock $p" ;;
		netem)
			NN_HEAL="unblock $p"
			nn_mark
			if [ -n "$NN_HAVE_NETEM" ]; then
				ip netns exec "$(nn_ns "$p")" tc qdisc add dev eth0 root netem delay 100ms 50ms loss 10% ||
					{ NN_FAULT_NOTE="tc netem failed"; return 1; }
			elif [ -x "$PGW_DELAY" ]; then
				nn_delay_start "$p" || { NN_FAULT_NOTE="pgw_delay did not start"; return 1; }
			else
				NN_FAULT_NOTE="no way to delay packets here ($NN_NETEM_DESC)"
				return 1
			fi ;;
		selftest-split)
			# a replica promoted behind pgwarden's back, its daemon and fence
			# watchdog frozen meanwhile: two writable nodes for the whole
			# fault; the round must fail on the split. (Not frozen, the
			# daemon demotes it within a loop or so: under load the probes,
			# 20 ms apart when idle, missed that window and the round passed.)
			# The thaw lets the daemon demote and rewind it.
			for i in 1 2 3; do [ "$i" != "$p" ] && j=$i; done
			NN_FROZEN_PG=""
			NN_FROZEN="${CL_PID[$j]} $(pgrep -P "${CL_PID[$j]}" -x pgwarden-fence | tr '\n' ' ')"
			# shellcheck disable=SC2086
			kill -STOP $NN_FROZEN 2>/dev/null
			NN_HEAL="thaw $j"
			ip netns exec "$(nn_ns "$j")" runuser -u "$PGW_RUN_AS" -- \
				"$PG_BIN_DIR/pg_ctl" promote -D "$NN_DIR/node$j/data" >/dev/null 2>&1 ||
				{ NN_FAULT_NOTE="pg_ctl promote on node$j failed"; return 1; } ;;
		selftest-loss)
			# acknowledged commits vanish (a trigger deletes every 10th row
			# in the transaction that wrote it, for the fault's length): the
			# round must fail on the loss
			cluster_psql "$p" "CREATE FUNCTION pgw_selftest_loss() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF NEW.seq % 10 = 0 THEN DELETE FROM pgw_writes WHERE seq = NEW.seq; END IF; RETURN NULL; END \$\$;
				CREATE TRIGGER pgw_selftest_loss AFTER INSERT ON pgw_writes FOR EACH ROW EXECUTE FUNCTION pgw_selftest_loss()" >/dev/null ||
				{ NN_FAULT_NOTE="trigger not created on node$p"; return 1; }
			NN_HEAL="untrigger $p" ;;
		selftest-probe)
			# node P's probe dies: the split detector must refuse the logs
			kill -KILL "${CL_PROBE_PID[$p]}" 2>/dev/null
			NN_HEAL="probe $p" ;;
		etcd-member)
			[ "$CL_ETCD_N" -ge 3 ] || { NN_FAULT_NOTE="needs 3 etcd members"; return 1; }
			j=$(nn_etcd_leader)
			nn_mark
			kill -KILL "${CL_EPID[$j]}" 2>/dev/null
			NN_HEAL="etcd $j" ;;
		etcd-quorum)
			[ "$CL_ETCD_N" -ge 3 ] || { NN_FAULT_NOTE="needs 3 etcd members"; return 1; }
			j=$(nn_etcd_leader)
			i=$((j % CL_ETCD_N + 1))
			nn_mark
			kill -KILL "${CL_EPID[$j]}" "${CL_EPID[$i]}" 2>/dev/null
			NN_HEAL="etcd $j $i" ;;
	esac
	return 0
}

# nn_fault_wait KIND P: the fault's length: a crash waits for the
# replacement (or the postmaster's end), a freeze ttl + 3 s, a network fault
# NN_FAULT_S (netem: measuring the link's RTT meanwhile)
nn_fault_wait() {
	local kind=$1 p=$2 rtt_pid pm
	case "$kind" in
		node-crash | daemon-crash) cluster_wait_primary 30 "$p" >/dev/null ;;
		pg-crash)
			pm=${NN_HEAL#pgdead }
			wait_for 10 nn_pid_gone "$pm" ;;
		freeze) sleep $((NN_TTL + 3)) ;;
		netem)
			# measured during the fault, so the row shows the delay the link
			# really had (nfqueue delays both directions: ~2 x 100 ms)
			nn_rtt "$p" >"$NN_DIR/rtt.txt" &
			rtt_pid=$!
			sleep "$NN_FAULT_S"
			wait "$rtt_pid"
			NN_FAULT_NOTE="$(cat "$NN_DIR/rtt.txt")"
			nn_log "netem on node$p: $NN_FAULT_NOTE" ;;
		*) sleep "$NN_FAULT_S" ;;
	esac
}
nn_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

nn_heal() {
	local a b
	read -r _ a b <<<"$NN_HEAL"
	case "$NN_HEAL" in
		restart*) cluster_start_node "$a" ;;
		thaw*)
			# PostgreSQL first: a backend mid-commit, or a client's next
			# statement, may complete before the daemon and its fence
			# watchdog run again (the adversarial order)
			# shellcheck disable=SC2086
			kill -CONT $NN_FROZEN_PG 2>/dev/null
			# shellcheck disable=SC2086
			kill -CONT $NN_FROZEN 2>/dev/null ;;
		unblock*) nn_unblock "$a" ;;
		etcd*)
			cluster_start_etcd_member "$a"
			[ -n "$b" ] && cluster_start_etcd_member "$b" ;;
		untrigger*)
			# on whichever node is primary now
			for a in 1 2 3; do
				cluster_psql "$a" "DROP TRIGGER pgw_selftest_loss ON pgw_writes; DROP FUNCTION pgw_selftest_loss()" >/dev/null 2>&1
			done ;;
		probe*) cluster_start_probe "$a" ;;
	esac
	true
}

# nn_back T_MS: converged, and the writer acknowledged a write at or after T
nn_back() { cluster_converged && cl_acked_since "$1"; }

# nn_bound KIND: "METRIC MAX_MS": the timing bound of a drill, from the
# profile. METRIC rto (fault -> the write that ended the longest gap) for
# the kinds that interrupt writes; downtime for those that must not.
nn_bound() {
	local ttl=$((NN_TTL * 1000)) retry=$((NN_RETRY * 1000)) fault=$((NN_FAULT_S * 1000)) lw pst=3000
	lw=$(awk -v s="$NN_LOOP_WAIT" 'BEGIN{printf "%d", s * 1000}')
	case "$1" in
		# the lease runs out (ttl), the election reads within retry_timeout
		node-crash | daemon-crash | freeze | isolate) echo "rto $((ttl + retry + NN_SLACK_MS))" ;;
		part-etcd)
			if [ -n "$NN_FAILSAFE" ]; then echo "downtime $ttl"; else echo "rto $((ttl + retry + NN_SLACK_MS))"; fi ;;
		# noticed within loop_wait; restarted in place or released after
		# primary_start_timeout, then an election
		pg-crash) echo "rto $((lw + pst + retry + NN_SLACK_MS))" ;;
		# synchronous commits wait for the heal, then for the standby's
		# connection: TCP backs its retransmissions off while packets are
		# dropped, so the next one may come up to the fault's length after
		# the heal
		part-replicas) echo "rto $((2 * fault + retry + NN_SLACK_MS))" ;;
		netem) echo "rto $((fault + ttl + NN_SLACK_MS))" ;;
		# the primary keeps its lease: writes never stop for a whole ttl
		etcd-member) echo "downtime $ttl" ;;
		selftest-*) echo "rto $((fault + 4 * ttl + NN_SLACK_MS))" ;;
		# writes stop within ttl; the members come back after the fault
		etcd-quorum) echo "rto $((fault + ttl + retry + NN_SLACK_MS))" ;;
	esac
}

# nn_claims KIND P T0 T_HEAL NOW: the kind's claims, over the probe logs;
# prints the failures ("" when all hold)
nn_claims() {
	local kind=$1 p=$2 t0=$3 th=$4 now=$5 ttl=$((NN_TTL * 1000)) i r last first="" out="" f
	r=$(cluster_accepts "$p" "$t0" $((th - 1))) || { echo "probe log of node$p unreadable; "; return; }
	last=$(cl_kv last_end_ms "$r")
	for i in 1 2 3; do
		[ "$i" = "$p" ] && continue
		f=$(cl_kv first_start_ms "$(cluster_accepts "$i" "$t0" "$now")")
		[ -n "$f" ] && [ "$f" != -1 ] && { [ -z "$first" ] || [ "$f" -lt "${first#* }" ]; } && first="$i $f"
	done
	local keeps="" stops="" takes=""
	case "$kind" in
		node-crash | daemon-crash | freeze | isolate) stops=1 takes=1 ;;
		part-etcd) if [ -n "$NN_FAILSAFE" ]; then keeps=1; else stops=1 takes=1; fi ;;
		etcd-quorum) stops=1 ;;
		part-replicas | etcd-member) keeps=1 ;;
	esac
	if [ -n "$stops" ] && [ "$last" != -1 ] && [ $((last - t0)) -ge "$ttl" ]; then
		out+="node$p still accepted a write $((last - t0)) ms after the fault (its lease cannot outlive ${ttl} ms); "
	fi
	if [ -n "$takes" ] && { [ -z "$first" ] || [ "${first#* }" -ge "$th" ]; }; then
		out+="no other node accepted a write before the heal (${first:+node${first% *} at +$((${first#* } - t0)) ms}); "
	fi
	if [ -n "$keeps" ] && [ -n "$first" ]; then
		out+="node${first% *} accepted a write at +$((${first#* } - t0)) ms: node$p did not keep the lease; "
	fi
	echo "$out"
}

# nn_round KIND: one drill round; appends to results.txt, counts failures
NN_OPERATOR=0
nn_round() {
	local kind=$1 p t0 t_heal t_conv t_end now r rc rto=-1 down=-1 host new="-" sp split=0 worst at exempt
	local result=ok note="" rejoin=-1 thaw="-" miss lost=-1 bound metric max val claims th_acc k ov
	case " $NN_KIND_LIST ${NN_SELFTEST:+$NN_SELFTEST_KINDS} " in
		*" $kind "*) ;;
		*)
			echo "not ok - unknown fault kind \"$kind\" (known: $NN_KIND_LIST)"
			echo "$kind|-|-|-1|-1|-1|-|-1|-|-|-|FAILED|unknown fault kind" >>"$NN_DIR/results.txt"
			NN_FAILED=$((NN_FAILED + 1))
			return 1 ;;
	esac
	p=$(cluster_wait_primary 30) || {
		echo "not ok - $kind: no primary before the fault"
		echo "$kind|-|-|-1|-1|-1|-|-1|-|-|-|FAILED|no primary before the fault" >>"$NN_DIR/results.txt"
		NN_FAILED=$((NN_FAILED + 1))
		return 1
	}
	t0=$(nn_now)
	if ! nn_fault "$kind" "$p"; then
		result=FAILED
		note+="fault not injected as specified: $NN_FAULT_NOTE; "
	else
		# the fault's own instant: looking up the etcd leader, or waiting
		# for pgw_delay to bind, takes seconds under load
		t0=$NN_FAULT_AT
		nn_fault_wait "$kind" "$p"
		[ -n "$NN_FAULT_NOTE" ] && note+="$NN_FAULT_NOTE; "
	fi
	t_heal=$(nn_now)
	nn_heal
	if wait_for "$NN_CONVERGE_S" nn_back "$t_heal"; then
		t_conv=$(nn_now)
		rejoin=$((t_conv - t_heal))
	else
		result=FAILED
		NN_OPERATOR=$((NN_OPERATOR + 1))
		note+="OPERATOR NEEDED: not back within ${NN_CONVERGE_S}s of the heal (primaries: $(cluster_primaries), streaming: $(cluster_streaming_count)); "
	fi
	t_end=$(nn_now)
	# an outage that lasts past t_end is measured to its end, not cut there
	cluster_wait_ack "$t_end" 30
	now=$(nn_now)
	if r=$(cluster_gap "$t0" "$t_end" "$now" 2>&1); then
		rto=$(cl_kv rto_ms "$r")
		down=$(cl_kv downtime_ms "$r")
		host=$(cl_kv host "$r")
		[ "$host" != - ] && new=node$(cluster_node_of_host "$host")
		[ "$rto" = -1 ] && { result=FAILED; note+="no acknowledged write after the outage (waited 30 s past convergence); "; }
	else
		result=FAILED
		note+="writer log: $r; "
	fi
	# writable windows: every overlap fails, but for the thawed old
	# primary's writes after SIGCONT, which are reported and bounded
	if [ "$kind" = freeze ]; then
		sp=$(cluster_split "$t0" "$now" --exempt-host "${CL_PG_HOST[$p]}:${CL_PG_PORT[$p]}" --exempt-after "$t_heal" 2>&1)
	else
		sp=$(cluster_split "$t0" "$now" 2>&1)
	fi
	rc=$?
	if [ $rc != 0 ]; then
		result=FAILED
		note+="split detector: $(tail -n 1 <<<"$sp"); "
		split=-1
	else
		r=$(tail -n 1 <<<"$sp")
		split=$(cl_kv split "$r")
		worst=$(cl_kv worst_ms "$r")
		at=$(cl_kv worst_at_ms "$r")
		exempt=$(cl_kv exempt "$r")
		if [ "$split" != 0 ]; then
			result=FAILED
			note+="SPLIT BRAIN: $split overlapping writable windows, worst ${worst} ms at wall $at (fault at $t0, heal at $t_heal): $(grep '^overlap' <<<"$sp" | grep -v 'exempt=True' | head -3 | tr '\n' ';'); "
		fi
		if [ "$kind" = freeze ]; then
			th_acc=$(cluster_accepts "$p" "$t_heal" "$now")
			k=$(cl_kv accepted "$th_acc")
			if [ "$k" = 0 ]; then
				thaw="0"
			else
				thaw="${k}w/$(($(cl_kv last_end_ms "$th_acc") - t_heal))ms"
				note+="thawed old primary accepted $k probe writes, the last ending $(($(cl_kv last_end_ms "$th_acc") - t_heal)) ms after SIGCONT ($exempt overlaps with the new primary); "
				if [ "$exempt" != 0 ] && [ $(($(cl_kv last_end_ms "$th_acc") - t_heal)) -gt "$NN_THAW_MAX_MS" ]; then
					result=FAILED
					note+="thaw window over ${NN_THAW_MAX_MS} ms; "
				fi
			fi
		fi
	fi
	miss=$(cluster_missing)
	if [ -z "$miss" ] || [ "$miss" -lt 0 ]; then
		result=FAILED
		note+="verify found no primary; "
	else
		lost=$((miss - NN_MISSING_PREV))
		NN_MISSING_PREV=$miss
		if [ "$NN_MODE" = sync ] && [ "$lost" != 0 ]; then
			result=FAILED
			note+="synchronous mode lost $lost acknowledged commits; "
		elif [ "$lost" -gt "$CL_LOSS_BOUND" ] || [ "$lost" -lt 0 ]; then
			result=FAILED
			note+="lost $lost acknowledged commits, bound $CL_LOSS_BOUND ($CL_LOSS_WHY); "
		fi
	fi
	claims=$(nn_claims "$kind" "$p" "$t0" "$t_heal" "$now")
	[ -n "$claims" ] && { result=FAILED; note+="$claims"; }
	read -r metric max <<<"$(nn_bound "$kind")"
	bound="$metric<=$max"
	if [ "$metric" = rto ]; then val=$rto; else val=$down; fi
	if [ "$val" -lt 0 ] || [ "$val" -gt "$max" ]; then
		result=FAILED
		note+="$metric ${val} ms over its bound ${max} ms; "
	fi
	echo "$kind|node$p|$new|$rto|$down|$lost|$CL_LOSS_BOUND|$rejoin|$split|$thaw|$bound|$result|${note%; }" >>"$NN_DIR/results.txt"
	[ -n "${NN_RESULTS:-}" ] && echo "$NN_MODE|$kind|node$p|$new|$rto|$down|$lost|$CL_LOSS_BOUND|$rejoin|$split|$thaw|$bound|$result|${note%; }" >>"$NN_RESULTS"
	if [ "$result" = ok ]; then
		echo "ok - $kind: old node$p new $new rto=${rto}ms downtime=${down}ms lost=$lost (bound $CL_LOSS_BOUND) rejoin=${rejoin}ms split=$split thaw=$thaw ($bound)${note:+ (${note%; })}"
	else
		echo "not ok - $kind: old node$p new $new rto=${rto}ms downtime=${down}ms lost=$lost rejoin=${rejoin}ms split=$split thaw=$thaw ($bound): $note"
		echo "# fault at wall $t0, heal at $t_heal; logs: $NN_DIR"
		NN_FAILED=$((NN_FAILED + 1))
	fi
}

nn_table() {
	echo "# results ($NN_MODE, etcd members: $CL_ETCD_N, ttl ${NN_TTL}s loop_wait ${NN_LOOP_WAIT}s retry_timeout ${NN_RETRY}s; netem: $NN_NETEM_DESC)"
	echo "# rto = fault -> the ack that ended the longest write gap; rejoin = heal -> every node streaming from the primary on its timeline; thaw = the thawed old primary's accepted writes / ms after SIGCONT"
	column -t -s '|' "$NN_DIR/results.txt" | sed 's/^/# /'
}

# nn_finish: every daemon stopped with SIGTERM and no sanitizer report
nn_finish() {
	if cluster_stop_all; then
		echo "ok - every daemon stopped on SIGTERM"
	else
		echo "not ok - a daemon did not stop within 45 s of SIGTERM"
		NN_FAILED=$((NN_FAILED + 1))
	fi
	if cluster_sanitizer_clean; then
		echo "ok - no sanitizer report in any daemon log"
	else
		echo "not ok - sanitizer report in a daemon log"
		NN_FAILED=$((NN_FAILED + 1))
	fi
}

nn_cleanup() {
	local i
	for i in 1 2 3; do nn_delay_stop "$i"; done
	cluster_stop_writer
	cluster_stop_probes
	if [ "$NN_FAILED" -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then
		for i in 1 2 3; do
			echo "---- node$i log (tail)"
			tail -n 30 "$NN_DIR/node$i/pgwarden.log" 2>/dev/null
		done
		# keep the evidence of a failure
		if [ -n "$NN_DIR" ] && [ -d "$NN_DIR" ]; then
			mkdir -p /tmp/pgwc-failed
			cp -r "$NN_DIR" "/tmp/pgwc-failed/$(basename "$NN_DIR")" 2>/dev/null
			rm -rf "/tmp/pgwc-failed/$(basename "$NN_DIR")"/node*/data "/tmp/pgwc-failed/$(basename "$NN_DIR")"/etcd*/data
			echo "# logs kept in /tmp/pgwc-failed/$(basename "$NN_DIR")"
		fi
	fi
	nn_purge
	wait 2>/dev/null
	[ -n "$NN_DIR" ] && [ -z "${PGW_TEST_KEEP:-}" ] && rm -rf "$NN_DIR"
	true
}

# nn_summary RESULTS: the soak's table from NN_RESULTS rows
# (mode|kind|old|new|rto|downtime|lost|loss_bound|rejoin|split|thaw|bound|result|note):
# per kind: drills, failed, split-brain instants (overlapping writable
# windows), lost acknowledged commits in sync / async mode, rounds that
# needed an operator (not back without one), RTO median and max (rounds
# with an RTO)
nn_summary() {
	awk -F'|' '
		function med(s,   n, a, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n ? (n % 2 ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2)) : "-" }
		function mx(s,   n, a, i, m) { n = split(s, a, " "); m = "-"; for (i = 1; i <= n; i++) if (m == "-" || a[i] + 0 > m + 0) m = a[i]; return m }
		function add(k) { if (!(k in seen)) { seen[k] = 1; order[++nk] = k } }
		{
			k = $2; add(k); n[k]++; N++
			if ($13 != "ok") { f[k]++; F++ }
			if ($10 + 0 > 0) { sp[k] += $10; SP += $10 }
			if ($10 == "-1") { spu[k]++; SPU++ }
			if ($7 + 0 > 0) { if ($1 == "sync") { ls[k] += $7; LS += $7 } else { la[k] += $7; LA += $7 } }
			if ($7 == "-1") { lu[k]++; LU++ }
			if ($14 ~ /OPERATOR NEEDED/) { op[k]++; OP++ }
			if ($5 != "" && $5 + 0 >= 0) rto[k] = rto[k] " " $5
			if ($6 != "" && $6 + 0 >= 0) dn[k] = dn[k] " " $6
			if ($11 ~ /w\//) { split($11, tw, /w\/|ms/); if (tw[1] + 0 > thw[k] + 0) thw[k] = tw[1]; if (tw[2] + 0 > thm[k] + 0) thm[k] = tw[2] }
			else if ($11 == "0" && !(k in thw)) thw[k] = 0
			if ($1 == "sync") ns++; else na++
		}
		END {
			printf "%-14s %6s %6s %6s %9s %10s %8s %10s %10s %11s %11s %s\n", "kind", "drills", "failed", "split", "lost sync", "lost async", "operator", "RTO med ms", "RTO max ms", "down med ms", "down max ms", "thawed primary"
			for (i = 1; i <= nk; i++) {
				k = order[i]
				printf "%-14s %6d %6d %6s %9d %10d %8d %10s %10s %11s %11s %s\n", k, n[k], f[k], sp[k] + 0 (spu[k] ? "+" spu[k] "?" : ""), ls[k], la[k], op[k], med(rto[k]), mx(rto[k]), med(dn[k]), mx(dn[k]), (k in thw ? "max " thw[k] " writes, " thm[k] + 0 " ms after SIGCONT" : "")
			}
			printf "%-14s %6d %6d %6s %9d %10d %8d\n", "all", N, F, SP + 0 (SPU ? "+" SPU "?" : ""), LS, LA, OP
			printf "(%d drills in synchronous mode, %d in asynchronous; split = overlapping writable windows seen by the probes (\"?\": rounds whose detector refused its input); lost = acknowledged commits missing; a loss check that did not run: %d rounds; RTO = fault -> the write that ended the longest gap, down = that gap: for kinds with no failover (etcd-member) the downtime is the figure, the RTO only says when the longest small gap happened)\n", ns, na, LU
		}' "$1"
}
