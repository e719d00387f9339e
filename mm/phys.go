// Package mm is elfuse's guest memory manager: guest-physical frames with
// reference counts, per-process page tables and VMAs, and copying to and
// from guest virtual memory.
//
// A change to a page-table entry that takes a translation away (present to
// not-present, another frame, fewer rights) must not leave any vCPU using
// the old one: shadow-paging KVMs such as PVM keep serving a translation
// until its shadow entry goes, and CPUs cache it in their TLBs. Two ways
// are kept, chosen per sandbox:
//
//   - In place (Phys.SetCoherent, for hypervisors that follow the host's
//     mapping of guest RAM: KVM's MMU notifiers): the entry is edited where
//     it is, and before the address space's lock is released the frames
//     the old translations reached are invalidated by touching their host
//     mapping, which makes the hypervisor drop every translation to them on
//     every vCPU (pageTables.set, Phys.invalidate). Structural changes (a
//     2 MiB page split into a table) still take the second way.
//   - New tables: the table pages on the path from the root to the entry
//     are copied and the address space switches to the new root, which
//     every backend honours (a new CR3 flushes the guest TLB; new table
//     pages have no shadow).
//
// Entries are always added in place: a not-present entry is never cached.
// Frames that once held page tables are reused for data only when no other
// free frame is at hand (a shadow MMU may still shadow one), and for page
// tables again only after the hypervisor has forgotten every shadow
// (Phys.SetTableFlush), which is done when enough of them are free.
package mm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Page sizes.
const (
	PageSize  = 4096
	HugeSize  = 2 << 20
	pageShift = 12
)

// ErrNoMemory is returned when guest RAM is exhausted.
var ErrNoMemory = errors.New("guest memory exhausted")

// SlotFunc registers host memory as guest RAM at a guest-physical address.
type SlotFunc func(gpa uint64, host []byte) error

// Phys is the guest-physical memory of one sandbox: a host reservation made
// up front with MAP_NORESERVE (untouched memory costs nothing) and handed to
// the VM in slots as the allocator reaches them. Slots start small and
// double up to slotSize, since registering a slot costs time in proportion
// to its size and a small program needs little.
type Phys struct {
	mu       sync.Mutex
	mem      []byte
	slotSize uint64
	slots    uint64 // bytes registered with the VM
	addSlot  SlotFunc
	bump     uint64 // frames below are handed out or free; above are fresh
	free4k   []uint64
	freeData []uint64 // frames that held page tables: data use only
	free2m   []uint64
	refs     []uint32 // per 4 KiB frame
	ptFrame  []bool   // frame has been a page-table page
	fileMap  []bool   // frame's host memory is a shared file mapping
	inRun    []bool   // frame is in a run (runAt finds it)
	// fileFree are frames that held a file's pages and are free again
	// (with anonymous memory back), as sorted runs. AllocFile takes a run
	// from them before new memory, so that a long-lived sandbox mapping
	// files again and again (each exec) does not use up its reservation;
	// Alloc takes from them when no other free frame is left.
	fileFree []span
	// runs are the read-only file mappings AllocFile made, by file and
	// range, kept after their frames are free (idle) so that the next
	// mapping of the same range (the same program run again) takes them
	// as they are: no host mapping to make and undo, and the host's page
	// tables for them still filled in. byPA are the runs by address, for
	// runAt; lastRun is the run runAt found last (a mapping's frames are
	// freed in a row).
	runs      map[fileRange]*fileRun
	byPA      []*fileRun
	lastRun   *fileRun
	idleBytes uint64 // in idle runs' frames
	runTick   uint64
	inUse     uint64 // bytes allocated
	limit     uint64 // bound on inUse; 0: the reservation

	// Freed frames are not given back to the host one by one (a madvise
	// each, and on KVM an MMU-notifier round): a data frame stays dirty
	// and is cleared when handed out again, until maxDirty bytes of them
	// are kept, when they go back to the host in runs. A file's frame must
	// get anonymous memory back before reuse; inside a batch (Batch) those
	// are remapped in runs when the batch ends.
	dirty      []bool // free frame whose host memory holds old data
	dirtyBytes uint64
	batch      int
	unmapped   []uint64 // file frames freed in the batch

	// coherent: the hypervisor drops its cached translations of a frame
	// on every vCPU when the host changes its own mapping of the frame
	// (SetCoherent), so a translation is taken away in place and the old
	// frame invalidated (invalidate) rather than by new tables.
	coherent bool
	// invalidated, when set, sees every list of frames invalidate is
	// given (tests).
	invalidated func(frames []uint64)
	// flushTables, when set, makes the hypervisor forget its shadows of
	// every page table (SetTableFlush); flushes counts its calls.
	flushTables func() error
	flushes     int
}

