package gostd

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// minPassRate is the share of the tests run (not skipped) that must pass
// under elfuse (issue 4).
const minPassRate = 97.0

// quick is the subset TestGoStdQuick runs in `make test`: whole small
// packages and the TCP and Unix-socket tests of net.
var quick = []Pkg{
	{Path: "strings", Timeout: 90 * time.Second},
	{Path: "sync", Timeout: 90 * time.Second},
	{Path: "time", Timeout: 90 * time.Second},
	{Path: "os/signal", Timeout: 90 * time.Second},
	{Path: "net", Timeout: 90 * time.Second,
		Run: "^(TestTCP.*|TestUnix.*|TestIPv4MulticastListener|TestDialTimeout|TestCloseRead|TestCloseWrite|TestListenerClose|TestConnClose|TestUDPConn.*|TestUDPServer|TestUnixAndUnixpacketServer|TestStreamConnServer|TestAcceptTimeout|TestSendfile.*|TestSplice.*)$"},
}

func guestEnv() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"GOROOT=" + runtime.GOROOT(),
		"LANG=C", "LC_ALL=C", "TZ=UTC",
		"GOTRACEBACK=all",
	}
	if u := os.Getenv("USER"); u != "" {
		env = append(env, "USER="+u)
	}
	return env
}

func selectPkgs(all []Pkg) []Pkg {
	want := os.Getenv("ELFUSE_GOSTD_PKGS")
	if want == "" {
		return all
	}
	var out []Pkg
	for _, name := range strings.Fields(strings.ReplaceAll(want, ",", " ")) {
		found := false
		for _, p := range all {
			if p.Path == name {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			out = append(out, Pkg{Path: name})
		}
	}
	return out
}

func setup(t *testing.T, pkgs []Pkg) (elfuse, binDir string, known map[string]Known) {
	t.Helper()
	diff.RequireKVM(t)
	elfuse = diff.ElfuseBin(t)
	root, err := diff.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Path)
	}
	start := time.Now()
	binDir, err = BuildBinaries(root, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test binaries in %s (%v)", binDir, time.Since(start).Round(time.Millisecond))
	known, err = ParseKnown(filepath.Join(root, "tests", "gostd", "KNOWN.md"))
	if err != nil {
		t.Fatal(err)
	}
	return elfuse, binDir, known
}

// TestGoStd runs the whole suite natively and under elfuse. It is slow (tens
// of minutes), so it runs only with ELFUSE_GOSTD=1 (make test-gostd).
// ELFUSE_GOSTD_PKGS="os net" narrows it to some packages; ELFUSE_GOSTD_NATIVE=0
// leaves out the native runs.
func TestGoStd(t *testing.T) {
	if os.Getenv("ELFUSE_GOSTD") != "1" {
		t.Skip("set ELFUSE_GOSTD=1 (make test-gostd) to run the Go standard-library suite")
	}
	pkgs := selectPkgs(Packages)
	runSuite(t, pkgs, os.Getenv("ELFUSE_GOSTD_NATIVE") != "0", true)
}

// TestGoStdQuick runs a small subset under elfuse only, in about a minute.
func TestGoStdQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	runSuite(t, quick, false, false)
}

type row struct {
	pkg                   string
	ePass, eFail, eSkip   int
	nPass, nFail, nSkip   int
	elapsed, nativeElapse time.Duration
	native                bool
}

