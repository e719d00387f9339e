//go:build linux && amd64

package syscall

import (
	"golang.org/x/sys/unix"
)

// inotify is the host's: watches are on host paths the resolver gives,
// and the events a read returns name entries relative to the watched
// directory, the same on both sides.

// Linux inotify mask bits.
var inotifyBits = []struct{ linux, host uint32 }{
	{0x1, unix.IN_ACCESS}, {0x2, unix.IN_MODIFY}, {0x4, unix.IN_ATTRIB}, {0x8, unix.IN_CLOSE_WRITE},
	{0x10, unix.IN_CLOSE_NOWRITE}, {0x20, unix.IN_OPEN}, {0x40, unix.IN_MOVED_FROM}, {0x80, unix.IN_MOVED_TO},
	{0x100, unix.IN_CREATE}, {0x200, unix.IN_DELETE}, {0x400, unix.IN_DELETE_SELF}, {0x800, unix.IN_MOVE_SELF},
	{0x1000000, unix.IN_ONLYDIR}, {0x2000000, unix.IN_DONT_FOLLOW}, {0x4000000, unix.IN_EXCL_UNLINK},
	{0x10000000, unix.IN_MASK_CREATE}, {0x20000000, unix.IN_MASK_ADD}, {0x80000000, unix.IN_ONESHOT},
}

const inDontFollow = 0x2000000

// decodeInotifyMask turns a Linux watch mask into the host's.
func decodeInotifyMask(m uint32) (uint32, int64) {
	var h uint32
	for _, b := range inotifyBits {
		if m&b.linux != 0 {
			h |= b.host
			m &^= b.linux
		}
	}
	if m != 0 || h&unix.IN_ALL_EVENTS == 0 {
		return 0, -EINVAL
	}
	return h, 0
}

func sysInotifyInit1(t *Thread, a *[6]uint64) int64 {
	flags := int(a[0])
	if flags&^(oCloexec|oNonblock) != 0 {
		return -EINVAL
	}
	hf := unix.IN_CLOEXEC
	if flags&oNonblock != 0 {
		hf |= unix.IN_NONBLOCK
	}
	fd, err := unix.InotifyInit1(hf)
	if err != nil {
		return errno(err)
	}
	return t.proc.addFD(&fdEntry{host: fd, cloexec: flags&oCloexec != 0, path: "anon_inode:inotify", kind: kindStream}, 0)
}

func sysInotifyInit(t *Thread, a *[6]uint64) int64 { return sysInotifyInit1(t, &[6]uint64{}) }

func sysInotifyAddWatch(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	mask, e := decodeInotifyMask(uint32(a[2]))
	if e != 0 {
		return e
	}
	d, hp, e := t.pathAt(cwdFD, a[1], uint32(a[2])&inDontFollow == 0)
	if e != 0 {
		return e
	}
	if d != unix.AT_FDCWD {
		// A directory fd (held until the call returns) and a name in it.
		hp = "/proc/self/fd/" + itoa(d) + "/" + hp
	}
	wd, err := unix.InotifyAddWatch(f.host, hp, mask)
	if err != nil {
		return errno(err)
	}
	return int64(wd)
}

func sysInotifyRmWatch(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	_, err := unix.InotifyRmWatch(f.host, uint32(a[1]))
	return errno(err)
}
