# The four CRDs install on a real kube-apiserver and become Established; every sample in
# manifests/samples is accepted with its defaults filled; every file in tests/crds/invalid is
# rejected, and the error names what the file's "# expect:" line says.
source "$(dirname "$0")/../cluster/cluster_env.sh"

"${KILN_PYTHON:-python3}" "$ROOT/scripts/gen-crds.py" --check

up control-plane
kc apply -f "$ROOT/crds/"
for crd in datapipelines trainingjobs modeldeployments driftmonitors; do
  kc wait --for=condition=Established "crd/$crd.kiln.dev" --timeout=60s
done
[ "$(kc api-resources --categories kiln -o name | wc -l)" -eq 4 ] || fail "category kiln does not hold 4 kinds"

kc apply -f "$ROOT/manifests/samples/"
# Defaults come from the schema.
[ "$(kc get datapipeline flights-features -o jsonpath='{.spec.concurrencyPolicy}')" = Forbid ] ||
  fail "DataPipeline default concurrencyPolicy not applied"
[ "$(kc get trainingjob flights-delay -o jsonpath='{.spec.runPolicy.restartPolicy}')" = OnFailure ] ||
  fail "TrainingJob default restartPolicy not applied"
[ "$(kc get driftmonitor flights-delay -o jsonpath='{.spec.features[0].test}')" = auto ] ||
  fail "DriftMonitor default test not applied"
[ "$(kc get modeldeployment flights-delay -o jsonpath='{.spec.shadow.mirrorPercent}')" = 100 ] ||
  fail "ModelDeployment shadow mirrorPercent lost"
kc get kiln >/dev/null

checked=0
for f in "$ROOT"/tests/crds/invalid/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$f")
  [ -n "$expect" ] || fail "$f has no '# expect:' line"
  if out=$(kc apply -f "$f" 2>&1); then
    fail "$(basename "$f") was accepted: $out"
  fi
  [[ "$out" == *"$expect"* ]] || fail "$(basename "$f"): error does not name '$expect': $out"
  checked=$((checked + 1))
done
echo "PASS: 4 CRDs, $(ls "$ROOT"/manifests/samples/*.yaml | wc -l) samples accepted, $checked invalid specs rejected"
