package syscall

import (
	"fmt"
	"runtime"
)

// SyscallMode chooses how guest system calls reach elfuse.
type SyscallMode uint8

// Syscall modes.
const (
	// SyscallsAuto is exitless where it pays (a host with a core for a
	// server thread), the exit path otherwise.
	SyscallsAuto SyscallMode = iota
	// SyscallsExit serves every call through a VM exit.
	SyscallsExit
	// SyscallsExitless serves the common calls without an exit.
	SyscallsExitless
)

// ParseSyscallMode reads "exit", "exitless" or "auto" ("" is auto).
func ParseSyscallMode(s string) (SyscallMode, error) {
	switch s {
	case "", "auto":
		return SyscallsAuto, nil
	case "exit":
		return SyscallsExit, nil
	case "exitless":
		return SyscallsExitless, nil
	}
	return 0, fmt.Errorf("syscall mode %q: want exit, exitless or auto", s)
}

func (m SyscallMode) String() string {
	switch m {
	case SyscallsExit:
		return "exit"
	case SyscallsExitless:
		return "exitless"
	}
	return "auto"
}

// exitless reports whether the mode, resolved for this host, is exitless.
func (m SyscallMode) exitless() bool {
	switch m {
	case SyscallsExitless:
		return true
	case SyscallsExit:
		return false
	}
	return runtime.NumCPU() >= 2
}
