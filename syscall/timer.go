//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// POSIX timers (timer_create and friends) are elfuse's own: each is a Go
// timer that queues its signal on the guest process, or on one of its
// threads for SIGEV_THREAD_ID. They end with the process and at execve
// (the address space they were made in is gone).

// Linux sigevent notify values and the sigevent layout.
const (
	sigevSignal    = 0
	sigevNone      = 1
	sigevThread    = 2
	sigevThreadID  = 4
	sigeventSize   = 64
	timerMax       = 1 << 15 // timers per process
	sigRTMax       = NSIG
	maxTimerPeriod = 1 << 62 // nanoseconds; longer reads as never
)

// posixTimer is one timer; all but id are guarded by sb.mu.
type posixTimer struct {
	id       int32
	proc     *Process
	as       *mm.AddressSpace // the address space it belongs to
	clock    int32
	notify   int
	signo    int
	value    uint64
	tid      int // SIGEV_THREAD_ID target
	interval time.Duration
	next     time.Time // when it fires next; zero when disarmed
	gen      uint64    // bumped at each arm/disarm: stale fires do nothing
	tm       *time.Timer
	overrun  int32
}

// procTimers holds every process's timers. The map is guarded by
// timersMu, taken inside the sandbox's mu, which guards the timers.
var (
	timersMu   sync.Mutex
	procTimers = map[*Process]map[int32]*posixTimer{}
)

// timersOf returns p's timers (nil if none); sb.mu is held.
func timersOf(p *Process, create bool) map[int32]*posixTimer {
	timersMu.Lock()
	defer timersMu.Unlock()
	ts := procTimers[p]
	if ts == nil && create {
		ts = map[int32]*posixTimer{}
		procTimers[p] = ts
	}
	return ts
}

// timerClockOK reports whether timer_create accepts a Linux clock id;
// CPU-time clocks are not kept by elfuse.
func timerClockOK(c int32) bool {
	switch c {
	case clockRealtime, clockMonotonic, clockBoottime, clockRealtimeAlarm, clockBoottimeAlarm, clockTAI:
		return true
	}
	return false
}

func sysTimerCreate(t *Thread, a *[6]uint64) int64 {
	clock := int32(a[0])
	if !timerClockOK(clock) {
		if clock == clockProcessCPU || clock == clockThreadCPU || clock < 0 {
			return -EOPNOTSUPP
		}
		return -EINVAL
	}
	tm := &posixTimer{proc: t.proc, as: t.proc.as, clock: clock, notify: sigevSignal, signo: SIGALRM}
	valueIsID := true
	if a[1] != 0 {
		var b [sigeventSize]byte
		if e := t.get(a[1], b[:]); e != 0 {
			return e
		}
		le := binary.LittleEndian
		tm.value = le.Uint64(b[0:])
		tm.signo = int(int32(le.Uint32(b[8:])))
		tm.notify = int(int32(le.Uint32(b[12:])))
		valueIsID = false
		switch tm.notify {
		case sigevSignal | sigevThreadID:
			tm.tid = int(int32(le.Uint32(b[16:])))
			fallthrough
		case sigevSignal, sigevThread:
			if tm.signo <= 0 || tm.signo > sigRTMax {
				return -EINVAL
			}
		case sigevNone:
		default:
			return -EINVAL
		}
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if tm.notify == sigevSignal|sigevThreadID {
		th := sb.tids[tm.tid]
		if th == nil || th.proc != t.proc {
			return -EINVAL
		}
	}
	sb.sweepTimersLocked()
	ts := timersOf(t.proc, true)
	id := int32(-1)
	for i := int32(0); i < timerMax; i++ {
		if ts[i] == nil {
			id = i
			break
		}
	}
	if id < 0 {
		return -EAGAIN
	}
	tm.id = id
	if valueIsID {
		tm.value = uint64(id)
	}
	if e := t.putU32(a[2], uint32(id)); e != 0 {
		return e
	}
	ts[id] = tm
	return 0
}

// sweepTimersLocked drops the timers of sb's processes that ended or
// replaced their memory (execve); sb.mu is held.
func (sb *Sandbox) sweepTimersLocked() {
	timersMu.Lock()
	defer timersMu.Unlock()
	for p, ts := range procTimers {
		if p.sb != sb {
			continue
		}
		for id, tm := range ts {
			if p.zombie || p.exiting.Load() || tm.as != p.as {
				tm.stop()
				delete(ts, id)
			}
		}
		if len(ts) == 0 {
			delete(procTimers, p)
		}
	}
}

// timerOfLocked finds the caller's timer id; sb.mu is held.
func (t *Thread) timerOfLocked(id uint64) *posixTimer {
	ts := timersOf(t.proc, false)
	if ts == nil {
		return nil
	}
	tm := ts[int32(id)]
	if tm == nil || tm.as != t.proc.as {
		return nil
	}
	return tm
}

func (tm *posixTimer) stop() {
	tm.gen++
	if tm.tm != nil {
		tm.tm.Stop()
		tm.tm = nil
	}
	tm.next = time.Time{}
}

// arm starts the timer to fire after d, then every interval; sb.mu is
// held.
func (tm *posixTimer) armLocked(sb *Sandbox, d, interval time.Duration) {
	tm.stop()
	tm.interval = interval
	if d <= 0 {
		d = 1 // an expiry in the past fires at once
	}
	tm.next = time.Now().Add(d)
	gen := tm.gen
	tm.tm = time.AfterFunc(d, func() { sb.fireTimer(tm, gen) })
}

// fireTimer is one expiry of tm.
func (sb *Sandbox) fireTimer(tm *posixTimer, gen uint64) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if tm.gen != gen {
		return
	}
	p := tm.proc
	if p.zombie || p.exiting.Load() || tm.as != p.as {
		tm.stop()
		if ts := timersOf(p, false); ts != nil && ts[tm.id] == tm {
			delete(ts, tm.id)
		}
		return
	}
	missed := int32(0)
	if tm.interval > 0 {
		now := time.Now()
		tm.next = tm.next.Add(tm.interval)
		if late := now.Sub(tm.next); late >= 0 {
			// Expiries that passed while this one was late.
			n := int64(late/tm.interval) + 1
			missed = int32(min(n, 1<<30))
			tm.next = tm.next.Add(time.Duration(n) * tm.interval)
		}
		tm.tm = time.AfterFunc(time.Until(tm.next), func() { sb.fireTimer(tm, gen) })
	} else {
		tm.next = time.Time{}
		tm.tm = nil
	}
	if tm.notify == sigevNone {
		return
	}
	var th *Thread
	q := &p.pending
	if tm.notify&sigevThreadID != 0 {
		if th = sb.tids[tm.tid]; th == nil || th.proc != p {
			return
		}
		q = &th.pending
	}
	// A signal of this timer still queued counts the expiry as an
	// overrun instead of queuing another.
	for i := range q.infos {
		if in := &q.infos[i]; in.code == siTimer && in.timerID == tm.id && int(in.signo) == tm.signo {
			in.overrun = min(in.overrun+1+missed, 1<<30)
			tm.overrun = in.overrun
			return
		}
	}
	tm.overrun = missed
	info := sigInfo{code: siTimer, timerID: tm.id, overrun: missed, value: tm.value}
	if th == nil {
		sb.sendLocked(p, nil, tm.signo, info)
		return
	}
	// Thread-directed (SIGEV_THREAD_ID): on that thread's own queue.
	info.signo = int32(tm.signo)
	blocked := th.sigmask&sigBit(tm.signo) != 0
	if !blocked && p.ignored(tm.signo) {
		return
	}
	th.pending.add(tm.signo, info)
	if blocked {
		sb.signalfdQueueLocked(p)
	} else {
		th.wake()
	}
}

