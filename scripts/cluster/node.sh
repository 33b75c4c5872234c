# shellcheck shell=bash
# Sourced by scripts/local-cluster: the node tier. A real kubelet (built from the pinned Kubernetes
# modules) on a private containerd and runc (Debian), CNI bridge networking (Debian's plugins),
# kube-proxy in iptables mode, cluster DNS (CoreDNS, built from its Go module, serving
# cluster.local on the node's address, port 53), and the in-tree hostPath provisioner for PVCs.
#
# Everything lives under $DIR: containerd's root and state, its socket, CNI configuration and IPAM,
# the kubelet's root directory. `down` has the kubelet remove every pod (so CNI deletes its network
# namespaces and iptables rules), then removes kube-proxy's rules, the bridge, and the mounts.

NODE_NAME="${KILN_NODE_NAME:-kiln-node}"
KUBELET_PORT="${KILN_KUBELET_PORT:-20250}"
KUBELET_HEALTHZ_PORT="${KILN_KUBELET_HEALTHZ_PORT:-20248}"
KUBE_PROXY_METRICS_PORT="${KILN_KUBE_PROXY_METRICS_PORT:-20249}"
KUBE_PROXY_HEALTHZ_PORT="${KILN_KUBE_PROXY_HEALTHZ_PORT:-20256}"
DNS_HEALTH_PORT="${KILN_DNS_HEALTH_PORT:-20280}"
COREDNS_VERSION="${KILN_COREDNS_VERSION:-v1.11.3}"
POD_CIDR="${KILN_POD_CIDR:-10.244.0.0/24}"
BRIDGE="${KILN_BRIDGE:-kiln0}"
PAUSE_IMAGE="registry.k8s.io/pause:3.10"
CNI_BIN_DIR="${KILN_CNI_BIN_DIR:-/usr/lib/cni}"
CONTAINERD_SOCK="$DIR/containerd/containerd.sock"

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

