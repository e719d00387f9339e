package distro

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// A case is one command run in a root natively (a chroot with /proc
// mounted, in a private mount namespace) and under elfuse --sysroot ROOT.
type tcase struct {
	name string
	// root is "debian" (default) or "musl".
	root string
	// files are written into the scratch directory before each side; a
	// name ending in "/" makes a directory, a "+x" suffix an executable.
	files map[string]string
	// prep, if set, runs on the host after files are written (for example
	// to copy a binary in); dir is the scratch directory's host path.
	prep func(dir string) error
	// argv is the command; "$TMP" in an argument is the scratch
	// directory's guest path.
	argv  []string
	stdin string
	// env is added to the fixed environment (baseEnv).
	env []string
	// exit is the exit status the native run must have.
	exit int
	// timeout bounds each side; zero means defaultTimeout.
	timeout time.Duration
}

const defaultTimeout = 90 * time.Second

// fixedTime is the mtime given to the files of a case.
var fixedTime = time.Unix(1600000000, 0)

// baseEnv is the environment of every command on both sides.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LOGNAME=root",
	"SHELL=/bin/bash",
	"TERM=dumb",
	"LANG=C",
	"LC_ALL=C",
	"TZ=UTC",
	"DIFF_VAR=hello world",
	"DIFF_EMPTY=",
	"DIFF_SPACES=  a  b  ",
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Elfuse Tester",
	"GIT_AUTHOR_EMAIL=tester@example.org",
	"GIT_AUTHOR_DATE=2020-09-13T12:26:40+00:00",
	"GIT_COMMITTER_NAME=Elfuse Tester",
	"GIT_COMMITTER_EMAIL=tester@example.org",
	"GIT_COMMITTER_DATE=2020-09-13T12:26:40+00:00",
	"PYTHONHASHSEED=0",
	"PYTHONDONTWRITEBYTECODE=1",
}

// roots holds the host paths of the roots, from scripts/distro-root.sh.
type roots struct {
	debian, musl string
}

func (r roots) of(name string) string {
	if name == "musl" {
		return r.musl
	}
	return r.debian
}

// findRoots asks scripts/distro-root.sh where the roots are. Without them
// the suite skips, or fails when ELFUSE_DISTRO=1.
func findRoots(t *testing.T) roots {
	t.Helper()
	required := os.Getenv("ELFUSE_DISTRO") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg + " (ELFUSE_DISTRO=1 makes this a failure)")
	}
	if testing.Short() && !required {
		t.Skip("skipping the distro suite in -short mode")
	}
	if os.Geteuid() != 0 {
		skip("the native side needs root (chroot, mount namespace)")
	}
	repo, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo, "scripts", "distro-root.sh"), "path", "all")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		skip("the distro roots are not built (run `scripts/distro-root.sh` or `make test-distro`): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("scripts/distro-root.sh path all printed %q, want two paths", out)
	}
	return roots{debian: lines[0], musl: lines[1]}
}

// nativeWrapper runs (in the new mount namespace) as
// sh -c nativeWrapper sh ROOT DIR CMD...: it mounts /proc and /dev/pts in
// ROOT, then chroots to it with DIR as working directory and execs CMD.
const nativeWrapper = `r=$1 w=$2; shift 2
mount -t proc proc "$r/proc" || exit 125
if [ -d "$r/dev/pts" ]; then mount --bind /dev/pts "$r/dev/pts" || exit 125; fi
exec unshare --root="$r" --wd="$w" -- "$@"`

// runSide runs c once: natively when elfuse is "", else under elfuse. dir
// is the scratch directory's guest path; root the host path of the root.
func runSide(elfuse, root, guestDir string, c tcase) diff.Result {
	timeout := c.timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	args := make([]string, len(c.argv))
	for i, a := range c.argv {
		args[i] = strings.ReplaceAll(a, "$TMP", guestDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cmd *exec.Cmd
	if elfuse == "" {
		// A chroot in a private mount namespace, with /proc and the host's
		// /dev/pts mounted inside it (gone when the namespace ends), and
		// the scratch dir as cwd.
		cmd = exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "--",
			"/bin/sh", "-c", nativeWrapper, "sh", root, guestDir}, args...)...)
	} else {
		// elfuse maps a host cwd under the sysroot to the guest path below it.
		cmd = exec.CommandContext(ctx, elfuse, append([]string{"--sysroot", root, "--"}, args...)...)
		cmd.Dir = root + guestDir
	}
	cmd.Env = append(append(append([]string{}, baseEnv...), c.env...), "DISTRO_TMP="+guestDir, "TMPDIR="+guestDir)
	if c.stdin != "" {
		cmd.Stdin = strings.NewReader(c.stdin)
	}
	return diff.RunCmd(ctx, cmd, timeout)
}

// prepare empties (or makes) the scratch directory and fills it.
func prepare(hostDir string, c tcase) error {
	if err := os.RemoveAll(hostDir); err != nil {
		return err
	}
	if err := os.MkdirAll(hostDir, 0o777); err != nil {
		return err
	}
	if err := writeTree(hostDir, c.files); err != nil {
		return err
	}
	if c.prep != nil {
		return c.prep(hostDir)
	}
	return nil
}

func writeTree(dir string, files map[string]string) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var paths []string
	for _, n := range names {
		mode := os.FileMode(0o644)
		name := n
		if strings.HasSuffix(name, "+x") {
			name, mode = strings.TrimSuffix(name, "+x"), 0o755
		}
		p := filepath.Join(dir, name)
		paths = append(paths, p)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(files[n]), mode); err != nil {
			return err
		}
	}
	// Deepest first, so that setting a file's time does not move its directory's.
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for _, p := range paths {
		if err := os.Chtimes(p, fixedTime, fixedTime); err != nil {
			return err
		}
	}
	return nil
}

