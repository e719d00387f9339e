#!/usr/bin/env bash
# containerd v2 from the Go module proxy, for the shim tests and the benchmark (issue 9):
#
#   scripts/containerd2.sh build        build containerd, ctr and containerd-shim-runc-v2 (pinned version),
#                                       cri-tools' crictl and nerdctl v2 (pinned), and gVisor's shim when
#                                       scripts/bench-setup.sh built runsc, into <cache>/bin/containerd-<version>/,
#                                       reused when present; prints that directory
#   scripts/containerd2.sh start [DIR]  start a private containerd with everything under DIR (default
#                                       /tmp/elfuse-cd2): root, state, containerd.sock, config.toml,
#                                       containerd.log; import the test images; print `env` output
#   scripts/containerd2.sh stop [DIR]   remove its tasks and containers, stop it and its shims (by
#                                       pid), unmount and delete DIR
#   scripts/containerd2.sh env [DIR]    print shell variables: CD2_BIN CD2_DIR CD2_SOCK CD2_IMAGE ...
#   scripts/containerd2.sh image        build the busybox image archive; print its path
#   scripts/containerd2.sh pause-image  build the pause image archive (static C program); print its path
#
# The config registers runtime io.containerd.elfuse.v2 (the shim build/containerd-shim-elfuse-v2,
# found first on containerd's PATH, which starts with build/) and CRI's runtime handler `elfuse`
# (runtime_type io.containerd.elfuse.v2). The runc shim of the same containerd version serves
# io.containerd.runc.v2 with Debian's runc, to check the harness. NRI is off (its socket is global).
#
# Images (no registry is reachable): scripts/demo-image.sh's busybox rootfs, wrapped by
# tests/shim/mkimage into a docker-archive and imported as docker.io/elfuse/busybox:latest into
# namespaces `default` and `k8s.io`; a pause image docker.io/elfuse/pause:latest (a static C
# program that waits for a signal) into `k8s.io`.
set -euo pipefail

