package pysuite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// pyTestDir is the regression-test package inside the root.
const pyTestDir = "/usr/lib/python3.11/test"

// Scratch directories (guest paths) of the two sides.
const (
	nativeScratch = "/tmp/pysuite-native"
	elfuseScratch = "/tmp/pysuite-elfuse"
)

// findRoot asks scripts/distro-root.sh where the Debian root is. Without it
// the suite skips, or fails when ELFUSE_PYSUITE=1.
func findRoot(t *testing.T) string {
	t.Helper()
	required := os.Getenv("ELFUSE_PYSUITE") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg + " (ELFUSE_PYSUITE=1 makes this a failure)")
	}
	if os.Geteuid() != 0 {
		skip("the native side needs root (chroot, mount and pid namespaces)")
	}
	repo, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo, "scripts", "distro-root.sh"), "path", "debian")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		skip("the Debian root is not built (run `scripts/distro-root.sh` or `make test-pysuite`): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	root := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(root, pyTestDir, "test_os.py")); err != nil {
		skip("%s has no Python test suite (the libpython3.11-testsuite package): %v", root, err)
	}
	return root
}

// sqliteSources are host copies of CPython 3.11's Lib/test/test_sqlite3,
// which Debian's libpython3.11-testsuite leaves out.
func sqliteSources() []string {
	var dirs []string
	if d := os.Getenv("ELFUSE_PYSUITE_SQLITE3_TESTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, pat := range []string{
		"/usr/lib/python3.11/test/test_sqlite3",
		"/usr/local/lib/python3.11/test/test_sqlite3",
		os.Getenv("HOME") + "/.pyenv/versions/3.11*/lib/python3.11/test/test_sqlite3",
	} {
		m, _ := filepath.Glob(pat)
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		dirs = append(dirs, m...)
	}
	return dirs
}

// ensureSqliteTests copies test_sqlite3 into the root's test package when it
// is missing there; it returns why test_sqlite3 cannot run, or "".
func ensureSqliteTests(t *testing.T, root string) string {
	dst := filepath.Join(root, pyTestDir, "test_sqlite3")
	if _, err := os.Stat(filepath.Join(dst, "__init__.py")); err == nil {
		return ""
	}
	for _, src := range sqliteSources() {
		if _, err := os.Stat(filepath.Join(src, "__init__.py")); err != nil {
			continue
		}
		tmp := dst + ".tmp"
		os.RemoveAll(tmp)
		if out, err := exec.Command("cp", "-r", src, tmp).CombinedOutput(); err != nil {
			return fmt.Sprintf("copying %s: %v: %s", src, err, out)
		}
		exec.Command("find", tmp, "-name", "__pycache__", "-prune", "-exec", "rm", "-rf", "{}", ";").Run()
		if err := os.Rename(tmp, dst); err != nil {
			return err.Error()
		}
		t.Logf("test_sqlite3: Debian's libpython3.11-testsuite leaves it out; copied %s into the root", src)
		return ""
	}
	return "Debian's libpython3.11-testsuite leaves out test_sqlite3 and no CPython 3.11 Lib/test/test_sqlite3 was found on the host (set ELFUSE_PYSUITE_SQLITE3_TESTS)"
}

func selectModules(all []Module) []Module {
	want := os.Getenv("ELFUSE_PYSUITE_MODULES")
	if want == "" {
		return all
	}
	var out []Module
	for _, name := range strings.Fields(strings.ReplaceAll(want, ",", " ")) {
		found := false
		for _, m := range all {
			if m.Name == name {
				out = append(out, m)
				found = true
			}
		}
		if !found {
			out = append(out, Module{Name: name})
		}
	}
	return out
}

// nativeCache is where the native results are kept, so that
// ELFUSE_PYSUITE_NATIVE=cached can reuse them while working on elfuse.
func nativeCache(root, module string) string {
	return filepath.Join(diff.CacheDir(), "pysuite", filepath.Base(root), module+".native.json")
}

func loadNative(root, module string) *Result {
	b, err := os.ReadFile(nativeCache(root, module))
	if err != nil {
		return nil
	}
	var r Result
	if json.Unmarshal(b, &r) != nil || len(r.Tests) == 0 {
		return nil
	}
	return &r
}

func saveNative(root, module string, r *Result) {
	p := nativeCache(root, module)
	if os.MkdirAll(filepath.Dir(p), 0o755) != nil {
		return
	}
	if b, err := json.Marshal(r); err == nil {
		os.WriteFile(p, b, 0o644)
	}
}

