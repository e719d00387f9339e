//go:build linux

package peers

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// dk returns the argv of Debian's docker client against the private dockerd.
func dk(args ...string) []string {
	return append([]string{docker, "-H", cfg.dhost}, args...)
}

// dockerRun returns the argv of `docker run --runtime elfuse` (the runtime under test, registered by
// scripts/peers-setup.sh) with no network.
func dockerRun(flags []string, cmd ...string) []string {
	a := dk("run", "--runtime", "elfuse", "--network", "none")
	a = append(a, flags...)
	a = append(a, cfg.image)
	return append(a, cmd...)
}

// dockerCleanup removes container name when the test ends.
func dockerCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		_ = runQuiet(append([]string{"timeout", "-s", "KILL", "60"}, dk("rm", "-f", name)...)...)
	})
}

// dockerState returns `docker inspect`'s State.Status and State.ExitCode of name.
func dockerState(t *testing.T, name string) (string, int) {
	t.Helper()
	r := mustRun(t, 30*time.Second, dk("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)...)
	f := strings.Fields(r.stdout)
	if len(f) != 2 {
		t.Fatalf("docker inspect: %q", r.stdout)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("docker inspect exit code %q", f[1])
	}
	return f[0], code
}

// startDetached runs a detached container named name and waits until it is running.
func startDetached(t *testing.T, name string, cmd ...string) {
	t.Helper()
	dockerCleanup(t, name)
	mustRun(t, 60*time.Second, dockerRun([]string{"-d", "--name", name}, cmd...)...)
	if s, _ := dockerState(t, name); s != "running" {
		t.Fatalf("container %s is %s, want running (logs: %s)", name, s, run(t, 30*time.Second, dk("logs", name)...))
	}
}

// trapping is a guest that prints ready, then reports SIGUSR1 and exits 42 on SIGTERM.
const trapping = `trap "echo got-usr1" USR1; trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done`

// TestDockerRunExitCode: `docker run --rm` relays the exit status, stdout and stderr.
func TestDockerRunExitCode(t *testing.T) {
	need(t)
	r := run(t, 60*time.Second, dockerRun([]string{"--rm"}, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7")...)
	if r.code != 7 || r.stdout != "to-stdout\n" || !strings.Contains(r.stderr, "to-stderr\n") {
		t.Fatalf("want exit 7, stdout %q, stderr with %q; got %s", "to-stdout\n", "to-stderr\n", r)
	}
	if r := run(t, 60*time.Second, dockerRun([]string{"--rm"}, "true")...); r.code != 0 {
		t.Fatalf("docker run --rm true: %s", r)
	}
	// The image's CMD and the config docker writes: hostname, env, cwd.
	r = run(t, 60*time.Second, dockerRun([]string{"--rm", "--hostname", "peerhost", "-e", "PEER=1", "-w", "/tmp"},
		"sh", "-c", `echo "$(hostname) $PEER $(pwd)"`)...)
	if r.code != 0 || r.stdout != "peerhost 1 /tmp\n" {
		t.Fatalf("want %q; got %s", "peerhost 1 /tmp\n", r)
	}
}

// TestDockerRunInteractiveTTY: `docker run -it` under a terminal: an interactive shell reads the
// typed lines, sees the terminal's size and exits with the status it is told.
func TestDockerRunInteractiveTTY(t *testing.T) {
	need(t)
	tm := startTerm(t, dockerRun([]string{"--rm", "-it"}, "sh")...)
	tm.WaitFor("# ", 60*time.Second)
	tm.Send("echo answer-$((6*7)); stty size\n")
	tm.WaitFor("answer-42", 30*time.Second)
	tm.Send("exit 3\n")
	code, out := tm.Wait(60 * time.Second)
	if code != 3 || !strings.Contains(out, "30 100") {
		t.Fatalf("want stty size \"30 100\" and exit 3; got exit %d, terminal %q", code, out)
	}
}

// TestDockerExec: `docker exec` into a running container: exit status and output (stdout and
// stderr apart), state shared between execs, -e and -w.
func TestDockerExec(t *testing.T) {
	need(t)
	name := newID("docker")
	startDetached(t, name, "sleep", "1000")
	r := run(t, 60*time.Second, dk("exec", name, "sh", "-c", "echo in-exec; echo err-exec >&2; exit 9")...)
	if r.code != 9 || r.stdout != "in-exec\n" || !strings.Contains(r.stderr, "err-exec") {
		t.Fatalf("docker exec: want exit 9, %q and %q; got %s", "in-exec\n", "err-exec", r)
	}
	mustRun(t, 60*time.Second, dk("exec", name, "sh", "-c", "echo shared > /tmp/f")...)
	if r := mustRun(t, 60*time.Second, dk("exec", "-e", "X=y", "-w", "/tmp", name, "sh", "-c", `cat f; echo "$X $(pwd)"`)...); r.stdout != "shared\ny /tmp\n" {
		t.Fatalf("second exec printed %q, want %q", r.stdout, "shared\ny /tmp\n")
	}
	if s, _ := dockerState(t, name); s != "running" {
		t.Fatalf("after the execs the container is %s, want running", s)
	}
}

// TestDockerExecInteractiveTTY: `docker exec -it CONTAINER sh` under a terminal: an interactive
// shell in the running container shows its prompt, runs what is typed and exits with its status.
func TestDockerExecInteractiveTTY(t *testing.T) {
	need(t)
	name := newID("docker")
	startDetached(t, name, "sleep", "1000")
	tm := startTerm(t, dk("exec", "-it", name, "sh")...)
	tm.WaitFor("# ", 30*time.Second)
	tm.Send("echo answer-$((6*7)); tty; exit 4\n")
	tm.WaitFor("answer-42", 30*time.Second)
	if code, out := tm.Wait(60 * time.Second); code != 4 || strings.Contains(out, "not a tty") {
		t.Fatalf("docker exec -it: want a tty and exit 4; got exit %d, terminal %q", code, out)
	}
	if s, _ := dockerState(t, name); s != "running" {
		t.Fatalf("after the exec the container is %s, want running", s)
	}
}

// TestDockerStopIgnoredTERM: `docker stop -t 2` of a pid 1 with no SIGTERM handler: SIGTERM is
// ignored (pid namespace rules), so docker waits the timeout and sends SIGKILL: exit 137.
func TestDockerStopIgnoredTERM(t *testing.T) {
	need(t)
	name := newID("docker")
	startDetached(t, name, "sleep", "1000")
	r := mustRun(t, 60*time.Second, dk("stop", "-t", "2", name)...)
	if st, code := dockerState(t, name); st != "exited" || code != 137 {
		t.Fatalf("after docker stop: %s, exit %d; want exited, 137", st, code)
	}
	if r.took < 2*time.Second {
		t.Fatalf("docker stop took %s: SIGTERM ended a pid 1 that has no handler", r.took)
	}
}

// TestDockerStopTrappedTERM: `docker stop` of a guest that traps SIGTERM: it exits by itself with
// its own status, well before the timeout.
func TestDockerStopTrappedTERM(t *testing.T) {
	need(t)
	name := newID("docker")
	startDetached(t, name, "sh", "-c", trapping)
	eventually(t, 30*time.Second, "ready in docker logs", func() bool {
		return strings.Contains(run(t, 30*time.Second, dk("logs", name)...).stdout, "ready")
	})
	r := mustRun(t, 60*time.Second, dk("stop", "-t", "20", name)...)
	if st, code := dockerState(t, name); st != "exited" || code != 42 {
		t.Fatalf("after docker stop: %s, exit %d; want exited, 42", st, code)
	}
	if r.took > 10*time.Second {
		t.Fatalf("docker stop took %s: the trapped SIGTERM did not arrive", r.took)
	}
	if l := mustRun(t, 30*time.Second, dk("logs", name)...); !strings.Contains(l.stdout, "got-term") {
		t.Fatalf("docker logs: %q, want got-term", l.stdout)
	}
}

// TestDockerKill: `docker kill -s USR1` reaches the guest's handler and leaves it running;
// `docker kill` (SIGKILL) ends it with 137.
func TestDockerKill(t *testing.T) {
	need(t)
	name := newID("docker")
	startDetached(t, name, "sh", "-c", trapping)
	eventually(t, 30*time.Second, "ready in docker logs", func() bool {
		return strings.Contains(run(t, 30*time.Second, dk("logs", name)...).stdout, "ready")
	})
	mustRun(t, 30*time.Second, dk("kill", "-s", "USR1", name)...)
	eventually(t, 30*time.Second, "got-usr1 in docker logs", func() bool {
		return strings.Contains(run(t, 30*time.Second, dk("logs", name)...).stdout, "got-usr1")
	})
	if st, _ := dockerState(t, name); st != "running" {
		t.Fatalf("after SIGUSR1 the container is %s, want running", st)
	}
	mustRun(t, 30*time.Second, dk("kill", name)...)
	eventually(t, 30*time.Second, "exited after docker kill", func() bool {
		st, _ := dockerState(t, name)
		return st == "exited"
	})
	if _, code := dockerState(t, name); code != 137 {
		t.Fatalf("after docker kill: exit %d, want 137", code)
	}
}

// TestDockerLogs: `docker logs` of a finished container keeps its stdout and stderr apart, in order.
func TestDockerLogs(t *testing.T) {
	need(t)
	name := newID("docker")
	dockerCleanup(t, name)
	mustRun(t, 60*time.Second, dockerRun([]string{"-d", "--name", name}, "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3")...)
	w := mustRun(t, 60*time.Second, dk("wait", name)...)
	if strings.TrimSpace(w.stdout) != "3" {
		t.Fatalf("docker wait printed %q, want 3", w.stdout)
	}
	l := mustRun(t, 30*time.Second, dk("logs", name)...)
	if l.stdout != "out1\nout2\n" || l.stderr != "err1\n" {
		t.Fatalf("docker logs: stdout %q, stderr %q; want %q, %q", l.stdout, l.stderr, "out1\nout2\n", "err1\n")
	}
}
