package diff

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var selfFlag = flag.Bool("diff.self", false, "run each guest natively twice instead of under elfuse (same as DIFF_SELF=1)")

// selfMode reports whether the suite proves determinism natively instead of
// comparing with elfuse.
func selfMode() bool {
	return *selfFlag || os.Getenv("DIFF_SELF") == "1"
}

// target returns the elfuse binary to compare against, or "" in self mode.
// Outside self mode it skips when KVM is unusable and fails when the binary
// is missing.
func target(t *testing.T) string {
	t.Helper()
	if selfMode() {
		t.Log("DIFF_SELF: running every guest natively twice")
		return ""
	}
	RequireKVM(t)
	return ElfuseBin(t)
}

// compilers are the C toolchains every program is built with.
var compilers = []string{"gcc", "musl-gcc"}

// runSpec is one `// diff:run {json}` directive of a C program. Without any
// directive a program runs once with no extra arguments and must exit 0.
type runSpec struct {
	Name      string   `json:"name"`
	Args      []string `json:"args"`
	Stdin     string   `json:"stdin"`
	StdinFile bool     `json:"stdinFile"`
	Exit      int      `json:"exit"`
}

func parseRuns(src string) ([]runSpec, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []runSpec
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "// diff:run ")
		if !ok {
			continue
		}
		var r runSpec
		if err := json.Unmarshal([]byte(rest), &r); err != nil {
			return nil, fmt.Errorf("%s: bad diff:run directive %q: %v", src, rest, err)
		}
		if r.Name == "" {
			r.Name = fmt.Sprintf("run%d", len(runs))
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		runs = []runSpec{{Name: ""}}
	}
	return runs, sc.Err()
}

// stdinPayloads are the named stdin contents a diff:run directive can ask for.
var stdinPayloads = map[string][]byte{
	"empty": {},
	"text":  genText(),
}

// genText makes about 200 KiB of deterministic text with varied line lengths.
func genText() []byte {
	words := []string{"alpha", "Beta", "gamma", "delta", "Epsilon", "zeta", "eta", "theta",
		"iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma"}
	var b bytes.Buffer
	x := uint32(12345)
	for b.Len() < 200<<10 {
		x = x*1103515245 + 12345
		n := int(x>>16) % 17
		for i := 0; i < n; i++ {
			x = x*1103515245 + 12345
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[int(x>>16)%len(words)])
		}
		if n == 3 {
			b.WriteString("\ttabbed,punct.! 0123456789")
		}
		b.WriteByte('\n')
	}
	b.WriteString("last line without newline")
	return b.Bytes()
}

// noFailLines rejects native output that reports a failed expectation.
func noFailLines(_ int, r Result) error {
	for _, l := range strings.Split(string(r.Stdout), "\n") {
		if strings.HasPrefix(l, "FAIL") {
			return fmt.Errorf("program reported %q", l)
		}
	}
	return nil
}

// TestDiffC builds every tests/diff/c/*.c program with gcc and musl-gcc and
// runs each natively and under elfuse. The process and signal programs
// (proc_*.c) run in TestDiffProc instead.
func TestDiffC(t *testing.T) {
	runCPrograms(t, func(name string) bool { return !strings.HasPrefix(name, "proc_") })
}

// TestDiffExitless runs the exitless path's own program (xl_*.c) and a
// sample of the others with `elfuse --syscalls=exitless`, whatever mode the
// rest of the suite runs in (ELFUSE_SYSCALLS=exitless runs them all so).
func TestDiffExitless(t *testing.T) {
	sample := map[string]bool{"file_rw": true, "file_stat": true, "pipes": true, "signals": true, "thr_futex": true,
		"thr_kill": true, "proc_fork_wait": true, "proc_sigmask": true, "proc_exec": true, "proc_vfork_threads": true}
	runCProgramsWith(t, "exitless", func(name string) bool { return strings.HasPrefix(name, "xl_") || sample[name] })
}

