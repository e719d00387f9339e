//go:build linux && amd64

package syscall

import "golang.org/x/sys/unix"

// Calls that advise the host about file I/O or ask it for more of it:
// sync_file_range, readahead, fadvise64, preadv2, pwritev2. Arguments are
// checked as Linux checks them, then the host's call does the work.

// sync_file_range flags.
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

func sysSyncFileRange(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	off, n, flags := int64(a[1]), int64(a[2]), a[3]
	if flags&^(syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter) != 0 {
		return -EINVAL
	}
	if off < 0 || n < 0 || off+n < 0 {
		return -EINVAL
	}
	hf := 0
	if flags&syncFileRangeWaitBefore != 0 {
		hf |= unix.SYNC_FILE_RANGE_WAIT_BEFORE
	}
	if flags&syncFileRangeWrite != 0 {
		hf |= unix.SYNC_FILE_RANGE_WRITE
	}
	if flags&syncFileRangeWaitAfter != 0 {
		hf |= unix.SYNC_FILE_RANGE_WAIT_AFTER
	}
	return errno(unix.SyncFileRange(f.host, off, n, hf))
}

// readahead(fd, offset, count): EBADF unless open for reading, EINVAL
// unless a regular file (the host says which).
func sysReadahead(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall(unix.SYS_READAHEAD, uintptr(f.host), uintptr(a[1]), uintptr(a[2]))
	if en != 0 {
		return errno(en)
	}
	return 0
}

// fadvise64(fd, offset, len, advice): POSIX_FADV_* 0..5, the same on the
// host; ESPIPE on pipes, EINVAL for a negative length.
func sysFadvise64(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	advice := int(int32(a[3]))
	var hadv int
	switch advice {
	case 0:
		hadv = unix.FADV_NORMAL
	case 1:
		hadv = unix.FADV_RANDOM
	case 2:
		hadv = unix.FADV_SEQUENTIAL
	case 3:
		hadv = unix.FADV_WILLNEED
	case 4:
		hadv = unix.FADV_DONTNEED
	case 5:
		hadv = unix.FADV_NOREUSE
	default:
		// Linux checks the file type first: a pipe is ESPIPE whatever the advice.
		if err := unix.Fadvise(f.host, 0, 0, unix.FADV_NORMAL); err == unix.ESPIPE {
			return -ESPIPE
		}
		return -EINVAL
	}
	return errno(unix.Fadvise(f.host, int64(a[1]), int64(a[2]), hadv))
}

// RWF_* flags of preadv2 and pwritev2 (the host's are the same bits).
const (
	rwfHipri     = 0x01
	rwfDsync     = 0x02
	rwfSync      = 0x04
	rwfNowait    = 0x08
	rwfAppend    = 0x10
	rwfNoappend  = 0x20
	rwfAtomic    = 0x40
	rwfDontcache = 0x80
	rwfSupported = rwfHipri | rwfDsync | rwfSync | rwfNowait | rwfAppend | rwfNoappend | rwfAtomic | rwfDontcache
)

// rw2 serves preadv2 and pwritev2: an offset of -1 is the file position;
// flags go to the host's preadv2/pwritev2 (unknown ones are EOPNOTSUPP).
// Without flags they are preadv and pwritev.
func (t *Thread) rw2(a *[6]uint64, write bool) int64 {
	fd, iov, cnt, off, flags := a[0], a[1], a[2], int64(a[3]), a[5]
	if flags == 0 {
		return t.rw(fd, iov, cnt, write, true, off != -1, off)
	}
	f, e := t.fd(fd)
	if e != 0 {
		return e
	}
	if off < -1 {
		return -EINVAL
	}
	bufs, e := t.iovecs(iov, cnt, !write)
	if e != 0 {
		return e
	}
	if flags&^rwfSupported != 0 || flags > 0xffffffff {
		return -EOPNOTSUPP
	}
	at := off
	cur := off == -1
	hf := int(flags)
	host := func(fd int, bufs [][]byte, o int64) (int, error) {
		if cur {
			o = -1
		}
		if write {
			return unix.Pwritev2(fd, bufs, o, hf)
		}
		return unix.Preadv2(fd, bufs, o, hf)
	}
	ops := hostOps{vecAt: host, read: !write,
		oneAt: func(fd int, b []byte, o int64) (int, error) { return host(fd, [][]byte{b}, o) }}
	if cur {
		at = 0
	}
	op := func() int64 { return hostIO(ops, f.host, bufs, at, true) }
	events := int16(pollIn)
	if write {
		events = pollOut
	}
	if cur && flags&rwfNowait == 0 {
		if !write {
			if e := t.backgroundRead(f); e != 0 {
				return e
			}
		}
		return t.streamIO(f, events, op)
	}
	r := op()
	if r == -EPIPE && write {
		t.raiseSIGPIPE()
	}
	return r
}

func sysPreadv2(t *Thread, a *[6]uint64) int64  { return t.rw2(a, false) }
func sysPwritev2(t *Thread, a *[6]uint64) int64 { return t.rw2(a, true) }
