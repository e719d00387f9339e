//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/hv/kvm"
	"github.com/elfuse/elfuse/loader"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// process state kept for calls that only read it back in a one-process
// sandbox.
type procFlags struct {
	dumpable, noNewPrivs, keepCaps, subreaper bool
	pdeathsig                                 int
}

type cred struct {
	uid, euid, suid, fsuid uint32
	gid, egid, sgid, fsgid uint32
	groups                 []uint32
}

// sigAction is a guest's rt_sigaction record, kept in Linux layout terms.
type sigAction struct {
	handler, flags, restorer, mask uint64
}

// Process is one guest process: an address space and Linux process state.
type Process struct {
	sb      *Sandbox
	pid     int
	ppid    int
	as      *mm.AddressSpace
	fds     *fdTable
	cwd     string // guest path
	umask   uint32
	cred    cred
	comm    string
	exePath string
	actions [NSIG]sigAction
	rlimits map[int]unix.Rlimit
	flags   procFlags
	pgid    int
	sid     int
}

func (sb *Sandbox) newProcess() (*Process, error) {
	as, err := mm.NewAddressSpace(sb.phys, sb.kernel)
	if err != nil {
		return nil, err
	}
	cwd := sb.cwd
	uid, gid := uint32(unix.Getuid()), uint32(unix.Getgid())
	p := &Process{sb: sb, pid: 1, pgid: 1, sid: 1, flags: procFlags{dumpable: true}, as: as, fds: newFDTable(), cwd: cwd, umask: 0o022,
		cred:    cred{uid: uid, euid: uid, suid: uid, fsuid: uid, gid: gid, egid: gid, sgid: gid, fsgid: gid},
		rlimits: map[int]unix.Rlimit{}}
	if gs, err := unix.Getgroups(); err == nil {
		for _, g := range gs {
			p.cred.groups = append(p.cred.groups, uint32(g))
		}
	}
	return p, nil
}

// Thread is one guest thread, run by one vCPU on one locked OS thread.
type Thread struct {
	sb         *Sandbox
	proc       *Process
	tid        int
	cpu        *kvm.VCPU
	regs       *hv.AMD64Regs
	sregs      *hv.AMD64SRegs
	sregsDirty bool
	exits      uint64
	clearTID   uint64
	robust     uint64
	sigmask    uint64
	pending    uint64
	altstack   [3]uint64 // ss_sp, ss_flags, ss_size
	status     ExitStatus
	done       bool
}

// run starts the image's first instruction on a new vCPU and serves the
// thread until the process ends.
func (t *Thread) run(img *loader.Image) (st ExitStatus, err error) {
	vcpuThread(func() { st, err = t.loop(img) })
	return st, err
}

func (t *Thread) loop(img *loader.Image) (ExitStatus, error) {
	sb := t.sb
	if _, err := sb.cpuPage(0); err != nil {
		return ExitStatus{}, err
	}
	cpu, err := sb.vm.NewAMD64VCPU()
	if err != nil {
		return ExitStatus{}, err
	}
	defer cpu.Close()
	t.cpu, t.regs, t.sregs = cpu, cpu.Regs(), cpu.SRegs()
	if err := cpu.SetMSRs(amd64.SyscallMSRs(false)); err != nil {
		return ExitStatus{}, err
	}
	root, _ := t.proc.as.Commit()
	amd64.InitSRegs(t.sregs, root, 0)
	if err := cpu.EnableXSAVE(); err != nil {
		return ExitStatus{}, err
	}
	sb.tmark("vcpu")
	sb.calibrate(cpu)
	sb.tmark("calibrated")
	*t.regs = hv.AMD64Regs{RIP: img.Entry, RSP: img.SP, RFLAGS: amd64.UserFlags(0)}
	cpu.SetDirty(true, true)

	var watchdog *time.Timer
	if sb.cfg.Timeout > 0 {
		watchdog = time.AfterFunc(sb.cfg.Timeout, cpu.Kick)
		defer watchdog.Stop()
	}
	for !t.done {
		if watchdog != nil {
			watchdog.Reset(sb.cfg.Timeout)
		}
		ex, err := cpu.Run()
		t.exits++
		if err != nil {
			return ExitStatus{}, err
		}
		dirtyRegs := false
		switch ex.Kind {
		case hv.ExitIO:
			switch {
			case ex.Port == amd64.PortSyscall:
				t.syscall()
				dirtyRegs = true
			case ex.Port >= amd64.PortException && ex.Port < amd64.PortException+32:
				t.exception(int(ex.Port - amd64.PortException))
				dirtyRegs = true
			default:
				return ExitStatus{}, fmt.Errorf("guest wrote unknown port %#x at %#x", ex.Port, t.regs.RIP)
			}
		case hv.ExitInterrupted:
			continue
		default:
			return ExitStatus{}, fmt.Errorf("vCPU stopped: %v at rip %#x", ex, t.regs.RIP)
		}
		if t.done {
			break
		}
		if sb.vdso.valid && time.Now().After(sb.vdso.next) {
			sb.tmark("vcpu")
	sb.calibrate(cpu)
	sb.tmark("calibrated")
		}
		if root, changed := t.proc.as.Commit(); changed {
			t.sregs.CR3 = root
			t.sregsDirty = true
		}
		cpu.SetDirty(dirtyRegs, t.sregsDirty)
		t.sregsDirty = false
	}
	return t.status, nil
}

