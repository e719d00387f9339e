//go:build linux || darwin

package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// setTimes sets the access and modification times of host from hdr without
// following a symlink.
func setTimes(host string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: host, Err: err}
	}
	return nil
}

// linkNoFollow makes newname a hard link to oldname itself, never to what a
// symlink at oldname points to.
func linkNoFollow(oldname, newname string) error {
	if err := unix.Linkat(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname, 0); err != nil {
		return &os.LinkError{Op: "linkat", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// mknod creates the device node or fifo described by hdr at host.
func mknod(host string, hdr *tar.Header) error {
	perm := uint32(hdr.Mode & 0o7777)
	var err error
	switch hdr.Typeflag {
	case tar.TypeFifo:
		err = unix.Mkfifo(host, perm)
	case tar.TypeChar:
		err = unix.Mknod(host, unix.S_IFCHR|perm, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeBlock:
		err = unix.Mknod(host, unix.S_IFBLK|perm, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	default:
		return fmt.Errorf("mknod: unexpected type %q", string(hdr.Typeflag))
	}
	if err != nil {
		return &os.PathError{Op: "mknod", Path: host, Err: err}
	}
	return nil
}

// lsetxattr sets an extended attribute on host without following a symlink.
func lsetxattr(host, name string, value []byte) error {
	if err := unix.Lsetxattr(host, name, value, 0); err != nil {
		return &os.PathError{Op: "lsetxattr " + name, Path: host, Err: err}
	}
	return nil
}

// isNotSupported tells whether err says the file system lacks a feature.
func isNotSupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// devNumbers returns the major and minor numbers of a device node.
func devNumbers(st *syscall.Stat_t) (major, minor int64) {
	rdev := uint64(st.Rdev)
	return int64(unix.Major(rdev)), int64(unix.Minor(rdev))
}

// createFile creates host exclusively (never through a symlink: O_EXCL) for writing, with
// permissions perm (less the umask).
func createFile(host string, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(host, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: host, Err: err}
		}
		return fd, nil
	}
}

// rawFile is a file descriptor used without Go's poller.
type rawFile struct {
	fd   int
	name string
}

func (f rawFile) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(f.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		if m == 0 {
			return n, &os.PathError{Op: "write", Path: f.name, Err: io.ErrShortWrite}
		}
		n += m
	}
	return n, nil
}

func (f rawFile) chown(uid, gid int) error {
	if err := unix.Fchown(f.fd, uid, gid); err != nil {
		return &os.PathError{Op: "fchown", Path: f.name, Err: err}
	}
	return nil
}

func (f rawFile) chmod(m os.FileMode) error {
	mode := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		mode |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		mode |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	if err := unix.Fchmod(f.fd, mode); err != nil {
		return &os.PathError{Op: "fchmod", Path: f.name, Err: err}
	}
	return nil
}

// close closes the descriptor once (later calls do nothing).
func (f *rawFile) close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// processUmask returns the process's umask: from /proc/self/status where there is one, else by
// setting it and putting it back. It is read for each unpack (a program may change it).
func processUmask() uint32 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(n)
				}
			}
		}
	}
	old := unix.Umask(0o077)
	unix.Umask(old)
	return uint32(old)
}
