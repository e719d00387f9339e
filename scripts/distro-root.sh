#!/usr/bin/env bash
# Builds (once) and prints the root filesystems of the distro differential suite (tests/distro):
#
#   debian  a Debian bookworm amd64 root made with debootstrap (bash, coreutils, python3, perl,
#           gcc, make, git, gawk, sqlite3, ...), for dynamic glibc programs;
#   musl    a musl sysroot unpacked from Debian's musl and musl-dev packages, holding
#           /lib/ld-musl-x86_64.so.1, for dynamic musl programs.
#
# They live outside git under ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/distro/<name>-<key>, where key
# is a hash of everything that shapes the root (suite, architecture, package list, this script's
# recipe version). A root is built in a temporary directory beside it and renamed into place only
# once complete, with a stamp file inside, so a run killed half-way never leaves a root that a
# later run would reuse; leftovers of killed runs are removed by the next build.
#
# Usage:
#   scripts/distro-root.sh [build] [debian|musl|all]   build what is missing, print the path(s)
#   scripts/distro-root.sh path    [debian|musl|all]   print the path(s) without building;
#                                                      exit 1 (with a reason) if one is not built
#   scripts/distro-root.sh clean                       remove every distro root and leftover
#
# "all" (the default) prints the debian root, then the musl root, one per line.
# Environment: ELFUSE_CACHE, DISTRO_MIRROR (default: the Debian mirror of this machine's apt
# sources, else http://deb.debian.org/debian). Needs root (debootstrap, chroot).
set -euo pipefail

CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
DISTRO_DIR=$CACHE/distro
SUITE=bookworm
ARCH=amd64
# Bump when the way a root is made changes, so that older roots are rebuilt.
RECIPE=2
DEBIAN_PACKAGES=(bash coreutils python3 perl gcc libc6-dev make git gawk sed sqlite3
	ca-certificates libpython3.11-testsuite)
MUSL_PACKAGES=(musl musl-dev)
STAMP=.elfuse-distro-stamp

log() { echo "distro-root: $*" >&2; }
die() { log "$*"; exit 1; }

key_of() { # name packages...
	printf 'recipe=%s suite=%s arch=%s name=%s packages=%s\n' "$RECIPE" "$SUITE" "$ARCH" "$1" "${*:2}" |
		sha256sum | cut -c1-12
}

stamp_text() { # name packages...
	printf 'name=%s\nsuite=%s\narch=%s\nrecipe=%s\npackages=%s\nkey=%s\n' \
		"$1" "$SUITE" "$ARCH" "$RECIPE" "${*:2}" "$(key_of "$@")"
}

root_path() { # name -> path of the finished root
	case $1 in
	debian) echo "$DISTRO_DIR/debian-$SUITE-$ARCH-$(key_of debian "${DEBIAN_PACKAGES[@]}")" ;;
	musl) echo "$DISTRO_DIR/musl-$SUITE-$ARCH-$(key_of musl "${MUSL_PACKAGES[@]}")" ;;
	*) die "unknown root $1 (debian, musl or all)" ;;
	esac
}

packages_of() {
	case $1 in
	debian) echo "${DEBIAN_PACKAGES[@]}" ;;
	musl) echo "${MUSL_PACKAGES[@]}" ;;
	esac
}

# is_complete NAME: the finished root exists and its stamp matches exactly.
is_complete() {
	local dir
	dir=$(root_path "$1")
	# shellcheck disable=SC2046
	[[ -d $dir && -f $dir/$STAMP ]] && [[ "$(cat "$dir/$STAMP")" == "$(stamp_text "$1" $(packages_of "$1"))" ]]
}

# The Debian mirror this machine's apt uses (deb822 .sources or one-line .list files).
mirror() {
	if [[ -n ${DISTRO_MIRROR:-} ]]; then
		echo "$DISTRO_MIRROR"
		return
	fi
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		uri=$(awk '
			/^[[:space:]]*$/ { if (uri != "" && suites ~ /(^| )'"$SUITE"'( |$)/ && uri !~ /security/) { print uri; exit } uri=""; suites="" }
			/^URIs:/ { uri=$2 }
			/^Suites:/ { $1=""; suites=$0" " }
			END { if (uri != "" && suites ~ /(^| )'"$SUITE"'( |$)/ && uri !~ /security/) print uri }' "$f" | head -n1)
		if [[ -n $uri ]]; then
			echo "$uri"
			return
		fi
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i+1) == "'"$SUITE"'") { print $i; exit } } }' "$f" | head -n1)
		if [[ -n $uri ]]; then
			echo "$uri"
			return
		fi
	done
	echo http://deb.debian.org/debian
}

# unmount_under DIR: a killed debootstrap can leave /proc, /sys or /dev mounted inside its
# target; those must go before the directory is removed (rm would walk into the host's).
unmount_under() {
	local dir m
	dir=$(realpath -m "$1")
	# Deepest first.
	awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found=1 } END { exit !found }' /proc/self/mounts; then
		die "$dir still has mounts under it; not removing it"
	fi
}

remove_tree() {
	[[ -e $1 ]] || return 0
	unmount_under "$1"
	rm -rf --one-file-system "$1"
}

need_cmd() { # command package
	command -v "$1" >/dev/null 2>&1 && return
	log "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; } ||
		die "cannot install $2"
}

