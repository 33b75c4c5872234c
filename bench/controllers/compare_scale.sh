#!/usr/bin/env bash
# Scale of kiln-manager on the simulated tier (real API server, controller-manager, scheduler;
# KWOK nodes): N ModelDeployments applied at once (one variant each: a stable Deployment of 2 pods
# and the endpoint Service), then N DataPipelines of 3 steps. Prints the time until all are
# Ready / Succeeded, objects per minute, the manager's API writes per object, its peak RSS and CPU
# seconds, and the ratio to the anchor: Argo Workflows' published 270 workflows/min at client QPS
# 20 and 810/min at QPS 60 (their scaling write-up; not run here), i.e. 13.5/min per unit of QPS.
# The manager runs with client QPS $KILN_SCALE_QPS (default 20, burst 1.5x, as client-go's
# 20/30); the cluster's controller-manager and scheduler run without client rate limits
# (scripts/cluster/components.sh), so that their default 20 and 50 QPS do not bound the run.
# The control `deployments` applies what a ModelDeployment's controller would (a Deployment of 2
# pods and a Service each) straight from kubectl, with no kiln object: the cluster's own ceiling
# for the same children on the same machine.
#   BUILD_DIR=build bash bench/controllers/compare_scale.sh [N...]   (default: 200)
#   KILN_SCALE_KINDS="deployments modeldeployments datapipelines onestep" (default:
#   modeldeployments datapipelines; onestep: DataPipelines of one step, as the anchor's workflow),
#   KILN_SCALE_QPS=60, KILN_SCALE_WORKERS=16 (reconcile workers per controller, default 4),
#   KILN_SCALE_LIMIT=600 (seconds before a run stops and reports its progress;
#   default 0.6 s per object, at least 1,200)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
source "$ROOT/tests/cluster/cluster_env.sh" "$ROOT"
QPS="${KILN_SCALE_QPS:-20}"
KINDS="${KILN_SCALE_KINDS:-modeldeployments datapipelines}"
largest=$(printf '%s\n' "${@:-200}" | sort -n | tail -1)
# Room for every pod: N ModelDeployments run 2 pods each (4 with a router, kept as headroom).
export KILN_KWOK_NODES=$(( largest * 4 / 3000 + 4 )) KILN_KWOK_NODE_PODS=3000
up simulated
install_crds
port=28095
start_manager "$BUILD_DIR" $port --workers "${KILN_SCALE_WORKERS:-4}" --kube-api-qps "$QPS" \
  --kube-api-burst "$(awk -v q="$QPS" 'BEGIN { printf "%d", q * 1.5 }')"
manager=$MANAGER_PID

writes() {
  curl -sf "localhost:$port/metrics" |
    awk '/^kiln_kube_client_requests_total\{/ && /verb="(POST|PUT|PATCH|DELETE)"/ { s += $NF } END { print s + 0 }'
}
# Writes of the Event recorder, whose client has a rate limit of its own.
event_writes() {
  curl -sf "localhost:$port/metrics" | awk '/^kiln_kube_event_writes_total/ { s += $NF } END { print s + 0 }'
}
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$manager/stat"; }
rss_mib() { awk '/VmHWM/ { print $2 / 1024 }' "/proc/$manager/status"; }

