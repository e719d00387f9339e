package mm

import "fmt"

// Every exported method of AddressSpace takes the address space's lock:
// the threads of a process use one address space from several vCPUs.

// unlock releases the address space's lock once the translations the
// operation took away in place are gone from every vCPU.
func (as *AddressSpace) unlock() {
	as.pt.invalidateStale()
	as.mu.Unlock()
}

// Read is readL under the address space lock.
func (as *AddressSpace) Read(va uint64, buf []byte) error {
	as.mu.Lock()
	defer as.unlock()
	return as.readL(va, buf)
}

// Write is writeL under the address space lock.
func (as *AddressSpace) Write(va uint64, buf []byte) error {
	as.mu.Lock()
	defer as.unlock()
	return as.writeL(va, buf)
}

// Zero is zeroL under the address space lock.
func (as *AddressSpace) Zero(va, n uint64) error {
	as.mu.Lock()
	defer as.unlock()
	return as.zeroL(va, n)
}

// Slices is slicesL under the address space lock.
func (as *AddressSpace) Slices(va, n uint64, write bool, out [][]byte) ([][]byte, error) {
	as.mu.Lock()
	defer as.unlock()
	return as.slicesL(va, n, write, out)
}

// ReadString is readStringL under the address space lock.
func (as *AddressSpace) ReadString(va uint64, max int) (string, error) {
	as.mu.Lock()
	defer as.unlock()
	return as.readStringL(va, max)
}

// ReadU64 is readU64L under the address space lock.
func (as *AddressSpace) ReadU64(va uint64) (uint64, error) {
	as.mu.Lock()
	defer as.unlock()
	return as.readU64L(va)
}

// WriteU64 is writeU64L under the address space lock.
func (as *AddressSpace) WriteU64(va, v uint64) error {
	as.mu.Lock()
	defer as.unlock()
	return as.writeU64L(va, v)
}

// Poke is pokeL under the address space lock.
func (as *AddressSpace) Poke(va uint64, buf []byte) error {
	as.mu.Lock()
	defer as.unlock()
	return as.pokeL(va, buf)
}

// WriteU32 is writeU32L under the address space lock.
func (as *AddressSpace) WriteU32(va uint64, v uint32) error {
	as.mu.Lock()
	defer as.unlock()
	return as.writeU32L(va, v)
}

// Commit is commitL under the address space lock.
func (as *AddressSpace) Commit() (root uint64, changed bool) {
	as.mu.Lock()
	defer as.unlock()
	return as.commitL()
}

// Root is rootL under the address space lock.
func (as *AddressSpace) Root() uint64 {
	as.mu.Lock()
	defer as.unlock()
	return as.rootL()
}

// Share takes one more reference to the address space for a process that
// runs on it too (a CLONE_VM child: vfork, posix_spawn); each reference is
// given back with Release.
func (as *AddressSpace) Share() *AddressSpace {
	as.mu.Lock()
	defer as.unlock()
	if as.users <= 0 {
		panic("mm: Share of a released address space")
	}
	as.users++
	return as
}

// Release drops a reference to the address space; the last one frees
// every mapping and page table (releaseL). A vfork child may outlive the
// process that made it, or that process may exec, while the child still
// runs on these tables.
func (as *AddressSpace) Release() {
	as.mu.Lock()
	defer as.unlock()
	if as.users--; as.users > 0 {
		return
	}
	if as.users < 0 {
		panic("mm: address space released twice")
	}
	as.releaseL()
}

// VMAs is vMAsL under the address space lock.
func (as *AddressSpace) VMAs() []*VMA {
	as.mu.Lock()
	defer as.unlock()
	return as.vMAsL()
}

// Find is findL under the address space lock.
func (as *AddressSpace) Find(va uint64) *VMA {
	as.mu.Lock()
	defer as.unlock()
	return as.findL(va)
}

// FreeRange is freeRangeL under the address space lock.
func (as *AddressSpace) FreeRange(hint, length uint64) (uint64, bool) {
	as.mu.Lock()
	defer as.unlock()
	return as.freeRangeL(hint, length)
}

