package mm

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/elfuse/elfuse/arch/amd64"
)

// Prot is a mapping's access rights.
type Prot uint8

// Access rights.
const (
	ProtRead Prot = 1 << iota
	ProtWrite
	ProtExec
)

func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

const (
	tableFlags = amd64.PTEPresent | amd64.PTEWrite | amd64.PTEUser | amd64.PTEAccessed
	addrMask   = amd64.PTEAddrMask
)

// leafFlags encodes prot for a user leaf entry. Accessed and dirty are set
// up front so the CPU (or the shadow MMU) never writes them.
func leafFlags(p Prot) uint64 {
	if p&(ProtRead|ProtWrite|ProtExec) == 0 {
		return 0
	}
	f := amd64.PTEPresent | amd64.PTEUser | amd64.PTEAccessed | amd64.PTEDirty
	if p&ProtWrite != 0 {
		f |= amd64.PTEWrite
	}
	if p&ProtExec == 0 {
		f |= amd64.PTENoExec
	}
	return f
}

func present(e uint64) bool { return e&amd64.PTEPresent != 0 }

// pageTables is one 4-level page-table tree.
type pageTables struct {
	phys    *Phys
	root    uint64
	fresh   map[uint64]bool // table pages the guest has not run on yet
	retired []uint64        // replaced table pages, freed at Commit
	changed bool            // root replaced since the last Commit
	// Data frames (4 KiB, and 2 MiB ones) unmapped since the last Commit:
	// another vCPU may still reach them through the tables it runs on, so
	// they are freed only once every thread has moved to the new root.
	dropped, droppedHuge []uint64
	// stale are entries changed in place (on a coherent Phys) whose old
	// translation a vCPU may still hold, until invalidateStale.
	stale []staleEntry
}

// staleEntry is an entry changed in place: the page (or 2 MiB page) at va
// reached frame before.
type staleEntry struct {
	va, frame uint64
	huge      bool
}

// dropLater frees a data frame at the next Commit.
func (t *pageTables) dropLater(pa uint64) { t.dropped = append(t.dropped, pa) }

// dropHugeLater frees a 2 MiB data frame at the next Commit.
func (t *pageTables) dropHugeLater(pa uint64) { t.droppedHuge = append(t.droppedHuge, pa) }

// pending reports whether a Commit has work: replaced tables, tables the
// guest has not seen, or frames to free.
func (t *pageTables) pending() bool {
	return len(t.retired) > 0 || len(t.fresh) > 0 || len(t.dropped) > 0 || len(t.droppedHuge) > 0
}

func (t *pageTables) entry(table uint64, i int) uint64 {
	return binary.LittleEndian.Uint64(t.phys.mem[table+uint64(i)*8:])
}

// table is the page-table page at table as its 512 entries.
func (t *pageTables) table(table uint64) *[512]uint64 {
	return (*[512]uint64)(unsafe.Pointer(&t.phys.mem[table : table+PageSize][0]))
}

func (t *pageTables) setEntry(table uint64, i int, v uint64) {
	binary.LittleEndian.PutUint64(t.phys.mem[table+uint64(i)*8:], v)
}

func (t *pageTables) newTable() (uint64, error) {
	pa, err := t.phys.Alloc(true)
	if err != nil {
		return 0, err
	}
	t.fresh[pa] = true
	return pa, nil
}

// lookup walks to the leaf for va and returns its entry and level (1 for a
// 4 KiB page, 2 for a 2 MiB page); level 0 when the walk ends at a
// not-present table entry.
func (t *pageTables) lookup(va uint64) (e uint64, level int) {
	table := t.root
	for l := 4; l >= 1; l-- {
		e = t.entry(table, amd64.PTEIndex(va, l))
		if !present(e) {
			return e, 0
		}
		if l == 1 || (l == 2 && e&amd64.PTEHuge != 0) {
			return e, l
		}
		table = e & addrMask
	}
	return 0, 0
}

