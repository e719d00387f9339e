//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Scheduling. Every guest thread is a host thread, but real-time
// policies are not the container's to set on the host: elfuse keeps each
// thread's policy, priority and nice value itself, checks them as Linux
// does, and reports them back. CPU affinity is the host's for the calling
// thread.

// Linux scheduling policies.
const (
	schedOther         = 0
	schedFIFO          = 1
	schedRR            = 2
	schedBatch         = 3
	schedIdle          = 5
	schedDeadline      = 6
	schedResetOnFork   = 0x40000000
	schedAttrSize      = 56 // SCHED_ATTR_SIZE_VER1
	schedAttrSizeVer0  = 48
	schedRRIntervalNS  = 100 * 1000 * 1000
	schedFlagResetFork = 0x01
)

// schedState is one thread's scheduling settings.
type schedState struct {
	policy, prio int
	nice         int
	resetOnFork  bool
}

// schedStates holds the settings of threads that changed them, by
// process and tid; threads not in it run SCHED_OTHER at nice 0.
var schedStates = struct {
	mu sync.Mutex
	m  map[*Process]map[int]schedState
}{m: map[*Process]map[int]schedState{}}

// schedTarget finds the thread a sched_* pid names (0: the caller).
func (t *Thread) schedTarget(pid uint64) (*Thread, int64) {
	id := int(int32(pid))
	if id < 0 {
		return nil, -EINVAL
	}
	if id == 0 || id == t.tid {
		return t, 0
	}
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	th := t.sb.tids[id]
	if th == nil || th.proc.zombie {
		return nil, -ESRCH
	}
	return th, 0
}

func schedGet(th *Thread) schedState {
	schedStates.mu.Lock()
	defer schedStates.mu.Unlock()
	return schedStates.m[th.proc][th.tid]
}

func schedSet(th *Thread, s schedState) {
	schedStates.mu.Lock()
	defer schedStates.mu.Unlock()
	// Forget processes that are gone.
	for p := range schedStates.m {
		if p.exiting.Load() {
			delete(schedStates.m, p)
		}
	}
	ts := schedStates.m[th.proc]
	if ts == nil {
		ts = map[int]schedState{}
		schedStates.m[th.proc] = ts
	}
	ts[th.tid] = s
}

// priorityRange is sched_get_priority_min/max for a policy.
func priorityRange(policy int) (lo, hi int, ok bool) {
	switch policy {
	case schedFIFO, schedRR:
		return 1, 99, true
	case schedOther, schedBatch, schedIdle, schedDeadline:
		return 0, 0, true
	}
	return 0, 0, false
}

// setSched checks and applies a policy and priority to th.
func (t *Thread) setSched(th *Thread, policy, prio int, nice *int) int64 {
	reset := policy&schedResetOnFork != 0
	policy &^= schedResetOnFork
	lo, hi, ok := priorityRange(policy)
	if !ok || policy == schedDeadline {
		return -EINVAL
	}
	if prio < lo || prio > hi {
		return -EINVAL
	}
	cur := schedGet(th)
	privileged := t.proc.cred.euid == 0
	if !privileged {
		// Unprivileged threads may not raise themselves to a real-time
		// policy beyond RLIMIT_RTPRIO (0 by default).
		if (policy == schedFIFO || policy == schedRR) && uint64(prio) > t.proc.rlimit(unix.RLIMIT_RTPRIO).Cur {
			return -EPERM
		}
		if th.proc.cred.uid != t.proc.cred.euid && th.proc.cred.euid != t.proc.cred.euid {
			return -EPERM
		}
	}
	n := cur.nice
	if nice != nil {
		if *nice < -20 || *nice > 19 {
			return -EINVAL
		}
		if *nice < cur.nice && !privileged {
			return -EPERM
		}
		n = *nice
	}
	schedSet(th, schedState{policy: policy, prio: prio, nice: n, resetOnFork: reset})
	return 0
}

func sysSchedSetscheduler(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	if a[2] == 0 {
		return -EINVAL
	}
	var b [4]byte
	if e := t.get(a[2], b[:]); e != 0 {
		return e
	}
	return t.setSched(th, int(int32(a[1])), int(int32(binary.LittleEndian.Uint32(b[:]))), nil)
}

