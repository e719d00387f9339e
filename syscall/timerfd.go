//go:build linux && amd64

package syscall

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// timerfds are the host's: the guest's clocks are the host's clocks (the
// vDSO is calibrated to them), so an absolute expiry means the same on
// both sides, and reads, poll and epoll work on the host fd.

// Linux clock ids and timerfd flags.
const (
	clockRealtime      = 0
	clockMonotonic     = 1
	clockProcessCPU    = 2
	clockThreadCPU     = 3
	clockBoottime      = 7
	clockRealtimeAlarm = 8
	clockBoottimeAlarm = 9
	clockTAI           = 11

	tfdTimerAbstime      = 1
	tfdTimerCancelOnSet  = 2
	timerAbstime         = 1
	itimerspecSize       = 32
	maxTimespecSeconds   = 1<<63/1e9 - 1
	timerfdCreateFlagSet = oCloexec | oNonblock
)

// hostTimerfdClock maps a Linux clock id timerfd_create accepts.
func hostTimerfdClock(c int32) (int, bool) {
	switch c {
	case clockRealtime:
		return unix.CLOCK_REALTIME, true
	case clockMonotonic:
		return unix.CLOCK_MONOTONIC, true
	case clockBoottime:
		return unix.CLOCK_BOOTTIME, true
	case clockRealtimeAlarm:
		return unix.CLOCK_REALTIME_ALARM, true
	case clockBoottimeAlarm:
		return unix.CLOCK_BOOTTIME_ALARM, true
	}
	return 0, false
}

func sysTimerfdCreate(t *Thread, a *[6]uint64) int64 {
	flags := int(a[1])
	if flags&^timerfdCreateFlagSet != 0 {
		return -EINVAL
	}
	clock, ok := hostTimerfdClock(int32(a[0]))
	if !ok {
		return -EINVAL
	}
	hf := unix.TFD_CLOEXEC
	if flags&oNonblock != 0 {
		hf |= unix.TFD_NONBLOCK
	}
	fd, err := unix.TimerfdCreate(clock, hf)
	if err != nil {
		return errno(err)
	}
	return t.proc.addFD(&fdEntry{host: fd, cloexec: flags&oCloexec != 0, path: "anon_inode:[timerfd]", kind: kindStream}, 0)
}

// getItimerspec reads a struct itimerspec (interval, then value),
// checking both timespecs.
func (t *Thread) getItimerspec(va uint64) (unix.ItimerSpec, int64) {
	var b [itimerspecSize]byte
	if e := t.get(va, b[:]); e != 0 {
		return unix.ItimerSpec{}, e
	}
	le := binary.LittleEndian
	its := unix.ItimerSpec{
		Interval: unix.Timespec{Sec: int64(le.Uint64(b[0:])), Nsec: int64(le.Uint64(b[8:]))},
		Value:    unix.Timespec{Sec: int64(le.Uint64(b[16:])), Nsec: int64(le.Uint64(b[24:]))},
	}
	for _, ts := range []unix.Timespec{its.Interval, its.Value} {
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return its, -EINVAL
		}
	}
	return its, 0
}

// putItimerspec writes a struct itimerspec.
func (t *Thread) putItimerspec(va uint64, its unix.ItimerSpec) int64 {
	var b [itimerspecSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(its.Interval.Sec))
	le.PutUint64(b[8:], uint64(its.Interval.Nsec))
	le.PutUint64(b[16:], uint64(its.Value.Sec))
	le.PutUint64(b[24:], uint64(its.Value.Nsec))
	return t.put(va, b[:])
}

func sysTimerfdSettime(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	flags := int(a[1])
	if flags&^(tfdTimerAbstime|tfdTimerCancelOnSet) != 0 {
		return -EINVAL
	}
	hf := 0
	if flags&tfdTimerAbstime != 0 {
		hf |= unix.TFD_TIMER_ABSTIME
	}
	if flags&tfdTimerCancelOnSet != 0 {
		hf |= unix.TFD_TIMER_CANCEL_ON_SET
	}
	its, e := t.getItimerspec(a[2])
	if e != 0 {
		return e
	}
	var old unix.ItimerSpec
	if err := unix.TimerfdSettime(f.host, hf, &its, &old); err != nil {
		return errno(err)
	}
	if a[3] != 0 {
		return t.putItimerspec(a[3], old)
	}
	return 0
}

func sysTimerfdGettime(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var cur unix.ItimerSpec
	if err := unix.TimerfdGettime(f.host, &cur); err != nil {
		return errno(err)
	}
	return t.putItimerspec(a[1], cur)
}
