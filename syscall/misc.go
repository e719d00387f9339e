//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"maps"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func sysExit(t *Thread, a *[6]uint64) int64 {
	p := t.proc
	t.sb.mu.Lock()
	last := len(p.threads) == 1
	t.sb.mu.Unlock()
	if last {
		p.exitGroup(waitExited(int(a[0])))
	}
	t.done = true
	t.killed.Store(true)
	return justReturn
}

func sysExitGroup(t *Thread, a *[6]uint64) int64 {
	t.proc.exitGroup(waitExited(int(a[0])))
	t.done = true
	return justReturn
}

func sysGetpid(t *Thread, a *[6]uint64) int64  { return int64(t.proc.pid) }
func sysGettid(t *Thread, a *[6]uint64) int64  { return int64(t.tid) }
func sysGetuid(t *Thread, a *[6]uint64) int64  { return int64(t.proc.cred.uid) }
func sysGeteuid(t *Thread, a *[6]uint64) int64 { return int64(t.proc.cred.euid) }
func sysGetgid(t *Thread, a *[6]uint64) int64  { return int64(t.proc.cred.gid) }
func sysGetegid(t *Thread, a *[6]uint64) int64 { return int64(t.proc.cred.egid) }

func sysGetgroups(t *Thread, a *[6]uint64) int64 {
	gs := t.proc.cred.groups
	n := int64(int32(a[0]))
	if n < 0 {
		return -EINVAL
	}
	if n == 0 {
		return int64(len(gs))
	}
	if n < int64(len(gs)) {
		return -EINVAL
	}
	b := make([]byte, 4*len(gs))
	for i, g := range gs {
		binary.LittleEndian.PutUint32(b[4*i:], g)
	}
	if e := t.put(a[1], b); e != 0 {
		return e
	}
	return int64(len(gs))
}

func sysGetresuid(t *Thread, a *[6]uint64) int64 {
	c := &t.proc.cred
	for i, v := range []uint32{c.uid, c.euid, c.suid} {
		if e := t.putU32(a[i], v); e != 0 {
			return e
		}
	}
	return 0
}

func sysGetresgid(t *Thread, a *[6]uint64) int64 {
	c := &t.proc.cred
	for i, v := range []uint32{c.gid, c.egid, c.sgid} {
		if e := t.putU32(a[i], v); e != 0 {
			return e
		}
	}
	return 0
}

// Kernel identity reported by uname.
const (
	unameRelease = "6.12.0-elfuse"
	unameVersion = "#1 SMP PREEMPT_DYNAMIC elfuse"
)

func sysUname(t *Thread, a *[6]uint64) int64 {
	var b [65 * 6]byte
	host, domain := t.sb.utsNames()
	for i, s := range []string{"Linux", host, unameRelease, unameVersion, "x86_64", domain} {
		copy(b[65*i:65*i+64], s)
	}
	return t.put(a[0], b[:])
}

func sysSysinfo(t *Thread, a *[6]uint64) int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return errno(err)
	}
	var b [112]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(si.Uptime))
	for i := 0; i < 3; i++ {
		le.PutUint64(b[8+8*i:], si.Loads[i])
	}
	le.PutUint64(b[32:], si.Totalram)
	le.PutUint64(b[40:], si.Freeram)
	le.PutUint64(b[48:], si.Sharedram)
	le.PutUint64(b[56:], si.Bufferram)
	le.PutUint64(b[64:], si.Totalswap)
	le.PutUint64(b[72:], si.Freeswap)
	le.PutUint16(b[80:], 1) // procs
	le.PutUint64(b[88:], si.Totalhigh)
	le.PutUint64(b[96:], si.Freehigh)
	le.PutUint32(b[104:], si.Unit)
	return t.put(a[0], b[:])
}

