package mm

import (
	"slices"
	"sync"

	"github.com/elfuse/elfuse/arch/amd64"
)

// Fork returns a copy of the address space for a child process. Private
// writable pages become read-only and copy-on-write in both; the first write
// faults and gets its own frame (Fault). Shared mappings stay shared. The
// child gets fresh page tables whose entries reference the same frames.
// No page is copied but the hot ones, which both processes are about to
// write: those the caller names (its stack around the stack pointer, its
// TLS block) and those the processes of this lineage broke the sharing of
// after earlier forks (hotPages). The child gets copies of them at once,
// sparing each process a write fault, and the parent keeps them writable.
// The parent's other entries lose their write right in place when the
// hypervisor follows the host's mappings (the frames they reach are
// invalidated, see pageTables.set); otherwise the parent gets fresh tables
// too and its old ones are retired.
func (as *AddressSpace) forkL(hot []uint64) (*AddressSpace, error) {
	child, err := NewAddressSpace(as.phys, as.kernel)
	if err != nil {
		return nil, err
	}
	child.BrkStart, child.Brk, child.MmapTop = as.BrkStart, as.Brk, as.MmapTop
	if as.hot == nil {
		as.hot = &hotPages{}
	}
	child.hot = as.hot
	hot = append(hot, as.hot.list()...)
	for _, v := range as.vmas {
		nv := *v
		child.vmas = append(child.vmas, &nv)
	}
	inPlace := as.phys.coherent
	old := as.pt.root
	newRoot := old
	if !inPlace {
		if newRoot, err = as.pt.newTable(); err != nil {
			return nil, err
		}
	}
	for i := 0; i < 256; i++ { // the user half
		e := as.pt.entry(old, i)
		if !present(e) {
			continue
		}
		pc, cc, err := as.forkTable(child, e&addrMask, 3, uint64(i)<<39, inPlace, hot)
		if err != nil {
			return nil, err
		}
		as.pt.setEntry(newRoot, i, pc|e&^addrMask)
		child.pt.setEntry(child.pt.root, i, cc|e&^addrMask)
	}
	if inPlace {
		return child, nil
	}
	// The upper half: the shared kernel area, and the private slot, which
	// stays the parent's own (the child starts without private pages).
	for i := 256; i < 512; i++ {
		as.pt.setEntry(newRoot, i, as.pt.entry(old, i))
	}
	as.pt.retired = append(as.pt.retired, old)
	as.pt.root = newRoot
	as.pt.changed = true
	return child, nil
}

