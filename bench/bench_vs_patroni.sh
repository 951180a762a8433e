#!/usr/bin/env bash
# bench_vs_patroni.sh: the same 3-node topology on loopback (one etcd 3.4,
# three PostgreSQL 15 as user pgwarden) run with pgwarden and with Patroni
# 3.0.2 side by side, each cluster with its own etcd, at equal settings
# (ttl 10 s, loop_wait 1 s, retry_timeout 3 s, primary_start_timeout 3 s:
# both accept it) and at each tool's defaults (pgwarden 10/1/3, start
# timeout 3 s; Patroni 30/10/10, start timeout 300 s). Both clusters run for
# the whole profile and the drills are interleaved: run r of a drill goes to
# one tool and then the other (the order alternates by run), so load from
# other work falls on both alike. Drills: node crash (SIGKILL every process
# of the node: daemon, its children, PostgreSQL), PostgreSQL crash (SIGKILL
# postmaster; a tool may restart it in place or fail over, whatever it does
# is measured), freeze (SIGSTOP every process of the node, pgwarden's fence
# watchdog included, for ttl + 3 s; SIGCONT PostgreSQL first, then the
# rest), planned switchover (POST /switchover). A writer per cluster commits
# every 10 ms to whichever node is read-write; RTO = fault -> the
# acknowledged write that ended the longest gap, downtime = that gap. The
# figure is taken once writes have resumed and flowed without a gap for 2 s
# (a fault that left no gap over 300 ms: 15 s after it, the longest gap),
# and the run ends when the cluster is whole again: one primary and two
# replicas streaming from it (pg_stat_replication and pg_stat_wal_receiver
# agree, same timeline; the REST API alone is not enough: Patroni's
# /primary answers 200 while it restarts a crashed postmaster). If the
# cluster does not get whole again within 240 s the figure stands with a
# note and the next run of that tool starts on a freshly built cluster. A
# run without a figure (no outage seen, writes did not resume, a refused
# request, ...) is recorded with its reason and reported as missing, never
# as 0. After a freeze the thawed old primary's acknowledged writes are
# counted (its writer's acks on that node after SIGCONT) and printed. Prints
# median / max per drill and tool over the measured runs, the ratio (Patroni
# / pgwarden), and each daemon's RSS and CPU seconds per minute at steady
# state (both clusters running; pgwarden's fence watchdog counted apart).
# Not a test: figures only.
#
# Usage: bash bench/bench_vs_patroni.sh [--runs N] [--quick] [--profiles equal,defaults] [--drills a,b]
#                                      [--report RESULTS]
#   --quick: 1 run per drill, equal profile only, 15 s steady-state sample
#   --report: print the table of an earlier run's raw rows (results.txt) and exit
#     (give the same --runs / --profiles / --drills)
# PGW_BENCH_KEEP=1 keeps the directory (logs, writer log, raw rows).
# Everything it starts is stopped on exit (also on SIGINT / SIGTERM).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
WRITER=$PGW_BUILD_DIR/tests/pgw_writer
runs=5
profiles="equal defaults"
steady_s=60
drills="node-crash pg-crash freeze switchover"
report_file=""
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift ;;
		--quick) runs=1; profiles=equal; steady_s=15 ;;
		--profiles) profiles=${2//,/ }; shift ;;
		--drills) drills=${2//,/ }; shift ;;
		--report) report_file=$2; shift ;;
		*) echo "usage: $0 [--runs N] [--quick] [--profiles equal,defaults] [--drills a,b] [--report RESULTS]" >&2; exit 2 ;;
	esac
	shift
done
case "$runs" in ''|*[!0-9]*|0) echo "--runs wants a positive integer" >&2; exit 2 ;; esac
for kind in $drills; do
	case "$kind" in node-crash|pg-crash|freeze|switchover) ;; *) echo "unknown drill $kind" >&2; exit 2 ;; esac
done
for PROFILE in $profiles; do
	case "$PROFILE" in equal|defaults) ;; *) echo "unknown profile $PROFILE" >&2; exit 2 ;; esac