func runSuite(t *testing.T, pkgs []Pkg, native, full bool) {
	elfuse, binDir, known := setup(t, pkgs)
	er := &Runner{Elfuse: elfuse, GOROOT: runtime.GOROOT(), Env: guestEnv(), Log: t.Logf}
	nr := &Runner{GOROOT: runtime.GOROOT(), Env: guestEnv(), Log: t.Logf}
	var rows []row
	var report strings.Builder
	suiteStart := time.Now()
	for _, pkg := range pkgs {
		rw := row{pkg: pkg.Path, native: native}
		var nres *Result
		if native {
			nres = nr.RunPackage(binDir, pkg)
			rw.nPass, rw.nFail, rw.nSkip = nres.Count()
			rw.nativeElapse = nres.Elapsed
		}
		eres := er.RunPackage(binDir, pkg)
		// A failure KNOWN.md does not list as certain is run once more,
		// alone: one that passes then is flaky (reported, counted failed).
		var again []string
		for n, s := range eres.Tests {
			if k, ok := known[pkg.Path+" "+n]; s.Failed() && n != "(binary)" && (!ok || k.Where == "flaky") {
				again = append(again, n)
			}
		}
		sort.Strings(again)
		er.Retry(binDir, pkg, eres, again)
		rw.ePass, rw.eFail, rw.eSkip = eres.Count()
		rw.elapsed = eres.Elapsed
		rows = append(rows, rw)
		t.Logf("%-14s elfuse %4d pass %3d fail %3d skip (%v, %d run(s))", pkg.Path, rw.ePass, rw.eFail, rw.eSkip, eres.Elapsed.Round(time.Second), eres.Runs)
		compare(t, &report, pkg, eres, nres, known, full)
	}
	var tot row
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-14s %26s", "package", "elfuse pass/fail/skip")
	if native {
		fmt.Fprintf(&sb, " %26s", "native pass/fail/skip")
	}
	fmt.Fprintf(&sb, " %8s", "elfuse")
	if native {
		fmt.Fprintf(&sb, " %8s", "native")
	}
	sb.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-14s %26s", r.pkg, fmt.Sprintf("%d/%d/%d", r.ePass, r.eFail, r.eSkip))
		if native {
			fmt.Fprintf(&sb, " %26s", fmt.Sprintf("%d/%d/%d", r.nPass, r.nFail, r.nSkip))
		}
		fmt.Fprintf(&sb, " %8v", r.elapsed.Round(time.Second))
		if native {
			fmt.Fprintf(&sb, " %8v", r.nativeElapse.Round(time.Second))
		}
		sb.WriteString("\n")
		tot.ePass += r.ePass
		tot.eFail += r.eFail
		tot.eSkip += r.eSkip
		tot.nPass += r.nPass
		tot.nFail += r.nFail
		tot.nSkip += r.nSkip
		tot.elapsed += r.elapsed
		tot.nativeElapse += r.nativeElapse
	}
	rate := func(p, f int) float64 {
		if p+f == 0 {
			return 100
		}
		return 100 * float64(p) / float64(p+f)
	}
	fmt.Fprintf(&sb, "%-14s %26s", "total", fmt.Sprintf("%d/%d/%d", tot.ePass, tot.eFail, tot.eSkip))
	if native {
		fmt.Fprintf(&sb, " %26s", fmt.Sprintf("%d/%d/%d", tot.nPass, tot.nFail, tot.nSkip))
	}
	fmt.Fprintf(&sb, " %8v", tot.elapsed.Round(time.Second))
	if native {
		fmt.Fprintf(&sb, " %8v", tot.nativeElapse.Round(time.Second))
	}
	sb.WriteString("\n")
	fmt.Fprintf(&sb, "elfuse: %.2f%% of %d tests run pass", rate(tot.ePass, tot.eFail), tot.ePass+tot.eFail)
	if native {
		fmt.Fprintf(&sb, "; native: %.2f%% of %d", rate(tot.nPass, tot.nFail), tot.nPass+tot.nFail)
	}
	fmt.Fprintf(&sb, "; suite took %v\n", time.Since(suiteStart).Round(time.Second))
	t.Log(sb.String())
	if report.Len() > 0 {
		t.Log("\n" + report.String())
	}
	if full {
		out := filepath.Join(binDir, "last-report.txt")
		if err := os.WriteFile(out, []byte(sb.String()+"\n"+report.String()), 0o644); err == nil {
			t.Logf("report written to %s", out)
		}
	}
	if r := rate(tot.ePass, tot.eFail); r < minPassRate {
		t.Errorf("elfuse pass rate %.2f%% is below %.0f%%", r, minPassRate)
	}
}

// compare checks one package's results against KNOWN.md both ways and
// appends every failure (listed or not) with its reason to report.
func compare(t *testing.T, report *strings.Builder, pkg Pkg, eres, nres *Result, known map[string]Known, full bool) {
	t.Helper()
	var names []string
	for n := range eres.Tests {
		names = append(names, n)
	}
	sort.Strings(names)
	nativeStatus := func(n string) Status {
		if nres == nil {
			return ""
		}
		return nres.Tests[n]
	}
	for _, n := range names {
		s := eres.Tests[n]
		ns := nativeStatus(n)
		k, listed := known[pkg.Path+" "+n]
		if s == Flaky {
			fmt.Fprintf(report, "%s %s: elfuse FLAKY (failed, then passed alone), native %s", pkg.Path, n, orDash(ns))
			if listed {
				fmt.Fprintf(report, " (known, %s: %s)\n", k.Where, k.Reason)
			} else {
				fmt.Fprintf(report, " (not listed)\n%s\n", indent(eres.Detail[n]))
			}
			continue
		}
		if s.Failed() {
			fmt.Fprintf(report, "%s %s: elfuse %s, native %s", pkg.Path, n, s, orDash(ns))
			if listed {
				fmt.Fprintf(report, " (known, %s: %s)\n", k.Where, k.Reason)
			} else {
				fmt.Fprintf(report, " (NOT LISTED)\n")
			}
			switch {
			case !listed:
				hint := "elfuse"
				if ns.Failed() {
					hint = "native"
				}
				t.Errorf("%s %s: %s under elfuse (native %s) and not in KNOWN.md (add `| %s | %s | %s | reason |`):\n%s",
					pkg.Path, n, s, orDash(ns), pkg.Path, n, hint, indent(eres.Detail[n]))
			case k.Where == "native" && nres != nil && !ns.Failed():
				t.Errorf("%s %s: KNOWN.md says it fails natively too, but natively it is %s", pkg.Path, n, orDash(ns))
			case k.Where == "elfuse" && ns.Failed():
				t.Errorf("%s %s: fails natively too (%s): mark it `native` in KNOWN.md", pkg.Path, n, ns)
			}
			continue
		}
		if listed && k.Where != "flaky" && (k.Where == "elfuse" || nres == nil || !ns.Failed()) {
			t.Errorf("stale KNOWN.md entry: %s %s now %s under elfuse (native %s); remove it", pkg.Path, n, s, orDash(ns))
		}
		if ns.Failed() {
			fmt.Fprintf(report, "%s %s: native %s, elfuse %s\n", pkg.Path, n, ns, s)
		}
	}
	if full && pkg.Run == "" {
		for _, k := range known {
			if k.Pkg != pkg.Path {
				continue
			}
			if _, ok := eres.Tests[k.Test]; !ok {
				t.Errorf("stale KNOWN.md entry: %s %s did not run at all; remove it", k.Pkg, k.Test)
			}
		}
	}
	for _, note := range eres.Notes {
		fmt.Fprintf(report, "%s: %s\n", pkg.Path, firstLine(note))
	}
}

func orDash(s Status) string {
	if s == "" {
		return "-"
	}
	return string(s)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func indent(s string) string {
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
