#!/usr/bin/env bash
# The main job: run a static Linux program and a container image under elfuse.
set -euo pipefail
cd "$(dirname "$0")/.."
E=build/elfuse
echo "== a static program: Debian's busybox-static under elfuse"
$E /bin/busybox sh -c 'echo "hello from $(uname -s) $(uname -m), pid $$"; echo "3 + 4 = $((3 + 4))"'
echo "== VM exits of that run"
$E -v /bin/busybox true 2>&1 | tail -n 1
echo "== a container image: busybox root filesystem imported into the store, then run"
store=${ELFUSE_HOME:-${ELFUSE_CACHE:-$HOME/.cache/elfuse}/store}
export ELFUSE_HOME=$store
tar=$(scripts/demo-image.sh)
$E import --change 'CMD ["/bin/sh"]' "$tar" elfuse-demo/busybox >/dev/null
$E images
$E run elfuse-demo/busybox /bin/sh -c 'echo "inside the image: $(ls /bin | wc -l) applets in /bin"; cat /etc/passwd | head -n 1'
