#!/usr/bin/env bash
# Installs the Debian packages the build and tests need; idempotent, quiet when all is present.
set -euo pipefail
pkgs=(build-essential musl-tools busybox-static gcc-aarch64-linux-gnu binutils docker-registry tmux dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # Tests start their own registry on loopback; the packaged service must not listen.
  $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
go mod download
