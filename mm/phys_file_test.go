package mm

import (
	"os"
	"testing"
	"time"
)

// TestAllocFileReuse: file frames freed again are reused for the next file
// mappings, so a sandbox that maps files over and over (every exec) does not
// run out of its reservation; and the file's contents are what the guest
// frames show.
func TestAllocFileReuse(t *testing.T) {
	p, f := physWithFile(t, 64<<20, 5, 0)
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

// TestAllocFileRuns: a read-only file range mapped again takes the frames
// of the last mapping of it, in use or not, with the file's current
// contents; when the reservation runs out, idle ones become anonymous
// memory again, zeroed.
func TestAllocFileRuns(t *testing.T) {
	p, f := physWithFile(t, 8<<20, 3, 1)
	fd := int(f.Fd())
	a, err := p.AllocFile(3, fd, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.AllocFile(3, fd, 0, false)
	if err != nil || b != a || p.Refs(a) != 2 {
		t.Fatalf("second mapping at %#x (%v), first at %#x, refs %d", b, err, a, p.Refs(a))
	}
	if c, err := p.AllocFile(2, fd, 0, false); err != nil || c == a {
		t.Fatalf("another range shares the run (%#x, %v)", c, err)
	} else {
		p.Unref(c)
		p.Unref(c + PageSize)
	}
	if w, err := p.AllocFile(3, fd, 0, true); err != nil || w == a {
		t.Fatalf("a writable mapping shares the read-only run (%#x, %v)", w, err)
	} else {
		for i := uint64(0); i < 3; i++ {
			p.Unref(w + i*PageSize)
		}
	}
	inUse := p.InUse()
	for i := uint64(0); i < 3; i++ {
		p.Unref(a + i*PageSize)
		p.Unref(b + i*PageSize)
	}
	if got := p.InUse(); got != inUse-3*PageSize {
		t.Fatalf("in use %d after the run went idle, want %d", got, inUse-3*PageSize)
	}
	f.WriteAt([]byte{42}, PageSize)
	c, err := p.AllocFile(3, fd, 0, false)
	if err != nil || c != a {
		t.Fatalf("idle run not taken again: %#x, %v", c, err)
	}
	if got := p.Page(c + PageSize)[0]; got != 42 {
		t.Fatalf("run shows %d, not the file's current byte", got)
	}
	for i := uint64(0); i < 3; i++ {
		p.Unref(c + i*PageSize)
	}
	// Use up the reservation: the idle frames are handed out, zeroed.
	seen := allocAll(t, p)
	for i := uint64(0); i < 3; i++ {
		if !seen[a+i*PageSize] {
			t.Fatalf("idle file frame %#x never handed out", a+i*PageSize)
		}
	}
	if p.ReadOnly(a) {
		t.Fatal("frame still maps the file")
	}
}

// allocAll allocates frames until the reservation is used up, checking
// that each is zeroed, and returns the set of them.
func allocAll(t *testing.T, p *Phys) map[uint64]bool {
	t.Helper()
	seen := map[uint64]bool{}
	for {
		pa, err := p.Alloc(false)
		if err != nil {
			return seen
		}
		seen[pa] = true
		for _, x := range p.Page(pa) {
			if x != 0 {
				t.Fatalf("frame %#x is not zero", pa)
			}
		}
	}
}

// physWithFile is a Phys of size bytes and a file of n pages, page i
// filled with the byte first+i.
func physWithFile(t *testing.T, size uint64, n int, first byte) (*Phys, *os.File) {
	t.Helper()
	p, err := NewPhys(size, size, func(uint64, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n*PageSize)
	for i := range data {
		data[i] = first + byte(i/PageSize)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return p, f
}

// TestAllocSegment: a read-only segment's first mapping is the file's own pages; from
// the second on it is a shared copy in ordinary memory (not the file's
// frames), the same frames for every mapping of the unchanged file, never
// written in place, kept while idle, and discarded by no invalidation; a
// changed file gets a new copy; evicted, the copy's frames are handed out
// zeroed.
func TestAllocSegment(t *testing.T) {
	p, f := physWithFile(t, 8<<20, 3, 1)
	fd := int(f.Fd())
	if err := f.Truncate(2*PageSize + 100); err != nil {
		t.Fatal(err)
	}
	unref := func(pa uint64) {
		for i := uint64(0); i < 3; i++ {
			p.Unref(pa + i*PageSize)
		}
	}
	first, err := p.AllocSegment(3, fd, 0)
	if err != nil || !p.ReadOnly(first) || !p.fileMap[first>>pageShift] {
		t.Fatalf("first mapping at %#x (%v): not the file's frames", first, err)
	}
	a, err := p.AllocSegment(3, fd, 0)
	if err != nil || a == first || p.fileMap[a>>pageShift] || !p.ReadOnly(a) {
		t.Fatalf("second mapping at %#x (%v), first at %#x: not a copy", a, err, first)
	}
	b, err := p.AllocSegment(3, fd, 0)
	if err != nil || b != a || p.Refs(a) != 2 {
		t.Fatalf("third mapping at %#x (%v), copy at %#x, refs %d", b, err, a, p.Refs(a))
	}
	page := p.Page(a + 2*PageSize)
	if p.Page(a)[0] != 1 || p.Page(a + PageSize)[4095] != 2 || page[99] != 3 || page[100] != 0 || page[4095] != 0 {
		t.Fatalf("copy reads %d %d %d %d: not the file's bytes then zeros",
			p.Page(a)[0], p.Page(a + PageSize)[4095], page[99], page[100])
	}
	unref(first)
	unref(a)
	unref(b)
	// Idle, and invalidated as frames about to go: the copy keeps its bytes.
	if err := p.invalidate(nil, []uint64{a, a + PageSize}); err != nil {
		t.Fatal(err)
	}
	c, err := p.AllocSegment(3, fd, 0)
	if err != nil || c != a || p.Page(c)[0] != 1 {
		t.Fatalf("idle copy not taken again whole: %#x (%v), reads %d", c, err, p.Page(c)[0])
	}
	unref(c)
	// A changed file gets a copy of its new bytes.
	if _, err := f.WriteAt([]byte{42}, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f.Name(), time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, err := p.AllocSegment(3, fd, 0)
	if err != nil || d == a || p.Page(d)[0] != 42 {
		t.Fatalf("changed file: mapping at %#x (%v) reads %d, old copy at %#x", d, err, p.Page(d)[0], a)
	}
	unref(d)
	// Use up the reservation: the idle frames are handed out, zeroed.
	seen := allocAll(t, p)
	if !seen[a] || !seen[d] || p.ReadOnly(a) {
		t.Fatalf("idle copies not handed out (%v %v), or still read-only", seen[a], seen[d])
	}
}

// osBacking is a Backing over a host file.
type osBacking struct{ *os.File }

func (b osBacking) Size() (int64, error) {
	st, err := b.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (b osBacking) HostFD() int    { return int(b.Fd()) }
func (b osBacking) Writable() bool { return false }

// TestReadOnlySegmentsCopied: the read-only segments of a program (private,
// Copy: code and constants alike) map the file's own frames the first time
// and a shared copy from the second address space on; a plain read-only
// file mapping keeps the file's frames.
func TestReadOnlySegmentsCopied(t *testing.T) {
	p, f := physWithFile(t, 64<<20, 12, 7)
	k, err := NewKernel(p)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(as *AddressSpace, va uint64) uint64 {
		e, _ := as.pt.lookup(va)
		return e & addrMask
	}
	for i, c := range []struct {
		name string
		prot Prot
		copy bool
	}{
		{"code", ProtRead | ProtExec, true},
		{"constants", ProtRead, true},
		{"plain read-only mapping", ProtRead, false},
	} {
		off := uint64(i) * 4 * PageSize // a range of its own
		t.Run(c.name, func(t *testing.T) {
			var frames []uint64
			for range 2 {
				as, err := NewAddressSpace(p, k)
				if err != nil {
					t.Fatal(err)
				}
				defer as.Release()
				const va = 0x400000
				if err := as.Map(VMA{Start: va, End: va + 4*PageSize, Prot: c.prot, File: osBacking{f}, Offset: off, Copy: c.copy}); err != nil {
					t.Fatal(err)
				}
				pa := frame(as, va+PageSize)
				if b, want := p.Page(pa)[0], byte(7+4*i+1); b != want {
					t.Fatalf("page 1 reads %d, want %d", b, want)
				}
				frames = append(frames, pa)
			}
			if !p.fileMap[frames[0]>>pageShift] {
				t.Errorf("first mapping at %#x: not the file's frames", frames[0])
			}
			if file := p.fileMap[frames[1]>>pageShift]; file == c.copy {
				t.Errorf("second mapping at %#x: file's frames %v, want %v", frames[1], file, !c.copy)
			}
		})
	}
}
