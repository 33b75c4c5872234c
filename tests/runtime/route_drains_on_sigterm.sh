# kiln-runtime route drains on SIGTERM: it keeps answering for --drain-delay-seconds, then exits 0.
# Usage: route_drains_on_sigterm.sh KILN_RUNTIME
set -euo pipefail
runtime="$1"
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
echo '{"stable": {"url": "http://127.0.0.1:9"}}' > "$dir/router.json"
KILN_LOG_FORMAT=json "$runtime" route --config "$dir/router.json" --port 0 --drain-delay-seconds 2 \
  > "$dir/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*"msg":"routing".*"port":\([0-9]*\).*/\1/p' "$dir/log" | head -1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$dir/log"; echo "FAIL: the router did not log its port"; exit 1; }
curl -sf "http://127.0.0.1:$port/metrics" >/dev/null || { echo "FAIL: no /metrics before SIGTERM"; exit 1; }
kill -TERM "$pid"
sleep 0.5
curl -sf "http://127.0.0.1:$port/metrics" >/dev/null || { echo "FAIL: stopped answering at once after SIGTERM"; exit 1; }
grep -q '"msg":"draining"' "$dir/log" || { cat "$dir/log"; echo "FAIL: no draining log line"; exit 1; }
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$dir/log"; echo "FAIL: exit status $rc"; exit 1; }
if curl -s --max-time 1 "http://127.0.0.1:$port/metrics" >/dev/null; then
  echo "FAIL: still answering after the drain"; exit 1
fi
echo "PASS: the router answered during the drain and exited 0"
