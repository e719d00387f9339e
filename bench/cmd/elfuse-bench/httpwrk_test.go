//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostNetBundle checks the http-wrk bundle runs the server without a network namespace of
// its own and keeps the others.
func TestHostNetBundle(t *testing.T) {
	dir, err := hostNetBundle(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"/w/http"`, `"serve"`, `"127.0.0.1:0"`, `"type": "pid"`, `"type": "mount"`} {
		if !strings.Contains(s, want) {
			t.Errorf("config.json lacks %s", want)
		}
	}
	if strings.Contains(s, `"type": "network"`) {
		t.Error("config.json has a network namespace")
	}
}

// TestWrkNative runs the http-wrk row's run natively for a second: the server's serve mode, the
// check GET, wrk's report and the stop on SIGTERM must all pass.
func TestWrkNative(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("no wrk (scripts/bench-setup.sh installs it)")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc: cannot build the workloads")
	}
	bins, err := buildWorkloads(filepath.Join("..", "..", "workloads"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runners := makeRunners(env{elfuse: "/nonexistent"})
	s := serveRunnerFor(env{}, runners[0], bins["http"], "")
	rate, err := wrkOnce(t.Context(), wrk, time.Second, s)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Fatalf("rate %v", rate)
	}
	t.Logf("native: %.0f req/s", rate)
}
