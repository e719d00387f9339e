//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/hv/kvm"
	"golang.org/x/sys/unix"
)

// Thread is one guest thread, run by one vCPU on one locked OS thread.
type Thread struct {
	sb         *Sandbox
	proc       *Process
	tid        int
	slot       int // vCPU area (GDT, TSS, ring-0 stack)
	cpu        *kvm.VCPU
	regs       *hv.AMD64Regs
	sregs      *hv.AMD64SRegs
	sregsDirty bool
	exits      uint64
	clearTID   uint64
	robust     uint64
	altstack   [3]uint64 // ss_sp, ss_flags, ss_size

	// Signal state; sigmask and pending are guarded by sb.mu.
	sigmask   uint64
	pending   sigQueue
	savedMask uint64 // mask to restore after sigsuspend's handler
	hasSaved  bool
	restart   int64  // an interrupted call's -ERESTART* code, 0 if none
	restartNr uint64 // and its number

	wakeFD  int        // eventfd that interrupts host waits
	parker  hostParker // a wait4 or waitid sleeps on it
	wakeMu  sync.Mutex // keeps wake off a thread that is gone
	gone    bool
	intr    chan struct{} // interrupts Go-side waits
	killed  atomic.Bool   // the thread must end (exit_group, SIGKILL, sandbox end)
	inGuest atomic.Bool   // between announcing an entry and leaving KVM_RUN
	// woken: a wake came since the loop last looked (wake kicks the
	// vCPU only when the thread is in the guest; otherwise the loop
	// sees woken after announcing its entry, and looks again first).
	woken  atomic.Bool
	args   [6]uint64     // the arguments of the call on the exit path
	loaded atomic.Uint64 // the page-table root the vCPU runs on
	done   bool          // the loop ends

	scratch  []int  // host descriptors a path lookup opened for this call
	lookedUp string // canonical guest path of the last lookup
	// lookedUpMagic: the last lookup ended on a host magic link the host
	// call must follow; lookedUpRO: on a synthetic entry the guest may
	// not change.
	lookedUpMagic, lookedUpRO bool
	lookedUpData              func() []byte // a synthetic file's content maker
	hc                        *hostCreds    // the OS thread's identity (its worker's)
	// Exitless calls: the thread's mailbox, the GS base the guest set
	// (the mailbox is at the real one when it set none), and whether the
	// call being served came through the trampoline.
	mb      *mailbox
	guestGS uint64
	viaXL   bool
	ostid   atomic.Int32 // the host thread id of the OS thread running it
}

func (sb *Sandbox) newThread(p *Process, tid int) (*Thread, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &Thread{sb: sb, proc: p, tid: tid, wakeFD: fd, intr: make(chan struct{}, 1), slot: -1}, nil
}

// wake interrupts whatever the thread waits on, in the guest or the host.
func (t *Thread) wake() {
	t.wakeMu.Lock()
	defer t.wakeMu.Unlock()
	if t.gone {
		return
	}
	select {
	case t.intr <- struct{}{}:
	default:
	}
	var one = [8]byte{1}
	unix.Write(t.wakeFD, one[:])
	t.notify()
	// Kicking a vCPU costs a signal and, when it is not in KVM_RUN, a
	// KVM_RUN that returns at once later: only a thread in the guest
	// (or announcing its entry) is kicked. The loop reads woken after
	// setting inGuest, wake sets woken before reading inGuest, so one of
	// them sees the other.
	t.woken.Store(true)
	if c := t.cpu; c != nil && t.inGuest.Load() {
		c.Kick()
	}
}

// block and unblock bracket a wait of t's OS thread (a host call that
// blocks, or a channel): meanwhile it uses no core, which the exitless
// servers may then take (Sandbox.running).
func (t *Thread) block()   { t.sb.running.Add(-1) }
func (t *Thread) unblock() { t.sb.running.Add(1) }

