#!/usr/bin/env bash
# test_witness_freeze.sh: the lease witness (issue 19) on a real 2-node
# cluster, fast profile (ttl 3), asynchronous mode. The suite's short
# version of the whole-node freeze drill (bench/bench_witness_freeze.sh runs
# it many times):
#   the leader's whole node (daemon, fence watchdog, the witness, PostgreSQL
#   and every backend) is SIGSTOPed while a client commits continuously on
#   an open connection to it; the other node takes over (so the old lease
#   has expired); then PostgreSQL and the witness are resumed FIRST and the
#   daemon and its fence stay stopped for HOLD_S seconds (the thaw order
#   nothing promises to avoid, held long enough to be deterministic);
#   then the rest. Every acknowledgement the client got from the old
#   primary is compared with the fencing deadline taken from the daemon's
#   own log (fence.fired: its time minus late_ms).
#   A. lease_checked_commits off: the thawed old primary acknowledges
#      commits after its deadline (the window; this proves the count can
#      be non-zero: the detector can fail)
#   B. lease_checked_commits on: the witness is a synchronous standby on
#      the leader, commits flow; after the same freeze the old primary
#      acknowledges no commit begun after the thaw (at most the one in
#      flight at the freeze, released inside the lease), and the witness
#      logs that
#      it refused (while the daemon and its fence were still stopped)
#   C. synchronous mode with the witness: ssn is FIRST 2 (witness, replica);
#      a writer commits, the leader's node is crashed (SIGKILL): the replica
#      takes over and no acknowledged commit is missing
#   D. quorum mode (ANY 1, strict): the witness is the only name and
#      confirms only what the replica confirmed: with the replica's
#      PostgreSQL stopped (SIGSTOP) a commit does not return; resumed, it
#      does
#   E. the witness hung (SIGSTOP) on the leader: a commit does not return
#      (writes block rather than commit unchecked); killed (SIGKILL): the
#      daemon logs it and starts it again, and commits return
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-witness-XXXXXX)
HOLD_S=${HOLD_S:-2}
WITNESS_APP=pgwarden_lease_witness
cleanup() {
	[ -n "${WPID:-}" ] && kill "$WPID" 2>/dev/null
	[ -n "${FROZEN:-}" ] && kill -CONT $FROZEN 2>/dev/null
	tap_dump_logs "$DIR" 2 40
	cluster_cleanup
}
trap cleanup EXIT

# iso_ms "2026-12-02T19:52:05.123Z": epoch ms (UTC or with an offset)
iso_ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()*1000))' "$1"; }

# deadline_ms I FROM_LINE: the fencing deadline of node I's daemon from its
# first fence.fired line after line FROM_LINE of its log (time - late_ms:
# the log time is after the fence acted, so this errs late, never early)
deadline_ms() {
	local line ts late
	line=$(tail -n +"$2" "$CL_DIR/node$1/pgwarden.log" | grep -m1 'event=fence.fired') || return 1
	ts=${line%% *}
	late=$(sed -n 's/.*late_ms=\([0-9-]*\).*/\1/p' <<<"$line")
	[ -n "$late" ] || return 1
	echo $(($(iso_ms "$ts") - late))
}

fence_fired() { deadline_ms "$@" >/dev/null; }

# (comm is cut to 15 characters: match the command line)
witness_pid() { pgrep -P "${CL_PID[$1]}" -f "/pgwarden-witness( |$)" | head -1; }

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

