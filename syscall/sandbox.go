//go:build linux && amd64

package syscall

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/hv/kvm"
	"github.com/elfuse/elfuse/loader"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// Config says what a sandbox runs and how.
type Config struct {
	// Path is the executable (a guest path, resolved by the resolver).
	Path string
	Argv []string
	Env  []string
	// Sysroot, when set, is tried first for guest absolute paths.
	Sysroot string
	// Root, when set, confines the guest to this host directory (a
	// container's root filesystem), with Mounts laid over it.
	Root   string
	Mounts []Mount
	// Cwd is the guest's working directory (a guest path); empty means
	// the host's.
	Cwd string
	// Trace writes a line per system call to Log.
	Trace bool
	// Log receives diagnostics; nil discards them.
	Log *slog.Logger
	// TraceOut receives the syscall trace (stderr by default).
	TraceOut io.Writer
	// Timeout bounds one run of a vCPU before the host looks at it again
	// (0 disables the watchdog).
	Timeout time.Duration
	// RAM is the guest RAM reservation in bytes (default 32 GiB, reserved
	// but not committed).
	RAM uint64
	// Stdin, Stdout, Stderr are host fds for the guest's fds 0-2.
	Stdin, Stdout, Stderr int
	// ExtraFiles are host fds given to the first process as its fds 3 and
	// up (runc's --preserve-fds).
	ExtraFiles []int
	// ReadOnlyRoot makes a confined root read-only (EROFS), mounts over it
	// aside.
	ReadOnlyRoot bool
	// Caps are the guest's capability sets; nil: the elfuse process's own.
	Caps *Caps
	// Cred is the first process's identity; nil is the host's.
	Cred *Cred
	// Umask is the first process's umask; nil is 022.
	Umask *uint32
	// Rlimits override the host's limits for the first process.
	Rlimits []Rlimit
	// Hostname and Domainname are what uname reports; "" is the host's
	// name and "(none)".
	Hostname, Domainname string
	// Sysctl are /proc/sys values by dotted name (net.ipv4.ip_forward),
	// over elfuse's own.
	Sysctl map[string]string
	// OOMScoreAdj is what /proc/PID/oom_score_adj reads.
	OOMScoreAdj int
	// UIDMap and GIDMap are what /proc/PID/uid_map and gid_map show (a
	// container's user namespace mappings); empty is the identity.
	UIDMap, GIDMap []IDMap
	// Syscalls chooses the exit or the exitless path for system calls.
	Syscalls SyscallMode
}

// Stats are counters of a finished sandbox (updated atomically).
type Stats struct {
	Exits    uint64
	Syscalls uint64
	Faults   uint64
	// Exitless counts the calls servers ran without an exit, Patched the
	// call sites rewritten for it, ServerCPU the server threads' CPU time
	// (ns).
	Exitless  uint64
	Patched   uint64
	ServerCPU uint64
}

// Sandbox is one VM holding the guest processes of one container.
type Sandbox struct {
	cfg    Config
	log    *slog.Logger
	vm     *kvm.VM
	sys    *kvm.System
	phys   *mm.Phys
	kernel *mm.Kernel
	res    *Resolver
	synth  *synthFS // /proc and /sys
	cwd    string   // host path of the first process's working directory
	hwcap  uint64

	vdso     *vdso
	xl       *xlServers // exitless call servers; nil in exit mode
	exeNames exeNames   // canonical paths of executables (execve)
	// running counts the guest threads that use a core: running guest
	// code (or waiting in the exitless trampoline) or elfuse's handling
	// of their exits, and not blocked in a wait (Thread.block).
	running atomic.Int32

	// The process table and everything about process state changes.
	procs      map[int]*Process
	tids       map[int]*Thread
	lastPID    int
	init       *Process
	initStatus int
	// waiters are the threads blocked in wait4 and waitid: a process state
	// change notifies each one (broadcastLocked).
	waiters     map[*Thread]struct{}
	done        chan struct{} // closed when the first process ends
	wg          sync.WaitGroup
	slots       []bool
	idle        []*worker // workers between guest threads
	workersDone bool      // the sandbox has ended: workers stop
	errMu       sync.Mutex
	err         error

	// Start and Wait.
	first       *Thread
	firstState  startState
	startOnce   sync.Once
	waitOnce    sync.Once
	started     bool
	stopForward func()
	waitErr     error

	// The guest's view of its terminals (sb.mu), by host device number;
	// startTTY is the one the first process's stdin is, if any.
	ttys     map[uint64]*ttyState
	startTTY uint64

	// Pause and Resume: threads wait on resume while paused is set.
	paused  bool
	pausing atomic.Bool // paused, read without sb.mu on each guest entry
	resume  *sync.Cond

	xsaveSize int    // bytes of XSAVE state in signal frames
	xcr0      uint64 // XSAVE features enabled
	initXSAVE []byte // the FPU state of a new program
	calOnce   sync.Once
	futex     futexes
	tmark     func(string)
	mu        sync.Mutex
	unknown   map[uint64]bool // unimplemented calls already logged

	// The names sethostname and setdomainname set (sb.mu).
	hostname, domainname string
	hostSet, domainSet   bool
	stats                Stats
	traceMu              sync.Mutex
}

