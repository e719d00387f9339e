package mm

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/elfuse/elfuse/arch/amd64"
)

// User address-space bounds.
const (
	UserMin   = 0x10000
	UserLimit = 0x7fff_ffff_f000
)

// Backing is where a file mapping's pages come from.
type Backing interface {
	io.ReaderAt
	// Name is shown in /proc/self/maps.
	Name() string
	// Size is the file's current size.
	Size() (int64, error)
	// HostFD is a host fd for shared mappings, or -1 when the file cannot
	// be shared with the host's page cache.
	HostFD() int
	// Writable says whether the file is open for writing.
	Writable() bool
}

// VMA is one mapping of an address space.
type VMA struct {
	Start, End uint64
	Prot       Prot
	Shared     bool
	// Lazy mappings get frames on first touch instead of at map time.
	Lazy    bool
	File    Backing
	Offset  uint64
	Name    string // "[heap]", "[stack]", "[vdso]"... when File is nil
	GrowsDn bool
	// Copy: a private file mapping whose writable pages are copied from
	// the file when mapped (a program's data segment, which is mostly
	// written soon: a copy now costs far less than a write fault), not
	// shared with the file until written. Such pages then no longer see
	// later writes to the file, which a program's data never relies on.
	Copy bool
}

// Kernel is the supervisor area shared by every address space of a sandbox:
// its page-table subtree is linked into each root at the same PML4 slot.
type Kernel struct {
	phys  *Phys
	pdpt  uint64
	pages pageTables
}

// NewKernel builds the shared area and maps pages (virtual address to
// content) into it; the pages are user-accessible, read-only unless listed
// in writable.
func NewKernel(phys *Phys) (*Kernel, error) {
	k := &Kernel{phys: phys}
	pdpt, err := phys.Alloc(true)
	if err != nil {
		return nil, err
	}
	k.pdpt = pdpt
	return k, nil
}

// MapPage maps a new frame holding content at va (in the kernel area) and
// returns its physical address.
func (k *Kernel) MapPage(va uint64, content []byte, write bool) (uint64, error) {
	pa, err := k.phys.Alloc(false)
	if err != nil {
		return 0, err
	}
	copy(k.phys.Page(pa), content)
	table := k.pdpt
	for l := 3; l > 1; l-- {
		i := amd64.PTEIndex(va, l)
		e := k.pages.entryIn(k.phys, table, i)
		if !present(e) {
			n, err := k.phys.Alloc(true)
			if err != nil {
				return 0, err
			}
			k.pages.setIn(k.phys, table, i, n|tableFlags)
			e = n | tableFlags
		}
		table = e & addrMask
	}
	f := amd64.PTEPresent | amd64.PTEUser | amd64.PTEAccessed | amd64.PTEDirty
	if write {
		f |= amd64.PTEWrite | amd64.PTENoExec
	}
	k.pages.setIn(k.phys, table, amd64.PTEIndex(va, 1), pa|f)
	return pa, nil
}

func (t *pageTables) entryIn(p *Phys, table uint64, i int) uint64 {
	t.phys = p
	return t.entry(table, i)
}

func (t *pageTables) setIn(p *Phys, table uint64, i int, v uint64) {
	t.phys = p
	t.setEntry(table, i, v)
}

// AddressSpace is the memory of one guest process: its page tables and
// VMAs.
type AddressSpace struct {
	mu sync.Mutex
	// users counts the processes running on the address space (see Share);
	// its tables and frames go when the last one releases it.
	users  int
	phys   *Phys
	kernel *Kernel
	pt     pageTables
	vmas   []*VMA // sorted, non-overlapping
	// BrkStart and Brk delimit the heap.
	BrkStart, Brk uint64
	// MmapTop is where top-down mmap placement starts.
	MmapTop uint64
	// released: the tables are gone (their frames may hold anything now);
	// a reader of another process's memory (/proc) then finds nothing.
	released bool
	// private are the pages of the private slot, by address (MapPrivate).
	private map[uint64]uint64
	// hot are the pages the processes of this lineage broke copy-on-write
	// sharing of after a fork: Fork copies them for the child at once.
	hot *hotPages
	// Ext is state a user of the address space attaches to it (the syscall
	// layer's exitless call sites); mm never looks at it.
	Ext any
}

