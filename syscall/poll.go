//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// Linux poll event bits (the same values on a Linux host).
const (
	pollIn   = 0x1
	pollPri  = 0x2
	pollOut  = 0x4
	pollErr  = 0x8
	pollHup  = 0x10
	pollNval = 0x20
)

// pollBits pairs Linux poll event bits with the host's.
var pollBits = []struct{ linux, host int16 }{
	{pollIn, unix.POLLIN}, {pollPri, unix.POLLPRI}, {pollOut, unix.POLLOUT}, {pollErr, unix.POLLERR},
	{pollHup, unix.POLLHUP}, {pollNval, unix.POLLNVAL},
	// x/sys names the rest for epoll only; a Linux host's poll bits are
	// its epoll bits.
	{0x40, unix.EPOLLRDNORM}, {0x80, unix.EPOLLRDBAND}, {0x100, unix.EPOLLWRNORM},
	{0x200, unix.EPOLLWRBAND}, {0x400, unix.EPOLLMSG}, {0x2000, unix.EPOLLRDHUP},
}

// convertPollBits turns Linux poll bits into the host's (decode), or the
// host's into Linux's.
func convertPollBits(v int16, decode bool) int16 {
	var out int16
	for _, b := range pollBits {
		from, to := b.host, b.linux
		if decode {
			from, to = b.linux, b.host
		}
		if v&from != 0 {
			out |= to
		}
	}
	return out
}

// pollHost polls guest fds; timeout < 0 waits for ever. It returns the
// guest revents per entry.
func (t *Thread) pollHost(fds []int32, events []int16, timeout time.Duration) ([]int16, int64) {
	pfds := make([]unix.PollFd, len(fds))
	rev := make([]int16, len(fds))
	for i, fd := range fds {
		pfds[i].Fd = -1
		if fd < 0 {
			continue
		}
		e := t.proc.fds.get(int(fd))
		if e == nil {
			rev[i] = pollNval
			continue
		}
		pfds[i].Fd = int32(e.host)
		pfds[i].Events = convertPollBits(events[i], true)
	}
	for _, r := range rev {
		if r != 0 {
			timeout = 0
			break
		}
	}
	deadline := time.Now().Add(timeout)
	// The thread's wake-up fd rides along so a signal ends the wait.
	pfds = append(pfds, unix.PollFd{Fd: int32(t.wakeFD), Events: pollIn})
	for {
		var ts *unix.Timespec
		if timeout >= 0 {
			d := time.Until(deadline)
			if d < 0 {
				d = 0
			}
			tt := unix.NsecToTimespec(d.Nanoseconds())
			ts = &tt
		}
		t.block()
		n, err := unix.Ppoll(pfds, ts, nil)
		t.unblock()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, errno(err)
		}
		if w := &pfds[len(pfds)-1]; w.Revents != 0 {
			t.drainWake()
			w.Revents = 0
			n--
			if n == 0 {
				if t.interrupted() {
					return nil, -ERESTARTNOHAND
				}
				continue
			}
		}
		break
	}
	pfds = pfds[:len(pfds)-1]
	for i := range pfds {
		if pfds[i].Fd >= 0 {
			rev[i] = convertPollBits(pfds[i].Revents, false)
		}
	}
	return rev, 0
}

func (t *Thread) poll(fdsVA, n uint64, timeout time.Duration) int64 {
	if n > 1<<16 {
		return -EINVAL
	}
	raw := make([]byte, n*8)
	if e := t.get(fdsVA, raw); e != 0 {
		return e
	}
	fds := make([]int32, n)
	ev := make([]int16, n)
	for i := range fds {
		fds[i] = int32(binary.LittleEndian.Uint32(raw[8*i:]))
		ev[i] = int16(binary.LittleEndian.Uint16(raw[8*i+4:]))
	}
	rev, e := t.pollHost(fds, ev, timeout)
	if e != 0 {
		return e
	}
	count := int64(0)
	for i, r := range rev {
		binary.LittleEndian.PutUint16(raw[8*i+6:], uint16(r))
		if r != 0 {
			count++
		}
	}
	if e := t.put(fdsVA, raw); e != 0 {
		return e
	}
	return count
}

func sysPoll(t *Thread, a *[6]uint64) int64 {
	ms := int32(a[2])
	d := time.Duration(-1)
	if ms >= 0 {
		d = time.Duration(ms) * time.Millisecond
	}
	return t.poll(a[0], a[1], d)
}

func sysPpoll(t *Thread, a *[6]uint64) int64 {
	d := time.Duration(-1)
	if a[2] != 0 {
		ts, e := t.getTimespec(a[2])
		if e != 0 {
			return e
		}
		d = time.Duration(ts.Nano())
	}
	if e := t.tempSigmask(a[3], a[4]); e != 0 {
		return e
	}
	return t.poll(a[0], a[1], d)
}

