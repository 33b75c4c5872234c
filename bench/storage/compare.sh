#!/usr/bin/env bash
# Object storage against a claim, side by side in one run on the node tier (real kubelet,
# containerd, the cluster's versitygw S3 server):
#   1. time to the first ready replica of a ModelDeployment whose ~100 MB XGBoost model is in S3
#      (fetched by the storage-initializer into an emptyDir) vs on a PersistentVolumeClaim (mounted
#      as is): from `kubectl apply` to the stable Deployment's first ready replica;
#   2. a DataPipeline step's cache-hit latency: from a run's request (the annotation kiln.dev/run) to
#      the step Cached, next to the same step run uncached (request to Succeeded), with the
#      manager's artifact repository on S3.
# Each figure is the median of KILN_STORAGE_ROUNDS rounds (default 3), S3 and claim alternating.
#   BUILD_DIR=build bash bench/storage/compare.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ROUNDS="${KILN_STORAGE_ROUNDS:-3}"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
"$ROOT/scripts/setup.sh" runtime >/dev/null
source "$ROOT/tests/cluster/cluster_env.sh" "$ROOT"
up node
BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/images" build runtime storage toolbox >/dev/null
"$ROOT/scripts/images" import "$KILN_CLUSTER_DIR/containerd/containerd.sock" runtime storage toolbox >/dev/null
install_crds
secret() { kc get secret kiln-s3 -o jsonpath="{.data.$1}" | base64 -d; }
endpoint=$(secret endpoint)
unset AWS_CA_BUNDLE  # rclone 1.60 fails on it (scripts/storage/kiln-storage)
export RCLONE_CONFIG=/dev/null RCLONE_S3_PROVIDER=Other RCLONE_S3_ENDPOINT="$endpoint" \
  RCLONE_S3_ENV_AUTH=false RCLONE_S3_ACCESS_KEY_ID="$(secret AWS_ACCESS_KEY_ID)" \
  RCLONE_S3_SECRET_ACCESS_KEY="$(secret AWS_SECRET_ACCESS_KEY)" RCLONE_S3_FORCE_PATH_STYLE=true
start_manager "$BUILD_DIR" 28093 --image-pull-policy Never \
  --storage-s3-endpoint "$endpoint" --storage-secret kiln-s3 --artifact-repository s3://kiln/bench/artifacts

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The model: ~100 MB of XGBoost JSON, trained here. Noise labels make every tree grow to its full
# depth, so the size comes from a few hundred trees.
model="$KILN_CLUSTER_DIR/model.json"
"$PY" - "$model" <<'PY'
import os, sys
import numpy as np, xgboost as xgb
rng = np.random.default_rng(3)
x = rng.random((20000, 3), dtype=np.float32)
y = rng.integers(0, 2, 20000).astype(np.float32)
params = {"objective": "binary:logistic", "max_depth": 14, "eta": 0.05, "tree_method": "hist",
          "max_bin": 1024, "min_child_weight": 0, "reg_lambda": 0, "seed": 3}
data = xgb.DMatrix(x, label=y)
booster, rounds = None, 0
while True:
    booster = xgb.train(params, data, 25, xgb_model=booster)
    rounds += 25
    booster.save_model(sys.argv[1])
    if os.path.getsize(sys.argv[1]) >= 100 * 1000 * 1000 or rounds >= 3000:
        break
print(f"model: {rounds} trees", file=sys.stderr)
PY
size=$(stat -c %s "$model")
echo "model: $size bytes"
rclone -q copyto "$model" ":s3:kiln/bench/model/model.json"
digest="sha256:$(sha256sum "$model" | cut -d' ' -f1)"
kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bench-models}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
# The hostPath provisioner binds on first use: a pod that writes nothing binds the claim, then
# the file is copied into the volume's directory on this (the only) node.
kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: bench-bind}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: kiln/toolbox:dev, imagePullPolicy: Never, command: [sh, -c, "mkdir -p /m/model && chmod -R 0777 /m"],
     volumeMounts: [{name: m, mountPath: /m}]}
  volumes: [{name: m, persistentVolumeClaim: {claimName: bench-models}}]