done
# ---- the table ----------------------------------------------------------------
# report RESULTS: the table from the raw rows
report() {
	echo
	echo "pgwarden vs Patroni 3.0.2 on loopback: 3 nodes, etcd 3.4, PostgreSQL 15; runs per drill: $runs"
	awk -F'|' -v runs="$runs" -v profiles="$profiles" -v drills="$drills" '
		function med(s,   n, a, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n ? (n % 2 ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2)) : "n/a" }
		function mx(s,   n, a, i, m) { n = split(s, a, " "); m = "n/a"; for (i = 1; i <= n; i++) if (m == "n/a" || a[i] + 0 > m + 0) m = a[i]; return m }
		function ratio(a, b) { return (a == "n/a" || b == "n/a" || a + 0 == 0) ? "n/a" : sprintf("%.1fx", b / a) }
		function cnt(s,   a) { return split(s, a, " ") }
		function key(k) { if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
		$1 == "drill" { k = $3 "|" $4; key(k); rto[k, $2] = rto[k, $2] " " $5; dn[k, $2] = dn[k, $2] " " $6 }
		$1 == "fail" { k = $3 "|" $4; key(k); nf[k, $2]++; if (!((k, $2, $5) in rc)) { nr[k, $2]++; rs[k, $2, nr[k, $2]] = $5 }; rc[k, $2, $5]++ }
		$1 == "note" { notel[++nnote] = sprintf("  %-9s %-11s %-8s: %s", $3, $4, $2, $5) }
		$1 == "steady" { st[$3, $2] = "per daemon " $4 " MiB RSS, " $5 " CPU s/min" }
		$1 == "steadyfail" { st[$3, $2] = "n/a (" $4 ")" }
		$1 == "thaw" { thaw[$3, $2] = thaw[$3, $2] " " $4 }
		$1 == "fence" { fence[$3] = "; fence watchdog " $4 " MiB RSS (" $5 " MiB PSS), " $6 " CPU s/min" }
		BEGIN {
			# every expected row, measured or not
			np = split(profiles, pp, " "); nd = split(drills, dd, " ")
			for (i = 1; i <= np; i++) for (j = 1; j <= nd; j++) key(pp[i] "|" dd[j])
		}
		END {
			printf "%-9s %-11s | %-17s | %-17s | %-6s | %-17s | %-17s | %-6s | %-7s\n", "profile", "drill", "pgwarden RTO", "Patroni RTO", "ratio", "pgwarden down", "Patroni down", "ratio", "runs ok"
			printf "%-9s %-11s | %-17s | %-17s | %-6s | %-17s | %-17s | %-6s | %-7s\n", "", "", "med / max", "med / max", "", "med / max", "med / max", "", "pgw/pat"
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, kk, "|")
				a = med(rto[k, "pgwarden"]); b = med(rto[k, "patroni"])
				c = med(dn[k, "pgwarden"]); d = med(dn[k, "patroni"])
				printf "%-9s %-11s | %7s / %7s | %7s / %7s | %-6s | %7s / %7s | %7s / %7s | %-6s | %-7s\n", kk[1], kk[2], a, mx(rto[k, "pgwarden"]), b, mx(rto[k, "patroni"]), ratio(a, b), c, mx(dn[k, "pgwarden"]), d, mx(dn[k, "patroni"]), ratio(c, d), cnt(rto[k, "pgwarden"]) "/" cnt(rto[k, "patroni"])
			}
			notes = 0
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, kk, "|")
				for (t = 1; t <= 2; t++) {
					tool = (t == 1 ? "pgwarden" : "patroni")
					ok = cnt(rto[k, tool]); f = nf[k, tool] + 0; miss = runs - ok - f
					w = ""
					if (miss < 0) miss = 0
					if (miss > 0) { nr[k, tool]++; rs[k, tool, nr[k, tool]] = "not run (the bench stopped before)"; rc[k, tool, "not run (the bench stopped before)"] = miss }
					for (j = 1; j <= nr[k, tool]; j++) w = w (j > 1 ? "; " : "") rs[k, tool, j] (f + miss > 1 ? " (x" rc[k, tool, rs[k, tool, j]] ")" : "")
					if (f == 0 && miss == 0) continue
					if (!notes++) print "runs without a figure (left out of median / max, never counted as 0):"
					r = (ok == 0 ? "n/a (" : "figure from " ok " of " runs " runs (") (f + miss) " of " runs " runs failed: " w ")"
					printf "  %-9s %-11s %-8s: %s\n", kk[1], kk[2], tool, r
				}
			}
			if (nnote) print "notes:"
		for (i = 1; i <= nnote; i++) print notel[i]
		for (i = 1; i <= np; i++) for (t = 1; t <= 2; t++) {
				tool = (t == 1 ? "pgwarden" : "patroni")
				printf "steady state %-9s %-8s: %s%s\n", pp[i], tool, ((pp[i], tool) in st ? st[pp[i], tool] : "n/a (not measured: the run stopped before)"), (tool == "pgwarden" ? fence[pp[i]] : "")
			}
		for (i = 1; i <= np; i++) for (t = 1; t <= 2; t++) {
				tool = (t == 1 ? "pgwarden" : "patroni")
				if ((pp[i], tool) in thaw) printf "freeze %-9s %-8s: writes the thawed old primary acknowledged after SIGCONT, per run:%s\n", pp[i], tool, thaw[pp[i], tool]
			}
		}' "$1"
	echo "(times in ms; RTO = fault -> first acknowledged write after the longest write gap; down = that gap; ratio = Patroni / pgwarden)"
}

