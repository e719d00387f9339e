package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	lsys "github.com/elfuse/elfuse/syscall"
	"golang.org/x/sys/unix"
)

// sandboxSupported says this build can run containers.
const sandboxSupported = true

// errUnsupported is the error of commands that need a sandbox where this
// build has none.
var errUnsupported = errors.New("not supported on this platform")

// syncFD is the sandbox process's end of the pipe to `create`.
const syncFD = 3

// sandboxProc is the sandbox process: one container's sandbox and its
// control socket.
type sandboxProc struct {
	dir    string
	log    *slog.Logger
	launch *Launch
	sb     *lsys.Sandbox
	res    *lsys.Resolver

	mu      sync.Mutex
	started bool
	stopped bool
	// startCh gets nil when the container starts, or the signal that ends
	// a created container.
	startCh chan int
	conns   sync.WaitGroup
}

// SandboxMain is the hidden `init` command: it builds the sandbox of the
// container whose state directory is dir, reports to `create` on fd 3,
// serves the control socket, and when the container's pid 1 ends exits
// with its status. It returns only on failure before the container ran.
func SandboxMain(dir string, log *slog.Logger) int {
	syncf := os.NewFile(syncFD, "sync")
	report := func(err error) {
		msg := syncMessage{}
		if err != nil {
			msg.Error = err.Error()
		}
		json.NewEncoder(syncf).Encode(msg)
		syncf.Close()
	}
	p := &sandboxProc{dir: dir, log: log, startCh: make(chan int, 1)}
	if os.Getenv(newNetEnv) != "" {
		os.Unsetenv(newNetEnv)
		if err := loopbackUp(); err != nil {
			report(err)
			return 1
		}
	}
	if err := p.build(); err != nil {
		log.Error("sandbox", "error", err)
		report(err)
		return 1
	}
	l, err := listenControl(dir)
	if err != nil {
		p.sb.Close()
		report(err)
		return 1
	}
	if err := setStatus(dir, Created); err != nil {
		p.sb.Close()
		report(err)
		return 1
	}
	go p.serve(l)
	report(nil)
	log.Debug("sandbox created", "dir", dir, "pid", os.Getpid())

	if sig := <-p.startCh; sig != 0 {
		// Killed before start: the container never ran.
		p.sb.Close()
		setStatus(dir, Stopped)
		l.Close()
		dieAs(ExitInfo{Signal: sig})
	}
	st, stats, err := p.sb.Wait()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	setStatus(dir, Stopped)
	l.Close()
	p.res.Close()
	if err != nil {
		log.Error("sandbox failed", "error", err)
		fmt.Fprintf(os.Stderr, "elfuse-runtime: sandbox failed: %v\n", err)
		os.Exit(255)
	}
	log.Debug("container exited", "code", st.Code, "signal", st.Signal, "exits", stats.Exits, "syscalls", stats.Syscalls)
	// Let exec connections report their processes' ends.
	waitTimeout(&p.conns, 500*time.Millisecond)
	dieAs(ExitInfo{Code: st.Code, Signal: st.Signal})
	return 0
}

