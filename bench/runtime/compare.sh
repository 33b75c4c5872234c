#!/usr/bin/env bash
# Serve benchmark: single-row OIP v2 infer of one XGBoost model (100 trees, 20 features, trained
# on the breast cancer data by tests/runtime/make_models.py) served by kiln-runtime, Seldon
# MLServer 1.7 and KServe's Python model server, each pinned to one core (taskset; the load
# generator gets the other), over REST (wrk) and OIP v2 gRPC (ghz, inference.GRPCInferenceService
# from src/runtime/proto), closed loop on loopback, the same request and concurrency for both.
# Prints per server and protocol: req/s, p50/p99 as the load generator sees them, the server's CPU
# (100% = its one core), kiln's server-side p99 from its own histogram, the ratios kiln/peer, and
# the machine's load before and after.
#
#   BUILD_DIR=build bench/runtime/compare.sh      [DURATION=10 CONNECTIONS=16 KILN_HTTP_THREADS=1]
#
# Needs: wrk (scripts/deps/runtime.apt), go (ghz is built on first run by scripts/go-tool ghz), the
# test venv (scripts/setup.sh runtime); the peers are installed on first run into their own venvs
# (bench/runtime/peers.sh, from bench/runtime/peers-*.pip).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/src/cmd/kiln-runtime"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
HTTP_THREADS="${KILN_HTTP_THREADS:-1}"

MLSERVER_VENV="$("$ROOT/bench/runtime/peers.sh" mlserver)"
KSERVE_VENV="$("$ROOT/bench/runtime/peers.sh" kserve)"
KSERVE_PY="$KSERVE_VENV/bin/python"
GHZ="$("$ROOT/scripts/go-tool" ghz)"

work="$(mktemp -d -t kiln-compare.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
source "$ROOT/bench/runtime/lib.sh"
make_requests

grpc_note=""
[ -f "$PROTO" ] || grpc_note="no gRPC: $PROTO is missing"
kiln_grpc=yes
"$BIN" serve --help 2>&1 | grep -- '--grpc-port' >/dev/null || kiln_grpc=no
commit="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
built="$(date -r "$BIN" '+%F %T')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
build_before="$(build_running)"
started="$(date +%s)"

# run NAME PROTO TARGET PID: warms up, loads the server, appends "NAME PROTO figures" to results.
run() {
  warm "$2" "$3"
  echo "$1 $2 $(load "$2" "$3" "$CONNECTIONS" "$4")" >>"$work/results"
}

# kiln NAME EXTRA_FLAGS...: kiln-runtime serve pinned to SERVER_CPU, REST then gRPC, with /metrics
# snapshots around each window ($work/NAME-{rest,grpc}-{0,1}.txt).
kiln() {
  local name="$1" port gport pid grpc_flags=()
  shift
  port="$(free_port)"
  gport="$(free_port)"
  [ "$kiln_grpc" = yes ] && grpc_flags=(--grpc-port "$gport")
  taskset -c "$SERVER_CPU" "$BIN" serve --model-name cancer --model-uri "$work/models/binary.json" \
    --host 127.0.0.1 --port "$port" "${grpc_flags[@]}" --max-concurrency 1 \
    --http-threads "$HTTP_THREADS" --drain-delay-seconds 0 "$@" 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  local base="http://127.0.0.1:$port"
  wait_ready "$base/v2/health/ready"
  check_rest "$base/v2/models/cancer/infer"
  warm rest "$base/v2/models/cancer/infer"
  curl -s "$base/metrics" >"$work/$name-rest-0.txt"
  echo "$name rest $(load rest "$base/v2/models/cancer/infer" "$CONNECTIONS" "$pid")" \
    >>"$work/results"
  curl -s "$base/metrics" >"$work/$name-rest-1.txt"
  if [ "$kiln_grpc" = yes ] && [ -z "$grpc_note" ]; then
    wait_grpc "127.0.0.1:$gport"
    warm grpc "127.0.0.1:$gport"
    curl -s "$base/metrics" >"$work/$name-grpc-0.txt"
    echo "$name grpc $(load grpc "127.0.0.1:$gport" "$CONNECTIONS" "$pid")" >>"$work/results"
    curl -s "$base/metrics" >"$work/$name-grpc-1.txt"
  fi
  kill "$pid"
}

# --- kiln-runtime -------------------------------------------------------------------------------
kiln kiln-runtime
# The same server with adaptive batching on (runtime/batching_backend.h): concurrent requests
# share model calls.
kiln kiln-batched --max-batch-rows 32

# --- Seldon MLServer (defaults but metrics off, one process: parallel_workers 0) ------------------
mkdir -p "$work/mlserver/cancer"
cp "$work/models/binary.json" "$work/mlserver/cancer/model.json"
mport="$(free_port)"
mgport="$(free_port)"
cat >"$work/mlserver/settings.json" <<JSON
{"http_port": $mport, "grpc_port": $mgport, "metrics_port": $(free_port),
 "parallel_workers": 0, "metrics_endpoint": null}
JSON
cat >"$work/mlserver/cancer/model-settings.json" <<'JSON'
{"name": "cancer", "implementation": "mlserver_xgboost.XGBoostModel",
 "parameters": {"uri": "./model.json"}}