// NewAddressSpace returns an empty address space with the kernel area.
func NewAddressSpace(phys *Phys, k *Kernel) (*AddressSpace, error) {
	as := &AddressSpace{users: 1, phys: phys, kernel: k, MmapTop: 0x7fff_f7ff_0000 - 64<<20}
	as.pt = pageTables{phys: phys, fresh: map[uint64]bool{}}
	root, err := as.pt.newTable()
	if err != nil {
		return nil, err
	}
	as.pt.root = root
	as.pt.setEntry(root, amd64.KernelPML4, k.pdpt|tableFlags)
	return as, nil
}

// Commit is called before the guest runs on this address space: it
// returns the page-table root and whether it changed since the last call.
func (as *AddressSpace) commitL() (root uint64, changed bool) { return as.pt.commit() }

// Root is the current page-table root.
func (as *AddressSpace) rootL() uint64 { return as.pt.root }

// Release frees every mapping and page table.
func (as *AddressSpace) releaseL() {
	defer as.phys.Batch()()
	// Every frame the guest's half maps goes, in one walk of the tables:
	// they are freed below, so no entry needs clearing one by one.
	as.pt.dropUser()
	as.vmas = nil
	as.releasePrivateL()
	// No vCPU runs on these tables again, and they are freed below: the
	// translations they held need not be invalidated.
	as.pt.stale = as.pt.stale[:0]
	as.pt.commit()
	as.pt.freeTree(as.pt.root, 4, map[int]bool{amd64.KernelPML4: true})
	as.vmas = nil
	as.released = true
}

// VMAs returns the mappings in address order (read-only view).
func (as *AddressSpace) vMAsL() []*VMA { return as.vmas }

// Find returns the VMA containing va, or nil.
func (as *AddressSpace) findL(va uint64) *VMA {
	i := sort.Search(len(as.vmas), func(i int) bool { return as.vmas[i].End > va })
	if i < len(as.vmas) && as.vmas[i].Start <= va {
		return as.vmas[i]
	}
	return nil
}

// FreeRange finds a free, page-aligned range of length bytes: at hint if it
// is free, otherwise the highest gap below MmapTop.
func (as *AddressSpace) freeRangeL(hint, length uint64) (uint64, bool) {
	if hint != 0 && hint >= UserMin && hint+length <= UserLimit && hint+length > hint && as.isFree(hint, hint+length) {
		return hint, true
	}
	top := as.MmapTop
	for i := len(as.vmas) - 1; i >= -1; i-- {
		lo := uint64(UserMin)
		if i >= 0 {
			lo = as.vmas[i].End
		}
		if lo >= top {
			if i >= 0 && as.vmas[i].Start < top {
				top = as.vmas[i].Start
			}
			continue
		}
		if top-lo >= length {
			return (top - length) &^ (PageSize - 1), true
		}
		if i >= 0 {
			top = as.vmas[i].Start
		}
	}
	return 0, false
}

func (as *AddressSpace) isFree(start, end uint64) bool {
	i := sort.Search(len(as.vmas), func(i int) bool { return as.vmas[i].End > start })
	return i == len(as.vmas) || as.vmas[i].Start >= end
}

// lazyThreshold is the size above which anonymous mappings are filled on
// touch rather than at map time.
const lazyThreshold = 8 << 30

// Map creates a mapping at [v.Start, v.End), replacing what was there.
// Frames are allocated and entries filled now unless v.Lazy; file pages are
// read in at once.
func (as *AddressSpace) mapL(v VMA) error {
	if v.Start%PageSize != 0 || v.End%PageSize != 0 || v.End <= v.Start || v.End > UserLimit {
		return fmt.Errorf("mm: bad range %#x-%#x", v.Start, v.End)
	}
	as.unmapL(v.Start, v.End)
	if v.End-v.Start > lazyThreshold {
		v.Lazy = true
	}
	nv := v
	as.insert(&nv)
	var err error
	if !nv.Lazy && nv.Prot != 0 {
		err = as.populate(&nv, nv.Start, nv.End)
	}
	as.merge()
	return err
}

