// Package distro is elfuse's distribution differential suite: real dynamic
// programs of a Debian bookworm root (bash, coreutils, python3, perl, gcc,
// make, git, sqlite3, ...) and of a musl sysroot run natively in a chroot of
// that root and under `elfuse --sysroot ROOT`, and their stdout, stderr and
// exit status must match. The roots are built by scripts/distro-root.sh;
// README.md lists the cases and KNOWN.md the expected failures.
package distro
