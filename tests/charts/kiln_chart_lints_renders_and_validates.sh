# charts/kiln lints clean, renders with every option, matches manifests/install.yaml, grants no
# wildcard RBAC, runs restricted pods, and its objects pass a real API server's validation.
source "$(dirname "$0")/../cluster/cluster_env.sh"
HELM="$("$ROOT/scripts/go-tool" helm)"
KV="$(cat "$ROOT/K8S_VERSION")"
chart="$ROOT/charts/kiln"

"$HELM" lint --strict "$chart" --kube-version "$KV"
render() { "$HELM" template kiln "$chart" --namespace kiln-system --kube-version "$KV" "$@"; }

# Every option renders.
grep -q "kind: Certificate" <<< "$(render --set webhook.certManager.enabled=true)" || fail "certManager: no Certificate"
grep -q "kind: ServiceMonitor" <<< "$(render --set metrics.serviceMonitor.enabled=true)" || fail "no ServiceMonitor"
grep -q "ValidatingWebhookConfiguration" <<< "$(render --set webhook.enabled=false)" && fail "webhook disabled but rendered"
grep -q "PodDisruptionBudget" <<< "$(render --set podDisruptionBudget.enabled=false)" && fail "PDB disabled but rendered"
grep -q "name: kiln-leader-election" <<< "$(render --set leaderElection.enabled=false)" && fail "leader election off but Lease Role rendered"

# No wildcard in any rule; the pods are restricted.
default=$(render)
printf '%s\n' "$default" | grep -nE "^\s*(verbs|resources|apiGroups): \[.*\*.*\]" && fail "wildcard in RBAC"
for needle in "runAsNonRoot: true" "readOnlyRootFilesystem: true" "allowPrivilegeEscalation: false" \
  "type: RuntimeDefault" "- ALL" "replicas: 2" "--leader-elect=true"; do
  printf '%s\n' "$default" | grep -qF -- "$needle" || fail "rendered Deployment lacks '$needle'"
done

"$ROOT/scripts/render-install" --check

# A real API server accepts every object (CRDs first, so nothing of ours is unknown).
up control-plane
kc apply --server-side -f "$ROOT/charts/kiln/crds/"
kc wait --for=condition=Established crd --all --timeout=60s
kc create namespace kiln-system   # a dry run creates nothing, so later objects need it for real
kc apply --server-side --dry-run=server -f "$ROOT/manifests/install.yaml"
echo "PASS: chart lint, render, install.yaml current, server-side dry run"