// eagerCopyMax bounds the data segments (VMA.Copy) populate copies at once.
const eagerCopyMax = 8 << 20

func (as *AddressSpace) populate(v *VMA, start, end uint64) error {
	flags := leafFlags(v.Prot)
	if v.Shared && v.File != nil && v.File.HostFD() >= 0 {
		return as.populateShared(v, start, end, flags)
	}
	if v.File != nil {
		// Pages wholly past the end of the file get no frame: touching
		// them is SIGBUS (see BeyondEOF).
		if size, err := v.File.Size(); err == nil {
			fileEnd := pageUp(uint64(max(size, 0)))
			if v.Offset >= fileEnd {
				return nil
			}
			if end = min(end, v.Start+(fileEnd-v.Offset)); end <= start {
				return nil
			}
		}
		// A private file mapping reads the file's own pages, as the page
		// cache does, until a write copies one (copy-on-write whatever
		// the protection, so that a later mprotect cannot write the file),
		// unless it is a data segment of moderate size to copy now. A
		// program's read-only segments read a shared copy of them
		// (Phys.AllocSegment).
		if v.File.HostFD() >= 0 && !(v.Copy && v.Prot&ProtWrite != 0 && end-start <= eagerCopyMax) {
			n, fd, off := (end-start)/PageSize, v.File.HostFD(), int64(v.Offset+(start-v.Start))
			var pa uint64
			var err error
			if v.Copy && v.Prot&ProtWrite == 0 {
				pa, err = as.phys.AllocSegment(n, fd, off)
			} else {
				pa, err = as.phys.AllocFile(n, fd, off, false)
			}
			if err == nil {
				cow := flags&^amd64.PTEWrite | amd64.PTECow
				for i := uint64(0); i < n; i++ {
					if err := as.pt.set(start+i*PageSize, 1, (pa+i*PageSize)|cow); err != nil {
						for j := i; j < n; j++ {
							as.phys.Unref(pa + j*PageSize)
						}
						return err
					}
				}
				return nil
			}
			// Not mappable (a device, a pipe): copied below.
		}
	}
	for va := start; va < end; {
		if v.File == nil && va%HugeSize == 0 && end-va >= HugeSize {
			if e, l := as.pt.lookup(va); l == 0 && !present(e) {
				if as.hugeFree(va) {
					pa, err := as.phys.AllocHuge()
					if err != nil {
						return err
					}
					if err := as.pt.set(va, 2, pa|flags|amd64.PTEHuge); err != nil {
						return err
					}
					va += HugeSize
					continue
				}
			}
		}
		if _, err := as.fillPage(v, va, flags); err != nil {
			return err
		}
		va += PageSize
	}
	return nil
}

// populateShared maps the file's own pages for [start, end) of a shared
// file mapping; pages past the end of the file are private zero pages.
func (as *AddressSpace) populateShared(v *VMA, start, end uint64, flags uint64) error {
	size, err := v.File.Size()
	if err != nil {
		return err
	}
	off := v.Offset + (start - v.Start)
	fileEnd := start
	if uint64(size) > off {
		fileEnd = min(end, start+pageUp(uint64(size)-off))
	}
	if fileEnd > start {
		n := (fileEnd - start) / PageSize
		pa, err := as.phys.AllocFile(n, v.File.HostFD(), int64(off), v.File.Writable())
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := as.pt.set(start+i*PageSize, 1, (pa+i*PageSize)|flags); err != nil {
				return err
			}
		}
	}
	for va := fileEnd; va < end; va += PageSize {
		pa, err := as.phys.Alloc(false)
		if err != nil {
			return err
		}
		if err := as.pt.set(va, 1, pa|flags); err != nil {
			return err
		}
	}
	return nil
}