// jobPID matches the pid in bash's reports of killed jobs
// ("bash: line 6: 25155 Killed  ..."), which differs from run to run, and
// which bash pads to five columns.
var jobPID = regexp.MustCompile(`(?m)(: line [0-9]+: )( *[0-9]+) `)

// normalize masks what legitimately differs between runs.
func normalize(r diff.Result) diff.Result {
	r.Stdout = jobPID.ReplaceAll(r.Stdout, []byte("${1}PID "))
	r.Stderr = jobPID.ReplaceAll(r.Stderr, []byte("${1}PID "))
	return r
}

// compare returns the differences between a native and an elfuse result.
func compare(n, o diff.Result, otherName string) []string {
	var msgs []string
	if !diff.StatusEqual(n, o) {
		msgs = append(msgs, fmt.Sprintf("status: native %s, %s %s", n.Status, otherName, o.Status))
	}
	if !bytes.Equal(n.Stdout, o.Stdout) {
		msgs = append(msgs, "stdout differs (- native, + "+otherName+"):\n"+strings.TrimSuffix(diff.LineDiff(n.Stdout, o.Stdout), "\n"))
	}
	if !bytes.Equal(n.Stderr, o.Stderr) {
		msgs = append(msgs, "stderr differs (- native, + "+otherName+"):\n"+strings.TrimSuffix(diff.LineDiff(n.Stderr, o.Stderr), "\n"))
	}
	return msgs
}

func clip(b []byte) string {
	const max = 3000
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("\n... (%d more bytes)", len(b)-max)
	}
	return string(b)
}

// TestDistro runs every case natively and under elfuse and holds the
// outcome against KNOWN.md both ways: an unlisted failure fails, and so
// does a listed case that passes (its row is stale). DISTRO_SELF=1 runs the
// native side twice instead (the cases are deterministic on this host).
// DISTRO_CASES="re" narrows the run to the cases whose name matches;
// without it or ELFUSE_DISTRO=1 the python-stdlib-* cases are left out.
func TestDistro(t *testing.T) {
	rs := findRoots(t)
	self := os.Getenv("DISTRO_SELF") == "1"
	elfuse, otherName := "", "native#2"
	if !self {
		diff.RequireKVM(t)
		elfuse, otherName = diff.ElfuseBin(t), "elfuse"
	}
	repo, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	known, err := parseKnown(filepath.Join(repo, "tests", "distro", "KNOWN.md"))
	if err != nil {
		t.Fatal(err)
	}
	cases, err := allCases(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := caseFilter()
	if err != nil {
		t.Fatal(err)
	}
	var mu syncCounter
	t.Cleanup(func() {
		t.Logf("distro suite: %d cases, %d pass, %d known failures, %d unexpected failures, %d stale KNOWN rows",
			mu.total, mu.pass, mu.known, mu.fail, mu.stale)
		if len(mu.failures) > 0 {
			t.Logf("failing cases: %s", strings.Join(mu.failures, " "))
		}
	})
	tag := fmt.Sprintf("%d", os.Getpid())
	// Without ELFUSE_DISTRO=1 (make test), CPython's own unittest modules,
	// which take a minute or more, are left to make test-distro.
	quick := os.Getenv("ELFUSE_DISTRO") != "1" && os.Getenv("DISTRO_CASES") == ""
	for _, c := range cases {
		if !filter(c.name) || quick && strings.HasPrefix(c.name, "python-stdlib-") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := rs.of(c.root)
			guestDir := "/tmp/distro-" + tag + "-" + c.name
			hostDir := root + guestDir
			t.Cleanup(func() { os.RemoveAll(hostDir) })
			side := func(bin string) diff.Result {
				if err := prepare(hostDir, c); err != nil {
					t.Fatalf("preparing %s: %v", hostDir, err)
				}
				return runSide(bin, root, guestDir, c)
			}
			n := side("")
			if n.Code != c.exit {
				t.Errorf("native run ended with %s, want exit %d (the case is wrong for this host or root)\nstdout:\n%s\nstderr:\n%s",
					n.Status, c.exit, clip(n.Stdout), clip(n.Stderr))
				return
			}
			o := side(elfuse)
			msgs := compare(normalize(n), normalize(o), otherName)
			t.Logf("native %s in %v, %s %s in %v", n.Status, n.Elapsed.Round(time.Millisecond), otherName, o.Status, o.Elapsed.Round(time.Millisecond))
			k, listed := known[c.name]
			if self {
				listed = false
			}
			switch {
			case len(msgs) == 0 && listed && k.where != "flaky":
				mu.add(&mu.stale, c.name)
				t.Errorf("passes now, but KNOWN.md lists it as failing (%s): remove its row", k.reason)
			case len(msgs) == 0:
				mu.add(&mu.pass, "")
			case listed:
				mu.add(&mu.known, "")
				t.Logf("known failure (%s): %s\n%s", k.where, k.reason, strings.Join(msgs, "\n"))
			default:
				mu.add(&mu.fail, c.name)
				t.Errorf("%s\n(not listed in KNOWN.md)", strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestKnownRows checks that every KNOWN.md row names an existing case.
func TestKnownRows(t *testing.T) {
	repo, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	known, err := parseKnown(filepath.Join(repo, "tests", "distro", "KNOWN.md"))
	if err != nil {
		t.Fatal(err)
	}
	cases, err := allCases(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("two cases are named %s", c.name)
		}
		names[c.name] = true
	}
	for n := range known {
		if !names[n] {
			t.Errorf("KNOWN.md lists %s, which is not a case", n)
		}
	}
	if len(cases) < 40 {
		t.Errorf("only %d cases", len(cases))
	}
}
