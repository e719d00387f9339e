//go:build linux && amd64

package syscall

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"

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

// hostFile is the host file behind a guest file mapping: a descriptor of
// its own (the guest may close its fd at once), closed when no mapping of
// any address space holds the hostFile any more. Holding it keeps the file
// (even a removed one) open, so it must not outlive its mappings: a long
// run making processes would otherwise pile up descriptors and the disk
// space of removed files.
type hostFile struct {
	fd       int
	writable bool
	guess    string // the name to show when the host's cannot be read
	nameOnce sync.Once
	name     string
}

func newHostFile(fd int, writable bool, guess string) *hostFile {
	h := &hostFile{fd: fd, writable: writable, guess: guess}
	runtime.AddCleanup(h, func(fd int) { unix.Close(fd) }, fd)
	return h
}

func (h *hostFile) Size() (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

func (h *hostFile) HostFD() int    { return h.fd }
func (h *hostFile) Writable() bool { return h.writable }

func (h *hostFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := unix.Pread(h.fd, b, off)
	if n < len(b) && err == nil {
		return n, nil
	}
	return n, err
}

// dupForMapping dups fd for a hostFile. The descriptors of mappings that
// are gone close when the collector finds their hostFiles unreachable, so
// when the host's limit is reached a collection is made and the cleanups
// are given some milliseconds to run.
func dupForMapping(fd int) (int, error) {
	for try := 0; ; try++ {
		h, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != unix.EMFILE || try == 20 {
			return h, err
		}
		if try%5 == 0 {
			runtime.GC()
		}
		time.Sleep(time.Millisecond)
	}
}

// Name is the file's host path, read when first asked for (/proc/PID/maps):
// most mappings are never named, and reading a descriptor's path costs as
// much as the mapping.
func (h *hostFile) Name() string {
	h.nameOnce.Do(func() {
		h.name = h.guess
		if p, err := readlinkFD(h.fd); err == nil {
			h.name = p
		}
	})
	return h.name
}

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
		GrowsDn: flags&mapGrowsDown != 0,
		// glibc's dynamic loader maps an object's segments with
		// MAP_DENYWRITE (its MAP_COPY): its data segment is copied now.
		Copy: flags&mapDenyWrite != 0}
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
		if typ != mapPrivate && prot&mm.ProtWrite != 0 && fl&unix.O_ACCMODE != unix.O_RDWR {
			return -EACCES
		}
		var st unix.Stat_t
		if err := unix.Fstat(f.host, &st); err != nil {
			return errno(err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG, unix.S_IFBLK:
		case unix.S_IFCHR:
			if unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 5 { // /dev/zero
				flags |= mapAnonymous
			} else {
				return -ENODEV
			}
		default:
			return -ENODEV
		}
	}
	// Choosing a free range and mapping it are two steps of mm: no other
	// thread of this address space may choose the same range in between.
	mu := mapLock(as)
	mu.Lock()
	defer mu.Unlock()
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
	if lim := t.proc.rlimit(unix.RLIMIT_AS).Cur; lim != unix.RLIM_INFINITY && as.Mapped()+length > lim {
		return -ENOMEM
	}
	if flags&mapAnonymous == 0 {
		// The mapping keeps its own host fd: the guest may close its own.
		f, _ := t.fd(uint64(uint32(fd)))
		fl, _ := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
		h, err := dupForMapping(f.host)
		if err == unix.EMFILE {
			return -ENFILE // what mmap(2) says when descriptors run out
		} else if err != nil {
			return errno(err)
		}
		v.File, v.Offset = newHostFile(h, fl&unix.O_ACCMODE == unix.O_RDWR, f.path), off
	}
	v.Start, v.End = addr, addr+length
	t.xlEvict(v.Start, v.End, true)
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
	t.xlEvict(addr, end, true)
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
	t.xlEvict(addr, end, false)
	if err := t.as().Protect(addr, end, prot); err != nil {
		return -ENOMEM
	}
	return 0
}

func sysBrk(t *Thread, a *[6]uint64) int64 {
	mu := mapLock(t.as())
	mu.Lock()
	defer mu.Unlock()
	return int64(t.as().SetBrk(a[0]))
}

// mapLocks serialize, per address space, the calls that choose where a
// mapping goes and then make it (mmap, mremap, brk): mm takes its lock for
// each step, so two threads calling mmap at once could otherwise both be
// given the same free range, the second mapping replacing the first (seen
// as heap corruption in multi-threaded Go programs). Striped by the
// address space's pointer, so that nothing is kept per address space.
var mapLocks [64]sync.Mutex

func mapLock(as *mm.AddressSpace) *sync.Mutex {
	return &mapLocks[(uintptr(unsafe.Pointer(as))>>6)%uintptr(len(mapLocks))]
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
	t.xlEvict(old, old+oldLen, true)
	if flags&mremapFixed != 0 {
		t.xlEvict(newAddr, newAddr+newLen, true)
	}
	mu := mapLock(t.as())
	mu.Lock()
	r, err := t.as().Remap(old, oldLen, newLen, flags&mremapMaymove != 0, flags&mremapFixed != 0, newAddr)
	mu.Unlock()
	if err != nil {
		t.sb.log.Debug("mremap failed", "err", err)
		if errors.Is(err, mm.ErrFault) {
			return -EFAULT
		}
		return -ENOMEM
	}
	return int64(r)
}

// madvise advice values Linux accepts.
var madvKnown = map[uint64]bool{0: true, 1: true, 2: true, 3: true, 4: true, 8: true, 9: true, 10: true, 11: true,
	12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true, 19: true, 20: true, 21: true, 22: true, 23: true, 100: true, 101: true, 102: true}

func sysMadvise(t *Thread, a *[6]uint64) int64 {
	addr, length, advice := a[0], a[1], a[2]
	if addr%mm.PageSize != 0 || !madvKnown[advice] || int64(length) < 0 {
		return -EINVAL
	}
	end := (addr + length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end == addr {
		return 0
	}
	if !t.as().Covered(addr, end) {
		return -ENOMEM
	}
	switch advice {
	case madvDontneed, madvFree:
		t.xlEvict(addr, end, false)
		if err := t.as().Discard(addr, end); err != nil {
			return -EINVAL
		}
	}
	return 0
}

func sysMsync(t *Thread, a *[6]uint64) int64 {
	const msAsync, msInvalidate, msSync = 1, 2, 4
	if a[0]%mm.PageSize != 0 || a[2]&^7 != 0 || a[2]&(msAsync|msSync) == msAsync|msSync {
		return -EINVAL
	}
	end := (a[0] + a[1] + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end > a[0] && !t.as().Covered(a[0], end) {
		return -ENOMEM
	}
	return 0
}

func sysMincore(t *Thread, a *[6]uint64) int64 {
	addr, length := a[0], a[1]
	if addr%mm.PageSize != 0 {
		return -EINVAL
	}
	end := (addr + length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end < addr || end > mm.UserLimit {
		return -ENOMEM
	}
	if !t.as().Covered(addr, end) {
		return -ENOMEM
	}
	vec := make([]byte, (end-addr)/mm.PageSize)
	for i := range vec {
		if t.as().Resident(addr + uint64(i)*mm.PageSize) {
			vec[i] = 1
		}
	}
	return t.put(a[2], vec)
}

func sysMlock(t *Thread, a *[6]uint64) int64 {
	start := a[0] &^ (mm.PageSize - 1)
	end := (a[0] + a[1] + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if end > start && !t.as().Covered(start, end) {
		return -ENOMEM
	}
	return 0
}
