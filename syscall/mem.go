//go:build linux && amd64

package syscall

import (
	"errors"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

func decodeProt(p uint64) (mm.Prot, bool) {
	if p&^(protRead|protWrite|protExec|protGrowsDown|protGrowsUp) != 0 {
		return 0, false
	}
	var r mm.Prot
	if p&protRead != 0 {
		r |= mm.ProtRead
	}
	if p&protWrite != 0 {
		r |= mm.ProtWrite | mm.ProtRead
	}
	if p&protExec != 0 {
		r |= mm.ProtExec | mm.ProtRead
	}
	return r, true
}

// hostFile is a host fd backing a file mapping.
type hostFile struct {
	fd   int
	name string
}

func (h *hostFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := unix.Pread(h.fd, b, off)
	if n < len(b) && err == nil {
		return n, nil
	}
	return n, err
}

func (h *hostFile) Name() string { return h.name }

func sysMmap(t *Thread, a *[6]uint64) int64 {
	addr, length, protArg, flags, fd, off := a[0], a[1], a[2], a[3], int32(a[4]), a[5]
	prot, ok := decodeProt(protArg)
	if !ok || length == 0 || off%mm.PageSize != 0 {
		return -EINVAL
	}
	typ := flags & mapType
	if typ != mapShared && typ != mapPrivate && typ != mapSharedValidate {
		return -EINVAL
	}
	length = (length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if length == 0 || length > mm.UserLimit {
		return -ENOMEM
	}
	as := t.as()
	v := mm.VMA{Prot: prot, Shared: typ != mapPrivate, Lazy: flags&mapNoreserve != 0 && flags&mapPopulate == 0,
		GrowsDn: flags&mapGrowsDown != 0}
	if flags&mapAnonymous == 0 {
		f, e := t.fd(uint64(uint32(fd)))
		if e != 0 {
			return e
		}
		fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
		if err != nil {
			return errno(err)
		}
		if fl&unix.O_ACCMODE == unix.O_WRONLY {
			return -EACCES
		}
		var st unix.Stat_t
		if err := unix.Fstat(f.host, &st); err != nil {
			return errno(err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return -ENODEV
		}
		h, err := unix.FcntlInt(uintptr(f.host), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		name := f.path
		if p, err := readlinkFD(f.host); err == nil {
			name = p
		}
		v.File, v.Offset = &hostFile{fd: h, name: name}, off
	}
	switch {
	case flags&(mapFixed|mapFixedNoreplace) != 0:
		if addr%mm.PageSize != 0 {
			return -EINVAL
		}
		if addr < mm.UserMin || addr+length > mm.UserLimit || addr+length < addr {
			return -ENOMEM
		}
		if flags&mapFixedNoreplace != 0 && flags&mapFixed == 0 {
			if _, ok := as.FreeRange(addr, length); !ok || as.Find(addr) != nil {
				return -EEXIST
			}
			if s, _ := as.FreeRange(addr, length); s != addr {
				return -EEXIST
			}
		}
	default:
		var ok bool
		addr, ok = as.FreeRange(addr&^(mm.PageSize-1), length)
		if !ok {
			return -ENOMEM
		}
	}
	v.Start, v.End = addr, addr+length
	if err := as.Map(v); err != nil {
		if errors.Is(err, mm.ErrNoMemory) {
			return -ENOMEM
		}
		return errno(err)
	}
	return int64(addr)
}

const ENODEV = 19

func sysMunmap(t *Thread, a *[6]uint64) int64 {
	addr, length := a[0], a[1]
	if addr%mm.PageSize != 0 || length == 0 {
		return -EINVAL
	}
	end := (addr + length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end > mm.UserLimit || end < addr {
		return -EINVAL
	}
	t.as().Unmap(addr, end)
	return 0
}

func sysMprotect(t *Thread, a *[6]uint64) int64 {
	addr, length := a[0], a[1]
	prot, ok := decodeProt(a[2])
	if !ok || addr%mm.PageSize != 0 {
		return -EINVAL
	}
	if length == 0 {
		return 0
	}
	end := (addr + length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end < addr {
		return -ENOMEM
	}
	if err := t.as().Protect(addr, end, prot); err != nil {
		return -ENOMEM
	}
	return 0
}

func sysBrk(t *Thread, a *[6]uint64) int64 {
	return int64(t.as().SetBrk(a[0]))
}

func sysMremap(t *Thread, a *[6]uint64) int64 {
	old, oldLen, newLen, flags, newAddr := a[0], a[1], a[2], a[3], a[4]
	if old%mm.PageSize != 0 || flags&^(mremapMaymove|mremapFixed|mremapDontunmap) != 0 {
		return -EINVAL
	}
	if flags&mremapFixed != 0 && flags&mremapMaymove == 0 {
		return -EINVAL
	}
	if flags&mremapDontunmap != 0 {
		return -EINVAL
	}
	oldLen = (oldLen + mm.PageSize - 1) &^ (mm.PageSize - 1)
	newLen = (newLen + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if newLen == 0 || oldLen == 0 {
		return -EINVAL
	}
	if flags&mremapFixed != 0 && (newAddr%mm.PageSize != 0 || newAddr+newLen > mm.UserLimit) {
		return -EINVAL
	}
	r, err := t.as().Remap(old, oldLen, newLen, flags&mremapMaymove != 0, flags&mremapFixed != 0, newAddr)
	if err != nil {
		if errors.Is(err, mm.ErrFault) {
			return -EFAULT
		}
		return -ENOMEM
	}
	return int64(r)
}

func sysMadvise(t *Thread, a *[6]uint64) int64 {
	addr, length, advice := a[0], a[1], a[2]
	if addr%mm.PageSize != 0 {
		return -EINVAL
	}
	end := (addr + length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	switch advice {
	case madvDontneed, madvFree:
		if err := t.as().Discard(addr, end); err != nil {
			return -EINVAL
		}
	}
	return 0
}

func sysMsync(t *Thread, a *[6]uint64) int64 {
	if a[0]%mm.PageSize != 0 || a[2]&^7 != 0 {
		return -EINVAL
	}
	return 0
}
