#!/usr/bin/env bash
# test_daemon_rest_write.sh: the REST API's write side on a real 3-node
# cluster (etcd + pgwarden + PostgreSQL 15 on loopback, fast profile).
# Every node requires basic auth (admin/s3cret) for writes; node3 is tagged
# nofailover and only allows 10.0.0.0/8 to write. Scenarios, refusals first:
#   1. credentials: none / wrong -> 401 with WWW-Authenticate; health
#      checks stay open; a client outside node3's allowlist -> 403
#   2. bad bodies -> 4xx with a JSON error naming the problem: bad JSON,
#      wrong types, a time without a zone, an unknown member, > 64 KiB
#   3. PATCH /config changes a key (GET /config, pgwardenctl show-config);
#      invalid values -> 422; a stale If-Match (lost CAS) -> 409
#   4. switchover scheduled in the future -> 202, DELETE -> 200, again 404;
#      to the nofailover node -> 412
#   5. a real switchover to node2 -> 200 once the leader key names it;
#      node2 is the primary and node1 streams from it
#   6. TLS with a test CA (openssl CLI) and verify_client: required on
#      node3: no client certificate -> 403 (the handshake itself succeeds:
#      libmicrohttpd can only request a certificate), the right one -> 200
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-restw-XXXXXX)
cleanup() {
	tap_dump_logs "$DIR" 3 30
	cluster_cleanup
}
trap cleanup EXIT

# expect WHAT WANT GOT [BODY]
expect() {
	if [ "$2" = "$3" ]; then ok "$1 ($3)"; else not_ok "$1: want $2, got $3 ${4:-}"; fi
}
AUTH=admin:s3cret
# api I METHOD PATH [BODY] [curl args...]: prints "STATUS BODY"
api() {
	local i=$1 m=$2 p=$3 body=${4:-}
	shift 4 2>/dev/null || shift $#
	local out
	out=$(curl -s -m 40 -X "$m" -H 'Content-Type: application/json' \
		${body:+--data-binary "$body"} -w '\n%{http_code}' "$@" \
		"http://127.0.0.1:${CL_API_PORT[$i]}$p" 2>/dev/null)
	echo "$(tail -n1 <<<"$out") $(head -n -1 <<<"$out")"
}
code() { cut -d' ' -f1 <<<"$1"; }
body() { cut -d' ' -f2- <<<"$1"; }
json_error_names() { # RESP PATTERN: 4xx with a JSON error containing PATTERN
	jq -e --arg p "$2" '.error | contains($p)' >/dev/null 2>&1 <<<"$(body "$1")"
}

# the harness writes restapi.authentication with these credentials
CL_REST_USER=admin
CL_REST_PASS=s3cret
cluster_init "$DIR" 3 fast
cp "$DIR/node3/pgwarden.yml" "$DIR/node3/base.yml"
sed -i "/^restapi:/a\\  allowlist: ['10.0.0.0/8']" "$DIR/node3/pgwarden.yml"
printf 'tags:\n  nofailover: true\n' >>"$DIR/node3/pgwarden.yml"
printf 'tags:\n  nofailover: true\n' >>"$DIR/node3/base.yml"

cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
cluster_start_node 1
leader=$(cluster_wait_primary 90)
[ "$leader" = 1 ] && ok "node1 bootstraps the cluster" || { not_ok "node1 bootstraps (got '$leader')"; exit 1; }
cluster_start_node 2
cluster_start_node 3
if cluster_wait_replicas 120 2; then ok "node2 and node3 stream from node1"; else not_ok "replicas"; exit 1; fi

# ---- 1. credentials and allowlist ----------------------------------------
r=$(api 1 POST /switchover '{"leader":"node1"}')
expect "POST /switchover without credentials" 401 "$(code "$r")"
hdr=$(curl -s -o /dev/null -D - -X POST "http://127.0.0.1:${CL_API_PORT[1]}/reload")
grep -qi '^WWW-Authenticate: Basic realm=' <<<"$hdr" && ok "401 carries WWW-Authenticate" || not_ok "WWW-Authenticate missing: $hdr"
r=$(api 1 POST /switchover '{"leader":"node1"}' -u admin:wrong)
expect "POST /switchover with a wrong password" 401 "$(code "$r")"
r=$(api 1 PATCH /config '{"pause":true}' -u root:s3cret)
expect "PATCH /config with a wrong user" 401 "$(code "$r")"
expect "GET /health stays open" 200 "$(cluster_status 1 /health)"
expect "GET /replica stays open" 200 "$(cluster_status 2 /replica)"
r=$(api 3 POST /reload '' -u $AUTH)
expect "node3 refuses a client outside its allowlist" 403 "$(code "$r")"
json_error_names "$r" "Access is denied" && ok "403 names the reason" || not_ok "403 body: $r"
expect "node3 health checks stay open for that client" 200 "$(cluster_status 3 /health)"