build_debian() { # tmpdir
	local tmp=$1 inc
	need_cmd debootstrap debootstrap
	inc=$(
		IFS=,
		echo "${DEBIAN_PACKAGES[*]}"
	)
	log "debootstrap $SUITE ($ARCH) from $(mirror) into $tmp (several minutes)"
	if ! debootstrap --arch="$ARCH" --variant=minbase --include="$inc" "$SUITE" "$tmp" "$(mirror)" >"$tmp.log" 2>&1; then
		tail -n 30 "$tmp.log" >&2
		die "debootstrap failed (log: $tmp.log)"
	fi
	# debootstrap writes no /etc/hosts (container runtimes provide one); getaddrinfo("localhost")
	# needs it.
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
	# debootstrap leaves its package cache; drop it to save space.
	rm -rf "$tmp"/var/cache/apt/archives/*.deb
	[[ -x $tmp/usr/bin/python3 && -x $tmp/usr/bin/gcc && -x $tmp/usr/bin/git ]] ||
		die "debootstrap finished but the root lacks python3, gcc or git"
	rm -f "$tmp.log"
}

build_musl() { # tmpdir
	local tmp=$1 dl p
	dl=$(mktemp -d "$DISTRO_DIR/.dl-XXXXXX")
	chmod 755 "$dl"
	chown _apt "$dl" 2>/dev/null || true # apt-get download drops to _apt
	# apt-get download needs the package lists; fetch them once if they are missing.
	if ! (cd "$dl" && apt-get download -q "${MUSL_PACKAGES[@]}" >&2); then
		apt-get update -q >&2 || true
		(cd "$dl" && apt-get download -q "${MUSL_PACKAGES[@]}" >&2) || { rm -rf "$dl"; die "apt-get download ${MUSL_PACKAGES[*]} failed"; }
	fi
	mkdir -p "$tmp"
	for p in "$dl"/*.deb; do
		dpkg-deb -x "$p" "$tmp"
	done
	rm -rf "$dl"
	mkdir -p "$tmp/tmp" "$tmp/etc" "$tmp/dev" "$tmp/proc"
	chmod 1777 "$tmp/tmp"
	[[ -e $tmp/lib/ld-musl-x86_64.so.1 ]] || die "the musl packages hold no /lib/ld-musl-x86_64.so.1"
}

build() { # name
	local name=$1 final tmp
	final=$(root_path "$name")
	if is_complete "$name"; then
		echo "$final"
		return
	fi
	mkdir -p "$DISTRO_DIR"
	# One builder at a time; a second waits and then finds the root built.
	exec 9>"$DISTRO_DIR/.lock"
	flock 9
	if is_complete "$name"; then
		exec 9>&-
		echo "$final"
		return
	fi
	# Leftovers of killed runs: temporary trees, and a final directory without a valid stamp.
	local old
	for old in "$DISTRO_DIR"/.tmp-"$name"-* "$DISTRO_DIR"/.dl-*; do
		[[ -e $old ]] || continue
		log "removing leftover $old"
		remove_tree "$old"
		rm -f "$old.log"
	done
	if [[ -e $final ]]; then
		log "removing incomplete $final"
		remove_tree "$final"
	fi
	tmp=$DISTRO_DIR/.tmp-$name-$$
	case $name in
	debian) build_debian "$tmp" ;;
	musl) build_musl "$tmp" ;;
	esac
	# shellcheck disable=SC2046
	stamp_text "$name" $(packages_of "$name") >"$tmp/$STAMP"
	sync -f "$tmp/$STAMP" 2>/dev/null || true
	mv -T "$tmp" "$final"
	# Roots of older recipes or package lists are dropped.
	for old in "$DISTRO_DIR/$name"-*; do
		[[ $old == "$final" || ! -d $old ]] && continue
		log "removing outdated $old"
		remove_tree "$old"
	done
	exec 9>&-
	log "$name root ready: $final"
	echo "$final"
}

path() { # name
	local dir
	dir=$(root_path "$1")
	if ! is_complete "$1"; then
		log "the $1 root is not built (run scripts/distro-root.sh build $1): $dir"
		echo "$dir"
		return 1
	fi
	echo "$dir"
}

names() {
	case ${1:-all} in
	all) echo debian musl ;;
	debian | musl) echo "$1" ;;
	*) die "unknown root $1 (debian, musl or all)" ;;
	esac
}

cmd=${1:-build}
case $cmd in
debian | musl | all)
	set -- build "$@"
	cmd=build
	;;
esac
case $cmd in
build)
	[[ $(id -u) == 0 ]] || die "building the roots needs root (debootstrap)"
	for n in $(names "${2:-all}"); do build "$n"; done
	;;
path)
	rc=0
	for n in $(names "${2:-all}"); do path "$n" || rc=1; done
	exit $rc
	;;
clean)
	mkdir -p "$DISTRO_DIR"
	exec 9>"$DISTRO_DIR/.lock"
	flock 9
	for old in "$DISTRO_DIR"/* "$DISTRO_DIR"/.tmp-* "$DISTRO_DIR"/.dl-*; do
		[[ -e $old && $old != "$DISTRO_DIR/.lock" ]] || continue
		remove_tree "$old"
	done
	;;
-h | --help | help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	;;
*) die "unknown command $cmd (build, path, clean)" ;;
esac