# drill LEADER LABEL: freeze, thaw PostgreSQL (and the witness) first, count
# the acknowledgements after the deadline into AFTER / WIDTH
drill() {
	local p=$1 label=$2 other log0 t_thaw dl new wp pg
	other=$((3 - p))
	log0=$(($(wc -l <"$CL_DIR/node$p/pgwarden.log") + 1))
	: >"$DIR/acks-$label.log"
	# pgw_writer numbers attempts from its --acked file: rows an earlier
	# writer left would make its first hundreds of inserts duplicate keys
	cluster_psql "$p" "DROP TABLE IF EXISTS pgw_writes" >/dev/null
	# one client, one open connection, a commit every 5 ms, never abandons
	# a statement (a frozen server's answer is what we wait for)
	"$PGW_WRITER" --hosts "127.0.0.1:${CL_PG_PORT[$p]}" --acked "$DIR/acked-$label.txt" \
		--interval-ms 5 --duration-s 300 --log "$DIR/acks-$label.log" write \
		>"$DIR/writer-$label.out" 2>&1 &
	WPID=$!
	check "$label: the client commits on node$p" wait_for 20 test -s "$DIR/acks-$label.log"
	wp=$(witness_pid "$p")
	FROZEN=$(cluster_node_pids "$p")
	echo "# $label: freezing node$p: $FROZEN (witness pid ${wp:-none})"
	# shellcheck disable=SC2086
	kill -STOP $FROZEN
	new=$(cluster_wait_primary 60 "$p")
	check "$label: node$other took over while node$p was frozen" test "$new" = "$other"
	pg=$(cluster_pg_pids "$p")
	t_thaw=$(now_ms)
	# shellcheck disable=SC2086
	kill -CONT $pg $wp
	hold_for "$HOLD_S" true
	T_DAEMON_THAW=$(now_ms)
	# shellcheck disable=SC2086
	kill -CONT $FROZEN
	FROZEN=""
	check "$label: node$p's fence fired" wait_for 20 fence_fired "$p" "$log0"
	dl=$(deadline_ms "$p" "$log0")
	kill "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	WPID=""
	check "$label: the deadline ($dl) was before the thaw ($t_thaw)" test "${dl:-0}" -gt 0 -a "${dl:-0}" -lt "$t_thaw"
	AFTER=$(awk -v d="$dl" '$1 > d' "$DIR/acks-$label.log" | wc -l)
	BEGUN=$(begun_after "$dl" "$DIR/acks-$label.log")
	WIDTH=$(awk -v d="$dl" '$1 > d {w = $1 - d} END {print w + 0}' "$DIR/acks-$label.log")
	echo "# $label: acks=$(wc -l <"$DIR/acks-$label.log") after_deadline=$AFTER begun_after_freeze=$BEGUN widest_ms=$WIDTH deadline=$dl thaw=$t_thaw"
}

cluster_init "$DIR" 2 fast
cluster_start_etcd || exit 1
for i in 1 2; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 90)
check "cluster up" test -n "$leader"
check "one replica" wait_for 120 cluster_has_replicas 1

# ---- A. without the witness: the window ----------------------------------
drill "$leader" off
check "off: the thawed old primary acknowledged commits begun after its deadline (begun=$BEGUN, after=$AFTER, widest ${WIDTH} ms): the window exists and the count sees it" test "$BEGUN" -gt 0
leader=$(cluster_wait_primary 30)
check "A: the old primary rejoins as a replica" wait_for 120 cluster_has_replicas 1

# ---- B. with the witness --------------------------------------------------
cluster_set_config '.lease_checked_commits = true'
check "on: the witness is the leader's synchronous standby" wait_for 30 witness_sync "$leader"
check "on: the witness runs on the replica too, idle (not in pg_stat_replication there)" test -n "$(witness_pid $((3 - leader)))"
check "on: the witness is no member in the REST view (no replica counted)" test "$(cluster_replica_count)" = 1
drill "$leader" on
check "on: no commit begun after the freeze was acknowledged (begun=$BEGUN; after the deadline: $AFTER)" test "$BEGUN" = 0
# nor the one in flight at the freeze: the witness may have confirmed it
# inside the lease, but the commit check (pgwarden_lease) reads the deadline
# again after that, just before PostgreSQL answers
check "on: no commit at all was acknowledged after the deadline, the one in flight included (after=$AFTER, widest ${WIDTH} ms)" test "$AFTER" = 0
# the refusal came from the witness alone: while the daemon and its fence
# were still stopped
refused_ms() {
	local line
	line=$(grep -m1 'event=witness.refusing.*reason=deadline-passed' "$CL_DIR/node$1/pgwarden.log") || return 1
	iso_ms "${line%% *}"
}
r=$(refused_ms "$leader")
check "on: the witness refused past the deadline, before the daemon was resumed (refused ${r:-never}, daemon resumed $T_DAEMON_THAW)" test "${r:-0}" -gt 0 -a "${r:-0}" -lt "$T_DAEMON_THAW"
new=$(cluster_wait_primary 30)
check "on: the new primary names the witness and commits" wait_for 30 witness_sync "$new"
check "on: a commit on the new primary returns" cluster_psql "$new" "CREATE TABLE IF NOT EXISTS w(x int); INSERT INTO w VALUES (1)"
check "on: the old primary rejoins as a replica" wait_for 120 cluster_has_replicas 1