// smallRAM is the guest RAM at the start of the reservation that the host
// backs with 4 KiB pages: most sandboxes use little more, and a huge page
// is zeroed whole the first time any of it is touched (on a nested host,
// over a millisecond each), while the frames a small program touches are a
// few hundred. Above it, huge pages (a 1 GiB workload: 3.5 s -> 1.5 s to
// touch, 9.8 s -> 2.0 s to copy).
const smallRAM = 16 << 20

// maxDirty bounds the freed guest RAM kept by the host process.
const maxDirty = 64 << 20

// NewPhys reserves size bytes of host memory for guest RAM.
func NewPhys(size, slotSize uint64, addSlot SlotFunc) (*Phys, error) {
	size &^= HugeSize - 1
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mm: reserve %d MiB of guest RAM: %w", size>>20, err)
	}
	if size > smallRAM {
		adviseHuge(mem[smallRAM:])
	}
	p := &Phys{mem: mem, slotSize: slotSize, addSlot: addSlot,
		runs: map[fileRange]*fileRun{}}
	p.bump = HugeSize // keep guest-physical page 0 unused
	return p, nil
}

// Close releases the host reservation.
func (p *Phys) Close() error { return unix.Munmap(p.mem) }

// Size is the guest RAM reservation in bytes.
func (p *Phys) Size() uint64 { return uint64(len(p.mem)) }

// Limit is the bound on guest RAM handed out.
func (p *Phys) Limit() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit == 0 {
		return uint64(len(p.mem))
	}
	return p.limit
}

// SetCoherent tells the memory manager that the hypervisor follows the
// host's mapping of guest RAM (hv.MappingFollower): an entry that takes a
// translation away is then changed in place, and the frame it reached is
// invalidated through its host mapping before the change is done (see
// pageTables.set), instead of replacing the tables from the root down and
// switching every vCPU to the new root. Under shadow paging (PVM) that
// spares the hypervisor rebuilding its shadow of the whole address space
// after each such change. It checks that the host lets it invalidate.
func (p *Phys) SetCoherent(on bool) error {
	if on {
		if err := p.invalidateAnon(p.mem[:PageSize]); err != nil {
			return fmt.Errorf("mm: invalidate guest RAM through its host mapping: %w", err)
		}
	}
	p.coherent = on
	return nil
}

