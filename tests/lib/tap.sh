# tap.sh: TAP-style checks shared by the shell integration tests.
# Source it, then use check/ok/not_ok (wait_for, hold_for: cluster.sh); call tap_dump_logs from the
# EXIT trap and end the script with tap_finish. The failed checks are listed
# again after the log dump, because CI keeps only the tail of the output.
passes=0
failures=0
TAP_FAILED=()

ok() {
	echo "ok - $*"
	passes=$((passes + 1))
}
not_ok() {
	echo "not ok - $*"
	failures=$((failures + 1))
	TAP_FAILED+=("$*")
}
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
now_ms() { date +%s%3N; }

# tap_dump_logs DIR NODES LINES: on failure (or PGW_TEST_KEEP), the tail of
# every daemon log, then the failed checks again
tap_dump_logs() {
	local dir=$1 nodes=$2 lines=$3 i f
	if [ $failures -gt 0 ] || [ -n "${PGW_TEST_KEEP:-}" ]; then
		for ((i = 1; i <= nodes; i++)); do
			echo "---- node$i log (tail)"
			tail -n "$lines" "$dir/node$i/pgwarden.log" 2>/dev/null
		done
	fi
	for f in "${TAP_FAILED[@]}"; do echo "FAILED CHECK: $f"; done
}

# tap_finish: the totals; the script's exit status. A tap_before_finish
# function, when defined (it_prelude.sh: stop every daemon with SIGTERM and
# check their logs for sanitizer reports), runs first.
tap_finish() {
	if declare -F tap_before_finish >/dev/null; then tap_before_finish; fi
	echo "$passes passed, $failures failed"
	[ $failures -eq 0 ]
}