run() { # kind n generator done-jsonpath done-value
  local kind=$1 n=$2 gen=$3 path=$4 value=$5 ns="scale-$3-$2"
  kc create namespace "$ns" >/dev/null
  local w0 e0 c0 start done=0
  w0=$(writes); e0=$(event_writes); c0=$(cpu_seconds); start=$(date +%s.%N)
  # Created in chunks of 500 by 8 kubectl processes at once: one kubectl's own rate limit would
  # otherwise stretch the "at once" of 10,000 objects over minutes.
  seq 1 500 "$n" | KUBECTL="$KUBECTL" KILN_CLUSTER_DIR="$KILN_CLUSTER_DIR" xargs -P 8 -I{} bash -c "$(declare -f "$gen" kc); $gen {} $n | kc -n $ns create -f - >/dev/null"
  # Listing thousands of objects costs the API server too: poll less often for large runs.
  local poll=1 limit=${KILN_SCALE_LIMIT:-$(( n * 6 / 10 > 1200 ? n * 6 / 10 : 1200 ))}
  [ "$n" -ge 5000 ] && poll=10
  while [ "$done" -lt "$n" ]; do
    sleep "$poll"
    done=$(kc -n "$ns" get "$kind" -o jsonpath="$path" | tr ' ' '\n' | grep -c "^$value\$" || true)
    [ "$n" -ge 5000 ] && echo "  $gen: $done/$n after $(awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.0f", now - s }') s, $(( $(writes) - w0 )) writes" >&2
    if awk -v s="$start" -v now="$(date +%s.%N)" -v l="$limit" 'BEGIN { exit !(now - s > l) }'; then
      # Reported, and the next run goes on.
      echo "$gen x $n: stopped after $limit s at $done/$n ($(awk -v d="$done" -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.0f", d / (now - s) * 60 }')/min); $(( $(writes) - w0 )) manager writes; manager CPU $(awk -v c0="$c0" -v c="$(cpu_seconds)" 'BEGIN { printf "%.1f", c - c0 }') s, peak RSS $(rss_mib | awk '{ printf "%.0f", $1 }') MiB"
      return 0
    fi
  done
  local secs
  secs=$(awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - s }')
  awk -v kind="$gen" -v n="$n" -v t="$secs" -v w="$(( $(writes) - w0 ))" -v e="$(( $(event_writes) - e0 ))" -v c0="$c0" -v c="$(cpu_seconds)" -v rss="$(rss_mib)" -v qps="$QPS" 'BEGIN {
    rate = n / t * 60; anchor = 13.5 * qps
    vs = qps > 0 ? sprintf("%.2fx Argo %.0f/min at QPS %s", rate / anchor, anchor, qps) : "no Argo anchor unthrottled"
    budget = qps > 0 ? sprintf("%.0f%% of the controllers\x27 QPS budget", 100 * (w - e) / (t * qps)) : "no QPS limit"
    printf "%s x %d at QPS %s: all done in %s s (%.0f/min, %s); %.1f API writes per object, %.1f of them Events on their own client (%s); manager CPU %.1f s, peak RSS %.0f MiB\n",
      kind, n, qps, t, rate, vs, w / n, e / n, budget, c - c0, rss }'
}

modeldeployments() { # first n: objects first .. min(first + 499, n)
  for i in $(seq "$1" $(( $1 + 499 < $2 ? $1 + 499 : $2 ))); do
    printf -- '---\napiVersion: kiln.dev/v1alpha1\nkind: ModelDeployment\nmetadata: {name: md-%d}\nspec:\n  model: {uri: "file:///opt/models/model.json", format: xgboost, version: v1}\n  replicas: 2\n' "$i"
  done
}
onestep() { # first n: one-step DataPipelines, the shape of the anchor's one-pod workflow
  for i in $(seq "$1" $(( $1 + 499 < $2 ? $1 + 499 : $2 ))); do
    printf -- '---\napiVersion: kiln.dev/v1alpha1\nkind: DataPipeline\nmetadata: {name: dp1-%d}\nspec:\n  steps:\n  - {name: a, image: kiln/toolbox:dev, command: [echo, a]}\n' "$i"
  done
}
deployments() { # first n: the control, no kiln object
  for i in $(seq "$1" $(( $1 + 499 < $2 ? $1 + 499 : $2 ))); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d-%d}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: d-%d}}\n  template:\n    metadata: {labels: {app: d-%d}}\n    spec: {containers: [{name: serve, image: kiln/runtime:dev}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: d-%d}\nspec: {selector: {app: d-%d}, ports: [{port: 80, targetPort: 8080}]}\n' "$i" "$i" "$i" "$i" "$i"
  done
}
datapipelines() { # first n
  for i in $(seq "$1" $(( $1 + 499 < $2 ? $1 + 499 : $2 ))); do
    printf -- '---\napiVersion: kiln.dev/v1alpha1\nkind: DataPipeline\nmetadata: {name: dp-%d}\nspec:\n  steps:\n  - {name: a, image: kiln/toolbox:dev, command: [echo, a]}\n  - {name: b, dependsOn: [a], image: kiln/toolbox:dev, command: [echo, b]}\n  - {name: c, dependsOn: [b], image: kiln/toolbox:dev, command: [echo, c]}\n' "$i"
  done
}

for n in "${@:-200}"; do
  for kind in $KINDS; do
    case "$kind" in
      modeldeployments)
        run modeldeployments "$n" modeldeployments '{.items[*].status.conditions[?(@.type=="Ready")].status}' True ;;
      datapipelines) run datapipelines "$n" datapipelines '{.items[*].status.phase}' Succeeded ;;
      onestep) run datapipelines "$n" onestep '{.items[*].status.phase}' Succeeded ;;
      deployments)
        run deployments "$n" deployments '{.items[*].status.availableReplicas}' 2 ;;
      *) fail "unknown kind $kind" ;;
    esac
  done
done
