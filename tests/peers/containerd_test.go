//go:build linux

package peers

import (
	"strings"
	"testing"
	"time"
)

// ctr returns the argv of Debian's ctr against the private containerd.
func ctr(args ...string) []string {
	return append([]string{"ctr", "--address", cfg.csock}, args...)
}

// ctrRun returns the argv of `ctr run` with the runc shim calling the runtime under test.
func ctrRun(flags []string, id string, cmd ...string) []string {
	a := ctr("run", "--runc-binary", cfg.runtime)
	a = append(a, flags...)
	a = append(a, cfg.ctrImage, id)
	return append(a, cmd...)
}

// ctrCleanup removes container id (its task first) when the test ends, whatever state it is in.
func ctrCleanup(t *testing.T, id string) {
	t.Cleanup(func() {
		for _, a := range [][]string{
			{"tasks", "kill", "-s", "SIGKILL", id},
			{"tasks", "delete", "-f", id},
			{"containers", "delete", id},
		} {
			c := append([]string{"timeout", "-s", "KILL", "30"}, ctr(a...)...)
			_ = runQuiet(c...)
		}
	})
}

// taskStatus returns the STATUS column of `ctr task ls` for id, or "" when it is not listed.
func taskStatus(t *testing.T, id string) string {
	t.Helper()
	r := mustRun(t, 30*time.Second, ctr("tasks", "ls")...)
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// TestCtrRunExitCode: `ctr run --rm` returns the container's exit status and relays its stdout and
// stderr (the shim's FIFOs).
func TestCtrRunExitCode(t *testing.T) {
	need(t)
	id := newID("ctr")
	ctrCleanup(t, id)
	r := run(t, 60*time.Second, ctrRun([]string{"--rm"}, id, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7")...)
	if r.code != 7 || r.stdout != "to-stdout\n" || !strings.Contains(r.stderr, "to-stderr\n") {
		t.Fatalf("want exit 7, stdout %q, stderr with %q; got %s", "to-stdout\n", "to-stderr\n", r)
	}
	r = run(t, 60*time.Second, ctrRun([]string{"--rm"}, newID("ctr"), "true")...)
	if r.code != 0 {
		t.Fatalf("ctr run --rm true: %s", r)
	}
	if s := taskStatus(t, id); s != "" {
		t.Fatalf("after ctr run --rm the task is still listed (%s)", s)
	}
}

// ttySizeScript prints the terminal's name and, once it is set, its size, then exits 5. ctr sets
// the size with a resize after the task started (a race with the guest's first look), so the
// guest polls for up to 5 s. The pause before exit lets the caller copy the last output from the
// pty before it sees the exit (ctr can drop the tail of a process that exits at once).
const ttySizeScript = `tty || exit 1; i=0; while [ $i -lt 50 ]; do s=$(stty size 2>/dev/null); [ "$s" = "30 100" ] && break; i=$((i+1)); sleep 0.1; done; echo "size $s"; sleep 0.3; exit 5`

// TestCtrRunTTY: `ctr run -t` under a terminal: the runtime gets --console-socket and hands back
// the pty master; the guest sees a terminal of the caller's size, and the exit status comes back.
func TestCtrRunTTY(t *testing.T) {
	need(t)
	id := newID("ctr")
	ctrCleanup(t, id)
	tm := startTerm(t, ctrRun([]string{"--rm", "-t"}, id, "sh", "-c", ttySizeScript)...)
	code, out := tm.Wait(60 * time.Second)
	if code != 5 || !strings.Contains(out, "/dev/") || strings.Contains(out, "not a tty") || !strings.Contains(out, "size 30 100") {
		t.Fatalf("want a tty, size \"30 100\" and exit 5; got exit %d, terminal %q", code, out)
	}
}

// TestCtrTaskLifecycle: a detached task, `ctr task ls`, `ctr task ps`, `ctr task exec --exec-id`
// (exit status and output of the exec'd process, with and without -t), `ctr task kill` (SIGTERM,
// which the guest traps), `ctr task delete` (refused while running, then accepted) and
// `ctr container delete`.
func TestCtrTaskLifecycle(t *testing.T) {
	need(t)
	id := newID("ctr")
	ctrCleanup(t, id)
	mustRun(t, 60*time.Second, ctrRun([]string{"-d"}, id, "sh", "-c",
		`trap "exit 42" TERM; while :; do sleep 0.1; done`)...)
	if s := taskStatus(t, id); s != "RUNNING" {
		t.Fatalf("ctr task ls: status %q, want RUNNING", s)
	}

	ps := mustRun(t, 30*time.Second, ctr("tasks", "ps", id)...)
	lines := strings.Split(strings.TrimSpace(ps.stdout), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "PID") {
		t.Fatalf("ctr task ps: want a header and at least one pid; got %q", ps.stdout)
	}

	r := run(t, 60*time.Second, ctr("tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "echo in-exec; exit 9")...)
	if r.code != 9 || r.stdout != "in-exec\n" {
		t.Fatalf("ctr task exec: want exit 9 and %q; got %s", "in-exec\n", r)
	}
	// Two execs share the container: a file one writes, the next one reads.
	mustRun(t, 60*time.Second, ctr("tasks", "exec", "--exec-id", "e2", id, "sh", "-c", "echo shared > /tmp/f")...)
	r = mustRun(t, 60*time.Second, ctr("tasks", "exec", "--exec-id", "e3", id, "cat", "/tmp/f")...)
	if r.stdout != "shared\n" {
		t.Fatalf("second exec read %q, want %q", r.stdout, "shared\n")
	}
	tm := startTerm(t, ctr("tasks", "exec", "-t", "--exec-id", "e4", id, "sh", "-c", "tty && sleep 0.3 && exit 3")...)
	if code, out := tm.Wait(60 * time.Second); code != 3 || !strings.Contains(out, "/dev/") || strings.Contains(out, "not a tty") {
		t.Fatalf("ctr task exec -t: want a tty and exit 3; got exit %d, terminal %q", code, out)
	}

	if r := run(t, 30*time.Second, ctr("tasks", "delete", id)...); r.code == 0 {
		t.Fatalf("ctr task delete of a running task succeeded: %s", r)
	}
	mustRun(t, 30*time.Second, ctr("tasks", "kill", id)...)
	eventually(t, 20*time.Second, "task STOPPED after SIGTERM", func() bool { return taskStatus(t, id) == "STOPPED" })
	r = mustRun(t, 30*time.Second, ctr("tasks", "delete", id)...)
	if s := taskStatus(t, id); s != "" {
		t.Fatalf("after ctr task delete the task is still listed (%s)", s)
	}
	mustRun(t, 30*time.Second, ctr("containers", "delete", id)...)
}

// TestCtrExecInteractiveTTY: `ctr task exec -t` of an interactive shell in a running task: it
// shows its prompt, runs what is typed and exits with its status; the task keeps running.
func TestCtrExecInteractiveTTY(t *testing.T) {
	need(t)
	id := newID("ctr")
	ctrCleanup(t, id)
	mustRun(t, 60*time.Second, ctrRun([]string{"-d"}, id, "sleep", "1000")...)
	tm := startTerm(t, ctr("tasks", "exec", "-t", "--exec-id", "sh1", id, "sh")...)
	tm.WaitFor("# ", 30*time.Second)
	tm.Send("echo answer-$((6*7)); exit 6\n")
	tm.WaitFor("answer-42", 30*time.Second)
	if code, out := tm.Wait(60 * time.Second); code != 6 {
		t.Fatalf("ctr task exec -t sh: want exit 6; got exit %d, terminal %q", code, out)
	}
	if s := taskStatus(t, id); s != "RUNNING" {
		t.Fatalf("after the exec the task is %q, want RUNNING", s)
	}
}

// TestCtrKillPid1: the container's pid 1 without a handler is not ended by SIGTERM (as in a pid
// namespace); SIGKILL ends it, and `ctr task delete` reports nothing left.
func TestCtrKillPid1(t *testing.T) {
	need(t)
	id := newID("ctr")
	ctrCleanup(t, id)
	mustRun(t, 60*time.Second, ctrRun([]string{"-d"}, id, "sleep", "1000")...)
	mustRun(t, 30*time.Second, ctr("tasks", "kill", id)...)
	time.Sleep(time.Second)
	if s := taskStatus(t, id); s != "RUNNING" {
		t.Fatalf("after SIGTERM to a pid 1 with no handler: status %q, want RUNNING", s)
	}
	mustRun(t, 30*time.Second, ctr("tasks", "kill", "-s", "SIGKILL", id)...)
	eventually(t, 20*time.Second, "task STOPPED after SIGKILL", func() bool { return taskStatus(t, id) == "STOPPED" })
	mustRun(t, 30*time.Second, ctr("tasks", "delete", id)...)
	mustRun(t, 30*time.Second, ctr("containers", "delete", id)...)
}
