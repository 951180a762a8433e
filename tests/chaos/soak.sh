#!/usr/bin/env bash
# soak.sh: the big run (not a ctest test): many drill rounds over the nine
# fault kinds (node-crash pg-crash daemon-crash freeze part-etcd
# part-replicas isolate etcd-member etcd-quorum), in synchronous and in
# asynchronous mode, on one namespaced cluster per mode with a 3-member
# etcd, with every check of tests/lib/netns.sh nn_round (split brain over
# the probes' logs, lost acknowledged commits against the mode's bound, the
# kind's claims and timing bound, back without an operator). Kinds go round
# robin (shuffled per cycle by the seed), so N rounds per mode give each
# kind N/9 drills. A round that is not back within NN_CONVERGE_S of its
# heal counts as "needed an operator" and the cluster is rebuilt from
# scratch for the next round (the row stays, failed).
# Usage:
#   PGW_SOAK_ROUNDS=100 PGW_SOAK_MODES="sync async" [PGW_SOAK_SEED=S]
#   [NN_KINDS="..."] [PGW_SOAK_OUT=DIR] bash tests/chaos/soak.sh
# Prints each round, then the table: per kind drills, failures, split-brain
# instants, lost acknowledged commits (sync / async), rounds that needed an
# operator, RTO median and max. The raw rows stay in $PGW_SOAK_OUT
# (results.txt) with the evidence of failed rounds in /tmp/pgwc-failed.
# Exit status 1 when any round failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-9}
rounds=${PGW_SOAK_ROUNDS:-9}
modes=${PGW_SOAK_MODES:-sync async}
seed=${PGW_SOAK_SEED:-$$}
out=${PGW_SOAK_OUT:-/tmp/pgw-soak-$(date +%Y%m%d-%H%M%S)}
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
kinds=(${NN_KINDS:-node-crash pg-crash daemon-crash freeze part-etcd part-replicas isolate etcd-member etcd-quorum})
mkdir -p "$out"
NN_RESULTS=$out/results.txt
: >"$NN_RESULTS"
trap nn_cleanup EXIT
RANDOM=$seed
t_start=$(date +%s)
echo "# soak: $rounds rounds per mode ($modes), ${#kinds[@]} kinds, seed $seed, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?), results in $out"

# cycle: the kinds in a shuffled order
cycle=()
shuffle() {
	local i j t
	cycle=("${kinds[@]}")
	for ((i = ${#cycle[@]} - 1; i > 0; i--)); do
		j=$((RANDOM % (i + 1)))
		t=${cycle[$i]}; cycle[$i]=${cycle[$j]}; cycle[$j]=$t
	done
}

fresh_cluster() {
	local mode=$1
	nn_init "$(mktemp -d "/tmp/pgwc${NN_NET}-XXXXXX")" 3 "$mode" || return 1
	nn_up
}

failed_total=0
for mode in $modes; do
	if ! fresh_cluster "$mode"; then
		echo "not ok - $mode: the cluster did not come up"
		failed_total=$((failed_total + 1))
		nn_cleanup
		continue
	fi
	for r in $(seq 1 "$rounds"); do
		k=$(((r - 1) % ${#kinds[@]}))
		[ "$k" = 0 ] && shuffle
		kind=${cycle[$k]}
		echo "# $mode round $r/$rounds: $kind ($(($(date +%s) - t_start)) s since the start)"
		op=$NN_OPERATOR
		nn_round "$kind"
		if [ "$NN_OPERATOR" != "$op" ] && [ "$r" -lt "$rounds" ]; then
			echo "# $mode: not back without an operator: the cluster is rebuilt for the next round"
			failed_total=$((failed_total + NN_FAILED))
			nn_cleanup
			NN_FAILED=0
			fresh_cluster "$mode" || { echo "not ok - $mode: the rebuilt cluster did not come up"; failed_total=$((failed_total + 1)); break; }
		fi
	done
	nn_finish
	nn_table
	failed_total=$((failed_total + NN_FAILED))
	nn_cleanup
	NN_FAILED=0
done
NN_FAILED=$failed_total
echo
echo "# soak table ($(($(date +%s) - t_start)) s, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?), ttl ${NN_TTL}s loop_wait ${NN_LOOP_WAIT}s retry_timeout ${NN_RETRY}s, 3 etcd members; command: PGW_SOAK_ROUNDS=$rounds PGW_SOAK_MODES=\"$modes\" PGW_SOAK_SEED=$seed bash tests/chaos/soak.sh)"
nn_summary "$NN_RESULTS"
echo "# $failed_total failed checks (rounds and end-of-cluster checks); raw rows: $NN_RESULTS"
[ "$failed_total" = 0 ]
