//go:build linux && amd64

package syscall

import (
	"time"

	"golang.org/x/sys/unix"
)

// flock(2). Its locks belong to open file descriptions, and a guest fd is
// a host fd (dup and fork share the description), so the host's own flock
// gives Linux semantics between guest processes and host ones alike. A
// blocking request polls the non-blocking one so that a signal can
// interrupt the wait (-ERESTARTSYS, or EINTR after a handler, as Linux).

const (
	lockSh = 1
	lockEx = 2
	lockNb = 4
	lockUn = 8
)

func sysFlock(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	op := int(a[1])
	var how int
	switch op &^ lockNb {
	case lockSh:
		how = unix.LOCK_SH
	case lockEx:
		how = unix.LOCK_EX
	case lockUn:
		how = unix.LOCK_UN
	default:
		return -EINVAL
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(f.host, how|unix.LOCK_NB)
		if err == nil {
			return 0
		}
		if err != unix.EWOULDBLOCK || op&lockNb != 0 || how == unix.LOCK_UN {
			return errno(err)
		}
		// Held elsewhere: sleep (interruptibly) and try again.
		if r := t.waitHost(-1, 0, time.Now().Add(wait)); r != -EAGAIN {
			return r
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
