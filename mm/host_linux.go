package mm

import "golang.org/x/sys/unix"

// adviseHuge asks the host for transparent huge pages behind guest RAM, so
// the hypervisor can map guest 2 MiB pages with host 2 MiB pages.
func adviseHuge(mem []byte) { _ = unix.Madvise(mem, unix.MADV_HUGEPAGE) }

// discard gives host memory back; it reads as zero afterwards.
func discard(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
