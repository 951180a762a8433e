#!/usr/bin/env bash
# test_ctl_drill.sh: `pgwardenctl drill` on a real 3-node cluster (fast
# profile, synchronous mode), checked against an independent writer (tests/tools/pgw_writer,
# its own connections and log) and the harness's own streaming check:
#   1. refusals: no --yes without a terminal; a paused cluster
#   2. drill switchover --rounds 2: exit 0, every round ok, lost 0, the new
#      leader differs; RTO >= downtime > 0 (measured, no threshold); the
#      drill's downtime within 1 s of the independent writer's longest gap
#      after the round's fault; after the drill every replica streams
#   3. drill kill-postgres: the same, and the killed member's postmaster
#      is a new one (or another member leads)
#   4. a drill that loses acknowledged writes fails: a saboteur trigger
#      deletes every 7th row in the transaction that inserted it (the
#      commit is acknowledged, the row gone); the drill must exit 1 and
#      report the loss (the check must be able to fail)
#   5. a replica promoted by hand: the stop-daemon hook promotes it (SELECT
#      pg_promote()) at the round's fault instead of stopping a daemon, its
#      daemon frozen for 2 s so that the window does not depend on luck.
#      a) as is, its commits wait for the synchronous standby it lacks: the
#         watch must report split 0, as the harness's own probes do
#      b) with its synchronous_standby_names cleared, the primary and the
#         rogue acknowledge writes at once until pgwarden demotes it: the
#         drill must report split > 0 for the round (about 2 s) and exit 1,
#         and the harness's own probes (pgw_writer probe, pgw_logcheck.py
#         split) must see the split too (the watch must be able to fail,
#         and not by itself). Sections 2 and 3 assert split 0.
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-drill-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT

# synchronous mode: the promise is zero lost acknowledged writes, so the
# drill's "lost 0" is a promise checked, not luck (in asynchronous mode a
# failover may lose up to maximum_lag_on_failover, and the drill reports
# any loss as a failed round)
CL_DCS_EXTRA="    synchronous_mode: true"
cluster_init "$DIR" 3 fast
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
for i in 1 2 3; do cluster_start_node "$i"; done
cluster_wait_primary 90 >/dev/null || { not_ok "a primary is elected"; exit 1; }
check "two replicas stream from it" cluster_wait_replicas 120 2
cluster_start_writer
cluster_start_probes
check "the independent writer acknowledges writes" cluster_wait_ack "$(($(now_ms) + 1000))" 30

# ---- 1. refusals --------------------------------------------------------
out=$(cluster_ctl drill switchover </dev/null 2>&1)
check "no --yes and no terminal: refused ($out)" test $? = 1 -a -n "$(grep -- '--yes' <<<"$out")"
cluster_ctl pause --wait --timeout 20s >/dev/null 2>&1
out=$(cluster_ctl drill switchover --yes </dev/null 2>&1)
rc=$?
check "a paused cluster: refused, saying why (rc $rc: $out)" test $rc = 1 -a -n "$(grep 'paused' <<<"$out")"
cluster_ctl resume --wait --timeout 20s >/dev/null 2>&1

# compare KIND JSON: the drill's rounds against the independent writer
compare() {
	local kind=$1 j=$2 n r fault rto down ind ind_down
	n=$(jq '.rounds | length' <<<"$j")
	for r in $(seq 0 $((n - 1))); do
		fault=$(jq ".rounds[$r].fault_wall_ms" <<<"$j")
		rto=$(jq ".rounds[$r].rto_ms" <<<"$j")
		down=$(jq ".rounds[$r].downtime_ms" <<<"$j")
		ind=$(cluster_gap "$fault" $((fault + rto + 1000)))
		ind_down=$(cl_kv downtime_ms "$ind")
		echo "# $kind round $((r + 1)): drill rto ${rto} ms downtime ${down} ms; independent writer downtime ${ind_down} ms, rto $(cl_kv rto_ms "$ind") ms"
		check "$kind round $((r + 1)): RTO >= downtime > 0 (measured, $rto >= $down)" \
			test "$down" -gt 0 -a "$rto" -ge "$down"
		check "$kind round $((r + 1)): downtime within 1 s of the independent writer's ($down vs $ind_down)" \
			test "${ind_down:-0}" -gt 0 -a "$(( down > ind_down ? down - ind_down : ind_down - down ))" -le 1000
	done
}