// build makes the sandbox from the launch file, up to the entrypoint's
// first instruction.
func (p *sandboxProc) build() error {
	l, err := loadLaunch(p.dir)
	if err != nil {
		return err
	}
	p.launch = l
	mounts := sysMounts(l.Mounts)
	if p.res, err = lsys.NewConfinedResolver(l.Root, mounts); err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	exe, err := lookPathIn(l.view(), l.Cwd, l.Args[0], l.Env)
	if err != nil {
		p.res.Close()
		return fmt.Errorf("exec: %w", err)
	}
	var rl []lsys.Rlimit
	for _, r := range l.Rlimits {
		rl = append(rl, lsys.Rlimit{Resource: r.Resource, Cur: r.Cur, Max: r.Max})
	}
	cfg := lsys.Config{
		Path: exe, Argv: l.Args, Env: l.Env, Cwd: l.Cwd, Root: l.Root, Mounts: mounts,
		Cred:  &lsys.Cred{UID: l.UID, GID: l.GID, Groups: l.Groups},
		Umask: l.Umask, Rlimits: rl, Hostname: l.Hostname, Domainname: l.Domainname, Sysctl: l.Sysctl, OOMScoreAdj: l.OOMScoreAdj,
		RAM: l.RAM, Stdin: 0, Stdout: 1, Stderr: 2, Log: p.log, ReadOnlyRoot: l.ReadonlyRoot,
		ExtraFiles: preservedFDs(l.PreserveFDs),
	}
	for _, m := range l.UIDMap {
		cfg.UIDMap = append(cfg.UIDMap, lsys.IDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	for _, m := range l.GIDMap {
		cfg.GIDMap = append(cfg.GIDMap, lsys.IDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	if c := l.Caps; c != nil {
		cfg.Caps = &lsys.Caps{Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable,
			Bounding: c.Bounding, Ambient: c.Ambient}
	}
	if cfg.Syscalls, err = lsys.ParseSyscallMode(l.Syscalls); err != nil {
		p.res.Close()
		return err
	}
	sb, err := lsys.New(cfg)
	if err != nil {
		p.res.Close()
		var le *lsys.LoadError
		if errors.As(err, &le) {
			return fmt.Errorf("exec %s: %w", l.Args[0], err)
		}
		return fmt.Errorf("sandbox: %w", err)
	}
	p.sb = sb
	return nil
}

func sysMounts(ms []Mount) []lsys.Mount {
	var out []lsys.Mount
	for _, m := range ms {
		out = append(out, lsys.Mount{Dest: m.Dest, Source: m.Source, ReadOnly: m.ReadOnly, Synthetic: m.Synthetic,
			Type: m.Type, FSSource: m.FSSource, Root: m.Root, Options: m.Options})
	}
	return out
}

// serve answers control connections until l is closed.
func (p *sandboxProc) serve(l *net.UnixListener) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		p.conns.Add(1)
		go func() {
			defer p.conns.Done()
			p.handle(&conn{c: c})
		}()
	}
}

func (p *sandboxProc) handle(c *conn) {
	defer c.close()
	var req request
	fds, err := c.recv(&req)
	if err != nil {
		return
	}
	if req.Op != "exec" {
		closeFDs(fds)
	}
	var resp response
	switch req.Op {
	case "start":
		err = p.start()
	case "signal":
		err = p.signal(req.Signal, req.All)
	case "exec":
		p.exec(c, req, fds)
		return
	case "pause", "resume":
		err = p.pause(req.Op == "pause")
	case "pids":
		resp.Pids = p.sb.Pids()
	case "update":
		err = p.update(req)
	default:
		err = fmt.Errorf("unknown control request %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	c.send(resp)
}

func (p *sandboxProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("the container has already been started")
	}
	if p.stopped {
		return errors.New("the container has stopped")
	}
	if err := p.startContainerHooks(); err != nil {
		return err
	}
	p.sb.Start()
	p.started = true
	if err := setStatus(p.dir, Running); err != nil {
		p.log.Warn("status file", "error", err)
	}
	p.startCh <- 0
	return nil
}

// startContainerHooks runs the startContainer hooks, in the sandbox
// process, before the entrypoint's first instruction.
func (p *sandboxProc) startContainerHooks() error {
	c, err := loadDir(p.dir)
	if err != nil {
		return err
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	if spec.Hooks == nil {
		return nil
	}
	return runHooks("startContainer", spec.Hooks.StartContainer, c.specState(Created), p.log)
}

func (p *sandboxProc) signal(sig int, all bool) error {
	p.mu.Lock()
	started, stopped := p.started, p.stopped
	p.mu.Unlock()
	if stopped {
		return errors.New("container not running")
	}
	if !started {
		// A created container's sandbox process is what the signal acts on,
		// as runc's init waiting for start is.
		switch unix.Signal(sig) {
		case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH, unix.SIGCONT, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			return nil
		}
		if sig < 1 || sig > 64 {
			return fmt.Errorf("signal %d: %w", sig, unix.EINVAL)
		}
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.startCh <- sig
		return nil
	}
	return p.sb.Signal(sig, all)
}

func (p *sandboxProc) pause(pause bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.stopped {
		return errors.New("container not running")
	}
	if pause {
		p.sb.Pause()
		return setStatus(p.dir, Paused)
	}
	p.sb.Resume()
	return setStatus(p.dir, Running)
}

// memoryLimiter is the sandbox method update needs to change the guest
// RAM of a running sandbox (not in the syscall API yet).
type memoryLimiter interface {
	SetMemoryLimit(bytes uint64) error
}

func (p *sandboxProc) update(req request) error {
	if req.Memory == 0 {
		return nil
	}
	if ml, ok := any(p.sb).(memoryLimiter); ok {
		return ml.SetMemoryLimit(uint64(req.Memory))
	}
	if req.Memory > 0 && uint64(req.Memory) == p.launch.RAM {
		return nil
	}
	return errors.New("changing the memory limit of a running sandbox is not supported yet (the guest RAM is fixed at create)")
}

// childSignaler is the method exec needs to signal one exec'd process
// (not in the syscall API yet).
type childSignaler interface {
	Signal(sig int) error
}

// exec starts one more guest process with the descriptors received, and
// reports its pid and then its end on the connection.
func (p *sandboxProc) exec(c *conn, req request, fds []int) {
	fail := func(err error) {
		closeFDs(fds)
		c.send(response{Error: err.Error()})
	}
	if req.Exec == nil || len(req.Exec.Args) == 0 {
		fail(errors.New("exec: no process"))
		return
	}
	if len(fds) != 3+req.Exec.PreserveFDs {
		fail(fmt.Errorf("exec: %d descriptors received, want %d", len(fds), 3+req.Exec.PreserveFDs))
		return
	}
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		fail(errors.New("cannot exec in a stopped container"))
		return
	}
	e := req.Exec
	cwd := e.Cwd
	if cwd == "" {
		cwd = p.launch.Cwd
	}
	exe, err := lookPathIn(p.launch.view(), cwd, e.Args[0], e.Env)
	if err != nil {
		fail(fmt.Errorf("exec: %w", err))
		return
	}
	pc := lsys.ProcessConfig{Path: exe, Argv: e.Args, Env: e.Env, Cwd: e.Cwd,
		Stdin: fds[0], Stdout: fds[1], Stderr: fds[2], ExtraFiles: fds[3:], Terminal: e.Terminal}
	if e.User {
		pc.Cred = &lsys.Cred{UID: e.UID, GID: e.GID, Groups: e.Groups}
	}
	child, err := p.sb.Exec(pc)
	closeFDs(fds)
	if err != nil {
		c.send(response{Error: fmt.Sprintf("exec %s: %v", e.Args[0], err)})
		return
	}
	p.log.Debug("exec", "pid", child.Pid(), "args", e.Args)
	if err := c.send(response{Pid: child.Pid()}); err != nil {
		p.log.Warn("exec: caller gone", "pid", child.Pid(), "error", err)
	}
	// Signals for the process, until its end.
	go func() {
		for {
			var r request
			if _, err := c.recv(&r); err != nil {
				return
			}
			if r.Op != "signal" {
				continue
			}
			if s, ok := any(child).(childSignaler); ok {
				if err := s.Signal(r.Signal); err != nil {
					p.log.Warn("exec: signal", "pid", child.Pid(), "signal", r.Signal, "error", err)
				}
			} else {
				p.log.Warn("exec: signalling one exec'd process is not supported by the sandbox yet",
					"pid", child.Pid(), "signal", r.Signal)
			}
		}
	}()
	var st lsys.ExitStatus
	select {
	case <-child.Done():
		st = child.Wait()
	case <-p.sb.Done():
		select {
		case <-child.Done():
			st = child.Wait()
		case <-time.After(time.Second):
			// Killed with the sandbox's pid 1.
			st = lsys.ExitStatus{Signal: int(unix.SIGKILL)}
		}
	}
	c.send(response{Exit: &ExitInfo{Code: st.Code, Signal: st.Signal}})
}

// loadDir reads the record of the state directory dir.
func loadDir(dir string) (*Container, error) {
	s := &Store{Root: filepath.Dir(dir)}
	return s.Load(filepath.Base(dir))
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// preservedFDs are the sandbox process's descriptors from --preserve-fds:
// after its report pipe (fd 3).
func preservedFDs(n int) []int {
	var out []int
	for i := 0; i < n; i++ {
		out = append(out, 4+i)
	}
	return out
}
