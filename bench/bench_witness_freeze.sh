#!/usr/bin/env bash
# bench_witness_freeze.sh: the whole-node freeze drill of issue 19, many
# runs, with the lease witness off and on (lease_checked_commits), on a
# real local 2-node cluster (fast profile, ttl 3 s, asynchronous mode).
# Each run: a client commits every 5 ms on one open connection to the
# leader and logs every acknowledgement with its time (pgw_writer --log);
# every process of the leader's node (daemon, fence watchdog, witness,
# PostgreSQL and its backends) is SIGSTOPed until the other node is
# primary; then PostgreSQL is resumed first and everything else right after
# (the order a hypervisor does not promise to avoid; --hold S keeps the
# daemon stopped S seconds longer, as tests/integration/test_witness_freeze.sh
# does with 2). The fencing deadline comes from the old leader's own log
# (fence.fired: its time minus late_ms). Per run it prints the commits the
# thawed old primary acknowledged after its deadline and the widest such
# gap; per mode, in how many runs there was any, and the total. Modes: off
# (lease_checked_commits off), witness (on, but the commit check turned off
# by ALTER SYSTEM SET pgwarden_lease.enforce = off: the witness alone), on
# (the witness and the commit check).
# Usage: bash bench/bench_witness_freeze.sh [--runs N] [--modes off,witness,on] [--hold S]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
runs=100
modes=off,on
hold=0
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift 2 ;;
		--modes) modes=$2; shift 2 ;;
		--hold) hold=$2; shift 2 ;;
		*) echo "usage: $0 [--runs N] [--modes off,witness,on] [--hold S]" >&2; exit 2 ;;
	esac
done
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"
WITNESS_APP=pgwarden_lease_witness
DIR=$(mktemp -d /tmp/pgw-bench-wfreeze-XXXXXX)
chmod 755 "$DIR"
WPID=""
FROZEN=""
finish() {
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	# shellcheck disable=SC2086
	[ -n "$FROZEN" ] && kill -CONT $FROZEN 2>/dev/null
	cluster_cleanup
}
trap finish EXIT

