#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (github.com/opencontainers/runtime-tools, validation/)
# against an OCI runtime with runc's command line, and reports the pass count:
#
#   scripts/runtime-tools.sh [RUNTIME]        # default: $ELFUSE_PEER_RUNTIME, else build/elfuse-runtime
#   RT_TESTS="create kill state" scripts/runtime-tools.sh /usr/sbin/runc   # a subset
#   scripts/runtime-tools.sh --summarize <results dir>                      # recount a run
#
# The suite comes from the Go module proxy at the pinned pseudo-version below (`go mod download`
# into the Go module cache, its dependencies too; the module ships the test rootfs
# rootfs-amd64.tar.gz, a busybox tree). runtimetest (the checker that runs inside the container, static) and one
# executable per validation/<name>/ are built once into ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/runtime-tools/<version>/.
#
# The tests call "$RUNTIME <command> ..." with no global flags, so RUNTIME is a generated wrapper that
# adds a private --root and a --log file (kept with the results) and runs the runtime under
# `timeout -s KILL`. Each test executable prints TAP; its output goes to
# <cache>/runtime-tools/results/<runtime>-<time>/<test>.tap, and a summary table is printed with a
# final "N passed, N failed, N skipped" line (TAP assertions; count_test below says how a test that
# printed no assertion counts).
# Exit status: 0 when the suite ran (failures are reported, not fatal), 1 when it could not run.
set -euo pipefail

# RT_VERSION pins runtime-tools: its master branch of 2025-12-05 (the last tag, v0.9.0, is from
# 2019 and predates runtime-spec 1.1), as the Go module proxy serves it.
RT_VERSION=v0.9.1-0.20251205004911-5e639034dcdc
RT_MODULE=github.com/opencontainers/runtime-tools

root=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
export PATH=/usr/local/go/bin:$PATH

# count_test DIR NAME: pass, fail and skip of one test from DIR/NAME.{tap,stderr,rc}, as a table row
# appended to DIR/summary.rows.
count_test() {
  local dir=$1 n=$2 tap rc pass skip fail note
  tap=$dir/$n.tap
  rc=$(cat "$dir/$n.rc" 2>/dev/null || echo 0)
  pass=$(grep -Ec '^ok [0-9]+' "$tap" || true)
  skip=$(grep -Ec '^ok [0-9]+.*# SKIP' "$tap" || true)
  fail=$(grep -Ec '^not ok [0-9]+' "$tap" || true)
  pass=$((pass - skip))
  note=""
  if [ "$rc" -eq 137 ]; then
    note="killed after the per-test timeout"
  elif [ "$rc" -ne 0 ]; then
    note="exit $rc: $(grep -v '^[[:space:]]*$' "$dir/$n.stderr" | tail -1 | cut -c1-160)"
  fi
  # A test executable exits non-zero only through a fatal error (util.Fatal: it could not create
  # its container, or a requirement it checks after the assertions failed, as in
  # process_capabilities_fail): that counts one failure more. The lifecycle and hook tests (hooks,
  # prestart, poststart, ...) print no assertion, only the plan "1..0" and, when they fail, a YAML
  # diagnostic with a non-empty "error": that is one failure, and a clean "1..0" one pass.
  if [ "$rc" -ne 0 ]; then
    fail=$((fail + 1))
  elif [ $((pass + fail + skip)) -eq 0 ]; then
    if grep -Eq '"error": "[^"]' "$tap"; then
      fail=1
      note="$(grep -Eo '"error": "[^"]{1,150}' "$tap" | head -1 | cut -c11-)"
    else
      pass=1
    fi
  fi
  printf '%-40s %6d %6d %6d  %s\n' "$n" "$pass" "$fail" "$skip" "$note" | tee -a "$dir/summary.rows"
}

# summarize DIR RUNTIME: the table and totals of DIR's rows, into DIR/summary.txt and stdout.
summarize() {
  local dir=$1 rt=$2 p f k
  read -r p f k < <(awk '{ p += $2; f += $3; k += $4 } END { print p + 0, f + 0, k + 0 }' "$dir/summary.rows")
  {
    printf '%-40s %6s %6s %6s  %s\n' test pass fail skip note
    cat "$dir/summary.rows"
    echo
    echo "runtime-tools $RT_VERSION against $rt: $p passed, $f failed, $k skipped (TAP assertions, $(cat "$dir/elapsed" 2>/dev/null || echo '?')s)"
  } >"$dir/summary.txt"
  tail -1 "$dir/summary.txt"
  echo "$p passed, $f failed, $k skipped"
}

# --summarize DIR recounts a finished run's results (after a change to the counting rules).
if [ "${1:-}" = --summarize ]; then
  dir=${2:?usage: $0 --summarize RESULTS-DIR}
  rm -f "$dir/summary.rows"
  for tap in "$dir"/*.tap; do
    count_test "$dir" "$(basename "$tap" .tap)" >/dev/null
  done
  summarize "$dir" "$(cat "$dir/runtime" 2>/dev/null || basename "$dir")"
  exit 0
fi

runtime=${1:-${ELFUSE_PEER_RUNTIME:-build/elfuse-runtime}}
case "$runtime" in
  /*) ;;
  */*) runtime="$root/$runtime" ;;
  *) runtime=$(command -v "$runtime" || echo "$runtime") ;;
