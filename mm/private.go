package mm

import (
	"errors"
	"fmt"

	"github.com/elfuse/elfuse/arch/amd64"
)

// An address space's private pages live in the upper half at PML4 slot
// amd64.PrivatePML4, outside the guest's reach for mmap and munmap: the
// syscall layer's per-thread mailboxes. Fork does not copy them.

// ErrNotPatchable reports code the address space cannot patch in place of
// the guest (a shared mapping, a page boundary, no such code).
var ErrNotPatchable = errors.New("mm: code not patchable")

func privateVA(va uint64) bool {
	return amd64.PTEIndex(va, 4) == amd64.PrivatePML4
}

// MapPrivate maps frame pa at va, a page of the private slot, for this
// address space only. The address space takes over the caller's reference
// to the frame; it is released when the page is unmapped or the address
// space goes, once no vCPU can still reach it.
func (as *AddressSpace) MapPrivate(va, pa uint64, write bool) error {
	as.mu.Lock()
	defer as.unlock()
	if !privateVA(va) || va%PageSize != 0 {
		return fmt.Errorf("mm: %#x is not a private page", va)
	}
	if as.released {
		return fmt.Errorf("mm: map private page: address space released")
	}
	f := amd64.PTEPresent | amd64.PTEUser | amd64.PTEAccessed | amd64.PTEDirty | amd64.PTENoExec
	if write {
		f |= amd64.PTEWrite
	}
	if err := as.pt.set(va, 1, pa|f); err != nil {
		return err
	}
	if as.private == nil {
		as.private = map[uint64]uint64{}
	}
	if old, ok := as.private[va]; ok {
		as.pt.dropLater(old)
	}
	as.private[va] = pa
	return nil
}

// releasePrivateL drops the private pages of an address space that goes.
func (as *AddressSpace) releasePrivateL() {
	for va, pa := range as.private {
		as.phys.Unref(pa)
		delete(as.private, va)
	}
}

// Patch writes b over code at va in this address space's own copy of the
// page; other processes that map the same frame (a file's page, a page
// shared with a fork child) keep theirs. With inPlace, a frame only this
// address space holds is written where it is (the caller knows no other
// vCPU runs this address space); otherwise the page gets a new frame, the
// patched copy, and the old one goes once every vCPU has reloaded, so no
// vCPU ever sees the instruction half written. It returns the bytes it
// replaced.
func (as *AddressSpace) Patch(va uint64, b []byte, inPlace bool) ([]byte, error) {
	as.mu.Lock()
	defer as.unlock()
	if len(b) == 0 || va%PageSize+uint64(len(b)) > PageSize {
		return nil, ErrNotPatchable
	}
	v := as.findL(va)
	if v == nil || v.Shared || v.Prot&ProtExec == 0 {
		return nil, ErrNotPatchable
	}
	page := va &^ (PageSize - 1)
	e, l := as.pt.lookup(page)
	if l == 0 {
		if !as.fault(va, false, true) {
			return nil, ErrNotPatchable
		}
		e, l = as.pt.lookup(page)
	}
	if l == 2 {
		if err := as.pt.splitHuge(page); err != nil {
			return nil, err
		}
		e, l = as.pt.lookup(page)
	}
	if l != 1 || !present(e) {
		return nil, ErrNotPatchable
	}
	frame := e & addrMask
	off := va - page
	orig := append([]byte(nil), as.phys.Page(frame)[off:off+uint64(len(b))]...)
	if inPlace && e&amd64.PTECow == 0 && as.phys.Refs(frame) == 1 && !as.phys.ReadOnly(frame) {
		copy(as.phys.Page(frame)[off:], b)
		return orig, nil
	}
	flags := e &^ addrMask
	if e&amd64.PTECow != 0 {
		flags = leafFlags(v.Prot) // this address space's own frame now
	}
	if err := as.copyFrame(page, frame, flags, func(p []byte) { copy(p[off:], b) }); err != nil {
		return nil, err
	}
	return orig, nil
}
