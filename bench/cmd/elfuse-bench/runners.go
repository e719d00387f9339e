//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Runner is one way of running a workload binary: directly, under elfuse, in a container, or
// under a user-mode translator.
type Runner struct {
	// Name is the row label.
	Name string
	// Unavailable, when set, is why the runner cannot run on this machine; its rows show it.
	Unavailable string
	// Skipped, when set, is why the runner is deliberately not timed; its rows show it.
	Skipped string
	// command returns the argv that runs workload name with args. bin is the workload binary on the
	// host; inside a container it is /w/<name>.
	command func(name, bin string, args []string) ([]string, string)
	// cleanup, when set, removes what a failed or interrupted run left behind (a container by id).
	cleanup func(id string)
	// elfuse marks the elfuse runners: their runs print --stats, which the rows sum.
	elfuse bool
}

// env is what the runners need to know about this machine and this bench.
type env struct {
	elfuse  string // path of the elfuse binary
	shown   string // the elfuse path as the user gave it, for messages
	runc    string // path of runc, or "" when missing
	runsc   string // path of runsc, or "" when missing
	qemu    string // path of qemu-x86_64-static, or "" when missing
	bundles string // directory of OCI bundles, one per workload
	ctrRoot string // --root for runc and runsc state, a temp dir removed at the end
}

// containerSeq numbers container ids so that every container run gets a fresh one.
var containerSeq atomic.Int64

// newContainerID returns a container id unique to this process and run.
func newContainerID(prefix string) string {
	return fmt.Sprintf("elfuse-bench-%s-%d-%d", prefix, os.Getpid(), containerSeq.Add(1))
}

// makeRunners returns the runners in table order, each marked unavailable when its tool is
// missing on this machine.
func makeRunners(e env) []*Runner {
	native := &Runner{Name: "native", command: func(_, bin string, args []string) ([]string, string) {
		return append([]string{bin}, args...), ""
	}}

	elfMode := func(name, mode string) *Runner {
		r := &Runner{Name: name, elfuse: true, command: func(_, bin string, args []string) ([]string, string) {
			return append([]string{e.elfuse, "--syscalls=" + mode, "--stats", bin}, args...), ""
		}}
		if fi, err := os.Stat(e.elfuse); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			r.Unavailable = fmt.Sprintf("no elfuse binary at %s (run make first)", e.shown)
		}
		return r
	}
	elf, exitless := elfMode("elfuse", "exit"), elfMode("elfuse-exitless", "exitless")

	runc := &Runner{Name: "runc",
		command: func(name, _ string, _ []string) ([]string, string) {
			id := newContainerID("runc")
			return []string{e.runc, "--root", filepath.Join(e.ctrRoot, "runc"), "run", "--bundle",
				filepath.Join(e.bundles, name), id}, id
		},
		cleanup: func(id string) {
			quietRun(e.runc, "--root", filepath.Join(e.ctrRoot, "runc"), "delete", "--force", id)
		},
	}
	if e.runc == "" {
		runc.Unavailable = "runc not installed (run scripts/bench-setup.sh)"
	}

	runsc := func(platform string) *Runner {
		root := filepath.Join(e.ctrRoot, "runsc-"+platform)
		r := &Runner{Name: "runsc-" + platform,
			command: func(name, _ string, _ []string) ([]string, string) {
				id := newContainerID(platform)
				return []string{e.runsc, "--root", root, "--platform=" + platform, "--network=none",
					"run", "--bundle", filepath.Join(e.bundles, name), id}, id
			},
			cleanup: func(id string) {
				quietRun(e.runsc, "--root", root, "delete", "--force", id)
			},
		}
		if e.runsc == "" {
			r.Unavailable = "runsc not built (run scripts/bench-setup.sh)"
		}
		return r
	}
	kvm := runsc("kvm")
	kvm.Skipped = "runsc's kvm platform hangs under nested KVM (PVM) on this machine"

	qemu := &Runner{Name: "qemu-x86_64", command: func(_, bin string, args []string) ([]string, string) {
		return append([]string{e.qemu, bin}, args...), ""
	}}
	if e.qemu == "" {
		qemu.Unavailable = "qemu-x86_64-static not installed (run scripts/bench-setup.sh)"
	}
	return []*Runner{native, elf, exitless, runc, runsc("systrap"), runsc("ptrace"), kvm, qemu}
}