// invalidate makes the hypervisor drop every translation to the frames
// listed (repeats allowed) on every vCPU, by changing the host's mapping
// of them. The frames of keep go on holding what they hold, and whoever
// else may access them can: a file's frame is dropped from the host
// mapping (the file keeps its page), anonymous memory gets its protection
// changed and put back. The anonymous frames of gone are about to be
// freed: their host memory is given back, one call per run. The caller
// holds references to all of them, so none is reused meanwhile.
func (p *Phys) invalidate(keep, gone []uint64) error {
	frames := slices.Concat(keep, gone)
	slices.Sort(frames)
	frames = slices.Compact(frames)
	if p.invalidated != nil {
		p.invalidated(frames)
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	p.mu.Lock()
	// discard: a file's frames (the file keeps the page) and those of
	// gone; anon: the anonymous frames to keep, and a copy run's, which
	// keeps them when they are free.
	var discard, anon []uint64
	for _, pa := range frames {
		if _, kept := slices.BinarySearch(keep, pa); (kept || p.inRun[pa>>pageShift]) && !p.fileMap[pa>>pageShift] {
			anon = append(anon, pa)
		} else {
			discard = append(discard, pa)
		}
	}
	// Runs of anonymous frames to keep a few frames apart are joined, the
	// frames between invalidated too (harmless: they fault back in),
	// unless a file's frame lies between: its mapping may not allow
	// writing.
	var runs []span
	for _, pa := range anon {
		if n := len(runs); n > 0 {
			last := &runs[n-1]
			end := last.pa + last.n
			if pa == end || pa-end <= maxInvalidateGap && !p.anyFileLocked(end, pa) {
				last.n = pa + PageSize - last.pa
				continue
			}
		}
		runs = append(runs, span{pa, PageSize})
	}
	p.mu.Unlock()
	var err error
	forRuns(discard, func(pa, n uint64) {
		if e := unix.Madvise(p.mem[pa:pa+n], unix.MADV_DONTNEED); e != nil && err == nil {
			err = e
		}
	})
	for _, r := range runs {
		if e := p.invalidateAnon(p.mem[r.pa : r.pa+r.n]); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// maxInvalidateGap is how far apart two runs of anonymous frames may be
// and still be invalidated as one.
const maxInvalidateGap = 64 * PageSize

func (p *Phys) anyFileLocked(start, end uint64) bool {
	for pa := start; pa < end; pa += PageSize {
		if p.fileMap[pa>>pageShift] {
			return true
		}
	}
	return false
}

// invalidateAnon changes the protection of anonymous guest RAM and puts it
// back: each change runs the host's MMU notifiers over the present pages.
// Both protections allow reading and writing, so a host thread or vCPU
// touching the memory meanwhile never faults.
func (p *Phys) invalidateAnon(b []byte) error {
	if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC); err != nil {
		return err
	}
	return unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE)
}

// SetLimit bounds the guest RAM handed out from now on (allocations past
// it fail with ErrNoMemory); it cannot exceed the reservation.
func (p *Phys) SetLimit(bytes uint64) error {
	if bytes > uint64(len(p.mem)) {
		return fmt.Errorf("mm: limit %d MiB is above the %d MiB reserved at start", bytes>>20, len(p.mem)>>20)
	}
	p.mu.Lock()
	p.limit = bytes
	p.mu.Unlock()
	return nil
}

// overLocked reports whether n more bytes would pass the limit.
func (p *Phys) overLocked(n uint64) bool { return p.limit != 0 && p.inUse+n > p.limit }

// InUse is the number of bytes of guest RAM handed out.
func (p *Phys) InUse() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Bytes returns host memory backing guest-physical [pa, pa+n).
func (p *Phys) Bytes(pa, n uint64) []byte { return p.mem[pa : pa+n : pa+n] }

// Page returns the 4 KiB frame at pa.
func (p *Phys) Page(pa uint64) []byte { return p.mem[pa : pa+PageSize : pa+PageSize] }

// firstSlot is the size of the first slot registered with the VM.
const firstSlot = 64 << 20

func (p *Phys) ensureSlots(end uint64) error {
	for p.slots < end {
		n := min(max(p.slots, firstSlot), p.slotSize, uint64(len(p.mem))-p.slots)
		if err := p.addSlot(p.slots, p.mem[p.slots:p.slots+n]); err != nil {
			return err
		}
		p.slots += n
		frames := int(p.slots / PageSize)
		p.refs = append(p.refs, make([]uint32, frames-len(p.refs))...)
		p.ptFrame = append(p.ptFrame, make([]bool, frames-len(p.ptFrame))...)
		p.fileMap = append(p.fileMap, make([]bool, frames-len(p.fileMap))...)
		p.inRun = append(p.inRun, make([]bool, frames-len(p.inRun))...)
		p.dirty = append(p.dirty, make([]bool, frames-len(p.dirty))...)
	}
	return nil
}

func (p *Phys) bump2m() (uint64, error) {
	if p.bump+HugeSize > uint64(len(p.mem)) {
		return 0, ErrNoMemory
	}
	pa := p.bump
	if err := p.ensureSlots(pa + HugeSize); err != nil {
		return 0, err
	}
	p.bump += HugeSize
	return pa, nil
}

// Alloc returns a zeroed 4 KiB frame with one reference. Page-table pages
// (table=true) never reuse frames that held page tables before.
func (p *Phys) Alloc(table bool) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.overLocked(PageSize) {
		return 0, ErrNoMemory
	}
	if len(p.free4k) == 0 && len(p.freeData) == 0 && len(p.fileFree) == 0 && len(p.free2m) == 0 &&
		p.bump+HugeSize > uint64(len(p.mem)) {
		p.evictRunsLocked(0) // the reservation is used up: idle file frames go first
	}
	var pa uint64
	switch {
	case !table && len(p.freeData) > 0 && len(p.free4k) == 0:
		// Frames that held page tables go to data only when no other
		// free frame is at hand: a shadow-paging hypervisor may still
		// shadow one and emulate the guest's writes to it, and it cannot
		// emulate every instruction (a vmovdqu store stops the vCPU).
		pa = p.freeData[len(p.freeData)-1]
		p.freeData = p.freeData[:len(p.freeData)-1]
	case len(p.free4k) > 0:
		pa = p.free4k[len(p.free4k)-1]
		p.free4k = p.free4k[:len(p.free4k)-1]
	case len(p.fileFree) > 0 && len(p.free2m) == 0:
		last := &p.fileFree[len(p.fileFree)-1]
		last.n -= PageSize
		pa = last.pa + last.n
		if last.n == 0 {
			p.fileFree = p.fileFree[:len(p.fileFree)-1]
		}
	case table && len(p.free2m) == 0 && len(p.freeData) > 0 &&
		(len(p.freeData) >= minTableReuse || p.bump+HugeSize > uint64(len(p.mem))) && p.reuseTablesLocked():
		// New memory otherwise, or none left.
		pa = p.free4k[len(p.free4k)-1]
		p.free4k = p.free4k[:len(p.free4k)-1]
	default:
		var err error
		if n := len(p.free2m); n > 0 {
			pa = p.free2m[n-1]
			p.free2m = p.free2m[:n-1]
		} else if pa, err = p.bump2m(); err != nil {
			return 0, err
		}
		for i := uint64(HugeSize - PageSize); i > 0; i -= PageSize {
			p.free4k = append(p.free4k, pa+i)
		}
	}
	if p.dirty[pa>>pageShift] {
		p.dirty[pa>>pageShift] = false
		p.dirtyBytes -= PageSize
		clear(p.mem[pa : pa+PageSize])
	}
	p.refs[pa>>pageShift] = 1
	if table {
		p.ptFrame[pa>>pageShift] = true
	}
	p.inUse += PageSize
	return pa, nil
}