// The host's futex(2) operations (x/sys/unix has no names for them).
const (
	hostFutexWait    = 0
	hostFutexWake    = 1
	hostFutexPrivate = 128
)

// hostParker is a host futex word an OS thread parks on (park) until
// another thread notifies it. The kernel wakes that thread itself: a
// goroutine locked to its thread and parked on a channel is woken through
// the Go scheduler, which can take a wake-up of another thread first to
// hand it a P (tens of microseconds each on a nested host).
type hostParker struct{ word uint32 }

// notify wakes the thread parked, or makes its next park return at once.
func (p *hostParker) notify() {
	if atomic.SwapUint32(&p.word, 1) == 0 {
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&p.word)), hostFutexWake|hostFutexPrivate, 1, 0, 0, 0)
	}
}

// park blocks the calling OS thread until notify, or for at most ts (nil:
// no limit). The caller looks again at what it waits for: the notice may
// be an old one, or a host signal or the time ended the sleep.
func (p *hostParker) park(ts *unix.Timespec) {
	if atomic.SwapUint32(&p.word, 0) == 1 {
		return
	}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&p.word)), hostFutexWait|hostFutexPrivate, 0, uintptr(unsafe.Pointer(ts)), 0, 0)
}

// notify makes t, parked in a wait4 or waitid, look again (and wake makes
// it look at its signals).
func (t *Thread) notify() { t.parker.notify() }

// drainWake clears the wake-ups consumed.
func (t *Thread) drainWake() {
	var b [8]byte
	unix.Read(t.wakeFD, b[:])
	select {
	case <-t.intr:
	default:
	}
}

// startState is the register state a new thread starts with.
type startState struct {
	regs  hv.AMD64Regs
	fs    uint64
	gs    uint64
	xsave []byte // nil: the initial FPU state
}

// worker is an OS thread with a vCPU that runs guest threads one after
// another: KVM frees no vCPU before the VM goes, and a vCPU is best run
// by one OS thread, so the pair outlives the guest thread it ran and
// takes the next one (a thread start then costs a channel send, not an
// OS thread and a vCPU).
type worker struct {
	cpu   *kvm.VCPU
	slot  int
	creds hostCreds // the identity the OS thread has taken
	// An idle worker parks until next holds its job or stop is set (under
	// sb.mu).
	parker hostParker
	next   atomic.Pointer[job]
	stop   bool
}

// sleep waits for the worker's next job; nil: the sandbox has ended.
func (w *worker) sleep(sb *Sandbox) *job {
	for {
		if j := w.next.Swap(nil); j != nil {
			return j
		}
		sb.mu.Lock()
		stop := w.stop
		sb.mu.Unlock()
		if stop {
			return nil
		}
		w.parker.park(nil)
	}
}

// job is a guest thread to run and its first register state.
type job struct {
	t  *Thread
	st startState
}

// start runs the thread on an idle worker, or on a new one.
func (t *Thread) start(st startState) {
	sb := t.sb
	sb.wg.Add(1)
	if w := sb.takeWorker(); w != nil {
		w.next.Store(&job{t, st})
		w.parker.notify()
		return
	}
	go sb.work(job{t, st})
}

// work is a worker's goroutine: locked to its OS thread for good, it runs
// guest threads until the sandbox ends.
func (sb *Sandbox) work(j job) {
	runtime.LockOSThread()
	w := &worker{slot: -1}
	for {
		j.t.run(w, j.st)
		if w.cpu == nil || !sb.parkWorker(w) {
			sb.freeSlot(w.slot)
			return // the OS thread ends with the goroutine, and its vCPU with the VM
		}
		next := w.sleep(sb)
		if next == nil {
			return
		}
		j = *next
	}
}

