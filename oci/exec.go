package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOptions are exec's flags.
type ExecOptions struct {
	ID             string
	ProcessFile    string // --process: a runtime-spec process JSON
	Args           []string
	Env            []string
	Cwd            string
	User           string // uid[:gid] or names
	AdditionalGids []uint32
	Tty            bool
	ConsoleSocket  string
	Detach         bool
	PidFile        string
	PreserveFDs    int
	IgnorePaused   bool
}

// exec helper descriptors: the process JSON in, the report out.
const (
	helperProcFD = 3
	helperSyncFD = 4
)

// helperReport is what the exec helper tells exec once the guest
// process runs (or could not start).
type helperReport struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// Exec is `exec`: one more process in the running container. Without
// detach it returns the process's status; with detach it returns once
// the helper that stands for the process runs it (status 0).
func (r *Runtime) Exec(o ExecOptions) (int, error) {
	if !sandboxSupported {
		return 1, errUnsupported
	}
	c, err := r.Store.Load(o.ID)
	if err != nil {
		return 1, err
	}
	switch st := c.Status(); st {
	case Running, Created:
	case Paused:
		if !o.IgnorePaused {
			return 1, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	default:
		return 1, fmt.Errorf("cannot exec in a %s container", st)
	}
	proc, err := r.execProcess(c, o)
	if err != nil {
		return 1, err
	}
	if o.PreserveFDs < 0 {
		return 1, errors.New("--preserve-fds: a negative count")
	}
	proc.PreserveFDs = o.PreserveFDs
	if proc.Terminal && o.ConsoleSocket == "" && o.Detach {
		return 1, errors.New("cannot allocate tty if elfuse-runtime will detach without setting console socket")
	}
	if !proc.Terminal && o.ConsoleSocket != "" {
		return 1, errors.New("cannot use console socket if elfuse-runtime will not detach or allocate tty")
	}
	if !o.Detach && !proc.Terminal {
		// This process stands for the guest process.
		ei, err := execProxy(c.Dir, proc, append([]*os.File{os.Stdin, os.Stdout, os.Stderr}, preserved(3, proc.PreserveFDs)...), func(pid int) error {
			return writePidFile(o.PidFile, os.Getpid())
		}, r.Log)
		if err != nil {
			return 1, err
		}
		return ei.Status(), nil
	}
	return r.execHelper(c, proc, o)
}

// execProcess builds the process from --process or the arguments, on top
// of the container's own process as runc does.
func (r *Runtime) execProcess(c *Container, o ExecOptions) (*ExecProcess, error) {
	l, err := loadLaunch(c.Dir)
	if err != nil {
		return nil, err
	}
	p := &ExecProcess{Env: append([]string(nil), l.Env...), Cwd: l.Cwd, User: true, UID: l.UID, GID: l.GID, Groups: l.Groups}
	if o.ProcessFile != "" {
		b, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("process file: %w", err)
		}
		var sp specs.Process
		if err := json.Unmarshal(b, &sp); err != nil {
			return nil, fmt.Errorf("process file %s: %w", o.ProcessFile, err)
		}
		p.Args, p.Env, p.Cwd, p.Terminal = sp.Args, sp.Env, sp.Cwd, sp.Terminal
		p.UID, p.GID, p.Groups = sp.User.UID, sp.User.GID, sp.User.AdditionalGids
	} else {
		p.Args = o.Args
	}
	if len(p.Args) == 0 {
		return nil, errors.New("exec: no command given (args or --process)")
	}
	p.Env = append(p.Env, o.Env...)
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !path.IsAbs(p.Cwd) {
		return nil, fmt.Errorf("cwd %q is not an absolute path", p.Cwd)
	}
	home := ""
	if o.User != "" {
		uid, gid, h, err := lookupUser(l.view(), o.User)
		if err != nil {
			return nil, err
		}
		p.UID, p.GID, home = uid, gid, h
		p.Groups = nil
	}
	p.Groups = append(p.Groups, o.AdditionalGids...)
	if o.Tty {
		p.Terminal = true
	}
	if !hasEnv(p.Env, "HOME") {
		if home == "" {
			home = homeOf(l.view(), p.UID)
		}
		p.Env = append(p.Env, "HOME="+home)
	}
	return p, nil
}