func sysSchedSetparam(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	if a[1] == 0 {
		return -EINVAL
	}
	var b [4]byte
	if e := t.get(a[1], b[:]); e != 0 {
		return e
	}
	cur := schedGet(th)
	pol := cur.policy
	if cur.resetOnFork {
		pol |= schedResetOnFork
	}
	return t.setSched(th, pol, int(int32(binary.LittleEndian.Uint32(b[:]))), nil)
}

func sysSchedGetscheduler(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	s := schedGet(th)
	if s.resetOnFork {
		return int64(s.policy | schedResetOnFork)
	}
	return int64(s.policy)
}

func sysSchedGetparam(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	if a[1] == 0 {
		return -EINVAL
	}
	return t.putU32(a[1], uint32(schedGet(th).prio))
}

func sysSchedGetPriorityMax(t *Thread, a *[6]uint64) int64 {
	_, hi, ok := priorityRange(int(int32(a[0])))
	if !ok {
		return -EINVAL
	}
	return int64(hi)
}

func sysSchedGetPriorityMin(t *Thread, a *[6]uint64) int64 {
	lo, _, ok := priorityRange(int(int32(a[0])))
	if !ok {
		return -EINVAL
	}
	return int64(lo)
}

func sysSchedRrGetInterval(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	var ns int64
	if schedGet(th).policy == schedRR {
		ns = schedRRIntervalNS
	}
	return t.putTimespec(a[1], unix.NsecToTimespec(ns))
}

func sysSchedSetattr(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	if a[2] != 0 || a[1] == 0 {
		return -EINVAL
	}
	var sz [4]byte
	if e := t.get(a[1], sz[:]); e != 0 {
		return e
	}
	size := binary.LittleEndian.Uint32(sz[:])
	if size == 0 {
		size = schedAttrSizeVer0
	}
	if size < schedAttrSizeVer0 || size > 4096 {
		t.putU32(a[1], schedAttrSize)
		return -E2BIG
	}
	b := make([]byte, size)
	if e := t.get(a[1], b); e != 0 {
		return e
	}
	for _, c := range b[min(size, schedAttrSize):] {
		if c != 0 {
			t.putU32(a[1], schedAttrSize)
			return -E2BIG
		}
	}
	le := binary.LittleEndian
	policy, flags := int(le.Uint32(b[4:])), le.Uint64(b[8:])
	nice, prio := int(int32(le.Uint32(b[16:]))), int(le.Uint32(b[20:]))
	if flags&^schedFlagResetFork != 0 {
		return -EINVAL
	}
	if flags&schedFlagResetFork != 0 {
		policy |= schedResetOnFork
	}
	return t.setSched(th, policy, prio, &nice)
}

func sysSchedGetattr(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	size := a[2]
	if a[1] == 0 || a[3] != 0 || size < schedAttrSizeVer0 || size > 4096 {
		return -EINVAL
	}
	s := schedGet(th)
	b := make([]byte, schedAttrSize)
	le := binary.LittleEndian
	n := min(size, schedAttrSize)
	le.PutUint32(b[0:], uint32(n))
	le.PutUint32(b[4:], uint32(s.policy))
	if s.resetOnFork {
		le.PutUint64(b[8:], schedFlagResetFork)
	}
	le.PutUint32(b[16:], uint32(int32(s.nice)))
	le.PutUint32(b[20:], uint32(s.prio))
	// A utilization clamp range of everything, as Linux reports it.
	le.PutUint32(b[52:], 1024)
	return t.put(a[1], b[:n])
}

func sysSchedSetaffinity(t *Thread, a *[6]uint64) int64 {
	th, e := t.schedTarget(a[0])
	if e != 0 {
		return e
	}
	n := min(a[1], 1024/8)
	b := make([]byte, n)
	if e := t.get(a[2], b); e != 0 {
		return e
	}
	var set unix.CPUSet
	for i := 0; i < len(b)*8 && i < len(set)*64; i++ {
		if b[i/8]&(1<<(i%8)) != 0 {
			set.Set(i)
		}
	}
	if set.Count() == 0 {
		return -EINVAL
	}
	// Only CPUs the sandbox may use count.
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err == nil {
		for i := range set {
			set[i] &= allowed[i]
		}
		if set.Count() == 0 {
			return -EINVAL
		}
	}
	if th != t {
		// Another thread's host thread is its own vCPU's: elfuse cannot
		// reach it from here, and the mask is advisory for a guest.
		return 0
	}
	return errno(unix.SchedSetaffinity(0, &set))
}

