#!/usr/bin/env bash
# bench_backup.sh: the backup figures of issue 15, measured on real local
# clusters (etcd + pgwarden + PostgreSQL 15 + pgBackRest 2.45, repository
# in the run's directory). Sections (--only, comma-separated):
#   archive  commit -> its WAL segment archived (pg_stat_archiver says so),
#            p50/p99 over --samples commits, one a second, under pgbench -c 4
#            (--archive-timeout, default 60s as in the product);
#   source   full backup duration and the primary's TPS (pgbench -c 4) while
#            backing up from a replica, then from the primary (the replica
#            stopped, allow_primary on), each against its own baseline;
#   restore  pgwardenctl restore --to TIME of a database of at least 1 GB
#            (pgbench scale 70): restore and recovery durations;
#   gap      WAL segments of the old timeline missing from the archive
#            after the primary's node crashes with 4 segments unarchived
#            (archive stalled), with the gap check on and off.
# Usage: bash bench/bench_backup.sh [--only archive,source,restore,gap]
#                                   [--samples N] [--scale N] [--archive-timeout 60s]
# Not a test: it prints figures and asserts nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PGW_BUILD_DIR:=$root/build}"
export PGW_BUILD_DIR
only=archive,source,restore,gap
samples=40
scale=70
archive_timeout=60s
while [ $# -gt 0 ]; do
	case "$1" in
		--only) only=$2; shift 2 ;;
		--samples) samples=$2; shift 2 ;;
		--scale) scale=$2; shift 2 ;;
		--archive-timeout) archive_timeout=$2; shift 2 ;;
		*) echo "usage: $0 [--only archive,source,restore,gap] [--samples N] [--scale N]" >&2; exit 2 ;;
	esac
done
[ -x "$PGW_BUILD_DIR/daemon/pgwarden" ] || { echo "build first" >&2; exit 2; }
source "$root/tests/lib/cluster.sh"
source "$root/tests/lib/backup.sh"
wait_for() {
	local t=$1
	shift
	local end=$(($(date +%s) + t))
	while [ "$(date +%s)" -lt "$end" ]; do "$@" && return 0; sleep 0.2; done
	return 1
}
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "bench_backup.sh at commit $commit, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
BENCH_PID=""
PGB() { PGPASSWORD=pgw-super /usr/lib/postgresql/15/bin/pgbench -h 127.0.0.1 -p "${CL_PG_PORT[$1]}" -U postgres "${@:2}" postgres; }
tps_between() {	# FILE FROM_MS TO_MS: mean of pgbench's per-second progress
	awk -v a="$2" -v b="$3" '/^progress: / { t = $2 * 1000; if (t >= a && t < b) { s += $4; n++ } }
		END { if (n) printf "%.0f", s / n; else print "n/a" }' "$1"
}
start_cluster() {	# DIR N [EXTRA_BACKUP_YAML]
	cluster_init "$1" "$2"
	bk_enable "${3:-}"
	cluster_start_etcd || return 1
	local i
	for i in $(seq 1 "$2"); do cluster_start_node "$i"; done
	P=$(cluster_wait_primary 120) || { echo "no primary; see $1/node1/pgwarden.log" >&2; return 1; }
	if [ "$2" -gt 1 ]; then cluster_wait_replicas 120 $(($2 - 1)) || return 1; fi
	wait_for 90 bk_stanza_ready || { echo "no stanza; see $1/node$P/pgwarden.log" >&2; return 1; }
}
stop_cluster() {
	[ -n "$BENCH_PID" ] && kill -TERM "$BENCH_PID" 2>/dev/null
	BENCH_PID=""
	cluster_cleanup
}
trap 'stop_cluster' EXIT

# ---- commit -> segment archived ------------------------------------------------
if [[ ",$only," == *,archive,* ]]; then
	d=$(mktemp -d /tmp/pgw-bench-bk-archive.XXXXXX)
	chmod 755 "$d"
	start_cluster "$d" 1 "  allow_primary: true
  archive_timeout: $archive_timeout" || { echo "archive: cluster did not start"; exit 1; }
	PGB "$P" -i -s 5 -q >/dev/null 2>&1
	PGB "$P" -c 4 -j 2 -T 3600 -P 5 >"$d/pgbench.out" 2>&1 &
	BENCH_PID=$!
	/usr/bin/python3 - "${CL_PG_PORT[$P]}" "$samples" "$archive_timeout" <<'PY'
