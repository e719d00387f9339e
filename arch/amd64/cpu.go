package amd64

import (
	"encoding/binary"

	"github.com/elfuse/elfuse/hv"
)

// Guest virtual layout of the kernel area, which every address space maps at
// the same place (PML4 slot 273, a slot PVM accepts for ring-0 code). Its
// pages are user-accessible (U=1): PVM fetches the LSTAR target as a user
// access. They hold only the stub and descriptor tables, no secrets.
const (
	KernelBase   uint64 = 0xffff_8880_0000_0000
	KernelPML4          = 273
	StubVA              = KernelBase          // stub code, one page
	IDTVA               = KernelBase + 0x1000 // the IDT, one page
	CPUAreaVA           = KernelBase + 0x2000 // one page per vCPU: GDT, TSS, ring-0 stack
	CPUAreaSize         = 0x1000
	MaxVCPUAreas        = 4096
)

// Ports of the stub's exits.
const (
	PortSyscall   = 0x80
	PortException = 0x20 // + vector
)

// Segment selectors, as Linux uses them (so signal frames show the same cs).
const (
	SelKernelCS = 0x10
	SelKernelDS = 0x18
	SelUserDS   = 0x2b
	SelUserCS   = 0x33
	SelTSS      = 0x40
)

// MSR indices.
const (
	MSREFER         = 0xc0000080
	MSRSTAR         = 0xc0000081
	MSRLSTAR        = 0xc0000082
	MSRCSTAR        = 0xc0000083
	MSRSFMASK       = 0xc0000084
	MSRFSBase       = 0xc0000100
	MSRGSBase       = 0xc0000101
	MSRKernelGSBase = 0xc0000102
	MSRTSCAux       = 0xc0000103
	MSRPAT          = 0x277
)

// RFLAGS bits.
const (
	FlagCF   = 1 << 0
	FlagTF   = 1 << 8
	FlagIF   = 1 << 9
	FlagDF   = 1 << 10
	FlagIOPL = 3 << 12
	FlagNT   = 1 << 14
	FlagRF   = 1 << 16
	FlagVM   = 1 << 17
	FlagAC   = 1 << 18
	// UserFlagsMask is what a user program may set in RFLAGS.
	UserFlagsMask = 0x3f7fd5 &^ (FlagIOPL | FlagVM | FlagNT)
)

// UserFlags sanitises an RFLAGS value for user mode.
func UserFlags(f uint64) uint64 { return f&UserFlagsMask | 2 | FlagIF }

// StubPage returns the stub code page.
func StubPage() []byte {
	p := make([]byte, 4096)
	copy(p, stubCode)
	return p
}

// SyscallEntry is the virtual address LSTAR points at.
func SyscallEntry(sysret bool) uint64 {
	if sysret {
		return StubVA + symSyscallEntrySysret
	}
	return StubVA + symSyscallEntry
}

var excOffsets = [32]uint64{symExc0, symExc1, symExc2, symExc3, symExc4, symExc5, symExc6, symExc7,
	symExc8, symExc9, symExc10, symExc11, symExc12, symExc13, symExc14, symExc15,
	symExc16, symExc17, symExc18, symExc19, symExc20, symExc21, symExc22, symExc23,
	symExc24, symExc25, symExc26, symExc27, symExc28, symExc29, symExc30, symExc31}

// IDTPage returns the IDT: a 64-bit interrupt gate per exception vector into
// the stub; #BP and #OF may be raised from user mode (int3, into).
func IDTPage() []byte {
	p := make([]byte, 4096)
	for v := 0; v < 32; v++ {
		off := StubVA + excOffsets[v]
		dpl := uint8(0)
		if v == 3 || v == 4 {
			dpl = 3
		}
		e := p[v*16:]
		binary.LittleEndian.PutUint16(e[0:], uint16(off))
		binary.LittleEndian.PutUint16(e[2:], SelKernelCS)
		e[4] = 0             // IST
		e[5] = 0x8e | dpl<<5 // present, interrupt gate
		binary.LittleEndian.PutUint16(e[6:], uint16(off>>16))
		binary.LittleEndian.PutUint32(e[8:], uint32(off>>32))
	}
	return p
}

// HasErrorCode says whether the CPU pushes an error code for vector v.
func HasErrorCode(v int) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30:
		return true
	}
	return false
}

const (
	gdtOff   = 0
	tssOff   = 0x80
	tssLimit = 104 + 32 // TSS, I/O bitmap of ports 0-255 and its end byte
)

// CPUPage returns the per-vCPU page mapped at va: GDT, TSS (RSP0 at the top of
// the same page) and room for the ring-0 stack.
func CPUPage(va uint64) []byte {
	p := make([]byte, CPUAreaSize)
	g := p[gdtOff:]
	put := func(sel int, d uint64) { binary.LittleEndian.PutUint64(g[sel:], d) }
	// Flat descriptors: access byte in bits 40-47, flags (L, D/B, G) in 52-55.
	put(0x08, 0x00cf9b000000ffff) // kernel CS32 (unused)
	put(0x10, 0x00af9b000000ffff) // kernel CS64
	put(0x18, 0x00cf93000000ffff) // kernel DS
	put(0x20, 0x00cffb000000ffff) // user CS32 (unused)
	put(0x28, 0x00cff3000000ffff) // user DS
	put(0x30, 0x00affb000000ffff) // user CS64
	tss := va + tssOff
	lim := uint64(tssLimit)
	lo := lim&0xffff | (tss&0xffffff)<<16 | uint64(0x8b)<<40 | (lim>>16&0xf)<<48 | (tss>>24&0xff)<<56
	put(SelTSS, lo)
	put(SelTSS+8, tss>>32)
	t := p[tssOff:]
	binary.LittleEndian.PutUint64(t[4:], va+CPUAreaSize) // RSP0
	// The I/O permission bitmap lets user mode write the stub's ports: PVM
	// runs the LSTAR target at CPL 3. Ports past the bitmap are refused.
	binary.LittleEndian.PutUint16(t[102:], 104)
	bm := t[104 : 104+32]
	for i := range bm {
		bm[i] = 0xff
	}
	allow := func(port int) { bm[port/8] &^= 1 << (port % 8) }
	allow(PortSyscall)
	allow(PortSyscallWake)
	allow(PortSyscallLate)
	allow(PortSyscallPark)
	for v := 0; v < 32; v++ {
		allow(PortException + v)
	}
	t[104+32] = 0xff
	return p
}

