//go:build linux && amd64

package syscall

import (
	"errors"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// memfd_create(name, flags): a host memfd. Its seals (fcntl F_ADD_SEALS,
// F_GET_SEALS) are the host's, whose bits are Linux's.

// Linux memfd_create flags.
const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdHugetlb      = 0x4
	mfdNoexecSeal   = 0x8
	mfdExec         = 0x10
	mfdHugeShift    = 26
	mfdHugeMask     = 0x3f
	mfdNameMax      = 249 // NAME_MAX less the "memfd:" prefix
)

func sysMemfdCreate(t *Thread, a *[6]uint64) int64 {
	flags := a[1]
	if flags&mfdHugetlb == 0 && flags>>mfdHugeShift != 0 ||
		flags&^(mfdCloexec|mfdAllowSealing|mfdHugetlb|mfdNoexecSeal|mfdExec|mfdHugeMask<<mfdHugeShift) != 0 ||
		flags&(mfdNoexecSeal|mfdExec) == mfdNoexecSeal|mfdExec {
		return -EINVAL
	}
	name, err := t.as().ReadString(a[0], mfdNameMax+1)
	if errors.Is(err, mm.ErrFault) {
		return -EFAULT
	}
	if err != nil {
		return -EINVAL
	}
	hf := unix.MFD_CLOEXEC
	if flags&mfdAllowSealing != 0 {
		hf |= unix.MFD_ALLOW_SEALING
	}
	if flags&mfdHugetlb != 0 {
		hf |= unix.MFD_HUGETLB | int(flags>>mfdHugeShift&mfdHugeMask)<<unix.MFD_HUGE_SHIFT
	}
	if flags&mfdNoexecSeal != 0 {
		hf |= unix.MFD_NOEXEC_SEAL
	}
	if flags&mfdExec != 0 {
		hf |= unix.MFD_EXEC
	}
	fd, herr := unix.MemfdCreate(name, hf)
	if herr != nil {
		return errno(herr)
	}
	return t.proc.addFD(&fdEntry{host: fd, cloexec: flags&mfdCloexec != 0, path: "/memfd:" + name + " (deleted)", kind: kindFile}, 0)
}

// Linux file seals (fcntl F_ADD_SEALS, F_GET_SEALS).
const (
	fSealSeal        = 0x01
	fSealShrink      = 0x02
	fSealGrow        = 0x04
	fSealWrite       = 0x08
	fSealFutureWrite = 0x10
	fSealExec        = 0x20
	fSealAll         = fSealSeal | fSealShrink | fSealGrow | fSealWrite | fSealFutureWrite | fSealExec
)

// addSeals is fcntl(F_ADD_SEALS).
func addSeals(f *fdEntry, seals uint64) int64 {
	if seals&^fSealAll != 0 || seals > 0xffffffff {
		return -EINVAL
	}
	_, err := unix.FcntlInt(uintptr(f.host), unix.F_ADD_SEALS, int(seals))
	return errno(err)
}

// getSeals is fcntl(F_GET_SEALS).
func getSeals(f *fdEntry) int64 {
	n, err := unix.FcntlInt(uintptr(f.host), unix.F_GET_SEALS, 0)
	if err != nil {
		return errno(err)
	}
	return int64(n)
}