// tableFor returns the table at level holding va's entry, creating missing
// tables in place (adding an entry never needs a flush). It fails if a huge
// page covers va above level.
func (t *pageTables) tableFor(va uint64, level int) (uint64, error) {
	table := t.root
	for l := 4; l > level; l-- {
		i := amd64.PTEIndex(va, l)
		e := t.entry(table, i)
		if !present(e) {
			n, err := t.newTable()
			if err != nil {
				return 0, err
			}
			t.setEntry(table, i, n|tableFlags)
			table = n
			continue
		}
		if e&amd64.PTEHuge != 0 {
			return 0, fmt.Errorf("mm: huge page covers %#x", va)
		}
		table = e & addrMask
	}
	return table, nil
}

// writable returns the table at level on va's path, made safe to change
// entries that are present: tables the guest may have cached are copied,
// up to the root.
func (t *pageTables) writable(va uint64, level int) (uint64, error) {
	if level == 4 {
		if !t.fresh[t.root] {
			n, err := t.copyTable(t.root)
			if err != nil {
				return 0, err
			}
			t.root = n
			t.changed = true
		}
		return t.root, nil
	}
	parent, err := t.writable(va, level+1)
	if err != nil {
		return 0, err
	}
	i := amd64.PTEIndex(va, level+1)
	e := t.entry(parent, i)
	if !present(e) {
		n, err := t.newTable()
		if err != nil {
			return 0, err
		}
		t.setEntry(parent, i, n|tableFlags)
		return n, nil
	}
	if e&amd64.PTEHuge != 0 {
		return 0, fmt.Errorf("mm: huge page covers %#x", va)
	}
	old := e & addrMask
	if t.fresh[old] {
		return old, nil
	}
	n, err := t.copyTable(old)
	if err != nil {
		return 0, err
	}
	t.setEntry(parent, i, n|e&^addrMask)
	return n, nil
}

func (t *pageTables) copyTable(old uint64) (uint64, error) {
	n, err := t.newTable()
	if err != nil {
		return 0, err
	}
	copy(t.phys.Page(n), t.phys.Page(old))
	t.retired = append(t.retired, old)
	return n, nil
}

// set writes va's entry at level. Adding to a not-present entry, or
// widening one, is done in place. A change that takes a translation away
// (another frame, fewer rights, none) is done in place too when the
// hypervisor follows the host's mappings, for a 4 KiB entry or a 2 MiB one
// that stays a leaf: the old frame is invalidated before the address
// space's lock is released (invalidateStale), so no vCPU reaches it
// through the old translation after the operation. Otherwise it goes
// through a writable path (new tables, a new root).
func (t *pageTables) set(va uint64, level int, v uint64) error {
	table, err := t.tableFor(va, level)
	if err != nil {
		return err
	}
	i := amd64.PTEIndex(va, level)
	old := t.entry(table, i)
	if present(old) && !t.fresh[table] && !widens(old, v) {
		if t.phys.coherent && (level == 1 || old&amd64.PTEHuge != 0 && (v&amd64.PTEHuge != 0 || !present(v))) {
			t.setEntry(table, i, v)
			t.stale = append(t.stale, staleEntry{va: va, frame: old & addrMask, huge: level == 2})
			return nil
		}
		if table, err = t.writable(va, level); err != nil {
			return err
		}
	}
	t.setEntry(table, i, v)
	return nil
}

// invalidateStale makes every vCPU drop the translations the entries
// changed in place replaced. Should the host refuse, the tables on the
// path to each are replaced instead, as without a coherent Phys.
func (t *pageTables) invalidateStale() {
	if len(t.stale) == 0 {
		return
	}
	// Frames this address space is dropping and nothing else holds go at
	// the next Commit: what they hold is not needed any more.
	dropping := map[uint64]uint32{}
	for _, pa := range t.dropped {
		dropping[pa]++
	}
	for _, pa := range t.droppedHuge {
		for f := pa; f < pa+HugeSize; f += PageSize {
			dropping[f]++
		}
	}
	var keep, gone []uint64
	for _, s := range t.stale {
		n := uint64(PageSize)
		if s.huge {
			n = HugeSize
		}
		for f := s.frame; f < s.frame+n; f += PageSize {
			if c := dropping[f]; c > 0 && t.phys.Refs(f) == c {
				gone = append(gone, f)
			} else {
				keep = append(keep, f)
			}
		}
	}
	if t.phys.invalidate(keep, gone) != nil {
		for _, s := range t.stale {
			level := 1
			if s.huge {
				level = 2
			}
			_, _ = t.writable(s.va, level)
		}
	}
	t.stale = t.stale[:0]
}

