# The cold path of every cached tool a fresh machine builds on first use, each into an empty
# KILN_CACHE_DIR (Go's own module and build caches stay, so this costs links, not compiles):
# scripts/k8s-binaries (kubectl), scripts/go-tool (helm, kwok, versitygw) and scripts/setup.sh's
# test virtualenv (the tools group). The image cache's cold path is in node_tier_runs_real_containers.
# Usage: cached_tools_build_from_an_empty_cache.sh ROOT
set -euo pipefail
ROOT="$1"
cache=$(mktemp -d -t kiln-cold-cache.XXXXXX)
trap 'rm -rf "$cache"' EXIT
export KILN_CACHE_DIR="$cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

bin=$("$ROOT/scripts/k8s-binaries" kubectl) || fail "k8s-binaries kubectl from an empty cache"
[ "$bin" = "$cache/k8s/$(cat "$ROOT/K8S_VERSION")/bin" ] || fail "k8s-binaries printed '$bin'"
# (Read whole: grep -q ending the pipe early made kubectl fail with SIGPIPE under pipefail.)
client=$("$bin/kubectl" version --client) || fail "the built kubectl does not run"
[[ "$client" == *"$(cat "$ROOT/K8S_VERSION")"* ]] ||
  fail "the built kubectl is not $(cat "$ROOT/K8S_VERSION"): $client"
[ "$("$ROOT/scripts/k8s-binaries" kubectl)" = "$bin" ] || fail "a second call did not reuse it"

for tool in helm kwok versitygw; do
  path=$("$ROOT/scripts/go-tool" "$tool") || fail "go-tool $tool from an empty cache"
  [[ "$path" == "$cache/$tool/"* ]] || fail "go-tool $tool printed '$path'"
  case "$tool" in
    # (versitygw answers any unknown command, `version` too, with its help and status 0.)
    versitygw) out=$("$path" --version 2>&1) && [[ "$out" == *"Version"* ]] ||
                 fail "the built versitygw does not run: $out" ;;
    *) "$path" version >/dev/null 2>&1 || "$path" --version >/dev/null 2>&1 ||
         fail "the built $tool does not run" ;;
  esac
done

"$ROOT/scripts/setup.sh" tools || fail "setup.sh tools from an empty cache"
"$cache/venv/bin/python3" -c 'import yaml' || fail "the new virtualenv lacks PyYAML"
[ -s "$cache/venv/.requirements.sha256" ] || fail "the virtualenv's requirements stamp is missing"
echo "PASS: k8s-binaries, go-tool helm/kwok/versitygw and the test virtualenv from an empty cache"
