# Sourced by the cluster tests: a private cluster instance on ports apart from the default ones,
# torn down when the test exits, whatever happened.
set -euo pipefail
ROOT="$1"
export KILN_CLUSTER_DIR="$(mktemp -d -t kiln-cluster-test.XXXXXX)"
# Ports below the ephemeral range (32768-60999), so no outgoing connection holds them.
export KILN_ETCD_PORT=31790 KILN_ETCD_PEER_PORT=31800 KILN_APISERVER_PORT=26443
export KILN_KCM_PORT=30257 KILN_SCHEDULER_PORT=30259 KILN_KWOK_PORT=30247 KILN_S3_PORT=30290
CLUSTER="$ROOT/scripts/local-cluster"
KUBECTL="$("$ROOT/scripts/k8s-binaries" kubectl)/kubectl"

# teardown [STATUS]: stops a manager the test started and the cluster; the test's exit status is
# kept (pass it when a trap of the test's own ran other cleanup first).
teardown() {
  local rc=${1:-$?}
  stop_manager
  "$CLUSTER" down || rc=1
  rm -rf "$KILN_CLUSTER_DIR"
  exit $rc
}
trap teardown EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
kc() { "$KUBECTL" --kubeconfig "$KILN_CLUSTER_DIR/admin.kubeconfig" "$@"; }

# up TIER: brings the tier up, checks the contract of the last line, exports KUBECONFIG; the whole
# output stays in UP_OUTPUT.
UP_OUTPUT=""
up() {
  local last
  UP_OUTPUT=$("$CLUSTER" up --tier "$1")
  last=$(printf '%s\n' "$UP_OUTPUT" | tail -n 1)
  [[ "$last" == KUBECONFIG=* ]] || fail "last line of 'up' is not KUBECONFIG=<path>: '$last'"
  export KUBECONFIG="${last#KUBECONFIG=}"
  [ -f "$KUBECONFIG" ] || fail "kubeconfig $KUBECONFIG does not exist"
}

# install_crds: Kiln's CRDs, established.
install_crds() {
  kc apply -f "$ROOT/crds/" >/dev/null
  kc wait --for=condition=Established crd --all --timeout=60s >/dev/null
}

# start_manager BUILD_DIR PORT [FLAGS...]: kiln-manager on the host against the test cluster (its
# KUBECONFIG), metrics and probes on PORT, log appended to $KILN_CLUSTER_DIR/manager.log; returns
# once /readyz answers. stop_manager stops it (teardown does too).
MANAGER_PID=""
start_manager() {
  local build_dir="$1" port="$2"
  shift 2
  "$build_dir/src/cmd/kiln-manager" --metrics-port "$port" "$@" \
    >> "$KILN_CLUSTER_DIR/manager.log" 2>&1 &
  MANAGER_PID=$!
  for _ in $(seq 1 100); do curl -sf "localhost:$port/readyz" >/dev/null && return; sleep 0.1; done
  tail -30 "$KILN_CLUSTER_DIR/manager.log"
  fail "kiln-manager not ready on port $port"
}
stop_manager() {
  [ -n "$MANAGER_PID" ] || return 0
  kill "$MANAGER_PID" 2>/dev/null || true
  wait "$MANAGER_PID" 2>/dev/null || true
  MANAGER_PID=""
}