func sysGetrandom(t *Thread, a *[6]uint64) int64 {
	if a[2]&^7 != 0 {
		return -EINVAL
	}
	n := min(a[1], 1<<25)
	bufs, e := t.ioBufs(a[0], n, true)
	if e != 0 {
		return e
	}
	total := int64(0)
	for _, b := range bufs {
		k, err := unix.Getrandom(b, int(a[2]&3))
		if err != nil {
			if total > 0 {
				return total
			}
			return errno(err)
		}
		total += int64(k)
	}
	return total
}

const rlimNlimits = 16

func (p *Process) rlimit(res int) unix.Rlimit {
	if r, ok := p.rlimits[res]; ok {
		return r
	}
	if res < 0 || res >= rlimNlimits {
		return unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	}
	return hostRlimits()[res]
}

// hostRlimits are elfuse's own limits, read once (mmap, dup and execve ask
// for one each time), the stack's soft limit at most 8 MiB.
var hostRlimits = sync.OnceValue(func() (l [rlimNlimits]unix.Rlimit) {
	for res := range l {
		if unix.Getrlimit(res, &l[res]) != nil {
			l[res] = unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
		}
	}
	l[unix.RLIMIT_STACK].Cur = min(l[unix.RLIMIT_STACK].Cur, 8<<20)
	return l
})

func sysPrlimit64(t *Thread, a *[6]uint64) int64 {
	pid, res := int32(a[0]), int(a[1])
	if res < 0 || res >= rlimNlimits {
		return -EINVAL
	}
	p := t.proc
	if pid < 0 {
		return -ESRCH
	}
	if pid != 0 && int(pid) != p.pid {
		// Another guest process: as Linux, the caller needs its real,
		// effective and saved ids to all match the target's, or root.
		t.sb.mu.Lock()
		p = t.sb.procs[int(pid)]
		t.sb.mu.Unlock()
		if p == nil || p.zombie {
			return -ESRCH
		}
		me, c := t.proc.cred, p.cred
		if me.euid != 0 && (me.uid != c.uid || me.uid != c.euid || me.uid != c.suid ||
			me.gid != c.gid || me.gid != c.egid || me.gid != c.sgid) {
			return -EPERM
		}
	}
	old := p.rlimit(res)
	if a[2] != 0 {
		var b [16]byte
		if e := t.get(a[2], b[:]); e != 0 {
			return e
		}
		nr := unix.Rlimit{Cur: binary.LittleEndian.Uint64(b[0:]), Max: binary.LittleEndian.Uint64(b[8:])}
		if nr.Cur > nr.Max {
			return -EINVAL
		}
		if nr.Max > old.Max && t.proc.cred.euid != 0 {
			return -EPERM
		}
		// The map is replaced, never changed in place: other processes
		// (prlimit) and threads read it without a lock.
		m := maps.Clone(p.rlimits)
		if m == nil {
			m = map[int]unix.Rlimit{}
		}
		m[res] = nr
		p.rlimits = m
	}
	if a[3] != 0 {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[0:], old.Cur)
		binary.LittleEndian.PutUint64(b[8:], old.Max)
		if e := t.put(a[3], b[:]); e != 0 {
			return e
		}
	}
	return 0
}

func sysGetrlimit(t *Thread, a *[6]uint64) int64 {
	return sysPrlimit64(t, &[6]uint64{0, a[0], 0, a[1]})
}

func sysSetrlimit(t *Thread, a *[6]uint64) int64 {
	return sysPrlimit64(t, &[6]uint64{0, a[0], a[1], 0})
}

