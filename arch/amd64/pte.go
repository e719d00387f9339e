package amd64

// Page-table entry bits of 4-level amd64 paging.
const (
	PTEPresent  uint64 = 1 << 0
	PTEWrite    uint64 = 1 << 1
	PTEUser     uint64 = 1 << 2
	PTEAccessed uint64 = 1 << 5
	PTEDirty    uint64 = 1 << 6
	PTEHuge     uint64 = 1 << 7
	PTEGlobal   uint64 = 1 << 8
	PTECow      uint64 = 1 << 9 // software bit: copy on write
	PTENoExec   uint64 = 1 << 63
	PTEAddrMask uint64 = 0x000f_ffff_ffff_f000
)

// PTEIndex is the index into the table at level (4 = PML4 ... 1 = PT) for va.
func PTEIndex(va uint64, level int) int { return int(va>>(12+9*uint(level-1))) & 511 }
