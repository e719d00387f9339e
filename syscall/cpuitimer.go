//go:build linux && amd64

package syscall

import (
	"time"

	"golang.org/x/sys/unix"
)

// ITIMER_VIRTUAL and ITIMER_PROF: interval timers on the process's CPU
// time (user time, and user plus system time), which send SIGVTALRM and
// SIGPROF. A guest thread's CPU time is that of the OS thread running its
// vCPU (guest code counts as its user time), so the timer is a watcher
// that reads the process's threads' host CPU clocks and fires when the
// sum passes the deadline.

const (
	itimerVirtual = 1
	itimerProf    = 2
	SIGVTALRM     = 26
	SIGPROF       = 27
	cpuClockProf  = 0 // CPUCLOCK_PROF: user and system time
	cpuClockVirt  = 1 // CPUCLOCK_VIRT: user time
)

// cpuTimer is one armed CPU-time interval timer (sb.mu).
type cpuTimer struct {
	deadline time.Duration // process CPU time at which it fires
	interval time.Duration
	stop     chan struct{}
}

// processCPU is p's CPU time on clock which (CPUCLOCK_PROF or _VIRT):
// the sum over its threads.
func (sb *Sandbox) processCPU(p *Process, which int32) time.Duration {
	sb.mu.Lock()
	ids := make([]int32, 0, len(p.threads))
	for _, th := range p.threads {
		if id := th.ostid.Load(); id != 0 {
			ids = append(ids, id)
		}
	}
	sb.mu.Unlock()
	var sum time.Duration
	for _, id := range ids {
		var ts unix.Timespec
		if unix.ClockGettime(^id<<3|4|which, &ts) == nil {
			sum += time.Duration(ts.Nano())
		}
	}
	return sum
}

// setCPUTimer arms (value 0: disarms) p's timer kind and returns what was
// left of the old one and its interval.
func (t *Thread) setCPUTimer(kind int, value, interval time.Duration) (left, oldInterval time.Duration) {
	sb, p := t.sb, t.proc
	which, sig := int32(cpuClockVirt), SIGVTALRM
	if kind == itimerProf {
		which, sig = cpuClockProf, SIGPROF
	}
	now := sb.processCPU(p, which)
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if old := p.cpuTimers[kind-1]; old != nil {
		left, oldInterval = max(old.deadline-now, time.Microsecond), old.interval
		close(old.stop)
		p.cpuTimers[kind-1] = nil
	}
	if value <= 0 {
		return left, oldInterval
	}
	ct := &cpuTimer{deadline: now + value, interval: interval, stop: make(chan struct{})}
	p.cpuTimers[kind-1] = ct
	go sb.watchCPUTimer(p, ct, which, sig)
	return left, oldInterval
}

// cpuTimerLeft is what is left of p's timer kind, and its interval.
func (t *Thread) cpuTimerLeft(kind int) (left, interval time.Duration) {
	sb, p := t.sb, t.proc
	which := int32(cpuClockVirt)
	if kind == itimerProf {
		which = cpuClockProf
	}
	now := sb.processCPU(p, which)
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if ct := p.cpuTimers[kind-1]; ct != nil {
		return max(ct.deadline-now, time.Microsecond), ct.interval
	}
	return 0, 0
}

// watchCPUTimer fires ct when p's CPU time passes its deadline, until it
// is disarmed or p ends. CPU time passes no faster than wall time per
// thread, so it sleeps the time left, spread over the threads, up to 10 ms.
func (sb *Sandbox) watchCPUTimer(p *Process, ct *cpuTimer, which int32, sig int) {
	for {
		now := sb.processCPU(p, which)
		sb.mu.Lock()
		if p.cpuTimers[ct.index(p)] != ct || p.zombie || p.exiting.Load() {
			sb.mu.Unlock()
			return
		}
		if now >= ct.deadline {
			sb.sendLocked(p, nil, sig, sigInfo{code: siKernel})
			if ct.interval <= 0 {
				p.cpuTimers[ct.index(p)] = nil
				sb.mu.Unlock()
				return
			}
			ct.deadline = now + ct.interval
		}
		wait := (ct.deadline - now) / time.Duration(max(len(p.threads), 1))
		sb.mu.Unlock()
		select {
		case <-ct.stop:
			return
		case <-sb.done:
			return
		case <-time.After(min(max(wait, 100*time.Microsecond), 10*time.Millisecond)):
		}
	}
}

// index is the slot of p.cpuTimers ct is in (sb.mu).
func (ct *cpuTimer) index(p *Process) int {
	if p.cpuTimers[1] == ct {
		return 1
	}
	return 0
}
