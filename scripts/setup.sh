#!/usr/bin/env bash
# Installs Kiln's build and test dependencies. Idempotent: nothing is touched when all is present.
#
#   scripts/setup.sh [GROUP...]     default: every group
#
# A group is a file in scripts/deps/: GROUP.apt lists Debian packages (one a line, # comments),
# GROUP.pip lists Python requirements for the test virtualenv ($KILN_CACHE_DIR/venv, used by tests
# that compare with reference libraries such as scipy). Fails loudly, naming every package it could
# not install.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEPS="$ROOT/scripts/deps"
CACHE="${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
VENV="$CACHE/venv"

groups=("$@")
if [ ${#groups[@]} -eq 0 ]; then
  for f in "$DEPS"/*.apt "$DEPS"/*.pip; do
    [ -e "$f" ] && groups+=("$(basename "${f%.*}")")
  done
fi

read_list() { sed -e 's/#.*//' -e 's/^\s*//' -e 's/\s*$//' "$1" | grep -v '^$' || true; }

apt_wanted=()
pip_files=()
for g in $(printf '%s\n' "${groups[@]}" | sort -u); do
  found=0
  [ -f "$DEPS/$g.apt" ] && { mapfile -t -O "${#apt_wanted[@]}" apt_wanted < <(read_list "$DEPS/$g.apt"); found=1; }
  [ -f "$DEPS/$g.pip" ] && { pip_files+=("$DEPS/$g.pip"); found=1; }
  [ $found -eq 1 ] || { echo "setup: unknown group '$g' (see scripts/deps/)" >&2; exit 2; }
done

# --- Debian packages -----------------------------------------------------------------------------
missing=()
for p in $(printf '%s\n' "${apt_wanted[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  # Debian's packaging would start etcd (port 2379), containerd and prometheus as services; the
  # local cluster runs its own processes, so package installs must not start daemons.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && own_policy=1
  fi
  trap '[ $own_policy -eq 1 ] && $sudo rm -f "$policy"; true' EXIT
  export DEBIAN_FRONTEND=noninteractive
  aptlog=$(mktemp -t kiln-setup-apt.XXXXXX)
  if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >"$aptlog" 2>&1; then
    $sudo apt-get update >>"$aptlog" 2>&1 || true
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 || true
  fi
  failed=()
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || failed+=("$p")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "setup: FAILED to install Debian packages: ${failed[*]}" >&2
    tail -20 "$aptlog" >&2
    exit 1
  fi
  rm -f "$aptlog"
  echo "setup: installed ${missing[*]}" >&2
fi

# --- Python test requirements ---------------------------------------------------------------------
if [ ${#pip_files[@]} -gt 0 ]; then
  stamp="$VENV/.requirements.sha256"
  want=$(cat "${pip_files[@]}" | sha256sum | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python3" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: preparing the Python test environment in $VENV" >&2
    [ -x "$VENV/bin/python3" ] || python3 -m venv "$VENV"
    reqs=()
    for f in "${pip_files[@]}"; do reqs+=(-r "$f"); done
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "${reqs[@]}"; then
      echo "setup: FAILED to install Python requirements from ${pip_files[*]}" >&2
      exit 1
    fi
    echo "$want" > "$stamp"
  fi
fi