# ---- C. synchronous mode with the witness ----------------------------------
leader=$(cluster_wait_primary 30)
replica=$((3 - leader))
ssn_is() { [ "$(cluster_psql "$leader" "SHOW synchronous_standby_names")" = "$1" ]; }
cluster_set_config '.synchronous_mode = true'
check "sync: ssn is FIRST 2 (witness, node$replica)" wait_for 30 ssn_is "FIRST 2 (\"$WITNESS_APP\", \"node$replica\")"
cluster_psql "$leader" "DROP TABLE IF EXISTS pgw_writes" >/dev/null
cluster_start_writer
check "sync: the writer acknowledges writes for 2 s" cluster_wait_ack "$(($(now_ms) + 2000))" 30
cluster_kill_node "$leader" KILL all
new=$(cluster_wait_primary 30 "$leader")
check "sync: node crash, node$replica took over" test "$new" = "$replica"
check "sync: the writer writes on the new primary" cluster_wait_ack "$(now_ms)" 30
cluster_stop_writer
miss=$(cluster_missing)
check "sync with the witness: zero acknowledged commits missing (missing=${miss:-?})" test "$miss" = 0
cluster_start_node "$leader"
check "sync: the old primary rejoins" wait_for 120 cluster_has_replicas 1

# ---- D. quorum mode: the witness waits for the replica ----------------------
leader=$(cluster_wait_primary 30)
replica=$((3 - leader))
# strict: without the replica ssn becomes "*" (the witness gated on any
# one standby) rather than async
cluster_set_config '.synchronous_mode = "quorum" | .synchronous_mode_strict = true'
check "quorum: ssn names the witness alone" wait_for 30 ssn_is "\"$WITNESS_APP\""
check "quorum: the witness took the gate (k=1)" wait_for 30 grep -q 'event=witness.gate .*k=1 ' "$CL_DIR/node$leader/pgwarden.log"
check "quorum: a commit returns" cluster_psql "$leader" "CREATE TABLE IF NOT EXISTS q(x int); INSERT INTO q VALUES (1)"
rpg=$(cluster_pg_pids "$replica")
FROZEN=$rpg
# shellcheck disable=SC2086
kill -STOP $rpg
# (statement_timeout does not cover the commit's wait: a client-side bound)
PGPASSWORD=pgw-super timeout 3 psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" \
	-U postgres -d postgres -c "INSERT INTO q VALUES (2)" >"$DIR/q2.out" 2>&1
rc=$?
check "quorum: with the replica stopped, a commit does not return within 3 s (rc=$rc)" test "$rc" = 124
# shellcheck disable=SC2086
kill -CONT $rpg
FROZEN=""
check "quorum: the replica resumed, a commit returns" cluster_psql "$leader" "INSERT INTO q VALUES (3)"

# ---- E. a hung, then dead witness --------------------------------------------
cluster_set_config '.synchronous_mode = false | del(.synchronous_mode_strict)'
check "async again: ssn names the witness alone" wait_for 30 ssn_is "\"$WITNESS_APP\""
wp=$(witness_pid "$leader")
check "the leader's witness runs (pid ${wp:-none})" test -n "$wp"
FROZEN=$wp
kill -STOP "$wp"
PGPASSWORD=pgw-super timeout 3 psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" \
	-U postgres -d postgres -c "INSERT INTO q VALUES (4)" >/dev/null 2>&1
rc=$?
check "witness stopped: a commit does not return within 3 s (rc=$rc)" test "$rc" = 124
kill -KILL "$wp"
kill -CONT "$wp" 2>/dev/null
FROZEN=""
check "witness killed: the daemon logs its exit" wait_for 10 grep -q 'event=witness.exited' "$CL_DIR/node$leader/pgwarden.log"
commit_bounded() {
	PGPASSWORD=pgw-super timeout 5 psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$1]}" \
		-U postgres -d postgres -c "INSERT INTO q VALUES ($2)" >/dev/null 2>&1
}
check "witness killed: a new one is started and a commit returns" wait_for 30 commit_bounded "$leader" 5
check "witness killed: the new witness is a different process" test "$(witness_pid "$leader")" != "$wp"

