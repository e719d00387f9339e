package mm

import (
	"encoding/binary"
	"math/rand"
	"testing"
)

// TestRandomOpsAgainstModel runs random mmap/munmap/mprotect/mremap/
// madvise/brk sequences and checks every page against a model of what it
// must hold: the tag last written to it, or zero.
func TestRandomOpsAgainstModel(t *testing.T) {
	for _, coherent := range []bool{false, true} {
		for seed := int64(1); seed <= 12; seed++ {
			runModel(t, seed, coherent)
			if t.Failed() {
				return
			}
		}
	}
}

func runModel(t *testing.T, seed int64, coherent bool) {
	p, as := newASMode(t, coherent)
	base := p.InUse() // the kernel area and the new root
	r := rand.New(rand.NewSource(seed))
	model := map[uint64]uint64{} // page -> tag (0: zero page), present iff mapped
	prot := map[uint64]Prot{}
	tag := uint64(1)
	const lo, hi = 0x10000000, 0x10000000 + 64<<20
	page := func() uint64 { return lo + uint64(r.Intn((hi-lo)/PageSize))*PageSize }
	size := func() uint64 {
		if r.Intn(4) == 0 {
			return uint64(1+r.Intn(3)) * HugeSize
		}
		return uint64(1+r.Intn(64)) * PageSize
	}
	check := func(op string) {
		for pg, want := range model {
			var b [8]byte
			e, l := as.pt.lookup(pg)
			if prot[pg] == 0 {
				continue
			}
			if l == 0 && e&addrMask == 0 && !as.findL(pg).Lazy {
				t.Fatalf("seed %d after %s: page %#x mapped but has no frame", seed, op, pg)
			}
			if err := as.Poke(pg, nil); err != nil {
				t.Fatalf("seed %d after %s: page %#x: %v", seed, op, pg, err)
			}
			as.peek(pg, b[:])
			if got := binary.LittleEndian.Uint64(b[:]); got != want {
				t.Fatalf("seed %d after %s: page %#x holds %d, want %d", seed, op, pg, got, want)
			}
		}
		for pg := range model {
			if as.Find(pg) == nil {
				t.Fatalf("seed %d after %s: page %#x lost its VMA", seed, op, pg)
			}
		}
	}
	for step := 0; step < 150; step++ {
		switch r.Intn(7) {
		case 0, 1: // mmap fixed
			a, n := page(), size()
			if a+n > hi {
				continue
			}
			pr := ProtRead | ProtWrite
			if r.Intn(5) == 0 {
				pr = ProtRead
			}
			if err := as.Map(VMA{Start: a, End: a + n, Prot: pr}); err != nil {
				t.Fatal(err)
			}
			for pg := a; pg < a+n; pg += PageSize {
				model[pg], prot[pg] = 0, pr
			}
		case 2: // write tags
			for pg := range model {
				if r.Intn(3) == 0 && prot[pg]&ProtWrite != 0 {
					var b [8]byte
					binary.LittleEndian.PutUint64(b[:], tag)
					if err := as.Write(pg, b[:]); err != nil {
						t.Fatalf("seed %d: write %#x: %v", seed, pg, err)
					}
					model[pg] = tag
					tag++
				}
			}
		case 3: // munmap
			a, n := page(), size()
			as.Unmap(a, a+n)
			for pg := a; pg < a+n; pg += PageSize {
				delete(model, pg)
				delete(prot, pg)
			}
		case 4: // mprotect
			a, n := page(), size()
			if !as.Covered(a, a+n) {
				continue
			}
			pr := []Prot{0, ProtRead, ProtRead | ProtWrite}[r.Intn(3)]
			if err := as.Protect(a, a+n, pr); err != nil {
				t.Fatal(err)
			}
			for pg := a; pg < a+n; pg += PageSize {
				prot[pg] = pr
			}
		case 5: // mremap with move
			a := page()
			v := as.Find(a)
			if v == nil {
				continue
			}
			oldLen := min(v.End-a, uint64(1+r.Intn(32))*PageSize)
			newLen := uint64(1+r.Intn(96)) * PageSize
			na, err := as.Remap(a, oldLen, newLen, true, false, 0)
			if err != nil {
				continue
			}
			moved := map[uint64]uint64{}
			mprot := map[uint64]Prot{}
			for off := uint64(0); off < oldLen; off += PageSize {
				if off < newLen {
					moved[na+off], mprot[na+off] = model[a+off], prot[a+off]
				}
				delete(model, a+off)
				delete(prot, a+off)
			}
			for off := oldLen; off < newLen; off += PageSize {
				moved[na+off], mprot[na+off] = 0, v.Prot
			}
			for k, x := range moved {
				model[k], prot[k] = x, mprot[k]
			}
			_ = v
		case 6: // madvise DONTNEED
			a, n := page(), size()
			if !as.Covered(a, a+n) {
				continue
			}
			if err := as.Discard(a, a+n); err != nil {
				t.Fatal(err)
			}
			for pg := a; pg < a+n; pg += PageSize {
				model[pg] = 0
			}
		}
		as.Commit()
		check([]string{"mmap", "mmap", "write", "munmap", "mprotect", "mremap", "madvise"}[0])
	}
	as.Release()
	if p.InUse() >= base {
		t.Fatalf("seed %d: %d bytes in use after the address space went, %d before it had any mapping", seed, p.InUse(), base)
	}
}

// peek reads with the kernel's rights (test helper).
func (as *AddressSpace) peek(va uint64, b []byte) {
	e, l := as.pt.lookup(va)
	if l == 0 {
		if e&addrMask == 0 {
			clear(b)
			return
		}
		copy(b, as.phys.mem[e&addrMask:])
		return
	}
	pa := e&addrMask + va&(PageSize-1)
	if l == 2 {
		pa = e&addrMask + va&(HugeSize-1)
	}
	copy(b, as.phys.mem[pa:])
}
