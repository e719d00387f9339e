//go:build linux && amd64

package syscall

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Process attributes elfuse keeps itself: nice values (getpriority,
// setpriority: the nice of sched.go's per-thread settings), I/O
// priorities, the execution domain (personality), and what the guest may
// ask of a kernel log it does not have (syslog).

// Linux PRIO_* and IOPRIO_WHO_* selectors (the same numbers).
const (
	prioProcess = 0
	prioPgrp    = 1
	prioUser    = 2

	ioprioWhoProcess = 1
	ioprioWhoPgrp    = 2
	ioprioWhoUser    = 3
)

// Capabilities these calls (and chroot) check.
const (
	capSysChroot = 18
	capSysAdmin  = 21
	capSysNice   = 23
	capSyslog    = 34
)

// hasCap reports whether the calling process has capability c in effect.
func (t *Thread) hasCap(c uint) bool { return t.proc.cred.caps.Effective&(1<<c) != 0 }

// prioTargets returns the live threads a (which, who) pair of getpriority
// or ioprio_* selects; PRIO_* and IOPRIO_WHO_* differ only by one.
func (t *Thread) prioTargets(which, who int) ([]*Thread, int64) {
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var out []*Thread
	switch which {
	case prioProcess:
		if who == 0 {
			return []*Thread{t}, 0
		}
		if th := sb.tids[who]; th != nil && !th.proc.zombie {
			out = append(out, th)
		}
	case prioPgrp:
		if who == 0 {
			who = t.proc.pgid
		}
		for _, p := range sb.procs {
			if p.pgid == who && !p.zombie {
				for _, th := range p.threads {
					out = append(out, th)
				}
			}
		}
	case prioUser:
		uid := uint32(who)
		if who == 0 {
			uid = t.proc.cred.uid
		}
		for _, p := range sb.procs {
			if p.cred.uid == uid && !p.zombie {
				for _, th := range p.threads {
					out = append(out, th)
				}
			}
		}
	default:
		return nil, -EINVAL
	}
	if len(out) == 0 {
		return nil, -ESRCH
	}
	return out, 0
}

// mayRenice is Linux's check that the caller may change th's priorities:
// same user (the caller's effective id against th's real or effective
// one), or CAP_SYS_NICE.
func (t *Thread) mayRenice(th *Thread) bool {
	c := t.proc.cred
	return th.proc.cred.uid == c.euid || th.proc.cred.euid == c.euid || t.hasCap(capSysNice)
}

// getpriority returns 20-nice (Linux's raw encoding, 1..40) of the best
// (lowest nice) selected thread; the C library turns it back into a nice.
func sysGetpriority(t *Thread, a *[6]uint64) int64 {
	ths, e := t.prioTargets(int(int32(a[0])), int(int32(a[1])))
	if e != 0 {
		return e
	}
	best := int64(0)
	for _, th := range ths {
		best = max(best, int64(20-schedGet(th).nice))
	}
	return best
}

// setpriority clamps the nice to -20..19; lowering it needs CAP_SYS_NICE
// or RLIMIT_NICE room (EACCES), touching another user's thread needs
// CAP_SYS_NICE (EPERM).
func sysSetpriority(t *Thread, a *[6]uint64) int64 {
	ths, e := t.prioTargets(int(int32(a[0])), int(int32(a[1])))
	if e != 0 {
		return e
	}
	nice := min(max(int(int32(a[2])), -20), 19)
	ret := int64(0)
	for _, th := range ths {
		if !t.mayRenice(th) {
			ret = -EPERM
			continue
		}
		cur := schedGet(th)
		if nice < cur.nice && !t.hasCap(capSysNice) && uint64(20-nice) > t.proc.rlimit(unix.RLIMIT_NICE).Cur {
			ret = -EACCES
			continue
		}
		cur.nice = nice
		schedSet(th, cur)
	}
	return ret
}

// I/O priorities: class in the top 3 of 16 bits, data below.
const (
	ioprioClassShift = 13
	ioprioClassNone  = 0
	ioprioClassRT    = 1
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
	ioprioDefault    = ioprioClassBE<<ioprioClassShift | 4 // IOPRIO_DEFAULT: best effort, level 4
)

// ioprios are the I/O priorities threads set, by thread; a thread not in
// it has none (class NONE, which Linux reports as 0).
var ioprios = struct {
	mu sync.Mutex
	m  map[*Thread]int
}{m: map[*Thread]int{}}

func ioprioOf(th *Thread) int {
	ioprios.mu.Lock()
	defer ioprios.mu.Unlock()
	return ioprios.m[th]
}

// ioprioBest is Linux's ioprio_best: no class counts as the default, and
// the lower value wins.
func ioprioBest(a, b int) int {
	if a>>ioprioClassShift == ioprioClassNone {
		a = ioprioDefault
	}
	if b>>ioprioClassShift == ioprioClassNone {
		b = ioprioDefault
	}
	return min(a, b)
}

func sysIoprioGet(t *Thread, a *[6]uint64) int64 {
	if which := int32(a[0]); which < ioprioWhoProcess || which > ioprioWhoUser {
		return -EINVAL
	}
	ths, e := t.prioTargets(int(int32(a[0]))-1, int(int32(a[1])))
	if e != 0 {
		return e
	}
	ret := -1
	for _, th := range ths {
		v := ioprioOf(th)
		if ret < 0 {
			ret = v
		} else {
			ret = ioprioBest(ret, v)
		}
	}
	return int64(ret)
}

// ioprio_set checks the class and level (the low 3 bits of the data; the
// hint bits above them pass) and keeps the 16-bit value, as Linux does.
func sysIoprioSet(t *Thread, a *[6]uint64) int64 {
	v := int(uint16(a[2]))
	switch class, level := int(a[2]>>ioprioClassShift&7), v&7; class {
	case ioprioClassRT:
		if !t.hasCap(capSysNice) && !t.hasCap(capSysAdmin) {
			return -EPERM
		}
	case ioprioClassBE, ioprioClassIdle:
	case ioprioClassNone:
		if level != 0 {
			return -EINVAL
		}
	default:
		return -EINVAL
	}
	if which := int32(a[0]); which < ioprioWhoProcess || which > ioprioWhoUser {
		return -EINVAL
	}
	ths, e := t.prioTargets(int(int32(a[0]))-1, int(int32(a[1])))
	if e != 0 {
		return e
	}
	ioprios.mu.Lock()
	defer ioprios.mu.Unlock()
	for th := range ioprios.m {
		if th.proc.exiting.Load() {
			delete(ioprios.m, th) // forget threads that are gone
		}
	}
	for _, th := range ths {
		if !t.mayRenice(th) {
			return -EPERM
		}
		ioprios.m[th] = v
	}
	return 0
}

// personalities are the execution domains processes set. A process not
// in it has its parent's as it was at the fork (setting one pins the
// children's first), or PER_LINUX (0).
var personalities = struct {
	mu sync.Mutex
	m  map[*Process]uint32
}{m: map[*Process]uint32{}}

// personalityOf looks p's personality up; sb.mu and personalities.mu are
// held.
func personalityOf(p *Process) uint32 {
	for q := p; q != nil; q = q.parent {
		if v, ok := personalities.m[q]; ok {
			return v
		}
	}
	return 0
}

// personality(persona): 0xffffffff asks, anything else sets (Linux takes
// any value); either returns the old one. elfuse records it: the flags
// that change address-space layout or uname are not applied.
func sysPersonality(t *Thread, a *[6]uint64) int64 {
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	personalities.mu.Lock()
	defer personalities.mu.Unlock()
	old := personalityOf(t.proc)
	if persona := uint32(a[0]); persona != 0xffffffff {
		for p := range personalities.m {
			if p.zombie {
				delete(personalities.m, p)
			}
		}
		for _, c := range t.proc.children {
			if _, ok := personalities.m[c]; !ok {
				personalities.m[c] = old
			}
		}
		personalities.m[t.proc] = persona
	}
	return int64(old)
}

// syslog actions.
const (
	syslogClose       = 0
	syslogOpen        = 1
	syslogRead        = 2
	syslogReadAll     = 3
	syslogReadClear   = 4
	syslogClear       = 5
	syslogConsoleOff  = 6
	syslogConsoleOn   = 7
	syslogConsoleLvl  = 8
	syslogSizeUnread  = 9
	syslogSizeBuffer  = 10
	syslogDefaultSize = 1 << 17
)

// syslog(type, buf, len): a sandbox has no kernel log. As Linux with
// dmesg_restrict set, only SYSLOG_ACTION_SIZE_BUFFER is open to all; the
// rest needs CAP_SYSLOG (or CAP_SYS_ADMIN) and sees an empty log.
func sysSyslog(t *Thread, a *[6]uint64) int64 {
	typ, buf, n := int(int32(a[0])), a[1], int(int32(a[2]))
	if typ < syslogClose || typ > syslogSizeBuffer {
		return -EINVAL
	}
	if typ != syslogSizeBuffer && !t.hasCap(capSyslog) && !t.hasCap(capSysAdmin) {
		return -EPERM
	}
	switch typ {
	case syslogRead, syslogReadAll, syslogReadClear:
		if buf == 0 || n < 0 {
			return -EINVAL
		}
		if n == 0 || typ != syslogRead {
			return 0
		}
		// Nothing will ever be logged: wait as Linux would, until a signal.
		for {
			if r := t.waitHost(-1, 0, time.Time{}); r != -EAGAIN {
				return r
			}
		}
	case syslogConsoleLvl:
		if n < 1 || n > 8 {
			return -EINVAL
		}
	case syslogSizeBuffer:
		if size, err := unix.Klogctl(syslogSizeBuffer, nil); err == nil {
			return int64(size)
		}
		return syslogDefaultSize
	}
	return 0
}

// get_robust_list(pid, head_ptr, len_ptr): the head a thread registered
// with set_robust_list, and the size of struct robust_list_head.
func sysGetRobustList(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		if e == -EINVAL {
			return -ESRCH
		}
		return e
	}
	if th != t && !t.mayRenice(th) {
		return -EPERM
	}
	if e := t.putU64(a[1], th.robust); e != 0 {
		return e
	}
	return t.putU64(a[2], 24)
}
