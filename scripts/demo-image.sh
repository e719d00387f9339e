#!/usr/bin/env bash
# Builds a busybox root file system tar from Debian's busybox-static (installed by scripts/setup.sh)
# into ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/images/, reused when present, and prints its path:
#   build/elfuse import --change 'CMD ["/bin/sh"]' "$(scripts/demo-image.sh)" busybox
# The tar holds /bin/busybox, a symlink to it under /bin for each applet of `busybox --list`,
# /etc/passwd, /etc/group, /tmp and /root, owned by root, with fixed times (reproducible).
# No network: everything comes from the installed package.
set -euo pipefail
CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
OUT_DIR="$CACHE/images"

bb=""
for p in /bin/busybox /usr/bin/busybox; do
  if [ -x "$p" ] && dpkg-query -S "$p" 2>/dev/null | grep -q '^busybox-static:'; then bb=$p; break; fi
done
if [ -z "$bb" ]; then
  echo "demo-image: Debian's busybox-static is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
version=$(dpkg-query -W -f='${Version}' busybox-static | tr -c 'A-Za-z0-9.+\n' '_')
arch=$(dpkg --print-architecture)
out="$OUT_DIR/busybox-$version-$arch.tar"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$OUT_DIR"
stage=$(mktemp -d "$OUT_DIR/.stage-XXXXXX")
trap 'rm -rf "$stage" "$out.tmp.$$"' EXIT
root="$stage/root"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
chmod 0755 "$root" "$root/bin" "$root/etc"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 "$bb" "$root/bin/busybox"
n=0
while IFS= read -r applet; do
  case "$applet" in
    ""|busybox|*/*) continue ;;
  esac
  ln -s busybox "$root/bin/$applet"
  n=$((n + 1))
done < <("$bb" --list)
if [ "$n" -lt 100 ]; then
  echo "demo-image: $bb --list gave only $n applets" >&2
  exit 1
fi
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"

# Every entry gets the package binary's time, so the same package gives the same tar.
mtime=$(stat -c %Y "$bb")
tar --create --file "$out.tmp.$$" --directory "$root" --sort=name --format=gnu \
  --owner=0 --group=0 --numeric-owner --mtime="@$mtime" .
mv -f "$out.tmp.$$" "$out"
echo "demo-image: built $out ($n applets)" >&2
echo "$out"
