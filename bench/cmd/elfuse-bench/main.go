//go:build linux

// Command elfuse-bench runs the elfuse benchmark: small static C workloads (bench/workloads) under
// native execution, elfuse, runc, gVisor's runsc and qemu-user, and the pull of a generated
// ~100 MB multi-layer image from a docker-registry on 127.0.0.1 by elfuse, crane+tar and
// skopeo+umoci (pull.go), and real programs of a Debian root natively in a chroot, under
// elfuse --sysroot, runc and runsc (distro.go), alternating runners within each repetition, with a warm-up and at least
// five measured repetitions; every run's output is checked. It prints a table (median, min, max,
// ratio to native, or to crane+tar for the pull rows), writes results.json and ratios.png to a
// timestamped results directory and, with -md, the BENCHMARKS.md page.
//
// `make bench` runs it in full and `make bench-quick` with -quick; scripts/bench-setup.sh installs
// and builds the peers first. It runs on Linux only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// minReps is the fewest measured repetitions a reportable bench makes.
const minReps = 5

// maxTimeouts is how many workloads in a row a runner may time out on before the bench stops
// running it.
const maxTimeouts = 2

// options are the command-line flags.
type options struct {
	quick     bool
	reps      int
	warmups   int
	elfuse    string
	out       string
	md        string
	only      string
	runners   string
	noFloor   bool
	maxTime   time.Duration
	cache     string
	repo      string
	runscPath string
	cranePath string
	render    string
	// distroRoot is the Debian root of the distro rows (default: scripts/distro-root.sh's).
	distroRoot string
}

func main() {
	var o options
	cache := os.Getenv("ELFUSE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "elfuse")
	}
	flag.BoolVar(&o.quick, "quick", false, "run the quick subset with small counts (make bench-quick)")
	flag.IntVar(&o.reps, "reps", minReps, "measured repetitions per workload and runner (at least 5 for a report)")
	flag.IntVar(&o.warmups, "warmup", 1, "unmeasured warm-up repetitions")
	flag.StringVar(&o.elfuse, "elfuse", "build/elfuse", "elfuse binary")
	flag.StringVar(&o.cache, "cache", cache, "cache directory (default $ELFUSE_CACHE or ~/.cache/elfuse)")
	flag.StringVar(&o.out, "out", "", "results base directory (default <cache>/bench/results)")
	flag.StringVar(&o.md, "md", "", "also write this markdown page (BENCHMARKS.md) with the table")
	flag.StringVar(&o.only, "workloads", "", "comma-separated workloads to run (default all, or the quick subset)")
	flag.StringVar(&o.runners, "runners", "", "comma-separated runners to run (default all)")
	flag.BoolVar(&o.noFloor, "no-floor", false, "do not measure the VM exit floor")
	flag.DurationVar(&o.maxTime, "timeout", 0, "longest one run may take (default 120s, 10s with -quick)")
	flag.StringVar(&o.repo, "repo", ".", "repository root (holds bench/workloads and hv/kvm)")
	flag.StringVar(&o.runscPath, "runsc", "", "runsc binary (default <cache>/bench/runsc)")
	flag.StringVar(&o.cranePath, "crane", "", "crane binary for the pull rows (default <cache>/bench/crane)")
	flag.StringVar(&o.distroRoot, "distro-root", "", "Debian root of the deb-* rows (default: scripts/distro-root.sh path debian)")
	flag.StringVar(&o.render, "render", "", "run nothing: print the table of this results.json and write -md from it")
	flag.Parse()
	if o.render != "" {
		if err := render(o.render, o.md); err != nil {
			fmt.Fprintln(os.Stderr, "elfuse-bench:", err)
			os.Exit(2)
		}
		return
	}
	if o.out == "" {
		o.out = filepath.Join(o.cache, "bench", "results")
	}
	if o.maxTime == 0 {
		o.maxTime = 120 * time.Second
		if o.quick {
			o.maxTime = 10 * time.Second
		}
	}
	if o.reps < minReps {
		fmt.Fprintf(os.Stderr, "elfuse-bench: warning: %d repetitions is below the %d a report needs\n", o.reps, minReps)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wrong, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "elfuse-bench:", err)
		os.Exit(2)
	}
	if wrong > 0 {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %d row(s) gave a wrong answer: the bench fails\n", wrong)
		os.Exit(1)
	}
}

