package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runtime runs the commands of one invocation of the runtime.
type Runtime struct {
	Store *Store
	Log   *slog.Logger
	// Exe is this program, re-executed as the sandbox process and the
	// exec helper; ChildArgs are the global flags they get (--log ...).
	Exe       string
	ChildArgs []string
	// Syscalls is the system call path of containers whose spec does not
	// choose one (exit, exitless, auto; "" is auto).
	Syscalls string
}

// CreateOptions are create's and run's flags.
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int
	// run only
	Detach bool
	Keep   bool
}

// created is a container just created by this process.
type created struct {
	c      *Container
	cmd    *exec.Cmd
	master *os.File // the console's master, kept by a foreground run
}

// Create is `create`: the sandbox process is left waiting for start.
func (r *Runtime) Create(o CreateOptions) error {
	cr, err := r.create(o, false)
	if err != nil {
		return err
	}
	// The sandbox process is not waited for: it goes to our subreaper.
	return cr.cmd.Process.Release()
}

func (r *Runtime) create(o CreateOptions, foreground bool) (cr *created, err error) {
	if !sandboxSupported {
		return nil, errUnsupported
	}
	if err := CheckID(o.ID); err != nil {
		return nil, err
	}
	bundle, spec, err := LoadBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	terminal := spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" && !foreground {
		return nil, errors.New("cannot allocate tty if elfuse-runtime will detach without setting console socket")
	}
	if !terminal && o.ConsoleSocket != "" {
		return nil, errors.New("cannot use console socket if elfuse-runtime will not detach or allocate tty")
	}
	if o.PreserveFDs < 0 {
		return nil, errors.New("--preserve-fds: a negative count")
	}
	if err := os.MkdirAll(r.Store.Root, 0o711); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	dir := r.Store.Dir(o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container with id exists: %s", o.ID)
		}
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer lock.Unlock()
	var cmd *exec.Cmd
	defer func() {
		if err != nil {
			if cmd != nil && cmd.Process != nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			os.RemoveAll(dir)
		}
	}()
	c := &Container{ID: o.ID, Dir: dir, Record: Record{
		OCIVersion: spec.Version, ID: o.ID, Bundle: bundle, Rootfs: RootfsPath(bundle, spec),
		Creator: os.Getpid(), CreatorAt: processStart(os.Getpid()), Created: time.Now().UTC(),
		Owner: owner(), Annotations: spec.Annotations,
	}}
	if err := c.save(); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	sb, err := json.MarshalIndent(spec, "", "  ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, specFile), sb, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}

	var master, slave *os.File
	consolePath := ""
	if terminal {
		if master, slave, consolePath, err = newPty(); err != nil {
			return nil, err
		}
		defer slave.Close()
		defer func() {
			if err != nil || !foreground || o.ConsoleSocket != "" {
				master.Close()
			}
		}()
		if cs := spec.Process.ConsoleSize; cs != nil {
			if err := setWinsize(master, uint16(cs.Height), uint16(cs.Width)); err != nil {
				return nil, fmt.Errorf("console size: %w", err)
			}
		} else if foreground && o.ConsoleSocket == "" && isTerminal(os.Stdin) {
			copyWinsize(master, os.Stdin)
		}
	}
	launch, err := buildLaunch(spec, bundle, dir, consolePath, r.Log)
	if err == nil && launch.Syscalls == "" {
		launch.Syscalls = r.Syscalls
	}
	if err != nil {
		return nil, err
	}
	c.Record.RAM = launch.RAM
	launch.PreserveFDs = o.PreserveFDs
	if err := saveLaunch(dir, launch); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}

	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	cmd = exec.Command(r.Exe, append(append([]string{}, r.ChildArgs...), "init", o.ID)...)
	cmd.Args[0] = "elfuse-runtime"
	// The sandbox process reports on fd 3; the preserved descriptors
	// follow (fds 4 and up), for the guest's fds 3 and up.
	cmd.ExtraFiles = append([]*os.File{wr}, preserved(3, o.PreserveFDs)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if slave != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	}
	cmd.SysProcAttr = sysProcAttr(slave != nil)
	netns, newNet := "", false
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				netns, newNet = ns.Path, ns.Path == ""
			}
		}
	}
	if newNet {
		// A network namespace of its own, with only loopback (brought up
		// by the sandbox process), as runc gives it.
		withNewNetNS(cmd.SysProcAttr)
		cmd.Env = append(os.Environ(), newNetEnv+"=1")
	}
	err = startIn(cmd, netns)
	wr.Close()
	if err != nil {
		cmd = nil
		return nil, fmt.Errorf("sandbox process: %w", err)
	}
	var msg syncMessage
	if derr := json.NewDecoder(rd).Decode(&msg); derr != nil {
		werr := cmd.Wait()
		cmd = nil
		return nil, fmt.Errorf("sandbox process ended before it was ready (%v): %w", werr, derr)
	}
	if msg.Error != "" {
		cmd.Wait()
		cmd = nil
		return nil, errors.New(msg.Error)
	}
	c.Record.Pid = cmd.Process.Pid
	c.Record.PidStart = processStart(c.Record.Pid)
	c.Record.Creator, c.Record.CreatorAt = 0, 0
	if err := c.save(); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	r.Log.Debug("sandbox ready", "id", o.ID, "pid", c.Record.Pid)
	if o.ConsoleSocket != "" {
		if err := sendConsole(o.ConsoleSocket, master); err != nil {
			return nil, err
		}
	}
	if h := spec.Hooks; h != nil {
		st := c.specState(Creating)
		for _, k := range []struct {
			name  string
			hooks []specs.Hook
		}{{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer}} {
			if err := runHooks(k.name, k.hooks, st, r.Log); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				cmd = nil
				runHooksWarn("poststop", h.Poststop, c.specState(Stopped), r.Log)
				return nil, err
			}
		}
	}
	if err := writePidFile(o.PidFile, c.Record.Pid); err != nil {
		return nil, err
	}
	cr = &created{c: c, cmd: cmd}
	if foreground && o.ConsoleSocket == "" {
		cr.master = master
	}
	return cr, nil
}

