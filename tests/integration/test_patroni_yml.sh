#!/usr/bin/env bash
# test_patroni_yml.sh: a Patroni user's patroni.yml is accepted by
# `pgwarden --check-config` once "etcd:" is renamed "etcd3:" (issue 12):
#   - the examples Patroni ships (postgres0/1/2.yml) and Debian's template
#     (/etc/patroni/config.yml.in, filled in as pg_createconfig_patroni
#     does), checked in under tests/fixtures/patroni (MIT, see LICENSE);
#   - every-key.yml (ours): every key Patroni 3.0.2 reads; each one we do
#     not use is named in a warning, none we honour is;
#   - with "etcd:" (or another store) the error says what to rename;
#   - what ignoring would make less safe is refused, naming the key;
#   - the cases refused before this change: an empty "parameters:",
#     bootstrap.pg_hba, bootstrap.users, a user without a password;
#   - timing: Patroni's rule loop_wait + 2 * retry_timeout <= ttl.
# No cluster runs: each check is one pgwarden process.
source "$(dirname "$0")/../lib/it_prelude.sh"

FIX="$root/tests/fixtures/patroni"
DIR=$(mktemp -d /tmp/pgw-it-patroni-yml-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR" || exit 1

OUT=""
RC=0
# check FILE: pgwarden --check-config; OUT: its stderr+stdout, RC: exit
check() {
	OUT=$("$PGW_BIN" -c "$1" --check-config 2>&1)
	RC=$?
}
# accepted WHAT FILE: exit 0
accepted() {
	check "$2"
	[ "$RC" = 0 ] && ok "$1 is accepted" || not_ok "$1 is refused (rc $RC: $OUT)"
}
# refused WHAT FILE PATTERN: exit 2 with PATTERN in the message
refused() {
	check "$2"
	if [ "$RC" = 2 ] && echo "$OUT" | grepq -Eq -- "$3"; then
		ok "$1 is refused: $(echo "$OUT" | head -1 | cut -c1-160)"
	else
		not_ok "$1 (rc $RC, want 2 and /$3/: $OUT)"
	fi
}
warned() { echo "$OUT" | grepq -q "warning: .*key \"$1\": "; }
to_etcd3() { sed 's/^etcd:/etcd3:/' "$1" >"$2"; }

# ---- Patroni's own examples ------------------------------------------------
for f in postgres0 postgres1 postgres2; do
	refused "$f.yml as shipped (etcd v2)" "$FIX/$f.yml" \
		'line 25: key "etcd": pgwarden speaks etcd v3 only: rename the section "etcd:" to "etcd3:"'
	to_etcd3 "$FIX/$f.yml" "$f.yml"
	accepted "$f.yml with etcd3:" "$f.yml"
	warned bootstrap.users && ok "$f.yml: bootstrap.users named as ignored" || not_ok "$f.yml warnings ($OUT)"
done
check postgres1.yml
warned postgresql.basebackup && ok "postgres1.yml: postgresql.basebackup named as ignored" || not_ok "basebackup warning ($OUT)"

# ---- Debian's template, filled in as pg_createconfig_patroni does ----------
fill_debian() { # DCS_CONFIG OUT
	sed -e "s/@VERSION@/15/g" -e "s/@CLUSTER@/main/g" -e "s/@HOSTNAME@/node1/g" \
		-e "s/@HOSTIP@/127.0.0.1/g" -e "s/@LISTEN_VIP@//g" \
		-e "s#@DATADIR_BASE@#/var/lib/postgresql#g" -e "s#@NETWORK@#10.0.0.0/8#g" \
		-e "s/@API_PORT@/8008/g" -e "s/@PORT@/5432/g" -e "s/@DCS_CONFIG@/$1/g" \
		"$FIX/debian-config.yml.in" >"$2"
}
dcs=$(grep -Ev '^[[:space:]]*$|^ *#' "$FIX/debian-dcs.yml" | sed -e ':a;N;$!ba;s/\n/\\n/g')
fill_debian "$dcs" debian-zk.yml
refused "Debian's template with its default dcs.yml (ZooKeeper)" debian-zk.yml \
	'key "zookeeper": pgwarden keeps the cluster state in etcd v3 only'
fill_debian 'etcd:\n  host: 127.0.0.1:2379' debian-etcd.yml
refused "Debian's template with etcd:" debian-etcd.yml 'rename the section "etcd:" to "etcd3:"'
fill_debian 'etcd3:\n  host: 127.0.0.1:2379' debian.yml
accepted "Debian's template with etcd3:" debian.yml
for k in bootstrap.method bootstrap.pg_createcluster postgresql.create_replica_method \
	postgresql.pg_clonecluster postgresql.config_dir postgresql.use_unix_socket; do
	warned "$k" && ok "Debian's template: $k named as ignored" || not_ok "Debian's template: $k not warned ($OUT)"
done
! warned bootstrap.dcs.postgresql.pg_hba && ok "Debian's template: bootstrap.dcs.postgresql.pg_hba honoured (no warning)" ||
	not_ok "dcs pg_hba warned"

# ---- every key Patroni 3.0.2 reads ------------------------------------------
# A copy of mode 600: the file holds passwords, and the mode warning would
# otherwise depend on the umask of the checkout.
install -m 600 "$FIX/every-key.yml" every-key.yml
accepted "every-key.yml" every-key.yml
ignored_keys=(log.traceback_level log.format log.dateformat log.max_queue_size log.dir
	log.file_num log.file_size log.loggers citus etcd3.use_proxies restapi.keyfile_password
	restapi.http_extra_headers restapi.https_extra_headers restapi.request_queue_size ctl
	bootstrap.dcs.slots bootstrap.dcs.ignore_slots bootstrap.dcs.primary_stop_timeout
	bootstrap.dcs.maximum_lag_on_syncnode bootstrap.dcs.max_timelines_history
	bootstrap.dcs.postgresql.pg_ident bootstrap.dcs.postgresql.recovery_conf
	bootstrap.dcs.postgresql.remove_data_directory_on_diverged_timelines
	bootstrap.dcs.postgresql.pg_hba bootstrap.pg_hba
	bootstrap.method bootstrap.restore_from_backup bootstrap.users bootstrap.post_bootstrap
	bootstrap.post_init postgresql.config_dir postgresql.create_replica_methods postgresql.wal_e
	postgresql.basebackup postgresql.use_unix_socket postgresql.use_unix_socket_repl
	postgresql.pg_ident postgresql.pg_ctl_timeout postgresql.use_pg_rewind
	postgresql.remove_data_directory_on_rewind_failure
	postgresql.remove_data_directory_on_diverged_timelines postgresql.recovery_conf
	postgresql.custom_conf postgresql.krbsrvname postgresql.parameters.unix_socket_directories
	bootstrap.dcs.postgresql.parameters.hot_standby bootstrap.dcs.postgresql.parameters.wal_log_hints)
missing=""
for k in "${ignored_keys[@]}"; do warned "$k" || missing+="$k "; done
[ -z "$missing" ] && ok "every-key.yml: each of the ${#ignored_keys[@]} ignored keys is named" ||
	not_ok "every-key.yml: not named: $missing"
# Security notes (config_security.c) are warnings too, about keys we
# honour: each expected one must be there, and is not counted as a key
# ignored.
security_notes=('etcd3.password is sent over plain gRPC (etcd3.protocol is not https)')
for note in "${security_notes[@]}"; do
	echo "$OUT" | grepq -qF "warning: $note" && ok "every-key.yml: security note \"$note\"" ||
		not_ok "every-key.yml: no security note \"$note\" ($OUT)"
done
others=$(echo "$OUT" | grep 'warning: ' | grep -v -F -f <(printf 'warning: %s\n' "${security_notes[@]}"))
n=$(echo "$others" | grep -c 'warning: ')
[ "$n" = "${#ignored_keys[@]}" ] && ok "every-key.yml: no warning about a key it honours" ||
	not_ok "every-key.yml: $n warnings for ${#ignored_keys[@]} ignored keys: $(echo "$others" | grep -v -F -f <(printf 'key "%s"\n' "${ignored_keys[@]}"))"

# ---- refused: ignoring them would make the node less safe -------------------
base=postgres0.yml
refuse_with() { # WHAT SED-EXPRESSION PATTERN
	sed "$2" "$base" >refused.yml
	refused "$1" refused.yml "$3"
}
refuse_with "restapi.ciphers" 's/^restapi:$/restapi:\n  ciphers: ECDHE-RSA-AES256-GCM-SHA384/' \
	'key "restapi.ciphers": not supported'
refuse_with "a libpq sslmode for replication" 's/^      username: replicator$/      username: replicator\n      sslmode: verify-full/' \
	'key "postgresql.authentication.replication.sslmode": not supported'
refuse_with "bootstrap.dcs.standby_cluster" 's/^    #standby_cluster:$/    standby_cluster:\n      host: 10.0.0.9\n      port: 5432/' \
	'key "bootstrap.dcs.standby_cluster": standby clusters are not supported'
refuse_with "watchdog.mode: required" 's/^#watchdog:$/watchdog:\n  mode: required/' \
	'key "watchdog.mode": "required" is not supported'
refuse_with "etcd3.srv" 's/^  host: 127.0.0.1:2379$/  srv: example.org/' \
	'key "etcd3.srv": DNS SRV discovery is not supported'
refuse_with "a typo" 's/^  connect_address: 127.0.0.1:8008$/  conect_address: 127.0.0.1:8008/' \
	'line 7: unknown key "restapi.conect_address"'

# ---- refused before, accepted now ---------------------------------------------
cat >min.yml <<'YML'
scope: demo
name: node1
etcd3: {hosts: 127.0.0.1:2379}
restapi: {listen: 127.0.0.1:8008}
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/postgresql/15/main
  authentication:
    superuser:
      username: postgres
      password:
    replication:
      username: replicator
  parameters:
bootstrap:
  dcs:
    postgresql:
      parameters:
  pg_hba:
  - host all all 10.0.0.0/8 scram-sha-256
  users:
    admin: {password: x, options: [createrole]}
YML
accepted "empty parameters:, bootstrap.pg_hba, bootstrap.users, users without passwords" min.yml

# ---- timing: Patroni's rule ------------------------------------------------------
timing() { # TTL LOOP RETRY
	sed -e "s/^    ttl: 30$/    ttl: $1/" -e "s/^    loop_wait: 10$/    loop_wait: $2/" \
		-e "s/^    retry_timeout: 10$/    retry_timeout: $3/" "$base" >timing.yml
}
timing 30 10 10
accepted "Patroni's defaults 30/10/10" timing.yml
timing 10 2 4
accepted "a fast profile 10/2/4" timing.yml
timing 10 2 4.5
refused "10/2/4.5 (11 s > ttl)" timing.yml 'loop_wait \+ 2 \* retry_timeout \(11000 ms\) must not exceed ttl \(10000 ms\)'

tap_finish