node_preflight() {
  local missing=()
  for b in containerd runc ctr iptables conntrack ip; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  [ -x "$CNI_BIN_DIR/bridge" ] || missing+=("CNI plugins in $CNI_BIN_DIR")
  [ ${#missing[@]} -eq 0 ] || die "node tier needs: ${missing[*]} (run scripts/setup.sh node)"
  [ "$(id -u)" -eq 0 ] || die "the node tier runs a kubelet and containers: it must run as root"
  # Pods reach each other and Services through the host: forwarding must be on. The previous
  # value is restored by down.
  if [ ! -f "$DIR/ip_forward.saved" ]; then
    cat /proc/sys/net/ipv4/ip_forward > "$DIR/ip_forward.saved"
  fi
  echo 1 > /proc/sys/net/ipv4/ip_forward
  modprobe br_netfilter 2>/dev/null || true
  if [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
  fi
}

write_containerd_config() {
  mkdir -p "$DIR/containerd/root" "$DIR/containerd/state" "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat > "$DIR/containerd/config.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine does not let processes lower their oom_score_adj (the sandbox asks for -998):
  # containerd clamps the value to its own instead of having runc fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$DIR/cni/net.d"
EOF
  cat > "$DIR/cni/net.d/10-kiln.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kiln",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  write_containerd_config
  start containerd containerd --config "$DIR/containerd/config.toml"
  WAIT_PROCESS=containerd wait_for "containerd" 60 ctr --address "$CONTAINERD_SOCK" version
  ensure_pause_image
}

# The sandbox ("pause") image, built here from Kubernetes' own pause.c: no registry is needed.
ensure_pause_image() {
  ctr_k8s images ls -q | grep -qx "$PAUSE_IMAGE" && return 0
  "$ROOT/scripts/images" import "$CONTAINERD_SOCK" pause
}

node_certs() {
  local adv="$1"
  cat > "$PKI/kubelet.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$NODE_NAME,DNS:localhost,IP:$adv,IP:127.0.0.1
EOF
  issue_cert kubelet-serving "/CN=$NODE_NAME" "$PKI/kubelet.ext"
  issue_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$PKI/client.ext"
  issue_cert kube-proxy "/CN=system:kube-proxy" "$PKI/client.ext"
}

start_kubelet() {
  local adv
  adv=$(advertise_address)
  node_certs "$adv"
  write_kubeconfig "$DIR/kubelet.kubeconfig" kubelet-client
  mkdir -p "$DIR/kubelet"
  cat > "$DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: ["$adv"]
resolvConf: /etc/resolv.conf
podCIDR: "$POD_CIDR"
serializeImagePulls: false
# Images are imported, not pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
protectKernelDefaults: false
EOF
  start kubelet "$BIN/kubelet" --config "$DIR/kubelet-config.yaml" \
    --kubeconfig "$DIR/kubelet.kubeconfig" --root-dir "$DIR/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$adv" --v=1
  WAIT_PROCESS=kubelet wait_for "node $NODE_NAME Ready" 180 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

start_kube_proxy() {
  write_kubeconfig "$DIR/kube-proxy.kubeconfig" kube-proxy
  start kube-proxy "$BIN/kube-proxy" --kubeconfig "$DIR/kube-proxy.kubeconfig" \
    --hostname-override "$NODE_NAME" --proxy-mode iptables --cluster-cidr "$CLUSTER_CIDR" \
    --metrics-bind-address "127.0.0.1:$KUBE_PROXY_METRICS_PORT" \
    --healthz-bind-address "127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT" \
    --conntrack-max-per-core 0 --v=1
  WAIT_PROCESS=kube-proxy wait_for "kube-proxy /healthz" 60 curl -sf "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"
}

# PVCs bind through the controller-manager's hostPath provisioner (a single-node cluster's
# dynamic provisioner), offered as the default StorageClass.
ensure_storage_class() {
  kc apply -f - >/dev/null <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
}

# Cluster DNS as a host process on the node's address (what pods' resolv.conf names): the
# kubernetes plugin answers <service>.<namespace>.svc.cluster.local from the API server; other
# names go to the host's resolver.
start_coredns() {
  local adv coredns
  adv=$(advertise_address)
  coredns=$(KILN_COREDNS_VERSION="$COREDNS_VERSION" "$ROOT/scripts/go-tool" coredns)
  cat > "$DIR/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 {
    bind $adv
    errors
    health 127.0.0.1:$DNS_HEALTH_PORT
    kubernetes cluster.local in-addr.arpa {
        kubeconfig $KUBECONFIG_PATH
        pods insecure
    }
    cache 5
}
.:53 {
    bind $adv
    errors
    forward . /etc/resolv.conf
}
EOF
  start coredns "$coredns" -conf "$DIR/Corefile"
  WAIT_PROCESS=coredns wait_for "CoreDNS /health" 60 curl -sf "http://127.0.0.1:$DNS_HEALTH_PORT/health"
}

start_node() {
  touch "$DIR/node.active"
  node_preflight
  start_containerd
  start_coredns
  start_kubelet
  start_kube_proxy
  ensure_storage_class
}

# Removes what the node tier made, in dependency order. Safe to call when nothing runs.
# Pods are removed by the kubelet itself (it stops each sandbox through CRI, so CNI deletes the
# network namespace and its iptables rules); the controllers stop first so nothing replaces them.
stop_node() {
  # The marker is removed only once everything is cleaned, so an interrupted down is finished by
  # the next one.
  local had_node=0
  [ -f "$DIR/node.active" ] && had_node=1
  if is_running kubelet && is_running kube-apiserver; then
    stop kube-controller-manager
    stop kube-scheduler
    kc delete pods --all --all-namespaces --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
    wait_for "the kubelet to remove every pod sandbox" 90 no_running_tasks ||
      log "some containers were still running; they are killed with containerd"
    # The hostPath provisioner's volumes live on this host; the cluster that owned them is going.
    local path
    for path in $(kc get pv -o jsonpath='{range .items[*]}{.spec.hostPath.path}{"\n"}{end}' 2>/dev/null); do
      case "$path" in /tmp/hostpath_pv/*) rm -rf "$path" ;; esac
    done
  fi
  stop kubelet
  stop containerd
  # Shims outlive containerd; any left belong to our containerd (their -address names its socket).
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  stop kube-proxy
  stop coredns
  if [ $had_node -eq 1 ]; then
    # --cleanup also tries the ipvs and nftables modes and reports their absence as an error.
    "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
    remove_cni_leftovers
  fi
  unmount_under "$DIR"
  rm -f "$DIR/node.active"
  if [ -f "$DIR/ip_forward.saved" ]; then
    cat "$DIR/ip_forward.saved" > /proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    rm -f "$DIR/ip_forward.saved"
  fi
}

no_running_tasks() { [ -z "$(ctr_k8s tasks ls -q 2>/dev/null)" ]; }

# What kube-proxy --cleanup leaves: the kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY,
# KUBE-IPTABLES-HINT) and the CNI plugins' (the portmap plugin keeps its top-level chains).
remove_cni_leftovers() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  local cmd table chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      local chains
      chains=$("$cmd" -t "$table" -S 2>/dev/null | awk '/^-N (CNI|KUBE)-/ {print $2}')
      [ -n "$chains" ] || continue
      for chain in $chains; do
        # Rules elsewhere that jump to the chain go first, then its own rules, then the chain.
        local rules
        rules=$("$cmd" -t "$table" -S 2>/dev/null | grep -E -- "-j $chain( |$)" | sed 's/^-A/-D/' || true)
        while read -r rule; do
          [ -n "$rule" ] && { eval "$cmd -t $table $rule" 2>/dev/null || true; }
        done <<< "$rules"
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $chains; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
  rm -rf "$DIR/cni/ipam"
}

unmount_under() {
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$1/" | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
