// Package pysuite runs CPython's own regression tests (`python3 -m test`,
// from Debian's libpython3.11-testsuite in the distro root that
// scripts/distro-root.sh builds) as a second conformance suite (issue 5):
// each module once natively in a chroot of the root (the reference) and once
// under `elfuse --sysroot ROOT`, and compares the per-test results. KNOWN.md
// lists the differences and why; the suite checks that list both ways.
package pysuite

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// Status is the outcome of one test (a test method, or a class or module
// fixture such as setUpClass).
type Status string

const (
	Pass    Status = "PASS" // ok, or an expected failure
	Fail    Status = "FAIL" // FAIL, ERROR, unexpected success, or a failing subtest
	Skip    Status = "SKIP"
	Crash   Status = "CRASH"   // the interpreter died while the test ran
	Timeout Status = "TIMEOUT" // the test printed nothing for Module.Stall, or --timeout fired
	// Flaky marks a difference that went away when the test ran again alone.
	Flaky Status = "FLAKY"
)

// Class is what KNOWN.md compares: pass, fail (fail, crash, timeout) or skip.
func (s Status) Class() string {
	switch s {
	case Pass, Flaky:
		return "pass"
	case Skip:
		return "skip"
	case "":
		return "-"
	}
	return "fail"
}

// Module is one regression-test module and how to run it.
type Module struct {
	Name string
	// Timeout is regrtest's --timeout for one invocation (it covers the
	// whole module); the outer SIGKILL bound is a minute more.
	Timeout time.Duration
	// Stall kills an invocation that prints nothing for this long, and
	// blames the test that was running; zero means DefaultStall.
	Stall time.Duration
	// Exclude are test ids that run on neither side (see Excluded).
	Exclude []string
}

const (
	DefaultTimeout = 15 * time.Minute
	DefaultStall   = 100 * time.Second
)

// Modules are the modules issue 5 names.
var Modules = []Module{
	{Name: "test_os"}, {Name: "test_subprocess"}, {Name: "test_signal"}, {Name: "test_socket"},
	{Name: "test_select"}, {Name: "test_selectors"}, {Name: "test_threading"}, {Name: "test_fcntl"},
	{Name: "test_posix"}, {Name: "test_shutil"}, {Name: "test_tempfile"},
	// It sets the host's CLOCK_REALTIME back an hour (and then forward)
	// when it may: natively, as root, it would move the shared machine's
	// clock.
	{Name: "test_time", Exclude: []string{"test.test_time.TimeTestCase.test_monotonic_settime"}},
	{Name: "test_mmap"}, {Name: "test_pty"}, {Name: "test_json"}, {Name: "test_sqlite3"},
}

// Result is the outcome of every test of one module on one side.
type Result struct {
	Tests map[string]Status
	// Detail keeps the output around each failure, for the report.
	Detail map[string]string
	// Runs counts the invocations (more than one after a crash or hang).
	Runs    int
	Elapsed time.Duration
	// Notes records invocations that died or were killed.
	Notes []string
}

// Count returns the number of tests in each class.
func (r *Result) Count() (pass, fail, skip int) {
	for _, s := range r.Tests {
		switch s.Class() {
		case "pass":
			pass++
		case "skip":
			skip++
		default:
			fail++
		}
	}
	return
}

// GuestEnv is the environment of python3 on both sides.
var GuestEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LOGNAME=root",
	"SHELL=/bin/sh",
	"TERM=dumb",
	"LANG=C.UTF-8",
	"PYTHONDONTWRITEBYTECODE=1",
	"PYTHONHASHSEED=0",
}

// Runner runs regression-test modules in a root, natively or under elfuse.
type Runner struct {
	// Elfuse is the elfuse binary; "" runs natively (chroot).
	Elfuse string
	// Root is the host path of the Debian root.
	Root string
	// Scratch is the guest path of this side's scratch directory (cwd and
	// TMPDIR); it is emptied before each invocation.
	Scratch string
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
	// Verbose adds elfuse -v (the syscall trace goes to stderr, mixed into
	// the output).
	Verbose bool
}