// Map is mapL under the address space lock.
func (as *AddressSpace) Map(v VMA) error {
	as.mu.Lock()
	defer as.unlock()
	return as.mapL(v)
}

// Unmap is unmapL under the address space lock.
func (as *AddressSpace) Unmap(start, end uint64) {
	as.mu.Lock()
	defer as.unlock()
	as.unmapL(start, end)
}

// Protect is protectL under the address space lock.
func (as *AddressSpace) Protect(start, end uint64, prot Prot) error {
	as.mu.Lock()
	defer as.unlock()
	return as.protectL(start, end, prot)
}

// Covered is coveredL under the address space lock.
func (as *AddressSpace) Covered(start, end uint64) bool {
	as.mu.Lock()
	defer as.unlock()
	return as.coveredL(start, end)
}

// Resident is residentL under the address space lock.
func (as *AddressSpace) Resident(va uint64) bool {
	as.mu.Lock()
	defer as.unlock()
	return as.residentL(va)
}

// Mapped is mappedL under the address space lock.
func (as *AddressSpace) Mapped() uint64 {
	as.mu.Lock()
	defer as.unlock()
	return as.mappedL()
}

// Fault resolves a page fault the guest took at va (it retries the access
// at once); false means the access is not allowed.
func (as *AddressSpace) Fault(va uint64, write, exec bool) bool {
	as.mu.Lock()
	defer as.unlock()
	return as.fault(va, write, exec)
}

// Discard is discardL under the address space lock.
func (as *AddressSpace) Discard(start, end uint64) error {
	as.mu.Lock()
	defer as.unlock()
	return as.discardL(start, end)
}

// MapFrame is mapFrameL under the address space lock.
func (as *AddressSpace) MapFrame(va, pa uint64, prot Prot, name string) error {
	as.mu.Lock()
	defer as.unlock()
	return as.mapFrameL(va, pa, prot, name)
}

// Fork is forkL under the address space lock.
func (as *AddressSpace) Fork(hot ...uint64) (*AddressSpace, error) {
	as.mu.Lock()
	defer as.unlock()
	return as.forkL(hot)
}

// SetBrk is setBrkL under the address space lock.
func (as *AddressSpace) SetBrk(newBrk uint64) uint64 {
	as.mu.Lock()
	defer as.unlock()
	return as.setBrkL(newBrk)
}

// Remap is remapL under the address space lock.
func (as *AddressSpace) Remap(old, oldLen, newLen uint64, mayMove, fixed bool, dst uint64) (uint64, error) {
	as.mu.Lock()
	defer as.unlock()
	return as.remapL(old, oldLen, newLen, mayMove, fixed, dst)
}

// Pending reports whether Commit has work: replaced page tables to free,
// or new tables to mark as seen (after which they are no longer edited in
// place).
func (as *AddressSpace) Pending() bool {
	as.mu.Lock()
	defer as.unlock()
	return as.pt.pending()
}

// CommitIf frees replaced page tables if root is still the current root
// (every thread has moved to it); it reports whether it did.
func (as *AddressSpace) CommitIf(root uint64) bool {
	as.mu.Lock()
	defer as.unlock()
	if as.pt.root != root {
		return false
	}
	as.pt.commit()
	return true
}

// Prefault gives the pages of [start, end) that have none their frames
// now, as a mapping that is not lazy gets them; the range must lie in one
// mapping.
func (as *AddressSpace) Prefault(start, end uint64) error {
	as.mu.Lock()
	defer as.unlock()
	v := as.findL(start)
	if v == nil || end > v.End || start%PageSize != 0 || end%PageSize != 0 {
		return fmt.Errorf("mm: prefault %#x-%#x: %w", start, end, ErrFault)
	}
	flags := leafFlags(v.Prot)
	for va := start; va < end; va += PageSize {
		if e, _ := as.pt.lookup(va); present(e) || e&addrMask != 0 {
			continue
		}
		if _, err := as.fillPage(v, va, flags); err != nil {
			return err
		}
	}
	return nil
}
