#!/usr/bin/env bash
# shard_groups.sh: helpers of the sharding tests (test_shard_*.sh, sourced
# after it_prelude.sh): one scope, three HA groups of two nodes (nodes 1-2
# group 1, 3-4 group 2, 5-6 group 3), fast timing profile, synchronous
# mode (so a failover loses no acknowledged commit and the tests can count
# to zero), wal_level logical for the moves; the sharded table `events` on
# every group; the writer; and the checks that count lost and duplicated
# rows over every group.

SG_WRITER=$PGW_BUILD_DIR/shard/pgw_shard_writer
SG_WRITER_PID=""

# sg_setup DIR: three groups of two nodes, started; 0 when every group has
# a primary and a replica
sg_setup() {
	local i g
	cluster_init "$1" 6 fast
	for i in 1 2 3 4 5 6; do
		g=$(((i + 1) / 2))
		sed -i "s/^name: node$i\$/name: node$i\ngroup: $g/" "$CL_DIR/node$i/pgwarden.yml"
		# cluster-wide parameters (bootstrap.dcs.postgresql.parameters): a
		# node's own wal_level & co. are ignored, as Patroni ignores them
		sed -i 's/^        wal_keep_size: 64MB$/&\n        wal_level: logical\n        max_replication_slots: 16\n        max_wal_senders: 16/' "$CL_DIR/node$i/pgwarden.yml"
		grep -q '^        wal_level: logical$' "$CL_DIR/node$i/pgwarden.yml" || return 1
		sed -i 's/^    maximum_lag_on_failover: 1048576$/    maximum_lag_on_failover: 1048576\n    synchronous_mode: true/' "$CL_DIR/node$i/pgwarden.yml"
	done
	cluster_start_etcd || return 1
	# the first node of each group first, so it bootstraps the group
	for i in 1 3 5; do cluster_start_node "$i"; done
	for g in 1 2 3; do wait_for 90 sg_primary_is_up "$g" || return 1; done
	for i in 2 4 6; do cluster_start_node "$i"; done
	for g in 1 2 3; do wait_for 120 sg_group_has_replica "$g" || return 1; done
	return 0
}

# sg_group_nodes G: the node numbers of group G
sg_group_nodes() { echo "$((2 * $1 - 1)) $((2 * $1))"; }

# sg_primary G: the node of group G answering /primary (empty if none)
sg_primary() {
	local i
	for i in $(sg_group_nodes "$1"); do
		if [ "$(cluster_status "$i" /primary)" = 200 ]; then
			echo "$i"
			return 0
		fi
	done
	return 1
}
sg_primary_is_up() { [ -n "$(sg_primary "$1")" ]; }
# sg_primary_not G NODE: group G has a primary and it is not NODE
sg_primary_not() {
	local p
	p=$(sg_primary "$1")
	[ -n "$p" ] && [ "$p" != "$2" ]
}
sg_group_has_replica() {
	local i
	for i in $(sg_group_nodes "$1"); do
		[ "$(cluster_status "$i" /replica)" = 200 ] && return 0
	done
	return 1
}
# sg_sync_ready G: group G's sync key names a standby (no commit is lost
# when its primary dies from now on)
sg_sync_ready() {
	[ -n "$(cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/$1/sync" | jq -r '.sync_standby // empty' 2>/dev/null)" ]
}

# sg_psql G SQL: SQL on group G's primary
sg_psql() {
	local p
	p=$(sg_primary "$1") || return 1
	cluster_psql "$p" "$2"
}

sg_ctl() { PGPASSWORD=pgw-super cluster_ctl "$@"; }

# sg_create_table: the sharded table on every group's primary
sg_create_table() {
	local g
	for g in 1 2 3; do
		sg_psql "$g" "CREATE TABLE IF NOT EXISTS events (user_id bigint NOT NULL, seq bigint NOT NULL, payload text, PRIMARY KEY (user_id, seq))" >/dev/null || return 1
	done
}

# sg_writer_start ACKED RANGE [THREADS]: the writer over users 1..10000
sg_writer_start() {
	"$SG_WRITER" --etcd "127.0.0.1:$CL_ETCD_PORT" --scope "$CL_SCOPE" --users 10000 \
		--threads "${3:-4}" --acked "$1" --range "$2" --duration-s 900 write \
		>"$1.out" 2>"$1.err" &
	SG_WRITER_PID=$!
}
# sg_writer_stop: SIGTERM, wait, print its summary line
sg_writer_stop() {
	[ -n "$SG_WRITER_PID" ] || return 0
	# bounded: a writer blocked in a commit does not see SIGTERM (an
	# unbounded wait here held a suite run until ctest's 600 s timeout);
	# its acknowledgements so far are in its file either way
	cl_term_wait 30 "$SG_WRITER_PID" ||
		echo "# the shard writer did not stop within 30 s of SIGTERM: killed"
	SG_WRITER_PID=""
}
# sg_acks FILE: rows acknowledged so far
sg_acks() { wc -l 2>/dev/null <"$1" || echo 0; }
sg_acks_above() { [ "$(sg_acks "$1")" -gt "$2" ]; }

# sg_dump OUT: "user_id seq group" of every row on every group's primary
sg_dump() {
	local g
	: >"$1"
	for g in 1 2 3; do
		sg_psql "$g" "COPY (SELECT user_id, seq, $g FROM events) TO STDOUT WITH (DELIMITER ' ')" >>"$1" || return 1
	done
}

