#!/usr/bin/env bash
# Installs what nas and its tests need on a fresh Debian machine (run as root,
# or with sudo available): the Fashion-MNIST dataset package, qemu-user-static
# for the arm64 tests and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
pkgs=(dataset-fashion-mnist nats-server)
pkgs+=(qemu-user-static) # GOARCH=arm64 tests (scripts/test.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
go mod download
