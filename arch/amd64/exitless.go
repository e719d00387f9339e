package amd64

import "github.com/elfuse/elfuse/hv"

// Exitless system calls: a patched call site jumps to a per-site thunk in
// user memory, the thunk to the stub's xl_entry, which posts the call in the
// thread's mailbox (the page at its GS base) and waits in user mode for a
// host thread to serve it (stub.S has the protocol).

// Layout of the exitless path.
const (
	// PrivatePML4 is the PML4 slot of each address space's own upper-half
	// pages (the mailboxes); unlike the kernel area it is not shared, and
	// fork does not copy it.
	PrivatePML4         = 274
	MailboxBase  uint64 = 0xffff_8900_0000_0000 // mailbox i at MailboxBase + i*4096
	MaxMailboxes        = 1 << 16
	// XLStatusVA is the sandbox's status word block for the trampoline: the
	// tail of the IDT page (read-only for the guest).
	XLStatusVA  = symXlStatus
	XLStatusOff = XLStatusVA - IDTVA // its offset in the IDT page
	// PortSyscallWake is the exit of a call that found no server awake.
	PortSyscallWake = 0x81
	// PortSyscallLate is the exit of a call no server took in time.
	PortSyscallLate = 0x82
	// PortSyscallPark is the exit of a thread whose call a server has run
	// for long: the host waits for it instead of the guest spinning.
	PortSyscallPark = 0x83
	// XLMaxNr bounds the call numbers the trampoline posts (the bitmap's size).
	XLMaxNr = symXlMaxNr
)

// Mailbox field offsets, status block offsets and mailbox states: stub.S
// sets them.
const (
	MBMagic  = symXlMbMagic
	MBState  = symXlMbState
	MBNr     = symXlMbNr
	MBRet    = symXlMbRet
	MBFlags  = symXlMbFlags
	MBResult = symXlMbResult
	MBArgs   = symXlMbArgs // six words
	// MBMagicValue is the mailbox's first word, checked before a post.
	MBMagicValue = symXlMagicHi<<32 | symXlMagicLo

	XLAwake  = symXlStAwake  // uint32: servers spinning
	XLSpins  = symXlStSpins  // uint32: pause iterations before a post is withdrawn
	XLBitmap = symXlStBitmap // XLMaxNr bits: calls a server may run
	// XLTakenSpins (uint32, at least 1) is the pause iterations a thread
	// waits for a call a server has taken before it exits to wait in the
	// host.
	XLTakenSpins = symXlStTspins

	MBIdle   = symXlIdle
	MBPosted = symXlPostedState
	MBTaken  = symXlTaken
	MBDone   = symXlDoneState
	MBHeld   = symXlHeld  // done, but the thread must stop (a signal): the host completes it
	MBRetry  = symXlRetry // the server declined: take the exit path
)

// The status block sits in the IDT page, past the IDT's 32 gates: these
// fail to compile when stub.S puts it elsewhere.
var (
	_ [XLStatusOff - 32*16]struct{}
	_ [0x1000 - XLStatusOff - XLBitmap - XLMaxNr/8]struct{}
	_ [XLTakenSpins - XLBitmap - XLMaxNr/8]struct{}
	_ [0x1000 - XLStatusOff - XLTakenSpins - 4]struct{}
)

// XLRegion says where in the exitless code a vCPU stopped (rip), and what
// the host must do to settle it.
type XLRegion int

// Regions of the exitless code.
const (
	XLNone     XLRegion = iota // not in the exitless code
	XLBefore                   // before the post: registers hold the call (nr in RAX, return in RCX)
	XLSaved                    // before the post: the mailbox holds nr, return address and flags
	XLWaiting                  // posted: look at the mailbox state
	XLComplete                 // served: the mailbox holds the result
)

// XLCodeRange is the exitless code's address range.
func XLCodeRange() (start, end uint64) { return StubVA + symXlEntry, StubVA + symXlEnd }

// XLClassify reports the region of rip and the amount to add to RSP to undo
// the trampoline's stack adjustment there; flagsInR11 says whether R11
// already holds the caller's flags (in XLBefore).
func XLClassify(rip uint64) (r XLRegion, rspFix uint64, flagsInR11 bool) {
	start, end := XLCodeRange()
	if rip < start || rip >= end {
		return XLNone, 0, false
	}
	off := rip - StubVA
	switch {
	case off == symXlEntry:
		return XLBefore, 0, false
	case off == symXlP1 || off == symXlP3:
		return XLBefore, 128, off == symXlP3
	case off == symXlP2:
		return XLBefore, 136, false
	case off < symXlSaved:
		return XLBefore, 0, true
	case off < symXlPosted:
		return XLSaved, 0, true
	case off < symXlDone:
		return XLWaiting, 0, true
	case off < symXlEpilogue:
		return XLComplete, 0, true
	case off <= symXlE4:
		switch off {
		case symXlE1, symXlE3:
			return XLComplete, 128, true
		case symXlE2:
			return XLComplete, 136, true
		}
		return XLComplete, 0, true
	case off == symXlWakeOut || off == symXlExitOut || off == symXlLateOut:
		return XLBefore, 0, true // at the exit instruction, registers restored
	}
	return XLSaved, 0, true // restoring the registers from the mailbox
}

// XLEntryVA is where thunks jump.
func XLEntryVA() uint64 { return StubVA + symXlEntry }

// InXLCode reports whether rip is in (or just past) the exitless code: an
// exit there is a call that came through a patched site, not a `syscall`.
func InXLCode(rip uint64) bool {
	start, end := XLCodeRange()
	return rip >= start && rip <= end
}

// XLRegs fills the registers a `syscall` would have left for the call in
// mb (a mailbox page), before it ran.
func XLRegs(r *hv.AMD64Regs, mb []byte) {
	r.RAX = le64(mb[MBNr:])
	r.RCX = le64(mb[MBRet:])
	r.R11 = le64(mb[MBFlags:])
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
