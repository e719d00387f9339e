//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSummarize checks the median, min and max of odd and even numbers of repetitions.
func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		times            []float64
		median, min, max float64
	}{
		{[]float64{3, 1, 2, 5, 4}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		r := Row{Times: c.times}
		r.summarize()
		if r.Median != c.median || r.Min != c.min || r.Max != c.max {
			t.Errorf("summarize(%v) = %v %v %v, want %v %v %v", c.times, r.Median, r.Min, r.Max, c.median, c.min, c.max)
		}
	}
}

// TestWorkloadsNative compiles every workload and runs it natively with the quick arguments: its
// output must be exactly what the bench expects, so the checks in the bench are right.
func TestWorkloadsNative(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc: cannot build the workloads")
	}
	bins, err := buildWorkloads(filepath.Join("..", "..", "workloads"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	busybox, bbErr := findBusybox()
	for _, w := range workloads {
		args := w.args(true)
		want, err := w.Expect(args, bins[w.Name])
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		argv := w.argv(hostPath(bins, busybox), true)
		if bbErr != nil && slices.Contains(argv, "") {
			t.Logf("%s: skipped: %v", w.Name, bbErr)
			continue
		}
		if _, err := runOnce(t.Context(), time.Minute, argv, want); err != nil {
			t.Errorf("%s %v: %v", w.Name, args, err)
		}
	}
}

// TestSpecShape checks the OCI config the bundles use runs the given argv from the given rootfs.
func TestSpecShape(t *testing.T) {
	s := ociSpec("/r", []string{"/w/true"})
	if s["root"].(map[string]any)["path"] != "/r" {
		t.Errorf("root path = %v", s["root"])
	}
	if got := s["process"].(map[string]any)["args"].([]string); len(got) != 1 || got[0] != "/w/true" {
		t.Errorf("args = %v", got)
	}
}
