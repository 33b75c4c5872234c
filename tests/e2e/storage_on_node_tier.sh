# Models and data in object storage, end to end on the node tier: the cluster's real S3 server
# (versitygw), the kiln/storage image (rclone) in real pods, kiln-manager on the host with the
# chart's storage defaults (endpoint and the Secret kiln-s3). Checked with rclone, a client Kiln
# did not write:
#   1. a TrainingJob reads its table from s3:// and writes model, metrics and profile under an
#      s3:// prefix; status.model names the uploaded objects with their real digests;
#   2. a ModelDeployment with two replicas fetches that model and answers predictions;
#   3. bad input, each a ModelFetchFailed condition naming the cause: a digest mismatch, a
#      missing key, wrong credentials, a missing Secret, an unreachable endpoint;
#   4. a canary that cannot be fetched leaves the stable model serving;
#   5. a DataPipeline with an artifact repository: a step's file and directory outputs are
#      uploaded with their digests, the next step downloads them by `from`, a second run takes
#      the cached step from the first across workspaces, and a missing input names its URI.
# Usage: storage_on_node_tier.sh ROOT BUILD_DIR
source "$(dirname "$0")/../cluster/cluster_env.sh"
BUILD_DIR="$2"
up node
BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/images" build runtime storage toolbox >/dev/null
"$ROOT/scripts/images" import "$KILN_CLUSTER_DIR/containerd/containerd.sock" runtime storage toolbox >/dev/null
install_crds

secret() { kc get secret kiln-s3 -o jsonpath="{.data.$1}" | base64 -d; }
endpoint=$(secret endpoint)
[ -n "$endpoint" ] || fail "the Secret default/kiln-s3 has no endpoint"
export RCLONE_S3_PROVIDER=Other RCLONE_S3_ENDPOINT="$endpoint" RCLONE_S3_ENV_AUTH=false \
  RCLONE_S3_ACCESS_KEY_ID="$(secret AWS_ACCESS_KEY_ID)" \
  RCLONE_S3_SECRET_ACCESS_KEY="$(secret AWS_SECRET_ACCESS_KEY)" RCLONE_S3_FORCE_PATH_STYLE=true
unset AWS_CA_BUNDLE
prefix="e2e-$$"

port=28083
start_manager "$BUILD_DIR" $port --image-pull-policy Never \
  --storage-s3-endpoint "$endpoint" --storage-secret kiln-s3 \
  --artifact-repository "s3://kiln/$prefix/artifacts"
show() {
  kc get "$@" -o yaml | tail -60
  kc get pods -o wide
  tail -20 "$KILN_CLUSTER_DIR/manager.log"
}
jp() { kc get "$1" -o jsonpath="$2"; }
condition() { # OBJECT TYPE FIELD
  kc get "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].$3}"
}

# 1. The training table goes to the bucket; the TrainingJob reads it there and uploads its output.
awk 'BEGIN { srand(7); print "x1,x2,x3,y";
  for (i = 0; i < 3000; i++) { a = rand(); b = rand(); c = rand();
    printf "%.4f,%.4f,%.4f,%d\n", a, b, c, (a + 0.3 * b + 0.2 * rand() > 0.75) } }' \
  > "$KILN_CLUSTER_DIR/train.csv"
rclone -q copyto "$KILN_CLUSTER_DIR/train.csv" ":s3:kiln/$prefix/data/train.csv" ||
  fail "rclone could not upload the table"
kc apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: TrainingJob
metadata: {name: storage}
spec:
  framework: xgboost
  builtin:
    xgboost: {data: "s3://kiln/$prefix/data/train.csv", label: "y", numRounds: 30}
  output: {modelUri: "s3://kiln/$prefix/models/v1"}
EOF
kc wait --for=jsonpath='{.status.phase}'=Succeeded trainingjob/storage --timeout=300s ||
  { show trainingjob storage; kc logs -l kiln.dev/trainingjob=storage --all-containers --tail 20 || true
    fail "training from and to S3 did not succeed"; }
model_uri=$(jp trainingjob/storage '{.status.model.uri}')
[ "$model_uri" = "s3://kiln/$prefix/models/v1/model.json" ] || fail "status.model.uri is '$model_uri'"
[ "$(jp trainingjob/storage '{.status.model.profileUri}')" = "s3://kiln/$prefix/models/v1/profile.json" ] ||
  fail "status.model.profileUri is '$(jp trainingjob/storage '{.status.model.profileUri}')'"
