//go:build linux

package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The distro rows (issue 5): real dynamic programs of a Debian bookworm root (scripts/distro-root.sh
// builds it, for tests/distro) run natively in a chroot of that root, under
// `elfuse --sysroot ROOT`, and in runc and gVisor runsc containers whose rootfs is that root
// (read-only, the work directory bind-mounted read-write). Every side works in the same directory,
// ROOT/tmp/elfuse-bench-<pid>/<row>, which the guest sees as /tmp/elfuse-bench-<pid>/<row>: elfuse
// maps a host working directory under the sysroot to the guest path below it
// (syscall.Resolver.GuestPath). They run in the full bench or when named with -workloads; without a
// Debian root their rows say so.

// distroRef is the runner the distro rows' ratios are relative to: the chroot.
const distroRef = "native"

// distroPeer is the runner the elfuse row's note compares with.
const distroPeer = "runsc-systrap"

// distroWorkload is one distro row.
type distroWorkload struct {
	Name, Desc string
	// Argv runs in the work directory; Want is its exact stdout.
	Argv []string
	Want string
	// Setup fills the work directory once (untimed); native runs a command natively in the chroot.
	Setup func(dir string, native func(argv ...string) error) error
	// Prep runs before every run (untimed), Check after every successful one (untimed).
	Prep, Check func(dir string) error
	// Needs lists capabilities (keys of elfuseHas) the elfuse runner must have to run it.
	Needs []string
}

var distroWorkloads = []distroWorkload{
	{
		Name: "deb-python3", Desc: "python3 -c pass",
		Argv: []string{"/usr/bin/python3", "-c", "pass"},
	},
	{
		Name: "deb-bash-loop", Desc: "bash running /bin/true 200 times",
		Argv: []string{"/bin/bash", "-c", "for i in $(seq 200); do /bin/true || exit 1; done; echo $i"},
		Want: "200\n",
	},
	{
		Name: "deb-gcc-c", Desc: "gcc -c of a generated 2000-line C file",
		Argv: []string{"/usr/bin/gcc", "-c", "gen.c", "-o", "gen.o"},
		Setup: func(dir string, _ func(...string) error) error {
			return writeCFile(filepath.Join(dir, "gen.c"), "f", 200)
		},
		Prep:  func(dir string) error { return removeAll(filepath.Join(dir, "gen.o")) },
		Check: func(dir string) error { return checkELF(filepath.Join(dir, "gen.o"), elf.ET_REL, "f0", "f199") },
	},
	{
		Name: "deb-make-j2", Desc: "make -j2 of a generated 8-file C project",
		Argv:  []string{"/usr/bin/make", "-s", "-j2"},
		Needs: []string{"pselect-sigmask"},
		Setup: writeMakeProject,
		Prep: func(dir string) error {
			olds, _ := filepath.Glob(filepath.Join(dir, "*.o"))
			return removeAll(append(olds, filepath.Join(dir, "prog"))...)
		},
		Check: func(dir string) error {
			return checkELF(filepath.Join(dir, "prog"), elf.ET_DYN, "main", "m0_0", "m7_19")
		},
	},
	{
		Name: "deb-git-status", Desc: "git status in a generated 1000-file repository",
		Argv:  []string{"/usr/bin/git", "status"},
		Want:  "On branch main\nnothing to commit, working tree clean\n",
		Setup: writeGitRepo,
	},
}

// distroEnv is the environment of every distro run, on every side.
func distroEnv(guestDir string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "TERM=dumb",
		"LANG=C", "LC_ALL=C", "TZ=UTC", "TMPDIR=" + guestDir,
		"PYTHONDONTWRITEBYTECODE=1", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=elfuse bench", "GIT_AUTHOR_EMAIL=bench@example.org",
		"GIT_AUTHOR_DATE=2020-09-13T12:26:40+00:00",
		"GIT_COMMITTER_NAME=elfuse bench", "GIT_COMMITTER_EMAIL=bench@example.org",
		"GIT_COMMITTER_DATE=2020-09-13T12:26:40+00:00",
	}
}

