# A failed `make demo` leaves the machine as it found it: scripts/demo brings its node tier up,
# fails at its next step (here: Helm cannot be had, KILN_HELM_VERSION names none), and its exit
# handler takes the cluster down — no etcd, kube-apiserver, kubelet or containerd left running,
# no port held — so `make test` or another `make demo` can start.
source "$(dirname "$0")/cluster_env.sh"
export KILN_BRIDGE=kilntest1 KILN_POD_CIDR=10.244.98.0/24 KILN_NODE_NAME=kiln-demo-test-node
export KILN_KUBELET_PORT=30250 KILN_KUBELET_HEALTHZ_PORT=30248
export KILN_KUBE_PROXY_METRICS_PORT=30249 KILN_KUBE_PROXY_HEALTHZ_PORT=30256

if KILN_HELM_VERSION=v0.0.0-no-such-version "$ROOT/scripts/demo" > "$KILN_CLUSTER_DIR/demo.log" 2>&1; then
  fail "the demo passed without Helm"
fi
grep -q "taking the local cluster down" "$KILN_CLUSTER_DIR/demo.log" ||
  { tail -20 "$KILN_CLUSTER_DIR/demo.log"; fail "the demo's exit handler did not run"; }
grep -q "local-cluster: down" "$KILN_CLUSTER_DIR/demo.log" ||
  { tail -20 "$KILN_CLUSTER_DIR/demo.log"; fail "the failed demo did not take its cluster down"; }
left=$("$CLUSTER" status | grep running || true)
[ -z "$left" ] || fail "still running after the failed demo: $left"
for port in "$KILN_ETCD_PORT" "$KILN_APISERVER_PORT" "$KILN_KUBELET_PORT"; do
  if ss -Hltn "sport = :$port" | grep -q .; then fail "port $port is still held"; fi
done
echo "PASS: a failed demo took its cluster down"
