package mm

import (
	"errors"
	"testing"
)

// TestTableReuse: address spaces made and released without end take new
// memory for their page tables only until enough frames that held tables
// are free; then the hypervisor is told to forget its shadows and those
// frames hold tables again. Without a flush (or when it fails), they never
// do, and the reservation runs out.
func TestTableReuse(t *testing.T) {
	cycle := func(p *Phys, k *Kernel, rounds int) error {
		for i := 0; i < rounds; i++ {
			a, err := NewAddressSpace(p, k)
			if err != nil {
				return err
			}
			for _, va := range []uint64{0x400000, 0x7ff000000000, 0x10000000} {
				if err := a.Map(VMA{Start: va, End: va + 8*PageSize, Prot: ProtRead | ProtWrite}); err != nil {
					return err
				}
			}
			a.Release()
		}
		return nil
	}
	p, as := newASMode(t, true) // 1 GiB
	flushed := 0
	p.SetTableFlush(func() error { flushed++; return nil })
	// Each round holds 8 tables: 40000 rounds are 1.2 GiB of them.
	if err := cycle(p, as.kernel, 40000); err != nil {
		t.Fatalf("with flushes: %v", err)
	}
	if bound := uint64(2*minTableReuse*PageSize + 8<<20); p.bump > bound || flushed == 0 {
		t.Fatalf("new memory taken %d MiB (bound %d MiB), %d flushes", p.bump>>20, bound>>20, flushed)
	}
	if flushed != p.flushes {
		t.Fatalf("%d flushes counted, %d made", p.flushes, flushed)
	}

	p, as = newASMode(t, true)
	p.SetTableFlush(func() error { return errors.New("no") })
	if err := cycle(p, as.kernel, 40000); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("failing flush: %v, want running out of memory", err)
	}
	if len(p.freeData) == 0 || p.flushes != 0 {
		t.Fatalf("failing flush: %d frames that held tables free, %d flushes", len(p.freeData), p.flushes)
	}
}