// run runs the thread on worker w until it ends.
func (t *Thread) run(w *worker, st startState) {
	sb := t.sb
	defer sb.wg.Done()
	t.hc = &w.creds
	t.ostid.Store(int32(unix.Gettid()))
	err := t.setupVCPU(w, st)
	if err == nil {
		err = t.loop()
	}
	if err != nil {
		sb.log.Error("guest thread failed", "pid", t.proc.pid, "tid", t.tid, "err", err)
		sb.fail(err)
		t.proc.exitGroup(waitSignaled(SIGKILL, false))
	}
	t.exitThread()
}

func (t *Thread) setupVCPU(w *worker, st startState) error {
	sb := t.sb
	cpu, fresh := w.cpu, w.cpu == nil
	if fresh {
		var err error
		if w.slot, err = sb.allocSlot(); err != nil {
			return err
		}
		if cpu, err = sb.vm.NewAMD64VCPU(); err != nil {
			return err
		}
		if err := cpu.SetMSRs(amd64.SyscallMSRs(false)); err != nil {
			return err
		}
		if err := cpu.EnableXSAVE(); err != nil {
			return err
		}
		w.cpu = cpu
	} else {
		cpu.Rebind() // clears a kick meant for the thread before
	}
	t.slot = w.slot
	t.cpu, t.regs, t.sregs = cpu, cpu.Regs(), cpu.SRegs()
	root := t.proc.as.Root()
	t.loaded.Store(root)
	amd64.InitSRegs(t.sregs, root, w.slot)
	t.sregs.FS.Base, t.guestGS = st.fs, st.gs
	t.sregs.GS.Base = 0
	t.applyGS()
	t.xlAttachIfPatched()
	xsave := st.xsave
	if xsave == nil && !fresh {
		xsave = sb.initXSAVE // not the FPU state of the thread before
	}
	if xsave != nil {
		if err := cpu.SetXSAVE(xsave); err != nil {
			return err
		}
	}
	sb.calibrateOnce(cpu)
	*t.regs = st.regs
	t.regs.RFLAGS = amd64.UserFlags(t.regs.RFLAGS)
	cpu.SetDirty(true, true)
	return nil
}

// loop runs guest code and serves its exits until the thread ends.
func (t *Thread) loop() error {
	sb := t.sb
	var watchdog *time.Timer
	if sb.cfg.Timeout > 0 {
		watchdog = time.AfterFunc(sb.cfg.Timeout, t.cpu.Kick)
		defer watchdog.Stop()
	}
	sb.running.Add(1)
	defer sb.running.Add(-1)
	for {
		t.handleSignals()
		if t.done {
			return nil
		}
		// Announce the entry before looking at the root: a thread that
		// replaces the root then sees this one in the guest and waits for it.
		t.inGuest.Store(true)
		if sb.pausing.Load() {
			t.waitIfPaused()
			if t.killed.Load() {
				t.inGuest.Store(false)
				continue
			}
		}
		if as := t.proc.as; as.Root() != t.loaded.Load() || as.Pending() {
			t.sb.shootdown(t)
		}
		if sb.vdso.valid && time.Now().After(sb.vdso.next) {
			sb.calibrate(t.cpu)
		}
		if t.woken.Swap(false) {
			// Woken while in elfuse (unkicked): look at why first.
			t.inGuest.Store(false)
			continue
		}
		t.cpu.SetDirty(true, t.sregsDirty)
		t.sregsDirty = false
		if watchdog != nil {
			watchdog.Reset(sb.cfg.Timeout)
		}
		ex, err := t.cpu.Run()
		t.inGuest.Store(false)
		t.exits++
		atomic.AddUint64(&sb.stats.Exits, 1)
		if err != nil {
			return err
		}
		if ex.Kind == hv.ExitInterrupted {
			if port, ok := amd64.StubPortAt(t.regs.RIP); ok {
				ex = hv.Exit{Kind: hv.ExitIO, Port: port}
			}
		}
		switch ex.Kind {
		case hv.ExitIO:
			switch {
			case ex.Port == amd64.PortSyscall && !amd64.InXLCode(t.regs.RIP):
				t.syscall()
			case ex.Port == amd64.PortSyscall: // the trampoline's: not a site to patch
				t.xlExitPath()
			case ex.Port == amd64.PortSyscallPark:
				t.xlSettle()
			case ex.Port == amd64.PortSyscallWake || ex.Port == amd64.PortSyscallLate:
				if sb.xl != nil {
					sb.xl.missed(ex.Port == amd64.PortSyscallLate)
				}
				t.xlExitPath()
			case ex.Port >= amd64.PortException && ex.Port < amd64.PortException+32:
				t.exception(int(ex.Port - amd64.PortException))
			default:
				return fmt.Errorf("guest wrote unknown port %#x at %#x", ex.Port, t.regs.RIP)
			}
		case hv.ExitInterrupted:
			if sb.xl != nil {
				t.xlSettle()
			}
		default:
			t.logStop(ex)
			return fmt.Errorf("vCPU stopped: %v at rip %#x", ex, t.regs.RIP)
		}
	}
}

