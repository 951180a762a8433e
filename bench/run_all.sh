#!/usr/bin/env bash
# run_all.sh: every figure of the README's "Measured figures" in one
# command, each benchmark's output under a header naming the exact command,
# the commit and the load average when it started, so a README figure can
# name the command and commit it came from. Not a test: figures only.
# Usage: bash bench/run_all.sh [--quick] [--out FILE]
#   --quick: fewer runs (a smoke run of every benchmark, ~25 min)
#   default: the README's run counts (~2.5 h on the shared 2-core machine,
#            most of it bench_vs_patroni)
# The chaos drills' table is tests/chaos/soak.sh's (its own command).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
quick=0
out=""
while [ $# -gt 0 ]; do
	case "$1" in
		--quick) quick=1 ;;
		--out) out=$2; shift ;;
		*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] && exec > >(tee "$out") 2>&1
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep . >/dev/null && echo " (with uncommitted changes)")
if [ "$quick" = 1 ]; then
	runs_fo=3 runs_list=20 runs_route=2 vs_args="--quick"
	n_etcd=2000 n_probe=500
	idle_args="--idle-s 60 --load-s 30" scale_args="--groups 100 --window-s 30"
else
	runs_fo=9 runs_list=50 runs_route=5 vs_args="--runs 5"
	n_etcd=10000 n_probe=2000
	idle_args="--idle-s 300 --load-s 120" scale_args="--window-s 60"
fi
rc=0
run() {
	echo
	echo "=== $* (commit $commit$dirty; $(date -u '+%F %T') UTC; load $(cut -d' ' -f1-3 /proc/loadavg))"
	(cd "$root" && "$@") || { echo "=== FAILED (exit $?): $*"; rc=1; }
}
run "$PGW_BUILD_DIR/bench/bench_etcd" "$n_etcd"
run "$PGW_BUILD_DIR/bench/bench_health_probe" "$n_probe"
run bash bench/bench_failover.sh --runs "$runs_fo"
run bash bench/bench_ctl_list.sh "$runs_list"
run bash bench/bench_routing.sh --runs "$runs_route"
run bash bench/bench_routing.sh --runs "$runs_route" --scenario switchover
run bash bench/bench_vs_patroni.sh $vs_args
run bash bench/bench_idle.sh $idle_args
run "$PGW_BUILD_DIR/bench/bench_etcd_scale" $scale_args
echo
echo "=== done (commit $commit$dirty; $(date -u '+%F %T') UTC)"
exit $rc
