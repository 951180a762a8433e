#!/usr/bin/env bash
# test_chaos_failsafe.sh: failsafe mode (failsafe_mode: true, Patroni's
# semantics) under network faults on the primary, each host in its own
# namespace (tests/lib/netns.sh), one etcd member, synchronous mode, fast
# profile (ttl 3 s). Each fault lasts 8 s (longer than ttl), then heals:
#   part-etcd  the primary loses etcd but not the replicas: they vouch for
#              it (POST /failsafe), so it keeps writing while its lease and
#              the leader key expire in etcd, and no replica promotes; at
#              the heal it takes a new lease and the free key without a
#              promotion (no-leader-primary-acquire): the same primary
#   isolate    the primary loses everything: nobody can vouch, so it must
#              stop writing by its deadline, as without failsafe, and a
#              replica takes over only after that
# Must hold, as in every drill (tests/lib/netns.sh nn_round, which also
# asserts the keep-the-lease and take-over claims above over the probe
# logs): never two writable nodes, zero acknowledged commits missing, one
# primary + two streaming replicas again without an operator.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
NN_NET=${NN_NET:-4}
NN_FAILSAFE=1
# shellcheck source=../lib/netns.sh
source "$root/tests/lib/netns.sh"
trap nn_cleanup EXIT
nn_init "$(mktemp -d /tmp/pgwc4-XXXXXX)" 1 sync || exit 1
nn_up || { NN_FAILED=1; exit 1; }
for kind in ${NN_KINDS:-part-etcd isolate}; do
	nn_round "$kind"
	# results.txt: kind|old|new|...; what failsafe changes is who leads after
	row=$(tail -1 "$NN_DIR/results.txt")
	old=$(cut -d'|' -f2 <<<"$row")
	new=$(cut -d'|' -f3 <<<"$row")
	case "$kind" in
		part-etcd)
			if [ "$old" = "$new" ] && grep -q "event=failsafe.active" "$NN_DIR/$old/pgwarden.log" &&
				grep -q "rule=no-leader-primary-acquire" "$NN_DIR/$old/pgwarden.log"; then
				echo "ok - part-etcd (failsafe): $old vouched for, kept writing, re-acquired the key at the heal"
			else
				echo "not ok - part-etcd (failsafe): leader before $old, after $new (want the same, failsafe.active and no-leader-primary-acquire in its log)"
				NN_FAILED=$((NN_FAILED + 1))
			fi ;;
		isolate)
			if [ "$old" != "$new" ] && [ "$new" != "-" ]; then
				echo "ok - isolate (failsafe): nobody could vouch for $old; $new took over"
			else
				echo "not ok - isolate (failsafe): leader before $old, after $new (want another node)"
				NN_FAILED=$((NN_FAILED + 1))
			fi ;;
	esac
done
nn_finish
nn_table
echo "$NN_FAILED failed"
[ "$NN_FAILED" = 0 ]