func putTimeval(b []byte, tv unix.Timeval) {
	binary.LittleEndian.PutUint64(b[0:], uint64(tv.Sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(tv.Usec))
}

func sysGetrusage(t *Thread, a *[6]uint64) int64 {
	who := int32(a[0])
	hw := unix.RUSAGE_SELF
	switch who {
	case 0:
	case -1:
		hw = unix.RUSAGE_CHILDREN
	case 1:
		hw = unix.RUSAGE_THREAD
	default:
		return -EINVAL
	}
	var ru unix.Rusage
	if err := unix.Getrusage(hw, &ru); err != nil {
		return errno(err)
	}
	var b [144]byte
	putTimeval(b[0:], ru.Utime)
	putTimeval(b[16:], ru.Stime)
	for i, v := range []int64{ru.Maxrss, ru.Ixrss, ru.Idrss, ru.Isrss, ru.Minflt, ru.Majflt, ru.Nswap,
		ru.Inblock, ru.Oublock, ru.Msgsnd, ru.Msgrcv, ru.Nsignals, ru.Nvcsw, ru.Nivcsw} {
		binary.LittleEndian.PutUint64(b[32+8*i:], uint64(v))
	}
	return t.put(a[1], b[:])
}

func sysTimes(t *Thread, a *[6]uint64) int64 {
	var tms unix.Tms
	ticks, err := unix.Times(&tms)
	if err != nil {
		return errno(err)
	}
	if a[0] != 0 {
		var b [32]byte
		for i, v := range []int64{tms.Utime, tms.Stime, tms.Cutime, tms.Cstime} {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
		if e := t.put(a[0], b[:]); e != 0 {
			return e
		}
	}
	return int64(ticks)
}

func validClock(c int32) bool { return c >= 0 && c <= 11 && c != 10 || c < 0 }

func sysClockGettime(t *Thread, a *[6]uint64) int64 {
	ts, e := t.clockRead(int32(a[0]), false)
	if e != 0 {
		return e
	}
	return t.putTimespec(a[1], ts)
}

// clockRead reads (or with res, gives the resolution of) the guest clock
// id. The CPU-time clocks of a thread or process (negative ids, as
// pthread_getcpuclockid and clock_getcpuclockid make) name guest tids and
// pids: a thread's is the CPU time of the OS thread that runs it, a
// process's the sum over its threads.
func (t *Thread) clockRead(id int32, res bool) (unix.Timespec, int64) {
	var ts unix.Timespec
	read := func(host int32) error {
		if res {
			return unix.ClockGetres(host, &ts)
		}
		return unix.ClockGettime(host, &ts)
	}
	if id >= 0 {
		if !validClock(id) {
			return ts, -EINVAL
		}
		switch id {
		case unix.CLOCK_PROCESS_CPUTIME_ID:
			return t.clockRead(^int32(0)<<3|cpuClockSched, res) // the caller's process
		case unix.CLOCK_THREAD_CPUTIME_ID:
			// The caller's vCPU thread, not whichever thread serves the call.
			return t.clockRead(^int32(0)<<3|4|cpuClockSched, res)
		}
		return ts, errno(read(id))
	}
	which, perThread := id&3, id&4 != 0
	if which == 3 { // a dynamic (fd) clock
		return ts, -EINVAL
	}
	target := int(^(id >> 3))
	var threads []*Thread
	t.sb.mu.Lock()
	switch {
	case perThread && (target == 0 || target == t.tid):
		threads = []*Thread{t}
	case perThread:
		if th := t.sb.tids[target]; th != nil && th.proc == t.proc {
			threads = []*Thread{th}
		}
	default:
		p := t.proc
		if target != 0 {
			p = t.sb.procs[target]
		}
		if p != nil {
			for _, th := range p.threads {
				threads = append(threads, th)
			}
		}
	}
	t.sb.mu.Unlock()
	if len(threads) == 0 {
		return ts, -EINVAL
	}
	var sum int64
	for _, th := range threads {
		ostid := int32(th.ostid.Load())
		if ostid == 0 {
			continue // not yet running
		}
		if err := read(^ostid<<3 | 4 | which); err != nil {
			if res {
				return ts, errno(err)
			}
			continue // it just ended
		}
		if res {
			return ts, 0
		}
		sum += ts.Nano()
	}
	return unix.NsecToTimespec(sum), 0
}

// cpuClockSched is CPUCLOCK_SCHED, the which of a CPU-time clock id.
const cpuClockSched = 2

func sysClockGetres(t *Thread, a *[6]uint64) int64 {
	ts, e := t.clockRead(int32(a[0]), true)
	if e != 0 {
		return e
	}
	if a[1] == 0 {
		return 0
	}
	return t.putTimespec(a[1], ts)
}

func sysGettimeofday(t *Thread, a *[6]uint64) int64 {
	if a[0] != 0 {
		var tv unix.Timeval
		if err := unix.Gettimeofday(&tv); err != nil {
			return errno(err)
		}
		var b [16]byte
		putTimeval(b[:], tv)
		if e := t.put(a[0], b[:]); e != 0 {
			return e
		}
	}
	if a[1] != 0 {
		var b [8]byte
		if e := t.put(a[1], b[:]); e != 0 {
			return e
		}
	}
	return 0
}

func sysTime(t *Thread, a *[6]uint64) int64 {
	now := time.Now().Unix()
	if a[0] != 0 {
		if e := t.putU64(a[0], uint64(now)); e != 0 {
			return e
		}
	}
	return now
}

// sleep waits until the time req (absolute on clock, or relative) or a
// signal; an interrupted relative sleep reports what was left in remVA.
func (t *Thread) sleep(clock int32, abs bool, req unix.Timespec, remVA uint64) int64 {
	d := time.Duration(req.Nano())
	if abs {
		d = time.Duration(req.Nano() - clockNS(clock))
	}
	if d <= 0 {
		return 0
	}
	deadline := time.Now().Add(d)
	tm := time.NewTimer(d)
	defer tm.Stop()
	t.block()
	defer t.unblock()
	for {
		select {
		case <-tm.C:
			return 0
		case <-t.intr:
			if !t.interrupted() {
				continue
			}
			if !abs && remVA != 0 {
				left := max(time.Until(deadline), 0)
				if e := t.putTimespec(remVA, unix.NsecToTimespec(left.Nanoseconds())); e != 0 {
					return e
				}
			}
			return -ERESTARTNOHAND
		}
	}
}

func sysNanosleep(t *Thread, a *[6]uint64) int64 {
	req, e := t.getTimespec(a[0])
	if e != 0 {
		return e
	}
	return t.sleep(unix.CLOCK_MONOTONIC, false, req, a[1])
}

func sysClockNanosleep(t *Thread, a *[6]uint64) int64 {
	req, e := t.getTimespec(a[2])
	if e != 0 {
		return e
	}
	c := int32(a[0])
	switch c {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_TAI, unix.CLOCK_PROCESS_CPUTIME_ID:
	case unix.CLOCK_THREAD_CPUTIME_ID:
		return -EINVAL
	default:
		return -EINVAL
	}
	return t.sleep(c, a[1]&1 != 0, req, a[3])
}

func sysSetTidAddress(t *Thread, a *[6]uint64) int64 {
	t.clearTID = a[0]
	return int64(t.tid)
}

func sysSetRobustList(t *Thread, a *[6]uint64) int64 {
	if a[1] != 24 {
		return -EINVAL
	}
	t.robust = a[0]
	return 0
}

// arch_prctl codes.
const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

func sysArchPrctl(t *Thread, a *[6]uint64) int64 {
	switch a[0] {
	case archSetFS:
		if a[1] >= 1<<47 {
			return -EPERM
		}
		t.sregs.FS.Base = a[1]
		t.sregsDirty = true
		return 0
	case archSetGS:
		if a[1] >= 1<<47 {
			return -EPERM
		}
		t.guestGS = a[1]
		t.applyGS()
		return 0
	case archGetFS:
		return t.putU64(a[1], t.sregs.FS.Base)
	case archGetGS:
		return t.putU64(a[1], t.guestGS)
	}
	return -EINVAL
}

// prctl options.
const (
	prSetPdeathsig      = 1
	prGetPdeathsig      = 2
	prGetDumpable       = 3
	prSetDumpable       = 4
	prSetName           = 15
	prGetName           = 16
	prSetNoNewPrivs     = 38
	prGetNoNewPrivs     = 39
	prGetKeepcaps       = 7
	prSetKeepcaps       = 8
	prSetChildSubreaper = 36
	prGetChildSubreaper = 37
	prCapbsetRead       = 23
	prCapbsetDrop       = 24
	prCapAmbient        = 47
)

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func sysPrctl(t *Thread, a *[6]uint64) int64 {
	switch a[0] {
	case prSetName:
		var b [16]byte
		// The name may sit at the end of a mapping: read byte-wise up to NUL.
		for i := 0; i < 15; i++ {
			if e := t.get(a[1]+uint64(i), b[i:i+1]); e != 0 {
				return e
			}
			if b[i] == 0 {
				break
			}
		}
		t.proc.comm = cstr(b[:15])
		return 0
	case prGetName:
		var b [16]byte
		copy(b[:15], t.proc.comm)
		return t.put(a[1], b[:])
	case prGetDumpable:
		if t.proc.flags.dumpable {
			return 1
		}
		return 0
	case prSetDumpable:
		if a[1] > 1 {
			return -EINVAL
		}
		t.proc.flags.dumpable = a[1] == 1
		return 0
	case prSetPdeathsig:
		if a[1] > NSIG {
			return -EINVAL
		}
		t.proc.flags.pdeathsig = int(a[1])
		return 0
	case prGetPdeathsig:
		return t.putU32(a[1], uint32(t.proc.flags.pdeathsig))
	case prSetNoNewPrivs:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -EINVAL
		}
		t.proc.flags.noNewPrivs = true
		return 0
	case prGetNoNewPrivs:
		if a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -EINVAL
		}
		return b2i(t.proc.flags.noNewPrivs)
	case prGetKeepcaps:
		return b2i(t.proc.flags.keepCaps)
	case prSetKeepcaps:
		if a[1] > 1 {
			return -EINVAL
		}
		t.proc.flags.keepCaps = a[1] == 1
		return 0
	case prSetChildSubreaper:
		t.proc.flags.subreaper = a[1] != 0
		return 0
	case prGetChildSubreaper:
		return t.putU32(a[1], uint32(b2i(t.proc.flags.subreaper)))
	case prCapbsetRead, prCapbsetDrop, prCapAmbient:
		return t.capPrctl(a)
	}
	return -EINVAL
}

