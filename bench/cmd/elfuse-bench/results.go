//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is the outcome of one workload under one runner.
type Row struct {
	Workload string `json:"workload"`
	Runner   string `json:"runner"`
	// Status is "ok", "failed", "wrong" (exited 0 with the wrong answer), "n/a" (elfuse lacks a
	// capability the workload needs), "skipped" or "unavailable".
	Status string `json:"status"`
	// Reason says why a row is not "ok".
	Reason string `json:"reason,omitempty"`
	// Times are the measured repetitions in seconds (per launch when a repetition launches several).
	Times  []float64 `json:"times_s,omitempty"`
	Median float64   `json:"median_s,omitempty"`
	Min    float64   `json:"min_s,omitempty"`
	Max    float64   `json:"max_s,omitempty"`
	// Ratio is Median divided by the median of the reference runner for the same workload: native's,
	// or RatioTo's when that is set (0 when unknown). The JSON name predates RatioTo.
	Ratio float64 `json:"ratio_to_native,omitempty"`
	// RatioTo names the reference runner when it is not native (the pull rows have no native).
	RatioTo string `json:"ratio_to,omitempty"`
	// PerOpNs is the time of one loop iteration in ns, net of this runner's median startup time
	// (the "true" row) when that was measured; 0 for workloads without a loop.
	PerOpNs float64 `json:"per_op_ns,omitempty"`
	// OpLabel says what one iteration is.
	OpLabel string `json:"op,omitempty"`
	// Rate is how much one run moves per second of its median (RateUnit: MB/s, req/s), wall
	// time including the program's start-up; 0 when the workload has no rate.
	Rate     float64 `json:"rate,omitempty"`
	RateUnit string  `json:"rate_unit,omitempty"`
	// Note is more to show in the note column (the distro rows' ratio to runsc).
	Note string `json:"note,omitempty"`
	// Stats are the elfuse runners' --stats, summed over every run of the row.
	Stats *ElfuseStats `json:"elfuse_stats,omitempty"`
}

// Floor is the bare VM exit round trip measured by hv/kvm's BenchmarkExitRoundTrip.
type Floor struct {
	Status  string  `json:"status"`
	Reason  string  `json:"reason,omitempty"`
	NsPerOp float64 `json:"ns_per_exit,omitempty"`
}

// Report is everything one bench run writes to results.json.
type Report struct {
	Date       time.Time `json:"date"`
	Quick      bool      `json:"quick"`
	Warmups    int       `json:"warmups"`
	Reps       int       `json:"reps"`
	Machine    Machine   `json:"machine"`
	RunscPin   string    `json:"runsc_version,omitempty"`
	Floor      Floor     `json:"vm_exit_floor"`
	Pull       *PullInfo `json:"pull,omitempty"`
	Rows       []Row     `json:"rows"`
	DurationS  float64   `json:"duration_s"`
	ResultsDir string    `json:"results_dir"`
}

// summarize fills the row's median, min and max from its times.
func (r *Row) summarize() {
	if len(r.Times) == 0 {
		return
	}
	s := slices.Clone(r.Times)
	slices.Sort(s)
	r.Min, r.Max = s[0], s[len(s)-1]
	if n := len(s); n%2 == 1 {
		r.Median = s[n/2]
	} else {
		r.Median = (s[n/2-1] + s[n/2]) / 2
	}
}

// fmtDur formats seconds with a unit that keeps three significant figures.
func fmtDur(s float64) string {
	switch {
	case s <= 0:
		return "-"
	case s < 1e-6:
		return fmt.Sprintf("%.0fns", s*1e9)
	case s < 1e-3:
		return fmt.Sprintf("%.3gµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.3gms", s*1e3)
	default:
		return fmt.Sprintf("%.3gs", s)
	}
}