# --report FILE: only print the table of an earlier run's raw rows
if [ -n "$report_file" ]; then report "$report_file"; exit 0; fi

[ -x "$WRITER" ] && [ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || {
	echo "build first: cmake -S . -B build && cmake --build build" >&2
	exit 2
}
command -v patroni >/dev/null || { echo "patroni is not installed (apt-get install patroni)" >&2; exit 2; }
# shellcheck source=../tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"

# thresholds of the measurement (ms)
GAP_MS=300			# a gap between two acknowledged writes longer than this is an outage
SETTLE_MS=2000		# writes must flow this long without an outage before a run ends
# a fault that was carried out (the kill succeeded, the switchover was
# accepted) but left no gap over GAP_MS: after this long with writes
# flowing, the longest gap, however short, is the figure (a recovery faster
# than GAP_MS is measured, not reported as missing after RECOVER_S)
SHORT_OUTAGE_MS=15000
RECOVER_S=${PGW_BENCH_RECOVER_S:-240}	# a run that has not recovered within this is a failure

BASE=$(mktemp -d /tmp/pgwc-bench-XXXXXX)
chmod 755 "$BASE"
RESULTS=$BASE/results.txt
: >"$RESULTS"
# shellcheck disable=SC2034 # read by tests/lib/cluster.sh
[ -n "${PGW_BENCH_KEEP:-}" ] && CL_KEEP_DIR=1
TOOL=""
PROFILE=""
declare -a DPID
WRITER_PID=""
now_ms() { date +%s%3N; }
# nap S: sleep that a trapped signal interrupts
nap() { sleep "$1" & wait $!; }

# sweep: stop whatever still runs from this bench: every process it starts
# (etcd, the daemons, runuser, postmasters, the writer) names a path under
# $BASE on its command line, and $BASE is unique to this invocation
sweep() {
	local pids k
	for k in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(pgrep -f -- "$BASE/" | grep -v -x -e "$$" -e "${BASHPID:-$$}" | tr '\n' ' ')
		[ -n "${pids// /}" ] || return 0
		# shellcheck disable=SC2086
		if [ "$k" -le 5 ]; then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
		sleep 1
	done
	echo "# still running after cleanup: $(pgrep -a -f -- "$BASE/")" >&2
}

cleanup() {
	local t
	trap - EXIT INT TERM
	for t in pgwarden patroni; do
		[ -f "$BASE/ctx.$t" ] && ctx_load "$t"
		[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
		stop_all
		cluster_cleanup
	done
	sweep
	# interrupted: the table of what was measured, the rest reported missing
	[ -n "$INTERRUPTED" ] && [ -s "$RESULTS" ] && report "$RESULTS"
	[ -z "${PGW_BENCH_KEEP:-}" ] && rm -rf "$BASE"
	true
}
INTERRUPTED=""
trap cleanup EXIT
trap 'echo "# interrupted" >&2; INTERRUPTED=1; exit 130' INT
trap 'echo "# terminated" >&2; INTERRUPTED=1; exit 143' TERM

pm_of() { [ -n "${CL_DIR:-}" ] && head -1 "$CL_DIR/node$1/data/postmaster.pid" 2>/dev/null; }
# pg_pids I: the postmaster and all its children (each backend is its own
# session leader, so a process group signal is not enough)
pg_pids() {
	local pm
	pm=$(pm_of "$1")
	[ -n "$pm" ] || return 0
	echo "$pm $(ps -o pid= --ppid "$pm" 2>/dev/null | tr '\n' ' ')"
}

stop_all() {
	local i pm k pms=""
	[ -n "${CL_DIR:-}" ] || return 0
	for i in 1 2 3; do
		[ -n "${DPID[$i]:-}" ] && kill -CONT "${DPID[$i]}" "$(daemon_pid "$i")" 2>/dev/null
		# shellcheck disable=SC2046
		kill -CONT $(pg_pids "$i") 2>/dev/null
		# Patroni runs under runuser: kill the python child first
		[ -n "${DPID[$i]:-}" ] && kill -KILL "$(daemon_pid "$i")" "${DPID[$i]}" 2>/dev/null
		pm=$(pm_of "$i")
		[ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null && pms+="$pm "
		DPID[$i]=""
		CL_PID[$i]=""
	done
	# bounded wait for the postmasters to go (immediate shutdown), then KILL
	for k in $(seq 1 50); do
		# shellcheck disable=SC2086
		[ -n "$pms" ] && kill -0 $pms 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	[ -n "$pms" ] && kill -KILL $pms 2>/dev/null
	true
}

# ---- the two tools ----------------------------------------------------------
patroni_cfg() {
	local i=$1 ttl=$2 lw=$3 rt=$4 pst=$5
	cat <<YML
scope: bench
namespace: /service
name: node$i
restapi:
  listen: 127.0.0.1:${CL_API_PORT[$i]}
  connect_address: 127.0.0.1:${CL_API_PORT[$i]}
etcd3:
  hosts: 127.0.0.1:$CL_ETCD_PORT
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $lw
    retry_timeout: $rt
    primary_start_timeout: $pst
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: "on"
        shared_buffers: 16MB
        max_connections: 50
        wal_keep_size: 64MB
  initdb:
    - encoding: UTF8
    - data-checksums
postgresql:
  listen: 127.0.0.1:${CL_PG_PORT[$i]}
  connect_address: 127.0.0.1:${CL_PG_PORT[$i]}
  data_dir: $CL_DIR/node$i/data
  bin_dir: $PG_BIN_DIR
  pgpass: $CL_DIR/node$i/pgpass
  authentication:
    superuser: {username: postgres, password: pgw-super}
    replication: {username: replicator, password: pgw-repl}
    rewind: {username: postgres, password: pgw-super}
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
  parameters:
    unix_socket_directories: $CL_DIR/node$i
YML
}

# setup TOOL PROFILE: a fresh etcd + 3 nodes of TOOL, converged
setup() {
	local tool=$1 profile=$2 gen=${3:-1} ttl lw rt pst i
	TOOL=$tool
	if [ "$profile" = equal ]; then ttl=10; lw=1; rt=3; pst=3
	elif [ "$tool" = patroni ]; then ttl=30; lw=10; rt=10; pst=300
	else ttl=10; lw=1; rt=3; pst=3; fi
	CLUSTER_TTL=$ttl
	cluster_init "$BASE/$tool-$profile$([ "$gen" = 1 ] || echo "-$gen")" 3 default
	cluster_start_etcd || { SETUP_WHY="etcd did not start"; return 1; }
	for i in 1 2 3; do
		if [ "$tool" = patroni ]; then
			patroni_cfg "$i" "$ttl" "$lw" "$rt" "$pst" >"$CL_DIR/node$i/patroni.yml"
			chown -R pgwarden "$CL_DIR/node$i"
		else
			sed -i "s/^    ttl: .*/    ttl: $ttl/; s/^    loop_wait: .*/    loop_wait: $lw/; s/^    retry_timeout: .*/    retry_timeout: $rt\n    primary_start_timeout: $pst/" "$CL_DIR/node$i/pgwarden.yml"
		fi
		start_daemon "$i"
		[ "$i" = 1 ] && nap 5	# the first one bootstraps (both tools race fine, this is quicker)
	done
	wait_converged 180 || { SETUP_WHY="cluster did not converge within 180 s"; return 1; }
}

start_daemon() {
	local i=$1
	if [ "$TOOL" = patroni ]; then
		runuser -u pgwarden -- patroni "$CL_DIR/node$i/patroni.yml" >>"$CL_DIR/node$i/patroni.log" 2>&1 &
	else
		"$PGW_BIN" -c "$CL_DIR/node$i/pgwarden.yml" >>"$CL_DIR/node$i/pgwarden.log" 2>&1 &
	fi
	DPID[$i]=$!
	# shellcheck disable=SC2034 # read by tests/lib/cluster.sh
	CL_PID[$i]=${DPID[$i]}
	# not reaped by bash: no "Killed" job reports from the drills (cleanup
	# still kills it by pid)
	disown "${DPID[$i]}" 2>/dev/null
}

# the daemon's pid: for Patroni the python process under runuser
daemon_pid() {
	local p=${DPID[$1]:-}
	[ -n "$p" ] || return 0
	if [ "$TOOL" = patroni ]; then
		local c
		c=$(ps -o pid= --ppid "$p" 2>/dev/null | head -1 | tr -d ' ')
		[ -n "$c" ] && p=$c
	fi
	echo "$p"
}

# converged_now: one primary, two replicas streaming from it on its
# timeline (tests/lib/cluster.sh cluster_converged)
converged_now() { cluster_converged; }

wait_converged() { wait_for "$1" cluster_converged; }

# proc_tree PID: PID and all its descendants
proc_tree() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do proc_tree "$c"; done
}

hosts() { echo "127.0.0.1:${CL_PG_PORT[1]},127.0.0.1:${CL_PG_PORT[2]},127.0.0.1:${CL_PG_PORT[3]}"; }

# ---- the writer log -----------------------------------------------------------
# Lines "wall_ms seq host", one per acknowledged write. A drill reads only
# what was appended since WOFF (taken ~2 s before the fault).
WOFF=0
wlog() { tail -c +"$((WOFF + 1))" "$CL_DIR/writer.log" 2>/dev/null; }
wlog_size() { stat -c %s "$CL_DIR/writer.log" 2>/dev/null || echo 0; }
writer_alive() { [ -n "$WRITER_PID" ] && kill -0 "$WRITER_PID" 2>/dev/null; }

# wstate T0 NOW: "outage resumed_at last_ack" over the acknowledged writes
# from the last one before T0 on: outage = 1 if a gap > GAP_MS has begun
# (between two writes, or from the last write to NOW); resumed_at = the
# first write after the last such gap (0: not resumed); last_ack = the last
# write (0: none)
wstate() {
	wlog | awk -v f="$1" -v now="$2" -v thr="$GAP_MS" '
		NF < 3 { next }
		$1 < f { prev = $1; next }
		{ from = (prev != "" ? prev : f)
		  if ($1 - from > thr) { outage = 1; resumed = $1 }
		  prev = $1 }
		END {
			last = (prev != "" ? prev : 0)
			if (now - (last ? last : f) > thr) { outage = 1; resumed = 0 }
			printf "%d %.0f %.0f\n", outage, resumed, last }'
}

# gap FROM TO: "rto downtime" (ms): the longest gap between two acknowledged
# writes in [FROM, TO] (the first one measured from the last write before
# FROM), and FROM -> the write that ended it
gap() {
	wlog | awk -v f="$1" -v t="$2" '
		NF < 3 { next }
		$1 < f { prev = $1; next }
		$1 > t { exit }
		{ from = (prev != "" ? prev : f); g = $1 - from
		  if (g > best) { best = g; end = $1 }
		  prev = $1; any = 1 }
		END { if (!any) { print "-1 -1"; exit } print end - f, best }'
}

# writes_flowing S: bounded wait until the writer has acknowledged a write
# within the last GAP_MS
writes_flowing() {
	local deadline k st now
	deadline=$(($(date +%s) + $1))
	for k in $(seq 1 $(($1 * 4))); do
		[ "$(date +%s)" -lt "$deadline" ] || break
		writer_alive || return 1
		now=$(now_ms)
		st=$(tail -1 "$CL_DIR/writer.log" 2>/dev/null | awk 'NF >= 3 && $1 ~ /^[0-9]+$/ {print $1}')
		[ -n "$st" ] && [ $((now - st)) -le "$GAP_MS" ] && return 0
		sleep 0.25
	done
	return 1
}

# ---- measuring ------------------------------------------------------------------
record_ok() { echo "drill|$TOOL|$PROFILE|$1|$2|$3" >>"$RESULTS"; }
record_fail() {
	echo "fail|$TOOL|$PROFILE|$1|$2" >>"$RESULTS"
	echo "# $TOOL $PROFILE $1: no figure: $2" >&2
}

# wait_writes T0 S: bounded (S seconds) wait until an outage has been seen
# since T0 and writes have flowed again for SETTLE_MS since it (returns at
# once if that is already so). Sets WHY and returns 1 on failure.
wait_writes() {
	local t0=$1 lim=$2 deadline k now outage resumed last
	deadline=$(($(date +%s) + lim))
	WHY=""
	for k in $(seq 1 $((lim * 4))); do
		[ "$(date +%s)" -lt "$deadline" ] || break
		writer_alive || { WHY="the writer exited"; return 1; }
		now=$(now_ms)
		read -r outage resumed last <<<"$(wstate "$t0" "$now")"
		[ "$outage" = 1 ] && [ "$resumed" != 0 ] && [ $((now - last)) -le "$GAP_MS" ] &&
			[ $((now - resumed)) -ge "$SETTLE_MS" ] && return 0
		[ "$outage" != 1 ] && [ "$last" != 0 ] && [ $((now - last)) -le "$GAP_MS" ] &&
			[ $((now - t0)) -ge "$SHORT_OUTAGE_MS" ] && return 0
		sleep 0.25
	done
	read -r outage resumed last <<<"$(wstate "$t0" "$(now_ms)")"
	if [ "$outage" != 1 ]; then
		WHY="no write gap > $GAP_MS ms within $lim s of the fault"
	elif [ "$resumed" = 0 ]; then
		WHY="writes did not resume within $lim s"
	else
		WHY="writes did not flow for $((SETTLE_MS / 1000)) s without a gap within $lim s"
	fi
	return 1
}

# rest_state: each node's /primary and /replica answers, for the notes
rest_state() {
	local i out=""
	for i in 1 2 3; do out+="node$i $(cluster_status "$i" /primary)/$(cluster_status "$i" /replica) "; done
	echo "REST /primary,/replica: ${out% }"
}

NEED_REBUILD=0
note() {
	echo "note|$TOOL|$PROFILE|$1|$2" >>"$RESULTS"
	echo "# $TOOL $PROFILE $1: note: $2" >&2
}

drill() {
	local kind=$1 p t0 pids pg rto down code conv=1 thaw_ms=""
	# the same starting point for every run of both tools: one primary, two
	# replicas, and the writer acknowledging writes; a cluster that does not
	# get there is rebuilt (once) rather than failing every later run
	if ! wait_converged 120; then
		note "$kind" "not converged before the fault within 120 s ($(rest_state)); cluster rebuilt before this run"
		rebuild || { record_fail "$kind" "rebuild failed: $SETUP_WHY"; return 1; }
	fi
	if ! wait_converged 240; then record_fail "$kind" "not converged before the fault (240 s)"; NEED_REBUILD=1; return 1; fi
	if ! writes_flowing 60; then record_fail "$kind" "writer not writing before the fault (60 s)"; NEED_REBUILD=1; return 1; fi
	p=$(cluster_wait_primary 10) || { record_fail "$kind" "no primary before the fault"; return 1; }
	WOFF=$(wlog_size)
	nap 2
	t0=$(now_ms)
	case "$kind" in
		node-crash)
			pg=$(pg_pids "$p")
			[ -n "$pg" ] || { record_fail "$kind" "no postmaster.pid on node$p"; return 1; }
			# every process of the node at once
			pids="$(proc_tree "${DPID[$p]}" | tr '\n' ' ') $pg"
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
			DPID[$p]=""
			cluster_wait_primary 120 "$p" >/dev/null
			nap 1
			start_daemon "$p" ;;
		pg-crash)
			pids=$(pm_of "$p")
			[ -n "$pids" ] || { record_fail "$kind" "no postmaster.pid on node$p"; return 1; }
			kill -KILL "$pids" || { record_fail "$kind" "kill of postmaster $pids failed"; return 1; } ;;
		freeze)
			# the whole node, as a paused VM: the daemon and everything
			# under it (pgwarden's fence watchdog, Patroni's runuser and
			# python), PostgreSQL and each backend; PostgreSQL thaws first
			pg=$(pg_pids "$p")
			pids="$(proc_tree "${DPID[$p]}" | tr '\n' ' ') $pg"
			# shellcheck disable=SC2086
			kill -STOP $pids 2>/dev/null
			nap $((CLUSTER_TTL + 3))
			thaw_ms=$(now_ms)
			# shellcheck disable=SC2086
			kill -CONT $pg 2>/dev/null
			# shellcheck disable=SC2086
			kill -CONT $pids 2>/dev/null ;;
		switchover)
			code=$(curl -s -m 60 -u "$CL_REST_USER:$CL_REST_PASS" -o "$CL_DIR/switchover.out" -w '%{http_code}' -X POST \
				-H 'Content-Type: application/json' \
				-d "{\"leader\": \"node$p\"}" "http://127.0.0.1:${CL_API_PORT[$p]}/switchover")
			if [ "$code" != 200 ]; then
				record_fail "$kind" "POST /switchover answered HTTP $code: $(head -c 120 "$CL_DIR/switchover.out" 2>/dev/null | tr '\n|' '  ')"
				return 1
			fi ;;
	esac
	# the figure: writes back (an outage seen, then SETTLE_MS of writes)
	if ! wait_writes "$t0" "$RECOVER_S"; then
		record_fail "$kind" "$WHY"
		NEED_REBUILD=1
		return 1
	fi
	# then the cluster whole again (1 primary + 2 replicas on the REST API)
	# before the window closes; if it does not get there, the figure stands
	# (writes were back) with a note, and the next run gets a fresh cluster
	if ! wait_converged "$RECOVER_S"; then
		conv=0
		note "$kind" "writes resumed but the cluster did not reconverge within $RECOVER_S s ($(rest_state)); figure kept, cluster rebuilt for the next run"
		NEED_REBUILD=1
	fi
	nap 2
	# writes still flowing (returns at once unless a new outage began)
	if ! wait_writes "$t0" 60; then
		record_fail "$kind" "writes stopped again after the recovery: $WHY"
		NEED_REBUILD=1
		return 1
	fi
	read -r rto down <<<"$(gap "$t0" "$(now_ms)")"
	if [ "$rto" = -1 ]; then record_fail "$kind" "no acknowledged write after the fault"; return 1; fi
	record_ok "$kind" "$rto" "$down"
	# what the thawed old primary did: the writer's acks on it after SIGCONT
	if [ -n "$thaw_ms" ]; then
		echo "thaw|$TOOL|$PROFILE|$(wlog | awk -v t="$thaw_ms" -v h="127.0.0.1:${CL_PG_PORT[$p]}" '$1 >= t && $3 == h' | wc -l)" >>"$RESULTS"
	fi
	echo "# $TOOL $PROFILE $kind: rto=${rto} ms downtime=${down} ms$([ "$conv" = 1 ] || echo " (not reconverged)")" >&2
}