// hugeFree reports whether the 2 MiB range at va has no table under it.
func (as *AddressSpace) hugeFree(va uint64) bool {
	table := as.pt.root
	for l := 4; l > 2; l-- {
		e := as.pt.entry(table, amd64.PTEIndex(va, l))
		if !present(e) {
			return true
		}
		table = e & addrMask
	}
	return !present(as.pt.entry(table, amd64.PTEIndex(va, 2)))
}

// fillPage gives va a frame (reading file content) and maps it.
func (as *AddressSpace) fillPage(v *VMA, va uint64, flags uint64) (uint64, error) {
	pa, err := as.phys.Alloc(false)
	if err != nil {
		return 0, err
	}
	if v.File != nil {
		off := v.Offset + (va - v.Start)
		n, err := v.File.ReadAt(as.phys.Page(pa), int64(off))
		if err != nil && err != io.EOF {
			as.phys.Unref(pa)
			return 0, fmt.Errorf("mm: read %s at %#x: %w", v.File.Name(), off, err)
		}
		_ = n
	}
	if err := as.pt.set(va, 1, pa|flags); err != nil {
		as.phys.Unref(pa)
		return 0, err
	}
	return pa, nil
}

func (as *AddressSpace) insert(v *VMA) {
	i := sort.Search(len(as.vmas), func(i int) bool { return as.vmas[i].Start >= v.Start })
	as.vmas = append(as.vmas, nil)
	copy(as.vmas[i+1:], as.vmas[i:])
	as.vmas[i] = v
}

// merge joins neighbouring VMAs that differ in nothing but their range,
// as Linux does, so later calls see one mapping where the program made one.
func (as *AddressSpace) merge() {
	out := as.vmas[:0]
	for _, v := range as.vmas {
		if n := len(out); n > 0 && mergeable(out[n-1], v) {
			out[n-1].End = v.End
			continue
		}
		out = append(out, v)
	}
	clear(as.vmas[len(out):])
	as.vmas = out
}

func mergeable(a, b *VMA) bool {
	if a.End != b.Start || a.Prot != b.Prot || a.Shared != b.Shared || a.Lazy != b.Lazy ||
		a.Name != b.Name || a.GrowsDn != b.GrowsDn || a.File != b.File || a.Copy != b.Copy {
		return false
	}
	return a.File == nil || a.Offset+(a.End-a.Start) == b.Offset
}

// split cuts VMAs so that none crosses addr.
func (as *AddressSpace) split(addr uint64) {
	v := as.findL(addr)
	if v == nil || v.Start == addr {
		return
	}
	right := *v
	right.Start = addr
	if right.File != nil {
		right.Offset += addr - v.Start
	}
	v.End = addr
	as.insert(&right)
}

// Unmap removes mappings in [start, end) and frees their frames.
func (as *AddressSpace) unmapL(start, end uint64) {
	defer as.phys.Batch()()
	as.split(start)
	as.split(end)
	kept := as.vmas[:0]
	for _, v := range as.vmas {
		if v.Start >= start && v.End <= end {
			as.clearRange(v.Start, v.End)
			continue
		}
		kept = append(kept, v)
	}
	as.vmas = kept
}

// clearRange removes the entries for [start, end) and drops their frames
// (at the next Commit: see dropLater).
func (as *AddressSpace) clearRange(start, end uint64) {
	for va := start; va < end; {
		e, l := as.pt.lookup(va)
		switch l {
		case 0:
			if ml := as.pt.missingLevel(va); ml == 1 && e&addrMask != 0 {
				// A frame kept under PROT_NONE.
				_ = as.pt.set(va, 1, 0)
				as.pt.dropLater(e & addrMask)
				va += PageSize
			} else {
				va = nextBoundary(va, ml)
			}
		case 2:
			if va%HugeSize == 0 && end-va >= HugeSize {
				_ = as.pt.set(va, 2, 0)
				as.pt.dropHugeLater(e & addrMask)
				va += HugeSize
				continue
			}
			_ = as.pt.splitHuge(va)
		case 1:
			_ = as.pt.set(va, 1, 0)
			as.pt.dropLater(e & addrMask)
			va += PageSize
		}
	}
}

