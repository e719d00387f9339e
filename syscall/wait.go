//go:build linux && amd64

package syscall

import "encoding/binary"

// wait options.
const (
	wNohang    = 1
	wUntraced  = 2
	wStopped   = 2
	wExited    = 4
	wContinued = 8
	wNowait    = 0x01000000
	wNothread  = 0x20000000
	wAll       = 0x40000000
	wClone     = 0x80000000
	pAll       = 0
	pPID       = 1
	pPGID      = 2
)

// waitResult is what a wait found.
type waitResult struct {
	pid, status int
	uid         uint32
}

// waitFor waits for a child matching sel to change state as opts asks;
// it returns the child's pid and wait status, 0 for WNOHANG with nothing
// ready, or -errno.
func (t *Thread) waitFor(sel func(*Process) bool, opts int, reap bool) (waitResult, int64) {
	sb, p := t.sb, t.proc
	for {
		sb.mu.Lock()
		found := false
		for _, c := range p.children {
			if !sel(c) {
				continue
			}
			if opts&wClone != 0 && opts&wAll == 0 && c.exitSignal == SIGCHLD || opts&(wClone|wAll) == 0 && c.exitSignal != SIGCHLD {
				continue
			}
			found = true
			switch {
			case c.zombie && opts&wExited != 0:
				r := waitResult{c.pid, c.status, c.cred.uid}
				if reap {
					delete(p.children, c.pid)
					delete(sb.procs, c.pid)
				}
				sb.mu.Unlock()
				return r, 0
			case c.event&0xff == 0x7f && opts&wStopped != 0:
				r := waitResult{c.pid, c.event, c.cred.uid}
				if reap {
					c.event = 0
				}
				sb.mu.Unlock()
				return r, 0
			case c.event == 0xffff && opts&wContinued != 0:
				r := waitResult{c.pid, c.event, c.cred.uid}
				if reap {
					c.event = 0
				}
				sb.mu.Unlock()
				return r, 0
			}
		}
		if !found || opts&wNohang != 0 {
			sb.mu.Unlock()
			if !found {
				return waitResult{}, -ECHILD
			}
			return waitResult{}, 0
		}
		sb.waiters[t] = struct{}{} // before the lock goes: no change is missed
		sb.mu.Unlock()
		if !t.interrupted() {
			t.block()
			t.parker.park(nil)
			t.unblock()
		}
		sb.mu.Lock()
		delete(sb.waiters, t)
		sb.mu.Unlock()
		if t.interrupted() {
			return waitResult{}, -ERESTARTSYS
		}
	}
}

func sysWait4(t *Thread, a *[6]uint64) int64 {
	pid, opts := int(int32(a[0])), int(a[2])
	if opts&^(wNohang|wUntraced|wContinued|wNothread|wAll|wClone) != 0 {
		return -EINVAL
	}
	pgid := t.proc.pgid
	sel := func(c *Process) bool {
		switch {
		case pid > 0:
			return c.pid == pid
		case pid == 0:
			return c.pgid == pgid
		case pid < -1:
			return c.pgid == -pid
		}
		return true
	}
	r, e := t.waitFor(sel, opts|wExited, true)
	if e != 0 || r.pid == 0 {
		return e
	}
	if a[1] != 0 {
		if e := t.putU32(a[1], uint32(r.status)); e != 0 {
			return e
		}
	}
	if a[3] != 0 {
		if e := t.put(a[3], make([]byte, 144)); e != 0 {
			return e
		}
	}
	return int64(r.pid)
}

func sysWaitid(t *Thread, a *[6]uint64) int64 {
	idtype, id, opts := int(a[0]), int(int32(a[1])), int(a[3])
	if opts&^(wNohang|wStopped|wExited|wContinued|wNowait|wNothread|wAll|wClone) != 0 || opts&(wStopped|wExited|wContinued) == 0 {
		return -EINVAL
	}
	var sel func(*Process) bool
	switch idtype {
	case pAll:
		sel = func(*Process) bool { return true }
	case pPID:
		if id <= 0 {
			return -EINVAL
		}
		sel = func(c *Process) bool { return c.pid == id }
	case pPIDFD:
		f, e := t.fd(uint64(id))
		if e != 0 {
			return e
		}
		if f.pidfd == nil {
			return -EBADF
		}
		target := f.pidfd
		sel = func(c *Process) bool { return c == target }
	case pPGID:
		if id < 0 {
			return -EINVAL
		}
		if id == 0 {
			id = t.proc.pgid
		}
		sel = func(c *Process) bool { return c.pgid == id }
	default:
		return -EINVAL
	}
	r, e := t.waitFor(sel, opts, opts&wNowait == 0)
	if e != 0 {
		return e
	}
	if a[2] != 0 {
		info := make([]byte, 128)
		if r.pid != 0 {
			code, status := childCode(r.status)
			le := binary.LittleEndian
			le.PutUint32(info[0:], SIGCHLD)
			le.PutUint32(info[8:], uint32(code))
			le.PutUint32(info[16:], uint32(r.pid))
			le.PutUint32(info[20:], r.uid)
			le.PutUint32(info[24:], uint32(status))
		}
		if e := t.put(a[2], info); e != 0 {
			return e
		}
	}
	if a[4] != 0 {
		if e := t.put(a[4], make([]byte, 144)); e != 0 {
			return e
		}
	}
	return 0
}