// TestPySuite runs the regression-test modules natively (chroot) and under
// elfuse and compares the results with KNOWN.md. It takes tens of minutes,
// so it runs only with ELFUSE_PYSUITE=1 (make test-pysuite).
//
//	ELFUSE_PYSUITE_MODULES="test_os test_time"  only these modules
//	ELFUSE_PYSUITE_NATIVE=cached                 reuse the last native results
//	ELFUSE_PYSUITE_VERBOSE=1                     elfuse -v (syscall trace in the details)
func TestPySuite(t *testing.T) {
	if os.Getenv("ELFUSE_PYSUITE") != "1" {
		t.Skip("set ELFUSE_PYSUITE=1 (make test-pysuite) to run CPython's regression tests natively and under elfuse")
	}
	diff.RequireKVM(t)
	root := findRoot(t)
	elfuse := diff.ElfuseBin(t)
	repo, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	known, err := ParseKnown(filepath.Join(repo, "tests", "pysuite", "KNOWN.md"))
	if err != nil {
		t.Fatal(err)
	}
	modules := selectModules(Modules)
	sqliteMissing := ensureSqliteTests(t, root)
	nr := &Runner{Root: root, Scratch: nativeScratch, Log: t.Logf}
	er := &Runner{Elfuse: elfuse, Root: root, Scratch: elfuseScratch, Log: t.Logf, Verbose: os.Getenv("ELFUSE_PYSUITE_VERBOSE") == "1"}
	defer os.RemoveAll(root + nativeScratch)
	defer os.RemoveAll(root + elfuseScratch)

	type row struct {
		module              string
		nPass, nFail, nSkip int
		ePass, eFail, eSkip int
		diffs               int
		nEl, eEl            time.Duration
	}
	var rows []row
	var report strings.Builder
	suiteStart := time.Now()
	ran := map[string]bool{}
	for _, m := range modules {
		if m.Name == "test_sqlite3" && sqliteMissing != "" {
			t.Logf("test_sqlite3: not run: %s", sqliteMissing)
			continue
		}
		ran[m.Name] = true
		var nres *Result
		if os.Getenv("ELFUSE_PYSUITE_NATIVE") == "cached" {
			nres = loadNative(root, m.Name)
		}
		if nres == nil {
			nres = nr.RunModule(m)
			saveNative(root, m.Name, nres)
		}
		eres := er.RunModule(m)
		// A difference KNOWN.md does not list (or lists as flaky) runs
		// again alone under elfuse; one that then agrees is flaky.
		again := map[string]string{}
		for id, s := range eres.Tests {
			ns := nres.Tests[id]
			k, listed := known[Key(m.Name, id)]
			if id != ModuleID && s.Class() != ns.Class() && ns != "" && (!listed || k.Elfuse == "flaky") && len(again) < 25 {
				again[id] = ns.Class()
			}
		}
		er.Retry(m, eres, again)
		rw := row{module: m.Name, nEl: nres.Elapsed, eEl: eres.Elapsed}
		rw.nPass, rw.nFail, rw.nSkip = nres.Count()
		rw.ePass, rw.eFail, rw.eSkip = eres.Count()
		rw.diffs = compare(t, &report, m, nres, eres, known)
		rows = append(rows, rw)
		t.Logf("%-16s native %4d pass %3d fail %3d skip (%v) | elfuse %4d pass %3d fail %3d skip (%v, %d run(s)) | %d difference(s)",
			m.Name, rw.nPass, rw.nFail, rw.nSkip, nres.Elapsed.Round(time.Second),
			rw.ePass, rw.eFail, rw.eSkip, eres.Elapsed.Round(time.Second), eres.Runs, rw.diffs)
	}
	// Rows of modules that ran but whose test did not run at all are stale.
	for _, k := range known {
		if ran[k.Module] && !seen[k.Module+" "+k.Test] {
			t.Errorf("stale KNOWN.md entry: %s %s did not run on either side; remove it", k.Module, k.Test)
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-16s %22s %22s %6s %8s %8s\n", "module", "native pass/fail/skip", "elfuse pass/fail/skip", "diffs", "native", "elfuse")
	var tot row
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-16s %22s %22s %6d %8v %8v\n", r.module,
			fmt.Sprintf("%d/%d/%d", r.nPass, r.nFail, r.nSkip), fmt.Sprintf("%d/%d/%d", r.ePass, r.eFail, r.eSkip),
			r.diffs, r.nEl.Round(time.Second), r.eEl.Round(time.Second))
		tot.nPass += r.nPass
		tot.nFail += r.nFail
		tot.nSkip += r.nSkip
		tot.ePass += r.ePass
		tot.eFail += r.eFail
		tot.eSkip += r.eSkip
		tot.diffs += r.diffs
		tot.nEl += r.nEl
		tot.eEl += r.eEl
	}
	fmt.Fprintf(&sb, "%-16s %22s %22s %6d %8v %8v\n", "total",
		fmt.Sprintf("%d/%d/%d", tot.nPass, tot.nFail, tot.nSkip), fmt.Sprintf("%d/%d/%d", tot.ePass, tot.eFail, tot.eSkip),
		tot.diffs, tot.nEl.Round(time.Second), tot.eEl.Round(time.Second))
	fmt.Fprintf(&sb, "native: %d tests, %d pass; elfuse: %d tests, %d pass; %d differences; suite took %v\n",
		tot.nPass+tot.nFail+tot.nSkip, tot.nPass, tot.ePass+tot.eFail+tot.eSkip, tot.ePass, tot.diffs,
		time.Since(suiteStart).Round(time.Second))
	t.Log(sb.String())
	if report.Len() > 0 {
		t.Log("\n" + report.String())
	}
	out := filepath.Join(diff.CacheDir(), "pysuite", "last-report.txt")
	if os.MkdirAll(filepath.Dir(out), 0o755) == nil && os.WriteFile(out, []byte(sb.String()+"\n"+report.String()), 0o644) == nil {
		t.Logf("report written to %s", out)
	}
}

