// Package busyboxsuite runs BusyBox's own test suite (testsuite/ of Debian's
// busybox source package) with Debian's busybox-static natively and under
// build/elfuse, and compares the two PASS/FAIL/SKIPPED lists (issue 3). The
// work is done by scripts/busybox-testsuite.sh; this test drives it, reads
// its results and allows only the differences listed in KNOWN.md.
//
// It is slow (minutes), so it runs only with ELFUSE_BUSYBOX_SUITE=1:
//
//	make test-busybox
//	ELFUSE_BUSYBOX_SUITE=1 go test -count=1 -v -timeout 60m ./tests/busyboxsuite
//
// BB_APPLETS="sed grep" limits both runs to those applets; BB_NATIVE_RERUN=1
// runs the native side again even when its cached results still apply;
// BB_REUSE_ELFUSE=1 compares the last elfuse run again without running it.
package busyboxsuite

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// result is one line of a run's results.tsv.
type result struct {
	applet, status, name string
}

func (r result) key() string { return r.applet + "\t" + r.name }

// readResults parses DIR/results.tsv: "applet<TAB>STATUS<TAB>test" lines,
// where STATUS is PASS, FAIL, SKIPPED, UNTESTED or TIMEOUT (test "-": the
// applet's runtest was killed).
func readResults(path string) ([]result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rs []result
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: malformed line %q", path, i+1, line)
		}
		rs = append(rs, result{f[0], f[1], f[2]})
	}
	return rs, nil
}

