#!/usr/bin/env bash
# test_monitoring_cluster.sh: monitoring end to end (issue 20) with real
# processes on loopback: one etcd, three pgwarden daemons with PostgreSQL 15
# (fast profile), a PgBouncer and an HAProxy each with a pgwarden-router
# serving metrics_listen, and Debian's Prometheus 2.42 (scrape and rule
# evaluation every 1 s) sending to Debian's Alertmanager 0.25, with the
# shipped deploy/prometheus/pgwarden.rules.yml whose `for:` are set to 5 s.
#   0. every target is up; every /metrics passes `promtool check metrics`
#      (HELP and TYPE on every family); the families seen live are exactly
#      the inventory the rule and dashboard checks use; every metric the
#      README names exists; list, GET /patroni and /metrics agree per node
#   1. a switchover while /metrics of every node is flooded by 6 scrapers
#      (back to back, each on a kept connection):
#      every scrape answers 200 (latency printed), the HA loop keeps
#      turning, the switchover counter goes up by one on every node's view,
#      `pgwardenctl list --watch 60` shows the new leader at once, the
#      info alert reaches Alertmanager, no split-brain or no-leader alert
#   2. a replica's PostgreSQL stopped (cluster paused, so it stays down):
#      the leader's /metrics shows it not streaming (a 0), and
#      PgwardenReplicaNotStreaming reaches Alertmanager within for + one
#      scrape + one evaluation interval (+1 s) of that; both delays, from
#      the stop, are printed
#   3. PgBouncer saturated: 9 held connections of pool_size 10 (90 %):
#      PgbouncerPoolUtilizationHigh reaches Alertmanager, Critical (> 90 %)
#      does not
#   4. PgBouncer frozen (SIGSTOP): the router's /metrics answers at once,
#      pgwarden_router_target_up says 0, the unreadable-target alert
#      reaches Alertmanager; after SIGCONT it is back to 1
# Delays and latencies are printed for the README; every process started
# is stopped at exit.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$here/routing_stack.sh"
rs_check_deps || exit 1
for p in prometheus prometheus-alertmanager promtool; do
	command -v "$p" >/dev/null || { echo "$p is missing: bash scripts/install-deps.sh" >&2; exit 1; }
done
PG_CTL=$PG_BIN_DIR/pg_ctl

DIR=$(mktemp -d /tmp/pgw-it-mon-XXXXXX)
WATCH_PID=""
declare -a FLOOD=()
cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	for p in "${FLOOD[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${PGB_PID:-}" ] && kill -CONT "$PGB_PID" 2>/dev/null
	rs_stop_all
	if [ $failures -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then
		rs_dump_logs 15
		echo "---- prometheus.log (tail)"
		tail -n 15 "$DIR/prometheus.log" 2>/dev/null
		echo "---- alertmanager.log (tail)"
		tail -n 15 "$DIR/alertmanager.log" 2>/dev/null
	fi
	tap_dump_logs "$DIR" 3 25
	cluster_cleanup
}
trap cleanup EXIT

FOR_S=5           # every alert's `for` in this test
SCRAPE_S=1        # scrape and evaluation interval

# ---- cluster, routers, Prometheus, Alertmanager ---------------------------
cluster_init "$DIR" 3 fast
cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
leader=$(cluster_wait_primary 120)
check "cluster up" test -n "$leader"
[ -n "$leader" ] || exit 1
check "two replicas" wait_for 120 cluster_has_replicas 2
check "application role created" rs_setup_app "$leader"
RS_METRICS=1
check "PgBouncer, HAProxy and their routers start" rs_start
check "routers serve node$leader" wait_for 60 rs_routers_serve "node$leader" 2

PROM_PORT=$(cl_pick_port)
AM_PORT=$(cl_pick_port)
mkdir -p "$DIR/prom"
# the alerts this test measures wait FOR_S; the others keep their own `for`
# (a switchover on this loaded machine can leave no leader for more than
# 5 s, which the shipped 1m of PgwardenNoLeader rightly ignores)
short=""
for a in PgwardenReplicaNotStreaming PgbouncerPoolUtilizationHigh PgbouncerPoolUtilizationCritical \
	PgwardenRouterTargetUnreadable PgwardenMultiplePrimaries; do
	short+="/alert: $a\$/,/for:/ s/for: .*/for: ${FOR_S}s/;"
