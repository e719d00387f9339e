//go:build linux

// Package shim tests containerd-shim-elfuse-v2 (runtime io.containerd.elfuse.v2, issue 9) end to
// end: containerd v2 built from the Go module proxy (scripts/containerd2.sh, pinned version) runs
// with its root, state and socket under a temporary directory, and ctr drives tasks through the
// shim. Every scenario runs against containerd's own runc shim (io.containerd.runc.v2 with Debian's
// runc) first, which proves the harness, then against elfuse's shim.
//
//	make test-shim                                  # ELFUSE_SHIM=1 go test ./tests/shim
//	ELFUSE_SHIM=1 ELFUSE_SHIM_RUNTIMES=elfuse go test -v ./tests/shim -run Ctr
//
// Env: ELFUSE_SHIM=1 enables the suite; ELFUSE_SHIM_RUNTIMES (default "runc,elfuse") picks the
// runtimes; ELFUSE_CD2_DIR (default a new temporary directory) is where containerd lives: when a
// containerd already answers there it is used and left running, else the suite starts one and
// stops it at the end (ELFUSE_SHIM_KEEP=1 keeps it, for reading its log).
package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/elfuse/elfuse/tests/termtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type config struct {
	repo     string // the repository root
	dir      string // containerd's directory
	bin      string // containerd, ctr, containerd-shim-runc-v2
	sock     string
	image    string
	started  bool // this run started containerd and stops it
	runtimes []runtimeUnderTest
}

type runtimeUnderTest struct {
	name string // subtest name: runc, elfuse
	typ  string // containerd runtime type
}

var (
	cfg     config
	skipMsg string
)

func TestMain(m *testing.M) {
	if os.Getenv("ELFUSE_SHIM") != "1" {
		skipMsg = "ELFUSE_SHIM=1 not set (make test-shim sets it)"
		os.Exit(m.Run())
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/shim: setup:", err)
		teardown()
		os.Exit(1)
	}
	code = m.Run()
	teardown()
	os.Exit(code)
}

func setup() (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	cfg.repo = filepath.Clean(filepath.Join(wd, "..", ".."))
	for _, b := range []string{"containerd-shim-elfuse-v2", "elfuse-runtime"} {
		if _, err := os.Stat(filepath.Join(cfg.repo, "build", b)); err != nil {
			return 0, fmt.Errorf("build/%s is missing (make all)", b)
		}
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return 0, fmt.Errorf("/dev/kvm: %v (elfuse needs KVM)", err)
	}
	for _, r := range strings.Split(envOr("ELFUSE_SHIM_RUNTIMES", "runc,elfuse"), ",") {
		switch strings.TrimSpace(r) {
		case "runc":
			cfg.runtimes = append(cfg.runtimes, runtimeUnderTest{"runc", "io.containerd.runc.v2"})
		case "elfuse":
			cfg.runtimes = append(cfg.runtimes, runtimeUnderTest{"elfuse", "io.containerd.elfuse.v2"})
		case "":
		default:
			return 0, fmt.Errorf("ELFUSE_SHIM_RUNTIMES: unknown runtime %q (runc, elfuse)", r)
		}
	}
	cfg.dir = os.Getenv("ELFUSE_CD2_DIR")
	if cfg.dir == "" {
		// Short: unix socket paths are limited to 108 bytes.
		if cfg.dir, err = os.MkdirTemp("/tmp", "ecd2-"); err != nil {
			return 0, err
		}
	}
	script := filepath.Join(cfg.repo, "scripts", "containerd2.sh")
	env, err := exec.Command(script, "env", cfg.dir).Output()
	if err != nil {
		return 0, fmt.Errorf("containerd2.sh env: %v", err)
	}
	vars := parseEnv(string(env))
	cfg.bin, cfg.sock, cfg.image = vars["CD2_BIN"], vars["CD2_SOCK"], vars["CD2_IMAGE"]
	if r := runQuiet(ctrArgv("version")...); r != nil {
		start := exec.Command(script, "start", cfg.dir)
		start.Stderr = os.Stderr
		t0 := time.Now()
		if _, err := start.Output(); err != nil {
			return 0, fmt.Errorf("containerd2.sh start %s: %v (log: %s/containerd.log)", cfg.dir, err, cfg.dir)
		}
		cfg.started = true
		fmt.Fprintf(os.Stderr, "tests/shim: containerd %s started in %s (%s)\n", vars["CD2_VERSION"], cfg.dir, time.Since(t0).Round(time.Millisecond))
	}
	return 0, nil
}