// logStop records the paging state of a vCPU that stopped for good (a
// triple fault is most often a root whose tables are gone): the root it
// ran on, the address space's current one, what it loaded, and the
// threads of the sandbox on the same address space.
func (t *Thread) logStop(ex hv.Exit) {
	sb := t.sb
	cr3 := t.sregs.CR3 & amd64.PTEAddrMask
	var sharers []int
	sb.mu.Lock()
	as := t.proc.as
	for _, th := range sb.tids {
		if th.proc.as == as {
			sharers = append(sharers, th.tid)
		}
	}
	sb.mu.Unlock()
	sb.log.Error("vCPU stopped", "exit", ex.String(), "pid", t.proc.pid, "tid", t.tid,
		"rip", fmt.Sprintf("%#x", t.regs.RIP), "cr3", fmt.Sprintf("%#x", cr3),
		"loaded", fmt.Sprintf("%#x", t.loaded.Load()), "root", fmt.Sprintf("%#x", as.Root()),
		"cr3Refs", sb.phys.Refs(cr3), "threadsOnAS", sharers)
}

// shootdown moves t to its address space's current page-table root and
// waits until every other thread that runs on the same address space and
// is in the guest has moved too (kicking them out of the guest to reload);
// then the tables and frames no thread uses any more are freed. Each
// thread loads the newest root before it waits, so two threads changing
// mappings at once never wait for each other.
//
// The threads of an address space are not only those of t's process: a
// CLONE_VM child without CLONE_THREAD (vfork, posix_spawn, Go's os/exec)
// is a process of its own that runs on its parent's address space until
// it execs, so every thread of the sandbox is looked at.
func (sb *Sandbox) shootdown(t *Thread) {
	as := t.proc.as
	for {
		root := as.Root()
		t.loaded.Store(root)
		t.sregs.CR3 = root
		t.sregsDirty = true
		waiting := false
		sb.mu.Lock()
		for _, th := range sb.tids {
			if th != t && th.proc.as == as && th.inGuest.Load() && th.loaded.Load() != root {
				if c := th.cpu; c != nil {
					c.Kick()
				}
				waiting = true
			}
		}
		sb.mu.Unlock()
		if !waiting && as.CommitIf(root) {
			return
		}
		runtime.Gosched()
	}
}

// exitThread releases the thread's resources; the last thread of a
// process finishes the process.
func (t *Thread) exitThread() {
	p := t.proc
	if t.clearTID != 0 && !p.exiting.Load() {
		var z [4]byte
		p.as.Write(t.clearTID, z[:])
		t.sb.futexWake(p, t.clearTID, 1)
	}
	t.xlDetach()
	last := p.removeThread(t)
	t.wakeMu.Lock()
	t.gone = true
	unix.Close(t.wakeFD)
	t.wakeMu.Unlock()
	if last {
		p.finish()
	}
}

