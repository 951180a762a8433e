#!/usr/bin/env bash
# test_daemon_fast_release.sh: issue 21. When only the primary's daemon dies
# (SIGKILL) while its machine and etcd are fine, its fence watchdog kills
# PostgreSQL and then gives the leader key up (a value- and lease-compared
# delete), so a replica takes over without waiting for the lease. One etcd
# and three pgwarden daemons with PostgreSQL 15 on loopback, synchronous
# mode, fast timing (loop_wait 0.5 s, retry_timeout 1 s); a writer commits
# every 10 ms, a probe per node tries a write on it every 20 ms. Every node
# reaches etcd through a client port of its own, so that one node alone can
# be cut off from etcd (an iptables DROP on that port, added and removed by
# this test). Rounds:
#   1. ttl 3: SIGKILL the leader's daemon. The new primary's first
#      acknowledged write comes well before the lease could expire; the new
#      leader took the key while the old lease (its member key) still lived
#      (read at the new key's revision: the release, not the expiry, freed
#      it); 0 acknowledged commits lost; never two writable nodes; the old
#      node's daemon, restarted, reads its record, rejoins as a streaming
#      replica without taking the key, and forgets the record then.
#   2. ttl 10 (config changed, then a switchover so the leader's lease is
#      granted at ttl 10): the same.
#   3. ttl 10, the leader cut off from etcd, then its daemon killed: the
#      fence still kills PostgreSQL at once (not delayed by etcd), the
#      release fails within its budget, and the cluster falls back to the
#      lease expiry (the old member key was gone at the new key's revision);
#      0 lost, never two writable nodes, the old node rejoins.
# The first-write figures are printed; the bounds asserted here are safety
# bounds (half the ttl at ttl 10, under the ttl at ttl 3): the README's
# figures come from bench/bench_failover.sh --only daemon.
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-fast-XXXXXX)
RULE=()
drop_rule_off() {
	[ ${#RULE[@]} -gt 0 ] || return 0
	iptables -D OUTPUT "${RULE[@]}" 2>/dev/null
	RULE=()
}
cleanup() {
	drop_rule_off
	tap_dump_logs "$DIR" 3 60
	cluster_cleanup
}
trap cleanup EXIT

MULT=${PGW_TEST_TIMEOUT_MULT:-1}
CL_DCS_EXTRA="    synchronous_mode: true"
cluster_init "$DIR" 3 fast
# a client port of etcd per node: node i talks to etcd on NPORT[i] only
declare -a NPORT
extra=""
for i in 1 2 3; do
	NPORT[$i]=$(cl_pick_port)
	extra+="http://127.0.0.1:${NPORT[$i]},"
	sed -i "s/^  hosts: .*/  hosts: 127.0.0.1:${NPORT[$i]}/" "$DIR/node$i/pgwarden.yml"
done
CL_ETCD_EXTRA_LISTEN[1]=${extra%,}
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120)
check "bootstrap: one primary" test -n "$leader"
check "bootstrap: two replicas streaming" cluster_wait_replicas 120 2
cluster_start_writer
cluster_start_probes
check "the writer writes" cluster_wait_ack "$(now_ms)" 30

MISSING_PREV=0
lost_check() {
	local label=$1 miss
	miss=$(cluster_missing)
	check "$label: 0 acknowledged commits lost in synchronous mode (missing now ${miss:-?}, before $MISSING_PREV)" \
		test -n "$miss" -a "${miss:--1}" = "$MISSING_PREV"
	[ -n "$miss" ] && [ "$miss" -ge 0 ] && MISSING_PREV=$miss
}
no_split() {
	local label=$1 from=$2 out
	out=$(cluster_split "$from" "$(now_ms)" 2>&1)
	echo "# $label: $(tail -n 1 <<<"$out")"
	check "$label: never two writable nodes (probe logs)" \
		test "$(cl_kv split "$(tail -n 1 <<<"$out")")" = 0
}
# key_field KEY FIELD [REV]: a field of the scope's KEY (at revision REV),
# from etcdctl's "fields" output (its JSON lease ids lose digits in jq)
key_field() {
	cluster_etcdctl get "/service/$CL_SCOPE/$1" ${3:+--rev="$3"} -w fields |
		sed -n "s/^\"$2\" : //p"
}
lease_of() { local l; l=$(key_field "$1" Lease "${2:-}"); echo "${l:-0}"; }
granted_ttl() {
	cluster_etcdctl lease timetolive "$(printf '%x' "$1")" -w fields | sed -n 's/^"GrantedTTL" : //p'
}
# first_write_after T0 NODE: ms from T0 to the writer's first ack on NODE
first_write_after() {
	local t0=$1 host="${CL_PG_HOST[$2]}:${CL_PG_PORT[$2]}" ms
	ms=$(awk -v t="$t0" -v h="$host" '$1 >= t && $3 == h {print $1; exit}' "$CL_DIR/writer.log")
	[ -n "$ms" ] && echo $((ms - t0))
}
# member_alive_at OLD: was OLD's member key (on its daemon's lease) still in
# etcd at the revision where the current leader key was created? Yes means
# the leader key was free before that lease expired.
member_alive_at_new_key() {
	local old=$1 rev lease
	rev=$(key_field leader CreateRevision)
	lease=$(lease_of "members/node$old" "$rev")
	echo "# node$old's member key at the new leader key's revision $rev: lease $(printf '%x' "$lease")"
	[ "$lease" != 0 ] && [ "$lease" = "$2" ]
}
member_gone_at_new_key() { ! member_alive_at_new_key "$@"; }

# sync_named LEADER: the `sync` key is the leader's and names a standby
# (synchronous mode: only that standby may take over; a leader killed
# before it named one leaves nobody allowed to, as it should)
sync_named() {
	local v
	v=$(cluster_key sync)
	[ "$(jq -r '.leader // empty' <<<"$v" 2>/dev/null)" = "node$1" ] &&
		[ -n "$(jq -r '.sync_standby // empty' <<<"$v" 2>/dev/null)" ]
}

# round LABEL BOUND_MS: SIGKILL the leader's daemon alone; the fast release
round() {
	local label=$1 bound=$2 old lease ttl t0 new first before
	old=$(cluster_wait_primary 60)
	[ -n "$old" ] || { not_ok "$label: a primary to start from"; return 1; }
	check "$label: the sync key names node$old's synchronous standby" \
		wait_for 30 sync_named "$old"
	lease=$(lease_of leader)
	ttl=$(granted_ttl "$lease")
	echo "# $label: node$old leads on lease $(printf '%x' "$lease") granted for ${ttl} s"
	check "$label: the leader's lease was granted for the round's ttl" test "$ttl" = "${label#ttl }"
	cluster_wait_ack "$(now_ms)" 30
	before=$(wc -l <"$DIR/node$old/pgwarden.log")
	t0=$(now_ms)
	kill -KILL "${CL_PID[$old]}"
	wait "${CL_PID[$old]}" 2>/dev/null
	CL_PID[$old]=""
	new=$(cluster_wait_primary 30 "$old")
	check "$label: a new primary (node${new:-?})" test -n "$new"
	[ -n "$new" ] || return 1
	cluster_wait_ack "$(now_ms)" 30
	first=$(first_write_after "$t0" "$new")
	echo "# $label: daemon SIGKILL -> first acknowledged write on node$new: ${first:-none} ms (ttl ${ttl} s)"
	check "$label: first write on the new primary within ${bound} ms of the kill (${first:-none} ms)" \
		test -n "$first" -a "${first:-999999}" -le "$bound"
	check "$label: the fence gave the key up (fence.released)" \
		bash -c "tail -n +$((before + 1)) '$DIR/node$old/pgwarden.log' | grep -q 'event=fence.released .*lease=$(printf '%x' "$lease")'"
	check "$label: node$new took the key while node$old's lease still lived (not by expiry)" \
		member_alive_at_new_key "$old" "$lease"
	lost_check "$label"
	no_split "$label" "$t0"
	rejoin "$label" "$old" "$new" record
}

# rejoin LABEL OLD NEW [record]: OLD's daemon restarted (as systemd would;
# with "record": it reads the record of the key it gave up) rejoins as a
# streaming replica and does not take the key
rejoin() {
	local label=$1 old=$2 new=$3 rec=${4:-} before
	before=$(wc -l <"$DIR/node$old/pgwarden.log")
	cluster_start_node "$old"
	[ -n "$rec" ] && check "$label: node$old's restarted daemon read its release record" \
		wait_for 20 bash -c "tail -n +$((before + 1)) '$DIR/node$old/pgwarden.log' | grep -q 'event=release.record '"
	check "$label: node$old rejoins as a streaming replica" cluster_wait_replicas 120 2
	# the record served once another member leads: never again in the way
	[ -n "$rec" ] && check "$label: node$old forgot the record once node$new led" \
		bash -c "tail -n +$((before + 1)) '$DIR/node$old/pgwarden.log' | grep -q 'event=release.record-cleared .*leader=node$new'"
	check "$label: node$new still leads" cluster_key_is leader "node$new"
}

# ---- 1. ttl 3 -------------------------------------------------------------
round "ttl 3" $((3000 * MULT))

# ---- 2. ttl 10 ------------------------------------------------------------
cluster_set_config '.ttl = 10'
cur=$(cluster_wait_primary 60)
# the others take leases of the new ttl; the leader keeps its own until it
# leads no more: hand over to a member whose lease is of the new ttl
ttl10() {
	local i l
	for i in 1 2 3; do
		[ "$i" = "$cur" ] && continue
		l=$(lease_of "members/node$i")
		[ "$l" != 0 ] || return 1
		[ "$(granted_ttl "$l")" = 10 ] || return 1
	done
}
check "ttl 10: the replicas hold leases of 10 s" wait_for 30 ttl10
# in synchronous mode only the sync standby may take over (another is
# refused: not-sync); the restarted node of round 1 may not be it
sync_target() {
	local s
	s=$(cluster_key sync | jq -r '.sync_standby // empty' 2>/dev/null)
	s=${s%%,*}
	[ -n "$s" ] && [ "$s" != "node$cur" ] && echo "${s#node}"
}
wait_for 30 sync_target >/dev/null
target=$(sync_target)
target=${target:-$((cur % 3 + 1))}
cluster_etcdctl put "/service/$CL_SCOPE/failover" "{\"leader\":\"node$cur\",\"member\":\"node$target\"}" >/dev/null
check "ttl 10: switchover to node$target" wait_for 60 cluster_key_is leader "node$target"
check "ttl 10: cluster whole again" cluster_wait_replicas 120 2
round "ttl 10" $((5000 * MULT))

# ---- 3. ttl 10, the leader cut off from etcd: the lease expires ------------
old=$(cluster_wait_primary 60)
check "cut: the sync key names node$old's synchronous standby" \
	wait_for 30 sync_named "$old"
lease=$(lease_of leader)
cluster_wait_ack "$(now_ms)" 30
before=$(wc -l <"$DIR/node$old/pgwarden.log")
RULE=(-o lo -p tcp --dport "${NPORT[$old]}" -m comment --comment "pgw-fast-release-$$" -j DROP)
iptables -I OUTPUT "${RULE[@]}"
t0=$(now_ms)
kill -KILL "${CL_PID[$old]}"
wait "${CL_PID[$old]}" 2>/dev/null
CL_PID[$old]=""
since3() { tail -n +$((before + 1)) "$DIR/node$old/pgwarden.log"; }
check "etcd cut: the release failed within its budget, the lease expires (fence.release-failed)" \
	wait_for 10 bash -c "tail -n +$((before + 1)) '$DIR/node$old/pgwarden.log' | grep -q 'event=fence.release-failed.*action=lease-expires'"
since3 | grep -E 'event=fence\.(fired|release)' | sed 's/^/# /'
# the fence (the watchdog's, or the postmaster's parent-death signal) did not
# wait for etcd: node$old's probe saw its last accepted write at the kill
acc=$(cluster_accepts "$old" "$t0" "$(now_ms)")
last=$(cl_kv last_end_ms "$acc")
echo "# etcd cut: node$old's last accepted probe write: $([ "$last" = -1 ] && echo "none after the kill" || echo "+$((last - t0)) ms")"
check "etcd cut: node$old accepted no write later than 500 ms after the kill" \
	test -n "$last" -a "${last:-0}" -lt $((t0 + 500 * MULT))
new=$(cluster_wait_primary 40 "$old")
check "etcd cut: a new primary after the lease expired (node${new:-?})" test -n "$new"
cluster_wait_ack "$(now_ms)" 30
first=$(first_write_after "$t0" "${new:-0}")
echo "# etcd cut: daemon SIGKILL -> first acknowledged write on node${new:-?}: ${first:-none} ms (ttl 10 s: the lease's expiry)"
check "etcd cut: node${new:-?} took the key after node$old's lease expired" \
	member_gone_at_new_key "$old" "$lease"
lost_check "etcd cut"
no_split "etcd cut" "$t0"
drop_rule_off
[ -n "$new" ] && rejoin "etcd cut" "$old" "$new"

cluster_stop_writer
cluster_stop_probes
tap_finish
