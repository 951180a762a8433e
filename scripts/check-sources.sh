#!/usr/bin/env bash
# check-sources.sh: CI greps (STYLE.md "Build and CI"): banned unsafe APIs,
# and no file includes another module's internal (_int.h) header.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)[[:space:]]*\('
if grep -nE "$banned" $files | grep -vE '^\S+:[0-9]+:\s*(/\*|\*)'; then
	echo "check-sources: banned API used above (use snprintf, strtol with checks)" >&2
	rc=1
fi
for f in $files; do
	dir=$(dirname "$f")
	for inc in $(grep -oE '#include "[^"]+_int\.h"' "$f" | sed 's/#include "//; s/"$//'); do
		incdir=$(dirname "$inc")
		[ "$incdir" = "." ] && incdir=$dir
		# a module's own unit tests (tests/unit/test_<module>_*.c) may
		# include its internal header
		case "$f" in tests/unit/test_"${incdir#./}"_*) continue ;; esac
		if [ "${incdir#./}" != "${dir#./}" ]; then
			echo "check-sources: $f includes $inc from another module" >&2
			rc=1
		fi
	done
done
# an error set on a local and returned at once is a message nobody logs
# (architecture review 4.3): fill the caller's err, or log before returning
if grep -nE 'return pgw_error_set\(&' $files; then
	echo "check-sources: a message set on a local PgwError is returned unlogged above" >&2
	rc=1
fi
exit $rc
