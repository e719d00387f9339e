package oci

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// newPty makes a pseudo-terminal pair: the master, and the slave with
// its path.
func newPty() (master, slave *os.File, name string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("console: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("console: unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("console: ptsname: %w", err)
	}
	name = "/dev/pts/" + strconv.Itoa(int(n))
	s, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("console: %w", err)
	}
	return m, s, name, nil
}

// setWinsize sets a terminal's size.
func setWinsize(f *os.File, rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}

// copyWinsize gives terminal to the size of terminal from.
func copyWinsize(to, from *os.File) error {
	ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return err
	}
	return unix.IoctlSetWinsize(int(to.Fd()), unix.TIOCSWINSZ, ws)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// makeRaw puts terminal f in raw mode and returns the restore function.
func makeRaw(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// sendConsole sends the pty master over the unix socket at path with
// SCM_RIGHTS, as runc does for --console-socket.
func sendConsole(path string, master *os.File) error {
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("console socket: not a unix socket")
	}
	name := []byte(master.Name())
	if _, _, err := uc.WriteMsgUnix(name, unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	return nil
}

// startIn starts cmd, in the network namespace at path netns when given:
// the namespace is joined by one OS thread that is never used again, and
// the new process, forked from that thread, is born in it.
func startIn(cmd *exec.Cmd, netns string) error {
	if netns == "" {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// Not unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open(netns)
		if err != nil {
			errc <- fmt.Errorf("network namespace: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("network namespace %s: setns: %w", netns, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// hostDeviceMatches reports whether the host has device d at its path.
func hostDeviceMatches(d specs.LinuxDevice) bool {
	var st unix.Stat_t
	if err := unix.Stat(d.Path, &st); err != nil {
		return false
	}
	var want uint32
	switch d.Type {
	case "c", "u":
		want = unix.S_IFCHR
	case "b":
		want = unix.S_IFBLK
	case "p":
		return st.Mode&unix.S_IFMT == unix.S_IFIFO
	default:
		return false
	}
	return st.Mode&unix.S_IFMT == want && int64(unix.Major(st.Rdev)) == d.Major && int64(unix.Minor(st.Rdev)) == d.Minor
}

// dieAs ends this process the way a guest process ended: exit(code), or
// death by the same signal (with no core file), so that a parent's wait
// sees WIFSIGNALED.
func dieAs(e ExitInfo) {
	if e.Signal > 0 && e.Signal < 65 && killsByDefault(e.Signal) {
		runtime.LockOSThread()
		unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
		// SIG_DFL through the kernel directly: Go's own handlers would turn
		// a SIGSEGV or SIGABRT into a crash report.
		var act [4]uint64
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(e.Signal), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
		set := uint64(1) << (e.Signal - 1)
		unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
		unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.Signal(e.Signal))
		time.Sleep(time.Second)
		os.Exit(128 + e.Signal)
	}
	os.Exit(e.Code)
}

// killsByDefault reports whether a signal's default action ends the
// process.
func killsByDefault(sig int) bool {
	switch unix.Signal(sig) {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH, unix.SIGCONT, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false
	}
	return true
}

// sysProcAttr is the sandbox or exec-proxy process's: a new session,
// with stdin as the controlling terminal when it is one.
// withNewNetNS makes the process start in a new network namespace.
func withNewNetNS(a *syscall.SysProcAttr) { a.Cloneflags |= unix.CLONE_NEWNET }

// loopbackUp brings up lo, the one interface of a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: up: %w", err)
	}
	return nil
}

func sysProcAttr(ctty bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: ctty, Ctty: 0}
}

// nsTypes are the clone flags NS_GET_NSTYPE reports for each namespace kind.
var nsTypes = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// checkNamespaceType checks that the file at path is a namespace of kind typ.
func checkNamespaceType(path string, typ specs.LinuxNamespaceType) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("not a namespace: %w", err)
	}
	if want, ok := nsTypes[typ]; ok && got != want {
		return fmt.Errorf("not a %s namespace", typ)
	}
	return nil
}
