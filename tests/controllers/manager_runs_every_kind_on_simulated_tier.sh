# kiln-manager with DataPipeline, ModelDeployment and DriftMonitor on the simulated tier (real API
# server, controller-manager, scheduler, garbage collector; KWOK nodes run Job pods to success and
# make Deployment pods Ready). Checks: a diamond DAG runs its steps in order to Succeeded; a
# restarted manager creates no duplicate Jobs; a ModelDeployment gets its stable Deployment and an
# endpoint Service on the stable pods (no router for one variant) and turns Ready, a reconcile with
# nothing to change writes nothing, and a canary goes through timed steps to promoted with the
# router coming and going; a DriftMonitor on it reports why it
# cannot evaluate yet (KWOK pods serve no HTTP); deleting parents cascades.
# Usage: manager_runs_every_kind_on_simulated_tier.sh ROOT BUILD_DIR
source "$(dirname "$0")/../cluster/cluster_env.sh"
BUILD_DIR="$2"
up simulated
install_crds

port=28081
show() { kc get "$@" -o yaml | tail -60; tail -30 "$KILN_CLUSTER_DIR/manager.log"; }
start_manager "$BUILD_DIR" $port

# 1. A diamond: prepare -> (left, right) -> join.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: diamond}
spec:
  parallelism: 2
  steps:
  - {name: prepare, image: kiln/toolbox:dev, command: [echo, prepare]}
  - {name: left, dependsOn: [prepare], image: kiln/toolbox:dev, command: [echo, left]}
  - {name: right, dependsOn: [prepare], image: kiln/toolbox:dev, command: [echo, right]}
  - {name: join, dependsOn: [left, right], image: kiln/toolbox:dev, command: [echo, join]}
YAML
kc wait --for=jsonpath='{.status.phase}'=Succeeded datapipeline/diamond --timeout=120s ||
  { show datapipeline diamond; fail "the diamond did not succeed"; }
jobs() { kc get jobs -l kiln.dev/pipeline=diamond -o jsonpath='{range .items[*]}{.metadata.labels.kiln\.dev/step}{"\n"}{end}' | sort; }
[ "$(jobs | tr '\n' ' ')" = "join left prepare right " ] || fail "step Jobs are: $(jobs | tr '\n' ' ')"
# join started only after left and right completed.
created() { kc get jobs -l kiln.dev/pipeline=diamond,kiln.dev/step="$1" -o jsonpath='{.items[0].metadata.creationTimestamp}'; }
completed() { kc get jobs -l kiln.dev/pipeline=diamond,kiln.dev/step="$1" -o jsonpath='{.items[0].status.completionTime}'; }
for dep in left right; do
  [[ ! "$(created join)" < "$(completed $dep)" ]] || fail "join was created before $dep completed"
done
[ "$(kc get datapipeline diamond -o jsonpath='{.status.conditions[?(@.type=="Succeeded")].status}')" = True ] ||
  fail "condition Succeeded is not True"

# A restarted manager reconciles the finished run again and creates nothing new.
stop_manager
start_manager "$BUILD_DIR" $port
reconciled='^kiln_reconcile_total\{controller="datapipeline",result="(success|requeue)"\}'
for _ in $(seq 1 300); do
  # (The metrics are read first and given to grep without a pipe: grep -q stops reading at its
  # match, and with pipefail the writer's broken pipe would fail the check.)
  metrics=$(curl -sf "localhost:$port/metrics" || true)
  grep -Eq "$reconciled" <<< "$metrics" && break
  sleep 0.1
done
metrics=$(curl -sf "localhost:$port/metrics" || true)
grep -Eq "$reconciled" <<< "$metrics" ||
  fail "the restarted manager did not reconcile the pipeline"
[ "$(jobs | wc -l)" -eq 4 ] || fail "after a restart the pipeline has $(jobs | wc -l) Jobs, expected 4"

# 2. A ModelDeployment of a model file in the image.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: ModelDeployment
metadata: {name: scorer}
spec:
  model: {uri: "file:///opt/models/model.json", format: xgboost, version: v1}
  replicas: 2
YAML
kc wait --for=condition=Ready modeldeployment/scorer --timeout=120s ||
  { show modeldeployment scorer; fail "ModelDeployment not Ready"; }
kc get deployment scorer-stable >/dev/null || fail "no stable Deployment"
# One variant: the endpoint Service selects the stable pods and no router runs.
selects() { kc get service scorer -o jsonpath='{.spec.selector.kiln\.dev/variant}'; }
[ "$(selects)" = stable ] || fail "the endpoint Service selects '$(selects)', expected stable"
if kc get deployment scorer >/dev/null 2>&1; then fail "a single-variant ModelDeployment runs a router"; fi
[ "$(kc get deployment scorer-stable -o jsonpath='{.spec.replicas}')" = 2 ] || fail "stable replicas"
args=$(kc get deployment scorer-stable -o jsonpath='{.spec.template.spec.containers[0].args}')
[[ "$args" == *"/opt/models/model.json"* ]] || fail "serving args lack the model file: $args"
[ "$(kc get modeldeployment scorer -o jsonpath='{.status.url}')" = "http://scorer.default.svc:80" ] ||
  fail "status.url is $(kc get modeldeployment scorer -o jsonpath='{.status.url}')"