import sys, time, psycopg2
port, n, at = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password="pgw-super", dbname="postgres")
c.autocommit = True
cur = c.cursor()
cur.execute("CREATE TABLE IF NOT EXISTS bench_marks (id serial, at timestamptz DEFAULT now())")
pending, lat = [], []
t_end = time.time() + n + 180
taken = 0
next_take = time.time()
w0 = None
while (taken < n or pending) and time.time() < t_end:
    now = time.time()
    if taken < n and now >= next_take:
        cur.execute("INSERT INTO bench_marks DEFAULT VALUES")
        t0 = time.time()
        cur.execute("SELECT pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn()::text")
        seg, lsn = cur.fetchone()
        if w0 is None:
            w0 = (t0, lsn)
        pending.append((t0, seg))
        taken += 1
        next_take += 1.0
    cur.execute("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    last = cur.fetchone()[0]
    now = time.time()
    keep = []
    for t0, seg in pending:
        if last and seg[:24] <= last[:24]:
            lat.append((now - t0) * 1000)
        else:
            keep.append((t0, seg))
    pending = keep
    time.sleep(0.05)
cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (w0[1],))
rate = float(cur.fetchone()[0]) / (time.time() - w0[0]) / 1048576
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))] if lat else float("nan")
print("archive: commit -> segment archived under pgbench -c 4 (WAL %.1f MB/s, archive_timeout %s): "
      "p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d of %d samples archived)"
      % (rate, at, pct(50), pct(99), lat[-1] if lat else float("nan"), len(lat), n))
PY
	stop_cluster
fi

# ---- backup duration and primary TPS: from a replica vs from the primary ---------
if [[ ",$only," == *,source,* ]]; then
	d=$(mktemp -d /tmp/pgw-bench-bk-source.XXXXXX)
	chmod 755 "$d"
	start_cluster "$d" 2 "  allow_primary: true" || { echo "source: cluster did not start"; exit 1; }
	PGB "$P" -i -s 20 -q >/dev/null 2>&1
	size=$(cluster_psql "$P" "SELECT pg_size_pretty(pg_database_size('postgres'))")
	one_run() {	# LABEL
		local out id t0 t1 t2
		PGB "$P" -c 4 -j 2 -T 3600 -P 1 --progress-timestamp >"$d/pgbench-$1.out" 2>&1 &
		BENCH_PID=$!
		sleep 20
		t0=$(date +%s%3N)
		out=$(cluster_ctl backup --type full --timeout 3600s 2>&1)
		t1=$(date +%s%3N)
		kill -TERM "$BENCH_PID" 2>/dev/null
		wait "$BENCH_PID" 2>/dev/null
		BENCH_PID=""
		local src
		src=$(bk_attempt node)/$(bk_attempt source_role)
		echo "source: full backup from the $1 ($src) of $size: $(((t1 - t0) / 1000)) s; primary TPS $(tps_between "$d/pgbench-$1.out" $((t0 - 15000)) "$t0") before, $(tps_between "$d/pgbench-$1.out" "$t0" "$t1") during"
		grep -q "done: label" <<<"$out" || echo "source: the $1 backup failed: $out"
	}
	one_run replica
	r=1
	[ "$r" = "$P" ] && r=2
	cluster_stop_node "$r"
	sleep 5
	one_run primary
	stop_cluster
fi

