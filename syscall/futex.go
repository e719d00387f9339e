//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// futexKey names a futex word: a private futex (or one in private memory)
// by address space and address; a futex in shared memory by where its
// bytes are in guest memory (as nil), so that every process mapping the
// page finds the same queue.
type futexKey struct {
	as   *mm.AddressSpace
	addr uint64
	// A shared futex in a file's pages is the file's (dev, ino) and the
	// word's offset in it (addr), whoever maps it and where.
	dev, ino uint64
}

// futexSleep is one waiting thread; it may wait on several words
// (futex_waitv). Guarded by futexes.mu.
type futexSleep struct {
	t     *Thread
	ch    chan struct{} // closed when woken
	woken bool
	index int // the entry that was woken
}

// futexWaiter is one queue entry of a sleep.
type futexWaiter struct {
	s      *futexSleep
	key    futexKey // changed by requeue
	bitset uint32
	index  int
}

// futexes holds the waiters of every futex word of a sandbox.
type futexes struct {
	mu sync.Mutex
	q  map[futexKey][]*futexWaiter
}

// futexKeyFor finds the key of the futex word at addr in p's memory.
func futexKeyFor(as *mm.AddressSpace, addr uint64, private bool) (futexKey, int64) {
	if addr%4 != 0 {
		return futexKey{}, -EINVAL
	}
	if !private {
		if v := as.Find(addr); v != nil && v.Shared {
			if v.File != nil {
				var st unix.Stat_t
				if fd := v.File.HostFD(); fd >= 0 && unix.Fstat(fd, &st) == nil {
					return futexKey{addr: v.Offset + (addr - v.Start), dev: st.Dev, ino: st.Ino}, 0
				}
			}
			// Shared anonymous memory (inherited across fork) is the same
			// frames in every process: the word's host address names it.
			b, err := as.Slices(addr, 4, false, nil)
			if err != nil || len(b) != 1 || len(b[0]) != 4 {
				return futexKey{}, -EFAULT
			}
			return futexKey{addr: uint64(uintptr(unsafe.Pointer(&b[0][0])))}, 0
		}
	}
	return futexKey{as: as, addr: addr}, 0
}

// futexWake wakes up to n waiters of (p's memory, addr).
func (sb *Sandbox) futexWake(p *Process, addr uint64, n int) int {
	k, e := futexKeyFor(p.as, addr, false)
	if e != 0 {
		return 0
	}
	return sb.futex.wake(k, n, ^uint32(0))
}

// wakeLocked wakes up to n waiters of k whose bitset meets bitset;
// f.mu is held.
func (f *futexes) wakeLocked(k futexKey, n int, bitset uint32) int {
	woken := 0
	ws := f.q[k]
	kept := ws[:0]
	for _, w := range ws {
		if w.s.woken {
			continue // woken through another word of a futex_waitv
		}
		if woken < n && w.bitset&bitset != 0 {
			w.s.woken, w.s.index = true, w.index
			close(w.s.ch)
			woken++
			continue
		}
		kept = append(kept, w)
	}
	f.setQueue(k, kept)
	return woken
}

func (f *futexes) setQueue(k futexKey, ws []*futexWaiter) {
	if len(ws) == 0 {
		delete(f.q, k)
	} else {
		f.q[k] = ws
	}
}

func (f *futexes) wake(k futexKey, n int, bitset uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(k, n, bitset)
}

// requeue wakes up to nWake waiters of k1 and moves up to nMove of the
// rest to k2; with cmp it first checks that k1's word (at va in as)
// holds val.
func (f *futexes) requeue(as *mm.AddressSpace, va uint64, k1, k2 futexKey, nWake, nMove int, cmp bool, val uint32) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cmp {
		cur, e := readFutexWord(as, va)
		if e != 0 {
			return e
		}
		if cur != val {
			return -EAGAIN
		}
	}
	woken := f.wakeLocked(k1, nWake, ^uint32(0))
	moved := 0
	if k1 != k2 {
		ws := f.q[k1]
		kept := ws[:0]
		for _, w := range ws {
			if moved < nMove && !w.s.woken {
				w.key = k2
				f.q[k2] = append(f.q[k2], w)
				moved++
				continue
			}
			kept = append(kept, w)
		}
		f.setQueue(k1, kept)
	} else {
		moved = min(nMove, len(f.q[k1]))
	}
	return int64(woken + moved)
}

