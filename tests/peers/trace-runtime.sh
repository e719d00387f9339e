#!/usr/bin/env bash
# A runtime wrapper for finding out what the peers call: it appends each invocation (argv, exit
# status, time) to <dir>/calls.log and keeps a copy of the --log file the caller named (containerd's
# shim passes <bundle>/log.json, which it removes with the bundle) as <dir>/log.<pid>.json, then
# exits with the runtime's status. stdio, the environment and the process tree are left untouched
# (no pipes, no timeout process in between), so the runtime behaves as when called directly.
#
#   ELFUSE_PEER_RUNTIME=tests/peers/trace-runtime.sh make test-peers
#   scripts/runtime-tools.sh tests/peers/trace-runtime.sh
#
# The runtime is ELFUSE_TRACE_REAL (default build/elfuse-runtime beside this repository) and the
# directory ELFUSE_TRACE_DIR (default /tmp/elfuse-peers-trace). dockerd and containerd do not pass
# the test's environment to runtimes, so the defaults are what they get.
real=${ELFUSE_TRACE_REAL:-$(cd "$(dirname "$0")/../.." && pwd)/build/elfuse-runtime}
dir=${ELFUSE_TRACE_DIR:-/tmp/elfuse-peers-trace}
mkdir -p "$dir"
log="" prev=""
for a in "$@"; do
  [ "$prev" = --log ] && log=$a
  prev=$a
done
echo "$(date +%T.%N) [$$] call: $*" >>"$dir/calls.log"
"$real" "$@"
rc=$?
echo "$(date +%T.%N) [$$] exit $rc" >>"$dir/calls.log"
if [ -n "$log" ] && [ -s "$log" ]; then
  cp "$log" "$dir/log.$$.json" 2>/dev/null
fi
exit $rc
