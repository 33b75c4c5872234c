#!/usr/bin/env bash
# Router hop: latency a `kiln-runtime route` hop adds to single-row OIP infer, against calling the
# stable variant directly. One connection (closed loop, wrk -c1), so the latencies are per request
# without queueing. Prints p50/p99 of both and the difference. Target: <= 0.1 ms added at p50.
#
#   BUILD_DIR=build-runtime bench/runtime/compare_route.sh     [DURATION=10]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
DURATION="${DURATION:-10}"
BIN="$BUILD_DIR/src/cmd/kiln-runtime"

work="$(mktemp -d -t kiln-route.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$PY" "$ROOT/tests/runtime/make_models.py" "$work/models" >/dev/null
"$PY" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
row = json.load(open(f"{work}/models/reference.json"))["binary"]["rows"][0]
open(f"{work}/body.json", "w").write(json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 20], "datatype": "FP32", "data": row}]}))
open(f"{work}/post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.body = io.open("{work}/body.json"):read("*a")\n')
PY
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_ready() {
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "compare_route: $1 never answered" >&2; return 1
}

sport="$(free_port)"
"$BIN" serve --model-name cancer --model-uri "$work/models/binary.json" --host 127.0.0.1 \
  --port "$sport" --drain-delay-seconds 0 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$sport/v2/health/ready"
echo "{\"stable\": {\"url\": \"http://127.0.0.1:$sport\"}}" >"$work/router.json"
pooled_port="$(free_port)"
cpprest_port="$(free_port)"
for client in pooled cpprest; do
  port_var="${client}_port"
  "$BIN" route --config "$work/router.json" --host 127.0.0.1 --port "${!port_var}" \
    --upstream-client "$client" >/dev/null 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:${!port_var}/v2/health/live"
done

latency() {  # URL -> "p50_us p99_us"
  local out
  wrk -t1 -c1 -d2s -s "$work/post.lua" "$1" >/dev/null
  out="$(wrk -t1 -c1 -d"${DURATION}s" --latency -s "$work/post.lua" "$1")"
  awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
                        return v * 1e6 }
       $1 == "50%" {p50 = us($2)} $1 == "99%" {p99 = us($2)} END {print p50, p99}' <<<"$out"
}
read -r d50 d99 <<<"$(latency "http://127.0.0.1:$sport/v2/models/cancer/infer")"
read -r p50 p99 <<<"$(latency "http://127.0.0.1:$pooled_port/v2/models/cancer/infer")"
read -r c50 c99 <<<"$(latency "http://127.0.0.1:$cpprest_port/v2/models/cancer/infer")"
echo "single-row infer, wrk -c1 -d${DURATION}s; routers with the pooled (default) and cpprest upstream clients"
printf '%-16s %10s %10s\n' path p50_us p99_us direct "$d50" "$d99" routed-pooled "$p50" "$p99" \
  routed-cpprest "$c50" "$c99"
awk -v d50="$d50" -v d99="$d99" -v p50="$p50" -v p99="$p99" -v c50="$c50" -v c99="$c99" 'BEGIN {
  printf "added per hop, pooled client:  p50 %.3f ms, p99 %.3f ms\n", (p50 - d50) / 1000, (p99 - d99) / 1000
  printf "added per hop, cpprest client: p50 %.3f ms, p99 %.3f ms\n", (c50 - d50) / 1000, (c99 - d99) / 1000
}'