// readFutexWord reads the 32-bit word at va.
func readFutexWord(as *mm.AddressSpace, va uint64) (uint32, int64) {
	var cur [4]byte
	if err := as.Read(va, cur[:]); err != nil {
		return 0, -EFAULT
	}
	return binary.LittleEndian.Uint32(cur[:]), 0
}

// futexWait is one word a thread waits on.
type futexWait struct {
	as     *mm.AddressSpace
	va     uint64
	key    futexKey
	val    uint32
	bitset uint32
}

// wait sleeps on every word in ws if each still holds its value; it
// returns the index of the word woken, -EAGAIN if a value differed,
// -ETIMEDOUT or -ERESTARTSYS.
func (f *futexes) wait(t *Thread, ws []futexWait, deadline time.Time) int64 {
	s := &futexSleep{t: t, ch: make(chan struct{})}
	entries := make([]*futexWaiter, len(ws))
	f.mu.Lock()
	for i, w := range ws {
		cur, e := readFutexWord(w.as, w.va)
		if e == 0 && cur != w.val {
			e = -EAGAIN
		}
		if e != 0 {
			f.removeLocked(entries[:i])
			f.mu.Unlock()
			return e
		}
		if f.q == nil {
			f.q = map[futexKey][]*futexWaiter{}
		}
		entries[i] = &futexWaiter{s: s, key: w.key, bitset: w.bitset, index: i}
		f.q[w.key] = append(f.q[w.key], entries[i])
	}
	f.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	ret := int64(0)
	t.block()
wait:
	for {
		select {
		case <-s.ch:
			break wait
		case <-timeout:
			ret = -ETIMEDOUT
			break wait
		case <-t.intr:
			if t.interrupted() {
				ret = -ERESTARTSYS
				break wait
			}
		}
	}
	t.unblock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeLocked(entries)
	if s.woken {
		// A wake that came first wins over the timeout or the signal.
		return int64(s.index)
	}
	return ret
}

// removeLocked takes entries off their queues; f.mu is held.
func (f *futexes) removeLocked(entries []*futexWaiter) {
	for _, w := range entries {
		ws := f.q[w.key]
		for i, x := range ws {
			if x == w {
				f.setQueue(w.key, append(ws[:i:i], ws[i+1:]...))
				break
			}
		}
	}
}

const ETIMEDOUT = 110

// futex(2) operations and flags.
const (
	futexWaitOp        = 0
	futexWakeOpCode    = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivate       = 128
	futexClockRealtime = 256
	futexBitsetAny     = ^uint32(0)

	futexOpOpargShift = 8
	futex2SizeMask    = 3
	futex2SizeU32     = 2
	futex2Private     = futexPrivate
	futexWaitvMax     = 128
	futexWaitvSize    = 24
)

// futexDeadline turns a timeout at va into a deadline: relative, or
// absolute on CLOCK_REALTIME or CLOCK_MONOTONIC. A zero va is no
// timeout.
func (t *Thread) futexDeadline(va uint64, abs, realtime bool) (time.Time, int64) {
	if va == 0 {
		return time.Time{}, 0
	}
	ts, e := t.getTimespec(va)
	if e != 0 {
		return time.Time{}, e
	}
	if ts.Sec > math.MaxInt64/int64(time.Second)-1 {
		return time.Time{}, 0 // beyond any wait
	}
	switch {
	case !abs:
		return time.Now().Add(time.Duration(ts.Nano())), 0
	case realtime:
		return time.Unix(ts.Sec, ts.Nsec), 0
	default:
		return time.Now().Add(time.Duration(ts.Nano() - clockNS(clockMonotonic))), 0
	}
}

