# kiln-manager's DataPipeline controller on the simulated tier, for the paths a happy DAG never
# takes. The step pods under test carry KWOK's `kwok.x-k8s.io/status: custom` annotation, so KWOK
# leaves their status alone and the test writes it (through the status subresource, as a kubelet
# would): a failure, or a success with a termination message carrying outputs. Checks:
#   - a step failing twice is retried with backoff and its third attempt succeeds; its outputs are
#     read from the termination message;
#   - a step whose `when` is false on those outputs is Skipped (no Job) and its dependant runs;
#   - a step failing past its retry limit fails the run, and its dependant never runs;
#   - a second run of a cached step is Cached from the first run without a Job.
# Usage: datapipeline_retries_skips_and_caches_on_simulated_tier.sh ROOT BUILD_DIR
source "$(dirname "$0")/../cluster/cluster_env.sh"
BUILD_DIR="$2"
up simulated
install_crds
port=28083
start_manager "$BUILD_DIR" $port
show() { kc get "$@" -o yaml | tail -60; kc get jobs,pods; tail -30 "$KILN_CLUSTER_DIR/manager.log"; }
jp() { kc get "$1" -o jsonpath="$2"; }
step_field() { jp "datapipeline/$1" "{.status.runs[0].steps[?(@.name==\"$2\")].$3}"; }
step_jobs() { kc get jobs -l "kiln.dev/pipeline=$1,kiln.dev/step=$2" -o name | wc -l; }
# The step's pods, oldest first.
step_pods() {
  kc get pods -l "kiln.dev/pipeline=$1,kiln.dev/step=$2" --sort-by=.metadata.creationTimestamp \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# finish_attempt PIPELINE STEP ATTEMPT PHASE EXIT_CODE MESSAGE: waits for the attempt's pod (the
# ATTEMPT-th Job of the step, counting from 1) and writes its terminal status.
finish_attempt() {
  local pipeline="$1" step="$2" attempt="$3" phase="$4" code="$5" message="$6" pod=""
  for _ in $(seq 1 300); do
    if [ "$(step_pods "$pipeline" "$step" | wc -l)" -ge "$attempt" ]; then
      pod=$(step_pods "$pipeline" "$step" | tail -n 1)
      break
    fi
    sleep 0.2
  done
  [ -n "$pod" ] || { show datapipeline "$pipeline"; fail "no pod for attempt $attempt of $step"; }
  local now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  kc patch pod "$pod" --subresource=status --type=merge -p "$(cat <<JSON
{"status": {"phase": "$phase", "startTime": "$now", "containerStatuses": [{"name": "main",
  "image": "kiln/toolbox:dev", "imageID": "", "ready": false, "restartCount": 0,
  "state": {"terminated": {"exitCode": $code, "reason": "$([ "$code" = 0 ] && echo Completed || echo Error)",
    "message": $(printf '%s' "$message" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'),
    "startedAt": "$now", "finishedAt": "$now"}}}]}}
JSON
)" >/dev/null
}

# 1. Retries, outputs and a skipped step.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: flaky}
spec:
  steps:
  - name: ingest
    retryStrategy: {limit: 2, retryPolicy: OnFailure, backoff: {duration: 1s, factor: 2}}
    template:
      metadata: {annotations: {kwok.x-k8s.io/status: custom}}
      spec:
        containers: [{name: main, image: kiln/toolbox:dev, command: ["true"]}]
  - {name: expand, dependsOn: [ingest], when: "{{steps.ingest.outputs.rows}} > 1000",
     image: kiln/toolbox:dev, command: [echo, expand]}
  - {name: report, dependsOn: [expand], image: kiln/toolbox:dev, command: [echo, report]}
YAML
finish_attempt flaky ingest 1 Failed 1 "disk full"
finish_attempt flaky ingest 2 Failed 1 "disk full"
finish_attempt flaky ingest 3 Succeeded 0 '{"rows": "250"}'
kc wait --for=jsonpath='{.status.phase}'=Succeeded datapipeline/flaky --timeout=120s ||
  { show datapipeline flaky; fail "the pipeline with a flaky step did not succeed"; }
[ "$(step_jobs flaky ingest)" -eq 3 ] || fail "ingest ran $(step_jobs flaky ingest) Jobs, expected 3"
[ "$(step_field flaky ingest attempts)" = 3 ] || fail "ingest attempts: $(step_field flaky ingest attempts)"
[ "$(step_field flaky ingest outputs.rows)" = 250 ] ||
  fail "ingest outputs.rows is '$(step_field flaky ingest outputs.rows)', expected 250"
# The retry waited for its backoff: the second Job starts at least 1 s after the first failed.
created() { kc get jobs -l "kiln.dev/pipeline=flaky,kiln.dev/step=ingest" --sort-by=.metadata.creationTimestamp \
  -o jsonpath="{.items[$1].metadata.creationTimestamp}"; }
[ "$(date -d "$(created 1)" +%s)" -gt "$(date -d "$(created 0)" +%s)" ] || fail "the retry did not back off"
kc get events --field-selector involvedObject.name=flaky -o jsonpath='{.items[*].reason}' | grep -q StepRetrying ||
  fail "no StepRetrying Event"
[ "$(step_field flaky expand phase)" = Skipped ] || fail "expand is $(step_field flaky expand phase), expected Skipped"
[ "$(step_jobs flaky expand)" -eq 0 ] || fail "the skipped step ran a Job"
[ "$(step_field flaky report phase)" = Succeeded ] || fail "report is $(step_field flaky report phase)"
echo "flaky: ingest retried twice and succeeded (rows=250); expand Skipped; report Succeeded"

# 2. A step failing past its retry limit fails the run; its dependant never runs.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: doomed}
spec:
  steps:
  - name: ingest
    retryStrategy: {limit: 1, backoff: {duration: 1s}}
    template:
      metadata: {annotations: {kwok.x-k8s.io/status: custom}}
      spec:
        containers: [{name: main, image: kiln/toolbox:dev, command: ["false"]}]
  - {name: train, dependsOn: [ingest], image: kiln/toolbox:dev, command: [echo, train]}
YAML
finish_attempt doomed ingest 1 Failed 2 "bad input"
finish_attempt doomed ingest 2 Failed 2 "bad input"
kc wait --for=jsonpath='{.status.phase}'=Failed datapipeline/doomed --timeout=120s ||
  { show datapipeline doomed; fail "the pipeline did not fail"; }
[ "$(step_jobs doomed ingest)" -eq 2 ] || fail "ingest ran $(step_jobs doomed ingest) Jobs, expected 2"
[ "$(step_jobs doomed train)" -eq 0 ] || fail "train ran after its dependency failed"
[ "$(jp datapipeline/doomed '{.status.conditions[?(@.type=="Succeeded")].status}')" = False ] ||
  fail "condition Succeeded is not False"
echo "doomed: ingest failed twice (limit 1); run Failed; train never ran"

# 3. A cache hit: a second run of the same step reuses the first run's result.
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: DataPipeline
metadata: {name: memo}
spec:
  parameters: [{name: month, value: "7"}]
  steps:
  - {name: featurize, image: kiln/toolbox:dev, command: [echo, "{{parameters.month}}"],
     cache: {enabled: true, maxAge: 1h}}
YAML
kc wait --for=jsonpath='{.status.phase}'=Succeeded datapipeline/memo --timeout=120s ||
  { show datapipeline memo; fail "the first run did not succeed"; }
first_run=$(jp datapipeline/memo '{.status.runs[0].name}')
kc annotate datapipeline memo kiln.dev/run=second >/dev/null
for _ in $(seq 1 300); do
  [ "$(jp datapipeline/memo '{.status.runs[?(@.name!="'"$first_run"'")].phase}')" = Succeeded ] && break
  sleep 0.2
done
second() { jp datapipeline/memo "{.status.runs[?(@.name!=\"$first_run\")].$1}"; }
[ "$(second phase)" = Succeeded ] || { show datapipeline memo; fail "the second run did not succeed"; }
[ "$(second 'steps[0].phase')" = Cached ] || fail "featurize in the second run is $(second 'steps[0].phase')"
[ "$(step_jobs memo featurize)" -eq 1 ] || fail "featurize ran $(step_jobs memo featurize) Jobs, expected 1"
echo "memo: the second run's featurize was Cached ($(second 'steps[0].message'))"
echo "PASS: DataPipeline retries, skips, fails past its retry limit and hits its cache on the simulated tier"
