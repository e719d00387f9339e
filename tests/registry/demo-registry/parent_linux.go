//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// dieWithParent asks for SIGTERM when the process that started this one exits, so a demo script
// killed before its cleanup leaves no registry behind.
func dieWithParent() {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0)
	if os.Getppid() == 1 {
		os.Exit(1) // the parent is gone already
	}
}