func sysFutex(t *Thread, a *[6]uint64) int64 {
	addr, op, val := a[0], int(a[1]), uint32(a[2])
	private := op&futexPrivate != 0
	cmd := op &^ (futexPrivate | futexClockRealtime)
	realtime := op&futexClockRealtime != 0
	if realtime && cmd != futexWaitOp && cmd != futexWaitBitset {
		return -ENOSYS
	}
	as := t.proc.as
	k, e := futexKeyFor(as, addr, private)
	if e != 0 {
		return e
	}
	switch cmd {
	case futexWaitOp, futexWaitBitset:
		bitset := futexBitsetAny
		if cmd == futexWaitBitset {
			bitset = uint32(a[5])
			if bitset == 0 {
				return -EINVAL
			}
		}
		deadline, e := t.futexDeadline(a[3], cmd == futexWaitBitset, realtime)
		if e != 0 {
			return e
		}
		r := t.sb.futex.wait(t, []futexWait{{as: as, va: addr, key: k, val: val, bitset: bitset}}, deadline)
		if r > 0 {
			r = 0
		}
		return r
	case futexWakeOpCode, futexWakeBitset:
		bitset := futexBitsetAny
		if cmd == futexWakeBitset {
			bitset = uint32(a[5])
			if bitset == 0 {
				return -EINVAL
			}
		}
		return int64(t.sb.futex.wake(k, int(int32(val)), bitset))
	case futexRequeue, futexCmpRequeue:
		nWake, nMove := int(int32(val)), int(int32(a[3]))
		if nWake < 0 || nMove < 0 {
			return -EINVAL
		}
		k2, e := futexKeyFor(as, a[4], private)
		if e != 0 {
			return e
		}
		return t.sb.futex.requeue(as, addr, k, k2, nWake, nMove, cmd == futexCmpRequeue, uint32(a[5]))
	case futexWakeOp:
		k2, e := futexKeyFor(as, a[4], private)
		if e != 0 {
			return e
		}
		return t.futexWakeOp(k, k2, a[4], int(int32(val)), int(int32(a[3])), uint32(a[5]))
	}
	return -ENOSYS
}

// futexWakeOp applies the operation encoded in op to the word at va2
// (atomically against the guest's own atomics), wakes n waiters of k1,
// and n2 of k2 if the old value meets the encoded comparison.
func (t *Thread) futexWakeOp(k1, k2 futexKey, va2 uint64, n, n2 int, op uint32) int64 {
	code, cmp := op>>28&7, op>>24&0xf
	oparg := int32(op<<8) >> 20
	cmparg := int32(op<<20) >> 20
	if op>>28&futexOpOpargShift != 0 {
		if oparg < 0 || oparg > 31 {
			oparg &= 31
		}
		oparg = 1 << oparg
	}
	if code > 4 || cmp > 5 {
		return -ENOSYS
	}
	b, err := t.proc.as.Slices(va2, 4, true, nil)
	if err != nil || len(b) != 1 || len(b[0]) != 4 {
		return -EFAULT
	}
	word := (*uint32)(unsafe.Pointer(&b[0][0]))
	f := &t.sb.futex
	f.mu.Lock()
	defer f.mu.Unlock()
	var old int32
	for {
		old = int32(atomic.LoadUint32(word))
		var nv int32
		switch code {
		case 0: // FUTEX_OP_SET
			nv = oparg
		case 1: // FUTEX_OP_ADD
			nv = old + oparg
		case 2: // FUTEX_OP_OR
			nv = old | oparg
		case 3: // FUTEX_OP_ANDN
			nv = old &^ oparg
		case 4: // FUTEX_OP_XOR
			nv = old ^ oparg
		}
		if atomic.CompareAndSwapUint32(word, uint32(old), uint32(nv)) {
			break
		}
	}
	woken := f.wakeLocked(k1, n, futexBitsetAny)
	var ok bool
	switch cmp {
	case 0:
		ok = old == cmparg
	case 1:
		ok = old != cmparg
	case 2:
		ok = old < cmparg
	case 3:
		ok = old <= cmparg
	case 4:
		ok = old > cmparg
	case 5:
		ok = old >= cmparg
	}
	if ok {
		woken += f.wakeLocked(k2, n2, futexBitsetAny)
	}
	return int64(woken)
}