// syscall serves one system call and returns to user mode.
func (t *Thread) syscall() {
	r := t.regs
	nr := r.RAX
	// In the thread, not on the stack: handlers are called indirectly,
	// so the arguments would be allocated anew for every call.
	args := &t.args
	*args = [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}
	atomic.AddUint64(&t.sb.stats.Syscalls, 1)
	if t.sb.xl != nil {
		t.xlPrepare(nr, r.RCX)
	}
	// Return to the instruction after `syscall`, as sysretq would.
	if amd64.ReturnFromSyscall(r, t.sregs) {
		t.sregsDirty = true
	}
	var ret int64
	var e *sysEntry
	if nr < uint64(len(sysTable)) {
		e = &sysTable[nr]
	}
	if e == nil || e.fn == nil {
		name := ""
		if e != nil {
			name = e.name
		}
		t.sb.noteUnknown(nr, name)
		ret = -ENOSYS
		if t.sb.cfg.Trace {
			t.trace(nr, e, t.traceArgs(e, args), ret)
		}
	} else {
		var argText string
		if t.sb.cfg.Trace {
			// Before the call: execve replaces the memory the arguments are in.
			argText = t.traceArgs(e, args)
		}
		t.applyCreds()
		ret = t.call(e, args)
		if t.sb.cfg.Trace {
			t.trace(nr, e, argText, ret)
		}
	}
	if len(t.scratch) > 0 {
		closeAll(t.scratch)
		t.scratch = t.scratch[:0]
	}
	if ret == justReturn {
		return // rt_sigreturn and execve set every register themselves
	}
	if ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK {
		t.restart, t.restartNr = ret, nr
		ret = -EINTR
	}
	r.RAX = uint64(ret)
}

// sysTable is the guest architecture's table, set at init: handlers that
// start threads reach the dispatcher, which a static reference would make
// an initialisation cycle.
var sysTable []sysEntry

func init() { sysTable = amd64Table[:] }

// justReturn is a handler result that leaves the registers as set.
const justReturn = 1 << 62

// Restart codes of interrupted calls (never seen by the guest).
const (
	ERESTARTSYS           = 512
	ERESTARTNOINTR        = 513
	ERESTARTNOHAND        = 514
	ERESTART_RESTARTBLOCK = 516
)

// call runs a handler; a handler that panics fails the call with EINVAL
// and is logged, rather than taking the sandbox down.
func (t *Thread) call(e *sysEntry, args *[6]uint64) (ret int64) {
	defer func() {
		if r := recover(); r != nil {
			t.sb.log.Error("system call handler panicked", "name", e.name, "panic", r, "stack", string(debug.Stack()))
			ret = -EINVAL
		}
	}()
	return e.fn(t, args)
}

// traceArgs renders a call's arguments, paths as strings.
func (t *Thread) traceArgs(e *sysEntry, a *[6]uint64) string {
	var b strings.Builder
	paths := uint8(0)
	if e != nil {
		paths = e.paths
	}
	for i := 0; i < 6; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if paths&(1<<i) != 0 {
			if s, err := t.proc.as.ReadString(a[i], 256); err == nil {
				fmt.Fprintf(&b, "%q", s)
				continue
			}
		}
		fmt.Fprintf(&b, "%#x", a[i])
	}
	return b.String()
}

func (t *Thread) trace(nr uint64, e *sysEntry, args string, ret int64) {
	var b strings.Builder
	name := fmt.Sprintf("syscall_%d", nr)
	if e != nil {
		name = e.name
	}
	fmt.Fprintf(&b, "[%d] %s(%s", t.tid, name, args)
	switch {
	case ret == justReturn:
		b.WriteString(") = ?\n")
	case ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK:
		fmt.Fprintf(&b, ") = ? (interrupted, restart code %d)\n", -ret)
	case ret < 0 && ret > -4096:
		fmt.Fprintf(&b, ") = -1 %s\n", unix.ErrnoName(unix.Errno(-ret)))
	default:
		fmt.Fprintf(&b, ") = %#x\n", ret)
	}
	t.sb.traceMu.Lock()
	fmt.Fprint(t.sb.cfg.TraceOut, b.String())
	t.sb.traceMu.Unlock()
}

