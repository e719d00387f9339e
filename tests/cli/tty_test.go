package cli

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

// tmux drives a terminal session for the interactive test.
type tmux struct {
	t       *testing.T
	socket  string
	session string
}

func (m *tmux) run(args ...string) string {
	m.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", m.socket}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m *tmux) keys(k ...string) { m.run(append([]string{"send-keys", "-t", m.session}, k...)...) }

// waitFor polls the screen until it shows want, or fails after a while.
func (m *tmux) waitFor(want string) string {
	m.t.Helper()
	var screen string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		screen = m.run("capture-pane", "-p", "-t", m.session)
		if strings.Contains(screen, want) {
			return screen
		}
	}
	m.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, screen)
	return ""
}

// TestInteractiveShell runs busybox sh under elfuse in a real terminal
// (tmux): a prompt, Ctrl-C stops a foreground job and returns to the
// prompt, Ctrl-Z stops one and fg brings it back, a background job that
// reads the terminal stops.
func TestInteractiveShell(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (scripts/setup.sh installs it)")
	}
	bin := diff.ElfuseBin(t)
	m := &tmux{t: t, socket: t.TempDir() + "/tmux.sock", session: "elfuse"}
	m.run("new-session", "-d", "-s", m.session, "-x", "100", "-y", "30",
		fmt.Sprintf("PS1='elfuse$ ' %s /bin/busybox sh -i", bin))
	defer exec.Command("tmux", "-S", m.socket, "kill-server").Run()
	m.waitFor("elfuse$")

	m.keys("echo ready-$((6*7))", "Enter")
	m.waitFor("ready-42")

	// Ctrl-C ends the foreground job only; the shell reports 130.
	m.keys("sleep 100", "Enter")
	time.Sleep(300 * time.Millisecond)
	m.keys("C-c")
	m.keys("echo status-$?", "Enter")
	m.waitFor("status-130")

	// Ctrl-Z stops it; jobs lists it; fg resumes it in the foreground.
	m.keys("sleep 100", "Enter")
	time.Sleep(300 * time.Millisecond)
	m.keys("C-z")
	m.waitFor("Stopped")
	m.keys("fg", "Enter")
	time.Sleep(300 * time.Millisecond)
	m.keys("C-c")
	m.keys("echo back-$?", "Enter")
	screen := m.waitFor("back-130")
	// A background job reading the terminal stops (SIGTTIN).
	m.keys("cat &", "Enter")
	time.Sleep(300 * time.Millisecond)
	m.keys("jobs", "Enter")
	screen = m.waitFor("Stopped (tty input)")
	if strings.Count(screen, "elfuse$") < 5 {
		t.Errorf("the shell did not come back to its prompt each time:\n%s", screen)
	}
	m.keys("exit 3", "Enter")
}