// run does the whole bench and returns how many rows gave a wrong answer.
func run(ctx context.Context, o options) (int, error) {
	start := time.Now()
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return 0, fmt.Errorf("repository path: %w", err)
	}
	work := filepath.Join(o.cache, "bench", "work")
	bins, err := buildWorkloads(filepath.Join(repo, "bench", "workloads"), filepath.Join(work, "bin"))
	if err != nil {
		return 0, err
	}
	busybox, err := findBusybox()
	if err != nil {
		return 0, err
	}
	bundles := filepath.Join(work, "bundles")
	if err := makeBundles(bundles, busybox, bins, o.quick); err != nil {
		return 0, err
	}
	ctrRoot, err := os.MkdirTemp("", "elfuse-bench-state-")
	if err != nil {
		return 0, fmt.Errorf("container state dir: %w", err)
	}
	defer func() {
		if err := removeStateDir(ctrRoot); err != nil {
			fmt.Fprintln(os.Stderr, "elfuse-bench: warning:", err)
		}
	}()

	e := env{bundles: bundles, ctrRoot: ctrRoot, elfuse: o.elfuse, shown: o.elfuse}
	if !filepath.IsAbs(e.elfuse) {
		e.elfuse = filepath.Join(repo, e.elfuse)
	}
	e.runc, _ = exec.LookPath("runc")
	e.qemu, _ = exec.LookPath("qemu-x86_64-static")
	e.runsc = o.runscPath
	if e.runsc == "" {
		e.runsc = filepath.Join(o.cache, "bench", "runsc")
	}
	if _, err := os.Stat(e.runsc); err != nil {
		e.runsc = ""
	}
	runners := makeRunners(e)
	if o.runners != "" {
		keep := strings.Split(o.runners, ",")
		runners = slices.DeleteFunc(runners, func(r *Runner) bool {
			return r.Name != "native" && !slices.Contains(keep, r.Name)
		})
	}

	rep := &Report{Date: start.UTC(), Quick: o.quick, Warmups: o.warmups, Reps: o.reps, Machine: describeMachine()}
	if e.runsc != "" {
		if target, err := os.Readlink(e.runsc); err == nil {
			rep.RunscPin = strings.TrimPrefix(filepath.Base(target), "runsc-")
		}
	}
	if o.noFloor {
		rep.Floor = Floor{Status: "n/a", Reason: "not measured (-no-floor)"}
	} else {
		fmt.Fprintln(os.Stderr, "elfuse-bench: measuring the VM exit floor")
		rep.Floor = measureFloor(ctx, repo)
	}

	startup := map[string]float64{} // runner -> median seconds of the "true" workload
	timeouts := map[string]int{}    // runner -> workloads in a row on which it timed out
	for i := range workloads {
		w := &workloads[i]
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), w.Name) {
			continue
		}
		if o.only == "" && o.quick && !w.Quick {
			continue
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (%s)\n", w.Name, w.Desc)
		rows, err := measure(ctx, o, w, bins[w.Name], w.argv(hostPath(bins, busybox), o.quick), runners, timeouts)
		if err != nil {
			return 0, err
		}
		for i := range rows {
			if strings.HasPrefix(rows[i].Reason, "timed out") {
				timeouts[rows[i].Runner]++
			} else if rows[i].Status == "ok" {
				timeouts[rows[i].Runner] = 0
			}
			if w.Name == "true" && rows[i].Status == "ok" {
				startup[rows[i].Runner] = rows[i].Median
			}
			if n := w.ops(o.quick); n > 0 && rows[i].Status == "ok" {
				net := rows[i].Median - startup[rows[i].Runner]
				if net <= 0 {
					net = rows[i].Median
				}
				rows[i].PerOpNs = net / float64(n) * 1e9
			}
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	if wrkWanted(o) {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		rep.Rows = append(rep.Rows, wrkRows(ctx, o, e, bins["http"], runners)...) // httpwrk.go
	}
	var pulls []pullWorkload
	for _, w := range pullWorkloads {
		if (o.only == "" && !o.quick) || (o.only != "" && slices.Contains(strings.Split(o.only, ","), w.Name)) {
			pulls = append(pulls, w)
		}
	}
	if len(pulls) > 0 {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		rows, info, err := runPulls(ctx, o, e, filepath.Join(work, "pull"), pulls)
		if err != nil {
			return 0, err
		}
		rep.Pull = info
		rep.Rows = append(rep.Rows, rows...)
	}
	rep.Rows = append(rep.Rows, distroRows(ctx, o, e, repo, work)...) // distro.go
	rep.Rows = append(rep.Rows, runtimeRows(ctx, o, e)...)            // peers.go
	rep.Rows = append(rep.Rows, shimRows(ctx, o, e)...)               // shim.go
	rep.DurationS = time.Since(start).Seconds()

	dir := filepath.Join(o.out, start.Format("20060102-150405"))
	rep.ResultsDir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("results dir: %w", err)
	}
	printTable(os.Stdout, rep)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("encode results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return 0, fmt.Errorf("write results.json: %w", err)
	}
	if err := writeChart(rep, filepath.Join(dir, "ratios.png")); err != nil {
		return 0, err
	}
	if err := writeMarkdown(filepath.Join(dir, "results.md"), rep); err != nil {
		return 0, err
	}
	if o.md != "" {
		if err := writeMarkdown(o.md, rep); err != nil {
			return 0, err
		}
	}
	fmt.Printf("\nresults: %s (results.json, ratios.png, results.md); %.0fs\n", dir, rep.DurationS)
	wrong := 0
	for _, r := range rep.Rows {
		if r.Status == "wrong" {
			wrong++
		}
	}
	return wrong, nil
}