func sysSchedGetaffinity(t *Thread, a *[6]uint64) int64 {
	if int32(a[0]) < 0 {
		return -ESRCH
	}
	if _, e := t.schedTarget(a[0]); e != 0 {
		return e
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return errno(err)
	}
	n := min(a[1], uint64(len(set)*8))
	if n < 8 || a[1]%8 != 0 {
		return -EINVAL
	}
	b := make([]byte, n)
	for i := 0; i < int(n)/8; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(set[i]))
	}
	if e := t.put(a[2], b); e != 0 {
		return e
	}
	return int64(n)
}

// sysSchedYield gives the host CPU to another thread, as the guest asks.
func sysSchedYield(t *Thread, a *[6]uint64) int64 {
	unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	return 0
}

func sysPipe2(t *Thread, a *[6]uint64) int64 {
	flags := int(a[1])
	if flags&^(oCloexec|oNonblock|oDirect) != 0 {
		return -EINVAL
	}
	var p [2]int
	hf := unix.O_CLOEXEC
	if flags&oNonblock != 0 {
		hf |= unix.O_NONBLOCK
	}
	if flags&oDirect != 0 {
		hf |= unix.O_DIRECT
	}
	if err := unix.Pipe2(p[:], hf); err != nil {
		return errno(err)
	}
	ce := flags&oCloexec != 0
	r := t.proc.addFD(&fdEntry{host: p[0], cloexec: ce, path: "pipe:"}, 0)
	if r < 0 {
		unix.Close(p[1])
		return r
	}
	w := t.proc.addFD(&fdEntry{host: p[1], cloexec: ce, path: "pipe:"}, 0)
	if w < 0 {
		sysClose(t, &[6]uint64{uint64(r)})
		return w
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(r))
	binary.LittleEndian.PutUint32(b[4:], uint32(w))
	if e := t.put(a[0], b[:]); e != 0 {
		sysClose(t, &[6]uint64{uint64(r)})
		sysClose(t, &[6]uint64{uint64(w)})
		return e
	}
	return 0
}

