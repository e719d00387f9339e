#!/usr/bin/env bash
# BusyBox's own test suite (testsuite/ of Debian's busybox source package) run
# with Debian's busybox-static, natively and under elfuse (issue 3).
#
#   busybox-testsuite.sh fetch            fetch and extract the source (cached), print its testsuite dir
#   busybox-testsuite.sh run MODE DIR     run the suite, MODE native or elfuse, into DIR (emptied);
#                                         DIR/results.tsv gets one "applet<TAB>STATUS<TAB>test" line a test,
#                                         DIR/times.tsv the seconds each applet took, DIR/logs runtest's output
#   busybox-testsuite.sh                  fetch, run both into $CACHE/busybox-run/{native,elfuse}, diff
#
# The source is the one of the installed busybox-static (apt-get source with a
# private deb-src list, so the system's apt configuration is not touched),
# cached in ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/busybox-src and reused.
#
# How a run works: runtest wants $bindir/busybox, $bindir/.config and the
# testsuite in $bindir/testsuite; it links every applet to $bindir/busybox in
# $bindir/runtest-tempdir-links and runs the tests with the host's /bin/sh,
# which call applets by name on PATH or as `busybox APPLET`. Natively
# $bindir/busybox is a symlink to the binary. Under elfuse it is a wrapper
# that runs `elfuse BINARY APPLET ARGS...` (the applet taken from the name it
# was called by), each under `timeout -s KILL`; a guest that execs the wrapper
# again (it sees BBSUITE_IN_ELFUSE) execs the binary directly inside the guest.
# runtest runs once per applet under `timeout -s KILL`, so a hang costs one
# applet, which is then reported as "applet TIMEOUT -".
#
# Environment: BUSYBOX (default /usr/bin/busybox), ELFUSE_BIN (default
# <repo>/build/elfuse), BB_APPLETS (space-separated subset), BB_APPLET_TIMEOUT
# (seconds for one applet's tests, default 600), BB_CMD_TIMEOUT (seconds for one
# busybox command under elfuse, default 180), BB_DEBIAN_MIRROR.
set -euo pipefail

CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
SRCCACHE=$CACHE/busybox-src
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ELFUSE_BIN=${ELFUSE_BIN:-$REPO/build/elfuse}
MIRROR=${BB_DEBIAN_MIRROR:-http://deb.debian.org}
APPLET_TIMEOUT=${BB_APPLET_TIMEOUT:-600}
CMD_TIMEOUT=${BB_CMD_TIMEOUT:-180}

log() { echo "busybox-testsuite: $*" >&2; }
die() { log "$*"; exit 1; }

# ensure_pkgs installs the Debian packages this script needs when missing.
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# srcver prints the source version of the installed busybox-static.
srcver() {
  dpkg-query -W -f='${source:Version}' busybox-static
}

# fetch makes $SRCCACHE/busybox-$VERSION (the extracted, patched source
# package) and prints its path.
fetch() {
  ensure_pkgs busybox-static dpkg-dev
  local ver tree apt
  ver=$(srcver)
  [ -n "$ver" ] || die "no source version for busybox-static"
  tree=$SRCCACHE/busybox-${ver#*:}
  if [ -f "$tree/.elfuse-extracted" ]; then
    echo "$tree"
    return 0
  fi
  mkdir -p "$SRCCACHE"
  local dsc
  dsc=$SRCCACHE/busybox_${ver#*:}.dsc
  if [ ! -f "$dsc" ] || ! grep -q '^Files:' "$dsc"; then
    # A private deb-src list and state, so the system's sources stay as they are.
    apt=$SRCCACHE/apt
    mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial"
    : >"$apt/empty.list"
    cat >"$apt/parts/bookworm-src.sources" <<EOF
Types: deb-src
URIs: $MIRROR/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $MIRROR/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local opts=(-o "Dir::Etc::SourceList=$apt/empty.list" -o "Dir::Etc::SourceParts=$apt/parts"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=$(id -un)")
    log "fetching busybox $ver source from $MIRROR"
    apt-get "${opts[@]}" -qq update >&2
    (cd "$SRCCACHE" && apt-get "${opts[@]}" -qq source --download-only "busybox=$ver" >&2)
    [ -f "$dsc" ] || die "apt-get source did not produce $dsc"
  fi
  rm -rf "$tree.tmp"
  # apt checked the files against the signed Sources index; dpkg-source would
  # only add a check of the uploader's signature, whose key is in debian-keyring.
  (cd "$SRCCACHE" && dpkg-source -q --no-check -x "$dsc" "$tree.tmp" >&2)
  touch "$tree.tmp/.elfuse-extracted"
  rm -rf "$tree"
  mv "$tree.tmp" "$tree"
  ln -sfn "$(basename "$tree")/testsuite" "$SRCCACHE/testsuite"
  echo "$tree"
}

# setup_run prepares DIR as runtest's $bindir for MODE.
setup_run() {
  local mode=$1 dir=$2 tree=$3
  # Empties DIR, but only one this script made (or an empty one).
  if [ -e "$dir" ] && [ ! -e "$dir/.busybox-testsuite-run" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is not empty and not a run directory of this script"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  touch "$dir/.busybox-testsuite-run"
  cp -a "$tree/testsuite" "$dir/testsuite"
  # As Debian's build does (debian/rules): mdev.tests needs a chroot. mount.tests
  # mounts loop devices on the host when run as root, which says nothing about
  # busybox and changes the host.
  rm -f "$dir/testsuite/mdev.tests" "$dir/testsuite/mount.tests"
  # A failing test also leaves what it got in $BBSUITE_FAILLOG (logs/APPLET.fail):
  # the diff of a new-style test, the `sh -x` trace of an old-style one. This
  # replaces runtest -v, whose echo of each command line breaks the PASS/FAIL
  # lines of tests holding \c (printf.tests), and changes nothing else.
  sed -i 's|^\([[:space:]]*\)echo "FAIL: \$NAME"$|&\n\1{ echo "FAIL: $NAME"; diff -u expected actual; } >>"$BBSUITE_FAILLOG" 2>\&1|' \
    "$dir/testsuite/testing.sh"
  sed -i 's|^\([[:space:]]*\)echo "FAIL: \$testname"$|&\n\1{ echo "FAIL: $testname"; cat "$testname.stdout.txt"; } >>"$BBSUITE_FAILLOG" 2>\&1|' \
    "$dir/testsuite/runtest"
  grep -q BBSUITE_FAILLOG "$dir/testsuite/testing.sh" && grep -q BBSUITE_FAILLOG "$dir/testsuite/runtest" ||
    die "could not add the failure log to testing.sh and runtest"
  # The configuration busybox-static was built with.
  cp "$tree/debian/config/pkg/static" "$dir/.config"
  case $mode in
  native)
    ln -s "$BUSYBOX" "$dir/busybox"
    ;;
  elfuse)
    [ -x "$ELFUSE_BIN" ] || die "$ELFUSE_BIN missing: run make elfuse"
    mkdir -p "$dir/applets"
    cat >"$dir/busybox" <<EOF
#!$BUSYBOX sh
# Runs busybox under elfuse; written by scripts/busybox-testsuite.sh. An
# applet runs from a link named after it, so that its process has the
# applet's name (comm, argv[0]), as natively.
a=\${0##*/}
if [ -n "\$BBSUITE_IN_ELFUSE" ]; then
	[ "\$a" = busybox ] || set -- "\$a" "\$@"
	exec $BUSYBOX "\$@"
fi
prog=$BUSYBOX
if [ "\$a" != busybox ]; then
	prog=$dir/applets/\$a
	[ -e "\$prog" ] || ln -sf $BUSYBOX "\$prog"
fi
BBSUITE_IN_ELFUSE=1 exec timeout -s KILL $CMD_TIMEOUT $ELFUSE_BIN "\$prog" "\$@"
EOF
    chmod +x "$dir/busybox"
    ;;
  *) die "unknown mode $mode" ;;
  esac
}

# run runs the suite in MODE into DIR.
run() {
  local mode=$1 dir=$2 tree
  tree=$(fetch)
  dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
  setup_run "$mode" "$dir" "$tree"
  local ts=$dir/testsuite applets a rc start t0
  mkdir -p "$dir/logs"
  # runtest's own list: the applets the binary implements (asked natively, so
  # that both modes run the same list), in that order, those with tests.
  if [ -n "${BB_APPLETS:-}" ]; then
    applets=$BB_APPLETS
  else
    applets="busybox $("$BUSYBOX" --list | xargs)"
  fi
  # The environment of Debian's build (debian/rules TESTSUITE_ENV), nothing else.
  local env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME"
    TERM=dumb SKIP_KNOWN_BUGS=y LANG=C.UTF-8 LC_ALL=C.UTF-8 SKIP_INTERNET_TESTS=y SHELL=/bin/sh
    ECHO=/bin/echo bindir="$dir" tsdir="$ts")
  : >"$dir/results.tsv"
  : >"$dir/times.tsv"
  start=$(date +%s)
  for a in $applets; do
    [ -d "$ts/$a" ] || [ -f "$ts/$a.tests" ] || continue
    rc=0
    t0=$(date +%s)
    (cd "$ts" && timeout -s KILL "$APPLET_TIMEOUT" "${env[@]}" BBSUITE_FAILLOG="$dir/logs/$a.fail" ./runtest "$a" </dev/null >"$dir/logs/$a.log" 2>&1) || rc=$?
    awk -v a="$a" -F': ' '
      /^(PASS|FAIL|SKIPPED|UNTESTED): / {
        name = substr($0, length($1) + 3)
        n = ++seen[name]
        if (n > 1) name = name " #" n
        print a "\t" $1 "\t" name
      }' "$dir/logs/$a.log" >>"$dir/results.tsv"
    printf '%s\t%s\n' "$a" $(($(date +%s) - t0)) >>"$dir/times.tsv"
    if [ $rc -eq 137 ]; then
      printf '%s\tTIMEOUT\t-\n' "$a" >>"$dir/results.tsv"
      log "$mode: $a killed after ${APPLET_TIMEOUT}s"
    fi
  done
  rm -rf "$dir/runtest-tempdir-links"
  log "$mode: $(cut -f2 "$dir/results.tsv" | sort | uniq -c | xargs) in $(($(date +%s) - start))s"
}

# main is a function called on the last line, so that bash has read the
# whole file before it runs anything (an edit during a run cannot break it).
main() {
  case ${1:-all} in
  fetch)
    tree=$(fetch)
    echo "$tree/testsuite"
    ;;
  run)
    [ $# -eq 3 ] || die "usage: $0 run native|elfuse DIR"
    run "$2" "$3"
    ;;
  all)
    out=$CACHE/busybox-run
    run native "$out/native"
    run elfuse "$out/elfuse"
    if diff -u "$out/native/results.tsv" "$out/elfuse/results.tsv" >"$out/diff.txt"; then
      log "elfuse and native agree"
    else
      log "differences (native -, elfuse +) in $out/diff.txt:"
      grep '^[-+][^-+]' "$out/diff.txt" >&2 || true
      exit 1
    fi
    ;;
  *) die "usage: $0 [fetch | run native|elfuse DIR]" ;;
  esac
}

main "$@"; exit