# ---- 2. bad bodies ---------------------------------------------------------
r=$(api 1 POST /switchover '{"leader":' -u $AUTH)
expect "bad JSON" 400 "$(code "$r")"
json_error_names "$r" "invalid JSON" && ok "bad JSON: JSON error body" || not_ok "body: $r"
r=$(api 1 POST /switchover '{"leader":["node1"]}' -u $AUTH)
expect "wrong type" 400 "$(code "$r")"
json_error_names "$r" 'key "leader"' && ok "wrong type: names the key" || not_ok "body: $r"
r=$(api 1 POST /switchover '{"leader":"node1","scheduled_at":"2099-01-01T10:00:00"}' -u $AUTH)
expect "time without a zone" 400 "$(code "$r")"
json_error_names "$r" "Timezone information is mandatory" && ok "no zone: says so" || not_ok "body: $r"
r=$(api 1 POST /switchover '{"leader":"node1","candidate":"node9"}' -u $AUTH)
expect "unknown member" 412 "$(code "$r")"
json_error_names "$r" "node9" && ok "unknown member: named" || not_ok "body: $r"
r=$(api 1 POST /restart '{"role":"boss"}' -u $AUTH)
expect "restart with a bad role filter" 400 "$(code "$r")"
big=$(head -c 70000 /dev/zero | tr '\0' 'x')
r=$(api 1 PATCH /config "{\"x\":\"$big\"}" -u $AUTH)
expect "body over 64 KiB" 413 "$(code "$r")"
expect "node1 still serves after bad input" 200 "$(cluster_status 1 /primary)"

# ---- 3. PATCH /config --------------------------------------------------------
r=$(api 1 PATCH /config '{"maximum_lag_on_failover":2097152}' -u $AUTH)
expect "PATCH /config" 200 "$(code "$r")"
[ "$(jq -r .maximum_lag_on_failover <<<"$(body "$r")")" = 2097152 ] && ok "PATCH answers the new config" || not_ok "PATCH body: $r"
seen=""
for k in $(seq 1 50); do
	seen=$(curl -s "http://127.0.0.1:${CL_API_PORT[2]}/config" | jq -r .maximum_lag_on_failover)
	[ "$seen" = 2097152 ] && break
	sleep 0.2
done
expect "GET /config on another node shows it" 2097152 "$seen"
expect "pgwardenctl show-config shows it" 2097152 \
	"$(cluster_ctl show-config --format json 2>/dev/null | jq -r .maximum_lag_on_failover)"
r=$(api 1 PATCH /config '{"ttl":"ten"}' -u $AUTH)
expect "PATCH with a wrong type" 422 "$(code "$r")"
json_error_names "$r" 'key "ttl"' && ok "422 names the key" || not_ok "body: $r"
r=$(api 1 PATCH /config '{"loop_wiat":1}' -u $AUTH)
expect "PATCH with a typo" 422 "$(code "$r")"
r=$(api 1 PATCH /config '{"ttl":2}' -u $AUTH)
expect "PATCH breaking loop_wait + 2 * retry_timeout < ttl" 422 "$(code "$r")"
etag=$(curl -s -o /dev/null -D - "http://127.0.0.1:${CL_API_PORT[1]}/config" | tr -d '\r' | sed -n 's/^ETag: //Ip')
[ -n "$etag" ] && ok "GET /config has an ETag ($etag)" || not_ok "no ETag on GET /config"
r=$(api 1 PATCH /config '{"maximum_lag_on_failover":1048576}' -u $AUTH)
expect "a concurrent writer changes the config" 200 "$(code "$r")"
r=$(api 1 PATCH /config '{"pause":true}' -u $AUTH -H "If-Match: $etag")
expect "PATCH with the stale revision loses the CAS" 409 "$(code "$r")"
[ "$(cluster_ctl show-config --format json 2>/dev/null | jq -r '.pause // false')" = false ] && ok "the lost PATCH changed nothing" || not_ok "pause was written"