listed=$(rclone lsf ":s3:kiln/$prefix/models/v1/" | sort | tr '\n' ' ')
for f in model.json metrics.json profile.json; do
  [[ " $listed" == *" $f "* ]] || fail "$f is not in the bucket (listed: $listed)"
done
digest=$(jp trainingjob/storage '{.status.model.digest}')
actual="sha256:$(rclone cat ":s3:kiln/$prefix/models/v1/model.json" | sha256sum | cut -d' ' -f1)"
[ "$digest" = "$actual" ] || fail "status.model.digest $digest, the object's is $actual"
auc=$(jp trainingjob/storage '{.status.model.metrics.auc}')
awk -v a="$auc" 'BEGIN { exit !(a > 0.9) }' || fail "held-out AUC $auc <= 0.9"
echo "training: table read from S3, model/metrics/profile uploaded ($listed), digest $digest, AUC $auc"

# 2. Two replicas fetch the model (and its profile) and serve it.
kc apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: ModelDeployment
metadata: {name: storage}
spec:
  model: {fromTrainingJob: storage, format: xgboost}
  replicas: 2
EOF
kc wait --for=condition=Ready modeldeployment/storage --timeout=300s ||
  { show modeldeployment storage; fail "the ModelDeployment serving from S3 is not Ready"; }
ready() { [ "$(jp deployment/storage-stable '{.status.readyReplicas}')" = 2 ]; }
for _ in $(seq 1 90); do ready && break; sleep 2; done
ready || { show deployment storage-stable; fail "two replicas did not both get ready"; }
ip=$(jp service/storage '{.spec.clusterIP}')
for _ in $(seq 1 150); do curl -sf "http://$ip/v2/health/ready" >/dev/null && break; sleep 0.2; done
answer=$(curl -sf -H 'content-type: application/json' -X POST "http://$ip/v2/models/storage/infer" \
  --data-binary '{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[0.95,0.9,0.5, 0.05,0.1,0.5]}]}') ||
  fail "infer through the Service failed"
python3 -c 'import json,sys; d=json.loads(sys.argv[1])["outputs"][0]["data"]; assert d[0] > 0.5 > d[1], d' \
  "$answer" || fail "unexpected predictions: $answer"
echo "serving: 2 replicas ready from $model_uri, predictions $answer"

# 3. Bad input: each is reported as ModelFetchFailed with its cause.
kc create secret generic wrong-s3 --from-literal=AWS_ACCESS_KEY_ID="$(secret AWS_ACCESS_KEY_ID)" \
  --from-literal=AWS_SECRET_ACCESS_KEY=not-the-secret >/dev/null
bad() { # NAME MODEL-YAML EXPECTED-SUBSTRING
  kc apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: ModelDeployment
metadata: {name: $1}
spec:
  model: $2
EOF
}
zeros=sha256:$(printf '0%.0s' $(seq 1 64))
bad bad-digest "{uri: \"$model_uri\", digest: $zeros}"
bad missing-key "{uri: \"s3://kiln/$prefix/models/none/model.json\"}"
bad wrong-creds "{uri: \"$model_uri\", storage: {secretRef: {name: wrong-s3}}}"
bad no-secret "{uri: \"$model_uri\", storage: {secretRef: {name: absent-s3}}}"
bad unreachable "{uri: \"$model_uri\", storage: {endpoint: \"http://127.0.0.1:9\"}}"
expect_fetch_failure() { # NAME SUBSTRING
  local message="" reason=""
  for _ in $(seq 1 60); do
    reason=$(condition "modeldeployment/$1" Ready reason)
    message=$(condition "modeldeployment/$1" Ready message)
    [ "$reason" = ModelFetchFailed ] && [[ "$message" == *"$2"* ]] && break
    sleep 2
  done
  [ "$reason" = ModelFetchFailed ] && [[ "$message" == *"$2"* ]] ||
    { show modeldeployment "$1"; fail "$1: Ready reason '$reason', message '$message' (expected '$2')"; }
  echo "bad input $1: $message"
}
expect_fetch_failure bad-digest "digest mismatch"
expect_fetch_failure missing-key ": 404 "
expect_fetch_failure wrong-creds "403 SignatureDoesNotMatch"
expect_fetch_failure no-secret 'CreateContainerConfigError'
expect_fetch_failure unreachable "unreachable endpoint http://127.0.0.1:9"
kill -0 "$MANAGER_PID" || fail "kiln-manager is gone"