steady_state() {
	local tool=$1 profile=$2 i pid rss=0 t0=0 t1 r hz
	hz=$(getconf CLK_TCK)
	declare -a c0 p0 wd0 wdp
	for i in 1 2 3; do
		pid=$(daemon_pid "$i")
		p0[$i]=$pid
		wdp[$i]=$( [ "$tool" = pgwarden ] && pgrep -P "$pid" -x pgwarden-fence | head -1)
		wd0[$i]=$( [ -n "${wdp[$i]}" ] && awk '{print $14 + $15}' "/proc/${wdp[$i]}/stat" 2>/dev/null || echo 0)
		c0[$i]=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
		[ -n "${c0[$i]}" ] || { echo "steadyfail|$tool|$profile|daemon of node$i not running" >>"$RESULTS"; return 1; }
	done
	nap "$steady_s"
	for i in 1 2 3; do
		pid=$(daemon_pid "$i")
		[ "$pid" = "${p0[$i]}" ] || { echo "steadyfail|$tool|$profile|daemon of node$i restarted during the sample" >>"$RESULTS"; return 1; }
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
		r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		[ -n "$t1" ] && [ -n "$r" ] || { echo "steadyfail|$tool|$profile|daemon of node$i gone during the sample" >>"$RESULTS"; return 1; }
		t0=$((t0 + t1 - ${c0[$i]}))
		rss=$((rss + r))
		[ -n "${wdp[$i]}" ] && wd0[$i]=$(( $(awk '{print $14 + $15}' "/proc/${wdp[$i]}/stat" 2>/dev/null || echo "${wd0[$i]}") - ${wd0[$i]} ))
	done
	# per daemon: mean RSS (MiB) and CPU s per minute
	echo "steady|$tool|$profile|$(awk -v r="$rss" 'BEGIN{printf "%.1f", r/3/1024}')|$(awk -v t="$t0" -v hz="$hz" -v s="$steady_s" 'BEGIN{printf "%.2f", t/hz/3*60/s}')" >>"$RESULTS"
	# pgwarden's fence watchdog (a fork of the daemon: its RSS is mostly
	# shared, so PSS too), apart
	if [ "$tool" = pgwarden ]; then
		local wrss=0 wpss=0 wcpu=0 wd
		for i in 1 2 3; do
			wd=$(pgrep -P "${p0[$i]}" -x pgwarden-fence | head -1)
			[ -n "$wd" ] || continue
			wrss=$((wrss + $(awk '/^VmRSS/ {print $2}' "/proc/$wd/status" 2>/dev/null || echo 0)))
			wpss=$((wpss + $(awk '/^Pss:/ {print $2}' "/proc/$wd/smaps_rollup" 2>/dev/null || echo 0)))
			wcpu=$((wcpu + ${wd0[$i]:-0}))
		done
		echo "fence|$tool|$profile|$(awk -v r="$wrss" 'BEGIN{printf "%.1f", r/3/1024}')|$(awk -v r="$wpss" 'BEGIN{printf "%.1f", r/3/1024}')|$(awk -v t="$wcpu" -v hz="$hz" -v s="$steady_s" 'BEGIN{printf "%.2f", t/hz/3*60/s}')" >>"$RESULTS"
	fi
}

