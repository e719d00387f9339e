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

// regularFile names the regular file open at fd by device and inode.
func regularFile(fd int) (dev, ino uint64, ok bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true
}