// minTableReuse is how many free frames that held page tables a table
// allocation that would take new memory waits for before it has the
// hypervisor forget its shadows and takes them (reuseTablesLocked): each
// flush makes every vCPU fault back what it uses.
const minTableReuse = 4096

// SetTableFlush gives the Phys a way to make the hypervisor forget every
// shadow of a guest page table (hv.ShadowFlusher). Without one, a frame
// that once held a page table never holds one again, and a sandbox that
// makes processes without end (each with tables of its own) takes new
// memory for every one of them until the reservation is used up.
func (p *Phys) SetTableFlush(flush func() error) {
	p.mu.Lock()
	p.flushTables = flush
	p.mu.Unlock()
}

// reuseTablesLocked has the hypervisor forget its shadows, after which the
// free frames that held page tables are like any other: it moves them to
// the free list and reports whether it could.
func (p *Phys) reuseTablesLocked() bool {
	if p.flushTables == nil || p.flushTables() != nil {
		return false
	}
	p.flushes++
	for _, pa := range p.freeData {
		p.ptFrame[pa>>pageShift] = false
	}
	p.free4k = append(p.free4k, p.freeData...)
	p.freeData = p.freeData[:0]
	return true
}

// AllocHuge returns a zeroed, 2 MiB-aligned 2 MiB frame; each of its 4 KiB
// frames has one reference.
func (p *Phys) AllocHuge() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.overLocked(HugeSize) {
		return 0, ErrNoMemory
	}
	var pa uint64
	if n := len(p.free2m); n > 0 {
		pa = p.free2m[n-1]
		p.free2m = p.free2m[:n-1]
	} else {
		var err error
		if pa, err = p.bump2m(); err != nil {
			return 0, err
		}
	}
	for i := uint64(0); i < HugeSize; i += PageSize {
		p.refs[(pa+i)>>pageShift] = 1
	}
	p.inUse += HugeSize
	return pa, nil
}