// CPUAreaVAOf is the address of vCPU slot i's page.
func CPUAreaVAOf(i int) uint64 { return CPUAreaVA + uint64(i)*CPUAreaSize }

// Control register bits.
const (
	CR0PE = 1 << 0
	CR0MP = 1 << 1
	CR0ET = 1 << 4
	CR0NE = 1 << 5
	CR0WP = 1 << 16
	CR0AM = 1 << 18
	CR0PG = 1 << 31

	CR4PAE        = 1 << 5
	CR4OSFXSR     = 1 << 9
	CR4OSXMMEXCPT = 1 << 10
	CR4FSGSBASE   = 1 << 16
	CR4OSXSAVE    = 1 << 18

	EFERSCE = 1 << 0
	EFERLME = 1 << 8
	EFERLMA = 1 << 10
	EFERNXE = 1 << 11
)

var (
	userCS = hv.Segment{Selector: SelUserCS, Type: 0xb, Present: 1, DPL: 3, S: 1, L: 1, G: 1, Limit: 0xffffffff}
	userSS = hv.Segment{Selector: SelUserDS, Type: 0x3, Present: 1, DPL: 3, S: 1, DB: 1, G: 1, Limit: 0xffffffff}
)

// InitSRegs puts a vCPU in 64-bit user mode with paging rooted at cr3, using
// vCPU slot cpu's descriptor tables.
func InitSRegs(s *hv.AMD64SRegs, cr3 uint64, cpu int) {
	va := CPUAreaVAOf(cpu)
	s.CR0 = CR0PE | CR0MP | CR0ET | CR0NE | CR0WP | CR0AM | CR0PG
	s.CR4 = CR4PAE | CR4OSFXSR | CR4OSXMMEXCPT | CR4FSGSBASE | CR4OSXSAVE
	s.EFER = EFERSCE | EFERLME | EFERLMA | EFERNXE
	s.CR3 = cr3
	s.GDT = hv.DTable{Base: va + gdtOff, Limit: SelTSS + 15}
	s.IDT = hv.DTable{Base: IDTVA, Limit: 32*16 - 1}
	s.CS = userCS
	s.SS = userSS
	null := hv.Segment{Unusable: 1}
	s.DS, s.ES = null, null
	s.FS = hv.Segment{Unusable: 1}
	s.GS = hv.Segment{Unusable: 1}
	s.TR = hv.Segment{Base: va + tssOff, Limit: tssLimit, Selector: SelTSS, Type: 0xb, Present: 1}
	s.LDT = hv.Segment{Unusable: 1, Type: 2}
	s.InterruptBitmap = [4]uint64{}
}

// SyscallMSRs are the MSRs that route `syscall` into the stub.
func SyscallMSRs(sysret bool) []hv.MSR {
	return []hv.MSR{
		{Index: MSRSTAR, Value: uint64(SelKernelCS)<<32 | uint64(SelUserDS-8)<<48},
		{Index: MSRLSTAR, Value: SyscallEntry(sysret)},
		{Index: MSRSFMASK, Value: FlagTF | FlagDF | FlagIF | FlagIOPL | FlagAC | FlagNT},
		{Index: MSRPAT, Value: 0x0007040600070406},
	}
}

// SetUserMode makes the vCPU resume in user mode: CS and SS are the user
// selectors. The caller has set RIP, RSP and RFLAGS. It reports whether the
// system registers changed: PVM runs the LSTAR target at CPL 3 and leaves
// the user selectors in place, so there the return costs no SREGS write.
func SetUserMode(s *hv.AMD64SRegs) (changed bool) {
	if s.CS == userCS && s.SS == userSS {
		return false
	}
	s.CS = userCS
	s.SS = userSS
	return true
}

// ReturnFromSyscall completes a `syscall` on the host side, as sysretq would:
// RIP from RCX, RFLAGS from R11, user CS and SS. It reports whether the
// system registers changed.
func ReturnFromSyscall(r *hv.AMD64Regs, s *hv.AMD64SRegs) (sregsChanged bool) {
	r.RIP = r.RCX
	r.RFLAGS = UserFlags(r.R11)
	return SetUserMode(s)
}

// StubPortAt reports the port the stub's exit instruction at rip writes:
// a vCPU stopped there (a kick right after a `syscall` or an exception
// reached the stub) has made that exit in all but the write.
func StubPortAt(rip uint64) (uint16, bool) {
	switch rip {
	case StubVA + symSyscallEntry, StubVA + symSyscallEntrySysret:
		return PortSyscall, true
	}
	for v, off := range excOffsets {
		if rip == StubVA+off {
			return uint16(PortException + v), true
		}
	}
	return 0, false
}

// EnterUserVA is the stub entry that iretq's to the frame at RSP.
const EnterUserVA = StubVA + symEnterUser
