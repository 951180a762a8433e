#!/usr/bin/env bash
# bench_routing.sh: how soon clients write to a new primary, on a real local
# 3-node cluster (etcd + 3 daemons + PostgreSQL 15, fast profile) with the
# routing stack of tests/integration/routing_stack.sh: a PgBouncer and an
# HAProxy driven by pgwarden-router, and, in the same HAProxy, a backend
# polling the daemons' REST API alone as Patroni recommends (option httpchk
# GET /primary, http-check expect status 200, inter 3s fall 3 rise 2),
# with the same HAProxy settings as the router's backends (retries 3,
# option redispatch 1, timeout connect 2s), so the ratio measures the
# router, not different defaults.
# Each run crashes the primary (SIGKILL of its daemon and of every
# PostgreSQL process of it; --scenario switchover: pgwardenctl switchover
# instead) while client loops (bench_routing_probe, every 50 ms; 3 through
# PgBouncer on fresh connections; 5 through each HAProxy backend on kept
# connections, giving an attempt up after 400, 500, ... 800 ms, so that
# their retries, which the fault starts together, soon fall apart) write
# through each path, then measures on the wall clock:
#   - promotion (the new leader's "pg.promoted") -> first acknowledged
#     write on the new primary through PgBouncer + router, HAProxy + router
#     and HAProxy polling alone (the earliest of the path's loops);
#   - the serving routing table ("routing.published state=serving") -> first
#     write, for the two router paths.
# The old node is restarted and rejoins before the next run. Prints every
# run, then median and max per path and the ratio polling / router.
# Usage: bash bench/bench_routing.sh [--runs N] [--scenario crash|switchover]
#                                    [--profile fast|default]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
runs=5
scenario=crash
profile=fast
while [ $# -gt 0 ]; do
	case "$1" in
		--runs) runs=$2; shift 2 ;;
		--scenario) scenario=$2; shift 2 ;;
		--profile) profile=$2; shift 2 ;;
		*) echo "usage: $0 [--runs N] [--scenario crash|switchover] [--profile fast|default]" >&2; exit 2 ;;
	esac