// measure runs one workload under every runner: warm-ups then measured repetitions, each one
// going through all runners in turn (the starting runner rotating), so that drift on the machine
// is spread over all of them. A runner whose run fails, times out or prints a wrong answer stops
// there for this workload and gets a failure row; one that timed out on the previous
// maxTimeouts workloads is not run again, so a hung runner cannot stretch the bench.
func measure(ctx context.Context, o options, w *Workload, bin string, argv []string, runners []*Runner, timeouts map[string]int) ([]Row, error) {
	args := w.args(o.quick)
	want, err := w.Expect(args, bin)
	if err != nil {
		return nil, fmt.Errorf("expected output of %s: %w", w.Name, err)
	}
	rows := make([]Row, len(runners))
	active := make([]bool, len(runners))
	for i, r := range runners {
		rows[i] = Row{Workload: w.Name, Runner: r.Name, Status: "ok", OpLabel: w.OpLabel}
		switch {
		case r.Skipped != "":
			rows[i].Status, rows[i].Reason = "skipped", r.Skipped
		case isElfuse(r.Name) && w.elfuseMissing() != "":
			rows[i].Status, rows[i].Reason = "n/a", "needs "+w.elfuseMissing()+" (elfuseHas in workloads.go)"
		case r.Unavailable != "":
			rows[i].Status, rows[i].Reason = "unavailable", r.Unavailable
		case timeouts[r.Name] >= maxTimeouts:
			rows[i].Status = "failed"
			rows[i].Reason = fmt.Sprintf("not run: timed out on the %d workloads before", timeouts[r.Name])
		default:
			active[i] = true
		}
		if rows[i].Status != "ok" {
			rows[i].OpLabel = ""
		}
	}
	timeout := o.maxTime
	nativeTime := time.Duration(0)
	for rep := 0; rep < o.warmups+o.reps; rep++ {
		for k := range runners {
			// Native goes first in the first warm-up so its time can bound the others' timeouts.
			i := (k + rep) % len(runners)
			if !active[i] {
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted: %w", ctx.Err())
			}
			r := runners[i]
			total := time.Duration(0)
			var runErr error
			for range w.repeat(o.quick) {
				cmd, id := r.command(w.Name, argv[0], argv[1:])
				var stderr bytes.Buffer
				var setup func(*exec.Cmd)
				if r.elfuse {
					setup = teeStderr(&stderr)
				}
				took, err := runOnceWith(ctx, timeout, cmd, want, setup)
				if err == nil && r.elfuse {
					if rows[i].Stats == nil {
						rows[i].Stats = &ElfuseStats{}
					}
					rows[i].Stats.add(stderr.String(), took)
				}
				if err != nil && r.cleanup != nil {
					r.cleanup(id)
				}
				if err != nil {
					runErr = err
					break
				}
				total += took
			}
			if runErr != nil {
				active[i] = false
				rows[i].Status, rows[i].Reason, rows[i].Times = "failed", runErr.Error(), nil
				if errors.Is(runErr, errWrongOutput) {
					rows[i].Status = "wrong"
				}
				rows[i].OpLabel = ""
				fmt.Fprintf(os.Stderr, "  %s: %s: %v\n", r.Name, rows[i].Status, runErr)
				continue
			}
			per := total / time.Duration(w.repeat(o.quick))
			if r.Name == "native" && rep == 0 {
				nativeTime = per
				// Slow runners get a generous multiple of native's time, within the bound.
				timeout = min(o.maxTime, max(10*time.Second, 2000*nativeTime))
			}
			if rep >= o.warmups {
				rows[i].Times = append(rows[i].Times, per.Seconds())
			}
		}
	}
	var native float64
	for i := range rows {
		rows[i].summarize()
		if rows[i].Runner == "native" && rows[i].Status == "ok" {
			native = rows[i].Median
		}
	}
	for i := range rows {
		if native > 0 && rows[i].Status == "ok" {
			rows[i].Ratio = rows[i].Median / native
		}
		if w.Rate != nil && rows[i].Status == "ok" {
			rows[i].Rate, rows[i].RateUnit = w.Rate(args)
			rows[i].Rate /= rows[i].Median
		}
	}
	return rows, nil
}

