#!/usr/bin/env bash
# test_grafana_dashboard.sh [DAEMON_TEST ROUTER_TEST]: the dashboard
# deploy/grafana/pgwarden-dashboard.json checked with jq, as Grafana's
# import needs it: valid JSON with a title, uid and schemaVersion; a
# datasource variable every query uses (so it imports into any Grafana
# without editing); unique panel ids; grid positions inside 24 columns that
# do not overlap; a non-empty PromQL expression with a unique refId on every
# target, each parsed by promtool; every metric a query names exported by
# pgwarden (the families test_daemon_metrics and test_routing_exporter list
# with --families) or recorded by deploy/prometheus/pgwarden.rules.yml; and
# the overview the issue asks for (primary over time, lag per replica,
# failovers, pools). Each check is also fed a broken copy it must reject.
# Grafana itself is not a Debian package, so no Grafana server runs here.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/tap.sh
source "$root/tests/lib/tap.sh"
dash=$root/deploy/grafana/pgwarden-dashboard.json
rules=$root/deploy/prometheus/pgwarden.rules.yml
daemon_metrics=${1:-$root/build/tests/test_daemon_metrics}
router_metrics=${2:-$root/build/tests/test_routing_exporter}
tmp=$(mktemp -d /tmp/pgw-grafana.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

families=$({ "$daemon_metrics" --families && "$router_metrics" --families; } | cut -d' ' -f1 | sort -u)
records=$(grep -oE 'record: [a-z0-9_:]+' "$rules" | sed 's/record: //' | sort -u)

# structure FILE: "" when FILE is a dashboard Grafana imports as is, else why
structure() {
	jq -r '
	  def panels: [.panels[] | ., (.panels // [])[]];
	  def tgts: [panels[] | select(.type != "row") | .targets[]?];
	  (if (.title | type) != "string" or (.uid | type) != "string" or (.schemaVersion // 0) < 30
	     then "title, uid or schemaVersion missing" else empty end),
	  (if ([.templating.list[] | select(.type == "datasource" and .name == "datasource" and .query == "prometheus")] | length) != 1
	     then "no datasource variable of type prometheus" else empty end),
	  ([panels[] | .id] | group_by(.) | map(select(length > 1) | "duplicate panel id \(.[0])") | .[]),
	  (panels[] | select((.gridPos | [.h, .w, .x, .y] | map(type == "number") | all | not) or .gridPos.x + .gridPos.w > 24)
	     | "panel \(.id) has a bad gridPos"),
	  (panels[] | select(.type != "row") | select((.targets // []) | length == 0) | "panel \(.id) (\(.title)) has no query"),
	  (panels[] | select(.type != "row") | select(.datasource.uid != "${datasource}") | "panel \(.id) does not use the datasource variable"),
	  (panels[] | select(.type != "row") | . as $p | .targets[]?
	     | select((.expr | type) != "string" or (.expr | length) == 0 or .datasource.uid != "${datasource}")
	     | "panel \($p.id) has a target without an expression or datasource"),
	  (panels[] | select(.type != "row") | select(([.targets[]?.refId] | unique | length) != ((.targets // []) | length))
	     | "panel \(.id) repeats a refId"),
	  ([panels[] | {id, r: .gridPos}] as $ps
	     | [$ps[] as $a | $ps[] as $b | select($a.id < $b.id)
	        | select($a.r.x < $b.r.x + $b.r.w and $b.r.x < $a.r.x + $a.r.w and $a.r.y < $b.r.y + $b.r.h and $b.r.y < $a.r.y + $a.r.h)
	        | "panels \($a.id) and \($b.id) overlap"] | .[])
	' "$1" 2>&1 | head -5 | tr '\n' ';'
}

# unknown FILE: metrics its queries (panels, annotations, variables) name
# that pgwarden does not export and the rules do not record
unknown() {
	local name base out=""
	for name in $(jq -r '.. | objects | (.expr?, .definition?) // empty | strings' "$1" |
		grep -oE '\b(pgwarden|patroni)_[a-z0-9_]*|\bpgwarden:[a-z0-9_:]*' | sort -u); do
		base=$(echo "$name" | sed -E 's/_(bucket|sum|count)$//')
		# here-strings, not `echo | grep -q`: grep -q stops at the first
		# match, echo may then die of SIGPIPE, and with pipefail a found
		# name read as missing (seen once in the suite)
		grep -qx "$name" <<<"$families" || grep -qx "$base" <<<"$families" ||
			grep -qx "$name" <<<"$records" || out+=" $name"
	done
	echo "$out"
}

# parses FILE: promtool parses every query of FILE (Grafana's variables
# replaced), each turned into a recording rule
parses() {
	jq -r '.. | objects | .expr? // empty | strings' "$1" |
		sed -e 's/\$scope/demo/g' -e 's/\$__rate_interval/1m/g' |
		jq -R -s 'split("\n") | map(select(length > 0)) | to_entries |
			{groups: [{name: "dashboard", rules: map({record: "dashboard:q\(.key)", expr: .value})}]}' \
			>"$tmp/q.rules.json" &&
		promtool check rules "$tmp/q.rules.json" >"$tmp/q.out" 2>&1
}

# has_panel TYPE METRIC: a panel of TYPE ("" any) queries METRIC
has_panel() {
	jq -e --arg t "$1" --arg m "$2" \
		'[.panels[] | select($t == "" or .type == $t) | .targets[]?.expr | select(test($m))] | length > 0' \
		"$dash" >/dev/null
}

check "the dashboard is valid JSON" bash -c "jq -e . '$dash' >/dev/null"
why=$(structure "$dash")
check "Grafana can import it as is (${why:-no problem})" test -z "$why"
missing=$(unknown "$dash")
check "every metric its queries name is exported or recorded (missing:${missing:- none})" test -z "$missing"
check "promtool parses every query" parses "$dash"
check "primary over time (a state timeline of pgwarden_primary)" has_panel state-timeline 'pgwarden_primary\{'
check "lag per replica in bytes" has_panel timeseries 'by [(]replica[)] [(]pgwarden_replica_lag_bytes'
check "lag per replica in seconds" has_panel timeseries 'by [(]replica[)] [(]pgwarden_replica_lag_seconds'
check "failovers and switchovers" has_panel "" 'pgwarden_failovers_total'
check "PgBouncer pools" has_panel timeseries 'pgwarden_pgbouncer_pool_utilization_ratio'

# each check must reject a broken copy
jq '.panels[3].id = .panels[2].id' "$dash" >"$tmp/dup.json"
why=$(structure "$tmp/dup.json")
check "a duplicate panel id is caught ($why)" bash -c "echo '$why' | grep -q 'duplicate panel id'"
jq '.panels[2].gridPos.x = 2' "$dash" >"$tmp/overlap.json"
why=$(structure "$tmp/overlap.json")
check "overlapping panels are caught ($why)" bash -c "echo '$why' | grep -q overlap"
jq '.panels[2].targets[0].datasource.uid = "abc123"' "$dash" >"$tmp/ds.json"
why=$(structure "$tmp/ds.json")
check "a hard-wired datasource is caught ($why)" bash -c "echo '$why' | grep -q datasource"
sed 's/pgwarden_replica_lag_seconds/pgwarden_replica_lag_secs/' "$dash" >"$tmp/name.json"
missing=$(unknown "$tmp/name.json")
check "a misspelt metric is caught (found:${missing:- nothing})" test "$missing" = " pgwarden_replica_lag_secs"
sed 's/max by (replica) (pgwarden_replica_lag_seconds{scope=\\"$scope\\"})/max by (replica) (pgwarden_replica_lag_seconds{scope=\\"$scope\\"}/' "$dash" >"$tmp/paren.json"
cmp -s "$dash" "$tmp/paren.json"
check "the unbalanced-parenthesis copy differs" test $? -ne 0
! parses "$tmp/paren.json"
check "a query that does not parse is caught" test $? -eq 0
tap_finish
