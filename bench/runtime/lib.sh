# Shared by bench/runtime/compare.sh and compare_route.sh (sourced). Expects ROOT, PY (the test
# venv's python3), KSERVE_PY (the KServe peer venv's, for grpc_check.py), GHZ, work (a scratch
# directory), CLIENT_CPU and DURATION.
LOADSTATS="$ROOT/bench/runtime/loadstats.py"
PROTO="${PROTO:-$ROOT/src/runtime/proto/grpc_predict_v2.proto}"

# make_requests: $work/models (make_models.py), $work/body.json (single-row OIP REST request),
# $work/post.lua (wrk) and $work/grpc.json (the same request as ModelInferRequest JSON, ghz -D).
make_requests() {
  "$PY" "$ROOT/tests/runtime/make_models.py" "$work/models" >/dev/null
  "$PY" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
row = json.load(open(f"{work}/models/reference.json"))["binary"]["rows"][0]
body = {"inputs": [{"name": "input", "shape": [1, 20], "datatype": "FP32", "data": row}]}
open(f"{work}/body.json", "w").write(json.dumps(body))
open(f"{work}/post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.body = io.open("{work}/body.json"):read("*a")\n')
PY
  "$PY" "$LOADSTATS" request "$work/body.json" cancer >"$work/grpc.json"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {  # URL: up to 60 s for the server to answer 200.
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "bench: $1 never became ready" >&2
  return 1
}

# check_rest URL: one infer must answer 200 with an output before the server is loaded.
check_rest() {
  curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/body.json" "$1" |
    grep '"outputs"' >/dev/null || { echo "bench: $1 does not answer infer" >&2; return 1; }
}

# wait_grpc HOST:PORT: up to 60 s for ModelInfer to answer with one output value.
wait_grpc() {
  for _ in $(seq 1 120); do
    if "$KSERVE_PY" "$ROOT/bench/runtime/grpc_check.py" "$1" cancer "$work/body.json" \
      2>"$work/grpc-check.err"; then return 0; fi
    sleep 0.5
  done
  echo "bench: gRPC ModelInfer on $1 never answered: $(tail -n 3 "$work/grpc-check.err")" >&2
  return 1
}

cpu_ticks() {  # PID -> utime + stime of every thread, in clock ticks.
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# warm KIND TARGET: 2 s of load at 4 connections (KIND and TARGET as for load).
warm() {
  case "$1" in
    rest) taskset -c "$CLIENT_CPU" wrk -t1 -c4 -d2s -s "$work/post.lua" "$2" >/dev/null ;;
    grpc) taskset -c "$CLIENT_CPU" "$GHZ" --insecure --proto "$PROTO" \
            --call inference.GRPCInferenceService.ModelInfer -D "$work/grpc.json" -c 4 \
            --connections 4 --cpus 1 -z 2s -O json "$2" >/dev/null ;;
  esac
}

# load KIND TARGET CONNECTIONS PID -> "rps p50_ms p99_ms errors cpu% client_cpu% build", closed
# loop for DURATION seconds from CLIENT_CPU. KIND rest: wrk -t1 on TARGET (a URL); grpc: ghz on
# TARGET (HOST:PORT), one HTTP/2 connection per concurrent caller, as wrk has one TCP connection
# each. cpu%: the server process PID's CPU (all its threads) over the window; client_cpu%: the
# load generator's; 100 = one core. A client near 100 means the load generator, not the server,
# set the pace. build: "yes" when a build ran at the start or the end of the window (build_running).
load() {
  local kind="$1" target="$2" conns="$3" pid="$4" t0 t1 c0 c1 stats TIMEFORMAT=%P build
  build="$(build_running)"
  c0="$(cpu_ticks "$pid")"
  t0="$(date +%s.%N)"
  case "$kind" in
    rest)
      { time taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency \
          -s "$work/post.lua" "$target" >"$work/load.out" 2>"$work/load.err"; } 2>"$work/load.cpu"
      t1="$(date +%s.%N)"; c1="$(cpu_ticks "$pid")"
      stats="$("$PY" "$LOADSTATS" wrk "$work/load.out")" ;;
    grpc)
      { time taskset -c "$CLIENT_CPU" "$GHZ" --insecure --proto "$PROTO" \
          --call inference.GRPCInferenceService.ModelInfer -D "$work/grpc.json" -c "$conns" \
          --connections "$conns" --cpus 1 -z "${DURATION}s" -O json "$target" \
          >"$work/load.out" 2>"$work/load.err"; } 2>"$work/load.cpu"
      t1="$(date +%s.%N)"; c1="$(cpu_ticks "$pid")"
      stats="$("$PY" "$LOADSTATS" ghz "$work/load.out")" ;;
  esac
  local server_cpu client_cpu
  server_cpu="$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f", 100 * (c1 - c0) / hz / (t1 - t0)}')"
  client_cpu="$(printf '%.0f' "$(cat "$work/load.cpu")")"
  [ "$(build_running)" = yes ] && build=yes
  echo "$stats $server_cpu $client_cpu $build"
}

build_running() {  # "yes" while a build runs on the machine: ninja, a C++ or a Go compiler.
  if pgrep -f ninja >/dev/null || pgrep -x cc1plus >/dev/null || pgrep -x compile >/dev/null; then
    echo yes
  else
    echo no
  fi
}
