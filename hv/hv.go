// Package hv is elfuse's hypervisor interface: virtual machines, guest memory
// slots, virtual CPUs and the exits they report.
//
// It knows nothing of Linux. Backends live in sub-packages: hv/kvm (Linux)
// and hv/hvf (macOS Hypervisor.framework). A backend is chosen by Open.
package hv

import (
	"errors"
	"fmt"
)

// ErrUnavailable reports that no usable hypervisor exists on this host.
var ErrUnavailable = errors.New("hypervisor unavailable")

// ExitKind says why a vCPU stopped running guest code.
type ExitKind int

// Exit kinds reported by VCPU.Run.
const (
	// ExitIO is a port write by the guest (amd64 `out`), the cheapest exit
	// a guest stub has on KVM/amd64.
	ExitIO ExitKind = iota + 1
	// ExitMMIO is an access to guest-physical memory no slot backs.
	ExitMMIO
	// ExitHypercall is an arm64 `hvc` (HVF) or an equivalent trap.
	ExitHypercall
	// ExitHalt is a guest `hlt`.
	ExitHalt
	// ExitShutdown is a triple fault (amd64) or a guest reset.
	ExitShutdown
	// ExitInterrupted means Run returned because Kick was called or the
	// thread got a signal; the guest state is intact and Run may be called again.
	ExitInterrupted
	// ExitFailure is any exit the backend could not make sense of; Reason
	// holds the detail.
	ExitFailure
)

// Exit is what Run reports. Fields other than Kind are set per kind.
type Exit struct {
	Kind ExitKind
	// Port is the I/O port of an ExitIO.
	Port uint16
	// Addr is the guest-physical address of an ExitMMIO.
	Addr uint64
	// Reason is a backend-specific description of an ExitFailure.
	Reason string
}

func (e Exit) String() string {
	switch e.Kind {
	case ExitIO:
		return fmt.Sprintf("io port %#x", e.Port)
	case ExitMMIO:
		return fmt.Sprintf("mmio %#x", e.Addr)
	case ExitHypercall:
		return "hypercall"
	case ExitHalt:
		return "halt"
	case ExitShutdown:
		return "shutdown"
	case ExitInterrupted:
		return "interrupted"
	case ExitFailure:
		return "failure: " + e.Reason
	}
	return fmt.Sprintf("exit kind %d", int(e.Kind))
}

// VM is one virtual machine: guest-physical memory and its vCPUs.
type VM interface {
	// MapMemory makes host memory visible to the guest at guest-physical
	// address gpa. host must stay mapped until Close.
	MapMemory(gpa uint64, host []byte) error
	// NewVCPU creates a vCPU owned by the calling OS thread; callers lock the
	// goroutine to its thread (runtime.LockOSThread) before calling it and
	// drive the vCPU from that thread only.
	NewVCPU() (VCPU, error)
	// Close releases the VM; its vCPUs must be closed first.
	Close() error
}

// MappingFollower is implemented by VMs whose cached translations of guest
// RAM follow the host's own mapping of it: once an madvise or mprotect of
// that host memory returns, no vCPU reaches the pages it covered through a
// translation made before (KVM's MMU notifiers drop them and flush every
// vCPU's TLB). A memory manager can then take a guest translation away by
// editing the entry in place and touching the old page's host mapping.
type MappingFollower interface {
	FollowsHostMappings() bool
}

// ShadowFlusher is implemented by VMs whose hypervisor may keep shadows of
// guest page tables (a shadow MMU), which it keeps in step with the guest's
// writes to them but not with the host's: FlushShadows drops every one, on
// every vCPU, so that a page that held a page table may hold another.
type ShadowFlusher interface {
	FlushShadows() error
}

// VCPU is one virtual CPU. Every method but Kick must be called on the OS
// thread that created it.
type VCPU interface {
	// Run runs guest code until the next exit.
	Run() (Exit, error)
	// Kick makes a Run in progress, or the next one, return ExitInterrupted
	// promptly. It is safe to call from any goroutine.
	Kick()
	// Exits is the number of times Run has returned.
	Exits() uint64
	// Close releases the vCPU.
	Close() error
}