# 4. A canary that cannot be fetched: the stable model keeps serving.
kc patch modeldeployment storage --type merge -p "{\"spec\":{\"canary\":{\"model\":{\"uri\":\"$model_uri\",\"digest\":\"$zeros\",\"version\":\"bad\"},\"trafficPercent\":50}}}" >/dev/null
for _ in $(seq 1 90); do
  [ "$(condition modeldeployment/storage CanaryReady reason)" = ModelFetchFailed ] && break
  sleep 2
done
[ "$(condition modeldeployment/storage CanaryReady reason)" = ModelFetchFailed ] ||
  { show modeldeployment storage; fail "the unfetchable canary is not ModelFetchFailed"; }
[ "$(condition modeldeployment/storage Ready status)" = True ] || fail "stable is no longer Ready"
[ "$(jp modeldeployment/storage '{.status.traffic.canary}')" = 0 ] ||
  fail "traffic went to a canary that never started: $(jp modeldeployment/storage '{.status.traffic}')"
for i in $(seq 1 20); do
  curl -sf -H 'content-type: application/json' -X POST "http://$(jp service/storage '{.spec.clusterIP}')/v2/models/storage/infer" \
    --data-binary '{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.5,0.5,0.5]}]}' >/dev/null ||
    fail "request $i failed while the canary could not be fetched"
done
echo "rollout: canary ModelFetchFailed ($(condition modeldeployment/storage CanaryReady message)); 20 of 20 requests answered by stable"

# 5. Pipeline artifacts through the repository (the manager's --artifact-repository). The
#    hostPath volumes of this cluster are root's (mode 0750): the first step, root, opens the
#    workspace to the uploader (uid 65532), as the demo's prepare step does.
pipeline() { # NAME STEPS-YAML
  kc apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: $1}
spec:
  workspace:
    volumeClaimTemplate:
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
  steps:
$2
EOF
}
pipeline artifacts '
  - name: features
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, "chmod 0755 /workspace && mkdir -p /workspace/out/dir && seq 1 100 > /workspace/out/features.csv && echo a > /workspace/out/dir/a && echo b > /workspace/out/dir/b"]
    cache: {enabled: true}
    outputs:
      artifacts: [{name: features, path: out/features.csv}, {name: bundle, path: out/dir}]
  - name: train
    dependsOn: [features]
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, "test \"$(cat /workspace/in/bundle/a /workspace/in/bundle/b)\" = \"$(printf \"a\\nb\")\" && printf \"{\\\"lines\\\": \\\"%s\\\"}\" $(wc -l < /workspace/in/features.csv) > /dev/termination-log"]
    inputs:
      artifacts:
      - {name: features, path: in/features.csv, from: "{{steps.features.outputs.artifacts.features}}"}
      - {name: bundle, path: in/bundle, from: "{{steps.features.outputs.artifacts.bundle}}"}
    outputs: {parameters: [{name: lines}]}'
run_phase() { jp "datapipeline/$1" "{.status.runs[$2].phase}"; }
wait_run() { # PIPELINE INDEX PHASE
  for _ in $(seq 1 120); do
    [ "$(run_phase "$1" "$2")" = "$3" ] && return 0
    [ "$(run_phase "$1" "$2")" = Failed ] && [ "$3" != Failed ] && break
    sleep 2
  done
  show datapipeline "$1"; fail "$1: run $2 is '$(run_phase "$1" "$2")', expected $3"
}
wait_run artifacts 0 Succeeded
run1=$(jp datapipeline/artifacts '{.status.runs[0].name}')
step() { jp datapipeline/artifacts "{.status.runs[$1].steps[?(@.name==\"$2\")].$3}"; }
base="s3://kiln/$prefix/artifacts/artifacts/$run1/features"
[ "$(step 0 features 'artifacts[?(@.name=="features")].uri')" = "$base/features" ] ||
  fail "features uri is '$(step 0 features 'artifacts[?(@.name=="features")].uri')', expected $base/features"
