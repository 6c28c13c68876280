#!/usr/bin/env bash
# Installs every package needed to build and test Hearth on Debian 12.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libboost1.81-dev libboost-filesystem1.81-dev libboost-json1.81-dev
  libssl-dev libtomlplusplus-dev libsystemd-dev libpcre2-dev
  libgtest-dev libgmock-dev googletest
)

# The HIP (AMD GPU) backend plugin: Debian's hipcc compiles it offline, no GPU
# needed (CUDA's nvcc comes with the CUDA toolkit, not from Debian). About
# 350 MB; --cpu-only (the quickstart, which builds only the CPU backend) skips it.
if [[ "${1:-}" != "--cpu-only" ]]; then
  packages+=(hipcc)
fi

# systemd unit checks and the Debian package tests (cpack, dpkg-shlibdeps,
# a clean Debian 12 root in a network namespace).
packages+=(systemd systemd-container dpkg-dev mmdebstrap iproute2)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-build-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-build-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