// membarrier(2) commands.
const (
	mbQuery                     = 0
	mbGlobal                    = 1
	mbGlobalExpedited           = 2
	mbRegisterGlobalExpedited   = 4
	mbPrivateExpedited          = 8
	mbRegisterPrivateExpedited  = 16
	mbPrivateExpeditedSyncCore  = 32
	mbRegisterPrivSyncCore      = 64
	mbGetRegistrations          = 512
	mbSupported                 = mbGlobal | mbGlobalExpedited | mbRegisterGlobalExpedited | mbPrivateExpedited | mbRegisterPrivateExpedited | mbPrivateExpeditedSyncCore | mbRegisterPrivSyncCore | mbGetRegistrations
	mbHostPrivateExpedited      = 8
	mbHostRegisterPrivExpedited = 16
)

// membarriers holds each process's membarrier registrations.
var membarriers = struct {
	mu   sync.Mutex
	regs map[*Process]uint64
	host bool // this host process registered for private expedited
}{regs: map[*Process]uint64{}}

// hostMembarrier runs a host membarrier command.
func hostMembarrier(cmd int) error {
	_, _, en := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	if en != 0 {
		return en
	}
	return nil
}

// sysMembarrier orders memory across the process's threads. Guest threads
// are threads of this host process on their vCPUs: the host's private
// expedited membarrier interrupts every CPU running one (leaving the guest
// is a full barrier), which is what the guest asks for.
func sysMembarrier(t *Thread, a *[6]uint64) int64 {
	cmd, flags := int(a[0]), a[1]
	if cmd != mbQuery && flags != 0 {
		return -EINVAL
	}
	mb := &membarriers
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for p := range mb.regs {
		if p.exiting.Load() {
			delete(mb.regs, p)
		}
	}
	regs := mb.regs[t.proc]
	barrier := func() int64 {
		if !mb.host {
			if err := hostMembarrier(mbHostRegisterPrivExpedited); err != nil {
				return errno(err)
			}
			mb.host = true
		}
		return errno(hostMembarrier(mbHostPrivateExpedited))
	}
	switch cmd {
	case mbQuery:
		if flags != 0 {
			return -EINVAL
		}
		return mbSupported
	case mbGlobal, mbGlobalExpedited:
		return barrier()
	case mbPrivateExpedited, mbPrivateExpeditedSyncCore:
		if regs&uint64(cmd<<1) == 0 {
			return -EPERM
		}
		return barrier()
	case mbRegisterGlobalExpedited, mbRegisterPrivateExpedited, mbRegisterPrivSyncCore:
		mb.regs[t.proc] = regs | uint64(cmd)
		return 0
	case mbGetRegistrations:
		return int64(regs)
	}
	return -EINVAL
}

// sysGetcpuHost answers getcpu with the host CPU and NUMA node the
// calling guest thread's vCPU thread is on (each guest thread is one host
// thread, so that is where the guest code runs).
func sysGetcpuHost(t *Thread, a *[6]uint64) int64 {
	var cpu, node uint32
	_, _, en := unix.Syscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	if en != 0 {
		return errno(en)
	}
	if a[0] != 0 {
		if e := t.putU32(a[0], cpu); e != 0 {
			return e
		}
	}
	if a[1] != 0 {
		if e := t.putU32(a[1], node); e != 0 {
			return e
		}
	}
	return 0
}

// inheritSched gives a new thread (fork, clone) its creator's scheduling
// settings and I/O priority, as Linux copies them; SCHED_RESET_ON_FORK
// gives it SCHED_OTHER and a nice of at least 0 instead.
func inheritSched(from, to *Thread) {
	s := schedGet(from)
	if s.resetOnFork {
		if s.policy == schedFIFO || s.policy == schedRR {
			s.policy, s.prio = schedOther, 0
		}
		s.nice = max(s.nice, 0)
		s.resetOnFork = false
	}
	if s != (schedState{}) {
		schedSet(to, s)
	}
	if io := ioprioOf(from); io != 0 {
		ioprios.mu.Lock()
		ioprios.m[to] = io
		ioprios.mu.Unlock()
	}
}