[ "$(step 0 features 'artifacts[?(@.name=="bundle")].uri')" = "$base/bundle/" ] ||
  fail "bundle uri is '$(step 0 features 'artifacts[?(@.name=="bundle")].uri')', expected $base/bundle/"
remote=":s3:kiln/$prefix/artifacts/artifacts/$run1/features"
want="sha256:$(rclone cat "$remote/features" | sha256sum | cut -d' ' -f1)"
got=$(step 0 features 'artifacts[?(@.name=="features")].digest')
[ "$got" = "$want" ] || fail "features digest $got, the object's is $want"
[ "$want" = "sha256:$(seq 1 100 | sha256sum | cut -d' ' -f1)" ] || fail "the uploaded features.csv is not what the step wrote"
# A directory's digest is that of its manifest: the sha256sum lines of its files in path order.
manifest=$(for f in a b; do printf '%s  %s\n' "$(rclone cat "$remote/bundle/$f" | sha256sum | cut -d' ' -f1)" "$f"; done)
want_dir="sha256:$(printf '%s\n' "$manifest" | sha256sum | cut -d' ' -f1)"
got_dir=$(step 0 features 'artifacts[?(@.name=="bundle")].digest')
[ "$got_dir" = "$want_dir" ] || fail "bundle digest $got_dir, its manifest's is $want_dir"
[ "$(step 0 train outputs.lines)" = 100 ] || fail "train read '$(step 0 train outputs.lines)' lines, not 100"
echo "artifacts: $(rclone lsf -R "$remote" | tr '\n' ' ')uploaded with their digests, train read 100 lines"

kc annotate datapipeline artifacts kiln.dev/run=again >/dev/null
for _ in $(seq 1 30); do [ "$(jp datapipeline/artifacts '{.status.runs[0].name}')" != "$run1" ] && break; sleep 1; done
wait_run artifacts 0 Succeeded
[ "$(step 0 features phase)" = Cached ] ||
  { show datapipeline artifacts; fail "features of the second run is '$(step 0 features phase)', not Cached"; }
[ "$(step 0 features message)" = "cache hit from run $run1" ] || fail "features message: $(step 0 features message)"
[ "$(step 0 train phase)" = Succeeded ] && [ "$(step 0 train outputs.lines)" = 100 ] ||
  fail "train of the second run: $(step 0 train phase), lines $(step 0 train outputs.lines)"
claims=$(kc get pvc -o name | grep -c artifacts || true)
[ "$claims" = 2 ] || fail "expected a claim per run, found $claims"
echo "cache: the second run took features from $run1 across workspaces; train again read 100 lines"

pipeline missing-input '
  - name: table
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, "true"]
    inputs:
      artifacts: [{name: table, path: in/none.csv, uri: "s3://kiln/'"$prefix"'/none.csv"}]'
wait_run missing-input 0 Failed
msg=$(jp datapipeline/missing-input '{.status.runs[0].steps[0].message}')
[ "$(jp datapipeline/missing-input '{.status.runs[0].steps[0].phase}')" = Error ] ||
  fail "the step with a missing input is '$(jp datapipeline/missing-input '{.status.runs[0].steps[0].phase}')', not Error"
[[ "$msg" == "inputs.artifacts table: s3://kiln/$prefix/none.csv: 404 "* ]] || fail "missing input message: $msg"
echo "missing input: $msg"

# A workspace the uploader cannot read is named as such, not as a missing output.
pipeline closed '
  - name: write
    image: kiln/toolbox:dev
    imagePullPolicy: Never
    command: [sh, -c, "echo x > /workspace/x"]
    outputs:
      artifacts: [{name: x, path: x}]'
wait_run closed 0 Failed
msg=$(jp datapipeline/closed '{.status.runs[0].steps[0].message}')
run_closed=$(jp datapipeline/closed '{.status.runs[0].name}')
[ "$msg" = "uploading artifact x: s3://kiln/$prefix/artifacts/closed/$run_closed/write/x: permission denied: uid 65532 cannot search /workspace" ] ||
  fail "unreadable workspace message: $msg"
echo "unreadable workspace: $msg"
stop_manager
echo "PASS: TrainingJob and ModelDeployment through S3, five fetch failures named, stable kept serving, pipeline artifacts uploaded, downloaded and cached across runs"
