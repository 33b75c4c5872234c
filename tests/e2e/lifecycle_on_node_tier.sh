# The ML lifecycle end to end on the node tier: real kubelet, containerd and runc run every pod;
# kiln-manager runs on the host. A DataPipeline makes the data (real busybox containers), a
# TrainingJob trains XGBoost with kiln-runtime train, a ModelDeployment serves it (one variant: its
# Service goes straight to the serving pods, no router; answers Open Inference Protocol v2 requests
# from the host; a malformed one gets a 4xx JSON error), a DriftMonitor sees drifted traffic in the serving pods' profiles, retrains, and
# sends the new model to a canary that the analysed rollout promotes through the router that the
# canary brings; a canary failing its analysis is rolled back.
# Usage: lifecycle_on_node_tier.sh ROOT BUILD_DIR
source "$(dirname "$0")/../cluster/cluster_env.sh"
BUILD_DIR="$2"
up node
BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/images" build runtime toolbox >/dev/null
"$ROOT/scripts/images" import "$KILN_CLUSTER_DIR/containerd/containerd.sock" runtime toolbox >/dev/null
install_crds

port=28082
start_manager "$BUILD_DIR" $port --image-pull-policy Never
show() {
  kc get "$@" -o yaml | tail -80
  kc get pods -o wide
  tail -20 "$KILN_CLUSTER_DIR/manager.log"
}
jp() { kc get "$1" -o jsonpath="$2"; }

# 1. Data.
kc apply -f "$(dirname "$0")/lifecycle-data.yaml" >/dev/null
kc wait --for=jsonpath='{.status.phase}'=Succeeded datapipeline/lifecycle --timeout=180s ||
  { show datapipeline lifecycle; fail "the DataPipeline did not succeed"; }
rows=$(jp datapipeline/lifecycle '{.status.runs[0].steps[?(@.name=="validate")].outputs.rows}')
[ "$rows" = 3000 ] || fail "validate step output rows=$rows, expected 3000"
echo "pipeline: Succeeded, rows=$rows"
kc apply -f "$(dirname "$0")/lifecycle-model.yaml" >/dev/null

# 2. Training.
kc wait --for=jsonpath='{.status.phase}'=Succeeded trainingjob/lifecycle --timeout=300s ||
  { show trainingjob lifecycle; kc logs -l kiln.dev/trainingjob=lifecycle --tail 20 || true; fail "training did not succeed"; }
