#!/usr/bin/env bash
# test_pg_lease_check.sh: the commit check inside PostgreSQL
# (witness/pg_lease/pgwarden_lease.so, issue 19) on a bare PostgreSQL 15,
# no daemon: the test writes the commit page (witness/lease_page.h) itself,
# so every state of it is reached on purpose, each case against its own
# control:
#   A. page armed, deadline ahead: a write commits and returns;
#   B. deadline passed: a write does not return (3 s), PostgreSQL's log says
#      why; the same write with pgwarden_lease.enforce = off (superuser)
#      returns at once (the check, nothing else, held it); a read returns;
#   C. the held commit returns once the deadline is moved ahead again, and
#      the log says it was let through because the lease holds again;
#   D. a page writable by its group: writes held, the log names the page;
#   E. a session that loaded the library and mapped the page, then
#      pgwarden_lease.page reset to '' and reloaded (what turning
#      lease_checked_commits off does): its next write returns, with the
#      deadline passed, and so does a new session's (the check is off);
#   F. a non-superuser cannot turn the check off.
source "$(dirname "$0")/../lib/it_prelude.sh"

# PGW_LEASE_LIB: another build of the library (to see a check fail on it)
LIB=${PGW_LEASE_LIB:-$PGW_BUILD_DIR/daemon/pgwarden_lease.so}
[ -f "$LIB" ] || { not_ok "pgwarden_lease.so is built ($LIB)"; tap_finish; exit 1; }
DIR=$(mktemp -d /tmp/pgw-it-pglease-XXXXXX)
chmod 755 "$DIR"
PORT=$((20000 + RANDOM % 20000))
PAGE=$DIR/commit.lease
PG_PID=""
SESSION_PID=""
cleanup() {
	exec 3>&- 2>/dev/null
	[ -n "$SESSION_PID" ] && kill "$SESSION_PID" 2>/dev/null
	if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
		kill -INT "$PG_PID"
		for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PG_PID" 2>/dev/null
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

# PostgreSQL will not run as root: its processes run as PGW_RUN_AS then
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u "$PGW_RUN_AS" --)
as_pg() { "${AS_PG[@]}" "$@"; }
# page ARMED DEADLINE_OFFSET_MS [MODE]: write the commit page in place (a
# backend that mapped it sees the change at once), or create it
page() {
	python3 - "$PAGE" "$1" "$2" <<'PY'
import os, struct, sys, time
path, armed, off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dl = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000) + off
buf = struct.pack("=IIIIqi4x", 0x70676c70, 1, 32, os.getpid(), dl, armed)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, buf, 0)
os.close(fd)
PY
	chmod "${3:-644}" "$PAGE"
}
PSQL=("${AS_PG[@]}" psql -X -At -h "$DIR/sock" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" "$@"; }
# returns SECONDS SQL: the statements return (rc 0) within SECONDS
returns() { timeout "$1" "${PSQL[@]}" -c "$2" >/dev/null 2>&1; }
# held SECONDS SQL: they are still running after SECONDS (timeout's 124;
# an error is not "held"). A held commit's backend goes on waiting after
# its client gave up: it commits, unseen, once the lease holds again.
held() {
	timeout "$1" "${PSQL[@]}" -c "$2" >/dev/null 2>&1
	[ $? = 124 ]
}
log_has() { grep -F -- "$1" "$DIR/pg.log" >/dev/null; }

page 1 60000
mkdir "$DIR/data" "$DIR/sock"
[ ${#AS_PG[@]} -gt 0 ] && chown "$PGW_RUN_AS" "$DIR/data" "$DIR/sock"
as_pg "$PG_BIN_DIR/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >"$DIR/initdb.log" 2>&1 ||
	{ not_ok "initdb ($(tail -3 "$DIR/initdb.log"))"; tap_finish; exit 1; }
cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$DIR/sock'
fsync = off
session_preload_libraries = '$LIB'
pgwarden_lease.page = '$PAGE'
EOF
as_pg "$PG_BIN_DIR/postgres" -D "$DIR/data" >"$DIR/pg.log" 2>&1 &
PG_PID=$!
if ! wait_for 30 sql -c "SELECT 1" >/dev/null 2>&1; then
	not_ok "PostgreSQL starts with the library in session_preload_libraries ($(tail -5 "$DIR/pg.log"))"
	tap_finish
	exit 1
fi
ok "PostgreSQL starts with the library in session_preload_libraries"
sql -c "CREATE TABLE t (i int)" >/dev/null
sql -c "CREATE ROLE plain LOGIN" >/dev/null

# ---- A -------------------------------------------------------------------
check "A: every session loads the library (pgwarden_lease.enforce is defined)" \
	test "$(sql -c "SHOW pgwarden_lease.enforce")" = on
check "A: armed, deadline ahead: a write returns" returns 5 "INSERT INTO t VALUES (1)"

# ---- B -------------------------------------------------------------------
page 1 -1000
check "B: deadline passed: a write does not return within 3 s" \
	held 3 "INSERT INTO t VALUES (2)"
check "B: PostgreSQL's log says why it waits" \
	log_has "waits for the leader lease: the leader lease's fencing deadline has passed"
check "B: control: the same write with pgwarden_lease.enforce = off returns" \
	returns 5 "SET pgwarden_lease.enforce = off; INSERT INTO t VALUES (3)"
check "B: a read returns (it acknowledges no write)" returns 5 "SELECT count(*) FROM t"
page 0 60000
check "B: not armed (deadline ahead): a write does not return within 3 s" \
	held 3 "INSERT INTO t VALUES (4)"

# ---- C -------------------------------------------------------------------
page 1 -1000
sql -c "INSERT INTO t VALUES (5)" >"$DIR/held.out" 2>&1 &
held=$!
sleep 1
check "C: a held commit is still waiting after 1 s" kill -0 "$held"
page 1 60000
check "C: it returns once the deadline is ahead again" \
	wait_for 5 bash -c "! kill -0 $held 2>/dev/null"
wait "$held"
check "C: ... as a success" test $? = 0
check "C: the log says the lease holds again" log_has "is acknowledged: the lease holds again"

# ---- D -------------------------------------------------------------------
page 1 60000 664
check "D: a group-writable page: a write does not return within 3 s" \
	held 3 "INSERT INTO t VALUES (6)"
check "D: the log names the page and what is wrong with it" \
	log_has "the commit page \"$PAGE\" is not a 32-byte file writable by its owner alone"
page 1 60000 644
check "D: control: mode 644 again, a write returns" returns 5 "INSERT INTO t VALUES (7)"

# ---- E -------------------------------------------------------------------
mkfifo "$DIR/s.in"
"${PSQL[@]}" <"$DIR/s.in" >"$DIR/s.out" 2>&1 &
SESSION_PID=$!
exec 3>"$DIR/s.in"
echo "INSERT INTO t VALUES (8); \\echo e1" >&3
check "E: a long-lived session writes while the lease holds (page mapped)" \
	wait_for 5 grep -qx e1 "$DIR/s.out"
page 1 -1000
sql -c "ALTER SYSTEM SET pgwarden_lease.page = ''" >/dev/null
sql -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
echo "INSERT INTO t VALUES (9); \\echo e2" >&3
check "E: page reset to '' and reloaded: that session's next write returns (deadline passed)" \
	wait_for 5 grep -qx e2 "$DIR/s.out"
check "E: a new session's write returns too" returns 5 "INSERT INTO t VALUES (10)"
check "E: every write that returned committed (1, 3, 5, 7, 8, 9, 10)" \
	test "$(sql -c "SELECT string_agg(i::text, ',' ORDER BY i) FROM t WHERE i IN (1,3,5,7,8,9,10)")" = "1,3,5,7,8,9,10"

# ---- F -------------------------------------------------------------------
out=$(sql -U plain -c "SET pgwarden_lease.enforce = off" 2>&1)
check "F: a non-superuser cannot turn the check off ($out)" grep -q "permission denied" <<<"$out"

tap_finish