// runPulls sets up the pull fixture and registry under work, measures the pull rows and tears the
// registry down again.
func runPulls(ctx context.Context, o options, e env, work string, pulls []pullWorkload) ([]Row, *PullInfo, error) {
	pb, info, err := setupPull(ctx, o, e, work)
	if err != nil {
		return nil, nil, fmt.Errorf("pull rows: %w", err)
	}
	defer pb.close()
	var keep []string
	if o.runners != "" {
		keep = strings.Split(o.runners, ",")
	}
	var rows []Row
	for _, w := range pulls {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (%s)\n", w.Name, w.Desc)
		r, err := pb.measure(ctx, o, w, keep)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, r...)
	}
	return rows, info, nil
}

// programNotes explains the program rows that need more than their name says, in BENCHMARKS.md.
const programNotes = `
Notes on the shell and network rows:

- ` + "`sh-loop`" + ` (issue 3): Debian's busybox-static ` + "`sh -c 'i=0; while [ $i -lt $1 ]; do $2 || exit 1; i=$((i+1)); done; echo sh-loop $i' sh N TRUE`" + `
  with N = 1000 (100 in ` + "`make bench-quick`" + `) and TRUE the static ` + "`true`" + ` workload: N forks and execs from a shell.
  Native, elfuse and qemu-x86_64 run the host's /bin/busybox, the containers the bundle's copy of it.
- ` + "`tcp`" + ` (issue 4): ` + "`bench/workloads/tcp.c`" + `, a forked client writing 256 MiB in 64 KiB writes through one TCP
  connection on 127.0.0.1 to its parent, which checksums it (32 MiB in ` + "`make bench-quick`" + `). ` + "`http`" + ` (issue 4): ` + "`bench/workloads/http`" + `, a static
  Go program (CGO_ENABLED=0, built into the cache) whose net/http client makes 10000 sequential GETs of a
  1 KiB body over one keep-alive connection to its own net/http server on 127.0.0.1, checking every
  response. The containers run them with their loopback only (runsc ` + "`--network=none`" + ` is gVisor's own netstack).
  The note column gives MB/s or requests/s over the median wall time, start-up included. tcp.c's
  client asks for 64 KiB in every write() (only after a short write does it ask for the rest of the chunk).
- ` + "`http-wrk`" + ` (issue 4; ` + "`bench/cmd/elfuse-bench/httpwrk.go`" + `): the same Go server alone
  (` + "`http serve 127.0.0.1:0`" + `, which prints its port once listening) under each runner, driven by the host's
  ` + "`wrk -t1 -c8 -d5s`" + ` (Debian's wrk, installed by scripts/bench-setup.sh; 2 s with ` + "`-quick`" + `, where the row
  runs only when named). Each run starts the server, checks one GET's 1 KiB body, runs wrk (no socket errors
  and no non-2xx/3xx responses allowed), then stops the server with SIGTERM (through the runtime's ` + "`kill`" + ` for
  the containers; elfuse passes it on to the guest), which must exit 0 having served at least every request wrk
  counted (elfuse alone may instead be SIGKILLed after 10 s). Start-up and stop are not timed. The measure is wrk's requests/s (the note); so that lower stays
  better, the time columns are the time 10000 requests take at that rate, the ratio is native's rate over
  the runner's and "per op" is 1/rate. The containers use the host's network here, as a load generator on
  the host cannot reach a container's own loopback: runc a spec without a network namespace, runsc
  ` + "`--network=host`" + ` (gVisor's hostinet: host sockets, not its netstack).
`