# ---- 4. scheduled switchover, cancel, ineligible --------------------------
r=$(api 1 POST /switchover '{"leader":"node1","candidate":"node2","scheduled_at":"2099-01-01T10:00:00+00:00"}' -u $AUTH)
expect "switchover scheduled in the future" 202 "$(code "$r")"
r=$(api 2 POST /switchover '{"leader":"node1","candidate":"node2","scheduled_at":"2099-01-02T10:00:00Z"}' -u $AUTH)
expect "a second request while one is pending" 409 "$(code "$r")"
v=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CL_ETCD_PORT" get --print-value-only /service/demo/failover)
jq -e '.leader == "node1" and .member == "node2" and (.scheduled_at | startswith("2099-01-01T10:00:00"))' >/dev/null <<<"$v" &&
	ok "failover key holds Patroni's JSON ($v)" || not_ok "failover key: $v"
r=$(api 2 DELETE /switchover '' -u $AUTH)
expect "DELETE /switchover" 200 "$(code "$r")"
r=$(api 2 DELETE /switchover '' -u $AUTH)
expect "DELETE /switchover again" 404 "$(code "$r")"
r=$(api 1 POST /switchover '{"leader":"node1","candidate":"node3"}' -u $AUTH)
expect "switchover to the nofailover node" 412 "$(code "$r")"
json_error_names "$r" "nofailover" && ok "412 gives the reason" || not_ok "body: $r"
r=$(api 1 POST /switchover '{"leader":"node2","candidate":"node3"}' -u $AUTH)
expect "switchover naming the wrong leader" 412 "$(code "$r")"
expect "nothing changed: node1 still primary" 200 "$(cluster_status 1 /primary)"

# ---- 5. a real switchover ----------------------------------------------------
r=$(api 1 POST /switchover '{"leader":"node1","candidate":"node2"}' -u $AUTH)
expect "switchover to node2" 200 "$(code "$r")" "$(body "$r")"
expect "node2 is the primary" 2 "$(cluster_wait_primary 30)"
check "node1 streams from node2" cluster_wait_replicas 60 2

# ---- 6. TLS with verify_client: required on node3 ------------------------
pki=$DIR/pki
mkdir -p "$pki"
(
	cd "$pki" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pgwarden test CA" \
		-keyout ca.key -out ca.crt
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
	printf 'subjectAltName=IP:127.0.0.1\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt
	openssl req -newkey rsa:2048 -nodes -subj "/CN=operator" -keyout client.key -out client.csr
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rogue" -keyout rogue.key -out rogue.crt
) >"$DIR/pki.log" 2>&1 || { not_ok "openssl made the test CA"; exit 1; }
chmod 644 "$pki"/*
cluster_stop_node 3
cp "$DIR/node3/base.yml" "$DIR/node3/pgwarden.yml"
sed -i "/^restapi:/a\\  certfile: $pki/server.crt\\n  keyfile: $pki/server.key\\n  cafile: $pki/ca.crt\\n  verify_client: required" \
	"$DIR/node3/pgwarden.yml"
cluster_start_node 3
url="https://127.0.0.1:${CL_API_PORT[3]}"
st=000
for k in $(seq 1 100); do
	st=$(curl -s -o /dev/null -m 2 -w '%{http_code}' --cacert "$pki/ca.crt" "$url/health" 2>/dev/null)
	[ "$st" = 200 ] && break
	sleep 0.3
done
expect "node3 serves health checks over TLS without a client certificate" 200 "$st"
st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -u $AUTH --cacert "$pki/ca.crt" \
	-X PATCH -d '{"maximum_lag_on_failover":1048576}' "$url/config")
expect "a write without a client certificate" 403 "$st"
st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -u $AUTH --cacert "$pki/ca.crt" \
	--cert "$pki/rogue.crt" --key "$pki/rogue.key" \
	-X PATCH -d '{"maximum_lag_on_failover":1048576}' "$url/config")
expect "a write with a certificate from another CA" 403 "$st"
st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' --cacert "$pki/ca.crt" \
	--cert "$pki/client.crt" --key "$pki/client.key" \
	-X PATCH -d '{"maximum_lag_on_failover":1048576}' "$url/config")
expect "the right certificate still needs the password" 401 "$st"
st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -u $AUTH --cacert "$pki/ca.crt" \
	--cert "$pki/client.crt" --key "$pki/client.key" \
	-X PATCH -d '{"maximum_lag_on_failover":1048576}' "$url/config")
expect "a write with the right certificate and password" 200 "$st"

tap_finish
