#!/usr/bin/env bash
# it_prelude.sh: the start every shell-driven integration test shares:
# strict mode without -e (a failed check must not end the script), `here`
# (the test's folder), `root` (the repository), PGW_BUILD_DIR (exported
# for the helpers), then cluster.sh and tap.sh. A test begins with
#   source "$(dirname "$0")/../lib/it_prelude.sh"
# and ends with tap_finish, which first stops every daemon with SIGTERM (so
# LeakSanitizer runs at their exit) and fails on a sanitizer report in any
# daemon log.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
# shellcheck source=cluster.sh
source "$root/tests/lib/cluster.sh"
# shellcheck source=tap.sh
source "$root/tests/lib/tap.sh"

tap_before_finish() {
	[ -n "$CL_DIR" ] && [ "$CL_N" -gt 0 ] || return 0
	check "every daemon stops on SIGTERM (replicas first, then the leader)" cluster_stop_all
	check "no sanitizer report in any daemon log" cluster_sanitizer_clean
}
