#!/usr/bin/env bash
# test_chaos_selftest.sh: every check of the drills must be able to fail
# (STYLE.md "A check must be seen to fail"). Rounds of tests/lib/netns.sh
# nn_round that must FAIL, each for its own reason, on a namespaced cluster
# (one etcd member, synchronous mode, fast profile):
#   selftest-split  a replica promoted with pg_ctl behind pgwarden's back:
#                   two writable nodes -> "SPLIT BRAIN"
#   selftest-loss   a trigger deletes every 10th acknowledged row for 8 s
#                   -> "synchronous mode lost N acknowledged commits"
#   selftest-probe  the primary's probe is killed -> the split detector
#                   refuses the logs ("dead or blind" / "silent")
#   node-crash with NN_SLACK_MS far below zero -> "over its bound"
#   a mistyped kind -> "unknown fault kind"
# The test passes when each of these rounds failed with its reason, and the
# cluster came back; it fails if any of them passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-5}
NN_SELFTEST=1
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
nn_init "$(mktemp -d /tmp/pgwc5-XXXXXX)" 1 sync || exit 1
nn_up || { NN_FAILED=1; exit 1; }
bad=0
# expect_fail KIND PATTERN: the round failed and its note matches PATTERN
expect_fail() {
	local kind=$1 pat=$2 before=$NN_FAILED row
	nn_round "$kind"
	row=$(tail -n 1 "$NN_DIR/results.txt")
	if [ "$NN_FAILED" -gt "$before" ] && grep -Eq -- "$pat" <<<"$row"; then
		echo "ok - $kind: the round failed as it must ($pat)"
	else
		echo "not ok - $kind: the round did not fail with \"$pat\": $row"
		bad=$((bad + 1))
	fi
}
expect_fail selftest-split "SPLIT BRAIN"
expect_fail selftest-loss "synchronous mode lost [1-9][0-9]* acknowledged commits"
expect_fail selftest-probe "split detector: .*(dead or blind|silent for)"
saved=$NN_SLACK_MS
NN_SLACK_MS=-60000
expect_fail node-crash "rto [0-9]+ ms over its bound"
NN_SLACK_MS=$saved
expect_fail node-crahs "unknown fault kind"
if wait_for 120 cluster_converged; then
	echo "ok - the cluster is whole again after the self-tests"
else
	echo "not ok - the cluster is not whole again after the self-tests"
	bad=$((bad + 1))
fi
nn_table
# the expected failures are not this test's failures; keep the evidence
# only when a self-test did not fail as it must
NN_FAILED=$bad
nn_finish
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