func sysPipe(t *Thread, a *[6]uint64) int64 { return sysPipe2(t, &[6]uint64{a[0], 0}) }

func sysSyncfs(t *Thread, a *[6]uint64) int64 { return t.onFD(a[0], unix.Syncfs) }

func sysSync(t *Thread, a *[6]uint64) int64 {
	unix.Sync()
	return 0
}

func sysClockSettime(t *Thread, a *[6]uint64) int64 {
	if _, e := t.getTimespec(a[1]); e != 0 {
		return e
	}
	if int32(a[0]) == unix.CLOCK_REALTIME {
		// The sandbox may not set the host's clock.
		return -EPERM
	}
	return -EINVAL
}

// setIDs implements the setresuid family over one triple: each of r, e, s
// is a new value or -1 to keep; unprivileged callers may only pick among
// the current values.
func setIDs(cur *[3]uint32, fs *uint32, privileged bool, r, e, s int64) int64 {
	allowed := func(v int64) bool {
		return v == -1 || privileged || uint32(v) == cur[0] || uint32(v) == cur[1] || uint32(v) == cur[2]
	}
	if !allowed(r) || !allowed(e) || !allowed(s) {
		return -EPERM
	}
	for i, v := range []int64{r, e, s} {
		if v != -1 {
			cur[i] = uint32(v)
		}
	}
	*fs = cur[1]
	return 0
}