// ExitStatus is how the guest's first process ended: Code for exit(Code),
// Signal for death by a signal.
type ExitStatus struct {
	Code   int
	Signal int
}

// Status is the shell-style status: the code, or 128+signal.
func (e ExitStatus) Status() int {
	if e.Signal != 0 {
		return 128 + e.Signal
	}
	return e.Code
}

// LoadError is an executable elfuse refuses to run.
type LoadError struct {
	Path string
	Err  error
}

func (e *LoadError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// Run runs cfg.Path until its first process exits.
func Run(cfg Config) (ExitStatus, Stats, error) {
	sb, err := New(cfg)
	if err != nil {
		return ExitStatus{}, Stats{}, err
	}
	sb.Start()
	return sb.Wait()
}

// New builds a sandbox and loads its first process up to the entrypoint's
// first instruction, which runs at Start. A sandbox that is never started
// must be closed.
func New(cfg Config) (*Sandbox, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.TraceOut == nil {
		cfg.TraceOut = os.Stderr
	}
	if cfg.RAM == 0 {
		cfg.RAM = 32 << 30
	}
	sb := &Sandbox{cfg: cfg, log: cfg.Log, unknown: map[uint64]bool{},
		procs: map[int]*Process{}, tids: map[int]*Thread{}, waiters: map[*Thread]struct{}{}, done: make(chan struct{}),
		ttys: map[uint64]*ttyState{}}
	sb.resume = sync.NewCond(&sb.mu)
	// The guest's umask is applied by elfuse; the host's must not add to it.
	unix.Umask(0)
	// A broken pipe is the guest's SIGPIPE, raised by elfuse; elfuse itself
	// only sees EPIPE.
	signal.Ignore(unix.SIGPIPE)
	var err error
	if sb.synth, err = newSynthFS(sb); err != nil {
		return nil, err
	}
	if sb.res, err = newResolverFor(cfg, sb.synth); err != nil {
		sb.synth.close()
		return nil, err
	}
	if cfg.Cwd == "" {
		sb.cwd, err = sb.res.GuestCwd()
	} else {
		sb.cwd, err = sb.res.Chdir(nil, "/", cfg.Cwd)
	}
	if err != nil {
		sb.closeFS()
		return nil, fmt.Errorf("working directory %q: %w", cfg.Cwd, err)
	}
	exe, interp, exeGuest, argv, err := sb.openExe(sb.cwd, cfg.Path, cfg.Argv)
	if err != nil {
		sb.closeFS()
		return nil, &LoadError{cfg.Path, err}
	}
	defer exe.Close()
	if interp != nil {
		defer interp.Close()
	}
	start := time.Now()
	tmark := func(phase string) { sb.log.Debug("startup", "phase", phase, "elapsed", time.Since(start)) }
	sb.tmark = tmark
	sys, err := kvm.Open()
	tmark("kvm open")
	if err != nil {
		sb.closeFS()
		return nil, err
	}
	sb.sys = sys
	if err := sb.setup(); err != nil {
		sb.close()
		return nil, err
	}
	tmark("setup")
	p, err := sb.newProcess(1, sb.cwd, cfg.Cred)
	if err != nil {
		sb.close()
		return nil, err
	}
	img, err := sb.loadImage(p, exe, interp, cfg.Path, argv, cfg.Env)
	if err != nil {
		sb.close()
		return nil, &LoadError{cfg.Path, err}
	}
	if sb.res.Confined() {
		p.exePath = exeGuest
	}
	if key, ok := sb.ttyKey(cfg.Stdin); ok {
		if _, err := unix.IoctlGetTermios(cfg.Stdin, unix.TCGETS); err == nil {
			sb.startTTY = key
		}
	}
	if err := p.fds.initStdio(append([]int{cfg.Stdin, cfg.Stdout, cfg.Stderr}, cfg.ExtraFiles...)...); err != nil {
		sb.close()
		return nil, err
	}
	t, err := sb.newThread(p, 1)
	if err != nil {
		sb.close()
		return nil, err
	}
	sb.mu.Lock()
	p.threads[1] = t
	sb.tids[1] = t
	sb.mu.Unlock()
	tmark("loaded")
	sb.first = t
	sb.firstState = startState{regs: hv.AMD64Regs{RIP: img.Entry, RSP: img.SP}}
	return sb, nil
}

// Start runs the first process. It does nothing after the first call.
func (sb *Sandbox) Start() {
	sb.startOnce.Do(func() {
		sb.stopForward = sb.forwardSignals()
		sb.first.start(sb.firstState)
		sb.started = true
	})
}

// Wait waits for the first process to end, then for every guest thread,
// and releases the VM. Its result is the first process's status.
func (sb *Sandbox) Wait() (ExitStatus, Stats, error) {
	sb.waitOnce.Do(func() {
		if !sb.started {
			sb.close()
			sb.waitErr = errors.New("sandbox was not started")
			return
		}
		<-sb.done
		sb.stopForward()
		sb.wg.Wait()
		sb.stopWorkers()
		sb.tmark("ran")
		sb.close()
		sb.waitErr = sb.failure()
	})
	if sb.waitErr != nil {
		return ExitStatus{}, sb.stats, sb.waitErr
	}
	return statusOf(sb.initStatus), sb.stats, nil
}

// Close releases a sandbox that was never started.
func (sb *Sandbox) Close() {
	sb.startOnce.Do(func() {})
	sb.waitOnce.Do(func() { sb.close(); sb.waitErr = errors.New("sandbox closed") })
}

// openExe opens and validates the executable at guest path p (from the
// guest directory cwd) and its interpreter. A "#!" script is run by its
// interpreter, as execve does: the argv to start with is returned.
func (sb *Sandbox) openExe(cwd, p string, argv []string) (exe, interp *loader.Exe, guest string, nargv []string, err error) {
	for depth := 0; ; depth++ {
		var head []byte
		if head, err = sb.readHead(cwd, p); err != nil {
			return nil, nil, "", nil, err
		}
		if !bytes.HasPrefix(head, []byte("#!")) {
			break
		}
		if depth >= maxScriptDepth {
			return nil, nil, "", nil, unix.ELOOP
		}
		var e int64
		if p, argv, e = scriptArgv(head, p, argv); e != 0 {
			return nil, nil, "", nil, unix.Errno(-e)
		}
	}
	exe, interp, guest, err = sb.openELF(cwd, p)
	return exe, interp, guest, argv, err
}

// readHead reads the start of the file at guest path p, as much as execve
// looks at.
func (sb *Sandbox) readHead(cwd, p string) ([]byte, error) {
	var keep []int
	defer func() { closeAll(keep) }()
	l, err := sb.res.Lookup(nil, cwd, p, true, &keep)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(l.hostPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, binprmBuf)
	n, _ := f.ReadAt(head, 0)
	return head[:n], nil
}

// openELF opens and validates the ELF executable at guest path p and its
// interpreter.
func (sb *Sandbox) openELF(cwd, p string) (exe, interp *loader.Exe, guest string, err error) {
	var keep []int
	defer func() { closeAll(keep) }()
	l, err := sb.res.Lookup(nil, cwd, p, true, &keep)
	if err != nil {
		return nil, nil, "", err
	}
	guest = l.guest
	exe, err = loader.Open(l.hostPath())
	if err != nil {
		return nil, nil, "", err
	}
	if exe.ELF.Arch != loader.AMD64 {
		exe.Close()
		return nil, nil, "", fmt.Errorf("%s ELF needs a translator, which this build does not have", exe.ELF.Arch)
	}
	if exe.ELF.Interp != "" {
		ip, err := sb.res.Resolve(nil, "/", exe.ELF.Interp, true, &keep)
		if err == nil {
			interp, err = loader.Open(ip)
		}
		if err != nil {
			exe.Close()
			return nil, nil, "", fmt.Errorf("interpreter %s: %w", exe.ELF.Interp, err)
		}
		if interp.ELF.Arch != exe.ELF.Arch || interp.ELF.Interp != "" {
			exe.Close()
			interp.Close()
			return nil, nil, "", fmt.Errorf("interpreter %s is not a usable %s loader", exe.ELF.Interp, exe.ELF.Arch)
		}
	}
	return exe, interp, guest, nil
}

func (sb *Sandbox) setup() error {
	vm, err := sb.sys.NewVM()
	if err != nil {
		return err
	}
	sb.vm = vm
	sb.tmark("newvm")
	sb.phys, err = mm.NewPhys(sb.cfg.RAM, 2<<30, vm.MapMemory)
	if err != nil {
		return err
	}
	// ELFUSE_PAGE_TABLES=replace keeps the path every backend honours
	// (new tables and root for each change that takes a translation
	// away), to compare the two.
	if vm.FollowsHostMappings() && os.Getenv("ELFUSE_PAGE_TABLES") != "replace" {
		if err := sb.phys.SetCoherent(true); err != nil {
			sb.log.Debug("page tables: replaced on every change", "err", err)
		}
	}
	// Frames that held page tables hold them again once KVM has been told
	// to forget its shadows of them.
	sb.phys.SetTableFlush(vm.FlushShadows)
	sb.tmark("newphys")
	sb.kernel, err = mm.NewKernel(sb.phys)
	if err != nil {
		return err
	}
	if _, err := sb.kernel.MapPage(amd64.StubVA, amd64.StubPage(), false); err != nil {
		return err
	}
	idt, err := sb.kernel.MapPage(amd64.IDTVA, amd64.IDTPage(), false)
	if err != nil {
		return err
	}
	if sb.cfg.Syscalls.exitless() {
		sb.xl = newXLServers(sb, sb.phys.Page(idt)[amd64.XLStatusOff:])
	}
	sb.tmark("kernel")
	_, _, _, edx, _ := sb.sys.CPUID(1, 0)
	sb.hwcap = uint64(edx)
	return sb.setupVDSO()
}

func (sb *Sandbox) close() {
	if sb.xl != nil {
		sb.xl.close()
	}
	if sb.phys != nil {
		sb.phys.Close()
	}
	if sb.vm != nil {
		sb.vm.Close()
	}
	sb.closeFS()
}

func (sb *Sandbox) loadImage(p *Process, exe, interp *loader.Exe, execfn string, argv, env []string) (*loader.Image, error) {
	params := &loader.Params{Argv: argv, Envp: env, ExecFn: execfn,
		UID: p.cred.uid, EUID: p.cred.euid, GID: p.cred.gid, EGID: p.cred.egid,
		HWCap: sb.hwcap, HWCap2: 2, Platform: "x86_64", MinSigStk: 2048}
	if _, err := rand.Read(params.Random[:]); err != nil {
		return nil, err
	}
	vd, err := sb.mapVDSO(p.as)
	if err != nil {
		return nil, err
	}
	params.VDSO = vd
	img, err := loader.Load(p.as, exe, interp, params)
	if err != nil {
		return nil, err
	}
	p.exePath = exe.File.Name()
	if hp, err := readlinkFD(int(exe.File.Fd())); err == nil {
		p.exePath = hp // canonical, as Linux's /proc/PID/exe is
	}
	p.argv = argv
	p.strs = stackStrings{img.ArgStart, img.ArgEnd, img.EnvStart, img.EnvEnd}
	// As execve names it: the file name it was given, up to 15 bytes.
	p.comm = path.Base(execfn)
	if len(p.comm) > 15 {
		p.comm = p.comm[:15]
	}
	return img, nil
}

// allocSlot reserves a vCPU area (GDT, TSS, ring-0 stack), mapping its
// page the first time the slot is used.
func (sb *Sandbox) allocSlot() (int, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for i, used := range sb.slots {
		if !used {
			sb.slots[i] = true
			return i, nil
		}
	}
	i := len(sb.slots)
	if i >= amd64.MaxVCPUAreas || i >= sb.sys.MaxVCPUs() && sb.sys.MaxVCPUs() > 0 {
		return 0, fmt.Errorf("no vCPU left (%d in use): %w", i, unix.EAGAIN)
	}
	va := amd64.CPUAreaVAOf(i)
	if _, err := sb.kernel.MapPage(va, amd64.CPUPage(va), true); err != nil {
		return 0, err
	}
	sb.slots = append(sb.slots, true)
	return i, nil
}

// takeWorker returns an idle worker, or nil.
func (sb *Sandbox) takeWorker() *worker {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if n := len(sb.idle); n > 0 {
		w := sb.idle[n-1]
		sb.idle = sb.idle[:n-1]
		return w
	}
	return nil
}

// parkWorker makes a worker whose thread ended idle; it returns false
// when the sandbox has ended and the worker must stop.
func (sb *Sandbox) parkWorker(w *worker) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.workersDone {
		return false
	}
	sb.idle = append(sb.idle, w)
	return true
}

