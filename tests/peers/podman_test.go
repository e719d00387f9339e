//go:build linux

package peers

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// podman returns the argv of Debian's podman 4.3 with its storage and state in the peers directory
// and the runtime under test. podman has no daemon: conmon calls the runtime.
//
// The explicit --ulimit values in podmanRun matter here: rootful podman asks for RLIMIT_NOFILE and
// RLIMIT_NPROC of 1048576, which raising needs CAP_SYS_RESOURCE, and this sandbox does not grant it
// (runc then fails with "error setting rlimit type 7: operation not permitted").
func podman(args ...string) []string {
	d := filepath.Join(cfg.dir, "podman")
	return append([]string{"podman",
		"--root", filepath.Join(d, "root"), "--runroot", filepath.Join(d, "run"), "--tmpdir", filepath.Join(d, "tmp"),
		"--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--runtime", cfg.runtime}, args...)
}

var podmanLoad struct {
	sync.Once
	err string
}

// needPodman skips when podman is not installed, and loads the image once.
func needPodman(t *testing.T) {
	t.Helper()
	need(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (scripts/peers-setup.sh installs it)")
	}
	podmanLoad.Do(func() {
		r := run(t, 120*time.Second, podman("load", "-i", cfg.archive)...)
		if r.code != 0 {
			podmanLoad.err = r.String()
		}
	})
	if podmanLoad.err != "" {
		t.Fatalf("podman load %s: %s", cfg.archive, podmanLoad.err)
	}
}

// podmanRun returns the argv of `podman run` of the test image with no network.
func podmanRun(flags []string, cmd ...string) []string {
	a := podman("run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
	a = append(a, flags...)
	a = append(a, "localhost/"+cfg.image)
	return append(a, cmd...)
}

func podmanCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		_ = runQuiet(append([]string{"timeout", "-s", "KILL", "60"}, podman("rm", "-f", "-t", "0", name)...)...)
	})
}

// TestPodmanRun: `podman --runtime R run --rm` relays the exit status and output.
func TestPodmanRun(t *testing.T) {
	needPodman(t)
	r := run(t, 120*time.Second, podmanRun([]string{"--rm"}, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 6")...)
	if r.code != 6 || r.stdout != "to-stdout\n" || !strings.Contains(r.stderr, "to-stderr\n") {
		t.Fatalf("want exit 6, stdout %q, stderr with %q; got %s", "to-stdout\n", "to-stderr\n", r)
	}
}

// TestPodmanRunTTY: `podman run -it` under a terminal.
func TestPodmanRunTTY(t *testing.T) {
	needPodman(t)
	tm := startTerm(t, podmanRun([]string{"--rm", "-it"}, "sh", "-c", ttySizeScript)...)
	code, out := tm.Wait(120 * time.Second)
	if code != 5 || strings.Contains(out, "not a tty") || !strings.Contains(out, "size 30 100") {
		t.Fatalf("want a tty, size \"30 100\" and exit 5; got exit %d, terminal %q", code, out)
	}
}

// TestPodmanExecStop: a detached container, `podman exec`, and `podman stop -t 2` of a pid 1 that
// ignores SIGTERM (exit 137 after the timeout).
func TestPodmanExecStop(t *testing.T) {
	needPodman(t)
	name := newID("podman")
	podmanCleanup(t, name)
	mustRun(t, 120*time.Second, podmanRun([]string{"-d", "--name", name}, "sleep", "1000")...)
	r := run(t, 60*time.Second, podman("exec", name, "sh", "-c", "echo in-exec; exit 9")...)
	if r.code != 9 || r.stdout != "in-exec\n" {
		t.Fatalf("podman exec: want exit 9 and %q; got %s", "in-exec\n", r)
	}
	st := mustRun(t, 60*time.Second, podman("stop", "-t", "2", name)...)
	if st.took < 2*time.Second {
		t.Fatalf("podman stop took %s: SIGTERM ended a pid 1 that has no handler", st.took)
	}
	ins := mustRun(t, 30*time.Second, podman("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)...)
	if got := strings.TrimSpace(ins.stdout); got != "exited 137" {
		t.Fatalf("after podman stop: %q, want \"exited 137\"", got)
	}
}