done
case "$scenario" in crash | switchover) ;; *) echo "unknown scenario $scenario" >&2; exit 2 ;; esac
[ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || {
	echo "build first: cmake -S . -B build && cmake --build build" >&2
	exit 2
}
source "$root/tests/lib/cluster.sh"
source "$root/tests/integration/routing_stack.sh"
rs_check_deps || exit 2

DIR=$(mktemp -d /tmp/pgw-bench-routing-XXXXXX)
trap 'rs_stop_all; cluster_cleanup' EXIT
now_ms() { date +%s%3N; }
# wait_until SECONDS CMD...: poll CMD every 100 ms
wait_until() {
	local deadline=$(($(date +%s) + $1))
	shift
	while [ "$(date +%s)" -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
# poll_only_up I: in the polling backend only node I is up (srv_op_state 2)
poll_only_up() {
	local up
	up=$(rs_haproxy_cmd "show servers state pg_rw_poll" | awk '$2 == "pg_rw_poll" && $6 == 2 {print $4}')
	[ "$up" = "node$1" ]
}

echo "# bench_routing: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), profile $profile, scenario $scenario, $runs runs"
cluster_init "$DIR" 3 "$profile"
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120) || { echo "no leader" >&2; exit 1; }
wait_until 180 cluster_has_replicas 2 || { echo "no replicas" >&2; exit 1; }
rs_setup_app "$leader" || exit 1
rs_start poll || exit 1

PATHS="pgb hap poll"
loops() { if [ "$1" = pgb ]; then echo 1 2 3; else echo 1 2 3 4 5; fi; }
declare -A CONN LABEL
CONN[pgb]=$(rs_conn_pgb rw)
CONN[hap]=$(rs_conn_hap "$RS_HAP_RW")
CONN[poll]=$(rs_conn_hap "$RS_HAP_POLL")
LABEL[pgb]="PgBouncer + router"
LABEL[hap]="HAProxy + router"
LABEL[poll]="HAProxy polling REST alone (same settings as the router's backends: retries 3, redispatch, inter 3s fall 3 rise 2)"
declare -A RES # RES[path,kind] = "v1 v2 ...", kind: promo, pub
declare -a PROBE_PIDS

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -n | tail -1; }

for run in $(seq 1 "$runs"); do
	leader=$(cluster_wait_primary 60) || { echo "run $run: no leader" >&2; break; }
	if ! wait_until 180 cluster_has_replicas 2 || ! wait_until 60 rs_routers_serve "node$leader" 2 ||
		! wait_until 60 poll_only_up "$leader"; then
		echo "run $run: the cluster did not settle (replicas, routers, polling backend); stopping" >&2
		break
	fi
	rdir=$DIR/run$run
	mkdir -p "$rdir"
	PROBE_PIDS=()
	for p in $PATHS; do
		for k in $(loops "$p"); do
			# PgBouncer holds its clients until the RESUME: one long attempt
			# measures it. An HAProxy client whose attempt went to the dead
			# primary waits out HAProxy's retries (1 s turn-around each): the
			# loop gives up and connects again, so the figure is when a new
			# connection first reaches the new primary. The crash breaks
			# every loop's connection at once; different give-up times
			# spread their next attempts so that one starts soon after the
			# flip.
			extra="--timeout-ms $((300 + 100 * k))"
			[ "$p" = pgb ] && extra="--fresh --timeout-ms 20000"
			# shellcheck disable=SC2086
			rs_bg "$rdir/$p$k.sum" "$RS_PROBE" --conninfo "${CONN[$p]}" --interval-ms 50 \
				--duration-s 120 --log "$rdir/$p$k.log" $extra
			PROBE_PIDS+=("$RS_LAST_PID")
			sleep 0.01
		done
	done
	probing() {
		local p k
		for p in $PATHS; do for k in $(loops "$p"); do
			[ "$(rs_oks_after "$rdir/$p$k.log" 0)" -ge 3 ] || return 1
		done; done
	}
	wait_until 30 probing || echo "run $run: a client loop does not write before the fault" >&2
	if [ "$scenario" = crash ]; then
		rs_crash_node "$leader" >/dev/null
	else
		cand=""
		for i in 1 2 3; do [ "$i" != "$leader" ] && [ -z "$cand" ] && cand=$i; done
		(exec env PGUSER=postgres PGPASSWORD=pgw-super PGWARDEN_RESTAPI_USERNAME="$CL_REST_USER" \
			PGWARDEN_RESTAPI_PASSWORD="$CL_REST_PASS" "$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" \
			--scope "$CL_SCOPE" switchover --leader "node$leader" --candidate "node$cand" --force \
			--timeout 30s >"$rdir/switchover.out" 2>&1) &
		PROBE_PIDS+=($!)
	fi
	fault_ms=$(now_ms)
	new=$(cluster_wait_primary 60 "$leader")
	if [ -z "$new" ]; then
		echo "run $run: no new primary within 60 s" >&2
		for p in "${PROBE_PIDS[@]}"; do rs_stop_pid "$p"; done
		break
	fi
	newport=${CL_PG_PORT[$new]}
	reached() {
		local p k
		for p in $PATHS; do
			local any=""
			for k in $(loops "$p"); do [ -n "$(rs_first_ok "$rdir/$p$k.log" "$newport" "$fault_ms")" ] && any=1; done
			[ -n "$any" ] || return 1
		done
	}
	wait_until 60 reached
	for p in "${PROBE_PIDS[@]}"; do rs_stop_pid "$p"; done
	promo=$(rs_event_after_ms "$new" "event=pg.promoted " "$fault_ms")
	pub=$(rs_published_ms "$new" serving "${promo:-$fault_ms}")
	if [ -z "$promo" ] || [ -z "$pub" ]; then
		echo "run $run: node$new's log lacks pg.promoted or the serving table; run dropped" >&2
		[ "$scenario" = crash ] && cluster_start_node "$leader"
		continue
	fi
	line="run $run: node$leader -> node$new: fault -> promoted $((promo - fault_ms)) ms, promoted -> serving table $((pub - promo)) ms; first write after promotion / after the table:"
	for p in $PATHS; do
		first=""
		for k in $(loops "$p"); do
			w=$(rs_first_ok "$rdir/$p$k.log" "$newport" "$fault_ms")
			[ -n "$w" ] && { [ -z "$first" ] || [ "$w" -lt "$first" ]; } && first=$w
		done
		if [ -z "$first" ]; then
			line+=" $p none"
			continue
		fi
		RES[$p, promo]+="$((first - promo)) "
		if [ "$p" = poll ]; then
			line+=" $p $((first - promo))"
		else
			RES[$p, pub]+="$((first - pub)) "
			line+=" $p $((first - promo))/$((first - pub))"
		fi
	done
	echo "$line ms"
	if [ "$scenario" = crash ]; then
		cluster_start_node "$leader"
	fi
done

echo
echo "# first acknowledged write on the new primary ($scenario, ms; median / max of the runs that reached it)"
printf '%-55s %16s %16s %6s\n' "path" "after promotion" "after the table" "runs"
for p in $PATHS; do
	n=$(wc -w <<<"${RES[$p, promo]:-}")
	a="$(median <<<"${RES[$p, promo]:-}") / $(maxof <<<"${RES[$p, promo]:-}")"
	b="-"
	[ "$p" != poll ] && b="$(median <<<"${RES[$p, pub]:-}") / $(maxof <<<"${RES[$p, pub]:-}")"
	printf '%-55s %16s %16s %6s\n' "${LABEL[$p]}" "$a" "$b" "$n"
done
mp=$(median <<<"${RES[poll, promo]:-}")
for p in pgb hap; do
	m=$(median <<<"${RES[$p, promo]:-}")
	if [ "$mp" != - ] && [ "$m" != - ] && [ "$m" -gt 0 ]; then
		echo "ratio polling / ${LABEL[$p]} (medians after promotion): $(awk -v a="$mp" -v b="$m" 'BEGIN {printf "%.1f", a / b}')x"
	fi
done
