#!/usr/bin/env bash
# Starts the real peers that drive an OCI runtime with runc's command line (issue 8), as private
# instances that touch no system service and listen only on unix sockets:
#
#   scripts/peers-setup.sh [start]   install (apt-get, idempotent), start containerd and dockerd, load the image
#   scripts/peers-setup.sh stop      remove their containers, stop both daemons, unmount and delete the state
#   scripts/peers-setup.sh status    say what runs
#   scripts/peers-setup.sh env       print the shell variables the tests read (sockets, image names)
#
# Everything lives under ELFUSE_PEERS_DIR (default /tmp/elfuse-peers; short, because unix socket
# paths are limited to 108 bytes):
#   containerd/  Debian's containerd 1.6: root, state, containerd.sock, config.toml (generated), log
#   docker/      Debian's docker.io 20.10 dockerd: data (--data-root), exec (--exec-root), docker.sock,
#                docker.pid, daemon.json, log. It uses the private containerd above (namespace moby).
#   podman/      podman's --root, --runroot and --tmpdir (podman has no daemon: the tests run it directly)
#
# dockerd gets `--add-runtime elfuse=<runtime>`, where <runtime> is ELFUSE_PEER_RUNTIME (default
# build/elfuse-runtime, made absolute) as it was when the daemon started; `start` restarts dockerd
# when that changed. containerd needs no such setting: `ctr run --runc-binary` names the runtime per
# container. Networking is off: no iptables, no bridge (--iptables=false --bridge=none), so containers
# get an empty network namespace. The storage is overlay (overlay2 for docker, overlayfs for
# containerd) where this kernel mounts overlay, else vfs/native.
#
# The image: scripts/demo-image.sh's busybox root file system tar, wrapped here into a docker-archive
# (`docker save` layout: manifest.json, an image config with CMD ["/bin/sh"], one uncompressed layer)
# at <cache>/images/busybox-elfuse-<same name>.docker.tar, loaded as busybox-elfuse:test:
# `ctr images import` (docker.io/library/busybox-elfuse:test, namespace default), `docker load`, and
# `podman load` when podman is installed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
PEERS=${ELFUSE_PEERS_DIR:-/tmp/elfuse-peers}
IMAGE=busybox-elfuse:test
CTR_IMAGE=docker.io/library/$IMAGE
DOCKER=/usr/bin/docker # Debian's client, of the daemon's version (/usr/local/bin may hold another)

