#!/usr/bin/env bash
# Drift on 1,000,000 rows x 100 features (50 numerical, 50 categorical; reference and current of
# 1M rows each), one core: kiln exact mode and sketch mode against Evidently's data-drift report
# (DataDriftPreset, automatic tests) on the same data, all rows (about four minutes). A smaller
# EVIDENTLY_ROWS runs Evidently on the first rows only and extrapolates its time linearly to the
# full size, which understates it (141 s against 237 s measured); the output says so. Prints the
# ratios.
#
#   BUILD_DIR=build bench/drift/compare.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PY="${KILN_PYTHON:-$CACHE/venv/bin/python3}"
ROWS="${KILN_DRIFT_BENCH_ROWS:-1000000}"
EVIDENTLY_ROWS="${EVIDENTLY_ROWS:-$ROWS}"
DUMP="$(mktemp -d -t kiln-drift-bench.XXXXXX)"
trap 'rm -rf "$DUMP"' EXIT

KILN_DRIFT_BENCH_ROWS="$ROWS" KILN_DRIFT_BENCH_DUMP="$DUMP" taskset -c 0 \
  "$BUILD_DIR/bench/kiln-bench-drift" --benchmark_filter='Compare' \
  --benchmark_format=json >"$DUMP/kiln.json"
taskset -c 0 "$PY" "$ROOT/bench/drift/evidently_bench.py" "$DUMP" "$EVIDENTLY_ROWS" \
  >"$DUMP/evidently.json"

"$PY" - "$DUMP" "$ROWS" <<'PYEOF'
import json, sys
d, rows = sys.argv[1], int(sys.argv[2])
kiln = {b["name"].split("/")[0]: b["real_time"] for b in json.load(open(f"{d}/kiln.json"))["benchmarks"]}
ev = json.load(open(f"{d}/evidently.json"))
ev_full = ev["seconds"] * rows / ev["rows"]
note = "" if ev["rows"] == rows else f" (measured on {ev['rows']:,} rows, extrapolated linearly)"
print(f"rows={rows:,} features={ev['features']} one core")
print(f"evidently DataDriftPreset: {ev_full:.2f} s{note}")
for name, label in (("BM_ExactCompare", "exact"), ("BM_SketchCompare", "sketch")):
    print(f"kiln {label:6s}: {kiln[name]:.2f} s   ratio evidently/kiln = {ev_full / kiln[name]:.1f}x")
PYEOF