// syscall serves one system call and returns to user mode.
func (t *Thread) syscall() {
	r := t.regs
	nr := r.RAX
	args := [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}
	t.sb.stats.Syscalls++
	var ret int64
	var e *sysEntry
	if nr < uint64(len(amd64Table)) {
		e = &amd64Table[nr]
	}
	if e == nil || e.fn == nil {
		name := ""
		if e != nil {
			name = e.name
		}
		t.sb.noteUnknown(nr, name)
		ret = -ENOSYS
	} else {
		ret = t.call(e, &args)
	}
	if t.sb.cfg.Trace {
		t.trace(nr, e, &args, ret)
	}
	if t.done {
		return
	}
	r.RAX = uint64(ret)
	if amd64.ReturnFromSyscall(r, t.sregs) {
		t.sregsDirty = true
	}
}

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

func (t *Thread) trace(nr uint64, e *sysEntry, a *[6]uint64, ret int64) {
	var b strings.Builder
	name := fmt.Sprintf("syscall_%d", nr)
	paths := uint8(0)
	if e != nil {
		name, paths = e.name, e.paths
	}
	fmt.Fprintf(&b, "[%d] %s(", t.tid, name)
	for i := 0; i < 6; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if paths&(1<<i) != 0 {
			s, err := t.proc.as.ReadString(a[i], 256)
			if err == nil {
				fmt.Fprintf(&b, "%q", s)
				continue
			}
		}
		fmt.Fprintf(&b, "%#x", a[i])
	}
	if ret < 0 && ret > -4096 {
		fmt.Fprintf(&b, ") = -1 %s\n", unix.ErrnoName(unix.Errno(-ret)))
	} else {
		fmt.Fprintf(&b, ") = %#x\n", ret)
	}
	t.sb.traceMu.Lock()
	fmt.Fprint(t.sb.cfg.TraceOut, b.String())
	t.sb.traceMu.Unlock()
}

// exception handles a CPU exception the stub reported for vector v.
func (t *Thread) exception(v int) {
	// The CPU pushed [error code,] RIP, CS, RFLAGS, RSP, SS on the ring-0
	// stack of vCPU slot 0.
	frame, ok := t.readFrame(v)
	if !ok {
		t.die(SIGSEGV)
		return
	}
	t.sb.stats.Faults++
	var sig int
	switch v {
	case 14: // #PF
		addr := t.sregs.CR2
		errc := frame[0]
		if errc&4 != 0 && t.proc.as.Fault(addr, errc&2 != 0, errc&16 != 0) {
			t.resumeFrame(frame)
			return
		}
		sig = SIGSEGV
	case 0, 16, 19: // #DE, #MF, #XM
		sig = SIGFPE
	case 1, 3: // #DB, #BP
		sig = SIGTRAP
	case 6: // #UD
		sig = SIGILL
	case 17: // #AC
		sig = SIGBUS
	default:
		sig = SIGSEGV
	}
	t.sb.log.Debug("fatal guest exception", "vector", v, "rip", fmt.Sprintf("%#x", frame[1]), "cr2", fmt.Sprintf("%#x", t.sregs.CR2))
	if t.sb.cfg.Trace {
		fmt.Fprintf(t.sb.cfg.TraceOut, "[%d] exception %d at rip %#x (cr2 %#x): signal %d\n", t.tid, v, frame[1], t.sregs.CR2, sig)
	}
	t.die(sig)
}

// readFrame reads the exception frame; frame[0] is the error code (0 when
// the vector has none), then RIP, CS, RFLAGS, RSP, SS.
func (t *Thread) readFrame(v int) (frame [6]uint64, ok bool) {
	base := amd64.CPUAreaVAOf(0)
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

// resumeFrame returns to the interrupted user instruction.
func (t *Thread) resumeFrame(f [6]uint64) {
	t.regs.RIP = f[1]
	t.regs.RFLAGS = amd64.UserFlags(f[3])
	t.regs.RSP = f[4]
	amd64.SetUserMode(t.sregs)
	t.sregsDirty = true
}

// die ends the process as if killed by sig.
func (t *Thread) die(sig int) {
	t.status = ExitStatus{Signal: sig}
	t.done = true
}

// exitProcess ends the process with code.
func (t *Thread) exitProcess(code int) {
	t.status = ExitStatus{Code: code & 0xff}
	t.done = true
}
