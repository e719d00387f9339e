//go:build linux

package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestMain makes the test process a child subreaper, as a containerd shim
// is, so that sandbox processes left by create and helpers left by exec
// --detach are its children to wait for.
func TestMain(m *testing.M) {
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// runtimeBin is build/elfuse-runtime (or $ELFUSE_RUNTIME_BIN).
func runtimeBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("ELFUSE_RUNTIME_BIN")
	if bin == "" {
		root, err := diff.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, "build", "elfuse-runtime")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("%s not found: run `make` at the repository root first (or set ELFUSE_RUNTIME_BIN)", bin)
	}
	return bin
}

var (
	imageOnce sync.Once
	imageTar  string
	imageErr  error
)

// rootfsTar is the busybox root filesystem tar of scripts/demo-image.sh.
func rootfsTar(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		root, err := diff.RepoRoot()
		if err != nil {
			imageErr = err
			return
		}
		var out, errb bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "scripts", "demo-image.sh"))
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			imageErr = err
			imageTar = errb.String()
			return
		}
		imageTar = strings.TrimSpace(out.String())
	})
	if imageErr != nil {
		t.Skipf("no busybox root filesystem (scripts/demo-image.sh: %v %s)", imageErr, imageTar)
	}
	return imageTar
}

// rt is one runtime root for a test, cleaned up (every container force
// deleted) at its end.
type rt struct {
	t    *testing.T
	bin  string
	root string
	log  string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	diff.RequireKVM(t)
	r := &rt{t: t, bin: runtimeBin(t), root: filepath.Join(t.TempDir(), "state")}
	r.log = filepath.Join(t.TempDir(), "runtime.log")
	t.Cleanup(func() {
		out, _, _ := r.run("list", "-q")
		for _, id := range strings.Fields(out) {
			r.run("delete", "--force", id)
		}
		if t.Failed() {
			if b, err := os.ReadFile(r.log); err == nil && len(b) > 0 {
				t.Logf("runtime log:\n%s", b)
			}
		}
	})
	return r
}

// cmd is an elfuse-runtime command with the test's root and log.
func (r *rt) cmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--root", r.root, "--log", r.log}, args...)
	return exec.CommandContext(ctx, r.bin, full...)
}

// run runs a command to its end (30 s at most) with no stdin.
func (r *rt) run(args ...string) (stdout, stderr string, code int) {
	return r.runIn(nil, args...)
}

func (r *rt) runIn(stdin []byte, args ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := r.cmd(ctx, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	// Output pipes stay open while a sandbox holds them: do not wait for
	// them past the command's own end.
	cmd.WaitDelay = 200 * time.Millisecond
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(interface{ Signaled() bool }); ok && ws.Signaled() {
			code = -1
		}
	} else if err != nil && err != exec.ErrWaitDelay {
		r.t.Fatalf("elfuse-runtime %v: %v", args, err)
	}
	if ctx.Err() != nil {
		r.t.Fatalf("elfuse-runtime %v: timed out", args)
	}
	return o.String(), e.String(), code
}

// must runs a command that must succeed and returns its stdout.
func (r *rt) must(args ...string) string {
	r.t.Helper()
	out, errs, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("elfuse-runtime %v: exit %d: %s", args, code, errs)
	}
	return out
}

// state is `state id`.
func (r *rt) state(id string) specs.State {
	r.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.must("state", id)), &st); err != nil {
		r.t.Fatalf("state %s: %v", id, err)
	}
	return st
}

// waitStatus polls until the container has status want.
func (r *rt) waitStatus(id, want string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st specs.State
		out, errs, code := r.run("state", id)
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				r.t.Fatalf("state %s: %v", id, err)
			}
			if string(st.Status) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("container %s: status %q (%s), want %s", id, st.Status, errs, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bundle makes a bundle with a fresh copy of the busybox root filesystem
// and the default spec of `elfuse-runtime spec`, edited by edit.
func (r *rt) bundle(edit func(*specs.Spec)) string {
	r.t.Helper()
	dir := r.t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		r.t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", rootfsTar(r.t), "-C", rootfs).CombinedOutput(); err != nil {
		r.t.Fatalf("untar: %v %s", err, out)
	}
	r.must("spec", "--bundle", dir)
	cfg := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		r.t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Root.Readonly = false
	if edit != nil {
		edit(&spec)
	}
	writeSpec(r.t, dir, &spec)
	return dir
}

func writeSpec(t testing.TB, dir string, spec *specs.Spec) {
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shArgs sets the container's process to sh -c script.
func shArgs(script string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", script} }
}

// create creates container id from bundle and returns the pid from
// --pid-file. The container's stdout and stderr go to the file
// r.output(id), which stays open as a shim's fifos do.
func (r *rt) create(id, bundle string, extra ...string) int {
	r.t.Helper()
	pidFile := filepath.Join(r.t.TempDir(), "pid")
	args := append([]string{"create", "--bundle", bundle, "--pid-file", pidFile}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := r.cmd(ctx, append(args, id)...)
	out, err := os.Create(r.output(id))
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(r.output(id))
		r.t.Fatalf("create %s: %v: %s", id, err, b)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		r.t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		r.t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// output is the file holding the stdout and stderr of a container made
// by create.
func (r *rt) output(id string) string {
	return filepath.Join(filepath.Dir(r.log), id+".out")
}

// waitPid waits for a child (or adopted orphan) of the test process.
func waitPid(t testing.TB, pid int, timeout time.Duration) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("process %d did not end in %v", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processesOf lists host processes whose command line mentions s.
func processesOf(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
				continue
			}
		}
		if bytes.Contains(b, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}
