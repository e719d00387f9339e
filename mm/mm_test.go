package mm

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func newAS(t *testing.T) (*Phys, *AddressSpace) {
	t.Helper()
	return newASMode(t, false)
}

// newASMode makes an address space whose Phys is coherent (translations
// taken away in place, old frames invalidated) or not (tables replaced).
func newASMode(t *testing.T, coherent bool) (*Phys, *AddressSpace) {
	t.Helper()
	p, err := NewPhys(1<<30, 256<<20, func(uint64, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetCoherent(coherent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	k, err := NewKernel(p)
	if err != nil {
		t.Fatal(err)
	}
	as, err := NewAddressSpace(p, k)
	if err != nil {
		t.Fatal(err)
	}
	return p, as
}

const rw = ProtRead | ProtWrite

func TestMapReadWriteUnmap(t *testing.T) {
	p, as := newAS(t)
	base := p.InUse()
	if err := as.Map(VMA{Start: 0x400000, End: 0x400000 + 3*HugeSize + PageSize, Prot: rw}); err != nil {
		t.Fatal(err)
	}
	msg := []byte("across a page boundary")
	if err := as.Write(0x400000+PageSize-5, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if err := as.Read(0x400000+PageSize-5, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %q, %v", got, err)
	}
	as.Unmap(0x400000, 0x400000+3*HugeSize+PageSize)
	if err := as.Read(0x400000, got); !errors.Is(err, ErrFault) {
		t.Fatalf("read after unmap: %v, want ErrFault", err)
	}
	as.Commit()
	if p.InUse() > base+8*PageSize { // page tables may stay
		t.Fatalf("frames leaked: in use %d, was %d", p.InUse(), base)
	}
}

func TestProtectionIsEnforced(t *testing.T) {
	_, as := newAS(t)
	as.Map(VMA{Start: 0x10000, End: 0x12000, Prot: ProtRead})
	if err := as.Write(0x10000, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatalf("write to read-only page: %v", err)
	}
	if err := as.Protect(0x10000, 0x12000, rw); err != nil {
		t.Fatal(err)
	}
	if err := as.Write(0x10000, []byte{1}); err != nil {
		t.Fatalf("write after mprotect RW: %v", err)
	}
	if err := as.Protect(0x10000, 0x12000, 0); err != nil {
		t.Fatal(err)
	}
	if err := as.Read(0x10000, make([]byte, 1)); !errors.Is(err, ErrFault) {
		t.Fatalf("read of PROT_NONE page: %v", err)
	}
	as.Protect(0x10000, 0x12000, ProtRead)
	b := make([]byte, 1)
	if err := as.Read(0x10000, b); err != nil || b[0] != 1 {
		t.Fatalf("contents lost across PROT_NONE: %v %v", b, err)
	}
	if len(as.VMAs()) != 1 {
		t.Fatalf("VMAs not merged back: %d", len(as.VMAs()))
	}
}

// A change that removes a translation must move the address space to a new
// page-table root (stale shadow entries of edited tables are never used);
// adding entries must not.
func TestRestrictiveChangesSwitchRoot(t *testing.T) {
	_, as := newAS(t)
	as.Map(VMA{Start: 0x10000, End: 0x20000, Prot: rw})
	root, _ := as.Commit()
	as.Map(VMA{Start: 0x30000, End: 0x40000, Prot: rw})
	if r, changed := as.Commit(); changed || r != root {
		t.Fatal("adding a mapping replaced the root")
	}
	as.Protect(0x10000, 0x20000, ProtRead|ProtWrite|ProtExec)
	if _, changed := as.Commit(); changed {
		t.Fatal("widening rights replaced the root")
	}
	as.Unmap(0x10000, 0x11000)
	r2, changed := as.Commit()
	if !changed || r2 == root {
		t.Fatal("unmapping kept the old root")
	}
	as.Protect(0x12000, 0x13000, ProtRead)
	if _, changed := as.Commit(); !changed {
		t.Fatal("narrowing rights kept the old root")
	}
	if err := as.Write(0x12000, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatal("write to narrowed page allowed")
	}
	if err := as.Write(0x13000, []byte{1}); err != nil {
		t.Fatalf("neighbour lost: %v", err)
	}
}

// With a coherent Phys the same changes keep the root and invalidate the
// frames whose translations they took away.
func TestRestrictiveChangesInPlace(t *testing.T) {
	p, as := newASMode(t, true)
	var invalidated []uint64
	p.invalidated = func(f []uint64) { invalidated = append(invalidated, f...) }
	as.Map(VMA{Start: 0x10000, End: 0x20000, Prot: rw})
	root, _ := as.Commit()
	frame := func(va uint64) uint64 {
		e, _ := as.pt.lookup(va)
		return e & addrMask
	}
	f0, f2 := frame(0x10000), frame(0x12000)
	as.Unmap(0x10000, 0x11000)
	as.Protect(0x12000, 0x13000, ProtRead)
	if r, changed := as.Commit(); changed || r != root {
		t.Fatal("a change in place replaced the root")
	}
	if !slices.Contains(invalidated, f0) || !slices.Contains(invalidated, f2) {
		t.Fatalf("invalidated %#x, want %#x and %#x", invalidated, f0, f2)
	}
	if err := as.Write(0x12000, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatal("write to narrowed page allowed")
	}
	if err := as.Write(0x10000, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatal("write to unmapped page allowed")
	}
	if err := as.Write(0x13000, []byte{1}); err != nil {
		t.Fatalf("neighbour lost: %v", err)
	}
	if len(as.pt.stale) != 0 {
		t.Fatal("changes left to invalidate after the lock was released")
	}
}

func TestRemapMovesContents(t *testing.T) {
	_, as := newAS(t)
	as.Map(VMA{Start: 0x100000, End: 0x104000, Prot: rw})
	as.Map(VMA{Start: 0x104000, End: 0x105000, Prot: ProtRead}) // blocks growth in place
	as.Write(0x100000, []byte("hello"))
	as.Write(0x103ff0, []byte("tail"))
	na, err := as.Remap(0x100000, 0x4000, 0x400000, true, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if na == 0x100000 {
		t.Fatal("grew in place over a neighbour")
	}
	b := make([]byte, 5)
	as.Read(na, b)
	t4 := make([]byte, 4)
	as.Read(na+0x3ff0, t4)
	if string(b) != "hello" || string(t4) != "tail" {
		t.Fatalf("moved contents %q %q", b, t4)
	}
	z := make([]byte, 8)
	if err := as.Read(na+0x300000, z); err != nil || !bytes.Equal(z, make([]byte, 8)) {
		t.Fatalf("grown part: %v %v", z, err)
	}
	if as.Find(0x100000) != nil {
		t.Fatal("old range still mapped")
	}
}

func TestBrk(t *testing.T) {
	_, as := newAS(t)
	as.BrkStart, as.Brk = 0x600000, 0x600000
	if got := as.SetBrk(0x600000 + 3*PageSize + 1); got != 0x600000+3*PageSize+1 {
		t.Fatalf("brk grow: %#x", got)
	}
	if err := as.Write(0x600000+3*PageSize, []byte{1}); err != nil {
		t.Fatal(err)
	}
	as.SetBrk(0x600000 + PageSize)
	if err := as.Write(0x600000+2*PageSize, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatal("shrunk heap still writable")
	}
	if got := as.SetBrk(0x500000); got != 0x600000+PageSize {
		t.Fatalf("brk below start moved the break: %#x", got)
	}
}

func TestDiscardZeroes(t *testing.T) {
	_, as := newAS(t)
	as.Map(VMA{Start: 0x200000, End: 0x200000 + 2*HugeSize, Prot: rw})
	as.Write(0x200000+HugeSize, []byte{7})
	if err := as.Discard(0x200000, 0x200000+2*HugeSize); err != nil {
		t.Fatal(err)
	}
	b := []byte{9}
	as.Read(0x200000+HugeSize, b)
	if b[0] != 0 {
		t.Fatal("MADV_DONTNEED kept contents")
	}
}

func TestFreeRangeTopDown(t *testing.T) {
	_, as := newAS(t)
	a, ok := as.FreeRange(0, 1<<20)
	if !ok || a+1<<20 > as.MmapTop {
		t.Fatalf("first range %#x", a)
	}
	as.Map(VMA{Start: a, End: a + 1<<20, Prot: rw})
	b, _ := as.FreeRange(0, 1<<20)
	if b+1<<20 > a {
		t.Fatalf("second range %#x overlaps first %#x", b, a)
	}
	if h, _ := as.FreeRange(0x1000000, PageSize); h != 0x1000000 {
		t.Fatalf("free hint not honoured: %#x", h)
	}
}

func TestBadAddresses(t *testing.T) {
	_, as := newAS(t)
	for _, va := range []uint64{0, 0x1000, UserLimit, 1 << 63} {
		if err := as.Read(va, make([]byte, 1)); !errors.Is(err, ErrFault) {
			t.Errorf("read %#x: %v", va, err)
		}
	}
	if _, err := as.ReadString(0x1000, 10); err == nil {
		t.Error("string from unmapped memory")
	}
}

func TestForkCopyOnWrite(t *testing.T) {
	for _, coherent := range []bool{false, true} {
		t.Run(map[bool]string{false: "tables", true: "in-place"}[coherent], func(t *testing.T) {
			testForkCopyOnWrite(t, coherent)
		})
	}
}

func testForkCopyOnWrite(t *testing.T, coherent bool) {
	p, parent := newASMode(t, coherent)
	var invalidated []uint64
	p.invalidated = func(f []uint64) { invalidated = append(invalidated, f...) }
	parent.Map(VMA{Start: 0x400000, End: 0x400000 + HugeSize + 2*PageSize, Prot: rw})
	parent.Map(VMA{Start: 0x800000, End: 0x801000, Prot: rw, Shared: true})
	parent.Write(0x400000, []byte("parent"))
	parent.Write(0x400000+HugeSize, []byte("small"))
	parent.Write(0x800000, []byte("shared"))
	parent.Commit()
	inUse := p.InUse()
	frame := func(as *AddressSpace, va uint64) uint64 {
		e, _ := as.pt.lookup(va)
		return e & addrMask
	}
	small := frame(parent, 0x400000+HugeSize)
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if _, changed := parent.Commit(); changed != !coherent {
		t.Fatalf("fork replaced the parent's root: %v", changed)
	}
	if coherent && !slices.Contains(invalidated, small) {
		t.Fatalf("fork took the write right away without invalidating frame %#x", small)
	}
	child.Commit()
	if p.InUse()-inUse > 64*PageSize {
		t.Fatalf("fork copied memory: %d bytes more in use", p.InUse()-inUse)
	}
	b := make([]byte, 6)
	child.Read(0x400000, b)
	if string(b) != "parent" {
		t.Fatalf("child sees %q", b)
	}
	if err := child.Write(0x400000, []byte("child!")); err != nil {
		t.Fatal(err)
	}
	child.Write(0x400000+HugeSize, []byte("CHILD"))
	parent.Read(0x400000, b)
	if string(b) != "parent" {
		t.Fatalf("parent sees the child's write: %q", b)
	}
	s := make([]byte, 5)
	parent.Read(0x400000+HugeSize, s)
	if string(s) != "small" {
		t.Fatalf("parent small page %q", s)
	}
	parent.Write(0x400000+8, []byte("P"))
	child.Read(0x400000, b)
	if string(b) != "child!" {
		t.Fatalf("child after parent write %q", b)
	}
	child.Write(0x800000, []byte("SHARED"))
	parent.Read(0x800000, b)
	if string(b) != "SHARED" {
		t.Fatalf("shared mapping not shared after fork: %q", b)
	}
	child.Release()
	parent.Release()
	parent.Commit()
}

// A vfork child's reference keeps the memory it shares with its parent
// when the parent exits (or execs) first.
func TestSharedAddressSpaceOutlivesParent(t *testing.T) {
	p, as := newAS(t)
	if err := as.Map(VMA{Start: 0x400000, End: 0x400000 + 4*PageSize, Prot: rw}); err != nil {
		t.Fatal(err)
	}
	as.Commit()
	root := as.Root()
	shared := as.Share() // the vfork child's reference
	as.Release()         // the parent exits
	if p.Refs(root) == 0 {
		t.Fatal("the shared root was freed with the parent's reference")
	}
	if err := shared.Write(0x400000, []byte("still here")); err != nil {
		t.Fatalf("the child's memory went with its parent: %v", err)
	}
	inUse := p.InUse()
	shared.Release()
	if p.Refs(root) != 0 || p.InUse() >= inUse {
		t.Fatalf("the last reference freed nothing: root refs %d, in use %d (was %d)", p.Refs(root), p.InUse(), inUse)
	}
}