# ---- 2. switchover ------------------------------------------------------
old=$(cluster_key leader)
j=$(cluster_ctl drill switchover --rounds 2 --yes --format json --timeout 90s </dev/null 2>"$DIR/drill1.err")
rc=$?
echo "# drill switchover: $j"
check "drill switchover: exit 0 (rc $rc; $(head -c 300 "$DIR/drill1.err"))" test $rc = 0
check "drill switchover: 2 rounds, all ok, lost 0" \
	jq -e '(.rounds | length) == 2 and .ok == true and .lost == 0 and ([.rounds[] | select(.ok and .lost == 0 and .rejoin_ms > 0)] | length) == 2' <<<"$j"
check "drill switchover: the split-brain watch ran and saw no split" \
	jq -e '.split == 0 and ([.rounds[] | select(.split == 0 and .split_worst_ms == 0)] | length) == 2' <<<"$j"
check "drill switchover: round 1 moved the leader off $old" test "$(jq -r '.rounds[0].new_primary' <<<"$j")" != "$old"
compare switchover "$j"
check "after the drill: two replicas stream from the primary" cluster_wait_replicas 10 2

# ---- 3. kill-postgres ---------------------------------------------------
j=$(cluster_ctl drill kill-postgres --yes --format json --timeout 90s </dev/null 2>"$DIR/drill2.err")
rc=$?
echo "# drill kill-postgres: $j"
check "drill kill-postgres: exit 0 (rc $rc; $(head -c 300 "$DIR/drill2.err"))" test $rc = 0
check "drill kill-postgres: ok, lost 0, split 0" jq -e '.ok == true and .lost == 0 and .split == 0 and .rounds[0].rejoin_ms > 0 and .rounds[0].split == 0' <<<"$j"
compare kill-postgres "$j"
check "after the drill: two replicas stream from the primary" cluster_wait_replicas 60 2

# ---- 4. lost acknowledged writes fail the drill ----------------------------
# a saboteur trigger (created on the primary, replicated to every member)
# deletes every 7th row of the drill's table in the transaction that
# inserted it: the commit is acknowledged, the row is gone, as after a
# failover that lost commits
p=$(cluster_wait_primary 30)
cluster_psql "$p" "CREATE TABLE IF NOT EXISTS pgwarden_drill (run bigint, seq bigint, at timestamptz DEFAULT now(), PRIMARY KEY (run, seq));
CREATE FUNCTION pgw_sabotage() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN IF NEW.seq % 7 = 0 THEN DELETE FROM pgwarden_drill WHERE run = NEW.run AND seq = NEW.seq; END IF; RETURN NULL; END \$\$;
CREATE TRIGGER sabotage AFTER INSERT ON pgwarden_drill FOR EACH ROW EXECUTE FUNCTION pgw_sabotage()" >/dev/null
j=$(cluster_ctl drill switchover --yes --format json --timeout 90s </dev/null 2>"$DIR/drill3.err")
rc=$?
echo "# drill with a saboteur: rc $rc: $j"
check "lost writes: the drill exits 1" test $rc = 1
check "lost writes: reported per round, the round failed" \
	jq -e '.rounds[0].lost > 0 and .rounds[0].ok == false and .lost > 0 and .ok == false and (.rounds[0].note | test("LOST"))' <<<"$j"
p=$(cluster_wait_primary 30)
cluster_psql "$p" "DROP TRIGGER sabotage ON pgwarden_drill; DROP FUNCTION pgw_sabotage()" >/dev/null
cluster_wait_replicas 60 2 >/dev/null