// ReadOnly reports whether the frame at pa must never be written in place,
// whoever holds it: a file's page (AllocFile) or a cached copy of one
// (AllocSegment). Copy-on-write copies it even for its only holder.
func (p *Phys) ReadOnly(pa uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fileMap[pa>>pageShift] || p.inRun[pa>>pageShift]
}

// Ref adds a reference to the 4 KiB frame at pa.
func (p *Phys) Ref(pa uint64) {
	p.mu.Lock()
	p.refs[pa>>pageShift]++
	p.mu.Unlock()
}

// Refs is the reference count of the frame at pa.
func (p *Phys) Refs(pa uint64) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refs[pa>>pageShift]
}

// Unref drops a reference to the 4 KiB frame at pa and frees it at zero.
func (p *Phys) Unref(pa uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unref(pa)
}

// UnrefAll is Unref of each frame listed (repeats allowed), under one
// hold of the lock.
func (p *Phys) UnrefAll(frames []uint64) {
	if len(frames) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pa := range frames {
		p.unref(pa)
	}
}

func (p *Phys) unref(pa uint64) {
	i := pa >> pageShift
	if p.refs[i] == 0 {
		panic(fmt.Sprintf("mm: double free of frame %#x", pa))
	}
	p.refs[i]--
	if p.refs[i] > 0 {
		return
	}
	p.inUse -= PageSize
	if p.inRun[i] {
		r := p.runAt(pa)
		p.idleLocked(r, PageSize)
		return
	}
	if p.fileMap[i] {
		if p.batch > 0 {
			p.unmapped = append(p.unmapped, pa)
			return
		}
		p.fileMap[i] = false
		remapAnon(p.mem[pa : pa+PageSize])
		p.addFileFree(pa, PageSize)
		return
	}
	p.dirty[i] = true
	p.dirtyBytes += PageSize
	p.free(pa)
	if p.dirtyBytes > maxDirty {
		p.cleanLocked()
	}
}

// free puts a frame no one holds on its free list.
func (p *Phys) free(pa uint64) {
	if p.ptFrame[pa>>pageShift] {
		p.freeData = append(p.freeData, pa)
	} else {
		p.free4k = append(p.free4k, pa)
	}
}

// cleanLocked gives every dirty free frame back to the host, in runs.
func (p *Phys) cleanLocked() {
	var list []uint64
	for _, l := range [][]uint64{p.free4k, p.freeData} {
		for _, pa := range l {
			if p.dirty[pa>>pageShift] {
				p.dirty[pa>>pageShift] = false
				list = append(list, pa)
			}
		}
	}
	p.dirtyBytes = 0
	forRuns(list, func(pa, n uint64) { discard(p.mem[pa : pa+n]) })
}

// forRuns sorts frames and calls fn once per run of adjacent ones.
func forRuns(frames []uint64, fn func(pa, n uint64)) {
	slices.Sort(frames)
	for i := 0; i < len(frames); {
		j := i + 1
		for j < len(frames) && frames[j] == frames[j-1]+PageSize {
			j++
		}
		fn(frames[i], uint64(j-i)*PageSize)
		i = j
	}
}

// Batch defers the host work of freeing frames (remapping a file's frames)
// until the function it returns is called, to do it in runs: for the end
// of an address space, which frees them by the thousand.
func (p *Phys) Batch() (end func()) {
	p.mu.Lock()
	p.batch++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.batch--; p.batch > 0 || len(p.unmapped) == 0 {
			return
		}
		forRuns(p.unmapped, func(pa, n uint64) {
			remapAnon(p.mem[pa : pa+n])
			p.addFileFree(pa, n)
		})
		for _, pa := range p.unmapped {
			p.fileMap[pa>>pageShift] = false
		}
		p.unmapped = p.unmapped[:0]
	}
}

