#!/usr/bin/env bash
# test_daemon_saturated.sh: the fast profile (ttl 3 s, loop_wait 0.5 s,
# retry_timeout 1 s) must be safe on a saturated machine: while pgbench runs
# flat out against the primary (more clients than cores) and two CPU burners
# run beside it for 60 s, the leader must not change, no node may fence
# itself, and no failover may happen. A false failover here would mean the
# timing model leaks under load.
source "$(dirname "$0")/../lib/it_prelude.sh"
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

DIR=$(mktemp -d /tmp/pgw-it-sat-XXXXXX)
BURN_PIDS=""
cleanup() {
	[ -n "$BURN_PIDS" ] && kill $BURN_PIDS 2>/dev/null
	tap_dump_logs "$DIR" 3 20
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "cluster up" test -n "$leader"
rev0=$(cluster_etcdctl get /service/demo/leader -w json | jq -r '.kvs[0].mod_revision')

PGPASSWORD=pgw-super "$PGBENCH" -i -q -s 5 -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" -U postgres postgres >"$DIR/pgbench-init.log" 2>&1
for k in 1 2; do
	(end=$(($(date +%s) + 60)); while [ "$(date +%s)" -lt "$end" ]; do :; done) &
	BURN_PIDS+="$! "
done
PGPASSWORD=pgw-super timeout 90 "$PGBENCH" -c 8 -j 2 -T 60 -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" \
	-U postgres postgres >"$DIR/pgbench.log" 2>&1
rc=$?
kill $BURN_PIDS 2>/dev/null
BURN_PIDS=""
grep -E "tps|latency average" "$DIR/pgbench.log" | sed 's/^/# /'
check "pgbench ran to its end against the same primary (rc=$rc)" test $rc = 0
rev1=$(cluster_etcdctl get /service/demo/leader -w json | jq -r '.kvs[0].mod_revision')
now=$(cluster_etcdctl get --print-value-only /service/demo/leader)
check "the leader key was never re-created (no failover)" test "$rev0" = "$rev1" -a "$now" = "node$leader"
check "no node fenced itself" bash -c "! grep -h 'event=fence.fired\|rule=fence-' $DIR/node*/pgwarden.log"
check "no TILT under load changed anything" bash -c "! grep -h 'event=promote.start\|event=demote.start' $DIR/node*/pgwarden.log"
grep -h "tilt-stall" "$DIR"/node*/pgwarden.log | sed 's/^/# /' | head -5
tap_finish