// isElfuse reports whether a runner name is one of the elfuse runners (elfuse, elfuse-exitless).
func isElfuse(name string) bool { return name == "elfuse" || strings.HasPrefix(name, "elfuse-") }

// statsLine is elfuse's --stats line on stderr.
var statsLine = regexp.MustCompile(`elfuse: exit status -?\d+, (\d+) VM exits, (\d+) system calls \((\d+) exitless, \d+ sites patched\), \d+ faults, server CPU ([0-9.]+)s`)

// ElfuseStats are the sums of elfuse's --stats over a row's runs.
type ElfuseStats struct {
	Runs       int     `json:"runs"`
	Exits      uint64  `json:"vm_exits"`
	Syscalls   uint64  `json:"syscalls"`
	Exitless   uint64  `json:"exitless"`
	ServerCPUS float64 `json:"server_cpu_s"`
	WallS      float64 `json:"wall_s"`
}

// add sums the --stats line in stderr of a run that took wall.
func (s *ElfuseStats) add(stderr string, wall time.Duration) {
	m := statsLine.FindStringSubmatch(stderr)
	if m == nil {
		return
	}
	u := func(i int) uint64 { v, _ := strconv.ParseUint(m[i], 10, 64); return v }
	cpu, _ := strconv.ParseFloat(m[4], 64)
	s.Runs++
	s.Exits += u(1)
	s.Syscalls += u(2)
	s.Exitless += u(3)
	s.ServerCPUS += cpu
	s.WallS += wall.Seconds()
}

// teeStderr makes a command's stderr also go to buf.
func teeStderr(buf *bytes.Buffer) func(*exec.Cmd) {
	return func(cmd *exec.Cmd) { cmd.Stderr = io.MultiWriter(cmd.Stderr, buf) }
}

// quietRun runs a cleanup command with a short deadline, ignoring its outcome.
func quietRun(argv ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
}

// errWrongOutput marks a run that exited 0 but printed something other than the expected answer.
var errWrongOutput = errors.New("wrong output")

// runOnce runs argv with a deadline, in its own process group so a timeout kills everything it
// started, and checks that it exits 0 and prints exactly want. It returns the wall time.
func runOnce(ctx context.Context, timeout time.Duration, argv []string, want string) (time.Duration, error) {
	return runOnceWith(ctx, timeout, argv, want, nil)
}

// runOnceWith is runOnce with setup, when set, adjusting the command (its directory, environment,
// a chroot) before it starts.
func runOnceWith(ctx context.Context, timeout time.Duration, argv []string, want string, setup func(*exec.Cmd)) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if setup != nil {
		setup(cmd)
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() == context.DeadlineExceeded {
		return took, fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		return took, fmt.Errorf("%s: %s", err, lastLine(stderr.String()))
	}
	if got := stdout.String(); got != want {
		return took, fmt.Errorf("%w: got %q, want %q", errWrongOutput, clip(got, 120), clip(want, 120))
	}
	return took, nil
}

// lastLine returns the last non-empty line of s, shortened, for a failure reason.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		return "(no stderr)"
	}
	return clip(l, 200)
}

// clip shortens s to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// removeStateDir unmounts whatever the runtimes left mounted under dir (runsc keeps its
// --network=none namespace bind-mounted there as null-netns) and removes the directory.
func removeStateDir(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var mounts []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	// Deepest first, so that nested mounts come off before their parents.
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", mounts[i], err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove container state: %w", err)
	}
	return nil
}
