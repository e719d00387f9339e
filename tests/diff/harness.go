// Package diff is elfuse's differential test suite: every guest program runs
// natively and under build/elfuse, and stdout, stderr and exit status must
// match. The helpers in this file (RunPair, BuildC, the path and KVM helpers)
// are meant to be reused by later suites that drive the built binaries.
package diff

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds one run of a guest program, native or under elfuse.
const DefaultTimeout = 60 * time.Second

// Step is one invocation of a guest program within a Case.
type Step struct {
	// Prog is the path of the static ELF to run.
	Prog string
	// Args are the guest's arguments after argv[0]. The string "$TMP" in an
	// argument is replaced by the case's scratch directory.
	Args []string
	// Stdin is fed to the program through a pipe; nil means /dev/null.
	Stdin []byte
	// StdinFile, if true, feeds Stdin from a regular file instead of a pipe.
	StdinFile bool
	// WantExit is the exit status the native run must have; a native run
	// that differs means the program's own expectations failed on this host.
	WantExit int
	// Env, if non-nil, replaces BaseEnv (DIFF_TMP is always added).
	Env []string
}

// Case is a sequence of steps run once natively and once under elfuse, each
// side in a freshly emptied scratch directory at the same path, so that paths
// the programs print agree.
type Case struct {
	// Scratch is the scratch directory; it is emptied (or created) and then
	// Setup runs before each side. Steps run with it as working directory.
	Scratch string
	// Setup, if set, prepares the scratch directory before each side.
	Setup func(dir string) error
	// Steps run in order on each side.
	Steps []Step
	// CheckNative, if set, judges each native result beyond WantExit (for
	// example, that the output holds no FAIL line).
	CheckNative func(step int, r Result) error
	// Timeout bounds each step; zero means DefaultTimeout.
	Timeout time.Duration
}

// Result is what one run of a guest program produced.
type Result struct {
	Stdout, Stderr []byte
	// Status is "exit N" or "signal NAME", or "error: ..." when the program
	// could not be started or timed out.
	Status string
	// Code is the exit status, 128+signal for a signal, or -1 on error.
	Code int
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// BaseEnv is the environment every guest gets unless a Step overrides it; it
// is fixed so that the native and the elfuse runs see the same one.
var BaseEnv = []string{
	"PATH=/usr/bin:/bin",
	"HOME=/root",
	"LANG=C",
	"LC_ALL=C",
	"TZ=UTC",
	"DIFF_VAR=hello world",
	"DIFF_EMPTY=",
	"DIFF_SPACES=  a  b  ",
}

// RepoRoot returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ElfuseBin returns the elfuse binary to test: $ELFUSE_BIN, or
// <repo>/build/elfuse. It fails the test when the binary is missing. With
// $ELFUSE_SYSCALLS set (exit, exitless, auto) it returns a wrapper that
// runs that binary in that system call mode, so a whole suite runs in it
// without the variable reaching the guests.
func ElfuseBin(t testing.TB) string {
	t.Helper()
	return ElfuseBinMode(t, os.Getenv("ELFUSE_SYSCALLS"))
}

// ElfuseBinMode is ElfuseBin in system call mode mode (exit, exitless,
// auto; "" is elfuse's default): a wrapper that passes --syscalls.
func ElfuseBinMode(t testing.TB, mode string) string {
	t.Helper()
	bin := elfuseBin(t)
	if mode == "" {
		return bin
	}
	wrapMu.Lock()
	defer wrapMu.Unlock()
	if w, ok := wrappers[mode]; ok {
		return w
	}
	w, err := buildWrapper(bin, mode)
	if err != nil {
		t.Fatalf("elfuse wrapper for --syscalls=%s: %v", mode, err)
	}
	wrappers[mode] = w
	return w
}

var (
	wrapMu   sync.Mutex
	wrappers = map[string]string{}
)

// buildWrapper compiles (with BuildC, so once per binary and mode) a
// program that runs bin with --syscalls=mode and its own arguments (a
// shell script would add PWD to the environment).
func buildWrapper(bin, mode string) (string, error) {
	dir, err := os.MkdirTemp("", "elfuse-mode-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "elfuse-"+mode+".c")
	code := fmt.Sprintf(`#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
	char *a[argc + 2];
	a[0] = %q;
	a[1] = "--syscalls=" %q;
	for (int i = 1; i < argc; i++) a[i + 1] = argv[i];
	a[argc + 1] = 0;
	execv(a[0], a);
	perror(a[0]);
	return 127;
}
`, bin, mode)
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		return "", err
	}
	return BuildC(src, "gcc")
}

func elfuseBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("ELFUSE_BIN")
	if bin == "" {
		root, err := RepoRoot()
		if err != nil {
			t.Fatalf("finding the repository root: %v", err)
		}
		bin = filepath.Join(root, "build", "elfuse")
	}
	abs, err := filepath.Abs(bin)
	if err == nil {
		bin = abs
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("elfuse binary %s not found: run `make` at the repository root first (or set ELFUSE_BIN)", bin)
	}
	return bin
}