VERSION=${CONTAINERD2_VERSION:-v2.4.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
NERDCTL_VERSION=${NERDCTL_VERSION:-v2.2.0}
root=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
BIN=$CACHE/bin/containerd-${VERSION#v}
DIR=${2:-${ELFUSE_CD2_DIR:-/tmp/elfuse-cd2}}
SOCK=$DIR/containerd.sock
IMAGE=docker.io/elfuse/busybox:latest
PAUSE_IMAGE=docker.io/elfuse/pause:latest

say() { echo "containerd2: $*" >&2; }
die() { echo "containerd2: error: $*" >&2; exit 1; }

build() {
  build_crictl
  build_nerdctl
  build_gvisor_shim
  if [ -x "$BIN/containerd" ] && [ -x "$BIN/ctr" ] && [ -x "$BIN/containerd-shim-runc-v2" ]; then
    echo "$BIN"
    return 0
  fi
  mkdir -p "$BIN"
  say "building containerd, ctr and containerd-shim-runc-v2 $VERSION from the module proxy into $BIN (a few minutes)"
  # No btrfs (its cgo headers are not installed); static, like containerd's own release build.
  (cd "$root" && GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
    -tags "urfave_cli_no_docs no_btrfs" \
    "github.com/containerd/containerd/v2/cmd/containerd@$VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$VERSION") >&2 ||
    die "go install of containerd $VERSION failed"
  echo "$BIN"
}

# build_crictl builds cri-tools' crictl (pinned) beside containerd, for the CRI pod tests.
build_crictl() {
  [ -x "$BIN/crictl" ] && return 0
  mkdir -p "$BIN"
  say "building crictl $CRICTL_VERSION from the module proxy into $BIN"
  (cd "$root" && GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION") >&2 || die "go install of crictl $CRICTL_VERSION failed"
}

# build_nerdctl builds nerdctl v2 (pinned) beside containerd. Its module zip lacks the nested module
# github.com/containerd/nerdctl/mod/tigron (a replace to ./mod/tigron in its go.mod, which a
# dependency's replace cannot carry), used only by nerdctl's own tests: a build module under the
# cache requires nerdctl and replaces tigron with empty packages. The checksum database here does
# not know recent containerd modules, so those are not checked against it (GONOSUMDB); go.sum
# still pins what was downloaded.
build_nerdctl() {
  [ -x "$BIN/nerdctl" ] && return 0
  local mod=$CACHE/build/nerdctl-${NERDCTL_VERSION#v} p
  mkdir -p "$mod/tigron" "$BIN"
  say "building nerdctl $NERDCTL_VERSION from the module proxy into $BIN (several minutes)"
  [ -s "$mod/go.mod" ] || printf 'module elfuse.local/nerdctl-build\n\ngo 1.26\n\nreplace github.com/containerd/nerdctl/mod/tigron => ./tigron\n' >"$mod/go.mod"
  printf 'module github.com/containerd/nerdctl/mod/tigron\n\ngo 1.24\n' >"$mod/tigron/go.mod"
  for p in expect require test utils utils/testca; do
    mkdir -p "$mod/tigron/$p"
    printf '// Package %s stands in for a package of nerdctl tigron test module (not in its module zip).\npackage %s\n' \
      "${p##*/}" "${p##*/}" >"$mod/tigron/$p/doc.go"
  done
  # tig.T is the one thing nerdctl's non-test code (pkg/testutil/compose.go) uses of tigron.
  mkdir -p "$mod/tigron/tig"
  cat >"$mod/tigron/tig/doc.go" <<'GOEOF'
// Package tig stands in for nerdctl's tigron/tig (not in nerdctl's module zip).
package tig

// T is the subset of testing.TB that nerdctl's pkg/testutil calls.
type T interface {
	Helper()
	Log(args ...any)
	Fail()
	FailNow()
	Name() string
	TempDir() string
}
GOEOF
  (cd "$mod" && export GONOSUMDB=github.com/containerd GOFLAGS=-buildvcs=false &&
    go get "github.com/containerd/nerdctl/v2/cmd/nerdctl@$NERDCTL_VERSION" &&
    GOBIN="$BIN" CGO_ENABLED=0 go install github.com/containerd/nerdctl/v2/cmd/nerdctl) >&2 ||
    die "build of nerdctl $NERDCTL_VERSION failed"
}

# build_gvisor_shim builds gVisor's containerd-shim-runsc-v1 (runtime io.containerd.runsc.v1, for the
# benchmark) beside containerd, at the gVisor version scripts/bench-setup.sh pinned for runsc, when
# that script has built runsc (its build module <cache>/bench/runsc-build); otherwise it does nothing.
build_gvisor_shim() {
  local src=$CACHE/bench/runsc-build mod=$CACHE/build/gvisor-shim ver
  [ -x "$BIN/containerd-shim-runsc-v1" ] && return 0
  [ -s "$src/go.mod" ] || return 0
  ver=$(cd "$src" && go list -m -f '{{.Version}}' gvisor.dev/gvisor 2>/dev/null) || return 0
  mkdir -p "$mod" "$BIN"
  cp "$src/go.mod" "$src/go.sum" "$mod/"
  say "building gVisor's containerd-shim-runsc-v1 $ver into $BIN"
  (cd "$mod" && export GOFLAGS=-mod=mod && go get "gvisor.dev/gvisor/shim@$ver" &&
    CGO_ENABLED=0 go build -trimpath -o "$BIN/containerd-shim-runsc-v1" gvisor.dev/gvisor/shim) >&2 ||
    say "warning: gVisor's shim did not build; its bench rows will say so"
}

ctr_() { "$BIN/ctr" --address "$SOCK" "$@"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

wait_pid() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

overlay_ok() {
  local d rc=1
  d=$(mktemp -d "$DIR/.ovl-XXXXXX")
  mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
  if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
    umount "$d/m"
    rc=0
  fi
  rm -rf "$d"
  return $rc
}

# image prints the busybox docker-archive, built once per busybox-static version.
image() {
  local rootfs out
  rootfs=$("$root/scripts/demo-image.sh") || die "scripts/demo-image.sh failed"
  out=$(dirname "$rootfs")/$(basename "$rootfs" .tar).elfuse-busybox.docker.tar
  if [ ! -s "$out" ]; then
    (cd "$root" && go run ./tests/shim/mkimage -rootfs "$rootfs" -ref "$IMAGE" -o "$out") >&2 ||
      die "mkimage failed"
  fi
  echo "$out"
}

# pause_image prints the pause image's docker-archive: a static C program that sleeps in pause()
# until SIGINT/SIGTERM and exits 0 (what Kubernetes' pause does).
pause_image() {
  local dir=$CACHE/images out src
  out=$dir/elfuse-pause.docker.tar
  if [ -s "$out" ]; then
    echo "$out"
    return 0
  fi
  mkdir -p "$dir"
  src=$(mktemp -d)
  cat >"$src/pause.c" <<'EOF'
#include <signal.h>
#include <unistd.h>
static void done(int sig) { (void)sig; _exit(0); }
int main(void) {
  signal(SIGINT, done);
  signal(SIGTERM, done);
  for (;;) pause();
}
EOF
  gcc -static -O2 -o "$src/pause" "$src/pause.c" || die "gcc -static of pause.c failed (build-essential, libc6-dev)"
  (cd "$root" && go run ./tests/shim/mkimage -file "$src/pause:/pause" -entrypoint /pause -cmd '[]' \
    -ref "$PAUSE_IMAGE" -o "$out") >&2 || die "mkimage (pause) failed"
  rm -rf "$src"
  echo "$out"
}

start() {
  build >/dev/null
  if alive "$DIR/containerd.pid" && ctr_ version >/dev/null 2>&1; then
    print_env
    return 0
  fi
  mkdir -p "$DIR/root" "$DIR/state" "$DIR/opt" "$DIR/cni/conf" "$DIR/cni/bin"
  local snap=overlayfs
  overlay_ok || snap=native
  cat >"$DIR/config.toml" <<EOF
version = 3
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$DIR/debug.sock"
  level = "${CD2_LOG_LEVEL:-info}"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/opt"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "$snap"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$PAUSE_IMAGE"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # CRI gives a pod's sandbox oom_score_adj -998; without CAP_SYS_RESOURCE (as here) runc's init
  # fails to set it. Keep scores no lower than containerd's own.
  restrict_oom_score_adj = true
[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["$DIR/cni/bin", "/usr/lib/cni"]
  conf_dir = "$DIR/cni/conf"
[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.elfuse]
  runtime_type = "io.containerd.elfuse.v2"
  runtime_path = "$root/build/containerd-shim-elfuse-v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.elfuse.options]
  BinaryName = "$root/build/elfuse-runtime"
  GuestMemory = "512MiB"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  echo "$snap" >"$DIR/snapshotter"
  say "starting containerd $VERSION (snapshotter $snap) on $SOCK"
  # PATH: build/ first (containerd-shim-elfuse-v2, elfuse-runtime), then this version's runc shim
  # (and gVisor's shim), then scripts/bench-setup.sh's runsc for gVisor's shim.
  PATH="$root/build:$BIN:$CACHE/bench:$PATH" setsid "$BIN/containerd" --config "$DIR/config.toml" \
    </dev/null >>"$DIR/containerd.log" 2>&1 &
  echo $! >"$DIR/containerd.pid"
  if ! wait_for 60 ctr_ version; then
    tail -20 "$DIR/containerd.log" >&2 || true
    die "containerd did not answer on $SOCK within 60s (log: $DIR/containerd.log)"
  fi
  local img pimg
  img=$(image)
  pimg=$(pause_image)
  ctr_ -n default images import "$img" >/dev/null || die "ctr images import $img (default) failed"
  ctr_ -n k8s.io images import "$img" >/dev/null || die "ctr images import $img (k8s.io) failed"
  ctr_ -n k8s.io images import "$pimg" >/dev/null || die "ctr images import $pimg (k8s.io) failed"
  print_env
}

print_env() {
  cat <<EOF
CD2_VERSION=$VERSION
CD2_BIN=$BIN
CD2_DIR=$DIR
CD2_SOCK=$SOCK
CD2_SNAPSHOTTER=$(cat "$DIR/snapshotter" 2>/dev/null || echo overlayfs)
CD2_IMAGE=$IMAGE
CD2_PAUSE_IMAGE=$PAUSE_IMAGE
EOF
}

unmount_under() {
  local m
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

stop() {
  [ -d "$DIR" ] || { say "nothing to stop ($DIR does not exist)"; return 0; }
  local pid ns c p
  if alive "$DIR/containerd.pid"; then
    for ns in $(timeout 10 "$BIN/ctr" --address "$SOCK" namespaces ls -q 2>/dev/null || true); do
      for c in $(timeout 10 "$BIN/ctr" --address "$SOCK" -n "$ns" tasks ls -q 2>/dev/null || true); do
        timeout 20 "$BIN/ctr" --address "$SOCK" -n "$ns" tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
        timeout 20 "$BIN/ctr" --address "$SOCK" -n "$ns" tasks delete -f "$c" >/dev/null 2>&1 || true
      done
      for c in $(timeout 10 "$BIN/ctr" --address "$SOCK" -n "$ns" containers ls -q 2>/dev/null || true); do
        timeout 20 "$BIN/ctr" --address "$SOCK" -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
      done
    done
    pid=$(cat "$DIR/containerd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid "$pid" 30 || { say "containerd $pid did not stop on SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  # Shims of this containerd (their -address is our socket) that are still there: end them by pid.
  for p in $(pgrep -f "containerd-shim-(runc|elfuse)-v2 .*-address $SOCK( |\$)" || true); do
    kill -KILL "$p" 2>/dev/null || true
  done
  unmount_under "$DIR"
  # nerdctl's default bridge, when the tests used nerdctl's bridge network and no container of any
  # other nerdctl is on it (CNI's shared iptables chains stay, as with any CNI user).
  if [ -d "$DIR/nerdctl" ] && ip link show nerdctl0 >/dev/null 2>&1 &&
    [ -z "$(ls /sys/class/net/nerdctl0/brif 2>/dev/null)" ]; then
    ip link delete nerdctl0 2>/dev/null || true
  fi
  # CNI's bridge plugin can leave a container's masquerade chain (nat CNI-<24 hex>) behind, empty:
  # delete those that are empty and unreferenced (iptables -X refuses referenced ones).
  if [ -d "$DIR/nerdctl" ] && command -v iptables >/dev/null; then
    local ch
    for ch in $(iptables -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-[0-9a-f]+$/ && length($2) == 28 {print $2}'); do
      [ -z "$(iptables -t nat -S "$ch" 2>/dev/null | grep -v '^-N')" ] && iptables -t nat -X "$ch" 2>/dev/null || true
    done
  fi
  rm -rf "$DIR"
  say "stopped; $DIR removed"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  image) image ;;
  pause-image) pause_image ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
