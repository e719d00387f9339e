//go:build linux

package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nerdctl is nerdctl v2 (scripts/containerd2.sh build) against the private containerd, its data
// root and CNI config under containerd's directory.
func nerdctl(args ...string) []string {
	return append([]string{filepath.Join(cfg.bin, "nerdctl"), "--address", cfg.sock, "--namespace", "default",
		"--data-root", filepath.Join(cfg.dir, "nerdctl"), "--cni-path", "/usr/lib/cni",
		"--cni-netconfpath", filepath.Join(cfg.dir, "cni", "nerdctl")}, args...)
}

func needNerdctl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cfg.bin, "nerdctl")); err != nil {
		t.Skip("no nerdctl (scripts/containerd2.sh build builds it)")
	}
}

// TestNerdctlRun: `nerdctl run --rm --net none` with the exit code and output (nerdctl's binary log
// URI and OCI hooks go through the shim and the runtime).
func TestNerdctlRun(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		needNerdctl(t)
		r := run(t, 120*time.Second, nerdctl("run", "--rm", "--net", "none", "--runtime", rt.typ, cfg.image, "sh", "-c", "echo from-nerdctl; echo to-err >&2; exit 3")...)
		if r.code != 3 || !strings.Contains(r.stdout, "from-nerdctl") || !strings.Contains(r.stderr, "to-err") {
			t.Fatalf("want exit 3, from-nerdctl and to-err; got %s", r)
		}
		t.Logf("nerdctl run --rm: %s", r.took.Round(time.Millisecond))
	})
}

// TestNerdctlDetach: `nerdctl run -d`, `logs`, `exec`, `stop` (SIGTERM, handled by the guest),
// `rm`.
func TestNerdctlDetach(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		needNerdctl(t)
		name := newID(rt, "nd")
		t.Cleanup(func() { _ = runQuiet(nerdctl("rm", "-f", name)...) })
		mustRun(t, 120*time.Second, nerdctl("run", "-d", "--name", name, "--net", "none", "--runtime", rt.typ, cfg.image,
			"sh", "-c", `trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.1; done`)...)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := run(t, 30*time.Second, nerdctl("logs", name)...)
			if strings.Contains(r.stdout, "started") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nerdctl logs: no 'started' within 30s: %s", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r := run(t, 60*time.Second, nerdctl("exec", name, "sh", "-c", "echo in-exec; exit 4")...)
		// nerdctl exec exits 1 and reports the command's status on stderr.
		if r.code == 0 || !strings.Contains(r.stdout, "in-exec") || !strings.Contains(r.stderr, "exit code 4") {
			t.Fatalf("nerdctl exec: want in-exec and exit code 4; got %s", r)
		}
		r = mustRun(t, 60*time.Second, nerdctl("stop", "-t", "10", name)...)
		if r.took > 8*time.Second {
			t.Errorf("nerdctl stop took %s: SIGTERM was not handled, SIGKILL ended it", r.took)
		}
		r = mustRun(t, 30*time.Second, nerdctl("logs", name)...)
		if !strings.Contains(r.stdout, "got-term") {
			t.Errorf("logs after stop lack got-term: %s", r)
		}
		r = mustRun(t, 30*time.Second, nerdctl("ps", "-a")...)
		if !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "Exited") {
			t.Errorf("nerdctl ps -a does not show %s exited: %s", name, r)
		}
		mustRun(t, 60*time.Second, nerdctl("rm", name)...)
	})
}

// TestNerdctlTTY: `nerdctl run -it --rm` under a terminal.
func TestNerdctlTTY(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		needNerdctl(t)
		tm := startTerm(t, nerdctl("run", "-it", "--rm", "--net", "none", "--runtime", rt.typ, cfg.image, "sh", "-c", ttyScript)...)
		code, out := tm.Wait(120 * time.Second)
		if code != 5 || !strings.Contains(out, "is-a-tty") || !strings.Contains(out, "size 30 100") {
			t.Fatalf("want exit 5, is-a-tty and size 30 100; got exit %d, terminal %q", code, out)
		}
	})
}

// TestNerdctlPublish: nerdctl's default CNI bridge network (Debian's containernetworking-plugins)
// with `-p 127.0.0.1:PORT:80`: busybox httpd in the container serves a page fetched from the host
// through the published port. nerdctl gives the runtime a spec asking for a new network namespace
// (no path) and configures it from its createRuntime hook through /proc/<pid>/ns/net of the
// container's process, so the runtime must have made that namespace by then.
func TestNerdctlPublish(t *testing.T) {
	ports := map[string]string{"runc": "18080", "elfuse": "18081"}
	eachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		needNerdctl(t)
		name := newID(rt, "web")
		t.Cleanup(func() { _ = runQuiet(nerdctl("rm", "-f", name)...) })
		// Without its own network namespace the container sees the host's interfaces, and CNI's
		// bridge plugin fails in the hook ("container veth name provided (eth0) already exists")
		// leaving an empty CNI chain behind on the host each time: check first.
		r := mustRun(t, 120*time.Second, nerdctl("run", "--rm", "--net", "none", "--runtime", rt.typ, cfg.image, "cat", "/proc/net/dev")...)
		if ifs := netDevs(r.stdout); len(ifs) != 1 || ifs[0] != "lo" {
			t.Skipf("the runtime does not give the container the new network namespace its spec asks for (it sees %v): nerdctl's CNI setup cannot work", ifs)
		}
		port := ports[rt.name]
		page := "hello-from-" + rt.name
		mustRun(t, 120*time.Second, nerdctl("run", "-d", "--name", name, "-p", "127.0.0.1:"+port+":80", "--runtime", rt.typ, cfg.image,
			"sh", "-c", "mkdir -p /www && echo "+page+" > /www/index.html && exec httpd -f -p 80 -h /www")...)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := run(t, 15*time.Second, "curl", "-s", "--max-time", "5", "http://127.0.0.1:"+port+"/")
			if r.code == 0 && strings.TrimSpace(r.stdout) == page {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q from http://127.0.0.1:%s/ within 30s: %s", page, port, r)
			}
			time.Sleep(300 * time.Millisecond)
		}
		mustRun(t, 60*time.Second, nerdctl("rm", "-f", name)...)
	})
}

// netDevs lists the interface names of a /proc/net/dev.
func netDevs(procNetDev string) []string {
	var ifs []string
	for _, l := range strings.Split(procNetDev, "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			ifs = append(ifs, strings.TrimSpace(name))
		}
	}
	return ifs
}
