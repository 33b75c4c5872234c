# The control-plane tier serves the Kubernetes API with RBAC and client certificates, comes up
# again idempotently, and leaves nothing listening after down.
source "$(dirname "$0")/cluster_env.sh"

up control-plane
pid_before=$(cat "$KILN_CLUSTER_DIR/run/kube-apiserver.pid")
up control-plane
[ "$(cat "$KILN_CLUSTER_DIR/run/kube-apiserver.pid")" = "$pid_before" ] ||
  fail "a second 'up' restarted kube-apiserver"

version=$(kc version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
[ "$version" = "$(cat "$ROOT/K8S_VERSION")" ] || fail "server version $version, pinned $(cat "$ROOT/K8S_VERSION")"

kc create namespace kiln-test
kc -n kiln-test create configmap probe --from-literal=answer=42
[ "$(kc -n kiln-test get configmap probe -o jsonpath='{.data.answer}')" = 42 ] ||
  fail "configmap did not round-trip"

# RBAC is on: an unprivileged service account may not list secrets; the admin may.
kc -n kiln-test create serviceaccount nobody
[ "$(kc auth can-i list secrets --as system:serviceaccount:kiln-test:nobody -n kiln-test || true)" = no ] ||
  fail "RBAC let an unprivileged service account list secrets"
[ "$(kc auth can-i '*' '*')" = yes ] || fail "admin is not cluster-admin"

# Anonymous requests without a client certificate are not authorised.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$KILN_CLUSTER_DIR/pki/ca.crt" \
  "https://127.0.0.1:$KILN_APISERVER_PORT/api/v1/namespaces")
[ "$code" = 403 ] || [ "$code" = 401 ] || fail "anonymous list of namespaces returned $code"

# Service-account tokens are signed: a TokenRequest works.
token=$(kc -n kiln-test create token nobody)
[ -n "$token" ] || fail "no service-account token"

"$CLUSTER" down
for port in $KILN_ETCD_PORT $KILN_APISERVER_PORT; do
  if ss -Hltn "sport = :$port" | grep -q .; then fail "port $port still listening after down"; fi
done
for pidfile in "$KILN_CLUSTER_DIR"/run/*.pid; do
  [ -e "$pidfile" ] && fail "pid file $pidfile left after down"
done
echo "PASS: control-plane tier"
