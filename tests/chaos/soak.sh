#!/usr/bin/env bash
# soak.sh: many rounds of random faults on one namespaced cluster (not a
# ctest test): PGW_SOAK_ROUNDS=N [PGW_SOAK_SEED=S] [PGW_SOAK_MODE=sync|async]
# [PGW_SOAK_ETCD=1|3] bash tests/chaos/soak.sh. Each round picks a fault kind
# (the etcd kinds only with 3 members) and runs the same checks as the
# drills (tests/lib/netns.sh nn_round); the table at the end has one row
# per round. Exit status 1 when any round failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-9}
rounds=${PGW_SOAK_ROUNDS:-10}
seed=${PGW_SOAK_SEED:-$$}
mode=${PGW_SOAK_MODE:-async}
netcd=${PGW_SOAK_ETCD:-3}
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
kinds=(node-crash pg-crash daemon-crash freeze part-etcd part-replicas isolate netem)
[ "$netcd" = 3 ] && kinds+=(etcd-member etcd-quorum)
RANDOM=$seed
echo "# soak: $rounds rounds, seed $seed, $mode, etcd members $netcd"
nn_init "$(mktemp -d /tmp/pgwc9-XXXXXX)" "$netcd" "$mode" || exit 1
nn_up || { NN_FAILED=1; exit 1; }
for r in $(seq 1 "$rounds"); do
	kind=${kinds[$((RANDOM % ${#kinds[@]}))]}
	echo "# round $r/$rounds: $kind"
	nn_round "$kind"
done
nn_table
echo "# $NN_FAILED of $rounds rounds failed"
[ "$NN_FAILED" = 0 ]