// seen records every "module test" key compare looked at.
var seen = map[string]bool{}

// compare checks one module's results against KNOWN.md both ways, appends
// every difference (listed or not) to report, and returns the number of
// differences.
func compare(t *testing.T, report *strings.Builder, m Module, nres, eres *Result, known map[string]Known) int {
	t.Helper()
	ids := map[string]bool{}
	for id := range nres.Tests {
		ids[id] = true
	}
	for id := range eres.Tests {
		ids[id] = true
	}
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	diffs := 0
	for _, id := range sorted {
		key := Key(m.Name, id)
		seen[key] = true
		ns, es := nres.Tests[id], eres.Tests[id]
		nc, ec := ns.Class(), es.Class()
		k, listed := known[key]
		if es == Flaky {
			fmt.Fprintf(report, "%s: native %s, elfuse FLAKY (differed, then agreed when run alone)", key, ns)
			if listed {
				fmt.Fprintf(report, " (listed: %s)\n", k.Reason)
			} else {
				fmt.Fprintf(report, " (not listed)\n%s\n", indent(eres.Detail[id]))
			}
			continue
		}
		if nc == ec {
			if listed && k.Elfuse != "flaky" {
				t.Errorf("stale KNOWN.md entry: %s is %s on both sides now (listed native %s, elfuse %s); remove it", key, nc, k.Native, k.Elfuse)
			}
			continue
		}
		diffs++
		fmt.Fprintf(report, "%s: native %s, elfuse %s", key, orDash(string(ns)), orDash(string(es)))
		switch {
		case !listed:
			fmt.Fprintf(report, " (NOT LISTED)\n")
			detail := eres.Detail[id]
			if detail == "" {
				detail = nres.Detail[id]
			}
			t.Errorf("%s: native %s, elfuse %s, not in KNOWN.md (add `| %s | %s | %s | %s | reason |`):\n%s",
				key, orDash(string(ns)), orDash(string(es)), m.Name, ShortID(m.Name, id), nc, ec, indent(detail))
		case k.Elfuse == "flaky":
			fmt.Fprintf(report, " (listed as flaky: %s)\n", k.Reason)
		case k.Native != nc || k.Elfuse != ec:
			fmt.Fprintf(report, " (listed as native %s, elfuse %s)\n", k.Native, k.Elfuse)
			t.Errorf("%s: native %s, elfuse %s, but KNOWN.md says native %s, elfuse %s:\n%s", key, nc, ec, k.Native, k.Elfuse, indent(eres.Detail[id]))
		default:
			fmt.Fprintf(report, " (known: %s)\n", k.Reason)
		}
	}
	for _, note := range nres.Notes {
		fmt.Fprintf(report, "%s native: %s\n", m.Name, note)
	}
	for _, note := range eres.Notes {
		fmt.Fprintf(report, "%s elfuse: %s\n", m.Name, note)
	}
	return diffs
}

func indent(s string) string {
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
