#!/usr/bin/env bash
# The main job: run a static Linux program, then a container image pulled from a registry,
# under elfuse. The image is busybox built from Debian's busybox-static (scripts/demo-image.sh),
# pushed to a registry on 127.0.0.1 (tests/registry/demo-registry: go-containerregistry's
# registry, in memory), pulled with `elfuse pull` and run with `elfuse run`. The registry is
# stopped and the image removed from the store at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
E=${ELFUSE:-build/elfuse}
GO=${GO:-go}
T="timeout -s KILL 120"
echo "== a static program: Debian's busybox-static under elfuse"
$T $E /bin/busybox sh -c 'echo "hello from $(uname -s) $(uname -m), pid $$"; echo "3 + 4 = $((3 + 4))"'
echo "== VM exits of that run"
$T $E -v /bin/busybox true 2>&1 | tail -n 1

echo "== a container image: busybox pushed to a registry on loopback, pulled and run"
store=${ELFUSE_HOME:-${ELFUSE_CACHE:-$HOME/.cache/elfuse}/store}
export ELFUSE_HOME=$store
tar=$(scripts/demo-image.sh)
$GO build -o build/demo-registry ./tests/registry/demo-registry
addr_file=$(mktemp)
reg_pid=""
cleanup() {
  if [ -n "$reg_pid" ]; then
    kill "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
  fi
  rm -f "$addr_file"
}
trap cleanup EXIT
build/demo-registry -tar "$tar" -name elfuse-demo/busybox:latest -cmd /bin/sh -lifetime 5m >"$addr_file" &
reg_pid=$!
for _ in $(seq 300); do
  [ -s "$addr_file" ] && break
  kill -0 "$reg_pid" 2>/dev/null || { echo "demo: the registry did not start" >&2; exit 1; }
  sleep 0.1
done
addr=$(head -n 1 "$addr_file")
[ -n "$addr" ] || { echo "demo: the registry did not start in 30 s" >&2; exit 1; }
ref=$addr/elfuse-demo/busybox:latest
echo "registry on $addr (pushed $ref)"
$T $E pull "$ref"
$E images
$T $E run "$ref" /bin/sh -c 'echo "inside the image: $(ls /bin | wc -l) applets in /bin"; head -n 1 /etc/passwd'
$E rmi "$ref" >/dev/null
