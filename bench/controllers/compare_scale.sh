#!/usr/bin/env bash
# Scale of kiln-manager on the simulated tier (real API server, controller-manager, scheduler;
# KWOK nodes): N ModelDeployments applied at once (each a stable and a router Deployment with 2
# pods, 2 Services and a ConfigMap), then N DataPipelines of 3 steps. Prints the time until all are
# Ready / Succeeded, objects per minute, the manager's API writes per object, its peak RSS and CPU
# seconds, and the ratio to the anchor: Argo Workflows' published 270 workflows/min at client QPS
# 20 (their scaling write-up; not run here). The manager runs with the client's default QPS 20;
# the cluster's controller-manager and scheduler run without client rate limits
# (scripts/cluster/components.sh), so that their default 20 and 50 QPS do not bound the run.
#   BUILD_DIR=build bash bench/controllers/compare_scale.sh [N...]   (default: 200)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
source "$ROOT/tests/cluster/cluster_env.sh" "$ROOT"
# Room for every pod: N ModelDeployments run 4 pods each (2 stable, 2 router).
export KILN_KWOK_NODES=4 KILN_KWOK_NODE_PODS=3000
up simulated
install_crds
port=28095
start_manager "$BUILD_DIR" $port --workers 4
manager=$MANAGER_PID

writes() {
  curl -sf "localhost:$port/metrics" |
    awk '/^kiln_kube_client_requests_total\{/ && /verb="(POST|PUT|PATCH|DELETE)"/ { s += $NF } END { print s + 0 }'
}
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$manager/stat"; }
rss_mib() { awk '/VmHWM/ { print $2 / 1024 }' "/proc/$manager/status"; }
count() { kc get "$1" -o jsonpath="$2" | tr ' ' '\n' | grep -c "^$3\$" || true; }

run() { # kind n generator done-jsonpath done-value
  local kind=$1 n=$2 gen=$3 path=$4 value=$5 ns="scale-$1-$2"
  kc create namespace "$ns" >/dev/null
  local w0 c0 start done=0
  w0=$(writes); c0=$(cpu_seconds); start=$(date +%s.%N)
  $gen "$n" | kc -n "$ns" apply -f - >/dev/null
  while [ "$done" -lt "$n" ]; do
    sleep 1
    done=$(kc -n "$ns" get "$kind" -o jsonpath="$path" | tr ' ' '\n' | grep -c "^$value\$" || true)
    awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - s > 1200) }' && { echo "timed out at $done/$n"; return 1; }
  done
  local secs
  secs=$(awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - s }')
  awk -v kind="$kind" -v n="$n" -v t="$secs" -v w="$(( $(writes) - w0 ))" -v c0="$c0" -v c="$(cpu_seconds)" -v rss="$(rss_mib)" 'BEGIN {
    rate = n / t * 60
    printf "%s x %d: all done in %s s (%.0f/min, %.2fx Argo 270/min at QPS 20); %.1f API writes per object; manager CPU %.1f s, peak RSS %.0f MiB\n",
      kind, n, t, rate, rate / 270, w / n, c - c0, rss }'
}

modeldeployments() {
  for i in $(seq 1 "$1"); do
    printf -- '---\napiVersion: kiln.dev/v1alpha1\nkind: ModelDeployment\nmetadata: {name: md-%d}\nspec:\n  model: {uri: "file:///opt/models/model.json", format: xgboost, version: v1}\n  replicas: 2\n' "$i"
  done
}
datapipelines() {
  for i in $(seq 1 "$1"); do
    printf -- '---\napiVersion: kiln.dev/v1alpha1\nkind: DataPipeline\nmetadata: {name: dp-%d}\nspec:\n  steps:\n  - {name: a, image: kiln/toolbox:dev, command: [echo, a]}\n  - {name: b, dependsOn: [a], image: kiln/toolbox:dev, command: [echo, b]}\n  - {name: c, dependsOn: [b], image: kiln/toolbox:dev, command: [echo, c]}\n' "$i"
  done
}

for n in "${@:-200}"; do
  for n1 in $n; do
    run modeldeployments "$n1" modeldeployments '{.items[*].status.conditions[?(@.type=="Ready")].status}' True
    run datapipelines "$n1" datapipelines '{.items[*].status.phase}' Succeeded
  done
done