func owner() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// Start is `start`: the created container's entrypoint runs.
func (r *Runtime) Start(id string) error {
	if !sandboxSupported {
		return errUnsupported
	}
	c, lock, err := r.Store.LockContainer(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	switch st := c.Status(); st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	case Running, Paused:
		return errors.New("cannot start an already running container")
	default:
		return fmt.Errorf("cannot start a container in the %s state", st)
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	// startContainer hooks run in the sandbox process within their own
	// timeouts; without any, a sandbox that does not answer is an error.
	timeout := 30 * time.Second
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		timeout = 0
	}
	if _, err := control(c.Dir, request{Op: "start"}, timeout); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if spec.Hooks != nil {
		runHooksWarn("poststart", spec.Hooks.Poststart, c.specState(Running), r.Log)
	}
	return nil
}

// Run is `run`: create, start and, unless detached, wait for the
// container's end, delete it and return its status.
func (r *Runtime) Run(o CreateOptions) (int, error) {
	cr, err := r.create(o, !o.Detach)
	if err != nil {
		return 1, err
	}
	var proxy *ttyProxy
	if cr.master != nil {
		proxy = startTTYProxy(cr.master, os.Stdin, os.Stdout)
	}
	if err := r.Start(o.ID); err != nil {
		cr.cmd.Process.Kill()
		cr.cmd.Wait()
		if proxy != nil {
			proxy.stop()
		}
		r.Delete(o.ID, true)
		return 1, err
	}
	if o.Detach {
		return 0, cr.cmd.Process.Release()
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				sig := s.(unix.Signal)
				switch sig {
				case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
					continue
				case unix.SIGWINCH:
					if proxy != nil {
						copyWinsize(cr.master, os.Stdin)
					}
					continue
				}
				if _, err := control(cr.c.Dir, request{Op: "signal", Signal: int(sig)}, 5*time.Second); err != nil {
					r.Log.Debug("forward signal", "signal", sig, "error", err)
				}
			case <-done:
				return
			}
		}
	}()
	ps, werr := cr.cmd.Process.Wait()
	close(done)
	signal.Stop(sigs)
	if proxy != nil {
		proxy.stop()
	}
	status := 255
	if werr == nil {
		status = waitStatus(ps)
	}
	if !o.Keep {
		if err := r.Delete(o.ID, true); err != nil {
			r.Log.Warn("delete after run", "error", err)
		}
	}
	return status, werr
}

