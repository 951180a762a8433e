#!/usr/bin/env bash
# test_sec_no_trust.sh: a node configured without database passwords
# (security review F13: the generated pg_hba.conf said "trust", making
# every local OS user a database superuser, hence the PostgreSQL OS user,
# hence root through F1). One node, fast profile, no
# postgresql.authentication: it bootstraps and pgwarden manages it (peer
# authentication through a pg_ident map: root and run_as as the
# superuser); another local OS user cannot get in as the superuser, nor
# can anyone over TCP without a password; pg_hba.conf has no "trust".
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-notrust-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 1 30
	cluster_cleanup
}
trap cleanup EXIT

cluster_init "$DIR" 1 fast
sed -i '/superuser: {username/d; /replication: {username/d; s/^  authentication:$/  authentication: {}/' \
	"$DIR/node1/pgwarden.yml"
check "the config names no database password" sh -c "! grep -q 'pgw-super' '$DIR/node1/pgwarden.yml'"
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
cluster_start_node 1
check "node1 bootstraps and serves as primary (pgwarden connects by peer)" test "$(cluster_wait_primary 90)" = 1
check "pg_hba.conf has no trust rule" sh -c "! grep -qw trust '$DIR/node1/data/pg_hba.conf'"
check "pg_hba.conf uses peer with pgwarden's map for local connections" \
	grep -q '^local all all peer map=pgwarden$' "$DIR/node1/data/pg_hba.conf"
out=$(runuser -u nobody -- psql -X -h "$DIR/node1/run" -p "${CL_PG_PORT[1]}" -U postgres -d postgres -c 'select 1' 2>&1)
check "another local OS user (nobody) cannot connect as postgres: $(tail -1 <<<"$out" | cut -c1-80)" \
	grep -q "Peer authentication failed" <<<"$out"
out=$(PGPASSWORD=guess psql -X -h 127.0.0.1 -p "${CL_PG_PORT[1]}" -U postgres -d postgres -c 'select 1' 2>&1)
check "nobody gets in over TCP without the password" grep -q "password authentication failed" <<<"$out"
out=$(runuser -u "$PGW_RUN_AS" -- psql -X -At -h "$DIR/node1/run" -p "${CL_PG_PORT[1]}" -U postgres -d postgres -c 'select 1' 2>&1)
check "the PostgreSQL OS user still connects as postgres (peer map)" test "$out" = 1
check "--check-config says what the generated rules allow" sh -c \
	"'$PGW_BIN' --check-config -c '$DIR/node1/pgwarden.yml' | grep -q 'nothing is \"trust\"'"
tap_finish