// stopWorkers ends the idle workers and those that go idle later.
func (sb *Sandbox) stopWorkers() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.workersDone = true
	for _, w := range sb.idle {
		w.stop = true
		w.parker.notify()
	}
	sb.idle = nil
}

func (sb *Sandbox) freeSlot(i int) {
	if i < 0 {
		return
	}
	sb.mu.Lock()
	sb.slots[i] = false
	sb.mu.Unlock()
}

// calibrateOnce does what needs a first vCPU: the clock calibration and
// the initial XSAVE state.
func (sb *Sandbox) calibrateOnce(cpu *kvm.VCPU) {
	sb.calOnce.Do(func() {
		sb.calibrate(cpu)
		xs, err := cpu.GetXSAVE()
		if err == nil {
			sb.initXSAVE = xs
		}
		eax, ebx, _, edx, _ := sb.sys.CPUID(0xd, 0)
		sb.xcr0 = (uint64(edx)<<32 | uint64(eax)) & 0xe7
		sb.xsaveSize = int(ebx)
		if sb.xsaveSize < 576 || sb.xsaveSize > kvm.XSAVESize {
			sb.xsaveSize = 576 + 256
		}
	})
}

// fail records a sandbox failure (a vCPU that cannot run).
func (sb *Sandbox) fail(err error) {
	sb.errMu.Lock()
	if sb.err == nil {
		sb.err = err
	}
	sb.errMu.Unlock()
}