# A reconcile with nothing to change sends nothing: the cached children already hold what the plan
# would apply (their kiln.dev/applied-hash and every field sent), so no apply goes out.
total() { curl -sf "localhost:$port/metrics" | awk -v re="$1" '$0 ~ re { s += $NF } END { print s + 0 }'; }
writes_re='^kiln_kube_client_requests_total[{].*verb="(POST|PUT|PATCH|DELETE)"'
reconciles_re='^kiln_reconcile_total[{]controller="modeldeployment"'
[ -n "$(kc get deployment scorer-stable -o jsonpath='{.metadata.annotations.kiln\.dev/applied-hash}')" ] ||
  fail "the stable Deployment carries no applied-hash annotation"
w0=$(total "$writes_re") r0=$(total "$reconciles_re")
kc annotate modeldeployment scorer example.com/touched=1 >/dev/null
for _ in $(seq 1 300); do [ "$(total "$reconciles_re")" -gt "$r0" ] && break; sleep 0.1; done
[ "$(total "$reconciles_re")" -gt "$r0" ] || fail "touching the ModelDeployment did not reconcile it"
[ "$(total "$writes_re")" -eq "$w0" ] ||
  fail "a reconcile with nothing to change made $(( $(total "$writes_re") - w0 )) API writes"

# 2b. A canary through timed steps to promoted (analysis needs router metrics, which KWOK pods do
# not serve; tests/e2e covers it; KWOK pods never open the file): the router starts and the endpoint moves to it once it is ready,
# the canary takes 10% then 50%, is promoted, the endpoint moves back to stable and the router,
# its ConfigMap, the canary and the stable Service it forwarded to are deleted after a 30 s grace.
kc patch modeldeployment scorer --type merge -p '{"spec": {
  "canary": {"model": {"uri": "file:///opt/models/v2/model.json", "format": "xgboost", "version": "v2"},
             "trafficPercent": 10},
  "rollout": {"steps": [{"setWeight": 10, "pause": {"duration": "4s"}},
                        {"setWeight": 50, "pause": {"duration": "4s"}}, {"setWeight": 100}]}}}' \
  >/dev/null
md_field() { kc get modeldeployment scorer -o jsonpath="$1"; }
seen_router=false seen_weights=""
for _ in $(seq 1 240); do
  [ "$(selects)" = router ] && seen_router=true
  w=$(md_field '{.status.traffic.canary}')
  [[ " $seen_weights " == *" $w "* ]] || seen_weights="$seen_weights $w"
  [ "$(md_field '{.status.rollout.phase}')" = Promoted ] && break
  sleep 0.5
done
[ "$(md_field '{.status.rollout.phase}')" = Promoted ] ||
  { show modeldeployment scorer; fail "the canary was not promoted"; }
$seen_router || fail "the endpoint never selected the router during the rollout"
[[ " $seen_weights " == *" 10 "* && " $seen_weights " == *" 50 "* ]] ||
  fail "the canary's traffic went through '$seen_weights', expected 10 and 50"
[ "$(md_field '{.status.stable.version}')" = v2 ] || fail "stable is not the promoted v2"
for _ in $(seq 1 120); do
  [ "$(selects)" = stable ] && ! kc get deployment scorer >/dev/null 2>&1 && break
  sleep 0.5
done
[ "$(selects)" = stable ] || fail "after the promotion the endpoint selects '$(selects)'"
for gone in deployment/scorer deployment/scorer-canary configmap/scorer-router service/scorer-stable; do
  if kc get "$gone" >/dev/null 2>&1; then fail "$gone still exists after the promotion"; fi
done
kc wait --for=condition=Ready modeldeployment/scorer --timeout=60s >/dev/null ||
  fail "not Ready after the promotion"
echo "canary: router up, traffic${seen_weights}, promoted, router gone"

# 3. A DriftMonitor on it: KWOK pods serve no profiles, and the baseline comes from the serving
# pods, so the monitor waits for it.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: DriftMonitor
metadata: {name: scorer}
spec:
  target: {modelDeploymentRef: {name: scorer}}
  baseline: {fromTrainingJob: scorer}
  interval: 1m
YAML
kc wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=BaselineNotReady \
  driftmonitor/scorer --timeout=60s || { show driftmonitor scorer; fail "DriftMonitor did not report BaselineNotReady"; }

metrics=$(curl -sf "localhost:$port/metrics")
# A reconcile that asks to be run again later (the monitor's next evaluation) counts as "requeue".
for c in datapipeline modeldeployment driftmonitor; do
  grep -Eq "^kiln_reconcile_total\{controller=\"$c\",result=\"(success|requeue)\"\}" <<< "$metrics" ||
    fail "no reconcile of $c that ended without an error"
done
printf '%s\n' "$metrics" | promtool check metrics || fail "promtool rejects the manager's metrics"

# 4. Deleting the parents cascades to their children.
kc delete modeldeployment scorer --wait=true
kc delete datapipeline diamond --wait=true
# (Up to the garbage collector's 30 s discovery resync for CRDs installed after it started.)
for _ in $(seq 1 450); do
  kc get deployment scorer-stable >/dev/null 2>&1 || [ "$(jobs | wc -l)" -gt 0 ] || break
  sleep 0.2
done
kc get deployment scorer-stable >/dev/null 2>&1 && fail "stable Deployment survived its ModelDeployment"
[ "$(jobs | wc -l)" -eq 0 ] || fail "step Jobs survived their DataPipeline"
echo "PASS: kiln-manager runs DataPipeline, ModelDeployment and DriftMonitor on the simulated tier"