runtime=${ELFUSE_PEER_RUNTIME:-build/elfuse-runtime}
case "$runtime" in
  /*) ;;
  *) runtime="$root/$runtime" ;;
esac

CD=$PEERS/containerd
DD=$PEERS/docker
PD=$PEERS/podman
CSOCK=$CD/containerd.sock
DSOCK=$DD/docker.sock

say() { echo "peers: $*" >&2; }
die() { echo "peers: error: $*" >&2; exit 1; }

install_packages() {
  local pkgs=(containerd docker.io runc busybox-static util-linux iproute2 podman) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # policy-rc.d or not, the packaged services must not run: the peers are private instances.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
  $sudo systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
}

# alive PIDFILE: the pid in PIDFILE is a running process.
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ctr_() { ctr --address "$CSOCK" "$@"; }
docker_() { "$DOCKER" -H "unix://$DSOCK" "$@"; }

overlay_ok() {
  local d rc=1
  d=$(mktemp -d "$PEERS/.ovl-XXXXXX")
  mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
  if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
    umount "$d/m"
    rc=0
  fi
  rm -rf "$d"
  return $rc
}

# wait_for SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

start_containerd() {
  if alive "$CD/containerd.pid" && ctr_ version >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$CD/root" "$CD/state" "$CD/opt"
  local snap=overlayfs
  overlay_ok || snap=native
  echo "$snap" >"$CD/snapshotter"
  # The CRI plugin is off (it wants CNI and would claim the default runtime); the runc shim
  # (io.containerd.runc.v2) is containerd's default runtime for ctr.
  cat >"$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
oom_score = 0

[grpc]
  address = "$CSOCK"
[ttrpc]
  address = "$CSOCK.ttrpc"
[debug]
  address = "$CD/debug.sock"
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.service.v1.diff-service"]
  default = ["walking"]
[plugins."io.containerd.gc.v1.scheduler"]
  pause_threshold = 0.02
EOF
  say "starting containerd (snapshotter $snap) on $CSOCK"
  setsid containerd --config "$CD/config.toml" </dev/null >>"$CD/containerd.log" 2>&1 &
  echo $! >"$CD/containerd.pid"
  if ! wait_for 30 ctr_ version; then
    tail -20 "$CD/containerd.log" >&2 || true
    die "containerd did not answer on $CSOCK within 30s (log: $CD/containerd.log)"
  fi
}

start_dockerd() {
  if alive "$DD/docker.pid" && docker_ version >/dev/null 2>&1; then
    if [ "$(cat "$DD/runtime" 2>/dev/null)" = "$runtime" ]; then
      return 0
    fi
    say "dockerd runs with elfuse=$(cat "$DD/runtime" 2>/dev/null); restarting it with elfuse=$runtime"
    stop_dockerd
  fi
  mkdir -p "$DD/data" "$DD/exec"
  local driver=overlay2
  overlay_ok || driver=vfs
  # Our own daemon.json, so that the host's /etc/docker/daemon.json (if any) plays no part. It
  # registers gVisor's runsc (systrap platform) as runtime "runsc" when scripts/bench-setup.sh has
  # built it, for the bench's docker rows.
  local runsc=$CACHE/bench/runsc
  if [ -x "$runsc" ]; then
    runsc=$(readlink -f "$runsc")
    printf '{"runtimes":{"runsc":{"path":"%s","runtimeArgs":["--platform=systrap"]}}}\n' "$runsc" >"$DD/daemon.json"
  else
    echo '{}' >"$DD/daemon.json"
  fi
  echo "$runtime" >"$DD/runtime"
  [ -x "$runtime" ] || say "warning: $runtime does not exist yet; --runtime elfuse fails until it does"
  say "starting dockerd (storage $driver, runtime elfuse=$runtime) on $DSOCK"
  setsid dockerd \
    --config-file "$DD/daemon.json" \
    --data-root "$DD/data" --exec-root "$DD/exec" --pidfile "$DD/docker.pid" \
    -H "unix://$DSOCK" \
    --containerd "$CSOCK" --containerd-namespace moby --containerd-plugins-namespace moby-plugins \
    --add-runtime "elfuse=$runtime" \
    --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --bridge=none \
    --userland-proxy=false --storage-driver "$driver" --exec-opt native.cgroupdriver=cgroupfs \
    --log-level info \
    </dev/null >>"$DD/dockerd.log" 2>&1 &
  echo $! >"$DD/dockerd.launcher.pid"
  if ! wait_for 60 docker_ version; then
    tail -20 "$DD/dockerd.log" >&2 || true
    die "dockerd did not answer on $DSOCK within 60s (log: $DD/dockerd.log)"
  fi
}

# image_archive prints the path of the docker-archive of the demo image, building it when missing.
image_archive() {
  local rootfs name out stage layer_sum cfg cfg_sum
  rootfs=$("$root/scripts/demo-image.sh") || die "scripts/demo-image.sh failed"
  name=$(basename "$rootfs" .tar)
  out=$(dirname "$rootfs")/busybox-elfuse-$name.docker.tar
  if [ -s "$out" ]; then
    echo "$out"
    return 0
  fi
  stage=$(mktemp -d "$(dirname "$rootfs")/.docker-archive-XXXXXX")
  layer_sum=$(sha256sum "$rootfs" | cut -d' ' -f1)
  mkdir -p "$stage/$layer_sum"
  cp "$rootfs" "$stage/$layer_sum/layer.tar"
  echo '1.0' >"$stage/$layer_sum/VERSION"
  cfg=$(printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/demo-image.sh (Debian busybox-static)"}]}' \
    "$(dpkg --print-architecture)" "$layer_sum")
  cfg_sum=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
  printf '%s' "$cfg" >"$stage/$cfg_sum.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg_sum" "$IMAGE" "$layer_sum" >"$stage/manifest.json"
  printf '{"busybox-elfuse":{"test":"%s"}}' "$layer_sum" >"$stage/repositories"
  tar --create --file "$out.tmp" --directory "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime=@0 manifest.json repositories "$cfg_sum.json" "$layer_sum"
  mv -f "$out.tmp" "$out"
  rm -rf "$stage"
  say "built $out"
  echo "$out"
}

load_images() {
  local archive
  archive=$(image_archive)
  if ! ctr_ images ls -q 2>/dev/null | grep -qx "$CTR_IMAGE"; then
    ctr_ images import --snapshotter "$(cat "$CD/snapshotter")" "$archive" >/dev/null ||
      die "ctr images import $archive failed"
    say "containerd: imported $CTR_IMAGE"
  fi
  if ! docker_ image inspect "$IMAGE" >/dev/null 2>&1; then
    docker_ load -i "$archive" >/dev/null || die "docker load -i $archive failed"
    say "docker: loaded $IMAGE"
  fi
}

stop_dockerd() {
  local pid
  if alive "$DD/docker.pid"; then
    # Containers first, so that no task is left in containerd's moby namespace.
    local ids=()
    mapfile -t ids < <(timeout 30 "$DOCKER" -H "unix://$DSOCK" ps -aq 2>/dev/null || true)
    [ ${#ids[@]} -eq 0 ] || timeout 60 "$DOCKER" -H "unix://$DSOCK" rm -f "${ids[@]}" >/dev/null 2>&1 || true
    pid=$(cat "$DD/docker.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid "$pid" 30 || { say "dockerd $pid did not stop on SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$DD/docker.pid" "$DD/runtime"
}

# wait_pid PID SECONDS: wait until PID is gone.
wait_pid() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

stop_containerd() {
  local pid ns c
  if alive "$CD/containerd.pid"; then
    for ns in $(timeout 10 ctr --address "$CSOCK" namespaces ls -q 2>/dev/null || true); do
      for c in $(timeout 10 ctr --address "$CSOCK" -n "$ns" tasks ls -q 2>/dev/null || true); do
        timeout 20 ctr --address "$CSOCK" -n "$ns" tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
        timeout 20 ctr --address "$CSOCK" -n "$ns" tasks delete -f "$c" >/dev/null 2>&1 || true
      done
      for c in $(timeout 10 ctr --address "$CSOCK" -n "$ns" containers ls -q 2>/dev/null || true); do
        timeout 20 ctr --address "$CSOCK" -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
      done
    done
    pid=$(cat "$CD/containerd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid "$pid" 30 || { say "containerd $pid did not stop on SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$CD/containerd.pid"
}

# unmount_under DIR: take off every mount below DIR, deepest first.
unmount_under() {
  local m
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

stop_all() {
  [ -d "$PEERS" ] || { say "nothing to stop ($PEERS does not exist)"; return 0; }
  stop_dockerd
  stop_containerd
  # Shims of our containerd whose tasks are gone exit by themselves; any left are ours (their
  # -address is our socket), so end them by pid.
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $CSOCK" || true); do
    kill -KILL "$p" 2>/dev/null || true
  done
  unmount_under "$PEERS"
  rm -rf "$PEERS"
  say "stopped; $PEERS removed"
}

status() {
  local ok=0
  if alive "$CD/containerd.pid" && ctr_ version >/dev/null 2>&1; then
    echo "containerd: running (pid $(cat "$CD/containerd.pid"), $CSOCK)"
  else
    echo "containerd: not running"; ok=1
  fi
  if alive "$DD/docker.pid" && docker_ version >/dev/null 2>&1; then
    echo "dockerd: running (pid $(cat "$DD/docker.pid"), $DSOCK, elfuse=$(cat "$DD/runtime" 2>/dev/null))"
  else
    echo "dockerd: not running"; ok=1
  fi
  return $ok
}

print_env() {
  cat <<EOF
ELFUSE_PEERS_DIR=$PEERS
ELFUSE_PEERS_CONTAINERD=$CSOCK
ELFUSE_PEERS_DOCKER=unix://$DSOCK
ELFUSE_PEERS_PODMAN_ROOT=$PD/root
ELFUSE_PEERS_PODMAN_RUNROOT=$PD/run
ELFUSE_PEERS_IMAGE=$IMAGE
ELFUSE_PEERS_CTR_IMAGE=$CTR_IMAGE
ELFUSE_PEERS_ARCHIVE=$(image_archive)
EOF
}

preflight() {
  [ "$(id -u)" -eq 0 ] || die "the peers run as root (containerd and dockerd mount file systems)"
  [ -d /sys/fs/cgroup ] || die "no /sys/fs/cgroup: runc (the shim's and dockerd's default) needs cgroups"
  for b in containerd ctr containerd-shim-runc-v2 dockerd "$DOCKER" runc; do
    command -v "$b" >/dev/null || die "$b is not installed (apt-get failed?)"
  done
}

case "${1:-start}" in
  start)
    install_packages
    preflight
    mkdir -p "$PEERS"
    start_containerd
    start_dockerd
    load_images
    status
    ;;
  stop) stop_all ;;
  status) status ;;
  env) print_env ;;
  image) image_archive ;;
  *) die "usage: $0 [start|stop|status|env|image]" ;;
esac
