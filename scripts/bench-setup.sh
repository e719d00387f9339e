#!/usr/bin/env bash
# Installs and builds the peers `make bench` compares elfuse with, on a fresh Debian machine, with no
# hand steps; idempotent, and quiet when everything is already there:
#   - Debian's runc, qemu-user-static (qemu-x86_64-static) and busybox-static (the bundle's /bin/busybox);
#   - for the http-wrk row: Debian's wrk, the HTTP load generator on the host;
#   - for the pull rows: Debian's docker-registry (started by the bench on 127.0.0.1 only; the
#     package's own service is disabled), skopeo and umoci;
#   - gVisor's runsc, built from the Go module proxy at the pinned pseudo-version below with
#     CGO_ENABLED=0, in a throwaway module under the cache (gVisor never enters the project's go.mod);
#   - crane, built the same way at the go-containerregistry version of the project's go.mod.
# Outputs go to ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/bench/ and are reused when present.
set -euo pipefail

# RUNSC_VERSION pins gVisor: a pseudo-version of its `go` branch as the Go module proxy serves it
# (2026-09-05), which builds with Go 1.26.
RUNSC_VERSION=v0.0.0-20260905035102-160fafc42237

CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
BENCH=$CACHE/bench
mkdir -p "$BENCH"
export PATH=/usr/local/go/bin:$PATH

pkgs=(build-essential busybox-static runc qemu-user-static wrk docker-registry skopeo umoci)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # The bench starts its own registry on a free loopback port; the package's service is not wanted.
  $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# runsc: rebuilt only when the binary for this pin is missing.
runsc=$BENCH/runsc-$RUNSC_VERSION
if [ ! -x "$runsc" ]; then
  echo "bench-setup: building gVisor runsc $RUNSC_VERSION (CGO_ENABLED=0; takes a few minutes)"
  mod=$BENCH/runsc-build
  rm -rf "$mod"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<EOF
module elfuse.local/bench/runsc-build

go 1.26
EOF
  (
    cd "$mod"
    GOFLAGS=-mod=mod go get "gvisor.dev/gvisor/runsc@$RUNSC_VERSION"
    CGO_ENABLED=0 go build -trimpath -o "$runsc.tmp" gvisor.dev/gvisor/runsc
  )
  mv "$runsc.tmp" "$runsc"
fi
ln -sfn "$(basename "$runsc")" "$BENCH/runsc"

# crane: the go-containerregistry version the project itself uses, rebuilt only when missing.
root=$(cd "$(dirname "$0")/.." && pwd)
CRANE_VERSION=$(awk '$1 == "github.com/google/go-containerregistry" { print $2 }' "$root/go.mod")
[ -n "$CRANE_VERSION" ] || { echo "bench-setup: no go-containerregistry in go.mod" >&2; exit 1; }
crane=$BENCH/crane-$CRANE_VERSION
if [ ! -x "$crane" ]; then
  echo "bench-setup: building crane $CRANE_VERSION (CGO_ENABLED=0)"
  mod=$BENCH/crane-build
  rm -rf "$mod"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<EOF
module elfuse.local/bench/crane-build

go 1.26
EOF
  (
    cd "$mod"
    GOFLAGS=-mod=mod go get "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
    CGO_ENABLED=0 go build -trimpath -o "$crane.tmp" github.com/google/go-containerregistry/cmd/crane
  )
  mv "$crane.tmp" "$crane"
fi
ln -sfn "$(basename "$crane")" "$BENCH/crane"
echo "bench-setup: runc $(runc --version | head -1 | awk '{print $3}'), runsc $RUNSC_VERSION, $(qemu-x86_64-static --version | head -1)"
echo "bench-setup: crane $CRANE_VERSION, $(skopeo --version), $(umoci --version), $(docker-registry --version | awk '{print $NF}')"
echo "bench-setup: wrk $(dpkg-query -W -f='${Version}' wrk)"
