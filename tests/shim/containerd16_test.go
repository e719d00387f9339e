//go:build linux

package shim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestContainerd16: Debian's containerd 1.6 (the old shim protocol: plain-text `start`, task API
// v2) runs the same `ctr run` through containerd-shim-elfuse-v2: exit code, -d plus `task exec`,
// `task ps`, metrics, kill, delete. The daemon is a private instance in a temporary directory
// (build/ first on its PATH), stopped at the end.
func TestContainerd16(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("Debian's containerd is not installed")
	}
	out, err := exec.Command("/usr/bin/containerd", "--version").Output()
	if err != nil || !strings.Contains(string(out), " 1.") {
		t.Skipf("/usr/bin/containerd is not 1.x: %q %v", out, err)
	}
	dir, err := os.MkdirTemp("/tmp", "ecd16-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "c.sock")
	conf := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`, dir, sock)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("/usr/bin/containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Env = append(os.Environ(), "PATH="+filepath.Join(cfg.repo, "build")+":"+os.Getenv("PATH"))
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	ctr := func(args ...string) []string {
		return append([]string{"/usr/bin/ctr", "--address", sock}, args...)
	}
	t.Cleanup(func() {
		for _, id := range []string{"c16-run", "c16-d"} {
			_ = runQuiet(ctr("tasks", "kill", "-s", "SIGKILL", id)...)
			_ = runQuiet(ctr("tasks", "delete", "-f", id)...)
			_ = runQuiet(ctr("containers", "delete", id)...)
		}
		_ = daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Logf("containerd 1.6 log (tail):\n%s", tail(string(b), 3000))
		}
		_ = exec.Command("sh", "-c", `awk -v d="$1" 'index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r umount -l`, "sh", dir).Run()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for runQuiet(ctr("version")...) != nil {
		if time.Now().After(deadline) {
			t.Fatal("containerd 1.6 did not answer within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	archive, err := exec.Command(filepath.Join(cfg.repo, "scripts", "containerd2.sh"), "image").Output()
	if err != nil {
		t.Fatalf("containerd2.sh image: %v", err)
	}
	mustRun(t, 60*time.Second, ctr("images", "import", strings.TrimSpace(string(archive)))...)

	rt := "io.containerd.elfuse.v2"
	r := run(t, 90*time.Second, ctr("run", "--rm", "--runtime", rt, cfg.image, "c16-run", "sh", "-c", "echo from-1.6; exit 3")...)
	if r.code != 3 || r.stdout != "from-1.6\n" {
		t.Fatalf("ctr run: want exit 3 and from-1.6; got %s", r)
	}
	t.Logf("containerd 1.6 ctr run --rm: %s", r.took.Round(time.Millisecond))

	mustRun(t, 90*time.Second, ctr("run", "-d", "--runtime", rt, cfg.image, "c16-d", "sh", "-c", `trap "exit 9" TERM; while :; do sleep 0.1; done`)...)
	r = run(t, 60*time.Second, ctr("task", "exec", "--exec-id", "e1", "c16-d", "sh", "-c", "echo in-exec; exit 4")...)
	if r.code != 4 || r.stdout != "in-exec\n" {
		t.Fatalf("task exec: want exit 4 and in-exec; got %s", r)
	}
	r = mustRun(t, 30*time.Second, ctr("task", "ps", "c16-d")...)
	if len(strings.Split(strings.TrimSpace(r.stdout), "\n")) < 2 {
		t.Fatalf("task ps: %s", r)
	}
	mustRun(t, 30*time.Second, ctr("task", "metrics", "c16-d")...)
	mustRun(t, 30*time.Second, ctr("task", "kill", "c16-d")...)
	deadline = time.Now().Add(30 * time.Second)
	for {
		r = mustRun(t, 30*time.Second, ctr("task", "ls")...)
		if strings.Contains(r.stdout, "STOPPED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not stopped after kill: %s", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r = mustRun(t, 30*time.Second, ctr("task", "delete", "c16-d")...)
	if !strings.Contains(r.stdout+r.stderr, "9") {
		t.Logf("task delete did not mention the exit status 9: %s", r)
	}
	mustRun(t, 30*time.Second, ctr("containers", "delete", "c16-d")...)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
