#!/usr/bin/env bash
# test_sec_symlinks.sh: root never follows a path the PostgreSQL OS user
# controls (security review F1, F5, F8; DESIGN.md promise 6). Two nodes,
# fast profile, in the layout where the PostgreSQL user owns the directory
# that holds the data directory (Debian's /var/lib/postgresql/15), so it
# can plant links both inside the data directory and beside it. Before
# each trigger the PostgreSQL user (never root) plants symbolic links at
# the names pgwarden writes, pointing at root-owned files ("victims");
# after it, every victim is still root's, mode 644, with its content, and
# no file was created where a dangling link pointed:
#   1. restart (POST /restart): the generated conf and its old temp name
#   2. crash of a replica's postmaster (killed by the PostgreSQL user):
#      the generated conf, and the log file beside the data directory
#      (refused: PostgreSQL is not started until the link is gone)
#   3. promote (switchover): the promote signal file on the new primary,
#      standby.signal on the demoted one
#   4. rewind (the primary's node crashes, a failover, it comes back): the
#      rewind marker beside the data directory and its old temp name
#   5. clone (POST /reinitialize): a link to a root directory inside the
#      data directory (the removal must not enter it), the clone marker
#   6. the include line: postgresql.conf a link (refused, not appended to)
#   7. the pgpass file beside the data directory at the daemon's start
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-links-XXXXXX)
V=$DIR/victims
cleanup() {
	tap_dump_logs "$DIR" 2 40
	cluster_cleanup
}
trap cleanup EXIT

as_pg() { runuser -u "$PGW_RUN_AS" -- sh -c "$1"; }
victim() { # NAME: a root-owned file the PostgreSQL user must not touch
	echo "ROOT-OWNED $1" >"$V/$1"
	chmod 644 "$V/$1"
}
intact() { # NAME...: every victim unchanged
	local n
	for n in "$@"; do
		[ "$(stat -c '%U:%G %a' "$V/$n" 2>/dev/null)" = "root:root 644" ] || return 1
		[ "$(cat "$V/$n")" = "ROOT-OWNED $n" ] || return 1
	done
}
absent() { [ ! -e "$V/$1" ] && [ ! -L "$V/$1" ]; }
api() { # I METHOD PATH [BODY]: HTTP status
	curl -s -o "$DIR/api.out" -m 90 -u "$CL_REST_AUTH" -w '%{http_code}' -X "$2" \
		${4:+-d "$4"} "http://127.0.0.1:${CL_API_PORT[$1]}$3"
}
is_replica() { [ "$(cluster_status "$1" /replica)" = 200 ]; }
log_has() { grep -q -- "$2" "$DIR/node$1/pgwarden.log"; }

mkdir -p "$V"
chmod 755 "$V"
cluster_init "$DIR" 2 fast
# the PostgreSQL user owns each node's directory (the data directory's
# parent), as in Debian's layout
for i in 1 2; do chown "$PGW_RUN_AS" "$DIR/node$i"; done
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
cluster_start_node 1
check "node1 is primary" test "$(cluster_wait_primary 90)" = 1
cluster_start_node 2
check "node2 replicates" wait_for 90 is_replica 2

# ---- 1. restart -------------------------------------------------------------
victim conf1
victim conftmp1
as_pg "ln -sf $V/conf1 $DIR/node1/data/postgresql.pgwarden.conf && ln -sf $V/conftmp1 $DIR/node1/data/postgresql.pgwarden.conf.tmp"
code=$(api 1 POST /restart)
check "restart: POST /restart answers 200 ($code: $(cat "$DIR/api.out"))" test "$code" = 200
check "restart: the root-owned files behind the planted links are unchanged" intact conf1 conftmp1
check "restart: the generated conf is a regular file again" test -f "$DIR/node1/data/postgresql.pgwarden.conf" -a ! -L "$DIR/node1/data/postgresql.pgwarden.conf"
check "restart: node1 is primary again" test "$(cluster_wait_primary 60)" = 1

# ---- 2. crash of a replica's postmaster ---------------------------------------
victim conf2
victim log2
as_pg "ln -sf $V/conf2 $DIR/node2/data/postgresql.pgwarden.conf && mv $DIR/node2/data.log $DIR/node2/data.log.orig && ln -s $V/log2 $DIR/node2/data.log && kill -9 \$(head -1 $DIR/node2/data/postmaster.pid)"
check "crash: the daemon refuses the linked log file (and says so)" \
	wait_for 60 log_has 2 "symbolic link: pgwarden does not follow it"
check "crash: the root-owned files behind the links are unchanged" intact conf2 log2
as_pg "rm $DIR/node2/data.log && mv $DIR/node2/data.log.orig $DIR/node2/data.log"
check "crash: with the link gone node2 is a replica again" wait_for 90 is_replica 2
check "crash: still unchanged after the restart" intact conf2 log2

# ---- 3. promote (switchover to node2) -------------------------------------------
victim standby3
as_pg "ln -s $V/created_promote $DIR/node2/data/promote && ln -s $V/standby3 $DIR/node1/data/standby.signal"
# 412 until node2's member key shows it running again after the crash
for k in $(seq 1 60); do
	code=$(api 1 POST /switchover '{"leader":"node1","candidate":"node2"}')
	[ "$code" = 412 ] || break
	sleep 0.5