// missingLevel is the level whose entry is not present on va's walk.
func (t *pageTables) missingLevel(va uint64) int {
	table := t.root
	for l := 4; l >= 1; l-- {
		e := t.entry(table, amd64.PTEIndex(va, l))
		if !present(e) {
			return l
		}
		table = e & addrMask
	}
	return 1
}

func nextBoundary(va uint64, level int) uint64 {
	size := uint64(PageSize) << (9 * uint(level-1))
	return (va + size) &^ (size - 1)
}

// Protect changes the rights of [start, end), which must be mapped.
func (as *AddressSpace) protectL(start, end uint64, prot Prot) error {
	if !as.covered(start, end) {
		return fmt.Errorf("mm: %#x-%#x not mapped", start, end)
	}
	defer as.merge()
	as.split(start)
	as.split(end)
	flags := leafFlags(prot)
	for _, v := range as.vmas {
		if v.End <= start || v.Start >= end {
			continue
		}
		v.Prot = prot
		for va := v.Start; va < v.End; {
			e, l := as.pt.lookup(va)
			switch l {
			case 0:
				ml := as.pt.missingLevel(va)
				if ml == 1 && e&addrMask != 0 {
					// A frame kept under PROT_NONE.
					if flags != 0 {
						if err := as.pt.set(va, 1, e&addrMask|cowFlags(flags, e&amd64.PTECow)); err != nil {
							return err
						}
					}
					va += PageSize
					continue
				}
				next := min(nextBoundary(va, ml), v.End)
				if ml == 1 {
					next = va + PageSize
				}
				if flags != 0 && !v.Lazy {
					// Never had frames (mapped PROT_NONE): fill them now.
					if err := as.populate(v, va, next); err != nil {
						return err
					}
				}
				va = next
				continue
			case 2:
				if va%HugeSize == 0 && v.End-va >= HugeSize {
					if err := as.pt.set(va, 2, e&addrMask|cowFlags(flags, e&amd64.PTECow)|amd64.PTEHuge); err != nil {
						return err
					}
					va += HugeSize
					continue
				}
				if err := as.pt.splitHuge(va); err != nil {
					return err
				}
				continue
			}
			cow := e & amd64.PTECow
			if flags == 0 {
				// PROT_NONE keeps the frame; the entry is not present.
				if err := as.pt.set(va, 1, e&addrMask|amd64.PTEUser|cow); err != nil {
					return err
				}
			} else if err := as.pt.set(va, 1, e&addrMask|cowFlags(flags, cow)); err != nil {
				return err
			}
			va += PageSize
		}
	}
	return nil
}

// Covered reports whether every page of [start, end) is mapped.
func (as *AddressSpace) coveredL(start, end uint64) bool { return as.covered(start, end) }

// Resident reports whether the page at va has a frame.
func (as *AddressSpace) residentL(va uint64) bool {
	_, l := as.pt.lookup(va)
	return l != 0
}

// Mapped is the total size of the mappings.
func (as *AddressSpace) mappedL() uint64 {
	var n uint64
	for _, v := range as.vmas {
		n += v.End - v.Start
	}
	return n
}

// cowFlags keeps a copy-on-write page read-only whatever rights it gets.
func cowFlags(flags, cow uint64) uint64 {
	if cow != 0 && flags&amd64.PTEPresent != 0 {
		return flags&^amd64.PTEWrite | amd64.PTECow
	}
	return flags
}

func (as *AddressSpace) covered(start, end uint64) bool {
	for va := start; va < end; {
		v := as.findL(va)
		if v == nil {
			return false
		}
		va = v.End
	}
	return true
}

// Fault resolves a fault at va for a lazy mapping or a PROT_NONE-kept frame.
// It returns false when the access is not allowed (a SIGSEGV).
func (as *AddressSpace) faultL(va uint64, write, exec bool) bool {
	return as.fault(va, write, exec)
}