JSON
(cd "$work/mlserver" && exec taskset -c "$SERVER_CPU" "$MLSERVER_VENV/bin/mlserver" start . \
  >"$work/mlserver.log" 2>&1) &
pid=$!
pids+=("$pid")
wait_ready "http://127.0.0.1:$mport/v2/models/cancer/ready"
check_rest "http://127.0.0.1:$mport/v2/models/cancer/infer"
run mlserver rest "http://127.0.0.1:$mport/v2/models/cancer/infer" "$pid"
if [ -z "$grpc_note" ]; then
  wait_grpc "127.0.0.1:$mgport"
  run mlserver grpc "127.0.0.1:$mgport" "$pid"
fi
kill "$pid"

# --- KServe Python model server (bench/runtime/kserve_xgboost.py) --------------------------------
kport="$(free_port)"
kgport="$(free_port)"
taskset -c "$SERVER_CPU" "$KSERVE_PY" "$ROOT/bench/runtime/kserve_xgboost.py" \
  --model_name cancer --model_path "$work/models/binary.json" --http_port "$kport" \
  --grpc_port "$kgport" >"$work/kserve.log" 2>&1 &
pid=$!
pids+=("$pid")
wait_ready "http://127.0.0.1:$kport/v2/models/cancer/ready"
check_rest "http://127.0.0.1:$kport/v2/models/cancer/infer"
run kserve rest "http://127.0.0.1:$kport/v2/models/cancer/infer" "$pid"
if [ -z "$grpc_note" ]; then
  wait_grpc "127.0.0.1:$kgport"
  run kserve grpc "127.0.0.1:$kgport" "$pid"
fi
kill "$pid"

# --- Report -------------------------------------------------------------------------------------
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
build_after="$(build_running)"
p99() {  # NAME PROTO -> kiln's server-side p99 bucket bound (ms) over that window.
  if [ -f "$work/$1-$2-1.txt" ]; then
    "$PY" "$LOADSTATS" histogram "$work/$1-$2-0.txt" "$work/$1-$2-1.txt" \
      kiln_runtime_request_duration_seconds 0.99
  else
    echo "-"
  fi
}
echo "single-row XGBoost infer; each server pinned to core $SERVER_CPU, the load generator to" \
  "core $CLIENT_CPU; $CONNECTIONS connections, ${DURATION} s per run, closed loop"
echo "REST: wrk -t1 -c$CONNECTIONS; gRPC: ghz -c$CONNECTIONS --connections $CONNECTIONS" \
  "(inference.GRPCInferenceService.ModelInfer)"
echo "kiln-runtime: $BIN of $built, tree at $commit," \
  "--http-threads $HTTP_THREADS --max-concurrency 1"
[ -n "$grpc_note" ] && echo "$grpc_note"
[ "$kiln_grpc" = no ] && echo "kiln-runtime serve has no --grpc-port in this build: no kiln gRPC"
printf '%-13s %-5s %9s %9s %9s %5s %7s %7s %5s\n' server proto req/s p50_ms p99_ms cpu% client% \
  errors build
while read -r name proto rps p50 p99 bad cpu client build; do
  printf '%-13s %-5s %9s %9s %9s %5s %7s %7s %5s\n' "$name" "$proto" "$rps" "$p50" "$p99" "$cpu" \
    "$client" "$bad" "$build"
done <"$work/results"
echo "(cpu%: the server's CPU, client%: the load generator's, 100 = one core; errors: non-2xx" \
  "and socket errors for REST; non-OK answers for gRPC, leaving out the calls" \
  "ghz itself cuts off at the deadline; build: a build (ninja, cc1plus, Go's compile) ran at" \
  "the window's start or end)"
echo "kiln-runtime server-side p99 (kiln_runtime_request_duration_seconds, bucket bound):" \
  "REST <= $(p99 kiln-runtime rest) ms, gRPC <= $(p99 kiln-runtime grpc) ms"
awk '{rps[$1 " " $2] = $3}
  function ratio(a, b) {
    if (!(a in rps && b in rps && rps[b] > 0)) return "-"
    return sprintf(rps[a] / rps[b] < 10 ? "%.2fx" : "%.1fx", rps[a] / rps[b])
  }
  END {
    n = split("mlserver kserve", peer, " ")
    for (i = 1; i <= n; i++)
      printf "ratio kiln-runtime/%s req/s: REST %s, gRPC %s\n", peer[i],
        ratio("kiln-runtime rest", peer[i] " rest"), ratio("kiln-runtime grpc", peer[i] " grpc")
    printf "ratio gRPC/REST req/s: kiln-runtime %s, mlserver %s, kserve %s\n",
      ratio("kiln-runtime grpc", "kiln-runtime rest"), ratio("mlserver grpc", "mlserver rest"),
      ratio("kserve grpc", "kserve rest")
    printf "ratio kiln-batched/kiln-runtime req/s: REST %s, gRPC %s\n",
      ratio("kiln-batched rest", "kiln-runtime rest"),
      ratio("kiln-batched grpc", "kiln-runtime grpc")
  }' "$work/results"
echo "load average (1/5/15 min): before $load_before, after $load_after;" \
  "a build running: before $build_before, after $build_after; took $(($(date +%s) - started)) s"
