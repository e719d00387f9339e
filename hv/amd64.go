package hv

// AMD64Regs are the general registers of an amd64 vCPU, in KVM's kvm_regs
// order so a backend can expose them without copying.
type AMD64Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Segment is an amd64 segment register, in KVM's kvm_segment layout.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is a descriptor-table register (GDTR, IDTR).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// AMD64SRegs are the system registers of an amd64 vCPU, in KVM's kvm_sregs
// order.
type AMD64SRegs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	InterruptBitmap        [4]uint64
}

// MSR is one model-specific register value.
type MSR struct {
	Index uint32
	Value uint64
}

// AMD64VCPU is a vCPU of an amd64 guest. Regs and SRegs return the live
// register state of the last exit; a caller that changes them marks them with
// SetDirty so the next Run loads them.
type AMD64VCPU interface {
	VCPU
	Regs() *AMD64Regs
	SRegs() *AMD64SRegs
	// SetDirty marks the general and/or system registers as changed.
	SetDirty(regs, sregs bool)
	// SetMSRs writes model-specific registers (not on a hot path).
	SetMSRs(msrs []MSR) error
	// GetMSR reads one model-specific register (not on a hot path).
	GetMSR(index uint32) (uint64, error)
	// EnableXSAVE turns on the host-supported XSAVE features (x87, SSE, AVX,
	// ...) for the guest by writing XCR0; CR4.OSXSAVE must be set.
	EnableXSAVE() error
	// TSCFrequency is the guest time-stamp counter rate in Hz, 0 if unknown.
	TSCFrequency() uint64
	// ReadTSC is the guest's time-stamp counter now, as its code would
	// read it (not on a hot path).
	ReadTSC() (uint64, error)
}
