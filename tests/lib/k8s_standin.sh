#!/usr/bin/env bash
# k8s_standin.sh: start the Kubernetes API stand-in (tests/tools/
# k8s_standin.py) on a free loopback port with its own CA, a server
# certificate for 127.0.0.1 and a service-account token file.
#
# As a library (source it): k8s_standin_start DIR sets K8S_PORT, K8S_URL,
# K8S_CA, K8S_TOKEN_FILE, K8S_NS_FILE, K8S_PID; k8s_ctl PATH?QUERY calls a
# control endpoint; k8s_standin_stop stops it.
# As a program: k8s_standin.sh start DIR prints "PORT PID" once it listens
# (for the C tests); k8s_standin.sh stop PID.

K8S_STANDIN_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/k8s_standin.py"

k8s_make_certs() {
	local dir=$1
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pgw-test-k8s-ca" \
		-keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=kubernetes" \
		-keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" \
		>/dev/null 2>&1 || return 1
	# a second CA the server does not use: a client trusting it must fail
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pgw-test-other-ca" \
		-keyout "$dir/other-ca.key" -out "$dir/other-ca.crt" >/dev/null 2>&1 || return 1
	printf 'pgw-test-token-%s' "$RANDOM$RANDOM" >"$dir/token"
	printf 'default' >"$dir/namespace"
}

k8s_standin_start() {
	local dir=$1 i p
	k8s_make_certs "$dir" || return 1
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		rm -f "$dir/ready"
		python3 "$K8S_STANDIN_PY" --port "$p" --cert "$dir/server.crt" --key "$dir/server.key" \
			--token-file "$dir/token" --ready-file "$dir/ready" >"$dir/standin.log" 2>&1 &
		K8S_PID=$!
		local k
		for k in $(seq 1 50); do
			[ -f "$dir/ready" ] && break
			kill -0 "$K8S_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ -f "$dir/ready" ] && kill -0 "$K8S_PID" 2>/dev/null; then
			K8S_PORT=$p
			K8S_URL="https://127.0.0.1:$p"
			K8S_CA="$dir/ca.crt"
			K8S_TOKEN_FILE="$dir/token"
			K8S_NS_FILE="$dir/namespace"
			return 0
		fi
		wait "$K8S_PID" 2>/dev/null
	done
	return 1
}

k8s_ctl() {
	curl -s -m 5 --cacert "$K8S_CA" "$K8S_URL$1"
}

k8s_standin_stop() {
	[ -n "${K8S_PID:-}" ] && kill "$K8S_PID" 2>/dev/null
	[ -n "${K8S_PID:-}" ] && wait "$K8S_PID" 2>/dev/null
	K8S_PID=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
		start)
			k8s_standin_start "$2" || exit 1
			echo "$K8S_PORT $K8S_PID"
			;;
		stop) kill "$2" 2>/dev/null ;;
		*) echo "usage: $0 start DIR | stop PID" >&2; exit 2 ;;
	esac
fi