// fmtRatio formats a ratio to the reference runner.
func fmtRatio(r float64) string {
	switch {
	case r <= 0 || math.IsInf(r, 0) || math.IsNaN(r):
		return "-"
	case r < 10:
		return fmt.Sprintf("%.2fx", r)
	default:
		return fmt.Sprintf("%.0fx", r)
	}
}

// fmtRate formats a rate with three significant figures and no exponent.
func fmtRate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// cells returns the row's table cells: workload, runner, median, min, max, ratio, per op, note.
func (r *Row) cells() []string {
	perOp := "-"
	if r.PerOpNs > 0 {
		perOp = fmtDur(r.PerOpNs/1e9) + " /" + r.OpLabel
	}
	if r.Status != "ok" {
		return []string{r.Workload, r.Runner, "-", "-", "-", "-", "-", r.Status + ": " + r.Reason}
	}
	var notes []string
	if r.RatioTo != "" {
		notes = append(notes, "ratio to "+r.RatioTo)
	}
	if r.Rate > 0 {
		notes = append(notes, fmtRate(r.Rate)+" "+r.RateUnit)
	}
	if r.Note != "" {
		notes = append(notes, r.Note)
	}
	note := strings.Join(notes, "; ")
	return []string{r.Workload, r.Runner, fmtDur(r.Median), fmtDur(r.Min), fmtDur(r.Max), fmtRatio(r.Ratio), perOp, note}
}

// tableHeader is the column row of the stdout and markdown tables.
var tableHeader = []string{"workload", "runner", "median", "min", "max", "ratio", "per op", "note"}

// floorRow returns the VM exit floor as table cells, printed beside the syscall rows.
func (f Floor) cells() []string {
	if f.Status != "ok" {
		return []string{"vm-exit-floor", "kvm", "-", "-", "-", "-", "n/a", f.Reason}
	}
	return []string{"vm-exit-floor", "kvm", "-", "-", "-", "-", fmtDur(f.NsPerOp/1e9) + " /exit",
		"bare guest exit round trip (hv/kvm BenchmarkExitRoundTrip)"}
}

// printTable writes the results as an aligned text table, the floor row before the first syscall row.
func printTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	floorDone := false
	last := ""
	for _, r := range rep.Rows {
		if r.Workload != last && last != "" {
			fmt.Fprintln(tw, strings.Repeat("\t", len(tableHeader)-1))
		}
		if !floorDone && r.OpLabel != "" && r.Workload != last {
			fmt.Fprintln(tw, strings.Join(rep.Floor.cells(), "\t"))
			floorDone = true
		}
		last = r.Workload
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	if !floorDone {
		fmt.Fprintln(tw, strings.Join(rep.Floor.cells(), "\t"))
	}
	tw.Flush()
}

// statsTable writes the elfuse rows' system call path figures: VM exits per system call, the
// share served without an exit, and the server threads' CPU time per second of wall time.
func statsTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "| workload | runner | syscalls per run | VM exits per syscall | exitless | server CPU per wall s |\n|---|---|---|---|---|---|\n")
	for _, r := range rep.Rows {
		s := r.Stats
		if s == nil || s.Runs == 0 || s.Syscalls == 0 || r.Status != "ok" {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.3f | %.1f%% | %.2f |\n", r.Workload, r.Runner, s.Syscalls/uint64(s.Runs),
			float64(s.Exits)/float64(s.Syscalls), 100*float64(s.Exitless)/float64(s.Syscalls), s.ServerCPUS/s.WallS)
	}
}

// markdownTable writes the results as a GitHub markdown table.
func markdownTable(w io.Writer, rep *Report) {
	line := func(c []string) {
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", "\\|")
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
	line(slices.Clone(tableHeader))
	sep := make([]string, len(tableHeader))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	floorDone := false
	for _, r := range rep.Rows {
		if !floorDone && r.OpLabel != "" {
			line(rep.Floor.cells())
			floorDone = true
		}
		line(r.cells())
	}
	if !floorDone {
		line(rep.Floor.cells())
	}
}
