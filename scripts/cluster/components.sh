# shellcheck shell=bash
# Sourced by scripts/local-cluster; uses its variables (DIR, PKI, RUN, LOGS, ports, BIN).
# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------
start_etcd() {
  command -v etcd >/dev/null || die "etcd is not installed (run scripts/setup.sh cluster)"
  mkdir -p -m 700 "$DIR/etcd"
  start etcd etcd --name kiln-local --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kiln-local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --logger zap --log-level warn
  WAIT_PROCESS=etcd wait_for "etcd" 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local adv
  adv=$(advertise_address)
  # WatchList=false: Debian's etcd 3.4.23 has no watch-progress requests, which streaming lists
  # (sendInitialEvents) need; with the gate on, clients that ask for them (KWOK) see every watch
  # fail and fall back to periodic re-lists. With it off they get ordinary list+watch.
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$adv" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-cluster-ip-range "$SERVICE_CIDR" --kubelet-preferred-address-types InternalIP,Hostname \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --enable-admission-plugins NodeRestriction \
    --feature-gates WatchList=false --profiling=false --v=1
  WAIT_PROCESS=kube-apiserver wait_for "kube-apiserver /readyz" 120 curl -sf --cacert "$PKI/ca.crt" \
    --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz"
}

# The controller-manager's and scheduler's client rate limits (defaults 20 and 50 QPS) would bound
# every scale run here (Deployments, ReplicaSets, Jobs and pods of thousands of kiln objects), not
# kiln-manager; lifted as kwokctl's --disable-qps-limits does. KILN_COMPONENT_QPS=default keeps them.
if [ "${KILN_COMPONENT_QPS:-5000}" = default ]; then
  COMPONENT_QPS_FLAGS=()
else
  COMPONENT_QPS_FLAGS=(--kube-api-qps "${KILN_COMPONENT_QPS:-5000}"
                       --kube-api-burst "$(( ${KILN_COMPONENT_QPS:-5000} * 2 ))")
fi

start_controller_manager() {
  write_kubeconfig "$DIR/kube-controller-manager.kubeconfig" kube-controller-manager
  local kcfg="$DIR/kube-controller-manager.kubeconfig"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$kcfg" --authentication-kubeconfig "$kcfg" --authorization-kubeconfig "$kcfg" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$CLUSTER_CIDR" \
    --allocate-node-cidrs=false --controllers '*,-cloud-node-lifecycle' \
    --enable-hostpath-provisioner "${COMPONENT_QPS_FLAGS[@]}" --v=1
  WAIT_PROCESS=kube-controller-manager wait_for "kube-controller-manager /healthz" 90 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
}

start_scheduler() {
  write_kubeconfig "$DIR/kube-scheduler.kubeconfig" kube-scheduler
  local kcfg="$DIR/kube-scheduler.kubeconfig"
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$kcfg" --authentication-kubeconfig "$kcfg" --authorization-kubeconfig "$kcfg" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false \
    "${COMPONENT_QPS_FLAGS[@]}" --v=1
  WAIT_PROCESS=kube-scheduler wait_for "kube-scheduler /healthz" 90 curl -skf "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

kwok_binary() { KILN_KWOK_VERSION="$KWOK_VERSION" "$ROOT/scripts/go-tool" kwok; }

# KWOK's own "fast" stages (nodes Ready at once, pods Running at once, Job pods Succeeded) and node
# heartbeats through Leases, taken from the KWOK module that was built.
write_kwok_config() {
  local stages
  stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  [ -d "$stages" ] || GOFLAGS=-mod=mod go mod download "sigs.k8s.io/kwok@$KWOK_VERSION" >&2
  local f
  for f in "$stages"/node/fast/*.yaml "$stages"/node/heartbeat-with-lease/*.yaml \
    "$stages"/pod/fast/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    echo "---"
    cat "$f"
  done > "$DIR/kwok.yaml"
}

start_kwok() {
  local kwok
  kwok=$(kwok_binary)
  write_kubeconfig "$DIR/kwok.kubeconfig" kwok
  write_kwok_config
  start kwok "$kwok" --kubeconfig "$DIR/kwok.kubeconfig" --config "$DIR/kwok.yaml" \
    --node-lease-duration-seconds 40 \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --disregard-status-with-annotation-selector kwok.x-k8s.io/status=custom \
    --cidr 10.250.0.1/16 --node-ip 10.250.0.1 \
    --server-address "127.0.0.1:$KWOK_PORT"
  local i
  for i in $(seq 1 "$KWOK_NODES"); do
    kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "$KWOK_NODE_PODS"}
  capacity: {cpu: "32", memory: 256Gi, pods: "$KWOK_NODE_PODS"}
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake}
EOF
  done
  wait_for "KWOK nodes Ready" 90 kc wait --for=condition=Ready node -l type=kwok --timeout=2s
}