// forkTable copies the table at pa (level) into a new table for the child
// and, unless inPlace, one for the parent (inPlace edits the parent's
// table where it is), marking private leaves copy-on-write and taking a
// frame reference for the child's entries.
func (as *AddressSpace) forkTable(child *AddressSpace, pa uint64, level int, base uint64, inPlace bool, hot []uint64) (uint64, uint64, error) {
	pt := pa
	if !inPlace {
		var err error
		if pt, err = as.pt.newTable(); err != nil {
			return 0, 0, err
		}
	}
	ct, err := child.pt.newTable()
	if err != nil {
		return 0, 0, err
	}
	for i := 0; i < 512; i++ {
		e := as.pt.entry(pa, i)
		if e == 0 {
			continue
		}
		va := base | uint64(i)<<(12+9*uint(level-1))
		leaf := level == 1 || e&amd64.PTEHuge != 0
		if !leaf {
			if !present(e) {
				continue
			}
			p, c, err := as.forkTable(child, e&addrMask, level-1, va, inPlace, hot)
			if err != nil {
				return 0, 0, err
			}
			as.pt.setEntry(pt, i, p|e&^addrMask)
			child.pt.setEntry(ct, i, c|e&^addrMask)
			continue
		}
		frame := e & addrMask
		if frame == 0 {
			continue
		}
		v := as.findL(va)
		isHot := level == 1 && v != nil && !v.Shared && slices.Contains(hot, va)
		if isHot && e&amd64.PTECow != 0 && present(e) && v.Prot&ProtWrite != 0 &&
			as.phys.Refs(frame) == 1 && !as.phys.ReadOnly(frame) {
			// A hot page the parent alone holds but has not written
			// since the last fork: its own again (more rights: in place).
			e = frame | leafFlags(v.Prot)
			as.pt.setEntry(pt, i, e)
		}
		if isHot && present(e) && e&amd64.PTEWrite != 0 {
			n, err := as.phys.Alloc(false)
			if err != nil {
				return 0, 0, err
			}
			copy(as.phys.Page(n), as.phys.Page(frame))
			as.pt.setEntry(pt, i, e)
			child.pt.setEntry(ct, i, n|e&^addrMask)
			continue
		}
		// Every private page is copy-on-write, read-only ones too: an
		// mprotect to writable later must not write the other's frame.
		if v != nil && !v.Shared {
			if inPlace && present(e) && e&amd64.PTEWrite != 0 && !as.pt.fresh[pa] {
				as.pt.stale = append(as.pt.stale, staleEntry{va: va, frame: frame, huge: level == 2})
			}
			e = e&^amd64.PTEWrite | amd64.PTECow
		}
		if level == 2 {
			for f := frame; f < frame+HugeSize; f += PageSize {
				as.phys.Ref(f)
			}
		} else {
			as.phys.Ref(frame)
		}
		as.pt.setEntry(pt, i, e)
		child.pt.setEntry(ct, i, e)
	}
	if !inPlace {
		as.pt.retired = append(as.pt.retired, pa)
	}
	return pt, ct, nil
}

// breakCOW gives va (a copy-on-write page the guest may write) its own
// frame, or takes the frame over when no one else holds it and it is not
// a read-only frame (Phys.ReadOnly).
func (as *AddressSpace) breakCOW(va uint64, v *VMA) bool {
	page := va &^ (PageSize - 1)
	e, l := as.pt.lookup(page)
	if l == 2 {
		if as.pt.splitHuge(page) != nil {
			return false
		}
		e, l = as.pt.lookup(page)
	}
	frame := e & addrMask
	flags := leafFlags(v.Prot)
	if !present(e) && frame == 0 {
		return false
	}
	if as.phys.Refs(frame) == 1 && !as.phys.ReadOnly(frame) {
		return as.pt.set(page, 1, frame|flags) == nil
	}
	if as.hot != nil && !as.phys.ReadOnly(frame) {
		as.hot.add(page)
	}
	return as.copyFrame(page, frame, flags, nil) == nil
}

// hotPages is a bounded set of pages, the most recently added kept: the
// pages whose copy-on-write sharing a family of forked processes broke.
type hotPages struct {
	mu    sync.Mutex
	pages []uint64
}

// maxHotPages bounds the pages Fork copies at once.
const maxHotPages = 16

func (h *hotPages) add(va uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := slices.Index(h.pages, va); i >= 0 {
		h.pages = slices.Delete(h.pages, i, i+1)
	} else if len(h.pages) == maxHotPages {
		h.pages = h.pages[1:]
	}
	h.pages = append(h.pages, va)
}

func (h *hotPages) list() []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.pages)
}

// copyFrame gives page a new frame holding a copy of frame (edited by
// edit, when set) with entry flags flags. Another vCPU of the process
// (and, under shadow paging, this one) may still hold the translation of
// the old frame and would go on reading it after the write went to the new
// one: set takes it away (the old frame invalidated, or the table path
// replaced), and the old frame goes once every vCPU has reloaded.
func (as *AddressSpace) copyFrame(page, frame, flags uint64, edit func(p []byte)) error {
	n, err := as.phys.Alloc(false)
	if err != nil {
		return err
	}
	copy(as.phys.Page(n), as.phys.Page(frame))
	if edit != nil {
		edit(as.phys.Page(n))
	}
	if err := as.pt.set(page, 1, n|flags); err != nil {
		as.phys.Unref(n)
		return err
	}
	as.pt.dropLater(frame)
	return nil
}
