//go:build linux || darwin

package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
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
