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