esac
if [ ! -x "$runtime" ]; then
  echo "runtime-tools: no runtime binary at $runtime (make all builds build/elfuse-runtime; or pass /usr/sbin/runc)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "runtime-tools: the validation suite creates containers and must run as root" >&2
  exit 1
fi
per_test_timeout=${RT_TIMEOUT:-180}

# 1. The module, from the proxy.
src=$(go mod download -json "$RT_MODULE@$RT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src/validation" ]; then
  echo "runtime-tools: go mod download $RT_MODULE@$RT_VERSION failed (is GOPROXY reachable?)" >&2
  exit 1
fi

# 2. The executables, built once per version (dependencies from the proxy, checked against its go.sum).
bin=$CACHE/runtime-tools/$RT_VERSION
tests=()
for d in "$src"/validation/*/; do
  n=$(basename "$d")
  [ "$n" = util ] && continue
  tests+=("$n")
done
if [ ! -e "$bin/.complete" ]; then
  echo "runtime-tools: building runtimetest and ${#tests[@]} validation tests of $RT_VERSION into $bin"
  rm -rf "$bin"
  mkdir -p "$bin/validation"
  (
    cd "$src"
    CGO_ENABLED=0 go build -mod=readonly -trimpath -tags "netgo osusergo" -o "$bin/runtimetest" ./cmd/runtimetest
    for n in "${tests[@]}"; do
      go build -mod=readonly -trimpath -o "$bin/validation/$n.t" "./validation/$n"
    done
  )
  touch "$bin/.complete"
fi

if [ -n "${RT_TESTS:-}" ]; then
  read -r -a tests <<<"$RT_TESTS"
fi

# 3. A work directory laid out as the tests expect (they read ./rootfs-amd64.tar.gz and
# ./runtimetest from the current directory), and the RUNTIME wrapper.
arch=$(go env GOARCH)
name=$(basename "$runtime")
results=$CACHE/runtime-tools/results/$name-$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d "${TMPDIR:-/tmp}/elfuse-rt-XXXXXX")
state=$work/state
mkdir -p "$results" "$state" "$work/tmp"
echo "$runtime" >"$results/runtime"
cleanup() {
  # Containers a failed test left behind: force-delete them so no sandbox outlives the run.
  if [ -d "$state" ]; then
    for c in $(timeout -s KILL 30 "$runtime" --root "$state" list --quiet 2>/dev/null || true); do
      timeout -s KILL 30 "$runtime" --root "$state" delete --force "$c" >/dev/null 2>&1 || true
    done
  fi
  # Test bundles live under $work (TMPDIR): take off what a runtime left mounted there (runc's
  # shared-propagation test leaks its mounts), deepest first, then remove it all.
  awk -v d="$work" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cp "$src/rootfs-$arch.tar.gz" "$bin/runtimetest" "$work/"
chmod u+w "$work/rootfs-$arch.tar.gz"
wrapper=$work/runtime
cat >"$wrapper" <<EOF
#!/bin/sh
exec timeout -s KILL 60 "$runtime" --root "$state" --log "$results/runtime.log" "\$@"
EOF
chmod 0755 "$wrapper"

echo "runtime-tools $RT_VERSION: RUNTIME=$runtime, ${#tests[@]} tests, TAP in $results"
start=$(date +%s)
for n in "${tests[@]}"; do
  exe=$bin/validation/$n.t
  if [ ! -x "$exe" ]; then
    echo "runtime-tools: no test named $n" >&2
    exit 1
  fi
  rc=0
  (cd "$work" && TMPDIR="$work/tmp" RUNTIME="$wrapper" timeout -s KILL "$per_test_timeout" "$exe" >"$results/$n.tap" 2>"$results/$n.stderr") || rc=$?
  echo "$rc" >"$results/$n.rc"
  count_test "$results" "$n"
done
elapsed=$(($(date +%s) - start))
echo "$elapsed" >"$results/elapsed"
summarize "$results" "$runtime"