// RequireKVM skips the test when /dev/kvm cannot be opened read-write.
func RequireKVM(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("skipping: /dev/kvm is not usable read-write (%v); elfuse needs KVM", err)
	}
	f.Close()
}

// CacheDir returns $ELFUSE_CACHE, or $HOME/.cache/elfuse.
func CacheDir() string {
	if c := os.Getenv("ELFUSE_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "elfuse-cache")
	}
	return filepath.Join(home, ".cache", "elfuse")
}

var (
	ccIdentMu sync.Mutex
	ccIdent   = map[string]string{}
)

// compilerIdentity describes a C compiler well enough that a change of it
// changes the cache key: its --version output and, for a wrapper script such
// as musl-gcc, the script itself.
func compilerIdentity(cc string) (string, error) {
	ccIdentMu.Lock()
	defer ccIdentMu.Unlock()
	if id, ok := ccIdent[cc]; ok {
		return id, nil
	}
	path, err := exec.LookPath(cc)
	if err != nil {
		return "", fmt.Errorf("C compiler %s not found (install build-essential and musl-tools: make setup): %w", cc, err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", cc, err, out)
	}
	id := path + "\n" + string(out)
	if st, err := os.Stat(path); err == nil && st.Size() < 64<<10 {
		if b, err := os.ReadFile(path); err == nil {
			id += string(b)
		}
	}
	ccIdent[cc] = id
	return id, nil
}

// CFlags are the flags every differential C program is compiled with.
var CFlags = []string{"-static", "-O1"}

// BuildC compiles the C source src (plus the headers listed in deps, which
// only feed the cache key) with compiler cc into the cache directory
// diff-bin/, reusing an earlier build when source, headers, flags and
// compiler are unchanged. It returns the path of the static binary.
func BuildC(src, cc string, deps ...string) (string, error) {
	ident, err := compilerIdentity(cc)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "cc=%s\nflags=%q\n%s\n", cc, CFlags, ident)
	for _, f := range append([]string{src}, deps...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(CacheDir(), "diff-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(src), ".c")
	bin := filepath.Join(dir, fmt.Sprintf("%s.%s.%s", name, cc, key))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append([]string{}, CFlags...), "-o", tmp.Name(), src)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	// Drop builds of older versions of this program with this compiler.
	if old, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s.%s.*", name, cc))); err == nil {
		for _, o := range old {
			if o != bin && len(filepath.Base(o)) == len(filepath.Base(bin)) {
				os.Remove(o)
			}
		}
	}
	return bin, nil
}

// resetDir makes dir exist and be empty.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		// Files made read-only by a test still have writable parents, so
		// this only fails on real trouble.
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// Exec runs one step, natively when elfuse is empty, else as
// `elfuse -- prog args...`, in directory dir, with the given timeout.
func Exec(elfuse string, s Step, dir string, timeout time.Duration) Result {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	args := make([]string, len(s.Args))
	for i, a := range s.Args {
		args[i] = strings.ReplaceAll(a, "$TMP", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cmd *exec.Cmd
	if elfuse == "" {
		cmd = exec.CommandContext(ctx, s.Prog, args...)
	} else {
		cmd = exec.CommandContext(ctx, elfuse, append([]string{"--", s.Prog}, args...)...)
	}
	cmd.Dir = dir
	env := s.Env
	if env == nil {
		env = BaseEnv
	}
	cmd.Env = append(append([]string{}, env...), "DIFF_TMP="+dir)
	switch {
	case s.Stdin == nil:
	case s.StdinFile:
		f, err := os.CreateTemp("", "elfuse-diff-stdin")
		if err != nil {
			return Result{Status: "error: " + err.Error(), Code: -1}
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := f.Write(s.Stdin); err != nil {
			return Result{Status: "error: " + err.Error(), Code: -1}
		}
		if _, err := f.Seek(0, 0); err != nil {
			return Result{Status: "error: " + err.Error(), Code: -1}
		}
		cmd.Stdin = f
	default:
		cmd.Stdin = bytes.NewReader(s.Stdin)
	}
	return RunCmd(ctx, cmd, timeout)
}

// RunCmd runs cmd, made with exec.CommandContext(ctx, ...) under timeout,
// gathering its stdout and stderr, and classifies how it ended: "exit N",
// "signal NAME", or an error (a timeout among them).
func RunCmd(ctx context.Context, cmd *exec.Cmd, timeout time.Duration) Result {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// CommandContext kills with SIGKILL (elfuse ignores SIGTERM).
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Elapsed: time.Since(start)}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		r.Status, r.Code = fmt.Sprintf("error: timed out after %v", timeout), -1
	case cmd.ProcessState != nil:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Status, r.Code = "signal "+ws.Signal().String(), 128+int(ws.Signal())
		} else {
			r.Status, r.Code = fmt.Sprintf("exit %d", ws.ExitStatus()), ws.ExitStatus()
		}
	default:
		r.Status, r.Code = "error: "+err.Error(), -1
	}
	return r
}