// widens reports whether new only adds rights to old on the same frame: a
// stale translation is then stricter than the entry, faults, and is
// refreshed, so the change can be made in place.
func widens(old, new uint64) bool {
	if !present(new) || old&addrMask != new&addrMask || old&amd64.PTEHuge != new&amd64.PTEHuge {
		return false
	}
	if old&amd64.PTEWrite != 0 && new&amd64.PTEWrite == 0 {
		return false
	}
	if old&amd64.PTENoExec == 0 && new&amd64.PTENoExec != 0 {
		return false
	}
	return true
}

// splitHuge replaces the 2 MiB entry covering va with a table of 4 KiB
// entries for the same frames.
func (t *pageTables) splitHuge(va uint64) error {
	pd, err := t.writable(va, 2)
	if err != nil {
		return err
	}
	i := amd64.PTEIndex(va, 2)
	e := t.entry(pd, i)
	if !present(e) || e&amd64.PTEHuge == 0 {
		return nil
	}
	pt, err := t.newTable()
	if err != nil {
		return err
	}
	flags := e &^ addrMask &^ amd64.PTEHuge
	base := e & addrMask
	for j := 0; j < 512; j++ {
		t.setEntry(pt, j, (base+uint64(j)*PageSize)|flags)
	}
	t.setEntry(pd, i, pt|tableFlags)
	return nil
}

// commit marks every table as seen by the guest and frees replaced tables.
// It reports the root and whether it changed.
func (t *pageTables) commit() (root uint64, changed bool) {
	if len(t.dropped) > 0 {
		// A file's frames get anonymous memory back in runs, not one by one.
		defer t.phys.Batch()()
	}
	t.phys.UnrefAll(t.retired)
	t.retired = t.retired[:0]
	t.phys.UnrefAll(t.dropped)
	t.dropped = t.dropped[:0]
	for _, pa := range t.droppedHuge {
		t.phys.UnrefHuge(pa)
	}
	t.droppedHuge = t.droppedHuge[:0]
	clear(t.fresh)
	changed, t.changed = t.changed, false
	return t.root, changed
}

// dropUser drops (dropLater) every frame the user half of the tree maps:
// 4 KiB leaves, present or kept under PROT_NONE (not present, the frame
// still in the entry), and 2 MiB ones, as clearRange would one by one.
func (t *pageTables) dropUser() {
	var walk func(table uint64, level int)
	walk = func(table uint64, level int) {
		last := 511
		if level == 4 {
			last = amd64.PTEIndex(UserLimit-1, 4)
		}
		for _, e := range t.table(table)[:last+1] {
			switch {
			case e == 0:
			case level == 1:
				if e&addrMask != 0 {
					t.dropLater(e & addrMask)
				}
			case !present(e):
			case level == 2 && e&amd64.PTEHuge != 0:
				t.dropHugeLater(e & addrMask)
			default:
				walk(e&addrMask, level-1)
			}
		}
	}
	walk(t.root, 4)
}

// freeTree frees the tables of a tree (not the frames they map), except
// the shared entries listed in keep (PML4 indices).
func (t *pageTables) freeTree(table uint64, level int, keep map[int]bool) {
	if level > 1 {
		for i, e := range t.table(table) {
			if e == 0 || level == 4 && keep[i] {
				continue
			}
			if present(e) && e&amd64.PTEHuge == 0 {
				t.freeTree(e&addrMask, level-1, nil)
			}
		}
	}
	t.phys.Unref(table)
}