// nativeWrapper runs (in new mount and pid namespaces) as
// sh -c nativeWrapper sh ROOT DIR CMD...: it mounts /proc and /dev/pts in
// ROOT, then runs CMD chrooted to ROOT in DIR. CMD is not exec'd: the shell
// stays pid 1 of the namespace, so that python is an ordinary process
// (signals sent to pid 1 are ignored unless it handles them).
const nativeWrapper = `r=$1 w=$2; shift 2
mount -t proc proc "$r/proc" || exit 125
if [ -d "$r/dev/pts" ]; then mount --bind /dev/pts "$r/dev/pts" || exit 125; fi
unshare --root="$r" --wd="$w" -- "$@"`

// invocation is what one run of python3 -m test printed.
type invocation struct {
	out     []byte
	status  string // "exit N", "signal X", "stalled", "killed"
	elapsed time.Duration
}

// once runs `python3 -m test -v` for one module with the given extra
// regrtest arguments, killing it when it prints nothing for stall.
func (r *Runner) once(m Module, extra []string) invocation {
	timeout := m.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	stall := m.Stall
	if stall == 0 {
		stall = DefaultStall
	}
	py := []string{"/usr/bin/python3", "-m", "test", "-v", "--timeout", fmt.Sprint(int(timeout / time.Second))}
	py = append(append(py, extra...), m.Name)
	outer := fmt.Sprint(int((timeout + time.Minute) / time.Second))
	var argv []string
	var dir string
	if r.Elfuse == "" {
		// --kill-child: when unshare dies, its child (the namespace's
		// init) is killed, and with it every process of the namespace.
		// --uts: test_socket's test_sethostname really sets the hostname.
		argv = append([]string{"timeout", "-s", "KILL", outer, "unshare", "--mount", "--propagation", "private",
			"--uts", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c", nativeWrapper, "sh", r.Root, r.Scratch}, py...)
	} else {
		argv = []string{"timeout", "-s", "KILL", outer, r.Elfuse}
		if r.Verbose {
			argv = append(argv, "-v")
		}
		argv = append(append(argv, "--sysroot", r.Root, "--"), py...)
		// elfuse maps a host cwd under the sysroot to the guest path below it.
		dir = r.Root + r.Scratch
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, GuestEnv...), "TMPDIR="+r.Scratch)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var buf bytes.Buffer
	var mu sync.Mutex
	last := time.Now()
	copied := make(chan struct{})
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := pr.Read(b)
			if n > 0 {
				mu.Lock()
				buf.Write(b[:n])
				last = time.Now()
				mu.Unlock()
			}
			if err != nil {
				close(copied)
				return
			}
		}
	}()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		<-copied
		return invocation{out: []byte(err.Error()), status: "error: " + err.Error()}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	stalled := false
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var werr error
loop:
	for {
		select {
		case werr = <-waited:
			break loop
		case <-tick.C:
			mu.Lock()
			quiet := time.Since(last)
			mu.Unlock()
			if quiet > stall && !stalled {
				stalled = true
				// The process group: timeout, elfuse (every guest process
				// lives in it) or unshare, whose death kills the namespace.
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	pw.Close()
	<-copied
	inv := invocation{out: buf.Bytes(), elapsed: time.Since(start)}
	switch {
	case stalled:
		inv.status = fmt.Sprintf("stalled (no output for %v)", stall)
	case werr == nil:
		inv.status = "exit 0"
	case cmd.ProcessState != nil:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			inv.status = "signal " + ws.Signal().String()
		case ws.ExitStatus() == 137:
			inv.status = fmt.Sprintf("killed after %s s", outer)
		default:
			inv.status = fmt.Sprintf("exit %d", ws.ExitStatus())
		}
	default:
		inv.status = "error: " + werr.Error()
	}
	return inv
}

// parsed is what one invocation's -v output says.
type parsed struct {
	results map[string]Status
	started []string       // ids in the order they started
	startAt map[string]int // line index where each id started
	failAt  map[string]int // line index of the first failure report
	tbAt    map[string]int // line index of the failure's traceback in the summary
	open    string         // the id that started last and has no result
	done    bool           // unittest printed "Ran N tests"
	timeout bool           // regrtest's --timeout fired
	loadErr bool           // the module did not load (import error, uncaught exception)
	skipped string         // regrtest skipped the whole module: the reason
	lines   []string
}

var (
	// desc is a test's description as unittest prints it: "name (id)",
	// then for a subtest " (params)" or " [msg]", then " ... ".
	descRE = regexp.MustCompile(`(\w+) \(([A-Za-z_][\w.]*)\)( \[.*?\]| \(.*?\))*? \.\.\. `)
	// descOnly is the first line of a description whose docstring follows.
	descOnlyRE = regexp.MustCompile(`^(\w+) \(([A-Za-z_][\w.]*)\)$`)
	statusRE   = regexp.MustCompile(`^(ok|FAIL|ERROR|skipped .*|skipped|expected failure|unexpected success)$`)
	summaryRE  = regexp.MustCompile(`^(FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([A-Za-z_][\w.]*)\)(.*)$`)
	ranRE      = regexp.MustCompile(`^Ran \d+ tests? in `)
	modSkipRE  = regexp.MustCompile(`^(test_\w+) skipped -- (.*)$`)
)

// fixtures are the names unittest gives class and module fixture errors;
// their "id" in parentheses is the class or module.
var fixtures = map[string]bool{"setUpClass": true, "tearDownClass": true, "setUpModule": true, "tearDownModule": true}

func testID(name, paren string) string {
	if fixtures[name] {
		return paren + "." + name
	}
	return paren
}

func worse(a, b Status) Status {
	rank := map[Status]int{"": 0, Skip: 1, Pass: 2, Fail: 3, Timeout: 4, Crash: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func statusOf(tok string) Status {
	switch {
	case tok == "ok", tok == "expected failure":
		return Pass
	case strings.HasPrefix(tok, "skipped"):
		return Skip
	}
	return Fail
}

func parse(out []byte) *parsed {
	p := &parsed{results: map[string]Status{}, startAt: map[string]int{}, failAt: map[string]int{}, tbAt: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		p.lines = append(p.lines, sc.Text())
	}
	set := func(id string, s Status, at int) {
		p.results[id] = worse(p.results[id], s)
		if s.Class() == "fail" {
			if _, ok := p.failAt[id]; !ok {
				p.failAt[id] = at
			}
		}
	}
	start := func(id string, at int) {
		if _, ok := p.startAt[id]; !ok {
			p.startAt[id] = at
			p.started = append(p.started, id)
		}
	}
	current := ""    // id waiting for its status
	pendingDoc := "" // id of a "name (id)" line whose docstring line follows
	inSummary := false
	for i, line := range p.lines {
		switch {
		case ranRE.MatchString(line):
			p.done = true
			current = ""
		case strings.HasPrefix(line, "Timeout (") && strings.HasSuffix(line, ")!"):
			p.timeout = true
		case strings.Contains(line, "failed (uncaught exception)") || strings.HasSuffix(line, " crashed") ||
			strings.Contains(line, "errors while loading tests"):
			p.loadErr = true
		}
		if m := modSkipRE.FindStringSubmatch(line); m != nil {
			p.skipped = m[2]
		}
		if strings.HasPrefix(line, "======================================================================") {
			inSummary = true
			continue
		}
		if inSummary {
			if m := summaryRE.FindStringSubmatch(line); m != nil {
				id := testID(m[2], m[3])
				start(id, i)
				set(id, Fail, i)
				if _, ok := p.tbAt[id]; !ok {
					p.tbAt[id] = i
				}
			}
			continue
		}
		if pendingDoc != "" {
			// The docstring line: "First line of the docstring ... ok".
			if j := strings.LastIndex(line, " ... "); j >= 0 {
				current = pendingDoc
				pendingDoc = ""
				if tok := strings.TrimSpace(line[j+5:]); statusRE.MatchString(tok) {
					set(current, statusOf(tok), i)
					current = ""
				}
				continue
			}
			pendingDoc = ""
		}
		if m := descOnlyRE.FindStringSubmatch(line); m != nil {
			id := testID(m[1], m[2])
			start(id, i)
			pendingDoc = id
			current = id
			continue
		}
		locs := descRE.FindAllStringSubmatchIndex(line, -1)
		if len(locs) > 0 {
			for _, l := range locs {
				id := testID(line[l[2]:l[3]], line[l[4]:l[5]])
				start(id, i)
				current = id
			}
			last := locs[len(locs)-1]
			if tok := strings.TrimSpace(line[last[1]:]); statusRE.MatchString(tok) {
				set(current, statusOf(tok), i)
				current = ""
			}
			continue
		}
		// A status on a line of its own (output came between the
		// description and the status).
		if current != "" && statusRE.MatchString(strings.TrimSpace(line)) {
			set(current, statusOf(strings.TrimSpace(line)), i)
			current = ""
		}
	}
	for k := len(p.started) - 1; k >= 0; k-- {
		if _, ok := p.results[p.started[k]]; !ok {
			p.open = p.started[k]
			break
		}
	}
	return p
}

// detail returns the traceback of a failed test in unittest's summary, or
// else the output from where it started (or failed) on; up to 60 lines.
func (p *parsed) detail(id string) string {
	if at, ok := p.tbAt[id]; ok {
		end := at + 1
		for end < len(p.lines) && end-at < 60 && !strings.HasPrefix(p.lines[end], "=====") && !ranRE.MatchString(p.lines[end]) {
			end++
		}
		return strings.Join(p.lines[at:end], "\n")
	}
	from, ok := p.failAt[id]
	if !ok {
		from, ok = p.startAt[id]
	}
	if !ok {
		return ""
	}
	if s, ok := p.startAt[id]; ok && s < from && from-s < 30 {
		from = s
	}
	end := from + 60
	if end > len(p.lines) {
		end = len(p.lines)
	}
	return strings.Join(p.lines[from:end], "\n")
}

func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ModuleID is the pseudo-test that stands for a module that did not load or
// died outside any test.
const ModuleID = "(module)"

// prepareScratch empties this side's scratch directory and writes the
// ignore file (guest path returned) when ids is not empty.
func (r *Runner) prepareScratch(ignore []string) (string, error) {
	host := r.Root + r.Scratch
	if err := os.RemoveAll(host); err != nil {
		return "", err
	}
	if err := os.MkdirAll(host, 0o777); err != nil {
		return "", err
	}
	if len(ignore) == 0 {
		return "", nil
	}
	name := "ignore.txt"
	if err := os.WriteFile(filepath.Join(host, name), []byte(strings.Join(ignore, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	// The ignore file sits in the scratch directory, which is emptied
	// before each run; regrtest reads it at start-up, before the tests.
	return r.Scratch + "/" + name, nil
}

// RunModule runs every test of m and returns each test's status. When the
// interpreter dies or hangs part-way, the test that was running is blamed
// and the module runs again with the finished tests and the culprit ignored.
func (r *Runner) RunModule(m Module) *Result {
	res := &Result{Tests: map[string]Status{}, Detail: map[string]string{}}
	logf := r.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var ignore []string
	for round := 0; round < 12; round++ {
		var extra []string
		file, err := r.prepareScratch(append(append([]string{}, m.Exclude...), ignore...))
		if err != nil {
			res.Tests[ModuleID] = Crash
			res.Detail[ModuleID] = err.Error()
			break
		}
		if file != "" {
			extra = append(extra, "--ignorefile", file)
		}
		inv := r.once(m, extra)
		res.Runs++
		res.Elapsed += inv.elapsed
		p := parse(inv.out)
		for id, s := range p.results {
			res.Tests[id] = worse(res.Tests[id], s)
			if s.Class() == "fail" {
				res.Detail[id] = p.detail(id)
			}
		}
		if p.skipped != "" && len(p.results) == 0 {
			res.Tests[ModuleID] = Skip
			res.Detail[ModuleID] = p.skipped
		}
		if p.done || p.skipped != "" {
			if p.loadErr {
				res.Tests[ModuleID] = Fail
				res.Detail[ModuleID] = lastLines(p.lines, 40)
			}
			break
		}
		// The run ended before unittest's summary: it died or hung.
		why := inv.status
		if p.timeout {
			why += " (regrtest --timeout fired)"
		}
		note := fmt.Sprintf("run %d ended with %s after %v, the open test %s", res.Runs, why, inv.elapsed.Round(time.Second), orDash(p.open))
		res.Notes = append(res.Notes, note)
		logf("%s: %s", m.Name, note)
		if p.open == "" {
			res.Tests[ModuleID] = Crash
			res.Detail[ModuleID] = note + "\n" + lastLines(p.lines, 40)
			break
		}
		s := Crash
		if p.timeout || strings.HasPrefix(inv.status, "stalled") || strings.HasPrefix(inv.status, "killed") {
			s = Timeout
		}
		res.Tests[p.open] = worse(res.Tests[p.open], s)
		res.Detail[p.open] = note + "\n" + lastLines(p.lines[p.startAt[p.open]:], 60)
		ignore = ignore[:0]
		for id := range res.Tests {
			if id == ModuleID {
				continue
			}
			if i := strings.LastIndexByte(id, '.'); i >= 0 && fixtures[id[i+1:]] {
				// A hung class fixture: leave out the whole class.
				ignore = append(ignore, id[:i]+".*")
				continue
			}
			ignore = append(ignore, id)
		}
		sort.Strings(ignore)
	}
	return res
}

// Retry runs each named test of m again, alone, and marks those whose class
// then is want[id] as Flaky (keeping the first failure's output).
func (r *Runner) Retry(m Module, res *Result, want map[string]string) {
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		file, err := r.prepareScratch(m.Exclude)
		if err != nil {
			return
		}
		extra := []string{"-m", id}
		if file != "" {
			extra = append(extra, "--ignorefile", file)
		}
		mm := m
		mm.Timeout = 5 * time.Minute
		inv := r.once(mm, extra)
		res.Runs++
		res.Elapsed += inv.elapsed
		p := parse(inv.out)
		if s, ok := p.results[id]; ok && p.done && s.Class() == want[id] {
			res.Tests[id] = Flaky
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Known is one row of KNOWN.md's table: a test whose class differs between
// the native run and elfuse, and why.
type Known struct {
	Module, Test string
	// Native and Elfuse are the classes (pass, fail, skip) seen on each
	// side; Elfuse "flaky" means it differs now and then (never stale).
	Native, Elfuse string
	Reason         string
}

// Key is the module and the test id below it, e.g. "test_os FileTests.test_access".
func Key(module, id string) string {
	return module + " " + ShortID(module, id)
}

// ShortID strips "test.<module>." from a test id.
func ShortID(module, id string) string {
	return strings.TrimPrefix(id, "test."+module+".")
}

// ParseKnown reads the rows `| module | test | native | elfuse | reason |`
// of a KNOWN.md file; other lines are prose.
func ParseKnown(path string) (map[string]Known, error) {
	rows, err := diff.KnownRows(path, "module", 5)
	if err != nil {
		return nil, err
	}
	known := map[string]Known{}
	for _, r := range rows {
		i, cells := r.Line-1, r.Cells
		k := Known{Module: cells[0], Test: cells[1], Native: cells[2], Elfuse: cells[3], Reason: r.Reason(4)}
		okClass := func(s string, flaky bool) bool {
			return s == "pass" || s == "fail" || s == "skip" || s == "-" || (flaky && s == "flaky")
		}
		if !okClass(k.Native, false) || !okClass(k.Elfuse, true) {
			return nil, fmt.Errorf("%s:%d: native must be pass, fail, skip or -, elfuse also flaky; got %q, %q", path, i+1, k.Native, k.Elfuse)
		}
		if k.Native == k.Elfuse {
			return nil, fmt.Errorf("%s:%d: %s %s: native and elfuse are both %s: not a difference", path, i+1, k.Module, k.Test, k.Native)
		}
		key := k.Module + " " + k.Test
		if _, dup := known[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, i+1, key)
		}
		known[key] = k
	}
	return known, nil
}
