#!/usr/bin/env bash
# Router hop: the latency a `kiln-runtime route` hop adds to single-row OIP infer, against calling
# the stable variant's `serve` directly, under the same load: one connection by default (closed
# loop), so the latencies are per request without queueing. REST through wrk and, when route has
# a gRPC port, OIP v2 gRPC through ghz. Both servers are pinned to one core, the load generator
# to the other. Prints p50/p99 of both paths and the difference. Target: <= 0.1 ms added at p50;
# the anchor is Envoy's published 0.11 ms per hop (printed, not measured here).
#
#   BUILD_DIR=build bench/runtime/compare_route.sh  [DURATION=10 CONNECTIONS=1 KILN_HTTP_THREADS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/src/cmd/kiln-runtime"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-1}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
HTTP_THREADS="${KILN_HTTP_THREADS:-1}"  # Event loops of serve and of route: one for their one core.
KSERVE_PY="$("$ROOT/bench/runtime/peers.sh" kserve)/bin/python"
GHZ="$("$ROOT/scripts/go-tool" ghz)"

work="$(mktemp -d -t kiln-route.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
source "$ROOT/bench/runtime/lib.sh"
make_requests

has_grpc_port() {  # COMMAND: whether `kiln-runtime COMMAND` takes --grpc-port.
  "$BIN" "$1" --help 2>&1 | grep -- '--grpc-port' >/dev/null
}
serve_grpc=no
if [ -f "$PROTO" ] && has_grpc_port serve; then serve_grpc=yes; fi
route_grpc=no
if [ "$serve_grpc" = yes ] && has_grpc_port route; then route_grpc=yes; fi
commit="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
built="$(date -r "$BIN" '+%F %T')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
build_before="$(build_running)"

sport="$(free_port)"
sgport="$(free_port)"
serve_flags=()
[ "$serve_grpc" = yes ] && serve_flags=(--grpc-port "$sgport")
taskset -c "$SERVER_CPU" "$BIN" serve --model-name cancer --model-uri "$work/models/binary.json" \
  --host 127.0.0.1 --port "$sport" "${serve_flags[@]}" --http-threads "$HTTP_THREADS" \
  --drain-delay-seconds 0 2>"$work/serve.log" &
spid=$!
pids+=("$spid")
wait_ready "http://127.0.0.1:$sport/v2/health/ready"
check_rest "http://127.0.0.1:$sport/v2/models/cancer/infer"

rport="$(free_port)"
rgport="$(free_port)"
route_flags=()
if [ "$route_grpc" = yes ]; then
  echo "{\"stable\": {\"url\": \"http://127.0.0.1:$sport\", \"grpcUrl\": \"127.0.0.1:$sgport\"}}" \
    >"$work/router.json"
  route_flags=(--grpc-port "$rgport")
else
  echo "{\"stable\": {\"url\": \"http://127.0.0.1:$sport\"}}" >"$work/router.json"
fi
taskset -c "$SERVER_CPU" "$BIN" route --config "$work/router.json" --host 127.0.0.1 \
  --port "$rport" "${route_flags[@]}" --http-threads "$HTTP_THREADS" >"$work/route.log" 2>&1 &
rpid=$!
pids+=("$rpid")
wait_ready "http://127.0.0.1:$rport/v2/health/live"
check_rest "http://127.0.0.1:$rport/v2/models/cancer/infer"

# measure NAME KIND TARGET PID: appends "NAME figures" to results.
measure() {
  warm "$2" "$3"
  echo "$1 $(load "$2" "$3" "$CONNECTIONS" "$4")" >>"$work/results"
}
measure direct-rest rest "http://127.0.0.1:$sport/v2/models/cancer/infer" "$spid"
measure routed-rest rest "http://127.0.0.1:$rport/v2/models/cancer/infer" "$rpid"
if [ "$serve_grpc" = yes ]; then
  wait_grpc "127.0.0.1:$sgport"
  measure direct-grpc grpc "127.0.0.1:$sgport" "$spid"
fi
if [ "$route_grpc" = yes ]; then
  wait_grpc "127.0.0.1:$rgport"
  measure routed-grpc grpc "127.0.0.1:$rgport" "$rpid"
fi

echo "router hop, single-row infer; serve and route pinned to core $SERVER_CPU, the load" \
  "generator to core $CLIENT_CPU; $CONNECTIONS connection(s), ${DURATION} s per run, closed loop"
echo "kiln-runtime: $BIN of $built, tree at $commit," \
  "--http-threads $HTTP_THREADS"
printf '%-12s %9s %9s %9s %5s %7s %7s %5s\n' path req/s p50_ms p99_ms cpu% client% errors build
while read -r name rps p50 p99 bad cpu client build; do
  printf '%-12s %9s %9s %9s %5s %7s %7s %5s\n' "$name" "$rps" "$p50" "$p99" "$cpu" "$client" \
    "$bad" "$build"
done <"$work/results"
echo "(cpu%: the process answering the load generator, serve when direct, route when routed;" \
  "client%: the load generator's; 100 = one core; build: a build (ninja, cc1plus, Go's" \
  "compile) ran at the window's start or end)"
awk '{p50[$1] = $3; p99[$1] = $4}
  END {
    printf "added by the route hop, REST: p50 %.3f ms, p99 %.3f ms\n",
      p50["routed-rest"] - p50["direct-rest"], p99["routed-rest"] - p99["direct-rest"]
    if ("routed-grpc" in p50)
      printf "added by the route hop, gRPC: p50 %.3f ms, p99 %.3f ms\n",
        p50["routed-grpc"] - p50["direct-grpc"], p99["routed-grpc"] - p99["direct-grpc"]
  }' "$work/results"
[ "$serve_grpc" = yes ] || echo "serve has no gRPC in this build (or $PROTO is missing)"
[ "$route_grpc" = yes ] || echo "route has no gRPC yet: gRPC hop not measured"
echo "target: <= 0.1 ms added at p50; anchor: Envoy's published 0.11 ms per hop (not measured here)"
echo "load average (1/5/15 min): before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg);" \
  "a build running: before $build_before, after $(build_running)"