// findDebianRoot returns the Debian root: -distro-root, else what scripts/distro-root.sh says it
// has built (it is not built here: that takes minutes and the network), else the newest
// <cache>/distro/debian-bookworm-amd64-* holding /usr/bin/python3.
func findDebianRoot(o options, repo string) (string, error) {
	if o.distroRoot != "" {
		if !isExecutable(filepath.Join(o.distroRoot, "usr", "bin", "python3")) {
			return "", fmt.Errorf("-distro-root %s has no /usr/bin/python3: not a Debian root of scripts/distro-root.sh", o.distroRoot)
		}
		return o.distroRoot, nil
	}
	script := filepath.Join(repo, "scripts", "distro-root.sh")
	var why string
	if isExecutable(script) {
		var stderr bytes.Buffer
		cmd := exec.Command(script, "path", "debian")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if p := strings.TrimSpace(string(out)); err == nil && p != "" {
			return p, nil
		}
		why = "scripts/distro-root.sh path debian: " + lastLine(stderr.String())
	} else {
		why = "no scripts/distro-root.sh"
	}
	found, _ := filepath.Glob(filepath.Join(o.cache, "distro", "debian-bookworm-amd64-*"))
	for i := len(found) - 1; i >= 0; i-- {
		if isExecutable(filepath.Join(found[i], "usr", "bin", "python3")) {
			return found[i], nil
		}
	}
	return "", fmt.Errorf("no Debian root (%s; run scripts/distro-root.sh to build one)", why)
}

// distroRows measures the distro rows, or returns nil when they were not asked for.
func distroRows(ctx context.Context, o options, e env, repo, work string) []Row {
	only := strings.Split(o.only, ",")
	var todo []distroWorkload
	for _, w := range distroWorkloads {
		if (o.only == "" && !o.quick) || slices.Contains(only, w.Name) {
			todo = append(todo, w)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	var rows []Row
	root, err := findDebianRoot(o, repo)
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("the native side needs root (chroot)")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "elfuse-bench: distro rows skipped: %v\n", err)
		for _, w := range todo {
			rows = append(rows, Row{Workload: w.Name, Runner: "all", Status: "skipped", Reason: err.Error()})
		}
		return rows
	}
	guestBase := fmt.Sprintf("/tmp/elfuse-bench-%d", os.Getpid())
	defer os.RemoveAll(root + guestBase)
	for _, w := range todo {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (%s, Debian root %s)\n", w.Name, w.Desc, root)
		r, err := distroMeasure(ctx, o, e, root, guestBase+"/"+w.Name, filepath.Join(work, "distro-bundles", w.Name), w)
		if err != nil {
			fmt.Fprintf(os.Stderr, "  setup: %v\n", err)
			r = []Row{{Workload: w.Name, Runner: "all", Status: "failed", Reason: "setup: " + clip(err.Error(), 300)}}
		}
		rows = append(rows, r...)
	}
	return rows
}