// tempSigmask installs the signal mask at va (of size bytes; va 0: none)
// for the rest of a ppoll or pselect6, as Linux does: the caller's mask
// comes back when the call returns, after the handler of a signal it let
// in.
func (t *Thread) tempSigmask(va, size uint64) int64 {
	if va == 0 {
		return 0
	}
	if size != 8 {
		return -EINVAL
	}
	mask, e := t.getU64(va)
	if e != 0 {
		return e
	}
	t.sb.mu.Lock()
	old := t.sigmask
	t.sb.mu.Unlock()
	t.setMask(mask)
	t.savedMask, t.hasSaved = old, true
	return 0
}

func (t *Thread) selectFDs(n int, rVA, wVA, xVA uint64, timeout time.Duration) int64 {
	if n < 0 || n > 1<<16 {
		return -EINVAL
	}
	words := (n + 63) / 64
	sets := [3][]uint64{}
	for k, va := range []uint64{rVA, wVA, xVA} {
		if va == 0 {
			continue
		}
		b := make([]byte, words*8)
		if e := t.get(va, b); e != 0 {
			return e
		}
		sets[k] = make([]uint64, words)
		for i := range sets[k] {
			sets[k][i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	var fds []int32
	var ev []int16
	for fd := 0; fd < n; fd++ {
		var e int16
		if sets[0] != nil && sets[0][fd/64]&(1<<(fd%64)) != 0 {
			e |= pollIn
		}
		if sets[1] != nil && sets[1][fd/64]&(1<<(fd%64)) != 0 {
			e |= pollOut
		}
		if sets[2] != nil && sets[2][fd/64]&(1<<(fd%64)) != 0 {
			e |= pollPri
		}
		if e != 0 {
			if t.proc.fds.get(fd) == nil {
				return -EBADF
			}
			fds = append(fds, int32(fd))
			ev = append(ev, e)
		}
	}
	rev, e := t.pollHost(fds, ev, timeout)
	if e != 0 {
		return e
	}
	out := [3][]uint64{make([]uint64, words), make([]uint64, words), make([]uint64, words)}
	count := int64(0)
	for i, fd := range fds {
		r := rev[i]
		if ev[i]&pollIn != 0 && r&(pollIn|pollHup|pollErr) != 0 {
			out[0][fd/64] |= 1 << (fd % 64)
			count++
		}
		if ev[i]&pollOut != 0 && r&(pollOut|pollErr) != 0 {
			out[1][fd/64] |= 1 << (fd % 64)
			count++
		}
		if ev[i]&pollPri != 0 && r&pollPri != 0 {
			out[2][fd/64] |= 1 << (fd % 64)
			count++
		}
	}
	for k, va := range []uint64{rVA, wVA, xVA} {
		if va == 0 {
			continue
		}
		b := make([]byte, words*8)
		for i, w := range out[k] {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		if e := t.put(va, b); e != 0 {
			return e
		}
	}
	return count
}

func sysSelect(t *Thread, a *[6]uint64) int64 {
	d := time.Duration(-1)
	if a[4] != 0 {
		var b [16]byte
		if e := t.get(a[4], b[:]); e != 0 {
			return e
		}
		sec, usec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
		if sec < 0 || usec < 0 || usec >= 1e6 {
			return -EINVAL
		}
		d = time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
	}
	return t.selectFDs(int(int32(a[0])), a[1], a[2], a[3], d)
}

func sysPselect6(t *Thread, a *[6]uint64) int64 {
	d := time.Duration(-1)
	if a[4] != 0 {
		ts, e := t.getTimespec(a[4])
		if e != 0 {
			return e
		}
		d = time.Duration(ts.Nano())
	}
	if a[5] != 0 {
		// struct { const sigset_t *ss; size_t ss_len; }
		ss, e := t.getU64(a[5])
		if e != 0 {
			return e
		}
		n, e := t.getU64(a[5] + 8)
		if e != 0 {
			return e
		}
		if e := t.tempSigmask(ss, n); e != 0 {
			return e
		}
	}
	return t.selectFDs(int(int32(a[0])), a[1], a[2], a[3], d)
}

// waitHost waits until host fd is ready for events, or until deadline
// (zero: no deadline). It returns 0 when the fd is ready, -EAGAIN when
// the deadline passed and -ERESTARTSYS when a signal is to be acted on.
func (t *Thread) waitHost(fd int, events int16, deadline time.Time) int64 {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}, {Fd: int32(t.wakeFD), Events: pollIn}}
	for {
		var ts *unix.Timespec
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return -EAGAIN
			}
			tv := unix.NsecToTimespec(d.Nanoseconds())
			ts = &tv
		}
		pfd[0].Revents, pfd[1].Revents = 0, 0
		t.block()
		_, err := unix.Ppoll(pfd, ts, nil)
		t.unblock()
		if err != nil && err != unix.EINTR {
			return errno(err)
		}
		if pfd[1].Revents != 0 {
			t.drainWake()
			if t.interrupted() {
				return -ERESTARTSYS
			}
		}
		if pfd[0].Revents != 0 {
			return 0
		}
	}
}