echo "# $(date -u '+%F %T') UTC start; load: $(cut -d' ' -f1-3 /proc/loadavg); runs=$runs profiles=$profiles drills=$drills" >&2
# start_writer: the writer against the current cluster (its own log per cluster)
start_writer() {
	"$WRITER" --hosts "$(hosts)" --acked "$CL_DIR/acked.txt" --interval-ms 10 \
		--client-timeout-ms 1000 --duration-s 7200 --log "$CL_DIR/writer.log" write \
		>"$CL_DIR/writer.out" 2>&1 &
	WRITER_PID=$!
}

stop_cluster() {
	if [ -n "$WRITER_PID" ]; then
		kill "$WRITER_PID" 2>/dev/null
		wait "$WRITER_PID" 2>/dev/null
	fi
	WRITER_PID=""
	stop_all
	cluster_cleanup
	CL_DIR=""
	# shellcheck disable=SC2034 # read by tests/lib/cluster.sh
	CL_ETCD_PID=""
}

# rebuild: a fresh cluster of the same tool and profile (new directory) and
# writer, when the last one did not reconverge
GEN=1
rebuild() {
	echo "# $TOOL $PROFILE: rebuilding the cluster" >&2
	stop_cluster
	GEN=$((GEN + 1))
	NEED_REBUILD=0
	SETUP_WHY=""
	setup "$TOOL" "$PROFILE" "$GEN" || return 1
	start_writer
}

