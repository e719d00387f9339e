//go:build linux && amd64

// Package kvm is the Linux KVM backend of package hv for amd64 guests.
//
// Registers travel through kvm_run's sync-regs area (KVM_CAP_SYNC_REGS), so
// the hot path of a guest exit costs no register ioctl. A vCPU is kicked out
// of KVM_RUN with kvm_run.immediate_exit plus a thread-directed SIGURG, which
// the Go runtime already tolerates as a spurious preemption signal.
package kvm

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/elfuse/elfuse/hv"
	"golang.org/x/sys/unix"
)

// ioctl request numbers (linux/kvm.h).
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmCheckExtension      = 0xAE03
	kvmGetVCPUMmapSize     = 0xAE04
	kvmGetSupportedCPUID   = 0xC008AE05
	kvmCreateVCPU          = 0xAE41
	kvmSetNrMMUPages       = 0xAE44
	kvmCapMMUShadowCache   = 2 // KVM_CAP_MMU_SHADOW_CACHE_CONTROL
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80
	kvmGetRegs             = 0x8090AE81
	kvmSetRegs             = 0x4090AE82
	kvmGetSregs            = 0x8138AE83
	kvmSetSregs            = 0x4138AE84
	kvmGetMSRs             = 0xC008AE88
	kvmSetMSRs             = 0x4008AE89
	kvmSetCPUID2           = 0x4008AE90
	kvmGetTSCKHz           = 0xAEA3
	kvmSetDeviceAttr       = 0x4018AEE1
	kvmVCPUTSCCtrl         = 0 // KVM_VCPU_TSC_CTRL attribute group
	kvmVCPUTSCOffset       = 0 // KVM_VCPU_TSC_OFFSET
	msrTSC                 = 0x10
	kvmSetXCRs             = 0x4188AEA7
	kvmGetXSAVE            = 0x9000AEA4
	kvmSetXSAVE            = 0x5000AEA5

	capNrMemslots    = 10
	capSyncRegs      = 74
	capImmediateExit = 136
	capNrVCPUs       = 9
	capMaxVCPUs      = 66

	syncRegs  = 1 << 0
	syncSregs = 1 << 1

	exitIO            = 2
	exitHLT           = 5
	exitMMIO          = 6
	exitShutdown      = 8
	exitFailEntry     = 9
	exitIntr          = 10
	exitInternalError = 17
)

// kvm_run field offsets (amd64).
const (
	runImmediateExit = 1
	runExitReason    = 8
	runIO            = 32 // struct kvm_run.io: direction u8, size u8, port u16, count u32, data_offset u64
	runValidRegs     = 288
	runDirtyRegs     = 296
	runSyncRegs      = 304
	runSyncSregs     = runSyncRegs + 144
)

// System is an open /dev/kvm.
type System struct {
	fd       int
	runSize  int
	cpuid    []byte // struct kvm_cpuid2 as KVM_GET_SUPPORTED_CPUID filled it
	maxVCPUs int
}

var (
	openOnce sync.Once
	openSys  *System
	openErr  error
)

// Open opens /dev/kvm once per process and checks the capabilities elfuse
// needs. Its error wraps hv.ErrUnavailable when there is no usable KVM.
func Open() (*System, error) {
	openOnce.Do(func() { openSys, openErr = open() })
	return openSys, openErr
}