// futex2Key checks futex2 flags (32-bit words only) and finds the key.
func (t *Thread) futex2Key(addr uint64, flags uint64) (futexKey, int64) {
	if flags&^(futex2SizeMask|futex2Private) != 0 || flags&futex2SizeMask != futex2SizeU32 {
		return futexKey{}, -EINVAL
	}
	return futexKeyFor(t.proc.as, addr, flags&futex2Private != 0)
}

// futex2Clock checks a futex2 call's clock for an absolute timeout.
func futex2Clock(c uint64) (realtime bool, e int64) {
	switch c {
	case clockMonotonic:
		return false, 0
	case clockRealtime:
		return true, 0
	}
	return false, -EINVAL
}

func sysFutexWaitv(t *Thread, a *[6]uint64) int64 {
	va, n, flags := a[0], a[1], a[2]
	if flags != 0 || n == 0 || n > futexWaitvMax {
		return -EINVAL
	}
	var deadline time.Time
	if a[3] != 0 {
		rt, e := futex2Clock(a[4])
		if e != 0 {
			return e
		}
		if deadline, e = t.futexDeadline(a[3], true, rt); e != 0 {
			return e
		}
	}
	raw := make([]byte, n*futexWaitvSize)
	if e := t.get(va, raw); e != 0 {
		return e
	}
	le := binary.LittleEndian
	ws := make([]futexWait, n)
	for i := range ws {
		r := raw[i*futexWaitvSize:]
		val, addr, fl, reserved := le.Uint64(r[0:]), le.Uint64(r[8:]), le.Uint32(r[16:]), le.Uint32(r[20:])
		if reserved != 0 || val>>32 != 0 {
			return -EINVAL
		}
		k, e := t.futex2Key(addr, uint64(fl))
		if e != 0 {
			return e
		}
		ws[i] = futexWait{as: t.proc.as, va: addr, key: k, val: uint32(val), bitset: futexBitsetAny}
	}
	return t.sb.futex.wait(t, ws, deadline)
}

func sysFutexWake(t *Thread, a *[6]uint64) int64 {
	k, e := t.futex2Key(a[0], a[3])
	if e != 0 {
		return e
	}
	mask := uint32(a[1])
	if mask == 0 {
		return -EINVAL
	}
	return int64(t.sb.futex.wake(k, int(min(a[2], math.MaxInt32)), mask))
}

func sysFutexWait(t *Thread, a *[6]uint64) int64 {
	k, e := t.futex2Key(a[0], a[3])
	if e != 0 {
		return e
	}
	mask := uint32(a[2])
	if mask == 0 || a[1]>>32 != 0 {
		return -EINVAL
	}
	var deadline time.Time
	if a[4] != 0 {
		rt, e := futex2Clock(a[5])
		if e != 0 {
			return e
		}
		if deadline, e = t.futexDeadline(a[4], true, rt); e != 0 {
			return e
		}
	}
	r := t.sb.futex.wait(t, []futexWait{{as: t.proc.as, va: a[0], key: k, val: uint32(a[1]), bitset: mask}}, deadline)
	if r > 0 {
		r = 0
	}
	return r
}

func sysFutexRequeue(t *Thread, a *[6]uint64) int64 {
	if a[1] != 0 {
		return -EINVAL
	}
	raw := make([]byte, 2*futexWaitvSize)
	if e := t.get(a[0], raw); e != 0 {
		return e
	}
	le := binary.LittleEndian
	var keys [2]futexKey
	for i := range keys {
		r := raw[i*futexWaitvSize:]
		if le.Uint32(r[20:]) != 0 {
			return -EINVAL
		}
		k, e := t.futex2Key(le.Uint64(r[8:]), uint64(le.Uint32(r[16:])))
		if e != 0 {
			return e
		}
		keys[i] = k
	}
	nWake, nMove := int(int32(a[2])), int(int32(a[3]))
	if nWake < 0 || nMove < 0 {
		return -EINVAL
	}
	return t.sb.futex.requeue(t.proc.as, le.Uint64(raw[8:]), keys[0], keys[1], nWake, nMove, true, uint32(le.Uint64(raw[0:])))
}
