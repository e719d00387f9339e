//go:build linux && amd64

package syscall

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/elfuse/elfuse/hv"
	"golang.org/x/sys/unix"
)

// This file is the sandbox's interface to the programs that manage it
// from outside (the OCI runtime and the shim): processes started into a
// running sandbox, signals, pause and resume.

// Cred is a guest process's identity.
type Cred struct {
	UID, GID uint32
	Groups   []uint32
}

// Rlimit is one resource limit, by Linux's resource number.
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// ProcessConfig is one more process to start in a running sandbox, as
// `runc exec` does. Its parent is outside the sandbox: its getppid is 0
// and Wait on its handle reaps it.
type ProcessConfig struct {
	Path                  string
	Argv, Env             []string
	Cwd                   string // a guest path; "" is the first process's
	Cred                  *Cred  // nil: the sandbox's configured identity
	Stdin, Stdout, Stderr int    // host fds, duplicated
	ExtraFiles            []int  // host fds for guest fds 3 and up
	// Terminal makes the process the leader of a new session whose
	// controlling terminal is Stdin, in the foreground (runc exec -t).
	Terminal bool
}

// Child is a process started by Exec.
type Child struct {
	p    *Process
	done chan struct{}
}

// Pid is the child's guest pid.
func (c *Child) Pid() int { return c.p.pid }

// Wait waits for the child to exit.
func (c *Child) Wait() ExitStatus {
	<-c.done
	return statusOf(c.p.status)
}

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Signal sends sig to the child, as kill(2) from outside the sandbox
// would (the child is no pid-namespace init: default actions apply).
func (c *Child) Signal(sig int) error {
	if sig < 1 || sig > NSIG {
		return fmt.Errorf("signal %d: %w", sig, unix.EINVAL)
	}
	sb := c.p.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if c.p.zombie {
		return errors.New("the process has exited")
	}
	sb.sendLocked(c.p, nil, sig, sigInfo{code: siUser})
	return nil
}

// Exec starts a process in the running sandbox.
func (sb *Sandbox) Exec(pc ProcessConfig) (*Child, error) {
	select {
	case <-sb.done:
		return nil, errors.New("the sandbox has ended")
	default:
	}
	cwd := sb.cwd
	if pc.Cwd != "" {
		var err error
		if cwd, err = sb.res.Chdir(nil, "/", pc.Cwd); err != nil {
			return nil, fmt.Errorf("working directory %q: %w", pc.Cwd, err)
		}
	}
	exe, interp, exeGuest, argv, err := sb.openExe(cwd, pc.Path, pc.Argv)
	if err != nil {
		return nil, &LoadError{pc.Path, err}
	}
	defer exe.Close()
	if interp != nil {
		defer interp.Close()
	}
	sb.mu.Lock()
	pid := sb.allocPID()
	sb.mu.Unlock()
	cred := sb.cfg.Cred
	if pc.Cred != nil {
		cred = pc.Cred
	}
	p, err := sb.newProcess(pid, cwd, cred)
	if err != nil {
		return nil, err
	}
	c := &Child{p: p, done: make(chan struct{})}
	p.external = c.done
	fail := func(err error) (*Child, error) {
		sb.mu.Lock()
		delete(sb.procs, pid)
		sb.mu.Unlock()
		p.fds.release()
		p.as.Release()
		return nil, err
	}
	img, err := sb.loadImage(p, exe, interp, pc.Path, argv, pc.Env)
	if err != nil {
		return fail(&LoadError{pc.Path, err})
	}
	if sb.res.Confined() {
		p.exePath = exeGuest
	}
	if err := p.fds.initStdio(append([]int{pc.Stdin, pc.Stdout, pc.Stderr}, pc.ExtraFiles...)...); err != nil {
		return fail(err)
	}
	t, err := sb.newThread(p, pid)
	if err != nil {
		return fail(err)
	}
	sb.mu.Lock()
	init := sb.init
	if init == nil || init.zombie || init.exiting.Load() {
		sb.mu.Unlock()
		unix.Close(t.wakeFD)
		return fail(errors.New("the sandbox has ended"))
	}
	// In the first process's session, as runc's exec joins the container;
	// with a terminal, in a session of its own that holds it.
	p.pgid, p.sid = pid, init.sid
	if pc.Terminal {
		p.sid = pid
		sb.claimTerminalLocked(p, pc.Stdin)
	}
	p.threads[pid] = t
	sb.tids[pid] = t
	sb.mu.Unlock()
	t.start(startState{regs: hv.AMD64Regs{RIP: img.Entry, RSP: img.SP}})
	return c, nil
}