// waitStatus is a shell-style status of an ended process.
func waitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(interface {
		Signaled() bool
		Signal() unix.Signal
	}); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// State is `state`.
func (r *Runtime) State(id string) (State, error) {
	c, err := r.Store.Load(id)
	if err != nil {
		return State{}, err
	}
	return c.State(), nil
}

// List is `list`.
func (r *Runtime) List() ([]State, error) {
	cs, err := r.Store.List()
	if err != nil {
		return nil, err
	}
	out := make([]State, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.State())
	}
	return out, nil
}

// Kill is `kill`: sig to the container's pid 1, or with all to every
// process of the container.
func (r *Runtime) Kill(id string, sig int, all bool) error {
	c, err := r.Store.Load(id)
	if err != nil {
		return err
	}
	switch c.Status() {
	case Stopped:
		if all {
			return nil
		}
		return errors.New("container not running")
	case Creating:
		return errors.New("container is being created")
	}
	if sig == int(unix.SIGKILL) {
		// Every guest process lives in the sandbox process.
		if err := unix.Kill(c.Record.Pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("kill: %w", err)
		}
		return nil
	}
	if _, err := control(c.Dir, request{Op: "signal", Signal: sig, All: all}, 10*time.Second); err != nil {
		if !processAlive(c.Record.Pid, c.Record.PidStart) {
			if all {
				return nil
			}
			return errors.New("container not running")
		}
		return fmt.Errorf("kill: %w", err)
	}
	return nil
}

