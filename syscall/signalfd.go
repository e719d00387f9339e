//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
)

// A signalfd is the read end of a host pipe. Guest signals are elfuse's,
// not the host's, so elfuse writes each signal the signalfd is for into
// the pipe as a struct signalfd_siginfo when it becomes pending while
// blocked (taking it off the pending set, as a read of the signalfd
// would); reads, poll and epoll then work on the host fd like any pipe.
//
// Differences from Linux that follow: a signal is consumed when it is
// queued into the pipe rather than when read (unblocking it afterwards
// does not deliver it, sigpending no longer shows it), standard signals
// queued into the pipe are not merged with later ones, a read shorter
// than 128 bytes returns part of a record instead of EINVAL, and a
// signalfd serves the process that created it (a forked child's copy
// reads its parent's signals).

// signalFD is one signalfd: its mask and the pipe's write end.
type signalFD struct {
	proc *Process
	mask uint64 // guarded by sigfds.mu
	w    int    // host write end, non-blocking
	ino  uint64 // the pipe's inode, which names it
}

// sigfds holds every live signalfd, by process and by pipe.
var sigfds = struct {
	mu     sync.Mutex
	byProc map[*Process][]*signalFD
	byIno  map[uint64]*signalFD
}{byProc: map[*Process][]*signalFD{}, byIno: map[uint64]*signalFD{}}

const (
	sfdNonblock      = oNonblock
	sfdCloexec       = oCloexec
	signalfdInfoSize = 128
)

func sysSignalfd4(t *Thread, a *[6]uint64) int64 {
	if a[2] != 8 {
		return -EINVAL
	}
	flags := int(a[3])
	if flags&^(sfdNonblock|sfdCloexec) != 0 {
		return -EINVAL
	}
	mask, e := t.getU64(a[1])
	if e != 0 {
		return e
	}
	mask &^= sigBit(SIGKILL) | sigBit(SIGSTOP)
	sb := t.sb
	if int32(a[0]) != -1 {
		f, e := t.fd(a[0])
		if e != 0 {
			return e
		}
		var st unix.Stat_t
		if err := unix.Fstat(f.host, &st); err != nil {
			return errno(err)
		}
		sigfds.mu.Lock()
		s := sigfds.byIno[st.Ino]
		if s != nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			s.mask = mask
		}
		sigfds.mu.Unlock()
		if s == nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return -EINVAL
		}
		sb.mu.Lock()
		sb.signalfdQueueLocked(s.proc)
		sb.mu.Unlock()
		return int64(int32(a[0]))
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return errno(err)
	}
	if flags&sfdNonblock == 0 {
		if err := unix.SetNonblock(p[0], false); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return errno(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(p[0], &st); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return errno(err)
	}
	fd := t.proc.addFD(&fdEntry{host: p[0], cloexec: flags&sfdCloexec != 0, path: "anon_inode:[signalfd]", kind: kindStream}, 0)
	if fd < 0 {
		unix.Close(p[1])
		return fd
	}
	s := &signalFD{proc: t.proc, mask: mask, w: p[1], ino: st.Ino}
	sb.mu.Lock()
	sigfds.mu.Lock()
	sigfds.byProc[t.proc] = append(sigfds.byProc[t.proc], s)
	sigfds.byIno[s.ino] = s
	sigfds.mu.Unlock()
	sb.signalfdQueueLocked(t.proc)
	sb.mu.Unlock()
	return fd
}

func sysSignalfd(t *Thread, a *[6]uint64) int64 {
	return sysSignalfd4(t, &[6]uint64{a[0], a[1], a[2], 0})
}

// signalfdQueueLocked moves p's pending signals that a signalfd of p is
// for and that no thread would take (blocked by the thread they are for,
// or by every thread) into that signalfd's pipe. sb.mu is held.
func (sb *Sandbox) signalfdQueueLocked(p *Process) {
	sigfds.mu.Lock()
	defer sigfds.mu.Unlock()
	list := sigfds.byProc[p]
	if len(list) == 0 {
		return
	}
	// Forget signalfds whose every reader is closed.
	kept := list[:0]
	for _, s := range list {
		pfd := []unix.PollFd{{Fd: int32(s.w), Events: pollOut}}
		if n, err := unix.Poll(pfd, 0); err == nil && n > 0 && pfd[0].Revents&pollErr != 0 || p.zombie {
			unix.Close(s.w)
			delete(sigfds.byIno, s.ino)
			continue
		}
		kept = append(kept, s)
	}
	if len(kept) == 0 {
		delete(sigfds.byProc, p)
		return
	}
	sigfds.byProc[p] = kept
	var any uint64
	for _, s := range kept {
		any |= s.mask
	}
	allBlocked := ^uint64(0)
	for _, th := range p.threads {
		allBlocked &= th.sigmask
		signalfdMove(&th.pending, th.pending.set&th.sigmask&any, kept)
	}
	if len(p.threads) > 0 {
		signalfdMove(&p.pending, p.pending.set&allBlocked&any, kept)
	}
}

// signalfdMove writes every pending instance of the signals in set from
// q into the first signalfd whose mask has it; a full pipe leaves the
// rest pending.
func signalfdMove(q *sigQueue, set uint64, fds []*signalFD) {
	for sig := 1; sig <= NSIG && set != 0; sig++ {
		if set&sigBit(sig) == 0 {
			continue
		}
		set &^= sigBit(sig)
		var s *signalFD
		for _, c := range fds {
			if c.mask&sigBit(sig) != 0 {
				s = c
				break
			}
		}
		if s == nil {
			continue
		}
		for q.set&sigBit(sig) != 0 {
			info, ok := q.take(sig)
			if !ok {
				break
			}
			if _, err := unix.Write(s.w, encodeSignalfdInfo(&info)); err != nil {
				q.add(sig, info)
				return
			}
		}
	}
}

// encodeSignalfdInfo lays a siginfo out as struct signalfd_siginfo.
func encodeSignalfdInfo(i *sigInfo) []byte {
	b := make([]byte, signalfdInfoSize)
	le := binary.LittleEndian
	pid, uid, value := i.pid, i.uid, i.value
	if i.raw != nil {
		// rt_sigqueueinfo's own siginfo: _rt's pid, uid and value.
		pid = int32(le.Uint32(i.raw[16:]))
		uid = int32(le.Uint32(i.raw[20:]))
		value = le.Uint64(i.raw[24:])
	}
	le.PutUint32(b[0:], uint32(i.signo))
	le.PutUint32(b[4:], uint32(i.errno))
	le.PutUint32(b[8:], uint32(i.code))
	switch {
	case i.code == siTimer:
		le.PutUint32(b[24:], uint32(i.timerID)) // ssi_tid
		le.PutUint32(b[32:], uint32(i.overrun))
		le.PutUint32(b[44:], uint32(value))
		le.PutUint64(b[48:], value)
	case i.signo == SIGCHLD:
		le.PutUint32(b[12:], uint32(pid))
		le.PutUint32(b[16:], uint32(uid))
		le.PutUint32(b[40:], uint32(i.status))
	default:
		le.PutUint32(b[12:], uint32(pid))
		le.PutUint32(b[16:], uint32(uid))
		le.PutUint32(b[44:], uint32(value))
		le.PutUint64(b[48:], value)
		le.PutUint64(b[72:], i.addr)
	}
	return b
}
