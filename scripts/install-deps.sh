#!/usr/bin/env bash
# install-deps.sh: install every Debian 12 package that pgwarden's build, tests,
# benchmarks and local demo need. Idempotent: packages already present are kept,
# and apt-get update runs once per invocation (skipped when nothing is missing).
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config git clang-format
	clang libclang-rt-14-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
	libpq-dev libssl-dev libsystemd-dev libjansson-dev libyaml-dev
	libmicrohttpd-dev libcmocka-dev libcurl4-openssl-dev
	libgnutls28-dev
	# PostgreSQL's server headers: the commit check it loads (witness/pg_lease)
	postgresql-server-dev-15
	# tests/tools/pgw_delay (drill link delay where the kernel lacks sch_netem)
	libnetfilter-queue-dev
	# servers the tests and the demo drive
	postgresql-15 postgresql-client-15 postgresql-contrib
	etcd-server etcd-client
	pgbouncer haproxy pgbackrest
	# monitoring: promtool rule tests, the alerting integration test
	prometheus prometheus-alertmanager
	# test and chaos tooling
	iproute2 iptables procps psmisc util-linux openssl curl jq valgrind
	python3
	# comparison benchmark
	patroni python3-etcd3 python3-psycopg2
	# Kubernetes manifests and API bodies are validated with node and the
	# kubernetes-models schemas (npm, below)
	nodejs
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get install)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# policy-rc.d keeps the packaged services (postgresql@15-main, etcd,
	# pgbouncer, haproxy, patroni, prometheus, alertmanager) from starting:
	# our tests and demo start their own instances on their own ports.
	had_policy=0
	[ -e /usr/sbin/policy-rc.d ] && had_policy=1
	if [ $had_policy -eq 0 ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	[ $had_policy -eq 0 ] && rm -f /usr/sbin/policy-rc.d
fi

# The packaged services must not hold our ports or data.
for svc in etcd patroni pgbouncer haproxy postgresql prometheus \
	prometheus-alertmanager; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
# only the packaged service (user etcd): test clusters run their own etcd as root
pkill -x -u etcd etcd 2>/dev/null || true
# Prometheus and Alertmanager are for the tests only (promtool, a private
# instance per test on random ports): their packaged units stay disabled so
# that nothing of theirs listens on 9090/9093 after a reboot either.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi

# The validators compiled from the Kubernetes 1.27 OpenAPI schemas (npm
# package kubernetes-models, MIT; 4.5.1 is the last CommonJS release that
# runs on Debian's node), used by tests/integration/test_k8s_manifests.sh.
K8S_SCHEMA_DIR=/usr/local/lib/pgwarden-k8s-schema
if [ ! -f "$K8S_SCHEMA_DIR/node_modules/kubernetes-models/package.json" ]; then
	command -v npm >/dev/null 2>&1 || apt-get install -y -q --no-install-recommends npm
	mkdir -p "$K8S_SCHEMA_DIR"
	npm install --prefix "$K8S_SCHEMA_DIR" --no-audit --no-fund --omit=dev \
		kubernetes-models@4.5.1 js-yaml@4.1.0 >/dev/null
fi

# PostgreSQL refuses to run as root: tests and the demo run it as this user.
if ! id pgwarden >/dev/null 2>&1; then
	useradd --system --create-home --home-dir /var/lib/pgwarden --shell /bin/bash pgwarden
fi
echo "install-deps.sh: all dependencies present"