// distroMeasure sets up one distro row's work directory and bundle and measures its runners.
func distroMeasure(ctx context.Context, o options, e env, root, guestDir, bundle string, w distroWorkload) ([]Row, error) {
	hostDir := root + guestDir
	if err := os.RemoveAll(hostDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return nil, err
	}
	envv := distroEnv(guestDir)
	chroot := func(cmd *exec.Cmd) {
		cmd.SysProcAttr.Chroot = root
		cmd.Dir = guestDir
		cmd.Env = envv
	}
	if w.Setup != nil {
		native := func(argv ...string) error {
			_, err := runOnceWith(ctx, 2*time.Minute, argv, "", chroot)
			return err
		}
		if err := w.Setup(hostDir, native); err != nil {
			return nil, err
		}
	}
	spec := ociSpec(root, w.Argv)
	proc := spec["process"].(map[string]any)
	proc["env"], proc["cwd"] = envv, guestDir
	// No tmpfs over /tmp: the work directory under it is bind-mounted read-write, the rest of the
	// root stays read-only.
	mounts := slices.DeleteFunc(spec["mounts"].([]map[string]any), func(m map[string]any) bool { return m["destination"] == "/tmp" })
	spec["mounts"] = append(mounts, map[string]any{"destination": guestDir, "type": "bind", "source": hostDir,
		"options": []string{"rbind", "rw"}})
	js, err := json.MarshalIndent(spec, "", "  ")
	if err == nil {
		err = os.MkdirAll(bundle, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, "config.json"), js, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}

	// once wraps a timed run with the row's untimed preparation and check.
	once := func(run func(ctx context.Context, timeout time.Duration) (time.Duration, error)) func(context.Context, time.Duration) (time.Duration, error) {
		return func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			if w.Prep != nil {
				if err := w.Prep(hostDir); err != nil {
					return 0, fmt.Errorf("prepare: %w", err)
				}
			}
			took, err := run(ctx, timeout)
			if err == nil && w.Check != nil {
				if cerr := w.Check(hostDir); cerr != nil {
					err = fmt.Errorf("%w: %v", errWrongOutput, cerr)
				}
			}
			return took, err
		}
	}
	native := &runtimeRunner{name: "native", once: once(func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
		return runOnceWith(ctx, timeout, w.Argv, w.Want, chroot)
	})}
	stats := map[string]*ElfuseStats{}
	elfMode := func(name, mode string) *runtimeRunner {
		st := &ElfuseStats{}
		stats[name] = st
		r := &runtimeRunner{name: name, once: once(func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			argv := append([]string{e.elfuse, "--syscalls=" + mode, "--stats", "--sysroot", root, "--"}, w.Argv...)
			var stderr bytes.Buffer
			took, err := runOnceWith(ctx, timeout, argv, w.Want, func(cmd *exec.Cmd) {
				cmd.Dir, cmd.Env = hostDir, envv
				teeStderr(&stderr)(cmd)
			})
			if err == nil {
				st.add(stderr.String(), took)
			}
			return took, err
		})}
		if !isExecutable(e.elfuse) {
			r.unavailable = fmt.Sprintf("no elfuse binary at %s (run make first)", e.shown)
		}
		return r
	}
	elf, exitless := elfMode("elfuse", "exit"), elfMode("elfuse-exitless", "exitless")
	missing := ""
	for _, n := range w.Needs {
		if !elfuseHas[n] && missing == "" {
			missing = n
			elf.unavailable = "needs " + n + " (elfuseHas in workloads.go)"
			exitless.unavailable = elf.unavailable
		}
	}
	container := func(name, bin, missing string, global ...string) *runtimeRunner {
		r := &runtimeRunner{name: name}
		if bin == "" {
			r.unavailable = missing
			return r
		}
		state := filepath.Join(e.ctrRoot, "distro-"+name)
		argv := append([]string{bin, "--root", state}, global...)
		r.once = once(func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			id := newContainerID("distro")
			took, err := runOnce(ctx, timeout, append(slices.Clone(argv), "run", "--bundle", bundle, id), w.Want)
			if err != nil {
				quietRun(append(slices.Clone(argv), "delete", "--force", id)...)
			}
			return took, err
		})
		return r
	}
	runners := []*runtimeRunner{
		native, elf, exitless,
		container("runc", e.runc, "runc not installed (run scripts/bench-setup.sh)"),
		container(distroPeer, e.runsc, "runsc not built (run scripts/bench-setup.sh)",
			"--platform=systrap", "--network=none", "--overlay2=none"),
	}
	if o.runners != "" {
		keep := strings.Split(o.runners, ",")
		runners = slices.DeleteFunc(runners, func(r *runtimeRunner) bool {
			return r.name != distroRef && !slices.Contains(keep, r.name)
		})
		o.runners = ""
	}
	rows := measureRuntime(ctx, o, w.Name, runners, distroRef)
	var peer float64
	for _, r := range rows {
		if r.Runner == distroPeer && r.Status == "ok" {
			peer = r.Median
		}
	}
	for i := range rows {
		rows[i].RatioTo = "" // the reference is native, as in the program rows
		if rows[i].Status == "failed" && strings.Contains(rows[i].Reason, errWrongOutput.Error()) {
			rows[i].Status = "wrong"
		}
		if isElfuse(rows[i].Runner) && missing != "" {
			rows[i].Status = "n/a"
		}
		if st := stats[rows[i].Runner]; st != nil && st.Runs > 0 {
			rows[i].Stats = st
		}
		if rows[i].Runner == "native" && rows[i].Status == "ok" {
			rows[i].Note = "chroot"
		}
		if isElfuse(rows[i].Runner) && rows[i].Status == "ok" && peer > 0 {
			rows[i].Note = fmtRatio(rows[i].Median/peer) + " " + distroPeer
		}
	}
	return rows, nil
}

// removeAll removes the given paths, none of which needs to exist.
func removeAll(paths ...string) error {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// cFunctions returns n small functions named prefix0..prefix<n-1>, 10 lines each.
func cFunctions(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "int %s%d(int x) {\n\tint y = x * %d + %d;\n\tif (y & 1)\n\t\ty += 7;\n"+
			"\tfor (int i = 0; i < %d; i++)\n\t\ty ^= y << 1;\n\treturn y;\n}\n\n", prefix, i, i+3, i, i%5+2)
	}
	return b.String()
}

// writeCFile writes n functions (10*n lines) to path.
func writeCFile(path, prefix string, n int) error {
	return os.WriteFile(path, []byte(cFunctions(prefix, n)), 0o644)
}

