#!/usr/bin/env bash
# test.sh: build pgwarden and run the whole suite as CI does:
#   1. source checks (banned APIs, no cross-module _int.h includes);
#   2. plain build (-Werror), every test (unit, integration, chaos), run in
#      parallel: tests pick free random ports and mktemp directories; the
#      chaos drills hold a lock so one runs at a time, and the test that
#      saturates the CPU runs alone (tests/CMakeLists.txt);
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build, the unit tests and
#      the integration tests labelled `asan` (the subset that drives the
#      daemon, ctl, the router and every peer-facing module), in parallel.
# A failing stage does not stop the next one; the script fails at the end,
# naming the stages that failed, and prints each stage's wall time.
# Usage: scripts/test.sh [--quick|--plain|--asan]
#   --quick: plain build, unit tests only; --plain: stages 1-2 only;
#   --asan: stage 3 only (to rerun one stage; CI runs them all).
# PGW_TEST_JOBS: parallel tests per stage (default 3: most integration tests
# wait on etcd leases and PostgreSQL more than they compute).
# PGW_TEST_NO_CHAOS=1: the plain stage leaves out the chaos drills (label
# chaos), for a machine where another run holds their network namespaces;
# CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
test_jobs=${PGW_TEST_JOBS:-3}
quick=0 plain=1 asan=1
case "${1:-}" in
"") ;;
--quick) quick=1 ;;
--plain) asan=0 ;;
--asan) plain=0 ;;
*) echo "usage: scripts/test.sh [--quick|--plain|--asan]" >&2; exit 2 ;;
esac

failed=""
t_start=$SECONDS
stage_start=$SECONDS
stage_end() {
	echo "== $1: $((SECONDS - stage_start)) s (total $((SECONDS - t_start)) s)"
	stage_start=$SECONDS
}

if [ $plain -eq 1 ]; then
echo "== source checks"
bash scripts/check-sources.sh
stage_end "source checks"

echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGW_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
stage_end "plain build"
if [ $quick -eq 1 ]; then
	(cd build && ctest --output-on-failure -j"$test_jobs" -L unit)
	exit 0
fi
plain_args=()
if [ "${PGW_TEST_NO_CHAOS:-0}" = 1 ]; then
	plain_args=(-LE chaos)
	echo "== PGW_TEST_NO_CHAOS=1: the chaos drills do NOT run"
fi
echo "== plain tests (ctest -j$test_jobs ${plain_args[*]})"
(cd build && ctest --output-on-failure -j"$test_jobs" "${plain_args[@]}") || failed+=" plain-tests"
stage_end "plain tests"
fi

if [ $asan -eq 1 ]; then
echo "== ASan + UBSan build"
# the timeout multiplier is read when the build dir is configured
PGW_TEST_TIMEOUT_MULT=${PGW_TEST_TIMEOUT_MULT:-3} \
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGW_WERROR=ON \
	-DPGW_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"
stage_end "ASan build"
# gRPC keeps process-lifetime singletons; leaks owned by our code still fail
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== ASan + UBSan tests: unit + label asan, not nosan (ctest -j$test_jobs)"
(cd build-asan && ctest --output-on-failure -j"$test_jobs" -L 'unit|asan' -LE nosan) || failed+=" asan-tests"
stage_end "ASan tests"
fi

if [ -n "$failed" ]; then
	echo "== FAILED:$failed"
	exit 1
fi
echo "== all passed in $((SECONDS - t_start)) s"
