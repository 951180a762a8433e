#!/usr/bin/env bash
# test_k8s_manifests.sh: deploy/k8s/ as Kubernetes would read it. No API
# server can run here, so every manifest is validated against the
# Kubernetes 1.27 OpenAPI schemas (tests/tools/k8s_validate.js), and the
# configuration files they carry are checked by the programs that read them:
#   1. the validator fails on a broken manifest (so its green means
#      something): a string port, a missing selector, an unknown kind
#   2. every object in deploy/k8s/*.yaml is valid
#   3. the ConfigMap's pgwarden.yml, with the StatefulSet's environment and
#      Secret files, passes `pgwarden --check-config` (the init container's
#      check), and fails it when a Secret file is missing
#   4. the router ConfigMap's pgwarden-router.yml passes its --check-config
#   5. the RBAC Role grants no more than pods get/patch and endpointslices
#      get/create/update
source "$(dirname "$0")/../lib/it_prelude.sh"
V="node $root/tests/tools/k8s_validate.js"
K=$root/deploy/k8s
DIR=$(mktemp -d /tmp/pgw-it-k8sm-XXXXXX)
trap 'rm -rf "$DIR"' EXIT

# ---- 1. the validator can fail ---------------------------------------------
cat >"$DIR/broken.yaml" <<'YML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: x}
spec:
  serviceName: x
  template: {spec: {containers: [{name: c, image: i, ports: [{containerPort: "5432"}]}]}}
YML
out=$($V "$DIR/broken.yaml" 2>&1)
check "validator: a StatefulSet without selector and with a string port fails" \
	grep -q "must have required property selector.*containerPort must be integer" <<<"$out"
printf 'apiVersion: v1\nkind: Podd\nmetadata: {name: x}\n' >"$DIR/kind.yaml"
check "validator: an unknown kind fails" bash -c "! $V $DIR/kind.yaml >/dev/null"
: >"$DIR/empty.yaml"
check "validator: a file without objects fails" bash -c "! $V $DIR/empty.yaml >/dev/null 2>&1"

# ---- 2. every manifest is valid --------------------------------------------
out=$($V "$K"/*.yaml 2>&1)
echo "$out" | sed 's/^/# /'
check "deploy/k8s: every object validates" grep -q ' 0 invalid$' <<<"$out"
for kind in StatefulSet Service PodDisruptionBudget ServiceAccount Role RoleBinding \
	ConfigMap Secret Deployment; do
	check "deploy/k8s has a $kind" grep -q "valid .*: $kind/" <<<"$out"
done
for svc in demo-rw demo-ro demo-r; do
	check "deploy/k8s has Service $svc" grep -q "Service/$svc\$" <<<"$out"
done

# ---- 3. pgwarden.yml from the ConfigMap, as the init container checks it -----
python3 - "$K/configmap.yaml" "$DIR/pgwarden.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
open(sys.argv[2], "w").write(doc["data"]["pgwarden.yml"])
PY
mkdir -p "$DIR/secrets"
for f in superuser-password replication-password restapi-password etcd-password; do
	echo "pw-$f" >"$DIR/secrets/$f"
done
check_config() {
	env -i PATH="$PATH" \
		PGWARDEN_NAME=demo-0 \
		PGWARDEN_KUBERNETES_NAMESPACE=db \
		PGWARDEN_KUBERNETES_POD_IP=10.1.2.3 \
		PGWARDEN_RESTAPI_CONNECT_ADDRESS=10.1.2.3:8008 \
		PGWARDEN_POSTGRESQL_CONNECT_ADDRESS=10.1.2.3:5432 \
		PGWARDEN_POSTGRESQL_SUPERUSER_PASSWORD_FILE="$DIR/secrets/superuser-password" \
		PGWARDEN_POSTGRESQL_REPLICATION_PASSWORD_FILE="$DIR/secrets/replication-password" \
		PGWARDEN_RESTAPI_PASSWORD_FILE="$DIR/secrets/restapi-password" \
		PGWARDEN_ETCD3_PASSWORD_FILE="$DIR/secrets/etcd-password" \
		PGWARDEN_KUBERNETES_ENABLED="${1:-false}" \
		PGWARDEN_KUBERNETES_API_URL="https://10.96.0.1" \
		PGWARDEN_KUBERNETES_TOKEN_FILE="$DIR/secrets/token" \
		PGWARDEN_KUBERNETES_CACERT="$DIR/secrets/ca.crt" \
		"$PGW_BIN" --check-config -c "$DIR/pgwarden.yml" 2>&1
}
out=$(check_config false)
echo "# $out"
check "ConfigMap pgwarden.yml + StatefulSet env: --check-config passes" grep -q "is valid" <<<"$out"
# with Kubernetes on, the service-account files must be there
out=$(check_config true)
echo "# $out"
check "--check-config names a missing API server CA file" grep -q "CA file .*secrets/ca.crt" <<<"$out"
echo ca >"$DIR/secrets/ca.crt"
out=$(check_config true)
echo "# $out"
check "--check-config names a missing service-account token" grep -q "token file .*secrets/token" <<<"$out"
echo tok >"$DIR/secrets/token"
out=$(check_config true)
echo "# $out"
check "--check-config with the service-account files passes" grep -q "is valid" <<<"$out"
check "  ... and shows the Kubernetes part" grep -q "pod demo-0, role label role (master/replica), EndpointSlice demo-rw" <<<"$out"
rm "$DIR/secrets/etcd-password"
out=$(check_config false)
echo "# $out"
check "--check-config names a missing Secret file" grep -q "PGWARDEN_ETCD3_PASSWORD_FILE.*etcd-password" <<<"$out"

# ---- 4. the router's file ------------------------------------------------------
python3 - "$K/router.yaml" "$DIR/router.yml" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "ConfigMap":
        # as the init container renders it for pod demo-pooler-x
        open(sys.argv[2], "w").write(doc["data"]["pgwarden-router.yml"].replace("ROUTER_NAME", "demo-pooler-x"))
PY
out=$("$PGW_BUILD_DIR/routing/pgwarden-router" --check-config -c "$DIR/router.yml" 2>&1)
echo "# $out"
check "router ConfigMap: pgwarden-router --check-config passes" grep -q "is valid" <<<"$out"

# ---- 5. minimal RBAC -------------------------------------------------------------
rules=$(python3 - "$K/rbac.yaml" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "Role":
        for r in doc["rules"]:
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    print("%s/%s:%s" % (g, res, ",".join(sorted(r["verbs"]))))
PY
)
echo "# rbac: $(echo $rules)"
check "RBAC: pods get,patch and endpointslices create,get,update only" \
	test "$(echo $rules)" = "/pods:get,patch discovery.k8s.io/endpointslices:create,get,update"
tap_finish
