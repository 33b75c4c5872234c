#!/usr/bin/env bash
# Makes the virtualenv of one benchmark peer from PyPI (bench/runtime/peers-NAME.pip, every
# version pinned), cached under $KILN_CACHE_DIR, and prints its path. The venv is made again when
# the pip file changes (its SHA-256 is the stamp).
#
#   bench/runtime/peers.sh mlserver|kserve
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
case "${1:-}" in
  mlserver|kserve) peer="$1" ;;
  *) echo "usage: bench/runtime/peers.sh mlserver|kserve" >&2; exit 2 ;;
esac
pins="$ROOT/bench/runtime/peers-$peer.pip"
venv="$CACHE/bench-$peer-venv"
want="$(sha256sum "$pins" | cut -d' ' -f1)"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  echo "peers: installing $peer into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$pins" >&2
  echo "$want" >"$venv/.installed"
fi
echo "$venv"
