#!/usr/bin/env bash
# test_prometheus_rules.sh [DAEMON_TEST ROUTER_TEST]: deploy/prometheus/
# checked with Debian's promtool: the rule file is valid, its unit tests
# pass, each test can fail (three mutated copies of the rules must each fail
# them), every metric the rules name is one pgwarden exports (the families
# test_daemon_metrics and test_routing_exporter list with --families;
# test_monitoring_cluster.sh checks that list against live /metrics), and
# the example prometheus.yml and alertmanager.yml are valid.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/tap.sh
source "$root/tests/lib/tap.sh"
rules=$root/deploy/prometheus/pgwarden.rules.yml
tests=("$here/pgwarden_rules_test.yml" "$here/pgwarden_rules_slow_test.yml")
daemon_metrics=${1:-$root/build/tests/test_daemon_metrics}
router_metrics=${2:-$root/build/tests/test_routing_exporter}
tmp=$(mktemp -d /tmp/pgw-promrules.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

command -v promtool >/dev/null || { not_ok "promtool is installed (scripts/install-deps.sh)"; tap_finish; exit 1; }

check "promtool check rules" promtool check rules "$rules"
check "promtool test rules" promtool test rules "${tests[@]}"

# mutate RULES SED_EXPR NAME: the tests must fail on the changed rules
mutate() {
	local what=$1 expr=$2
	mkdir -p "$tmp/$what/a/b"
	sed "$expr" "$rules" >"$tmp/$what/rules.yml"
	if cmp -s "$rules" "$tmp/$what/rules.yml"; then
		not_ok "mutation '$what' changed the rules (sed matched nothing)"
		return
	fi
	sed "s|../../deploy/prometheus/pgwarden.rules.yml|../../rules.yml|" "${tests[0]}" >"$tmp/$what/a/b/t.yml"
	if promtool test rules "$tmp/$what/a/b/t.yml" >"$tmp/$what/out" 2>&1; then
		not_ok "the tests fail when $what"
	else
		ok "the tests fail when $what"
	fi
}
mutate "the lag threshold is 32 MiB" 's/vector(16777216)/vector(33554432)/'
mutate "the pool warning is at 90 %" 's/expr: vector(0.85)/expr: vector(0.90)/'
mutate "not-streaming has no for" '/alert: PgwardenReplicaNotStreaming/,/for: 1m/{/for: 1m/d}'

# every metric named by the rules is exported (histogram series by their
# family name), or is a recording rule, or Prometheus' own up
families=$({ "$daemon_metrics" --families && "$router_metrics" --families; } | cut -d' ' -f1 | sort -u)
grep -qx 'pgwarden_replica_streaming' <<<"$families" && grep -qx 'pgwarden_pgbouncer_pool_utilization_ratio' <<<"$families"
check "the inventory lists the exported families ($(echo "$families" | wc -l))" test $? -eq 0
# missing_names FILE: the pgwarden/patroni names FILE's expressions use
# that are neither exported nor recorded in FILE
missing_names() {
	local records name base out=""
	records=$(grep -oE 'record: [a-z0-9_:]+' "$1" | sed 's/record: //' | sort -u)
	# the expressions only: expr: lines and the lines of an expr: | block
	for name in $(awk '/^ *(expr|record):/ {print; blk = ($0 ~ /expr: *\|/); next}
			blk && /^ *[a-z_]+:/ {blk = 0} blk {print}' "$1" |
		grep -oE '\b(pgwarden|patroni)_[a-z0-9_:]*|\bpgwarden:[a-z0-9_:]*' | sort -u); do
		base=$(echo "$name" | sed -E 's/_(bucket|sum|count)$//')
		# here-strings: `echo | grep -q` under pipefail can lose to SIGPIPE
		if ! grep -qx "$name" <<<"$families" && ! grep -qx "$base" <<<"$families" &&
			! grep -qx "$name" <<<"$records"; then
			out+=" $name"
		fi
	done
	echo "$out"
}
missing=$(missing_names "$rules")
check "every metric the rules name is exported or recorded (missing:${missing:- none})" test -z "$missing"
sed 's/max by (scope, replica) (pgwarden_replica_streaming)/max by (scope, replica) (pgwarden_replica_streamin)/' "$rules" >"$tmp/misspelt.yml"
missing=$(missing_names "$tmp/misspelt.yml")
check "a misspelt metric in the rules is caught (found:${missing:- nothing})" test "$missing" = " pgwarden_replica_streamin"

# the examples beside the rules are valid for Prometheus and Alertmanager
check "promtool check config prometheus.yml" promtool check config --syntax-only "$root/deploy/prometheus/prometheus.yml"
check "amtool check-config alertmanager.yml" amtool check-config "$root/deploy/prometheus/alertmanager.yml"

for f in "$tmp"/*/out; do
	[ $failures -gt 0 ] && { echo "---- $f"; tail -5 "$f"; }
done
tap_finish