func open() (*System, error) {
	dev := "/dev/kvm"
	if d := os.Getenv("ELFUSE_KVM_DEVICE"); d != "" {
		dev = d // lets tests see a host without KVM
	}
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", hv.ErrUnavailable, dev, err)
	}
	s := &System{fd: fd}
	if v, err := ioctl(fd, kvmGetAPIVersion, 0); err != nil || v != 12 {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: KVM API version %d (%v), want 12", hv.ErrUnavailable, v, err)
	}
	for _, c := range []struct {
		n    uintptr
		name string
	}{{capSyncRegs, "KVM_CAP_SYNC_REGS"}, {capImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"}} {
		if v, _ := ioctl(fd, kvmCheckExtension, c.n); v == 0 {
			unix.Close(fd)
			return nil, fmt.Errorf("%w: KVM lacks %s", hv.ErrUnavailable, c.name)
		}
	}
	n, err := ioctl(fd, kvmGetVCPUMmapSize, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kvm: KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	s.runSize = int(n)
	if v, _ := ioctl(fd, kvmCheckExtension, capMaxVCPUs); v > 0 {
		s.maxVCPUs = int(v)
	} else if v, _ := ioctl(fd, kvmCheckExtension, capNrVCPUs); v > 0 {
		s.maxVCPUs = int(v)
	}
	const maxEnt = 256
	buf := make([]byte, 8+maxEnt*40)
	*(*uint32)(unsafe.Pointer(&buf[0])) = maxEnt
	if _, err := ioctl(fd, kvmGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kvm: KVM_GET_SUPPORTED_CPUID: %w", err)
	}
	nent := *(*uint32)(unsafe.Pointer(&buf[0]))
	s.cpuid = buf[:8+nent*40]
	return s, nil
}

// MaxVCPUs is the number of vCPUs one VM may have.
func (s *System) MaxVCPUs() int { return s.maxVCPUs }

// CPUID returns the supported CPUID leaf (function, index) as KVM reports it.
func (s *System) CPUID(function, index uint32) (eax, ebx, ecx, edx uint32, ok bool) {
	n := *(*uint32)(unsafe.Pointer(&s.cpuid[0]))
	for i := uint32(0); i < n; i++ {
		e := s.cpuid[8+i*40:]
		if le32(e[0:]) == function && (le32(e[8:])&1 == 0 || le32(e[4:]) == index) {
			return le32(e[12:]), le32(e[16:]), le32(e[20:]), le32(e[24:]), true
		}
	}
	return 0, 0, 0, 0, false
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// VM is a KVM virtual machine.
type VM struct {
	sys   *System
	fd    int
	mu    sync.Mutex
	slots uint32
	end   uint64 // guest-physical end of the highest slot
	// flushSlot is the slot number FlushShadows adds and removes, on the
	// one page of host memory flushPage.
	flushSlot uint32
	flushPage []byte
}

// NewVM creates a VM.
func (s *System) NewVM() (*VM, error) {
	fd, err := ioctl(s.fd, kvmCreateVM, 0)
	if err != nil {
		return nil, fmt.Errorf("kvm: KVM_CREATE_VM: %w", err)
	}
	unix.CloseOnExec(int(fd))
	// A shadow MMU (KVM without EPT/NPT, PVM) keeps at most a number of
	// shadow page-table pages it derives from the size of the memory
	// slots, 2% of it: a few hundred for the first slot of a sandbox,
	// fewer than a handful of processes need, so it keeps zapping the
	// oldest and the guest keeps faulting them back. Ask for more; the
	// hypervisor allocates them only as they are used. A two-dimensional
	// MMU does not use this bound.
	if n, err := ioctl(s.fd, kvmCheckExtension, kvmCapMMUShadowCache); err == nil && n > 0 {
		_, _ = ioctl(int(fd), kvmSetNrMMUPages, shadowPages)
	}
	vm := &VM{sys: s, fd: int(fd), flushSlot: 508}
	if n, err := ioctl(s.fd, kvmCheckExtension, capNrMemslots); err == nil && n > 0 {
		vm.flushSlot = uint32(n) - 1
	}
	return vm, nil
}

// shadowPages is the bound asked of a shadow MMU on its page-table pages.
const shadowPages = 4096

type memRegion struct {
	slot          uint32
	flags         uint32
	guestPhysAddr uint64
	memorySize    uint64
	userspaceAddr uint64
}

// MapMemory registers host memory as guest RAM at gpa, as a new slot.
func (vm *VM) MapMemory(gpa uint64, host []byte) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	r := memRegion{slot: vm.slots, guestPhysAddr: gpa, memorySize: uint64(len(host)),
		userspaceAddr: uint64(uintptr(unsafe.Pointer(&host[0])))}
	if _, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("kvm: map %d MiB at guest-physical %#x: %w", len(host)>>20, gpa, err)
	}
	vm.slots++
	vm.end = max(vm.end, gpa+uint64(len(host)))
	return nil
}

// FlushShadows makes KVM forget every translation it keeps of guest
// memory, and with them every shadow of a guest page table a shadow MMU
// (PVM, or KVM without EPT/NPT) keeps: a page that held a guest page table
// may then hold one again without KVM taking the shadow of the old table
// for the new one. It adds a one-page slot above guest RAM and removes it:
// removing any slot makes KVM drop all of its translations (x86 KVM since
// Linux 5.1, kvm_mmu_zap_all_fast, which 6.12 keeps by default as
// KVM_X86_QUIRK_SLOT_ZAP_ALL). Running vCPUs reload and fault back what
// they use.
func (vm *VM) FlushShadows() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.flushPage == nil {
		b, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			return fmt.Errorf("kvm: flush page: %w", err)
		}
		vm.flushPage = b
	}
	r := memRegion{slot: vm.flushSlot, guestPhysAddr: vm.end, memorySize: uint64(len(vm.flushPage)),
		userspaceAddr: uint64(uintptr(unsafe.Pointer(&vm.flushPage[0])))}
	if _, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("kvm: add flush slot %d: %w", r.slot, err)
	}
	r.memorySize = 0
	if _, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("kvm: remove flush slot %d: %w", r.slot, err)
	}
	return nil
}

