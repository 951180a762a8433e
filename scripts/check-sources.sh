#!/usr/bin/env bash
# check-sources.sh: CI greps (STYLE.md "Build and CI"): banned unsafe APIs,
# no file includes another module's internal (_int.h) header, no new
# open/fopen/chown/chmod by path in the daemon's file code, no hand-rolled
# URL splitter, every file formatted, no product file over 800 lines.
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
# one URL splitter (issue 14): "scheme://host:port" is taken apart by
# common/url.h's pgw_url_split only; a strstr(..., "://") elsewhere is a
# second hand-rolled splitter
if grep -nE 'strstr[[:space:]]*\([^)]*"://"' $files | grep -v '^common/url\.c:' |
	grep -vE '^\S+:[0-9]+:\s*(/\*|\*)'; then
	echo "check-sources: a URL split by hand above: use pgw_url_split (common/url.h)" >&2
	rc=1
fi
# Root must not open, chown or chmod by path where the PostgreSQL user
# controls the path (DESIGN.md promise 6; STYLE.md "Files a root process
# touches beside the database"): in the daemon's file code such calls go
# through common/safefs.h (a directory descriptor, openat with O_NOFOLLOW
# and O_EXCL, fchown/fchmod on the descriptor). The justified exceptions
# are listed, each with its reason, in scripts/path-io-allowlist.txt.
pathio='\b(open|fopen|freopen|creat|truncate|chown|lchown|chmod)[[:space:]]*\('
allow=$(grep -v '^#' scripts/path-io-allowlist.txt | grep -v '^$')
for f in $(git ls-files 'health/*.c' 'daemon/*.c' 'failover/*.c' 2>/dev/null ||
	find health daemon failover -name '*.c'); do
	while IFS= read -r hit; do
		[ -n "$hit" ] || continue
		code=$(sed -E 's/^[0-9]+:[[:space:]]*//' <<<"$hit")
		case "$code" in /\** | \**) continue ;; esac
		if ! grep -qxF "$f	$code" <<<"$allow"; then
			echo "check-sources: $f:${hit%%:*}: $code" >&2
			echo "check-sources: open/chown/chmod by path in the daemon's file code: use common/safefs.h, or justify it in scripts/path-io-allowlist.txt" >&2
			rc=1
		fi
	done < <(grep -nE "$pathio" "$f")
done
# one layout for every file (.clang-format; STYLE.md "Build and CI"): the
# whole tree, not only changed files, so a file can never drift back
if ! command -v clang-format >/dev/null 2>&1; then
	echo "check-sources: clang-format is missing: run scripts/install-deps.sh" >&2
	rc=1
elif ! clang-format --dry-run --Werror $files 2>/tmp/pgw-clang-format.$$; then
	head -n 20 /tmp/pgw-clang-format.$$ >&2
	echo "check-sources: files above are not formatted: clang-format -i FILE" >&2
	rc=1
fi
rm -f /tmp/pgw-clang-format.$$
# small files a reader can hold (issue 14): no source or header of the
# product over 800 lines (tests, fuzz targets and benchmarks are exempt)
for f in $files; do
	case "$f" in tests/* | fuzz/* | bench/*) continue ;; esac
	n=$(wc -l <"$f")
	if [ "$n" -gt 800 ]; then
		echo "check-sources: $f has $n lines (over 800): split it by concern" >&2
		rc=1
	fi
done
exit $rc
