#!/usr/bin/env bash
# test.sh: build pgwarden and run the whole suite as CI does:
#   1. plain build (-Werror), all tests (unit, integration, chaos);
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, unit + integration;
#   3. source checks (banned APIs, no cross-module _int.h includes).
# Usage: scripts/test.sh [--quick]   (--quick: plain build, unit tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

echo "== source checks"
bash scripts/check-sources.sh

echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGW_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [ $quick -eq 1 ]; then
	(cd build && ctest --output-on-failure -L unit)
	exit 0
fi
(cd build && ctest --output-on-failure -j1)

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGW_WERROR=ON \
	-DPGW_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"
# gRPC keeps process-lifetime singletons; leaks owned by our code still fail
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd build-asan && PGW_TEST_TIMEOUT_MULT=3 ctest --output-on-failure -j1 -L 'unit|integration')