auc=$(jp trainingjob/lifecycle '{.status.model.metrics.auc}')
awk -v a="$auc" 'BEGIN { exit !(a > 0.95) }' || fail "held-out AUC $auc <= 0.95"
[[ "$(jp trainingjob/lifecycle '{.status.model.uri}')" == pvc://lifecycle-data/models/v1/model.json ]] ||
  fail "status.model.uri is $(jp trainingjob/lifecycle '{.status.model.uri}')"
echo "training: Succeeded, AUC $auc"

# 3. Serving, one variant: the Service selects the stable pods and no router runs.
kc wait --for=condition=Ready modeldeployment/lifecycle --timeout=300s ||
  { show modeldeployment lifecycle; fail "ModelDeployment not Ready"; }
selects() { jp service/lifecycle '{.spec.selector.kiln\.dev/variant}'; }
[ "$(selects)" = stable ] || fail "the Service selects '$(selects)' for a single variant"
if kc get deployment lifecycle >/dev/null 2>&1; then fail "a single variant runs a router"; fi
ip=$(jp service/lifecycle '{.spec.clusterIP}')
infer() { curl -s -o "$KILN_CLUSTER_DIR/answer.json" -w '%{http_code}' -H 'content-type: application/json' \
  -X POST "http://$ip/v2/models/lifecycle/infer" --data-binary "$1" || true; }
# kube-proxy programs the new Service's rules shortly after its endpoints turn ready.
for _ in $(seq 1 150); do curl -sf "http://$ip/v2/health/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://$ip/v2/health/ready" >/dev/null || fail "the Service $ip does not answer"
code=$(infer '{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[0.9,0.6,0.1, 0.1,0.1,0.5]}]}')
[ "$code" = 200 ] || fail "infer answered $code: $(cat "$KILN_CLUSTER_DIR/answer.json")"
python3 - "$KILN_CLUSTER_DIR/answer.json" <<'PY' || fail "unexpected predictions: $(cat "$KILN_CLUSTER_DIR/answer.json")"
import json, sys
out = json.load(open(sys.argv[1]))["outputs"][0]["data"]
assert out[0] > 0.5 > out[1], out
PY
code=$(infer '{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2]}]}')
[[ "$code" == 4* ]] || fail "a malformed request got $code"
grep -q '"error"' "$KILN_CLUSTER_DIR/answer.json" || fail "no JSON error: $(cat "$KILN_CLUSTER_DIR/answer.json")"
echo "serving: predictions from the stable pods; malformed request -> $code"

# 4. Drifted traffic: x1 moves up by 0.4, x2 and x3 keep their distribution.
body=$(awk 'BEGIN { srand(11); printf "{\"inputs\":[{\"name\":\"x\",\"shape\":[400,3],\"datatype\":\"FP32\",\"data\":[";
  for (i = 0; i < 400; i++) printf "%s%.4f,%.4f,%.4f", (i ? "," : ""), 0.4 + 0.6 * rand(), rand(), rand();
  print "]}]}" }')
for _ in 1 2; do [ "$(infer "$body")" = 200 ] || fail "drifted batch refused: $(cat "$KILN_CLUSTER_DIR/answer.json")"; done
kc wait --for=condition=DriftDetected driftmonitor/lifecycle --timeout=120s ||
  { show driftmonitor lifecycle; fail "no drift detected"; }
drifted=$(jp driftmonitor/lifecycle '{range .status.lastEvaluation.features[*]}{.name}={.drifted}{" "}{end}')
[[ "$drifted" == *"x1=true"* && "$drifted" == *"x2=false"* && "$drifted" == *"x3=false"* ]] || fail "per-feature verdicts: $drifted"
metrics=$(curl -sf "localhost:$port/metrics")
grep -q '^kiln_driftmonitor_feature_drifted{.*feature="x1"} 1' <<< "$metrics" ||
  fail "no kiln_driftmonitor_feature_drifted metric for x1"
[ -n "$(jp driftmonitor/lifecycle '{.status.lastEvaluation.windowSeconds}')" ] ||
  fail "status.lastEvaluation.windowSeconds is missing"
echo "drift: detected ($drifted) over $(jp driftmonitor/lifecycle '{.status.lastEvaluation.windowSeconds}') s of traffic"
echo "drift statistics: $(jp driftmonitor/lifecycle '{range .status.lastEvaluation.features[*]}{.name}:{.test}={.statistic} {end}')"

# 5. Retraining and the canary: the monitor's TrainingJob succeeds, its model becomes the canary,
# traffic passes the analysis, and the rollout promotes it.
retrain=$(jp driftmonitor/lifecycle '{.status.lastRetrain.trainingJob}')
[ -n "$retrain" ] || { show driftmonitor lifecycle; fail "no retraining started"; }
kc wait --for=jsonpath='{.status.phase}'=Succeeded "trainingjob/$retrain" --timeout=300s ||
  { show trainingjob "$retrain"; fail "retraining did not succeed"; }
for _ in $(seq 1 300); do
  [ "$(jp modeldeployment/lifecycle '{.status.canary.version}')" = "$retrain" ] && break
  sleep 1
done
[ "$(jp modeldeployment/lifecycle '{.status.canary.version}')" = "$retrain" ] ||
  { show modeldeployment lifecycle; fail "the retrained model did not become the canary"; }
one='{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.7,0.5,0.2]}]}'
through_router=false
for _ in $(seq 1 600); do
  phase=$(jp modeldeployment/lifecycle '{.status.rollout.phase}')
  [ "$(selects)" = router ] && through_router=true
  [ "$phase" = Promoted ] || [ "$phase" = RolledBack ] && break
  for _ in $(seq 1 10); do infer "$one" >/dev/null; done
  sleep 0.5
done
[ "$phase" = Promoted ] || { show modeldeployment lifecycle; fail "rollout ended as '$phase'"; }
$through_router || fail "the Service never selected the router during the rollout"
[ "$(jp modeldeployment/lifecycle '{.status.stable.version}')" = "$retrain" ] ||
  fail "stable version is $(jp modeldeployment/lifecycle '{.status.stable.version}') after promotion"
[ -n "$(jp modeldeployment/lifecycle '{.status.lastAnalysis.routerCounters.canary.requests}')" ] ||
  fail "status.lastAnalysis keeps no router counters for the next window"
echo "rollout: $retrain promoted ($(jp modeldeployment/lifecycle '{.status.lastAnalysis.requests}') canary requests analysed)"

# 6. A canary that fails its analysis is rolled back: the first model again as spec.canary, with a
# latency gate no real request can meet.
kc patch modeldeployment lifecycle --type merge -p '{"spec": {
  "canary": {"model": {"uri": "pvc://lifecycle-data/models/v1/model.json", "format": "xgboost",
                       "version": "v1-again"}, "trafficPercent": 50},
  "rollout": {"analysis": {"metrics": [{"name": "latencyP99", "threshold": 1e-9}]}}}}' >/dev/null
for _ in $(seq 1 600); do
  phase=$(jp modeldeployment/lifecycle '{.status.rollout.phase}')
  version=$(jp modeldeployment/lifecycle '{.status.canary.version}')
  [ "$version" = v1-again ] && [ "$phase" = RolledBack ] && break
  for _ in $(seq 1 10); do infer "$one" >/dev/null; done
  sleep 0.5
done
[ "$phase" = RolledBack ] || { show modeldeployment lifecycle; fail "the failing canary ended as '$phase'"; }
[ "$(jp modeldeployment/lifecycle '{.status.stable.version}')" = "$retrain" ] || fail "stable changed on rollback"
[ "$(jp modeldeployment/lifecycle '{.status.traffic.canary}')" = 0 ] || fail "the canary kept traffic after rollback"
[ "$(jp modeldeployment/lifecycle '{.status.conditions[?(@.type=="RolledBack")].status}')" = True ] ||
  fail "condition RolledBack is not True"
echo "rollback: v1-again rolled back after $(jp modeldeployment/lifecycle '{.status.rollout.failedAnalyses}') failed analyses; stable stays $retrain"

# 7. A deleted DriftMonitor takes its per-feature series out of /metrics.
kc delete driftmonitor lifecycle --wait=true >/dev/null
for _ in $(seq 1 100); do
  metrics=$(curl -sf "localhost:$port/metrics" || true)
  grep -q '^kiln_driftmonitor_feature_drifted{.*monitor="lifecycle"' <<< "$metrics" || break
  sleep 0.1
done
grep -q '^kiln_driftmonitor_feature_drifted{.*monitor="lifecycle"' <<< "$metrics" &&
  fail "the deleted DriftMonitor's series are still exported"
echo "metrics: the deleted DriftMonitor's series are gone"
echo "PASS: the lifecycle ran end to end on the node tier"