iso_ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()*1000))' "$1"; }
deadline_ms() {
	local line ts late
	line=$(tail -n +"$2" "$CL_DIR/node$1/pgwarden.log" | grep -m1 'event=fence.fired') || return 1
	ts=${line%% *}
	late=$(sed -n 's/.*late_ms=\([0-9-]*\).*/\1/p' <<<"$line")
	[ -n "$late" ] || return 1
	echo $(($(iso_ms "$ts") - late))
}
# begun_after DEADLINE LOG: acknowledgements after DEADLINE of commits begun
# after the freeze: all of them but the first when the first is the very
# next attempt after the last one acknowledged before the freeze (pgw_writer
# numbers every attempt: that one was in flight at the freeze, and
# PostgreSQL may have released it inside the lease; one connection, one
# statement at a time)
begun_after() {
	awk -v d="$1" '$1 <= d {prev = $2; next}
		{if (!seen && $2 == prev + 1) inflight = 1; else n++; seen = 1}
		END {print n + 0}' "$2"
}
witness_sync() {
	[ "$(cluster_psql "$1" "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$WITNESS_APP'")" = sync ]
}
witness_gone() {
	[ -z "$(cluster_psql "$1" "SELECT 1 FROM pg_stat_replication WHERE application_name = '$WITNESS_APP'")" ]
}

# one_run MODE N: prints "run MODE N after=A widest_ms=W" or "skip ..."
one_run() {
	local mode=$1 n=$2 p other log0 new pg dl after widest
	p=$(cluster_wait_primary 60) || { echo "skip $mode $n no-primary"; return 1; }
	other=$((3 - p))
	wait_for 120 cluster_has_replicas 1 || { echo "skip $mode $n no-replica"; return 1; }
	if [ "$mode" != off ]; then
		wait_for 30 witness_sync "$p" || { echo "skip $mode $n witness-not-sync"; return 1; }
	else
		wait_for 30 witness_gone "$p" || { echo "skip $mode $n witness-still-there"; return 1; }
	fi
	log0=$(($(wc -l <"$CL_DIR/node$p/pgwarden.log") + 1))
	: >"$DIR/acks.log"
	"$PGW_WRITER" --hosts "127.0.0.1:${CL_PG_PORT[$p]}" --acked "$DIR/acked.txt" \
		--interval-ms 5 --duration-s 300 --log "$DIR/acks.log" write >/dev/null 2>&1 &
	WPID=$!
	wait_for 20 test -s "$DIR/acks.log" || { echo "skip $mode $n no-ack"; kill "$WPID"; WPID=""; return 1; }
	# a random point in the commit stream
	sleep "0.$((RANDOM % 10))"
	FROZEN=$(cluster_node_pids "$p")
	# shellcheck disable=SC2086
	kill -STOP $FROZEN
	new=$(cluster_wait_primary 60 "$p")
	pg=$(cluster_pg_pids "$p")
	# shellcheck disable=SC2086
	kill -CONT $pg
	[ "$hold" = 0 ] || hold_for "$hold" true
	# shellcheck disable=SC2086
	kill -CONT $FROZEN
	FROZEN=""
	wait_for 20 deadline_ms "$p" "$log0" >/dev/null
	dl=$(deadline_ms "$p" "$log0")
	sleep 1
	kill "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	WPID=""
	if [ -z "$dl" ] || [ "$new" != "$other" ]; then
		echo "skip $mode $n no-deadline-or-takeover(new=$new)"
		return 1
	fi
	after=$(awk -v d="$dl" '$1 > d' "$DIR/acks.log" | wc -l)
	widest=$(awk -v d="$dl" '$1 > d {w = $1 - d} END {print w + 0}' "$DIR/acks.log")
	echo "run $mode $n after=$after widest_ms=$widest begun=$(begun_after "$dl" "$DIR/acks.log")"
}

cluster_init "$DIR" 2 fast
cluster_start_etcd || exit 1
for i in 1 2; do cluster_start_node "$i"; done
# the leader writes `config` from bootstrap.dcs: rewriting it before that
# would put an empty value (read as the defaults, ttl 30)
cluster_wait_primary 90 >/dev/null || { echo "no primary" >&2; exit 1; }
config_written() { [ -n "$(cluster_key config)" ]; }
wait_for 30 config_written || { echo "no config key" >&2; exit 1; }
echo "# bench_witness_freeze: runs=$runs modes=$modes hold=${hold}s ttl=$(cluster_key config | jq .ttl) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
for mode in ${modes//,/ }; do
	case "$mode" in
		on | witness) cluster_set_config '.lease_checked_commits = true' ;;
		off) cluster_set_config 'del(.lease_checked_commits)' ;;
		*) echo "unknown mode $mode" >&2; exit 2 ;;
	esac
	# the commit check off everywhere for "witness" (a superuser's setting,
	# in postgresql.auto.conf, which every later session reads)
	for i in 1 2; do
		if [ "$mode" = witness ]; then
			cluster_psql "$i" "ALTER SYSTEM SET pgwarden_lease.enforce = off" >/dev/null
		else
			cluster_psql "$i" "ALTER SYSTEM RESET pgwarden_lease.enforce" >/dev/null
		fi
		cluster_psql "$i" "SELECT pg_reload_conf()" >/dev/null
	done
	for n in $(seq 1 "$runs"); do
		one_run "$mode" "$n"
	done
done | tee "$DIR/results.txt"
awk '$1 == "run" {sub("after=", "", $4); sub("widest_ms=", "", $5); sub("begun=", "", $6); r[$2]++; t[$2] += $4; if ($4 > 0) k[$2]++; if ($5 > w[$2]) w[$2] = $5; b[$2] += $6; if ($6 > 0) kb[$2]++}
	$1 == "skip" {s[$2]++}
	END {for (m in r) printf "mode %s: %d runs (%d skipped); acknowledged after the deadline: in %d runs, %d in all, widest %d ms after it; of commits begun after the freeze: in %d runs, %d in all\n", m, r[m], s[m], k[m], t[m], w[m], kb[m], b[m]}' "$DIR/results.txt"