// render prints the table of a saved results.json and, when md is set, writes the markdown page.
func render(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	printTable(os.Stdout, &rep)
	if md != "" {
		return writeMarkdown(md, &rep)
	}
	return nil
}

// writeMarkdown writes the BENCHMARKS.md page: when and where it ran, how to rerun it, the table.
func writeMarkdown(path string, rep *Report) error {
	var b strings.Builder
	kind := "full (`make bench`)"
	if rep.Quick {
		kind = "quick subset (`make bench-quick`)"
	}
	fmt.Fprintf(&b, "# elfuse benchmarks\n\n")
	fmt.Fprintf(&b, "Latest run: %s, %s, %d warm-up + %d measured repetitions per workload and runner, runners alternating.\n\n",
		rep.Date.Format("2006-01-02 15:04 MST"), kind, rep.Warmups, rep.Reps)
	fmt.Fprintf(&b, "Machine: %s.\n\n", rep.Machine)
	if rep.RunscPin != "" {
		fmt.Fprintf(&b, "gVisor runsc: %s (Go module proxy, CGO_ENABLED=0).\n\n", rep.RunscPin)
	}
	b.WriteString(`## How to rerun

    make bench          # installs/builds the peers (scripts/bench-setup.sh), then the full bench
    make bench-quick    # a representative subset in under 3 minutes, same columns

Results (results.json, ratios.png, results.md) go to ` + "`${ELFUSE_CACHE:-~/.cache/elfuse}/bench/results/<timestamp>/`" + `.
The workloads are the static C programs in ` + "`bench/workloads/`" + `, built with ` + "`gcc -static -O2`" + ` (and one static Go
program, ` + "`bench/workloads/http`" + `, built with CGO_ENABLED=0 into the cache); the driver is
` + "`bench/cmd/elfuse-bench`" + ` (` + "`go run ./bench/cmd/elfuse-bench -h`" + `). Every run's output is checked: a wrong answer
fails the bench. Container runners (runc, runsc-*) start one container per run from one shared OCI bundle
(Debian's busybox-static as /bin/busybox plus the workloads), so their times include container start-up; the
"per op" column is one loop iteration net of that runner's start-up (the ` + "`true`" + ` row). ` + "`vm-exit-floor`" + ` is
the bare KVM exit round trip of a guest that only exits (hv/kvm BenchmarkExitRoundTrip): the floor under
every elfuse syscall.

Notes on the runners:

- ` + "`native`" + ` runs the binary directly; ` + "`elfuse`" + ` runs ` + "`build/elfuse <binary> args`" + `; its rows for workloads that
  need processes or threads stay ` + "`n/a`" + ` until ` + "`elfuseHas`" + ` in ` + "`bench/cmd/elfuse-bench/workloads.go`" + ` says so.
- ` + "`runc`" + ` is Debian's; ` + "`runsc-systrap`" + ` and ` + "`runsc-ptrace`" + ` are gVisor with ` + "`--network=none`" + ` (` + "`--network=host`" + ` for ` + "`http-wrk`" + `).
- ` + "`runsc-kvm`" + ` is not timed: on PVM (nested KVM without VMX/SVM) its sentry boots and then never runs the
  container's first instruction.
- ` + "`qemu-x86_64`" + ` is Debian's qemu-user-static on the same binary: the user-mode translator that elfuse loads
  for cross-architecture guests, as a reference.
` + programNotes)
	if rep.Pull != nil {
		writePullNotes(&b, rep.Pull)
	}
	distroNotes(&b, rep)       // distro.go
	writeRuntimeNotes(&b, rep) // peers.go
	b.WriteString(`
## Results

The ratio column is the median over native's median for the program workloads, and over
crane+tar's for the pull rows (there is no native pull; the note column says so).

`)
	markdownTable(&b, rep)
	b.WriteString(`
## The system call path

` + "`elfuse`" + ` serves every system call through a VM exit (` + "`--syscalls=exit`" + `); ` + "`elfuse-exitless`" + ` patches the call
sites it meets into jumps to a user-mode trampoline that posts the call to a mailbox host threads serve
(` + "`--syscalls=exitless`" + `, issue 10). Summed over every run of a row (` + "`elfuse --stats`" + `): the VM exits per
system call, the share of calls served without an exit, and the CPU time the server threads spent per
second of wall time.

`)
	statsTable(&b, rep)
	fmt.Fprintf(&b, "\nThe whole run took %.0f s.\n", rep.DurationS)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