# ---- restore to a time, >= 1 GB -------------------------------------------------------
if [[ ",$only," == *,restore,* ]]; then
	d=$(mktemp -d /tmp/pgw-bench-bk-restore.XXXXXX)
	chmod 755 "$d"
	start_cluster "$d" 1 "  allow_primary: true" || { echo "restore: cluster did not start"; exit 1; }
	PGB "$P" -i -s "$scale" -q >/dev/null 2>&1
	size=$(cluster_psql "$P" "SELECT pg_size_pretty(pg_database_size('postgres'))")
	t0=$(date +%s%3N)
	out=$(cluster_ctl backup --type full --timeout 7200s 2>&1)
	t1=$(date +%s%3N)
	echo "restore: full backup of $size from the primary: $(((t1 - t0) / 1000)) s"
	PGB "$P" -c 2 -T 20 >/dev/null 2>&1
	T=$(cluster_psql "$P" "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	PGB "$P" -c 2 -T 10 >/dev/null 2>&1
	cluster_psql "$P" "SELECT pg_switch_wal()" >/dev/null
	t_ms=$(date -d "${T%+00} UTC" +%s%3N)
	covered() { [ "$(bk_key catalog | jq -r '.window.latest // 0')" -gt "$t_ms" ]; }
	wait_for 180 covered
	rport=$(cl_pick_port)
	t0=$(date +%s%3N)
	out=$("$PGWCTL_BIN" -c "$d/node1/pgwarden.yml" restore --to "$T" --into bench2 --data-dir "$d/restored" \
		--port "$rport" --json 2>&1 | tail -1)
	t1=$(date +%s%3N)
	echo "restore: pgwardenctl restore --to TIME of $size: $(((t1 - t0) / 1000)) s in all (restore $(jq -r '.restore_ms' <<<"$out") ms, recovery to the time $(jq -r '.recovery_ms' <<<"$out") ms) [$out]"
	stop_cluster
fi

# ---- WAL lost to the archive after a node crash, gap check on/off ------------------------
if [[ ",$only," == *,gap,* ]]; then
	for mode in true false; do
		d=$(mktemp -d /tmp/pgw-bench-bk-gap.XXXXXX)
		chmod 755 "$d"
		start_cluster "$d" 3 "  gap_check: $mode" || { echo "gap: cluster did not start"; exit 1; }
		cluster_psql "$P" "CREATE TABLE g AS SELECT 1 AS x" >/dev/null
		cluster_psql "$P" "SELECT pg_switch_wal()" >/dev/null
		sleep 3
		tl1=$(find "$BK_REPO/archive/demo" -maxdepth 2 -type d -name '0000000100000000' | head -1)
		chmod 500 "$tl1"
		for k in 1 2 3 4; do
			cluster_psql "$P" "INSERT INTO g SELECT generate_series(1, 1000)" >/dev/null
			cluster_psql "$P" "SELECT pg_switch_wal()" >/dev/null
			sleep 0.5
		done
		sleep 1
		ready=$(ls "$d/node$P/data/pg_wal/archive_status/" | grep -c '\.ready$')
		cluster_kill_node "$P" KILL all
		chmod 750 "$tl1"
		old=node$P
		moved() { local l; l=$(cluster_key leader); [ -n "$l" ] && [ "$l" != "$old" ]; }
		wait_for 60 moved
		sleep 25
		# what the new timeline's history needs of timeline 1, and what is there
		missing=$(python3 - "$BK_REPO/archive/demo" <<'PY'
import os, sys, re
root = sys.argv[1]
hist = None
segs = set()
for dp, dn, fn in os.walk(root):
    for f in fn:
        if re.match(r"^00000002\.history$", f):
            hist = open(os.path.join(dp, f)).read()
        m = re.match(r"^00000001([0-9A-F]{8})([0-9A-F]{8})-", f)
        if m:
            segs.add(int(m.group(1), 16) * 256 + int(m.group(2), 16))
if hist is None:
    print("unknown (no 00000002.history yet)")
    sys.exit()
hi, lo = hist.split()[1].split("/")
switch = ((int(hi, 16) << 32) | int(lo, 16)) // (16 << 20)
need = range(min(segs), switch)
print(sum(1 for s in need if s not in segs))
PY
)
		echo "gap: gap_check=$mode: the crashed primary left $ready segments unarchived; missing from the archive afterwards: $missing segment(s) of timeline 1 ($(bk_key gap | jq -c '{status, pushed}' 2>/dev/null))"
		stop_cluster
	done
fi