done
sed -E "$short" "$root/deploy/prometheus/pgwarden.rules.yml" >"$DIR/prom/pgwarden.rules.yml"
check "the test's rules differ from the shipped ones in five for: only" \
	bash -c "diff <(grep -v 'for:' '$root/deploy/prometheus/pgwarden.rules.yml') <(grep -v 'for:' '$DIR/prom/pgwarden.rules.yml') >/dev/null && [ \$(grep -c 'for: ${FOR_S}s' '$DIR/prom/pgwarden.rules.yml') = 5 ]"
daemons=""
for i in 1 2 3; do daemons+="'127.0.0.1:${CL_API_PORT[$i]}',"; done
cat >"$DIR/prom/prometheus.yml" <<YML
global:
  scrape_interval: ${SCRAPE_S}s
  scrape_timeout: ${SCRAPE_S}s
  evaluation_interval: ${SCRAPE_S}s
rule_files: [pgwarden.rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$AM_PORT']}]
scrape_configs:
  - job_name: pgwarden
    static_configs: [{targets: [${daemons%,}]}]
  - job_name: pgwarden-router
    static_configs: [{targets: ['127.0.0.1:${RS_METRICS_PORT[r-pgb]}', '127.0.0.1:${RS_METRICS_PORT[r-hap]}']}]
YML
cat >"$DIR/prom/alertmanager.yml" <<YML
route: {receiver: none, group_wait: 0s, group_interval: 1s}
receivers: [{name: none}]
YML
check "promtool check config (test configuration)" promtool check config "$DIR/prom/prometheus.yml"
# no cluster port (9094): one Alertmanager, nothing on default ports
rs_bg "$DIR/alertmanager.log" prometheus-alertmanager --config.file="$DIR/prom/alertmanager.yml" \
	--storage.path="$DIR/prom/am" --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address=
rs_bg "$DIR/prometheus.log" prometheus --config.file="$DIR/prom/prometheus.yml" \
	--storage.tsdb.path="$DIR/prom/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"

prom_query() { # PROMQL: the result vector as JSON
	curl -s -m 3 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'
}
targets_up() {
	[ "$(curl -s -m 3 "http://127.0.0.1:$PROM_PORT/api/v1/targets" |
		jq '[.data.activeTargets[] | select(.health == "up")] | length')" = 5 ]
}
# am_has ALERTNAME [LABEL VALUE]: Alertmanager holds that active alert
am_has() {
	curl -s -m 2 "http://127.0.0.1:$AM_PORT/api/v2/alerts?active=true" |
		jq -e --arg a "$1" --arg k "${2:-alertname}" --arg v "${3:-$1}" \
			'[.[] | select(.labels.alertname == $a and .labels[$k] == $v)] | length > 0' >/dev/null
}
# wait_am TIMEOUT_S ALERTNAME [LABEL VALUE]: ms until it is there, or fail
wait_am() {
	local t=$1
	shift
	local start deadline
	start=$(now_ms)
	deadline=$((start + t * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		if am_has "$@"; then
			echo $(($(now_ms) - start))
			return 0
		fi
		sleep 0.1
	done
	return 1
}
check "Prometheus scrapes all 5 targets (3 daemons, 2 routers)" wait_for 60 targets_up
check "Alertmanager answers" wait_for 30 bash -c "curl -sf http://127.0.0.1:$AM_PORT/api/v2/status >/dev/null"

# ---- 0. the metrics themselves --------------------------------------------
scrape_all() { # DIR: every target's /metrics into DIR/<n>.txt
	local i
	mkdir -p "$1"
	for i in 1 2 3; do curl -s -m 3 "http://127.0.0.1:${CL_API_PORT[$i]}/metrics" >"$1/node$i.txt"; done
	curl -s -m 3 "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics" >"$1/r-pgb.txt"
	curl -s -m 3 "http://127.0.0.1:${RS_METRICS_PORT[r-hap]}/metrics" >"$1/r-hap.txt"
}
pools_read() { curl -s -m 2 "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics" | grepq -q '^pgwarden_pgbouncer_pool_size{'; }
check "the PgBouncer router has read the pools" wait_for 30 pools_read
scrape_all "$DIR/scrape0"
check "promtool check metrics fails on a sample without HELP (the checker can fail)" \
	bash -c "! printf 'x 1\n' | promtool check metrics >/dev/null 2>&1"
for f in "$DIR"/scrape0/*.txt; do
	n=$(basename "$f" .txt)
	check "$n: /metrics passes promtool check metrics" bash -c "[ -s '$f' ] && promtool check metrics <'$f' >'$f.lint' 2>&1"
	check "$n: every family has # HELP and # TYPE before its samples" awk '
		/^# HELP / {h[$3] = 1; next} /^# TYPE / {t[$3] = 1; next} /^#/ || /^$/ {next}
		{ n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
		  if (!((h[n] && t[n]) || (h[b] && t[b]))) { print "no HELP/TYPE: " n; bad = 1 } }
		END { exit bad }' "$f"
done
live=$(cat "$DIR"/scrape0/*.txt | sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' | sort -u)
inventory=$({ "$PGW_BUILD_DIR/tests/test_daemon_metrics" --families; "$PGW_BUILD_DIR/tests/test_routing_exporter" --families; } |
	cut -d' ' -f1 | sort -u)
only_live=$(comm -23 <(echo "$live") <(echo "$inventory") | tr '\n' ' ')
only_inv=$(comm -13 <(echo "$live") <(echo "$inventory") | tr '\n' ' ')
check "live families = the inventory the rule and dashboard checks use (live only: ${only_live:-none}; never seen: ${only_inv:-none})" \
	test -z "$only_live$only_inv"
# readme_missing FILE...: metric names in the files that no target exports
readme_missing() {
	local name base out=""
	for name in $(sed -n '/^## Logs and metrics/,/^## /p' "$@" | grep -oE '`(pgwarden|patroni)_[a-z0-9_]+' | tr -d '`' | sort -u); do
		base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
		grep -qx "$name" <<<"$live" || grep -qx "$base" <<<"$live" || out+=" $name"
	done
	echo "$out"
}
missing=$(readme_missing "$root/README.md")
n_named=$(sed -n '/^## Logs and metrics/,/^## /p' "$root/README.md" | grep -oE '`(pgwarden|patroni)_[a-z0-9_]+' | sort -u | wc -l)
check "every metric the README names ($n_named) is on a live /metrics (missing:${missing:- none})" \
	bash -c "[ $n_named -ge 20 ] && [ -z '$missing' ]"
printf '## Logs and metrics\n`pgwarden_no_such_metric`\n## next\n' >"$DIR/fake-readme.md"
missing=$(readme_missing "$DIR/fake-readme.md")
check "a README naming a metric nobody exports is caught (found:${missing:- nothing})" test "$missing" = " pgwarden_no_such_metric"

# agree I: list (member key), GET /patroni and /metrics of node I tell the
# same role, timeline and pending restart
agree() {
	local i=$1 lj pj m l_tl l_pr l_lead p_tl p_pr p_role m_tl m_pr m_lead
	lj=$(cluster_ctl list --format json 2>/dev/null) || return 1
	pj=$(curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$i]}/patroni") || return 1
	m=$(curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$i]}/metrics") || return 1
	l_tl=$(jq -r --arg n "node$i" '.members[] | select(.member == $n) | .timeline' <<<"$lj")
	l_pr=$(jq -r --arg n "node$i" '.members[] | select(.member == $n) | .pending_restart' <<<"$lj")
	l_lead=$(jq -r --arg n "node$i" '.leader == $n' <<<"$lj")
	p_tl=$(jq -r '.timeline' <<<"$pj")
	p_pr=$(jq -r '.pending_restart // false' <<<"$pj")
	p_role=$(jq -r '.role' <<<"$pj")
	m_tl=$(awk '/^pgwarden_postgres_timeline\{/ {print $2}' <<<"$m")
	m_pr=$(awk '/^pgwarden_pending_restart\{/ {print ($2 == 1 ? "true" : "false")}' <<<"$m")
	m_lead=$(awk '/^pgwarden_leader\{/ {print ($2 == 1 ? "true" : "false")}' <<<"$m")
	AGREE="node$i: list tl=$l_tl pending=$l_pr leader=$l_lead; /patroni tl=$p_tl pending=$p_pr role=$p_role; /metrics tl=$m_tl pending=$m_pr leader=$m_lead"
	[ -n "$l_tl" ] && [ "$l_tl" = "$p_tl" ] && [ "$p_tl" = "$m_tl" ] &&
		[ "$l_pr" = "$p_pr" ] && [ "$p_pr" = "$m_pr" ] && [ "$l_lead" = "$m_lead" ] &&
		{ { [ "$m_lead" = true ] && [ "$p_role" = primary ]; } ||
			{ [ "$m_lead" = false ] && [ "$p_role" = replica ]; }; }
}
for i in 1 2 3; do
	AGREE=""
	wait_for 30 agree "$i"
	check "0: list, /patroni and /metrics agree on node$i ($AGREE)" test $? -eq 0
done

# ---- 1. switchover under a scrape flood -----------------------------------
sw_total() { # I: node I's switchover counter
	curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$1]}/metrics" |
		awk '/^pgwarden_switchovers_total\{.*reason="switchover-candidate-promote"/ {print $2}'
}
loops() { curl -s -m 2 "http://127.0.0.1:${CL_API_PORT[$1]}/metrics" | awk '/^pgwarden_loops_total\{/ {print $2}'; }
declare -a SW0
for i in 1 2 3; do SW0[$i]=$(sw_total "$i"); done
cand=""
for i in 1 2 3; do [ "$i" != "$leader" ] && [ -z "$cand" ] && cand=$i; done
"$PGWCTL_BIN" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope "$CL_SCOPE" list --watch 60 >"$DIR/watch.out" 2>&1 &
WATCH_PID=$!
flood() { # I OUT: scrape node I's /metrics back to back on one kept
	# connection (as a Prometheus scraping far too often would) until killed
	exec python3 -u -c '
import http.client, sys, time
c = None
while True:
	t = time.perf_counter()
	try:
		if c is None:
			c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
		c.request("GET", "/metrics")
		r = c.getresponse()
		r.read()
		st = r.status
	except Exception:
		st, c = 0, None
	print(st, "%.6f" % (time.perf_counter() - t))
' "${CL_API_PORT[$1]}" >"$2"
}
for i in 1 2 3 1 2 3; do
	flood "$i" "$DIR/flood.$i.$RANDOM" &
	FLOOD+=($!)
done
declare -a LOOPS0 LOOPS1
for i in 1 2 3; do LOOPS0[$i]=$(loops "$i"); done
t_flood=$(now_ms)
sleep 2
PGUSER=postgres PGPASSWORD=pgw-super cluster_ctl switchover --leader "node$leader" --candidate "node$cand" --force \
	--timeout 30s >"$DIR/switchover.out" 2>&1
rc=$?
t_sw=$(now_ms)
sed 's/^/# 1: pgwardenctl: /' "$DIR/switchover.out"
check "1: switchover node$leader -> node$cand under the flood exits 0" test $rc = 0
check "1: node$cand holds the leader key" wait_for 30 cluster_key_is leader "node$cand"
t_key=$(now_ms)
sleep 2
for i in 1 2 3; do LOOPS1[$i]=$(loops "$i"); done
for p in "${FLOOD[@]}"; do kill "$p" 2>/dev/null; done
wait "${FLOOD[@]}" 2>/dev/null
FLOOD=()
flood_s=$(( ($(now_ms) - t_flood) / 1000 ))
cat "$DIR"/flood.* >"$DIR/flood.all"
n_scrapes=$(wc -l <"$DIR/flood.all")
n_bad=$(awk '$1 != 200' "$DIR/flood.all" | wc -l)
awk '{print $2}' "$DIR/flood.all" | sort -n >"$DIR/lat"
lat=$(awk '{a[NR] = $1} END {if (NR) printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms", a[int(NR * 0.5) + 1] * 1000, a[int(NR * 0.99) + 1] * 1000, a[NR] * 1000}' "$DIR/lat")
echo "# 1: $n_scrapes scrapes of /metrics in ${flood_s} s by 6 back-to-back scrapers during the switchover: $lat"
check "1: every flooded scrape answered 200 ($n_bad of $n_scrapes did not)" bash -c "[ '${n_scrapes:-0}' -gt 100 ] && [ '$n_bad' = 0 ]"
turns=""
for i in 1 2 3; do turns+="node$i $((LOOPS1[$i] - LOOPS0[$i])), "; done
echo "# 1: HA loop turns in the flooded $flood_s s (loop_wait 0.5 s): ${turns%, }"
for i in 1 2 3; do
	check "1: node$i's HA loop kept turning during the flood" test $((LOOPS1[$i] - LOOPS0[$i])) -ge $((flood_s / 2))
done
for i in 1 2 3; do
	sw_is() { [ "$(sw_total "$1")" = "$2" ]; }
	check "1: node$i counts the switchover (${SW0[$i]} -> $((SW0[$i] + 1)))" wait_for 20 sw_is "$i" $((SW0[$i] + 1))
done
watch_saw() { grep -q "(changed)" "$DIR/watch.out" && awk '/\(changed\)/ {c = 1} c && /\| node'"$cand"' .*\| Leader/ {f = 1} END {exit !f}' "$DIR/watch.out"; }
check "1: list --watch 60 printed the new leader as it changed (not at the 60 s refresh)" wait_for 10 watch_saw
kill "$WATCH_PID" 2>/dev/null
WATCH_PID=""
d=$(wait_am 20 PgwardenSwitchover)
check "1: the switchover alert reached Alertmanager (${d:-?} ms after the wait began)" test -n "$d"
fired() { # ALERTNAME: it was firing at any time in the last 5 minutes
	[ "$(prom_query "max_over_time(ALERTS{alertname=\"$1\",alertstate=\"firing\"}[5m])")" != "[]" ]
}
not() { ! "$@"; }
check "1: the check below can see a firing alert (PgwardenSwitchover fired)" fired PgwardenSwitchover
check "1: no split-brain alert fired" not fired PgwardenMultiplePrimaries
gap=$(curl -s -G "http://127.0.0.1:$PROM_PORT/api/v1/query" \
	--data-urlencode 'query=count_over_time((pgwarden:leaders:count == 0)[2m:1s])' | jq -r '.data.result[0].value[1] // 0')
echo "# 1: seconds without a member answering /leader 200, as Prometheus saw it around the switchover: $gap"
check "1: Prometheus never missed a daemon's scrape" \
	bash -c "[ \"\$(curl -s -G http://127.0.0.1:$PROM_PORT/api/v1/query --data-urlencode 'query=min(min_over_time(up{job=\"pgwarden\"}[1m]))' | jq -r '.data.result[0].value[1]')\" = 1 ]"
leader=$cand
check "1: both replicas stream again" wait_for 120 cluster_has_replicas 2

# ---- 2. a replica's PostgreSQL stopped --------------------------------------
victim=""
for i in 1 2 3; do [ "$i" != "$leader" ] && [ -z "$victim" ] && victim=$i; done
check "2: the leader sees node$victim streaming" wait_for 30 bash -c \
	"curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/metrics | grep -q '^pgwarden_replica_streaming{.*replica=\"node$victim\"} 1'"
check "2: cluster paused (the stopped PostgreSQL stays down)" cluster_ctl pause --wait --timeout 30s
check "2: no replica-not-streaming alert before" not am_has PgwardenReplicaNotStreaming
setpriv --reuid="$PGW_RUN_AS" --regid="$PGW_RUN_AS" --init-groups -- "$PG_CTL" -D "$DIR/node$victim/data" -m fast -w stop >"$DIR/pgstop.out" 2>&1
check "2: node$victim's PostgreSQL stopped" test $? = 0
t_stop=$(now_ms)
t_vis=""
t_am=""
not_streaming() {
	curl -s -m 1 "http://127.0.0.1:${CL_API_PORT[$leader]}/metrics" |
		grep -q "^pgwarden_replica_streaming{.*replica=\"node$victim\"} 0"
}
while [ $(($(now_ms) - t_stop)) -lt 60000 ] && [ -z "$t_am" ]; do
	[ -z "$t_vis" ] && not_streaming && t_vis=$(now_ms)
	am_has PgwardenReplicaNotStreaming replica "node$victim" && t_am=$(now_ms)
	sleep 0.1
done
bound=$(( (FOR_S + 2 * SCRAPE_S) * 1000 + 1000 ))
echo "# 2: PostgreSQL of node$victim stopped -> the leader's /metrics says not streaming: $((${t_vis:-0} - t_stop)) ms; -> PgwardenReplicaNotStreaming in Alertmanager: $((${t_am:-0} - t_stop)) ms (for ${FOR_S} s, scrape and evaluation every ${SCRAPE_S} s, loop_wait 0.5 s)"
check "2: the leader's /metrics shows node$victim not streaming (a 0, not a missing series)" test -n "$t_vis"
check "2: the alert reached Alertmanager within for + scrape + evaluation + 1 s of /metrics showing it ($((${t_am:-0} - ${t_vis:-0})) ms <= $bound ms)" \
	bash -c "[ -n '$t_am' ] && [ -n '$t_vis' ] && [ $((${t_am:-0} - ${t_vis:-0})) -le $bound ]"
check "2: resume" cluster_ctl resume --wait --timeout 30s
check "2: node$victim streams again" wait_for 60 bash -c \
	"curl -s http://127.0.0.1:${CL_API_PORT[$leader]}/metrics | grep -q '^pgwarden_replica_streaming{.*replica=\"node$victim\"} 1'"

# ---- 3. PgBouncer saturated --------------------------------------------------
declare -a HELD=()
for k in $(seq 1 9); do
	PGPASSWORD=app psql -X -q -h 127.0.0.1 -p "$RS_PGB_PORT" -U app -d postgres_rw \
		-c "SELECT pg_sleep(40)" >/dev/null 2>&1 &
	HELD+=($!)
	FLOOD+=($!)
done
t_held=$(now_ms)
util() {
	curl -s -m 2 "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics" |
		awk '/^pgwarden_pgbouncer_pool_utilization_ratio\{.*database="postgres_rw"/ {print $2}'
}
util_is() { [ "$(util)" = "$1" ]; }
check "3: the router reports 90 % utilization of postgres_rw" wait_for 20 util_is 0.9
d=$(wait_am 40 PgbouncerPoolUtilizationHigh database postgres_rw)
[ -n "$d" ] && d=$(($(now_ms) - t_held))
echo "# 3: 9 of 10 server connections held -> PgbouncerPoolUtilizationHigh in Alertmanager: ${d:-never} ms after the clients connected (pools read every 500 ms, for ${FOR_S} s)"
check "3: the pool-utilization warning reached Alertmanager" test -n "$d"
check "3: the critical one (> 90 %) did not" not am_has PgbouncerPoolUtilizationCritical
for p in "${HELD[@]}"; do kill "$p" 2>/dev/null; done

# ---- 4. PgBouncer frozen -----------------------------------------------------
PGB_PID=$(cat "$RS_DIR/pgbouncer.pid" 2>/dev/null)
check "4: PgBouncer's pid known" test -n "$PGB_PID"
kill -STOP "$PGB_PID"
t_stop=$(now_ms)
target_down() {
	curl -s -m 2 "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics" | grepq -q '^pgwarden_router_target_up{.*kind="pgbouncer"} 0'
}
check "4: pgwarden_router_target_up says 0 for the frozen PgBouncer" wait_for 20 target_down
echo "# 4: PgBouncer frozen -> target_up 0 after $(($(now_ms) - t_stop)) ms"
worst=0
for k in $(seq 1 20); do
	t=$(curl -s -o /dev/null -m 5 -w '%{time_total}' "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics")
	ms=$(awk -v t="$t" 'BEGIN {printf "%d", t * 1000}')
	[ "$ms" -gt "$worst" ] && worst=$ms
done
echo "# 4: 20 scrapes of the router while PgBouncer is frozen: slowest $worst ms"
check "4: the router's /metrics answered every scrape while PgBouncer was frozen (slowest $worst ms, under 1 s)" test "$worst" -lt 1000
d=$(wait_am 40 PgwardenRouterTargetUnreadable kind pgbouncer)
check "4: the unreadable-target alert reached Alertmanager" test -n "$d"
kill -CONT "$PGB_PID"
PGB_PID=""
target_up() {
	curl -s -m 2 "http://127.0.0.1:${RS_METRICS_PORT[r-pgb]}/metrics" | grepq -q '^pgwarden_router_target_up{.*kind="pgbouncer"} 1'
}
check "4: after SIGCONT the target reads again" wait_for 20 target_up
check "sanitizers found nothing" cluster_sanitizer_clean
check "sanitizers found nothing in the routers" bash -c "! grep -lE 'Sanitizer|runtime error:' '$RS_DIR'/r-*.log"
tap_finish
