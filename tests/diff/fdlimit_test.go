package diff

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMmapChurnFdLimit runs c/mmap_churn.c (thousands of file mappings made
// and removed, their fds closed at once) under elfuse with a host
// descriptor limit far below the number of mappings: the descriptor elfuse
// keeps for a mapping must not outlive it.
func TestMmapChurnFdLimit(t *testing.T) {
	RequireKVM(t)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skipf("skipping: no prlimit (util-linux): %v", err)
	}
	bin, err := BuildC(filepath.Join("c", "mmap_churn.c"), "gcc", filepath.Join("c", "common.h"))
	if err != nil {
		t.Fatal(err)
	}
	elfuse := ElfuseBin(t)
	for _, mode := range []string{"exit", "exitless"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(prlimit, "--nofile=256:256", elfuse, "--syscalls="+mode, "--", bin, dir)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "result PASS") {
				t.Fatalf("%v under a limit of 256 descriptors: %v\n%s", cmd.Args, err, out)
			}
		})
	}
}