// UnrefHuge drops a reference to each 4 KiB frame of the 2 MiB frame at pa;
// when all reach zero together the frame is kept whole for reuse.
func (p *Phys) UnrefHuge(pa uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	whole := true
	for i := uint64(0); i < HugeSize; i += PageSize {
		if p.refs[(pa+i)>>pageShift] != 1 {
			whole = false
			break
		}
	}
	if !whole {
		for i := uint64(0); i < HugeSize; i += PageSize {
			p.unref(pa + i)
		}
		return
	}
	for i := uint64(0); i < HugeSize; i += PageSize {
		p.refs[(pa+i)>>pageShift] = 0
	}
	discard(p.mem[pa : pa+HugeSize])
	p.inUse -= HugeSize
	p.free2m = append(p.free2m, pa)
}

// AllocFile returns n contiguous 4 KiB frames, each with one reference
// more, whose host memory is the shared mapping of fd at off: the guest then
// reads and writes the file's own pages, as other processes see them. A
// read-only range of a regular file mapped before is the same frames again
// (runs).
func (p *Phys) AllocFile(n uint64, fd int, off int64, write bool) (uint64, error) {
	st, regular := regularFile(fd)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocFileLocked(n, fd, off, write, st, regular)
}

func (p *Phys) allocFileLocked(n uint64, fd int, off int64, write bool, st fileStat, regular bool) (uint64, error) {
	key := fileRange{dev: st.dev, ino: st.ino, off: off, n: n}
	keyed := regular && !write
	if r := p.runs[key]; keyed && r != nil {
		return p.takeRunLocked(r)
	}
	size := n * PageSize
	pa, err := p.takeRangeLocked(size)
	if err != nil {
		return 0, err
	}
	prot := unix.PROT_READ
	if write {
		prot |= unix.PROT_WRITE
	}
	if _, err := unix.MmapPtr(fd, off, unsafe.Pointer(&p.mem[pa]), uintptr(size), prot, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		p.addFileFree(pa, size)
		return 0, fmt.Errorf("mm: map file into guest RAM: %w", err)
	}
	for f := pa; f < pa+size; f += PageSize {
		p.fileMap[f>>pageShift] = true
	}
	p.handOutLocked(pa, size)
	if keyed {
		p.addRunLocked(key, pa, n)
	}
	return pa, nil
}

// AllocSegment is AllocFile for a read-only segment of a program or library
// (code or constants), which is mapped again and again (each exec): from
// the second time on the frames hold a copy of the file's bytes (zeros past
// its end) in ordinary memory instead of the file's own pages. The same
// range of the same, unchanged file (by size, modification and change
// times) is then the same frames again, a copy run shared as a page
// cache's pages are, whose frames are never written (ReadOnly): the guest
// maps them read-only and copies on write.
//
// A copy sees nothing of later writes to the file, so it is for mappings
// whose file is not written while mapped. It exists for the hypervisor's
// sake: one that fills its translations from the host's mapping of guest
// RAM (KVM) takes a slow path for memory the host maps read-only, as a
// shared file mapping of a read-only file is, and never fills in the
// neighbours of a faulting page from it (nor, as KVM gives up at the first
// such page of the group of eight it fills, of a faulting page next to it);
// for ordinary memory it does both, which spares a shadow MMU most of the
// faults on a program's code and constants (forkexec 47 -> 35 per cycle).
// The first mapping is left to the file: a program run once touches a
// small part of its code, which costs less to fault in than to copy whole.
func (p *Phys) AllocSegment(n uint64, fd int, off int64) (uint64, error) {
	st, regular := regularFile(fd)
	p.mu.Lock()
	defer p.mu.Unlock()
	key := fileRange{dev: st.dev, ino: st.ino, off: off, n: n, copy: true, size: st.size, mtime: st.mtime, ctime: st.ctime}
	if r := p.runs[key]; regular && r != nil {
		return p.takeRunLocked(r)
	}
	if !regular || p.runs[fileRange{dev: st.dev, ino: st.ino, off: off, n: n}] == nil {
		return p.allocFileLocked(n, fd, off, false, st, regular)
	}
	size := n * PageSize
	pa, err := p.takeRangeLocked(size)
	if err != nil {
		return 0, err
	}
	// The frames are no one's until handed out: the copy, megabytes for
	// a large program, is made without the lock.
	p.mu.Unlock()
	err = readFull(fd, p.mem[pa:pa+size], off)
	p.mu.Lock()
	if r := p.runs[key]; err != nil || r != nil {
		// Failed, or another thread made the same copy meanwhile.
		clear(p.mem[pa : pa+size])
		p.addFileFree(pa, size)
		if err != nil {
			return 0, fmt.Errorf("mm: copy file into guest RAM: %w", err)
		}
		return p.takeRunLocked(r)
	}
	p.handOutLocked(pa, size)
	p.addRunLocked(key, pa, n)
	return pa, nil
}

