package mm

import (
	"os"
	"testing"
)

// TestAllocFileReuse: file frames freed again are reused for the next file
// mappings, so a sandbox that maps files over and over (every exec) does not
// run out of its reservation; and the file's contents are what the guest
// frames show.
func TestAllocFileReuse(t *testing.T) {
	p, err := NewPhys(64<<20, 64<<20, func(uint64, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5*PageSize)
	for i := range data {
		data[i] = byte(i / PageSize)
	}
	f.Write(data)
	// 64 MiB holds 32 chunks of 2 MiB: without reuse, the 33rd mapping fails.
	for round := 0; round < 200; round++ {
		n := uint64(1 + round%5)
		pa, err := p.AllocFile(n, int(f.Fd()), 0, false)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := uint64(0); i < n; i++ {
			if got := p.Page(pa + i*PageSize)[0]; got != byte(i) {
				t.Fatalf("round %d: page %d reads %d", round, i, got)
			}
		}
		end := func() {}
		if round%2 == 0 {
			end = p.Batch()
		}
		for i := uint64(0); i < n; i++ {
			p.Unref(pa + i*PageSize)
		}
		end()
	}
	// Anonymous frames come from the former file frames too, zeroed.
	for i := 0; i < 100; i++ {
		pa, err := p.Alloc(false)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Page(pa) {
			if b != 0 {
				t.Fatalf("frame %#x is not zero", pa)
			}
		}
	}
}