// counts renders "N PASS, N FAIL, ..." for a list of results.
func counts(rs []result) string {
	n := map[string]int{}
	for _, r := range rs {
		n[r.status]++
	}
	var parts []string
	for _, s := range []string{"PASS", "FAIL", "SKIPPED", "UNTESTED", "TIMEOUT"} {
		if n[s] > 0 || s == "PASS" || s == "FAIL" {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

// known is one row of KNOWN.md's table: an applet, a test name ("*": every
// test of the applet) and the reason.
type known struct {
	applet, name, reason string
}

// splitRow splits a markdown table row on the "|" that are not escaped as
// "\|" and trims each cell and the backquotes around it.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	cells = append(cells, cur.String())
	for i, c := range cells {
		c = strings.TrimSpace(c)
		if len(c) >= 2 && c[0] == '`' && c[len(c)-1] == '`' {
			c = c[1 : len(c)-1]
		}
		cells[i] = c
	}
	return cells
}

// readKnown parses the table rows of KNOWN.md whose first cells are an
// applet and a test name; the header and separator rows are skipped.
func readKnown(path string) ([]known, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ks []known
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		c := splitRow(line)
		if len(c) < 3 || c[0] == "applet" || strings.HasPrefix(c[0], "-") || strings.HasPrefix(c[0], ":-") {
			continue
		}
		ks = append(ks, known{applet: c[0], name: c[1], reason: c[len(c)-1]})
	}
	return ks, sc.Err()
}

// match returns the KNOWN.md row that covers the test, or nil.
func match(ks []known, applet, name string) *known {
	for i := range ks {
		if ks[i].applet == applet && (ks[i].name == name || ks[i].name == "*") {
			return &ks[i]
		}
	}
	return nil
}

// fileHash returns the hex SHA-256 of a file's contents.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runScript runs `busybox-testsuite.sh run MODE DIR`, its output going to
// the test log, and returns the results.
func runScript(t *testing.T, script, mode, dir string, env []string) []result {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(script, "run", mode, dir)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	t.Logf("%s run: %s (%s)", mode, strings.TrimSpace(out.String()), time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("%s run failed: %v", mode, err)
	}
	rs, err := readResults(filepath.Join(dir, "results.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestBusyboxSuite(t *testing.T) {
	if os.Getenv("ELFUSE_BUSYBOX_SUITE") != "1" {
		t.Skip("set ELFUSE_BUSYBOX_SUITE=1 (or run make test-busybox): BusyBox's test suite takes minutes")
	}
	diff.RequireKVM(t)
	elfuse := diff.ElfuseBin(t)
	root, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "busybox-testsuite.sh")
	busybox := os.Getenv("BUSYBOX")
	if busybox == "" {
		busybox = "/usr/bin/busybox"
	}
	knownPath := filepath.Join(root, "tests", "busyboxsuite", "KNOWN.md")
	ks, err := readKnown(knownPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(diff.CacheDir(), "busybox-run")
	env := append(os.Environ(), "ELFUSE_BIN="+elfuse, "BUSYBOX="+busybox, "ELFUSE_CACHE="+diff.CacheDir())

	// The native results are the truth and depend only on the binary, the
	// script (which fetches the source of the installed package) and the
	// applet subset: reuse them while those are unchanged.
	bbHash, err := fileHash(busybox)
	if err != nil {
		t.Fatal(err)
	}
	scriptHash, err := fileHash(script)
	if err != nil {
		t.Fatal(err)
	}
	nativeKey := fmt.Sprintf("busybox %s\nscript %s\napplets %q\n", bbHash, scriptHash, os.Getenv("BB_APPLETS"))
	nativeDir := filepath.Join(out, "native")
	keyFile := filepath.Join(nativeDir, "key")
	var native []result
	if b, err := os.ReadFile(keyFile); err == nil && string(b) == nativeKey && os.Getenv("BB_NATIVE_RERUN") == "" {
		if native, err = readResults(filepath.Join(nativeDir, "results.tsv")); err != nil {
			t.Fatal(err)
		}
		t.Logf("native: cached results in %s (BB_NATIVE_RERUN=1 runs it again)", nativeDir)
	} else {
		native = runScript(t, script, "native", nativeDir, env)
		if err := os.WriteFile(keyFile, []byte(nativeKey), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elfuseDir := filepath.Join(out, "elfuse")
	var got []result
	if os.Getenv("BB_REUSE_ELFUSE") == "1" {
		// Only compare the last elfuse run again (after editing KNOWN.md).
		if got, err = readResults(filepath.Join(elfuseDir, "results.tsv")); err != nil {
			t.Fatal(err)
		}
		t.Logf("elfuse: results of the last run in %s (BB_REUSE_ELFUSE=1)", elfuseDir)
	} else {
		got = runScript(t, script, "elfuse", elfuseDir, env)
	}

	// A native FAIL or TIMEOUT means the host, not elfuse, is odd.
	for _, r := range native {
		if r.status == "FAIL" || r.status == "TIMEOUT" {
			t.Errorf("native run: %s %s: %s (see %s/logs/%s.log)", r.applet, r.status, r.name, nativeDir, r.applet)
		}
	}

	nat := map[string]result{}
	for _, r := range native {
		nat[r.key()] = r
	}
	elf := map[string]result{}
	for _, r := range got {
		elf[r.key()] = r
	}
	keys := map[string]bool{}
	for k := range nat {
		keys[k] = true
	}
	for k := range elf {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)

	used := map[*known]bool{}
	var unexpected, expected []string
	for _, k := range sorted {
		n, e := nat[k], elf[k]
		if n.status == e.status {
			continue
		}
		applet, name, _ := strings.Cut(k, "\t")
		ns, es := n.status, e.status
		if ns == "" {
			ns = "absent"
		}
		if es == "" {
			es = "absent"
		}
		line := fmt.Sprintf("%s: %s: native %s, elfuse %s", applet, name, ns, es)
		if kn := match(ks, applet, name); kn != nil {
			used[kn] = true
			expected = append(expected, line+" (KNOWN: "+kn.reason+")")
		} else {
			unexpected = append(unexpected, line)
		}
	}

	t.Logf("native: %s", counts(native))
	t.Logf("elfuse: %s", counts(got))
	t.Logf("logs: %s/{native,elfuse}/logs/APPLET.log", out)
	for _, l := range expected {
		t.Logf("known difference: %s", l)
	}
	for i := range ks {
		if !used[&ks[i]] && os.Getenv("BB_APPLETS") == "" {
			t.Logf("KNOWN.md lists %s: %s, which no longer differs: remove the row", ks[i].applet, ks[i].name)
		}
	}
	for _, l := range unexpected {
		t.Errorf("difference not in KNOWN.md: %s (log: %s/elfuse/logs/%s.log)", l, out, strings.SplitN(l, ":", 2)[0])
	}
}
