//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// epoll and eventfd are the host's own: a guest epoll fd is a host epoll
// fd watching host fds, and the guest's 64-bit data rides through as is.

const (
	epollCtlAdd  = 1
	epollCtlDel  = 2
	epollCtlMod  = 3
	efdSemaphore = 1
)

func sysEpollCreate1(t *Thread, a *[6]uint64) int64 {
	if a[0]&^oCloexec != 0 {
		return -EINVAL
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return errno(err)
	}
	return t.proc.addFD(&fdEntry{host: fd, cloexec: a[0]&oCloexec != 0, path: "anon_inode:[eventpoll]", kind: kindStream}, 0)
}

func sysEpollCreate(t *Thread, a *[6]uint64) int64 {
	if int32(a[0]) <= 0 {
		return -EINVAL
	}
	return sysEpollCreate1(t, &[6]uint64{})
}

func sysEpollCtl(t *Thread, a *[6]uint64) int64 {
	ep, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	f, e := t.fd(a[2])
	if e != 0 {
		return e
	}
	var op int
	switch a[1] {
	case epollCtlAdd:
		op = unix.EPOLL_CTL_ADD
	case epollCtlDel:
		op = unix.EPOLL_CTL_DEL
	case epollCtlMod:
		op = unix.EPOLL_CTL_MOD
	default:
		return -EINVAL
	}
	var ev unix.EpollEvent
	if op != unix.EPOLL_CTL_DEL {
		var b [12]byte
		if e := t.get(a[3], b[:]); e != 0 {
			return e
		}
		ev.Events = decodeEpollEvents(binary.LittleEndian.Uint32(b[0:]))
		data := binary.LittleEndian.Uint64(b[4:])
		ev.Fd = int32(uint32(data))
		ev.Pad = int32(uint32(data >> 32))
	}
	return errno(unix.EpollCtl(ep.host, op, f.host, &ev))
}

// epollBits pairs Linux epoll event bits with the host's.
var epollBits = []struct{ linux, host uint32 }{
	{0x1, unix.EPOLLIN}, {0x2, unix.EPOLLPRI}, {0x4, unix.EPOLLOUT}, {0x8, unix.EPOLLERR},
	{0x10, unix.EPOLLHUP}, {0x40, unix.EPOLLRDNORM}, {0x80, unix.EPOLLRDBAND}, {0x100, unix.EPOLLWRNORM},
	{0x200, unix.EPOLLWRBAND}, {0x400, unix.EPOLLMSG}, {0x2000, unix.EPOLLRDHUP},
	{1 << 28, unix.EPOLLEXCLUSIVE}, {1 << 29, unix.EPOLLWAKEUP}, {1 << 30, unix.EPOLLONESHOT},
	{1 << 31, unix.EPOLLET},
}

// decodeEpollEvents turns Linux epoll event bits into the host's; bits
// Linux does not define are dropped, as Linux ignores them.
func decodeEpollEvents(l uint32) uint32 {
	var h uint32
	for _, b := range epollBits {
		if l&b.linux != 0 {
			h |= b.host
		}
	}
	return h
}

// encodeEpollEvents turns host epoll event bits into Linux's.
func encodeEpollEvents(h uint32) uint32 {
	var l uint32
	for _, b := range epollBits {
		if h&b.host != 0 {
			l |= b.linux
		}
	}
	return l
}

// epollWait waits up to timeout (negative: for ever) for events on the
// guest epoll fd, interruptibly, and copies them out.
func (t *Thread) epollWait(epfd, evVA uint64, max int, timeout time.Duration, mask *uint64) int64 {
	if max <= 0 || max > 1<<20 {
		return -EINVAL
	}
	ep, e := t.fd(epfd)
	if e != 0 {
		return e
	}
	if mask != nil {
		t.sb.mu.Lock()
		old := t.sigmask
		t.sb.mu.Unlock()
		t.setMask(*mask)
		defer func() { t.savedMask, t.hasSaved = old, true }()
	}
	events := make([]unix.EpollEvent, min(max, 1024))
	deadline := time.Now().Add(timeout)
	for {
		n, err := unix.EpollWait(ep.host, events, 0)
		if err != nil && err != unix.EINTR {
			return errno(err)
		}
		if n > 0 {
			out := make([]byte, 12*n)
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint32(out[12*i:], encodeEpollEvents(events[i].Events))
				binary.LittleEndian.PutUint32(out[12*i+4:], uint32(events[i].Fd))
				binary.LittleEndian.PutUint32(out[12*i+8:], uint32(events[i].Pad))
			}
			if e := t.put(evVA, out); e != 0 {
				return e
			}
			return int64(n)
		}
		if timeout == 0 {
			return 0
		}
		pfd := []unix.PollFd{{Fd: int32(ep.host), Events: pollIn}, {Fd: int32(t.wakeFD), Events: pollIn}}
		var ts *unix.Timespec
		if timeout > 0 {
			d := time.Until(deadline)
			if d <= 0 {
				return 0
			}
			tt := unix.NsecToTimespec(d.Nanoseconds())
			ts = &tt
		}
		t.block()
		_, err = unix.Ppoll(pfd, ts, nil)
		t.unblock()
		if err != nil && err != unix.EINTR {
			return errno(err)
		}
		if pfd[1].Revents != 0 {
			t.drainWake()
			if t.interrupted() {
				return -EINTR
			}
		}
	}
}

func msTimeout(ms int32) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

func sysEpollWait(t *Thread, a *[6]uint64) int64 {
	return t.epollWait(a[0], a[1], int(int32(a[2])), msTimeout(int32(a[3])), nil)
}

func sysEpollPwait(t *Thread, a *[6]uint64) int64 {
	var mask *uint64
	if a[4] != 0 {
		if a[5] != 8 {
			return -EINVAL
		}
		m, e := t.getU64(a[4])
		if e != 0 {
			return e
		}
		mask = &m
	}
	return t.epollWait(a[0], a[1], int(int32(a[2])), msTimeout(int32(a[3])), mask)
}

func sysEpollPwait2(t *Thread, a *[6]uint64) int64 {
	d := time.Duration(-1)
	if a[3] != 0 {
		ts, e := t.getTimespec(a[3])
		if e != 0 {
			return e
		}
		d = time.Duration(ts.Nano())
	}
	var mask *uint64
	if a[4] != 0 {
		if a[5] != 8 {
			return -EINVAL
		}
		m, e := t.getU64(a[4])
		if e != 0 {
			return e
		}
		mask = &m
	}
	return t.epollWait(a[0], a[1], int(int32(a[2])), d, mask)
}

func sysEventfd2(t *Thread, a *[6]uint64) int64 {
	flags := int(a[1])
	if flags&^(oCloexec|oNonblock|efdSemaphore) != 0 {
		return -EINVAL
	}
	hf := unix.EFD_CLOEXEC
	if flags&oNonblock != 0 {
		hf |= unix.EFD_NONBLOCK
	}
	if flags&efdSemaphore != 0 {
		hf |= unix.EFD_SEMAPHORE
	}
	fd, err := unix.Eventfd(uint(uint32(a[0])), hf)
	if err != nil {
		return errno(err)
	}
	return t.proc.addFD(&fdEntry{host: fd, cloexec: flags&oCloexec != 0, path: "anon_inode:[eventfd]", kind: kindStream}, 0)
}

func sysEventfd(t *Thread, a *[6]uint64) int64 { return sysEventfd2(t, &[6]uint64{a[0], 0}) }