// Close releases the VM.
func (vm *VM) Close() error {
	if vm.flushPage != nil {
		_ = unix.Munmap(vm.flushPage)
	}
	return unix.Close(vm.fd)
}

// FollowsHostMappings is true: KVM registers MMU notifiers on the memory
// of its slots and drops the guest translations of pages whose host
// mapping changes (shadow pages and EPT/NPT alike), flushing the TLBs.
func (vm *VM) FollowsHostMappings() bool { return true }

// VCPU is a KVM vCPU of an amd64 guest.
type VCPU struct {
	vm    *VM
	fd    int
	run   []byte
	tid   int
	exits uint64
	kicks atomic.Uint32
	tsc   uint64
	// tscIsHost: the guest's TSC reads as the host's (see alignTSC).
	tscIsHost bool
	// kickMu keeps Kick off a kvm_run that Close unmaps.
	kickMu sync.Mutex
	closed bool
}

var vcpuIDs atomic.Uint32

// NewVCPU creates a vCPU owned by the calling (locked) OS thread, with the
// host's supported CPUID.
func (vm *VM) NewVCPU() (hv.VCPU, error) { return vm.NewAMD64VCPU() }

// NewAMD64VCPU is NewVCPU with the concrete type.
func (vm *VM) NewAMD64VCPU() (*VCPU, error) {
	id := vcpuIDs.Add(1) - 1
	fd, err := ioctl(vm.fd, kvmCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("kvm: KVM_CREATE_VCPU: %w", err)
	}
	unix.CloseOnExec(int(fd))
	run, err := unix.Mmap(int(fd), 0, vm.sys.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("kvm: mmap kvm_run: %w", err)
	}
	c := &VCPU{vm: vm, fd: int(fd), run: run, tid: unix.Gettid()}
	if _, err := ioctl(c.fd, kvmSetCPUID2, uintptr(unsafe.Pointer(&vm.sys.cpuid[0]))); err != nil {
		c.Close()
		return nil, fmt.Errorf("kvm: KVM_SET_CPUID2: %w", err)
	}
	// Load the sync-regs area once with the current state so Regs and SRegs
	// are valid before the first Run.
	if _, err := ioctl(c.fd, kvmGetRegs, uintptr(unsafe.Pointer(c.Regs()))); err != nil {
		c.Close()
		return nil, fmt.Errorf("kvm: KVM_GET_REGS: %w", err)
	}
	if _, err := ioctl(c.fd, kvmGetSregs, uintptr(unsafe.Pointer(c.SRegs()))); err != nil {
		c.Close()
		return nil, fmt.Errorf("kvm: KVM_GET_SREGS: %w", err)
	}
	c.setU64(runValidRegs, syncRegs|syncSregs)
	if khz, err := ioctl(c.fd, kvmGetTSCKHz, 0); err == nil {
		c.tsc = uint64(khz) * 1000
	}
	c.alignTSC()
	return c, nil
}

// rdtsc reads the host's time-stamp counter.
func rdtsc() uint64