# ctx_save NAME / ctx_load NAME: both clusters run at once; the harness's
# variables (cluster.sh's CL_* and this file's) are swapped per tool
CTX_VARS="CL_DIR CL_N CL_ETCD_N CL_ETCD_PORT CL_ETCD_PEER_PORT CL_ETCD_PID CL_ETCD_HOST CL_ETCD_CPORT CL_ETCD_PPORT CL_EPID CL_PG_HOST CL_PG_PORT CL_API_HOST CL_API_PORT CL_PID CL_STARTED DPID WRITER_PID TOOL CLUSTER_TTL GEN NEED_REBUILD SETUP_WHY WOFF READY"
ctx_save() {
	# shellcheck disable=SC2086
	declare -p $CTX_VARS 2>/dev/null | sed 's/^declare -/declare -g -/' >"$BASE/ctx.$1"
}
ctx_load() { source "$BASE/ctx.$1"; }

for PROFILE in $profiles; do
	for tool in pgwarden patroni; do
		TOOL=$tool
		SETUP_WHY=""
		GEN=1
		NEED_REBUILD=0
		READY=1
		WRITER_PID=""
		if ! setup "$tool" "$PROFILE" "$GEN"; then
			echo "steadyfail|$tool|$PROFILE|setup: $SETUP_WHY" >>"$RESULTS"
			READY=0
		fi
		ctx_save "$tool"
	done
	# steady state with both clusters up (each beside the other, alike)
	for tool in pgwarden patroni; do
		ctx_load "$tool"
		[ "$READY" = 1 ] && steady_state "$tool" "$PROFILE"
	done
	for tool in pgwarden patroni; do
		ctx_load "$tool"
		[ "$READY" = 1 ] && start_writer
		ctx_save "$tool"
	done
	for kind in $drills; do
		for r in $(seq 1 "$runs"); do
			# alternate which tool goes first in each run
			if [ $((r % 2)) = 1 ]; then order="pgwarden patroni"; else order="patroni pgwarden"; fi
			for tool in $order; do
				ctx_load "$tool"
				if [ "$READY" != 1 ]; then
					record_fail "$kind" "setup: $SETUP_WHY"
				elif [ "$NEED_REBUILD" = 1 ] && ! rebuild; then
					record_fail "$kind" "rebuild failed: $SETUP_WHY"
				else
					drill "$kind"
				fi
				ctx_save "$tool"
			done
		done
	done
	for tool in pgwarden patroni; do
		ctx_load "$tool"
		stop_cluster
		ctx_save "$tool"
	done
done
echo "# $(date -u '+%F %T') UTC end; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2


report "$RESULTS"
[ -n "${PGW_BENCH_KEEP:-}" ] && echo "kept: $BASE (raw rows: $RESULTS)"
true
