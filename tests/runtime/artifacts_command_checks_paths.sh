# kiln-runtime artifacts: exit 0 when every path exists; exit 1 naming the missing ones in the
# termination log (what a DataPipeline step's artifact check Job reports).
# Usage: artifacts_command_checks_paths.sh KILN_RUNTIME
set -euo pipefail
bin="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$dir/ws/features"
echo x > "$dir/ws/features/a.csv"
"$bin" artifacts --termination-log "$dir/log" "$dir/ws/features/a.csv" "$dir/ws/features" ||
  fail "present paths were reported missing"
[ ! -s "$dir/log" ] || fail "a passing check wrote a termination message: $(cat "$dir/log")"
if "$bin" artifacts --termination-log "$dir/log" "$dir/ws/features/a.csv" "$dir/ws/model.json" \
    "$dir/ws/b.csv" 2>/dev/null; then
  fail "missing paths passed"
fi
[ "$(cat "$dir/log")" = "missing: $dir/ws/model.json $dir/ws/b.csv" ] ||
  fail "termination message is '$(cat "$dir/log")'"
echo "PASS: artifacts check"
