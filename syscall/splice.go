//go:build linux && amd64

package syscall

import "golang.org/x/sys/unix"

// splice(2), tee(2) and vmsplice(2). Guest fds are host fds, so splice and
// tee are the host's own calls; they differ only in where they block. A
// call that would block (SPLICE_F_NONBLOCK clear and the fd in blocking
// mode) first waits, interruptibly, until its input is readable and its
// output writable, as read and write do (streamIO).

const (
	spliceFMove     = 1
	spliceFNonblock = 2
	spliceFMore     = 4
	spliceFGift     = 8
	spliceFAll      = spliceFMove | spliceFNonblock | spliceFMore | spliceFGift
)

// spliceWait waits until f is ready for events when a splice on it would
// block: f is a pipe, socket or terminal in blocking mode and the call
// does not ask for SPLICE_F_NONBLOCK.
func (t *Thread) spliceWait(f *fdEntry, events int16, flags int) int64 {
	if flags&spliceFNonblock != 0 || !f.mayBlock() {
		return 0
	}
	fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK != 0 {
		return 0
	}
	return t.waitFD(f.host, events)
}

func sysSplice(t *Thread, a *[6]uint64) int64 {
	in, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	out, e := t.fd(a[2])
	if e != 0 {
		return e
	}
	n, flags := int(min(a[4], 0x7ffff000)), int(a[5])
	if flags&^spliceFAll != 0 {
		return -EINVAL
	}
	inOff, e := t.optOffset(a[1])
	if e != 0 {
		return e
	}
	outOff, e := t.optOffset(a[3])
	if e != 0 {
		return e
	}
	if n == 0 {
		return 0
	}
	if e := t.spliceWait(in, pollIn, flags); e != 0 {
		return e
	}
	if e := t.spliceWait(out, pollOut, flags); e != 0 {
		return e
	}
	m, err := unix.Splice(in.host, inOff, out.host, outOff, n, flags)
	if err != nil {
		if err == unix.EPIPE {
			t.raiseSIGPIPE()
		}
		return errno(err)
	}
	if e := t.putOffset(a[1], inOff); e != 0 {
		return e
	}
	if e := t.putOffset(a[3], outOff); e != 0 {
		return e
	}
	return m
}

func sysTee(t *Thread, a *[6]uint64) int64 {
	in, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	out, e := t.fd(a[1])
	if e != 0 {
		return e
	}
	n, flags := int(min(a[2], 0x7ffff000)), int(a[3])
	if flags&^spliceFAll != 0 {
		return -EINVAL
	}
	if n == 0 {
		return 0
	}
	if e := t.spliceWait(in, pollIn, flags); e != 0 {
		return e
	}
	if e := t.spliceWait(out, pollOut, flags); e != 0 {
		return e
	}
	m, err := unix.Tee(in.host, out.host, n, flags)
	if err != nil {
		return errno(err)
	}
	return m
}

// vmsplice(fd, iov, nr_segs, flags): guest memory is not host memory the
// host kernel could map into a pipe, so the data is copied: into the pipe
// when fd is its write end, out of it when fd is its read end, exactly as
// writev and readv would (SPLICE_F_GIFT is a hint and is ignored).
func sysVmsplice(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	flags := int(a[3])
	if flags&^spliceFAll != 0 {
		return -EINVAL
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.host, &st); err != nil {
		return errno(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return -EBADF
	}
	fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
	if err != nil {
		return errno(err)
	}
	write := fl&unix.O_ACCMODE != unix.O_RDONLY
	bufs, e := t.iovecs(a[1], a[2], !write)
	if e != 0 {
		return e
	}
	events := int16(pollIn)
	if write {
		events = pollOut
	}
	if e := t.spliceWait(f, events, flags); e != 0 {
		return e
	}
	if write {
		ret := writev(f.host, bufs, 0, false)
		if ret == -EPIPE {
			t.raiseSIGPIPE()
		}
		return ret
	}
	return readv(f.host, bufs, 0, false)
}
