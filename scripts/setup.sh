#!/usr/bin/env bash
# Installs Kiln's build and test dependencies from Debian's packages. Idempotent: packages already
# present are not touched, and apt is not even consulted when nothing is missing.
#
#   scripts/setup.sh [GROUP...]     GROUP: build (default), cluster, node, runtime, all
#
# Fails loudly, naming every package it could not install.
set -euo pipefail

declare -A groups=(
  [build]="build-essential cmake ninja-build pkg-config git curl ca-certificates openssl
           libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libspdlog-dev libfmt-dev
           libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev prometheus"
  [cluster]="etcd-server etcd-client openssl iproute2 procps psmisc"
  [node]="containerd runc containernetworking-plugins iptables conntrack socat ethtool
          umoci skopeo debootstrap busybox-static"
  [runtime]="libxgboost-dev"
)

wanted=()
[ $# -gt 0 ] || set -- build cluster
for g in "$@"; do
  if [ "$g" = all ]; then
    for k in "${!groups[@]}"; do wanted+=(${groups[$k]}); done
  elif [ -n "${groups[$g]:-}" ]; then
    wanted+=(${groups[$g]})
  else
    echo "setup: unknown group '$g' (build, cluster, node, runtime, all)" >&2
    exit 2
  fi
done

missing=()
for p in $(printf '%s\n' "${wanted[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
# Debian's packaging would start etcd (port 2379) and prometheus as services; the local cluster
# runs its own processes on other ports, so package installs must not start daemons.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && own_policy=1
fi
cleanup() { [ $own_policy -eq 1 ] && $sudo rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/kiln-setup-apt.log 2>&1; then
  $sudo apt-get update >/dev/null 2>&1 || true
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/kiln-setup-apt.log 2>&1 || true
fi

failed=()
for p in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || failed+=("$p")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "setup: FAILED to install: ${failed[*]} (apt log: /tmp/kiln-setup-apt.log)" >&2
  tail -20 /tmp/kiln-setup-apt.log >&2
  exit 1
fi
echo "setup: installed ${missing[*]}" >&2