func (t *Thread) setuids(r, e, s int64) int64 {
	c := &t.proc.cred
	ids := [3]uint32{c.uid, c.euid, c.suid}
	if ret := setIDs(&ids, &c.fsuid, c.euid == 0, r, e, s); ret != 0 {
		return ret
	}
	old := [3]uint32{c.uid, c.euid, c.suid}
	c.uid, c.euid, c.suid = ids[0], ids[1], ids[2]
	if !t.proc.flags.keepCaps {
		c.caps = c.caps.afterSetuid(old, ids)
	} else if old[1] == 0 && ids[1] != 0 {
		c.caps.Effective = 0 // keepcaps keeps the permitted set only
	}
	return 0
}

func (t *Thread) setgids(r, e, s int64) int64 {
	c := &t.proc.cred
	ids := [3]uint32{c.gid, c.egid, c.sgid}
	if ret := setIDs(&ids, &c.fsgid, c.euid == 0, r, e, s); ret != 0 {
		return ret
	}
	c.gid, c.egid, c.sgid = ids[0], ids[1], ids[2]
	return 0
}

func idArg(v uint64) int64 { return int64(int32(v)) }

func sysSetresuid(t *Thread, a *[6]uint64) int64 {
	return t.setuids(idArg(a[0]), idArg(a[1]), idArg(a[2]))
}
func sysSetresgid(t *Thread, a *[6]uint64) int64 {
	return t.setgids(idArg(a[0]), idArg(a[1]), idArg(a[2]))
}

// setreSaved is the saved id setreuid/setregid set: the new effective id
// when the real one is set or the effective one changes to other than the
// old real id, else unchanged (-1).
func setreSaved(r, e int64, oldReal, oldEff uint32) int64 {
	if r == -1 && (e == -1 || uint32(e) == oldReal) {
		return -1
	}
	if e == -1 {
		return int64(oldEff)
	}
	return e
}

