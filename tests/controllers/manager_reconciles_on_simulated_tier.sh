# kiln-manager against the simulated tier (real API server, controller-manager, scheduler, KWOK
# nodes): a distributed TrainingJob gets its Indexed Job and headless Service with the PyTorch
# environment, reaches Succeeded with conditions and Events, and the manager serves its probes and
# metrics (its API client's included). With two replicas and leader election only the leader acts.
# Usage: manager_reconciles_on_simulated_tier.sh ROOT BUILD_DIR
source "$(dirname "$0")/../cluster/cluster_env.sh"
BUILD_DIR="$2"
up simulated
install_crds

port=28080
start_manager "$BUILD_DIR" $port

kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: TrainingJob
metadata: {name: ddp}
spec:
  framework: pytorch
  replicas: 4
  template:
    spec:
      containers: [{name: train, image: busybox, command: [echo, train]}]
  output: {modelUri: pvc://models/ddp}
YAML
kc wait --for=jsonpath='{.status.phase}'=Succeeded trainingjob/ddp --timeout=120s ||
  { kc get trainingjob ddp -o yaml; tail -30 "$KILN_CLUSTER_DIR/manager.log"; fail "TrainingJob did not succeed"; }

[ "$(kc get job ddp -o jsonpath='{.spec.completionMode}/{.spec.completions}/{.spec.parallelism}')" = Indexed/4/4 ] ||
  fail "worker Job is not Indexed with 4 completions"
[ "$(kc get job ddp -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].controller}')" = TrainingJob/true ] ||
  fail "worker Job is not owned by the TrainingJob"
[ "$(kc get service ddp-workers -o jsonpath='{.spec.clusterIP}')" = None ] || fail "no headless Service"
env=$(kc get job ddp -o jsonpath='{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{"\n"}{end}')
for want in MASTER_ADDR=ddp-0.ddp-workers MASTER_PORT=23456 WORLD_SIZE=4 RANK=; do
  printf '%s\n' "$env" | grep -q "^$want" || fail "worker env lacks $want: $env"
done
[ "$(kc get trainingjob ddp -o jsonpath='{.status.conditions[?(@.type=="Succeeded")].status}')" = True ] ||
  fail "condition Succeeded is not True"
[ "$(kc get trainingjob ddp -o jsonpath='{.status.observedGeneration}')" = 1 ] || fail "observedGeneration"
# Events are written by the recorder's own thread, just after the status.
for _ in $(seq 1 50); do
  kc get events --field-selector involvedObject.name=ddp,reason=Succeeded -o name | grep -q . && break
  sleep 0.2
done
kc get events --field-selector involvedObject.name=ddp,reason=Succeeded -o name | grep -q . ||
  fail "no Succeeded Event"
metrics=$(curl -sf "localhost:$port/metrics")
grep -q '^kiln_reconcile_total{controller="trainingjob",result="success"}' <<< "$metrics" ||
  fail "no reconcile metrics"
grep -q '^kiln_kube_client_requests_total{' <<< "$metrics" || fail "no API client metrics"
printf '%s\n' "$metrics" | promtool check metrics || fail "promtool rejects the manager's metrics"

# Deleting the parent cascades to its children (ownerReferences, garbage collector).
# The garbage collector picks up a CRD installed after it started on its next discovery resync
# (30 s), so the cascade may take that long.
kc delete trainingjob ddp --wait=true
for _ in $(seq 1 450); do kc get job ddp >/dev/null 2>&1 || break; sleep 0.2; done
kc get job ddp >/dev/null 2>&1 && fail "worker Job survived its TrainingJob"

# Two replicas with leader election: only the Lease holder reconciles.
stop_manager
kc create namespace kiln-system >/dev/null
replicas=()
for i in 1 2; do
  POD_NAME="replica-$i" "$BUILD_DIR/src/cmd/kiln-manager" --metrics-port $((port + i)) \
    --leader-elect true --leader-election-namespace kiln-system \
    > "$KILN_CLUSTER_DIR/replica-$i.log" 2>&1 &
  replicas+=($!)
done
stop_manager() { kill "${replicas[@]}" 2>/dev/null; wait "${replicas[@]}" 2>/dev/null || true; }
holder() { kc -n kiln-system get lease kiln-manager -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
for _ in $(seq 1 150); do [ -n "$(holder)" ] && break; sleep 0.2; done
leader=$(holder)
[ -n "$leader" ] || fail "no replica took the Lease"
leader_index=${leader#replica-}; leader_index=${leader_index%%_*}
follower_index=$((3 - leader_index))
kc apply -f - <<'YAML'
apiVersion: kiln.dev/v1alpha1
kind: TrainingJob
metadata: {name: solo}
spec:
  framework: pytorch
  replicas: 1
  template:
    spec:
      containers: [{name: train, image: busybox, command: [echo, train]}]
  output: {modelUri: pvc://models/solo}
YAML
kc wait --for=jsonpath='{.status.phase}'=Succeeded trainingjob/solo --timeout=120s ||
  { tail -20 "$KILN_CLUSTER_DIR"/replica-*.log; fail "the leader did not run the TrainingJob"; }
reconciles() { curl -sf "localhost:$((port + $1))/metrics" | grep -E '^kiln_reconcile_total\{controller="trainingjob"' | awk '{ s += $2 } END { print s + 0 }'; }
[ "$(reconciles "$leader_index")" -gt 0 ] || fail "the leader (replica $leader_index) did not reconcile"
[ "$(reconciles "$follower_index")" -eq 0 ] ||
  fail "the follower (replica $follower_index) reconciled $(reconciles "$follower_index") times"
curl -sf "localhost:$((port + follower_index))/readyz" >/dev/null || fail "the follower is not ready (it serves probes)"
echo "leader: replica $leader_index ($(reconciles "$leader_index") reconciles); follower: 0"
echo "PASS: kiln-manager reconciles a TrainingJob on the simulated tier; with two replicas only the leader acts"