func (sb *Sandbox) failure() error {
	sb.errMu.Lock()
	defer sb.errMu.Unlock()
	return sb.err
}

// noteUnknown logs an unimplemented call once.
func (sb *Sandbox) noteUnknown(nr uint64, name string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.unknown[nr] {
		return
	}
	sb.unknown[nr] = true
	if name == "" {
		name = fmt.Sprintf("syscall_%d", nr)
	}
	sb.log.Debug("unimplemented system call", "name", name, "nr", nr)
	if sb.cfg.Trace {
		fmt.Fprintf(sb.cfg.TraceOut, "elfuse: unimplemented system call %s (%d)\n", name, nr)
	}
}

// forwardSignals sends the signals a user or runtime sends to elfuse on to
// the first process, which ignores those it has no handler for, as the
// first process of a pid namespace does. Once the guest has made a process
// group the terminal's foreground one (a job-control shell), the keyboard's
// signals (SIGINT, SIGQUIT, SIGTSTP) and SIGWINCH go to that group
// instead, as the terminal would send them. It returns a function that
// stops.
func (sb *Sandbox) forwardSignals() func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGTSTP)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				sb.forwardLocked(int(s.(unix.Signal)))
			case <-stop:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(stop) }
}

func (sb *Sandbox) forwardLocked(sig int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	init := sb.init
	if init == nil || init.zombie {
		return
	}
	fromTTY := sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP || sig == SIGWINCH
	if fg := sb.keyboardGroupLocked(); fromTTY && fg != 0 {
		for _, p := range sb.procs {
			if p.pgid != fg || p.zombie || p == init && p.sig.get(sig).handler <= sigIgn {
				continue
			}
			sb.sendLocked(p, nil, sig, sigInfo{code: siKernel})
		}
		return
	}
	if init.sig.get(sig).handler > sigIgn {
		sb.sendLocked(init, nil, sig, sigInfo{code: siUser})
	}
}

// kernelPA is the physical address of a kernel-area page.
func (sb *Sandbox) kernelPA(va uint64) (uint64, error) {
	return sb.kernel.Lookup(va)
}
