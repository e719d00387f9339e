//go:build linux && amd64

package syscall

import "golang.org/x/sys/unix"

// fallocate(fd, mode, offset, len): the host's own call on the host fd;
// the mode bits (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE,
// INSERT_RANGE, UNSHARE_RANGE) are Linux's on both sides. The argument
// checks come first, as Linux makes them, before the file's own.
func sysFallocate(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	mode, off, n := uint32(a[1]), int64(a[2]), int64(a[3])
	if off < 0 || n <= 0 {
		return -EINVAL
	}
	if off+n < 0 {
		return -eFBIG
	}
	return errno(unix.Fallocate(f.host, mode, off, n))
}

const eFBIG = 27 // EFBIG
