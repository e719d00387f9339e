// Package gostd runs Go standard-library test binaries (CGO_ENABLED=0 go test
// -c, built by scripts/gostd.sh) under elfuse as a conformance suite, and the
// same binaries natively as the reference (issue 4). KNOWN.md lists the tests
// that fail and why; the suite checks that list both ways.
package gostd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// Status is the outcome of one top-level test.
type Status string

const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Skip    Status = "SKIP"
	Crash   Status = "CRASH"   // the binary died (or was killed) while the test ran
	Timeout Status = "TIMEOUT" // the test was running when -test.timeout or the outer bound fired
	// Flaky marks a test that failed and then passed when run again alone.
	// It counts as failed in the pass rate, but fails the suite only when
	// KNOWN.md lists it as failing for certain.
	Flaky Status = "FLAKY"
)

// Failed reports whether s counts as a failure.
func (s Status) Failed() bool { return s == Fail || s == Crash || s == Timeout }

// Pkg is one package of the suite and how to run it.
type Pkg struct {
	// Path is the import path, e.g. "os/signal".
	Path string
	// Run, if set, is the -test.run pattern (the quick subset narrows some packages).
	Run string
	// Timeout bounds one run of the binary; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds one run of a package's binary.
const DefaultTimeout = 5 * time.Minute

// Packages are the packages issue 4 names.
var Packages = []Pkg{
	{Path: "os"}, {Path: "os/exec"}, {Path: "os/signal"}, {Path: "io"}, {Path: "io/fs"},
	{Path: "bufio"}, {Path: "bytes"}, {Path: "strings"}, {Path: "strconv"}, {Path: "sort"},
	{Path: "sync"}, {Path: "sync/atomic"}, {Path: "time"}, {Path: "context"}, {Path: "syscall"},
	{Path: "net"}, {Path: "net/http"}, {Path: "net/url"}, {Path: "encoding/json"},
	{Path: "compress/gzip"}, {Path: "archive/tar"}, {Path: "crypto/sha256"}, {Path: "crypto/tls"},
	{Path: "path/filepath"}, {Path: "math/big"}, {Path: "runtime", Timeout: 8 * time.Minute},
}

// Result is the outcome of every top-level test of one package on one side.
type Result struct {
	Tests map[string]Status
	// Detail keeps a few output lines around each failure, for the report.
	Detail map[string]string
	// Runs counts the invocations of the binary (more than one after a crash).
	Runs    int
	Elapsed time.Duration
	// Notes records crashes and timeouts of whole runs.
	Notes []string
}

// Count returns the number of tests with each status.
func (r *Result) Count() (pass, fail, skip int) {
	for _, s := range r.Tests {
		switch {
		case s == Pass:
			pass++
		case s == Skip:
			skip++
		default:
			fail++
		}
	}
	return
}

// Runner runs test binaries natively or under elfuse.
type Runner struct {
	// Elfuse is the elfuse binary; "" runs natively.
	Elfuse string
	// GOROOT is the Go tree whose src/<pkg> directories the tests run in.
	GOROOT string
	// Env is the guest environment.
	Env []string
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

// binName is the file name scripts/gostd.sh gives a package's test binary.
func binName(pkg string) string { return strings.ReplaceAll(pkg, "/", "_") + ".test" }

// BuildBinaries runs scripts/gostd.sh for pkgs and returns the cache
// directory holding <pkg>.test binaries.
func BuildBinaries(repoRoot string, pkgs []string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "gostd.sh"), pkgs...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/gostd.sh: %v\n%s", err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// Framing lines of `-test.v=test2json` start with ^V, so output a test
// prints cannot be mistaken for them.
const marker = "\x16"

var (
	resultRE  = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) \(`)
	runRE     = regexp.MustCompile(`^=== (RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	runningRE = regexp.MustCompile(`^\s+(Test\S+|Example\S+|Fuzz\S+) \(`)
)

// parsed is what one run of a binary printed.
type parsed struct {
	results  map[string]Status   // top-level tests that finished
	started  []string            // top-level tests that started, in order
	done     bool                // the binary printed its final PASS/FAIL line
	timedOut []string            // tests named by a -test.timeout panic
	lines    []string            // the whole output, for failure details
	failAt   map[string]int      // line index of each failure
	startAt  map[string]int      // line index where each test started
	output   map[string][]string // lines each top-level test (or its subtests) printed
	active   string              // top-level test of the last RUN/CONT/NAME frame
	panicked string              // the first "panic:" or "fatal error:" line
}

func top(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

func parse(out []byte) *parsed {
	p := &parsed{results: map[string]Status{}, failAt: map[string]int{}, startAt: map[string]int{}, output: map[string][]string{}}
	current := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	inTimeout := false
	for sc.Scan() {
		line := sc.Text()
		p.lines = append(p.lines, line)
		idx := len(p.lines) - 1
		if inTimeout {
			if m := runningRE.FindStringSubmatch(line); m != nil {
				p.timedOut = append(p.timedOut, top(m[1]))
				continue
			}
			if strings.TrimSpace(line) != "" {
				inTimeout = false
			}
		}
		if strings.HasPrefix(line, "panic: test timed out after") {
			inTimeout = true
		}
		if p.panicked == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
			p.panicked = line
		}
		i := strings.Index(line, marker)
		if i < 0 {
			if current != "" {
				p.output[current] = append(p.output[current], line)
			}
			continue
		}
		frame := strings.TrimLeft(line[i+len(marker):], " ")
		if frame == "PASS" || frame == "FAIL" {
			p.done = true
			continue
		}
		if m := runRE.FindStringSubmatch(frame); m != nil {
			if m[1] != "PAUSE" {
				current = top(m[2])
				p.active = current
			}
			if m[1] == "RUN" && !strings.Contains(m[2], "/") && !seen[m[2]] {
				seen[m[2]] = true
				p.started = append(p.started, m[2])
				p.startAt[m[2]] = idx
			}
			continue
		}
		if m := resultRE.FindStringSubmatch(frame); m != nil {
			// Output after a result line (a non-streamed log) is that test's.
			current = top(m[2])
			p.output[current] = append(p.output[current], frame)
			if strings.Contains(m[2], "/") {
				continue
			}
			p.results[m[2]] = Status(m[1])
			if m[1] == "FAIL" {
				p.failAt[m[2]] = idx
			}
		}
	}
	return p
}

// detail returns the last 40 lines a test (and its subtests) printed.
func (p *parsed) detail(name string, _ int) string {
	keep := p.output[name]
	if len(keep) > 40 {
		keep = append([]string{"..."}, keep[len(keep)-40:]...)
	}
	return strings.Join(keep, "\n")
}

func anchored(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

// once runs the binary once with the given -test.run/-test.skip patterns.
func (r *Runner) once(bin, dir string, timeout time.Duration, run, skip string, serial bool) (out []byte, status string, elapsed time.Duration) {
	// -test.timeout fires first so that the binary prints which tests hang;
	// the outer SIGKILL bound (timeout -s KILL) catches a wedged elfuse.
	inner := timeout - 15*time.Second
	args := []string{"-test.short", "-test.v=test2json", "-test.timeout=" + inner.String(), "-test.count=1"}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	if skip != "" {
		args = append(args, "-test.skip="+skip)
	}
	if serial {
		args = append(args, "-test.parallel=1")
	}
	secs := fmt.Sprintf("%d", int(timeout/time.Second))
	var argv []string
	if r.Elfuse == "" {
		argv = append([]string{"timeout", "-s", "KILL", secs, bin}, args...)
	} else {
		argv = append([]string{"timeout", "-s", "KILL", secs, r.Elfuse, "--", bin}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = r.Env
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	elapsed = time.Since(start)
	switch {
	case err == nil:
		status = "exit 0"
	case cmd.ProcessState != nil:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			status = "signal " + ws.Signal().String()
		case ws.ExitStatus() == 137 || ws.ExitStatus() == 124:
			status = fmt.Sprintf("killed after %v (exit %d)", timeout, ws.ExitStatus())
		default:
			status = fmt.Sprintf("exit %d", ws.ExitStatus())
		}
	default:
		status = "error: " + err.Error()
	}
	return buf.Bytes(), status, elapsed
}

// RunPackage runs every test of pkg (from the binary in binDir) and returns
// each top-level test's status. When the binary dies part-way, it runs again
// with the finished tests skipped; a test that was running when it died is
// re-run alone to tell which one kills it.
func (r *Runner) RunPackage(binDir string, pkg Pkg) *Result {
	bin := filepath.Join(binDir, binName(pkg.Path))
	dir := filepath.Join(r.GOROOT, "src", pkg.Path)
	timeout := pkg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	res := &Result{Tests: map[string]Status{}, Detail: map[string]string{}}
	logf := r.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	record := func(p *parsed) {
		for name, s := range p.results {
			res.Tests[name] = s
			if s == Fail {
				res.Detail[name] = p.detail(name, p.failAt[name])
			}
		}
	}
	var finished []string // tests to skip in the next run
	serial := false       // after a crash amid parallel tests: -test.parallel=1
	deadline := time.Now().Add(3 * timeout)
	for round := 0; round < 30 && time.Now().Before(deadline); round++ {
		skip := ""
		if len(finished) > 0 {
			skip = anchored(finished)
		}
		out, status, el := r.once(bin, dir, timeout, pkg.Run, skip, serial)
		res.Runs++
		res.Elapsed += el
		p := parse(out)
		record(p)
		if p.done && !strings.HasPrefix(status, "signal") && !strings.HasPrefix(status, "killed") {
			break
		}
		// The binary died. Which tests were running?
		var open []string
		for _, n := range p.started {
			if _, ok := p.results[n]; !ok {
				open = append(open, n)
			}
		}
		tail := strings.Join(lastLines(p.lines, 15), "\n")
		why := status
		if p.panicked != "" {
			why += " (" + p.panicked + ")"
		}
		note := fmt.Sprintf("run %d ended with %s while %d test(s) were open, the last active %s", res.Runs, why, len(open), p.active)
		res.Notes = append(res.Notes, note)
		logf("%s: %s", pkg.Path, note)
		if len(open) == 0 {
			// Died outside any test (init, TestMain, or at exit).
			res.Tests["(binary)"] = Crash
			res.Detail["(binary)"] = tail
			break
		}
		timedOut := map[string]bool{}
		for _, n := range p.timedOut {
			timedOut[n] = true
		}
		// Blame one test: the only one open, or (tests running one at a
		// time) the last one active; otherwise run the open ones again,
		// one at a time, to find out.
		culprit := ""
		switch {
		case len(open) == 1:
			culprit = open[0]
		case len(p.timedOut) == 1:
			culprit = p.timedOut[0]
		case serial && contains(open, p.active):
			culprit = p.active
		}
		if culprit != "" {
			s := Crash
			if timedOut[culprit] || strings.HasPrefix(status, "killed") {
				s = Timeout
			}
			res.Tests[culprit] = s
			d := p.detail(culprit, -1)
			if p.panicked != "" {
				d += "\n" + p.panicked
			}
			res.Detail[culprit] = d + "\n" + tail
		} else {
			serial = true
		}
		finished = finished[:0]
		for n := range res.Tests {
			finished = append(finished, n)
		}
		sort.Strings(finished)
	}
	return res
}

// Retry runs each named test of pkg again, alone, and marks those that
// now pass as Flaky (keeping the first failure's output).
func (r *Runner) Retry(binDir string, pkg Pkg, res *Result, names []string) {
	bin := filepath.Join(binDir, binName(pkg.Path))
	dir := filepath.Join(r.GOROOT, "src", pkg.Path)
	timeout := pkg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	for _, n := range names {
		out, _, el := r.once(bin, dir, timeout, anchored([]string{n}), "", false)
		res.Runs++
		res.Elapsed += el
		if q := parse(out); q.done && q.results[n] == Pass {
			res.Tests[n] = Flaky
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.ReplaceAll(l, marker, "")
	}
	return out
}

// Known is one line of KNOWN.md's table.
type Known struct {
	Pkg, Test string
	// Where is "elfuse" (fails under elfuse only), "native" (fails natively
	// in this environment too) or "flaky" (fails now and then; never stale).
	Where  string
	Reason string
}

// ParseKnown reads the table rows `| package | test | where | reason |` of a
// KNOWN.md file; other lines are prose.
func ParseKnown(path string) (map[string]Known, error) {
	rows, err := diff.KnownRows(path, "package", 4)
	if err != nil {
		return nil, err
	}
	known := map[string]Known{}
	for _, r := range rows {
		k := Known{Pkg: r.Cells[0], Test: r.Cells[1], Where: r.Cells[2], Reason: r.Reason(3)}
		switch k.Where {
		case "elfuse", "native", "flaky":
		default:
			return nil, fmt.Errorf("%s:%d: where must be elfuse, native or flaky, not %q", path, r.Line, k.Where)
		}
		known[k.Pkg+" "+k.Test] = k
	}
	return known, nil
}