// fault resolves a fault at va.
func (as *AddressSpace) fault(va uint64, write, exec bool) bool {
	v := as.findL(va)
	if v == nil {
		return false
	}
	if write && v.Prot&ProtWrite == 0 || exec && v.Prot&ProtExec == 0 || v.Prot&(ProtRead|ProtWrite|ProtExec) == 0 {
		return false
	}
	page := va &^ (PageSize - 1)
	e, l := as.pt.lookup(page)
	if e&amd64.PTECow != 0 && write {
		return as.breakCOW(va, v)
	}
	if l != 0 {
		// Present and allowed: a stale translation; retry.
		return true
	}
	if e&addrMask != 0 {
		// A frame kept under PROT_NONE that is accessible again.
		f := leafFlags(v.Prot)
		if e&amd64.PTECow != 0 {
			f = f&^amd64.PTEWrite | amd64.PTECow
		}
		return as.pt.set(page, 1, e&addrMask|f) == nil
	}
	if as.beyondEOF(v, page) {
		return false
	}
	_, err := as.fillPage(v, page, leafFlags(v.Prot))
	return err == nil
}

func (as *AddressSpace) beyondEOF(v *VMA, page uint64) bool {
	if v.File == nil {
		return false
	}
	size, err := v.File.Size()
	return err == nil && v.Offset+(page-v.Start) >= pageUp(uint64(max(size, 0)))
}

// BeyondEOF reports whether va lies in a file mapping past the end of its
// file (an access there is SIGBUS, not SIGSEGV).
func (as *AddressSpace) BeyondEOF(va uint64) bool {
	as.mu.Lock()
	defer as.unlock()
	v := as.findL(va)
	return v != nil && as.beyondEOF(v, va&^(PageSize-1))
}

// Lookup returns the physical address of the kernel-area page at va.
func (k *Kernel) Lookup(va uint64) (uint64, error) {
	table := k.pdpt
	for l := 3; l >= 1; l-- {
		e := k.pages.entryIn(k.phys, table, amd64.PTEIndex(va, l))
		if !present(e) {
			return 0, fmt.Errorf("mm: kernel page %#x not mapped", va)
		}
		table = e & addrMask
	}
	return table, nil
}

// Discard drops the contents of [start, end) (MADV_DONTNEED): private pages
// read as zero, or as the file, afterwards.
func (as *AddressSpace) discardL(start, end uint64) error {
	defer as.merge()
	for va := start; va < end; {
		v := as.findL(va)
		if v == nil {
			if next := as.nextVMA(va); next != nil && next.Start < end {
				va = next.Start
				continue
			}
			return nil
		}
		lo, hi := max(va, v.Start), min(end, v.End)
		as.clearRange(lo, hi)
		switch {
		case !v.Shared && !v.Lazy:
			// As on Linux, the pages come back (zero, or the file's) when
			// touched again: a large discard, such as glibc's of the
			// unused part of a thread's stack at its exit, would
			// otherwise get all its frames back at once.
			as.split(lo)
			as.split(hi)
			if w := as.findL(lo); w != nil {
				w.Lazy = true
			}
		case !v.Lazy && v.Prot != 0:
			if err := as.populate(v, lo, hi); err != nil {
				return err
			}
		}
		va = hi
	}
	return nil
}

func (as *AddressSpace) nextVMA(va uint64) *VMA {
	i := sort.Search(len(as.vmas), func(i int) bool { return as.vmas[i].Start > va })
	if i < len(as.vmas) {
		return as.vmas[i]
	}
	return nil
}

// MapFrame maps the existing 4 KiB frame pa at va, taking a reference (the
// vDSO and its data page are one frame shared by every process).
func (as *AddressSpace) mapFrameL(va, pa uint64, prot Prot, name string) error {
	as.unmapL(va, va+PageSize)
	as.insert(&VMA{Start: va, End: va + PageSize, Prot: prot, Name: name})
	as.phys.Ref(pa)
	return as.pt.set(va, 1, pa|leafFlags(prot))
}
