//go:build linux && amd64

package syscall

import (
	"sync"
	"time"

	"github.com/elfuse/elfuse/mm"
)

// futexKey names a futex word: private futexes by address space and
// address.
type futexKey struct {
	as   *mm.AddressSpace
	addr uint64
}

type futexWaiter struct {
	t      *Thread
	bitset uint32
	woken  bool
	ch     chan struct{}
}

// futexes holds the waiters of every futex word of a sandbox.
type futexes struct {
	mu sync.Mutex
	q  map[futexKey][]*futexWaiter
}

// futexWake wakes up to n waiters of (p's memory, addr).
func (sb *Sandbox) futexWake(p *Process, addr uint64, n int) int {
	return sb.futex.wake(futexKey{p.as, addr}, n, ^uint32(0))
}

func (f *futexes) wake(k futexKey, n int, bitset uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	woken := 0
	ws := f.q[k]
	kept := ws[:0]
	for _, w := range ws {
		if woken < n && w.bitset&bitset != 0 {
			w.woken = true
			close(w.ch)
			woken++
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(f.q, k)
	} else {
		f.q[k] = kept
	}
	return woken
}

// wait sleeps on k if the word still holds val; it returns 0 when woken,
// -EAGAIN if the value differed, -ETIMEDOUT or -ERESTARTSYS.
func (f *futexes) wait(t *Thread, k futexKey, val uint32, bitset uint32, deadline time.Time) int64 {
	f.mu.Lock()
	var cur [4]byte
	if err := k.as.Read(k.addr, cur[:]); err != nil {
		f.mu.Unlock()
		return -EFAULT
	}
	if uint32(cur[0])|uint32(cur[1])<<8|uint32(cur[2])<<16|uint32(cur[3])<<24 != val {
		f.mu.Unlock()
		return -EAGAIN
	}
	if f.q == nil {
		f.q = map[futexKey][]*futexWaiter{}
	}
	w := &futexWaiter{t: t, bitset: bitset, ch: make(chan struct{})}
	f.q[k] = append(f.q[k], w)
	f.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		select {
		case <-w.ch:
			return 0
		case <-timeout:
			if f.remove(k, w) {
				return -ETIMEDOUT
			}
			return 0
		case <-t.intr:
			if t.interrupted() {
				if f.remove(k, w) {
					return -ERESTARTSYS
				}
				return 0
			}
		}
	}
}

// remove takes w off k's queue; false if a wake got it first.
func (f *futexes) remove(k futexKey, w *futexWaiter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.woken {
		return false
	}
	ws := f.q[k]
	for i, x := range ws {
		if x == w {
			f.q[k] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	return true
}

const ETIMEDOUT = 110

// futex(2) operations.
const (
	futexWait          = 0
	futexWakeOp        = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivate       = 128
	futexClockRealtime = 256
)

func sysFutex(t *Thread, a *[6]uint64) int64 {
	addr, op, val := a[0], int(a[1]), uint32(a[2])
	if addr%4 != 0 {
		return -EINVAL
	}
	k := futexKey{t.proc.as, addr}
	cmd := op &^ (futexPrivate | futexClockRealtime)
	switch cmd {
	case futexWait, futexWaitBitset:
		bitset := ^uint32(0)
		if cmd == futexWaitBitset {
			bitset = uint32(a[5])
			if bitset == 0 {
				return -EINVAL
			}
		}
		var deadline time.Time
		if a[3] != 0 {
			ts, e := t.getTimespec(a[3])
			if e != 0 {
				return e
			}
			if cmd == futexWait {
				deadline = time.Now().Add(time.Duration(ts.Nano()))
			} else if op&futexClockRealtime != 0 {
				deadline = time.Unix(ts.Sec, ts.Nsec)
			} else {
				deadline = time.Now().Add(time.Duration(ts.Nano() - clockNS(1)))
			}
		}
		return t.sb.futex.wait(t, k, val, bitset, deadline)
	case futexWakeOp + 0: // FUTEX_WAKE is 1
		return int64(t.sb.futex.wake(k, int(val), ^uint32(0)))
	case futexWakeBitset:
		if uint32(a[5]) == 0 {
			return -EINVAL
		}
		return int64(t.sb.futex.wake(k, int(val), uint32(a[5])))
	}
	return -ENOSYS
}