func sysSetreuid(t *Thread, a *[6]uint64) int64 {
	r, e := idArg(a[0]), idArg(a[1])
	return t.setuids(r, e, setreSaved(r, e, t.proc.cred.uid, t.proc.cred.euid))
}

func sysSetregid(t *Thread, a *[6]uint64) int64 {
	r, e := idArg(a[0]), idArg(a[1])
	return t.setgids(r, e, setreSaved(r, e, t.proc.cred.gid, t.proc.cred.egid))
}

func sysSetuid(t *Thread, a *[6]uint64) int64 {
	u := idArg(a[0])
	if u < 0 {
		return -EINVAL
	}
	if t.proc.cred.euid == 0 {
		return t.setuids(u, u, u)
	}
	return t.setuids(-1, u, -1)
}

func sysSetgid(t *Thread, a *[6]uint64) int64 {
	g := idArg(a[0])
	if g < 0 {
		return -EINVAL
	}
	if t.proc.cred.euid == 0 {
		return t.setgids(g, g, g)
	}
	return t.setgids(-1, g, -1)
}

func sysSetfsuid(t *Thread, a *[6]uint64) int64 {
	c := &t.proc.cred
	old := c.fsuid
	if u := idArg(a[0]); u >= 0 && (c.euid == 0 || uint32(u) == c.uid || uint32(u) == c.euid || uint32(u) == c.suid) {
		c.fsuid = uint32(u)
	}
	return int64(old)
}

func sysSetfsgid(t *Thread, a *[6]uint64) int64 {
	c := &t.proc.cred
	old := c.fsgid
	if g := idArg(a[0]); g >= 0 && (c.euid == 0 || uint32(g) == c.gid || uint32(g) == c.egid || uint32(g) == c.sgid) {
		c.fsgid = uint32(g)
	}
	return int64(old)
}

func sysSetgroups(t *Thread, a *[6]uint64) int64 {
	n := int64(int32(a[0]))
	if n < 0 || n > 65536 {
		return -EINVAL
	}
	if t.proc.cred.euid != 0 {
		return -EPERM
	}
	b := make([]byte, 4*n)
	if e := t.get(a[1], b); e != 0 {
		return e
	}
	gs := make([]uint32, n)
	for i := range gs {
		gs[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	t.proc.cred.groups = gs
	return 0
}

// utsNames are the sandbox's host and domain names (uname, /proc/sys):
// the configuration's, or what sethostname and setdomainname set, or the
// host's name and "(none)".
func (sb *Sandbox) utsNames() (host, domain string) {
	sb.mu.Lock()
	host, domain, hostSet, domainSet := sb.hostname, sb.domainname, sb.hostSet, sb.domainSet
	sb.mu.Unlock()
	if !hostSet {
		host = sb.cfg.Hostname
		if host == "" {
			var un unix.Utsname
			unix.Uname(&un)
			host = cstr(un.Nodename[:])
		}
	}
	if !domainSet {
		domain = sb.cfg.Domainname
		if domain == "" {
			domain = "(none)"
		}
	}
	return host, domain
}

// setUTSName is sethostname and setdomainname: the sandbox's own names
// (a UTS namespace of its own), never the host's.
func (t *Thread) setUTSName(va, n uint64, domain bool) int64 {
	if !t.hasCap(capSysAdmin) {
		return -EPERM
	}
	if n > 64 {
		return -EINVAL
	}
	b := make([]byte, n)
	if e := t.get(va, b); e != 0 {
		return e
	}
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	if domain {
		t.sb.domainname, t.sb.domainSet = string(b), true
	} else {
		t.sb.hostname, t.sb.hostSet = string(b), true
	}
	return 0
}

func sysSethostname(t *Thread, a *[6]uint64) int64   { return t.setUTSName(a[0], a[1], false) }
func sysSetdomainname(t *Thread, a *[6]uint64) int64 { return t.setUTSName(a[0], a[1], true) }