done
check "promote: POST /switchover answers 200 ($code: $(cat "$DIR/api.out"))" test "$code" = 200
check "promote: node2 is primary" test "$(cluster_wait_primary 60)" = 2
check "promote: no file was created where the promote link pointed" absent created_promote
check "promote: node1 follows as a replica" wait_for 90 is_replica 1
check "promote: the root-owned file behind node1's standby.signal link is unchanged" intact standby3
check "promote: node1's standby.signal is a regular file" test -f "$DIR/node1/data/standby.signal" -a ! -L "$DIR/node1/data/standby.signal"

# ---- 4. rewind (node2's node crashes, node1 takes over, node2 comes back) ---------
cluster_psql 2 "CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)" >/dev/null
cluster_kill_node 2 KILL all
check "rewind: node1 takes over" test "$(cluster_wait_primary 60 2)" = 1
cluster_psql 1 "INSERT INTO t VALUES (2)" >/dev/null 2>&1
victim rewindtmp4
as_pg "ln -s $V/rewindtmp4 $DIR/node2/data.rewind-incomplete.tmp && ln -s $V/created_rewind_marker $DIR/node2/data.rewind-incomplete"
# a dangling link at the marker's own name reads as "no marker" (its
# target does not exist): the rewind runs and writes the marker over it
cluster_start_node 2
check "rewind: node2 rewinds and rejoins as a replica" wait_for 120 is_replica 2
check "rewind: node2 ran pg_rewind" log_has 2 "event=pg.rewound"
check "rewind: the root-owned file behind the old temp name is unchanged" intact rewindtmp4
check "rewind: nothing was created where the marker link pointed" absent created_rewind_marker

# ---- 5. clone (POST /reinitialize of node2) ----------------------------------------
mkdir -p "$V/dir5"
victim dir5/keep
victim clonetmp5
as_pg "ln -s $V/dir5 $DIR/node2/data/evil_dir && ln -s $V/dir5/keep $DIR/node2/data/evil_file && ln -s $V/clonetmp5 $DIR/node2/data.clone-incomplete.tmp"
clones() { grep -c "event=clone.done .*rc=0" "$DIR/node2/pgwarden.log"; }
clones0=$(clones)
cloned() { [ "$(clones)" -gt "$clones0" ]; }
code=$(api 2 POST /reinitialize '{"force":true}')
# 200, or 503 when the loop is still cloning after the request's short wait
echo "# clone: POST /reinitialize: $code $(cat "$DIR/api.out")"
check "clone: POST /reinitialize was accepted ($code)" \
	sh -c "[ '$code' = 200 ] || grep -q 'still running' '$DIR/api.out'"
check "clone: node2 was re-cloned" wait_for 180 cloned
check "clone: node2 is a replica again" wait_for 120 is_replica 2
check "clone: the removal did not enter the linked root directory" intact dir5/keep
check "clone: the root-owned file behind the old marker temp name is unchanged" intact clonetmp5
check "clone: the old data directory is gone, links included" sh -c "! ls -d '$DIR'/node2/data.removing.* 2>/dev/null"

# ---- 6. the include line: postgresql.conf a link ------------------------------------
victim pgconf6
as_pg "mv $DIR/node2/data/postgresql.conf $DIR/node2/data/postgresql.conf.orig && ln -s $V/pgconf6 $DIR/node2/data/postgresql.conf"
code=$(api 2 POST /restart)
echo "# include: POST /restart with postgresql.conf a link: $code $(cat "$DIR/api.out")"
check "include: the daemon refuses to append to a linked postgresql.conf" \
	wait_for 60 log_has 2 "postgresql.conf\\\\\": .*symbolic link"
check "include: the root-owned file behind it is unchanged (no include line)" intact pgconf6
as_pg "rm $DIR/node2/data/postgresql.conf && mv $DIR/node2/data/postgresql.conf.orig $DIR/node2/data/postgresql.conf"
check "include: with the link gone node2 is a replica again" wait_for 90 is_replica 2

# ---- 7. the pgpass file at the daemon's start ------------------------------------------
victim pgpass7
victim pgpasstmp7
cluster_stop_node 2
as_pg "rm -f $DIR/node2/data.pgpass && ln -s $V/pgpass7 $DIR/node2/data.pgpass && ln -s $V/pgpasstmp7 $DIR/node2/data.pgpass.tmp"
cluster_start_node 2
check "pgpass: node2 is a replica after its daemon restarted" wait_for 90 is_replica 2
check "pgpass: the root-owned files behind the links are unchanged" intact pgpass7 pgpasstmp7
check "pgpass: the pgpass file is a regular file of the PostgreSQL user, mode 600" \
	test "$(stat -c '%U %a %F' "$DIR/node2/data.pgpass")" = "$PGW_RUN_AS 600 regular file"
check "pgpass: no line offers a password to any host (*:*:*)" sh -c "! grep -q '^\\*:\\*:\\*:' '$DIR/node2/data.pgpass'"

check "every victim is unchanged at the end" intact conf1 conftmp1 conf2 log2 standby3 rewindtmp4 dir5/keep clonetmp5 pgconf6 pgpass7 pgpasstmp7
check "no sanitizer report in any daemon log" cluster_sanitizer_clean
tap_finish