// writeMakeProject writes 8 modules of 20 functions, a main calling one function of each, and a
// Makefile building them into prog.
func writeMakeProject(dir string, _ func(...string) error) error {
	var main strings.Builder
	objs := []string{"main.o"}
	for m := range 8 {
		if err := writeCFile(filepath.Join(dir, fmt.Sprintf("mod%d.c", m)), fmt.Sprintf("m%d_", m), 20); err != nil {
			return err
		}
		objs = append(objs, fmt.Sprintf("mod%d.o", m))
		fmt.Fprintf(&main, "int m%d_%d(int);\n", m, 19)
	}
	main.WriteString("int main(void) {\n\tint s = 0;\n")
	for m := range 8 {
		fmt.Fprintf(&main, "\ts += m%d_19(%d);\n", m, m)
	}
	main.WriteString("\treturn s == 0;\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte(main.String()), 0o644); err != nil {
		return err
	}
	mk := "CC = gcc\nCFLAGS = -O1\nOBJS = " + strings.Join(objs, " ") + "\n\n" +
		"prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n"
	return os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk), 0o644)
}

// writeGitRepo writes 1000 files in 20 directories and commits them with the root's git, natively.
func writeGitRepo(dir string, native func(...string) error) error {
	for d := range 20 {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := range 50 {
			text := fmt.Sprintf("file %d of directory %d\n%s", f, d, strings.Repeat("some text\n", f%7+1))
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d.txt", f)), []byte(text), 0o644); err != nil {
				return err
			}
		}
	}
	for _, argv := range [][]string{
		{"/usr/bin/git", "init", "-q", "-b", "main"},
		{"/usr/bin/git", "add", "-A"},
		{"/usr/bin/git", "commit", "-q", "-m", "bench"},
		{"/usr/bin/git", "status"}, // refreshes the index once
	} {
		if err := native(argv...); err != nil && !strings.Contains(err.Error(), errWrongOutput.Error()) {
			return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
	}
	return nil
}

// checkELF checks that path is an ELF file of the given type defining every named symbol.
func checkELF(path string, typ elf.Type, syms ...string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Type != typ {
		return fmt.Errorf("%s is %v, want %v", path, f.Type, typ)
	}
	have, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defined := map[string]bool{}
	for _, s := range have {
		if s.Section != elf.SHN_UNDEF {
			defined[s.Name] = true
		}
	}
	for _, s := range syms {
		if !defined[s] {
			return fmt.Errorf("%s defines no %s", path, s)
		}
	}
	return nil
}

// distroNotes explains the distro rows in BENCHMARKS.md when rep has them.
func distroNotes(b *strings.Builder, rep *Report) {
	seen := false
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Workload, "deb-") {
			seen = true
		}
	}
	if !seen {
		return
	}
	b.WriteString(distroNotesText)
}

// distroNotesText is the BENCHMARKS.md paragraph on the distro rows.
const distroNotesText = `
Notes on the distro rows (` + "`deb-*`" + `, issue 5; ` + "`bench/cmd/elfuse-bench/distro.go`" + `; in ` + "`make bench`" + `, not in
` + "`make bench-quick`" + `):

- Real dynamic programs of the Debian bookworm root that ` + "`scripts/distro-root.sh`" + ` builds for tests/distro
  (found with ` + "`scripts/distro-root.sh path debian`" + `, or ` + "`-distro-root DIR`" + `; the bench does not build it, and
  without it the rows say ` + "`skipped`" + `). ` + "`native`" + ` is a chroot into the root (no /proc inside),
  ` + "`elfuse`" + ` is ` + "`build/elfuse --sysroot ROOT -- cmd`" + `, ` + "`runc`" + ` and ` + "`runsc-systrap`" + ` run a container whose
  rootfs is the same root, read-only (runsc with ` + "`--overlay2=none --network=none`" + `).
- Each row works in ROOT/tmp/elfuse-bench-<pid>/<row>, the guest's /tmp/elfuse-bench-<pid>/<row> on every
  side: the chroot's and the containers' working directory (bind-mounted read-write into the containers),
  and elfuse's host working directory, which it maps to the guest path below the sysroot. TMPDIR points there
  too. The environment is fixed (PATH, HOME=/root, LANG=C, TZ=UTC, git identity and dates).
- ` + "`deb-python3`" + `: ` + "`python3 -c pass`" + `. ` + "`deb-bash-loop`" + `: ` + "`bash -c 'for i in $(seq 200); do /bin/true || exit 1; done; echo $i'`" + `
  (prints 200). ` + "`deb-gcc-c`" + `: ` + "`gcc -c gen.c`" + ` of a generated 2000-line file of 200 small functions (the
  object is removed before and checked after each run: a relocatable ELF defining f0 and f199). ` + "`deb-make-j2`" + `:
  ` + "`make -s -j2`" + ` of 8 generated 200-line modules and a main (-O1), built from clean each run and checked (the
  linked program defines main and every module's last function). ` + "`deb-git-status`" + `: ` + "`git status`" + ` in a
  generated repository of 1000 committed files in 20 directories (must print that the tree is clean).
- The ratio is to native (the chroot); the elfuse row's note gives its time over runsc-systrap's.
`
