//go:build linux

// Package termtest runs a command under a real terminal (a pty pair whose
// slave is the command's controlling terminal) for the tests that drive
// container tools with -t/-it.
package termtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Term is a command running on the slave side of a pty, as under a terminal.
type Term struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{} // closed when the reader hits EOF or EIO
}

// OpenPTY returns a new pty pair with the window size rows x cols.
func OpenPTY(rows, cols uint16) (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		m.Close()
		s.Close()
		return nil, nil, fmt.Errorf("set window size: %w", err)
	}
	return m, s, nil
}

// Start starts argv as the session leader of a new session whose controlling terminal is a
// 30x100 pty, as `ctr run -t` and `docker run -it` expect.
func Start(t *testing.T, argv ...string) *Term {
	t.Helper()
	m, s, err := OpenPTY(30, 100)
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		m.Close()
		s.Close()
		t.Fatalf("start %s: %v", argv[0], err)
	}
	s.Close()
	tm := &Term{t: t, cmd: cmd, master: m, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if tm.cmd.ProcessState == nil {
			_ = tm.cmd.Process.Kill()
			_ = tm.cmd.Wait()
		}
		m.Close()
	})
	return tm
}

// Output returns what the terminal showed so far.
func (tm *Term) Output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// WaitFor waits until the terminal has shown s, and fails the test after timeout.
func (tm *Term) WaitFor(s string, timeout time.Duration) {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(tm.Output(), s) {
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal did not show %q within %s; it showed %q", s, timeout, tm.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Send types s on the terminal.
func (tm *Term) Send(s string) {
	tm.t.Helper()
	if _, err := tm.master.Write([]byte(s)); err != nil {
		tm.t.Fatalf("write to terminal: %v", err)
	}
}

// Wait waits for the command to exit and returns its status and everything the terminal showed.
func (tm *Term) Wait(timeout time.Duration) (int, string) {
	tm.t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- tm.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(timeout):
		_ = tm.cmd.Process.Kill()
		<-exited
		tm.t.Fatalf("%s did not exit within %s; the terminal showed %q", tm.cmd.Path, timeout, tm.Output())
	}
	// The slave is closed once every process that held it is gone: the reader then ends.
	select {
	case <-tm.done:
	case <-time.After(2 * time.Second):
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), tm.Output()
	}
	if err != nil {
		tm.t.Fatalf("wait: %v", err)
	}
	return 0, tm.Output()
}