// alignTSC makes the guest's TSC read as the host's (an offset of zero), so
// that every vCPU agrees and the host can sample the guest's clock source
// with rdtsc: exactly with KVM_VCPU_TSC_OFFSET, else by writing the TSC
// MSR, which leaves an offset of the write's few microseconds. It then
// checks the result; ReadTSC falls back to the MSR when they disagree.
func (c *VCPU) alignTSC() {
	attr := struct {
		flags, group uint32
		attr, addr   uint64
	}{group: kvmVCPUTSCCtrl, attr: kvmVCPUTSCOffset}
	var zero int64
	attr.addr = uint64(uintptr(unsafe.Pointer(&zero)))
	if _, err := ioctl(c.fd, kvmSetDeviceAttr, uintptr(unsafe.Pointer(&attr))); err != nil {
		_ = c.SetMSRs([]hv.MSR{{Index: msrTSC, Value: rdtsc()}})
	}
	m, err := c.GetMSR(msrTSC)
	h := rdtsc()
	// Within a millisecond at any plausible rate.
	c.tscIsHost = err == nil && absDiff(m, h) < 4_000_000
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// ReadTSC is the guest's TSC now, read by the host: rdtsc when the guest's
// TSC is the host's, else the vCPU's TSC MSR (an ioctl).
func (c *VCPU) ReadTSC() (uint64, error) {
	if c.tscIsHost {
		return rdtsc(), nil
	}
	return c.GetMSR(msrTSC)
}

func (c *VCPU) u64(off int) *uint64      { return (*uint64)(unsafe.Pointer(&c.run[off])) }
func (c *VCPU) setU64(off int, v uint64) { *c.u64(off) = v }

// Regs returns the live general registers (the sync-regs area).
func (c *VCPU) Regs() *hv.AMD64Regs { return (*hv.AMD64Regs)(unsafe.Pointer(&c.run[runSyncRegs])) }

// SRegs returns the live system registers (the sync-regs area).
func (c *VCPU) SRegs() *hv.AMD64SRegs {
	return (*hv.AMD64SRegs)(unsafe.Pointer(&c.run[runSyncSregs]))
}

// SetDirty marks register groups for loading by the next Run.
func (c *VCPU) SetDirty(regs, sregs bool) {
	d := *c.u64(runDirtyRegs)
	if regs {
		d |= syncRegs
	}
	if sregs {
		d |= syncSregs
	}
	*c.u64(runDirtyRegs) = d
}

// Exits is the number of completed Run calls.
func (c *VCPU) Exits() uint64 { return c.exits }

// TSCFrequency is the guest TSC rate in Hz (KVM_GET_TSC_KHZ).
func (c *VCPU) TSCFrequency() uint64 { return c.tsc }

// Run enters the guest until the next exit.
func (c *VCPU) Run() (hv.Exit, error) {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), kvmRun, 0)
	c.exits++
	*c.u64(runDirtyRegs) = 0
	if e != 0 {
		if e == unix.EINTR || e == unix.EAGAIN {
			c.clearKick()
			return hv.Exit{Kind: hv.ExitInterrupted}, nil
		}
		return hv.Exit{}, fmt.Errorf("kvm: KVM_RUN: %w", e)
	}
	reason := *(*uint32)(unsafe.Pointer(&c.run[runExitReason]))
	switch reason {
	case exitIO:
		port := *(*uint16)(unsafe.Pointer(&c.run[runIO+2]))
		return hv.Exit{Kind: hv.ExitIO, Port: port}, nil
	case exitHLT:
		return hv.Exit{Kind: hv.ExitHalt}, nil
	case exitMMIO:
		return hv.Exit{Kind: hv.ExitMMIO, Addr: *c.u64(runIO)}, nil
	case exitShutdown:
		return hv.Exit{Kind: hv.ExitShutdown}, nil
	case exitIntr:
		c.clearKick()
		return hv.Exit{Kind: hv.ExitInterrupted}, nil
	case exitInternalError:
		sub := *(*uint32)(unsafe.Pointer(&c.run[runIO]))
		return hv.Exit{Kind: hv.ExitFailure, Reason: fmt.Sprintf("KVM internal error, suberror %d", sub)}, nil
	case exitFailEntry:
		return hv.Exit{Kind: hv.ExitFailure, Reason: fmt.Sprintf("KVM entry failed, reason %#x", *c.u64(runIO))}, nil
	}
	return hv.Exit{Kind: hv.ExitFailure, Reason: fmt.Sprintf("KVM exit reason %d", reason)}, nil
}

func (c *VCPU) clearKick() {
	c.run[runImmediateExit] = 0
	c.kicks.Store(0)
}

// Kick makes the current or next Run return ExitInterrupted.
func (c *VCPU) Kick() {
	c.kickMu.Lock()
	defer c.kickMu.Unlock()
	if c.closed || c.kicks.Swap(1) == 1 {
		return
	}
	atomicStoreByte(&c.run[runImmediateExit], 1)
	unix.Tgkill(os.Getpid(), c.tid, unix.SIGURG)
}

func atomicStoreByte(p *byte, v byte) {
	// A 32-bit atomic store over the aligned word holding the byte: the
	// other bytes of that word (request_interrupt_window, padding) stay zero.
	w := (*uint32)(unsafe.Pointer(uintptr(unsafe.Pointer(p)) &^ 3))
	shift := (uintptr(unsafe.Pointer(p)) & 3) * 8
	for {
		old := atomic.LoadUint32(w)
		nw := old&^(0xff<<shift) | uint32(v)<<shift
		if atomic.CompareAndSwapUint32(w, old, nw) {
			return
		}
	}
}