func teardown() {
	if !cfg.started || os.Getenv("ELFUSE_SHIM_KEEP") == "1" {
		if cfg.started {
			fmt.Fprintf(os.Stderr, "tests/shim: containerd left running in %s (scripts/containerd2.sh stop %s)\n", cfg.dir, cfg.dir)
		}
		return
	}
	stop := exec.Command(filepath.Join(cfg.repo, "scripts", "containerd2.sh"), "stop", cfg.dir)
	stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
	_ = stop.Run()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseEnv(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func need(t *testing.T) {
	t.Helper()
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
}

// eachRuntime runs f as a subtest per runtime under test (runc first).
func eachRuntime(t *testing.T, f func(t *testing.T, rt runtimeUnderTest)) {
	need(t)
	for _, rt := range cfg.runtimes {
		t.Run(rt.name, func(t *testing.T) { f(t, rt) })
	}
}

var idSeq atomic.Int64

func newID(rt runtimeUnderTest, what string) string {
	return fmt.Sprintf("%s-%s-%d-%d", rt.name, what, os.Getpid(), idSeq.Add(1))
}

// ctrArgv is ctr of the private containerd, namespace default.
func ctrArgv(args ...string) []string {
	return append([]string{filepath.Join(cfg.bin, "ctr"), "--address", cfg.sock, "-n", "default"}, args...)
}

// ctrRun is `ctr run --runtime <rt> [flags] IMAGE id cmd...`.
func ctrRun(rt runtimeUnderTest, flags []string, id string, cmd ...string) []string {
	a := ctrArgv("run", "--runtime", rt.typ)
	a = append(a, flags...)
	a = append(a, cfg.image, id)
	return append(a, cmd...)
}

// cleanup removes container id (its task first) when the test ends, whatever state it is in.
func cleanup(t *testing.T, id string) {
	t.Cleanup(func() {
		for _, a := range [][]string{
			{"tasks", "kill", "-a", "-s", "SIGKILL", id},
			{"tasks", "delete", "-f", id},
			{"containers", "delete", id},
		} {
			_ = runQuiet(ctrArgv(a...)...)
		}
	})
}

type result struct {
	argv           []string
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("`%s`: exit %d after %s, stdout %q, stderr %q", strings.Join(r.argv, " "), r.code, r.took.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "..."
	}
	return s
}

// run runs argv with stdin (may be nil) and fails the test if it cannot start or outlives timeout.
func runIn(t *testing.T, timeout time.Duration, stdin []byte, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	t0 := time.Now()
	err := cmd.Run()
	r := result{argv: argv, stdout: out.String(), stderr: errb.String(), took: time.Since(t0)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("timed out after %s: %s", timeout, r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return r
}

func run(t *testing.T, timeout time.Duration, argv ...string) result {
	t.Helper()
	return runIn(t, timeout, nil, argv...)
}

// mustRun is run that also fails the test on a non-zero exit.
func mustRun(t *testing.T, timeout time.Duration, argv ...string) result {
	t.Helper()
	r := run(t, timeout, argv...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// runQuiet runs argv for at most 30 s and returns its error.
func runQuiet(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
}

// task is one row of `ctr task ls`.
type task struct {
	pid    int
	status string
}

func taskOf(t *testing.T, id string) (task, bool) {
	t.Helper()
	r := mustRun(t, 30*time.Second, ctrArgv("tasks", "ls")...)
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			var tk task
			fmt.Sscan(f[1], &tk.pid)
			tk.status = f[2]
			return tk, true
		}
	}
	return task{}, false
}

// waitStatus waits until id's task shows status (RUNNING, PAUSED, STOPPED).
func waitStatus(t *testing.T, id, status string, timeout time.Duration) task {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tk, ok := taskOf(t, id)
		if ok && tk.status == status {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: want status %s within %s, have %+v (listed %v)", id, status, timeout, tk, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events follows `ctr events` of the private containerd while a test runs.
type events struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (e *events) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.out.Write(p)
}

func watchEvents(t *testing.T) *events {
	t.Helper()
	e := &events{}
	argv := ctrArgv("events")
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = e, e
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("ctr events: %v", err)
	}
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
	})
	time.Sleep(200 * time.Millisecond) // subscribed before the test acts
	return e
}

// has waits up to timeout for an event line holding every one of parts, and says whether one came.
func (e *events) has(timeout time.Duration, parts ...string) bool {
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		s := e.out.String()
		e.mu.Unlock()
	lines:
		for _, l := range strings.Split(s, "\n") {
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue lines
				}
			}
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor waits for an event line holding every one of parts.
func (e *events) waitFor(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		s := e.out.String()
		e.mu.Unlock()
	lines:
		for _, l := range strings.Split(s, "\n") {
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue lines
				}
			}
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event with %q within %s; events:\n%s", parts, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// term is a command under a pty (tests/termtest): ctr run -t and nerdctl -it need one.
type term = termtest.Term

func startTerm(t *testing.T, argv ...string) *term { return termtest.Start(t, argv...) }