// StatusEqual reports whether two statuses agree. A guest killed by signal N
// may surface from elfuse as exit 128+N, so those count as equal.
func StatusEqual(a, b Result) bool {
	if a.Status == b.Status {
		return true
	}
	return a.Code == b.Code && a.Code > 128 &&
		(strings.HasPrefix(a.Status, "signal") || strings.HasPrefix(b.Status, "signal"))
}

// RunPair runs c's steps natively and then under elfuse (with the scratch
// directory reset between the sides) and reports every difference in stdout,
// stderr or exit status as a test error with a readable diff. With elfuse ""
// it runs the native side twice instead, which proves the programs are
// deterministic. It returns the results of both sides.
func RunPair(t testing.TB, elfuse string, c Case) (native, other []Result) {
	t.Helper()
	side := func(bin string) []Result {
		var rs []Result
		if c.Scratch != "" {
			if err := resetDir(c.Scratch); err != nil {
				t.Fatalf("resetting scratch dir: %v", err)
			}
			if c.Setup != nil {
				if err := c.Setup(c.Scratch); err != nil {
					t.Fatalf("setting up scratch dir: %v", err)
				}
			}
		}
		dir := c.Scratch
		if dir == "" {
			dir = os.TempDir()
		}
		for _, s := range c.Steps {
			rs = append(rs, Exec(bin, s, dir, c.Timeout))
		}
		return rs
	}
	otherName := "elfuse"
	if elfuse == "" {
		otherName = "native#2"
	}
	native = side("")
	for i, r := range native {
		s := c.Steps[i]
		if r.Code != s.WantExit {
			t.Errorf("step %d (%s): native run ended with %s, want exit %d (the program's expectations fail on this host)\nstdout:\n%s\nstderr:\n%s",
				i, stepString(s), r.Status, s.WantExit, clip(r.Stdout), clip(r.Stderr))
		}
		if c.CheckNative != nil {
			if err := c.CheckNative(i, r); err != nil {
				t.Errorf("step %d (%s): native run: %v\nstdout:\n%s", i, stepString(s), err, clip(r.Stdout))
			}
		}
	}
	other = side(elfuse)
	for i := range c.Steps {
		n, o := native[i], other[i]
		var msgs []string
		if !StatusEqual(n, o) {
			msgs = append(msgs, fmt.Sprintf("status: native %s, %s %s", n.Status, otherName, o.Status))
		}
		if !bytes.Equal(n.Stdout, o.Stdout) {
			msgs = append(msgs, "stdout differs (- native, + "+otherName+"):\n"+strings.TrimSuffix(LineDiff(n.Stdout, o.Stdout), "\n"))
		}
		if !bytes.Equal(n.Stderr, o.Stderr) {
			msgs = append(msgs, "stderr differs (- native, + "+otherName+"):\n"+strings.TrimSuffix(LineDiff(n.Stderr, o.Stderr), "\n"))
		}
		if len(msgs) > 0 {
			t.Errorf("step %d (%s):\n%s", i, stepString(c.Steps[i]), strings.Join(msgs, "\n"))
		}
	}
	return native, other
}

func stepString(s Step) string {
	return strings.TrimSpace(filepath.Base(s.Prog) + " " + strings.Join(s.Args, " "))
}

func clip(b []byte) string {
	const max = 4000
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("\n... (%d more bytes)", len(b)-max)
	}
	return string(b)
}

// LineDiff renders a line diff of a and b: unchanged lines near a change are
// shown with two spaces, removed lines with "- ", added ones with "+ ".
// Large inputs fall back to reporting the first differing line.
func LineDiff(a, b []byte) string {
	al := splitLines(a)
	bl := splitLines(b)
	if len(al)*len(bl) > 4_000_000 {
		for i := 0; i < len(al) && i < len(bl); i++ {
			if al[i] != bl[i] {
				return fmt.Sprintf("first difference at line %d:\n- %q\n+ %q\n(%d vs %d lines)", i+1, al[i], bl[i], len(al), len(bl))
			}
		}
		return fmt.Sprintf("one is a prefix of the other (%d vs %d lines, %d vs %d bytes)", len(al), len(bl), len(a), len(b))
	}
	// Longest common subsequence table, filled from the end.
	n, m := len(al), len(bl)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			ops = append(ops, line{' ', al[i]})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', al[i]})
			i++
		default:
			ops = append(ops, line{'+', bl[j]})
			j++
		}
	}
	const context = 3
	var sb strings.Builder
	lastShown := -1
	for k, op := range ops {
		near := false
		for d := -context; d <= context; d++ {
			if k+d >= 0 && k+d < len(ops) && ops[k+d].op != ' ' {
				near = true
				break
			}
		}
		if !near {
			continue
		}
		if lastShown >= 0 && k > lastShown+1 {
			sb.WriteString("  ...\n")
		}
		lastShown = k
		text := op.text
		if !strings.HasSuffix(text, "\n") {
			text += "\n\\ no newline at end\n"
		}
		sb.WriteByte(op.op)
		sb.WriteByte(' ')
		sb.WriteString(text)
	}
	return sb.String()
}

// splitLines splits b into lines that keep their "\n"; a missing final
// newline leaves a last line without one, and no empty line is added.
func splitLines(b []byte) []string {
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