// SetMSRs writes model-specific registers.
func (c *VCPU) SetMSRs(msrs []hv.MSR) error {
	buf := make([]byte, 8+16*len(msrs))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(msrs))
	for i, m := range msrs {
		*(*uint32)(unsafe.Pointer(&buf[8+16*i])) = m.Index
		*(*uint64)(unsafe.Pointer(&buf[8+16*i+8])) = m.Value
	}
	n, err := ioctl(c.fd, kvmSetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil {
		return fmt.Errorf("kvm: KVM_SET_MSRS: %w", err)
	}
	if int(n) != len(msrs) {
		return fmt.Errorf("kvm: KVM_SET_MSRS: MSR %#x refused", msrs[n].Index)
	}
	return nil
}

// GetMSR reads one model-specific register.
func (c *VCPU) GetMSR(index uint32) (uint64, error) {
	var buf [24]byte
	*(*uint32)(unsafe.Pointer(&buf[0])) = 1
	*(*uint32)(unsafe.Pointer(&buf[8])) = index
	n, err := ioctl(c.fd, kvmGetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil || n != 1 {
		return 0, fmt.Errorf("kvm: KVM_GET_MSRS %#x: %v", index, err)
	}
	return *(*uint64)(unsafe.Pointer(&buf[16])), nil
}

// EnableXSAVE sets XCR0 to the XSAVE features the host supports for guests
// among x87, SSE, AVX and AVX-512.
func (c *VCPU) EnableXSAVE() error {
	eax, _, _, edx, ok := c.vm.sys.CPUID(0xd, 0)
	if !ok {
		return errors.New("kvm: no XSAVE CPUID leaf")
	}
	xcr0 := (uint64(edx)<<32 | uint64(eax)) & 0xe7 // x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM
	var buf [392]byte
	*(*uint32)(unsafe.Pointer(&buf[0])) = 1
	*(*uint64)(unsafe.Pointer(&buf[16])) = xcr0
	if _, err := ioctl(c.fd, kvmSetXCRs, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		return fmt.Errorf("kvm: KVM_SET_XCRS %#x: %w", xcr0, err)
	}
	return nil
}

// Close releases the vCPU.
func (c *VCPU) Close() error {
	c.kickMu.Lock()
	c.closed = true
	c.kickMu.Unlock()
	unix.Munmap(c.run)
	return unix.Close(c.fd)
}

// ioctl makes a control ioctl, again when a signal interrupts it (the Go
// runtime's preemption signal can land in a slow one, KVM_CREATE_VM). KVM_RUN
// has its own path: an interrupted run is an exit.
func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return r, e
		}
		return r, nil
	}
}

var (
	_ hv.VM        = (*VM)(nil)
	_ hv.AMD64VCPU = (*VCPU)(nil)
)

// XSAVESize is the size of the buffers GetXSAVE and SetXSAVE use.
const XSAVESize = 4096

// GetXSAVE returns the vCPU's FPU/SSE/AVX state in XSAVE format.
func (c *VCPU) GetXSAVE() ([]byte, error) {
	b := make([]byte, XSAVESize)
	if _, err := ioctl(c.fd, kvmGetXSAVE, uintptr(unsafe.Pointer(&b[0]))); err != nil {
		return nil, fmt.Errorf("kvm: KVM_GET_XSAVE: %w", err)
	}
	return b, nil
}

// SetXSAVE loads FPU/SSE/AVX state in XSAVE format (XSAVESize bytes).
func (c *VCPU) SetXSAVE(b []byte) error {
	if len(b) < XSAVESize {
		nb := make([]byte, XSAVESize)
		copy(nb, b)
		b = nb
	}
	if _, err := ioctl(c.fd, kvmSetXSAVE, uintptr(unsafe.Pointer(&b[0]))); err != nil {
		return fmt.Errorf("kvm: KVM_SET_XSAVE: %w", err)
	}
	return nil
}

// Rebind makes the calling OS thread the vCPU's owner (the thread Kick
// signals). KVM lets a vCPU move between threads; elfuse reuses vCPUs
// because KVM frees none before the VM goes.
func (c *VCPU) Rebind() {
	c.kickMu.Lock()
	c.tid = unix.Gettid()
	c.run[runImmediateExit] = 0
	c.kicks.Store(0)
	c.kickMu.Unlock()
}
