#!/usr/bin/env bash
# Predict floor of the ONNX backend against onnxruntime (PyPI, one intra-op thread) on the same
# skl2onnx models and rows: kiln-bench-runtime-onnx (Google Benchmark) then
# onnxruntime_predict.py, printing per-call times and onnxruntime/kiln ratios for 1 and 100 rows.
#
#   BUILD_DIR=build-runtime bench/runtime/compare_onnx.sh
#
# Needs the build's kiln-bench-runtime-onnx (bench/runtime/onnx_bench.cmake) and the test venv
# (scripts/setup.sh runtime).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="$CACHE/venv/bin/python3"
BENCH="${BENCH:-$BUILD_DIR/bench/kiln-bench-runtime-onnx}"
MODELS="${MODELS:-$BUILD_DIR/bench/runtime-onnx-models}"

work="$(mktemp -d -t kiln-compare-onnx.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$BENCH" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.3 --benchmark_out="$work/kiln.json" --benchmark_out_format=json \
  >/dev/null
"$PY" "$ROOT/bench/runtime/onnxruntime_predict.py" "$MODELS" "$work/kiln.json"