// Signal sends signal sig to the first process, or with all to every
// process of the sandbox. As in a pid namespace, the first process takes
// only SIGKILL, SIGSTOP and the signals it has a handler for.
func (sb *Sandbox) Signal(sig int, all bool) error {
	if sig < 1 || sig > 64 {
		return fmt.Errorf("signal %d: %w", sig, unix.EINVAL)
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	init := sb.init
	if init == nil || init.zombie {
		return errors.New("the sandbox has ended")
	}
	if all {
		for _, p := range sb.procs {
			if p != init && !p.zombie {
				sb.sendLocked(p, nil, sig, sigInfo{code: siUser})
			}
		}
	}
	if sig == SIGKILL || sig == SIGSTOP || init.sig.get(sig).handler > sigIgn {
		sb.sendLocked(init, nil, sig, sigInfo{code: siUser})
	}
	return nil
}

// Pids lists the guest pids of the sandbox's processes, zombies included.
func (sb *Sandbox) Pids() []int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	out := make([]int, 0, len(sb.procs))
	for pid := range sb.procs {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out
}

// Pause stops every guest thread before its next instruction in the
// guest; threads blocked in the host stop when their call returns. It
// returns once no vCPU runs guest code.
func (sb *Sandbox) Pause() {
	sb.mu.Lock()
	sb.paused = true
	sb.pausing.Store(true)
	sb.mu.Unlock()
	for {
		running := false
		sb.mu.Lock()
		for _, t := range sb.tids {
			if t.inGuest.Load() {
				running = true
				if c := t.cpu; c != nil {
					c.Kick()
				}
			}
		}
		sb.mu.Unlock()
		if !running {
			return
		}
		time.Sleep(100 * time.Microsecond)
		runtime.Gosched()
	}
}

// Resume lets paused threads run again.
func (sb *Sandbox) Resume() {
	sb.mu.Lock()
	sb.paused = false
	sb.pausing.Store(false)
	sb.resume.Broadcast()
	sb.mu.Unlock()
}

// Paused reports whether the sandbox is paused.
func (sb *Sandbox) Paused() bool { return sb.pausing.Load() }

// waitIfPaused holds a thread that is about to enter the guest (inGuest
// set) while the sandbox is paused; it returns early for a thread that
// must end.
func (t *Thread) waitIfPaused() {
	sb := t.sb
	sb.mu.Lock()
	for sb.paused && !t.killed.Load() {
		// Pause counts a thread with inGuest clear as stopped.
		t.inGuest.Store(false)
		sb.resume.Wait()
		t.inGuest.Store(true)
	}
	sb.mu.Unlock()
}

// Done is closed when the first process has ended.
func (sb *Sandbox) Done() <-chan struct{} { return sb.done }

// ProcInfo describes one guest process, for `ps`.
type ProcInfo struct {
	Pid, PPid, PGid, SID int
	UID, GID             uint32
	// State is Linux's one-letter state: R running, S sleeping, T
	// stopped, Z zombie.
	State string
	Comm  string
	Argv  []string
}

// Processes lists the sandbox's guest processes by pid.
func (sb *Sandbox) Processes() []ProcInfo {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	out := make([]ProcInfo, 0, len(sb.procs))
	for _, p := range sb.procs {
		pi := ProcInfo{Pid: p.pid, PGid: p.pgid, SID: p.sid, UID: p.cred.uid, GID: p.cred.gid,
			Comm: p.comm, Argv: append([]string(nil), p.argv...), State: "S"}
		if p.parent != nil {
			pi.PPid = p.parent.pid
		}
		switch {
		case p.zombie:
			pi.State = "Z"
		case p.stopped:
			pi.State = "T"
		default:
			for _, t := range p.threads {
				if t.inGuest.Load() {
					pi.State = "R"
				}
			}
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

// Usage is what a running sandbox uses.
type Usage struct {
	Stats
	// MemoryInUse is the guest RAM handed out, MemoryLimit its bound.
	MemoryInUse, MemoryLimit uint64
}

// Usage reports the sandbox's counters and guest memory now.
func (sb *Sandbox) Usage() Usage {
	u := Usage{Stats: Stats{Exits: atomic.LoadUint64(&sb.stats.Exits), Syscalls: atomic.LoadUint64(&sb.stats.Syscalls),
		Faults: atomic.LoadUint64(&sb.stats.Faults)}}
	if sb.phys != nil {
		u.MemoryInUse, u.MemoryLimit = sb.phys.InUse(), sb.phys.Limit()
	}
	return u
}

// SetMemoryLimit bounds the guest RAM the sandbox may hand out (at most
// its reservation); allocations past it fail as the guest's ENOMEM.
func (sb *Sandbox) SetMemoryLimit(bytes uint64) error {
	if sb.phys == nil {
		return errors.New("the sandbox has no memory yet")
	}
	return sb.phys.SetLimit(bytes)
}