// TestDiffProc runs the process and signal programs, tests/diff/c/proc_*.c,
// natively and under elfuse, like TestDiffC.
func TestDiffProc(t *testing.T) {
	runCPrograms(t, func(name string) bool {
		if !strings.HasPrefix(name, "proc_") {
			return false
		}
		if why, ok := intermittent[name]; ok && os.Getenv("ELFUSE_PROCESS_SUITES") == "" && !selfMode() {
			t.Logf("%s left to `make test-processes`: %s (KNOWN.md)", name, why)
			return false
		}
		return true
	})
}

// intermittent lists the programs that fail now and then for a cause
// KNOWN.md records; `make test-processes` runs them every time.
var intermittent = map[string]string{
	"proc_alarm": "the vDSO clock's first reading is sometimes far ahead",
}

// runCPrograms builds and runs the tests/diff/c programs whose base name
// (without .c) keep accepts.
func runCPrograms(t *testing.T, keep func(name string) bool) {
	runCProgramsWith(t, "", keep)
}

// runCProgramsWith is runCPrograms with elfuse in system call mode mode
// ("": the suite's).
func runCProgramsWith(t *testing.T, mode string, keep func(name string) bool) {
	bin := target(t)
	if mode != "" && bin != "" {
		bin = ElfuseBinMode(t, mode)
	}
	all, err := filepath.Glob(filepath.Join("c", "*.c"))
	var srcs []string
	for _, s := range all {
		if keep(strings.TrimSuffix(filepath.Base(s), ".c")) {
			srcs = append(srcs, s)
		}
	}
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no C programs found in tests/diff/c (%v)", err)
	}
	// Every header feeds every program's cache key (common.h, proc.h, ...).
	headers, err := filepath.Glob(filepath.Join("c", "*.h"))
	if err != nil || len(headers) == 0 {
		t.Fatalf("no headers found in tests/diff/c (%v)", err)
	}
	for i, h := range headers {
		if headers[i], err = filepath.Abs(h); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range srcs {
		src, _ := filepath.Abs(src)
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		runs, err := parseRuns(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, cc := range compilers {
			t.Run(name+"/"+cc, func(t *testing.T) {
				t.Parallel()
				prog, err := BuildC(src, cc, headers...)
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				for _, r := range runs {
					run := func(t *testing.T) {
						stdin, ok := stdinPayloads[r.Stdin]
						if r.Stdin != "" && !ok {
							t.Fatalf("unknown stdin payload %q", r.Stdin)
						}
						scratch := filepath.Join(t.TempDir(), "scratch")
						RunPair(t, bin, Case{
							Scratch:     scratch,
							CheckNative: noFailLines,
							Steps: []Step{{
								Prog:      prog,
								Args:      append([]string{scratch}, r.Args...),
								Stdin:     stdin,
								StdinFile: r.StdinFile,
								WantExit:  r.Exit,
							}},
						})
					}
					if r.Name == "" {
						run(t)
					} else {
						t.Run(r.Name, run)
					}
				}
			})
		}
	}
}

// busybox is the static busybox the applet cases run.
const busybox = "/bin/busybox"

// fixedTime is the mtime given to every file a busybox case writes, so that
// listings and archives do not depend on when the test ran.
var fixedTime = time.Unix(1600000000, 0)

// bb is one busybox case: files to create in the scratch dir, then steps,
// each `busybox ARGS...` with optional stdin and expected native exit status.
type bb struct {
	name  string
	files map[string]string // path -> content; a trailing "/" makes a directory
	steps []bbStep
}

type bbStep struct {
	args     []string
	stdin    string
	hasStdin bool // stdin is fed through a pipe; otherwise it is /dev/null
	exit     int
}

func st(args ...string) bbStep { return bbStep{args: args} }

func stIn(stdin string, args ...string) bbStep {
	return bbStep{args: args, stdin: stdin, hasStdin: true}
}

func stExit(exit int, args ...string) bbStep { return bbStep{args: args, exit: exit} }

const words = "pear\napple\nfig\nbanana\napple\ncherry\nkiwi\n"
const table = "root:x:0:0:root:/root:/bin/sh\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
const nums = "10\n9\n100\n-3\n7.5\n0\n42\n"

// xzSample is "xz compressed line one\nline two\nline three: 0123456789\n"
// compressed with xz (busybox can only decompress xz).
const xzSample = "/Td6WFoAAATm1rRGAgAhARYAAAB0L+Wj4AA2ADJdADwegAUyOHQoU00T9K3ZfimujEV/kvwco8qvrLfDZ4YTSrqEfIP6Vxx40ZxWE2Ed4YoAAAAA7WUpllEsUY4AAU43r3LB9h+2830BAAAAAARZWg=="

func bigLines() string {
	var b strings.Builder
	x := uint32(7)
	for i := 0; i < 20000; i++ {
		x = x*1664525 + 1013904223
		fmt.Fprintf(&b, "%08x line %d\n", x, i)
	}
	return b.String()
}

func xzBytes() string {
	b, err := base64.StdEncoding.DecodeString(xzSample)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var bbCases = []bb{
	{name: "sort", files: map[string]string{"w.txt": words, "n.txt": nums}, steps: []bbStep{
		st("sort", "w.txt"), st("sort", "-r", "-u", "w.txt"), st("sort", "-n", "n.txt"), stIn(table, "sort", "-t:", "-k3,3n", "-r", "-"),
	}},
	{name: "sort-stdin", steps: []bbStep{stIn(table, "sort", "-t:", "-k3,3n", "-r")}},
	{name: "sort-big", files: map[string]string{"big.txt": bigLines()}, steps: []bbStep{
		st("sort", "-o", "sorted.txt", "big.txt"), st("md5sum", "sorted.txt"), st("head", "-n", "3", "sorted.txt"), st("wc", "-l", "sorted.txt"),
	}},
	{name: "wc", files: map[string]string{"w.txt": words, "t.txt": table}, steps: []bbStep{
		st("wc", "w.txt", "t.txt"), st("wc", "-l", "w.txt"), st("wc", "-c", "t.txt"), stIn("one two\nthree\n", "wc", "-w"),
	}},
	{name: "awk", files: map[string]string{"t.txt": table}, steps: []bbStep{
		st("awk", "-F:", "{s += $3; n++} END {print s, n, NR}", "t.txt"),
		st("awk", "-F:", "$3 > 2 {printf \"%-8s|%5d\\n\", $1, $3}", "t.txt"),
		stIn("3 4\n5 6\n", "awk", "{print $1 * $2, length($0), toupper(\"x\" $2)}"),
		st("awk", "BEGIN {for (i = 1; i <= 5; i++) a[i] = i * i; s = 0; for (k in a) s += a[k]; print s, sprintf(\"%.3f\", 22 / 7), int(-7 / 2)}"),
	}},
	{name: "sed", files: map[string]string{"w.txt": words}, steps: []bbStep{
		st("sed", "-e", "s/a/A/g", "-e", "2d", "w.txt"), st("sed", "-n", "/an/p", "w.txt"),
		st("sed", "-i", "s/^/> /", "w.txt"), st("cat", "w.txt"), stIn("abc\n", "sed", "y/abc/xyz/"),
	}},
	{name: "grep", files: map[string]string{"w.txt": words}, steps: []bbStep{
		st("grep", "-n", "-i", "AP", "w.txt"), st("grep", "-c", "a", "w.txt"), st("grep", "-v", "-e", "a", "-e", "i", "w.txt"),
		stExit(1, "grep", "zzz", "w.txt"), stExit(2, "grep", "x", "missing.txt"), stIn(words, "grep", "-E", "^(k|f)"),
	}},
	{name: "md5sum", files: map[string]string{"w.txt": words, "t.txt": table}, steps: []bbStep{
		st("md5sum", "w.txt", "t.txt"), stIn(words, "md5sum"), st("sha1sum", "w.txt"),
	}},
	{name: "sha256sum", files: map[string]string{"w.txt": words, "big.txt": bigLines()}, steps: []bbStep{
		st("sha256sum", "w.txt", "big.txt"), stIn("", "sha256sum"), st("sha512sum", "w.txt"),
	}},
	{name: "md5sum-check", files: map[string]string{"w.txt": words, "sums": "5d0f4c4a5f1d5d7d4c6a3b2e1f0e9d8c  w.txt\n"}, steps: []bbStep{
		stExit(1, "md5sum", "-c", "sums"),
	}},
	{name: "gzip", files: map[string]string{"w.txt": words, "big.txt": bigLines()}, steps: []bbStep{
		st("gzip", "-k", "w.txt"), st("md5sum", "w.txt.gz"), st("gzip", "-dc", "w.txt.gz"), st("gzip", "-9", "big.txt"),
		st("md5sum", "big.txt.gz"), st("gzip", "-t", "big.txt.gz"), st("gunzip", "big.txt.gz"), st("md5sum", "big.txt"), stIn(words, "gzip", "-c"),
	}},
	{name: "bzip2", files: map[string]string{"w.txt": words, "big.txt": bigLines()}, steps: []bbStep{
		st("bzip2", "-k", "w.txt"), st("md5sum", "w.txt.bz2"), st("bzip2", "-dc", "w.txt.bz2"), st("bzip2", "big.txt"),
		st("md5sum", "big.txt.bz2"), st("bunzip2", "big.txt.bz2"), st("sha256sum", "big.txt"),
	}},
	{name: "xz", files: map[string]string{"s.xz": xzBytes()}, steps: []bbStep{
		st("xz", "-dc", "s.xz"), st("xz", "-dk", "s.xz"), st("cat", "s"), st("xzcat", "s.xz"),
	}},
	{name: "tar", files: map[string]string{"d/": "", "d/a.txt": words, "d/sub/": "", "d/sub/b.txt": table}, steps: []bbStep{
		st("tar", "-cf", "a.tar", "d/a.txt", "d/sub/b.txt"), st("tar", "-tf", "a.tar"), st("md5sum", "a.tar"),
		st("mkdir", "out"), st("tar", "-xf", "a.tar", "-C", "out"), st("cat", "out/d/sub/b.txt"),
		// Not tar -z: busybox runs gzip as a child (fork), which is a later issue.
		st("gzip", "-k", "a.tar"), st("md5sum", "a.tar.gz"), st("tar", "-xOf", "a.tar", "d/a.txt"),
	}},
	{name: "ls", files: map[string]string{"d/": "", "d/b": "bb", "d/a": "a", "d/.hidden": "", "d/c/": "", "d/c/x": "x"}, steps: []bbStep{
		st("ls", "d"), st("ls", "-1", "-a", "d"), st("ls", "-R", "d"), st("ls", "-F", "d"), st("ls", "-l", "d/a", "d/b"),
		stExit(1, "ls", "nothere"),
	}},
	{name: "cat", files: map[string]string{"w.txt": words, "t.txt": table}, steps: []bbStep{
		st("cat", "w.txt", "t.txt"), stIn("from stdin\n", "cat", "w.txt", "-"), st("cat", "-n", "w.txt"), stExit(1, "cat", "missing"),
	}},
	{name: "stat", files: map[string]string{"f": "12345", "d/": "", "l": ""}, steps: []bbStep{
		st("chmod", "640", "f"), st("stat", "-c", "%s %a %A %F %h %n", "f", "d"), st("ln", "-s", "f", "sl"),
		st("stat", "-c", "%F %N", "sl"), st("stat", "-L", "-c", "%s %F", "sl"), st("stat", "-c", "%Y", "f"),
	}},
	{name: "cut", files: map[string]string{"t.txt": table}, steps: []bbStep{
		st("cut", "-d:", "-f1,3", "t.txt"), st("cut", "-c", "1-4", "t.txt"), stIn("a b c\nd e f\n", "cut", "-d", " ", "-f2-"),
	}},
	{name: "tr", steps: []bbStep{
		stIn("Hello, World\n", "tr", "a-z", "A-Z"), stIn("hello   world\n", "tr", "-s", " "), stIn("abc123def\n", "tr", "-d", "0-9"),
		stIn("abc\n", "tr", "-c", "a\\n", "x"),
	}},
	{name: "head", files: map[string]string{"big.txt": bigLines(), "w.txt": words}, steps: []bbStep{
		st("head", "-n", "3", "w.txt"), st("head", "-c", "10", "big.txt"), st("head", "-n", "2", "w.txt", "big.txt"), stIn(words, "head", "-n", "1"),
	}},
	{name: "tail", files: map[string]string{"big.txt": bigLines(), "w.txt": words}, steps: []bbStep{
		st("tail", "-n", "2", "w.txt"), st("tail", "-c", "25", "big.txt"), st("tail", "-n", "+6", "w.txt"), stIn(words, "tail", "-n", "1"),
	}},
	{name: "od", files: map[string]string{"b": "\x00\x01\x02ABC\xff\n\x7f hello"}, steps: []bbStep{
		st("od", "-A", "x", "-t", "x1", "b"), st("od", "-c", "b"), st("od", "-A", "d", "-t", "u2", "b"), stIn("xyz", "od", "-b"),
	}},
	{name: "base64", files: map[string]string{"w.txt": words}, steps: []bbStep{
		st("base64", "w.txt"), stIn("aGVsbG8gd29ybGQK", "base64", "-d"), stIn("", "base64"),
	}},
	{name: "date", steps: []bbStep{
		st("date", "-d", "@0", "-u"), st("date", "-u", "-d", "@1234567890", "+%Y-%m-%d %H:%M:%S %a %b %j %s"),
		st("date", "-u", "-d", "2001-02-03 04:05:06", "+%s"), st("date", "-u", "-d", "@86399", "+%T %D"),
	}},
	{name: "expr", steps: []bbStep{
		st("expr", "6", "*", "7"), st("expr", "length", "hello"), st("expr", "substr", "abcdef", "2", "3"),
		st("expr", "17", "%", "5"), stExit(1, "expr", "1", "=", "2"), st("expr", "abc", ":", "a\\(.\\)"), stExit(2, "expr", "1", "+"),
	}},
	{name: "printf", steps: []bbStep{
		st("printf", "%5d|%-5s|%x|%o|%c\\n", "42", "ab", "255", "8", "zeta"), st("printf", "%s\\n", "a", "b", "c"),
		st("printf", "%.3f %e\\n", "3.14159", "12345.678"), st("printf", "%b", "tab\\there\\n"),
	}},
	{name: "seq", steps: []bbStep{st("seq", "5"), st("seq", "1", "3", "20"), st("seq", "-s", ",", "4"), st("seq", "-w", "8", "11"), st("seq", "3", "-1", "1")}},
	{name: "find", files: map[string]string{"t/": "", "t/a/": "", "t/a/b/": "", "t/a/b/x.c": "int x;", "t/a/y.h": "", "t/z.c": ""}, steps: []bbStep{
		st("find", "t", "-name", "*.c", "-type", "f", "-path", "*/b/*"), st("find", "t/a/b"), st("find", "t", "-type", "d", "-name", "b"),
		st("find", "t", "-maxdepth", "1", "-name", "z*"), st("find", "t", "-empty", "-name", "y*"),
	}},
	{name: "cp", files: map[string]string{"src/": "", "src/f1": "one\n", "src/sub/": "", "src/sub/f2": "two\n"}, steps: []bbStep{
		st("cp", "src/f1", "copy1"), st("cat", "copy1"), st("cp", "-r", "src", "dst"), st("ls", "-R", "dst"), st("cat", "dst/sub/f2"),
		st("cp", "-p", "src/f1", "pres"), st("stat", "-c", "%Y %a", "pres"), stExit(1, "cp", "nothere", "x"),
	}},
	{name: "mv", files: map[string]string{"a": "A\n", "d/": ""}, steps: []bbStep{
		st("mv", "a", "b"), st("ls"), st("mv", "b", "d/"), st("ls", "d"), st("cat", "d/b"), st("mv", "d", "e"), st("ls", "-R"),
		stExit(1, "mv", "nothere", "x"),
	}},
	{name: "rm", files: map[string]string{"f": "", "g": "", "d/": "", "d/x": "", "d/y/": "", "d/y/z": ""}, steps: []bbStep{
		st("rm", "f"), st("ls"), stExit(1, "rm", "d"), st("rm", "-r", "d"), st("ls"), stExit(1, "rm", "missing"), st("rm", "-f", "missing", "g"), st("ls", "-a"),
	}},
	{name: "mkdir", steps: []bbStep{
		st("mkdir", "a"), st("mkdir", "-p", "b/c/d"), st("mkdir", "-m", "700", "m"), st("stat", "-c", "%a %F %n", "a", "b/c/d", "m"),
		stExit(1, "mkdir", "a"), stExit(1, "mkdir", "x/y"), st("rmdir", "b/c/d"), st("ls", "-R", "b"),
	}},
	{name: "ln", files: map[string]string{"t": "target\n"}, steps: []bbStep{
		st("ln", "-s", "t", "sym"), st("ln", "t", "hard"), st("stat", "-c", "%h %F %n", "t", "hard"), st("cat", "sym"),
		st("ln", "-sf", "hard", "sym"), st("readlink", "sym"), stExit(1, "ln", "t", "hard"),
	}},
	{name: "readlink", files: map[string]string{"d/": "", "d/f": "x", "d/e/": ""}, steps: []bbStep{
		st("ln", "-s", "d/f", "l1"), st("ln", "-s", "l1", "l2"), st("readlink", "l2"), st("readlink", "-f", "l2"),
		stExit(1, "readlink", "d/f"), st("readlink", "-f", "d/e/../f"),
	}},
	{name: "realpath", files: map[string]string{"d/": "", "d/f": "x", "d/e/": ""}, steps: []bbStep{
		st("ln", "-s", "d", "dl"), st("realpath", "dl/e/../f"), st("realpath", "."), st("realpath", "d/./e"),
	}},
	{name: "misc-text", files: map[string]string{"w.txt": words}, steps: []bbStep{
		st("uniq", "-c", "w.txt"), st("tac", "w.txt"), st("rev", "w.txt"), st("nl", "w.txt"), st("fold", "-w", "3", "w.txt"),
		st("basename", "/a/b/c.txt", ".txt"), st("dirname", "/a/b/c.txt"), stIn(words, "shuf", "-n", "0"),
	}},
	{name: "true-false", steps: []bbStep{st("true"), stExit(1, "false"), st("echo", "-n", "no newline"), st("echo", "a", "b")}},
}

// writeTree creates files (a trailing "/" marks a directory) under dir and
// sets every mtime to fixedTime.
func writeTree(dir string, files map[string]string) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if strings.HasSuffix(n, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			return err
		}
	}
	// Directories last, deepest first, so file creation does not move them.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		if err := os.Chtimes(filepath.Join(dir, n), fixedTime, fixedTime); err != nil {
			return err
		}
	}
	return nil
}

