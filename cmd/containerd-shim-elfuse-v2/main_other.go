//go:build !linux

// Command containerd-shim-elfuse-v2 is the containerd runtime v2 shim of elfuse; containerd's
// shims run on Linux only, so elsewhere it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "containerd-shim-elfuse-v2: not supported on this OS (containerd shims run on Linux)")
	os.Exit(1)
}