# sg_check ACKED DUMP: "lost=N dup=M" over every group
sg_check() {
	local lost dup
	awk '{print $1" "$2}' "$1" | sort -u >"$1.keys"
	awk '{print $1" "$2}' "$2" | sort >"$2.keys"
	dup=$(uniq -d "$2.keys" | wc -l)
	lost=$(comm -23 "$1.keys" <(sort -u "$2.keys") | wc -l)
	echo "lost=$lost dup=$dup acked=$(wc -l <"$1.keys") rows=$(wc -l <"$2.keys")"
}

# sg_range_rows G FROM TO: rows of events in slots FROM..TO on group G
sg_range_rows() {
	sg_psql "$1" "SELECT count(*) FROM events WHERE (hashint8extended(user_id, 0) & 4095) BETWEEN $2 AND $3"
}

# sg_acked_sql ACKED SQL: SQL over the acknowledged rows, loaded into temp
# table a (u user_id, s seq, g group, t0 first attempt ms, t1 ack ms, n
# attempts) on group 1's primary
sg_acked_sql() {
	PGPASSWORD=pgw-super psql -X -q -A -t -h 127.0.0.1 -p "${CL_PG_PORT[$(sg_primary 1)]}" \
		-U postgres -d postgres \
		-c "CREATE TEMP TABLE a (u bigint, s bigint, g int, t0 bigint, t1 bigint, n int)" \
		-c "\\copy a FROM '$1' WITH (DELIMITER ' ')" -c "$2" | tail -1
}
# sg_pause_ms ACKED FROM TO: the longest first-attempt-to-ack time of the
# rows whose slot is in FROM..TO (the write pause the move caused)
sg_pause_ms() {
	sg_acked_sql "$1" "SELECT coalesce(max(t1 - t0), 0) FROM a WHERE (hashint8extended(u, 0) & 4095) BETWEEN $2 AND $3"
}
# sg_acked_in_range ACKED FROM TO: acknowledged rows whose slot is in FROM..TO
sg_acked_in_range() {
	sg_acked_sql "$1" "SELECT count(DISTINCT (u, s)) FROM a WHERE (hashint8extended(u, 0) & 4095) BETWEEN $2 AND $3"
}

# sg_routers_start: one PgBouncer exposing two databases per group,
# app_g<G>_rw and app_g<G>_ro, each group's pair kept by its own
# pgwarden-router (group: G) in its own include file (routing/README.md
# "Sharded scopes"). Uses routing_stack.sh's process helpers; the caller's
# EXIT trap calls rs_stop_all.
# (sourced here, not in the function: its `declare -a RS_PIDS` would be
# local to the function, and rs_stop_all would stop nothing)
source "$root/tests/integration/routing_stack.sh"
SG_PGB_PORT=0
sg_routers_start() {
	local g k
	RS_DIR=$CL_DIR/route
	SG_PGB_PORT=$(cl_pick_port)
	mkdir -p "$RS_DIR"
	{
		cat <<INI
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $SG_PGB_PORT
unix_socket_dir = $RS_DIR
auth_type = any
pool_mode = transaction
admin_users = pgwarden
max_client_conn = 200
default_pool_size = 10
query_wait_timeout = 30
server_login_retry = 1
logfile = $RS_DIR/pgbouncer.log
pidfile = $RS_DIR/pgbouncer.pid
INI
		for g in 1 2 3; do echo "%include $RS_DIR/g$g.ini"; done
	} >"$RS_DIR/pgbouncer.ini"
	for g in 1 2 3; do
		echo "[databases]" >"$RS_DIR/g$g.ini"
		cat >"$RS_DIR/r-g$g.yml" <<YML
name: r-g$g
scope: $CL_SCOPE
group: $g
namespace: /service
etcd:
  hosts: 127.0.0.1:$CL_ETCD_PORT
router_ttl: 2s
loop_wait: 20ms
retry_interval: 200ms
targets:
  - type: pgbouncer
    include_file: $RS_DIR/g$g.ini
    admin_conninfo: "host=127.0.0.1 port=$SG_PGB_PORT dbname=pgbouncer user=pgwarden"
    rw_database: app_g${g}_rw
    ro_database: app_g${g}_ro
    dbname: postgres
    options: "user=postgres password=pgw-super"
    timeout: 5s
YML
	done
	[ "$(id -u)" = 0 ] && chown -R "$PGW_RUN_AS" "$RS_DIR"
	rs_bg "$RS_DIR/pgbouncer.out" rs_as_user /usr/sbin/pgbouncer "$RS_DIR/pgbouncer.ini"
	for k in $(seq 1 100); do
		! cl_port_free "$SG_PGB_PORT" && break
		sleep 0.1
	done
	cl_port_free "$SG_PGB_PORT" && return 1
	for g in 1 2 3; do
		rs_bg "$RS_DIR/r-g$g.log" rs_as_user "$RS_ROUTER" -c "$RS_DIR/r-g$g.yml"
	done
	return 0
}

# sg_pgb_sql DB SQL: SQL through PgBouncer's database DB
sg_pgb_sql() {
	PGCONNECT_TIMEOUT=3 psql -X -q -A -t -h 127.0.0.1 -p "$SG_PGB_PORT" -U postgres -d "$1" -c "$2"
}
# sg_pgb_routes G: app_g<G>_rw reaches group G's primary and app_g<G>_ro a
# node of group G in recovery
sg_pgb_routes() {
	local g=$1 p
	p=$(sg_primary "$g") || return 1
	[ "$(sg_pgb_sql "app_g${g}_rw" "SELECT inet_server_port(), pg_is_in_recovery()" 2>/dev/null)" = "${CL_PG_PORT[$p]}|f" ] &&
		[ "$(sg_pgb_sql "app_g${g}_ro" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]
}