// execHelper runs the exec helper process (the hidden exec-proxy
// command), which stands for the guest process: with detach its pid goes
// to --pid-file and this command returns; without, this command relays
// the terminal and returns the helper's status.
func (r *Runtime) execHelper(c *Container, proc *ExecProcess, o ExecOptions) (int, error) {
	procR, procW, err := os.Pipe()
	if err != nil {
		return 1, err
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		procR.Close()
		procW.Close()
		return 1, err
	}
	defer syncR.Close()
	cmd := exec.Command(r.Exe, append(append([]string{}, r.ChildArgs...), "exec-proxy", o.ID)...)
	cmd.Args[0] = "elfuse-runtime"
	cmd.ExtraFiles = append([]*os.File{procR, syncW}, preserved(3, proc.PreserveFDs)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var master *os.File
	if proc.Terminal {
		m, slave, _, err := newPty()
		if err != nil {
			return 1, err
		}
		defer slave.Close()
		master = m
		defer master.Close()
		if o.ConsoleSocket == "" && isTerminal(os.Stdin) {
			copyWinsize(master, os.Stdin)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	}
	cmd.SysProcAttr = sysProcAttr(proc.Terminal)
	err = cmd.Start()
	procR.Close()
	syncW.Close()
	if err != nil {
		procW.Close()
		return 1, fmt.Errorf("exec helper: %w", err)
	}
	json.NewEncoder(procW).Encode(proc)
	procW.Close()
	var rep helperReport
	if err := json.NewDecoder(syncR).Decode(&rep); err != nil {
		werr := cmd.Wait()
		return 1, fmt.Errorf("exec helper ended before the process started (%v)", werr)
	}
	if rep.Error != "" {
		cmd.Wait()
		return 1, errors.New(rep.Error)
	}
	if o.ConsoleSocket != "" {
		if err := sendConsole(o.ConsoleSocket, master); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return 1, err
		}
	}
	if o.Detach {
		if err := writePidFile(o.PidFile, cmd.Process.Pid); err != nil {
			return 1, err
		}
		return 0, cmd.Process.Release()
	}
	if err := writePidFile(o.PidFile, cmd.Process.Pid); err != nil {
		return 1, err
	}
	var proxy *ttyProxy
	if master != nil && o.ConsoleSocket == "" {
		proxy = startTTYProxy(master, os.Stdin, os.Stdout)
	}
	// Signals to this command go to the helper, which relays them.
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
				case unix.SIGWINCH:
					if proxy != nil {
						copyWinsize(master, os.Stdin)
					}
				default:
					cmd.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	ps, werr := cmd.Process.Wait()
	close(done)
	signal.Stop(sigs)
	if proxy != nil {
		proxy.stop()
	}
	if werr != nil {
		return 1, werr
	}
	return waitStatus(ps), nil
}

// ExecHelperMain is the hidden exec-proxy command: it starts the process
// read from fd 3 in container dir's sandbox with its own stdio, reports
// on fd 4, relays the signals it gets, and ends as the process ended.
func ExecHelperMain(dir string, log *slog.Logger) int {
	procIn := os.NewFile(helperProcFD, "process")
	syncOut := os.NewFile(helperSyncFD, "sync")
	var proc ExecProcess
	err := json.NewDecoder(procIn).Decode(&proc)
	procIn.Close()
	report := func(rep helperReport) {
		if syncOut != nil {
			json.NewEncoder(syncOut).Encode(rep)
			syncOut.Close()
			syncOut = nil
		}
	}
	if err != nil {
		report(helperReport{Error: fmt.Sprintf("exec helper: process: %v", err)})
		return 1
	}
	// The preserved descriptors follow the helper's own (fds 5 and up).
	stdio := append([]*os.File{os.Stdin, os.Stdout, os.Stderr}, preserved(helperSyncFD+1, proc.PreserveFDs)...)
	ei, err := execProxy(dir, &proc, stdio, func(pid int) error {
		report(helperReport{Pid: pid})
		return nil
	}, log)
	if err != nil {
		report(helperReport{Error: err.Error()})
		return 1
	}
	dieAs(ei)
	return ei.Status()
}

// preserved are this process's descriptors from first on, n of them, that
// --preserve-fds passes on.
func preserved(first, n int) []*os.File {
	var out []*os.File
	for i := 0; i < n; i++ {
		out = append(out, os.NewFile(uintptr(first+i), "preserved"))
	}
	return out
}

// execProxy asks the sandbox of state directory dir to run proc with
// stdio (and the preserved descriptors after it), calls started with its
// guest pid, relays this process's signals to it and returns how it
// ended.
func execProxy(dir string, proc *ExecProcess, stdio []*os.File, started func(pid int) error, log *slog.Logger) (ExitInfo, error) {
	c, err := dialControl(dir)
	if err != nil {
		return ExitInfo{}, fmt.Errorf("exec: %w", err)
	}
	defer c.close()
	var fds []int
	for _, f := range stdio {
		fds = append(fds, int(f.Fd()))
	}
	resp, err := c.call(request{Op: "exec", Exec: proc}, 30*time.Second, fds...)
	if err != nil {
		return ExitInfo{}, err
	}
	log.Debug("exec started", "guest-pid", resp.Pid)
	if err := started(resp.Pid); err != nil {
		return ExitInfo{}, err
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				continue
			}
			if err := c.send(request{Op: "signal", Signal: int(sig)}); err != nil {
				return
			}
		}
	}()
	var end response
	if _, err := c.recv(&end); err != nil || end.Exit == nil {
		// The sandbox went (killed with everything in it).
		log.Warn("exec: the sandbox ended before the process reported its end", "guest-pid", resp.Pid)
		return ExitInfo{Signal: int(unix.SIGKILL)}, nil
	}
	return *end.Exit, nil
}

// ParseSignal takes a signal as a number or a name, with or without SIG.
func ParseSignal(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return n, nil
	}
	name := s
	if len(name) < 3 || !equalFold(name[:3], "SIG") {
		name = "SIG" + name
	}
	name = upper(name)
	if sig := unix.SignalNum(name); sig != 0 {
		return int(sig), nil
	}
	if n, ok := rtSignal(name); ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// rtSignal parses SIGRTMIN+n and SIGRTMAX-n (Linux numbering: 34..64).
func rtSignal(name string) (int, bool) {
	const rtmin, rtmax = 34, 64
	switch {
	case name == "SIGRTMIN":
		return rtmin, true
	case name == "SIGRTMAX":
		return rtmax, true
	case len(name) > 9 && name[:9] == "SIGRTMIN+":
		if n, err := strconv.Atoi(name[9:]); err == nil && rtmin+n <= rtmax {
			return rtmin + n, true
		}
	case len(name) > 9 && name[:9] == "SIGRTMAX-":
		if n, err := strconv.Atoi(name[9:]); err == nil && rtmax-n >= rtmin {
			return rtmax - n, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool { return upper(a) == upper(b) }

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
