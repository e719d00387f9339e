//go:build linux

package rootfs

import (
	"archive/tar"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setFileTimes sets the access and modification times of the open file fd (at host) from hdr,
// with utimensat(fd, NULL, ...): no path walk.
func setFileTimes(fd int, host string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := [2]unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return &os.PathError{Op: "futimens", Path: host, Err: errno}
	}
	return nil
}
