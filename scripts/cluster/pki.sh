# shellcheck shell=bash
# Sourced by scripts/local-cluster; uses its variables (DIR, PKI, RUN, LOGS, ports, BIN).
# ---------------------------------------------------------------------------------------------
# PKI: one CA; serving certificate for the API server; client certificates per component.
# ---------------------------------------------------------------------------------------------
issue_cert() { # name subject [extensions-file]
  local name="$1" subject="$2" ext="${3:-}"
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local extargs=()
  [ -n "$ext" ] && extargs=(-extfile "$ext")
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 365 -sha256 -out "$PKI/$name.crt" "${extargs[@]}" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

ensure_pki() {
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kiln-local-ca" -days 3650 -sha256 \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  local adv
  adv=$(advertise_address)
  cat > "$PKI/apiserver.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$SERVICE_IP,IP:$adv
EOF
  cat > "$PKI/client.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
  issue_cert apiserver "/CN=kube-apiserver" "$PKI/apiserver.ext"
  issue_cert admin "/O=system:masters/CN=kiln-admin" "$PKI/client.ext"
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager" "$PKI/client.ext"
  issue_cert kube-scheduler "/CN=system:kube-scheduler" "$PKI/client.ext"
  issue_cert kwok "/O=system:masters/CN=kwok" "$PKI/client.ext"
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    "$PKI/client.ext"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

write_kubeconfig() { # path client-cert-name
  local path="$1" who="$2"
  cat > "$path" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kiln-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $who
  user:
    client-certificate: $PKI/$who.crt
    client-key: $PKI/$who.key
contexts:
- name: kiln-local
  context:
    cluster: kiln-local
    user: $who
current-context: kiln-local
EOF
}