// readFull fills b from fd at off, zeros past the end of the file.
func readFull(fd int, b []byte, off int64) error {
	for done := 0; done < len(b); {
		k, err := unix.Pread(fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			clear(b[done:])
			break
		}
		done += k
	}
	return nil
}

// takeRangeLocked finds size bytes of contiguous free frames for a run:
// former file frames first, else fresh memory in whole 2 MiB chunks, whose
// rest goes to the free list; idle runs go when the reservation is used up.
func (p *Phys) takeRangeLocked(size uint64) (uint64, error) {
	if p.overLocked(size) {
		return 0, ErrNoMemory
	}
	pa, ok := p.takeFileFree(size)
	chunks := (size + HugeSize - 1) / HugeSize
	if !ok && p.bump+chunks*HugeSize > uint64(len(p.mem)) && p.evictRunsLocked(0) {
		pa, ok = p.takeFileFree(size)
	}
	if ok {
		return pa, nil
	}
	if p.bump+chunks*HugeSize > uint64(len(p.mem)) {
		return 0, ErrNoMemory
	}
	pa = p.bump
	if err := p.ensureSlots(pa + chunks*HugeSize); err != nil {
		return 0, err
	}
	p.bump += chunks * HugeSize
	for f := pa + size; f < pa+chunks*HugeSize; f += PageSize {
		p.free4k = append(p.free4k, f)
	}
	return pa, nil
}

// handOutLocked gives each frame of [pa, pa+size) its first reference.
func (p *Phys) handOutLocked(pa, size uint64) {
	for f := pa; f < pa+size; f += PageSize {
		p.refs[f>>pageShift] = 1
	}
	p.inUse += size
}

// addRunLocked caches the n frames from pa as the run of key.
func (p *Phys) addRunLocked(key fileRange, pa, n uint64) {
	r := &fileRun{key: key, pa: pa, n: n}
	p.runTick++
	r.used = p.runTick
	p.runs[key] = r
	i, _ := slices.BinarySearchFunc(p.byPA, pa, runCmp)
	p.byPA = slices.Insert(p.byPA, i, r)
	for f := pa; f < pa+n*PageSize; f += PageSize {
		p.inRun[f>>pageShift] = true
	}
}

func runCmp(r *fileRun, pa uint64) int { return cmp.Compare(r.pa, pa) }

// runAt returns the run that holds the frame at pa (inRun says it has one).
func (p *Phys) runAt(pa uint64) *fileRun {
	if r := p.lastRun; r != nil && pa >= r.pa && pa < r.pa+r.n*PageSize {
		return r
	}
	i, found := slices.BinarySearchFunc(p.byPA, pa, runCmp)
	if !found {
		i-- // the run starting below pa
	}
	r := p.byPA[i]
	p.lastRun = r
	return r
}

// fileRange names a read-only file mapping AllocFile made, or a copy
// AllocSegment made: the file, and the offset and number of pages; a copy
// also names the file's version it holds.
type fileRange struct {
	dev, ino uint64
	off      int64
	n        uint64
	copy     bool
	// A copy's version of the file: its size, modification and change
	// times (ns).
	size, mtime, ctime int64
}

// fileRun is the frames of a fileRange: n from pa, idle of them free.
type fileRun struct {
	key   fileRange
	pa, n uint64
	idle  uint64
	used  uint64 // runTick when last taken
}

// maxIdleRuns bounds the bytes of file frames kept for reuse while free.
const maxIdleRuns = 128 << 20