// clockNow reads a Linux clock on the host, in nanoseconds.
func clockNow(c int32) int64 {
	switch c {
	case clockRealtime, clockRealtimeAlarm:
		return clockNS(unix.CLOCK_REALTIME)
	case clockBoottime, clockBoottimeAlarm:
		return clockNS(unix.CLOCK_BOOTTIME)
	case clockTAI:
		return clockNS(unix.CLOCK_TAI)
	}
	return clockNS(unix.CLOCK_MONOTONIC)
}

// tsDuration converts a checked timespec, capping what would overflow.
func tsDuration(ts unix.Timespec) time.Duration {
	if ts.Sec >= maxTimerPeriod/int64(time.Second) {
		return maxTimerPeriod
	}
	return time.Duration(ts.Nano())
}

// remainingLocked is the itimerspec timer_gettime reports; sb.mu is held.
func (tm *posixTimer) remainingLocked() unix.ItimerSpec {
	var its unix.ItimerSpec
	its.Interval = unix.NsecToTimespec(int64(tm.interval))
	if !tm.next.IsZero() {
		left := max(time.Until(tm.next), 1)
		its.Value = unix.NsecToTimespec(int64(left))
	}
	return its
}

func sysTimerSettime(t *Thread, a *[6]uint64) int64 {
	if a[1]&^timerAbstime != 0 {
		return -EINVAL
	}
	its, e := t.getItimerspec(a[2])
	if e != 0 {
		return e
	}
	sb := t.sb
	sb.mu.Lock()
	tm := t.timerOfLocked(a[0])
	if tm == nil {
		sb.mu.Unlock()
		return -EINVAL
	}
	old := tm.remainingLocked()
	if its.Value.Sec == 0 && its.Value.Nsec == 0 {
		tm.stop()
		tm.interval = 0
	} else {
		d := tsDuration(its.Value)
		if a[1]&timerAbstime != 0 {
			d = time.Duration(its.Value.Nano() - clockNow(tm.clock))
		}
		tm.armLocked(sb, d, tsDuration(its.Interval))
	}
	tm.overrun = 0
	sb.mu.Unlock()
	if a[3] != 0 {
		return t.putItimerspec(a[3], old)
	}
	return 0
}

func sysTimerGettime(t *Thread, a *[6]uint64) int64 {
	sb := t.sb
	sb.mu.Lock()
	tm := t.timerOfLocked(a[0])
	if tm == nil {
		sb.mu.Unlock()
		return -EINVAL
	}
	cur := tm.remainingLocked()
	sb.mu.Unlock()
	return t.putItimerspec(a[1], cur)
}

func sysTimerGetoverrun(t *Thread, a *[6]uint64) int64 {
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	tm := t.timerOfLocked(a[0])
	if tm == nil {
		return -EINVAL
	}
	return int64(tm.overrun)
}

func sysTimerDelete(t *Thread, a *[6]uint64) int64 {
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	tm := t.timerOfLocked(a[0])
	if tm == nil {
		return -EINVAL
	}
	tm.stop()
	delete(timersOf(t.proc, false), tm.id)
	return 0
}
