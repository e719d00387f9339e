#!/bin/sh
# gostd.sh builds the Go standard-library test binaries that tests/gostd runs
# under elfuse (issue 4, "Go standard-library conformance suite"):
#   CGO_ENABLED=0 go test -c <pkg>
# into ${ELFUSE_CACHE:-$HOME/.cache/elfuse}/gostd/<go version>/<pkg with / as _>.test.
# A binary that is already there is reused. Arguments name packages; with none,
# the whole list below is built. Prints the cache directory on the last line.
set -eu

GO=${GO:-go}
PKGS_DEFAULT="os os/exec os/signal io io/fs bufio bytes strings strconv sort sync sync/atomic time context syscall net net/http net/url encoding/json compress/gzip archive/tar crypto/sha256 crypto/tls path/filepath math/big runtime"

if [ $# -gt 0 ]; then
	PKGS="$*"
else
	PKGS=$PKGS_DEFAULT
fi

ver=$($GO env GOVERSION)
cache=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
dir=$cache/gostd/$ver
mkdir -p "$dir"

for p in $PKGS; do
	out=$dir/$(echo "$p" | tr / _).test
	if [ -x "$out" ]; then
		continue
	fi
	echo "gostd: building $p" >&2
	tmp=$out.tmp.$$
	# -c with no test files writes nothing: every package above has tests.
	if ! CGO_ENABLED=0 $GO test -c -o "$tmp" "$p" >&2; then
		rm -f "$tmp"
		echo "gostd: building $p failed" >&2
		exit 1
	fi
	mv "$tmp" "$out"
done
echo "$dir"
