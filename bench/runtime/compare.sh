#!/usr/bin/env bash
# Serve benchmark: single-row OIP v2 infer of one XGBoost model (100 trees, 20 features, trained
# on the breast cancer data by tests/runtime/make_models.py) served by kiln-runtime, Seldon
# MLServer and KServe's Python model server, each pinned to one core (the load generator gets the
# other), under closed-loop load from wrk on loopback. Prints throughput, p50/p99 as wrk sees them,
# kiln's server-side p99 from its own histogram, and the throughput ratios.
#
#   BUILD_DIR=build-runtime bench/runtime/compare.sh      [DURATION=10 CONNECTIONS=16]
#
# Needs: wrk (scripts/deps/runtime.apt), the test venv (scripts/setup.sh runtime); the peers are
# installed on first run into their own venvs from bench/runtime/peers-*.pip.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
MLSERVER_VENV="$CACHE/bench-mlserver-venv"
KSERVE_VENV="$CACHE/bench-kserve-venv"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"

work="$(mktemp -d -t kiln-compare.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for peer in mlserver kserve; do
  venv="$CACHE/bench-$peer-venv"
  if [ ! -f "$venv/.installed" ]; then
    echo "compare: installing $peer into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      -r "$ROOT/bench/runtime/peers-$peer.pip"
    touch "$venv/.installed"
  fi
done

"$PY" "$ROOT/tests/runtime/make_models.py" "$work/models" >/dev/null
"$PY" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
ref = json.load(open(f"{work}/models/reference.json"))
row = ref["binary"]["rows"][0]
body = {"inputs": [{"name": "input", "shape": [1, 20], "datatype": "FP32", "data": row}]}
open(f"{work}/body.json", "w").write(json.dumps(body))
open(f"{work}/post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.body = io.open("{work}/body.json"):read("*a")\n')
PY

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {  # URL: up to 60 s for the server to answer 200.
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "compare: $1 never became ready" >&2
  return 1
}

# check URL: one infer must answer 200 with an output before we load the server.
check() {
  curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/body.json" "$1" |
    grep -q '"outputs"' || { echo "compare: $1 does not answer infer" >&2; return 1; }
}

# measure NAME URL: prints "NAME rps p50_ms p99_ms" and appends it to $work/results.
measure() {
  local name="$1" url="$2" out
  taskset -c "$CLIENT_CPU" wrk -t1 -c4 -d2s -s "$work/post.lua" "$url" >/dev/null  # warm-up
  out="$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$work/post.lua" "$url")"
  local rps p50 p99 non2xx
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  echo "$name $rps $p50 $p99 ${non2xx:-0}" >>"$work/results"
}

# --- kiln-runtime -------------------------------------------------------------------------------
port="$(free_port)"
taskset -c "$SERVER_CPU" "$BUILD_DIR/src/cmd/kiln-runtime" serve --model-name cancer \
  --model-uri "$work/models/binary.json" --host 127.0.0.1 --port "$port" --max-concurrency 1 \
  --http-threads "${KILN_HTTP_THREADS:-2}" --drain-delay-seconds 0 2>"$work/kiln.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$port/v2/health/ready"
check "http://127.0.0.1:$port/v2/models/cancer/infer"
measure kiln-runtime "http://127.0.0.1:$port/v2/models/cancer/infer"
curl -s "http://127.0.0.1:$port/metrics" >"$work/kiln-metrics.txt"
kill "${pids[-1]}"

# The same server with adaptive batching on (runtime/batching_backend.h): concurrent requests
# share model calls.
port="$(free_port)"
taskset -c "$SERVER_CPU" "$BUILD_DIR/src/cmd/kiln-runtime" serve --model-name cancer \
  --model-uri "$work/models/binary.json" --host 127.0.0.1 --port "$port" --max-concurrency 1 \
  --http-threads "${KILN_HTTP_THREADS:-2}" --drain-delay-seconds 0 --max-batch-rows 32 \
  2>"$work/kiln-batched.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$port/v2/health/ready"
check "http://127.0.0.1:$port/v2/models/cancer/infer"
measure kiln-batched "http://127.0.0.1:$port/v2/models/cancer/infer"
kill "${pids[-1]}"

# --- Seldon MLServer ----------------------------------------------------------------------------
mkdir -p "$work/mlserver/cancer"
cp "$work/models/binary.json" "$work/mlserver/cancer/model.json"
mport="$(free_port)"
cat >"$work/mlserver/settings.json" <<JSON
{"http_port": $mport, "grpc_port": $(free_port), "metrics_port": $(free_port),
 "parallel_workers": 0, "metrics_endpoint": null}
JSON
cat >"$work/mlserver/cancer/model-settings.json" <<'JSON'
{"name": "cancer", "implementation": "mlserver_xgboost.XGBoostModel",
 "parameters": {"uri": "./model.json"}}
JSON
(cd "$work/mlserver" && exec taskset -c "$SERVER_CPU" "$MLSERVER_VENV/bin/mlserver" start . \
  >"$work/mlserver.log" 2>&1) &
pids+=($!)
wait_ready "http://127.0.0.1:$mport/v2/models/cancer/ready"
check "http://127.0.0.1:$mport/v2/models/cancer/infer"
measure mlserver "http://127.0.0.1:$mport/v2/models/cancer/infer"
kill "${pids[-1]}"

# --- KServe Python model server -----------------------------------------------------------------
kport="$(free_port)"
taskset -c "$SERVER_CPU" "$KSERVE_VENV/bin/python" "$ROOT/bench/runtime/kserve_xgboost.py" \
  --model_name cancer --model_path "$work/models/binary.json" --http_port "$kport" \
  --grpc_port "$(free_port)" >"$work/kserve.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$kport/v2/models/cancer/ready"
check "http://127.0.0.1:$kport/v2/models/cancer/infer"
measure kserve "http://127.0.0.1:$kport/v2/models/cancer/infer"
kill "${pids[-1]}"

# --- Report -------------------------------------------------------------------------------------
server_p99="$("$PY" - "$work/kiln-metrics.txt" <<'PY'
import re, sys
buckets = []
for line in open(sys.argv[1]):
    m = re.match(r'kiln_runtime_request_duration_seconds_bucket\{model="cancer",le="([^"]+)"\} (\S+)', line)
    if m:
        buckets.append((float(m.group(1)), float(m.group(2))))
total = buckets[-1][1]
print(next(f"{le * 1e3:.3f}" for le, c in buckets if c >= 0.99 * total))
PY
)"
echo "single-row XGBoost infer, 1 server core, wrk -c$CONNECTIONS -d${DURATION}s (closed loop)"
printf '%-14s %12s %10s %10s %8s\n' server req/s p50 p99 non-2xx
while read -r name rps p50 p99 bad; do
  printf '%-14s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "$bad"
done <"$work/results"
echo "kiln-runtime server-side p99 (histogram bucket bound): <= ${server_p99} ms"
awk '{rps[$1] = $2} END {
  printf "ratio kiln-runtime/mlserver throughput: %.1fx\n", rps["kiln-runtime"] / rps["mlserver"];
  printf "ratio kiln-runtime/kserve throughput:   %.1fx\n", rps["kiln-runtime"] / rps["kserve"];
  printf "ratio kiln-batched/kiln-runtime throughput: %.2fx\n", rps["kiln-batched"] / rps["kiln-runtime"];
}' "$work/results"