// exception handles a CPU exception the stub reported for vector v.
func (t *Thread) exception(v int) {
	frame, ok := t.readFrame(v)
	if !ok {
		t.forceSignal(SIGSEGV, sigInfo{signo: SIGSEGV, code: siKernel})
		return
	}
	atomic.AddUint64(&t.sb.stats.Faults, 1)
	// Put the interrupted user state back; a signal frame saves it.
	t.regs.RIP = frame[1]
	t.regs.RFLAGS = frame[3]
	t.regs.RSP = frame[4]
	if amd64.SetUserMode(t.sregs) {
		t.sregsDirty = true
	}
	if t.sb.xl != nil && amd64.InXLCode(t.regs.RIP) {
		// A fault in the trampoline (a GS base that is not a mailbox, a
		// stack it cannot use): the call takes the exit path.
		t.xlSettle()
		return
	}
	info := sigInfo{code: siKernel}
	switch v {
	case 14: // #PF
		addr, errc := t.sregs.CR2, frame[0]
		if errc&4 != 0 && t.proc.as.Fault(addr, errc&2 != 0, errc&16 != 0) {
			return
		}
		info = sigInfo{signo: SIGSEGV, code: segvMaperr, addr: addr}
		if t.proc.as.BeyondEOF(addr) {
			info = sigInfo{signo: SIGBUS, code: 2 /* BUS_ADRERR */, addr: addr}
		} else if t.proc.as.Find(addr) != nil {
			info.code = segvAccerr
		}
	case 0: // #DE
		info = sigInfo{signo: SIGFPE, code: 1 /* FPE_INTDIV */, addr: frame[1]}
	case 16, 19: // #MF, #XM
		info = sigInfo{signo: SIGFPE, code: siKernel, addr: frame[1]}
	case 1, 3: // #DB, #BP
		info = sigInfo{signo: SIGTRAP, code: siKernel}
	case 6: // #UD
		info = sigInfo{signo: SIGILL, code: 2 /* ILL_ILLOPN */, addr: frame[1]}
	case 17: // #AC
		info = sigInfo{signo: SIGBUS, code: 1 /* BUS_ADRALN */}
	default: // #GP and the rest
		info = sigInfo{signo: SIGSEGV, code: siKernel}
	}
	if t.sb.cfg.Trace {
		t.sb.traceMu.Lock()
		fmt.Fprintf(t.sb.cfg.TraceOut, "[%d] exception %d at rip %#x (cr2 %#x): signal %d\n", t.tid, v, frame[1], t.sregs.CR2, info.signo)
		t.sb.traceMu.Unlock()
	}
	t.forceSignal(int(info.signo), info)
}

// readFrame reads the exception frame; frame[0] is the error code (0 when
// the vector has none), then RIP, CS, RFLAGS, RSP, SS.
func (t *Thread) readFrame(v int) (frame [6]uint64, ok bool) {
	base := amd64.CPUAreaVAOf(t.slot)
	sp := t.regs.RSP
	n := 5
	if amd64.HasErrorCode(v) {
		n = 6
	}
	if sp < base || sp+uint64(n*8) > base+amd64.CPUAreaSize {
		return frame, false
	}
	pa, err := t.sb.kernelPA(base)
	if err != nil {
		return frame, false
	}
	mem := t.sb.phys.Bytes(pa+(sp-base), uint64(n*8))
	off := 0
	if n == 5 {
		off = 1
	}
	for i := 0; i < n; i++ {
		frame[off+i] = binary.LittleEndian.Uint64(mem[i*8:])
	}
	return frame, true
}
