//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCycleOnceRunc drives one create+start+wait+delete of busybox true through runc, as the
// runtime-cycle row does: the container process must be reaped by the test (the subreaper) and
// leave no container behind.
func TestCycleOnceRunc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create containers")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed (scripts/bench-setup.sh)")
	}
	busybox, err := findBusybox()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyFile(busybox, filepath.Join(rootfs, "bin", "busybox")); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(ociSpec(rootfs, []string{"/bin/busybox", "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "state")
	t.Cleanup(func() { _ = removeStateDir(root) })
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	argv := []string{runc, "--root", root}
	took, err := cycleOnce(context.Background(), 60*time.Second, argv, bundle, newContainerID("test"))
	if err != nil {
		t.Fatalf("cycle: %v", err)
	}
	out, err := exec.Command(runc, "--root", root, "list", "-q").Output()
	if err != nil {
		t.Fatalf("runc list: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("containers left after the cycle: %q", s)
	}
	t.Logf("create+start+wait+delete with runc: %s", took)
}

// TestWriteRuntimeNotes: the notes appear once per runtime workload present, and not at all
// without those rows.
func TestWriteRuntimeNotes(t *testing.T) {
	var b strings.Builder
	writeRuntimeNotes(&b, &Report{Rows: []Row{{Workload: "true"}}})
	if b.Len() != 0 {
		t.Fatalf("notes without runtime rows: %q", b.String())
	}
	writeRuntimeNotes(&b, &Report{Rows: []Row{{Workload: cycleWorkload, Runner: "runc"},
		{Workload: cycleWorkload, Runner: "elfuse-runtime"}, {Workload: dockerWorkload, Runner: "docker+runc"}}})
	s := b.String()
	if strings.Count(s, "- `"+cycleWorkload+"`") != 1 || strings.Count(s, "- `"+dockerWorkload+"`") != 1 {
		t.Fatalf("notes: %q", s)
	}
}