# ---- F. the commit check: what the witness alone cannot hold ------------------
# A session with synchronous_commit = off never waits for a standby, so
# never for the witness; pgwarden_lease holds its commit past the deadline
# all the same. The same commit with the check turned off (a superuser's
# setting) returns: the check is what holds it.
leader=$(cluster_wait_primary 30)
other=$((3 - leader))
page=$(cluster_psql "$leader" "SHOW pgwarden_lease.page")
check "F: every session loads the commit check (pgwarden_lease.page = ${page:-unset})" test -n "$page" -a -f "$page"
spl=$(cluster_psql "$leader" "SHOW session_preload_libraries")
check "F: ... from session_preload_libraries, by absolute path ($spl)" test "$spl" = "\"$PGW_BUILD_DIR/daemon/pgwarden_lease.so\"" -o "$spl" = "\"$(realpath "$PGW_BUILD_DIR")/daemon/pgwarden_lease.so\""
# async_commit I VALUE [SQL]: synchronous_commit = off, bounded at 3 s; the rc
async_commit() {
	PGPASSWORD=pgw-super timeout 3 psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CL_PG_PORT[$1]}" \
		-U postgres -d postgres -c "SET synchronous_commit = off" ${3:+-c "$3"} \
		-c "INSERT INTO q VALUES ($2)" >>"$DIR/async.out" 2>&1
	echo $?
}
check "F: an asynchronous commit returns while the lease holds" test "$(async_commit "$leader" 10)" = 0
# bad input: a page PostgreSQL cannot read holds writes, and the log says why
chmod 600 "$page"
rc=$(async_commit "$leader" 11)
check "F: an unreadable commit page: the commit does not return within 3 s (rc=$rc)" test "$rc" = 124
check "F: PostgreSQL's log says why" grep -q 'pgwarden_lease: the commit of transaction [0-9]* waits .*could not open the commit page' "$CL_DIR/node$leader/data.log"
chmod 644 "$page"
check "F: the page readable again, a commit returns" test "$(async_commit "$leader" 12)" = 0
cluster_psql "$leader" "CREATE ROLE lease_app LOGIN PASSWORD 'x'" >/dev/null
PGPASSWORD=x psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" -U lease_app -d postgres \
	-c "SET pgwarden_lease.enforce = off" >"$DIR/nonsu.out" 2>&1
check "F: a non-superuser cannot turn the check off ($(head -1 "$DIR/nonsu.out"))" grep -q 'permission denied to set parameter "pgwarden_lease.enforce"' "$DIR/nonsu.out"
# the daemon, its fence and the witness stopped: PostgreSQL runs on past the
# deadline, as after a thaw that resumed it first
dpids=$(comm -23 <(cluster_node_pids "$leader" | tr ' ' '\n' | sort) <(cluster_pg_pids "$leader" | tr ' ' '\n' | sort) | tr '\n' ' ')
pglog0=$(($(wc -l <"$CL_DIR/node$leader/data.log") + 1))
FROZEN=$dpids
# shellcheck disable=SC2086
kill -STOP $dpids
new=$(cluster_wait_primary 60 "$leader")
check "F: node$other took over while node$leader's daemon was stopped" test "$new" = "$other"
# the held commit's client waits as long as it takes (bounded at 90 s)
(
	PGPASSWORD=pgw-super timeout 90 psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CL_PG_PORT[$leader]}" \
		-U postgres -d postgres -c "SET synchronous_commit = off" -c "INSERT INTO q VALUES (13)" >"$DIR/held.out" 2>&1
	echo $? >"$DIR/held.rc"
) &
HELD=$!
hold_for 3 true
check "F: past the deadline, an asynchronous commit on the old primary has not returned after 3 s" test ! -s "$DIR/held.rc"
rc=$(async_commit "$leader" 14 "SET pgwarden_lease.enforce = off")
check "F: the same commit with the check turned off returns (rc=$rc): the check is what held it" test "$rc" = 0
# shellcheck disable=SC2086
kill -CONT $dpids
FROZEN=""
check "F: the daemon resumed, the held commit's client gets an answer" wait_for 60 test -s "$DIR/held.rc"
wait "$HELD" 2>/dev/null
check "F: ... an error, never the acknowledgement (rc=$(cat "$DIR/held.rc"): $(tr '\n' ' ' <"$DIR/held.out" | cut -c1-160))" \
	test "$(cat "$DIR/held.rc")" != 0 -a "$(cat "$DIR/held.rc")" != 124
check "F: PostgreSQL let no held commit through after the deadline" \
	bash -c "! tail -n +$pglog0 '$CL_DIR/node$leader/data.log' | grep -q 'is acknowledged: the lease holds again'"
check "F: the old primary rejoins as a replica" wait_for 120 cluster_has_replicas 1

tap_finish