// TestDiffBusybox runs busybox applets natively and under elfuse.
func TestDiffBusybox(t *testing.T) {
	bin := target(t)
	if _, err := os.Stat(busybox); err != nil {
		t.Fatalf("%s missing: install busybox-static (make setup): %v", busybox, err)
	}
	for _, c := range bbCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var steps []Step
			for _, s := range c.steps {
				step := Step{Prog: busybox, Args: s.args, WantExit: s.exit}
				if s.hasStdin {
					step.Stdin = []byte(s.stdin)
				}
				steps = append(steps, step)
			}
			RunPair(t, bin, Case{
				Scratch: filepath.Join(t.TempDir(), "scratch"),
				Setup:   func(dir string) error { return writeTree(dir, c.files) },
				Steps:   steps,
			})
		})
	}
}

// TestBusyboxCaseCount keeps the suite at the size it promises.
func TestBusyboxCaseCount(t *testing.T) {
	if len(bbCases) < 32 {
		t.Errorf("only %d busybox cases, want at least 32", len(bbCases))
	}
	srcs, _ := filepath.Glob(filepath.Join("c", "*.c"))
	if len(srcs) < 28 {
		t.Errorf("only %d C programs, want at least 28", len(srcs))
	}
}

// TestLineDiff checks the diff rendering used in failure reports.
func TestLineDiff(t *testing.T) {
	got := LineDiff([]byte("a\nb\nc\n"), []byte("a\nB\nc\n"))
	want := "  a\n- b\n+ B\n  c\n"
	if got != want {
		t.Errorf("LineDiff = %q, want %q", got, want)
	}
}