// Delete is `delete`: a stopped or created container's state goes, a
// running one's only with force (its sandbox is killed).
func (r *Runtime) Delete(id string, force bool) error {
	c, lock, err := r.Store.LockContainer(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	switch st := c.Status(); st {
	case Stopped:
	case Created:
		r.killWait(c)
	case Running, Paused:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st)
		}
		r.killWait(c)
	case Creating:
		if !force {
			return fmt.Errorf("cannot delete container %s that is being created", id)
		}
	}
	if spec, err := c.Spec(); err == nil && spec.Hooks != nil {
		runHooksWarn("poststop", spec.Hooks.Poststop, c.specState(Stopped), r.Log)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// killWait kills a container's sandbox process and waits for it to end
// (or become a zombie of its parent).
func (r *Runtime) killWait(c *Container) {
	pid, start := c.Record.Pid, c.Record.PidStart
	if !processAlive(pid, start) {
		return
	}
	unix.Kill(pid, unix.SIGKILL)
	for i := 0; i < 2000 && processAlive(pid, start); i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// Pause is `pause`: every vCPU of the sandbox stops.
func (r *Runtime) Pause(id string) error { return r.pauseResume(id, true) }

// Resume is `resume`.
func (r *Runtime) Resume(id string) error { return r.pauseResume(id, false) }

func (r *Runtime) pauseResume(id string, pause bool) error {
	c, lock, err := r.Store.LockContainer(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	st := c.Status()
	if pause && st != Running {
		return fmt.Errorf("container %s is not running: %s", id, st)
	}
	if !pause && st != Paused {
		return fmt.Errorf("container %s is not paused: %s", id, st)
	}
	op := "resume"
	if pause {
		op = "pause"
	}
	if _, err := control(c.Dir, request{Op: op}, 30*time.Second); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Pids is `ps`: the guest pids of the container's processes.
func (r *Runtime) Pids(id string) ([]int, error) {
	c, err := r.Store.Load(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status(); st == Stopped || st == Creating {
		return nil, fmt.Errorf("container %s is not running: %s", id, st)
	}
	resp, err := control(c.Dir, request{Op: "pids"}, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("ps: %w", err)
	}
	if resp.Pids == nil {
		resp.Pids = []int{}
	}
	return resp.Pids, nil
}

// Update is `update`: resources are checked and recorded; the memory
// limit goes to the sandbox.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	c, lock, err := r.Store.LockContainer(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if st := c.Status(); st == Stopped || st == Creating {
		return fmt.Errorf("container %s is not running: %s", id, st)
	}
	if res.Memory != nil && res.Memory.Limit != nil && *res.Memory.Limit != 0 {
		if _, err := control(c.Dir, request{Op: "update", Memory: *res.Memory.Limit}, 10*time.Second); err != nil {
			return fmt.Errorf("update: memory: %w", err)
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.Dir, resFile), b, 0o600)
}

// Stats are `events` statistics, in runc's JSON names. The sandbox is one
// host process, so its host CPU time and resident memory are the
// container's.
type Stats struct {
	CPU struct {
		Usage struct {
			Total  uint64 `json:"total,omitempty"`
			Kernel uint64 `json:"kernel"`
			User   uint64 `json:"user"`
		} `json:"usage"`
	} `json:"cpu"`
	Memory struct {
		Usage struct {
			Limit uint64 `json:"limit,omitempty"`
			Usage uint64 `json:"usage,omitempty"`
			Max   uint64 `json:"max,omitempty"`
		} `json:"usage"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current,omitempty"`
	} `json:"pids"`
}

// Event is one line of `events`.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats reads a running container's statistics.
func (r *Runtime) Stats(id string) (*Stats, error) {
	c, err := r.Store.Load(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status(); st == Stopped || st == Creating {
		return nil, fmt.Errorf("container with id %s is not running", id)
	}
	var s Stats
	_, _, ut, st, err := procStat(c.Record.Pid)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	const tick = uint64(time.Second / 100) // USER_HZ
	s.CPU.Usage.User, s.CPU.Usage.Kernel = ut*tick, st*tick
	s.CPU.Usage.Total = s.CPU.Usage.User + s.CPU.Usage.Kernel
	rss, hwm := procMemory(c.Record.Pid)
	s.Memory.Usage.Usage, s.Memory.Usage.Max = rss, hwm
	s.Memory.Usage.Limit = c.Record.RAM
	if s.Memory.Usage.Limit == 0 {
		s.Memory.Usage.Limit = 32 << 30 // the sandbox's default guest RAM
	}
	if resp, err := control(c.Dir, request{Op: "pids"}, 5*time.Second); err == nil {
		s.Pids.Current = uint64(len(resp.Pids))
	}
	return &s, nil
}

// procMemory reads a process's resident and peak resident memory.
func procMemory(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// Events is `events`: with statsOnly one stats event, else one every
// interval until the container stops.
func (r *Runtime) Events(id string, interval time.Duration, statsOnly bool, w io.Writer) error {
	if interval <= 0 {
		return errors.New("duration interval must be greater than 0")
	}
	enc := json.NewEncoder(w)
	for {
		s, err := r.Stats(id)
		if err != nil {
			if statsOnly {
				return err
			}
			if c, lerr := r.Store.Load(id); lerr != nil || c.Status() == Stopped {
				return nil
			}
			return err
		}
		if err := enc.Encode(Event{Type: "stats", ID: id, Data: s}); err != nil {
			return err
		}
		if statsOnly {
			return nil
		}
		time.Sleep(interval)
	}
}

// ttyProxy copies between the user's terminal and a console master.
type ttyProxy struct {
	restore func()
	wg      sync.WaitGroup
}

func startTTYProxy(master, in, out *os.File) *ttyProxy {
	p := &ttyProxy{}
	if isTerminal(in) {
		if restore, err := makeRaw(in); err == nil {
			p.restore = restore
		}
	}
	go io.Copy(master, in)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.Copy(out, master)
	}()
	return p
}

// stop waits for the console's output to drain (its last writer gone)
// and restores the terminal.
func (p *ttyProxy) stop() {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	if p.restore != nil {
		p.restore()
	}
}

// newNetEnv tells a sandbox process started in a new network namespace
// to bring its loopback interface up.
const newNetEnv = "_ELFUSE_NEW_NETNS"