EOF
kc wait --for=jsonpath='{.status.phase}'=Succeeded pod/bench-bind --timeout=120s >/dev/null
pv=$(kc get pvc bench-models -o jsonpath='{.spec.volumeName}')
cp "$model" "$(kc get pv "$pv" -o jsonpath='{.spec.hostPath.path}')/model/model.json"

first_ready() { # NAME MODEL-YAML -> seconds from apply to the first ready replica
  local t0
  t0=$(now)
  kc apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: ModelDeployment
metadata: {name: $1}
spec:
  model: $2
EOF
  for _ in $(seq 1 3000); do
    [ "$(kc get deployment "$1-stable" -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = 1 ] && break
    sleep 0.1
  done
  [ "$(kc get deployment "$1-stable" -o jsonpath='{.status.readyReplicas}')" = 1 ] ||
    { kc get pods -o wide; fail "$1 got no ready replica"; }
  awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }'
  kc delete modeldeployment "$1" --wait >/dev/null
  for _ in $(seq 1 300); do [ -z "$(kc get pods -l "kiln.dev/modeldeployment=$1" -o name)" ] && break; sleep 0.2; done
}
s3_times=() pvc_times=()
for r in $(seq 1 "$ROUNDS"); do
  s3_times+=("$(first_ready "s3-$r" "{uri: \"s3://kiln/bench/model/model.json\", digest: \"$digest\"}")")
  pvc_times+=("$(first_ready "pvc-$r" "{uri: \"pvc://bench-models/model/model.json\"}")")
done
s3=$(printf '%s\n' "${s3_times[@]}" | median)
pvc=$(printf '%s\n' "${pvc_times[@]}" | median)
echo "first ready replica: s3 ${s3_times[*]}; pvc ${pvc_times[*]} (seconds)"

# 2. Cache hits: one cached step with an output artifact; run 1 runs it, later runs hit.
kc apply -f - >/dev/null <<'EOF'
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: cached}
spec:
  workspace:
    volumeClaimTemplate:
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
  successfulRunsHistoryLimit: 10
  steps:
  - name: features
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, "chmod 0755 /workspace && seq 1 100000 > /workspace/features.csv"]
    cache: {enabled: true}
    outputs:
      artifacts: [{name: features, path: features.csv}]
EOF
step_done() { # PHASE -> seconds until runs[0].steps[0] has PHASE, from T0
  for _ in $(seq 1 3000); do
    [ "$(kc get datapipeline cached -o jsonpath='{.status.runs[0].steps[0].phase}')" = "$1" ] &&
      [ "$(kc get datapipeline cached -o jsonpath='{.status.runs[0].name}')" != "$prev" ] && break
    sleep 0.05
  done
  [ "$(kc get datapipeline cached -o jsonpath='{.status.runs[0].steps[0].phase}')" = "$1" ] ||
    { kc get datapipeline cached -o yaml | tail -30; fail "the step did not reach $1"; }
  awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }'
}
prev=""; T0=$(now)
uncached=$(step_done Succeeded)
hits=()
for r in $(seq 1 "$ROUNDS"); do
  prev=$(kc get datapipeline cached -o jsonpath='{.status.runs[0].name}')
  T0=$(now)
  kc annotate --overwrite datapipeline cached "kiln.dev/run=hit-$r" >/dev/null
  hits+=("$(step_done Cached)")
done
hit=$(printf '%s\n' "${hits[@]}" | median)

printf '\n%-58s %10s %10s %8s\n' "storage (node tier, median of $ROUNDS)" "s3" "pvc" "s3/pvc"
printf '%-58s %9ss %9ss %8.2f\n' "first ready replica, $((size / 1000000)) MB XGBoost model" "$s3" "$pvc" \
  "$(awk -v a="$s3" -v b="$pvc" 'BEGIN { print a / b }')"
printf '%-58s %10s %10s %8s\n' "" "cached" "uncached" "ratio"
printf '%-58s %9ss %9ss %8.2f\n' "step: run requested -> Cached / Succeeded (S3 repository)" "$hit" "$uncached" \
  "$(awk -v a="$hit" -v b="$uncached" 'BEGIN { print a / b }')"
echo "rounds: s3 ${s3_times[*]}; pvc ${pvc_times[*]}; cache hits ${hits[*]}"