# ---- 5. a replica promoted by hand --------------------------------------
# rogue_drill CLEAR: a stop-daemon drill whose "stop" hook promotes a
# replica by hand (SELECT pg_promote()) at the round's fault; with CLEAR=1
# it first clears the rogue's synchronous_standby_names (ALTER SYSTEM), as
# an operator who wants it writable would. Sets j, rc, rogue, ind (the
# harness's own split over the round). The rogue is a replica that is not
# the synchronous standby: promoting that one would stall the primary's
# commits until pgwarden picked another. pgwarden demotes a rogue within
# 30-150 ms here (fast profile: it stops PostgreSQL for pg_rewind as soon
# as it sees the forked timeline), a few probe periods, so a probe could
# miss it by luck: the hook freezes the rogue's daemon (SIGSTOP, less than
# the 3 s ttl) around the promote, and the rogue stays promoted for 2 s.
rogue_drill() {
	local clear=$1 p sync i fault pre=""
	p=$(cluster_wait_primary 30)
	sync=$(cluster_key sync)
	rogue=""
	for i in $(seq 1 "$CL_N"); do
		[ "$i" = "$p" ] && continue
		[ -z "$rogue" ] && rogue=$i
		case "$sync" in *"\"node$i\""*) ;; *) rogue=$i; break ;; esac
	done
	echo "# primary node$p, sync key $sync, rogue node$rogue, clear synchronous_standby_names: $clear"
	[ "$clear" = 1 ] && pre="-c \"ALTER SYSTEM SET synchronous_standby_names = ''\" -c \"SELECT pg_reload_conf()\" -c \"SELECT pg_sleep(0.3)\""
	cat >"$DIR/promote.sh" <<SH
#!/bin/sh
# the drill's "stop" hook: promote node$rogue by hand; always exits 0 (the
# split is checked from the report and the harness's probes)
trap 'kill -CONT ${CL_PID[$rogue]}' EXIT
kill -STOP ${CL_PID[$rogue]}
PGPASSWORD=pgw-super psql -X -q -A -t -h ${CL_PG_HOST[$rogue]} -p ${CL_PG_PORT[$rogue]} \\
	-U postgres -d postgres $pre -c "SELECT pg_promote()" >>"$DIR/promote.out" 2>&1
sleep 2
exit 0
SH
	: >"$DIR/promote.out"
	j=$(export PGWARDEN_DRILL_STOP_CMD="sh $DIR/promote.sh" PGWARDEN_DRILL_START_CMD=true
		cluster_ctl drill stop-daemon --yes --format json --timeout 40s </dev/null 2>>"$DIR/drill4.err")
	rc=$?
	echo "# drill with a rogue (clear $clear): rc $rc: $j"
	echo "# promote: $(tr '\n' ' ' <"$DIR/promote.out")"
	fault=$(jq '.rounds[0].fault_wall_ms' <<<"$j")
	ind=$(cluster_split $((fault - 1000)) $(($(now_ms) - 300)) 2>&1 | tail -1)
	echo "# harness probes over the round: $ind"
}

# 5a. pgwarden keeps synchronous_standby_names on its replicas in
# synchronous mode, so a replica promoted by hand cannot acknowledge a
# write: its commits wait for a standby it does not have. Not a split for
# any client, and the watch must not say one (a probe of SELECT
# txid_current() alone did: PostgreSQL does not wait for the standbys when
# the transaction wrote no WAL before its commit record)
rogue_drill 0
check "promoted, commits waiting: the watch ran and saw no split" \
	jq -e '.rounds[0].split == 0' <<<"$j"
check "promoted, commits waiting: the harness's probes agree ($ind)" test "$(cl_kv split "$ind")" = 0
check "after the rogue: one primary, two replicas stream from it" cluster_wait_replicas 120 2

# 5b. the rogue made writable: the drill must fail on the split, and the
# harness's own probes (pgw_writer probe, pgw_logcheck.py split) must see
# it too (the watch must be able to fail, and not by itself)
rogue_drill 1
check "split-brain: the drill exits 1" test $rc = 1
check "split-brain: reported for the round, which failed, naming node$rogue" \
	jq -e --arg r "node$rogue" '.rounds[0].split > 0 and .rounds[0].ok == false and .split > 0 and .ok == false and (.rounds[0].note | test("SPLIT-BRAIN: .*" + $r))' <<<"$j"
check "split-brain: the overlap is the rogue's frozen 2 s, not an instant ($(jq .rounds[0].split_worst_ms <<<"$j") ms >= 1000)" \
	jq -e '.rounds[0].split_worst_ms >= 1000' <<<"$j"
check "split-brain: the harness's own probes saw it too ($ind)" test "$(cl_kv split "$ind")" -gt 0
check "after the rogue: one primary, two replicas stream from it" cluster_wait_replicas 120 2
cluster_psql "$rogue" "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null 2>&1
cluster_psql "$rogue" "SELECT pg_reload_conf()" >/dev/null 2>&1

cluster_stop_probes
cluster_stop_writer
tap_finish
