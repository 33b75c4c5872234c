# The node tier runs real containers, on images that `scripts/images import` built into an empty
# image cache (the cold path a fresh machine takes): a Job of kiln/runtime:dev prints its version,
# a Deployment of two replicas behind a ClusterIP Service answers HTTP from another pod and from
# the host, a PVC binds and carries a file between two pods run one after the other, and a pod
# reaches the cluster's S3 server with the Secret kiln-s3.
source "$(dirname "$0")/cluster_env.sh"
export KILN_BRIDGE=kilntest0 KILN_POD_CIDR=10.244.99.0/24 KILN_NODE_NAME=kiln-test-node
export KILN_KUBELET_PORT=30250 KILN_KUBELET_HEALTHZ_PORT=30248
export KILN_KUBE_PROXY_METRICS_PORT=30249 KILN_KUBE_PROXY_HEALTHZ_PORT=30256

up node
sock="$KILN_CLUSTER_DIR/containerd/containerd.sock"
# The cold path: `images import` of every image with an empty image cache builds each one first.
images_cache="$KILN_CLUSTER_DIR/image-cache"
mkdir -p "$images_cache"
# Every image the demo and the tests use: the default set and the demo's python (debootstrap).
KILN_CACHE_DIR="$images_cache" BUILD_DIR="${BUILD_DIR:-$ROOT/build}" "$ROOT/scripts/images" import \
  "$sock" pause runtime manager toolbox python ||
  fail "scripts/images import with an empty image cache failed"
for image in pause runtime manager toolbox python; do
  [ -s "$images_cache/images/$image.tar" ] || fail "no $image image was built into the empty cache"
done
listed=$(ctr --address "$sock" --namespace k8s.io images list -q)
for ref in registry.k8s.io/pause:3.10 docker.io/kiln/runtime:dev docker.io/kiln/manager:dev \
    docker.io/kiln/toolbox:dev docker.io/kiln/python:dev; do
  grep -qx "$ref" <<<"$listed" || fail "$ref was not imported into containerd"
done

dump() {
  kc get pods -A -o wide || true
  kc get events -A --sort-by=.lastTimestamp | tail -20 || true
  for p in $(kc get pods -o name); do echo "--- logs of $p"; kc logs "$p" --all-containers || true; done
}

# 1. A Job runs kiln-runtime --version in a real container.
kc apply -f - <<'YAML'
apiVersion: batch/v1
kind: Job
metadata: {name: runtime-version}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: runtime
        image: kiln/runtime:dev
        imagePullPolicy: Never
        command: [kiln-runtime, --version]
YAML
kc wait --for=condition=Complete job/runtime-version --timeout=180s || { dump; fail "version job did not complete"; }
logs=$(kc logs job/runtime-version)
[[ "$logs" == "kiln-runtime "* ]] || fail "job logs are '$logs', expected the kiln-runtime version"
echo "job logs: $logs"

# 2. Two replicas behind a ClusterIP Service, reached from a pod and from the host.
kc apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: kiln/toolbox:dev
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /tmp/www && echo "$HOSTNAME" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
YAML
kc rollout status deployment/web --timeout=180s || { dump; fail "web deployment not ready"; }
ip=$(kc get service web -o jsonpath='{.spec.clusterIP}')
wait_endpoints() { [ "$(kc get endpointslices -l kubernetes.io/service-name=web -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{"\n"}{end}' | grep -c .)" -eq 2 ]; }
for _ in $(seq 1 100); do wait_endpoints && break; sleep 0.2; done
wait_endpoints || fail "service web does not have 2 endpoints"

# kube-proxy syncs its rules after the EndpointSlice changes (min-sync-period), so the host keeps
# asking for up to 30 s until both replicas have answered.
seen_host=""
for _ in $(seq 1 150); do
  seen_host+="$(curl -sf --max-time 2 "http://$ip/" || true)"$'\n'
  [ "$(printf '%s' "$seen_host" | grep web- | sort -u | wc -l)" -ge 2 ] && break
  sleep 0.2
done
[ "$(printf '%s' "$seen_host" | grep -c web-)" -ge 1 ] || fail "host could not reach ClusterIP $ip"
[ "$(printf '%s' "$seen_host" | grep web- | sort -u | wc -l)" -eq 2 ] ||
  fail "host saw $(printf '%s' "$seen_host" | grep web- | sort -u | wc -l) replicas, expected 2"

kc run client --image kiln/toolbox:dev --image-pull-policy Never --restart Never \
  --command -- sh -c 'for i in $(seq 1 30); do wget -qO- http://$WEB_SERVICE_HOST/; done'
kc wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=120s || { dump; kc logs client || true; fail "client pod failed"; }
from_pod=$(kc logs client)
[ "$(printf '%s\n' "$from_pod" | grep web- | sort -u | wc -l)" -eq 2 ] ||
  fail "pod saw these replicas: $(printf '%s\n' "$from_pod" | sort -u | tr '\n' ' ')"

# 3. A PVC binds; a file written by one pod is read by the next.
kc apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
YAML
kc wait --for=jsonpath='{.status.phase}'=Bound pvc/shared --timeout=60s || { kc describe pvc shared; fail "pvc not bound"; }
for step in writer reader; do
  if [ $step = writer ]; then cmd='echo kiln-was-here > /data/note'; else cmd='cat /data/note'; fi
  kc apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $step}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, '$cmd']
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: shared}}]
YAML
  kc wait --for=jsonpath='{.status.phase}'=Succeeded pod/$step --timeout=120s || { dump; fail "$step failed"; }
done
[ "$(kc logs reader)" = kiln-was-here ] || fail "reader saw '$(kc logs reader)'"

# 4. A pod reaches the S3 server on the node's address, with the endpoint and credentials of the
#    Secret kiln-s3 as environment (envFrom, as storage containers get them); an unsigned list of
#    the bucket is refused.
kc apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: s3-client}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    envFrom: [{secretRef: {name: kiln-s3}}]
    command: [sh, -c, 'echo "key=$AWS_ACCESS_KEY_ID"; echo "health=$(wget -qO- "$endpoint/health")"; wget -qO- "$endpoint/$bucket/" 2>&1; true']
YAML
kc wait --for=jsonpath='{.status.phase}'=Succeeded pod/s3-client --timeout=120s || { dump; fail "s3-client failed"; }
from_pod=$(kc logs s3-client)
key=$(kc get secret kiln-s3 -o jsonpath='{.data.AWS_ACCESS_KEY_ID}' | base64 -d)
grep -qx "key=$key" <<<"$from_pod" || fail "the pod did not get the Secret's access key: $from_pod"
grep -qx "health=OK" <<<"$from_pod" || fail "the pod did not reach the S3 server: $from_pod"
grep -q "403 Forbidden" <<<"$from_pod" || fail "an unsigned list of the bucket was not refused: $from_pod"
echo "PASS: node tier (job, service from pod and host, shared PVC, S3 from a pod)"