// takeRunLocked hands out a run's frames again: a reference more on each,
// which the page cache's sharing of a file's pages makes safe whether or
// not another mapping holds them.
func (p *Phys) takeRunLocked(r *fileRun) (uint64, error) {
	if p.overLocked(r.idle * PageSize) {
		return 0, ErrNoMemory
	}
	for f := r.pa; f < r.pa+r.n*PageSize; f += PageSize {
		if p.refs[f>>pageShift]++; p.refs[f>>pageShift] == 1 {
			p.inUse += PageSize
		}
	}
	p.idleBytes -= r.idle * PageSize
	r.idle = 0
	p.runTick++
	r.used = p.runTick
	return r.pa, nil
}

// idleLocked counts n bytes of a run's frames free, and gives the oldest
// idle runs back when too many are kept.
func (p *Phys) idleLocked(r *fileRun, n uint64) {
	r.idle += n / PageSize
	p.idleBytes += n
	if p.idleBytes > maxIdleRuns {
		p.evictRunsLocked(maxIdleRuns / 2)
	}
}

// evictRunsLocked gives wholly idle runs back, the least recently taken
// first, until at most keep bytes of idle frames are left: their frames
// get anonymous memory back and go to the free runs of former file
// frames; a copy's are free frames like any other. It reports whether it
// freed any. Runs partly in use stay.
func (p *Phys) evictRunsLocked(keep uint64) bool {
	freed := false
	for p.idleBytes > keep {
		var oldest *fileRun
		for _, r := range p.runs {
			if r.idle == r.n && (oldest == nil || r.used < oldest.used) {
				oldest = r
			}
		}
		if oldest == nil {
			break
		}
		p.dropRunLocked(oldest)
		size := oldest.n * PageSize
		if oldest.key.copy {
			for f := oldest.pa; f < oldest.pa+size; f += PageSize {
				p.dirty[f>>pageShift] = true
				p.free(f)
			}
			p.dirtyBytes += size
		} else {
			remapAnon(p.mem[oldest.pa : oldest.pa+size])
			for f := oldest.pa; f < oldest.pa+size; f += PageSize {
				p.fileMap[f>>pageShift] = false
			}
			p.addFileFree(oldest.pa, size)
		}
		freed = true
	}
	return freed
}

// dropRunLocked takes a run out of the cache; its idle frames stop
// counting as idle.
func (p *Phys) dropRunLocked(r *fileRun) {
	delete(p.runs, r.key)
	if i, found := slices.BinarySearchFunc(p.byPA, r.pa, runCmp); found {
		p.byPA = slices.Delete(p.byPA, i, i+1)
	}
	if p.lastRun == r {
		p.lastRun = nil
	}
	for f := r.pa; f < r.pa+r.n*PageSize; f += PageSize {
		p.inRun[f>>pageShift] = false
	}
	p.idleBytes -= r.idle * PageSize
}

// span is a run of n bytes of frames from pa.
type span struct{ pa, n uint64 }

// addFileFree returns the run [pa, pa+n) of former file frames, merging
// it with its neighbours.
func (p *Phys) addFileFree(pa, n uint64) {
	i, _ := slices.BinarySearchFunc(p.fileFree, pa, func(s span, pa uint64) int { return cmp.Compare(s.pa, pa) })
	if i > 0 && p.fileFree[i-1].pa+p.fileFree[i-1].n == pa {
		p.fileFree[i-1].n += n
		if i < len(p.fileFree) && pa+n == p.fileFree[i].pa {
			p.fileFree[i-1].n += p.fileFree[i].n
			p.fileFree = slices.Delete(p.fileFree, i, i+1)
		}
		return
	}
	if i < len(p.fileFree) && pa+n == p.fileFree[i].pa {
		p.fileFree[i].pa, p.fileFree[i].n = pa, p.fileFree[i].n+n
		return
	}
	p.fileFree = slices.Insert(p.fileFree, i, span{pa, n})
}

// takeFileFree takes size bytes of contiguous former file frames, the
// first run that is long enough.
func (p *Phys) takeFileFree(size uint64) (uint64, bool) {
	for i := range p.fileFree {
		s := &p.fileFree[i]
		if s.n < size {
			continue
		}
		pa := s.pa
		s.pa, s.n = s.pa+size, s.n-size
		if s.n == 0 {
			p.fileFree = slices.Delete(p.fileFree, i, i+1)
		}
		return pa, true
	}
	return 0, false
}
