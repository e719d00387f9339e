package mm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// remapAnon replaces the host mapping under b with fresh anonymous memory.
func remapAnon(b []byte) {
	_, _ = unix.MmapPtr(-1, 0, unsafe.Pointer(&b[0]), uintptr(len(b)), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE|unix.MAP_FIXED)
}

// fileStat is what the frame caches need of a file: its name (device and
// inode) and version (size, modification and change times in ns).
type fileStat struct {
	dev, ino           uint64
	size, mtime, ctime int64
}

// regularFile describes the file open at fd, if it is a regular file.
func regularFile(fd int) (fileStat, bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileStat{}, false
	}
	return fileStat{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: unix.TimespecToNsec(st.Mtim), ctime: unix.TimespecToNsec(st.Ctim)}, true
}
